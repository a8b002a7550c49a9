//! The round a model is scored on: an anchor block, a round config, and
//! the cases — phantoms generated fresh from the round seed unless pools
//! are given.

use medmetric_bench::RoundConfig;
use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::{Anchor, Round, build};
use medmetric_core::Modality;
use medmetric_imaging::pool::Pool;

use crate::HarnessError;

/// Phantom pools made fresh from `anchor`'s round seed, one per modality:
/// what validators sample from. A fixed public pool could be memorised; a
/// salted one exists only once the anchor block does.
pub fn fresh_phantoms(anchor: &Anchor, modalities: &[Modality]) -> Vec<PhantomPool> {
    modalities
        .iter()
        .map(|&m| PhantomPool::fresh(m, anchor.seed().0))
        .collect()
}

/// The round validators build for `anchor` over `config.modalities`:
/// fresh phantoms when `pools` is `None`, else the given pools.
/// `progress` is called once per case built.
pub fn build_round(
    anchor: &Anchor,
    config: &RoundConfig,
    pools: Option<&[&dyn Pool]>,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Round, HarnessError> {
    let fresh;
    let refs: Vec<&dyn Pool> = match pools {
        Some(p) => p.to_vec(),
        None => {
            fresh = fresh_phantoms(anchor, &config.modalities);
            fresh.iter().map(|p| p as &dyn Pool).collect()
        }
    };
    build(anchor, &refs, config, threads.max(1), progress)
        .map_err(|e| HarnessError::Round(e.to_string()))
}
