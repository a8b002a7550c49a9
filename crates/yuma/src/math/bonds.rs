//! Bond exponential moving averages: the fixed-alpha EMA of original Yuma
//! and the per-entry "liquid alpha" EMA of Yuma3.

use super::{I32F32, I64F64, ONE, SparseMatrix, SparseRow, ZERO, clamp_value, exp_safe};

/// EMA coefficient from the `bonds_moving_average` hyperparameter (parts per
/// million): `alpha = 1 - bonds_moving_average / 1_000_000`, where the
/// division happens in [`I64F64`] and the result is narrowed to [`I32F32`].
///
/// With the default `900_000` this is `0.1`: each epoch the bonds move 10 %
/// of the way towards the new observation.
pub fn ema_alpha_from_moving_average(bonds_moving_average: u64) -> I32F32 {
    let ratio = I64F64::saturating_from_num(bonds_moving_average)
        .checked_div(I64F64::saturating_from_num(1_000_000_u32))
        .unwrap_or(I64F64::from_bits(0));
    I32F32::saturating_from_num(1_u8).saturating_sub(I32F32::saturating_from_num(ratio))
}

/// Sparse `alpha · new + (1 - alpha) · old`, evaluated on dense rows of width
/// `new.len()` (the matrix is taken to be square); only positive results
/// are kept, in column order.
pub fn mat_ema_sparse(new: &[SparseRow], old: &[SparseRow], alpha: I32F32) -> SparseMatrix {
    let n = new.len();
    let keep = ONE.saturating_sub(alpha);
    let mut old_rows = old.iter();
    let mut out = Vec::with_capacity(n);
    let mut acc = vec![ZERO; n];
    for row in new {
        acc.iter_mut().for_each(|a| *a = ZERO);
        for &(j, v) in row {
            if let Some(a) = acc.get_mut(usize::from(j)) {
                *a = a.saturating_add(alpha.saturating_mul(v));
            }
        }
        if let Some(prev) = old_rows.next() {
            for &(j, v) in prev {
                if let Some(a) = acc.get_mut(usize::from(j)) {
                    *a = a.saturating_add(keep.saturating_mul(v));
                }
            }
        }
        out.push(
            acc.iter()
                .enumerate()
                .filter(|&(_, &v)| v > ZERO)
                .map(|(j, &v)| (j as u16, v))
                .collect(),
        );
    }
    out
}

/// One EMA step with an individual coefficient: `(1 - a) · old + max(a · new, 0)`,
/// capped at one.
#[inline]
fn ema_step(a: I32F32, new: I32F32, old: I32F32) -> I32F32 {
    let decayed = ONE.saturating_sub(a).saturating_mul(old);
    let gained = a.saturating_mul(new).max(ZERO);
    decayed.saturating_add(gained).min(ONE)
}

/// One row of [`mat_ema_alpha_sparse`].
fn ema_alpha_sparse_row(
    row_new: &[(u16, I32F32)],
    row_old: &[(u16, I32F32)],
    row_alpha: &[I32F32],
) -> SparseRow {
    let mut prev = vec![ZERO; row_alpha.len()];
    for &(j, v) in row_old {
        if let Some(slot) = prev.get_mut(usize::from(j)) {
            *slot = v;
        }
    }
    row_new
        .iter()
        .filter_map(|&(j, v)| {
            let a = *row_alpha.get(usize::from(j))?;
            let b = ema_step(a, v, *prev.get(usize::from(j))?);
            (b > ZERO).then_some((j, b))
        })
        .collect()
}

/// Sparse EMA with a coefficient per entry (`alpha[i][j]`), Yuma3's bond
/// update. Results are capped at one and only positive ones are kept.
///
/// Only entries present in `new` produce output: a bond whose weight entry
/// is absent from the row is dropped, while an explicit zero weight lets
/// the bond decay. If the three outer lengths differ, `new` is returned.
pub fn mat_ema_alpha_sparse(
    new: &[SparseRow],
    old: &[SparseRow],
    alpha: &[Vec<I32F32>],
) -> SparseMatrix {
    if new.len() != old.len() || new.len() != alpha.len() {
        return new.to_vec();
    }
    new.iter()
        .zip(old)
        .zip(alpha)
        .map(|((rn, ro), ra)| ema_alpha_sparse_row(rn, ro, ra))
        .collect()
}

/// Dense EMA with a coefficient per entry, capped at one. Degenerate input
/// (empty `new`) gives `[[]]`; mismatched outer lengths return `old`,
/// mismatched row lengths return `new`.
pub fn mat_ema_alpha(
    new: &[Vec<I32F32>],
    old: &[Vec<I32F32>],
    alpha: &[Vec<I32F32>],
) -> Vec<Vec<I32F32>> {
    if new.first().is_none_or(|r| r.is_empty()) {
        return vec![vec![]];
    }
    if new.len() != old.len() || new.len() != alpha.len() {
        return old.to_vec();
    }
    let ragged = new
        .iter()
        .zip(old)
        .zip(alpha)
        .any(|((n, o), a)| n.len() != o.len() || n.len() != a.len());
    if ragged {
        return new.to_vec();
    }
    new.iter()
        .zip(old)
        .zip(alpha)
        .map(|((rn, ro), ra)| {
            rn.iter()
                .zip(ro)
                .zip(ra)
                .map(|((&n, &o), &a)| ema_step(a, n, o))
                .collect()
        })
        .collect()
}

/// Liquid-alpha settings: bounds of the EMA coefficient and the sigmoid
/// steepness, already converted the way the chain converts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiquidAlpha {
    /// Lower bound of alpha (`alpha_low / 65535`).
    pub low: I32F32,
    /// Upper bound of alpha (`alpha_high / 65535`).
    pub high: I32F32,
    /// Sigmoid steepness as stored on chain (`i16`, e.g. `1000`).
    pub steepness: I32F32,
}

impl LiquidAlpha {
    /// From the on-chain representation: `AlphaValues` as u16 proportions
    /// and `AlphaSigmoidSteepness` as `i16`.
    pub fn from_chain(alpha_low: u16, alpha_high: u16, steepness: i16) -> Self {
        Self {
            low: super::u16_proportion_to_fixed(alpha_low),
            high: super::u16_proportion_to_fixed(alpha_high),
            steepness: I32F32::saturating_from_num(steepness),
        }
    }
}

/// Yuma3's per-entry EMA coefficient.
///
/// The "distance" is how far the validator is ahead of consensus when its
/// weight is at least its bond (`clamp(weight - consensus, 0, 1)`, buying),
/// or how far its bond exceeds its weight otherwise
/// (`clamp(bond - weight, 0, 1)`, selling). The coefficient is
/// `low + (high - low) · σ` with
/// `σ = 1 / (1 + e^((steepness / -100) · (distance - 1/2)))`,
/// clamped to `[low, high]`.
pub fn alpha_sigmoid(
    consensus: I32F32,
    weight: I32F32,
    bond: I32F32,
    settings: &LiquidAlpha,
) -> I32F32 {
    let half = I32F32::from_bits(1 << 31);
    let buying = clamp_value(weight.saturating_sub(consensus), ZERO, ONE);
    let selling = clamp_value(bond.saturating_sub(weight), ZERO, ONE);
    let distance = if weight >= bond { buying } else { selling };
    let rate = settings
        .steepness
        .saturating_div(I32F32::from_bits(-100_i64 << 32));
    let e = exp_safe(rate.saturating_mul(distance.saturating_sub(half)));
    let sigma = ONE.saturating_div(ONE.saturating_add(e));
    let span = settings.high.saturating_sub(settings.low);
    clamp_value(
        settings.low.saturating_add(sigma.saturating_mul(span)),
        settings.low,
        settings.high,
    )
}

/// Dense matrix of liquid alphas: entry `(i, j)` is [`alpha_sigmoid`] of
/// `consensus[j]`, `weights[i][j]`, `bonds[i][j]` (over the common length of
/// each row triple). Empty when the row counts differ.
pub fn liquid_alpha_values(
    weights: &[Vec<I32F32>],
    bonds: &[Vec<I32F32>],
    consensus: &[I32F32],
    settings: &LiquidAlpha,
) -> Vec<Vec<I32F32>> {
    if weights.len() != bonds.len() {
        return Vec::new();
    }
    weights
        .iter()
        .zip(bonds)
        .map(|(rw, rb)| {
            rw.iter()
                .zip(rb)
                .zip(consensus)
                .map(|((&w, &b), &c)| alpha_sigmoid(c, w, b, settings))
                .collect()
        })
        .collect()
}

/// Look up column `j` in a sparse row by advancing a cursor that only moves
/// forward: entries with a smaller column are skipped, an entry with
/// column `j` is returned but not consumed. Rows sorted by column are read
/// exactly; for unsorted rows this reproduces the chain's single forward scan.
fn forward_lookup<'a, I>(cursor: &mut std::iter::Peekable<I>, j: u16) -> I32F32
where
    I: Iterator<Item = &'a (u16, I32F32)>,
{
    while let Some(&&(col, v)) = cursor.peek() {
        if col < j {
            cursor.next();
        } else {
            return if col == j { v } else { ZERO };
        }
    }
    ZERO
}

/// Liquid alphas of one sparse weight row against its bond row, one per
/// consensus entry. Only columns flagged in `wanted` (all, if `None`) are
/// evaluated; the others are left at zero. The cursors still visit every
/// column, so the values produced are the same either way.
fn liquid_alpha_row_sparse(
    weights: &[(u16, I32F32)],
    bonds: &[(u16, I32F32)],
    consensus: &[I32F32],
    settings: &LiquidAlpha,
    wanted: Option<&[bool]>,
) -> Vec<I32F32> {
    let mut w_cursor = weights.iter().peekable();
    let mut b_cursor = bonds.iter().peekable();
    consensus
        .iter()
        .enumerate()
        .map(|(j, &c)| {
            let w = forward_lookup(&mut w_cursor, j as u16);
            let b = forward_lookup(&mut b_cursor, j as u16);
            if wanted.is_none_or(|f| f.get(j).copied().unwrap_or(false)) {
                alpha_sigmoid(c, w, b, settings)
            } else {
                ZERO
            }
        })
        .collect()
}

/// Dense matrix (rows × `consensus.len()`) of liquid alphas for sparse
/// weights and bonds; absent entries count as zero. Empty when the row
/// counts differ.
pub fn liquid_alpha_values_sparse(
    weights: &[SparseRow],
    bonds: &[SparseRow],
    consensus: &[I32F32],
    settings: &LiquidAlpha,
) -> Vec<Vec<I32F32>> {
    if weights.len() != bonds.len() {
        return Vec::new();
    }
    weights
        .iter()
        .zip(bonds)
        .map(|(rw, rb)| liquid_alpha_row_sparse(rw, rb, consensus, settings, None))
        .collect()
}

/// Liquid alpha only applies when the consensus has a non-zero entry.
fn consensus_is_nonzero(consensus: &[I32F32]) -> bool {
    consensus.iter().any(|&c| c != ZERO)
}

/// Yuma3 bond update on sparse matrices: the liquid-alpha EMA when
/// `liquid` is `Some` and consensus is not all zero, otherwise the fixed
/// EMA with [`ema_alpha_from_moving_average`]. `weights` are the weights
/// for bonds, `bonds` the previous bonds as fractions in `[0, 1]`.
pub fn compute_bonds_sparse(
    weights: &[SparseRow],
    bonds: &[SparseRow],
    consensus: &[I32F32],
    liquid: Option<&LiquidAlpha>,
    bonds_moving_average: u64,
) -> SparseMatrix {
    match liquid {
        Some(settings) if consensus_is_nonzero(consensus) => {
            // Same result as `mat_ema_alpha_sparse(weights, bonds,
            // &liquid_alpha_values_sparse(..))`, one row at a time, and the
            // sigmoid is only evaluated where the EMA reads it (the columns
            // present in the weight row).
            if weights.len() != bonds.len() {
                return weights.to_vec();
            }
            let mut wanted = vec![false; consensus.len()];
            weights
                .iter()
                .zip(bonds)
                .map(|(rw, rb)| {
                    if rw.is_empty() {
                        return SparseRow::new();
                    }
                    wanted.iter_mut().for_each(|f| *f = false);
                    for &(j, _) in rw {
                        if let Some(f) = wanted.get_mut(usize::from(j)) {
                            *f = true;
                        }
                    }
                    let alphas =
                        liquid_alpha_row_sparse(rw, rb, consensus, settings, Some(&wanted));
                    ema_alpha_sparse_row(rw, rb, &alphas)
                })
                .collect()
        }
        _ => mat_ema_sparse(
            weights,
            bonds,
            ema_alpha_from_moving_average(bonds_moving_average),
        ),
    }
}

/// Dense counterpart of [`compute_bonds_sparse`].
pub fn compute_bonds(
    weights: &[Vec<I32F32>],
    bonds: &[Vec<I32F32>],
    consensus: &[I32F32],
    liquid: Option<&LiquidAlpha>,
    bonds_moving_average: u64,
) -> Vec<Vec<I32F32>> {
    match liquid {
        Some(settings) if consensus_is_nonzero(consensus) => {
            let alphas = liquid_alpha_values(weights, bonds, consensus, settings);
            mat_ema_alpha(weights, bonds, &alphas)
        }
        _ => super::mat_ema(
            weights,
            bonds,
            ema_alpha_from_moving_average(bonds_moving_average),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_rows(n: usize) -> impl Strategy<Value = SparseMatrix> {
        let row = proptest::collection::vec((0..n as u16 + 1, 0i64..=(1 << 32)), 0..=n).prop_map(
            |cells| {
                cells
                    .into_iter()
                    .map(|(j, bits)| (j, I32F32::from_bits(bits)))
                    .collect::<SparseRow>()
            },
        );
        proptest::collection::vec(row, n)
    }

    proptest! {
        /// The row-wise liquid-alpha path used by the epoch equals the
        /// chain's two-step formulation (dense alpha matrix, then EMA), for
        /// any rows — unsorted, duplicated or out of range included.
        #[test]
        fn rowwise_liquid_alpha_matches_two_step(
            (weights, bonds, consensus) in (1usize..7).prop_flat_map(|n| (
                arb_rows(n),
                arb_rows(n),
                proptest::collection::vec((0i64..=(1 << 32)).prop_map(I32F32::from_bits), n),
            )),
            low in 0u16..=65535,
            high in 0u16..=65535,
            steep in any::<i16>(),
        ) {
            let settings = LiquidAlpha::from_chain(low, high, steep);
            let two_step = if consensus.iter().any(|&c| c != ZERO) {
                mat_ema_alpha_sparse(
                    &weights,
                    &bonds,
                    &liquid_alpha_values_sparse(&weights, &bonds, &consensus, &settings),
                )
            } else {
                mat_ema_sparse(&weights, &bonds, ema_alpha_from_moving_average(900_000))
            };
            let rowwise = compute_bonds_sparse(&weights, &bonds, &consensus, Some(&settings), 900_000);
            prop_assert_eq!(rowwise, two_step);
        }
    }

    #[test]
    fn ema_alpha_default() {
        assert_eq!(
            ema_alpha_from_moving_average(900_000),
            I32F32::from_num(0.1)
        );
        assert_eq!(ema_alpha_from_moving_average(0), ONE);
        // Absurd values saturate instead of panicking.
        assert!(ema_alpha_from_moving_average(u64::MAX) < ZERO);
    }
}
