//! # medmetric-miner
//!
//! The miner's side of the subnet as library calls; `medmetric miner`,
//! the demo and the tests use the same functions.
//!
//! * [`publish`] — the commit-before-publish order
//!   (docs/design.md#3-commitments-and-eligibility): the gate checks the
//!   file, the SHA-256 and Kubo's CIDv0 are computed locally, the commitment
//!   `mm1:<modality>:<cid>` + `SHA-256(sha256 ‖ hotkey)` goes on chain, and
//!   only then does the artifact go into the local content-addressed store;
//!   [`pin_to_ipfs`] then adds it to a Kubo node. An identical commitment
//!   already on chain is kept, with its block.
//! * [`status`] — registration, the commitment as validators parse it,
//!   eligibility (commit block + evaluation delay), and the standing among
//!   miners (incentive, emission, rank).
//! * [`wallet`] — Bittensor wallet folders, public addresses only.
//!
//! The chain is any [`medmetric_chain::Chain`]: a devnet client, an
//! in-process devnet, or (later) subtensor.
//!
//! ```
//! use medmetric_chain::{Chain, Coldkey};
//! use medmetric_core::{Hotkey, Modality};
//! use medmetric_devnet::{Devnet, DevnetConfig, DevnetControl};
//! use medmetric_model::reference::{self, ReferenceKind};
//! use medmetric_store::LocalStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let chain = Devnet::in_memory(&DevnetConfig::default())?;
//! let (coldkey, hotkey) = medmetric_miner::wallet::resolve_wallet(
//!     "owner",
//!     "miner-1",
//!     Some(std::path::Path::new("/nonexistent")),
//! )?;
//! chain.burned_register(&hotkey, &coldkey)?;
//!
//! let dir = tempfile::tempdir()?;
//! let store = LocalStore::open(dir.path())?;
//! let model = reference::make(ReferenceKind::Threshold, 128);
//! let published = medmetric_miner::publish(&chain, &store, &model, Modality::Cxr, &hotkey)?;
//! assert_eq!(store.lookup_cid(&published.cid)?, Some(published.sha256));
//!
//! // Publishing the same model again keeps the commitment and its block.
//! chain.advance(5)?;
//! let again = medmetric_miner::publish(&chain, &store, &model, Modality::Cxr, &hotkey)?;
//! assert!(again.already_committed);
//! assert_eq!(again.commit_block, published.commit_block);
//!
//! let status = medmetric_miner::status::read(&chain, &hotkey, 3)?;
//! assert_eq!(status.uid, Some(published.uid));
//! assert!(status.eligible);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod publish;
pub mod status;
pub mod wallet;

pub use publish::{PublishError, Published, pin_to_ipfs, publish};

/// Blocks between a commitment and the first round seed block it may take
/// part in (`eval_delay`, docs/design.md#3-commitments-and-eligibility).
pub const DEFAULT_EVAL_DELAY: u64 = 100;
