//! `medmetric model check|make`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use medmetric_imaging::Modality;
use medmetric_miners::{Factory, Strategy};
use medmetric_model::gate::{self, GateLimits};
use medmetric_model::reference::{self, ReferenceKind};
use serde_json::json;

use super::print_json;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Check an ONNX file against the v1 model contract, before any runtime
    /// sees it.
    ///
    /// Prints one line of JSON. Accepted: exit 0 and
    /// `{"accepted":true,"sha256","input":{"name","shape"},"outputs":{"mask","cls"},
    /// "parameters","opset","bytes"}`. Refused: exit 1 and
    /// `{"accepted":false,"reason":"..."}` with a one-line reason.
    Check(CheckArgs),
    /// Write one of the built-in reference models or red-team miners.
    ///
    /// Reference kinds: `null` (empty mask, cls 0), `threshold`
    /// (local-contrast heuristic), `tiny-unet` (small encoder–decoder with
    /// seeded weights); their bytes depend only on the kind and size.
    ///
    /// Red-team miners (per modality, see docs/miners.md): `honest` (the
    /// reference miner, trained in seconds on seeded phantom rounds),
    /// `cls-only`, `cls-empty-mask`, `copy` (honest weights with seeded
    /// noise), `fragile`, `slow-accurate`, `memoriser` (recalls the phantom
    /// pool; sizes 128 and 256, rendering the whole pool takes a minute),
    /// `fast-useless`. Their bytes depend on the kind, modality, size and
    /// seed. (`null` is the reference model, which is also the null miner.)
    Make(MakeArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The ONNX file.
    pub file: PathBuf,
    /// Largest accepted file size in bytes.
    #[arg(long, default_value_t = GateLimits::default().max_bytes)]
    pub max_bytes: u64,
}

#[derive(Debug, Args)]
pub struct MakeArgs {
    /// Model kind: null, threshold, tiny-unet, or a red-team miner (honest,
    /// cls-only, cls-empty-mask, copy, fragile, slow-accurate, memoriser,
    /// fast-useless).
    pub kind: MakeKind,
    /// Input size H = W (128, 256 or 512).
    #[arg(long, default_value_t = 256, value_parser = parse_size)]
    pub size: u32,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Modality a red-team miner is made for (cxr, brain, bone).
    #[arg(long, default_value = "cxr")]
    pub modality: Modality,
    /// Seed of a red-team miner (drives the copy's weight noise).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Pool cases the memoriser stores, from the first (default: the whole
    /// pool).
    #[arg(long)]
    pub memoriser_cases: Option<usize>,
}

/// What `model make` writes: a reference model or a red-team miner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MakeKind {
    Reference(ReferenceKind),
    Miner(Strategy),
}

impl MakeKind {
    fn name(self) -> &'static str {
        match self {
            MakeKind::Reference(k) => k.name(),
            MakeKind::Miner(s) => s.name(),
        }
    }
}

impl std::str::FromStr for MakeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Reference names win: `null` is both, and the bytes are the same.
        if let Ok(k) = s.parse::<ReferenceKind>() {
            return Ok(MakeKind::Reference(k));
        }
        if let Ok(m) = s.parse::<Strategy>() {
            return Ok(MakeKind::Miner(m));
        }
        let mut names: Vec<&str> = ReferenceKind::ALL.iter().map(|k| k.name()).collect();
        for m in Strategy::ALL {
            if !names.contains(&m.name()) {
                names.push(m.name());
            }
        }
        Err(format!(
            "unknown model kind '{s}' (expected {})",
            names.join(", ")
        ))
    }
}

fn parse_size(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if GateLimits::default().allowed_sizes.contains(&v) => Ok(v),
        _ => Err(format!("size must be 128, 256 or 512, not '{s}'")),
    }
}

pub fn run(cmd: ModelCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ModelCommand::Check(args) => check(args),
        ModelCommand::Make(args) => make(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let limits = GateLimits {
        max_bytes: args.max_bytes,
        ..GateLimits::default()
    };
    // The gate is written not to panic; this is the last line of defence so
    // that a bug still yields the documented "refused" answer.
    let outcome = catch_unwind(AssertUnwindSafe(|| gate::check_file(&args.file, &limits)))
        .unwrap_or_else(|_| {
            Err(gate::GateError::Contract(
                "internal error while checking the model".into(),
            ))
        });
    match outcome {
        Ok((_, report)) => {
            print_json(&report)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            print_json(&json!({"accepted": false, "reason": reason.to_string()}))?;
            Ok(ExitCode::FAILURE)
        }
    }
}

fn make(args: MakeArgs) -> anyhow::Result<ExitCode> {
    let bytes = match args.kind {
        MakeKind::Reference(kind) => reference::make(kind, args.size),
        MakeKind::Miner(strategy) => {
            let mut factory = Factory::new(args.modality, args.size)?;
            if let Some(n) = args.memoriser_cases {
                factory = factory.with_memoriser_cases(n);
            }
            factory.make(strategy, args.seed)?
        }
    };
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let report = gate::check_bytes(&bytes, &GateLimits::default())
        .context("the made model failed its own gate")?;
    let mut out = json!({
        "kind": args.kind.name(),
        "out": args.out,
        "sha256": report.sha256,
        "parameters": report.parameters,
        "bytes": report.bytes,
    });
    if let MakeKind::Miner(_) = args.kind {
        out["modality"] = json!(args.modality.name());
        out["size"] = json!(args.size);
        out["seed"] = json!(args.seed);
    }
    print_json(&out)?;
    Ok(ExitCode::SUCCESS)
}
