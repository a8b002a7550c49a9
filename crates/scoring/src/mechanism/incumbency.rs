//! The earlier-commitment advantage ε (docs/design.md#7-incentives-and-weights).
//!
//! An earlier commitment holds an advantage `ε = initial · 2^(−age/half_life)`
//! where `age` is the number of blocks since *that earlier* commitment. A
//! later model ranks above it only if its score is at least the earlier
//! model's score plus ε. So a fresh model is protected against a copy that
//! was fine-tuned by a hair, and the protection fades as the model ages, so
//! that real improvements on an old model are not held back. (The age of
//! the earlier model, not of the challenger, drives the decay, as in
//! Bittensor's pretraining subnet: a challenger gains nothing by waiting
//! after it commits, only the incumbent's age matters.)

use medmetric_core::Hotkey;

use super::config::MechanismConfig;

/// The advantage a commitment made at `commit_block` holds at
/// `current_block`: `initial · 2^(−age/half_life)`, age saturating at 0.
pub fn epsilon(cfg: &MechanismConfig, commit_block: u64, current_block: u64) -> f64 {
    let age = current_block.saturating_sub(commit_block) as f64;
    let half_life = cfg.epsilon.half_life_blocks.max(1) as f64;
    cfg.epsilon.initial * libm::exp2(-age / half_life)
}

/// Applies the earlier-commitment advantage to `(hotkey, commit_block,
/// score)` triples and returns `(hotkey, effective score)` in input order.
///
/// Models are processed in commitment order (block, then hotkey). A later
/// model `j` that does not beat an earlier model `i` with a positive
/// effective score by `ε(i)` (`score_j < score_i + ε(i)`) is capped just
/// below `i`'s effective score (the next smaller `f64`), so every reward
/// curve ranks it after `i`; its score is otherwise unchanged. Models with
/// the same block do not protect each other. Scores that are not finite or
/// are negative count as 0; the output is never negative.
pub fn apply_incumbency(
    cfg: &MechanismConfig,
    scores: &[(Hotkey, u64, f64)],
    current_block: u64,
) -> Vec<(Hotkey, f64)> {
    let clean = |s: f64| if s.is_finite() && s > 0.0 { s } else { 0.0 };
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        scores[a]
            .1
            .cmp(&scores[b].1)
            .then_with(|| scores[a].0.cmp(&scores[b].0))
    });
    let mut effective = vec![0.0f64; scores.len()];
    let mut done: Vec<usize> = Vec::with_capacity(scores.len());
    for &j in &order {
        let (_, block_j, raw_j) = &scores[j];
        let raw_j = clean(*raw_j);
        let mut eff = raw_j;
        for &i in &done {
            let (_, block_i, raw_i) = &scores[i];
            if block_i >= block_j || effective[i] <= 0.0 {
                continue;
            }
            let eps = epsilon(cfg, *block_i, current_block);
            if raw_j < clean(*raw_i) + eps && eff >= effective[i] {
                eff = effective[i].next_down().max(0.0);
            }
        }
        effective[j] = eff;
        done.push(j);
    }
    scores
        .iter()
        .zip(effective)
        .map(|((h, _, _), e)| (h.clone(), e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> MechanismConfig {
        MechanismConfig::builtin("medmetric").unwrap()
    }

    fn t(h: &str, b: u64, s: f64) -> (Hotkey, u64, f64) {
        (Hotkey::from(h), b, s)
    }

    #[test]
    fn epsilon_halves_every_half_life() {
        let c = cfg();
        let e0 = c.epsilon.initial;
        let hl = c.epsilon.half_life_blocks;
        assert_eq!(epsilon(&c, 100, 100), e0);
        assert_eq!(epsilon(&c, 100, 50), e0);
        assert!((epsilon(&c, 0, hl) - e0 / 2.0).abs() < 1e-15);
        assert!((epsilon(&c, 0, 3 * hl) - e0 / 8.0).abs() < 1e-15);
        assert!(epsilon(&c, 0, u64::MAX) >= 0.0);
    }

    #[test]
    fn a_later_model_needs_a_margin() {
        let c = cfg();
        // Fresh incumbent: ε ≈ 0.02.
        let out = apply_incumbency(&c, &[t("late", 200, 0.81), t("early", 100, 0.80)], 200);
        assert_eq!(out[0].0, "late");
        assert!(out[0].1 < out[1].1, "{out:?}");
        assert_eq!(out[1].1, 0.80);
        // Beating by more than ε keeps the raw score.
        let out = apply_incumbency(&c, &[t("late", 200, 0.85), t("early", 100, 0.80)], 200);
        assert_eq!(out[0].1, 0.85);
        // An old incumbent's advantage has decayed.
        let old = 100 + 20 * c.epsilon.half_life_blocks;
        let out = apply_incumbency(&c, &[t("late", old, 0.81), t("early", 100, 0.80)], old);
        assert_eq!(out[0].1, 0.81);
    }

    #[test]
    fn same_block_and_zero_scores_do_not_protect() {
        let c = cfg();
        let out = apply_incumbency(&c, &[t("a", 100, 0.80), t("b", 100, 0.805)], 100);
        assert_eq!((out[0].1, out[1].1), (0.80, 0.805));
        let out = apply_incumbency(&c, &[t("a", 100, 0.0), t("b", 200, 0.01)], 200);
        assert_eq!(out[1].1, 0.01);
        let out = apply_incumbency(&c, &[t("a", 100, f64::NAN), t("b", 200, -1.0)], 200);
        assert_eq!((out[0].1, out[1].1), (0.0, 0.0));
    }

    #[test]
    fn chains_keep_commitment_order() {
        let c = cfg();
        let out = apply_incumbency(
            &c,
            &[t("k", 300, 0.815), t("j", 200, 0.81), t("i", 100, 0.80)],
            300,
        );
        let (k, j, i) = (out[0].1, out[1].1, out[2].1);
        assert!(i > j && j > k && k > 0.79, "{out:?}");
    }
}
