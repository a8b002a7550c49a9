//! Gate, commit, then publish.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use medmetric_chain::{Chain, ChainError};
use medmetric_core::{Hotkey, Modality, ModelDigest, NetUid, Uid};
use medmetric_model::gate::{self, GateError, GateLimits};
use medmetric_store::cid::{Cid, Version};
use medmetric_store::commitment::Commitment;
use medmetric_store::{ArtifactRef, IpfsError, KuboRpc, LocalStore, StoreError};

/// What [`publish`] did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The committing hotkey.
    pub hotkey: Hotkey,
    /// Its uid on the subnet.
    pub uid: Uid,
    /// The subnet.
    pub netuid: NetUid,
    /// What the model reads.
    pub modality: Modality,
    /// SHA-256 of the model: its identity.
    pub sha256: ModelDigest,
    /// The CIDv0 committed to (Kubo's for the same bytes).
    pub cid: Cid,
    /// Block of the commitment on chain.
    pub commit_block: u64,
    /// Whether an identical commitment was already on chain and was kept
    /// (its block is `commit_block`).
    pub already_committed: bool,
    /// What the local store holds.
    pub artifact: ArtifactRef,
}

impl Published {
    /// The first block a round may be seeded at for this model to take
    /// part: the commitment's block plus `eval_delay`.
    pub fn eligible_at(&self, eval_delay: u64) -> u64 {
        self.commit_block.saturating_add(eval_delay)
    }
}

/// Why [`publish`] or [`pin_to_ipfs`] stopped. Messages are one line; the
/// underlying error, when there is one, is the [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The gate refused the model; nothing was committed.
    #[error("model refused by the gate: {0}")]
    Gate(GateError),
    /// The hotkey has no uid on the subnet; nothing was committed.
    #[error(
        "hotkey {hotkey} is not registered on subnet {}: register it first \
         (on a devnet: medmetric devnet register --url URL --hotkey {hotkey} --coldkey COLDKEY)",
        netuid.0
    )]
    NotRegistered {
        /// The hotkey.
        hotkey: Hotkey,
        /// The subnet.
        netuid: NetUid,
    },
    /// The metagraph could not be read.
    #[error("cannot read the metagraph")]
    Metagraph(#[source] ChainError),
    /// The hotkey's current commitment could not be read.
    #[error("cannot read the current commitment")]
    ReadCommitment(#[source] ChainError),
    /// The chain did not take the commitment.
    #[error("cannot set the commitment {commitment}")]
    SetCommitment {
        /// The commitment's field 0.
        commitment: String,
        /// Why.
        #[source]
        source: ChainError,
    },
    /// The commitment is on chain but the local store failed: publishing
    /// again finishes the job and keeps the commitment.
    #[error("committed at block {commit_block}, but storing the artifact in {} failed", store.display())]
    Store {
        /// Block of the commitment.
        commit_block: u64,
        /// The store's folder.
        store: PathBuf,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The store recorded other digests than the ones committed to.
    #[error(
        "the store recorded {} / {} for an artifact with SHA-256 {sha256} and CID {cid}",
        stored.sha256,
        stored.cid_v0
    )]
    StoreMismatch {
        /// The model's SHA-256.
        sha256: ModelDigest,
        /// Its CID.
        cid: Cid,
        /// What the store recorded (boxed: it is rare and large).
        stored: Box<ArtifactRef>,
    },
    /// Committed and stored locally, but the IPFS node failed.
    #[error(
        "committed at block {commit_block} and stored locally, but publishing to IPFS failed \
         (run the same command again: the commitment is kept)"
    )]
    Ipfs {
        /// Block of the commitment.
        commit_block: u64,
        /// Why.
        #[source]
        source: IpfsError,
    },
    /// The IPFS node stored the bytes under another CID than the committed
    /// one, so the commitment would not lead to them there.
    #[error("the IPFS node stored the artifact as {got}, but the commitment names {committed}")]
    IpfsCidMismatch {
        /// The node's CID.
        got: Cid,
        /// The committed CID.
        committed: Cid,
    },
}

/// Gate-checks `model`, commits it for `hotkey` on `chain`
/// (docs/design.md#3-commitments-and-eligibility), then stores it in
/// `store`.
///
/// The commitment comes before the file is published anywhere: nobody can
/// see the file before its commitment has a block, so the earliest
/// commitment of a model is its original. The hotkey must be registered.
/// When the chain already holds exactly this commitment for the hotkey it
/// is kept rather than set again, so republishing does not reset the
/// commitment's block (the eligibility clock); a new model restarts it.
pub fn publish(
    chain: &dyn Chain,
    store: &LocalStore,
    model: &[u8],
    modality: Modality,
    hotkey: &Hotkey,
) -> Result<Published, PublishError> {
    gate_check(model)?;
    let sha256 = ModelDigest::of(model);
    let cid = Cid::of(model, Version::V0);
    let commitment = Commitment::new(modality, cid, &sha256, hotkey);
    let fields = commitment.to_chain_fields();

    let netuid = chain.netuid();
    let metagraph = chain.metagraph().map_err(PublishError::Metagraph)?;
    let uid =
        metagraph
            .neuron(hotkey)
            .map(|n| n.uid)
            .ok_or_else(|| PublishError::NotRegistered {
                hotkey: hotkey.clone(),
                netuid,
            })?;

    let current = chain
        .commitment(hotkey)
        .map_err(PublishError::ReadCommitment)?;
    let (commit_block, already_committed) = match current {
        Some(c) if c.fields == fields => (c.block.0, true),
        _ => {
            let block = chain.set_commitment(hotkey, &fields).map_err(|source| {
                PublishError::SetCommitment {
                    commitment: commitment.to_string(),
                    source,
                }
            })?;
            (block.number.0, false)
        }
    };

    // Only now, with the commitment in a block, does the file become
    // available.
    let artifact = store.put(model).map_err(|source| PublishError::Store {
        commit_block,
        store: store.root().to_path_buf(),
        source,
    })?;
    if artifact.sha256 != sha256 || artifact.cid_v0 != cid {
        return Err(PublishError::StoreMismatch {
            sha256,
            cid,
            stored: Box::new(artifact),
        });
    }
    Ok(Published {
        hotkey: hotkey.clone(),
        uid,
        netuid,
        modality,
        sha256,
        cid,
        commit_block,
        already_committed,
        artifact,
    })
}

/// Adds the published `model` to a Kubo node, pinned, and checks that the
/// node's CID is the committed one. Run after [`publish`]: the file must not
/// be out before its commitment.
pub fn pin_to_ipfs(
    kubo: &KuboRpc,
    model: &[u8],
    published: &Published,
) -> Result<Cid, PublishError> {
    let got = kubo.add(model, true).map_err(|source| PublishError::Ipfs {
        commit_block: published.commit_block,
        source,
    })?;
    if got != published.cid {
        return Err(PublishError::IpfsCidMismatch {
            got,
            committed: published.cid,
        });
    }
    Ok(got)
}

/// The contract check, refusing with the gate's one-line reason.
fn gate_check(model: &[u8]) -> Result<(), PublishError> {
    // The gate is written not to panic; this keeps a bug from turning into
    // anything but a refusal.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        gate::check_bytes(model, &GateLimits::default())
    }))
    .unwrap_or_else(|_| {
        Err(GateError::Contract(
            "internal error while checking the model".into(),
        ))
    });
    outcome.map(drop).map_err(PublishError::Gate)
}

#[cfg(test)]
mod tests {
    use medmetric_chain::Coldkey;
    use medmetric_devnet::{Devnet, DevnetConfig, DevnetControl};
    use medmetric_model::reference::{self, ReferenceKind};

    use super::*;

    fn setup() -> (Devnet, LocalStore, tempfile::TempDir) {
        let chain = Devnet::in_memory(&DevnetConfig::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("store")).unwrap();
        (chain, store, dir)
    }

    #[test]
    fn commits_then_stores_and_keeps_an_identical_commitment() {
        let (chain, store, _dir) = setup();
        let h = Hotkey("m".into());
        chain.burned_register(&h, &Coldkey("c".into())).unwrap();
        let model = reference::make(ReferenceKind::Threshold, 128);

        let first = publish(&chain, &store, &model, Modality::Brain, &h).unwrap();
        assert!(!first.already_committed);
        assert_eq!(first.sha256, ModelDigest::of(&model));
        assert_eq!(first.eligible_at(100), first.commit_block + 100);
        let onchain = chain.commitment(&h).unwrap().unwrap();
        assert_eq!(onchain.block.0, first.commit_block);
        let parsed = Commitment::try_from(&onchain).unwrap();
        assert_eq!(parsed.modality_kind(), Modality::Brain);
        assert!(parsed.verify_binding(&first.sha256, &h));
        assert!(store.contains(&first.sha256.to_string()));

        chain.advance(3).unwrap();
        let again = publish(&chain, &store, &model, Modality::Brain, &h).unwrap();
        assert!(again.already_committed);
        assert_eq!(again.commit_block, first.commit_block);

        // Another modality is another commitment: the clock restarts.
        let other = publish(&chain, &store, &model, Modality::Cxr, &h).unwrap();
        assert!(!other.already_committed);
        assert!(other.commit_block > first.commit_block);
    }

    #[test]
    fn refusals_commit_and_store_nothing() {
        let (chain, store, _dir) = setup();
        let h = Hotkey("m".into());
        let model = reference::make(ReferenceKind::Null, 128);
        let err = publish(&chain, &store, &model, Modality::Cxr, &h).unwrap_err();
        assert!(matches!(err, PublishError::NotRegistered { .. }), "{err}");
        assert!(err.to_string().contains("not registered"), "{err}");
        assert!(!store.contains(&ModelDigest::of(&model).to_string()));

        chain.burned_register(&h, &Coldkey("c".into())).unwrap();
        let err = publish(&chain, &store, b"not onnx", Modality::Cxr, &h).unwrap_err();
        assert!(matches!(err, PublishError::Gate(_)), "{err}");
        assert!(err.to_string().starts_with("model refused by the gate: "));
        assert!(chain.commitment(&h).unwrap().is_none());
        assert!(!store.contains(&ModelDigest::of(b"not onnx").to_string()));
    }
}
