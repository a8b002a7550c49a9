//! # medmetric-chain
//!
//! How MedMetric talks to a Bittensor chain, without any particular chain:
//!
//! * [`Chain`] — what validators and miners need from a chain, synchronous.
//!   `medmetric-devnet` implements it (in-process and over HTTP); a
//!   subtensor client would too.
//! * The records it reads and writes ([`Metagraph`], [`Hyperparameters`],
//!   [`Commitment`], …) and the hash a weight commit carries
//!   ([`weights_commit_hash`]).
//! * [`validity`] — subtensor's rules for a weight vector, bit for bit, so
//!   a validator refuses what the chain would refuse before sending it.
//! * [`epoch`] — subtensor's epoch schedule, which the devnet runs epochs
//!   by and validators anchor rounds on.
//!
//! Errors separate what the chain refused ([`ChainError::Rejected`] with a
//! [`Rejection`] named after subtensor's pallet errors) from what failed on
//! the way (transport, storage, protocol, timeouts).
//!
//! Light on purpose: no SQLite, no HTTP, no Yuma — a crate that only needs
//! to talk about the chain links this and `medmetric-core`.
//!
//! # Example
//!
//! ```
//! use medmetric_chain::validity::{ChainWeightParams, check_set_weights};
//! use medmetric_chain::{ChainError, Rejection, epoch};
//!
//! // The anchor of the current round: the last epoch block.
//! assert_eq!(epoch::last_epoch_block(100, 9, 1), Some(97));
//!
//! // Weights the chain would refuse, refused before sending.
//! let params = ChainWeightParams { subnet_n: 3, min_allowed_weights: 2, max_weight_limit: u16::MAX };
//! let refused = check_set_weights(&params, None, &[0], &[65535]).unwrap_err();
//! assert_eq!(refused, Rejection::WeightVecLengthIsLow { len: 1, min_allowed: 2 });
//! assert!(ChainError::from(refused).is_rejection());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod epoch;
mod error;
mod fixed;
mod types;
pub mod validity;

use std::time::Duration;

use medmetric_core::{Hotkey, NetUid, Uid};

pub use error::{ChainError, Rejection};
pub use types::{
    BlockHash, BlockInfo, Coldkey, Commitment, CommitmentField, Hyperparameters, MAX_BIG_RAW_FIELD,
    MAX_COMMITMENT_FIELDS, MAX_KEY_LEN, MAX_RAW_FIELD, MAX_SUBNET_UIDS, MIN_COMMITMENT_SPACE,
    Metagraph, NeuronInfo, REVEAL_PERIOD_RANGE, SparseRows, WeightCommitInfo,
    check_commitment_fields, check_key, hex32, weights_commit_hash,
};

/// What validators and miners need from a chain, for one subnet.
///
/// Calls that change state act for the hotkey (or coldkey) they name; a
/// real-chain implementation signs with that key and refuses keys it does
/// not hold. Every call returns once the change is part of a block.
pub trait Chain {
    /// The subnet this handle works on.
    fn netuid(&self) -> NetUid;

    /// The current block (the chain's head).
    fn block(&self) -> Result<BlockInfo, ChainError>;

    /// The hash of block `number`; [`Rejection::UnknownBlock`] beyond the
    /// head.
    fn block_hash(&self, number: u64) -> Result<BlockHash, ChainError>;

    /// The subnet's metagraph at the current block.
    fn metagraph(&self) -> Result<Metagraph, ChainError>;

    /// Stored weights: one sparse `(uid, u16)` row per uid.
    fn weights(&self) -> Result<SparseRows, ChainError>;

    /// Stored bonds: one sparse `(uid, u16)` row per uid.
    fn bonds(&self) -> Result<SparseRows, ChainError>;

    /// The subnet's hyperparameters.
    fn hyperparameters(&self) -> Result<Hyperparameters, ChainError>;

    /// Every commitment on the subnet with the block it was set at, in
    /// hotkey order (deregistered hotkeys keep theirs, as on chain).
    fn commitments(&self) -> Result<Vec<Commitment>, ChainError>;

    /// One hotkey's commitment.
    fn commitment(&self, hotkey: &Hotkey) -> Result<Option<Commitment>, ChainError>;

    /// Replaces `hotkey`'s commitment (registered hotkeys only; at most
    /// [`MAX_COMMITMENT_FIELDS`] fields, per-epoch space limited). Returns
    /// the block it was set at.
    fn set_commitment(
        &self,
        hotkey: &Hotkey,
        fields: &[CommitmentField],
    ) -> Result<BlockInfo, ChainError>;

    /// Sets weights directly (commit-reveal off). Values are stored
    /// max-upscaled to u16.
    fn set_weights(
        &self,
        hotkey: &Hotkey,
        uids: &[u16],
        values: &[u16],
        version_key: u64,
    ) -> Result<BlockInfo, ChainError>;

    /// Commits a hash of weights ([`weights_commit_hash`]) while
    /// commit-reveal is on.
    fn commit_weights(
        &self,
        hotkey: &Hotkey,
        hash: [u8; 32],
    ) -> Result<WeightCommitInfo, ChainError>;

    /// Reveals committed weights, exactly `reveal_period` epochs after the
    /// commit.
    fn reveal_weights(
        &self,
        hotkey: &Hotkey,
        uids: &[u16],
        values: &[u16],
        salt: &[u16],
        version_key: u64,
    ) -> Result<BlockInfo, ChainError>;

    /// Registers `hotkey` (owned by `coldkey`) by burning the registration
    /// cost; returns the uid it got (a fresh one, or the pruned one's when
    /// the subnet is full).
    fn burned_register(&self, hotkey: &Hotkey, coldkey: &Coldkey) -> Result<Uid, ChainError>;

    /// Adds `amount` rao of stake from `coldkey` to `hotkey`; returns the
    /// hotkey's new stake.
    fn add_stake(&self, coldkey: &Coldkey, hotkey: &Hotkey, amount: u64)
    -> Result<u64, ChainError>;

    /// Blocks until the chain reaches block `number` (returns at once if it
    /// has), or fails with [`ChainError::Timeout`].
    fn wait_for_block(&self, number: u64, timeout: Duration) -> Result<BlockInfo, ChainError>;
}
