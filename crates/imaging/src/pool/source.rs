//! Image files in, `[0, 1]` images out: one preprocessing function per
//! format, shared by pools, `eval` and `infer` (docs/model-contract.md#what-the-model-sees: the preprocessing is
//! part of the model contract).
//!
//! The format is recognised from the bytes, never from the file name:
//!
//! | format | recognised by | preprocessing |
//! |---|---|---|
//! | DICOM | `DICM` at offset 128 (or 0) | [`crate::dicom`]: rescale slope/intercept, window (manifest, file, else min-max), MONOCHROME1 inverted, first frame |
//! | NIfTI-1 | `sizeof_hdr = 348` and `n+1` magic, or gzip | [`crate::nifti`]: slice `k` of the third axis (default middle), radiological orientation, min-max |
//! | PNG | PNG signature | 8/16-bit grayscale, min-max over the raw samples: `(v − min)/(max − min)`, constant → zeros |
//! | JPEG | `FF D8 FF` | grayscale baseline/extended/lossless JPEG through the DICOM JPEG codec, min-max |
//!
//! Masks are PNG (nonzero = lesion) or NIfTI label volumes (nonzero =
//! lesion, same slice as the image).
//!
//! ```
//! use medmetric_imaging::pool::{ImageFormat, ImageOptions, ReadLimits, source};
//! use medmetric_imaging::{GrayImage, png_io};
//! use std::path::Path;
//!
//! // An 8-bit PNG using only values 50..=150 is stretched to [0, 1].
//! let img = GrayImage::from_fn(3, 1, |x, _| (50.0 + 50.0 * x as f32) / 255.0);
//! let bytes = png_io::encode_gray8(&img).unwrap();
//! assert_eq!(ImageFormat::sniff(&bytes), Some(ImageFormat::Png));
//! let out = source::decode_image(
//!     Path::new("x.png"), &bytes, &ImageOptions::default(), &ReadLimits::default(),
//! ).unwrap();
//! assert_eq!(out.data, vec![0.0, 0.5, 1.0]);
//! ```

use std::path::Path;

use super::{PoolError, ReadLimits, Window, normalise_min_max, read_bounded};
use crate::png_io::{self, PngLimits};
use crate::{GrayImage, Mask};

/// Image file formats MedMetric reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// DICOM Part 10.
    Dicom,
    /// NIfTI-1 `.nii` or `.nii.gz`.
    Nifti,
    /// PNG.
    Png,
    /// JPEG (JFIF or bare).
    Jpeg,
}

impl ImageFormat {
    /// Recognises a format from the first bytes of a file.
    pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
        if bytes.len() >= 132 && &bytes[128..132] == b"DICM" || bytes.starts_with(b"DICM") {
            return Some(ImageFormat::Dicom);
        }
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(ImageFormat::Png);
        }
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(ImageFormat::Jpeg);
        }
        if bytes.starts_with(&[0x1F, 0x8B]) {
            return Some(ImageFormat::Nifti);
        }
        if bytes.len() >= 4 {
            let n = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            if [348, 540].contains(&n) || [348, 540].contains(&n.swap_bytes()) {
                return Some(ImageFormat::Nifti);
            }
        }
        None
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Dicom => "dicom",
            ImageFormat::Nifti => "nifti",
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
        }
    }
}

/// Per-image options a manifest may give.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImageOptions {
    /// DICOM only: window overriding the file's.
    pub window: Option<Window>,
    /// NIfTI only: slice index along the third axis (default: the middle).
    pub slice: Option<u32>,
}

/// Recognises the format of `bytes` and checks that `opts` apply to it.
pub fn check_format(
    path: &Path,
    bytes: &[u8],
    opts: &ImageOptions,
) -> Result<ImageFormat, PoolError> {
    let format = ImageFormat::sniff(bytes).ok_or_else(|| PoolError::Format {
        path: path.to_path_buf(),
        reason: "not a DICOM, NIfTI, PNG or JPEG file".into(),
    })?;
    check_options(path, format, opts)?;
    Ok(format)
}

/// Checks that `opts` apply to an image of `format`: a window only to
/// DICOM, a slice only to NIfTI.
pub fn check_options(
    path: &Path,
    format: ImageFormat,
    opts: &ImageOptions,
) -> Result<(), PoolError> {
    let bad = |reason: &str| PoolError::Format {
        path: path.to_path_buf(),
        reason: format!("{reason} ({} file)", format.name()),
    };
    if opts.window.is_some() && format != ImageFormat::Dicom {
        return Err(bad("a window applies only to DICOM images"));
    }
    if opts.slice.is_some() && format != ImageFormat::Nifti {
        return Err(bad("a slice applies only to NIfTI volumes"));
    }
    if let Some(w) = opts.window
        && !w.is_valid()
    {
        return Err(bad("window width must be ≥ 1 and finite"));
    }
    Ok(())
}

/// 8/16-bit grayscale PNG → `[0, 1]` by the min-max stretch over the raw
/// integer samples (docs/model-contract.md#what-the-model-sees).
pub fn preprocess_png(bytes: &[u8], limits: &ReadLimits) -> Result<GrayImage, png_io::PngError> {
    let d = png_io::decode_gray(bytes, &png_limits(limits))?;
    Ok(GrayImage {
        width: d.image.width,
        height: d.image.height,
        data: normalise_min_max(&d.raw),
    })
}

fn png_limits(limits: &ReadLimits) -> PngLimits {
    PngLimits {
        max_side: limits.max_side,
        max_bytes: usize::try_from(limits.max_decoded_bytes).unwrap_or(usize::MAX),
    }
}

/// Preprocesses an image file's bytes with its format's shared function.
/// `path` only names the file in errors.
pub fn decode_image(
    path: &Path,
    bytes: &[u8],
    opts: &ImageOptions,
    limits: &ReadLimits,
) -> Result<GrayImage, PoolError> {
    match check_format(path, bytes, opts)? {
        ImageFormat::Png => preprocess_png(bytes, limits).map_err(|source| PoolError::Png {
            path: path.to_path_buf(),
            source,
        }),
        #[cfg(feature = "dicom")]
        ImageFormat::Dicom => crate::dicom::decode(bytes, opts.window, limits)
            .map(|d| d.image)
            .map_err(|source| PoolError::Dicom {
                path: path.to_path_buf(),
                source,
            }),
        #[cfg(feature = "dicom")]
        ImageFormat::Jpeg => {
            crate::dicom::decode_jpeg(bytes, limits).map_err(|source| PoolError::Dicom {
                path: path.to_path_buf(),
                source,
            })
        }
        #[cfg(feature = "nifti")]
        ImageFormat::Nifti => {
            crate::nifti::decode_slice(bytes, opts.slice, limits).map_err(|source| {
                PoolError::Nifti {
                    path: path.to_path_buf(),
                    source,
                }
            })
        }
        #[allow(unreachable_patterns)]
        other => Err(PoolError::Format {
            path: path.to_path_buf(),
            reason: format!("{} support is not built in", other.name()),
        }),
    }
}

/// Reads a mask: PNG (nonzero = lesion) or a NIfTI label volume's slice
/// (`slice`, default the middle).
pub fn decode_mask(
    path: &Path,
    bytes: &[u8],
    slice: Option<u32>,
    limits: &ReadLimits,
) -> Result<Mask, PoolError> {
    match ImageFormat::sniff(bytes) {
        Some(ImageFormat::Png) => {
            png_io::decode_mask(bytes, &png_limits(limits)).map_err(|source| PoolError::Png {
                path: path.to_path_buf(),
                source,
            })
        }
        #[cfg(feature = "nifti")]
        Some(ImageFormat::Nifti) => {
            crate::nifti::decode_label_slice(bytes, slice, limits).map_err(|source| {
                PoolError::Nifti {
                    path: path.to_path_buf(),
                    source,
                }
            })
        }
        other => {
            let _ = slice;
            Err(PoolError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "masks must be PNG or NIfTI label volumes, not {}",
                    other.map_or("an unknown format", ImageFormat::name)
                ),
            })
        }
    }
}

/// Reads (bounded) and preprocesses one image file: the entry point for
/// `eval` and `infer` on a hospital's own files.
pub fn load_image(
    path: &Path,
    opts: &ImageOptions,
    limits: &ReadLimits,
) -> Result<GrayImage, PoolError> {
    let bytes = read_bounded(path, limits.max_file_bytes)?;
    decode_image(path, &bytes, opts, limits)
}
