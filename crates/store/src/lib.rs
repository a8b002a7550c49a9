//! # medmetric-store
//!
//! Where model artifacts live and how a miner points at one on chain.
//!
//! * [`cid`] — IPFS CIDs computed exactly as Kubo's `ipfs add` does (CIDv0 by
//!   default, CIDv1 with raw leaves), so a miner can commit before publishing;
//!   a strict [`cid::parse`] for CIDs read from the chain.
//! * [`LocalStore`] — a content-addressed directory (the devnet default):
//!   atomic writes, the SHA-256 re-checked on every load, lookup by CID;
//!   [`default_dir`] is the folder miners and validators share by default.
//! * [`KuboRpc`] — publishes to an IPFS node through Kubo's RPC API and checks
//!   that the node computed our CID; [`Gateway`] — fetches by CID from the
//!   configured HTTP gateways under a byte cap and a deadline, trying the next
//!   gateway when one fails or serves bytes with the wrong SHA-256.
//! * [`commitment`] — the on-chain commitment (docs/artifacts.md#the-commitment):
//!   `Raw("mm1:<modality>:<cid>")` and `Sha256(SHA-256(sha256(onnx) ‖ hotkey))`,
//!   parsed strictly because it is hostile input.
//!
//! What is trusted is the SHA-256 of the ONNX bytes bound to the miner's
//! hotkey; a CID only says where to look. Nothing here ever fetches a URL
//! taken from a commitment: fetching takes a parsed [`cid::Cid`], and the
//! hosts come from configuration.
//!
//! ```
//! use medmetric_core::{Hotkey, Modality, ModelDigest};
//! use medmetric_store::{LocalStore, commitment::Commitment};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = LocalStore::open(dir.path())?;
//! let onnx = b"not really an onnx file".to_vec();
//! let artifact = store.put(&onnx)?;
//! assert_eq!(store.get(&artifact.sha256.to_string(), 1 << 20)?, onnx);
//!
//! let hotkey = Hotkey("miner-1".into());
//! let commitment = Commitment::new(Modality::Cxr, artifact.cid_v0, &artifact.sha256, &hotkey);
//! let (field0, field1) = commitment.fields();
//! let parsed = Commitment::parse(&field0, &field1)?;
//! assert!(parsed.verify_binding(&ModelDigest::of(&onnx), &hotkey));
//! assert!(!parsed.verify_binding(&ModelDigest::of(&onnx), &Hotkey("copycat".into())));
//! # Ok(())
//! # }
//! ```
//!
//! `docs/artifacts.md` in the repository describes the formats and the trust
//! model.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cid;
pub mod commitment;
mod ipfs;
mod local;

pub use cid::{Cid, CidError};
pub use ipfs::{
    Attempt, AttemptError, DEFAULT_GATEWAY_TIMEOUT, FetchError, Gateway, IpfsError, KuboRpc,
};
pub use local::{
    ArtifactRef, CACHE_ENV, DEFAULT_MAX_ARTIFACT_BYTES, LocalStore, StoreError, default_dir,
};
