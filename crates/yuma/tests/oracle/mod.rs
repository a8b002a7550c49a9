//! A dense-arithmetic `f64` model of the epoch, used only as a test oracle.
//!
//! It follows the same sequence of steps and the same sparse-storage
//! semantics as `medmetric_yuma::run_epoch` (which entries exist matters
//! for Yuma3 bonds), but computes in `f64` with plain arithmetic instead
//! of saturating fixed point. The two should agree up to rounding.
//!
//! Where fixed point and floating point can legitimately take different
//! *discrete* branches (a weighted-median comparison that is a near tie, a
//! liquid-alpha buy/sell decision on a near-equal weight and bond, an
//! interpolated weight so small that fixed point rounds it to zero and
//! drops the entry) the oracle sets [`FloatOutput::ambiguous`]; callers
//! should skip such inputs.

#![allow(dead_code)]

use medmetric_yuma::EpochInput;

/// Float sparse matrix.
pub type Rows = Vec<Vec<(u16, f64)>>;

/// Near-tie threshold for discrete decisions.
const TIE: f64 = 1e-7;

/// Oracle results, mirroring `EpochOutput`.
#[derive(Debug, Clone)]
pub struct FloatOutput {
    pub stake: Vec<f64>,
    pub active_stake: Vec<f64>,
    pub validator_permit: Vec<bool>,
    pub consensus: Vec<f64>,
    pub validator_trust: Vec<f64>,
    pub incentive: Vec<f64>,
    pub dividends: Vec<f64>,
    pub server_emission: Vec<f64>,
    pub validator_emission: Vec<f64>,
    pub emission: Vec<f64>,
    /// Bond storage after the epoch, dense, as u16 (floor, like the chain).
    pub bonds: Vec<Vec<u16>>,
    /// A discrete decision was a near tie; results may legitimately differ.
    pub ambiguous: bool,
}

fn normalize(v: &mut [f64]) {
    let s: f64 = v.iter().sum();
    if s != 0.0 {
        v.iter_mut().for_each(|x| *x /= s);
    }
}

fn col_fold(m: &Rows, n: usize, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    let mut acc = vec![0.0; n];
    for row in m {
        for &(j, v) in row {
            acc[usize::from(j)] = f(acc[usize::from(j)], v);
        }
    }
    acc
}

fn col_divide(m: &mut Rows, d: &[f64]) {
    for row in m.iter_mut() {
        for (j, v) in row.iter_mut() {
            let x = d[usize::from(*j)];
            if x != 0.0 {
                *v /= x;
            }
        }
    }
}

fn col_normalize(m: &mut Rows, n: usize) {
    let s = col_fold(m, n, |a, v| a + v);
    col_divide(m, &s);
}

fn col_max_upscale(m: &mut Rows, n: usize) {
    let s = col_fold(m, n, |a, v| if a < v { v } else { a });
    col_divide(m, &s);
}

/// Stake-weighted median, the same search as the fixed-point one.
fn weighted_median(
    stake: &[f64],
    score: &[f64],
    minority: f64,
    mut lo: f64,
    mut hi: f64,
    ambiguous: &mut bool,
) -> f64 {
    let mut current: Vec<usize> = (0..stake.len()).collect();
    let limit = current.len();
    let mut rounds = 0;
    loop {
        let pivot = match current.len() {
            0 => return 0.0,
            1 => return score[current[0]],
            k => score[current[k / 2]],
        };
        let (mut below, mut above) = (Vec::new(), Vec::new());
        let (mut bs, mut as_) = (0.0, 0.0);
        for &i in &current {
            if score[i] < pivot {
                bs += stake[i];
                below.push(i);
            } else if score[i] > pivot {
                as_ += stake[i];
                above.push(i);
            }
        }
        let below_edge = lo + bs;
        let above_edge = hi - as_;
        if (minority - below_edge).abs() < TIE || (minority - above_edge).abs() < TIE {
            *ambiguous = true;
        }
        if minority < below_edge && !below.is_empty() {
            hi = below_edge;
            current = below;
        } else if above_edge <= minority && !above.is_empty() {
            lo = above_edge;
            current = above;
        } else {
            return pivot;
        }
        rounds += 1;
        if rounds > limit {
            return 0.0;
        }
    }
}

fn median_columns(
    active_stake: &[f64],
    w: &Rows,
    n: usize,
    kappa: f64,
    amb: &mut bool,
) -> Vec<f64> {
    let mut use_stake: Vec<f64> = active_stake.iter().copied().filter(|&s| s > 0.0).collect();
    normalize(&mut use_stake);
    let total: f64 = use_stake.iter().sum();
    let minority = total - kappa;
    let mut cols = vec![vec![0.0; use_stake.len()]; n];
    let mut k = 0;
    for (i, &s) in active_stake.iter().enumerate() {
        if s > 0.0 {
            for &(j, v) in &w[i] {
                cols[usize::from(j)][k] = v;
            }
            k += 1;
        }
    }
    cols.iter()
        .map(|c| weighted_median(&use_stake, c, minority, 0.0, total, amb))
        .collect()
}

fn alpha_sigmoid(c: f64, w: f64, b: f64, low: f64, high: f64, steep: f64, amb: &mut bool) -> f64 {
    let d = (w - b).abs();
    if d > 0.0 && d < TIE {
        *amb = true;
    }
    let diff = if w >= b {
        (w - c).clamp(0.0, 1.0)
    } else {
        (b - w).clamp(0.0, 1.0)
    };
    let x = ((steep / -100.0) * (diff - 0.5)).clamp(-20.0, 20.0);
    let sigma = 1.0 / (1.0 + x.exp());
    (low + sigma * (high - low)).min(high).max(low)
}

/// Value at column `j` for a cursor that only moves forward (same lookup
/// as the chain's liquid-alpha scan).
fn forward(row: &[(u16, f64)], pos: &mut usize, j: u16) -> f64 {
    while let Some(&(c, v)) = row.get(*pos) {
        if c < j {
            *pos += 1;
        } else {
            return if c == j { v } else { 0.0 };
        }
    }
    0.0
}

fn ema_fixed_alpha(new: &Rows, old: &Rows, alpha: f64, n: usize) -> Rows {
    new.iter()
        .enumerate()
        .map(|(i, row)| {
            let mut acc = vec![0.0; n];
            for &(j, v) in row {
                acc[usize::from(j)] += alpha * v;
            }
            for &(j, v) in &old[i] {
                acc[usize::from(j)] += (1.0 - alpha) * v;
            }
            acc.iter()
                .enumerate()
                .filter(|&(_, &v)| v > 0.0)
                .map(|(j, &v)| (j as u16, v))
                .collect()
        })
        .collect()
}

/// Run the oracle epoch on the same input the fixed-point epoch takes.
pub fn float_epoch(input: &EpochInput) -> FloatOutput {
    let p = &input.params;
    let n = input.n();
    let mut ambiguous = false;

    let inactive: Vec<bool> = input
        .last_update
        .iter()
        .map(|&u| u.saturating_add(p.activity_cutoff) < input.current_block)
        .collect();

    let owner = p.owner_uid.map(usize::from);
    let mut stake: Vec<f64> = input
        .stake
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let v = s.to_num::<f64>();
            if owner != Some(i) && (v.floor() as u64) < p.stake_threshold {
                0.0
            } else {
                v
            }
        })
        .collect();
    normalize(&mut stake);

    let mut permits = input.validator_permit.clone();
    if let Some(o) = owner {
        permits[o] = true;
    }
    let mut new_permits: Vec<bool> = stake.iter().map(|&s| s != 0.0).collect();
    let k = usize::from(p.max_allowed_validators);
    if n >= k {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| stake[a].partial_cmp(&stake[b]).unwrap());
        for &i in order.iter().take(n - k) {
            new_permits[i] = false;
        }
    }
    if let Some(o) = owner {
        new_permits[o] = true;
    }

    let mut active_stake: Vec<f64> = (0..n)
        .map(|i| {
            if inactive[i] || !permits[i] {
                0.0
            } else {
                stake[i]
            }
        })
        .collect();
    normalize(&mut active_stake);

    // Weights.
    let mut w: Rows = input
        .weights
        .iter()
        .enumerate()
        .map(|(i, row)| {
            if !permits[i] {
                return Vec::new();
            }
            row.iter()
                .filter(|&&(j, _)| {
                    let j = usize::from(j);
                    (j != i || owner == Some(i))
                        && input.last_update[i] > input.block_at_registration[j]
                })
                .map(|&(j, v)| (j, f64::from(v)))
                .collect()
        })
        .collect();
    for row in w.iter_mut() {
        let s: f64 = row.iter().map(|e| e.1).sum();
        if s > 0.0 {
            row.iter_mut().for_each(|e| e.1 /= s);
        }
    }

    // Consensus, clipping, trust, incentive.
    let kappa = f64::from(p.kappa) / 65535.0;
    let consensus = median_columns(&active_stake, &w, n, kappa, &mut ambiguous);
    let clipped: Rows = w
        .iter()
        .map(|row| {
            row.iter()
                .filter_map(|&(j, v)| {
                    let t = consensus[usize::from(j)];
                    if t < v {
                        (t > 0.0).then_some((j, t))
                    } else {
                        Some((j, v))
                    }
                })
                .collect()
        })
        .collect();
    let validator_trust: Vec<f64> = clipped
        .iter()
        .map(|r| r.iter().map(|e| e.1).sum())
        .collect();
    let mut incentive = vec![0.0; n];
    for (i, row) in clipped.iter().enumerate() {
        for &(j, v) in row {
            incentive[usize::from(j)] += active_stake[i] * v;
        }
    }
    normalize(&mut incentive);

    // Bonds penalty.
    let ratio = f64::from(p.bonds_penalty) / 65535.0;
    let wfb: Rows = if p.bonds_penalty == 0 {
        w.clone()
    } else if p.bonds_penalty == u16::MAX {
        clipped.clone()
    } else {
        w.iter()
            .zip(&clipped)
            .map(|(ra, rb)| {
                let mut da = vec![0.0; n];
                let mut db = vec![0.0; n];
                ra.iter().for_each(|&(j, v)| da[usize::from(j)] = v);
                rb.iter().for_each(|&(j, v)| db[usize::from(j)] = v);
                (0..n)
                    .filter_map(|j| {
                        let v = da[j] + ratio * (db[j] - da[j]);
                        if v > 0.0 && v < 1e-8 {
                            ambiguous = true;
                        }
                        (v > 0.0).then_some((j as u16, v))
                    })
                    .collect()
            })
            .collect()
    };

    let last_tempo = if input.last_mechanism_step_block == 0 {
        input.current_block.saturating_sub(p.tempo)
    } else {
        input.last_mechanism_step_block.saturating_add(1)
    };
    let old_bonds = |fraction: bool| -> Rows {
        input
            .bonds
            .iter()
            .map(|row| {
                row.iter()
                    .filter(|&&(j, _)| last_tempo > input.block_at_registration[usize::from(j)])
                    .map(|&(j, b)| {
                        (
                            j,
                            if fraction {
                                f64::from(b) / 65535.0
                            } else {
                                f64::from(b)
                            },
                        )
                    })
                    .collect()
            })
            .collect()
    };
    let alpha_fixed = 1.0 - (p.bonds_moving_average as f64) / 1_000_000.0;

    let (ema, dividends): (Rows, Vec<f64>) = if p.yuma3 {
        let old = old_bonds(true);
        let ema: Rows = if p.liquid_alpha && consensus.iter().any(|&c| c != 0.0) {
            let (low, high) = (
                f64::from(p.alpha_low) / 65535.0,
                f64::from(p.alpha_high) / 65535.0,
            );
            let steep = f64::from(p.alpha_sigmoid_steepness);
            wfb.iter()
                .zip(&old)
                .map(|(rw, rb)| {
                    let (mut pw, mut pb) = (0, 0);
                    let alphas: Vec<f64> = (0..n)
                        .map(|j| {
                            let wj = forward(rw, &mut pw, j as u16);
                            let bj = forward(rb, &mut pb, j as u16);
                            alpha_sigmoid(consensus[j], wj, bj, low, high, steep, &mut ambiguous)
                        })
                        .collect();
                    let mut prev = vec![0.0; n];
                    rb.iter().for_each(|&(j, v)| prev[usize::from(j)] = v);
                    rw.iter()
                        .filter_map(|&(j, v)| {
                            let a = alphas[usize::from(j)];
                            let b = ((1.0 - a) * prev[usize::from(j)] + (a * v).max(0.0)).min(1.0);
                            (b > 0.0).then_some((j, b))
                        })
                        .collect()
                })
                .collect()
        } else {
            ema_fixed_alpha(&wfb, &old, alpha_fixed, n)
        };
        let mut shares = ema.clone();
        col_normalize(&mut shares, n);
        let mut d: Vec<f64> = shares
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let per: f64 = row
                    .iter()
                    .map(|&(j, v)| v * incentive[usize::from(j)])
                    .sum();
                per * active_stake[i]
            })
            .collect();
        normalize(&mut d);
        (ema, d)
    } else {
        let mut old = old_bonds(false);
        col_normalize(&mut old, n);
        let mut delta: Rows = wfb
            .iter()
            .enumerate()
            .map(|(i, row)| row.iter().map(|&(j, v)| (j, v * active_stake[i])).collect())
            .collect();
        col_normalize(&mut delta, n);
        let mut ema = ema_fixed_alpha(&delta, &old, alpha_fixed, n);
        col_normalize(&mut ema, n);
        let mut d: Vec<f64> = ema
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&(j, v)| v * incentive[usize::from(j)])
                    .sum()
            })
            .collect();
        normalize(&mut d);
        col_max_upscale(&mut ema, n);
        (ema, d)
    };

    // Emission.
    let combined: Vec<f64> = incentive
        .iter()
        .zip(&dividends)
        .map(|(a, b)| a + b)
        .collect();
    let total: f64 = combined.iter().sum();
    let mut server: Vec<f64> = incentive
        .iter()
        .map(|&x| if total != 0.0 { x / total } else { x })
        .collect();
    let mut validator: Vec<f64> = dividends
        .iter()
        .map(|&x| if total != 0.0 { x / total } else { x })
        .collect();
    let mut overall = combined.clone();
    normalize(&mut overall);
    if total == 0.0 {
        let fallback = if active_stake.iter().sum::<f64>() == 0.0 {
            &stake
        } else {
            &active_stake
        };
        validator.clone_from(fallback);
        overall.clone_from(fallback);
    }
    let e = input.emission as f64;
    server.iter_mut().for_each(|x| *x *= e);
    validator.iter_mut().for_each(|x| *x *= e);
    overall.iter_mut().for_each(|x| *x *= e);

    // Bond storage: new bonds for uids with a new permit, empty otherwise.
    let bonds: Vec<Vec<u16>> = (0..n)
        .map(|i| {
            let mut d = vec![0u16; n];
            if new_permits[i] {
                for &(j, v) in &ema[i] {
                    d[usize::from(j)] = (v * 65535.0).floor().clamp(0.0, 65535.0) as u16;
                }
            }
            d
        })
        .collect();

    FloatOutput {
        stake,
        active_stake,
        validator_permit: new_permits,
        consensus,
        validator_trust,
        incentive,
        dividends,
        server_emission: server,
        validator_emission: validator,
        emission: overall,
        bonds,
        ambiguous,
    }
}
