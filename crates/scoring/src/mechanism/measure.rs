//! What the evaluator records per image and per robustness probe.
//!
//! These are pure functions of a model's outputs and the truth; every
//! profile scores from the same records, so a round is measured once and
//! can be re-scored under any config.

use serde::{Deserialize, Serialize};

use super::config::RobustnessRule;
use crate::metrics::{self, Confusion, MetricsError, THRESHOLD};

/// The probability used for a model without a `cls` output: a coin flip,
/// which costs exactly one bit (`L_cls = 1`) and earns no classification
/// credit under any profile.
pub const NO_CLS_PROBABILITY: f64 = 0.5;

/// The mask part of an image's measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MaskMetrics {
    /// Dice on `p ≥ 0.5` (empty vs empty = 1).
    pub dice: f64,
    /// IoU on `p ≥ 0.5` (empty vs empty = 1).
    pub iou: f64,
    /// Mean pixel BCE in nats, `p` clamped to `[1e-7, 1 − 1e-7]`.
    pub bce: f64,
    /// Thresholded confusion counts.
    pub confusion: Confusion,
}

/// One model's outputs on one image, measured against the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageMetrics {
    /// The modality (`cxr`, `brain`, `bone`): the group scores are split by.
    pub group: String,
    /// Whether the image is abnormal (the classification label).
    pub abnormal: bool,
    /// Mask metrics, `None` when the model has no `mask` output.
    pub mask: Option<MaskMetrics>,
    /// The abnormality probability, clamped to `[0, 1]` (NaN becomes 0.5);
    /// `None` when the model has no `cls` output.
    pub cls: Option<f64>,
}

impl ImageMetrics {
    /// Measures one prediction. `truth` is the 0/1 truth mask (`H·W`
    /// pixels, non-zero = lesion), `mask` the model's per-pixel
    /// probabilities and `cls` its abnormality probability, either absent
    /// when the model lacks that output.
    pub fn measure(
        group: &str,
        mask: Option<&[f32]>,
        cls: Option<f32>,
        truth: &[u8],
        abnormal: bool,
    ) -> Result<ImageMetrics, MetricsError> {
        if truth.is_empty() {
            return Err(MetricsError::Empty);
        }
        let mask = match mask {
            Some(pred) => {
                let confusion = metrics::confusion(pred, truth)?;
                Some(MaskMetrics {
                    dice: confusion.dice(),
                    iou: confusion.iou(),
                    bce: metrics::mean_bce(pred, truth)?,
                    confusion,
                })
            }
            None => None,
        };
        Ok(ImageMetrics {
            group: group.to_string(),
            abnormal,
            mask,
            cls: cls.map(|p| sanitize_probability(f64::from(p))),
        })
    }

    /// The null predictor on the same image: an all-zero mask and `cls = 0`.
    pub fn null(group: &str, truth: &[u8], abnormal: bool) -> Result<ImageMetrics, MetricsError> {
        let zeros = vec![0.0f32; truth.len()];
        ImageMetrics::measure(group, Some(&zeros), Some(0.0), truth, abnormal)
    }

    /// Whether the model produced a mask.
    pub fn has_mask(&self) -> bool {
        self.mask.is_some()
    }

    /// Whether the model produced a class probability.
    pub fn has_cls(&self) -> bool {
        self.cls.is_some()
    }

    /// `L_seg = (1 − Dice) + BCE` (docs/design.md#6-scoring); 1 without a mask output.
    pub fn seg_loss(&self) -> f64 {
        match &self.mask {
            Some(m) => (1.0 - m.dice) + m.bce,
            None => 1.0,
        }
    }

    /// `L_cls = BCE(y, cls) / ln 2` (docs/design.md#6-scoring); 1 without a `cls` output.
    pub fn cls_loss(&self) -> f64 {
        metrics::cls_loss_bits(self.abnormal, self.cls_probability())
    }

    /// The class probability, [`NO_CLS_PROBABILITY`] without a `cls` output.
    pub fn cls_probability(&self) -> f64 {
        self.cls.unwrap_or(NO_CLS_PROBABILITY)
    }

    /// The class call: abnormal when the probability is at least 0.5.
    pub fn cls_call(&self) -> bool {
        self.cls_probability() >= THRESHOLD
    }
}

/// NaN becomes 0.5 (as in [`metrics::bce`]); everything else is clamped to
/// `[0, 1]`.
fn sanitize_probability(p: f64) -> f64 {
    if p.is_nan() { 0.5 } else { p.clamp(0.0, 1.0) }
}

/// One robustness probe: `k` augmented variants of an abnormal image, their
/// predicted masks mapped back onto the base image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    /// The probe's modality, if the caller tagged it (see
    /// [`ProbeOutcome::with_group`]); untagged probes count for every group.
    pub group: Option<String>,
    /// Number of variants `k`.
    pub variants: usize,
    /// Smallest Dice between two variants' thresholded masks (1 when
    /// `k < 2`; 0 when a variant has no mask).
    pub min_pairwise_dice: f64,
    /// Whether every variant got the same class call (`cls ≥ 0.5`).
    pub class_calls_agree: bool,
    /// Mean Dice of the variants against the base truth (a variant without
    /// a mask counts 0).
    pub mean_truth_dice: f64,
}

impl ProbeOutcome {
    /// Measures a probe. `mapped_masks[i]` is variant `i`'s probability mask
    /// already mapped back onto the base image (`None` when the model has
    /// no mask output), `cls[i]` its class probability (`None` without a
    /// `cls` output, counted as 0.5), `base_truth` the base image's truth.
    pub fn measure(
        mapped_masks: &[Option<Vec<f32>>],
        cls: &[Option<f32>],
        base_truth: &[u8],
    ) -> Result<ProbeOutcome, MetricsError> {
        let k = mapped_masks.len();
        if k == 0 || base_truth.is_empty() {
            return Err(MetricsError::Empty);
        }
        if cls.len() != k {
            return Err(MetricsError::CountMismatch {
                what: "probe class outputs",
                got: cls.len(),
                expected: k,
            });
        }
        let truth: Vec<bool> = base_truth.iter().map(|&t| t != 0).collect();
        let mut binary: Vec<Option<Vec<bool>>> = Vec::with_capacity(k);
        for m in mapped_masks {
            binary.push(match m {
                Some(p) => {
                    if p.len() != truth.len() {
                        return Err(MetricsError::SizeMismatch {
                            pred: p.len(),
                            truth: truth.len(),
                        });
                    }
                    Some(p.iter().map(|&v| f64::from(v) >= THRESHOLD).collect())
                }
                None => None,
            });
        }

        let mut min_pairwise_dice: f64 = 1.0;
        for i in 0..k {
            for j in i + 1..k {
                let d = match (&binary[i], &binary[j]) {
                    (Some(a), Some(b)) => binary_dice(a, b),
                    _ => 0.0,
                };
                min_pairwise_dice = min_pairwise_dice.min(d);
            }
        }
        if k == 1 && binary[0].is_none() {
            min_pairwise_dice = 0.0;
        }
        let truth_dice_sum: f64 = binary
            .iter()
            .map(|b| b.as_ref().map_or(0.0, |b| binary_dice(b, &truth)))
            .sum();
        let calls: Vec<bool> = cls
            .iter()
            .map(|c| {
                c.map_or(NO_CLS_PROBABILITY, |p| sanitize_probability(f64::from(p))) >= THRESHOLD
            })
            .collect();
        Ok(ProbeOutcome {
            group: None,
            variants: k,
            min_pairwise_dice,
            class_calls_agree: calls.windows(2).all(|w| w[0] == w[1]),
            mean_truth_dice: truth_dice_sum / k as f64,
        })
    }

    /// Tags the probe with its modality, so it counts only for that group.
    pub fn with_group(mut self, group: &str) -> ProbeOutcome {
        self.group = Some(group.to_string());
        self
    }

    /// The probe rule of docs/design.md#6-scoring with its own thresholds ([`RobustnessRule::DESIGN`]).
    pub fn passed(&self) -> bool {
        self.passes(&RobustnessRule::DESIGN)
    }

    /// Whether the probe passes `rule`: every pairwise Dice above
    /// `min_pairwise_dice`, class calls agreeing, mean Dice against the
    /// truth at least `min_truth_dice`.
    pub fn passes(&self, rule: &RobustnessRule) -> bool {
        self.variants > 0
            && self.min_pairwise_dice > rule.min_pairwise_dice
            && self.class_calls_agree
            && self.mean_truth_dice >= rule.min_truth_dice
    }
}

/// Dice of two thresholded masks; both empty = 1.
fn binary_dice(a: &[bool], b: &[bool]) -> f64 {
    let (mut both, mut either_count) = (0u64, 0u64);
    for (&x, &y) in a.iter().zip(b) {
        both += u64::from(x && y);
        either_count += u64::from(x) + u64::from(y);
    }
    if either_count == 0 {
        1.0
    } else {
        2.0 * both as f64 / either_count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_stores_mask_and_cls_metrics() {
        let truth = [1u8, 1, 0, 0];
        let m = ImageMetrics::measure("cxr", Some(&[0.9, 0.2, 0.1, 0.0]), Some(0.8), &truth, true)
            .unwrap();
        let mask = m.mask.unwrap();
        assert!((mask.dice - 2.0 / 3.0).abs() < 1e-12);
        assert!((mask.iou - 0.5).abs() < 1e-12);
        assert_eq!(mask.confusion.tp, 1);
        assert!((m.seg_loss() - (1.0 / 3.0 + mask.bce)).abs() < 1e-12);
        assert!(
            (m.cls_loss() - (-libm::log(f64::from(0.8f32)) / std::f64::consts::LN_2)).abs() < 1e-12
        );
        assert!(m.cls_call());
    }

    #[test]
    fn missing_outputs_follow_the_spec() {
        let m = ImageMetrics::measure("brain", None, None, &[0, 0, 1, 0], true).unwrap();
        assert!(!m.has_mask() && !m.has_cls());
        assert_eq!(m.seg_loss(), 1.0);
        assert!((m.cls_loss() - 1.0).abs() < 1e-12);
        assert!(m.cls_call());
        let nan = ImageMetrics::measure("brain", None, Some(f32::NAN), &[0], false).unwrap();
        assert_eq!(nan.cls, Some(0.5));
    }

    #[test]
    fn null_predictor_is_perfect_on_normal_images_only() {
        let normal = ImageMetrics::null("bone", &[0; 16], false).unwrap();
        assert_eq!(normal.mask.unwrap().dice, 1.0);
        assert!(normal.seg_loss() < 1e-6 && normal.cls_loss() < 1e-6);
        let mut truth = [0u8; 16];
        truth[3] = 1;
        let abnormal = ImageMetrics::null("bone", &truth, true).unwrap();
        assert_eq!(abnormal.mask.unwrap().dice, 0.0);
        assert!(abnormal.seg_loss() > 1.0 && abnormal.cls_loss() > 20.0);
    }

    #[test]
    fn measure_rejects_bad_sizes() {
        assert_eq!(
            ImageMetrics::measure("cxr", Some(&[0.0; 3]), None, &[0; 4], false),
            Err(MetricsError::SizeMismatch { pred: 3, truth: 4 })
        );
        assert_eq!(
            ImageMetrics::measure("cxr", None, Some(0.1), &[], false),
            Err(MetricsError::Empty)
        );
    }

    fn blob(shift: usize) -> Vec<f32> {
        (0..64)
            .map(|i| {
                if (20 + shift..40 + shift).contains(&i) {
                    0.9
                } else {
                    0.05
                }
            })
            .collect()
    }

    fn truth() -> Vec<u8> {
        (0..64).map(|i| u8::from((20..40).contains(&i))).collect()
    }

    #[test]
    fn consistent_variants_pass_and_fragile_ones_fail() {
        let truth = truth();
        let stable = ProbeOutcome::measure(
            &[Some(blob(0)), Some(blob(1)), Some(blob(2))],
            &[Some(0.9), Some(0.8), Some(0.7)],
            &truth,
        )
        .unwrap();
        assert!(stable.passed(), "{stable:?}");
        assert!((stable.min_pairwise_dice - 0.9).abs() < 1e-12);

        let fragile = ProbeOutcome::measure(
            &[Some(blob(0)), Some(blob(15)), Some(blob(0))],
            &[Some(0.9); 3],
            &truth,
        )
        .unwrap();
        assert!(!fragile.passed());

        let flipping = ProbeOutcome::measure(
            &[Some(blob(0)), Some(blob(0))],
            &[Some(0.9), Some(0.2)],
            &truth,
        )
        .unwrap();
        assert!(!flipping.class_calls_agree && !flipping.passed());

        let empty = vec![0.0f32; 64];
        let null =
            ProbeOutcome::measure(&[Some(empty.clone()), Some(empty)], &[Some(0.0); 2], &truth)
                .unwrap();
        assert_eq!(null.min_pairwise_dice, 1.0);
        assert_eq!(null.mean_truth_dice, 0.0);
        assert!(!null.passed());

        let no_mask = ProbeOutcome::measure(&[None, None], &[Some(0.9); 2], &truth).unwrap();
        assert!(!no_mask.passed());
        assert_eq!(no_mask.min_pairwise_dice, 0.0);
    }

    #[test]
    fn probe_inputs_are_checked() {
        let truth = truth();
        assert_eq!(
            ProbeOutcome::measure(&[], &[], &truth),
            Err(MetricsError::Empty)
        );
        assert!(matches!(
            ProbeOutcome::measure(&[Some(blob(0))], &[], &truth),
            Err(MetricsError::CountMismatch {
                got: 0,
                expected: 1,
                ..
            })
        ));
        assert!(matches!(
            ProbeOutcome::measure(&[Some(vec![0.0; 3])], &[None], &truth),
            Err(MetricsError::SizeMismatch { pred: 3, truth: 64 })
        ));
        let tagged = ProbeOutcome::measure(&[Some(blob(0))], &[None], &truth)
            .unwrap()
            .with_group("cxr");
        assert_eq!(tagged.group.as_deref(), Some("cxr"));
    }
}
