//! Round building end to end on the phantom pools: determinism across
//! threads, sensitivity to the block, the folder and its verification.

use medmetric_bench::RoundConfig;
use medmetric_bench::manifest::verify;
use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::{Anchor, build};
use medmetric_bench::write::write;
use medmetric_imaging::Modality;
use medmetric_imaging::pool::Pool;

fn small_config() -> RoundConfig {
    RoundConfig {
        size: 128,
        cases_per_modality: 6,
        probes_per_modality: 1,
        probe_variants: 3,
        hybrid_fraction: 0.6,
        ..RoundConfig::default()
    }
}

fn anchor(n: u64) -> Anchor {
    Anchor {
        netuid: medmetric_core::NetUid(7),
        block_number: medmetric_core::Block(n),
        block_hash: [n as u8; 32],
    }
}

fn pools() -> Vec<PhantomPool> {
    Modality::ALL.into_iter().map(PhantomPool::new).collect()
}

fn refs(p: &[PhantomPool]) -> Vec<&dyn Pool> {
    p.iter().map(|p| p as &dyn Pool).collect()
}

#[test]
fn thread_count_never_changes_the_round() {
    let p = pools();
    let cfg = small_config();
    let one = build(&anchor(100), &refs(&p), &cfg, 1, &|| {}).unwrap();
    let two = build(&anchor(100), &refs(&p), &cfg, 2, &|| {}).unwrap();
    let five = build(&anchor(100), &refs(&p), &cfg, 5, &|| {}).unwrap();
    assert_eq!(one, two);
    assert_eq!(one, five);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_eq!(
        write(&one, d1.path()).unwrap(),
        write(&two, d2.path()).unwrap()
    );
}

#[test]
fn different_blocks_give_different_rounds() {
    let p = pools();
    let cfg = small_config();
    let a = build(&anchor(100), &refs(&p), &cfg, 2, &|| {}).unwrap();
    let b = build(&anchor(101), &refs(&p), &cfg, 2, &|| {}).unwrap();
    let sources = |r: &medmetric_bench::Round| {
        r.items
            .iter()
            .map(|i| i.record.source.index)
            .collect::<Vec<_>>()
    };
    assert_ne!(sources(&a), sources(&b));
    assert_ne!(a.items[0].image, b.items[0].image);
}

#[test]
fn round_has_the_configured_shape() {
    let p = pools();
    let cfg = small_config();
    let r = build(&anchor(5), &refs(&p), &cfg, 2, &|| {}).unwrap();
    assert_eq!(r.items.len(), 18);
    assert!(
        r.items.iter().any(|i| i.record.hybrid.is_some()),
        "no hybrid item"
    );
    assert!(r.items.iter().any(|i| !i.record.augmentations.is_empty()));
    for item in &r.items {
        assert_eq!((item.image.width, item.image.height), (128, 128));
        assert_eq!(item.mask.any(), item.record.abnormal, "{}", item.record.id);
        // 16-bit grid: what a model reads back from the PNG.
        for &v in &item.image.data {
            assert_eq!((v * 65535.0).round() / 65535.0, v);
        }
    }
    assert_eq!(r.probes.len(), 3);
    for probe in &r.probes {
        assert_eq!(probe.variants.len(), 3);
        for (rec, (_, mask)) in probe.record.variants.iter().zip(&probe.variants) {
            assert!(rec.augmentations.iter().any(|a| a.name() == "affine"));
            assert!(mask.any());
        }
    }
}

#[test]
fn written_round_verifies_and_tampering_is_caught() {
    let p = pools();
    let r = build(&anchor(9), &refs(&p), &small_config(), 2, &|| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let digest = write(&r, dir.path()).unwrap();
    assert_eq!(verify(dir.path()).unwrap(), digest);

    let img = dir.path().join(&r.items[0].record.image);
    let mut bytes = std::fs::read(&img).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    std::fs::write(&img, bytes).unwrap();
    let err = verify(dir.path()).unwrap_err().to_string();
    assert!(err.contains("differs"), "{err}");

    let dir2 = tempfile::tempdir().unwrap();
    write(&r, dir2.path()).unwrap();
    let m = dir2.path().join("manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replacen("\"abnormal\": true", "\"abnormal\": false", 1),
    )
    .unwrap();
    let err = verify(dir2.path()).unwrap_err().to_string();
    assert!(err.contains("does not match"), "{err}");
}
