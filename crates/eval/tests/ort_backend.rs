//! The ONNX Runtime backend against tract, on real phantoms.
//!
//! Needs the library `medmetric setup onnxruntime` installs (or
//! `$MEDMETRIC_ORT_LIB`). Without it the tests that run models print a
//! notice and pass, unless `MEDMETRIC_REQUIRE_ORT` is set, as the test
//! command sets it, in which case they fail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use medmetric_eval::ort::{self, OrtModel};
use medmetric_eval::tract::TractModel;
use medmetric_eval::{EvalError, Prediction};
use medmetric_imaging::{GrayImage, Modality, phantom};
use medmetric_model::gate::{GateLimits, GateReport, check_bytes};
use medmetric_model::reference::{self, ReferenceKind};
use medmetric_model::writer::GraphBuilder;

/// Largest difference allowed between the backends' probabilities.
const TOLERANCE: f32 = 1e-4;

/// A scratch file under the system temp folder, unique to this process.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("medmetric-ort-test-{}-{name}", std::process::id()))
}

fn assert_one_line_load_error(err: &EvalError, path: &Path) {
    let EvalError::Load(msg) = err else {
        panic!("expected a load error, got {err:?}")
    };
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

/// Bogus libraries must be refused with a clear error, and must be tried
/// before the real one is loaded (a process keeps the first library it
/// loads), so they run here, once, before anything else.
fn refuse_bogus_libraries() {
    let missing = scratch("no-such-libonnxruntime.so");
    let err = ort::init_library(&missing).unwrap_err();
    assert_one_line_load_error(&err, &missing);

    let text = scratch("not-a-library.so");
    std::fs::write(&text, b"this is not a shared library\n").unwrap();
    let err = ort::init_library(&text).unwrap_err();
    std::fs::remove_file(&text).unwrap();
    assert_one_line_load_error(&err, &text);

    let dir = std::env::temp_dir();
    assert_one_line_load_error(&ort::init_library(&dir).unwrap_err(), &dir);

    // A real shared library that is not ONNX Runtime.
    let other = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.is_file());
    if let Some(other) = other {
        let err = ort::init_library(other).unwrap_err();
        let EvalError::Load(msg) = &err else {
            panic!("{err:?}")
        };
        assert!(msg.contains("OrtGetApiBase"), "{msg}");
    }
    assert_eq!(ort::loaded_library(), None);
}

/// Loads the real library once; `false` (after a notice) when none is
/// installed and the test command did not ask for it.
fn ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        refuse_bogus_libraries();
        let required = std::env::var_os("MEDMETRIC_REQUIRE_ORT").is_some_and(|v| !v.is_empty());
        match ort::default_library_path() {
            Some(lib) => {
                ort::init_library(&lib).unwrap_or_else(|e| panic!("{e}"));
                // Idempotent for the same file.
                ort::init_library(&lib).unwrap();
                true
            }
            None if required => panic!(
                "MEDMETRIC_REQUIRE_ORT is set but no ONNX Runtime library is installed: run `medmetric setup onnxruntime`"
            ),
            None => {
                // Straight to stderr: the harness would swallow `eprintln!`
                // of a passing test.
                let _ = writeln!(
                    std::io::stderr(),
                    "notice: ONNX Runtime is not installed (medmetric setup onnxruntime); skipping the ort backend tests"
                );
                false
            }
        }
    })
}

fn gate(bytes: &[u8]) -> GateReport {
    check_bytes(bytes, &GateLimits::default()).expect("gate")
}

/// Phantoms of every modality, normal and abnormal, plus flat and
/// saturated images.
fn images(size: u32) -> Vec<GrayImage> {
    let mut out = vec![
        GrayImage::filled(size, size, 0.0),
        GrayImage::filled(size, size, 1.0),
    ];
    for (i, modality) in [Modality::Cxr, Modality::Brain, Modality::Bone]
        .into_iter()
        .enumerate()
    {
        for abnormal in [false, true] {
            let seed = [i as u8 * 2 + u8::from(abnormal) + 1; 32];
            out.push(phantom::generate(modality, size, seed, abnormal).image);
        }
    }
    out
}

/// Checks the backends agree; returns the largest difference seen.
fn compare(what: &str, tract: &Prediction, ort: &Prediction) -> f32 {
    let mut largest = 0.0f32;
    match (&tract.mask, &ort.mask) {
        (Some(t), Some(o)) => {
            assert_eq!(t.len(), o.len(), "{what}");
            let worst = t
                .iter()
                .zip(o)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= TOLERANCE, "{what}: mask differs by {worst}");
            largest = worst;
            let flips = t
                .iter()
                .zip(o)
                .filter(|(a, b)| (**a >= 0.5) != (**b >= 0.5))
                .count();
            assert_eq!(flips, 0, "{what}: {flips} pixels change side of 0.5");
        }
        (None, None) => {}
        _ => panic!("{what}: one backend has a mask, the other not"),
    }
    match (tract.cls, ort.cls) {
        (Some(t), Some(o)) => {
            assert!((t - o).abs() <= TOLERANCE, "{what}: cls {t} vs {o}");
            largest = largest.max((t - o).abs());
        }
        (None, None) => {}
        _ => panic!("{what}: one backend has cls, the other not"),
    }
    largest
}

#[test]
fn reference_models_agree_with_tract_on_phantoms() {
    if !ready() {
        return;
    }
    for kind in ReferenceKind::ALL {
        for size in [128, 256] {
            let bytes = reference::make(kind, size);
            let report = gate(&bytes);
            let tract = TractModel::load(&bytes, &report).unwrap();
            let mut ort = OrtModel::load(&bytes, &report, 1).unwrap();
            assert_eq!(ort.size(), size);
            let (mut positives, mut largest) = (0, 0.0f32);
            for (i, img) in images(size).iter().enumerate() {
                let what = format!("{kind} at {size}, image {i}");
                let t = tract
                    .run(img)
                    .unwrap_or_else(|e| panic!("{what}: tract: {e}"));
                let o = ort.run(img).unwrap_or_else(|e| panic!("{what}: ort: {e}"));
                largest = largest.max(compare(&what, &t, &o));
                positives += o.mask.unwrap().iter().filter(|&&p| p >= 0.5).count();
            }
            eprintln!(
                "{kind} at {size}: largest difference {largest:e}, {positives} mask pixels >= 0.5"
            );
            // The threshold model must find something on the abnormal
            // phantoms, or "same mask" would only mean "both empty".
            if kind == ReferenceKind::Threshold {
                assert!(positives > 0, "threshold at {size} found nothing");
            }
        }
    }
}

#[test]
fn outputs_are_deterministic_and_independent_of_threads() {
    if !ready() {
        return;
    }
    let bytes = reference::make(ReferenceKind::TinyUnet, 128);
    let report = gate(&bytes);
    let mut one = OrtModel::load(&bytes, &report, 1).unwrap();
    let mut two = OrtModel::load(&bytes, &report, 2).unwrap();
    for img in images(128) {
        let a = one.run(&img).unwrap();
        assert_eq!(a, one.run(&img).unwrap());
        let _ = compare("threads 1 vs 2", &a, &two.run(&img).unwrap());
    }
}

#[test]
fn garbage_is_refused_at_load() {
    if !ready() {
        return;
    }
    let good = reference::make(ReferenceKind::Threshold, 128);
    let report = gate(&good);
    let mut ort_format = b"\x10\x00\x00\x00ORTM".to_vec();
    ort_format.resize(256, 0);
    for bad in [
        b"not an onnx model at all".to_vec(),
        good[..good.len() / 2].to_vec(),
        Vec::new(),
        ort_format,
    ] {
        let err = OrtModel::load(&bad, &report, 1).unwrap_err();
        assert!(matches!(err, EvalError::Load(_)), "{err:?}");
        assert!(err.is_model_fault());
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}

fn single_output(build: impl FnOnce(&mut GraphBuilder)) -> Vec<u8> {
    let mut g = GraphBuilder::new("t");
    g.input("image", &[1, 1, 128, 128]);
    build(&mut g);
    g.output("mask", &[1, 1, 128, 128]);
    g.finish(17)
}

#[test]
fn contract_violations_are_caught() {
    if !ready() {
        return;
    }
    let nan = single_output(|g| {
        g.scalar("zero", 0.0);
        g.node("Div", &["zero", "zero"], &["nan"], vec![]);
        g.node("Add", &["image", "nan"], &["mask"], vec![]);
    });
    let mut m = OrtModel::load(&nan, &gate(&nan), 1).unwrap();
    let err = m.run(&GrayImage::filled(128, 128, 0.5)).unwrap_err();
    assert_eq!(err, EvalError::NotFinite("mask".into()));

    let double = single_output(|g| {
        g.scalar("two", 2.0);
        g.node("Mul", &["image", "two"], &["mask"], vec![]);
    });
    let mut m = OrtModel::load(&double, &gate(&double), 1).unwrap();
    let err = m.run(&GrayImage::filled(128, 128, 0.75)).unwrap_err();
    assert!(
        matches!(err, EvalError::OutOfRange { value, .. } if value == 1.5),
        "{err}"
    );
    // Mask only, no cls: nothing is invented.
    let p = m.run(&GrayImage::filled(128, 128, 0.25)).unwrap();
    assert_eq!(p.cls, None);
    assert!(p.mask.unwrap().iter().all(|&v| v == 0.5));

    let err = m.run(&GrayImage::filled(64, 64, 0.5)).unwrap_err();
    assert!(!err.is_model_fault(), "{err}");
}

#[test]
fn a_second_library_is_refused_once_one_is_loaded() {
    if !ready() {
        return;
    }
    let loaded = ort::loaded_library().expect("loaded");
    let copy = scratch("libonnxruntime.so.copy");
    std::fs::copy(&loaded, &copy).unwrap();
    let err = ort::init_library(&copy).unwrap_err();
    std::fs::remove_file(&copy).unwrap();
    assert_one_line_load_error(&err, &copy);
    assert!(err.to_string().contains("already loaded"), "{err}");
    let version = ort::backend_version().expect("version");
    assert!(version.starts_with("onnxruntime "), "{version}");
}

#[test]
fn installed_library_is_found_in_its_folder() {
    let dir = scratch("install");
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(ort::library_in(&dir), None);
    std::fs::write(dir.join("libonnxruntime.so"), b"").unwrap();
    assert_eq!(ort::library_in(&dir), Some(dir.join("libonnxruntime.so")));
    std::fs::write(dir.join("libonnxruntime.so.1.31.1"), b"").unwrap();
    std::fs::write(dir.join("libonnxruntime_providers_shared.so"), b"").unwrap();
    assert_eq!(
        ort::library_in(&dir),
        Some(dir.join("libonnxruntime.so.1.31.1"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        ort::install_dir(Path::new("/c"), "1.31.1"),
        Path::new("/c/onnxruntime/1.31.1")
    );
}
