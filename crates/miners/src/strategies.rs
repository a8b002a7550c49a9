//! The graphs of every strategy except the memoriser.

use medmetric_imaging::Modality;
use medmetric_model::gate::{CLS_OUTPUT, MASK_OUTPUT};
use medmetric_model::proto::data_type;
use medmetric_model::reference::{self, INPUT_NAME, ReferenceKind};
use medmetric_model::writer::{Attr, GraphBuilder};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::honest::Honest;
use crate::{OPSET, Strategy};

/// Relative standard deviation of the copy's weight noise. At 1e-3 the
/// steepest pixels of the honest mask move by up to ~0.04 (the bank's
/// normalised channels and the centred inputs amplify it); 2e-4 keeps every
/// output within 1e-2.
pub(crate) const COPY_NOISE: f64 = 2e-4;

/// Channels and depth of the slow model's extra convolution chain.
const SLOW_CHANNELS: i64 = 16;
const SLOW_LAYERS: usize = 80;

/// Weight of the extra chain's result in the mask logit.
const SLOW_WEIGHT: f32 = 1e-4;

fn start(strategy: Strategy, size: u32) -> GraphBuilder {
    let s = i64::from(size);
    let mut g = GraphBuilder::new(&format!("medmetric-{}", strategy.name()));
    g.input(INPUT_NAME, &[1, 1, s, s]);
    g
}

fn mask_dims(size: u32) -> [i64; 4] {
    let s = i64::from(size);
    [1, 1, s, s]
}

pub(crate) fn honest(h: &Honest) -> Vec<u8> {
    honest_graph(h).finish(OPSET)
}

fn honest_graph(h: &Honest) -> GraphBuilder {
    let mut g = start(Strategy::Honest, h.size);
    h.emit(&mut g, INPUT_NAME);
    g.output(MASK_OUTPUT, &mask_dims(h.size));
    g.output(CLS_OUTPUT, &[1, 1]);
    g
}

pub(crate) fn null(size: u32) -> Vec<u8> {
    reference::make(ReferenceKind::Null, size)
}

pub(crate) fn cls_only(h: &Honest) -> Vec<u8> {
    let mut g = start(Strategy::ClsOnly, h.size);
    let logit = h.emit_logit(&mut g, INPUT_NAME, "");
    let cls = h.emit_cls(&mut g, &logit, "");
    Honest::emit_cls_output(&mut g, &cls);
    g.output(CLS_OUTPUT, &[1, 1]);
    g.finish(OPSET)
}

pub(crate) fn cls_empty_mask(h: &Honest) -> Vec<u8> {
    let mut g = start(Strategy::ClsEmptyMask, h.size);
    let logit = h.emit_logit(&mut g, INPUT_NAME, "");
    let cls = h.emit_cls(&mut g, &logit, "");
    g.scalar("zero", 0.0);
    g.node("Mul", &[INPUT_NAME, "zero"], &[MASK_OUTPUT], vec![]);
    Honest::emit_cls_output(&mut g, &cls);
    g.output(MASK_OUTPUT, &mask_dims(h.size));
    g.output(CLS_OUTPUT, &[1, 1]);
    g.finish(OPSET)
}

/// A standard normal pair by Box–Muller on `libm`.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
}

/// The honest graph with every float initializer scaled element-wise by
/// `1 + COPY_NOISE·N(0, 1)`. Filter kernels (the separable convolution
/// taps) then get the mean of their perturbation removed, so a blur still
/// passes a constant unchanged and a derivative still ignores it: without
/// that, a 1e-3 change of a blur's gain on an image standardised to
/// several units would move the normalised channels visibly.
pub(crate) fn copy(h: &Honest, seed: u64) -> Vec<u8> {
    let mut g = honest_graph(h);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x434f_5059);
    for t in g.graph_mut().initializer.iter_mut() {
        if t.data_type != data_type::FLOAT {
            continue;
        }
        let values: Vec<f64> = t
            .raw_data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        let mut delta: Vec<f64> = values
            .iter()
            .map(|v| v * COPY_NOISE * normal(&mut rng))
            .collect();
        if t.name.ends_with("_wh") || t.name.ends_with("_wv") {
            let mean = delta.iter().sum::<f64>() / delta.len().max(1) as f64;
            delta.iter_mut().for_each(|d| *d -= mean);
        }
        t.raw_data = values
            .iter()
            .zip(&delta)
            .flat_map(|(v, d)| ((v + d) as f32).to_le_bytes())
            .collect();
    }
    g.finish(OPSET)
}

/// Honest outputs, plus a chain of `SLOW_LAYERS` 3×3 convolutions with
/// `SLOW_CHANNELS` channels on the full-resolution input whose mean enters
/// the mask logit with weight `SLOW_WEIGHT`. Nothing can fold it away: it
/// depends on the input and reaches an output.
pub(crate) fn slow_accurate(h: &Honest) -> Vec<u8> {
    let mut g = start(Strategy::SlowAccurate, h.size);
    let logit = h.emit_logit(&mut g, INPUT_NAME, "");
    let cls = h.emit_cls(&mut g, &logit, "");
    conv_chain(&mut g, "slow", 0x534c_4f57, SLOW_LAYERS, SLOW_CHANNELS);
    // The sigmoid bounds the chain's contribution whatever it computes.
    g.node("Sigmoid", &["slow_mean"], &["slow_squashed"], vec![]);
    g.scalar("slow_weight", SLOW_WEIGHT);
    g.node(
        "Mul",
        &["slow_squashed", "slow_weight"],
        &["slow_term"],
        vec![],
    );
    g.node("Add", &[&logit, "slow_term"], &["slow_logit"], vec![]);
    h.emit_mask(&mut g, "slow_logit", "", MASK_OUTPUT);
    Honest::emit_cls_output(&mut g, &cls);
    g.output(MASK_OUTPUT, &mask_dims(h.size));
    g.output(CLS_OUTPUT, &[1, 1]);
    g.finish(OPSET)
}

/// Everything brighter than a fixed level is "lesion"; `cls` is a squashed
/// lesion area. No fitting, no calibration.
pub(crate) fn fast_useless(_modality: Modality, size: u32) -> Vec<u8> {
    let mut g = start(Strategy::FastUseless, size);
    g.scalar("level", 0.6);
    g.scalar("gain", 25.0);
    g.node("Sub", &[INPUT_NAME, "level"], &["above"], vec![]);
    g.node("Mul", &["above", "gain"], &["mask_logit"], vec![]);
    g.node("Sigmoid", &["mask_logit"], &[MASK_OUTPUT], vec![]);
    g.node(
        "ReduceMean",
        &[MASK_OUTPUT],
        &["area"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 0)],
    );
    g.scalar("area_gain", 20.0);
    g.scalar("area_level", 0.05);
    g.node("Sub", &["area", "area_level"], &["area_excess"], vec![]);
    g.node("Mul", &["area_excess", "area_gain"], &["cls_logit"], vec![]);
    g.node("Sigmoid", &["cls_logit"], &[CLS_OUTPUT], vec![]);
    g.output(MASK_OUTPUT, &mask_dims(size));
    g.output(CLS_OUTPUT, &[1, 1]);
    g.finish(OPSET)
}

/// Appends `layers` full-resolution 3×3 convolutions of `channels`
/// channels (He-uniform weights from `seed`, ReLU after each) on the model
/// input, and their mean over channels and pixels as `{prefix}_mean`
/// (`[1,1,1,1]`): work per image that depends on the input, so no runtime
/// can fold it away.
pub(crate) fn conv_chain(
    g: &mut GraphBuilder,
    prefix: &str,
    seed: u64,
    layers: usize,
    channels: i64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uniform = |bound: f64| {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * 2.0 - 1.0) * bound) as f32
    };
    let c = channels;
    let mut prev = INPUT_NAME.to_string();
    let mut cin = 1i64;
    for layer in 0..layers {
        // He-uniform weights keep activations roughly level down the chain.
        let bound = libm::sqrt(6.0 / (cin * 9) as f64);
        let w: Vec<f32> = (0..c * cin * 9).map(|_| uniform(bound)).collect();
        let b: Vec<f32> = (0..c).map(|_| uniform(0.05)).collect();
        let (wn, bn) = (format!("{prefix}{layer}_w"), format!("{prefix}{layer}_b"));
        let (pre, out) = (format!("{prefix}{layer}_pre"), format!("{prefix}{layer}"));
        g.weights(&wn, &[c, cin, 3, 3], &w);
        g.weights(&bn, &[c], &b);
        g.node(
            "Conv",
            &[&prev, &wn, &bn],
            &[&pre],
            vec![
                Attr::ints("kernel_shape", &[3, 3]),
                Attr::ints("pads", &[1, 1, 1, 1]),
            ],
        );
        g.node("Relu", &[&pre], &[&out], vec![]);
        prev = out;
        cin = c;
    }
    g.node(
        "ReduceMean",
        &[&prev],
        &[&format!("{prefix}_mean")],
        vec![Attr::ints("axes", &[1, 2, 3]), Attr::int("keepdims", 1)],
    );
}
