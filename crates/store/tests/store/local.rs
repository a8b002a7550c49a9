//! The local content-addressed store.

use std::fs;
use std::sync::Arc;
use std::thread;

use medmetric_core::ModelDigest;
use medmetric_store::cid::{Cid, Version};
use medmetric_store::{LocalStore, StoreError};

#[test]
fn survives_reopen_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = vec![42u8; 600_000];
    let a = LocalStore::open(dir.path()).unwrap().put(&bytes).unwrap();
    assert_eq!(a.cid_v0, Cid::of(&bytes, Version::V0));
    assert_eq!(a.size, 600_000);
    let store = LocalStore::open(dir.path()).unwrap();
    assert_eq!(store.put(&bytes).unwrap(), a);
    assert_eq!(store.get(&a.sha256.to_string(), 600_000).unwrap(), bytes);
    // uppercase hex names the same artifact
    assert_eq!(
        store
            .get(&a.sha256.to_string().to_uppercase(), 600_000)
            .unwrap(),
        bytes
    );
    assert_eq!(store.lookup_cid(&a.cid_v0).unwrap(), Some(a.sha256));
    let json = serde_json::to_string(&a).unwrap();
    assert!(json.contains(&a.sha256.to_string()) && json.contains(&a.cid_v0.to_string()));
    assert_eq!(
        serde_json::from_str::<medmetric_store::ArtifactRef>(&json).unwrap(),
        a
    );
}

#[test]
fn corruption_is_reported_not_returned_and_put_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let bytes = b"weights".repeat(1000);
    let a = store.put(&bytes).unwrap();
    let hex = a.sha256.to_string();
    let blob = dir.path().join("blobs").join(&hex);
    let mut flipped = fs::read(&blob).unwrap();
    flipped[10] ^= 0x80;
    fs::write(&blob, &flipped).unwrap();
    match store.get(&hex, 1 << 20) {
        Err(StoreError::Corrupt {
            expected, actual, ..
        }) => {
            assert_eq!(expected, a.sha256);
            assert_eq!(actual, ModelDigest::of(&flipped));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(!store.contains(&hex));
    assert!(matches!(
        store.get_by_cid(&a.cid_v0, 1 << 20),
        Err(StoreError::Corrupt { .. })
    ));
    // truncated to nothing: still corrupt, still not returned
    fs::write(&blob, b"").unwrap();
    assert!(matches!(
        store.get(&hex, 1 << 20),
        Err(StoreError::Corrupt { .. })
    ));
    store.put(&bytes).unwrap();
    assert_eq!(store.get(&hex, 1 << 20).unwrap(), bytes);
}

#[test]
fn keys_are_validated_and_sizes_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap().with_max_size(1000);
    for bad in [
        "",
        "../../../etc/passwd",
        "zz",
        &"g".repeat(64),
        &"a".repeat(63),
        &"a".repeat(65),
    ] {
        assert!(
            matches!(store.get(bad, 10), Err(StoreError::BadDigest(_))),
            "{bad}"
        );
        assert!(!store.contains(bad));
    }
    assert!(matches!(
        store.get(&"a".repeat(64), 10),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.put(&[0; 1001]),
        Err(StoreError::TooLarge {
            size: 1001,
            max: 1000
        })
    ));
    let a = store.put(&[1; 1000]).unwrap();
    assert!(matches!(
        store.get(&a.sha256.to_string(), 999),
        Err(StoreError::TooLarge {
            size: 1000,
            max: 999
        })
    ));
    let unknown = Cid::of(b"never stored", Version::V0);
    assert_eq!(store.lookup_cid(&unknown).unwrap(), None);
    assert!(matches!(
        store.get_by_cid(&unknown, 10),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn a_tampered_cid_index_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let a = store.put(b"model a").unwrap();
    let b = store.put(b"model b").unwrap();
    // point a's CID at b's bytes
    fs::write(
        dir.path().join("cids").join(a.cid_v0.to_string()),
        b.sha256.to_string(),
    )
    .unwrap();
    assert!(matches!(
        store.get_by_cid(&a.cid_v0, 100),
        Err(StoreError::CidMismatch { .. })
    ));
    // a damaged entry counts as absent, and put rewrites it
    fs::write(dir.path().join("cids").join(a.cid_v0.to_string()), "junk").unwrap();
    assert_eq!(store.lookup_cid(&a.cid_v0).unwrap(), None);
    store.put(b"model a").unwrap();
    assert_eq!(store.get_by_cid(&a.cid_v0, 100).unwrap(), b"model a");
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path()).unwrap());
    let handles: Vec<_> = (0..4u8)
        .map(|t| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                (0..10u8)
                    .map(|i| {
                        // half the artifacts are shared between threads
                        let key = if i % 2 == 0 { i } else { i + 30 * (t + 1) };
                        store.put(&vec![key; 5000 + usize::from(key)]).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let refs: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let store = LocalStore::open(dir.path()).unwrap();
    for r in &refs {
        let bytes = store.get(&r.sha256.to_string(), 1 << 20).unwrap();
        assert_eq!(bytes.len() as u64, r.size);
        assert_eq!(store.get_by_cid(&r.cid_v0, 1 << 20).unwrap(), bytes);
    }
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(dir.path().join("blobs")).unwrap().count(),
        5 + 4 * 5
    );
}

#[test]
fn stale_temporaries_are_swept_on_open() {
    let dir = tempfile::tempdir().unwrap();
    LocalStore::open(dir.path()).unwrap();
    let tmp = dir.path().join("tmp");
    let old = tmp.join("1.0.0.tmp");
    let fresh = tmp.join("2.0.0.tmp");
    fs::write(&old, b"half").unwrap();
    fs::write(&fresh, b"half").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    LocalStore::open(dir.path()).unwrap();
    assert!(!old.exists());
    assert!(fresh.exists(), "a writer may still be using it");
}
