//! `medmetric demo`: the whole subnet in one command
//! ([`medmetric_sim::demo`] does the work).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use medmetric_sim::demo::{self, DemoConfig, Stage};

use super::eval::{BackendChoice, sandbox_config};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the chain and validator databases, the artifact store and
    /// the report.
    #[arg(long, default_value = "medmetric-demo")]
    pub out: PathBuf,
    /// Tempos (epochs) to run.
    #[arg(long, default_value_t = 4)]
    pub tempos: u32,
    /// Blocks per tempo.
    #[arg(long, default_value_t = 20)]
    pub tempo: u16,
    /// Cases per round (chest X-ray).
    #[arg(long, default_value_t = 10)]
    pub cases: u32,
    /// Model input and image size (128, 256 or 512).
    #[arg(long, default_value_t = 128)]
    pub size: u32,
    /// Runtime: auto (ONNX Runtime when installed), tract or ort.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Models each validator evaluates at once.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Print the validators' structured logs too.
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let cfg = DemoConfig {
        out: args.out,
        tempos: args.tempos,
        tempo: args.tempo,
        cases: args.cases,
        size: args.size,
        sandbox: sandbox_config(args.backend, 1)?,
        workers: args.workers.max(1),
    };
    let bar = super::progress_bar(0, "models");
    let outcome = demo::run(&cfg, &mut std::io::stdout(), &|stage| match stage {
        Stage::Models { done, total } => {
            bar.set_length(total);
            bar.set_position(done);
        }
        Stage::Tempo { tempo, done, total } => {
            bar.set_message(format!("tempo {tempo}"));
            bar.set_length(total);
            bar.set_position(done);
            if done == total {
                bar.finish_and_clear();
                bar.reset();
            }
        }
    })?;
    bar.finish_and_clear();
    Ok(if outcome.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
