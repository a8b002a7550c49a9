//! # medmetric-sim
//!
//! Simulations over the real evaluation path ([`medmetric_harness`]):
//!
//! * [`demo`] — the whole subnet on a devnet in one process: red-team
//!   miners commit and publish, three validators (one setting random
//!   weights) run the real validator loop, Yuma Consensus pays them, and an
//!   HTML report shows what happened.
//! * [`redteam`] — every red-team strategy of `medmetric-miners` evaluated
//!   in the sandbox on several rounds, scored under every mechanism profile
//!   side by side, with the default profile's invariants checked.
//!
//! ```no_run
//! use medmetric_core::Modality;
//! use medmetric_harness::runtime::{BackendChoice, sandbox_config};
//! use medmetric_sim::redteam::{self, RedteamConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = RedteamConfig {
//!     rounds: 3,
//!     size: 128,
//!     cases: 8,
//!     modality: Modality::Cxr,
//!     sandbox: sandbox_config(BackendChoice::Tract, 1)?,
//! };
//! let report = redteam::run(&cfg, &|_| {})?;
//! assert!(report.ok(), "{}", report.checks());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod demo;
pub mod redteam;

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The settings are unusable.
    #[error("{0}")]
    Config(String),
    /// A strategy's model could not be made or was refused.
    #[error("{0}")]
    Model(String),
    /// The evaluation setup failed.
    #[error("{0}")]
    Setup(String),
    /// Making a red-team model failed.
    #[error(transparent)]
    Miners(#[from] medmetric_miners::MinersError),
    /// The evaluation path failed.
    #[error(transparent)]
    Harness(#[from] medmetric_harness::HarnessError),
    /// The chain refused or failed.
    #[error("chain: {0}")]
    Chain(#[from] medmetric_chain::ChainError),
    /// A validator's step failed.
    #[error("validator: {0}")]
    Node(#[from] medmetric_validator::node::NodeError),
    /// A validator's state failed.
    #[error(transparent)]
    State(#[from] medmetric_validator::state::StateError),
    /// The artifact store failed.
    #[error("store: {0}")]
    Store(#[from] medmetric_store::StoreError),
    /// A commitment could not be made.
    #[error("commitment: {0}")]
    Commitment(#[from] medmetric_store::commitment::CommitmentError),
    /// A file or folder could not be written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Printing the story failed.
    #[error("output: {0}")]
    Output(#[from] std::io::Error),
}
