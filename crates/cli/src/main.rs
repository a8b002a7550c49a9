//! `medmetric`: the command line of the MedMetric subnet.
//!
//! Parsing and wiring only; the work lives in the library crates.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use medmetric_harness::runtime::WORKER_MODE_ARG;

/// MedMetric: a Bittensor subnet for edge-deployable medical imaging models.
///
/// Miners publish ONNX models that segment and classify chest X-rays, brain
/// MRI and bone images; validators score every model themselves on a fresh,
/// seeded benchmark each round and set weights on chain.
#[derive(Debug, Parser)]
#[command(name = "medmetric", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Preview one augmentation on an 8-bit grayscale PNG.
    Augment(commands::augment::AugmentArgs),
    /// Run the end-to-end demonstration on built-in data.
    Demo(commands::demo::DemoArgs),
    /// Run or talk to a local devnet chain.
    #[command(subcommand)]
    Devnet(commands::devnet::DevnetCommand),
    /// Score one model exactly as a validator would: build a seeded round,
    /// run the model in the sandboxed worker, print accuracy, speed,
    /// robustness and the composite (or --json). Exit 0 when scored, 3 when
    /// the model was rejected or failed (crash, timeout, out of memory,
    /// NaN, out-of-range or misshapen output), 1 on any other error.
    Eval(commands::eval::EvalArgs),
    /// Publish a model as a miner (gate, commit on chain, store) and
    /// follow its eligibility and standing.
    #[command(subcommand)]
    Miner(commands::miner::MinerCommand),
    /// Check, make and inspect ONNX models.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Build and verify seeded benchmark rounds.
    #[command(subcommand)]
    Round(commands::round::RoundCommand),
    /// Install what optional backends need (the ONNX Runtime library).
    #[command(subcommand)]
    Setup(commands::setup::SetupCommand),
    /// Simulations: the red team against every mechanism profile.
    #[command(subcommand)]
    Sim(commands::sim::SimCommand),
    /// Run a validator against the chain.
    #[command(subcommand)]
    Validator(commands::validator::ValidatorCommand),
    /// Segmentation metrics of a predicted mask against the truth.
    Metrics(commands::metrics::MetricsArgs),
    /// Turn per-uid scores into the u16 weights the Bittensor SDK would set.
    Weights(commands::weights::WeightsArgs),
    /// Run Yuma Consensus epochs on a JSON scenario, as subtensor computes them.
    Yuma(commands::yuma::YumaArgs),
}

/// Structured logs: one JSON object per line on stderr, level from
/// `$MEDMETRIC_LOG` (an `EnvFilter` directive such as `debug` or
/// `medmetric_validator=debug`), else `info` (`warn` when `quiet`).
fn init_logs(quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MEDMETRIC_LOG")
        .unwrap_or_else(|_| EnvFilter::new(if quiet { "warn" } else { "info" }));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
}

fn main() -> ExitCode {
    // Started by the sandbox as its worker (when the dedicated
    // medmetric-worker binary is not installed next to this one): the
    // same entry point and confinement, nothing else of this program runs.
    let mut args = std::env::args_os();
    if args.len() == 2 && args.nth(1).as_deref() == Some(WORKER_MODE_ARG.as_ref()) {
        return medmetric_eval::sandbox::worker::main();
    }
    let cli = Cli::parse();
    let quiet = matches!(&cli.command, Command::Demo(d) if !d.verbose);
    init_logs(quiet);
    let result = match cli.command {
        Command::Augment(args) => commands::augment::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Devnet(cmd) => commands::devnet::run(cmd),
        Command::Eval(args) => commands::eval::run(args),
        Command::Miner(cmd) => commands::miner::run(cmd),
        Command::Model(cmd) => commands::model::run(cmd),
        Command::Metrics(args) => commands::metrics::run(args),
        Command::Round(cmd) => commands::round::run(cmd),
        Command::Setup(cmd) => commands::setup::run(cmd),
        Command::Sim(cmd) => commands::sim::run(cmd),
        Command::Validator(cmd) => commands::validator::run(cmd),
        Command::Weights(args) => commands::weights::run(args),
        Command::Yuma(args) => commands::yuma::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", commands::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
