//! Real DICOM backgrounds from pydicom's test data (fetched by
//! `scripts/fetch-test-data.sh`) load into a round and receive transplanted
//! lesions: a chest radiograph (RG1, MONOCHROME1), a head MR (emri_small) and
//! a head CT (693) as normal backgrounds, with phantom lesions as donors.

use std::path::PathBuf;

use medmetric_bench::RoundConfig;
use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::{Anchor, build};
use medmetric_imaging::pool::{FolderPool, Pool, ReadLimits};
use medmetric_imaging::{Modality, png_io};

fn data_dir() -> PathBuf {
    let dir = std::env::var_os("MEDMETRIC_PYDICOM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/medmetric/pydicom-data/data_store/data")
        });
    assert!(
        dir.join("RG1_UNCR.dcm").is_file(),
        "pydicom test data not found in {}: run scripts/fetch-test-data.sh",
        dir.display()
    );
    dir
}

#[test]
fn real_dicom_backgrounds_load_and_hybridize() {
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let backgrounds = [
        ("RG1_UNCR.dcm", Modality::Cxr),
        ("emri_small.dcm", Modality::Brain),
        ("693_UNCR.dcm", Modality::Bone),
    ];
    let mut cases = Vec::new();
    for (file, modality) in backgrounds {
        std::fs::copy(data.join(file), dir.path().join(file)).unwrap();
        cases.push(serde_json::json!({"image": file, "label": "normal", "modality": modality}));
        // One phantom lesion donor per modality, stored as PNG + mask.
        let donor = PhantomPool::new(modality).load(1, 256).unwrap();
        let (img, mask) = (
            format!("{modality}_donor.png"),
            format!("{modality}_donor_mask.png"),
        );
        std::fs::write(
            dir.path().join(&img),
            png_io::encode_gray16(&donor.image).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(&mask),
            png_io::encode_mask(&donor.mask).unwrap(),
        )
        .unwrap();
        cases.push(serde_json::json!({
            "image": img, "mask": mask, "label": "abnormal", "modality": modality
        }));
    }
    let manifest =
        serde_json::json!({"format": "medmetric-pool/1", "name": "real", "cases": cases});
    std::fs::write(dir.path().join("pool.json"), manifest.to_string()).unwrap();
    let pool = FolderPool::open(dir.path(), &ReadLimits::default()).unwrap();

    let config = RoundConfig {
        size: 256,
        cases_per_modality: 6,
        hybrid_fraction: 1.0,
        augment_fraction: 0.0,
        probes_per_modality: 1,
        probe_variants: 2,
        ..RoundConfig::default()
    };
    let anchor = Anchor {
        netuid: medmetric_core::NetUid(1),
        block_number: medmetric_core::Block(77),
        block_hash: [0x5a; 32],
    };
    let round = build(&anchor, &[&pool as &dyn Pool], &config, 2, &|| {}).unwrap();
    for (file, modality) in backgrounds {
        let from_dicom: Vec<_> = round
            .items
            .iter()
            .filter(|i| {
                i.record
                    .source
                    .case_id
                    .contains(file.trim_end_matches(".dcm"))
            })
            .collect();
        assert!(!from_dicom.is_empty(), "{file} never sampled");
        for item in from_dicom {
            assert_eq!(item.record.modality, modality);
            let hybrid = item
                .record
                .hybrid
                .as_ref()
                .unwrap_or_else(|| panic!("{file} not hybridized"));
            assert!(hybrid.transplant.lesion_pixels > 0);
            assert!(item.record.abnormal && item.mask.any());
            let lesion: Vec<f32> = item
                .image
                .data
                .iter()
                .zip(&item.mask.data)
                .filter(|(_, m)| **m != 0)
                .map(|(v, _)| *v)
                .collect();
            assert!(lesion.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
    let again = build(&anchor, &[&pool as &dyn Pool], &config, 1, &|| {}).unwrap();
    assert_eq!(round, again);
}
