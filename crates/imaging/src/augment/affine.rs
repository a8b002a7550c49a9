//! Affine warps about the image centre, with the 2×3 matrix recorded so a
//! prediction on the warped image can be mapped back to the original frame.
//!
//! Coordinates are pixel centres at integers (OpenCV's `warpAffine`
//! convention): `(0, 0)` is the centre of the top-left pixel and the image
//! centre is `((w - 1) / 2, (h - 1) / 2)`. An [`AffineMatrix`] maps a source
//! point to its destination, `[x', y'] = M · [x, y, 1]`, exactly like the
//! matrix given to `cv2.warpAffine`; warping samples the source at
//! `M⁻¹ · [x', y', 1]` for every destination pixel. Images use bilinear
//! interpolation, masks nearest neighbour; outside the source, images read a
//! constant `fill` and masks read background.
//!
//! All arithmetic is `f64` (coordinates) and `f32` (samples) in a fixed order
//! with `libm` for the trigonometry, so the same parameters give the same
//! bytes on every platform.

use serde::{Deserialize, Serialize};

use super::{AugmentError, check_image, check_mask};
use crate::{GrayImage, Mask};

/// Bounds that keep every matrix invertible and every number finite.
const MAX_SCALE: f64 = 100.0;
const MIN_SCALE: f64 = 0.01;
const MAX_SHEAR_DEG: f64 = 80.0;
const MAX_TRANSLATE: f64 = 10.0;

/// A geometric transform: rotation, scale and shear about the image centre,
/// then a translation.
///
/// The linear part is `scale · R(rotation) · Shear(shear)` with
/// `R(θ) = [[cos θ, sin θ], [−sin θ, cos θ]]` (positive angles turn the image
/// counter-clockwise on screen, as in `cv2.getRotationMatrix2D`) and
/// `Shear(φ) = [[1, tan φ], [0, 1]]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffineParams {
    /// Rotation in degrees, counter-clockwise on screen.
    pub rotation_deg: f64,
    /// Isotropic scale factor, `0.01..=100`.
    pub scale: f64,
    /// Horizontal shear angle in degrees, `-80..=80`.
    #[serde(default)]
    pub shear_deg: f64,
    /// Shift to the right as a fraction of the width, `-10..=10`.
    #[serde(default)]
    pub translate_x: f64,
    /// Shift downwards as a fraction of the height, `-10..=10`.
    #[serde(default)]
    pub translate_y: f64,
    /// Value read outside the source image, `[0, 1]`.
    #[serde(default)]
    pub fill: f32,
}

impl Default for AffineParams {
    fn default() -> Self {
        AffineParams {
            rotation_deg: 0.0,
            scale: 1.0,
            shear_deg: 0.0,
            translate_x: 0.0,
            translate_y: 0.0,
            fill: 0.0,
        }
    }
}

/// A 2×3 affine matrix mapping source pixel coordinates to destination
/// coordinates, row-major: `[[a, b, c], [d, e, f]]` means
/// `x' = a·x + b·y + c`, `y' = d·x + e·y + f`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AffineMatrix(pub [[f64; 3]; 2]);

impl AffineMatrix {
    /// The identity.
    pub const IDENTITY: AffineMatrix = AffineMatrix([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);

    /// Where the point `(x, y)` goes.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let [[a, b, c], [d, e, f]] = self.0;
        (a * x + b * y + c, d * x + e * y + f)
    }

    /// The inverse transform; an error when the matrix is singular or not
    /// finite (possible only for matrices read from elsewhere).
    pub fn inverse(&self) -> Result<AffineMatrix, AugmentError> {
        let [[a, b, c], [d, e, f]] = self.0;
        let det = a * e - b * d;
        if !det.is_finite() || det.abs() < 1e-12 || self.0.iter().flatten().any(|v| !v.is_finite())
        {
            return Err(AugmentError::param(
                "affine",
                format!("matrix {:?} is not invertible", self.0),
            ));
        }
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        Ok(AffineMatrix([
            [ia, ib, -(ia * c + ib * f)],
            [id, ie, -(id * c + ie * f)],
        ]))
    }

    /// `then ∘ self`: first this transform, then `then`.
    pub fn then(&self, then: &AffineMatrix) -> AffineMatrix {
        let [[a, b, c], [d, e, f]] = self.0;
        let [[p, q, r], [s, t, u]] = then.0;
        AffineMatrix([
            [p * a + q * d, p * b + q * e, p * c + q * f + r],
            [s * a + t * d, s * b + t * e, s * c + t * f + u],
        ])
    }
}

impl AffineParams {
    /// Checks ranges (see the field docs) and finiteness.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let bad = |what: String| Err(AugmentError::param("affine", what));
        if !self.rotation_deg.is_finite() || self.rotation_deg.abs() > 1e6 {
            return bad(format!("rotation_deg {} out of range", self.rotation_deg));
        }
        if !(MIN_SCALE..=MAX_SCALE).contains(&self.scale) {
            return bad(format!(
                "scale {} not in {MIN_SCALE}..={MAX_SCALE}",
                self.scale
            ));
        }
        if !(-MAX_SHEAR_DEG..=MAX_SHEAR_DEG).contains(&self.shear_deg) {
            return bad(format!(
                "shear_deg {} not in -{MAX_SHEAR_DEG}..={MAX_SHEAR_DEG}",
                self.shear_deg
            ));
        }
        for (name, t) in [
            ("translate_x", self.translate_x),
            ("translate_y", self.translate_y),
        ] {
            if !(-MAX_TRANSLATE..=MAX_TRANSLATE).contains(&t) {
                return bad(format!(
                    "{name} {t} not in -{MAX_TRANSLATE}..={MAX_TRANSLATE}"
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.fill) {
            return bad(format!("fill {} not in [0, 1]", self.fill));
        }
        Ok(())
    }

    /// The matrix these parameters give on a `width × height` image.
    pub fn matrix(&self, width: u32, height: u32) -> Result<AffineMatrix, AugmentError> {
        self.validate()?;
        let theta = self.rotation_deg.to_radians();
        let (sin, cos) = (libm::sin(theta), libm::cos(theta));
        let k = libm::tan(self.shear_deg.to_radians());
        let s = self.scale;
        // s · R · Shear
        let (a, b) = (s * cos, s * (cos * k + sin));
        let (d, e) = (-s * sin, s * (cos - sin * k));
        let cx = (f64::from(width) - 1.0) / 2.0;
        let cy = (f64::from(height) - 1.0) / 2.0;
        let tx = self.translate_x * f64::from(width);
        let ty = self.translate_y * f64::from(height);
        Ok(AffineMatrix([
            [a, b, cx + tx - (a * cx + b * cy)],
            [d, e, cy + ty - (d * cx + e * cy)],
        ]))
    }
}

/// Warps `img` by `m` (source → destination) onto a canvas of the same size:
/// bilinear interpolation, `fill` outside the source.
pub fn warp_image(img: &GrayImage, m: &AffineMatrix, fill: f32) -> Result<GrayImage, AugmentError> {
    check_image(img)?;
    let inv = m.inverse()?;
    let (w, h) = (img.width as i64, img.height as i64);
    let sample = |x: i64, y: i64| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            fill
        } else {
            img.data[(y * w + x) as usize]
        }
    };
    let mut data = Vec::with_capacity(img.data.len());
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = inv.apply(x as f64, y as f64);
            let (fx, fy) = (sx.floor(), sy.floor());
            // far outside: every neighbour is fill (also avoids huge casts)
            if !(fx > -2.0 && fy > -2.0 && fx < w as f64 + 1.0 && fy < h as f64 + 1.0) {
                data.push(fill);
                continue;
            }
            let (ax, ay) = ((sx - fx) as f32, (sy - fy) as f32);
            let (x0, y0) = (fx as i64, fy as i64);
            let top = sample(x0, y0) * (1.0 - ax) + sample(x0 + 1, y0) * ax;
            let bottom = sample(x0, y0 + 1) * (1.0 - ax) + sample(x0 + 1, y0 + 1) * ax;
            data.push(top * (1.0 - ay) + bottom * ay);
        }
    }
    Ok(GrayImage {
        width: img.width,
        height: img.height,
        data,
    })
}

/// Warps `mask` by `m` onto a canvas of the same size: nearest neighbour
/// (half-way points round up), background outside the source.
pub fn warp_mask(mask: &Mask, m: &AffineMatrix) -> Result<Mask, AugmentError> {
    check_mask(mask)?;
    let inv = m.inverse()?;
    let (w, h) = (mask.width as i64, mask.height as i64);
    let mut data = Vec::with_capacity(mask.data.len());
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = inv.apply(x as f64, y as f64);
            let (rx, ry) = ((sx + 0.5).floor(), (sy + 0.5).floor());
            let inside = rx >= 0.0 && ry >= 0.0 && rx < w as f64 && ry < h as f64;
            data.push(if inside {
                u8::from(mask.data[(ry as i64 * w + rx as i64) as usize] != 0)
            } else {
                0
            });
        }
    }
    Ok(Mask {
        width: mask.width,
        height: mask.height,
        data,
    })
}

/// Maps a mask predicted on an image warped by `m` back to the original
/// frame (warps by `m⁻¹`, nearest neighbour). Parts of the original that the
/// warp pushed off the canvas come back as background.
pub fn map_mask_back(pred: &Mask, m: &AffineMatrix) -> Result<Mask, AugmentError> {
    warp_mask(pred, &m.inverse()?)
}

/// Maps a probability map predicted on an image warped by `m` back to the
/// original frame (warps by `m⁻¹`, bilinear, 0 outside).
pub fn map_image_back(pred: &GrayImage, m: &AffineMatrix) -> Result<GrayImage, AugmentError> {
    warp_image(pred, &m.inverse()?, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_params_give_identity_matrix_and_copy() {
        let m = AffineParams::default().matrix(7, 5).unwrap();
        assert_eq!(m, AffineMatrix::IDENTITY);
        let img = GrayImage::from_fn(7, 5, |x, y| (x * 5 + y) as f32 / 40.0);
        assert_eq!(warp_image(&img, &m, 0.0).unwrap(), img);
    }

    #[test]
    fn matrix_matches_opencv_rotation_convention() {
        // cv2.getRotationMatrix2D(((w-1)/2, (h-1)/2), 90, 1) on 5×5:
        // [[0, 1, 0], [-1, 0, 4]]
        let p = AffineParams {
            rotation_deg: 90.0,
            ..AffineParams::default()
        };
        let m = p.matrix(5, 5).unwrap();
        let want = [[0.0, 1.0, 0.0], [-1.0, 0.0, 4.0]];
        for (row, wrow) in m.0.iter().zip(want) {
            for (v, w) in row.iter().zip(wrow) {
                assert!((v - w).abs() < 1e-12, "{m:?}");
            }
        }
        // a 90° turn of a mask is exact
        let mut mask = Mask::empty(5, 5);
        mask.data[1] = 1; // (1, 0)
        let turned = warp_mask(&mask, &m).unwrap();
        // (1, 0) → (0·1 + 1·0 + 0, −1 + 4) = (0, 3)
        assert_eq!(turned.data[3 * 5], 1);
        assert_eq!(turned.data.iter().map(|&v| u32::from(v)).sum::<u32>(), 1);
    }

    #[test]
    fn inverse_and_composition() {
        let p = AffineParams {
            rotation_deg: 17.0,
            scale: 1.3,
            shear_deg: 8.0,
            translate_x: 0.1,
            translate_y: -0.2,
            fill: 0.0,
        };
        let m = p.matrix(40, 30).unwrap();
        let id = m.then(&m.inverse().unwrap());
        for (row, wrow) in id.0.iter().zip(AffineMatrix::IDENTITY.0) {
            for (v, w) in row.iter().zip(wrow) {
                assert!((v - w).abs() < 1e-12);
            }
        }
        assert!(AffineMatrix([[0.0; 3]; 2]).inverse().is_err());
        assert!(
            AffineMatrix([[f64::NAN, 0.0, 0.0], [0.0, 1.0, 0.0]])
                .inverse()
                .is_err()
        );
    }

    #[test]
    fn out_of_range_parameters_are_errors() {
        for p in [
            AffineParams {
                scale: 0.0,
                ..AffineParams::default()
            },
            AffineParams {
                rotation_deg: f64::INFINITY,
                ..AffineParams::default()
            },
            AffineParams {
                shear_deg: 90.0,
                ..AffineParams::default()
            },
            AffineParams {
                translate_x: f64::NAN,
                ..AffineParams::default()
            },
            AffineParams {
                fill: 2.0,
                ..AffineParams::default()
            },
        ] {
            assert!(p.matrix(4, 4).is_err(), "{p:?}");
        }
    }
}
