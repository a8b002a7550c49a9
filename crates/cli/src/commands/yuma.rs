//! `medmetric yuma --scenario S.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::read_capped;

#[derive(Debug, Args)]
pub struct YumaArgs {
    /// Scenario file: {"stakes":[..],"params":{..},"epochs":[{"weights":[[..]..]}..]}.
    ///
    /// params (each optional): kappa 32767, bonds_moving_average 900000,
    /// bonds_penalty 65535, yuma3 false, liquid_alpha false, alpha_low 0.7,
    /// alpha_high 0.9, alpha_sigmoid_steepness 1000, max_allowed_validators
    /// 64, emission_per_epoch 1000000000. Every uid is registered at block 0
    /// and active; weight rows are stored max-upscaled to u16 as set_weights
    /// stores them; an all-zero row means no weights.
    #[arg(long)]
    pub scenario: PathBuf,
}

/// Runs subtensor's Yuma Consensus epoch on every epoch of the scenario, in
/// the chain's fixed-point arithmetic, bonds carried from epoch to epoch.
/// Prints {"epochs":[{"consensus","incentive","dividends","validator_trust",
/// "bonds","emission"}..]}.
pub fn run(args: YumaArgs) -> anyhow::Result<ExitCode> {
    let bytes = read_capped(&args.scenario, 64 << 20)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 JSON", args.scenario.display()))?;
    println!("{}", medmetric_yuma::run_scenario_json(text)?);
    Ok(ExitCode::SUCCESS)
}
