//! The devnet's state and subtensor's rules over it.
//!
//! Every rule validates first and mutates only once nothing can fail, so a
//! refused request leaves the state untouched (as a failed extrinsic leaves
//! storage untouched on chain). Each mutation records what it touched in a
//! [`Dirty`] set, which the store then writes in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use medmetric_chain::validity::{
    CHAIN_ENFORCED_MAX_WEIGHT_LIMIT, ChainWeightParams, check_set_weights,
};
use medmetric_chain::{
    BlockHash, BlockInfo, Coldkey, Commitment, CommitmentField, Hyperparameters,
    MIN_COMMITMENT_SPACE, Metagraph, NeuronInfo, Rejection, WeightCommitInfo,
    check_commitment_fields, check_key, epoch, hex32, weights_commit_hash,
};
use medmetric_core::{Block, Hotkey, NetUid, Uid};
use medmetric_yuma::{EpochInput, EpochParams, run_epoch};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most blocks one `advance` call may produce.
pub const MAX_ADVANCE_BLOCKS: u64 = 100_000;
/// Most unrevealed weight commits per hotkey (subtensor's limit).
pub const MAX_UNREVEALED_COMMITS: usize = 10;
/// Longest salt a reveal may carry (a devnet bound; the chain's is the
/// extrinsic size).
pub const MAX_REVEAL_SALT: usize = 256;
/// Cap on the devnet's total stake in rao (2^62), so stake sums always fit
/// the epoch's `I64F64` arithmetic.
pub const MAX_TOTAL_STAKE: u64 = 1 << 62;

/// Everything the devnet stores. Two devnets with equal states behave
/// identically from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevnetState {
    /// Chain name, part of every block hash.
    pub chain_id: String,
    /// The subnet.
    pub netuid: NetUid,
    /// The subnet owner's hotkey: immortal, always holds a permit.
    pub owner_hotkey: Option<Hotkey>,
    /// Hyperparameters.
    pub hyperparameters: Hyperparameters,
    /// The head block.
    pub head: BlockInfo,
    /// Epochs run so far (`SubnetEpochIndex`).
    pub epoch_index: u64,
    /// Block of the last epoch (0 before the first).
    pub last_epoch_block: u64,
    /// Rao emitted since the last epoch, paid out at the next one.
    pub pending_emission: u64,
    /// Rao burned by registrations.
    pub total_burned: u64,
    /// Rao paid out by epochs.
    pub total_emitted: u64,
    /// Why the last epoch failed, if it did (the chain skips a failed epoch
    /// and carries on).
    pub last_epoch_error: Option<String>,
    /// One entry per uid.
    pub neurons: Vec<NeuronState>,
    /// Every hotkey ever registered: owner and stake.
    pub accounts: BTreeMap<Hotkey, Account>,
    /// Unrevealed weight commits per hotkey, oldest first.
    pub weight_commits: BTreeMap<Hotkey, Vec<PendingWeightCommit>>,
    /// Commitments per hotkey.
    pub commitments: BTreeMap<Hotkey, Commitment>,
    /// Commitment space used per hotkey in its last epoch.
    pub commitment_usage: BTreeMap<Hotkey, SpaceUsage>,
}

/// One uid's stored state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronState {
    /// The hotkey holding the uid.
    pub hotkey: Hotkey,
    /// Registration block.
    pub block_at_registration: u64,
    /// Last weight update (or commit, or registration).
    pub last_update: u64,
    /// Validator permit.
    pub validator_permit: bool,
    /// Active at the last epoch.
    pub active: bool,
    /// `StakeWeight` (u16 proportion).
    pub stake_weight: u16,
    /// `Consensus` (u16 proportion).
    pub consensus: u16,
    /// `Incentive` (u16 proportion).
    pub incentive: u16,
    /// `Dividends` (u16 proportion).
    pub dividends: u16,
    /// `ValidatorTrust` (u16 proportion).
    pub validator_trust: u16,
    /// `Emission` at the last epoch (rao).
    pub emission: u64,
    /// Weight row (max-upscaled u16).
    pub weights: Vec<(u16, u16)>,
    /// Bond row (u16).
    pub bonds: Vec<(u16, u16)>,
}

/// A hotkey's owner and stake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The owning coldkey.
    pub coldkey: Coldkey,
    /// Stake on the hotkey (rao).
    pub stake: u64,
}

/// A weight commit waiting for its reveal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWeightCommit {
    /// The committed hash.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// Epoch index at commit time.
    pub commit_epoch: u64,
    /// Block of the commit.
    pub commit_block: u64,
}

/// Commitment space used in an epoch (`UsageTracker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpaceUsage {
    /// The epoch the count belongs to.
    pub last_epoch: u64,
    /// Bytes used in it.
    pub used_space: u64,
}

/// Block, epoch and emission counters of a devnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevnetStatus {
    /// Chain name.
    pub chain_id: String,
    /// The subnet.
    pub netuid: NetUid,
    /// The head block.
    pub head: BlockInfo,
    /// Epochs run so far.
    pub epoch_index: u64,
    /// Block of the last epoch.
    pub last_epoch_block: u64,
    /// Block of the next epoch (`None` with tempo 0).
    pub next_epoch_block: Option<u64>,
    /// Number of uids.
    pub subnet_n: u16,
    /// Rao waiting for the next epoch.
    pub pending_emission: u64,
    /// Rao burned by registrations.
    pub total_burned: u64,
    /// Rao paid out by epochs.
    pub total_emitted: u64,
    /// Sum of all stake.
    pub total_stake: u64,
    /// Why the last epoch failed, if it did.
    pub last_epoch_error: Option<String>,
}

/// What a mutation touched, for the store.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    pub neurons: BTreeSet<u16>,
    pub all_neurons: bool,
    pub accounts: BTreeSet<Hotkey>,
    pub weight_commits: BTreeSet<Hotkey>,
    pub commitments: BTreeSet<Hotkey>,
    pub commitment_usage: BTreeSet<Hotkey>,
    pub blocks: Vec<(u64, BlockHash)>,
}

/// The devnet's block hash: SHA-256 of a domain tag, the chain id
/// (length-prefixed), the block number (u64 little endian) and the parent
/// hash. Block 0's parent is all zeros.
pub fn block_hash(chain_id: &str, number: u64, parent: &BlockHash) -> BlockHash {
    let mut h = Sha256::new();
    h.update(b"medmetric-devnet/block/v1");
    h.update(
        u64::try_from(chain_id.len())
            .unwrap_or(u64::MAX)
            .to_le_bytes(),
    );
    h.update(chain_id.as_bytes());
    h.update(number.to_le_bytes());
    h.update(parent.0);
    BlockHash(h.finalize().into())
}

impl DevnetState {
    /// A fresh chain at block 0.
    pub(crate) fn genesis(
        chain_id: &str,
        netuid: NetUid,
        owner_hotkey: Option<Hotkey>,
        hyperparameters: Hyperparameters,
    ) -> Self {
        let hash = block_hash(chain_id, 0, &BlockHash::default());
        Self {
            chain_id: chain_id.to_string(),
            netuid,
            owner_hotkey,
            hyperparameters,
            head: BlockInfo {
                number: Block(0),
                hash,
            },
            epoch_index: 0,
            last_epoch_block: 0,
            pending_emission: 0,
            total_burned: 0,
            total_emitted: 0,
            last_epoch_error: None,
            neurons: Vec::new(),
            accounts: BTreeMap::new(),
            weight_commits: BTreeMap::new(),
            commitments: BTreeMap::new(),
            commitment_usage: BTreeMap::new(),
        }
    }

    fn block(&self) -> u64 {
        self.head.number.0
    }

    fn block_info(&self) -> BlockInfo {
        self.head
    }

    pub(crate) fn uid_of(&self, hotkey: &Hotkey) -> Option<u16> {
        self.neurons
            .iter()
            .position(|n| &n.hotkey == hotkey)
            .and_then(|i| u16::try_from(i).ok())
    }

    fn owner_uid(&self) -> Option<u16> {
        self.owner_hotkey.as_ref().and_then(|h| self.uid_of(h))
    }

    fn stake_of(&self, hotkey: &Hotkey) -> u64 {
        self.accounts.get(hotkey).map_or(0, |a| a.stake)
    }

    fn total_stake(&self) -> u64 {
        self.accounts
            .values()
            .fold(0u64, |acc, a| acc.saturating_add(a.stake))
    }

    fn is_immune(&self, uid: usize) -> bool {
        self.neurons.get(uid).is_some_and(|n| {
            self.block().saturating_sub(n.block_at_registration)
                < u64::from(self.hyperparameters.immunity_period)
        })
    }

    fn registered(&self, hotkey: &Hotkey) -> Result<u16, Rejection> {
        self.uid_of(hotkey)
            .ok_or_else(|| Rejection::HotKeyNotRegisteredInSubNet {
                hotkey: hotkey.0.clone(),
            })
    }

    fn subnet_n(&self) -> u16 {
        u16::try_from(self.neurons.len()).unwrap_or(u16::MAX)
    }

    /// The next block at which an epoch runs, strictly after the head.
    pub(crate) fn next_epoch_block(&self) -> Option<u64> {
        epoch::next_epoch_block(self.block(), self.hyperparameters.tempo, self.netuid.0)
    }

    pub(crate) fn status(&self) -> DevnetStatus {
        DevnetStatus {
            chain_id: self.chain_id.clone(),
            netuid: self.netuid,
            head: self.head,
            epoch_index: self.epoch_index,
            last_epoch_block: self.last_epoch_block,
            next_epoch_block: self.next_epoch_block(),
            subnet_n: self.subnet_n(),
            pending_emission: self.pending_emission,
            total_burned: self.total_burned,
            total_emitted: self.total_emitted,
            total_stake: self.total_stake(),
            last_epoch_error: self.last_epoch_error.clone(),
        }
    }

    pub(crate) fn metagraph(&self) -> Metagraph {
        let neurons = self
            .neurons
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let account = self.accounts.get(&n.hotkey);
                NeuronInfo {
                    uid: Uid(u16::try_from(i).unwrap_or(u16::MAX)),
                    hotkey: n.hotkey.clone(),
                    coldkey: account.map_or_else(|| Coldkey(String::new()), |a| a.coldkey.clone()),
                    stake: account.map_or(0, |a| a.stake),
                    validator_permit: n.validator_permit,
                    last_update: Block(n.last_update),
                    block_at_registration: Block(n.block_at_registration),
                    active: n.active,
                    immune: self.is_immune(i),
                    stake_weight: n.stake_weight,
                    consensus: n.consensus,
                    incentive: n.incentive,
                    dividends: n.dividends,
                    validator_trust: n.validator_trust,
                    emission: n.emission,
                }
            })
            .collect();
        Metagraph {
            netuid: self.netuid,
            block: self.head.number,
            neurons,
        }
    }

    /// `get_neuron_to_prune`: the lowest-emission uid (then the oldest
    /// registration, then the lowest uid) among non-immune uids if more than
    /// `min_non_immune_uids` of them exist, else among immune ones; the
    /// owner's hotkey is never pruned.
    fn neuron_to_prune(&self) -> Option<u16> {
        let owner = self.owner_hotkey.as_ref();
        let mut free_count: u64 = 0;
        let mut best_free: Option<(u64, u64, usize)> = None;
        let mut best_immune: Option<(u64, u64, usize)> = None;
        for (uid, n) in self.neurons.iter().enumerate() {
            if Some(&n.hotkey) == owner {
                continue;
            }
            let key = (n.emission, n.block_at_registration, uid);
            let slot = if self.is_immune(uid) {
                &mut best_immune
            } else {
                free_count += 1;
                &mut best_free
            };
            if slot.is_none_or(|best| key < best) {
                *slot = Some(key);
            }
        }
        let pick = if free_count > u64::from(self.hyperparameters.min_non_immune_uids) {
            best_free.or(best_immune)
        } else {
            best_immune
        };
        pick.and_then(|(_, _, uid)| u16::try_from(uid).ok())
    }

    pub(crate) fn burned_register(
        &mut self,
        dirty: &mut Dirty,
        hotkey: &Hotkey,
        coldkey: &Coldkey,
    ) -> Result<u16, Rejection> {
        check_key("hotkey", &hotkey.0)?;
        check_key("coldkey", &coldkey.0)?;
        let h = &self.hyperparameters;
        if !h.registration_allowed {
            return Err(Rejection::SubNetRegistrationDisabled);
        }
        if let Some(uid) = self.uid_of(hotkey) {
            return Err(Rejection::HotKeyAlreadyRegisteredInSubNet {
                hotkey: hotkey.0.clone(),
                uid,
            });
        }
        if let Some(account) = self.accounts.get(hotkey)
            && &account.coldkey != coldkey
        {
            return Err(Rejection::NonAssociatedColdKey {
                hotkey: hotkey.0.clone(),
                coldkey: coldkey.0.clone(),
                owner: account.coldkey.0.clone(),
            });
        }
        if h.max_allowed_uids == 0 {
            return Err(Rejection::NoNeuronIdAvailable);
        }
        let block = self.block();
        let fresh = NeuronState {
            hotkey: hotkey.clone(),
            block_at_registration: block,
            last_update: block,
            validator_permit: false,
            active: true,
            stake_weight: 0,
            consensus: 0,
            incentive: 0,
            dividends: 0,
            validator_trust: 0,
            emission: 0,
            weights: Vec::new(),
            bonds: Vec::new(),
        };
        let uid = if self.neurons.len() < usize::from(h.max_allowed_uids) {
            self.neurons.push(fresh);
            let uid = self.subnet_n().saturating_sub(1);
            dirty.neurons.insert(uid);
            uid
        } else {
            let uid = self
                .neuron_to_prune()
                .ok_or(Rejection::NoNeuronIdAvailable)?;
            // `replace_neuron` + `clear_neuron`: the new hotkey starts from
            // scratch, its own rows are dropped and weights others set on
            // the uid are zeroed (kept as explicit zeros).
            for row in self.neurons.iter_mut() {
                for entry in row.weights.iter_mut() {
                    if entry.0 == uid {
                        entry.1 = 0;
                    }
                }
            }
            if let Some(slot) = self.neurons.get_mut(usize::from(uid)) {
                *slot = fresh;
            }
            dirty.all_neurons = true;
            uid
        };
        self.accounts
            .entry(hotkey.clone())
            .or_insert_with(|| Account {
                coldkey: coldkey.clone(),
                stake: 0,
            });
        dirty.accounts.insert(hotkey.clone());
        self.total_burned = self.total_burned.saturating_add(self.hyperparameters.burn);
        Ok(uid)
    }

    pub(crate) fn add_stake(
        &mut self,
        dirty: &mut Dirty,
        coldkey: &Coldkey,
        hotkey: &Hotkey,
        amount: u64,
    ) -> Result<u64, Rejection> {
        check_key("hotkey", &hotkey.0)?;
        check_key("coldkey", &coldkey.0)?;
        if amount == 0 {
            return Err(Rejection::AmountTooLow);
        }
        if !self.accounts.contains_key(hotkey) {
            return Err(Rejection::HotKeyAccountNotExists {
                hotkey: hotkey.0.clone(),
            });
        }
        let total = self.total_stake();
        if total
            .checked_add(amount)
            .is_none_or(|t| t > MAX_TOTAL_STAKE)
        {
            return Err(Rejection::StakeOverflow {
                max: MAX_TOTAL_STAKE,
            });
        }
        let account =
            self.accounts
                .get_mut(hotkey)
                .ok_or_else(|| Rejection::HotKeyAccountNotExists {
                    hotkey: hotkey.0.clone(),
                })?;
        account.stake = account.stake.saturating_add(amount);
        dirty.accounts.insert(hotkey.clone());
        Ok(account.stake)
    }

    fn rate_limited(&self, uid: u16) -> Option<(u64, u64)> {
        let last_update = self
            .neurons
            .get(usize::from(uid))
            .map_or(0, |n| n.last_update);
        let limit = self.hyperparameters.weights_set_rate_limit;
        if last_update == 0 || self.block().saturating_sub(last_update) >= limit {
            None
        } else {
            Some((last_update, limit))
        }
    }

    /// `internal_set_weights` without the write: every check in the
    /// pallet's order, returning the uid and the row to store.
    fn check_weights(
        &self,
        hotkey: &Hotkey,
        uids: &[u16],
        values: &[u16],
        version_key: u64,
    ) -> Result<(u16, Vec<(u16, u16)>), Rejection> {
        let h = &self.hyperparameters;
        if uids.len() != values.len() {
            return Err(Rejection::WeightVecNotEqualSize {
                uids: uids.len(),
                values: values.len(),
            });
        }
        let subnet_n = self.neurons.len();
        if uids.len() > subnet_n {
            return Err(Rejection::UidsLengthExceedUidsInSubNet {
                len: uids.len(),
                subnet_n,
            });
        }
        let uid = self.registered(hotkey)?;
        let stake = self.stake_of(hotkey);
        if stake < h.stake_threshold {
            return Err(Rejection::NotEnoughStakeToSetWeights {
                stake,
                threshold: h.stake_threshold,
            });
        }
        if h.weights_version_key != 0 && version_key < h.weights_version_key {
            return Err(Rejection::IncorrectWeightVersionKey {
                got: version_key,
                required: h.weights_version_key,
            });
        }
        if !h.commit_reveal_enabled
            && let Some((last_update, rate_limit)) = self.rate_limited(uid)
        {
            return Err(Rejection::SettingWeightsTooFast {
                last_update,
                rate_limit,
                block: self.block(),
            });
        }
        let self_weight = values.len() == 1 && uids.first() == Some(&uid);
        let permitted = self
            .neurons
            .get(usize::from(uid))
            .is_some_and(|n| n.validator_permit);
        if !(self_weight || self.owner_uid() == Some(uid) || permitted) {
            return Err(Rejection::NeuronNoValidatorPermit { uid });
        }
        // Current subtensor hard-codes the max-weight limit to u16::MAX.
        let params = ChainWeightParams {
            subnet_n,
            min_allowed_weights: usize::from(h.min_allowed_weights),
            max_weight_limit: CHAIN_ENFORCED_MAX_WEIGHT_LIMIT,
        };
        let upscaled = check_set_weights(&params, Some(uid), uids, values)?;
        Ok((uid, uids.iter().copied().zip(upscaled).collect()))
    }

    fn store_weights(&mut self, dirty: &mut Dirty, uid: u16, row: Vec<(u16, u16)>) {
        let block = self.block();
        let cr = self.hyperparameters.commit_reveal_enabled;
        if let Some(n) = self.neurons.get_mut(usize::from(uid)) {
            n.weights = row;
            if !cr {
                n.last_update = block;
            }
        }
        dirty.neurons.insert(uid);
    }

    pub(crate) fn set_weights(
        &mut self,
        dirty: &mut Dirty,
        hotkey: &Hotkey,
        uids: &[u16],
        values: &[u16],
        version_key: u64,
    ) -> Result<BlockInfo, Rejection> {
        if self.hyperparameters.commit_reveal_enabled {
            return Err(Rejection::CommitRevealEnabled);
        }
        let (uid, row) = self.check_weights(hotkey, uids, values, version_key)?;
        self.store_weights(dirty, uid, row);
        Ok(self.block_info())
    }

    fn commit_expired(&self, commit_epoch: u64) -> bool {
        self.epoch_index > commit_epoch.saturating_add(self.hyperparameters.reveal_period)
    }

    pub(crate) fn commit_weights(
        &mut self,
        dirty: &mut Dirty,
        hotkey: &Hotkey,
        hash: [u8; 32],
    ) -> Result<WeightCommitInfo, Rejection> {
        if !self.hyperparameters.commit_reveal_enabled {
            return Err(Rejection::CommitRevealDisabled);
        }
        let uid = self.registered(hotkey)?;
        if let Some((last_update, rate_limit)) = self.rate_limited(uid) {
            return Err(Rejection::CommittingWeightsTooFast {
                last_update,
                rate_limit,
                block: self.block(),
            });
        }
        let mut commits = self.weight_commits.get(hotkey).cloned().unwrap_or_default();
        let live = commits
            .iter()
            .position(|c| !self.commit_expired(c.commit_epoch))
            .unwrap_or(commits.len());
        commits.drain(..live);
        if commits.len() >= MAX_UNREVEALED_COMMITS {
            return Err(Rejection::TooManyUnrevealedCommits {
                max: MAX_UNREVEALED_COMMITS,
            });
        }
        let block = self.block();
        let commit_epoch = self.epoch_index;
        commits.push(PendingWeightCommit {
            hash,
            commit_epoch,
            commit_block: block,
        });
        self.weight_commits.insert(hotkey.clone(), commits);
        dirty.weight_commits.insert(hotkey.clone());
        if let Some(n) = self.neurons.get_mut(usize::from(uid)) {
            n.last_update = block;
        }
        dirty.neurons.insert(uid);
        Ok(WeightCommitInfo {
            block: Block(block),
            commit_epoch,
            reveal_epoch: commit_epoch.saturating_add(self.hyperparameters.reveal_period),
        })
    }

    pub(crate) fn reveal_weights(
        &mut self,
        dirty: &mut Dirty,
        hotkey: &Hotkey,
        uids: &[u16],
        values: &[u16],
        salt: &[u16],
        version_key: u64,
    ) -> Result<BlockInfo, Rejection> {
        if !self.hyperparameters.commit_reveal_enabled {
            return Err(Rejection::CommitRevealDisabled);
        }
        if salt.len() > MAX_REVEAL_SALT {
            return Err(Rejection::SaltTooLong {
                len: salt.len(),
                max: MAX_REVEAL_SALT,
            });
        }
        let no_commit = || Rejection::NoWeightsCommitFound {
            hotkey: hotkey.0.clone(),
        };
        let mut commits = self
            .weight_commits
            .get(hotkey)
            .cloned()
            .ok_or_else(no_commit)?;
        let live = commits
            .iter()
            .position(|c| !self.commit_expired(c.commit_epoch))
            .unwrap_or(commits.len());
        let expired: Vec<[u8; 32]> = commits.drain(..live).map(|c| c.hash).collect();
        let hash = weights_commit_hash(hotkey, self.netuid, uids, values, salt, version_key);
        if commits.is_empty() {
            return Err(if expired.contains(&hash) {
                Rejection::ExpiredWeightCommit
            } else {
                no_commit()
            });
        }
        let Some(position) = commits.iter().position(|c| c.hash == hash) else {
            return Err(if expired.contains(&hash) {
                Rejection::ExpiredWeightCommit
            } else {
                Rejection::InvalidRevealCommitHashNotMatch
            });
        };
        let commit_epoch = commits.get(position).map_or(0, |c| c.commit_epoch);
        let reveal_epoch = commit_epoch.saturating_add(self.hyperparameters.reveal_period);
        if self.epoch_index != reveal_epoch {
            return Err(Rejection::RevealTooEarly {
                commit_epoch,
                reveal_epoch,
                current_epoch: self.epoch_index,
            });
        }
        let (uid, row) = self.check_weights(hotkey, uids, values, version_key)?;
        commits.drain(..=position);
        if commits.is_empty() {
            self.weight_commits.remove(hotkey);
        } else {
            self.weight_commits.insert(hotkey.clone(), commits);
        }
        dirty.weight_commits.insert(hotkey.clone());
        self.store_weights(dirty, uid, row);
        Ok(self.block_info())
    }

    pub(crate) fn set_commitment(
        &mut self,
        dirty: &mut Dirty,
        hotkey: &Hotkey,
        fields: &[CommitmentField],
    ) -> Result<BlockInfo, Rejection> {
        check_key("hotkey", &hotkey.0)?;
        let Some(uid) = self.uid_of(hotkey) else {
            return Err(Rejection::AccountNotAllowedCommit {
                hotkey: hotkey.0.clone(),
            });
        };
        check_commitment_fields(fields)?;
        let required = fields
            .iter()
            .fold(0u64, |acc, f| acc.saturating_add(f.space()))
            .max(MIN_COMMITMENT_SPACE);
        let mut usage = self
            .commitment_usage
            .get(hotkey)
            .copied()
            .unwrap_or_default();
        if usage.last_epoch != self.epoch_index {
            usage = SpaceUsage {
                last_epoch: self.epoch_index,
                used_space: 0,
            };
        }
        let max = self.hyperparameters.max_commitment_space;
        if usage.used_space.saturating_add(required) > max {
            return Err(Rejection::SpaceLimitExceeded {
                used: usage.used_space,
                required,
                max,
            });
        }
        usage.used_space = usage.used_space.saturating_add(required);
        self.commitment_usage.insert(hotkey.clone(), usage);
        dirty.commitment_usage.insert(hotkey.clone());
        if self.hyperparameters.bonds_reset_enabled
            && fields.contains(&CommitmentField::ResetBondsFlag)
        {
            for n in self.neurons.iter_mut() {
                n.bonds.retain(|&(j, _)| j != uid);
            }
            dirty.all_neurons = true;
        }
        self.commitments.insert(
            hotkey.clone(),
            Commitment {
                hotkey: hotkey.clone(),
                block: self.head.number,
                fields: fields.to_vec(),
            },
        );
        dirty.commitments.insert(hotkey.clone());
        Ok(self.block_info())
    }

    /// Produces `blocks` blocks, running the epoch whenever it falls due.
    pub(crate) fn advance(&mut self, dirty: &mut Dirty, blocks: u64) -> Result<(), Rejection> {
        if blocks > MAX_ADVANCE_BLOCKS {
            return Err(Rejection::TooManyBlocks {
                requested: blocks,
                max: MAX_ADVANCE_BLOCKS,
            });
        }
        for _ in 0..blocks {
            let Some(number) = self.block().checked_add(1) else {
                break;
            };
            let hash = block_hash(&self.chain_id, number, &self.head.hash);
            self.head = BlockInfo {
                number: Block(number),
                hash,
            };
            dirty.blocks.push((number, hash));
            self.pending_emission = self
                .pending_emission
                .saturating_add(self.hyperparameters.emission_per_block);
            if epoch::is_epoch_block(number, self.hyperparameters.tempo, self.netuid.0) {
                self.run_epoch(dirty);
            }
        }
        Ok(())
    }

    /// The input the epoch at the current block gets.
    pub(crate) fn epoch_input(&self) -> EpochInput {
        let h = &self.hyperparameters;
        let params = EpochParams {
            kappa: h.kappa,
            bonds_moving_average: h.bonds_moving_average,
            bonds_penalty: h.bonds_penalty,
            yuma3: h.yuma3_enabled,
            liquid_alpha: h.liquid_alpha_enabled,
            alpha_low: h.alpha_low,
            alpha_high: h.alpha_high,
            alpha_sigmoid_steepness: h.alpha_sigmoid_steepness,
            max_allowed_validators: h.max_allowed_validators,
            activity_cutoff: h.activity_cutoff,
            stake_threshold: h.stake_threshold,
            tempo: u64::from(h.tempo),
            owner_uid: self.owner_uid(),
        };
        let stakes: Vec<u64> = self
            .neurons
            .iter()
            .map(|n| self.stake_of(&n.hotkey))
            .collect();
        let mut input = EpochInput::with_stakes(&stakes, params);
        input.last_update = self.neurons.iter().map(|n| n.last_update).collect();
        input.block_at_registration = self
            .neurons
            .iter()
            .map(|n| n.block_at_registration)
            .collect();
        input.validator_permit = self.neurons.iter().map(|n| n.validator_permit).collect();
        input.weights = self.neurons.iter().map(|n| n.weights.clone()).collect();
        input.bonds = self.neurons.iter().map(|n| n.bonds.clone()).collect();
        input.current_block = self.block();
        input.last_mechanism_step_block = self.last_epoch_block;
        input.emission = self.pending_emission;
        input
    }

    fn run_epoch(&mut self, dirty: &mut Dirty) {
        let input = self.epoch_input();
        match run_epoch(&input) {
            Ok(out) => {
                let stored = out.stored();
                let pay_to_stake = self.hyperparameters.emission_to_stake;
                let mut total = self.total_stake();
                for (i, n) in self.neurons.iter_mut().enumerate() {
                    let get16 = |v: &[u16]| v.get(i).copied().unwrap_or(0);
                    n.active = out.active.get(i).copied().unwrap_or(false);
                    n.validator_permit = out.validator_permit.get(i).copied().unwrap_or(false);
                    n.stake_weight = get16(&stored.stake_weight);
                    n.consensus = get16(&stored.consensus);
                    n.incentive = get16(&stored.incentive);
                    n.dividends = get16(&stored.dividends);
                    n.validator_trust = get16(&stored.validator_trust);
                    n.emission = out.emission.get(i).copied().unwrap_or(0);
                    n.bonds = out.bonds.get(i).cloned().unwrap_or_default();
                    let paid = out
                        .server_emission
                        .get(i)
                        .copied()
                        .unwrap_or(0)
                        .saturating_add(out.validator_emission.get(i).copied().unwrap_or(0));
                    self.total_emitted = self.total_emitted.saturating_add(paid);
                    if pay_to_stake && let Some(account) = self.accounts.get_mut(&n.hotkey) {
                        let room = MAX_TOTAL_STAKE.saturating_sub(total);
                        let add = paid.min(room);
                        account.stake = account.stake.saturating_add(add);
                        total = total.saturating_add(add);
                        dirty.accounts.insert(n.hotkey.clone());
                    }
                }
                self.last_epoch_error = None;
            }
            Err(e) => self.last_epoch_error = Some(e.to_string()),
        }
        dirty.all_neurons = true;
        self.epoch_index = self.epoch_index.saturating_add(1);
        self.last_epoch_block = self.block();
        self.pending_emission = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_hashes_chain() {
        let g = block_hash("x", 0, &BlockHash::default());
        let b1 = block_hash("x", 1, &g);
        assert_ne!(g, b1);
        assert_ne!(b1, block_hash("y", 1, &g));
        assert_eq!(b1, block_hash("x", 1, &g));
    }

    #[test]
    fn refused_requests_leave_state_untouched() {
        let mut s = DevnetState::genesis("t", NetUid(1), None, Hyperparameters::default());
        let mut d = Dirty::default();
        s.burned_register(&mut d, &Hotkey("a".into()), &Coldkey("c".into()))
            .unwrap();
        let before = s.clone();
        let mut d = Dirty::default();
        assert!(
            s.burned_register(&mut d, &Hotkey("a".into()), &Coldkey("c".into()))
                .is_err()
        );
        assert!(
            s.set_weights(&mut d, &Hotkey("a".into()), &[0, 0], &[1, 1], 0)
                .is_err()
        );
        assert!(
            s.commit_weights(&mut d, &Hotkey("a".into()), [0; 32])
                .is_err()
        );
        assert!(
            s.add_stake(&mut d, &Coldkey("c".into()), &Hotkey("a".into()), 0)
                .is_err()
        );
        assert!(s.advance(&mut d, MAX_ADVANCE_BLOCKS + 1).is_err());
        assert_eq!(s, before);
        assert!(d.neurons.is_empty() && d.blocks.is_empty() && !d.all_neurons);
    }
}
