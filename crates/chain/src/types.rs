//! The records a [`crate::Chain`] reads and writes.

use std::fmt;

use medmetric_core::{Block, Hotkey, NetUid, Uid};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::Rejection;

/// Longest hotkey or coldkey name accepted, in bytes (an SS58 address has 48).
pub const MAX_KEY_LEN: usize = 64;

/// A 32-byte block hash, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BlockHash(pub [u8; 32]);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({self})")
    }
}

impl Serialize for BlockHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hex32::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for BlockHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        hex32::deserialize(d).map(BlockHash)
    }
}

/// A block: its number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// Block number.
    pub number: Block,
    /// Block hash.
    pub hash: BlockHash,
}

/// A coldkey: the account that owns hotkeys and pays for registration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Coldkey(pub String);

impl fmt::Display for Coldkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a hotkey or coldkey name: 1 to [`MAX_KEY_LEN`] bytes of ASCII
/// letters, digits, `-`, `_`, `.` or `:` (SS58 addresses and devnet names
/// both fit, and the name can appear in a URL path unescaped).
pub fn check_key(kind: &str, key: &str) -> Result<(), Rejection> {
    let reason = if key.is_empty() {
        Some("is empty".to_string())
    } else if key.len() > MAX_KEY_LEN {
        Some(format!("is longer than {MAX_KEY_LEN} bytes"))
    } else if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        Some("may only contain ASCII letters, digits, '-', '_', '.' and ':'".to_string())
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Rejection::InvalidKey {
            reason: format!("{kind} {:?} {reason}", truncate(key, 80)),
        }),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Subnet hyperparameters, in their on-chain units. Defaults are
/// subtensor's initial values for a new subnet, except where noted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hyperparameters {
    /// Blocks per epoch (the epoch runs every `tempo + 1` blocks); 0 stops
    /// epochs. Default 360.
    pub tempo: u16,
    /// Blocks after registration during which a uid cannot be pruned.
    /// Default 4096.
    pub immunity_period: u16,
    /// Non-immune uids that must remain before an immune one may be pruned
    /// instead. Default 0 (subtensor: 10), so small devnets can fill up and
    /// turn over.
    pub min_non_immune_uids: u16,
    /// Most uids on the subnet (at most 4096). Default 256.
    pub max_allowed_uids: u16,
    /// Most validator permits. Default 64 (subtensor: 128).
    pub max_allowed_validators: u16,
    /// Fewest weights a `set_weights` may carry (`min(this, n)`). Default 0
    /// (subtensor: 1024).
    pub min_allowed_weights: u16,
    /// `MaxWeightsLimit` as the subnet stores it. Reported for the SDK's
    /// weight normalisation; like current subtensor (which hard-codes the
    /// limit to 65535), the devnet does not enforce it. Default 65535.
    pub max_weight_limit: u16,
    /// Blocks between two weight updates of one uid. Default 100.
    pub weights_set_rate_limit: u64,
    /// Oldest weights version key accepted (0 accepts any). Default 0.
    pub weights_version_key: u64,
    /// Whether weights go through commit-reveal. Default false.
    pub commit_reveal_enabled: bool,
    /// Epochs between a weight commit and its reveal (1 to 100). Default 1.
    pub reveal_period: u64,
    /// Consensus majority (u16 proportion). Default 32767.
    pub kappa: u16,
    /// Bond EMA memory in parts per million. Default 900000.
    pub bonds_moving_average: u64,
    /// How much bonds follow clipped weights (u16 proportion). Default 65535.
    pub bonds_penalty: u16,
    /// Yuma3 bonds. Default false.
    pub yuma3_enabled: bool,
    /// Liquid alpha (Yuma3 only). Default false.
    pub liquid_alpha_enabled: bool,
    /// Liquid-alpha lower bound (u16 proportion). Default 45875.
    pub alpha_low: u16,
    /// Liquid-alpha upper bound (u16 proportion). Default 58982.
    pub alpha_high: u16,
    /// Liquid-alpha sigmoid steepness. Default 1000.
    pub alpha_sigmoid_steepness: i16,
    /// Blocks without a weight update after which a uid is inactive.
    /// Default 5000.
    pub activity_cutoff: u64,
    /// Least stake (rao) that counts in the epoch and may set weights.
    /// Default 0.
    pub stake_threshold: u64,
    /// Registration cost in rao (burned). Default 100 000 000 (0.1 TAO).
    pub burn: u64,
    /// Whether `burned_register` is open. Default true.
    pub registration_allowed: bool,
    /// Rao emitted to the subnet per block, paid out at each epoch.
    /// Default 1 000 000 000.
    pub emission_per_block: u64,
    /// Whether epoch emission is added to the receiving hotkey's stake (as
    /// alpha emission is on chain). Default true.
    pub emission_to_stake: bool,
    /// Whether a `ResetBondsFlag` commitment clears the bonds held on the
    /// committer. Default false.
    pub bonds_reset_enabled: bool,
    /// Commitment bytes one hotkey may use per epoch (`MaxSpace`). Default 3100.
    pub max_commitment_space: u64,
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Self {
            tempo: 360,
            immunity_period: 4096,
            min_non_immune_uids: 0,
            max_allowed_uids: 256,
            max_allowed_validators: 64,
            min_allowed_weights: 0,
            max_weight_limit: u16::MAX,
            weights_set_rate_limit: 100,
            weights_version_key: 0,
            commit_reveal_enabled: false,
            reveal_period: 1,
            kappa: 32_767,
            bonds_moving_average: 900_000,
            bonds_penalty: u16::MAX,
            yuma3_enabled: false,
            liquid_alpha_enabled: false,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1_000,
            activity_cutoff: 5_000,
            stake_threshold: 0,
            burn: 100_000_000,
            registration_allowed: true,
            emission_per_block: 1_000_000_000,
            emission_to_stake: true,
            bonds_reset_enabled: false,
            max_commitment_space: 3_100,
        }
    }
}

/// Most uids a subnet may allow (`max_allowed_uids`) in MedMetric: the most
/// its Yuma epoch (`medmetric-yuma`) takes.
pub const MAX_SUBNET_UIDS: usize = 4096;

/// Smallest and largest `reveal_period` subtensor accepts.
pub const REVEAL_PERIOD_RANGE: (u64, u64) = (1, 100);

impl Hyperparameters {
    /// Checks ranges the devnet relies on.
    pub fn validate(&self) -> Result<(), Rejection> {
        let bad = |name: &str, reason: String| {
            Err(Rejection::InvalidHyperparameter {
                name: name.to_string(),
                reason,
            })
        };
        if usize::from(self.max_allowed_uids) > MAX_SUBNET_UIDS {
            return bad("max_allowed_uids", format!("at most {MAX_SUBNET_UIDS}"));
        }
        let (lo, hi) = REVEAL_PERIOD_RANGE;
        if !(lo..=hi).contains(&self.reveal_period) {
            return bad("reveal_period", format!("must be in {lo}..={hi}"));
        }
        if self.alpha_low > self.alpha_high {
            return bad("alpha_low", "must not exceed alpha_high".to_string());
        }
        Ok(())
    }

    /// Applies a JSON object of changes (any subset of the fields) to a copy
    /// of these hyperparameters and validates the result.
    pub fn with_changes(&self, changes: &serde_json::Value) -> Result<Self, Rejection> {
        let serde_json::Value::Object(changes) = changes else {
            return Err(Rejection::InvalidHyperparameter {
                name: "(request)".to_string(),
                reason: "expected a JSON object of hyperparameters".to_string(),
            });
        };
        let mut merged = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        for (k, v) in changes {
            merged.insert(k.clone(), v.clone());
        }
        let next: Self =
            serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| {
                Rejection::InvalidHyperparameter {
                    name: "(request)".to_string(),
                    reason: e.to_string(),
                }
            })?;
        next.validate()?;
        Ok(next)
    }
}

/// One uid of the metagraph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronInfo {
    /// Position in the metagraph.
    pub uid: Uid,
    /// The hotkey holding the uid.
    pub hotkey: Hotkey,
    /// The coldkey owning the hotkey.
    pub coldkey: Coldkey,
    /// Stake on the hotkey, rao.
    pub stake: u64,
    /// Whether the uid may set weights on others.
    pub validator_permit: bool,
    /// Block of the last weight update (or commit, or registration).
    pub last_update: Block,
    /// Block at which the hotkey took the uid.
    pub block_at_registration: Block,
    /// Whether the uid was active at the last epoch.
    pub active: bool,
    /// Whether the uid is still in its immunity period at the current block.
    pub immune: bool,
    /// Stake weight at the last epoch (u16 proportion).
    pub stake_weight: u16,
    /// Consensus weight (u16 proportion).
    pub consensus: u16,
    /// Incentive (u16 proportion).
    pub incentive: u16,
    /// Dividends (u16 proportion).
    pub dividends: u16,
    /// Validator trust (u16 proportion). Current subtensor no longer
    /// computes (miner) trust or rank, so neither does the devnet.
    pub validator_trust: u16,
    /// Rao emitted to this uid at the last epoch.
    pub emission: u64,
}

/// The subnet's neurons at a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metagraph {
    /// The subnet.
    pub netuid: NetUid,
    /// The block this was read at.
    pub block: Block,
    /// One entry per uid, in uid order.
    pub neurons: Vec<NeuronInfo>,
}

impl Metagraph {
    /// The neuron holding `hotkey`, if any.
    pub fn neuron(&self, hotkey: &Hotkey) -> Option<&NeuronInfo> {
        self.neurons.iter().find(|n| &n.hotkey == hotkey)
    }
}

/// Sparse rows `(uid, value)` per uid, as the chain stores weights and bonds.
pub type SparseRows = Vec<Vec<(u16, u16)>>;

/// Largest `Raw` commitment field (bytes).
pub const MAX_RAW_FIELD: usize = 128;
/// Largest `BigRaw` commitment field (bytes).
pub const MAX_BIG_RAW_FIELD: usize = 512;
/// Most fields in one commitment (`MaxFields`).
pub const MAX_COMMITMENT_FIELDS: usize = 3;
/// Least space one commitment is charged (bytes).
pub const MIN_COMMITMENT_SPACE: u64 = 100;

/// One field of a commitment, as the commitments pallet's `Data`. JSON:
/// `"none"`, `{"raw": "<hex>"}`, `{"big_raw": "<hex>"}`,
/// `{"sha256": "<64 hex>"}` (likewise `blake_two256`, `keccak256`,
/// `sha_three256`), `"reset_bonds_flag"`, `{"timelock_encrypted": ...}`
/// (parsed, but refused by the devnet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitmentField {
    /// No data.
    None,
    /// Up to 128 bytes stored directly.
    Raw(#[serde(with = "hexvec")] Vec<u8>),
    /// Up to 512 bytes stored directly.
    BigRaw(#[serde(with = "hexvec")] Vec<u8>),
    /// A BLAKE2b-256 hash.
    BlakeTwo256(#[serde(with = "hex32")] [u8; 32]),
    /// A SHA-256 hash.
    Sha256(#[serde(with = "hex32")] [u8; 32]),
    /// A Keccak-256 hash.
    Keccak256(#[serde(with = "hex32")] [u8; 32]),
    /// A SHA3-256 hash.
    ShaThree256(#[serde(with = "hex32")] [u8; 32]),
    /// Asks the chain to reset the bonds held on the committer.
    ResetBondsFlag,
    /// Drand timelock-encrypted data (not supported by the devnet).
    TimelockEncrypted {
        /// Ciphertext.
        #[serde(with = "hexvec")]
        encrypted: Vec<u8>,
        /// Drand round at which it opens.
        reveal_round: u64,
    },
}

impl CommitmentField {
    /// A `Raw` field holding UTF-8 text.
    pub fn raw_text(text: &str) -> Self {
        CommitmentField::Raw(text.as_bytes().to_vec())
    }

    /// The field's bytes as UTF-8 text, for `Raw` and `BigRaw` fields.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            CommitmentField::Raw(b) | CommitmentField::BigRaw(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The type's name as in the JSON form.
    pub fn kind(&self) -> &'static str {
        match self {
            CommitmentField::None => "none",
            CommitmentField::Raw(_) => "raw",
            CommitmentField::BigRaw(_) => "big_raw",
            CommitmentField::BlakeTwo256(_) => "blake_two256",
            CommitmentField::Sha256(_) => "sha256",
            CommitmentField::Keccak256(_) => "keccak256",
            CommitmentField::ShaThree256(_) => "sha_three256",
            CommitmentField::ResetBondsFlag => "reset_bonds_flag",
            CommitmentField::TimelockEncrypted { .. } => "timelock_encrypted",
        }
    }

    /// Bytes charged against the per-epoch space (`len_for_rate_limit`).
    pub fn space(&self) -> u64 {
        let len = match self {
            CommitmentField::None | CommitmentField::ResetBondsFlag => 0,
            CommitmentField::Raw(b) | CommitmentField::BigRaw(b) => b.len(),
            CommitmentField::BlakeTwo256(_)
            | CommitmentField::Sha256(_)
            | CommitmentField::Keccak256(_)
            | CommitmentField::ShaThree256(_) => 32,
            CommitmentField::TimelockEncrypted { encrypted, .. } => encrypted.len(),
        };
        u64::try_from(len).unwrap_or(u64::MAX)
    }
}

/// Checks a commitment's fields against the pallet's bounds: at most
/// [`MAX_COMMITMENT_FIELDS`], `Raw` ≤ 128 bytes, `BigRaw` ≤ 512 bytes, no
/// timelocked fields.
pub fn check_commitment_fields(fields: &[CommitmentField]) -> Result<(), Rejection> {
    if fields.len() > MAX_COMMITMENT_FIELDS {
        return Err(Rejection::TooManyFieldsInCommitmentInfo {
            got: fields.len(),
            max: MAX_COMMITMENT_FIELDS,
        });
    }
    for (index, field) in fields.iter().enumerate() {
        let bound = match field {
            CommitmentField::Raw(b) => Some((b.len(), MAX_RAW_FIELD)),
            CommitmentField::BigRaw(b) => Some((b.len(), MAX_BIG_RAW_FIELD)),
            CommitmentField::TimelockEncrypted { .. } => {
                return Err(Rejection::UnsupportedField {
                    index,
                    kind: field.kind().to_string(),
                });
            }
            _ => None,
        };
        if let Some((len, max)) = bound
            && len > max
        {
            return Err(Rejection::FieldTooLarge {
                index,
                kind: field.kind().to_string(),
                len,
                max,
            });
        }
    }
    Ok(())
}

/// A hotkey's current commitment and the block it was set at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// Who committed.
    pub hotkey: Hotkey,
    /// Block of the latest `set_commitment`.
    pub block: Block,
    /// The fields.
    pub fields: Vec<CommitmentField>,
}

/// Where a weight commit landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightCommitInfo {
    /// Block of the commit.
    pub block: Block,
    /// Epoch index of the commit.
    pub commit_epoch: u64,
    /// The only epoch index in which it can be revealed
    /// (`commit_epoch + reveal_period`).
    pub reveal_epoch: u64,
}

/// The hash a weight commit carries: SHA-256 over a domain tag and the
/// length-prefixed little-endian encoding of
/// `(hotkey, netuid, uids, values, salt, version_key)`.
///
/// Subtensor hashes the same tuple with BLAKE2-256 over its SCALE encoding
/// and an sr25519 account id; devnet hotkeys are names, so the devnet keeps
/// the tuple and uses its own encoding (see `docs/devnet.md`).
pub fn weights_commit_hash(
    hotkey: &Hotkey,
    netuid: NetUid,
    uids: &[u16],
    values: &[u16],
    salt: &[u16],
    version_key: u64,
) -> [u8; 32] {
    fn len(h: &mut Sha256, n: usize) {
        h.update(u64::try_from(n).unwrap_or(u64::MAX).to_le_bytes());
    }
    fn u16s(h: &mut Sha256, xs: &[u16]) {
        len(h, xs.len());
        for x in xs {
            h.update(x.to_le_bytes());
        }
    }
    let mut h = Sha256::new();
    h.update(b"medmetric-devnet/weights-commit/v1");
    len(&mut h, hotkey.0.len());
    h.update(hotkey.0.as_bytes());
    h.update(netuid.0.to_le_bytes());
    u16s(&mut h, uids);
    u16s(&mut h, values);
    u16s(&mut h, salt);
    h.update(version_key.to_le_bytes());
    h.finalize().into()
}

/// Serde helpers for `#[serde(with = "hex32")]`: `[u8; 32]` as 64
/// lowercase hex digits (hashes in the chain's JSON).
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes the bytes as 64 hex digits.
    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    /// Reads exactly 64 hex digits.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        if text.len() != 64 {
            return Err(D::Error::custom("expected 64 hexadecimal digits"));
        }
        hex::decode_to_slice(text.as_bytes(), &mut out)
            .map_err(|_| D::Error::custom("expected 64 hexadecimal digits"))?;
        Ok(out)
    }
}

/// Serde helpers: bytes as hex.
pub(crate) mod hexvec {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(text.as_bytes()).map_err(|_| D::Error::custom("expected hexadecimal digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("hotkey", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY").is_ok());
        assert!(check_key("hotkey", "miner-1").is_ok());
        assert!(check_key("hotkey", "").is_err());
        assert!(check_key("hotkey", "a b").is_err());
        assert!(check_key("hotkey", "a/b").is_err());
        assert!(check_key("hotkey", &"x".repeat(65)).is_err());
        assert!(check_key("hotkey", "é").is_err());
    }

    #[test]
    fn commitment_fields_round_trip_as_json() {
        let fields = vec![
            CommitmentField::raw_text("hi"),
            CommitmentField::Sha256([7; 32]),
            CommitmentField::None,
            CommitmentField::ResetBondsFlag,
        ];
        let json = serde_json::to_string(&fields).unwrap();
        assert!(
            json.starts_with(r#"[{"raw":"6869"},{"sha256":"0707"#),
            "{json}"
        );
        assert!(json.ends_with(r#""none","reset_bonds_flag"]"#), "{json}");
        let back: Vec<CommitmentField> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, fields);
        assert_eq!(back[0].as_text(), Some("hi"));
        assert!(serde_json::from_str::<CommitmentField>(r#"{"sha256":"00"}"#).is_err());
        assert!(serde_json::from_str::<CommitmentField>(r#"{"raw":"zz"}"#).is_err());
    }

    #[test]
    fn commitment_bounds() {
        let ok = vec![CommitmentField::Raw(vec![0; 128]); 3];
        assert!(check_commitment_fields(&ok).is_ok());
        assert!(matches!(
            check_commitment_fields(&[CommitmentField::Raw(vec![0; 129])]),
            Err(Rejection::FieldTooLarge { len: 129, .. })
        ));
        assert!(check_commitment_fields(&[CommitmentField::BigRaw(vec![0; 512])]).is_ok());
        assert!(check_commitment_fields(&[CommitmentField::BigRaw(vec![0; 513])]).is_err());
        assert!(matches!(
            check_commitment_fields(&vec![CommitmentField::None; 4]),
            Err(Rejection::TooManyFieldsInCommitmentInfo { got: 4, max: 3 })
        ));
    }

    #[test]
    fn hyperparameter_changes_merge_and_validate() {
        let h = Hyperparameters::default();
        let next = h
            .with_changes(&serde_json::json!({"tempo": 10, "commit_reveal_enabled": true}))
            .unwrap();
        assert_eq!(next.tempo, 10);
        assert!(next.commit_reveal_enabled);
        assert_eq!(next.kappa, h.kappa);
        assert!(h.with_changes(&serde_json::json!({"bogus": 1})).is_err());
        assert!(h.with_changes(&serde_json::json!({"tempo": -1})).is_err());
        assert!(
            h.with_changes(&serde_json::json!({"reveal_period": 0}))
                .is_err()
        );
        assert!(h.with_changes(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn commit_hash_depends_on_every_part() {
        let hk = Hotkey("v".into());
        let base = weights_commit_hash(&hk, NetUid(1), &[1, 2], &[3, 4], &[5], 0);
        assert_ne!(
            base,
            weights_commit_hash(&hk, NetUid(2), &[1, 2], &[3, 4], &[5], 0)
        );
        assert_ne!(
            base,
            weights_commit_hash(&hk, NetUid(1), &[1], &[2, 3, 4], &[5], 0)
        );
        assert_ne!(
            base,
            weights_commit_hash(&hk, NetUid(1), &[1, 2], &[3, 4], &[6], 0)
        );
        assert_ne!(
            base,
            weights_commit_hash(&hk, NetUid(1), &[1, 2], &[3, 4], &[5], 1)
        );
        assert_eq!(
            base,
            weights_commit_hash(&hk, NetUid(1), &[1, 2], &[3, 4], &[5], 0)
        );
    }
}
