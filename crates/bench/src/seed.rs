//! Round seeds and the per-purpose, per-item sub-seeds derived from them.
//!
//! A round's seed is unknown until its block exists and identical for every
//! validator (docs/rounds.md):
//!
//! `seed = SHA-256("medmetric/round/v1" ‖ netuid u16 LE ‖ block number u64 LE ‖ block hash)`
//!
//! Every random choice then draws from its own ChaCha stream,
//! `SHA-256(seed ‖ purpose ‖ 0x00 ‖ index u64 LE)`, so no item's randomness
//! depends on how many draws another item made, and building items on any
//! number of threads gives the same bytes.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

/// Domain separator of round seeds.
pub const ROUND_SEED_DOMAIN: &[u8] = b"medmetric/round/v1";

/// A 32-byte round seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoundSeed(pub [u8; 32]);

impl RoundSeed {
    /// The seed of the round anchored at `block_number` with `block_hash`.
    pub fn from_block(netuid: u16, block_number: u64, block_hash: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(ROUND_SEED_DOMAIN);
        h.update(netuid.to_le_bytes());
        h.update(block_number.to_le_bytes());
        h.update(block_hash);
        RoundSeed(h.finalize().into())
    }

    /// The sub-seed for `purpose` and `index`.
    pub fn sub(&self, purpose: &str, index: u64) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.0);
        h.update(purpose.as_bytes());
        h.update([0u8]);
        h.update(index.to_le_bytes());
        h.finalize().into()
    }

    /// A ChaCha stream for `purpose` and `index`.
    pub fn rng(&self, purpose: &str, index: u64) -> ChaCha8Rng {
        ChaCha8Rng::from_seed(self.sub(purpose, index))
    }

    /// Hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Parses a 32-byte block hash from 64 hex digits (an optional `0x` prefix
/// is accepted).
pub fn parse_block_hash(s: &str) -> Result<[u8; 32], String> {
    let t = s.strip_prefix("0x").unwrap_or(s);
    let mut out = [0u8; 32];
    if t.len() != 64 {
        return Err(format!("block hash must be 64 hex digits, got {}", t.len()));
    }
    hex::decode_to_slice(t, &mut out).map_err(|_| "block hash is not hexadecimal".to_string())?;
    Ok(out)
}

/// A uniform `f64` in `[0, 1)` with 53 random bits.
pub fn unit_f64(rng: &mut impl rand_core::Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform integer in `0..n` without modulo bias (`n > 0`).
pub fn below(rng: &mut impl rand_core::Rng, n: u64) -> u64 {
    debug_assert!(n > 0);
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = rng.next_u64();
        if v < zone {
            return v % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_layout_is_the_documented_one() {
        let hash = [7u8; 32];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"medmetric/round/v1");
        bytes.extend_from_slice(&3u16.to_le_bytes());
        bytes.extend_from_slice(&1234u64.to_le_bytes());
        bytes.extend_from_slice(&hash);
        let expected: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(RoundSeed::from_block(3, 1234, &hash).0, expected);
        assert_ne!(
            RoundSeed::from_block(3, 1235, &hash),
            RoundSeed::from_block(3, 1234, &hash)
        );
    }

    #[test]
    fn sub_seeds_separate_purposes_and_items() {
        let s = RoundSeed([1; 32]);
        assert_ne!(s.sub("sample", 0), s.sub("sample", 1));
        assert_ne!(s.sub("sample", 0), s.sub("augment", 0));
        // "ab" + 0x00 + index never collides with "a" + "b\0..."
        assert_ne!(s.sub("ab", 0), s.sub("a", 0));
    }

    #[test]
    fn block_hash_parsing() {
        assert!(parse_block_hash(&"ab".repeat(32)).is_ok());
        assert!(parse_block_hash(&format!("0x{}", "00".repeat(32))).is_ok());
        assert!(parse_block_hash("abc").is_err());
        assert!(parse_block_hash(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn below_is_in_range() {
        let mut rng = RoundSeed([2; 32]).rng("t", 0);
        for n in [1u64, 2, 3, 7, 1000] {
            for _ in 0..100 {
                assert!(below(&mut rng, n) < n);
            }
        }
    }
}
