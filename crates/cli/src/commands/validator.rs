//! `medmetric validator run`: the validator daemon.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use medmetric_bench::RoundConfig;
use medmetric_chain::Chain;
use medmetric_devnet::DevnetClient;
use medmetric_harness::Harness;
use medmetric_harness::calibration::{self, Calibration};
use medmetric_store::LocalStore;
use medmetric_validator::metrics;
use medmetric_validator::node::{Behaviour, NodeConfig, Validator};
use medmetric_validator::state::State;

use super::eval::{BackendChoice, mechanism_config, sandbox_config};

#[derive(Debug, Subcommand)]
pub enum ValidatorCommand {
    /// Run the validator: every tempo, sync the metagraph and commitments,
    /// fetch and verify artifacts, gate them, build the round from the
    /// anchor block, evaluate every eligible model in sandboxed workers,
    /// score, detect copies, update the score book and set weights (with
    /// commit-reveal when the subnet enables it). State lives in SQLite: a
    /// kill at any moment loses nothing and never counts a round twice.
    /// Structured JSON logs go to stderr; Prometheus metrics to
    /// --metrics-addr.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// `devnet` (the local devnet server, $MEDMETRIC_CHAIN or
    /// http://127.0.0.1:9944) or the http:// URL of a `medmetric devnet
    /// serve` server.
    #[arg(long, default_value = "devnet")]
    pub chain: String,
    /// Subnet id; must match the chain's.
    #[arg(long)]
    pub netuid: Option<u16>,
    /// Wallet (coldkey) name.
    #[arg(long = "wallet.name", default_value = "default")]
    pub wallet_name: String,
    /// Hotkey name; on the devnet the hotkey is this name.
    #[arg(long = "wallet.hotkey", default_value = "default")]
    pub wallet_hotkey: String,
    /// State database (SQLite).
    #[arg(long, default_value = "validator.sqlite")]
    pub state: PathBuf,
    /// Local content-addressed artifact store that miners publish to
    /// [default: $MEDMETRIC_CACHE/store, else ~/.cache/medmetric/store].
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Runtime: auto, tract or ort. Weights are set only from the canonical
    /// backend (ONNX Runtime, one thread).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Run with a non-canonical backend (tract) anyway: scores then differ
    /// from other validators' in the last bits. For tests and development.
    #[arg(long)]
    pub allow_noncanonical: bool,
    /// Models evaluated at once (default: the number of cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Round image size.
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    /// Cases per modality per round.
    #[arg(long, default_value_t = 16)]
    pub cases: u32,
    /// Blocks a commitment must precede the round's anchor block.
    #[arg(long, default_value_t = 100)]
    pub eval_delay: u64,
    /// Mechanism profile: medmetric, seed, sn34 or sn87.
    #[arg(long, default_value = "medmetric")]
    pub profile: String,
    /// Mechanism config file (TOML); overrides --profile.
    #[arg(long)]
    pub mechanism: Option<PathBuf>,
    /// Prometheus endpoint address (empty to disable).
    #[arg(long, default_value = "127.0.0.1:9108")]
    pub metrics_addr: String,
    /// Skip latency calibration (speed from raw local times).
    #[arg(long)]
    pub no_calibrate: bool,
    /// Do one step (evaluate the current tempo if needed) and exit.
    #[arg(long)]
    pub once: bool,
    /// How often to poll the chain, milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub poll_ms: u64,
}

/// Resolves `--chain` to a devnet server URL.
pub fn chain_url(chain: &str) -> anyhow::Result<String> {
    Ok(medmetric_devnet::resolve_chain_spec_from_env(chain)?)
}

pub fn run(cmd: ValidatorCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ValidatorCommand::Run(args) => run_validator(args),
    }
}

fn run_validator(args: RunArgs) -> anyhow::Result<ExitCode> {
    let sandbox = sandbox_config(args.backend, 1)?;
    anyhow::ensure!(
        args.allow_noncanonical || medmetric_harness::runtime::is_canonical(&sandbox),
        "validators set weights only from canonical scores (ONNX Runtime {}, one thread), \
         so that every validator computes the same bits: run `medmetric setup onnxruntime` \
         (this run would use {}); --allow-noncanonical runs anyway, for tests",
        medmetric_eval::ort::ORT_VERSION,
        sandbox.backend
    );
    let url = chain_url(&args.chain)?;
    let chain =
        DevnetClient::connect(&url).with_context(|| format!("cannot reach the chain at {url}"))?;
    if let Some(n) = args.netuid {
        anyhow::ensure!(
            chain.netuid().0 == n,
            "--netuid {n}, but the chain at {url} serves netuid {}",
            chain.netuid().0
        );
    }
    let mechanism = mechanism_config(&args.profile, args.mechanism.as_ref())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let calibration = if args.no_calibrate {
        Calibration::IDENTITY
    } else {
        calibration::calibrate(&sandbox, 15).map_err(|f| anyhow::anyhow!("calibration: {f}"))?
    };
    let round = RoundConfig {
        size: args.size,
        cases_per_modality: args.cases,
        ..RoundConfig::default()
    };
    round
        .validate()
        .map_err(|e| anyhow::anyhow!("round config: {e}"))?;
    let (_, hotkey) =
        medmetric_miner::wallet::resolve_wallet(&args.wallet_name, &args.wallet_hotkey, None)?;
    let mut harness = Harness::new(mechanism, sandbox, calibration);
    harness.workers = args.workers.unwrap_or(cores).max(1);
    let cfg = NodeConfig {
        hotkey: hotkey.clone(),
        harness,
        round,
        eval_delay: args.eval_delay,
        max_artifact_bytes: medmetric_core::limits::MAX_MODEL_BYTES,
        behaviour: Behaviour::Honest,
        submit_attempts: 5,
        build_threads: cores,
    };
    let store_dir = super::miner::store_dir(args.store.as_deref())?;
    let store = LocalStore::open(&store_dir)?;
    let state = State::open(&args.state)?;
    let mut node = Validator::new(&chain, cfg, store, state);
    if !args.metrics_addr.is_empty() {
        let addr = metrics::serve(&args.metrics_addr, node.metrics())
            .with_context(|| format!("cannot serve metrics on {}", args.metrics_addr))?;
        tracing::info!(event = "metrics.listening", addr = %addr);
    }
    tracing::info!(event = "validator.start", hotkey = %hotkey, chain = %url,
        netuid = chain.netuid().0, state = %args.state.display(), store = %store_dir.display(),
        calibration_factor = calibration.factor);
    let stop = Arc::new(AtomicBool::new(false));
    loop {
        match node.step(&|_| {}) {
            Ok(Some(o)) => println!(
                "{}",
                serde_json::json!({"event": "round", "anchor": o.anchor, "seed": o.seed,
                    "models": o.evals.len(), "uids": o.weights.uids, "weights": o.weights.values,
                    "submitted": o.submitted, "seconds": o.eval_seconds})
            ),
            Ok(None) => {}
            // The chain or the state failing is not fatal for a daemon:
            // log, back off, try again (a one-shot run reports it).
            Err(e) if !args.once => {
                tracing::error!(event = "step.error", error = %e);
                std::thread::sleep(Duration::from_millis(args.poll_ms.max(100) * 5));
            }
            Err(e) => return Err(e.into()),
        }
        if args.once || stop.load(Ordering::Relaxed) {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(args.poll_ms.max(100)));
    }
}
