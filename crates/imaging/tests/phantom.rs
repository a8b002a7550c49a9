//! Procedural phantoms: determinism, labels and masks, lesion contrast,
//! value ranges and sizes.

use std::time::Instant;

use medmetric_imaging::phantom::{
    self, GENERATOR, LesionKind, MAX_SIZE, MrContrast, PhantomInfo, generate, generate_with_info,
    lesion_kinds,
};
use medmetric_imaging::{Case, Mask, Modality};
use sha2::{Digest, Sha256};

fn seed(i: u32) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..4].copy_from_slice(&i.to_le_bytes());
    s[31] = 0xA5;
    s
}

/// SHA-256 over the image's `f32` bits and the mask, as a reproducibility
/// fingerprint.
fn digest(case: &Case) -> String {
    let mut h = Sha256::new();
    for v in &case.image.data {
        h.update(v.to_bits().to_le_bytes());
    }
    h.update(&case.mask.data);
    hex::encode(h.finalize())
}

fn area(mask: &Mask) -> usize {
    mask.data.iter().filter(|&&v| v != 0).count()
}

/// The mask grown by `r` pixels (square structuring element).
fn dilate(mask: &Mask, r: i64) -> Vec<bool> {
    let (w, h) = (mask.width as i64, mask.height as i64);
    let mut out = vec![false; mask.data.len()];
    for y in 0..h {
        for x in 0..w {
            if mask.data[(y * w + x) as usize] == 0 {
                continue;
            }
            for yy in (y - r).max(0)..=(y + r).min(h - 1) {
                for xx in (x - r).max(0)..=(x + r).min(w - 1) {
                    out[(yy * w + xx) as usize] = true;
                }
            }
        }
    }
    out
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for v in values {
        s += v;
        n += 1;
    }
    if n == 0 { f64::NAN } else { s / n as f64 }
}

#[test]
fn same_inputs_give_identical_cases() {
    for m in Modality::ALL {
        for abnormal in [false, true] {
            let a = generate_with_info(m, 96, seed(3), abnormal);
            let b = generate_with_info(m, 96, seed(3), abnormal);
            assert_eq!(a, b, "{m} abnormal={abnormal}");
            assert_eq!(digest(&a.0), digest(&b.0));
        }
    }
}

#[test]
fn different_seeds_give_different_images() {
    for m in Modality::ALL {
        let a = generate(m, 64, seed(1), false);
        let b = generate(m, 64, seed(2), false);
        let diff = mean(
            a.image
                .data
                .iter()
                .zip(&b.image.data)
                .map(|(p, q)| f64::from((p - q).abs())),
        );
        assert!(diff > 0.01, "{m}: seeds 1 and 2 nearly identical ({diff})");
        assert_ne!(a.id, b.id);
    }
}

#[test]
fn masks_are_empty_exactly_for_normal_cases() {
    for m in Modality::ALL {
        for size in [16, 64] {
            for i in 0..12 {
                let (normal, ni) = generate_with_info(m, size, seed(i), false);
                assert!(
                    !normal.mask.any(),
                    "{m} {size} seed {i}: normal with a lesion"
                );
                assert!(!normal.abnormal);
                assert_eq!(ni.kind, None);
                assert_eq!(ni.lesions, 0);
                let (sick, si) = generate_with_info(m, size, seed(i), true);
                assert!(
                    sick.mask.any(),
                    "{m} {size} seed {i}: abnormal without a lesion"
                );
                assert!(sick.abnormal);
                assert!(si.lesions >= 1);
                assert!(lesion_kinds(m).contains(&si.kind.expect("kind")));
                assert!(sick.mask.data.iter().all(|&v| v <= 1));
            }
        }
    }
}

#[test]
fn every_kind_and_contrast_occurs() {
    let infos: Vec<(Modality, PhantomInfo)> = Modality::ALL
        .into_iter()
        .flat_map(|m| (0..24).map(move |i| (m, generate_with_info(m, 16, seed(i), true).1)))
        .collect();
    for kind in LesionKind::ALL {
        assert!(
            infos.iter().any(|(_, i)| i.kind == Some(kind)),
            "{kind} never drawn"
        );
    }
    for c in MrContrast::ALL {
        assert!(
            infos.iter().any(|(_, i)| i.contrast == Some(c)),
            "{c:?} never drawn"
        );
    }
    for (m, i) in &infos {
        assert_eq!(i.contrast.is_some(), *m == Modality::Brain);
        assert!(i.lesions <= 3);
    }
}

#[test]
fn lesion_area_is_sane() {
    // A fracture line is thin and a single small nodule is ~1 cm across:
    // their floor is lower than the others'.
    for m in Modality::ALL {
        for i in 0..16 {
            let (case, info) = generate_with_info(m, 128, seed(100 + i), true);
            let frac = area(&case.mask) as f64 / case.mask.data.len() as f64;
            let small = matches!(info.kind, Some(LesionKind::Fracture | LesionKind::Nodule));
            let low = if small { 0.0003 } else { 0.001 };
            assert!(
                (low..=0.15).contains(&frac),
                "{m} seed {i} {:?}: lesion covers {:.3}% of the image",
                info.kind,
                frac * 100.0
            );
        }
    }
}

#[test]
fn lesion_changes_the_image_inside_its_mask_and_nowhere_far_from_it() {
    // The abnormal case is its normal twin with a lesion painted in.
    for m in Modality::ALL {
        for i in 0..10 {
            let (sick, info) = generate_with_info(m, 128, seed(200 + i), true);
            let normal = generate(m, 128, seed(200 + i), false);
            let diff: Vec<f64> = sick
                .image
                .data
                .iter()
                .zip(&normal.image.data)
                .map(|(a, b)| f64::from((a - b).abs()))
                .collect();
            let inside = mean(
                (0..diff.len())
                    .filter(|&k| sick.mask.data[k] != 0)
                    .map(|k| diff[k]),
            );
            assert!(
                inside > 0.04,
                "{m} seed {i} {:?}: mean change inside the mask only {inside:.4}",
                info.kind
            );
            if info.kind == Some(LesionKind::Fracture) {
                // A displaced fracture moves the whole distal fragment.
                continue;
            }
            let near = dilate(&sick.mask, 12);
            let far = (0..diff.len())
                .filter(|&k| !near[k])
                .map(|k| diff[k])
                .fold(0.0, f64::max);
            assert!(
                far == 0.0,
                "{m} seed {i}: image changed far from the lesion ({far:.5})"
            );
        }
    }
}

#[test]
fn lesion_stands_out_from_its_surroundings() {
    for m in Modality::ALL {
        for i in 0..12 {
            let (case, info) = generate_with_info(m, 256, seed(300 + i), true);
            let ring = dilate(&case.mask, 4);
            let px = |k: usize| f64::from(case.image.data[k]);
            let n = case.mask.data.len();
            let in_mask = |k: &usize| case.mask.data[*k] != 0;
            let in_ring = |k: &usize| ring[*k] && case.mask.data[*k] == 0;
            let inside = mean((0..n).filter(in_mask).map(px));
            let around = mean((0..n).filter(in_ring).map(px));
            if info.contrast == Some(MrContrast::T1c) {
                // A ring-enhancing tumour's bright rim can balance its dark
                // core and oedema in the mean (as in real T1c); the twin test
                // above shows it is there.
                continue;
            }
            assert!(
                (inside - around).abs() > 0.02,
                "{m} seed {i} {:?} {:?}: inside {inside:.3} vs ring {around:.3}",
                info.kind,
                info.contrast
            );
        }
    }
}

#[test]
fn values_are_finite_and_in_unit_range_at_any_size() {
    for size in [1, 2, 16, 17, 31, 64, 100, 128, 255, 256, 512] {
        for m in Modality::ALL {
            let start = Instant::now();
            let case = generate(m, size, seed(size), size % 2 == 0);
            let ms = start.elapsed().as_secs_f64() * 1e3;
            if size >= 256 {
                println!("{m} {size}x{size}: {ms:.1} ms (this build's profile)");
            }
            assert_eq!((case.image.width, case.image.height), (size, size));
            assert_eq!((case.mask.width, case.mask.height), (size, size));
            assert_eq!(case.image.data.len(), (size * size) as usize);
            assert_eq!(case.mask.data.len(), (size * size) as usize);
            assert!(
                case.image
                    .data
                    .iter()
                    .all(|v| v.is_finite() && (0.0..=1.0).contains(v)),
                "{m} {size}: value out of range"
            );
        }
    }
}

#[test]
fn images_use_the_dynamic_range() {
    for m in Modality::ALL {
        for i in 0..4 {
            let case = generate(m, 128, seed(400 + i), i % 2 == 1);
            let mut v = case.image.data.clone();
            v.sort_by(f32::total_cmp);
            let (p2, p98) = (v[v.len() / 50], v[v.len() * 49 / 50]);
            assert!(p2 < 0.15 && p98 > 0.55, "{m}: percentiles {p2} {p98}");
        }
    }
}

#[test]
fn one_seed_is_one_patient_at_every_size() {
    for m in Modality::ALL {
        let small = generate(m, 64, seed(7), true);
        let large = generate(m, 256, seed(7), true)
            .image
            .resize_bilinear(64, 64);
        let diff = mean(
            small
                .image
                .data
                .iter()
                .zip(&large.data)
                .map(|(a, b)| f64::from((a - b).abs())),
        );
        assert!(
            diff < 0.06,
            "{m}: 64 px and 256 px renderings differ by {diff:.3}"
        );
    }
}

#[test]
fn ids_name_modality_and_seed_but_not_the_label() {
    let a = generate(Modality::Bone, 16, seed(9), true);
    let b = generate(Modality::Bone, 16, seed(9), false);
    assert_eq!(a.id, "phantom-bone-0900000000000000");
    assert_eq!(a.id, b.id);
    assert_eq!(a.modality, Modality::Bone);
}

#[test]
fn kinds_and_contrasts_have_stable_names() {
    let names: Vec<&str> = LesionKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(
        names,
        [
            "nodule",
            "consolidation",
            "tumour",
            "fracture",
            "lytic_lesion"
        ]
    );
    assert_eq!(
        serde_json::to_string(&LesionKind::LyticLesion).unwrap(),
        "\"lytic_lesion\""
    );
    assert_eq!(
        serde_json::to_string(&MrContrast::Flair).unwrap(),
        "\"flair\""
    );
    let all: Vec<LesionKind> = Modality::ALL
        .iter()
        .flat_map(|&m| lesion_kinds(m).to_vec())
        .collect();
    assert_eq!(all, LesionKind::ALL);
    assert!(GENERATOR.starts_with("medmetric-phantom/"));
}

#[test]
#[should_panic(expected = "exceeds the maximum")]
fn oversized_request_panics_before_allocating() {
    let _ = phantom::generate(Modality::Cxr, MAX_SIZE + 1, seed(0), false);
}

/// Pinned output: any change to what the generator draws must bump
/// [`GENERATOR`] and these digests together. Computed by a release build and
/// checked here in whatever profile the tests run in, so optimisation level
/// cannot change a pixel.
#[test]
fn output_is_pinned() {
    const PINNED: [(Modality, bool, &str); 6] = [
        (
            Modality::Cxr,
            false,
            "c65b03dfa89aebf44eee25338e8f0a10846d04f52ac5f986803a983a94a8eab9",
        ),
        (
            Modality::Cxr,
            true,
            "82db2a159f5ee83d45ab5019637c7812a11e4dce99c712b15d96de11e56af4e7",
        ),
        (
            Modality::Brain,
            false,
            "fec590e62e4ef5b44cc27b77c634b0ad1d42611c13384bc60262cb81c1e7dcbe",
        ),
        (
            Modality::Brain,
            true,
            "e72aa3c25ebd1dbf2bbc581bf0ff20c05a8835e6b2be9d094dc87783c4155241",
        ),
        (
            Modality::Bone,
            false,
            "464909743efed75ef64461faec87ca37cfe8701fd2035d74c53d472dce9e28a1",
        ),
        (
            Modality::Bone,
            true,
            "58e17dc2984d200782aff5da239486b723c1d7d176b0017f5e27bd433fc0f652",
        ),
    ];
    assert_eq!(GENERATOR, "medmetric-phantom/1");
    let got: Vec<String> = PINNED
        .iter()
        .map(|&(m, abnormal, _)| digest(&generate(m, 64, seed(5), abnormal)))
        .collect();
    for ((m, abnormal, _), got) in PINNED.iter().zip(&got) {
        println!("(Modality::{m:?}, {abnormal}, \"{got}\"),");
    }
    for ((m, abnormal, want), got) in PINNED.iter().zip(&got) {
        assert_eq!(got, want, "{m} abnormal={abnormal}");
    }
}
