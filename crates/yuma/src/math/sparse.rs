//! Operations on sparse matrices (rows of `(column, value)` pairs) — the
//! representation the on-chain epoch works in.
//!
//! Column indices at or beyond the stated column count are ignored by the
//! functions that take a `columns` argument, as on chain.

use super::{I32F32, SparseMatrix, SparseRow, ZERO, safe_div};

/// Sum of each row.
pub fn row_sum_sparse(matrix: &[SparseRow]) -> Vec<I32F32> {
    matrix
        .iter()
        .map(|row| row.iter().fold(ZERO, |acc, &(_, v)| acc.wrapping_add(v)))
        .collect()
}

/// Divide each row by its sum when that sum is positive.
pub fn inplace_row_normalize_sparse(matrix: &mut [SparseRow]) {
    for row in matrix.iter_mut() {
        let total = row.iter().fold(ZERO, |acc, &(_, v)| acc.wrapping_add(v));
        if total > ZERO {
            for (_, v) in row.iter_mut() {
                *v = safe_div(*v, total);
            }
        }
    }
}

/// Per-column reduction over the entries whose column is below `columns`.
fn column_fold(
    matrix: &[SparseRow],
    columns: u16,
    step: impl Fn(I32F32, I32F32) -> I32F32,
) -> Vec<I32F32> {
    let mut acc = vec![ZERO; usize::from(columns)];
    for row in matrix {
        for &(j, v) in row {
            if let Some(slot) = acc.get_mut(usize::from(j)) {
                *slot = step(*slot, v);
            }
        }
    }
    acc
}

/// Divide every entry by a per-column divisor, skipping zero divisors and
/// columns outside the divisor vector.
fn divide_columns(matrix: &mut [SparseRow], divisors: &[I32F32]) {
    for row in matrix.iter_mut() {
        for (j, v) in row.iter_mut() {
            let d = divisors.get(usize::from(*j)).copied().unwrap_or(ZERO);
            if d != ZERO {
                *v = safe_div(*v, d);
            }
        }
    }
}

/// Make each column sum to one (columns summing to zero are left alone).
/// Column sums accumulate with saturating addition.
pub fn inplace_col_normalize_sparse(matrix: &mut [SparseRow], columns: u16) {
    let sums = column_fold(matrix, columns, |a, v| a.saturating_add(v));
    divide_columns(matrix, &sums);
}

/// Make each column's largest entry one (all-zero columns are left alone).
pub fn inplace_col_max_upscale_sparse(matrix: &mut [SparseRow], columns: u16) {
    let maxima = column_fold(matrix, columns, |m, v| if m < v { v } else { m });
    divide_columns(matrix, &maxima);
}

/// Replace the rows flagged `true` (or missing from the mask) by empty rows.
pub fn mask_rows_sparse(mask: &[bool], matrix: &[SparseRow]) -> SparseMatrix {
    matrix
        .iter()
        .enumerate()
        .map(|(i, row)| {
            if mask.get(i).copied().unwrap_or(true) {
                Vec::new()
            } else {
                row.clone()
            }
        })
        .collect()
}

/// Drop the diagonal entries (a uid's weight on itself).
pub fn mask_diag_sparse(matrix: &[SparseRow]) -> SparseMatrix {
    matrix
        .iter()
        .enumerate()
        .map(|(i, row)| {
            row.iter()
                .copied()
                .filter(|&(j, _)| usize::from(j) != i)
                .collect()
        })
        .collect()
}

/// Drop the diagonal except at `(keep, keep)` — the subnet owner may keep
/// its self-weight.
pub fn mask_diag_sparse_except_index(matrix: &[SparseRow], keep: u16) -> SparseMatrix {
    matrix
        .iter()
        .enumerate()
        .map(|(i, row)| {
            row.iter()
                .copied()
                .filter(|&(j, _)| usize::from(j) != i || (i == usize::from(keep) && j == keep))
                .collect()
        })
        .collect()
}

/// Drop entry `(i, j)` where `drop(row_values[i], col_values[j])` holds;
/// missing values count as 0. Used for "weights set before the target
/// registered" (`last_update[i] <= block_at_registration[j]`).
pub fn vec_mask_sparse_matrix(
    matrix: &[SparseRow],
    row_values: &[u64],
    col_values: &[u64],
    drop: &dyn Fn(u64, u64) -> bool,
) -> SparseMatrix {
    matrix
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let ri = row_values.get(i).copied().unwrap_or(0);
            row.iter()
                .copied()
                .filter(|&(j, _)| !drop(ri, col_values.get(usize::from(j)).copied().unwrap_or(0)))
                .collect()
        })
        .collect()
}

/// Drop entry `(i, j)` where `drop(scalar, col_values[j])` holds; missing
/// values count as 0. Used to forget bonds on uids registered since the
/// last epoch.
pub fn scalar_vec_mask_sparse_matrix(
    matrix: &[SparseRow],
    scalar: u64,
    col_values: &[u64],
    drop: &dyn Fn(u64, u64) -> bool,
) -> SparseMatrix {
    matrix
        .iter()
        .map(|row| {
            row.iter()
                .copied()
                .filter(|&(j, _)| {
                    !drop(scalar, col_values.get(usize::from(j)).copied().unwrap_or(0))
                })
                .collect()
        })
        .collect()
}

/// Scale row `i` by `vector[i]`; stops at the shorter of the two.
pub fn row_hadamard_sparse(matrix: &[SparseRow], vector: &[I32F32]) -> SparseMatrix {
    matrix
        .iter()
        .zip(vector)
        .map(|(row, &s)| row.iter().map(|&(j, v)| (j, v.saturating_mul(s))).collect())
        .collect()
}

/// `result_j = Σ_i vector_i · matrix_ij` over `columns` columns (a missing
/// `vector_i` counts as 0). This is the stake-weighted rank.
pub fn matmul_sparse(matrix: &[SparseRow], vector: &[I32F32], columns: u16) -> Vec<I32F32> {
    let mut out = vec![ZERO; usize::from(columns)];
    for (i, row) in matrix.iter().enumerate() {
        let s = vector.get(i).copied().unwrap_or(ZERO);
        for &(j, v) in row {
            if let Some(slot) = out.get_mut(usize::from(j)) {
                *slot = slot.saturating_add(s.saturating_mul(v));
            }
        }
    }
    out
}

/// `result_i = Σ_j vector_j · matrix_ij` (a missing `vector_j` counts as 0).
/// This is the original-Yuma dividend.
pub fn matmul_transpose_sparse(matrix: &[SparseRow], vector: &[I32F32]) -> Vec<I32F32> {
    matrix
        .iter()
        .map(|row| {
            row.iter().fold(ZERO, |acc, &(j, v)| {
                let x = vector.get(usize::from(j)).copied().unwrap_or(ZERO);
                acc.saturating_add(x.saturating_mul(v))
            })
        })
        .collect()
}

/// Element-wise `matrix_ij · vector_j`, keeping only non-zero products and
/// dropping columns beyond the vector.
pub fn mat_vec_mul_sparse(matrix: &[SparseRow], vector: &[I32F32]) -> SparseMatrix {
    matrix
        .iter()
        .map(|row| {
            row.iter()
                .filter_map(|&(j, v)| {
                    let x = vector.get(usize::from(j))?;
                    let p = v.saturating_mul(*x);
                    (p != ZERO).then_some((j, p))
                })
                .collect()
        })
        .collect()
}

/// Clip each entry at its column's threshold. An entry above a threshold
/// that is not positive is removed altogether; entries at or below the
/// threshold are kept as they are (zeros included).
pub fn col_clip_sparse(matrix: &[SparseRow], thresholds: &[I32F32]) -> SparseMatrix {
    matrix
        .iter()
        .map(|row| {
            row.iter()
                .filter_map(|&(j, v)| {
                    let t = thresholds.get(usize::from(j)).copied().unwrap_or(ZERO);
                    if t < v {
                        (t > ZERO).then_some((j, t))
                    } else {
                        Some((j, v))
                    }
                })
                .collect()
        })
        .collect()
}

/// `a + ratio · (b - a)` entry-wise over a dense `rows × columns` view of
/// the two matrices; only positive results are kept. `ratio` of exactly 0
/// or 1 returns a copy of `a` or `b` unchanged (zero entries included), and
/// if the row counts differ `b` is returned.
pub fn interpolate_sparse(
    a: &[SparseRow],
    b: &[SparseRow],
    columns: u16,
    ratio: I32F32,
) -> SparseMatrix {
    if ratio == ZERO {
        return a.to_vec();
    }
    if ratio == super::ONE {
        return b.to_vec();
    }
    if a.len() != b.len() {
        return b.to_vec();
    }
    let width = usize::from(columns);
    let densify = |row: &SparseRow| {
        let mut dense = vec![ZERO; width];
        for &(j, v) in row {
            if let Some(slot) = dense.get_mut(usize::from(j)) {
                *slot = v;
            }
        }
        dense
    };
    a.iter()
        .zip(b)
        .map(|(ra, rb)| {
            let (da, db) = (densify(ra), densify(rb));
            da.iter()
                .zip(&db)
                .enumerate()
                .filter_map(|(j, (&x, &y))| {
                    let v = x.saturating_add(ratio.saturating_mul(y.saturating_sub(x)));
                    (v > ZERO).then_some((j as u16, v))
                })
                .collect()
        })
        .collect()
}
