//! Reward curves: moving scores → shares of the miners' emission.
//!
//! Only miners with a positive (finite) score are paid, and with a
//! `[skill_floor]` only those at or above its absolute floor and its
//! fraction of the leader's score (the leader of each miner type with
//! `[miner_types]`). The shares are
//! non-negative and sum to 1, or are all 0 when nobody scores. Ties are
//! broken by hotkey (lexicographically smaller first), so with distinct
//! hotkeys (as [`super::ScoreBook::scores`] gives them) the result never
//! depends on input order. The shares feed
//! [`crate::weights::weights_for_emit`].

use medmetric_core::Hotkey;

use super::config::{MechanismConfig, RewardCurve, SkillFloor};
use super::score::MinerType;

/// Applies the config's curve to `(hotkey, score)` pairs and returns
/// `(hotkey, share)` in input order.
pub fn apply(cfg: &MechanismConfig, scores: &[(Hotkey, f64)]) -> Vec<(Hotkey, f64)> {
    let values: Vec<f64> = scores.iter().map(|(_, s)| clean(*s)).collect();
    let keys: Vec<&str> = scores.iter().map(|(h, _)| h.as_str()).collect();
    let shares = curve(cfg, &keys, &values);
    scores
        .iter()
        .zip(shares)
        .map(|((h, _), w)| (h.clone(), w))
        .collect()
}

/// Like [`apply`], but with `[miner_types]` configured (`sn34`) the curve
/// runs within each miner type and each type's shares are scaled to its
/// configured share; types nobody in scores are left out and the rest
/// renormalised. Without `[miner_types]` it is [`apply`].
pub fn apply_by_type(
    cfg: &MechanismConfig,
    scores: &[(Hotkey, MinerType, f64)],
) -> Vec<(Hotkey, f64)> {
    let Some(shares) = cfg.miner_types else {
        let plain: Vec<(Hotkey, f64)> = scores.iter().map(|(h, _, s)| (h.clone(), *s)).collect();
        return apply(cfg, &plain);
    };
    let mut out = vec![0.0f64; scores.len()];
    let mut used_share = 0.0;
    for (kind, share) in [
        (MinerType::Detector, shares.detector),
        (MinerType::Segmenter, shares.segmenter),
    ] {
        let idx: Vec<usize> = (0..scores.len()).filter(|&i| scores[i].1 == kind).collect();
        let keys: Vec<&str> = idx.iter().map(|&i| scores[i].0.as_str()).collect();
        let values: Vec<f64> = idx.iter().map(|&i| clean(scores[i].2)).collect();
        let w = curve(cfg, &keys, &values);
        if share > 0.0 && w.iter().any(|&x| x > 0.0) {
            used_share += share;
            for (&i, x) in idx.iter().zip(w) {
                out[i] = share * x;
            }
        }
    }
    if used_share > 0.0 {
        for x in &mut out {
            *x /= used_share;
        }
    }
    scores
        .iter()
        .zip(out)
        .map(|((h, _, _), w)| (h.clone(), w))
        .collect()
}

fn clean(s: f64) -> f64 {
    if s.is_finite() && s > 0.0 { s } else { 0.0 }
}

/// Indices of positive scores, best first, ties by key.
fn ranking(keys: &[&str], values: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).filter(|&i| values[i] > 0.0).collect();
    idx.sort_by(|&a, &b| {
        values[b]
            .total_cmp(&values[a])
            .then_with(|| keys[a].cmp(keys[b]))
            .then(a.cmp(&b))
    });
    idx
}

/// Zeroes every score below the floor: `absolute`, or `relative` times the
/// best score. Scores are cleaned (non-negative) already.
fn floored(floor: Option<SkillFloor>, values: &[f64]) -> Vec<f64> {
    let Some(f) = floor else {
        return values.to_vec();
    };
    let leader = values.iter().copied().fold(0.0f64, f64::max);
    let min = f.absolute.max(f.relative * leader);
    values
        .iter()
        .map(|&v| if v >= min { v } else { 0.0 })
        .collect()
}

fn curve(cfg: &MechanismConfig, keys: &[&str], values: &[f64]) -> Vec<f64> {
    let values = &floored(cfg.skill_floor, values)[..];
    let mut w = vec![0.0f64; values.len()];
    let ranked = ranking(keys, values);
    if ranked.is_empty() {
        return w;
    }
    match cfg.reward {
        RewardCurve::Geometric { top_k, ratio } => {
            let mut x = 1.0;
            for &i in ranked.iter().take(top_k as usize) {
                w[i] = x;
                x *= ratio;
            }
        }
        RewardCurve::Wta {} => w[ranked[0]] = 1.0,
        RewardCurve::Softmax { temperature } => {
            let max = values[ranked[0]];
            for &i in &ranked {
                w[i] = libm::exp((values[i] - max) / temperature);
            }
        }
        RewardCurve::Proportional {} => {
            for &i in &ranked {
                w[i] = values[i];
            }
        }
    }
    // Sum in rank order so the result does not depend on input order.
    let total: f64 = ranked.iter().map(|&i| w[i]).sum();
    if total > 0.0 && total.is_finite() {
        for x in &mut w {
            *x /= total;
        }
    } else {
        w.iter_mut().for_each(|x| *x = 0.0);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::config::MinerTypeShares;

    fn with(curve: RewardCurve) -> MechanismConfig {
        let mut c = MechanismConfig::builtin("medmetric").unwrap();
        c.reward = curve;
        c.skill_floor = None;
        c
    }

    fn s(items: &[(&str, f64)]) -> Vec<(Hotkey, f64)> {
        items.iter().map(|(h, v)| (Hotkey::from(*h), *v)).collect()
    }

    fn shares(out: &[(Hotkey, f64)]) -> Vec<f64> {
        out.iter().map(|(_, w)| *w).collect()
    }

    #[test]
    fn geometric_top_k() {
        let c = with(RewardCurve::Geometric {
            top_k: 2,
            ratio: 0.5,
        });
        let out = apply(&c, &s(&[("a", 0.1), ("b", 0.9), ("c", 0.5), ("d", 0.0)]));
        let w = shares(&out);
        assert!((w[1] - 2.0 / 3.0).abs() < 1e-15 && (w[2] - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!((w[0], w[3]), (0.0, 0.0));
    }

    #[test]
    fn ties_go_to_the_smaller_hotkey_whatever_the_order() {
        let c = with(RewardCurve::Wta {});
        let a = apply(&c, &s(&[("zed", 0.5), ("amy", 0.5)]));
        let b = apply(&c, &s(&[("amy", 0.5), ("zed", 0.5)]));
        assert_eq!(a[1], (Hotkey::from("amy"), 1.0));
        assert_eq!(b[0], (Hotkey::from("amy"), 1.0));
    }

    #[test]
    fn softmax_and_proportional() {
        let c = with(RewardCurve::Softmax { temperature: 0.1 });
        let w = shares(&apply(&c, &s(&[("a", 0.6), ("b", 0.5), ("c", 0.0)])));
        let e = libm::exp(-1.0);
        assert!((w[0] - 1.0 / (1.0 + e)).abs() < 1e-15);
        assert!((w[1] - e / (1.0 + e)).abs() < 1e-15);
        assert_eq!(w[2], 0.0);
        let c = with(RewardCurve::Proportional {});
        let w = shares(&apply(&c, &s(&[("a", 0.3), ("b", 0.1)])));
        assert!((w[0] - 0.75).abs() < 1e-15);
    }

    #[test]
    fn nobody_scoring_pays_nobody() {
        for curve in [
            RewardCurve::Geometric {
                top_k: 3,
                ratio: 0.5,
            },
            RewardCurve::Wta {},
            RewardCurve::Softmax { temperature: 1.0 },
            RewardCurve::Proportional {},
        ] {
            let out = apply(
                &with(curve),
                &s(&[("a", 0.0), ("b", f64::NAN), ("c", -1.0)]),
            );
            assert!(out.iter().all(|(_, w)| *w == 0.0));
            assert!(apply(&with(curve), &[]).is_empty());
        }
    }

    #[test]
    fn shares_per_miner_type() {
        let c = MechanismConfig::builtin("sn34").unwrap();
        let items = vec![
            (Hotkey::from("d1"), MinerType::Detector, 0.6),
            (Hotkey::from("d2"), MinerType::Detector, 0.2),
            (Hotkey::from("s1"), MinerType::Segmenter, 0.1),
        ];
        let w = shares(&apply_by_type(&c, &items));
        assert!((w[0] - 0.375).abs() < 1e-15 && (w[1] - 0.125).abs() < 1e-15);
        assert!((w[2] - 0.5).abs() < 1e-15);
        // No segmenter scores: detectors share everything.
        let w = shares(&apply_by_type(&c, &items[..2]));
        assert!((w[0] - 0.75).abs() < 1e-15);
        let mut c2 = c.clone();
        c2.miner_types = Some(MinerTypeShares {
            detector: 0.0,
            segmenter: 1.0,
        });
        let w = shares(&apply_by_type(&c2, &items));
        assert_eq!((w[0], w[1], w[2]), (0.0, 0.0, 1.0));
        // Without [miner_types] the type is ignored.
        let plain = with(RewardCurve::Proportional {});
        let w = shares(&apply_by_type(&plain, &items));
        assert!((w[2] - 0.1 / 0.9).abs() < 1e-15);
    }

    #[test]
    fn the_skill_floor_pays_no_junk_runner_up() {
        let mut c = with(RewardCurve::Geometric {
            top_k: 5,
            ratio: 0.5,
        });
        // Without a floor the junk runner-up gets a third of the emission.
        let items = s(&[("ref", 0.6), ("junk", 0.012), ("weak", 0.2)]);
        let w = shares(&apply(&c, &items));
        assert!((w[1] - 1.0 / 7.0).abs() < 1e-15, "{w:?}");
        c.skill_floor = Some(SkillFloor {
            absolute: 0.05,
            relative: 0.25,
        });
        let w = shares(&apply(&c, &items));
        assert!((w[0] - 2.0 / 3.0).abs() < 1e-15 && (w[2] - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(w[1], 0.0);
        // Relative to the leader: 0.2 < 0.25 * 0.9.
        let w = shares(&apply(&c, &s(&[("ref", 0.9), ("weak", 0.2)])));
        assert_eq!(w, vec![1.0, 0.0]);
        // Absolute: a lone junk model is not paid either.
        let w = shares(&apply(&c, &s(&[("junk", 0.04)])));
        assert_eq!(w, vec![0.0]);
        // Exactly at the floor is paid.
        let w = shares(&apply(&c, &s(&[("a", 0.4), ("b", 0.1)])));
        assert!(w[1] > 0.0);
    }

    #[test]
    fn the_skill_floor_is_per_miner_type() {
        let mut c = MechanismConfig::builtin("sn34").unwrap();
        c.skill_floor = Some(SkillFloor {
            absolute: 0.05,
            relative: 0.5,
        });
        let items = vec![
            (Hotkey::from("d1"), MinerType::Detector, 0.8),
            (Hotkey::from("s1"), MinerType::Segmenter, 0.1),
            (Hotkey::from("s2"), MinerType::Segmenter, 0.04),
        ];
        // The segmenter leader is judged against segmenters (0.1 ≥ 0.05),
        // not against the detector leader; 0.04 is under the absolute floor.
        let w = shares(&apply_by_type(&c, &items));
        assert!((w[0] - 0.5).abs() < 1e-15 && (w[1] - 0.5).abs() < 1e-15);
        assert_eq!(w[2], 0.0);
    }

    #[test]
    fn the_default_profile_has_a_skill_floor() {
        let c = MechanismConfig::default_profile();
        let f = c.skill_floor.expect("medmetric profile sets [skill_floor]");
        assert!(f.absolute > 0.0 && f.relative > 0.0);
    }
}
