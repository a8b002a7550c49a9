//! Dense-matrix counterparts of the sparse operations (subtensor keeps both;
//! its dense epoch is a test-only variant). Rows may be ragged; each function
//! handles short or long rows the same way the chain does.

use super::{I32F32, ZERO, safe_div, vec_mul};

/// Sum of each row; empty output when the first row is empty.
pub fn row_sum(matrix: &[Vec<I32F32>]) -> Vec<I32F32> {
    if matrix.first().is_some_and(|r| r.is_empty()) {
        return Vec::new();
    }
    matrix.iter().map(|row| super::sum(row)).collect()
}

/// Divide each row by its sum when that sum is positive.
pub fn inplace_row_normalize(matrix: &mut [Vec<I32F32>]) {
    for row in matrix.iter_mut() {
        let total = super::sum(row);
        if total > ZERO {
            for v in row.iter_mut() {
                *v = safe_div(*v, total);
            }
        }
    }
}

/// Per-column reduction over ragged rows (missing entries skipped).
fn dense_column_fold(
    matrix: &[Vec<I32F32>],
    step: impl Fn(I32F32, I32F32) -> I32F32,
) -> Vec<I32F32> {
    let width = matrix.iter().map(Vec::len).max().unwrap_or(0);
    let mut acc = vec![ZERO; width];
    for row in matrix {
        for (slot, &v) in acc.iter_mut().zip(row) {
            *slot = step(*slot, v);
        }
    }
    acc
}

/// Divide each existing entry by its column divisor when that is non-zero.
fn dense_divide_columns(matrix: &mut [Vec<I32F32>], divisors: &[I32F32]) {
    for row in matrix.iter_mut() {
        for (v, &d) in row.iter_mut().zip(divisors) {
            if d != ZERO {
                *v = safe_div(*v, d);
            }
        }
    }
}

/// Make each column sum to one (zero-sum columns untouched).
pub fn inplace_col_normalize(matrix: &mut [Vec<I32F32>]) {
    let sums = dense_column_fold(matrix, |a, v| a.saturating_add(v));
    dense_divide_columns(matrix, &sums);
}

/// Make each column's largest entry one (all-zero columns untouched).
pub fn inplace_col_max_upscale(matrix: &mut [Vec<I32F32>]) {
    let maxima = dense_column_fold(matrix, |m, v| if m < v { v } else { m });
    dense_divide_columns(matrix, &maxima);
}

/// Zero entry `(r, c)` where `mask[r][c]` is `true` (missing mask entries
/// count as `true`). An empty mask (or empty first mask row) is a no-op.
pub fn inplace_mask_matrix(mask: &[Vec<bool>], matrix: &mut [Vec<I32F32>]) {
    if mask.first().is_none_or(|r| r.is_empty()) {
        return;
    }
    for (r, row) in matrix.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            if mask.get(r).and_then(|m| m.get(c)).copied().unwrap_or(true) {
                *v = ZERO;
            }
        }
    }
}

/// Replace rows flagged `true` (or missing from the mask) with zero rows as
/// wide as the first row.
pub fn inplace_mask_rows(mask: &[bool], matrix: &mut [Vec<I32F32>]) {
    let Some(width) = matrix.first().map(Vec::len) else {
        return;
    };
    for (r, row) in matrix.iter_mut().enumerate() {
        if mask.get(r).copied().unwrap_or(true) {
            *row = vec![ZERO; width];
        }
    }
}

/// Zero the columns flagged `true` (or missing from the mask).
pub fn inplace_mask_cols(mask: &[bool], matrix: &mut [Vec<I32F32>]) {
    for row in matrix.iter_mut() {
        for (c, v) in row.iter_mut().enumerate() {
            if mask.get(c).copied().unwrap_or(true) {
                *v = ZERO;
            }
        }
    }
}

/// Zero the diagonal of a square matrix; non-square input is left alone.
pub fn inplace_mask_diag(matrix: &mut [Vec<I32F32>]) {
    let Some(width) = matrix.first().map(Vec::len) else {
        return;
    };
    if width == 0 || width != matrix.len() {
        return;
    }
    for (i, row) in matrix.iter_mut().enumerate() {
        if let Some(v) = row.get_mut(i) {
            *v = ZERO;
        }
    }
}

/// [`inplace_mask_diag`], but keep the diagonal entry at `(keep, keep)`.
pub fn inplace_mask_diag_except_index(matrix: &mut [Vec<I32F32>], keep: u16) {
    let k = usize::from(keep);
    let saved = matrix.get(k).and_then(|r| r.get(k)).copied();
    let Some(width) = matrix.first().map(Vec::len) else {
        return;
    };
    if width == 0 || width != matrix.len() {
        return;
    }
    inplace_mask_diag(matrix);
    if let (Some(v), Some(cell)) = (saved, matrix.get_mut(k).and_then(|r| r.get_mut(k))) {
        *cell = v;
    }
}

/// Scale row `i` by `vector[i]` (stopping when the vector runs out).
pub fn row_hadamard(matrix: &[Vec<I32F32>], vector: &[I32F32]) -> Vec<Vec<I32F32>> {
    if matrix.first().is_none_or(|r| r.is_empty()) {
        return vec![vec![]];
    }
    matrix
        .iter()
        .zip(vector)
        .map(|(row, &s)| row.iter().map(|&v| s.saturating_mul(v)).collect())
        .collect()
}

/// `result_j = Σ_i vector_i · matrix_ij`, as wide as the first row.
pub fn matmul(matrix: &[Vec<I32F32>], vector: &[I32F32]) -> Vec<I32F32> {
    let width = matrix.first().map_or(0, Vec::len);
    if width == 0 {
        return Vec::new();
    }
    let mut out = vec![ZERO; width];
    for (i, row) in matrix.iter().enumerate() {
        let s = vector.get(i).copied().unwrap_or(ZERO);
        for (slot, &v) in out.iter_mut().zip(row) {
            *slot = slot.saturating_add(s.saturating_mul(v));
        }
    }
    out
}

/// `result_i = Σ_j vector_j · matrix_ij`.
pub fn matmul_transpose(matrix: &[Vec<I32F32>], vector: &[I32F32]) -> Vec<I32F32> {
    if matrix.first().is_none_or(|r| r.is_empty()) {
        return Vec::new();
    }
    matrix
        .iter()
        .map(|row| {
            row.iter().zip(vector).fold(ZERO, |acc, (&m, &x)| {
                acc.saturating_add(m.saturating_mul(x))
            })
        })
        .collect()
}

/// Clip every entry at its column threshold, in place.
pub fn inplace_col_clip(matrix: &mut [Vec<I32F32>], thresholds: &[I32F32]) {
    for row in matrix.iter_mut() {
        for (v, &t) in row.iter_mut().zip(thresholds) {
            *v = t.min(*v);
        }
    }
}

/// Element-wise `matrix_ij · vector_j` for every row.
pub fn mat_vec_mul(matrix: &[Vec<I32F32>], vector: &[I32F32]) -> Vec<Vec<I32F32>> {
    if matrix.first().is_none_or(|r| r.is_empty()) {
        return vec![vec![]];
    }
    matrix.iter().map(|row| vec_mul(row, vector)).collect()
}

/// `a + ratio · (b - a)` entry-wise; `ratio` of exactly 0 or 1 returns a
/// copy of `a` or `b`. The result has `a`'s shape (as wide as its first
/// row); cells without a counterpart stay zero.
pub fn interpolate(a: &[Vec<I32F32>], b: &[Vec<I32F32>], ratio: I32F32) -> Vec<Vec<I32F32>> {
    if ratio == ZERO {
        return a.to_vec();
    }
    if ratio == super::ONE {
        return b.to_vec();
    }
    let width = a.first().map_or(0, Vec::len);
    if width == 0 {
        return vec![vec![]];
    }
    let mut out = vec![vec![ZERO; width]; a.len()];
    for ((ra, rb), ro) in a.iter().zip(b).zip(out.iter_mut()) {
        for ((&x, &y), cell) in ra.iter().zip(rb).zip(ro.iter_mut()) {
            *cell = x.saturating_add(ratio.saturating_mul(y.saturating_sub(x)));
        }
    }
    out
}

/// `alpha · new + (1 - alpha) · old` entry-wise over the common shape.
pub fn mat_ema(new: &[Vec<I32F32>], old: &[Vec<I32F32>], alpha: I32F32) -> Vec<Vec<I32F32>> {
    match new.first() {
        None => return vec![vec![]],
        Some(r) if r.is_empty() => return vec![vec![]],
        Some(_) => {}
    }
    let keep = super::ONE.saturating_sub(alpha);
    new.iter()
        .zip(old)
        .map(|(rn, ro)| {
            rn.iter()
                .zip(ro)
                .map(|(&n, &o)| {
                    alpha
                        .saturating_mul(n)
                        .saturating_add(keep.saturating_mul(o))
                })
                .collect()
        })
        .collect()
}
