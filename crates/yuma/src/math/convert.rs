//! Conversions between integers, u16 proportions and fixed-point numbers.

use super::{I32F32, I64F64, U16_MAX_FIXED, ZERO};

/// `a / b`, or `0` when the quotient is undefined (division by zero) or does
/// not fit in [`I32F32`] — the chain's `safe_div` for fixed-point values.
#[inline]
pub fn safe_div(a: I32F32, b: I32F32) -> I32F32 {
    a.checked_div(b).unwrap_or(ZERO)
}

/// [`safe_div`] for [`I64F64`].
#[inline]
pub fn safe_div_64(a: I64F64, b: I64F64) -> I64F64 {
    a.checked_div(b).unwrap_or(I64F64::from_bits(0))
}

/// `f32` to [`I32F32`], saturating (subtensor's `fixed`). Used by the chain's
/// tests to write literals; handy for the same purpose here.
///
/// A NaN input maps to `0` instead of panicking.
pub fn fixed(val: f32) -> I32F32 {
    if val.is_nan() {
        ZERO
    } else {
        I32F32::saturating_from_num(val)
    }
}

/// Integer part of a fixed value as `u16`, saturating at `0` and `65535`.
#[inline]
pub fn fixed_to_u16(x: I32F32) -> u16 {
    x.saturating_to_num::<u16>()
}

/// Integer part of a fixed value as `u64`, saturating.
#[inline]
pub fn fixed_to_u64(x: I32F32) -> u64 {
    x.saturating_to_num::<u64>()
}

/// Integer part of an [`I64F64`] as `u64`, saturating.
#[inline]
pub fn fixed64_to_u64(x: I64F64) -> u64 {
    x.saturating_to_num::<u64>()
}

/// Narrow an [`I64F64`] to [`I32F32`] (dropping the low 32 fraction bits),
/// saturating at the [`I32F32`] range.
#[inline]
pub fn fixed64_to_fixed32(x: I64F64) -> I32F32 {
    I32F32::saturating_from_num(x)
}

/// Widen an [`I32F32`] to [`I64F64`].
#[inline]
pub fn fixed32_to_fixed64(x: I32F32) -> I64F64 {
    I64F64::saturating_from_num(x)
}

/// A u16 as the fixed-point integer of the same value (`7 -> 7.0`).
#[inline]
pub fn u16_to_fixed(x: u16) -> I32F32 {
    I32F32::saturating_from_num(x)
}

/// A u16 proportion as a fraction: `x / 65535`.
#[inline]
pub fn u16_proportion_to_fixed(x: u16) -> I32F32 {
    safe_div(I32F32::saturating_from_num(x), U16_MAX_FIXED)
}

/// A fixed value holding a u16 quantity, rescaled to a fraction: `x / 65535`.
#[inline]
pub fn fixed_to_fixed_u16_proportion(x: I32F32) -> I32F32 {
    safe_div(x, U16_MAX_FIXED)
}

/// A fraction as a u16 proportion: `floor(x * 65535)`, saturating at
/// `[0, 65535]`. This is how the chain stores consensus, incentive,
/// dividends, trust and Yuma3 bonds.
#[inline]
pub fn fixed_proportion_to_u16(x: I32F32) -> u16 {
    fixed_to_u16(x.saturating_mul(U16_MAX_FIXED))
}

/// [`fixed64_to_fixed32`] over a slice.
pub fn vec_fixed64_to_fixed32(values: &[I64F64]) -> Vec<I32F32> {
    values.iter().copied().map(fixed64_to_fixed32).collect()
}

/// [`fixed_proportion_to_u16`] over a slice.
pub fn vec_fixed_proportions_to_u16(values: &[I32F32]) -> Vec<u16> {
    values
        .iter()
        .copied()
        .map(fixed_proportion_to_u16)
        .collect()
}

/// Scale a non-negative vector so that its largest element becomes `65535`
/// and convert to u16, rounding to nearest (ties away from zero).
///
/// This is the normalisation `set_weights` applies before storing a weight
/// row. Three regimes reproduce the chain exactly:
///
/// * maximum `0`: every element is `floor(e * 65535)` (all zeros for
///   non-negative input);
/// * maximum above `32768`: each element is multiplied by `65535 / max`
///   (computed once), which avoids overflowing `e * 65535`;
/// * otherwise: `(e * 65535) / max`.
///
/// ```
/// use medmetric_yuma::math::{fixed, vec_max_upscale_to_u16};
/// let v: Vec<_> = [0.1f32, 0.2, 0.4].iter().map(|&x| fixed(x)).collect();
/// assert_eq!(vec_max_upscale_to_u16(&v), vec![16384, 32768, 65535]);
/// ```
pub fn vec_max_upscale_to_u16(values: &[I32F32]) -> Vec<u16> {
    let Some(&max) = values.iter().max() else {
        return Vec::new();
    };
    let to_u16 = |x: I32F32| x.saturating_to_num::<u16>();
    if max == ZERO {
        return values
            .iter()
            .map(|&e| to_u16(e.saturating_mul(U16_MAX_FIXED)))
            .collect();
    }
    if max > I32F32::from_bits(32_768_i64 << 32) {
        let ratio = safe_div(U16_MAX_FIXED, max);
        return values
            .iter()
            .map(|&e| to_u16(e.saturating_mul(ratio).wrapping_round()))
            .collect();
    }
    values
        .iter()
        .map(|&e| to_u16(safe_div(e.saturating_mul(U16_MAX_FIXED), max).wrapping_round()))
        .collect()
}

/// [`vec_max_upscale_to_u16`] applied to u16 input — exactly what
/// `set_weights` stores for the submitted weight values.
pub fn vec_u16_max_upscale_to_u16(values: &[u16]) -> Vec<u16> {
    let as_fixed: Vec<I32F32> = values.iter().copied().map(u16_to_fixed).collect();
    vec_max_upscale_to_u16(&as_fixed)
}

/// Whether the largest share of `values` (after normalising them to sum to
/// one) is at most `max_limit / 65535`. An empty vector passes.
pub fn check_vec_max_limited(values: &[u16], max_limit: u16) -> bool {
    let limit = u16_proportion_to_fixed(max_limit);
    let mut shares: Vec<I32F32> = values.iter().copied().map(u16_to_fixed).collect();
    super::inplace_normalize(&mut shares);
    shares.iter().max().is_none_or(|&m| m <= limit)
}
