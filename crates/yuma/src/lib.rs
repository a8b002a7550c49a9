//! Yuma Consensus, ported from subtensor's epoch in the chain's own
//! fixed-point arithmetic.
//!
//! The Bittensor chain (subtensor) turns validators' weights into rewards
//! once per epoch: a stake-weighted median of the weights ("consensus")
//! caps what each validator can award, servers are paid by the capped
//! weight they receive ("incentive"), and validators are paid through
//! "bonds" — an exponential moving average of what they weighted — in
//! proportion to how the servers they bonded to perform ("dividends").
//!
//! This crate reproduces that computation bit for bit: the same
//! [`substrate_fixed`] types ([`I32F32`](math::I32F32),
//! [`I64F64`](math::I64F64), [`I96F32`](math::I96F32)), the same saturating
//! and checked operations in the same order, and the same sparse-matrix
//! semantics as subtensor's `epoch_mechanism`. It covers original Yuma
//! bonds and Yuma3 bonds with liquid alpha. The crate is pure: no I/O, no
//! clocks, no global state, and no panics — malformed input is rejected
//! with a [`YumaError`].
//!
//! * [`math`] — the fixed-point helpers (normalisation, masks, sparse and
//!   dense matrix operations, weighted median, bond EMAs, liquid alpha);
//! * [`epoch`] — [`EpochInput`] → [`run_epoch`] → [`EpochOutput`];
//! * [`scenario`] — multi-epoch JSON scenarios ([`run_scenario_json`]).
//!
//! # Example
//!
//! Two validators (stake 1 and 3) weighting two servers:
//!
//! ```
//! use medmetric_yuma::{EpochInput, EpochParams, run_epoch, validator_permits_from_stake};
//!
//! # fn main() -> Result<(), medmetric_yuma::YumaError> {
//! let params = EpochParams { max_allowed_validators: 2, ..EpochParams::default() };
//! let mut subnet = EpochInput::with_stakes(&[1, 3, 0, 0], params);
//! subnet.validator_permit = validator_permits_from_stake(&subnet)?; // uids 0 and 1
//!
//! // Weights are stored the way `set_weights` stores them (at block 1).
//! subnet.set_weights(0, &[2, 3], &[1, 1], 1)?;
//! subnet.set_weights(1, &[2, 3], &[3, 1], 1)?;
//! subnet.current_block = 1;
//! subnet.emission = 1_000_000_000;
//!
//! let out = run_epoch(&subnet)?;
//! // Servers are paid by the clipped consensus weight they receive ...
//! assert!(out.incentive[2] > out.incentive[3]);
//! // ... and the emission splits evenly between servers and validators.
//! let total: u64 = out.emission.iter().sum();
//! assert!(total <= 1_000_000_000 && total > 999_999_990);
//!
//! // Carry bonds and permits into the next epoch.
//! subnet.apply(&out);
//! assert!(!subnet.bonds[1].is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! Scenarios run several epochs from a JSON description:
//!
//! ```
//! let json = r#"{"stakes": [1, 0], "epochs": [{"weights": [[0, 1], [0, 0]]}]}"#;
//! let out = medmetric_yuma::run_scenario_json(json).unwrap();
//! assert!(out.contains("\"emission\""));
//! ```
//!
//! See `docs/yuma.md` in the repository for a walk-through of the epoch.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod epoch;
pub mod error;
pub mod math;
pub mod scenario;

pub use epoch::{
    EpochInput, EpochOutput, EpochParams, StoredTerms, activity_cutoff_blocks, run_epoch,
    stake_from_u64, validator_permits_from_stake,
};
pub use error::YumaError;
pub use scenario::{
    Scenario, ScenarioEpoch, ScenarioEpochOutput, ScenarioOutput, ScenarioParams, run_scenario,
    run_scenario_json,
};

/// Largest subnet (number of uids) the crate accepts.
pub const MAX_UIDS: usize = 4096;

/// Largest number of epochs a scenario may contain.
pub const MAX_SCENARIO_EPOCHS: usize = 1000;
