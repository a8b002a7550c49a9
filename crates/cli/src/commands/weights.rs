//! `medmetric weights --scores S.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use medmetric_chain::validity::{
    CHAIN_ENFORCED_MAX_WEIGHT_LIMIT, ChainWeightParams, check_set_weights,
};
use medmetric_scoring::weights::{
    DEFAULT_MAX_WEIGHT_LIMIT, DEFAULT_MIN_ALLOWED_WEIGHTS, ScoresFile, WeightParams,
};

use super::{print_json, read_capped};

#[derive(Debug, Args)]
pub struct WeightsArgs {
    /// Scores file: {"uids":[..],"scores":[..]}; the metagraph size is the
    /// number of uids given, so uids are 0..n in any order.
    #[arg(long)]
    pub scores: PathBuf,
    /// The subnet's MaxWeightsLimit as a ratio in (0, 1] (on chain: u16 / 65535).
    #[arg(long, default_value_t = DEFAULT_MAX_WEIGHT_LIMIT)]
    pub max_weight_limit: f64,
    /// The subnet's MinAllowedWeights.
    #[arg(long, default_value_t = DEFAULT_MIN_ALLOWED_WEIGHTS)]
    pub min_allowed_weights: usize,
}

/// Prints {"uids":[..],"weights":[..]}: the u16 weights the Bittensor SDK
/// would emit for these scores (process_weights_for_netuid, then
/// convert_weights_and_uids_for_emit), after the chain's own validity check.
pub fn run(args: WeightsArgs) -> anyhow::Result<ExitCode> {
    let bytes = read_capped(&args.scores, 16 << 20)?;
    let scores: ScoresFile = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a scores file", args.scores.display()))?;
    let params = WeightParams {
        max_weight_limit: args.max_weight_limit,
        min_allowed_weights: args.min_allowed_weights,
    };
    let out = scores.to_weights(&params)?;
    // The SDK would send a vector the chain refuses (small weights rounded
    // to zero can leave too few); say so instead of printing it.
    let chain = ChainWeightParams {
        subnet_n: scores.uids.len(),
        min_allowed_weights: args.min_allowed_weights,
        max_weight_limit: CHAIN_ENFORCED_MAX_WEIGHT_LIMIT,
    };
    check_set_weights(&chain, None, &out.uids, &out.weights)
        .map_err(|r| anyhow::anyhow!("the chain would reject these weights: {r}"))?;
    print_json(&out)?;
    Ok(ExitCode::SUCCESS)
}
