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

pub mod png_io;

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
}
