//! The incentive mechanism (docs/mechanism.md): from per-image measurements to the
//! shares that become weights.
//!
//! A round flows through it like this:
//!
//! 1. The evaluator records each prediction with [`ImageMetrics::measure`],
//!    the null predictor on the same image with [`ImageMetrics::null`], and
//!    each robustness probe with [`ProbeOutcome::measure`].
//! 2. [`score`] turns one model's records into a [`RoundScore`] under the
//!    [`MechanismConfig`]'s profile (`medmetric` by default; `seed`, `sn34`,
//!    `sn87` for comparison).
//! 3. [`copies::detect`] (or a [`copies::CopyLedger`] across rounds) finds
//!    duplicates; their composites become 0.
//! 4. [`ScoreBook::update`] folds the composites into a moving score per
//!    hotkey.
//! 5. [`apply_incumbency`] gives earlier commitments their ε advantage, and
//!    [`reward::apply`] turns the moving scores into shares, which
//!    [`crate::weights`] converts to the chain's u16 weights.
//!
//! The formulas, with a worked example, are in `docs/mechanism.md`.
//!
//! ```
//! use medmetric_scoring::mechanism::{self, ImageMetrics, MechanismConfig};
//!
//! let cfg = MechanismConfig::builtin("medmetric")?;
//! let normal = [0u8; 16];
//! let mut lesion = [0u8; 16];
//! lesion[5] = 1;
//! lesion[6] = 1;
//!
//! // A model that finds the lesion and classifies both images.
//! let mut pred = [0.01f32; 16];
//! pred[5] = 0.95;
//! pred[6] = 0.9;
//! let images = [
//!     ImageMetrics::measure("cxr", Some(&[0.01; 16]), Some(0.1), &normal, false)?,
//!     ImageMetrics::measure("cxr", Some(&pred), Some(0.9), &lesion, true)?,
//! ];
//! let null = [
//!     ImageMetrics::null("cxr", &normal, false)?,
//!     ImageMetrics::null("cxr", &lesion, true)?,
//! ];
//! let s = mechanism::score(&cfg, &images, &null, &[], Some(90.0));
//! assert!(s.composite > 0.5);
//!
//! // The null predictor itself earns nothing.
//! let n = mechanism::score(&cfg, &null, &null, &[], Some(1.0));
//! assert_eq!(n.composite, 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod book;
pub mod config;
pub mod copies;
mod incumbency;
mod measure;
pub mod reward;
mod score;

pub use book::{BookEntry, ScoreBook};
pub use config::{MechanismConfig, Profile};
pub use incumbency::{apply_incumbency, epsilon};
pub use measure::{ImageMetrics, MaskMetrics, NO_CLS_PROBABILITY, ProbeOutcome};
pub use score::{GroupScore, MinerType, RoundScore, score, speed_credit};
