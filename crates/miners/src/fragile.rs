//! The fragile miner: the honest model behind a fingerprint of the
//! un-augmented phantom renderings.
//!
//! It measures five whole-image statistics (mean, standard deviation, fine
//! grain `mean |x − blur(x)|`, fraction of black and of saturated pixels)
//! and compares them with the ranges it saw on plain pool images (widened by
//! a quarter of their width on each side). Inside every range it answers
//! like the honest model; outside any of them it falls back to a fixed
//! brightness threshold tuned for nothing. Plain renderings almost always
//! pass; most augmented images (noise, CLAHE, window/level, affine fill,
//! occlusion, block noise) do not, so the model is as good as the honest one
//! on the pool as drawn and breaks on the benchmark as served.

use medmetric_imaging::Modality;
use medmetric_model::gate::{CLS_OUTPUT, MASK_OUTPUT};
use medmetric_model::proto::data_type;
use medmetric_model::reference::INPUT_NAME;
use medmetric_model::writer::{Attr, GraphBuilder};

use crate::features;
use crate::honest::{Example, Honest, Recipe, TRAIN_BLOCK, examples};
use crate::{MinersError, OPSET};

/// Statistics in the fingerprint.
const STATS: usize = 5;

/// Plain images whose statistics define the ranges.
const FINGERPRINT_CASES: u32 = 64;

/// Widening of each range, as a fraction of its width, on each side.
const MARGIN: f64 = 0.25;

/// Pixels below this count as black, above `1 − BLACK` as saturated.
const BLACK: f32 = 1e-3;

/// Blur (at 256²) whose residual measures the fine grain.
const GRAIN_SIGMA_AT_256: f64 = 1.0;

/// The fallback: "lesion" above a fixed brightness.
const FALLBACK_LEVEL: f32 = 0.6;
const FALLBACK_GAIN: f32 = 25.0;

/// Ranges of the statistics on plain renderings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fingerprint {
    lo: [f32; STATS],
    hi: [f32; STATS],
    grain_kernel: Vec<f32>,
}

/// The five statistics of one image, `f64`, in pixel order.
fn stats(image: &[f32], size: u32, grain_kernel: &[f32]) -> [f64; STATS] {
    let blurred = features::blur(image, size as usize, grain_kernel);
    let n = image.len().max(1) as f64;
    let (mut sum, mut sum2, mut grain, mut black, mut sat) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (&v, &b) in image.iter().zip(&blurred) {
        let x = f64::from(v);
        sum += x;
        sum2 += x * x;
        grain += f64::from((v - b).abs());
        if v < BLACK {
            black += 1.0;
        }
        if v > 1.0 - BLACK {
            sat += 1.0;
        }
    }
    let mean = sum / n;
    let std = (sum2 / n - mean * mean).max(0.0).sqrt();
    [mean, std, grain / n, black / n, sat / n]
}

impl Fingerprint {
    /// Ranges over plain (un-augmented, un-hybridised) renderings of the
    /// modality's pool at `size`.
    pub fn fit(modality: Modality, size: u32) -> Result<Self, MinersError> {
        let data: Vec<Example> = examples(
            modality,
            size,
            Recipe {
                cases: FINGERPRINT_CASES,
                augment: false,
                hybrid: false,
                block: TRAIN_BLOCK + 0x100 + modality as u64,
            },
        )?;
        let grain_kernel = features::gaussian(GRAIN_SIGMA_AT_256 * f64::from(size) / 256.0);
        let mut lo = [f64::INFINITY; STATS];
        let mut hi = [f64::NEG_INFINITY; STATS];
        for ex in &data {
            let s = stats(&ex.image, size, &grain_kernel);
            for k in 0..STATS {
                lo[k] = lo[k].min(s[k]);
                hi[k] = hi[k].max(s[k]);
            }
        }
        let mut out = Fingerprint {
            lo: [0.0; STATS],
            hi: [0.0; STATS],
            grain_kernel,
        };
        for k in 0..STATS {
            let w = hi[k] - lo[k];
            out.lo[k] = (lo[k] - MARGIN * w) as f32;
            out.hi[k] = (hi[k] + MARGIN * w) as f32;
        }
        Ok(out)
    }

    /// Whether an image's statistics fall inside every range (computed in
    /// `f64`; the graph does the same in `f32`).
    #[cfg(test)]
    fn accepts(&self, image: &[f32], size: u32) -> bool {
        let s = stats(image, size, &self.grain_kernel);
        (0..STATS).all(|k| s[k] >= f64::from(self.lo[k]) && s[k] <= f64::from(self.hi[k]))
    }

    /// Emits the `[1,1,1,1]` boolean "outside the fingerprint" from the raw
    /// input; returns its name.
    fn emit(&self, g: &mut GraphBuilder, raw: &str) -> String {
        let keep = vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 1)];
        let float = Attr::int("to", i64::from(data_type::FLOAT));
        g.node("ReduceMean", &[raw], &["fp_mean"], keep.clone());
        g.node("Mul", &[raw, raw], &["fp_x2"], vec![]);
        g.node("ReduceMean", &["fp_x2"], &["fp_mean2"], keep.clone());
        g.node("Mul", &["fp_mean", "fp_mean"], &["fp_mean_sq"], vec![]);
        g.node("Sub", &["fp_mean2", "fp_mean_sq"], &["fp_var"], vec![]);
        g.node("Relu", &["fp_var"], &["fp_var_pos"], vec![]);
        g.node("Sqrt", &["fp_var_pos"], &["fp_std"], vec![]);
        let blurred = features::emit_blur(g, raw, &self.grain_kernel, "fp_blur");
        g.node("Sub", &[raw, &blurred], &["fp_resid"], vec![]);
        g.node("Abs", &["fp_resid"], &["fp_resid_abs"], vec![]);
        g.node("ReduceMean", &["fp_resid_abs"], &["fp_grain"], keep.clone());
        g.scalar("fp_black", BLACK);
        g.scalar("fp_white", 1.0 - BLACK);
        g.node("Less", &[raw, "fp_black"], &["fp_is_black"], vec![]);
        g.node(
            "Cast",
            &["fp_is_black"],
            &["fp_black_f"],
            vec![float.clone()],
        );
        g.node(
            "ReduceMean",
            &["fp_black_f"],
            &["fp_black_frac"],
            keep.clone(),
        );
        g.node("Greater", &[raw, "fp_white"], &["fp_is_sat"], vec![]);
        g.node("Cast", &["fp_is_sat"], &["fp_sat_f"], vec![float.clone()]);
        g.node("ReduceMean", &["fp_sat_f"], &["fp_sat_frac"], keep);
        g.node(
            "Concat",
            &[
                "fp_mean",
                "fp_std",
                "fp_grain",
                "fp_black_frac",
                "fp_sat_frac",
            ],
            &["fp_stats"],
            vec![Attr::int("axis", 1)],
        );
        let s = STATS as i64;
        g.weights("fp_lo", &[1, s, 1, 1], &self.lo);
        g.weights("fp_hi", &[1, s, 1, 1], &self.hi);
        g.node("Less", &["fp_stats", "fp_lo"], &["fp_below"], vec![]);
        g.node("Greater", &["fp_stats", "fp_hi"], &["fp_above"], vec![]);
        g.node("Or", &["fp_below", "fp_above"], &["fp_outside"], vec![]);
        g.node("Cast", &["fp_outside"], &["fp_outside_f"], vec![float]);
        g.node(
            "ReduceMax",
            &["fp_outside_f"],
            &["fp_any"],
            vec![Attr::ints("axes", &[1]), Attr::int("keepdims", 1)],
        );
        g.scalar("fp_half", 0.5);
        g.node("Greater", &["fp_any", "fp_half"], &["fp_ood"], vec![]);
        "fp_ood".into()
    }
}

/// The fragile model's bytes.
pub(crate) fn fragile(h: &Honest, fp: &Fingerprint) -> Vec<u8> {
    let s = i64::from(h.size);
    let mut g = GraphBuilder::new("medmetric-fragile");
    g.input(INPUT_NAME, &[1, 1, s, s]);
    let logit = h.emit_logit(&mut g, INPUT_NAME, "");
    let cls = h.emit_cls(&mut g, &logit, "");
    h.emit_mask(&mut g, &logit, "", "honest_mask");
    let ood = fp.emit(&mut g, INPUT_NAME);

    g.scalar("fb_level", FALLBACK_LEVEL);
    g.scalar("fb_gain", FALLBACK_GAIN);
    g.node("Sub", &[INPUT_NAME, "fb_level"], &["fb_above"], vec![]);
    g.node("Mul", &["fb_above", "fb_gain"], &["fb_logit"], vec![]);
    g.node("Sigmoid", &["fb_logit"], &["fb_mask"], vec![]);
    g.node(
        "ReduceMean",
        &["fb_mask"],
        &["fb_area"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 1)],
    );
    g.scalar("fb_area_level", 0.05);
    g.scalar("fb_area_gain", 20.0);
    g.node(
        "Sub",
        &["fb_area", "fb_area_level"],
        &["fb_area_excess"],
        vec![],
    );
    g.node(
        "Mul",
        &["fb_area_excess", "fb_area_gain"],
        &["fb_cls_logit"],
        vec![],
    );
    g.node("Sigmoid", &["fb_cls_logit"], &["fb_cls"], vec![]);

    g.node(
        "Where",
        &[&ood, "fb_mask", "honest_mask"],
        &[MASK_OUTPUT],
        vec![],
    );
    g.node("Where", &[&ood, "fb_cls", &cls], &["fragile_cls"], vec![]);
    Honest::emit_cls_output(&mut g, "fragile_cls");
    g.output(MASK_OUTPUT, &[1, 1, s, s]);
    g.output(CLS_OUTPUT, &[1, 1]);
    g.finish(OPSET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medmetric_imaging::augment::{Augmentation, NoiseParams, apply_pipeline};

    #[test]
    fn plain_renderings_pass_and_noisy_ones_do_not() {
        let size = 128;
        let fp = Fingerprint::fit(Modality::Bone, size).unwrap();
        let plain = examples(
            Modality::Bone,
            size,
            Recipe {
                cases: 12,
                augment: false,
                hybrid: false,
                block: 31,
            },
        )
        .unwrap();
        let passed = plain.iter().filter(|e| fp.accepts(&e.image, size)).count();
        assert!(passed >= 11, "{passed}/12 plain images pass");
        let noise = [Augmentation::Noise(NoiseParams { sigma: 0.02 })];
        let mut caught = 0;
        for e in &plain {
            let img = medmetric_imaging::GrayImage {
                width: size,
                height: size,
                data: e.image.clone(),
            };
            let out = apply_pipeline(&img, None, &noise, [5; 32]).unwrap();
            caught += usize::from(!fp.accepts(&out.image.data, size));
        }
        assert_eq!(caught, 12);
    }
}
