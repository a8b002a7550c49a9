//! Stake-weighted median — the consensus step of Yuma.

use super::{I32F32, SparseRow, ZERO, inplace_normalize, sum};

/// Stake-weighted median of `score` over the uids in `partition`, by a
/// deterministic binary search.
///
/// `stake` is assumed normalised; the search looks for the score at which
/// the cumulative stake (in ascending score order) crosses `minority`
/// (= total stake − majority ratio). `lo`/`hi` bound the stake interval that
/// `partition` covers, initially `0` and the total stake.
///
/// Each round pivots on the score of the middle element of the current
/// partition (the middle, not a random element, keeps it deterministic),
/// splits the other elements into those strictly below and strictly above
/// the pivot, and descends into the side that contains the crossing point;
/// when neither side does, the pivot is the answer. Returns `0` for an empty
/// partition, if `stake` and `score` have different lengths, or if the
/// search fails to settle within `partition.len()` rounds.
pub fn weighted_median(
    stake: &[I32F32],
    score: &[I32F32],
    partition: &[usize],
    minority: I32F32,
    mut lo: I32F32,
    mut hi: I32F32,
) -> I32F32 {
    if stake.len() != score.len() {
        return ZERO;
    }
    let at = |v: &[I32F32], i: usize| v.get(i).copied().unwrap_or(ZERO);
    let mut current = partition.to_vec();
    let mut below: Vec<usize> = Vec::new();
    let mut above: Vec<usize> = Vec::new();
    let mut rounds = 0usize;
    loop {
        let pivot = match current.as_slice() {
            [] => return ZERO,
            [only] => return at(score, *only),
            several => at(score, several[several.len() / 2]),
        };
        below.clear();
        above.clear();
        let mut below_stake = ZERO;
        let mut above_stake = ZERO;
        for &i in &current {
            let s = at(score, i);
            if s < pivot {
                below_stake = below_stake.saturating_add(at(stake, i));
                below.push(i);
            } else if s > pivot {
                above_stake = above_stake.saturating_add(at(stake, i));
                above.push(i);
            }
        }
        let below_edge = lo.saturating_add(below_stake);
        let above_edge = hi.saturating_sub(above_stake);
        if minority < below_edge && !below.is_empty() {
            hi = below_edge;
            std::mem::swap(&mut current, &mut below);
        } else if above_edge <= minority && !above.is_empty() {
            lo = above_edge;
            std::mem::swap(&mut current, &mut above);
        } else {
            return pivot;
        }
        rounds += 1;
        if rounds > partition.len() {
            return ZERO;
        }
    }
}

/// Run [`weighted_median`] on one column given the positive-stake rows.
fn median_of_column(use_stake: &[I32F32], column: &[I32F32], majority: I32F32) -> I32F32 {
    let total = sum(use_stake);
    let minority = total.saturating_sub(majority);
    let partition: Vec<usize> = (0..use_stake.len()).collect();
    weighted_median(use_stake, column, &partition, minority, ZERO, total)
}

/// Column-wise stake-weighted median of a dense score matrix: for every
/// column, the median over the rows with positive stake (stake renormalised
/// over those rows), at majority ratio `majority` (kappa).
///
/// Rows whose width differs from the first row's contribute a zero stake
/// and a zero score, as on chain.
pub fn weighted_median_col(
    stake: &[I32F32],
    score: &[Vec<I32F32>],
    majority: I32F32,
) -> Vec<I32F32> {
    let columns = score.first().map_or(0, Vec::len);
    (0..columns)
        .map(|c| {
            let mut use_stake = Vec::new();
            let mut use_score = Vec::new();
            for (r, &s) in stake.iter().enumerate() {
                if s <= ZERO {
                    continue;
                }
                match score.get(r) {
                    Some(row) if row.len() == columns => {
                        use_stake.push(s);
                        use_score.push(row.get(c).copied().unwrap_or(ZERO));
                    }
                    _ => {
                        use_stake.push(ZERO);
                        use_score.push(ZERO);
                    }
                }
            }
            if use_stake.is_empty() {
                return ZERO;
            }
            inplace_normalize(&mut use_stake);
            median_of_column(&use_stake, &use_score, majority)
        })
        .collect()
}

/// Column-wise stake-weighted median of a sparse score matrix with
/// `columns` columns — the consensus computation of the on-chain epoch.
/// Missing entries score zero; only rows with positive stake take part.
pub fn weighted_median_col_sparse(
    stake: &[I32F32],
    score: &[SparseRow],
    columns: u16,
    majority: I32F32,
) -> Vec<I32F32> {
    let mut use_stake: Vec<I32F32> = stake.iter().copied().filter(|&s| s > ZERO).collect();
    inplace_normalize(&mut use_stake);
    let voters = use_stake.len();
    let mut by_column = vec![vec![ZERO; voters]; usize::from(columns)];
    let mut k = 0usize;
    for (&s, row) in stake.iter().zip(score) {
        if s > ZERO {
            for &(j, v) in row {
                if let Some(cell) = by_column.get_mut(usize::from(j)).and_then(|c| c.get_mut(k)) {
                    *cell = v;
                }
            }
            k += 1;
        }
    }
    by_column
        .iter()
        .map(|column| median_of_column(&use_stake, column, majority))
        .collect()
}
