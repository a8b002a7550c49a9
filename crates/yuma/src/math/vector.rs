//! Vector helpers: sums, normalisation, masks, top-k and the safe
//! exponential / sigmoid.

use substrate_fixed::transcendental::exp;

use super::{I32F32, I64F64, ONE, ZERO, safe_div, safe_div_64};

/// Sum of a slice, wrapping on overflow like the chain's release build.
pub fn sum(values: &[I32F32]) -> I32F32 {
    values.iter().fold(ZERO, |acc, &v| acc.wrapping_add(v))
}

/// [`sum`] for [`I64F64`].
pub fn sum_64(values: &[I64F64]) -> I64F64 {
    values
        .iter()
        .fold(I64F64::from_bits(0), |acc, &v| acc.wrapping_add(v))
}

/// Whether the elements sum to exactly zero.
pub fn is_zero(values: &[I32F32]) -> bool {
    sum(values) == ZERO
}

/// A copy divided by its sum; returned unchanged when the sum is zero.
pub fn normalize(values: &[I32F32]) -> Vec<I32F32> {
    let total = sum(values);
    if total == ZERO {
        return values.to_vec();
    }
    values.iter().map(|&v| safe_div(v, total)).collect()
}

/// Divide every element by the sum, in place; no-op when the sum is zero.
pub fn inplace_normalize(values: &mut [I32F32]) {
    let total = sum(values);
    inplace_normalize_using_sum(values, total);
}

/// Divide every element by a given `total`; no-op when `total` is zero.
pub fn inplace_normalize_using_sum(values: &mut [I32F32], total: I32F32) {
    if total == ZERO {
        return;
    }
    for v in values.iter_mut() {
        *v = safe_div(*v, total);
    }
}

/// [`inplace_normalize`] for [`I64F64`] (raw stake).
pub fn inplace_normalize_64(values: &mut [I64F64]) {
    let total = sum_64(values);
    if total == I64F64::from_bits(0) {
        return;
    }
    for v in values.iter_mut() {
        *v = safe_div_64(*v, total);
    }
}

/// Element-wise `x / y` with [`safe_div`]; missing `y` entries count as 0.
pub fn vecdiv(x: &[I32F32], y: &[I32F32]) -> Vec<I32F32> {
    x.iter()
        .enumerate()
        .map(|(i, &xi)| safe_div(xi, y.get(i).copied().unwrap_or(ZERO)))
        .collect()
}

/// Element-wise product over the common length; an overflowing product is 0.
pub fn vec_mul(a: &[I32F32], b: &[I32F32]) -> Vec<I32F32> {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| x.checked_mul(y).unwrap_or(ZERO))
        .collect()
}

/// Zero the elements whose mask entry is `true`. A missing mask entry counts
/// as `true`; an empty mask leaves the vector untouched.
pub fn inplace_mask_vector(mask: &[bool], values: &mut [I32F32]) {
    if mask.is_empty() {
        return;
    }
    for (i, v) in values.iter_mut().enumerate() {
        if mask.get(i).copied().unwrap_or(true) {
            *v = ZERO;
        }
    }
}

/// Clear the flags of the `n - k` smallest values (ascending stable sort, so
/// among equal values the lower uids lose first). Nothing is cleared when
/// `n < k`.
fn clear_all_but_top_k(values: &[I32F32], k: usize, flags: &mut [bool]) {
    let n = values.len();
    if n < k {
        return;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| values.get(i).copied().unwrap_or(ZERO));
    for &i in order.iter().take(n - k) {
        if let Some(flag) = flags.get_mut(i) {
            *flag = false;
        }
    }
}

/// `true` for the `k` largest values (ties resolved towards higher uids).
pub fn is_topk(values: &[I32F32], k: usize) -> Vec<bool> {
    let mut flags = vec![true; values.len()];
    clear_all_but_top_k(values, k, &mut flags);
    flags
}

/// `true` for the `k` largest values that are also non-zero — how validator
/// permits are assigned from normalised stake.
pub fn is_topk_nonzero(values: &[I32F32], k: usize) -> Vec<bool> {
    let mut flags: Vec<bool> = values.iter().map(|&v| v != ZERO).collect();
    clear_all_but_top_k(values, k, &mut flags);
    flags
}

/// `e^x` with the input clamped to `[-20, 20]`, computed by
/// `substrate_fixed::transcendental::exp`; if that series fails the result is
/// `0` for non-positive and `I32F32::MAX` for positive input.
pub fn exp_safe(x: I32F32) -> I32F32 {
    let lo = I32F32::from_bits(-20_i64 << 32);
    let hi = I32F32::from_bits(20_i64 << 32);
    let clamped = if x < lo {
        lo
    } else if hi < x {
        hi
    } else {
        x
    };
    let result: Result<I32F32, ()> = exp(clamped);
    match result {
        Ok(v) => v,
        Err(()) if clamped <= ZERO => ZERO,
        Err(()) => I32F32::max_value(),
    }
}

/// Logistic function `1 / (1 + e^(-rho (x - kappa)))` built from
/// saturating operations and [`exp_safe`].
pub fn sigmoid_safe(x: I32F32, rho: I32F32, kappa: I32F32) -> I32F32 {
    let shifted = x.saturating_sub(kappa);
    let neg_rho = rho.saturating_mul(ONE.saturating_neg());
    let e = exp_safe(neg_rho.saturating_mul(shifted));
    safe_div(ONE, e.saturating_add(ONE))
}

/// `value` limited to `[low, high]` by applying `min(high)` and then
/// `max(low)` — so `low` wins if the bounds are inverted.
#[inline]
pub fn clamp_value(value: I32F32, low: I32F32, high: I32F32) -> I32F32 {
    value.min(high).max(low)
}
