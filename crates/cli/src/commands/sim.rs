//! `medmetric sim redteam`: every red-team miner through the real
//! evaluator on several rounds, scored by every mechanism profile side by
//! side, with the `medmetric` profile's invariants checked.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use medmetric_imaging::Modality;
use medmetric_sim::redteam::{self, Progress, RedteamConfig};

use super::eval::{BackendChoice, sandbox_config};
use super::print_json;

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run the red-team miners (null, classification-only, copy, fragile,
    /// slow-but-accurate, memoriser, fast-but-useless and the honest
    /// reference) through the sandboxed evaluator on several rounds, score
    /// them under every mechanism profile, and check the `medmetric`
    /// profile's invariants: on every round null ≤ 0.05,
    /// classification-only ≤ 0.35 and a detected copy earns 0; over the
    /// rounds slow-accurate > fast-useless and honest first. Prints a table (or --json) and with --out writes it as
    /// Markdown. Exit 0 when every invariant holds, 3 otherwise.
    Redteam(RedteamArgs),
}

#[derive(Debug, Args)]
pub struct RedteamArgs {
    /// Rounds to run (each from its own block).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Model input and image size.
    #[arg(long, default_value_t = 128)]
    pub size: u32,
    /// Cases per round.
    #[arg(long, default_value_t = 12)]
    pub cases: u32,
    /// Modality of the miners and the round (cxr, brain, bone).
    #[arg(long, default_value = "cxr")]
    pub modality: String,
    /// Runtime: auto, tract or ort.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Write the side-by-side table as Markdown to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: SimCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SimCommand::Redteam(args) => redteam(args),
    }
}

fn redteam(args: RedteamArgs) -> anyhow::Result<ExitCode> {
    let modality: Modality = args
        .modality
        .parse()
        .map_err(|e| anyhow::anyhow!("--modality: {e}"))?;
    let cfg = RedteamConfig {
        rounds: args.rounds,
        size: args.size,
        cases: args.cases,
        modality,
        sandbox: sandbox_config(args.backend, 1)?,
    };
    let models = medmetric_miners::Strategy::ALL.len() as u64;
    let bar = super::progress_bar(models * (1 + u64::from(args.rounds)), "red team");
    let report = redteam::run(&cfg, &|p| {
        if let Progress::Evaluate { round, strategy } = p {
            bar.set_message(format!("round {} {strategy}", round + 1));
        }
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    if args.json {
        print_json(&report.to_json())?;
    } else {
        println!(
            "red team: {} rounds of {} {} cases at {}x{}, backend {}; mean composite credited (copies 0)\n",
            report.rounds, report.cases, modality, report.size, report.size, report.backend
        );
        print!("{}", report.table());
        println!("\nmedmetric invariants:\n{}", report.checks());
    }
    if let Some(path) = &args.out {
        std::fs::write(path, report.document())?;
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
