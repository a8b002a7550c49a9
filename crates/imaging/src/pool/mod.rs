//! Data pools: named, content-addressed collections of labelled cases that
//! benchmark rounds sample from (docs/pools.md).
//!
//! A [`Pool`] lists its cases ([`CaseInfo`]: id, modality, label, whether
//! the lesion mask is known) and loads any of them at a requested square
//! size. Its [`digest`](Pool::digest) is a SHA-256 over a canonical listing
//! of every case's id, label, modality, loading options and the SHA-256 of
//! every file it reads, sorted by id: two validators holding the same pool
//! compute the same digest whatever their directory order, and the round
//! manifest records it.
//!
//! Pools here:
//! - [`FolderPool`]: a folder with a `pool.json` (or `manifest.csv`) manifest
//!   listing DICOM, NIfTI, PNG or JPEG images with masks and labels
//!   ([`manifest`] documents the format);
//! - importers ([`import`]) that turn public dataset layouts — BraTS case
//!   folders, RSNA Pneumonia boxes, CheXpert labels — into the same manifest.
//!
//! Every image format has one preprocessing function, shared by the
//! validator, `eval` and `infer` ([`source`]); [`load`](Pool::load) then
//! letterboxes the image to a square and resamples it ([`fit_square`]).
//!
//! ```
//! use medmetric_imaging::pool::{FolderPool, Pool, ReadLimits};
//! use medmetric_imaging::{GrayImage, Modality, png_io};
//!
//! let dir = std::env::temp_dir().join(format!("mm-pool-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let img = GrayImage::from_fn(40, 20, |x, _| x as f32 / 39.0);
//! std::fs::write(dir.join("a.png"), png_io::encode_gray8(&img).unwrap()).unwrap();
//! std::fs::write(
//!     dir.join("pool.json"),
//!     r#"{"format": "medmetric-pool/1", "name": "demo",
//!         "cases": [{"image": "a.png", "label": "normal", "modality": "cxr"}]}"#,
//! )
//! .unwrap();
//!
//! let pool = FolderPool::open(&dir, &ReadLimits::default()).unwrap();
//! assert_eq!((pool.name(), pool.len()), ("demo", 1));
//! let case = pool.load(0, 32).unwrap();
//! assert_eq!((case.image.width, case.image.height), (32, 32));
//! assert_eq!(case.modality, Modality::Cxr);
//! assert!(pool.info(0).unwrap().mask_known); // normal: the mask is empty by label
//! println!("pool digest {}", hex::encode(pool.digest()));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::path::{Path, PathBuf};

use crate::{Case, GrayImage, Mask, Modality};

mod folder;
pub mod import;
pub mod manifest;
pub mod source;

pub use folder::{FolderPool, LISTING_HEADER, boxes_mask};
pub use manifest::{Label, Manifest, ManifestCase};
pub use source::{ImageFormat, ImageOptions};

/// What a pool says about one case without loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseInfo {
    /// Stable identifier, unique within the pool.
    pub id: String,
    /// Study type.
    pub modality: Modality,
    /// Whether the case is abnormal.
    pub abnormal: bool,
    /// Whether the loaded mask is ground truth. When `false` (e.g. a CheXpert
    /// abnormal case: a label, no outline) the loaded mask is all zeros and
    /// scoring must skip segmentation for the case.
    pub mask_known: bool,
}

/// A named, content-addressed collection of cases. Object safe: rounds hold
/// `Box<dyn Pool>`.
pub trait Pool: Send + Sync {
    /// The pool's name (not part of its digest).
    fn name(&self) -> &str;

    /// SHA-256 over the pool's canonical listing (see the module docs).
    fn digest(&self) -> [u8; 32];

    /// Number of cases.
    fn len(&self) -> usize;

    /// Whether the pool has no cases.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Case `index`, or `None` past the end. Cases are ordered by id.
    fn info(&self, index: usize) -> Option<&CaseInfo>;

    /// Modality of case `index`.
    fn modality_of(&self, index: usize) -> Option<Modality> {
        self.info(index).map(|i| i.modality)
    }

    /// Label of case `index`.
    fn is_abnormal(&self, index: usize) -> Option<bool> {
        self.info(index).map(|i| i.abnormal)
    }

    /// Whether case `index` has a ground-truth mask.
    fn mask_known(&self, index: usize) -> Option<bool> {
        self.info(index).map(|i| i.mask_known)
    }

    /// Loads case `index` as a `size × size` image and mask: the
    /// preprocessed image and its mask are letterboxed to a square and
    /// resampled ([`fit_square`]).
    fn load(&self, index: usize, size: u32) -> Result<Case, PoolError>;
}

/// Bounds on what reading one file may cost. Files over `max_file_bytes` are
/// refused before they are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
    /// Largest accepted image width or height.
    pub max_side: u32,
    /// Largest decoded pixel buffer (one DICOM frame, one NIfTI volume, one
    /// PNG), in bytes.
    pub max_decoded_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_file_bytes: 512 << 20,
            max_side: 8192,
            max_decoded_bytes: 512 << 20,
        }
    }
}

/// A VOI window: centre and width in modality units (e.g. Hounsfield).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Window centre (level).
    pub center: f64,
    /// Window width, ≥ 1.
    pub width: f64,
}

impl Window {
    /// Finite centre and a finite width of at least 1 (the DICOM rule).
    pub fn is_valid(&self) -> bool {
        self.center.is_finite() && self.width.is_finite() && self.width >= 1.0
    }
}

/// The shared min-max stretch: `(v − min) / (max − min)` over the finite
/// values; a constant input gives zeros, non-finite values give 0.
/// Computed in `f64`, rounded to `f32`.
pub fn normalise_min_max<T: Copy + Into<f64>>(values: &[T]) -> Vec<f32> {
    let (lo, hi) = values
        .iter()
        .map(|&v| v.into())
        .filter(|v: &f64| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    // No finite value leaves lo = +inf, hi = -inf.
    if hi <= lo {
        return vec![0.0; values.len()];
    }
    let range = hi - lo;
    values
        .iter()
        .map(|&v| {
            let v: f64 = v.into();
            if v.is_finite() {
                ((v - lo) / range) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// How [`fit_square`] placed an image in its square: the image occupies
/// columns `left..left + width` and rows `top..top + height` of a
/// `side × side` canvas before that canvas is resampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Letterbox {
    /// Side of the padded square, `max(width, height)`.
    pub side: u32,
    /// Zero columns added on the left, `(side − width) / 2` rounded down.
    pub left: u32,
    /// Zero rows added on top, `(side − height) / 2` rounded down.
    pub top: u32,
    /// Original width.
    pub width: u32,
    /// Original height.
    pub height: u32,
}

/// Letterboxes `image` and `mask` (same size) to a square, centred, padding
/// with zeros (image) and background (mask), then resamples to
/// `size × size`: bilinear for the image, nearest for the mask. This is
/// what [`Pool::load`] returns, and what `eval`/`infer` apply to a
/// hospital's image; [`Letterbox`] maps predictions back.
pub fn fit_square(image: &GrayImage, mask: &Mask, size: u32) -> (GrayImage, Mask, Letterbox) {
    let (w, h) = (image.width, image.height);
    let side = w.max(h);
    let lb = Letterbox {
        side,
        left: (side - w) / 2,
        top: (side - h) / 2,
        width: w,
        height: h,
    };
    let (img, m) = if w == h {
        (image.clone(), mask.clone())
    } else {
        let inside =
            |x: u32, y: u32| x >= lb.left && x < lb.left + w && y >= lb.top && y < lb.top + h;
        let img = GrayImage::from_fn(side, side, |x, y| {
            if inside(x, y) {
                image.get(x - lb.left, y - lb.top)
            } else {
                0.0
            }
        });
        let mut m = Mask::empty(side, side);
        for y in 0..h {
            let src = &mask.data[(y * w) as usize..((y + 1) * w) as usize];
            let start = ((y + lb.top) * side + lb.left) as usize;
            m.data[start..start + w as usize].copy_from_slice(src);
        }
        (img, m)
    };
    if side == size {
        (img, m, lb)
    } else {
        (
            img.resize_bilinear(size, size),
            m.resize_nearest(size, size),
            lb,
        )
    }
}

/// Why a pool, a manifest or a case could not be used. Every variant names
/// the file; messages are one line.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// File or folder.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is larger than the limit; it was not read.
    #[error("{}: {size} bytes exceeds the {max}-byte file limit", path.display())]
    FileTooLarge {
        /// File.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// Limit in force.
        max: u64,
    },
    /// The manifest or an importer's CSV is invalid.
    #[error("{}: {location}{reason}", path.display())]
    Manifest {
        /// Manifest or CSV file.
        path: PathBuf,
        /// `"line N: "`, `"case N: "` or empty.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A dataset folder does not have the expected layout.
    #[error("{}: {reason}", path.display())]
    Layout {
        /// Folder or file.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// The image's format could not be recognised or is not built in.
    #[error("{}: {reason}", path.display())]
    Format {
        /// Image file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// A PNG image or mask could not be used.
    #[error("{}: {source}", path.display())]
    Png {
        /// File.
        path: PathBuf,
        /// Underlying error.
        source: crate::png_io::PngError,
    },
    /// A DICOM (or JPEG) image could not be used.
    #[cfg(feature = "dicom")]
    #[error("{}: {source}", path.display())]
    Dicom {
        /// File.
        path: PathBuf,
        /// Underlying error.
        source: crate::dicom::DicomError,
    },
    /// A NIfTI image or label volume could not be used.
    #[cfg(feature = "nifti")]
    #[error("{}: {source}", path.display())]
    Nifti {
        /// File.
        path: PathBuf,
        /// Underlying error.
        source: crate::nifti::NiftiError,
    },
    /// A mask does not fit its image.
    #[error("{}: mask is {mask_width}x{mask_height}, image is {width}x{height}", path.display())]
    MaskMismatch {
        /// Mask file.
        path: PathBuf,
        /// Mask width.
        mask_width: u32,
        /// Mask height.
        mask_height: u32,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// The file's bytes changed since the pool was opened (its digest would
    /// no longer hold).
    #[error("{}: file changed since the pool was opened", path.display())]
    Changed {
        /// File.
        path: PathBuf,
    },
    /// A case index past the end of the pool.
    #[error("case {index} is out of range (pool has {len})")]
    OutOfRange {
        /// Requested index.
        index: usize,
        /// Cases in the pool.
        len: usize,
    },
    /// A requested output size of 0 or above the side limit.
    #[error("output size {size} is not in 1..={max}")]
    BadSize {
        /// Requested size.
        size: u32,
        /// Side limit.
        max: u32,
    },
}

impl PoolError {
    pub(crate) fn manifest(path: &Path, location: String, reason: impl Into<String>) -> Self {
        PoolError::Manifest {
            path: path.to_path_buf(),
            location,
            reason: reason.into(),
        }
    }

    pub(crate) fn layout(path: &Path, reason: impl Into<String>) -> Self {
        PoolError::Layout {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Reads a whole file, refusing it before reading when it is larger than
/// `max` bytes (and stopping at `max + 1` bytes should it grow meanwhile).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, PoolError> {
    use std::io::Read;
    let io = |source| PoolError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(PoolError::Format {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    let too_large = |size| PoolError::FileTooLarge {
        path: path.to_path_buf(),
        size,
        max,
    };
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_stretch_and_constant() {
        assert_eq!(normalise_min_max(&[2u16, 4, 6]), vec![0.0, 0.5, 1.0]);
        assert_eq!(normalise_min_max(&[7u8, 7, 7]), vec![0.0; 3]);
        assert_eq!(
            normalise_min_max(&[f32::NAN, 1.0, 3.0]),
            vec![0.0, 0.0, 1.0]
        );
    }

    #[test]
    fn letterbox_centres_and_pads() {
        let img = GrayImage::filled(4, 2, 1.0);
        let mut mask = Mask::empty(4, 2);
        mask.data[0] = 1;
        let (i, m, lb) = fit_square(&img, &mask, 4);
        assert_eq!(
            lb,
            Letterbox {
                side: 4,
                left: 0,
                top: 1,
                width: 4,
                height: 2
            }
        );
        assert_eq!(i.get(0, 0), 0.0);
        assert_eq!(i.get(0, 1), 1.0);
        assert_eq!(i.get(3, 3), 0.0);
        assert_eq!(m.data[4], 1);
        assert_eq!(m.data.iter().filter(|&&v| v == 1).count(), 1);
        let (i, m, _) = fit_square(&img, &mask, 8);
        assert_eq!((i.width, m.height), (8, 8));
    }
}
