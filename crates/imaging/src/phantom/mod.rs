//! Built-in procedural phantoms: a chest radiograph, a brain MRI slice and a
//! long-bone radiograph, each optionally carrying a lesion whose mask is known
//! by construction.
//!
//! These are the embedded default pool (docs/phantoms.md): every validator can build
//! them from nothing but a seed. They are drawn from analytic anatomy —
//! lungs, ribs and heart; skull, ventricles and a folded cortex; a tibia with
//! cortex and trabecular marrow — with intensities made the way the modality
//! makes them (summed attenuation through an exponential for radiographs,
//! tissue fractions times a T1/T1c/T2/FLAIR table for MRI). They look right at
//! a glance; `docs/phantoms.md` says what they model and where they are crude.
//!
//! # Determinism
//!
//! `(modality, size, seed, abnormal)` fixes the output bit for bit on every
//! machine: every random choice comes from ChaCha8 streams keyed by
//! `SHA-256("medmetric/phantom/v1" ‖ 0 ‖ label ‖ 0 ‖ seed)`, one label per
//! purpose (anatomy, vessels, lesion, grain …), transcendental functions come
//! from `libm`, and pixels are computed in a fixed order on one thread.
//!
//! The anatomy does not depend on `abnormal`: the abnormal case of a seed is
//! the normal case of that seed with a lesion painted in, and nothing changes
//! away from the lesion (a displaced fracture also moves its distal
//! fragment). Anatomy is drawn in resolution-independent units, so
//! one seed gives the same patient at every size (lesions are only widened
//! to a pixel or two at tiny sizes so the mask is never empty).
//!
//! # Masks
//!
//! A lesion is painted through a weight field `w ∈ [0, 1]`; the mask is
//! exactly the pixels with `w ≥ ½` (for brain tumours: the BraTS "whole
//! tumour", i.e. enhancing rim, necrotic core and oedema). Normal cases have
//! empty masks; abnormal cases never do.
//!
//! ```
//! use medmetric_imaging::{Modality, phantom};
//!
//! let seed = [7u8; 32];
//! let (case, info) = phantom::generate_with_info(Modality::Brain, 64, seed, true);
//! assert_eq!((case.image.width, case.image.height), (64, 64));
//! assert!(case.abnormal && case.mask.any());
//! assert_eq!(info.kind, Some(phantom::LesionKind::Tumour));
//! assert!(info.contrast.is_some());
//!
//! // Same inputs, same bytes; the normal twin shares the anatomy.
//! assert_eq!(phantom::generate(Modality::Brain, 64, seed, true), case);
//! let normal = phantom::generate(Modality::Brain, 64, seed, false);
//! assert!(!normal.mask.any());
//! ```

mod bone;
mod brain;
mod common;
mod cxr;

use crate::{Case, GrayImage, Mask, Modality};

/// Names this generator in pool digests and manifests; bumped whenever the
/// output for some input changes.
pub const GENERATOR: &str = "medmetric-phantom/1";

/// Largest supported side, in pixels.
pub const MAX_SIZE: u32 = 8192;

/// The pathology painted into an abnormal phantom.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LesionKind {
    /// Chest: one to three round, soft-edged pulmonary nodules.
    Nodule,
    /// Chest: patchy air-space opacity confined to one lung zone.
    Consolidation,
    /// Brain: mass with enhancing rim and, when large, a necrotic core,
    /// surrounded by white-matter oedema.
    Tumour,
    /// Bone: lucent line across the shaft, sometimes displaced.
    Fracture,
    /// Bone: lucent, moth-eaten destruction of marrow and cortex.
    LyticLesion,
}

impl LesionKind {
    /// Every kind, in a stable order.
    pub const ALL: [LesionKind; 5] = [
        LesionKind::Nodule,
        LesionKind::Consolidation,
        LesionKind::Tumour,
        LesionKind::Fracture,
        LesionKind::LyticLesion,
    ];

    /// The snake-case name used in manifests.
    pub fn name(self) -> &'static str {
        match self {
            LesionKind::Nodule => "nodule",
            LesionKind::Consolidation => "consolidation",
            LesionKind::Tumour => "tumour",
            LesionKind::Fracture => "fracture",
            LesionKind::LyticLesion => "lytic_lesion",
        }
    }
}

impl std::fmt::Display for LesionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// MRI weighting of a brain phantom, drawn per case from the seed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MrContrast {
    /// T1-weighted: CSF dark, white matter brighter than grey, fat bright.
    T1,
    /// T1-weighted after gadolinium: as T1, and a tumour's rim enhances.
    T1c,
    /// T2-weighted: CSF bright, grey matter brighter than white.
    T2,
    /// FLAIR: T2-like with CSF suppressed, so oedema stands out.
    Flair,
}

impl MrContrast {
    /// Every weighting, in a stable order.
    pub const ALL: [MrContrast; 4] = [
        MrContrast::T1,
        MrContrast::T1c,
        MrContrast::T2,
        MrContrast::Flair,
    ];

    /// The snake-case name used in manifests.
    pub fn name(self) -> &'static str {
        match self {
            MrContrast::T1 => "t1",
            MrContrast::T1c => "t1c",
            MrContrast::T2 => "t2",
            MrContrast::Flair => "flair",
        }
    }
}

/// What was drawn, for manifests: not needed to use the case.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PhantomInfo {
    /// The pathology, `None` for a normal case.
    pub kind: Option<LesionKind>,
    /// Number of separate lesions painted (nodules can be several).
    pub lesions: u32,
    /// MRI weighting (brain only).
    pub contrast: Option<MrContrast>,
}

/// The pathologies a modality's abnormal phantoms are drawn from, each about
/// equally often.
pub fn lesion_kinds(modality: Modality) -> &'static [LesionKind] {
    match modality {
        Modality::Cxr => &[LesionKind::Nodule, LesionKind::Consolidation],
        Modality::Brain => &[LesionKind::Tumour],
        Modality::Bone => &[LesionKind::Fracture, LesionKind::LyticLesion],
    }
}

/// A `size × size` phantom of `modality` for `seed`, with a lesion when
/// `abnormal`. See [`generate_with_info`].
///
/// # Panics
///
/// When `size` exceeds [`MAX_SIZE`].
pub fn generate(modality: Modality, size: u32, seed: [u8; 32], abnormal: bool) -> Case {
    generate_with_info(modality, size, seed, abnormal).0
}

/// A `size × size` phantom and what it contains.
///
/// The case id is `phantom-<modality>-<first 8 seed bytes in hex>`; it does
/// not reveal the label, so callers that draw a normal and an abnormal case
/// from one seed must rename one of them. Any size works; below about 64
/// pixels the anatomy is only a blur. A release build takes roughly
/// 15–25 ms at 256² and 50–120 ms at 512² (chest is the slowest).
///
/// # Panics
///
/// When `size` exceeds [`MAX_SIZE`].
pub fn generate_with_info(
    modality: Modality,
    size: u32,
    seed: [u8; 32],
    abnormal: bool,
) -> (Case, PhantomInfo) {
    assert!(
        size <= MAX_SIZE,
        "phantom size {size} exceeds the maximum {MAX_SIZE}"
    );
    let out = match modality {
        Modality::Cxr => cxr::render(size, &seed, abnormal),
        Modality::Brain => brain::render(size, &seed, abnormal),
        Modality::Bone => bone::render(size, &seed, abnormal),
    };
    let id = format!("phantom-{}-{}", modality.name(), hex::encode(&seed[..8]));
    let case = Case {
        id,
        modality,
        image: GrayImage {
            width: size,
            height: size,
            data: out.image,
        },
        mask: Mask {
            width: size,
            height: size,
            data: out.mask,
        },
        abnormal,
    };
    (case, out.info)
}

/// What a modality renderer hands back.
struct Rendered {
    image: Vec<f32>,
    mask: Vec<u8>,
    info: PhantomInfo,
}

/// Chooses an abnormal case's pathology from its own stream.
fn pick_kind(modality: Modality, seed: &[u8; 32]) -> LesionKind {
    let kinds = lesion_kinds(modality);
    let mut rng = common::Rand::new(seed, &format!("{}/kind", modality.name()));
    kinds[rng.int(0, kinds.len() as u32 - 1) as usize]
}

/// Converts per-pixel `f64` values to `[0, 1]` `f32`, mapping any stray
/// non-finite value to 0 so no NaN ever leaves the generator.
fn finish(values: Vec<f64>) -> Vec<f32> {
    values
        .into_iter()
        .map(|v| {
            if v.is_finite() {
                v.clamp(0.0, 1.0) as f32
            } else {
                0.0
            }
        })
        .collect()
}
