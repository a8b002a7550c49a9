//! # medmetric-core
//!
//! The words every MedMetric crate shares, as types: who (`Hotkey`, `Uid`),
//! where (`NetUid`), when (`Block`), what (`ModelDigest`, `Modality`) and
//! what a validator says about it ([`Weights`]). The types are small
//! newtypes so a uid can never be passed where a block number was meant;
//! they carry no behaviour beyond parsing and printing. [`limits`] holds the
//! few size caps every crate must agree on, and the one capped file reader.
//!
//! ```
//! use medmetric_core::ModelDigest;
//!
//! let d = ModelDigest::of(b"model bytes");
//! assert_eq!(d.to_string().len(), 64);
//! assert_eq!(d.to_string().parse::<ModelDigest>().unwrap(), d);
//! ```

#![warn(missing_docs)]

pub mod limits;
mod modality;
mod weights;

pub use modality::Modality;
pub use weights::Weights;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A subnet's id on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NetUid(pub u16);

/// A neuron's position in a subnet's metagraph. Positions are reused after
/// deregistration, so nothing that must follow a miner is keyed by uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Uid(pub u16);

/// A block number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Block(pub u64);

/// A neuron's hotkey, as its SS58 address (or a devnet name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hotkey(pub String);

impl Hotkey {
    /// The hotkey as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Hotkey {
    fn from(s: &str) -> Self {
        Hotkey(s.to_string())
    }
}

impl PartialEq<str> for Hotkey {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Hotkey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::borrow::Borrow<str> for Hotkey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NetUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hexadecimal characters")]
pub struct DigestParseError;

/// SHA-256 of a model's ONNX bytes: the model's identity (docs/model-contract.md#identity).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelDigest(pub [u8; 32]);

impl ModelDigest {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ModelDigest(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for ModelDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ModelDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelDigest({self})")
    }
}

impl FromStr for ModelDigest {
    type Err = DigestParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        if s.len() != 64 {
            return Err(DigestParseError);
        }
        hex::decode_to_slice(s, &mut out).map_err(|_| DigestParseError)?;
        Ok(ModelDigest(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_known_sha256() {
        assert_eq!(
            ModelDigest::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn digest_parse_rejects_garbage() {
        assert!("zz".parse::<ModelDigest>().is_err());
        assert!("g".repeat(64).parse::<ModelDigest>().is_err());
    }
}
