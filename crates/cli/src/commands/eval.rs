//! `medmetric eval`: score one model exactly as a validator would.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use medmetric_bench::RoundConfig;
use medmetric_bench::round::{Anchor, build};
use medmetric_bench::seed::parse_block_hash;
use medmetric_eval::sandbox::{self, Backend, Failure, SandboxConfig};
use medmetric_imaging::Modality;
use medmetric_imaging::pool::Pool;
use medmetric_model::gate::{self, GateLimits};
use medmetric_scoring::mechanism::{self, MechanismConfig, RoundScore};
use medmetric_validator::calibration::{self, Calibration};
use medmetric_validator::evaluate::{self, Evaluation};
use serde_json::json;

use super::{print_json, progress_bar, read_capped};

/// The block hash `eval` anchors its round to when `--block` is not given:
/// SHA-256 of the ASCII text `medmetric eval default round v1`.
pub const DEFAULT_EVAL_BLOCK: &str =
    "d11fc837cb6e48c8bd0714766c9373aa9b267bbe2be0e6f76ce1a853c30e315e";

/// Exit status when the model was rejected or failed its evaluation.
pub const EXIT_MODEL_FAILED: u8 = 3;

/// Which runtime evaluates the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// ONNX Runtime when `medmetric setup onnxruntime` has installed it, else tract.
    Auto,
    /// tract (pure Rust, always available).
    Tract,
    /// ONNX Runtime (fails when it is not installed).
    Ort,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The ONNX model to evaluate.
    #[arg(long)]
    pub model: PathBuf,
    /// Block hash the round is seeded from, 64 hex digits (0x prefix
    /// accepted). The default is a fixed, documented block, so anyone gets
    /// the same round.
    #[arg(long, default_value = DEFAULT_EVAL_BLOCK)]
    pub block: String,
    /// Block number of that block.
    #[arg(long, default_value_t = 0)]
    pub number: u64,
    /// Subnet id (part of the round seed).
    #[arg(long, default_value_t = 0)]
    pub netuid: u16,
    /// Pools to sample from (repeatable): phantom (the default: phantoms
    /// generated fresh from the round seed, as validators use), phantom:MODALITY
    /// (the fixed public phantom pool), folder:DIR, brats:DIR, rsna:DIR,
    /// chexpert:DIR.
    #[arg(long = "pool", default_value = "phantom")]
    pub pools: Vec<String>,
    /// Modalities to evaluate on (repeatable: cxr, brain, bone). Default:
    /// all of the round's.
    #[arg(long = "modality")]
    pub modalities: Vec<String>,
    /// Cases per modality (default: the round config's).
    #[arg(long)]
    pub cases: Option<u32>,
    /// Runtime: auto, tract or ort.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Mechanism profile: medmetric, seed, sn34 or sn87.
    #[arg(long, default_value = "medmetric")]
    pub profile: String,
    /// Mechanism config file (TOML); overrides --profile.
    #[arg(long)]
    pub mechanism: Option<PathBuf>,
    /// Threads the runtime may use inside the worker.
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// Wall-clock limit per image, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub image_timeout_ms: u64,
    /// Address-space limit of the worker, MiB.
    #[arg(long, default_value_t = 4096)]
    pub memory_mib: u64,
    /// CPU-time limit of the worker, seconds.
    #[arg(long, default_value_t = 600)]
    pub cpu_seconds: u64,
    /// Skip latency calibration (latencies are reported as measured here).
    #[arg(long)]
    pub no_calibrate: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The sandbox settings the CLI uses, from a backend choice.
pub fn sandbox_config(choice: BackendChoice, threads: u32) -> anyhow::Result<SandboxConfig> {
    let worker = sandbox::find_worker().context(
        "cannot find the medmetric-worker binary next to medmetric (set MEDMETRIC_WORKER)",
    )?;
    let lib = medmetric_eval::ort::default_library_path();
    let (backend, lib) = match (choice, lib) {
        (BackendChoice::Tract, _) => (Backend::Tract, None),
        (BackendChoice::Auto, None) => (Backend::Tract, None),
        (BackendChoice::Auto | BackendChoice::Ort, Some(lib)) => (Backend::Ort, Some(lib)),
        (BackendChoice::Ort, None) => anyhow::bail!(
            "ONNX Runtime is not installed: run `medmetric setup onnxruntime` (or use --backend tract)"
        ),
    };
    let mut cfg = SandboxConfig::new(worker, backend, lib);
    cfg.threads = threads.max(1);
    Ok(cfg)
}

/// Loads the mechanism config from a file or a built-in profile.
pub fn mechanism_config(profile: &str, file: Option<&PathBuf>) -> anyhow::Result<MechanismConfig> {
    match file {
        Some(path) => {
            let bytes = read_capped(path, 1 << 20)?;
            let text = String::from_utf8(bytes).context("mechanism config is not UTF-8")?;
            MechanismConfig::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        None => MechanismConfig::builtin(profile).map_err(|e| anyhow::anyhow!("--profile: {e}")),
    }
}

fn parse_modalities(names: &[String], config: &RoundConfig) -> anyhow::Result<Vec<Modality>> {
    if names.is_empty() {
        return Ok(config.modalities.clone());
    }
    names
        .iter()
        .map(|n| {
            n.parse::<Modality>()
                .map_err(|e| anyhow::anyhow!("--modality {n}: {e}"))
        })
        .collect()
}

fn rejected(sha: &str, profile: &str, reason: String, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    if args.json {
        print_json(&json!({
            "model_sha256": sha,
            "accepted": false,
            "reason": reason,
            "accuracy": 0.0,
            "speed": 0.0,
            "robustness": 0.0,
            "composite": 0.0,
            "latency_ms": {"mean": null, "p95": null, "calibrated": null},
            "per_modality": {},
            "profile": profile,
        }))?;
    } else {
        println!("model  {}", args.model.display());
        println!("sha256 {sha}");
        println!("REJECTED: {reason}");
    }
    Ok(ExitCode::from(EXIT_MODEL_FAILED))
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let mech = mechanism_config(&args.profile, args.mechanism.as_ref())?;
    let profile = mech.profile.name().to_string();
    let limits = GateLimits::default();
    let bytes = read_capped(&args.model, limits.max_bytes)?;
    let sha = medmetric_core::ModelDigest::of(&bytes).to_string();
    let report = match gate::check_bytes(&bytes, &limits) {
        Ok(r) => r,
        Err(e) => return rejected(&sha, &profile, format!("gate: {e}"), &args),
    };

    let block_hash = parse_block_hash(&args.block).map_err(|e| anyhow::anyhow!("--block: {e}"))?;
    let mut config = RoundConfig {
        size: report.size(),
        ..RoundConfig::default()
    };
    if let Some(n) = args.cases {
        config.cases_per_modality = n;
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("round config: {e}"))?;
    let modalities = parse_modalities(&args.modalities, &config)?;
    config.modalities.retain(|m| modalities.contains(m));
    anyhow::ensure!(
        !config.modalities.is_empty(),
        "no modality left to evaluate"
    );

    let mut sandbox = sandbox_config(args.backend, args.threads)?;
    sandbox.limits.image_timeout_ms = args.image_timeout_ms.max(1);
    sandbox.limits.address_space = args.memory_mib.max(64) << 20;
    sandbox.limits.cpu_seconds = args.cpu_seconds.max(1);

    let anchor = Anchor {
        netuid: args.netuid,
        block_number: args.number,
        block_hash,
    };
    // The default phantom pool is salted with the round seed, as validators
    // do: a fixed public pool could be memorised.
    let pools: Vec<Box<dyn Pool>> = if args.pools == ["phantom"] {
        config
            .modalities
            .iter()
            .map(|&m| {
                Box::new(medmetric_bench::pools::PhantomPool::fresh(
                    m,
                    anchor.seed().0,
                )) as Box<dyn Pool>
            })
            .collect()
    } else {
        super::round::open_pools(&args.pools)?
    };
    let refs: Vec<&dyn Pool> = pools.iter().map(|p| p.as_ref()).collect();
    let total = u64::from(config.cases_per_modality) * config.modalities.len() as u64;
    let bar = progress_bar(total, "round");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let round = build(&anchor, &refs, &config, threads, &|| bar.inc(1))?;
    bar.finish_and_clear();

    let calib = if args.no_calibrate {
        Calibration::IDENTITY
    } else {
        calibration::calibrate(&sandbox, 15).map_err(|f| anyhow::anyhow!("calibration: {f}"))?
    };

    let n = evaluate::image_count(&round, &modalities);
    let bar = progress_bar(n as u64, "eval");
    let eval = evaluate::evaluate(&round, &bytes, &report, &sandbox, &modalities, &|| {
        bar.inc(1)
    });
    bar.finish_and_clear();
    if let Some(f) = &eval.failure
        && !f.kind.is_model_fault()
    {
        anyhow::bail!("the validator could not evaluate the model: {f}");
    }
    let outcome = Outcome::new(&mech, &eval, calib);
    if args.json {
        print_json(&outcome.json(&sha, &profile, &mech, &round, sandbox.backend))?;
    } else {
        outcome.print(&args, &sha, &profile, &round, sandbox.backend);
    }
    Ok(if eval.failure.is_some() {
        ExitCode::from(EXIT_MODEL_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// A scored evaluation, ready to print.
pub struct Outcome {
    /// The score.
    pub score: RoundScore,
    /// Failure, if any.
    pub failure: Option<Failure>,
    /// Mean and p95 latency measured here, ms.
    pub mean_ms: Option<f64>,
    /// p95, ms.
    pub p95_ms: Option<f64>,
    /// Mean latency on the reference device, ms.
    pub calibrated_ms: Option<f64>,
    /// The calibration used.
    pub calibration: Calibration,
}

impl Outcome {
    /// Scores `eval` with `mech`.
    pub fn new(mech: &MechanismConfig, eval: &Evaluation, calibration: Calibration) -> Outcome {
        let mean_ms = eval.latency_mean_ms();
        let calibrated_ms = mean_ms.map(|m| calibration.apply(m));
        let score = match &eval.failure {
            Some(f) => RoundScore::failed(f.to_string()),
            None => mechanism::score(mech, &eval.images, &eval.null, &eval.probes, calibrated_ms),
        };
        Outcome {
            score,
            failure: eval.failure.clone(),
            mean_ms,
            p95_ms: eval.latency_p95_ms(),
            calibrated_ms,
            calibration,
        }
    }

    fn per_modality(&self) -> BTreeMap<String, serde_json::Value> {
        self.score
            .per_group
            .iter()
            .map(|(k, g)| {
                (
                    k.clone(),
                    json!({
                        "accuracy": g.accuracy,
                        "speed": g.speed,
                        "robustness": g.robustness,
                        "composite": g.composite,
                    }),
                )
            })
            .collect()
    }

    fn json(
        &self,
        sha: &str,
        profile: &str,
        mech: &MechanismConfig,
        round: &medmetric_bench::round::Round,
        backend: Backend,
    ) -> serde_json::Value {
        json!({
            "model_sha256": sha,
            "accepted": self.failure.is_none(),
            "reason": self.failure.as_ref().map(|f| f.to_string()),
            "failure_kind": self.failure.as_ref().map(|f| f.kind.name()),
            "accuracy": self.score.accuracy,
            "speed": self.score.speed,
            "robustness": self.score.robustness,
            "composite": self.score.composite,
            "latency_ms": {
                "mean": self.mean_ms,
                "p95": self.p95_ms,
                "calibrated": self.calibrated_ms,
            },
            "per_modality": self.per_modality(),
            "profile": profile,
            "mechanism_hash": mech.hash(),
            "backend": backend.name(),
            "calibration": self.calibration,
            "round": {
                "seed": round.seed.to_hex(),
                "block_number": round.anchor.block_number,
                "items": round.items.len(),
                "probes": round.probes.len(),
            },
        })
    }

    fn print(
        &self,
        args: &EvalArgs,
        sha: &str,
        profile: &str,
        round: &medmetric_bench::round::Round,
        backend: Backend,
    ) {
        println!("model    {}", args.model.display());
        println!("sha256   {sha}");
        println!(
            "round    seed {}…, {} images, {} probes; backend {backend}; profile {profile}",
            &round.seed.to_hex()[..16],
            round.items.len(),
            round.probes.len()
        );
        if let Some(f) = &self.failure {
            println!("FAILED   {f}");
        }
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        println!(
            "latency  mean {} ms, p95 {} ms here; {} ms on the reference device (×{:.3})",
            ms(self.mean_ms),
            ms(self.p95_ms),
            ms(self.calibrated_ms),
            self.calibration.factor
        );
        println!();
        println!(
            "  {:<10} {:>9} {:>9} {:>11} {:>10}",
            "modality", "accuracy", "speed", "robustness", "composite"
        );
        for (name, g) in &self.score.per_group {
            println!(
                "  {:<10} {:>9.4} {:>9.4} {:>11.4} {:>10.4}",
                name, g.accuracy, g.speed, g.robustness, g.composite
            );
        }
        let s = &self.score;
        println!(
            "  {:<10} {:>9.4} {:>9.4} {:>11.4} {:>10.4}",
            "all", s.accuracy, s.speed, s.robustness, s.composite
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_block_is_documented_hash() {
        let h = medmetric_core::ModelDigest::of(b"medmetric eval default round v1");
        assert_eq!(h.to_string(), super::DEFAULT_EVAL_BLOCK);
    }
}
