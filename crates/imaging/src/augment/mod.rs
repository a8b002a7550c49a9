//! Deterministic augmentation for benchmark rounds (docs/augmentation.md).
//!
//! Every operation is an explicit, serialisable parameter struct wrapped in
//! [`Augmentation`]; a round manifest records the list, and anyone replaying
//! it with the same seed gets the same bytes. Randomness inside an operation
//! (Gaussian noise, block offsets) comes only from the 32-byte seed passed to
//! [`apply`], through ChaCha8 and Box–Muller on `libm`. No threads, no
//! platform maths, fixed evaluation order.
//!
//! | operation | struct | touches the mask |
//! |---|---|---|
//! | affine (rotation, scale, shear, translation) | [`AffineParams`] | warped, nearest |
//! | CLAHE, equal to OpenCV's | [`ClaheParams`] | no |
//! | Gaussian noise | [`NoiseParams`] | no |
//! | bit-depth reduction | [`BitDepthParams`] | no |
//! | window/level shift | [`WindowLevelParams`] | no |
//! | stripes or rings | [`StripeParams`] | no |
//! | JPEG-like 8×8 block noise | [`BlockNoiseParams`] | no |
//! | occlusion rectangles | [`OcclusionParams`] | no |
//!
//! [`sample_pipeline`] draws a list from an [`AugmentConfig`] (probabilities
//! and ranges, part of the mechanism config); [`apply_pipeline`] runs a list
//! and returns the combined geometric transform so predictions can be mapped
//! back with [`map_mask_back`]. See `docs/augmentation.md`.
//!
//! ```
//! use medmetric_imaging::augment::{
//!     self, AffineParams, Augmentation, ClaheParams, NoiseParams,
//! };
//! use medmetric_imaging::{GrayImage, Mask};
//!
//! let img = GrayImage::from_fn(64, 48, |x, y| ((x * 3 + y) % 64) as f32 / 63.0);
//! let mut mask = Mask::empty(64, 48);
//! mask.data[24 * 64 + 32] = 1;
//!
//! // CLAHE exactly as cv2.createCLAHE(2.0, (8, 8)).apply on 8-bit samples
//! let bytes: Vec<u8> = img.data.iter().map(|&v| (v * 255.0).round() as u8).collect();
//! let eq = ClaheParams::new(2.0, 8).apply_u8(&bytes, 64, 48).unwrap();
//! assert_eq!(eq.len(), bytes.len());
//!
//! // A recorded pipeline, replayed from a seed
//! let ops = vec![
//!     Augmentation::Affine(AffineParams { rotation_deg: 90.0, ..Default::default() }),
//!     Augmentation::Noise(NoiseParams { sigma: 0.01 }),
//! ];
//! let json = serde_json::to_string(&ops).unwrap();
//! assert!(json.starts_with(r#"[{"op":"affine","rotation_deg":90.0"#));
//! let a = augment::apply_pipeline(&img, Some(&mask), &ops, [7; 32]).unwrap();
//! let b = augment::apply_pipeline(&img, Some(&mask), &ops, [7; 32]).unwrap();
//! assert_eq!(a, b);
//!
//! // map a prediction on the augmented image back to the original frame
//! let back = augment::map_mask_back(a.mask.as_ref().unwrap(), &a.transform).unwrap();
//! assert_eq!(back.data[24 * 64 + 32], 1);
//! ```

mod affine;
mod artifacts;
mod clahe;
mod config;
mod noise;

pub use affine::{
    AffineMatrix, AffineParams, map_image_back, map_mask_back, warp_image, warp_mask,
};
pub use artifacts::{
    BitDepthParams, BlockNoiseParams, MAX_OCCLUSION_RECTS, OcclusionParams, OcclusionRect,
    StripeParams, StripePattern, WindowLevelParams,
};
pub use clahe::{ClaheParams, MAX_LUT_ENTRIES, MAX_TILES};
pub use config::{
    AffineConfig, AugmentConfig, BitDepthConfig, BlockNoiseConfig, ClaheConfig, NoiseConfig,
    OcclusionConfig, RangeF, RangeU, StripesConfig, WindowLevelConfig, sample_pipeline,
};
pub use noise::{NoiseParams, Normals, standard_normal_pair, unit_f64};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{GrayImage, Mask};

/// Why an augmentation could not run. Every variant is a problem with the
/// inputs (parameters, config or image), never an internal failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AugmentError {
    /// A parameter is out of its documented range.
    #[error("invalid {op} parameters: {reason}")]
    InvalidParam {
        /// The operation (`clahe`, `affine`, …).
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An augmentation config (ranges, probabilities) is inconsistent.
    #[error("invalid augmentation config: {0}")]
    Config(String),
    /// The image's sample count does not match its size.
    #[error("image is {width}x{height} but has {len} samples")]
    BadImage {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Samples present.
        len: usize,
    },
    /// The mask does not have the image's size (or its own sample count).
    #[error("mask is {mask_width}x{mask_height} ({len} samples), image is {width}x{height}")]
    MaskSize {
        /// Mask width.
        mask_width: u32,
        /// Mask height.
        mask_height: u32,
        /// Mask samples present.
        len: usize,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// The request would need more memory than allowed.
    #[error("{what} would need {size} entries, more than the limit of {limit}")]
    TooLarge {
        /// What would be allocated.
        what: &'static str,
        /// How much.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl AugmentError {
    pub(crate) fn param(op: &'static str, reason: String) -> Self {
        AugmentError::InvalidParam { op, reason }
    }
}

pub(crate) fn check_image(img: &GrayImage) -> Result<(), AugmentError> {
    if (img.width as usize).checked_mul(img.height as usize) != Some(img.data.len()) {
        return Err(AugmentError::BadImage {
            width: img.width,
            height: img.height,
            len: img.data.len(),
        });
    }
    Ok(())
}

pub(crate) fn check_mask(mask: &Mask) -> Result<(), AugmentError> {
    if (mask.width as usize).checked_mul(mask.height as usize) != Some(mask.data.len()) {
        return Err(AugmentError::MaskSize {
            mask_width: mask.width,
            mask_height: mask.height,
            len: mask.data.len(),
            width: mask.width,
            height: mask.height,
        });
    }
    Ok(())
}

/// One augmentation with all its parameters. Serialises as an object tagged
/// by `"op"`, e.g. `{"op":"clahe","clip_limit":2.0,"tiles_x":8,"tiles_y":8,"bit_depth":16}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Augmentation {
    /// Rotation, scale, shear, translation about the centre; warps the mask.
    Affine(AffineParams),
    /// OpenCV-equal CLAHE at `bit_depth` bits.
    Clahe(ClaheParams),
    /// Additive Gaussian noise from the seed.
    Noise(NoiseParams),
    /// Requantisation to fewer bits.
    BitDepth(BitDepthParams),
    /// Display window change.
    WindowLevel(WindowLevelParams),
    /// Stripes or rings.
    Stripes(StripeParams),
    /// JPEG-like block artifacts with per-block offsets from the seed.
    BlockNoise(BlockNoiseParams),
    /// Constant rectangles over the image.
    Occlusion(OcclusionParams),
}

impl Augmentation {
    /// The `"op"` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Augmentation::Affine(_) => "affine",
            Augmentation::Clahe(_) => "clahe",
            Augmentation::Noise(_) => "noise",
            Augmentation::BitDepth(_) => "bit_depth",
            Augmentation::WindowLevel(_) => "window_level",
            Augmentation::Stripes(_) => "stripes",
            Augmentation::BlockNoise(_) => "block_noise",
            Augmentation::Occlusion(_) => "occlusion",
        }
    }

    /// Checks the parameters without an image.
    pub fn validate(&self) -> Result<(), AugmentError> {
        match self {
            Augmentation::Affine(p) => p.validate(),
            Augmentation::Clahe(p) => p.validate(),
            Augmentation::Noise(p) => p.validate(),
            Augmentation::BitDepth(p) => p.validate(),
            Augmentation::WindowLevel(p) => p.validate(),
            Augmentation::Stripes(p) => p.validate(),
            Augmentation::BlockNoise(p) => p.validate(),
            Augmentation::Occlusion(p) => p.validate(),
        }
    }

    /// The geometric transform this operation applies on a `width × height`
    /// image (identity for intensity operations).
    pub fn transform(&self, width: u32, height: u32) -> Result<AffineMatrix, AugmentError> {
        match self {
            Augmentation::Affine(p) => p.matrix(width, height),
            other => other.validate().map(|()| AffineMatrix::IDENTITY),
        }
    }
}

/// Applies one augmentation to an image and, for geometric operations, to
/// its mask (intensity operations return the mask unchanged). `seed` feeds
/// the operations that draw random numbers; the others ignore it.
pub fn apply(
    img: &GrayImage,
    mask: Option<&Mask>,
    aug: &Augmentation,
    seed: [u8; 32],
) -> Result<(GrayImage, Option<Mask>), AugmentError> {
    check_image(img)?;
    if let Some(m) = mask {
        check_mask(m)?;
        if (m.width, m.height) != (img.width, img.height) {
            return Err(AugmentError::MaskSize {
                mask_width: m.width,
                mask_height: m.height,
                len: m.data.len(),
                width: img.width,
                height: img.height,
            });
        }
    }
    let image = match aug {
        Augmentation::Affine(p) => {
            let m = p.matrix(img.width, img.height)?;
            let image = warp_image(img, &m, p.fill)?;
            let mask = mask.map(|k| warp_mask(k, &m)).transpose()?;
            return Ok((image, mask));
        }
        Augmentation::Clahe(p) => p.apply_gray(img)?,
        Augmentation::Noise(p) => p.apply(img, seed)?,
        Augmentation::BitDepth(p) => p.apply(img)?,
        Augmentation::WindowLevel(p) => p.apply(img)?,
        Augmentation::Stripes(p) => p.apply(img)?,
        Augmentation::BlockNoise(p) => p.apply(img, seed)?,
        Augmentation::Occlusion(p) => p.apply(img)?,
    };
    Ok((image, mask.cloned()))
}

/// Domain of the per-step seeds of [`apply_pipeline`].
pub const STEP_SEED_PURPOSE: &str = "augment/step";

/// The seed step `index` of a pipeline receives:
/// `SHA-256(seed ‖ "augment/step" ‖ 0x00 ‖ index u64 LE)`, the same shape as
/// the round's per-purpose sub-seeds.
pub fn step_seed(seed: [u8; 32], index: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(STEP_SEED_PURPOSE.as_bytes());
    h.update([0u8]);
    h.update(index.to_le_bytes());
    h.finalize().into()
}

/// The result of [`apply_pipeline`].
#[derive(Debug, Clone, PartialEq)]
pub struct Augmented {
    /// The augmented image.
    pub image: GrayImage,
    /// The mask, warped by every geometric step.
    pub mask: Option<Mask>,
    /// All geometric steps composed, original → augmented coordinates;
    /// record it and pass it to [`map_mask_back`].
    pub transform: AffineMatrix,
}

/// Applies `ops` in order, step `i` seeded with [`step_seed`]`(seed, i)`.
pub fn apply_pipeline(
    img: &GrayImage,
    mask: Option<&Mask>,
    ops: &[Augmentation],
    seed: [u8; 32],
) -> Result<Augmented, AugmentError> {
    let mut image = img.clone();
    let mut mask = mask.cloned();
    let mut transform = AffineMatrix::IDENTITY;
    for (i, op) in ops.iter().enumerate() {
        let (next, next_mask) = apply(&image, mask.as_ref(), op, step_seed(seed, i as u64))?;
        transform = transform.then(&op.transform(img.width, img.height)?);
        image = next;
        mask = next_mask;
    }
    Ok(Augmented {
        image,
        mask,
        transform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_json() {
        let ops = vec![
            Augmentation::Affine(AffineParams {
                rotation_deg: 3.25,
                scale: 1.1,
                shear_deg: -2.0,
                translate_x: 0.01,
                translate_y: -0.02,
                fill: 0.0,
            }),
            Augmentation::Clahe(ClaheParams::new(2.5, 8)),
            Augmentation::Noise(NoiseParams { sigma: 0.02 }),
            Augmentation::BitDepth(BitDepthParams { bits: 7 }),
            Augmentation::WindowLevel(WindowLevelParams {
                center: 0.4,
                width: 0.9,
            }),
            Augmentation::Stripes(StripeParams {
                pattern: StripePattern::Rings {
                    center_x: 0.3,
                    center_y: 0.6,
                },
                period: 11.0,
                amplitude: -0.03,
                phase: 0.7,
            }),
            Augmentation::BlockNoise(BlockNoiseParams {
                quality: 40,
                dc_sigma: 0.005,
            }),
            Augmentation::Occlusion(OcclusionParams {
                rects: vec![OcclusionRect {
                    x: 0.1,
                    y: 0.2,
                    width: 0.3,
                    height: 0.1,
                }],
                value: 0.0,
            }),
        ];
        let json = serde_json::to_string(&ops).unwrap();
        let back: Vec<Augmentation> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ops);
        assert!(json.contains(r#""op":"window_level""#), "{json}");
        assert!(json.contains(r#""pattern":{"kind":"rings""#), "{json}");
    }

    #[test]
    fn mismatched_inputs_are_errors() {
        let img = GrayImage::filled(4, 4, 0.5);
        let op = Augmentation::Noise(NoiseParams { sigma: 0.1 });
        assert!(matches!(
            apply(&img, Some(&Mask::empty(4, 3)), &op, [0; 32]),
            Err(AugmentError::MaskSize { .. })
        ));
        let broken = GrayImage {
            width: 5,
            height: 5,
            data: vec![0.0; 3],
        };
        assert!(matches!(
            apply(&broken, None, &op, [0; 32]),
            Err(AugmentError::BadImage { .. })
        ));
    }

    #[test]
    fn step_seeds_differ() {
        assert_ne!(step_seed([0; 32], 0), step_seed([0; 32], 1));
        assert_ne!(step_seed([0; 32], 0), step_seed([1; 32], 0));
    }
}
