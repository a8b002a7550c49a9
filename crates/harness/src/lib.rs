//! # medmetric-harness
//!
//! The one evaluation path. Whoever scores a model — the validator loop,
//! `medmetric eval`, the red-team simulation, the demo, and later the
//! hospital commands — goes through this crate, so every one of them
//! scores the same way:
//!
//! 1. [`plan::build_round`]: the round for an anchor block (fresh phantoms
//!    from the round seed, or given pools);
//! 2. [`Harness::evaluate`]: one model in the sandboxed worker, every image
//!    measured against the truth and the null predictor
//!    ([`evaluate::Evaluation`]);
//! 3. [`calibration`]: latencies scaled to the reference edge device;
//! 4. [`score`]: the mechanism's [`RoundScore`](medmetric_scoring::mechanism::RoundScore)
//!    with the failure kept typed;
//! 5. [`Harness::run_round`]: many models at once, copy detection through
//!    the copy ledger (initializers cached per SHA-256 in a
//!    [`WeightCache`]), and the credited score of each.
//!
//! A failure that is the validator's own (no runtime library, no worker,
//! the sandbox could not start) is never a miner's score:
//! [`Harness::run_round`] returns [`HarnessError::ValidatorFault`] and the
//! caller records nothing for that round.
//!
//! The ONNX Runtime library the `ort` backend loads is put in place by
//! [`install::install_onnxruntime`] (`medmetric setup onnxruntime`).
//!
//! ```no_run
//! use medmetric_bench::RoundConfig;
//! use medmetric_bench::round::Anchor;
//! use medmetric_core::Modality;
//! use medmetric_harness::{GatedModel, Harness, calibration::Calibration, plan, runtime};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes = std::fs::read("model.onnx")?;
//! let model = GatedModel::gate(bytes).map_err(|(_, e)| e)?;
//! let anchor = Anchor {
//!     netuid: medmetric_core::NetUid(0),
//!     block_number: medmetric_core::Block(0),
//!     block_hash: [7; 32],
//! };
//! let config = RoundConfig {
//!     size: model.report.size(),
//!     modalities: vec![Modality::Cxr],
//!     ..RoundConfig::default()
//! };
//! let round = plan::build_round(&anchor, &config, None, 2, &|| {})?;
//! let harness = Harness::new(
//!     runtime::mechanism("medmetric", None)?,
//!     runtime::sandbox_config(runtime::BackendChoice::Auto, 1)?,
//!     Calibration::IDENTITY,
//! );
//! let evaluation = harness.evaluate(&round, &model, &[Modality::Cxr], &|| {});
//! let scored = harness.score(&evaluation);
//! println!("composite {}", scored.score.composite);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod calibration;
pub mod evaluate;
pub mod install;
mod outcome;
pub mod plan;
pub mod runtime;

pub use outcome::{
    Entrant, GatedModel, Harness, Latency, ModelOutcome, Scored, WeightCache, score,
};

use medmetric_eval::sandbox::Failure;

/// What stops the harness (as opposed to a model failing, which is a
/// result).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Neither the worker binary nor a worker mode is available.
    #[error("cannot find the medmetric-worker binary next to this program (set MEDMETRIC_WORKER)")]
    NoWorker,
    /// `--backend ort` without the library.
    #[error(
        "ONNX Runtime is not installed: run `medmetric setup onnxruntime` (or use --backend tract)"
    )]
    OrtMissing,
    /// The mechanism config could not be loaded.
    #[error("mechanism: {0}")]
    Mechanism(String),
    /// The round could not be built.
    #[error("round: {0}")]
    Round(String),
    /// The validator itself could not evaluate (its runtime library, its
    /// worker, its sandbox): nobody's score may change.
    #[error("the validator could not evaluate models: {0}")]
    ValidatorFault(Failure),
}
