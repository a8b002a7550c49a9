//! # medmetric-chain
//!
//! How MedMetric talks to a Bittensor chain: the [`Chain`] trait, and the
//! **devnet** — a deterministic local chain that follows subtensor's rules
//! where they decide rewards (registration and pruning with immunity,
//! commitments and their size and space limits, weight validity, rate
//! limits, commit-reveal, an epoch every tempo running the real Yuma
//! Consensus from [`medmetric_yuma`], emission accounting).
//!
//! * [`Chain`] — what validators and miners need from a chain, synchronous;
//!   [`DevnetControl`] adds what only a devnet can do (produce blocks,
//!   change hyperparameters).
//! * [`Devnet`] — the chain itself, state in SQLite, usable in-process.
//! * [`DevnetServer`] — the devnet on `127.0.0.1` over a small HTTP/JSON
//!   API, so several processes share one chain; [`DevnetClient`] implements
//!   [`Chain`] over that API.
//!
//! Errors separate what the chain refused ([`ChainError::Rejected`] with a
//! [`Rejection`] named after subtensor's pallet errors) from what failed on
//! the way (transport, storage, protocol, timeouts).
//!
//! # Example
//!
//! ```
//! use medmetric_chain::{Chain, Coldkey, Devnet, DevnetConfig, DevnetControl, Hyperparameters};
//! use medmetric_core::Hotkey;
//!
//! # fn main() -> Result<(), medmetric_chain::ChainError> {
//! let config = DevnetConfig {
//!     hyperparameters: Hyperparameters { tempo: 9, weights_set_rate_limit: 0, ..Default::default() },
//!     ..DevnetConfig::default()
//! };
//! let chain = Devnet::in_memory(&config)?;
//! let owner = Coldkey("alice".into());
//! let validator = Hotkey("validator".into());
//! let miner = Hotkey("miner".into());
//! chain.burned_register(&validator, &owner)?;
//! chain.burned_register(&miner, &owner)?;
//! chain.add_stake(&owner, &validator, 1_000_000_000)?;
//!
//! // Validator permits are handed out by the epoch: wait for the first one.
//! chain.advance(10)?;
//! assert!(chain.metagraph()?.neurons[0].validator_permit);
//!
//! // Weights on the miner, then one more epoch pays it.
//! chain.set_weights(&validator, &[1], &[65535], 0)?;
//! chain.advance(10)?;
//! let metagraph = chain.metagraph()?;
//! assert_eq!(metagraph.neurons[1].incentive, 65535);
//! assert!(metagraph.neurons[1].emission > 0);
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/devnet.md` in the repository for the rules, the storage, the
//! HTTP API and the command line.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod client;
mod devnet;
mod error;
mod http;
mod server;
mod types;

use std::time::Duration;

use medmetric_core::{Hotkey, NetUid, Uid};

pub use client::DevnetClient;
pub use devnet::{
    Account, Devnet, DevnetConfig, DevnetState, DevnetStatus, MAX_ADVANCE_BLOCKS, MAX_REVEAL_SALT,
    MAX_TOTAL_STAKE, MAX_UNREVEALED_COMMITS, NeuronState, PendingWeightCommit, SpaceUsage,
    block_hash, blocks_until_next_epoch,
};
pub use error::{ChainError, Rejection};
pub use server::{DevnetServer, ServerOptions};
pub use types::{
    BlockHash, BlockInfo, Coldkey, Commitment, CommitmentField, Hyperparameters, MAX_BIG_RAW_FIELD,
    MAX_COMMITMENT_FIELDS, MAX_KEY_LEN, MAX_RAW_FIELD, MIN_COMMITMENT_SPACE, Metagraph, NeuronInfo,
    REVEAL_PERIOD_RANGE, SparseRows, WeightCommitInfo, check_commitment_fields, check_key,
    weights_commit_hash,
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

/// What only a devnet can do, in-process ([`Devnet`]) or over HTTP
/// ([`DevnetClient`]).
pub trait DevnetControl: Chain {
    /// Produces `blocks` blocks (running every epoch that falls due) and
    /// returns the new head.
    fn advance(&self, blocks: u64) -> Result<BlockInfo, ChainError>;

    /// Applies a JSON object of hyperparameter changes (sudo) and returns
    /// the result.
    fn set_hyperparameters(
        &self,
        changes: &serde_json::Value,
    ) -> Result<Hyperparameters, ChainError>;

    /// Block, epoch and emission counters.
    fn status(&self) -> Result<DevnetStatus, ChainError>;
}
