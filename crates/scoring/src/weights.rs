//! Turning a validator's score vector into the `u16` weights it sets on chain,
//! exactly as the Bittensor Python SDK does it.
//!
//! The pipeline has two stages, each usable on its own:
//!
//! 1. [`process_weights`] — the SDK's `process_weights_for_netuid` /
//!    `process_weights` (`bittensor/utils/weight_utils.py`) with
//!    `exclude_quantile = 0`. The metagraph size is the number of uids given.
//!    It keeps the strictly positive scores and normalises them with the SDK's
//!    `normalize_max_weight`, or takes one of the SDK's two fallbacks:
//!    * no positive score, or fewer uids than `min_allowed_weights`: uniform
//!      `1/n` over all uids;
//!    * fewer positive scores than `min_allowed_weights`: every uid gets
//!      `1e-5` plus its score, then `normalize_max_weight`.
//!
//!    Where the SDK returns positions `0..n` on a fallback, the given uids at
//!    those positions are returned instead.
//! 2. [`convert_weights_and_uids_for_emit`] — the SDK function of that name:
//!    max-upscale to `65535`, round half to even, drop zeros.
//!
//! [`weights_for_emit`] runs both and is what `medmetric weights` uses;
//! [`ScoresFile`] and [`WeightsFile`] are its JSON input and output.
//!
//! Whether the chain accepts the result is the chain's rule, not the SDK's:
//! `medmetric_chain::validity::check_set_weights` implements subtensor's
//! checks, and callers that set weights run it on this module's output.
//! With current subtensor it refuses an SDK result only when small weights
//! round to zero and leave fewer than `min_allowed_weights`.
//!
//! # Bit-exactness
//!
//! The SDK computes with NumPy (`numpy>=2`, so NEP 50 promotion rules), and
//! this module reproduces its arithmetic operation by operation rather than
//! approximating it in `f64`:
//!
//! * The normal branch runs in `float32`. Sums use NumPy's pairwise
//!   summation ([`numpy_sum_f32`]): blocks of at most 128 elements summed
//!   with 8 interleaved accumulators, larger arrays split in two at a
//!   multiple of 8 and recursed. `cumsum` is sequential.
//! * Python-float operands (`limit`, `epsilon = 1e-7`) are rounded to
//!   `float32` where NEP 50 treats them as "weak" scalars, while the cutoff
//!   itself becomes `float64` because the SDK divides by a NumPy `float64`
//!   scalar; the comparison `weights > cutoff` is therefore made in `f64` and
//!   the assigned cutoff is rounded back to `float32`.
//! * The "fewer than `min_allowed_weights`" fallback builds an `int64 * 1e-5`
//!   array, so there the SDK (and this module) computes in `float64`.
//! * `convert_weights_and_uids_for_emit` works on Python floats (`f64`).
//!
//! The integration tests compare every stage bit for bit with fixtures that
//! `scripts/gen_weight_fixtures.py` produced by running the SDK's own code.
//!
//! # Where this differs from the SDK on purpose
//!
//! The SDK silently treats NaN and negative scores as zero and produces
//! garbage for infinite ones; here they are rejected with a [`WeightError`],
//! as are duplicate uids, uids outside `0..n`, more than 65 536 uids and
//! score vectors whose `float32` sum overflows.
//!
//! # The max-weight limit
//!
//! Current subtensor hard-codes `get_max_weight_limit` to `u16::MAX`, so the
//! subnet's `MaxWeightsLimit` only matters through the SDK's
//! `normalize_max_weight`. Were the chain to enforce it again
//! ([`max_weight_limit_to_u16`] gives the `u16` it would store), expect
//! rejections whenever the limit binds: the SDK caps the largest share only
//! `1e-7` below the limit, and rounding every weight to `u16` moves the
//! shares by far more.
//!
//! # Example
//!
//! ```
//! use medmetric_scoring::weights::{
//!     weights_for_emit, ScoresFile, WeightParams, DEFAULT_MAX_WEIGHT_LIMIT,
//! };
//!
//! let (uids, weights) =
//!     weights_for_emit(&[0, 1, 2, 3], &[0.1, 0.2, 0.3, 0.4], DEFAULT_MAX_WEIGHT_LIMIT, 0)?;
//! assert_eq!(uids, [0, 1, 2, 3]);
//! assert_eq!(weights, [16384, 32768, 49151, 65535]);
//!
//! // The same through the JSON types used by `medmetric weights`.
//! let input: ScoresFile =
//!     serde_json::from_str(r#"{"uids":[0,1,2,3],"scores":[0.5,0.25,0,1e-6]}"#).unwrap();
//! let output = input.to_weights(&WeightParams::default())?;
//! assert_eq!(serde_json::to_string(&output).unwrap(), r#"{"uids":[0,1],"weights":[65535,32768]}"#);
//! # Ok::<(), medmetric_scoring::weights::WeightError>(())
//! ```

use std::cmp::Ordering;
use std::ops::{Add, Div, Mul, Sub};

use serde::{Deserialize, Serialize};

/// Most uids a weight vector can carry: every distinct `u16`.
pub const MAX_UIDS: usize = 1 << 16;

/// Default `max_weight_limit`: `1.0`, i.e. no limit.
///
/// This is subtensor's `DefaultMaxWeightsLimit` (`u16::MAX`) as the SDK reads
/// it (`u16 / 65535`); current subtensor also hard-codes
/// `get_max_weight_limit` to `u16::MAX`, so the limit is never enforced on
/// chain today.
pub const DEFAULT_MAX_WEIGHT_LIMIT: f64 = 1.0;

/// Default `min_allowed_weights`: `0`, no minimum.
///
/// This is the value subtensor writes for its genesis subnet ("no weights
/// restrictions") and uses in all its test runtimes. Note that a subnet
/// registered on the production runtime starts at
/// `InitialMinAllowedWeights = 1024`, more than any subnet has uids, which
/// makes the SDK fall back to uniform weights until the owner lowers it; pass
/// the subnet's actual hyperparameter when it matters.
pub const DEFAULT_MIN_ALLOWED_WEIGHTS: usize = 0;

/// The SDK's `epsilon` in `normalize_max_weight`.
const SDK_EPSILON: f64 = 1e-7;
/// The SDK's fill value for the "fewer than `min_allowed_weights`" fallback.
const SDK_MIN_FILL: f64 = 1e-5;
/// `U16_MAX` as the SDK multiplies by it (a Python int, promoted to float).
const U16_MAX_F64: f64 = 65535.0;

/// Everything that can go wrong turning scores into weights.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightError {
    /// No uids were given (the SDK fails on `min()` of an empty list).
    #[error("no uids given: there is nothing to set weights on")]
    Empty,
    /// The uid and value lists differ in length.
    #[error("uids and values differ in length: {uids} uids, {values} values")]
    LengthMismatch {
        /// Number of uids.
        uids: usize,
        /// Number of scores or weights.
        values: usize,
    },
    /// More uids than there are distinct `u16` values.
    #[error("{len} uids given, more than the {max} distinct u16 uids that exist")]
    TooManyUids {
        /// Number of uids given.
        len: usize,
        /// [`MAX_UIDS`].
        max: usize,
    },
    /// A uid occurs twice.
    #[error("uid {uid} occurs more than once")]
    DuplicateUid {
        /// The repeated uid.
        uid: u16,
    },
    /// A uid does not exist in a metagraph of `n` uids (`0..n`).
    #[error("uid {uid} is out of range for a metagraph of {n} uids (uids must be 0..{n})")]
    UidOutOfRange {
        /// The offending uid.
        uid: u16,
        /// The metagraph size (number of uids given).
        n: usize,
    },
    /// A score is NaN or infinite.
    #[error("score for uid {uid} (index {index}) is not finite: {value}")]
    NonFiniteScore {
        /// Position in the input.
        index: usize,
        /// Its uid.
        uid: u16,
        /// The score.
        value: f32,
    },
    /// A score is negative.
    #[error("score for uid {uid} (index {index}) is negative: {value}")]
    NegativeScore {
        /// Position in the input.
        index: usize,
        /// Its uid.
        uid: u16,
        /// The score.
        value: f32,
    },
    /// `max_weight_limit` is not a finite number in `(0, 1]`.
    #[error("max_weight_limit must be a finite number in (0, 1], got {0}")]
    InvalidMaxWeightLimit(f64),
    /// The scores' float32 sum overflows, so the SDK's normalisation breaks
    /// down (it would set no weights at all).
    #[error("the scores are too large: their float32 sum overflows to infinity")]
    ScoreSumOverflow,
    /// A weight passed for emission is negative (SDK: "Passed weight is
    /// negative cannot exist on chain").
    #[error("passed weight at index {index} is negative and cannot exist on chain: {value}")]
    NegativeWeight {
        /// Position in the input.
        index: usize,
        /// The weight.
        value: f64,
    },
    /// A uid passed for emission is negative (SDK: "Passed uid is negative
    /// cannot exist on chain").
    #[error("passed uid at index {index} is negative and cannot exist on chain: {uid}")]
    NegativeUid {
        /// Position in the input.
        index: usize,
        /// The uid.
        uid: i64,
    },
    /// A uid passed for emission does not fit the chain's `u16` uids.
    #[error("passed uid at index {index} does not fit the chain's u16 uids: {uid}")]
    UidTooLarge {
        /// Position in the input.
        index: usize,
        /// The uid.
        uid: i64,
    },
    /// A weight passed for emission is NaN or infinite (the SDK fails in
    /// `round()` or divides by zero).
    #[error("passed weight at index {index} is not finite: {value}")]
    NonFiniteWeight {
        /// Position in the input.
        index: usize,
        /// The weight.
        value: f64,
    },
}

/// Which branch of the SDK's `process_weights` produced a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessBranch {
    /// Positive scores normalised with `normalize_max_weight` (float32).
    Normalize,
    /// No positive score, or fewer uids than `min_allowed_weights`:
    /// uniform `1/n` over all uids (float64).
    UniformFallback,
    /// Fewer positive scores than `min_allowed_weights`: `1e-5` plus the
    /// score for every uid, then `normalize_max_weight` (float64).
    MinAllowedFallback,
}

/// The floating-point type the SDK's result array has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// `numpy.float32`: every weight is exactly an `f32`.
    Float32,
    /// `numpy.float64`.
    Float64,
}

/// The output of [`process_weights`]: normalised float weights per uid.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedWeights {
    /// Uids, in input order.
    pub uids: Vec<u16>,
    /// Weights, one per uid; exact `f32` values when
    /// `precision == Precision::Float32`.
    pub weights: Vec<f64>,
    /// The dtype of the SDK's result.
    pub precision: Precision,
    /// Which SDK branch produced it.
    pub branch: ProcessBranch,
}

/// The subnet hyperparameters that weight processing depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightParams {
    /// `MaxWeightsLimit` as the SDK reads it: a ratio in `(0, 1]`
    /// (`u16 / 65535` on chain). Default [`DEFAULT_MAX_WEIGHT_LIMIT`].
    pub max_weight_limit: f64,
    /// `MinAllowedWeights`. Default [`DEFAULT_MIN_ALLOWED_WEIGHTS`].
    pub min_allowed_weights: usize,
}

impl Default for WeightParams {
    fn default() -> Self {
        Self {
            max_weight_limit: DEFAULT_MAX_WEIGHT_LIMIT,
            min_allowed_weights: DEFAULT_MIN_ALLOWED_WEIGHTS,
        }
    }
}

/// Input of `medmetric weights`: `{"uids": [..], "scores": [..]}`.
///
/// Scores are parsed as `f64` and rounded to `f32`, as
/// `np.array(json.load(..), dtype=np.float32)` does. serde_json's default
/// float parser is not always correctly rounded for long decimals; enable
/// its `float_roundtrip` feature where inputs must match Python's parsing to
/// the last bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoresFile {
    /// Metagraph uids, `0..n` in any order.
    pub uids: Vec<u16>,
    /// One non-negative, finite score per uid.
    pub scores: Vec<f32>,
}

/// Output of `medmetric weights`: `{"uids": [..], "weights": [..]}`, ready
/// for `set_weights`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsFile {
    /// Uids with a non-zero weight.
    pub uids: Vec<u16>,
    /// Max-upscaled `u16` weights (the largest is 65535).
    pub weights: Vec<u16>,
}

impl ScoresFile {
    /// Runs [`weights_for_emit_with`] on this file's contents.
    pub fn to_weights(&self, params: &WeightParams) -> Result<WeightsFile, WeightError> {
        let (uids, weights) = weights_for_emit_with(&self.uids, &self.scores, params)?;
        Ok(WeightsFile { uids, weights })
    }
}

/// The whole pipeline: SDK processing, then SDK conversion to `u16`.
///
/// `uids` must be the full metagraph (`0..n` in any order, `n` =
/// `uids.len()`), with one non-negative finite score each; `max_weight_limit`
/// is the ratio the SDK reads (`MaxWeightsLimit / 65535`, in `(0, 1]`).
/// Returns the uids and `u16` weights to pass to `set_weights`. Same as
/// [`weights_for_emit_with`].
pub fn weights_for_emit(
    uids: &[u16],
    scores: &[f32],
    max_weight_limit: f64,
    min_allowed_weights: usize,
) -> Result<(Vec<u16>, Vec<u16>), WeightError> {
    let params = WeightParams {
        max_weight_limit,
        min_allowed_weights,
    };
    weights_for_emit_with(uids, scores, &params)
}

/// [`weights_for_emit`] with all parameters explicit.
///
/// The result is exactly what the SDK would send; whether the chain takes
/// it is for `medmetric_chain::validity::check_set_weights` to say (with
/// `subnet_n = n`).
pub fn weights_for_emit_with(
    uids: &[u16],
    scores: &[f32],
    params: &WeightParams,
) -> Result<(Vec<u16>, Vec<u16>), WeightError> {
    let WeightParams {
        max_weight_limit,
        min_allowed_weights,
    } = *params;
    validate_scores(uids, scores, max_weight_limit)?;
    let n = uids.len();
    if let Some(uid) = first_duplicate_uid(uids) {
        return Err(WeightError::DuplicateUid { uid });
    }
    if let Some(&uid) = uids.iter().find(|&&uid| usize::from(uid) >= n) {
        return Err(WeightError::UidOutOfRange { uid, n });
    }

    let processed = process_weights(uids, scores, max_weight_limit, min_allowed_weights)?;
    let wide_uids: Vec<i64> = processed.uids.iter().map(|&u| i64::from(u)).collect();
    convert_weights_and_uids_for_emit(&wide_uids, &processed.weights)
}

/// The SDK's `process_weights` with `exclude_quantile = 0` and
/// `num_neurons = uids.len()`, bit for bit.
///
/// Scores must be finite and non-negative and `max_weight_limit` in
/// `(0, 1]`; uids are carried along unchecked. See the module docs for the
/// branches and their arithmetic.
pub fn process_weights(
    uids: &[u16],
    scores: &[f32],
    max_weight_limit: f64,
    min_allowed_weights: usize,
) -> Result<ProcessedWeights, WeightError> {
    validate_scores(uids, scores, max_weight_limit)?;
    let n = uids.len();
    let nonzero: Vec<usize> = (0..n).filter(|&i| scores[i] > 0.0).collect();

    if nonzero.is_empty() || n < min_allowed_weights {
        // `np.ones(n, dtype=np.int64) / n`: true division in float64.
        return Ok(ProcessedWeights {
            uids: uids.to_vec(),
            weights: vec![1.0 / n as f64; n],
            precision: Precision::Float64,
            branch: ProcessBranch::UniformFallback,
        });
    }

    if nonzero.len() < min_allowed_weights {
        // `np.ones(n, dtype=np.int64) * 1e-5`, then `+=` the float32 scores:
        // everything from here on is float64.
        let mut filled = vec![SDK_MIN_FILL; n];
        for &i in &nonzero {
            filled[i] += f64::from(scores[i]);
        }
        let weights = normalize_max_weight(&filled, max_weight_limit)?;
        return Ok(ProcessedWeights {
            uids: uids.to_vec(),
            weights,
            precision: Precision::Float64,
            branch: ProcessBranch::MinAllowedFallback,
        });
    }

    let positive: Vec<f32> = nonzero.iter().map(|&i| scores[i]).collect();
    let normalized = normalize_max_weight(&positive, max_weight_limit)?;
    Ok(ProcessedWeights {
        uids: nonzero.iter().map(|&i| uids[i]).collect(),
        weights: normalized.into_iter().map(f64::from).collect(),
        precision: Precision::Float32,
        branch: ProcessBranch::Normalize,
    })
}

/// The SDK's `convert_weights_and_uids_for_emit`, bit for bit.
///
/// Weights are Python floats (`f64`; an SDK `float32` array's `tolist()`
/// gives exactly these). Each is divided by the largest, multiplied by 65535
/// and rounded half to even; zeros are dropped. The SDK's checks come first
/// and in its order: negative weight, negative uid, length mismatch; an
/// all-zero vector gives two empty lists ("nothing to set on chain"). On top
/// of the SDK this rejects empty input, non-finite weights and uids above
/// `u16::MAX` with typed errors where the SDK raises or would build an
/// invalid extrinsic.
pub fn convert_weights_and_uids_for_emit(
    uids: &[i64],
    weights: &[f64],
) -> Result<(Vec<u16>, Vec<u16>), WeightError> {
    if weights.is_empty() {
        return Err(WeightError::Empty);
    }
    if let Some((index, &value)) = weights.iter().enumerate().find(|(_, w)| **w < 0.0) {
        return Err(WeightError::NegativeWeight { index, value });
    }
    if uids.is_empty() {
        return Err(WeightError::Empty);
    }
    if let Some((index, &uid)) = uids.iter().enumerate().find(|(_, u)| **u < 0) {
        return Err(WeightError::NegativeUid { index, uid });
    }
    if uids.len() != weights.len() {
        return Err(WeightError::LengthMismatch {
            uids: uids.len(),
            values: weights.len(),
        });
    }
    if let Some((index, &value)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
        return Err(WeightError::NonFiniteWeight { index, value });
    }
    if let Some((index, &uid)) = uids
        .iter()
        .enumerate()
        .find(|(_, u)| u16::try_from(**u).is_err())
    {
        return Err(WeightError::UidTooLarge { index, uid });
    }
    // All weights are finite and >= 0 here, so "sums to 0" means "all 0".
    if weights.iter().all(|&w| w == 0.0) {
        return Ok((Vec::new(), Vec::new()));
    }
    let max_weight = weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);

    let mut out_uids = Vec::with_capacity(uids.len());
    let mut out_weights = Vec::with_capacity(weights.len());
    for (&uid, &weight) in uids.iter().zip(weights) {
        // w <= max, so the quotient is <= 1 and the product <= 65535.
        let scaled = (weight / max_weight * U16_MAX_F64).round_ties_even();
        if scaled != 0.0 {
            out_weights.push(scaled as u16);
            // Checked above: every uid fits a u16.
            out_uids.push(uid as u16);
        }
    }
    Ok((out_uids, out_weights))
}

/// The SDK's `normalize_max_weight` for a `float32` array, bit for bit.
///
/// Makes `x` sum to 1 with no element above `limit`: elements above a
/// cutoff are clamped to it before normalising. Returns uniform `1/len`
/// when `x` sums to zero or `len * limit <= 1`. `limit` is the Python
/// float the SDK receives. Fails with [`WeightError::ScoreSumOverflow`]
/// where the float32 sum overflows (the SDK would return zeros).
pub fn normalize_max_weight_f32(x: &[f32], limit: f64) -> Result<Vec<f32>, WeightError> {
    normalize_max_weight(x, limit)
}

/// [`normalize_max_weight_f32`] for a `float64` array (the SDK's
/// "fewer than `min_allowed_weights`" fallback passes one).
pub fn normalize_max_weight_f64(x: &[f64], limit: f64) -> Result<Vec<f64>, WeightError> {
    normalize_max_weight(x, limit)
}

/// `numpy.sum` of a contiguous `float32` array, bit for bit (pairwise
/// summation, see the module docs).
pub fn numpy_sum_f32(values: &[f32]) -> f32 {
    numpy_sum(values)
}

/// `numpy.sum` of a contiguous `float64` array, bit for bit.
pub fn numpy_sum_f64(values: &[f64]) -> f64 {
    numpy_sum(values)
}

/// The chain's `MaxWeightsLimit` (`u16`) for an SDK-style ratio: the
/// smallest `k` with `k / 65535 >= limit` (in `f64`), clamped to
/// `0..=65535`; NaN and non-positive ratios give 0.
///
/// For a ratio the SDK read from the chain (`k / 65535`) this is exactly
/// `k`; any other ratio maps to the next chain value above it, the least
/// strict limit the SDK's normalisation is compatible with.
pub fn max_weight_limit_to_u16(limit: f64) -> u16 {
    if limit.is_nan() || limit <= 0.0 {
        return 0;
    }
    if limit >= 1.0 {
        return u16::MAX;
    }
    // 0 < limit * 65535 < 65535 here; step back if the product rounded up
    // past an integer.
    let mut k = (limit * U16_MAX_F64).ceil() as u16;
    while k > 0 && f64::from(k - 1) / U16_MAX_F64 >= limit {
        k -= 1;
    }
    while k < u16::MAX && f64::from(k) / U16_MAX_F64 < limit {
        k += 1;
    }
    k
}

fn first_duplicate_uid(uids: &[u16]) -> Option<u16> {
    let mut seen = vec![false; MAX_UIDS];
    for &uid in uids {
        let slot = &mut seen[usize::from(uid)];
        if *slot {
            return Some(uid);
        }
        *slot = true;
    }
    None
}

/// Input checks shared by [`process_weights`] and [`weights_for_emit`].
fn validate_scores(uids: &[u16], scores: &[f32], max_weight_limit: f64) -> Result<(), WeightError> {
    if uids.len() != scores.len() {
        return Err(WeightError::LengthMismatch {
            uids: uids.len(),
            values: scores.len(),
        });
    }
    if uids.len() > MAX_UIDS {
        return Err(WeightError::TooManyUids {
            len: uids.len(),
            max: MAX_UIDS,
        });
    }
    if uids.is_empty() {
        return Err(WeightError::Empty);
    }
    if max_weight_limit.is_nan() || max_weight_limit <= 0.0 || max_weight_limit > 1.0 {
        return Err(WeightError::InvalidMaxWeightLimit(max_weight_limit));
    }
    for (index, (&uid, &value)) in uids.iter().zip(scores).enumerate() {
        if !value.is_finite() {
            return Err(WeightError::NonFiniteScore { index, uid, value });
        }
        if value < 0.0 {
            return Err(WeightError::NegativeScore { index, uid, value });
        }
    }
    Ok(())
}

/// The NumPy float dtypes the SDK computes in, with the conversions NumPy
/// applies to Python scalars.
trait NpFloat:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
{
    const ZERO: Self;
    const NEG_ZERO: Self;
    const ONE: Self;
    /// A Python float used as a weak scalar (NEP 50): rounded to this dtype.
    fn from_f64(value: f64) -> Self;
    /// A Python int used as a weak scalar (exact below 2^24).
    fn from_count(count: usize) -> Self;
    /// Promotion to float64.
    fn to_f64(self) -> f64;
    fn is_finite(self) -> bool;
    fn total_cmp(&self, other: &Self) -> Ordering;
}

impl NpFloat for f32 {
    const ZERO: Self = 0.0;
    const NEG_ZERO: Self = -0.0;
    const ONE: Self = 1.0;
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    fn from_count(count: usize) -> Self {
        count as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    fn total_cmp(&self, other: &Self) -> Ordering {
        f32::total_cmp(self, other)
    }
}

impl NpFloat for f64 {
    const ZERO: Self = 0.0;
    const NEG_ZERO: Self = -0.0;
    const ONE: Self = 1.0;
    fn from_f64(value: f64) -> Self {
        value
    }
    fn from_count(count: usize) -> Self {
        count as f64
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    fn total_cmp(&self, other: &Self) -> Ordering {
        f64::total_cmp(self, other)
    }
}

/// NumPy's `PW_BLOCKSIZE`.
const PAIRWISE_BLOCK: usize = 128;
/// NumPy's unroll factor inside a block.
const PAIRWISE_UNROLL: usize = 8;

/// `np.add.reduce` over a contiguous 1-D array: the dtype's identity (0)
/// plus the pairwise sum of all elements.
fn numpy_sum<T: NpFloat>(values: &[T]) -> T {
    T::ZERO + pairwise_sum(values)
}

/// NumPy's `@TYPE@_pairwise_sum` (umath/loops_utils.h.src).
fn pairwise_sum<T: NpFloat>(values: &[T]) -> T {
    let n = values.len();
    if n < PAIRWISE_UNROLL {
        // Starts from -0.0 so that a sum of -0.0s stays -0.0.
        values.iter().fold(T::NEG_ZERO, |acc, &v| acc + v)
    } else if n <= PAIRWISE_BLOCK {
        let (body, rest) = values.split_at(n - n % PAIRWISE_UNROLL);
        let (first, later) = body.split_at(PAIRWISE_UNROLL);
        let mut acc = [T::ZERO; PAIRWISE_UNROLL];
        acc.copy_from_slice(first);
        for chunk in later.chunks_exact(PAIRWISE_UNROLL) {
            for (a, &v) in acc.iter_mut().zip(chunk) {
                *a = *a + v;
            }
        }
        let total =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        rest.iter().fold(total, |acc, &v| acc + v)
    } else {
        let mut half = n / 2;
        half -= half % PAIRWISE_UNROLL;
        let (left, right) = values.split_at(half);
        pairwise_sum(left) + pairwise_sum(right)
    }
}

/// The SDK's `normalize_max_weight(x, limit)` in dtype `T`.
fn normalize_max_weight<T: NpFloat>(x: &[T], limit: f64) -> Result<Vec<T>, WeightError> {
    let n = x.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let x_sum = numpy_sum(x);
    // `x.sum() == 0 or x.shape[0] * limit <= 1` (the latter in Python floats).
    if x_sum == T::ZERO || n as f64 * limit <= 1.0 {
        return Ok(vec![T::ONE / T::from_count(n); n]);
    }
    if !x_sum.is_finite() {
        return Err(WeightError::ScoreSumOverflow);
    }

    let mut values = x.to_vec();
    values.sort_by(T::total_cmp);
    let values_sum = numpy_sum(&values);
    if !values_sum.is_finite() {
        return Err(WeightError::ScoreSumOverflow);
    }
    let estimation: Vec<T> = values.iter().map(|&v| v / values_sum).collect();
    let limit_t = T::from_f64(limit);
    let estimation_max = estimation
        .iter()
        .copied()
        .fold(estimation[0], |m, v| if v > m { v } else { m });
    if estimation_max <= limit_t {
        // `weights / weights.sum()` on the untouched copy of `x`.
        return Ok(x.iter().map(|&w| w / x_sum).collect());
    }

    let cumsum: Vec<T> = estimation
        .iter()
        .scan(None, |running: &mut Option<T>, &e| {
            let next = running.map_or(e, |r| r + e);
            *running = Some(next);
            Some(next)
        })
        .collect();
    let epsilon_t = T::from_f64(SDK_EPSILON);
    // `(estimation / (estimation_sum + cumsum + epsilon) < limit).sum()`
    let n_values = estimation
        .iter()
        .zip(&cumsum)
        .enumerate()
        .filter(|&(i, (&e, &c))| {
            let estimation_sum = T::from_count(n - i - 1) * e;
            e / ((estimation_sum + c) + epsilon_t) < limit_t
        })
        .count();
    // `cumsum[n_values - 1]`: Python indexing, so -1 is the last element.
    let pivot = if n_values == 0 { n - 1 } else { n_values - 1 };
    // The numerator stays in the array dtype (weak Python scalars); the
    // denominator is a NumPy float64 scalar, which promotes the quotient.
    let numerator = limit_t * cumsum[pivot] - epsilon_t;
    let denominator = 1.0 - limit * (n - n_values) as f64;
    let cutoff_scale = numerator.to_f64() / denominator;
    let cutoff = cutoff_scale * values_sum.to_f64();
    let cutoff_t = T::from_f64(cutoff);

    let clamped: Vec<T> = x
        .iter()
        .map(|&w| if w.to_f64() > cutoff { cutoff_t } else { w })
        .collect();
    let clamped_sum = numpy_sum(&clamped);
    Ok(clamped.iter().map(|&w| w / clamped_sum).collect())
}
