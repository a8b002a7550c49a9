//! The honest reference miner: the fixed filter bank of [`crate::features`],
//! a one-hidden-layer perceptron applied per pixel (1×1 convolutions), and a
//! classifier calibrated on the pixel logits. Everything is fitted in `f64`
//! on seeded benchmark rounds built from the phantom pools with the round
//! builder's own hybridisation and augmentation, so the model has seen the
//! distribution it is scored on, never the scoring round itself.

use medmetric_bench::RoundConfig;
use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::{Anchor, RoundItem, build};
use medmetric_imaging::pool::Pool;
use medmetric_imaging::{Case, Modality};
use medmetric_model::gate::{CLS_OUTPUT, MASK_OUTPUT};
use medmetric_model::writer::{Attr, GraphBuilder};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::MinersError;
use crate::features::{self, Bank, CHANNELS, GLOBALS};
use crate::metrics;
use crate::train::{self, Mlp, Samples, Standardise, sigmoid};

/// Hidden units of the per-pixel perceptron.
const HIDDEN: usize = 64;

/// Adam passes over the pixel sample.
const EPOCHS: usize = 30;

/// Pixels drawn per image from the lesion, the ring around it, and the rest,
/// at 128² and at larger sizes.
const PER_STRATUM_128: [usize; 3] = [56, 56, 112];
const PER_STRATUM: [usize; 3] = [80, 80, 160];

/// Ring width around lesions at 256², scaled with the side.
const RING_AT_256: f64 = 8.0;

/// Blurs of the stage-one logit that stage two sees, at 256².
const CONTEXT_AT_256: [f64; 4] = [2.0, 4.0, 8.0, 16.0];

/// Stage-two inputs: the logit, its blurs, and one global maximum.
const CONTEXT_INPUTS: usize = CONTEXT_AT_256.len() + 2;

/// Hidden units of stage two.
const CONTEXT_HIDDEN: usize = 8;

/// Blur of the pixel logit before its maximum feeds the classifier, at 256².
const CLS_SIGMA_AT_256: f64 = 2.0;

/// Block numbers of the training rounds (far from any demo or test block).
pub(crate) const TRAIN_BLOCK: u64 = 0x4d4d_0000;

/// One labelled image as the trainer sees it.
#[derive(Debug, Clone)]
pub(crate) struct Example {
    pub image: Vec<f32>,
    pub mask: Vec<u8>,
    pub abnormal: bool,
}

/// How the training round is drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recipe {
    pub cases: u32,
    pub augment: bool,
    pub hybrid: bool,
    pub block: u64,
}

/// Builds a one-modality phantom round with the round builder and returns
/// its items.
pub(crate) fn examples(
    modality: Modality,
    size: u32,
    recipe: Recipe,
) -> Result<Vec<Example>, MinersError> {
    let pool = PhantomPool::new(modality);
    let mut config = RoundConfig {
        size,
        modalities: vec![modality],
        cases_per_modality: recipe.cases,
        probes_per_modality: 0,
        ..RoundConfig::default()
    };
    if !recipe.augment {
        config.augment_fraction = 0.0;
    }
    if !recipe.hybrid {
        config.hybrid_fraction = 0.0;
    }
    let anchor = Anchor {
        netuid: medmetric_core::NetUid(0),
        block_number: medmetric_core::Block(recipe.block),
        block_hash: [0x6d; 32],
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let round = build(&anchor, &[&pool as &dyn Pool], &config, threads, &|| {})
        .map_err(|e| MinersError::Round(e.to_string()))?;
    Ok(round
        .items
        .into_iter()
        .map(|it| Example::from_item(&it))
        .collect())
}

impl Example {
    pub fn from_item(it: &RoundItem) -> Self {
        Example {
            image: it.image.data.clone(),
            mask: it.mask.data.clone(),
            abnormal: it.record.abnormal,
        }
    }

    pub fn from_case(c: &Case) -> Self {
        Example {
            image: c.image.data.clone(),
            mask: c.mask.data.clone(),
            abnormal: c.abnormal,
        }
    }
}

/// The fitted honest miner for one modality and size.
#[derive(Debug, Clone)]
pub struct Honest {
    pub(crate) modality: Modality,
    pub(crate) size: u32,
    pub(crate) bank: Bank,
    /// Stage one: per-pixel perceptron over the bank's `CHANNELS + GLOBALS`
    /// raw inputs (standardisation folded in).
    pub(crate) mlp: Mlp,
    /// Stage two (auto-context): perceptron over stage one's logit, its
    /// blurs and the maximum of the first blur.
    pub(crate) ctx: Mlp,
    pub(crate) ctx_kernels: Vec<Vec<f32>>,
    /// Centres the graph subtracts from each stage's per-pixel inputs.
    pub(crate) centre1: Vec<f32>,
    pub(crate) centre2: Vec<f32>,
    /// Classifier `σ(c[0]·max(blur(L)) + c[1]·mean(σ(L)) + c[2])`.
    pub(crate) cls: [f64; 3],
    /// Mask `σ(L + offset) · g`, with `g = σ(κ·cls_logit + τ)` when the
    /// gate `[κ, τ]` is set and 1 otherwise.
    pub(crate) offset: f64,
    pub(crate) gate: Option<[f64; 2]>,
    pub(crate) cls_kernel: Vec<f32>,
}

/// Quality of a model on a set of examples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quality {
    /// Images scored.
    pub images: usize,
    /// Mean Dice over abnormal images.
    pub dice_abnormal: f64,
    /// Mean Dice over normal images (1 when no pixel reaches 0.5).
    pub dice_normal: f64,
    /// Mean pixel BCE (nats) over abnormal images.
    pub bce_abnormal: f64,
    /// Mean pixel BCE (nats) over normal images.
    pub bce_normal: f64,
    /// Fraction of images whose `cls ≥ 0.5` matches the label.
    pub cls_accuracy: f64,
    /// Mean reward `R_i` (docs/design.md#6-scoring).
    pub reward: f64,
}

/// Scores predictions `(mask, cls)` against examples.
pub(crate) fn quality(
    examples: &[Example],
    mut predict: impl FnMut(&Example) -> (Option<Vec<f32>>, Option<f64>),
) -> Quality {
    let mut q = Quality::default();
    let (mut na, mut nn) = (0usize, 0usize);
    let mut correct = 0usize;
    for ex in examples {
        let (mask, cls) = predict(ex);
        q.reward += metrics::reward(mask.as_deref(), cls, &ex.mask, ex.abnormal);
        if let Some(m) = &mask {
            let d = metrics::dice(m, &ex.mask);
            let b = metrics::mean_bce(m, &ex.mask);
            if ex.abnormal {
                q.dice_abnormal += d;
                q.bce_abnormal += b;
            } else {
                q.dice_normal += d;
                q.bce_normal += b;
            }
        }
        if ex.abnormal {
            na += 1;
        } else {
            nn += 1;
        }
        if cls.is_some_and(|c| (c >= 0.5) == ex.abnormal) {
            correct += 1;
        }
    }
    let n = examples.len().max(1) as f64;
    q.images = examples.len();
    q.reward /= n;
    q.cls_accuracy = correct as f64 / n;
    q.dice_abnormal /= na.max(1) as f64;
    q.bce_abnormal /= na.max(1) as f64;
    q.dice_normal /= nn.max(1) as f64;
    q.bce_normal /= nn.max(1) as f64;
    q
}

/// Lesion (0), ring (1) or far (2) for every pixel: the ring is the
/// non-lesion pixels within `r` (chessboard) of a lesion pixel.
fn strata(mask: &[u8], n: usize, r: usize) -> Vec<u8> {
    // Separable max filter of the mask: rows, then columns.
    let mut rows = vec![0u8; n * n];
    for y in 0..n {
        for x in 0..n {
            let lo = x.saturating_sub(r);
            let hi = (x + r).min(n - 1);
            rows[y * n + x] = u8::from(mask[y * n + lo..=y * n + hi].iter().any(|&v| v != 0));
        }
    }
    let mut out = vec![2u8; n * n];
    for y in 0..n {
        let lo = y.saturating_sub(r);
        let hi = (y + r).min(n - 1);
        for x in 0..n {
            let near = (lo..=hi).any(|yy| rows[yy * n + x] != 0);
            out[y * n + x] = if mask[y * n + x] != 0 {
                0
            } else if near {
                1
            } else {
                2
            };
        }
    }
    out
}

/// Per-pixel inputs of one stage: planes (channel-major) plus per-image
/// scalars appended to every row.
pub(crate) struct Planes {
    planes: Vec<Vec<f32>>,
    globals: Vec<f32>,
}

/// Pixels per block when a perceptron runs over whole planes.
const CHUNK: usize = 1024;

impl Planes {
    fn width(&self) -> usize {
        self.planes.len() + self.globals.len()
    }

    fn row(&self, i: usize, out: &mut [f64]) {
        let c = self.planes.len();
        for (o, p) in out.iter_mut().zip(&self.planes) {
            *o = f64::from(p[i]);
        }
        for (o, &g) in out[c..].iter_mut().zip(&self.globals) {
            *o = f64::from(g);
        }
    }

    /// Runs `mlp` on every pixel in `f32` with the weights as the model
    /// stores them, plane by plane (the loops vectorise; each sum still
    /// runs in a fixed order).
    fn logits(&self, mlp: &Mlp) -> Vec<f32> {
        let n = self.planes[0].len();
        let c = self.planes.len();
        let w1: Vec<f32> = mlp.w1.iter().map(|&v| v as f32).collect();
        let bias: Vec<f32> = (0..mlp.h)
            .map(|j| {
                let mut b = mlp.b1[j] as f32;
                for (g, &v) in self.globals.iter().enumerate() {
                    b += w1[j * mlp.d + c + g] * v;
                }
                b
            })
            .collect();
        let w2: Vec<f32> = mlp.w2.iter().map(|&v| v as f32).collect();
        let mut out = vec![mlp.b2 as f32; n];
        let mut acc = vec![0f32; CHUNK];
        for start in (0..n).step_by(CHUNK) {
            let len = CHUNK.min(n - start);
            let dst = &mut out[start..start + len];
            for j in 0..mlp.h {
                let a = &mut acc[..len];
                a.fill(bias[j]);
                for (k, plane) in self.planes.iter().enumerate() {
                    let w = w1[j * mlp.d + k];
                    for (ai, xi) in a.iter_mut().zip(&plane[start..start + len]) {
                        *ai += w * xi;
                    }
                }
                for (o, ai) in dst.iter_mut().zip(a.iter()) {
                    *o += w2[j] * ai.max(0.0);
                }
            }
        }
        out
    }
}

/// Draws the weighted pixel sample of one image: each stratum's draws carry
/// weight `count / drawn`, so the sample's loss estimates the image's mean
/// pixel loss without bias.
fn sample_image(planes: &Planes, strata: &[u8], index: u64, out: &mut Samples) {
    let mut row = vec![0.0; planes.width()];
    for (pick, weight) in stratified(strata, index) {
        planes.row(pick, &mut row);
        out.push(&row, strata[pick] == 0, weight);
    }
}

/// Stratified pixel draw of one image: `(pixel, weight)` with the weights
/// of each image summing to 1 over its strata.
fn stratified(strata: &[u8], seed: u64) -> Vec<(usize, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5341_4d50_0000 ^ seed);
    let total = strata.len();
    let mut out = Vec::new();
    let per = if total <= 128 * 128 {
        PER_STRATUM_128
    } else {
        PER_STRATUM
    };
    for (s, &want) in per.iter().enumerate() {
        let members: Vec<usize> = (0..total).filter(|&i| strata[i] == s as u8).collect();
        if members.is_empty() {
            continue;
        }
        let k = want.min(members.len());
        let weight = members.len() as f64 / k as f64 / total as f64;
        for _ in 0..k {
            out.push((
                members[(rng.next_u64() % members.len() as u64) as usize],
                weight,
            ));
        }
    }
    out
}

/// Folds `(x − mean) / scale` into the first layer.
fn fold(mlp: &Mlp, st: &Standardise) -> Mlp {
    let mut m = mlp.clone();
    for j in 0..m.h {
        let mut shift = 0.0;
        for k in 0..m.d {
            let w = mlp.w1[j * m.d + k] / st.scale[k];
            m.w1[j * m.d + k] = w;
            shift += w * st.mean[k];
        }
        m.b1[j] -= shift;
    }
    m
}

/// Standardises, fits, zeroes the weights of `dropped` inputs and folds the
/// standardisation back in.
/// Also returns the standardisation means, which the graph subtracts from
/// its per-pixel inputs before the first layer.
fn fit_stage(
    samples: &mut Samples,
    dropped: &[usize],
    hidden: usize,
    seed: u64,
) -> (Mlp, Vec<f32>) {
    let d = samples.d;
    for row in samples.x.chunks_exact_mut(d) {
        for &c in dropped {
            row[c] = 0.0;
        }
    }
    let st = Standardise::fit(samples);
    let mut mlp = train::fit_mlp(&st.apply(samples), hidden, EPOCHS, seed);
    for j in 0..mlp.h {
        for &c in dropped {
            mlp.w1[j * d + c] = 0.0;
        }
    }
    let centre = st.mean.iter().map(|&m| m as f32).collect();
    (fold(&mlp, &st), centre)
}

/// Emits `mlp` over a `[1,C,S,S]` tensor of per-pixel inputs and a
/// `[1,G,1,1]` tensor of per-image inputs (the first `C` and last `G`
/// columns of its first layer); returns the `[1,1,S,S]` logit's name.
///
/// The per-pixel inputs are first centred (`Sub` of a per-channel
/// constant, compensated in the bias): besides conditioning, this keeps
/// tract from splitting the 1×1 convolution over the inputs of the
/// `Concat` that feeds it, which is an order of magnitude slower.
fn emit_mlp(
    g: &mut GraphBuilder,
    mlp: &Mlp,
    local: (&str, usize),
    centre: &[f32],
    global: (&str, usize),
    prefix: &str,
) -> String {
    let p = |s: &str| format!("{prefix}{s}");
    let (c, gl) = (local.1, global.1);
    debug_assert_eq!(c + gl, mlp.d);
    g.weights(&p("centre"), &[1, c as i64, 1, 1], &centre[..c]);
    g.node("Sub", &[local.0, &p("centre")], &[&p("centred")], vec![]);
    let h = mlp.h as i64;
    let mut wl = Vec::with_capacity(mlp.h * c);
    let mut wg = Vec::with_capacity(mlp.h * gl);
    for j in 0..mlp.h {
        let row = &mlp.w1[j * mlp.d..(j + 1) * mlp.d];
        wl.extend(row[..c].iter().map(|&v| v as f32));
        wg.extend(row[c..].iter().map(|&v| v as f32));
    }
    let b1: Vec<f32> = (0..mlp.h)
        .map(|j| {
            let row = &mlp.w1[j * mlp.d..j * mlp.d + c];
            let shift: f64 = row
                .iter()
                .zip(&centre[..c])
                .map(|(w, &m)| w * f64::from(m))
                .sum();
            (mlp.b1[j] + shift) as f32
        })
        .collect();
    g.weights(&p("w1"), &[h, c as i64, 1, 1], &wl);
    g.weights(&p("b1"), &[h], &b1);
    g.weights(&p("g1"), &[h, gl as i64, 1, 1], &wg);
    g.node(
        "Conv",
        &[&p("centred"), &p("w1"), &p("b1")],
        &[&p("local")],
        vec![Attr::ints("kernel_shape", &[1, 1])],
    );
    g.node(
        "Conv",
        &[global.0, &p("g1")],
        &[&p("global")],
        vec![Attr::ints("kernel_shape", &[1, 1])],
    );
    g.node("Add", &[&p("local"), &p("global")], &[&p("pre")], vec![]);
    g.node("Relu", &[&p("pre")], &[&p("hidden")], vec![]);
    let w2: Vec<f32> = mlp.w2.iter().map(|&v| v as f32).collect();
    g.weights(&p("w2"), &[1, h, 1, 1], &w2);
    g.weights(&p("b2"), &[1], &[mlp.b2 as f32]);
    let out = p("logit");
    g.node(
        "Conv",
        &[&p("hidden"), &p("w2"), &p("b2")],
        &[&out],
        vec![Attr::ints("kernel_shape", &[1, 1])],
    );
    out
}

impl Honest {
    /// Trains the honest miner of `modality` at `size` on seeded phantom
    /// rounds (augmented and hybridised like benchmark rounds).
    pub fn train(modality: Modality, size: u32) -> Result<Self, MinersError> {
        Self::fit(
            modality,
            size,
            Recipe {
                cases: training_cases(size),
                augment: true,
                hybrid: true,
                block: TRAIN_BLOCK + modality_index(modality),
            },
        )
    }

    pub(crate) fn fit(modality: Modality, size: u32, recipe: Recipe) -> Result<Self, MinersError> {
        let k = f64::from(size) / 256.0;
        let bank = Bank::new(size);
        let data = examples(modality, size, recipe)?;
        let n = size as usize;
        let ring = (RING_AT_256 * k).round().max(2.0) as usize;
        let strata: Vec<Vec<u8>> = data.iter().map(|ex| strata(&ex.mask, n, ring)).collect();
        let d = CHANNELS + GLOBALS;
        let mut samples = Samples::new(d);
        let per_image = par_map(&data, |i, ex| {
            let mut s = Samples::new(d);
            sample_image(
                &first_planes(&bank, &ex.image),
                &strata[i],
                i as u64,
                &mut s,
            );
            s
        });
        for s in per_image {
            samples.append(s);
        }
        // The raw global mean and deviation would tie the model to the
        // intensity scale; the bank's channels are already standardised.
        let dropped: Vec<usize> = (CHANNELS..d).collect();
        let (mlp, centre1) = fit_stage(&mut samples, &dropped, HIDDEN, 0x484f_4e45_5354);
        let mut honest = Honest {
            modality,
            size,
            bank,
            mlp,
            centre1,
            centre2: Vec::new(),
            ctx: Mlp::default(),
            ctx_kernels: CONTEXT_AT_256
                .iter()
                .map(|s| features::gaussian(s * k))
                .collect(),
            cls: [0.0, 0.0, 0.0],
            offset: 0.0,
            gate: None,
            cls_kernel: features::gaussian(CLS_SIGMA_AT_256 * k),
        };

        let mut ctx_samples = Samples::new(CONTEXT_INPUTS);
        let first: Vec<Vec<f32>> = par_map(&data, |_, ex| {
            first_planes(&honest.bank, &ex.image).logits(&honest.mlp)
        });
        for (i, l1) in first.iter().enumerate() {
            let planes = honest.context_planes(l1);
            sample_image(&planes, &strata[i], i as u64, &mut ctx_samples);
        }
        (honest.ctx, honest.centre2) =
            fit_stage(&mut ctx_samples, &[], CONTEXT_HIDDEN, 0x4354_5854);
        let logits: Vec<Vec<f32>> = par_map(&first, |_, l1| {
            honest.context_planes(l1).logits(&honest.ctx)
        });
        honest.fit_cls(&data, &logits);
        honest.fit_mask_rule(&data, &logits, &strata);
        Ok(honest)
    }

    /// The modality this model was trained for.
    pub fn modality(&self) -> Modality {
        self.modality
    }

    /// The input side.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Stage-two inputs from a stage-one logit map: the map, its blurs, and
    /// the maximum of the first blur.
    fn context_planes(&self, l1: &[f32]) -> Planes {
        let n = self.size as usize;
        let mut planes = vec![l1.to_vec()];
        for k in &self.ctx_kernels {
            planes.push(features::blur(l1, n, k));
        }
        let max = planes[1].iter().copied().fold(f32::NEG_INFINITY, f32::max);
        Planes {
            planes,
            globals: vec![max],
        }
    }

    /// The final pixel logit map `L` of one image, computed in `f64`.
    pub(crate) fn logit_map(&self, image: &[f32]) -> Vec<f32> {
        let l1 = first_planes(&self.bank, image).logits(&self.mlp);
        self.context_planes(&l1).logits(&self.ctx)
    }

    fn cls_inputs(&self, logits: &[f32]) -> [f64; 2] {
        let n = self.size as usize;
        let smooth = features::blur(logits, n, &self.cls_kernel);
        let max = smooth.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let area = logits.iter().map(|&z| sigmoid(f64::from(z))).sum::<f64>() / logits.len() as f64;
        [f64::from(max), area]
    }

    fn cls_logit(&self, inputs: [f64; 2]) -> f64 {
        self.cls[0] * inputs[0] + self.cls[1] * inputs[1] + self.cls[2]
    }

    fn fit_cls(&mut self, data: &[Example], logits: &[Vec<f32>]) {
        let mut s = Samples::new(2);
        for (ex, l) in data.iter().zip(logits) {
            s.push(&self.cls_inputs(l), ex.abnormal, 1.0);
        }
        let beta = train::fit_logistic(&s, 1e-3, 25);
        self.cls = [beta[0], beta[1], beta[2]];
    }

    fn gate_of(&self, cls_logit: f64) -> f64 {
        match self.gate {
            Some([k, t]) => sigmoid(k * cls_logit + t),
            None => 1.0,
        }
    }

    /// The mask of one image from its logits and class logit.
    fn mask_from(&self, logits: &[f32], cls_logit: f64) -> Vec<f32> {
        let g = self.gate_of(cls_logit);
        logits
            .iter()
            .map(|&z| (sigmoid(f64::from(z) + self.offset) * g) as f32)
            .collect()
    }

    /// Chooses the mask offset and the gate by the mean segmentation part
    /// of the reward `R_i` (docs/design.md#6-scoring) on the training images. Dice comes from exact
    /// counts (the mask crosses ½ where the logit crosses a threshold that
    /// depends only on the image's gate); BCE from the stratified pixel
    /// sample, which estimates the image mean without bias.
    fn fit_mask_rule(&mut self, data: &[Example], logits: &[Vec<f32>], strata: &[Vec<u8>]) {
        struct Img {
            lesion: Vec<f64>,
            background: Vec<f64>,
            sample: Vec<(f64, bool, f64)>,
            cls_logit: f64,
        }
        let imgs: Vec<Img> = data
            .iter()
            .zip(logits)
            .zip(strata)
            .enumerate()
            .map(|(i, ((ex, l), st))| {
                let mut lesion: Vec<f64> = Vec::new();
                let mut background: Vec<f64> = Vec::new();
                for (&z, &m) in l.iter().zip(&ex.mask) {
                    if m != 0 {
                        lesion.push(f64::from(z));
                    } else {
                        background.push(f64::from(z));
                    }
                }
                lesion.sort_by(f64::total_cmp);
                background.sort_by(f64::total_cmp);
                let sample = stratified(st, i as u64 ^ 0x4d41_534b)
                    .into_iter()
                    .map(|(k, w)| (f64::from(l[k]), ex.mask[k] != 0, w))
                    .collect();
                Img {
                    lesion,
                    background,
                    sample,
                    cls_logit: self.cls_logit(self.cls_inputs(l)),
                }
            })
            .collect();
        let at_least = |sorted: &[f64], t: f64| sorted.len() - sorted.partition_point(|&v| v < t);
        let mut gates: Vec<Option<[f64; 2]>> = vec![None];
        for k in [0.5, 1.0, 2.0, 4.0] {
            for t in [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0] {
                gates.push(Some([k, t]));
            }
        }
        let mut best = (f64::NEG_INFINITY, 0.0, None);
        for gate in gates {
            self.gate = gate;
            for step in -8..=12 {
                let offset = f64::from(step) * 0.25;
                let mut total = 0.0;
                for img in &imgs {
                    let g = self.gate_of(img.cls_logit);
                    let (tp, fp) = if g > 0.5 {
                        let q = 0.5 / g;
                        let t = libm::log(q / (1.0 - q)) - offset;
                        (at_least(&img.lesion, t), at_least(&img.background, t))
                    } else {
                        (0, 0)
                    };
                    let fn_ = img.lesion.len() - tp;
                    let dice = if tp + fp + fn_ == 0 {
                        1.0
                    } else {
                        2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
                    };
                    let bce: f64 = img
                        .sample
                        .iter()
                        .map(|&(z, y, w)| w * metrics::bce(y, g * sigmoid(z + offset)))
                        .sum();
                    total += (dice - bce).clamp(0.0, 1.0);
                }
                if total > best.0 {
                    best = (total, offset, gate);
                }
            }
        }
        self.offset = best.1;
        self.gate = best.2;
    }

    /// Mask and class probability of one image, computed in `f64` (the
    /// reference the ONNX graph is checked against).
    pub fn predict(&self, image: &[f32]) -> (Vec<f32>, f64) {
        let l = self.logit_map(image);
        let c = self.cls_logit(self.cls_inputs(&l));
        (self.mask_from(&l, c), sigmoid(c))
    }

    /// Emits the final pixel logit map `[1,1,S,S]` computed from `input`;
    /// returns its name.
    pub(crate) fn emit_logit1(&self, g: &mut GraphBuilder, input: &str, prefix: &str) -> String {
        let p = |s: &str| format!("{prefix}{s}");
        let (feats, globals) = self.bank.emit(g, input, &p("fb_"));
        emit_mlp(
            g,
            &self.mlp,
            (&feats, CHANNELS),
            &self.centre1,
            (&globals, GLOBALS),
            &p("s1_"),
        )
    }

    pub(crate) fn emit_logit(&self, g: &mut GraphBuilder, input: &str, prefix: &str) -> String {
        let p = |s: &str| format!("{prefix}{s}");
        let l1 = self.emit_logit1(g, input, prefix);
        let mut planes = vec![l1.clone()];
        for (i, k) in self.ctx_kernels.iter().enumerate() {
            planes.push(features::emit_blur(g, &l1, k, &p(&format!("ctx{i}"))));
        }
        g.node("GlobalMaxPool", &[&planes[1]], &[&p("ctx_max")], vec![]);
        let refs: Vec<&str> = planes.iter().map(String::as_str).collect();
        g.node("Concat", &refs, &[&p("ctx")], vec![Attr::int("axis", 1)]);
        emit_mlp(
            g,
            &self.ctx,
            (&p("ctx"), planes.len()),
            &self.centre2,
            (&p("ctx_max"), 1),
            &p("s2_"),
        )
    }

    /// Emits the class probability `[1,1,1,1]` from a logit map; returns its
    /// name.
    pub(crate) fn emit_cls(&self, g: &mut GraphBuilder, logit: &str, prefix: &str) -> String {
        let p = |s: &str| format!("{prefix}{s}");
        let smooth = features::emit_blur(g, logit, &self.cls_kernel, &p("cls_smooth"));
        g.node("GlobalMaxPool", &[&smooth], &[&p("cls_max")], vec![]);
        g.node("Sigmoid", &[logit], &[&p("pix_prob")], vec![]);
        g.node(
            "ReduceMean",
            &[&p("pix_prob")],
            &[&p("cls_area")],
            vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 1)],
        );
        g.scalar(&p("cls_c0"), self.cls[0] as f32);
        g.scalar(&p("cls_c1"), self.cls[1] as f32);
        g.scalar(&p("cls_c2"), self.cls[2] as f32);
        g.node(
            "Mul",
            &[&p("cls_max"), &p("cls_c0")],
            &[&p("cls_t0")],
            vec![],
        );
        g.node(
            "Mul",
            &[&p("cls_area"), &p("cls_c1")],
            &[&p("cls_t1")],
            vec![],
        );
        g.node(
            "Add",
            &[&p("cls_t0"), &p("cls_t1")],
            &[&p("cls_t01")],
            vec![],
        );
        g.node(
            "Add",
            &[&p("cls_t01"), &p("cls_c2")],
            &[&p("cls_logit")],
            vec![],
        );
        g.node("Sigmoid", &[&p("cls_logit")], &[&p("cls_prob")], vec![]);
        p("cls_prob")
    }

    /// Emits the mask `[1,1,S,S]` as `out` from a logit map; the gate reads
    /// the class logit `emit_cls` left under the same prefix.
    pub(crate) fn emit_mask(&self, g: &mut GraphBuilder, logit: &str, prefix: &str, out: &str) {
        let p = |s: &str| format!("{prefix}{s}");
        g.scalar(&p("mask_offset"), self.offset as f32);
        g.node(
            "Add",
            &[logit, &p("mask_offset")],
            &[&p("mask_logit")],
            vec![],
        );
        match self.gate {
            Some([k, t]) => {
                g.scalar(&p("gate_k"), k as f32);
                g.scalar(&p("gate_t"), t as f32);
                g.node(
                    "Mul",
                    &[&p("cls_logit"), &p("gate_k")],
                    &[&p("gate_s")],
                    vec![],
                );
                g.node(
                    "Add",
                    &[&p("gate_s"), &p("gate_t")],
                    &[&p("gate_z")],
                    vec![],
                );
                g.node("Sigmoid", &[&p("gate_z")], &[&p("gate")], vec![]);
                g.node("Sigmoid", &[&p("mask_logit")], &[&p("mask_raw")], vec![]);
                g.node("Mul", &[&p("mask_raw"), &p("gate")], &[out], vec![]);
            }
            None => {
                g.node("Sigmoid", &[&p("mask_logit")], &[out], vec![]);
            }
        }
    }

    /// The `[1,1]` cls output from the `[1,1,1,1]` probability.
    pub(crate) fn emit_cls_output(g: &mut GraphBuilder, cls: &str) {
        g.ints("cls_shape", &[1, 1]);
        g.node("Reshape", &[cls, "cls_shape"], &[CLS_OUTPUT], vec![]);
    }

    /// The full honest graph body: `mask` and `cls` from `image`.
    pub(crate) fn emit(&self, g: &mut GraphBuilder, input: &str) {
        let logit = self.emit_logit(g, input, "");
        let cls = self.emit_cls(g, &logit, "");
        self.emit_mask(g, &logit, "", MASK_OUTPUT);
        Self::emit_cls_output(g, &cls);
    }
}

/// `f` over `items` on all available cores, results in item order (each
/// result depends only on its item, so the thread count changes nothing).
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        for (c, (out, input)) in slots.chunks_mut(chunk).zip(items.chunks(chunk)).enumerate() {
            let f = &f;
            scope.spawn(move || {
                for (k, (slot, item)) in out.iter_mut().zip(input).enumerate() {
                    *slot = Some(f(c * chunk + k, item));
                }
            });
        }
    });
    slots.into_iter().flatten().collect()
}

/// Stage-one inputs of an image: the filter bank's channels and globals.
fn first_planes(bank: &Bank, image: &[f32]) -> Planes {
    let (planes, globals) = bank.compute(image);
    Planes {
        planes,
        globals: globals.to_vec(),
    }
}

fn modality_index(m: Modality) -> u64 {
    Modality::ALL.iter().position(|&x| x == m).unwrap_or(0) as u64
}

/// Training images per modality: enough for a stable fit, few enough that a
/// debug build trains in seconds.
fn training_cases(size: u32) -> u32 {
    match size {
        0..=128 => 192,
        129..=256 => 128,
        _ => 64,
    }
}
