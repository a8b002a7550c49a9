//! The on-chain commitment that points validators at a miner's model
//! (docs/artifacts.md#the-commitment).
//!
//! Two fields of the commitments pallet:
//!
//! ```text
//! fields[0] = Raw("mm1:<modality>:<cid>")          at most 128 bytes
//! fields[1] = Sha256(SHA-256(sha256(onnx) ‖ hotkey))
//! ```
//!
//! * `mm1` is the format's version tag; `<modality>` is the name of a
//!   [`Modality`]; `<cid>` is a CID as [`crate::cid::parse`] accepts it.
//! * The binding hashes the 32 raw bytes of the ONNX file's SHA-256 followed
//!   by the committing hotkey's UTF-8 bytes exactly as the chain reports it
//!   (its SS58 address on a real chain, the name on the devnet), with no
//!   separator or length prefix (the digest has a fixed length). A miner
//!   who copies someone else's commitment copies a binding made with the
//!   other hotkey, which [`Commitment::verify_binding`] then refuses.
//!
//! Field 0 is hostile input. [`Commitment::parse`] accepts exactly the form
//! above (ASCII, no whitespace, exactly three `:`-separated parts) and
//! names the reason for anything else: oversized, garbage bytes, a URL, a
//! bad prefix, an unknown modality, a bad CID. Nothing in it is ever used as
//! an address: only the parsed [`Cid`] is.
//!
//! ```
//! use medmetric_core::{Hotkey, Modality, ModelDigest};
//! use medmetric_store::cid::{Cid, Version};
//! use medmetric_store::commitment::{Commitment, CommitmentError};
//!
//! let onnx = b"model";
//! let hotkey = Hotkey("miner-1".into());
//! let c = Commitment::new(Modality::Brain, Cid::of(onnx, Version::V0), &ModelDigest::of(onnx), &hotkey);
//! let (raw, binding) = c.fields();
//! assert!(raw.starts_with(b"mm1:brain:Qm"));
//! assert_eq!(Commitment::parse(&raw, &binding).unwrap(), c);
//!
//! let err = Commitment::parse(b"mm1:cxr:https://example.org/m.onnx", &binding).unwrap_err();
//! assert_eq!(err.kind(), "url");
//! ```

use std::fmt;

use medmetric_chain::CommitmentField;
use medmetric_core::{Hotkey, Modality, ModelDigest};
use sha2::{Digest, Sha256};

use crate::cid::{self, Cid, CidError};

/// The format tag of field 0.
pub const PREFIX: &str = "mm1";
/// Largest field 0, in bytes (the pallet's `Raw` limit).
pub const MAX_FIELD0_BYTES: usize = 128;
/// Bytes shown of an offending value in an error.
const SHOWN: usize = 48;

/// A parsed commitment. Construct it with [`Commitment::new`] or
/// [`Commitment::parse`]; both guarantee it encodes to a valid field 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Commitment {
    modality: Modality,
    cid: Cid,
    binding: [u8; 32],
}

/// SHA-256 over the 32 bytes of `onnx_sha256` followed by the hotkey's
/// UTF-8 bytes: the value of field 1.
pub fn binding(onnx_sha256: &ModelDigest, hotkey: &Hotkey) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(onnx_sha256.0);
    h.update(hotkey.0.as_bytes());
    h.finalize().into()
}

/// Why a commitment was refused. Every message is one line; [`Self::kind`]
/// gives a stable short name for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentError {
    /// Field 0 is empty.
    #[error("empty commitment")]
    Empty,
    /// Field 0 is longer than [`MAX_FIELD0_BYTES`].
    #[error("commitment of {len} bytes exceeds {MAX_FIELD0_BYTES} bytes")]
    Oversized {
        /// Its length.
        len: usize,
    },
    /// Field 0 is not text: invalid UTF-8 or control characters.
    #[error("garbage bytes in commitment: {what} at byte {at} in {shown}")]
    Garbage {
        /// `invalid UTF-8` or `control character`.
        what: &'static str,
        /// Byte position.
        at: usize,
        /// The start of the value, escaped.
        shown: String,
    },
    /// A non-ASCII character.
    #[error("non-ASCII character at byte {at} in commitment {shown}")]
    NotAscii {
        /// Byte position.
        at: usize,
        /// The start of the value, escaped.
        shown: String,
    },
    /// Whitespace anywhere (a trailing newline included).
    #[error("whitespace at byte {at} in commitment {shown}")]
    Whitespace {
        /// Byte position.
        at: usize,
        /// The start of the value, escaped.
        shown: String,
    },
    /// A URL or a path instead of a CID; it is never fetched.
    #[error("commitment looks like a URL or path, which is never fetched: {shown}")]
    LooksLikeUrl {
        /// The start of the value, escaped.
        shown: String,
    },
    /// Does not start with `mm1:`.
    #[error("commitment does not start with \"{PREFIX}:\": {shown}")]
    BadPrefix {
        /// The start of the value, escaped.
        shown: String,
    },
    /// Not exactly `mm1:<modality>:<cid>` (missing parts or extra colons).
    #[error(
        "commitment has {parts} ':'-separated parts, expected 3 (mm1:<modality>:<cid>): {shown}"
    )]
    WrongShape {
        /// How many parts.
        parts: usize,
        /// The start of the value, escaped.
        shown: String,
    },
    /// A name that is not a [`Modality`]'s.
    #[error("unknown modality {found:?} in commitment (expected cxr, brain or bone)")]
    UnknownModality {
        /// The modality given, truncated.
        found: String,
    },
    /// The CID part does not parse.
    #[error("bad CID {shown} in commitment: {source}")]
    BadCid {
        /// The CID part, escaped.
        shown: String,
        /// Why.
        source: CidError,
    },
    /// Field 1 is not 32 bytes.
    #[error("commitment binding has {len} bytes, expected a 32-byte SHA-256")]
    BadBinding {
        /// Its length.
        len: usize,
    },
    /// The chain fields are not `[Raw, Sha256]`.
    #[error("commitment field {index} is {kind}, expected {expected}")]
    WrongFieldKind {
        /// Field index.
        index: usize,
        /// What it is.
        kind: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// Not exactly two chain fields.
    #[error("commitment has {got} fields, expected 2")]
    FieldCount {
        /// How many.
        got: usize,
    },
}

impl CommitmentError {
    /// A short stable name for the reason: `empty`, `oversized`, `garbage`,
    /// `non_ascii`, `whitespace`, `url`, `bad_prefix`, `wrong_shape`,
    /// `unknown_modality`, `bad_cid`, `bad_binding`, `wrong_field_kind` or
    /// `field_count`.
    pub fn kind(&self) -> &'static str {
        match self {
            CommitmentError::Empty => "empty",
            CommitmentError::Oversized { .. } => "oversized",
            CommitmentError::Garbage { .. } => "garbage",
            CommitmentError::NotAscii { .. } => "non_ascii",
            CommitmentError::Whitespace { .. } => "whitespace",
            CommitmentError::LooksLikeUrl { .. } => "url",
            CommitmentError::BadPrefix { .. } => "bad_prefix",
            CommitmentError::WrongShape { .. } => "wrong_shape",
            CommitmentError::UnknownModality { .. } => "unknown_modality",
            CommitmentError::BadCid { .. } => "bad_cid",
            CommitmentError::BadBinding { .. } => "bad_binding",
            CommitmentError::WrongFieldKind { .. } => "wrong_field_kind",
            CommitmentError::FieldCount { .. } => "field_count",
        }
    }
}

/// The first [`SHOWN`] bytes, escaped to printable ASCII and quoted.
fn shown(bytes: &[u8]) -> String {
    let head = bytes.get(..bytes.len().min(SHOWN)).unwrap_or_default();
    let more = if bytes.len() > SHOWN { "…" } else { "" };
    format!("\"{}\"{more}", head.escape_ascii())
}

fn looks_like_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("://")
        || lower.contains('/')
        || lower.contains('\\')
        || ["http:", "https:", "ipfs:", "ipns:", "file:", "www."]
            .iter()
            .any(|p| lower.starts_with(p))
}

impl Commitment {
    /// A commitment to the model with SHA-256 `onnx_sha256`, published as
    /// `cid`, by `hotkey`. It cannot fail: every [`Modality`] and every
    /// [`Cid`] fits in field 0.
    pub fn new(modality: Modality, cid: Cid, onnx_sha256: &ModelDigest, hotkey: &Hotkey) -> Self {
        Self {
            modality,
            cid,
            binding: binding(onnx_sha256, hotkey),
        }
    }

    /// The modality's name as field 0 spells it (`cxr`, `brain` or `bone`).
    pub fn modality(&self) -> &'static str {
        self.modality.name()
    }

    /// The modality.
    pub fn modality_kind(&self) -> Modality {
        self.modality
    }

    /// Where the artifact is published.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// Field 1: the hotkey-bound hash of the ONNX file's SHA-256.
    pub fn binding(&self) -> &[u8; 32] {
        &self.binding
    }

    /// Field 0 (`mm1:<modality>:<cid>`) and field 1 (the binding).
    pub fn fields(&self) -> (Vec<u8>, [u8; 32]) {
        (self.to_string().into_bytes(), self.binding)
    }

    /// Parses the two fields strictly (see the module docs).
    pub fn parse(raw_field0: &[u8], field1: &[u8]) -> Result<Self, CommitmentError> {
        let (modality, cid) = parse_field0(raw_field0)?;
        let binding = <[u8; 32]>::try_from(field1)
            .map_err(|_| CommitmentError::BadBinding { len: field1.len() })?;
        Ok(Self {
            modality,
            cid,
            binding,
        })
    }

    /// Whether the commitment binds the model with SHA-256 `onnx_sha256`
    /// to `hotkey` (the hotkey that made the commitment on chain).
    pub fn verify_binding(&self, onnx_sha256: &ModelDigest, hotkey: &Hotkey) -> bool {
        binding(onnx_sha256, hotkey) == self.binding
    }

    /// The chain fields: `[Raw(field 0), Sha256(binding)]`.
    pub fn to_chain_fields(&self) -> Vec<CommitmentField> {
        let (raw, binding) = self.fields();
        vec![CommitmentField::Raw(raw), CommitmentField::Sha256(binding)]
    }

    /// Parses chain fields: exactly `[Raw, Sha256]`, then as
    /// [`Commitment::parse`].
    pub fn from_chain_fields(fields: &[CommitmentField]) -> Result<Self, CommitmentError> {
        if fields.len() != 2 {
            return Err(CommitmentError::FieldCount { got: fields.len() });
        }
        let raw = match fields.first() {
            Some(CommitmentField::Raw(b)) => b,
            other => {
                return Err(CommitmentError::WrongFieldKind {
                    index: 0,
                    kind: other.map_or("missing", |f| f.kind()),
                    expected: "raw",
                });
            }
        };
        let binding = match fields.get(1) {
            Some(CommitmentField::Sha256(b)) => b,
            other => {
                return Err(CommitmentError::WrongFieldKind {
                    index: 1,
                    kind: other.map_or("missing", |f| f.kind()),
                    expected: "sha256",
                });
            }
        };
        Self::parse(raw, binding)
    }
}

impl fmt::Display for Commitment {
    /// Field 0.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}:{}:{}", self.modality, self.cid)
    }
}

impl From<&Commitment> for Vec<CommitmentField> {
    fn from(c: &Commitment) -> Self {
        c.to_chain_fields()
    }
}

impl TryFrom<&[CommitmentField]> for Commitment {
    type Error = CommitmentError;
    fn try_from(fields: &[CommitmentField]) -> Result<Self, Self::Error> {
        Commitment::from_chain_fields(fields)
    }
}

impl TryFrom<&medmetric_chain::Commitment> for Commitment {
    type Error = CommitmentError;
    fn try_from(c: &medmetric_chain::Commitment) -> Result<Self, Self::Error> {
        Commitment::from_chain_fields(&c.fields)
    }
}

fn parse_field0(raw: &[u8]) -> Result<(Modality, Cid), CommitmentError> {
    if raw.is_empty() {
        return Err(CommitmentError::Empty);
    }
    if raw.len() > MAX_FIELD0_BYTES {
        return Err(CommitmentError::Oversized { len: raw.len() });
    }
    let text = std::str::from_utf8(raw).map_err(|e| CommitmentError::Garbage {
        what: "invalid UTF-8",
        at: e.valid_up_to(),
        shown: shown(raw),
    })?;
    if let Some(at) = text.bytes().position(|b| !b.is_ascii()) {
        return Err(CommitmentError::NotAscii {
            at,
            shown: shown(raw),
        });
    }
    if looks_like_url(text) {
        return Err(CommitmentError::LooksLikeUrl { shown: shown(raw) });
    }
    if let Some(at) = text.bytes().position(|b| b.is_ascii_whitespace()) {
        return Err(CommitmentError::Whitespace {
            at,
            shown: shown(raw),
        });
    }
    if let Some(at) = text.bytes().position(|b| b.is_ascii_control()) {
        return Err(CommitmentError::Garbage {
            what: "control character",
            at,
            shown: shown(raw),
        });
    }
    let parts: Vec<&str> = text.split(':').collect();
    if parts.first() != Some(&PREFIX) {
        return Err(CommitmentError::BadPrefix { shown: shown(raw) });
    }
    let [_, modality, cid_text] = parts.as_slice() else {
        return Err(CommitmentError::WrongShape {
            parts: parts.len(),
            shown: shown(raw),
        });
    };
    // Exact names only: `Modality`'s parser is case-sensitive.
    let modality: Modality = modality
        .parse()
        .map_err(|_| CommitmentError::UnknownModality {
            found: modality.chars().take(SHOWN).collect(),
        })?;
    let cid = cid::parse(cid_text).map_err(|source| CommitmentError::BadCid {
        shown: shown(cid_text.as_bytes()),
        source,
    })?;
    Ok((modality, cid))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of `docs/artifacts.md` (the CID is Kubo's for the
    /// three bytes `abc`).
    #[test]
    fn documented_example() {
        let digest = ModelDigest::of(b"abc");
        let cid = cid::parse("QmQpeUrxtQE5N2SVog1ZCxd7c7RN4fBNQu5aLwkk5RY9ER").unwrap();
        assert_eq!(cid::Cid::of(b"abc", cid::Version::V0), cid);
        let c = Commitment::new(Modality::Cxr, cid, &digest, &Hotkey("miner-1".into()));
        let (raw, binding) = c.fields();
        assert_eq!(
            raw,
            b"mm1:cxr:QmQpeUrxtQE5N2SVog1ZCxd7c7RN4fBNQu5aLwkk5RY9ER"
        );
        assert_eq!(
            hex::encode(binding),
            "bea05e1a6a7941458de13a216789fedf2dd2f8b703acde9da9d17516bc7e9a4a"
        );
    }

    #[test]
    fn binding_is_sha256_of_digest_then_hotkey() {
        let d = ModelDigest([7; 32]);
        let mut input = vec![7u8; 32];
        input.extend_from_slice(b"5GrwvaEF");
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(binding(&d, &Hotkey("5GrwvaEF".into())), expected);
    }
}
