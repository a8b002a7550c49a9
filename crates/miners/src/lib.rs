//! # medmetric-miners
//!
//! The red team of the incentive mechanism (docs/mechanism.md): miner strategies written as ONNX models that
//! follow the v1 contract, so the mechanism can be tested against the ways
//! miners actually try to earn. One model per strategy, modality and input
//! size; every model passes [`medmetric_model::gate`] and runs in tract,
//! except [`Strategy::LoadTimeCompute`], which is made for the gate to
//! refuse (its work hides in constant folding at load).
//!
//! | strategy | what it does |
//! |---|---|
//! | [`Strategy::Honest`] | the reference miner: a fixed filter bank, two per-pixel perceptrons (the second sees the first's output in context) fitted on augmented, hybridised phantom rounds, and a calibrated classifier |
//! | [`Strategy::Null`] | empty mask, `cls` = 0 |
//! | [`Strategy::ClsOnly`] | the honest classifier alone, no `mask` output |
//! | [`Strategy::ClsEmptyMask`] | the honest classifier and an all-zero mask |
//! | [`Strategy::Copy`] | the honest model with seeded relative noise (2·10⁻⁴) on every initializer |
//! | [`Strategy::Fragile`] | the honest model behind a fingerprint of plain phantom renderings; anything else gets a fixed brightness threshold |
//! | [`Strategy::SlowAccurate`] | the honest outputs plus a long chain of convolutions that enters the output with a tiny weight |
//! | [`Strategy::Memoriser`] | nearest neighbour over thumbnails of the phantom pool, returning the stored mask and label |
//! | [`Strategy::FastUseless`] | an uncalibrated brightness threshold |
//! | [`Strategy::Bait`] | the null model carrying one unused honest initializer verbatim, to be committed before honest |
//! | [`Strategy::CastCopy`] | the honest model with its large float initializers stored as int32 and restored by `Cast` and `Mul` |
//! | [`Strategy::TemperatureCopy`] | honest outputs through `σ(logit(p)/1.15)` |
//! | [`Strategy::SparseCopy`] | the honest mask through `Max` with 0.05 on one pixel per 16×16 block |
//! | [`Strategy::RetunedCopy`] | honest outputs through `σ(1.3·logit(p) + 0.4)` (mask) and `σ(logit(p) + 0.3)` (cls) |
//! | [`Strategy::LoadTimeCompute`] | the honest model plus a constant chain of 18 4096² `MatMul`s that a runtime folds at load, added to the class logit times 0 |
//! | [`Strategy::SlowGraph`] | the honest outputs plus 120 full-resolution 3×3 convolutions whose mean, clamped to 0, is added to the mask |
//!
//! Everything is deterministic: the same strategy, modality, size and seed
//! give the same bytes on every machine (training runs in `f64` in a fixed
//! order, with `libm` for transcendental functions and seeded ChaCha
//! streams). The seed only changes [`Strategy::Copy`]'s noise.
//!
//! ```no_run
//! use medmetric_imaging::Modality;
//! use medmetric_miners::{Strategy, make};
//!
//! let bytes = make(Strategy::Honest, Modality::Cxr, 128, 0).unwrap();
//! let report = medmetric_model::gate::check_bytes(&bytes, &Default::default()).unwrap();
//! assert!(report.outputs.mask && report.outputs.cls);
//! ```
//!
//! Building several strategies of one modality and size through one
//! [`Factory`] trains the honest model once. See `docs/miners.md`.

#![warn(missing_docs)]

pub mod attacks;
mod evaluate;
mod features;
mod fragile;
mod honest;
mod memoriser;
mod metrics;
mod strategies;
mod train;

use std::sync::OnceLock;

use medmetric_imaging::Modality;

pub use evaluate::{evaluate, phantom_cases, phantom_round};
pub use honest::{Honest, Quality};
pub use memoriser::{MEMORISER_SIZES, Memoriser};

/// Opset every red-team model is written with.
pub const OPSET: i64 = 17;

/// Why a model could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MinersError {
    /// The input size is not one the contract allows (or the strategy
    /// supports).
    #[error("{strategy} models cannot be made at size {size}: {why}")]
    Size {
        /// Strategy name.
        strategy: &'static str,
        /// Requested size.
        size: u32,
        /// Which sizes work.
        why: String,
    },
    /// Building a training round failed.
    #[error("cannot build the training round: {0}")]
    Round(String),
    /// Loading a pool case failed.
    #[error("cannot load pool case: {0}")]
    Pool(String),
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    Param(String),
    /// A made model failed the gate or the runtime (a bug here, not input).
    #[error("model check failed: {0}")]
    Model(String),
}

/// A red-team miner strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// The honest reference miner.
    Honest,
    /// Empty mask, `cls` = 0.
    Null,
    /// The honest classifier without a `mask` output.
    ClsOnly,
    /// The honest classifier with an all-zero mask.
    ClsEmptyMask,
    /// The honest model with tiny seeded weight noise.
    Copy,
    /// Good on un-augmented images, broken by augmentation.
    Fragile,
    /// The honest outputs at many times the cost.
    SlowAccurate,
    /// Recalls the phantom pool's cases by nearest neighbour.
    Memoriser,
    /// Fast and wrong.
    FastUseless,
    /// The null model carrying an unused honest initializer, as bait for
    /// weight-level copy detection.
    Bait,
    /// The honest model with its weights stored as scaled int32.
    CastCopy,
    /// Honest outputs with a softened logit (temperature 1.15).
    TemperatureCopy,
    /// The honest mask salted with 0.05 on one pixel in 256.
    SparseCopy,
    /// Honest outputs with three retuned logit scalars.
    RetunedCopy,
    /// The honest model plus a huge constant computation folded at load.
    LoadTimeCompute,
    /// The honest outputs behind a long runtime convolution chain.
    SlowGraph,
}

impl Strategy {
    /// Every strategy, in a stable order.
    pub const ALL: [Strategy; 16] = [
        Strategy::Honest,
        Strategy::Null,
        Strategy::ClsOnly,
        Strategy::ClsEmptyMask,
        Strategy::Copy,
        Strategy::Fragile,
        Strategy::SlowAccurate,
        Strategy::Memoriser,
        Strategy::FastUseless,
        Strategy::Bait,
        Strategy::CastCopy,
        Strategy::TemperatureCopy,
        Strategy::SparseCopy,
        Strategy::RetunedCopy,
        Strategy::LoadTimeCompute,
        Strategy::SlowGraph,
    ];

    /// The CLI name (`honest`, `null`, `cls-only`, …).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Honest => "honest",
            Strategy::Null => "null",
            Strategy::ClsOnly => "cls-only",
            Strategy::ClsEmptyMask => "cls-empty-mask",
            Strategy::Copy => "copy",
            Strategy::Fragile => "fragile",
            Strategy::SlowAccurate => "slow-accurate",
            Strategy::Memoriser => "memoriser",
            Strategy::FastUseless => "fast-useless",
            Strategy::Bait => "bait",
            Strategy::CastCopy => "cast-copy",
            Strategy::TemperatureCopy => "temperature-copy",
            Strategy::SparseCopy => "sparse-copy",
            Strategy::RetunedCopy => "retuned-copy",
            Strategy::LoadTimeCompute => "load-time",
            Strategy::SlowGraph => "slow-graph",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Strategy::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Strategy::ALL.iter().map(|k| k.name()).collect();
                format!("unknown strategy '{s}' (expected {})", names.join(", "))
            })
    }
}

/// Makes the strategies of one modality and size, training the models they
/// share once. Cheap to create; each model is fitted on first use.
#[derive(Debug)]
pub struct Factory {
    modality: Modality,
    size: u32,
    memoriser_cases: usize,
    honest: OnceLock<Result<Honest, MinersError>>,
    fingerprint: OnceLock<Result<fragile::Fingerprint, MinersError>>,
}

impl Factory {
    /// A factory for `modality` at input size `size` (128, 256 or 512).
    pub fn new(modality: Modality, size: u32) -> Result<Self, MinersError> {
        if ![128, 256, 512].contains(&size) {
            return Err(MinersError::Size {
                strategy: "miner",
                size,
                why: "the contract allows 128, 256 or 512".into(),
            });
        }
        Ok(Factory {
            modality,
            size,
            memoriser_cases: medmetric_bench::pools::PHANTOM_POOL_LEN,
            honest: OnceLock::new(),
            fingerprint: OnceLock::new(),
        })
    }

    /// Limits the memoriser to the first `cases` pool cases (default: the
    /// whole pool). Rendering every case takes a while; tests cover fewer.
    pub fn with_memoriser_cases(mut self, cases: usize) -> Self {
        self.memoriser_cases = cases;
        self
    }

    /// The modality.
    pub fn modality(&self) -> Modality {
        self.modality
    }

    /// The input size.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The honest model, trained on first use (other threads asking
    /// meanwhile wait for it).
    pub fn honest(&self) -> Result<&Honest, MinersError> {
        self.honest
            .get_or_init(|| Honest::train(self.modality, self.size))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The fragile model's fingerprint, measured on first use.
    fn fingerprint(&self) -> Result<&fragile::Fingerprint, MinersError> {
        self.fingerprint
            .get_or_init(|| fragile::Fingerprint::fit(self.modality, self.size))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The ONNX bytes of `strategy`; `seed` drives [`Strategy::Copy`]'s
    /// noise and is ignored by the other strategies.
    pub fn make(&self, strategy: Strategy, seed: u64) -> Result<Vec<u8>, MinersError> {
        let (m, s) = (self.modality, self.size);
        Ok(match strategy {
            Strategy::Honest => strategies::honest(self.honest()?),
            Strategy::Null => strategies::null(s),
            Strategy::ClsOnly => strategies::cls_only(self.honest()?),
            Strategy::ClsEmptyMask => strategies::cls_empty_mask(self.honest()?),
            Strategy::Copy => strategies::copy(self.honest()?, seed),
            Strategy::Fragile => fragile::fragile(self.honest()?, self.fingerprint()?),
            Strategy::SlowAccurate => strategies::slow_accurate(self.honest()?),
            Strategy::Memoriser => Memoriser::build(m, s, self.memoriser_cases)?.to_onnx(),
            Strategy::FastUseless => strategies::fast_useless(m, s),
            Strategy::Bait => attacks::bait(self.honest()?)?,
            Strategy::CastCopy => attacks::cast_copy(self.honest()?)?,
            Strategy::TemperatureCopy => attacks::temperature_copy(self.honest()?)?,
            Strategy::SparseCopy => attacks::sparse_copy(self.honest()?)?,
            Strategy::RetunedCopy => attacks::retuned_copy(self.honest()?)?,
            Strategy::LoadTimeCompute => attacks::load_time(self.honest()?)?,
            Strategy::SlowGraph => attacks::slow_graph(self.honest()?)?,
        })
    }
}

/// The ONNX bytes of `strategy` for `modality` at input size `size`.
///
/// `seed` drives [`Strategy::Copy`]'s weight noise; the honest model itself
/// is fitted on fixed training rounds, so every honest-derived strategy
/// shares one set of weights per modality and size.
pub fn make(
    strategy: Strategy,
    modality: Modality,
    size: u32,
    seed: u64,
) -> Result<Vec<u8>, MinersError> {
    Factory::new(modality, size)?.make(strategy, seed)
}
