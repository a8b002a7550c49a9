//! Acquisition and storage artifacts: bit-depth reduction, window/level
//! shift, stripes or rings, JPEG-like 8×8 block noise, and occlusion.
//!
//! Every operation is an explicit parameter struct: what a manifest records is
//! exactly what was applied. Only [`BlockNoiseParams`] draws random numbers
//! (its per-block offsets), from the seed given to it.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::noise::Normals;
use super::{AugmentError, check_image};
use crate::GrayImage;

fn map_pixels(img: &GrayImage, f: impl Fn(f32) -> f32) -> GrayImage {
    GrayImage {
        width: img.width,
        height: img.height,
        data: img.data.iter().map(|&v| f(v)).collect(),
    }
}

/// Requantisation to `2^bits` levels, as if the detector stored fewer bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitDepthParams {
    /// Bits kept, `1..=16`.
    pub bits: u8,
}

impl BitDepthParams {
    /// Checks `bits`.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if !(1..=16).contains(&self.bits) {
            return Err(AugmentError::param(
                "bit_depth",
                format!("bits {} not in 1..=16", self.bits),
            ));
        }
        Ok(())
    }

    /// `round(clamp(v) · L) / L` with `L = 2^bits − 1`.
    pub fn apply(&self, img: &GrayImage) -> Result<GrayImage, AugmentError> {
        self.validate()?;
        check_image(img)?;
        let levels = ((1u32 << self.bits) - 1) as f32;
        Ok(map_pixels(img, |v| {
            (v.clamp(0.0, 1.0) * levels).round() / levels
        }))
    }
}

/// A display window other than the one the image was stored with: values
/// in `[center − width/2, center + width/2]` are stretched to `[0, 1]`,
/// the rest saturate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowLevelParams {
    /// Window centre (level), `-1..=2`.
    pub center: f64,
    /// Window width, `0.001..=4`.
    pub width: f64,
}

impl WindowLevelParams {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if !(-1.0..=2.0).contains(&self.center) || !(0.001..=4.0).contains(&self.width) {
            return Err(AugmentError::param(
                "window_level",
                format!(
                    "center {} / width {} not in -1..=2 / 0.001..=4",
                    self.center, self.width
                ),
            ));
        }
        Ok(())
    }

    /// `clamp((v − (center − width/2)) / width)`.
    pub fn apply(&self, img: &GrayImage) -> Result<GrayImage, AugmentError> {
        self.validate()?;
        check_image(img)?;
        let lo = (self.center - self.width / 2.0) as f32;
        let width = self.width as f32;
        Ok(map_pixels(img, |v| ((v - lo) / width).clamp(0.0, 1.0)))
    }
}

/// Where the sinusoidal pattern of [`StripeParams`] varies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StripePattern {
    /// Horizontal bands: the pattern varies with the row.
    Horizontal,
    /// Vertical bands: the pattern varies with the column.
    Vertical,
    /// Concentric rings (CT ring artifact) about a centre given as
    /// fractions of the width and height.
    Rings {
        /// Centre column as a fraction of the width, `0..=1`.
        center_x: f64,
        /// Centre row as a fraction of the height, `0..=1`.
        center_y: f64,
    },
}

/// Detector stripes or CT rings: `v + amplitude · sin(2π d / period + phase)`,
/// clamped, where `d` is the row, the column or the distance to the ring
/// centre in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeParams {
    /// Direction of variation.
    pub pattern: StripePattern,
    /// Period in pixels, `2..=100000`.
    pub period: f64,
    /// Peak intensity change, `-1..=1`.
    pub amplitude: f64,
    /// Phase in radians, `-100..=100`.
    #[serde(default)]
    pub phase: f64,
}

impl StripeParams {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let ok = (2.0..=100_000.0).contains(&self.period)
            && (-1.0..=1.0).contains(&self.amplitude)
            && (-100.0..=100.0).contains(&self.phase)
            && match self.pattern {
                StripePattern::Rings { center_x, center_y } => {
                    (0.0..=1.0).contains(&center_x) && (0.0..=1.0).contains(&center_y)
                }
                _ => true,
            };
        if !ok {
            return Err(AugmentError::param(
                "stripes",
                format!("{self:?} out of range"),
            ));
        }
        Ok(())
    }

    /// Adds the pattern.
    pub fn apply(&self, img: &GrayImage) -> Result<GrayImage, AugmentError> {
        self.validate()?;
        check_image(img)?;
        let w = img.width as usize;
        let k = 2.0 * std::f64::consts::PI / self.period;
        let wave = |d: f64| (self.amplitude * libm::sin(k * d + self.phase)) as f32;
        // one table per row or column; rings per pixel
        let rows: Vec<f32>;
        let cols: Vec<f32>;
        let (cx, cy) = match self.pattern {
            StripePattern::Rings { center_x, center_y } => (
                center_x * f64::from(img.width.max(1) - 1),
                center_y * f64::from(img.height.max(1) - 1),
            ),
            _ => (0.0, 0.0),
        };
        match self.pattern {
            StripePattern::Horizontal => {
                rows = (0..img.height).map(|y| wave(f64::from(y))).collect();
                cols = Vec::new();
            }
            StripePattern::Vertical => {
                rows = Vec::new();
                cols = (0..img.width).map(|x| wave(f64::from(x))).collect();
            }
            StripePattern::Rings { .. } => {
                rows = Vec::new();
                cols = Vec::new();
            }
        }
        let data = img
            .data
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (x, y) = (i % w.max(1), i / w.max(1));
                let add = match self.pattern {
                    StripePattern::Horizontal => rows[y],
                    StripePattern::Vertical => cols[x],
                    StripePattern::Rings { .. } => {
                        let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                        wave(libm::sqrt(dx * dx + dy * dy))
                    }
                };
                (v + add).clamp(0.0, 1.0)
            })
            .collect();
        Ok(GrayImage {
            width: img.width,
            height: img.height,
            data,
        })
    }
}

/// The JPEG standard's luminance quantisation table (ITU T.81, Annex K).
const JPEG_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// JPEG-like block artifacts: every 8×8 block (edge blocks padded by
/// repeating the last row and column) goes through a DCT, has its
/// coefficients quantised with the standard luminance table at `quality`
/// (IJG scaling), comes back, and is shifted by its own Gaussian offset
/// with standard deviation `dc_sigma` drawn from the seed, block by block in
/// row-major order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockNoiseParams {
    /// JPEG quality, `1..=100` (lower is blockier).
    pub quality: u8,
    /// Per-block offset standard deviation, `0..=1`.
    #[serde(default)]
    pub dc_sigma: f64,
}

impl BlockNoiseParams {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if !(1..=100).contains(&self.quality) || !(0.0..=1.0).contains(&self.dc_sigma) {
            return Err(AugmentError::param(
                "block_noise",
                format!(
                    "quality {} / dc_sigma {} not in 1..=100 / [0, 1]",
                    self.quality, self.dc_sigma
                ),
            ));
        }
        Ok(())
    }

    /// The quantisation table at this quality (IJG: scale `5000 / q` below
    /// 50, `200 − 2q` above; entries clamped to `1..=255`).
    pub fn table(&self) -> [f32; 64] {
        let q = u32::from(self.quality.clamp(1, 100));
        let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
        let mut t = [0f32; 64];
        for (o, &b) in t.iter_mut().zip(&JPEG_LUMA) {
            *o = ((u32::from(b) * scale + 50) / 100).clamp(1, 255) as f32;
        }
        t
    }

    /// Applies the artifact, drawing the block offsets from `seed`.
    pub fn apply(&self, img: &GrayImage, seed: [u8; 32]) -> Result<GrayImage, AugmentError> {
        self.validate()?;
        check_image(img)?;
        let (w, h) = (img.width as usize, img.height as usize);
        let table = self.table();
        let basis = dct_basis();
        let mut normals = Normals::new(ChaCha8Rng::from_seed(seed));
        let mut out = img.data.clone();
        let mut block = [0f32; 64];
        for by in (0..h).step_by(8) {
            for bx in (0..w).step_by(8) {
                for (i, b) in block.iter_mut().enumerate() {
                    let y = (by + i / 8).min(h - 1);
                    let x = (bx + i % 8).min(w - 1);
                    *b = img.data[y * w + x].clamp(0.0, 1.0) * 255.0 - 128.0;
                }
                let mut coef = dct2(&block, &basis, false);
                for (c, q) in coef.iter_mut().zip(&table) {
                    *c = (*c / q).round() * q;
                }
                let back = dct2(&coef, &basis, true);
                let offset = (self.dc_sigma * normals.next_normal()) as f32;
                for (i, &v) in back.iter().enumerate() {
                    let (y, x) = (by + i / 8, bx + i % 8);
                    if y < h && x < w {
                        out[y * w + x] = ((v + 128.0) / 255.0 + offset).clamp(0.0, 1.0);
                    }
                }
            }
        }
        Ok(GrayImage {
            width: img.width,
            height: img.height,
            data: out,
        })
    }
}

/// Orthonormal 8-point DCT-II basis, `basis[u][x]`.
fn dct_basis() -> [[f32; 8]; 8] {
    let mut b = [[0f32; 8]; 8];
    for (u, row) in b.iter_mut().enumerate() {
        let alpha = if u == 0 {
            libm::sqrt(1.0 / 8.0)
        } else {
            libm::sqrt(2.0 / 8.0)
        };
        for (x, v) in row.iter_mut().enumerate() {
            let angle = (2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0;
            *v = (alpha * libm::cos(angle)) as f32;
        }
    }
    b
}

/// Separable 2-D DCT (`inverse = false`) or its inverse, fixed order.
fn dct2(input: &[f32; 64], basis: &[[f32; 8]; 8], inverse: bool) -> [f32; 64] {
    let coef = |k: usize, n: usize| {
        if inverse { basis[n][k] } else { basis[k][n] }
    };
    let mut tmp = [0f32; 64];
    for y in 0..8 {
        for k in 0..8 {
            let mut s = 0f32;
            for n in 0..8 {
                s += coef(k, n) * input[y * 8 + n];
            }
            tmp[y * 8 + k] = s;
        }
    }
    let mut out = [0f32; 64];
    for x in 0..8 {
        for k in 0..8 {
            let mut s = 0f32;
            for n in 0..8 {
                s += coef(k, n) * tmp[n * 8 + x];
            }
            out[k * 8 + x] = s;
        }
    }
    out
}

/// One occluding rectangle, in fractions of the image size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcclusionRect {
    /// Left edge as a fraction of the width, `0..=1`.
    pub x: f64,
    /// Top edge as a fraction of the height, `0..=1`.
    pub y: f64,
    /// Width as a fraction of the width, `0..=1`.
    pub width: f64,
    /// Height as a fraction of the height, `0..=1`.
    pub height: f64,
}

impl OcclusionRect {
    /// Pixel bounds `(x0, y0, x1, y1)`, end-exclusive, on a `w × h` image:
    /// `floor(x · w)` to `ceil((x + width) · w)`, clipped to the image.
    pub fn pixels(&self, w: u32, h: u32) -> (u32, u32, u32, u32) {
        let span = |start: f64, len: f64, n: u32| {
            let n = f64::from(n);
            let a = (start * n).floor().clamp(0.0, n);
            let b = ((start + len) * n).ceil().clamp(a, n);
            (a as u32, b as u32)
        };
        let (x0, x1) = span(self.x, self.width, w);
        let (y0, y1) = span(self.y, self.height, h);
        (x0, y0, x1, y1)
    }
}

/// Largest number of rectangles one occlusion may carry.
pub const MAX_OCCLUSION_RECTS: usize = 64;

/// Rectangles painted over the image with a constant value (the mask is
/// left as it is: the lesion is still there, only hidden).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcclusionParams {
    /// The rectangles, at most [`MAX_OCCLUSION_RECTS`].
    pub rects: Vec<OcclusionRect>,
    /// Value painted, `[0, 1]`.
    #[serde(default)]
    pub value: f32,
}

impl OcclusionParams {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        if self.rects.len() > MAX_OCCLUSION_RECTS {
            return Err(AugmentError::param(
                "occlusion",
                format!(
                    "{} rectangles, at most {MAX_OCCLUSION_RECTS}",
                    self.rects.len()
                ),
            ));
        }
        if let Some(r) = self
            .rects
            .iter()
            .find(|r| !(unit(r.x) && unit(r.y) && unit(r.width) && unit(r.height)))
        {
            return Err(AugmentError::param(
                "occlusion",
                format!("rectangle {r:?} has a coordinate outside [0, 1]"),
            ));
        }
        if !(0.0..=1.0).contains(&self.value) {
            return Err(AugmentError::param(
                "occlusion",
                format!("value {} not in [0, 1]", self.value),
            ));
        }
        Ok(())
    }

    /// Paints the rectangles.
    pub fn apply(&self, img: &GrayImage) -> Result<GrayImage, AugmentError> {
        self.validate()?;
        check_image(img)?;
        let mut out = img.clone();
        let w = img.width as usize;
        for r in &self.rects {
            let (x0, y0, x1, y1) = r.pixels(img.width, img.height);
            for y in y0 as usize..y1 as usize {
                out.data[y * w + x0 as usize..y * w + x1 as usize].fill(self.value);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| ((x + y) as f32 / (w + h) as f32).min(1.0))
    }

    #[test]
    fn bit_depth_levels() {
        let out = BitDepthParams { bits: 1 }.apply(&ramp(9, 9)).unwrap();
        assert!(out.data.iter().all(|&v| v == 0.0 || v == 1.0));
        let out = BitDepthParams { bits: 3 }.apply(&ramp(16, 16)).unwrap();
        let mut levels: Vec<u32> = out.data.iter().map(|&v| (v * 7.0).round() as u32).collect();
        levels.sort_unstable();
        levels.dedup();
        assert!(levels.len() <= 8);
        assert!(BitDepthParams { bits: 0 }.apply(&ramp(2, 2)).is_err());
        assert!(BitDepthParams { bits: 17 }.apply(&ramp(2, 2)).is_err());
    }

    #[test]
    fn window_level_stretches_and_saturates() {
        let p = WindowLevelParams {
            center: 0.5,
            width: 0.5,
        };
        let img = GrayImage {
            width: 4,
            height: 1,
            data: vec![0.0, 0.25, 0.5, 1.0],
        };
        assert_eq!(p.apply(&img).unwrap().data, vec![0.0, 0.0, 0.5, 1.0]);
        assert!(
            WindowLevelParams {
                center: 0.5,
                width: 0.0
            }
            .apply(&img)
            .is_err()
        );
    }

    #[test]
    fn stripes_follow_their_direction() {
        let flat = GrayImage::filled(16, 12, 0.5);
        let h = StripeParams {
            pattern: StripePattern::Horizontal,
            period: 4.0,
            amplitude: 0.1,
            phase: 0.0,
        }
        .apply(&flat)
        .unwrap();
        // constant along each row, varying down the columns
        for y in 0..12 {
            assert!((0..16).all(|x| h.get(x, y) == h.get(0, y)));
        }
        assert!((h.get(0, 1) - 0.6).abs() < 1e-6);
        let rings = StripeParams {
            pattern: StripePattern::Rings {
                center_x: 0.5,
                center_y: 0.5,
            },
            period: 5.0,
            amplitude: 0.2,
            phase: 1.0,
        }
        .apply(&flat)
        .unwrap();
        assert!(rings.data.iter().all(|v| (0.0..=1.0).contains(v)));
        // 1×1 images are fine
        let one = GrayImage::filled(1, 1, 0.5);
        assert!(
            StripeParams {
                pattern: StripePattern::Rings {
                    center_x: 1.0,
                    center_y: 0.0
                },
                period: 2.0,
                amplitude: 1.0,
                phase: 0.0
            }
            .apply(&one)
            .is_ok()
        );
    }

    #[test]
    fn block_noise_at_top_quality_is_nearly_lossless_and_blocks_are_visible_at_low() {
        let img = ramp(21, 13);
        let hi = BlockNoiseParams {
            quality: 100,
            dc_sigma: 0.0,
        }
        .apply(&img, [1; 32])
        .unwrap();
        for (a, b) in img.data.iter().zip(&hi.data) {
            assert!((a - b).abs() < 2.0 / 255.0, "{a} {b}");
        }
        let gentle = GrayImage::from_fn(21, 13, |x, y| 0.3 + (x + y) as f32 / 400.0);
        let lo = BlockNoiseParams {
            quality: 1,
            dc_sigma: 0.0,
        }
        .apply(&gentle, [1; 32])
        .unwrap();
        // quality 1 keeps little more than block means: flat inside blocks
        let spread = |x0: u32, y0: u32| {
            let vals: Vec<f32> = (0..8)
                .flat_map(|i| (0..8).map(move |j| (x0 + i, y0 + j)))
                .map(|(x, y)| lo.get(x, y))
                .collect();
            vals.iter().cloned().fold(f32::MIN, f32::max)
                - vals.iter().cloned().fold(f32::MAX, f32::min)
        };
        // the original spans 14/400 = 0.035 inside that block
        assert!(spread(0, 0) < 0.005, "{}", spread(0, 0));
    }

    #[test]
    fn dct_round_trip() {
        let basis = dct_basis();
        let mut block = [0f32; 64];
        for (i, b) in block.iter_mut().enumerate() {
            *b = (i as f32 * 7.3).sin() * 100.0;
        }
        let back = dct2(&dct2(&block, &basis, false), &basis, true);
        for (a, b) in block.iter().zip(&back) {
            assert!((a - b).abs() < 1e-3);
        }
    }

    #[test]
    fn occlusion_paints_rectangles_only() {
        let img = GrayImage::filled(10, 10, 0.5);
        let p = OcclusionParams {
            rects: vec![OcclusionRect {
                x: 0.2,
                y: 0.0,
                width: 0.3,
                height: 0.1,
            }],
            value: 1.0,
        };
        let out = p.apply(&img).unwrap();
        assert_eq!(out.data.iter().filter(|&&v| v == 1.0).count(), 3);
        assert_eq!(out.get(2, 0), 1.0);
        // rectangles running off the edge are clipped
        let p = OcclusionParams {
            rects: vec![OcclusionRect {
                x: 0.9,
                y: 0.9,
                width: 1.0,
                height: 1.0,
            }],
            value: 0.0,
        };
        assert_eq!(
            p.apply(&img)
                .unwrap()
                .data
                .iter()
                .filter(|&&v| v == 0.0)
                .count(),
            1
        );
    }
}
