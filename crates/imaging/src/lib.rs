//! # medmetric-imaging
//!
//! Images as MedMetric sees them: single-channel, row-major, values
//! normalised to `[0, 1]`; masks as bytes (0 = background, 1 = lesion).
//! This crate reads and writes them; it never touches the network.
//!
//! ```
//! use medmetric_imaging::{GrayImage, png_io};
//!
//! let img = GrayImage::from_fn(4, 3, |x, y| (x + y) as f32 / 5.0);
//! let bytes = png_io::encode_gray16(&img).unwrap();
//! let back = png_io::decode_gray(&bytes, &png_io::PngLimits::default()).unwrap();
//! assert_eq!((back.image.width, back.image.height), (4, 3));
//! assert!((back.image.get(3, 2) - 1.0).abs() < 1e-4);
//! ```

#![warn(missing_docs)]

pub mod augment;
#[cfg(feature = "dicom")]
pub mod dicom;
#[cfg(feature = "nifti")]
pub mod nifti;
pub mod phantom;
pub mod png_io;
pub mod pool;

/// A single-channel float image, row-major, values in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `width * height` samples.
    pub data: Vec<f32>,
}

impl GrayImage {
    /// An image filled with `value`.
    pub fn filled(width: u32, height: u32, value: f32) -> Self {
        GrayImage {
            width,
            height,
            data: vec![value; width as usize * height as usize],
        }
    }

    /// An image whose pixel `(x, y)` is `f(x, y)`.
    pub fn from_fn(width: u32, height: u32, mut f: impl FnMut(u32, u32) -> f32) -> Self {
        let mut data = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height {
            for x in 0..width {
                data.push(f(x, y));
            }
        }
        GrayImage {
            width,
            height,
            data,
        }
    }

    /// Sample at `(x, y)`; panics when out of bounds, like slice indexing.
    pub fn get(&self, x: u32, y: u32) -> f32 {
        self.data[y as usize * self.width as usize + x as usize]
    }

    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bilinear resampling to `width × height` (pixel centres aligned, edges
    /// clamped). Plain `f32` arithmetic in a fixed order: deterministic.
    pub fn resize_bilinear(&self, width: u32, height: u32) -> GrayImage {
        let (sw, sh) = (self.width as f32, self.height as f32);
        let (sx, sy) = (sw / width as f32, sh / height as f32);
        let (maxx, maxy) = (self.width.saturating_sub(1), self.height.saturating_sub(1));
        GrayImage::from_fn(width, height, |x, y| {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, maxx as f32);
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, maxy as f32);
            let (x0, y0) = (fx as u32, fy as u32);
            let (x1, y1) = ((x0 + 1).min(maxx), (y0 + 1).min(maxy));
            let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
            let top = self.get(x0, y0) * (1.0 - ax) + self.get(x1, y0) * ax;
            let bottom = self.get(x0, y1) * (1.0 - ax) + self.get(x1, y1) * ax;
            top * (1.0 - ay) + bottom * ay
        })
    }
}

pub use medmetric_core::Modality;

/// One labelled case: an image, its lesion mask and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Stable identifier within its pool.
    pub id: String,
    /// The study type.
    pub modality: Modality,
    /// Intensities in `[0, 1]`.
    pub image: GrayImage,
    /// Lesion mask, same size as the image (empty for normal cases).
    pub mask: Mask,
    /// Whether the case is abnormal.
    pub abnormal: bool,
}

/// A binary lesion mask, row-major: 1 = lesion, 0 = background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `width * height` values, each 0 or 1.
    pub data: Vec<u8>,
}

impl Mask {
    /// An empty mask.
    pub fn empty(width: u32, height: u32) -> Self {
        Mask {
            width,
            height,
            data: vec![0; width as usize * height as usize],
        }
    }

    /// Whether any pixel is lesion.
    pub fn any(&self) -> bool {
        self.data.iter().any(|&v| v != 0)
    }

    /// Nearest-neighbour resampling to `width × height` (pixel centres
    /// aligned), so a mask stays binary.
    pub fn resize_nearest(&self, width: u32, height: u32) -> Mask {
        let mut data = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height {
            let sy = ((u64::from(y) * 2 + 1) * u64::from(self.height) / (2 * u64::from(height)))
                .min(u64::from(self.height.saturating_sub(1)));
            for x in 0..width {
                let sx = ((u64::from(x) * 2 + 1) * u64::from(self.width) / (2 * u64::from(width)))
                    .min(u64::from(self.width.saturating_sub(1)));
                data.push(self.data[(sy * u64::from(self.width) + sx) as usize]);
            }
        }
        Mask {
            width,
            height,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_identity_and_constant() {
        let img = GrayImage::from_fn(7, 5, |x, y| (x * 5 + y) as f32 / 40.0);
        assert_eq!(img.resize_bilinear(7, 5), img);
        let c = GrayImage::filled(9, 9, 0.25).resize_bilinear(4, 13);
        assert!(c.data.iter().all(|&v| (v - 0.25).abs() < 1e-6));
    }

    #[test]
    fn mask_resize_stays_binary_and_keeps_shape() {
        let mut m = Mask::empty(8, 8);
        for y in 2..6 {
            for x in 2..6 {
                m.data[y * 8 + x] = 1;
            }
        }
        let up = m.resize_nearest(16, 16);
        assert_eq!(up.data.iter().filter(|&&v| v == 1).count(), 64);
        assert_eq!(up.resize_nearest(8, 8), m);
    }

    #[test]
    fn modality_names_round_trip() {
        for m in Modality::ALL {
            assert_eq!(m.name().parse::<Modality>(), Ok(m));
        }
    }
}
