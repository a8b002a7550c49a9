//! Additive Gaussian noise from a seeded ChaCha8 stream, by Box–Muller on
//! `libm` so every platform draws the same numbers.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{AugmentError, check_image};
use crate::GrayImage;

/// Zero-mean Gaussian noise added to every pixel, then clamped to `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseParams {
    /// Standard deviation in intensity units, `0..=1`.
    pub sigma: f64,
}

impl NoiseParams {
    /// Checks `sigma`.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if !(0.0..=1.0).contains(&self.sigma) {
            return Err(AugmentError::param(
                "noise",
                format!("sigma {} not in [0, 1]", self.sigma),
            ));
        }
        Ok(())
    }

    /// Adds the noise drawn from `seed`: pixels in row-major order take
    /// `z0, z1` of successive Box–Muller pairs.
    pub fn apply(&self, img: &GrayImage, seed: [u8; 32]) -> Result<GrayImage, AugmentError> {
        self.validate()?;
        check_image(img)?;
        let mut normals = Normals::new(ChaCha8Rng::from_seed(seed));
        let data = img
            .data
            .iter()
            .map(|&v| (v + (self.sigma * normals.next_normal()) as f32).clamp(0.0, 1.0))
            .collect();
        Ok(GrayImage {
            width: img.width,
            height: img.height,
            data,
        })
    }
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits of one `next_u64`.
pub fn unit_f64(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Two independent standard normal deviates by Box–Muller:
/// `u1 ∈ (0, 1]` and `u2 ∈ [0, 1)` from two `next_u64` calls,
/// `r = sqrt(-2 ln u1)`, `(r cos 2πu2, r sin 2πu2)`, all on `libm`.
pub fn standard_normal_pair(rng: &mut impl Rng) -> (f64, f64) {
    let u1 = 1.0 - unit_f64(rng);
    let u2 = unit_f64(rng);
    let r = libm::sqrt(-2.0 * libm::log(u1));
    let t = 2.0 * std::f64::consts::PI * u2;
    (r * libm::cos(t), r * libm::sin(t))
}

/// A stream of standard normal deviates that uses both halves of every
/// Box–Muller pair.
#[derive(Debug, Clone)]
pub struct Normals<R> {
    rng: R,
    spare: Option<f64>,
}

impl<R: Rng> Normals<R> {
    /// Wraps a random stream.
    pub fn new(rng: R) -> Self {
        Normals { rng, spare: None }
    }

    /// The next deviate.
    pub fn next_normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (z0, z1) = standard_normal_pair(&mut self.rng);
        self.spare = Some(z1);
        z0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviates_are_finite_and_standard() {
        let mut n = Normals::new(ChaCha8Rng::from_seed([7; 32]));
        let xs: Vec<f64> = (0..200_000).map(|_| n.next_normal()).collect();
        assert!(xs.iter().all(|x| x.is_finite()));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
        let tail = xs.iter().filter(|x| x.abs() > 1.959_964).count() as f64 / xs.len() as f64;
        assert!((tail - 0.05).abs() < 0.003, "{tail}");
    }

    #[test]
    fn sigma_out_of_range_is_an_error() {
        let img = GrayImage::filled(2, 2, 0.5);
        for s in [-0.1, 1.5, f64::NAN] {
            assert!(NoiseParams { sigma: s }.apply(&img, [0; 32]).is_err());
        }
    }
}
