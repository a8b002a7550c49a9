//! The memoriser: it has seen the phantom pool and recalls it.
//!
//! For every covered pool case it stores a 16×16 thumbnail (block means of
//! the image the validator would show, quantised to 16 bits like a round),
//! the lesion mask at up to 128×128 (one byte per pixel) and the label. In
//! the graph, the input's thumbnail is compared with all of them by one
//! `MatMul` (`‖t‖² − 2·f·t` per case), `ArgMin` picks the nearest, `Gather`
//! fetches its mask and label, and an `Expand`/`Reshape` pair upsamples the
//! mask to the input size. At 4096 cases per modality that is 64 MiB of
//! masks and 4 MiB of thumbnails: the whole pool fits under the gate's
//! 100 MB cap.

use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::quantise16;
use medmetric_imaging::Modality;
use medmetric_imaging::pool::Pool;
use medmetric_model::gate::{CLS_OUTPUT, MASK_OUTPUT};
use medmetric_model::proto::{TensorProto, data_type};
use medmetric_model::reference::INPUT_NAME;
use medmetric_model::writer::{Attr, GraphBuilder};

use crate::{MinersError, OPSET};

/// Sizes the memoriser supports.
pub const MEMORISER_SIZES: [u32; 2] = [128, 256];

/// Side of the stored thumbnails.
const THUMB: usize = 16;

/// Largest side of the stored masks.
const MAX_MASK: u32 = 128;

/// Probabilities written for background and lesion pixels and for the
/// normal and abnormal label: confident, never exactly 0 or 1.
const LOW: f32 = 0.01;
const HIGH: f32 = 0.98;

/// Pool cases recalled by nearest thumbnail.
#[derive(Debug, Clone, PartialEq)]
pub struct Memoriser {
    modality: Modality,
    size: u32,
    mask_side: u32,
    /// `cases × THUMB²`.
    thumbs: Vec<f32>,
    /// `cases × mask_side²`, 0 or 1.
    masks: Vec<u8>,
    labels: Vec<bool>,
}

/// Block means of a `size²` image down to `THUMB²`.
fn thumbnail(data: &[f32], size: usize) -> Vec<f32> {
    let b = size / THUMB;
    let mut out = vec![0f32; THUMB * THUMB];
    for ty in 0..THUMB {
        for tx in 0..THUMB {
            let mut acc = 0f64;
            for y in ty * b..(ty + 1) * b {
                for x in tx * b..(tx + 1) * b {
                    acc += f64::from(data[y * size + x]);
                }
            }
            out[ty * THUMB + tx] = (acc / (b * b) as f64) as f32;
        }
    }
    out
}

impl Memoriser {
    /// Renders the first `cases` cases of `modality`'s phantom pool and
    /// stores them. Cases are rendered at the stored mask side (128 for
    /// both sizes: the phantoms' anatomy does not depend on the resolution,
    /// so the thumbnails of a 256² case and of its 128² rendering agree to
    /// a few grey levels). Rendering runs on all available cores; each
    /// result lands in its own slot, so the model is the same whatever the
    /// thread count.
    pub fn build(modality: Modality, size: u32, cases: usize) -> Result<Self, MinersError> {
        if !MEMORISER_SIZES.contains(&size) {
            return Err(MinersError::Size {
                strategy: "memoriser",
                size,
                why: "it stores masks for sizes 128 and 256 only".into(),
            });
        }
        let pool = PhantomPool::new(modality);
        if cases == 0 || cases > pool.len() {
            return Err(MinersError::Param(format!(
                "memoriser cases must be 1..={}, not {cases}",
                pool.len()
            )));
        }
        let mask_side = size.min(MAX_MASK);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, cases);
        type Slot = Option<Result<(Vec<f32>, Vec<u8>, bool), MinersError>>;
        let mut slots: Vec<Slot> = (0..cases).map(|_| None).collect();
        let chunk = cases.div_ceil(threads);
        std::thread::scope(|scope| {
            for (c, out) in slots.chunks_mut(chunk).enumerate() {
                let pool = &pool;
                scope.spawn(move || {
                    for (k, slot) in out.iter_mut().enumerate() {
                        let i = c * chunk + k;
                        *slot = Some(
                            pool.load(i, mask_side)
                                .map_err(|e| MinersError::Pool(e.to_string()))
                                .map(|mut case| {
                                    quantise16(&mut case.image);
                                    let t = thumbnail(&case.image.data, mask_side as usize);
                                    (t, case.mask.data, case.abnormal)
                                }),
                        );
                    }
                });
            }
        });
        let mut m = Memoriser {
            modality,
            size,
            mask_side,
            thumbs: Vec::with_capacity(cases * THUMB * THUMB),
            masks: Vec::with_capacity(cases * (mask_side * mask_side) as usize),
            labels: Vec::with_capacity(cases),
        };
        for slot in slots {
            let (t, mask, label) =
                slot.ok_or_else(|| MinersError::Pool("case not rendered".into()))??;
            m.thumbs.extend(t);
            m.masks.extend(mask.into_iter().map(|v| u8::from(v != 0)));
            m.labels.push(label);
        }
        Ok(m)
    }

    /// Pool cases covered (the first `cases()` of the pool).
    pub fn cases(&self) -> usize {
        self.labels.len()
    }

    /// The modality.
    pub fn modality(&self) -> Modality {
        self.modality
    }

    /// The ONNX bytes.
    pub fn to_onnx(&self) -> Vec<u8> {
        let n = self.cases() as i64;
        let s = i64::from(self.size);
        let t = THUMB as i64;
        let ms = i64::from(self.mask_side);
        let mut g = GraphBuilder::new("medmetric-memoriser");
        g.input(INPUT_NAME, &[1, 1, s, s]);

        // The thumbnail of the input, as a row vector.
        let block = s / t;
        g.node(
            "AveragePool",
            &[INPUT_NAME],
            &["thumb"],
            vec![
                Attr::ints("kernel_shape", &[block, block]),
                Attr::ints("strides", &[block, block]),
            ],
        );
        g.ints("thumb_shape", &[1, t * t]);
        g.node("Reshape", &["thumb", "thumb_shape"], &["query"], vec![]);

        // Squared distance up to the query's own norm: ‖c‖² − 2·q·c.
        let mut keys_t = vec![0f32; (t * t * n) as usize];
        let mut norms = vec![0f32; n as usize];
        for c in 0..n as usize {
            let row = &self.thumbs[c * THUMB * THUMB..(c + 1) * THUMB * THUMB];
            let mut acc = 0f64;
            for (k, &v) in row.iter().enumerate() {
                keys_t[k * n as usize + c] = -2.0 * v;
                acc += f64::from(v) * f64::from(v);
            }
            norms[c] = acc as f32;
        }
        g.weights("keys_t", &[t * t, n], &keys_t);
        g.weights("key_norms", &[n], &norms);
        g.node("MatMul", &["query", "keys_t"], &["cross"], vec![]);
        g.node("Add", &["cross", "key_norms"], &["distance"], vec![]);
        g.node(
            "ArgMin",
            &["distance"],
            &["nearest"],
            vec![Attr::int("axis", 1), Attr::int("keepdims", 0)],
        );

        // The stored mask, confident but never 0 or 1.
        g.initializer(TensorProto {
            name: "masks".into(),
            dims: vec![n, ms * ms],
            data_type: data_type::UINT8,
            raw_data: self.masks.clone(),
            ..Default::default()
        });
        g.node(
            "Gather",
            &["masks", "nearest"],
            &["mask_bytes"],
            vec![Attr::int("axis", 0)],
        );
        g.node(
            "Cast",
            &["mask_bytes"],
            &["mask_bits"],
            vec![Attr::int("to", i64::from(data_type::FLOAT))],
        );
        g.scalar("span", HIGH - LOW);
        g.scalar("low", LOW);
        g.node("Mul", &["mask_bits", "span"], &["mask_scaled"], vec![]);
        g.node("Add", &["mask_scaled", "low"], &["mask_small"], vec![]);
        if ms == s {
            g.ints("mask_shape", &[1, 1, s, s]);
            g.node(
                "Reshape",
                &["mask_small", "mask_shape"],
                &[MASK_OUTPUT],
                vec![],
            );
        } else {
            // Nearest-neighbour upsampling by an integer factor: add two
            // unit axes, broadcast them to the factor, fold them back.
            let f = s / ms;
            g.ints("mask_grid", &[1, 1, ms, 1, ms, 1]);
            g.ints("mask_expand", &[1, 1, ms, f, ms, f]);
            g.ints("mask_shape", &[1, 1, s, s]);
            g.node(
                "Reshape",
                &["mask_small", "mask_grid"],
                &["mask_grid6"],
                vec![],
            );
            g.node(
                "Expand",
                &["mask_grid6", "mask_expand"],
                &["mask_big6"],
                vec![],
            );
            g.node(
                "Reshape",
                &["mask_big6", "mask_shape"],
                &[MASK_OUTPUT],
                vec![],
            );
        }

        let labels: Vec<f32> = self
            .labels
            .iter()
            .map(|&a| if a { HIGH } else { LOW })
            .collect();
        g.weights("labels", &[n], &labels);
        g.node(
            "Gather",
            &["labels", "nearest"],
            &["label"],
            vec![Attr::int("axis", 0)],
        );
        g.ints("cls_shape", &[1, 1]);
        g.node("Reshape", &["label", "cls_shape"], &[CLS_OUTPUT], vec![]);

        g.output(MASK_OUTPUT, &[1, 1, s, s]);
        g.output(CLS_OUTPUT, &[1, 1]);
        g.finish(OPSET)
    }
}
