//! Augmentation against its references and its invariants.
//!
//! CLAHE is compared byte for byte with OpenCV's outputs written by
//! `scripts/gen_clahe_fixtures.py`: the committed set in
//! `tests/fixtures/clahe`, and, when `MEDMETRIC_CLAHE_FIXTURES` points at a
//! directory, a fresh random set the test command generates each run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use medmetric_imaging::augment::{
    self, AffineMatrix, AffineParams, AugmentConfig, Augmentation, BitDepthParams,
    BlockNoiseParams, ClaheParams, NoiseParams, OcclusionParams, OcclusionRect, StripeParams,
    StripePattern, WindowLevelParams,
};
use medmetric_imaging::png_io::{self, PngLimits};
use medmetric_imaging::{GrayImage, Mask};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde_json::Value;

fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clahe")];
    if let Some(extra) = std::env::var_os("MEDMETRIC_CLAHE_FIXTURES") {
        dirs.push(PathBuf::from(extra));
    }
    dirs
}

fn read_png(path: &Path) -> png_io::DecodedGray {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    png_io::decode_gray(&bytes, &PngLimits::default()).unwrap()
}

#[test]
fn clahe_equals_opencv_on_every_fixture() {
    let mut checked = 0;
    for dir in fixture_dirs() {
        let index: Value = serde_json::from_slice(
            &std::fs::read(dir.join("index.json"))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display())),
        )
        .unwrap();
        let mut inputs: HashMap<String, png_io::DecodedGray> = HashMap::new();
        for case in index["cases"].as_array().unwrap() {
            let name = case["input"].as_str().unwrap();
            let input = inputs
                .entry(name.to_string())
                .or_insert_with(|| read_png(&dir.join(name)));
            let expected = read_png(&dir.join(case["output"].as_str().unwrap()));
            let bits = case["bits"].as_u64().unwrap();
            assert_eq!(u64::from(input.bit_depth), bits, "{case}");
            let params = ClaheParams {
                clip_limit: case["clip"].as_f64().unwrap(),
                tiles_x: case["tiles_x"].as_u64().unwrap() as u32,
                tiles_y: case["tiles_y"].as_u64().unwrap() as u32,
                bit_depth: bits as u8,
            };
            let (w, h) = (input.image.width, input.image.height);
            let got: Vec<u16> = if bits == 8 {
                let src: Vec<u8> = input.raw.iter().map(|&v| v as u8).collect();
                params
                    .apply_u8(&src, w, h)
                    .unwrap()
                    .into_iter()
                    .map(u16::from)
                    .collect()
            } else {
                params.apply_u16(&input.raw, w, h).unwrap()
            };
            if got != expected.raw {
                let bad = got.iter().zip(&expected.raw).position(|(a, b)| a != b);
                let at = bad.unwrap_or(0);
                panic!(
                    "{}: {case}: first difference at pixel {at} (x {}, y {}): ours {}, OpenCV {}",
                    dir.display(),
                    at % w as usize,
                    at / w as usize,
                    got[at],
                    expected.raw[at]
                );
            }
            // the float path on a 16-bit image gives the same samples
            if bits == 16 && checked % 7 == 0 {
                let f = params.apply_gray(&input.image).unwrap();
                let back: Vec<u16> = f
                    .data
                    .iter()
                    .map(|&v| (v * 65535.0).round() as u16)
                    .collect();
                assert_eq!(back, expected.raw, "float path: {case}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} CLAHE cases checked");
}

fn textured(w: u32, h: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        let v = ((x * 37 + y * 101) % 97) as f32 / 96.0;
        0.2 + 0.6 * v
    })
}

fn blob_mask(w: u32, h: u32, cx: f32, cy: f32, r: f32) -> Mask {
    let mut m = Mask::empty(w, h);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            if dx * dx + dy * dy <= r * r {
                m.data[(y * w + x) as usize] = 1;
            }
        }
    }
    m
}

fn all_ops() -> Vec<Augmentation> {
    vec![
        Augmentation::Affine(AffineParams {
            rotation_deg: 12.5,
            scale: 1.05,
            shear_deg: 3.0,
            translate_x: 0.02,
            translate_y: -0.03,
            fill: 0.0,
        }),
        Augmentation::WindowLevel(WindowLevelParams {
            center: 0.48,
            width: 0.9,
        }),
        Augmentation::Clahe(ClaheParams::new(2.0, 4)),
        Augmentation::BitDepth(BitDepthParams { bits: 9 }),
        Augmentation::Stripes(StripeParams {
            pattern: StripePattern::Vertical,
            period: 9.0,
            amplitude: 0.02,
            phase: 0.3,
        }),
        Augmentation::BlockNoise(BlockNoiseParams {
            quality: 50,
            dc_sigma: 0.01,
        }),
        Augmentation::Noise(NoiseParams { sigma: 0.02 }),
        Augmentation::Occlusion(OcclusionParams {
            rects: vec![OcclusionRect {
                x: 0.7,
                y: 0.1,
                width: 0.2,
                height: 0.2,
            }],
            value: 0.0,
        }),
    ]
}

fn image_bytes(img: &GrayImage) -> Vec<u8> {
    img.data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn same_seed_same_bytes_and_different_seed_different_noise() {
    let img = textured(61, 47);
    let mask = blob_mask(61, 47, 30.0, 20.0, 9.0);
    let ops = all_ops();
    let a = augment::apply_pipeline(&img, Some(&mask), &ops, [9; 32]).unwrap();
    let b = augment::apply_pipeline(&img, Some(&mask), &ops, [9; 32]).unwrap();
    assert_eq!(image_bytes(&a.image), image_bytes(&b.image));
    assert_eq!(a.mask, b.mask);
    assert_eq!(a.transform, b.transform);
    let c = augment::apply_pipeline(&img, Some(&mask), &ops, [10; 32]).unwrap();
    assert_ne!(image_bytes(&a.image), image_bytes(&c.image));

    // the recorded list replays to the same bytes after a JSON round trip
    let json = serde_json::to_string(&ops).unwrap();
    let replayed: Vec<Augmentation> = serde_json::from_str(&json).unwrap();
    let d = augment::apply_pipeline(&img, Some(&mask), &replayed, [9; 32]).unwrap();
    assert_eq!(image_bytes(&a.image), image_bytes(&d.image));

    // sampling is deterministic too
    let cfg = AugmentConfig::default();
    let s1 = augment::sample_pipeline(&mut ChaCha8Rng::from_seed([5; 32]), &cfg).unwrap();
    let s2 = augment::sample_pipeline(&mut ChaCha8Rng::from_seed([5; 32]), &cfg).unwrap();
    assert_eq!(s1, s2);
}

/// Pins the bytes of one pipeline run so any change to the arithmetic (or a
/// platform that computes differently) shows up as a failure.
#[test]
fn pipeline_output_digest_is_pinned() {
    use sha2::{Digest, Sha256};
    let img = textured(40, 33);
    let out = augment::apply_pipeline(&img, None, &all_ops(), [42; 32]).unwrap();
    let digest = hex::encode(Sha256::digest(image_bytes(&out.image)));
    assert_eq!(digest, PINNED_DIGEST, "pipeline output changed");
}

const PINNED_DIGEST: &str = "b40795065a16206af0f29b5591b2bd62c4e957bd423d34013c332fd12db3833d";

fn iou(a: &Mask, b: &Mask) -> f64 {
    let inter = a
        .data
        .iter()
        .zip(&b.data)
        .filter(|(x, y)| **x & **y == 1)
        .count();
    let union = a
        .data
        .iter()
        .zip(&b.data)
        .filter(|(x, y)| (**x | **y) == 1)
        .count();
    inter as f64 / union.max(1) as f64
}

#[test]
fn affine_mask_maps_back_onto_the_original() {
    let (w, h) = (96, 80);
    let mask = blob_mask(w, h, 50.0, 38.0, 14.0);
    for (rot, scale, shear, tx, ty) in [
        (0.0, 1.0, 0.0, 0.0, 0.0),
        (17.0, 1.0, 0.0, 0.0, 0.0),
        (-33.0, 1.2, 5.0, 0.05, -0.04),
        (90.0, 0.9, -8.0, -0.03, 0.02),
        (180.0, 1.0, 0.0, 0.0, 0.0),
    ] {
        let p = AffineParams {
            rotation_deg: rot,
            scale,
            shear_deg: shear,
            translate_x: tx,
            translate_y: ty,
            fill: 0.0,
        };
        let img = GrayImage::from_fn(w, h, |x, y| f32::from(mask.data[(y * w + x) as usize]));
        let (warped, warped_mask) =
            augment::apply(&img, Some(&mask), &Augmentation::Affine(p), [0; 32]).unwrap();
        let warped_mask = warped_mask.unwrap();
        let m = p.matrix(w, h).unwrap();
        // the lesion's centre lands where the matrix says
        let (cx, cy) = m.apply(50.0, 38.0);
        assert_eq!(
            warped_mask.data[(cy.round() as u32 * w + cx.round() as u32) as usize],
            1,
            "{p:?}"
        );
        // the image and the mask move together
        let thresholded = Mask {
            width: w,
            height: h,
            data: warped.data.iter().map(|&v| u8::from(v >= 0.5)).collect(),
        };
        assert!(iou(&thresholded, &warped_mask) > 0.9, "{p:?}");
        // a prediction equal to the warped truth maps back onto the truth
        let back = augment::map_mask_back(&warped_mask, &m).unwrap();
        assert!(iou(&back, &mask) > 0.9, "{p:?}: IoU {}", iou(&back, &mask));
        let back_img = augment::map_image_back(&warped, &m).unwrap();
        let back_thr = Mask {
            width: w,
            height: h,
            data: back_img.data.iter().map(|&v| u8::from(v >= 0.5)).collect(),
        };
        assert!(iou(&back_thr, &mask) > 0.9, "{p:?}");
    }
    // the pipeline's composed transform maps back through several steps
    let ops = vec![
        Augmentation::Affine(AffineParams {
            rotation_deg: 20.0,
            ..Default::default()
        }),
        Augmentation::Noise(NoiseParams { sigma: 0.01 }),
        Augmentation::Affine(AffineParams {
            rotation_deg: -5.0,
            scale: 1.1,
            translate_x: 0.03,
            ..Default::default()
        }),
    ];
    let img = GrayImage::filled(w, h, 0.5);
    let out = augment::apply_pipeline(&img, Some(&mask), &ops, [1; 32]).unwrap();
    let back = augment::map_mask_back(out.mask.as_ref().unwrap(), &out.transform).unwrap();
    assert!(iou(&back, &mask) > 0.85, "IoU {}", iou(&back, &mask));
    assert_ne!(out.transform, AffineMatrix::IDENTITY);
}

#[test]
fn noise_has_the_requested_statistics() {
    let img = GrayImage::filled(256, 256, 0.5);
    for sigma in [0.01, 0.05, 0.1] {
        let out = NoiseParams { sigma }.apply(&img, [3; 32]).unwrap();
        let n = out.data.len() as f64;
        let mean = out.data.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = out
            .data
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(
            (mean - 0.5).abs() < 0.003 * sigma / 0.01,
            "{sigma}: mean {mean}"
        );
        assert!(
            (var.sqrt() - sigma).abs() < 0.02 * sigma,
            "{sigma}: std {}",
            var.sqrt()
        );
    }
    // clamped to [0, 1]
    let out = NoiseParams { sigma: 0.5 }
        .apply(&GrayImage::filled(64, 64, 0.95), [4; 32])
        .unwrap();
    assert!(out.data.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(out.data.contains(&1.0));
}

#[test]
fn odd_sizes_and_extreme_parameters_never_panic() {
    let extremes = vec![
        Augmentation::Affine(AffineParams {
            rotation_deg: 1e6,
            scale: 100.0,
            shear_deg: 80.0,
            translate_x: 10.0,
            translate_y: -10.0,
            fill: 1.0,
        }),
        Augmentation::Affine(AffineParams {
            scale: 0.01,
            ..Default::default()
        }),
        Augmentation::Clahe(ClaheParams::new(1e300, 1024)),
        Augmentation::Clahe(ClaheParams::new(-5.0, 1)),
        Augmentation::Clahe(ClaheParams {
            clip_limit: 0.5,
            tiles_x: 1,
            tiles_y: 1024,
            bit_depth: 8,
        }),
        Augmentation::Noise(NoiseParams { sigma: 1.0 }),
        Augmentation::BitDepth(BitDepthParams { bits: 1 }),
        Augmentation::BitDepth(BitDepthParams { bits: 16 }),
        Augmentation::WindowLevel(WindowLevelParams {
            center: 2.0,
            width: 0.001,
        }),
        Augmentation::Stripes(StripeParams {
            pattern: StripePattern::Rings {
                center_x: 0.0,
                center_y: 1.0,
            },
            period: 2.0,
            amplitude: -1.0,
            phase: 100.0,
        }),
        Augmentation::BlockNoise(BlockNoiseParams {
            quality: 1,
            dc_sigma: 1.0,
        }),
        Augmentation::Occlusion(OcclusionParams {
            rects: vec![
                OcclusionRect {
                    x: 1.0,
                    y: 1.0,
                    width: 1.0,
                    height: 1.0,
                };
                64
            ],
            value: 1.0,
        }),
    ];
    let sizes = [(1, 1), (1, 7), (7, 1), (2, 2), (7, 5), (13, 31), (9, 64)];
    for (w, h) in sizes {
        let img = GrayImage::from_fn(w, h, |x, y| ((x * 7 + y * 3) % 11) as f32 / 10.0);
        let mask = blob_mask(w, h, w as f32 / 2.0, h as f32 / 2.0, 2.0);
        for op in all_ops().iter().chain(&extremes) {
            let (out, m) = augment::apply(&img, Some(&mask), op, [8; 32])
                .unwrap_or_else(|e| panic!("{w}x{h} {op:?}: {e}"));
            assert_eq!((out.width, out.height), (w, h));
            assert_eq!(out.data.len(), img.data.len());
            assert!(
                out.data.iter().all(|v| (0.0..=1.0).contains(v)),
                "{w}x{h} {op:?}"
            );
            let m = m.unwrap();
            assert!(m.data.iter().all(|&v| v <= 1));
        }
    }
    // NaN and out-of-range pixels are defined, not fatal
    let weird = GrayImage {
        width: 3,
        height: 1,
        data: vec![f32::NAN, -3.0, 7.0],
    };
    for op in all_ops() {
        augment::apply(&weird, None, &op, [0; 32]).unwrap();
    }
    // zero-sized images are empty results, not crashes
    let empty = GrayImage::filled(0, 5, 0.0);
    for op in all_ops() {
        let (out, _) = augment::apply(&empty, None, &op, [0; 32]).unwrap();
        assert!(out.is_empty());
    }
}

#[test]
fn invalid_parameters_are_typed_errors() {
    let img = textured(8, 8);
    let bad = [
        r#"{"op":"clahe","clip_limit":2.0,"tiles_x":0,"tiles_y":8}"#,
        r#"{"op":"affine","rotation_deg":0.0,"scale":-1.0}"#,
        r#"{"op":"noise","sigma":-0.5}"#,
        r#"{"op":"bit_depth","bits":0}"#,
        r#"{"op":"window_level","center":0.5,"width":0.0}"#,
        r#"{"op":"stripes","pattern":{"kind":"horizontal"},"period":1.0,"amplitude":0.1}"#,
        r#"{"op":"block_noise","quality":0}"#,
        r#"{"op":"occlusion","rects":[{"x":-1.0,"y":0.0,"width":0.1,"height":0.1}]}"#,
    ];
    for json in bad {
        let op: Augmentation = serde_json::from_str(json).unwrap();
        let err = augment::apply(&img, None, &op, [0; 32]).unwrap_err();
        assert!(
            matches!(err, augment::AugmentError::InvalidParam { .. }),
            "{json}: {err}"
        );
    }
    // unknown fields and ops are refused at parse time
    assert!(serde_json::from_str::<Augmentation>(r#"{"op":"noise","sigma":0.1,"x":1}"#).is_err());
    assert!(serde_json::from_str::<Augmentation>(r#"{"op":"blur"}"#).is_err());
}
