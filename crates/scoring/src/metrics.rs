//! Per-image segmentation and classification metrics (docs/design.md#6-scoring).
//!
//! One implementation serves `medmetric metrics`, `medmetric eval` and the
//! validator, so a hospital re-checking a model computes exactly what the
//! subnet computed. Arithmetic is `f64` with `libm`'s logarithm, summed in
//! pixel order, so the result is the same bytes on every machine.
//!
//! Conventions, all chosen so that "predicting nothing on a normal image" is
//! a perfect segmentation and nothing is ever NaN:
//! - a pixel is predicted lesion when `p >= 0.5`;
//! - both masks empty: dice = iou = precision = recall = 1;
//! - otherwise a ratio whose denominator is 0 is 0 (e.g. precision when
//!   nothing is predicted on an image that has a lesion);
//! - MCC is 0 when undefined (a constant prediction or a constant truth);
//! - BCE clamps `p` to `[1e-7, 1 − 1e-7]`, in nats.
//!
//! ```
//! use medmetric_scoring::metrics::segmentation;
//!
//! let pred = [0.9f32, 0.8, 0.1, 0.0];
//! let truth = [1u8, 0, 0, 0];
//! let m = segmentation(&pred, &truth).unwrap();
//! assert!((m.dice - 2.0 / 3.0).abs() < 1e-12);
//! assert_eq!(m.recall, 1.0);
//! ```

use serde::{Deserialize, Serialize};

/// Probabilities are clamped to `[P_CLAMP, 1 − P_CLAMP]` before logarithms.
pub const P_CLAMP: f64 = 1e-7;

/// Decision threshold on probabilities.
pub const THRESHOLD: f64 = 0.5;

/// Why metrics could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// Prediction and truth differ in length.
    #[error("prediction has {pred} pixels but truth has {truth}")]
    SizeMismatch {
        /// Prediction pixels.
        pred: usize,
        /// Truth pixels.
        truth: usize,
    },
    /// Nothing to score.
    #[error("no pixels to score")]
    Empty,
    /// Two lists that must pair up item by item differ in length.
    #[error("{what}: {got} entries where {expected} were expected")]
    CountMismatch {
        /// What was counted.
        what: &'static str,
        /// Entries given.
        got: usize,
        /// Entries expected.
        expected: usize,
    },
}

/// Confusion counts of a thresholded prediction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Lesion predicted and present.
    pub tp: u64,
    /// Lesion predicted, absent.
    pub fp: u64,
    /// Lesion missed.
    pub fn_: u64,
    /// Background predicted and absent.
    pub tn: u64,
}

impl Confusion {
    fn both_empty(&self) -> bool {
        self.tp == 0 && self.fp == 0 && self.fn_ == 0
    }

    /// Sørensen–Dice coefficient.
    pub fn dice(&self) -> f64 {
        if self.both_empty() {
            return 1.0;
        }
        let tp = self.tp as f64;
        2.0 * tp / (2.0 * tp + self.fp as f64 + self.fn_ as f64)
    }

    /// Intersection over union (Jaccard).
    pub fn iou(&self) -> f64 {
        if self.both_empty() {
            return 1.0;
        }
        self.tp as f64 / (self.tp + self.fp + self.fn_) as f64
    }

    /// Precision.
    pub fn precision(&self) -> f64 {
        ratio_or(self.tp, self.tp + self.fp, self.both_empty())
    }

    /// Recall (sensitivity).
    pub fn recall(&self) -> f64 {
        ratio_or(self.tp, self.tp + self.fn_, self.both_empty())
    }

    /// Matthews correlation coefficient; 0 when undefined.
    pub fn mcc(&self) -> f64 {
        let (tp, fp, fn_, tn) = (
            self.tp as f64,
            self.fp as f64,
            self.fn_ as f64,
            self.tn as f64,
        );
        let denom = (tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_);
        if denom == 0.0 {
            return 0.0;
        }
        (tp * tn - fp * fn_) / denom.sqrt()
    }
}

fn ratio_or(num: u64, den: u64, both_empty: bool) -> f64 {
    if den == 0 {
        if both_empty { 1.0 } else { 0.0 }
    } else {
        num as f64 / den as f64
    }
}

/// The metrics of one predicted mask against its truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SegmentationMetrics {
    /// Dice on `p >= 0.5`.
    pub dice: f64,
    /// IoU on `p >= 0.5`.
    pub iou: f64,
    /// Mean pixel binary cross-entropy, nats.
    pub bce: f64,
    /// Matthews correlation on `p >= 0.5`.
    pub mcc: f64,
    /// Precision on `p >= 0.5`.
    pub precision: f64,
    /// Recall on `p >= 0.5`.
    pub recall: f64,
}

/// Binary cross-entropy of one probability against a 0/1 label, nats.
pub fn bce(label: bool, p: f64) -> f64 {
    let p = if p.is_nan() {
        0.5
    } else {
        p.clamp(P_CLAMP, 1.0 - P_CLAMP)
    };
    if label {
        -libm::log(p)
    } else {
        -libm::log(1.0 - p)
    }
}

/// Classification loss (docs/design.md#6-scoring): BCE in bits, so a coin flip costs 1.
pub fn cls_loss_bits(label: bool, p: f64) -> f64 {
    bce(label, p) / std::f64::consts::LN_2
}

/// Thresholded confusion counts.
pub fn confusion<P: Copy + Into<f64>>(pred: &[P], truth: &[u8]) -> Result<Confusion, MetricsError> {
    check_lengths(pred.len(), truth.len())?;
    let mut c = Confusion::default();
    for (&p, &t) in pred.iter().zip(truth) {
        match (p.into() >= THRESHOLD, t != 0) {
            (true, true) => c.tp += 1,
            (true, false) => c.fp += 1,
            (false, true) => c.fn_ += 1,
            (false, false) => c.tn += 1,
        }
    }
    Ok(c)
}

fn check_lengths(pred: usize, truth: usize) -> Result<(), MetricsError> {
    if pred != truth {
        return Err(MetricsError::SizeMismatch { pred, truth });
    }
    if pred == 0 {
        return Err(MetricsError::Empty);
    }
    Ok(())
}

/// Mean pixel BCE of a probability map against a mask.
pub fn mean_bce<P: Copy + Into<f64>>(pred: &[P], truth: &[u8]) -> Result<f64, MetricsError> {
    check_lengths(pred.len(), truth.len())?;
    let sum: f64 = pred
        .iter()
        .zip(truth)
        .map(|(&p, &t)| bce(t != 0, p.into()))
        .sum();
    Ok(sum / pred.len() as f64)
}

/// Every segmentation metric of one image. `pred` holds probabilities,
/// `truth` is non-zero where the lesion is.
pub fn segmentation<P: Copy + Into<f64>>(
    pred: &[P],
    truth: &[u8],
) -> Result<SegmentationMetrics, MetricsError> {
    let c = confusion(pred, truth)?;
    Ok(SegmentationMetrics {
        dice: c.dice(),
        iou: c.iou(),
        bce: mean_bce(pred, truth)?,
        mcc: c.mcc(),
        precision: c.precision(),
        recall: c.recall(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_versus_empty_is_perfect() {
        let m = segmentation(&[0.0f32; 4], &[0; 4]).unwrap();
        assert_eq!((m.dice, m.iou, m.precision, m.recall), (1.0, 1.0, 1.0, 1.0));
        assert_eq!(m.mcc, 0.0);
        assert!(m.bce > 0.0 && m.bce < 1e-6);
    }

    #[test]
    fn missing_a_lesion_scores_zero() {
        let m = segmentation(&[0.0f32, 0.0], &[1, 0]).unwrap();
        assert_eq!(
            (m.dice, m.iou, m.precision, m.recall, m.mcc),
            (0.0, 0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn perfect_prediction() {
        let m = segmentation(&[1.0f32, 0.0, 1.0, 0.0], &[1, 0, 1, 0]).unwrap();
        assert_eq!(
            (m.dice, m.iou, m.precision, m.recall, m.mcc),
            (1.0, 1.0, 1.0, 1.0, 1.0)
        );
    }

    #[test]
    fn bce_clamps_and_survives_nan() {
        assert!((bce(true, 0.0) - (-libm::log(1e-7))).abs() < 1e-12);
        assert!(bce(false, f64::NAN).is_finite());
        assert!((cls_loss_bits(true, 0.5) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mismatched_and_empty_inputs_are_errors() {
        assert_eq!(
            segmentation(&[0.0f32; 3], &[0; 4]),
            Err(MetricsError::SizeMismatch { pred: 3, truth: 4 })
        );
        assert_eq!(segmentation::<f32>(&[], &[]), Err(MetricsError::Empty));
    }
}
