//! What a round's augmentation may do: probabilities and parameter ranges
//! (part of the mechanism config), and the sampler that turns a random stream
//! into an explicit list of [`Augmentation`]s.

use rand_core::Rng;
use serde::{Deserialize, Serialize};

use super::artifacts::{
    BitDepthParams, BlockNoiseParams, MAX_OCCLUSION_RECTS, OcclusionParams, OcclusionRect,
    StripeParams, StripePattern, WindowLevelParams,
};
use super::noise::unit_f64;
use super::{AffineParams, AugmentError, Augmentation, ClaheParams, NoiseParams};

/// A closed interval `[min, max]` of reals; `min == max` fixes the value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeF {
    /// Smallest value drawn.
    pub min: f64,
    /// Largest value drawn.
    pub max: f64,
}

/// A closed interval `[min, max]` of integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeU {
    /// Smallest value drawn.
    pub min: u32,
    /// Largest value drawn.
    pub max: u32,
}

const fn rf(min: f64, max: f64) -> RangeF {
    RangeF { min, max }
}

const fn ru(min: u32, max: u32) -> RangeU {
    RangeU { min, max }
}

impl RangeF {
    fn check(&self, name: &str, lo: f64, hi: f64) -> Result<(), AugmentError> {
        if !(self.min <= self.max && self.min >= lo && self.max <= hi) {
            return Err(AugmentError::Config(format!(
                "{name} range [{}, {}] must be ordered and within [{lo}, {hi}]",
                self.min, self.max
            )));
        }
        Ok(())
    }

    /// `min + (max − min) · u` with `u ∈ [0, 1)` (exactly `min` when the
    /// range is a point).
    fn draw(&self, rng: &mut impl Rng) -> f64 {
        let u = unit_f64(rng);
        if self.min == self.max {
            self.min
        } else {
            (self.min + (self.max - self.min) * u).min(self.max)
        }
    }
}

impl RangeU {
    fn check(&self, name: &str, lo: u32, hi: u32) -> Result<(), AugmentError> {
        if !(self.min <= self.max && self.min >= lo && self.max <= hi) {
            return Err(AugmentError::Config(format!(
                "{name} range [{}, {}] must be ordered and within [{lo}, {hi}]",
                self.min, self.max
            )));
        }
        Ok(())
    }

    /// Uniform over `min..=max` (multiply-shift on one `next_u64`).
    fn draw(&self, rng: &mut impl Rng) -> u32 {
        let n = u128::from(self.max - self.min) + 1;
        let r = (u128::from(rng.next_u64()) * n) >> 64;
        self.min + r as u32
    }
}

fn coin(rng: &mut impl Rng, p: f64) -> bool {
    unit_f64(rng) < p
}

fn check_p(name: &str, p: f64) -> Result<(), AugmentError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(AugmentError::Config(format!(
            "{name}.probability {p} not in [0, 1]"
        )));
    }
    Ok(())
}

/// Affine stage: rotation, scale, shear and translation about the centre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AffineConfig {
    /// Chance the stage runs. Default 0.5.
    pub probability: f64,
    /// Degrees, counter-clockwise. Default `[-10, 10]`.
    pub rotation_deg: RangeF,
    /// Scale factor. Default `[0.9, 1.1]`.
    pub scale: RangeF,
    /// Horizontal shear in degrees. Default `[-5, 5]`.
    pub shear_deg: RangeF,
    /// Shift along each axis, fraction of the side, drawn independently for
    /// x and y. Default `[-0.05, 0.05]`.
    pub translate: RangeF,
}

impl Default for AffineConfig {
    fn default() -> Self {
        AffineConfig {
            probability: 0.5,
            rotation_deg: rf(-10.0, 10.0),
            scale: rf(0.9, 1.1),
            shear_deg: rf(-5.0, 5.0),
            translate: rf(-0.05, 0.05),
        }
    }
}

/// Window/level stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowLevelConfig {
    /// Chance the stage runs. Default 0.3.
    pub probability: f64,
    /// Window centre. Default `[0.45, 0.55]`.
    pub center: RangeF,
    /// Window width. Default `[0.8, 1.0]`.
    pub width: RangeF,
}

impl Default for WindowLevelConfig {
    fn default() -> Self {
        WindowLevelConfig {
            probability: 0.3,
            center: rf(0.45, 0.55),
            width: rf(0.8, 1.0),
        }
    }
}

/// CLAHE stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaheConfig {
    /// Chance the stage runs. Default 0.3.
    pub probability: f64,
    /// OpenCV clip limit. Default `[1, 3]`.
    pub clip_limit: RangeF,
    /// Tiles per axis (square grid). Default `[4, 8]`.
    pub tiles: RangeU,
    /// Quantisation before equalising, 8 or 16. Default 8: OpenCV's clip
    /// limit is relative to the bin count, and the clip limits radiology
    /// pipelines use are meant for 256 bins (at 16 bits the same number
    /// clips 256 times harder, leaving plain per-tile equalisation).
    pub bit_depth: u8,
}

impl Default for ClaheConfig {
    fn default() -> Self {
        ClaheConfig {
            probability: 0.3,
            clip_limit: rf(1.0, 3.0),
            tiles: ru(4, 8),
            bit_depth: 8,
        }
    }
}

/// Bit-depth reduction stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BitDepthConfig {
    /// Chance the stage runs. Default 0.2.
    pub probability: f64,
    /// Bits kept. Default `[6, 10]`.
    pub bits: RangeU,
}

impl Default for BitDepthConfig {
    fn default() -> Self {
        BitDepthConfig {
            probability: 0.2,
            bits: ru(6, 10),
        }
    }
}

/// Stripes / rings stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripesConfig {
    /// Chance the stage runs. Default 0.15.
    pub probability: f64,
    /// Chance the pattern is rings rather than stripes. Default 0.3.
    pub rings_probability: f64,
    /// Period in pixels. Default `[6, 40]`.
    pub period: RangeF,
    /// Amplitude (sign drawn separately). Default `[0.01, 0.04]`.
    pub amplitude: RangeF,
}

impl Default for StripesConfig {
    fn default() -> Self {
        StripesConfig {
            probability: 0.15,
            rings_probability: 0.3,
            period: rf(6.0, 40.0),
            amplitude: rf(0.01, 0.04),
        }
    }
}

/// JPEG-like block noise stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockNoiseConfig {
    /// Chance the stage runs. Default 0.2.
    pub probability: f64,
    /// JPEG quality. Default `[30, 90]`.
    pub quality: RangeU,
    /// Per-block offset standard deviation. Default `[0, 0.01]`.
    pub dc_sigma: RangeF,
}

impl Default for BlockNoiseConfig {
    fn default() -> Self {
        BlockNoiseConfig {
            probability: 0.2,
            quality: ru(30, 90),
            dc_sigma: rf(0.0, 0.01),
        }
    }
}

/// Gaussian noise stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseConfig {
    /// Chance the stage runs. Default 0.5.
    pub probability: f64,
    /// Standard deviation. Default `[0.005, 0.03]`.
    pub sigma: RangeF,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig {
            probability: 0.5,
            sigma: rf(0.005, 0.03),
        }
    }
}

/// Occlusion stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcclusionConfig {
    /// Chance the stage runs. Default 0.15.
    pub probability: f64,
    /// Number of rectangles. Default `[1, 3]`.
    pub count: RangeU,
    /// Side of each rectangle as a fraction of the image side, drawn
    /// separately for width and height. Default `[0.05, 0.15]`.
    pub size: RangeF,
    /// Value painted. Default 0.
    pub value: f32,
}

impl Default for OcclusionConfig {
    fn default() -> Self {
        OcclusionConfig {
            probability: 0.15,
            count: ru(1, 3),
            size: rf(0.05, 0.15),
            value: 0.0,
        }
    }
}

/// Probabilities and parameter ranges of every augmentation stage. Every
/// field has a default (see each stage), so `{}` is a valid config and a
/// config only needs to name what it changes.
///
/// [`sample_pipeline`] visits the stages in a fixed order — affine,
/// window/level, CLAHE, bit depth, stripes, block noise, Gaussian noise,
/// occlusion — and keeps each with its probability.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Geometric transform.
    pub affine: AffineConfig,
    /// Window/level shift.
    pub window_level: WindowLevelConfig,
    /// CLAHE.
    pub clahe: ClaheConfig,
    /// Bit-depth reduction.
    pub bit_depth: BitDepthConfig,
    /// Stripes or rings.
    pub stripes: StripesConfig,
    /// JPEG-like block noise.
    pub block_noise: BlockNoiseConfig,
    /// Gaussian noise.
    pub noise: NoiseConfig,
    /// Occlusion.
    pub occlusion: OcclusionConfig,
}

impl AugmentConfig {
    /// Checks every probability and range against what the operations
    /// accept.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let a = &self.affine;
        check_p("affine", a.probability)?;
        a.rotation_deg.check("affine.rotation_deg", -180.0, 180.0)?;
        a.scale.check("affine.scale", 0.01, 100.0)?;
        a.shear_deg.check("affine.shear_deg", -80.0, 80.0)?;
        a.translate.check("affine.translate", -1.0, 1.0)?;
        let wl = &self.window_level;
        check_p("window_level", wl.probability)?;
        wl.center.check("window_level.center", -1.0, 2.0)?;
        wl.width.check("window_level.width", 0.001, 4.0)?;
        let c = &self.clahe;
        check_p("clahe", c.probability)?;
        c.clip_limit.check("clahe.clip_limit", 0.0, 1e6)?;
        c.tiles.check("clahe.tiles", 1, 64)?;
        if c.bit_depth != 8 && c.bit_depth != 16 {
            return Err(AugmentError::Config(format!(
                "clahe.bit_depth {} is not 8 or 16",
                c.bit_depth
            )));
        }
        check_p("bit_depth", self.bit_depth.probability)?;
        self.bit_depth.bits.check("bit_depth.bits", 1, 16)?;
        let s = &self.stripes;
        check_p("stripes", s.probability)?;
        check_p("stripes.rings", s.rings_probability)?;
        s.period.check("stripes.period", 2.0, 100_000.0)?;
        s.amplitude.check("stripes.amplitude", 0.0, 1.0)?;
        let b = &self.block_noise;
        check_p("block_noise", b.probability)?;
        b.quality.check("block_noise.quality", 1, 100)?;
        b.dc_sigma.check("block_noise.dc_sigma", 0.0, 1.0)?;
        check_p("noise", self.noise.probability)?;
        self.noise.sigma.check("noise.sigma", 0.0, 1.0)?;
        let o = &self.occlusion;
        check_p("occlusion", o.probability)?;
        o.count
            .check("occlusion.count", 0, MAX_OCCLUSION_RECTS as u32)?;
        o.size.check("occlusion.size", 0.0, 1.0)?;
        if !(0.0..=1.0).contains(&o.value) {
            return Err(AugmentError::Config(format!(
                "occlusion.value {} not in [0, 1]",
                o.value
            )));
        }
        Ok(())
    }
}

/// Draws a pipeline: for each stage in the fixed order, one uniform draw
/// decides whether it runs (`u < probability`) and, when it does, its
/// parameters are drawn in the order `docs/augmentation.md` lists (the
/// stage's fields, plus coins for the stripe pattern and sign). The result
/// is explicit — a manifest records it, and [`super::apply_pipeline`]
/// replays it with no further reference to the config.
pub fn sample_pipeline(
    rng: &mut impl Rng,
    cfg: &AugmentConfig,
) -> Result<Vec<Augmentation>, AugmentError> {
    cfg.validate()?;
    let mut ops = Vec::new();

    if coin(rng, cfg.affine.probability) {
        let a = &cfg.affine;
        ops.push(Augmentation::Affine(AffineParams {
            rotation_deg: a.rotation_deg.draw(rng),
            scale: a.scale.draw(rng),
            shear_deg: a.shear_deg.draw(rng),
            translate_x: a.translate.draw(rng),
            translate_y: a.translate.draw(rng),
            fill: 0.0,
        }));
    }
    if coin(rng, cfg.window_level.probability) {
        let wl = &cfg.window_level;
        ops.push(Augmentation::WindowLevel(WindowLevelParams {
            center: wl.center.draw(rng),
            width: wl.width.draw(rng),
        }));
    }
    if coin(rng, cfg.clahe.probability) {
        let c = &cfg.clahe;
        let clip_limit = c.clip_limit.draw(rng);
        let tiles = c.tiles.draw(rng);
        ops.push(Augmentation::Clahe(ClaheParams {
            clip_limit,
            tiles_x: tiles,
            tiles_y: tiles,
            bit_depth: c.bit_depth,
        }));
    }
    if coin(rng, cfg.bit_depth.probability) {
        ops.push(Augmentation::BitDepth(BitDepthParams {
            bits: cfg.bit_depth.bits.draw(rng) as u8,
        }));
    }
    if coin(rng, cfg.stripes.probability) {
        let s = &cfg.stripes;
        let pattern = if unit_f64(rng) < s.rings_probability {
            StripePattern::Rings {
                center_x: unit_f64(rng),
                center_y: unit_f64(rng),
            }
        } else if unit_f64(rng) < 0.5 {
            StripePattern::Horizontal
        } else {
            StripePattern::Vertical
        };
        let period = s.period.draw(rng);
        let sign = if unit_f64(rng) < 0.5 { -1.0 } else { 1.0 };
        let amplitude = sign * s.amplitude.draw(rng);
        let phase = 2.0 * std::f64::consts::PI * unit_f64(rng);
        ops.push(Augmentation::Stripes(StripeParams {
            pattern,
            period,
            amplitude,
            phase,
        }));
    }
    if coin(rng, cfg.block_noise.probability) {
        let b = &cfg.block_noise;
        ops.push(Augmentation::BlockNoise(BlockNoiseParams {
            quality: b.quality.draw(rng) as u8,
            dc_sigma: b.dc_sigma.draw(rng),
        }));
    }
    if coin(rng, cfg.noise.probability) {
        ops.push(Augmentation::Noise(NoiseParams {
            sigma: cfg.noise.sigma.draw(rng),
        }));
    }
    if coin(rng, cfg.occlusion.probability) {
        let o = &cfg.occlusion;
        let n = o.count.draw(rng);
        let rects = (0..n)
            .map(|_| {
                let width = o.size.draw(rng);
                let height = o.size.draw(rng);
                OcclusionRect {
                    x: unit_f64(rng) * (1.0 - width),
                    y: unit_f64(rng) * (1.0 - height),
                    width,
                    height,
                }
            })
            .collect();
        ops.push(Augmentation::Occlusion(OcclusionParams {
            rects,
            value: o.value,
        }));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    #[test]
    fn default_config_is_valid_and_empty_json_means_default() {
        AugmentConfig::default().validate().unwrap();
        let parsed: AugmentConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, AugmentConfig::default());
        let parsed: AugmentConfig =
            serde_json::from_str(r#"{"noise":{"probability":1.0}}"#).unwrap();
        assert_eq!(parsed.noise.sigma, NoiseConfig::default().sigma);
        assert!(serde_json::from_str::<AugmentConfig>(r#"{"nosie":{}}"#).is_err());
    }

    #[test]
    fn sampled_params_respect_ranges_and_validate() {
        let cfg = AugmentConfig::default();
        let mut rng = ChaCha8Rng::from_seed([3; 32]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            for op in sample_pipeline(&mut rng, &cfg).unwrap() {
                op.validate().unwrap();
                seen.insert(op.name());
                if let Augmentation::Affine(a) = op {
                    assert!((-10.0..=10.0).contains(&a.rotation_deg));
                    assert!((0.9..=1.1).contains(&a.scale));
                }
            }
        }
        assert_eq!(seen.len(), 8, "{seen:?}");
    }

    #[test]
    fn probabilities_zero_and_one() {
        let mut cfg = AugmentConfig::default();
        cfg.affine.probability = 0.0;
        cfg.window_level.probability = 0.0;
        cfg.clahe.probability = 0.0;
        cfg.bit_depth.probability = 0.0;
        cfg.stripes.probability = 0.0;
        cfg.block_noise.probability = 0.0;
        cfg.occlusion.probability = 0.0;
        cfg.noise.probability = 1.0;
        let mut rng = ChaCha8Rng::from_seed([0; 32]);
        let ops = sample_pipeline(&mut rng, &cfg).unwrap();
        assert_eq!(ops.len(), 1);
        assert!(matches!(ops[0], Augmentation::Noise(_)));
    }

    #[test]
    fn invalid_configs_are_refused() {
        let mut rng = ChaCha8Rng::from_seed([0; 32]);
        let mut cfg = AugmentConfig::default();
        cfg.noise.sigma = rf(0.2, 0.1);
        assert!(sample_pipeline(&mut rng, &cfg).is_err());
        let mut cfg = AugmentConfig::default();
        cfg.affine.probability = f64::NAN;
        assert!(sample_pipeline(&mut rng, &cfg).is_err());
        let mut cfg = AugmentConfig::default();
        cfg.clahe.bit_depth = 10;
        assert!(cfg.validate().is_err());
    }
}
