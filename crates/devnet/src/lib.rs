//! # medmetric-devnet
//!
//! The **devnet**: a deterministic local chain for one subnet that follows
//! subtensor's rules where they decide rewards (registration and pruning
//! with immunity, commitments and their size and space limits, weight
//! validity, rate limits, commit-reveal, an epoch every tempo running the
//! real Yuma Consensus from [`medmetric_yuma`], emission accounting), and
//! implements [`medmetric_chain::Chain`].
//!
//! * [`Devnet`] — the chain itself, state in SQLite, usable in-process.
//! * [`DevnetControl`] — what only a devnet can do: produce blocks, change
//!   hyperparameters, report its counters.
//! * [`DevnetServer`] — the devnet on `127.0.0.1` over a small HTTP/JSON
//!   API (HTTP from [`medmetric_http`]), so several processes share one
//!   chain; [`DevnetClient`] implements [`Chain`] and [`DevnetControl`]
//!   over that API.
//! * [`resolve_chain_spec`] — which devnet server a `--chain` value names.
//!
//! Rules that are not the devnet's own come from `medmetric-chain`: the
//! weight checks ([`medmetric_chain::validity`]) and the epoch schedule
//! ([`medmetric_chain::epoch`]).
//!
//! # Example
//!
//! ```
//! use medmetric_chain::{Chain, Coldkey, Hyperparameters};
//! use medmetric_core::Hotkey;
//! use medmetric_devnet::{Devnet, DevnetConfig, DevnetControl};
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
mod server;
mod spec;
mod state;
mod store;

use medmetric_chain::{Chain, ChainError, Hyperparameters};

pub use client::DevnetClient;
pub use devnet::{Devnet, DevnetConfig};
pub use server::{DevnetServer, ServerOptions};
pub use spec::{
    CHAIN_ENV, ChainSpecError, DEFAULT_DEVNET_URL, resolve_chain_spec, resolve_chain_spec_from_env,
};
pub use state::{
    Account, DevnetState, DevnetStatus, MAX_ADVANCE_BLOCKS, MAX_REVEAL_SALT, MAX_TOTAL_STAKE,
    MAX_UNREVEALED_COMMITS, NeuronState, PendingWeightCommit, SpaceUsage, block_hash,
};

// The chain's bound on `max_allowed_uids` is what the epoch can take.
const _: () = assert!(medmetric_chain::MAX_SUBNET_UIDS == medmetric_yuma::MAX_UIDS);

/// What only a devnet can do, in-process ([`Devnet`]) or over HTTP
/// ([`DevnetClient`]).
pub trait DevnetControl: Chain {
    /// Produces `blocks` blocks (running every epoch that falls due) and
    /// returns the new head.
    fn advance(&self, blocks: u64) -> Result<medmetric_chain::BlockInfo, ChainError>;

    /// Applies a JSON object of hyperparameter changes (sudo) and returns
    /// the result.
    fn set_hyperparameters(
        &self,
        changes: &serde_json::Value,
    ) -> Result<Hyperparameters, ChainError>;

    /// Block, epoch and emission counters.
    fn status(&self) -> Result<DevnetStatus, ChainError>;
}
