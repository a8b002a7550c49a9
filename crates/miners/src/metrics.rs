//! The per-image quantities (docs/design.md#6-scoring), as the trainer and the quality
//! report need them. The validator's own implementation is
//! `medmetric_scoring::metrics`; these follow the same conventions (Dice on
//! `p ≥ 0.5`, empty against empty = 1, BCE in nats with `p` clamped to
//! `[1e-7, 1 − 1e-7]`, classification loss in bits).

/// Clamp of probabilities inside every logarithm.
const EPS: f64 = 1e-7;

/// Dice of `prob ≥ 0.5` against `truth` (non-zero = lesion).
pub fn dice(prob: &[f32], truth: &[u8]) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    for (&p, &t) in prob.iter().zip(truth) {
        match (p >= 0.5, t != 0) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    if tp + fp + fn_ == 0 {
        1.0
    } else {
        2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
    }
}

/// Binary cross-entropy of one probability, nats.
pub fn bce(label: bool, p: f64) -> f64 {
    let p = p.clamp(EPS, 1.0 - EPS);
    if label {
        -libm::log(p)
    } else {
        -libm::log(1.0 - p)
    }
}

/// Mean pixel BCE, nats, summed in pixel order.
pub fn mean_bce(prob: &[f32], truth: &[u8]) -> f64 {
    if prob.is_empty() {
        return 0.0;
    }
    let sum: f64 = prob
        .iter()
        .zip(truth)
        .map(|(&p, &t)| bce(t != 0, f64::from(p)))
        .sum();
    sum / prob.len() as f64
}

/// The per-image reward (docs/design.md#6-scoring) `R_i` from a mask (or none: `L_seg = 1`) and a
/// class probability (or none: `L_cls = 1`).
pub fn reward(mask: Option<&[f32]>, cls: Option<f64>, truth: &[u8], abnormal: bool) -> f64 {
    let l_seg = match mask {
        Some(m) => (1.0 - dice(m, truth)) + mean_bce(m, truth),
        None => 1.0,
    };
    let l_cls = match cls {
        Some(p) => bce(abnormal, p) / std::f64::consts::LN_2,
        None => 1.0,
    };
    0.6 * (1.0 - l_seg).clamp(0.0, 1.0) + 0.4 * (1.0 - l_cls).clamp(0.0, 1.0)
}
