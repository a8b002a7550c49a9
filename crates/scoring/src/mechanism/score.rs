//! Scoring one model on one round under a profile.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::config::{MechanismConfig, Profile};
use super::measure::{ImageMetrics, ProbeOutcome};
use crate::metrics::Confusion;

/// Below this headroom (`1 − null score`) nothing can be shown to beat the
/// null predictor, and the skill is 0 rather than a ratio of tiny numbers.
const MIN_HEADROOM: f64 = 1e-6;

/// What kind of model a miner runs (`sn34` scores and pays them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MinerType {
    /// No `mask` output: classification only.
    Detector,
    /// Has a `mask` output.
    Segmenter,
}

/// The components of one modality's score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupScore {
    /// The profile's accuracy component, in `[0, 1]`.
    pub accuracy: f64,
    /// The speed credit, in `[0, 1]` (gated by skill under `medmetric`).
    pub speed: f64,
    /// The robustness credit, in `[0, 1]` (gated by skill under `medmetric`).
    pub robustness: f64,
    /// The weighted mean of the three, in `[0, 1]`.
    pub composite: f64,
    /// Images scored.
    pub images: usize,
}

/// One model's score on one round.
///
/// Under every profile `composite` is the weighted mean of `accuracy`,
/// `speed` and `robustness` with the config's component weights; every
/// field is finite and in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundScore {
    /// Accuracy component over the whole round.
    pub accuracy: f64,
    /// Speed credit.
    pub speed: f64,
    /// Robustness credit.
    pub robustness: f64,
    /// The score that enters the score book.
    pub composite: f64,
    /// The same per modality.
    pub per_group: BTreeMap<String, GroupScore>,
    /// The model's type; `None` for a failed evaluation.
    pub miner_type: Option<MinerType>,
    /// Why the evaluation failed, if it did (then everything is 0).
    pub failure: Option<String>,
}

impl RoundScore {
    /// A failed evaluation: every component 0.
    pub fn failed(reason: impl Into<String>) -> RoundScore {
        RoundScore {
            accuracy: 0.0,
            speed: 0.0,
            robustness: 0.0,
            composite: 0.0,
            per_group: BTreeMap::new(),
            miner_type: None,
            failure: Some(reason.into()),
        }
    }
}

/// Scores one model on one round.
///
/// `images` are the model's measurements in round order, `null` the null
/// predictor's on the same images (same length, group and label at every
/// index), `probes` the robustness probes, `latency_ms` the calibrated mean
/// latency (`None`, negative or non-finite: unknown, no speed credit).
/// Inconsistent inputs give [`RoundScore::failed`].
pub fn score(
    cfg: &MechanismConfig,
    images: &[ImageMetrics],
    null: &[ImageMetrics],
    probes: &[ProbeOutcome],
    latency_ms: Option<f64>,
) -> RoundScore {
    if images.is_empty() {
        return RoundScore::failed("no images to score");
    }
    if null.len() != images.len() {
        return RoundScore::failed(format!(
            "{} null-predictor measurements for {} images",
            null.len(),
            images.len()
        ));
    }
    if let Some(i) = images
        .iter()
        .zip(null)
        .position(|(m, n)| m.group != n.group || m.abnormal != n.abnormal)
    {
        return RoundScore::failed(format!(
            "image {i}: the null predictor was measured on a different image"
        ));
    }
    let miner_type = if images.iter().any(ImageMetrics::has_mask) {
        MinerType::Segmenter
    } else {
        MinerType::Detector
    };
    let speed = speed_credit(cfg, latency_ms);
    let all: Vec<usize> = (0..images.len()).collect();
    let overall = score_subset(cfg, miner_type, images, null, &all, probes, speed);

    let groups: BTreeSet<&str> = images.iter().map(|m| m.group.as_str()).collect();
    let per_group = groups
        .into_iter()
        .map(|g| {
            let idx: Vec<usize> = (0..images.len())
                .filter(|&i| images[i].group == g)
                .collect();
            let group_probes: Vec<ProbeOutcome> = probes
                .iter()
                .filter(|p| p.group.as_deref().is_none_or(|pg| pg == g))
                .cloned()
                .collect();
            let s = score_subset(cfg, miner_type, images, null, &idx, &group_probes, speed);
            (g.to_string(), s)
        })
        .collect();
    RoundScore {
        accuracy: overall.accuracy,
        speed: overall.speed,
        robustness: overall.robustness,
        composite: overall.composite,
        per_group,
        miner_type: Some(miner_type),
        failure: None,
    }
}

/// `R_speed` (docs/design.md#6-scoring) on the calibrated latency; 0 when unknown.
pub fn speed_credit(cfg: &MechanismConfig, latency_ms: Option<f64>) -> f64 {
    match latency_ms {
        Some(t) if t.is_finite() && t >= 0.0 => {
            let s = &cfg.speed;
            clamp01(1.0 - (t - s.fast_ms) / (s.slow_ms - s.fast_ms))
        }
        _ => 0.0,
    }
}

/// `min(1, max(0, x))`, with NaN as 0.
fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// The mean of `f` over normal images and the mean over abnormal images,
/// averaged (or the one that exists), so the null predictor's score — and
/// with it the room to beat it — does not depend on the round's share of
/// normal images.
fn balanced_mean<'a>(
    images: impl Iterator<Item = &'a ImageMetrics>,
    f: impl Fn(&ImageMetrics) -> f64,
) -> f64 {
    let (mut sums, mut counts) = ([0.0f64; 2], [0usize; 2]);
    for m in images {
        let k = usize::from(m.abnormal);
        sums[k] += f(m);
        counts[k] += 1;
    }
    let means: Vec<f64> = (0..2)
        .filter(|&k| counts[k] > 0)
        .map(|k| sums[k] / counts[k] as f64)
        .collect();
    mean(means.into_iter())
}

/// `clamp01((model − null) / (1 − null))`: how much of the null's shortfall
/// the model closes.
fn skill(model: f64, null: f64) -> f64 {
    let headroom = 1.0 - null;
    // NaN headroom fails the comparison too.
    if headroom.is_nan() || headroom < MIN_HEADROOM {
        return 0.0;
    }
    clamp01((model - null) / headroom)
}

/// The per-image segmentation part (docs/design.md#6-scoring) `clamp01(1 − L_seg)`.
fn seg_part(m: &ImageMetrics) -> f64 {
    clamp01(1.0 - m.seg_loss())
}

/// The segmentation part with smooth credit on normal images: where the
/// truth is empty, `clamp01(1 / (1 + FP / (scale · N)) − BCE)` replaces
/// `clamp01(Dice − BCE)`, so a stray pixel costs in proportion to its area
/// (`docs/mechanism.md`).
fn seg_part_smooth(m: &ImageMetrics, scale: Option<f64>) -> f64 {
    match (&m.mask, scale) {
        (Some(k), Some(scale)) if k.confusion.tp + k.confusion.fn_ == 0 => {
            let c = &k.confusion;
            let pixels = (c.tp + c.fp + c.fn_ + c.tn).max(1) as f64;
            let credit = 1.0 / (1.0 + c.fp as f64 / (scale * pixels));
            clamp01(credit - k.bce)
        }
        _ => seg_part(m),
    }
}

/// The per-image classification part (docs/design.md#6-scoring) `clamp01(1 − L_cls)`.
fn cls_part(m: &ImageMetrics) -> f64 {
    clamp01(1.0 - m.cls_loss())
}

fn score_subset(
    cfg: &MechanismConfig,
    miner_type: MinerType,
    images: &[ImageMetrics],
    null: &[ImageMetrics],
    idx: &[usize],
    probes: &[ProbeOutcome],
    speed: f64,
) -> GroupScore {
    let model = || idx.iter().map(|&i| &images[i]);
    let robust = if probes.is_empty() {
        0.0
    } else {
        probes.iter().filter(|p| p.passes(&cfg.robustness)).count() as f64 / probes.len() as f64
    };
    let (accuracy, speed, robustness) = match cfg.profile {
        Profile::Seed => {
            let split = cfg.accuracy_split();
            let total = split.segmentation + split.classification;
            let r = mean(model().map(|m| {
                (split.segmentation * seg_part(m) + split.classification * cls_part(m)) / total
            }));
            (r, speed, robust)
        }
        Profile::Medmetric => {
            let split = cfg.accuracy_split();
            let nul = || idx.iter().map(|&i| &null[i]);
            let scale = cfg.medmetric.and_then(|g| g.normal_fp_scale);
            let seg = |m: &ImageMetrics| seg_part_smooth(m, scale);
            let seg_skill = skill(balanced_mean(model(), seg), balanced_mean(nul(), seg));
            let cls_skill = skill(
                balanced_mean(model(), cls_part),
                balanced_mean(nul(), cls_part),
            );
            let acc = (split.segmentation * seg_skill + split.classification * cls_skill)
                / (split.segmentation + split.classification);
            let full = cfg.medmetric.map_or(1.0, |g| g.full_credit_skill);
            let gate = clamp01(seg_skill / full);
            (acc, gate * speed, gate * robust)
        }
        Profile::Sn34 => {
            let acc = match miner_type {
                MinerType::Segmenter => {
                    mean(model().map(|m| m.mask.as_ref().map_or(0.0, |k| k.iou)))
                }
                MinerType::Detector => {
                    let mut c = Confusion::default();
                    for m in model() {
                        match (m.cls_call(), m.abnormal) {
                            (true, true) => c.tp += 1,
                            (true, false) => c.fp += 1,
                            (false, true) => c.fn_ += 1,
                            (false, false) => c.tn += 1,
                        }
                    }
                    c.mcc()
                }
            };
            (acc, speed, robust)
        }
        Profile::Sn87 => {
            let alpha = cfg.sn87.map_or(1.0, |e| e.alpha);
            let loss = mean(model().map(|m| m.seg_loss() + m.cls_loss()));
            (libm::exp(-alpha * loss), speed, robust)
        }
    };
    let (accuracy, speed, robustness) = (clamp01(accuracy), clamp01(speed), clamp01(robustness));
    let w = &cfg.components;
    let composite = clamp01(
        (w.accuracy * accuracy + w.speed * speed + w.robustness * robustness)
            / (w.accuracy + w.speed + w.robustness),
    );
    GroupScore {
        accuracy,
        speed,
        robustness,
        composite,
        images: idx.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str) -> MechanismConfig {
        MechanismConfig::builtin(name).unwrap()
    }

    #[test]
    fn speed_curve_matches_the_spec() {
        let c = cfg("seed");
        assert_eq!(speed_credit(&c, Some(100.0)), 1.0);
        assert_eq!(speed_credit(&c, Some(150.0)), 1.0);
        assert!((speed_credit(&c, Some(475.0)) - 0.5).abs() < 1e-12);
        assert_eq!(speed_credit(&c, Some(800.0)), 0.0);
        assert_eq!(speed_credit(&c, Some(5000.0)), 0.0);
        for bad in [None, Some(f64::NAN), Some(-1.0), Some(f64::INFINITY)] {
            assert_eq!(speed_credit(&c, bad), 0.0);
        }
    }

    #[test]
    fn skill_is_relative_to_the_null() {
        assert_eq!(skill(0.5, 0.5), 0.0);
        assert_eq!(skill(0.4, 0.5), 0.0);
        assert!((skill(0.75, 0.5) - 0.5).abs() < 1e-12);
        assert_eq!(skill(1.0, 1.0), 0.0);
        assert_eq!(skill(f64::NAN, 0.5), 0.0);
    }

    /// One stray pixel on a normal image: under the Dice convention the
    /// whole image's segmentation credit is lost, with the smooth credit
    /// almost none of it; a false alarm over the whole image earns nothing
    /// either way.
    #[test]
    fn a_stray_pixel_on_a_normal_image_costs_in_proportion() {
        let n = 256 * 256;
        let truth = vec![0u8; n];
        let mut one = vec![0.0f32; n];
        one[1234] = 0.9;
        let m = ImageMetrics::measure("cxr", Some(&one), Some(0.1), &truth, false).unwrap();
        let all =
            ImageMetrics::measure("cxr", Some(&vec![0.9f32; n]), Some(0.1), &truth, false).unwrap();
        assert_eq!(seg_part(&m), 0.0);
        let smooth = seg_part_smooth(&m, Some(0.002));
        assert!(smooth > 0.99, "{smooth}");
        assert!(seg_part_smooth(&all, Some(0.002)) < 0.01);
        // A lesion-sized false alarm (0.2% of the image) halves the credit.
        let mut blob = vec![0.0f32; n];
        let area = (0.002 * n as f64).round() as usize;
        blob[..area].iter_mut().for_each(|p| *p = 0.99);
        let b = ImageMetrics::measure("cxr", Some(&blob), Some(0.1), &truth, false).unwrap();
        assert!((seg_part_smooth(&b, Some(0.002)) - 0.5).abs() < 0.01);
        // Abnormal images keep Dice.
        let mut lesion = vec![0u8; n];
        lesion[1234] = 1;
        let hit = ImageMetrics::measure("cxr", Some(&one), Some(0.9), &lesion, true).unwrap();
        assert_eq!(seg_part_smooth(&hit, Some(0.002)), seg_part(&hit));
        // And the profile uses it: a model perfect on abnormal images with
        // one stray pixel on each normal image keeps most of its skill.
        let c = cfg("medmetric");
        let images = [m.clone(), hit.clone()];
        let null = [
            ImageMetrics::null("cxr", &truth, false).unwrap(),
            ImageMetrics::null("cxr", &lesion, true).unwrap(),
        ];
        let s = score(&c, &images, &null, &[], Some(10.0));
        assert!(s.accuracy > 0.5, "{s:?}");
    }

    #[test]
    fn inconsistent_inputs_fail() {
        let c = cfg("medmetric");
        let a = ImageMetrics::null("cxr", &[0; 4], false).unwrap();
        let b = ImageMetrics::null("brain", &[0; 4], false).unwrap();
        assert!(score(&c, &[], &[], &[], None).failure.is_some());
        assert!(
            score(&c, std::slice::from_ref(&a), &[], &[], None)
                .failure
                .is_some()
        );
        let s = score(&c, &[a], &[b], &[], None);
        assert!(s.failure.unwrap().contains("image 0"));
        let f = RoundScore::failed("crashed");
        assert_eq!((f.composite, f.miner_type), (0.0, None));
    }

    #[test]
    fn sn34_uses_mcc_for_detectors_and_iou_for_segmenters() {
        let c = cfg("sn34");
        let truth_n = [0u8; 4];
        let truth_a = [1u8, 1, 0, 0];
        let imgs = [
            ImageMetrics::measure("cxr", None, Some(0.9), &truth_a, true).unwrap(),
            ImageMetrics::measure("cxr", None, Some(0.1), &truth_n, false).unwrap(),
        ];
        let null = [
            ImageMetrics::null("cxr", &truth_a, true).unwrap(),
            ImageMetrics::null("cxr", &truth_n, false).unwrap(),
        ];
        let s = score(&c, &imgs, &null, &[], Some(10.0));
        assert_eq!(s.miner_type, Some(MinerType::Detector));
        assert!((s.accuracy - 1.0).abs() < 1e-12);
        assert!((s.composite - 1.0).abs() < 1e-12);
        let seg = [
            ImageMetrics::measure("cxr", Some(&[1.0, 0.0, 0.0, 0.0]), None, &truth_a, true)
                .unwrap(),
            ImageMetrics::measure("cxr", Some(&[0.0; 4]), None, &truth_n, false).unwrap(),
        ];
        let s = score(&c, &seg, &null, &[], Some(10.0));
        assert_eq!(s.miner_type, Some(MinerType::Segmenter));
        assert!((s.accuracy - 0.75).abs() < 1e-12);
    }

    #[test]
    fn sn87_is_exp_of_the_mean_loss() {
        let c = cfg("sn87");
        let truth = [1u8, 0];
        let m = ImageMetrics::measure("bone", Some(&[0.8, 0.1]), Some(0.7), &truth, true).unwrap();
        let n = ImageMetrics::null("bone", &truth, true).unwrap();
        let s = score(&c, std::slice::from_ref(&m), &[n], &[], None);
        let want = libm::exp(-(m.seg_loss() + m.cls_loss()));
        assert!((s.accuracy - want).abs() < 1e-15);
        assert_eq!(s.composite, s.accuracy);
    }
}
