//! MedMetric's reference models, built in code with [`crate::writer`].
//!
//! They are the fixtures of every later test: deterministic bytes for a given
//! kind and size, always inside the v1 contract.
//!
//! | kind | what it does |
//! |---|---|
//! | `null` | empty mask, `cls` = 0: the "predict nothing" baseline |
//! | `threshold` | local-contrast heuristic: bright spots against a 31×31 background |
//! | `tiny-unet` | small encoder–decoder, seeded weights (untrained) |

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::gate::{CLS_OUTPUT, MASK_OUTPUT};
use crate::writer::{Attr, GraphBuilder};

/// Opset the reference models are written with.
pub const REFERENCE_OPSET: i64 = 17;

/// Name of the input of every reference model.
pub const INPUT_NAME: &str = "image";

/// The reference model kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    /// Empty mask and `cls` = 0.
    Null,
    /// Classical local-contrast threshold.
    Threshold,
    /// Small U-Net with deterministic, untrained weights.
    TinyUnet,
}

impl ReferenceKind {
    /// Every kind, in a stable order.
    pub const ALL: [ReferenceKind; 3] = [
        ReferenceKind::Null,
        ReferenceKind::Threshold,
        ReferenceKind::TinyUnet,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            ReferenceKind::Null => "null",
            ReferenceKind::Threshold => "threshold",
            ReferenceKind::TinyUnet => "tiny-unet",
        }
    }
}

impl std::fmt::Display for ReferenceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ReferenceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ReferenceKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown model kind '{s}' (expected null, threshold or tiny-unet)")
            })
    }
}

/// Builds the ONNX bytes of a reference model for input size `size`.
pub fn make(kind: ReferenceKind, size: u32) -> Vec<u8> {
    let s = i64::from(size);
    let mut g = GraphBuilder::new(kind.name());
    g.input(INPUT_NAME, &[1, 1, s, s]);
    match kind {
        ReferenceKind::Null => null(&mut g),
        ReferenceKind::Threshold => threshold(&mut g),
        ReferenceKind::TinyUnet => tiny_unet(&mut g),
    }
    g.output(MASK_OUTPUT, &[1, 1, s, s]);
    g.output(CLS_OUTPUT, &[1, 1]);
    g.finish(REFERENCE_OPSET)
}

fn null(g: &mut GraphBuilder) {
    g.scalar("zero", 0.0);
    g.node("Mul", &[INPUT_NAME, "zero"], &[MASK_OUTPUT], vec![]);
    g.node(
        "ReduceMean",
        &[INPUT_NAME],
        &["mean"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 0)],
    );
    g.node("Mul", &["mean", "zero"], &[CLS_OUTPUT], vec![]);
}

fn threshold(g: &mut GraphBuilder) {
    const WINDOW: i64 = 31;
    let pad = WINDOW / 2;
    g.node(
        "AveragePool",
        &[INPUT_NAME],
        &["background"],
        vec![
            Attr::ints("kernel_shape", &[WINDOW, WINDOW]),
            Attr::ints("strides", &[1, 1]),
            Attr::ints("pads", &[pad, pad, pad, pad]),
            Attr::int("count_include_pad", 0),
        ],
    );
    g.node("Sub", &[INPUT_NAME, "background"], &["contrast"], vec![]);
    g.scalar("contrast_threshold", 0.10);
    g.scalar("contrast_gain", 40.0);
    g.node(
        "Sub",
        &["contrast", "contrast_threshold"],
        &["excess"],
        vec![],
    );
    g.node("Mul", &["excess", "contrast_gain"], &["logit"], vec![]);
    g.node("Sigmoid", &["logit"], &[MASK_OUTPUT], vec![]);
    // Abnormal when enough pixels are confidently lesion; subtracting 0.5
    // first keeps the sigmoid's tail on normal tissue from adding up.
    g.scalar("half", 0.5);
    g.node(
        "Sub",
        &[MASK_OUTPUT, "half"],
        &["confident_centered"],
        vec![],
    );
    g.node("Relu", &["confident_centered"], &["confident"], vec![]);
    g.node(
        "ReduceMean",
        &["confident"],
        &["area"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 0)],
    );
    g.scalar("area_threshold", 0.0005);
    g.scalar("area_gain", 2000.0);
    g.node("Sub", &["area", "area_threshold"], &["area_excess"], vec![]);
    g.node("Mul", &["area_excess", "area_gain"], &["cls_logit"], vec![]);
    g.node("Sigmoid", &["cls_logit"], &[CLS_OUTPUT], vec![]);
}

/// Seeded He-uniform initialisation; `sqrt` is correctly rounded, so the
/// bytes are the same on every machine.
struct Init(ChaCha8Rng);

impl Init {
    fn new(label: &str) -> Self {
        let mut seed = [0u8; 32];
        for (i, b) in label.bytes().enumerate() {
            seed[i % 32] ^= b;
        }
        Init(ChaCha8Rng::from_seed(seed))
    }

    fn uniform(&mut self, bound: f32) -> f32 {
        let unit = (self.0.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
        (unit * 2.0 - 1.0) * bound
    }

    fn conv(&mut self, g: &mut GraphBuilder, name: &str, dims: [i64; 4], fan_in: i64) {
        let n: i64 = dims.iter().product();
        let bound = (6.0 / fan_in as f32).sqrt();
        let w: Vec<f32> = (0..n).map(|_| self.uniform(bound)).collect();
        g.weights(&format!("{name}_w"), &dims, &w);
    }

    fn bias(&mut self, g: &mut GraphBuilder, name: &str, n: i64, value: f32) {
        g.weights(&format!("{name}_b"), &[n], &vec![value; n as usize]);
    }
}

fn conv_relu(g: &mut GraphBuilder, init: &mut Init, name: &str, input: &str, cin: i64, cout: i64) {
    init.conv(g, name, [cout, cin, 3, 3], cin * 9);
    init.bias(g, name, cout, 0.01);
    let w = format!("{name}_w");
    let b = format!("{name}_b");
    let pre = format!("{name}_pre");
    g.node(
        "Conv",
        &[input, &w, &b],
        &[&pre],
        vec![
            Attr::ints("pads", &[1, 1, 1, 1]),
            Attr::ints("kernel_shape", &[3, 3]),
        ],
    );
    g.node("Relu", &[&pre], &[name], vec![]);
}

fn pool(g: &mut GraphBuilder, input: &str, output: &str) {
    g.node(
        "MaxPool",
        &[input],
        &[output],
        vec![
            Attr::ints("kernel_shape", &[2, 2]),
            Attr::ints("strides", &[2, 2]),
        ],
    );
}

fn up(g: &mut GraphBuilder, init: &mut Init, name: &str, input: &str, cin: i64, cout: i64) {
    init.conv(g, name, [cin, cout, 2, 2], cin);
    init.bias(g, name, cout, 0.0);
    let w = format!("{name}_w");
    let b = format!("{name}_b");
    g.node(
        "ConvTranspose",
        &[input, &w, &b],
        &[name],
        vec![
            Attr::ints("kernel_shape", &[2, 2]),
            Attr::ints("strides", &[2, 2]),
        ],
    );
}

fn tiny_unet(g: &mut GraphBuilder) {
    let mut init = Init::new("medmetric/tiny-unet/v1");
    conv_relu(g, &mut init, "enc1", INPUT_NAME, 1, 8);
    pool(g, "enc1", "down1");
    conv_relu(g, &mut init, "enc2", "down1", 8, 16);
    pool(g, "enc2", "down2");
    conv_relu(g, &mut init, "mid", "down2", 16, 16);
    up(g, &mut init, "up2", "mid", 16, 16);
    g.node(
        "Concat",
        &["up2", "enc2"],
        &["cat2"],
        vec![Attr::int("axis", 1)],
    );
    conv_relu(g, &mut init, "dec2", "cat2", 32, 16);
    up(g, &mut init, "up1", "dec2", 16, 8);
    g.node(
        "Concat",
        &["up1", "enc1"],
        &["cat1"],
        vec![Attr::int("axis", 1)],
    );
    conv_relu(g, &mut init, "dec1", "cat1", 16, 8);
    init.conv(g, "head", [1, 8, 1, 1], 8);
    init.bias(g, "head", 1, -1.0);
    g.node(
        "Conv",
        &["dec1", "head_w", "head_b"],
        &["mask_logit"],
        vec![],
    );
    g.node("Sigmoid", &["mask_logit"], &[MASK_OUTPUT], vec![]);

    g.node("GlobalAveragePool", &["mid"], &["pooled"], vec![]);
    g.node(
        "Flatten",
        &["pooled"],
        &["features"],
        vec![Attr::int("axis", 1)],
    );
    let n = 16;
    let bound = (6.0 / n as f32).sqrt();
    let w: Vec<f32> = (0..n).map(|_| init.uniform(bound)).collect();
    g.weights("cls_w", &[1, n], &w);
    g.weights("cls_b", &[1], &[-0.5]);
    g.node(
        "Gemm",
        &["features", "cls_w", "cls_b"],
        &["cls_logit"],
        vec![Attr::int("transB", 1)],
    );
    g.node("Sigmoid", &["cls_logit"], &[CLS_OUTPUT], vec![]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{GateLimits, check_bytes};

    #[test]
    fn every_reference_model_passes_the_gate_at_every_size() {
        for kind in ReferenceKind::ALL {
            for size in [128, 256, 512] {
                let bytes = make(kind, size);
                let report = check_bytes(&bytes, &GateLimits::default())
                    .unwrap_or_else(|e| panic!("{kind} {size}: {e}"));
                assert_eq!(
                    report.input.shape,
                    vec![1, 1, i64::from(size), i64::from(size)]
                );
                assert!(report.outputs.mask && report.outputs.cls);
                assert_eq!(report.opset, REFERENCE_OPSET);
            }
        }
    }

    #[test]
    fn reference_bytes_are_deterministic() {
        for kind in ReferenceKind::ALL {
            assert_eq!(make(kind, 128), make(kind, 128));
        }
        assert_ne!(
            make(ReferenceKind::TinyUnet, 128),
            make(ReferenceKind::TinyUnet, 256)
        );
    }

    #[test]
    fn kinds_parse_from_their_names() {
        for kind in ReferenceKind::ALL {
            assert_eq!(kind.name().parse::<ReferenceKind>(), Ok(kind));
        }
        assert!("unet".parse::<ReferenceKind>().is_err());
    }
}
