//! `medmetric model check|make`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
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
    /// Write one of the built-in reference models.
    ///
    /// Kinds: `null` (empty mask, cls 0), `threshold` (local-contrast
    /// heuristic), `tiny-unet` (small encoder–decoder with seeded weights).
    /// The bytes depend only on the kind and size.
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
    /// Model kind: null, threshold or tiny-unet.
    pub kind: ReferenceKind,
    /// Input size H = W (128, 256 or 512).
    #[arg(long, default_value_t = 256, value_parser = parse_size)]
    pub size: u32,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
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
    let bytes = reference::make(args.kind, args.size);
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let report = gate::check_bytes(&bytes, &GateLimits::default())
        .context("reference model failed its own gate")?;
    print_json(&json!({
        "kind": args.kind.name(),
        "out": args.out,
        "sha256": report.sha256,
        "parameters": report.parameters,
        "bytes": report.bytes,
    }))?;
    Ok(ExitCode::SUCCESS)
}
