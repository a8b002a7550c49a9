//! Subtensor's rules for a weight vector (`pallets/subtensor/src/subnets/weights.rs`),
//! the ones that need no chain state beyond the subnet's size and two
//! hyperparameters: what a validator checks before it sends weights, and
//! what the devnet checks when they arrive.
//!
//! [`check_set_weights`] runs them in the pallet's order and fails with the
//! pallet's error, as a [`Rejection`]. The arithmetic is the runtime's:
//! max-upscaling and the max-weight limit in `I32F32` fixed point, bit for
//! bit.
//!
//! ```
//! use medmetric_chain::Rejection;
//! use medmetric_chain::validity::{ChainWeightParams, check_set_weights};
//!
//! let params = ChainWeightParams { subnet_n: 4, min_allowed_weights: 2, max_weight_limit: u16::MAX };
//! // Stored max-upscaled, as the chain stores them.
//! assert_eq!(check_set_weights(&params, None, &[0, 3], &[1, 2]), Ok(vec![32768, 65535]));
//! assert_eq!(
//!     check_set_weights(&params, None, &[0, 0], &[1, 2]),
//!     Err(Rejection::DuplicateUids { uid: 0 })
//! );
//! // A lone weight on oneself is always allowed.
//! assert!(check_set_weights(&params, Some(3), &[3], &[9]).is_ok());
//! ```

use crate::error::Rejection;
use crate::fixed::I32F32;

/// The `MaxWeightsLimit` current subtensor enforces in `set_weights`:
/// `get_max_weight_limit` is hard-coded to `u16::MAX`, which disables the
/// check.
pub const CHAIN_ENFORCED_MAX_WEIGHT_LIMIT: u16 = u16::MAX;

/// The subnet state subtensor's weight checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainWeightParams {
    /// `SubnetworkN`: registered uids are `0..subnet_n`.
    pub subnet_n: usize,
    /// `MinAllowedWeights`.
    pub min_allowed_weights: usize,
    /// `MaxWeightsLimit` as stored; `u16::MAX` (what current subtensor
    /// enforces, [`CHAIN_ENFORCED_MAX_WEIGHT_LIMIT`]) disables the check.
    pub max_weight_limit: u16,
}

/// Subtensor's checks on a `set_weights` call, in the pallet's order
/// (`internal_set_weights` steps 2, 4, 11, 12, 13, 14, 15): equal lengths,
/// no more uids than `subnet_n`, no duplicates, every uid `< subnet_n`,
/// [`check_length`], max-upscaling with [`vec_u16_max_upscale_to_u16`], and
/// [`max_weight_limited`].
///
/// `self_uid` is the calling validator's uid, which enables the chain's
/// "weight only on oneself" exception; `None` when unknown. Checks that need
/// more chain state (registration, stake, validator permit, version key,
/// rate limit) are the chain's. Returns the values as the chain stores
/// them.
pub fn check_set_weights(
    params: &ChainWeightParams,
    self_uid: Option<u16>,
    uids: &[u16],
    values: &[u16],
) -> Result<Vec<u16>, Rejection> {
    if uids.len() != values.len() {
        return Err(Rejection::WeightVecNotEqualSize {
            uids: uids.len(),
            values: values.len(),
        });
    }
    if uids.len() > params.subnet_n {
        return Err(Rejection::UidsLengthExceedUidsInSubNet {
            len: uids.len(),
            subnet_n: params.subnet_n,
        });
    }
    if let Some(uid) = first_duplicate_uid(uids) {
        return Err(Rejection::DuplicateUids { uid });
    }
    if let Some(&uid) = uids
        .iter()
        .find(|&&uid| usize::from(uid) >= params.subnet_n)
    {
        return Err(Rejection::UidVecContainInvalidOne {
            uid,
            subnet_n: params.subnet_n,
        });
    }
    if !check_length(params, self_uid, uids, values) {
        return Err(Rejection::WeightVecLengthIsLow {
            len: values.len(),
            min_allowed: params.min_allowed_weights.min(params.subnet_n),
        });
    }
    let upscaled = vec_u16_max_upscale_to_u16(values);
    if !max_weight_limited(params.max_weight_limit, self_uid, uids, &upscaled) {
        return Err(Rejection::MaxWeightExceeded {
            limit: params.max_weight_limit,
        });
    }
    Ok(upscaled)
}

/// Subtensor's `is_self_weight`: exactly one weight, on the caller's own uid.
pub fn is_self_weight(self_uid: Option<u16>, uids: &[u16], weights: &[u16]) -> bool {
    weights.len() == 1 && self_uid.is_some() && uids.first().copied() == self_uid
}

/// Subtensor's `check_length`: a self-weight, or at least
/// `min(min_allowed_weights, subnet_n)` weights.
pub fn check_length(
    params: &ChainWeightParams,
    self_uid: Option<u16>,
    uids: &[u16],
    weights: &[u16],
) -> bool {
    let min_allowed = params.min_allowed_weights.min(params.subnet_n);
    is_self_weight(self_uid, uids, weights) || weights.len() >= min_allowed
}

/// Subtensor's `max_weight_limited`: a self-weight, a limit of `u16::MAX`,
/// or [`check_vec_max_limited`].
pub fn max_weight_limited(
    max_weight_limit: u16,
    self_uid: Option<u16>,
    uids: &[u16],
    weights: &[u16],
) -> bool {
    is_self_weight(self_uid, uids, weights)
        || max_weight_limit == u16::MAX
        || check_vec_max_limited(weights, max_weight_limit)
}

/// Subtensor's `check_vec_max_limited`: normalise in `I32F32` and compare
/// the largest share with `max_limit / 65535` (also `I32F32`). An empty
/// vector passes.
pub fn check_vec_max_limited(weights: &[u16], max_limit: u16) -> bool {
    let limit = I32F32::from_u16(max_limit).safe_div(I32F32::from_u16(u16::MAX));
    normalized(weights)
        .into_iter()
        .max()
        .is_none_or(|share| share <= limit)
}

/// Subtensor's `vec_u16_max_upscale_to_u16`: scale so the largest value is
/// 65535, in `I32F32` with its rounding, as the chain stores weights.
pub fn vec_u16_max_upscale_to_u16(values: &[u16]) -> Vec<u16> {
    let fixed: Vec<I32F32> = values.iter().map(|&v| I32F32::from_u16(v)).collect();
    let u16_max = I32F32::from_u16(u16::MAX);
    let Some(&max) = fixed.iter().max() else {
        return Vec::new();
    };
    if max == I32F32::ZERO {
        return fixed
            .iter()
            .map(|e| e.saturating_mul(u16_max).saturating_to_u16())
            .collect();
    }
    // Above 32768, `e * 65535` would leave I32F32's range: the runtime
    // multiplies by the ratio instead.
    if max > I32F32::from_u16(32768) {
        let ratio = u16_max.safe_div(max);
        return fixed
            .iter()
            .map(|e| e.saturating_mul(ratio).round().saturating_to_u16())
            .collect();
    }
    fixed
        .iter()
        .map(|e| {
            e.saturating_mul(u16_max)
                .safe_div(max)
                .round()
                .saturating_to_u16()
        })
        .collect()
}

/// Subtensor's `inplace_normalize` on `u16` values converted to `I32F32`.
/// The sum wraps on overflow, as the runtime's release build does (only
/// reachable with more than 32 767 large weights).
fn normalized(weights: &[u16]) -> Vec<I32F32> {
    let fixed: Vec<I32F32> = weights.iter().map(|&w| I32F32::from_u16(w)).collect();
    let sum = fixed
        .iter()
        .fold(I32F32::ZERO, |acc, &v| acc.wrapping_add(v));
    if sum == I32F32::ZERO {
        return fixed;
    }
    fixed.into_iter().map(|v| v.safe_div(sum)).collect()
}

fn first_duplicate_uid(uids: &[u16]) -> Option<u16> {
    let mut seen = vec![false; 1 << 16];
    for &uid in uids {
        let slot = &mut seen[usize::from(uid)];
        if *slot {
            return Some(uid);
        }
        *slot = true;
    }
    None
}
