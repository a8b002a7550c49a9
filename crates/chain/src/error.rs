//! Errors: what the chain refused ([`Rejection`]) versus what failed on the
//! way ([`ChainError`]'s other variants).

use serde::{Deserialize, Serialize};

/// Everything a [`crate::Chain`] call can fail with.
///
/// The split matters to callers: a [`ChainError::Rejected`] means the request
/// broke a chain rule (the caller's fault, retrying the same request will not
/// help), every other variant means the chain could not be reached, read or
/// written (nobody's fault in particular; retrying may help).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    /// The chain refused the request under its rules.
    #[error("rejected by the chain: {0}")]
    Rejected(#[from] Rejection),
    /// The chain could not be reached or the connection broke.
    #[error("transport failed: {0}")]
    Transport(String),
    /// The chain's storage could not be read or written.
    #[error("chain storage failed: {0}")]
    Storage(String),
    /// The other side answered something that does not follow the API.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Waiting for a block ran out of time.
    #[error("timed out waiting for block {target} (the chain is at block {head})")]
    Timeout {
        /// The block waited for.
        target: u64,
        /// The last block seen.
        head: u64,
    },
}

impl ChainError {
    /// The rule the request broke, if the chain rejected it.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            ChainError::Rejected(r) => Some(r),
            _ => None,
        }
    }

    /// Whether the chain refused the request (the caller's fault) rather
    /// than failing to process it.
    pub fn is_rejection(&self) -> bool {
        self.rejection().is_some()
    }
}

/// A request the chain refused. Variants are named after subtensor's pallet
/// errors where one exists; the JSON form is `{"error": "<Variant>", ...fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error")]
pub enum Rejection {
    /// A hotkey or coldkey name is not acceptable.
    #[error("InvalidKey: {reason}")]
    InvalidKey {
        /// Why.
        reason: String,
    },
    /// `HotKeyNotRegisteredInSubNet`.
    #[error("HotKeyNotRegisteredInSubNet: hotkey {hotkey} has no uid on this subnet")]
    HotKeyNotRegisteredInSubNet {
        /// The hotkey.
        hotkey: String,
    },
    /// `HotKeyAlreadyRegisteredInSubNet`.
    #[error("HotKeyAlreadyRegisteredInSubNet: hotkey {hotkey} already holds uid {uid}")]
    HotKeyAlreadyRegisteredInSubNet {
        /// The hotkey.
        hotkey: String,
        /// Its uid.
        uid: u16,
    },
    /// `NonAssociatedColdKey`: the hotkey belongs to another coldkey.
    #[error("NonAssociatedColdKey: hotkey {hotkey} is owned by coldkey {owner}, not {coldkey}")]
    NonAssociatedColdKey {
        /// The hotkey.
        hotkey: String,
        /// The coldkey that tried to use it.
        coldkey: String,
        /// The coldkey that owns it.
        owner: String,
    },
    /// `HotKeyAccountNotExists`: no coldkey owns this hotkey yet.
    #[error("HotKeyAccountNotExists: hotkey {hotkey} has never been registered")]
    HotKeyAccountNotExists {
        /// The hotkey.
        hotkey: String,
    },
    /// `SubNetRegistrationDisabled`.
    #[error("SubNetRegistrationDisabled: registration is switched off on this subnet")]
    SubNetRegistrationDisabled,
    /// `NoNeuronIdAvailable`: the subnet is full and no uid may be pruned.
    #[error("NoNeuronIdAvailable: the subnet is full and every uid is immune or immortal")]
    NoNeuronIdAvailable,
    /// `AmountTooLow`: a stake of zero.
    #[error("AmountTooLow: the amount must be positive")]
    AmountTooLow,
    /// The devnet's total stake would exceed its cap.
    #[error("StakeOverflow: total stake would exceed {max} rao")]
    StakeOverflow {
        /// The cap on total stake.
        max: u64,
    },
    /// `CommitRevealEnabled`: plain `set_weights` while commit-reveal is on.
    #[error("CommitRevealEnabled: use commit_weights and reveal_weights on this subnet")]
    CommitRevealEnabled,
    /// `CommitRevealDisabled`: commit or reveal while commit-reveal is off.
    #[error("CommitRevealDisabled: commit-reveal is off on this subnet; use set_weights")]
    CommitRevealDisabled,
    /// `WeightVecNotEqualSize`.
    #[error("WeightVecNotEqualSize: {uids} uids but {values} values")]
    WeightVecNotEqualSize {
        /// Number of uids.
        uids: usize,
        /// Number of values.
        values: usize,
    },
    /// `UidsLengthExceedUidsInSubNet`.
    #[error("UidsLengthExceedUidsInSubNet: {len} uids for a subnet of {subnet_n}")]
    UidsLengthExceedUidsInSubNet {
        /// Number of uids given.
        len: usize,
        /// Subnet size.
        subnet_n: usize,
    },
    /// `NotEnoughStakeToSetWeights`.
    #[error("NotEnoughStakeToSetWeights: stake {stake} is below the threshold {threshold}")]
    NotEnoughStakeToSetWeights {
        /// The hotkey's stake.
        stake: u64,
        /// `stake_threshold`.
        threshold: u64,
    },
    /// `IncorrectWeightVersionKey`.
    #[error("IncorrectWeightVersionKey: version key {got} is below the subnet's {required}")]
    IncorrectWeightVersionKey {
        /// The key sent.
        got: u64,
        /// `weights_version_key`.
        required: u64,
    },
    /// `SettingWeightsTooFast`.
    #[error(
        "SettingWeightsTooFast: last update at block {last_update}, rate limit {rate_limit}, now block {block}"
    )]
    SettingWeightsTooFast {
        /// The uid's `last_update`.
        last_update: u64,
        /// `weights_set_rate_limit`.
        rate_limit: u64,
        /// The current block.
        block: u64,
    },
    /// `CommittingWeightsTooFast`.
    #[error(
        "CommittingWeightsTooFast: last update at block {last_update}, rate limit {rate_limit}, now block {block}"
    )]
    CommittingWeightsTooFast {
        /// The uid's `last_update`.
        last_update: u64,
        /// `weights_set_rate_limit`.
        rate_limit: u64,
        /// The current block.
        block: u64,
    },
    /// `NeuronNoValidatorPermit`.
    #[error("NeuronNoValidatorPermit: uid {uid} has no validator permit")]
    NeuronNoValidatorPermit {
        /// The uid.
        uid: u16,
    },
    /// `DuplicateUids`.
    #[error("DuplicateUids: uid {uid} occurs more than once")]
    DuplicateUids {
        /// The repeated uid.
        uid: u16,
    },
    /// `UidVecContainInvalidOne`.
    #[error("UidVecContainInvalidOne: uid {uid} does not exist in a subnet of {subnet_n}")]
    UidVecContainInvalidOne {
        /// The invalid uid.
        uid: u16,
        /// Subnet size.
        subnet_n: usize,
    },
    /// `WeightVecLengthIsLow`.
    #[error("WeightVecLengthIsLow: {len} weights, at least {min_allowed} required")]
    WeightVecLengthIsLow {
        /// Number of weights.
        len: usize,
        /// `min(min_allowed_weights, subnet_n)`.
        min_allowed: usize,
    },
    /// `MaxWeightExceeded`: the largest share of the weights, normalised
    /// in `I32F32`, is above `limit / 65535`.
    #[error("MaxWeightExceeded: the largest weight's share exceeds max_weight_limit {limit}/65535")]
    MaxWeightExceeded {
        /// The limit as the chain stores it.
        limit: u16,
    },
    /// `TooManyUnrevealedCommits`.
    #[error("TooManyUnrevealedCommits: {max} commits are already waiting to be revealed")]
    TooManyUnrevealedCommits {
        /// The cap.
        max: usize,
    },
    /// `NoWeightsCommitFound`.
    #[error("NoWeightsCommitFound: hotkey {hotkey} has no pending weight commit")]
    NoWeightsCommitFound {
        /// The hotkey.
        hotkey: String,
    },
    /// `ExpiredWeightCommit`.
    #[error("ExpiredWeightCommit: the matching commit's reveal epoch has passed")]
    ExpiredWeightCommit,
    /// `RevealTooEarly`.
    #[error(
        "RevealTooEarly: committed in epoch {commit_epoch}, revealable in epoch {reveal_epoch}, now epoch {current_epoch}"
    )]
    RevealTooEarly {
        /// Epoch of the commit.
        commit_epoch: u64,
        /// The only epoch in which it may be revealed.
        reveal_epoch: u64,
        /// The current epoch index.
        current_epoch: u64,
    },
    /// `InvalidRevealCommitHashNotMatch`.
    #[error(
        "InvalidRevealCommitHashNotMatch: no pending commit matches these uids, values, salt and version key"
    )]
    InvalidRevealCommitHashNotMatch,
    /// A reveal's salt is longer than the devnet accepts.
    #[error("SaltTooLong: {len} salt entries, at most {max}")]
    SaltTooLong {
        /// Entries given.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// `AccountNotAllowedCommit`: only registered hotkeys may commit.
    #[error("AccountNotAllowedCommit: hotkey {hotkey} is not registered on this subnet")]
    AccountNotAllowedCommit {
        /// The hotkey.
        hotkey: String,
    },
    /// `TooManyFieldsInCommitmentInfo`.
    #[error("TooManyFieldsInCommitmentInfo: {got} fields, at most {max}")]
    TooManyFieldsInCommitmentInfo {
        /// Fields given.
        got: usize,
        /// `MaxFields`.
        max: usize,
    },
    /// A commitment field is larger than its type allows (the extrinsic
    /// would not decode on chain).
    #[error("FieldTooLarge: field {index} ({kind}) has {len} bytes, at most {max}")]
    FieldTooLarge {
        /// Position of the field.
        index: usize,
        /// Its type.
        kind: String,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A commitment field type the devnet does not implement.
    #[error("UnsupportedField: field {index} ({kind}) is not supported by the devnet")]
    UnsupportedField {
        /// Position of the field.
        index: usize,
        /// Its type.
        kind: String,
    },
    /// `SpaceLimitExceeded`.
    #[error(
        "SpaceLimitExceeded: {used} bytes used this epoch plus {required} exceeds the limit {max}"
    )]
    SpaceLimitExceeded {
        /// Space already used in this epoch.
        used: u64,
        /// Space this commitment needs.
        required: u64,
        /// `max_commitment_space`.
        max: u64,
    },
    /// A block number beyond the chain's head.
    #[error("UnknownBlock: block {block} has not been produced (head is {head})")]
    UnknownBlock {
        /// The block asked for.
        block: u64,
        /// The head.
        head: u64,
    },
    /// Too many blocks requested in one `advance`.
    #[error("TooManyBlocks: {requested} blocks in one call, at most {max}")]
    TooManyBlocks {
        /// Blocks requested.
        requested: u64,
        /// The cap.
        max: u64,
    },
    /// A hyperparameter value outside its allowed range.
    #[error("InvalidHyperparameter: {name}: {reason}")]
    InvalidHyperparameter {
        /// The hyperparameter.
        name: String,
        /// Why.
        reason: String,
    },
}
