//! A miner's registration, commitment, eligibility and standing, as
//! `medmetric miner status` reports them.
//!
//! [`read`] takes what it needs from the chain; [`Status::compute`] is the
//! pure part, from a metagraph, the weights and the hotkey's commitment.

use medmetric_chain::{Chain, ChainError, Metagraph, SparseRows};
use medmetric_core::{Hotkey, ModelDigest, Uid};
use medmetric_store::LocalStore;
use medmetric_store::commitment::{Commitment, CommitmentError};

/// A miner's standing in the metagraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Incentive at the last epoch, `u16::MAX` = all of it.
    pub incentive: u16,
    /// Emission at the last epoch, in rao.
    pub emission: u64,
    /// Stake, in rao.
    pub stake: u64,
    /// Rank among miners by incentive: 1 is the highest, ties share a rank.
    pub rank: usize,
    /// How many miners there are: the uids that have set no weights, plus
    /// this one.
    pub miners: usize,
    /// How many validators have a non-zero weight on this uid.
    pub weighted_by: usize,
}

impl Standing {
    /// The incentive as a share, 0 to 1.
    pub fn incentive_share(&self) -> f64 {
        f64::from(self.incentive) / f64::from(u16::MAX)
    }
}

/// `uid`'s standing, `None` when the metagraph has no such uid.
///
/// Miners are the uids that have set no weights (plus `uid` itself, so a
/// miner that also validates still gets a rank); rank 1 is the highest
/// incentive, ties share a rank.
pub fn standing(metagraph: &Metagraph, weights: &SparseRows, uid: Uid) -> Option<Standing> {
    let me = metagraph.neurons.iter().find(|n| n.uid == uid)?;
    let sets_weights = |u: Uid| {
        weights
            .get(usize::from(u.0))
            .is_some_and(|row| !row.is_empty())
    };
    let miners: Vec<_> = metagraph
        .neurons
        .iter()
        .filter(|n| n.uid == uid || !sets_weights(n.uid))
        .collect();
    let rank = 1 + miners.iter().filter(|n| n.incentive > me.incentive).count();
    let weighted_by = weights
        .iter()
        .filter(|row| row.iter().any(|&(to, w)| to == uid.0 && w > 0))
        .count();
    Some(Standing {
        incentive: me.incentive,
        emission: me.emission,
        stake: me.stake,
        rank,
        miners: miners.len(),
        weighted_by,
    })
}

/// The hotkey's commitment on chain, parsed as validators parse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnChain {
    /// The block it was set at.
    pub block: u64,
    /// The commitment, or why validators skip it.
    pub parsed: Result<Commitment, CommitmentError>,
}

/// Everything `miner status` reports but the local artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The head block the status was read at.
    pub head: u64,
    /// The hotkey's uid, `None` when it is not registered.
    pub uid: Option<Uid>,
    /// The current commitment, `None` when there is none.
    pub commitment: Option<OnChain>,
    /// The blocks between a commitment and the first round it may take
    /// part in.
    pub eval_delay: u64,
    /// The first round seed block the committed model may take part in,
    /// `None` without a valid commitment.
    pub eligible_at: Option<u64>,
    /// Whether `head` has reached `eligible_at`.
    pub eligible: bool,
    /// The standing, when registered.
    pub standing: Option<Standing>,
    /// How many uids have set weights.
    pub validators_setting_weights: usize,
}

impl Status {
    /// The status of `hotkey` at block `head`, given the metagraph, the
    /// weights and its commitment as the chain holds them.
    pub fn compute(
        head: u64,
        metagraph: &Metagraph,
        weights: &SparseRows,
        hotkey: &Hotkey,
        commitment: Option<&medmetric_chain::Commitment>,
        eval_delay: u64,
    ) -> Status {
        let uid = metagraph.neuron(hotkey).map(|n| n.uid);
        let commitment = commitment.map(|c| OnChain {
            block: c.block.0,
            parsed: Commitment::try_from(c),
        });
        let eligible_at = commitment
            .as_ref()
            .filter(|c| c.parsed.is_ok())
            .map(|c| c.block.saturating_add(eval_delay));
        Status {
            head,
            uid,
            eligible: eligible_at.is_some_and(|at| head >= at),
            eligible_at,
            eval_delay,
            standing: uid.and_then(|u| standing(metagraph, weights, u)),
            validators_setting_weights: weights.iter().filter(|row| !row.is_empty()).count(),
            commitment,
        }
    }

    /// The commitment when it parses, with its block.
    pub fn valid_commitment(&self) -> Option<(u64, &Commitment)> {
        let c = self.commitment.as_ref()?;
        c.parsed.as_ref().ok().map(|parsed| (c.block, parsed))
    }
}

/// Why [`read`] failed: which read the chain did not answer.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The head block.
    #[error("cannot read the head block")]
    Head(#[source] ChainError),
    /// The metagraph.
    #[error("cannot read the metagraph")]
    Metagraph(#[source] ChainError),
    /// The weights.
    #[error("cannot read the weights")]
    Weights(#[source] ChainError),
    /// The hotkey's commitment.
    #[error("cannot read the commitment")]
    Commitment(#[source] ChainError),
}

/// Reads `hotkey`'s status from `chain`.
pub fn read(chain: &dyn Chain, hotkey: &Hotkey, eval_delay: u64) -> Result<Status, StatusError> {
    let head = chain.block().map_err(StatusError::Head)?.number.0;
    let metagraph = chain.metagraph().map_err(StatusError::Metagraph)?;
    let weights = chain.weights().map_err(StatusError::Weights)?;
    let commitment = chain.commitment(hotkey).map_err(StatusError::Commitment)?;
    Ok(Status::compute(
        head,
        &metagraph,
        &weights,
        hotkey,
        commitment.as_ref(),
        eval_delay,
    ))
}

/// The committed artifact in `store`: its SHA-256 and whether `commitment`
/// binds it to `hotkey`. `None` when the store does not hold it (or cannot
/// read its index).
pub fn local_artifact(
    store: &LocalStore,
    commitment: &Commitment,
    hotkey: &Hotkey,
) -> Option<(ModelDigest, bool)> {
    store
        .lookup_cid(commitment.cid())
        .ok()
        .flatten()
        .filter(|sha| store.contains(&sha.to_string()))
        .map(|sha| (sha, commitment.verify_binding(&sha, hotkey)))
}

#[cfg(test)]
mod tests {
    use medmetric_chain::{Coldkey, CommitmentField, NeuronInfo};
    use medmetric_core::{Block, Modality, NetUid};
    use medmetric_store::cid::{Cid, Version};

    use super::*;

    fn neuron(uid: u16, incentive: u16) -> NeuronInfo {
        NeuronInfo {
            uid: Uid(uid),
            hotkey: Hotkey(format!("h{uid}")),
            coldkey: Coldkey("c".into()),
            stake: 0,
            validator_permit: false,
            last_update: Block(0),
            block_at_registration: Block(0),
            active: true,
            immune: false,
            stake_weight: 0,
            consensus: 0,
            incentive,
            dividends: 0,
            validator_trust: 0,
            emission: u64::from(incentive) * 10,
        }
    }

    fn metagraph() -> Metagraph {
        Metagraph {
            netuid: NetUid(1),
            block: Block(10),
            neurons: vec![
                neuron(0, 0),
                neuron(1, 30_000),
                neuron(2, 20_000),
                neuron(3, 20_000),
                neuron(4, 100),
            ],
        }
    }

    #[test]
    fn rank_counts_only_miners_and_shares_ties() {
        let metagraph = metagraph();
        // uid 0 is a validator weighting 1 and 2.
        let weights: SparseRows = vec![vec![(1, 65_535), (2, 40_000)], vec![], vec![], vec![]];
        let s = standing(&metagraph, &weights, Uid(3)).unwrap();
        assert_eq!((s.rank, s.miners, s.weighted_by), (2, 4, 0));
        let s = standing(&metagraph, &weights, Uid(2)).unwrap();
        assert_eq!((s.rank, s.weighted_by, s.emission), (2, 1, 200_000));
        let s = standing(&metagraph, &weights, Uid(1)).unwrap();
        assert_eq!(s.rank, 1);
        let s = standing(&metagraph, &weights, Uid(4)).unwrap();
        assert_eq!(s.rank, 4);
        assert!(standing(&metagraph, &weights, Uid(9)).is_none());
    }

    #[test]
    fn eligibility_needs_a_valid_commitment_and_the_delay() {
        let metagraph = metagraph();
        let weights: SparseRows = vec![vec![(2, 1)]];
        let h = Hotkey("h2".into());
        let c = Commitment::new(
            Modality::Cxr,
            Cid::of(b"m", Version::V0),
            &ModelDigest::of(b"m"),
            &h,
        );
        let onchain = medmetric_chain::Commitment {
            hotkey: h.clone(),
            block: Block(50),
            fields: c.to_chain_fields(),
        };

        let s = Status::compute(149, &metagraph, &weights, &h, Some(&onchain), 100);
        assert_eq!(
            (s.uid, s.eligible_at, s.eligible),
            (Some(Uid(2)), Some(150), false)
        );
        assert_eq!(s.valid_commitment(), Some((50, &c)));
        assert_eq!(s.validators_setting_weights, 1);
        assert_eq!(s.standing.unwrap().weighted_by, 1);
        let s = Status::compute(150, &metagraph, &weights, &h, Some(&onchain), 100);
        assert!(s.eligible);

        let garbage = medmetric_chain::Commitment {
            fields: vec![CommitmentField::raw_text("https://x/m.onnx")],
            ..onchain
        };
        let s = Status::compute(999, &metagraph, &weights, &h, Some(&garbage), 100);
        assert!(s.commitment.as_ref().unwrap().parsed.is_err());
        assert_eq!((s.eligible_at, s.eligible), (None, false));
        assert!(s.valid_commitment().is_none());

        let stranger = Hotkey("nobody".into());
        let s = Status::compute(999, &metagraph, &weights, &stranger, None, 100);
        assert_eq!((s.uid, s.standing, s.commitment), (None, None, None));
    }
}
