//! `medmetric eval`: score one model exactly as a validator would.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use medmetric_bench::RoundConfig;
use medmetric_bench::round::Anchor;
use medmetric_bench::seed::parse_block_hash;
use medmetric_core::limits::MAX_MODEL_BYTES;
use medmetric_eval::sandbox::{Backend, SandboxConfig};
use medmetric_harness::calibration::{self, Calibration};
use medmetric_harness::{GatedModel, Harness, Scored, evaluate, plan, runtime};
use medmetric_imaging::Modality;
use medmetric_imaging::pool::Pool;
use medmetric_scoring::mechanism::MechanismConfig;
use serde_json::json;

use super::{print_json, progress_bar, read_capped};

/// The block hash `eval` anchors its round to when `--block` is not given:
/// SHA-256 of the ASCII text `medmetric eval default round v1`.
pub const DEFAULT_EVAL_BLOCK: &str =
    "d11fc837cb6e48c8bd0714766c9373aa9b267bbe2be0e6f76ce1a853c30e315e";

/// Exit status when the model was rejected or failed its evaluation.
pub const EXIT_MODEL_FAILED: u8 = 3;

/// Which runtime evaluates the model (the command-line face of
/// [`runtime::BackendChoice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// ONNX Runtime when `medmetric setup onnxruntime` has installed it, else tract.
    Auto,
    /// tract (pure Rust, always available).
    Tract,
    /// ONNX Runtime (fails when it is not installed).
    Ort,
}

impl From<BackendChoice> for runtime::BackendChoice {
    fn from(c: BackendChoice) -> Self {
        match c {
            BackendChoice::Auto => runtime::BackendChoice::Auto,
            BackendChoice::Tract => runtime::BackendChoice::Tract,
            BackendChoice::Ort => runtime::BackendChoice::Ort,
        }
    }
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
    Ok(runtime::sandbox_config(choice.into(), threads)?)
}

/// Loads the mechanism config from a file or a built-in profile.
pub fn mechanism_config(profile: &str, file: Option<&PathBuf>) -> anyhow::Result<MechanismConfig> {
    Ok(runtime::mechanism(profile, file.map(PathBuf::as_path))?)
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
    let bytes = read_capped(&args.model, MAX_MODEL_BYTES)?;
    let model = match GatedModel::gate(bytes) {
        Ok(m) => m,
        Err((digest, e)) => {
            return rejected(&digest.to_string(), &profile, format!("gate: {e}"), &args);
        }
    };
    let sha = model.digest.to_string();

    let block_hash = parse_block_hash(&args.block).map_err(|e| anyhow::anyhow!("--block: {e}"))?;
    let mut config = RoundConfig {
        size: model.report.size(),
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
        netuid: medmetric_core::NetUid(args.netuid),
        block_number: medmetric_core::Block(args.number),
        block_hash,
    };
    // The default phantom pool is salted with the round seed, as validators
    // do: a fixed public pool could be memorised.
    let pools: Option<Vec<Box<dyn Pool>>> = if args.pools == ["phantom"] {
        None
    } else {
        Some(super::round::open_pools(&args.pools)?)
    };
    let refs: Option<Vec<&dyn Pool>> = pools
        .as_ref()
        .map(|p| p.iter().map(|p| p.as_ref()).collect());
    let total = u64::from(config.cases_per_modality) * config.modalities.len() as u64;
    let bar = progress_bar(total, "round");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let round = plan::build_round(&anchor, &config, refs.as_deref(), threads, &|| bar.inc(1))?;
    bar.finish_and_clear();

    let calib = if args.no_calibrate {
        Calibration::IDENTITY
    } else {
        calibration::calibrate(&sandbox, 15).map_err(|f| anyhow::anyhow!("calibration: {f}"))?
    };

    let backend = sandbox.backend;
    let canonical = runtime::is_canonical(&sandbox);
    let harness = Harness::new(mech, sandbox, calib);
    let n = evaluate::image_count(&round, &modalities);
    let bar = progress_bar(n as u64, "eval");
    let eval = harness.evaluate(&round, &model, &modalities, &|| bar.inc(1));
    bar.finish_and_clear();
    if let Some(f) = &eval.failure
        && !f.kind.is_model_fault()
    {
        anyhow::bail!("the validator could not evaluate the model: {f}");
    }
    let outcome = Outcome {
        scored: harness.score(&eval),
        calibration: calib,
        canonical,
        peak_memory_bytes: eval.peak_memory_bytes,
    };
    if args.json {
        print_json(&outcome.json(&sha, &profile, &harness.mechanism, &round, backend))?;
    } else {
        outcome.print(&args, &sha, &profile, &round, backend);
    }
    Ok(if eval.failure.is_some() {
        ExitCode::from(EXIT_MODEL_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// A scored evaluation, ready to print.
pub struct Outcome {
    /// The harness's score.
    pub scored: Scored,
    /// The calibration used.
    pub calibration: Calibration,
    /// Whether the scores are canonical (what validators set weights from).
    pub canonical: bool,
    /// The worker's peak resident memory.
    pub peak_memory_bytes: Option<u64>,
}

impl Outcome {
    fn per_modality(&self) -> BTreeMap<String, serde_json::Value> {
        self.scored
            .score
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
            "accepted": self.scored.failure.is_none(),
            "reason": self.scored.failure.as_ref().map(|f| f.to_string()),
            "failure_kind": self.scored.failure.as_ref().map(|f| f.kind.name()),
            "accuracy": self.scored.score.accuracy,
            "speed": self.scored.score.speed,
            "robustness": self.scored.score.robustness,
            "composite": self.scored.score.composite,
            "latency_ms": {
                "mean": self.scored.latency.mean_ms,
                "p95": self.scored.latency.p95_ms,
                "calibrated": self.scored.latency.calibrated_ms,
                "load": self.scored.latency.load_ms,
            },
            "peak_memory_bytes": self.peak_memory_bytes,
            "canonical": self.canonical,
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
            "round    seed {}…, {} images, {} probes; backend {backend}{}; profile {profile}",
            &round.seed.to_hex()[..16],
            round.items.len(),
            round.probes.len(),
            if self.canonical {
                ""
            } else {
                " (non-canonical: validators score with ONNX Runtime, one thread)"
            }
        );
        if let Some(f) = &self.scored.failure {
            println!("FAILED   {f}");
        }
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        println!(
            "latency  mean {} ms, p95 {} ms here; {} ms on the reference device (×{:.3})",
            ms(self.scored.latency.mean_ms),
            ms(self.scored.latency.p95_ms),
            ms(self.scored.latency.calibrated_ms),
            self.calibration.factor
        );
        println!();
        println!(
            "  {:<10} {:>9} {:>9} {:>11} {:>10}",
            "modality", "accuracy", "speed", "robustness", "composite"
        );
        for (name, g) in &self.scored.score.per_group {
            println!(
                "  {:<10} {:>9.4} {:>9.4} {:>11.4} {:>10.4}",
                name, g.accuracy, g.speed, g.robustness, g.composite
            );
        }
        let s = &self.scored.score;
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
