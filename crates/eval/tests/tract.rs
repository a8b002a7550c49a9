//! Real round trips: models written by our writer, gated, run in tract.

use medmetric_eval::EvalError;
use medmetric_eval::tract::TractModel;
use medmetric_imaging::GrayImage;
use medmetric_model::gate::{GateLimits, check_bytes};
use medmetric_model::reference::{self, ReferenceKind};
use medmetric_model::writer::{Attr, GraphBuilder};

fn load(bytes: &[u8]) -> Result<TractModel, EvalError> {
    let report = check_bytes(bytes, &GateLimits::default()).expect("gate");
    TractModel::load(bytes, &report)
}

fn images(size: u32) -> Vec<GrayImage> {
    let s = size as f32;
    vec![
        GrayImage::filled(size, size, 0.0),
        GrayImage::filled(size, size, 1.0),
        GrayImage::from_fn(size, size, |x, y| (x + y) as f32 / (2.0 * s)),
        GrayImage::from_fn(size, size, |x, y| ((x * 31 + y * 17) % 97) as f32 / 96.0),
        disk(size).0,
    ]
}

/// A bright disk on a darker smooth background, and its mask.
fn disk(size: u32) -> (GrayImage, Vec<u8>) {
    let c = size as f32 / 2.0;
    let r = size as f32 / 16.0;
    let inside = |x: u32, y: u32| (x as f32 - c).powi(2) + (y as f32 - c * 0.8).powi(2) <= r * r;
    let img = GrayImage::from_fn(size, size, |x, y| {
        0.3 + 0.1 * x as f32 / size as f32 + if inside(x, y) { 0.4 } else { 0.0 }
    });
    let mask = (0..size)
        .flat_map(|y| (0..size).map(move |x| (x, y)))
        .map(|(x, y)| u8::from(inside(x, y)))
        .collect();
    (img, mask)
}

#[test]
fn reference_models_run_with_outputs_in_range() {
    for kind in ReferenceKind::ALL {
        for size in [128, 256] {
            let model = load(&reference::make(kind, size)).unwrap();
            for img in images(size) {
                let p = model
                    .run(&img)
                    .unwrap_or_else(|e| panic!("{kind} {size}: {e}"));
                let mask = p.mask.expect("mask");
                assert_eq!(mask.len(), (size * size) as usize);
                assert!(mask.iter().all(|v| (0.0..=1.0).contains(v)));
                assert!((0.0..=1.0).contains(&p.cls.expect("cls")));
            }
        }
    }
}

#[test]
fn null_model_predicts_nothing() {
    let model = load(&reference::make(ReferenceKind::Null, 128)).unwrap();
    for img in images(128) {
        let p = model.run(&img).unwrap();
        assert!(p.mask.unwrap().iter().all(|&v| v == 0.0));
        assert_eq!(p.cls, Some(0.0));
    }
}

#[test]
fn threshold_model_finds_a_bright_lesion() {
    let model = load(&reference::make(ReferenceKind::Threshold, 256)).unwrap();
    let (img, truth) = disk(256);
    let p = model.run(&img).unwrap();
    let m = medmetric_scoring_free_dice(&p.mask.unwrap(), &truth);
    assert!(m > 0.7, "dice {m}");
    assert!(p.cls.unwrap() > 0.5);
    let normal = model.run(&GrayImage::filled(256, 256, 0.4)).unwrap();
    assert!(normal.cls.unwrap() < 0.5);
    assert!(normal.mask.unwrap().iter().all(|&v| v < 0.5));
}

/// Dice computed here, independently of the scoring crate.
fn medmetric_scoring_free_dice(pred: &[f32], truth: &[u8]) -> f64 {
    let (mut inter, mut a, mut b) = (0.0, 0.0, 0.0);
    for (&p, &t) in pred.iter().zip(truth) {
        let p = f64::from(u8::from(p >= 0.5));
        let t = f64::from(t);
        inter += p * t;
        a += p;
        b += t;
    }
    2.0 * inter / (a + b)
}

#[test]
fn outputs_are_deterministic() {
    let model = load(&reference::make(ReferenceKind::TinyUnet, 128)).unwrap();
    let img = &images(128)[3];
    assert_eq!(model.run(img).unwrap(), model.run(img).unwrap());
}

fn single_output(build: impl FnOnce(&mut GraphBuilder)) -> Vec<u8> {
    let mut g = GraphBuilder::new("t");
    g.input("image", &[1, 1, 128, 128]);
    build(&mut g);
    g.output("mask", &[1, 1, 128, 128]);
    g.finish(17)
}

#[test]
fn nan_output_is_caught() {
    let bytes = single_output(|g| {
        g.scalar("zero", 0.0);
        g.node("Div", &["zero", "zero"], &["nan"], vec![]);
        g.node("Add", &["image", "nan"], &["mask"], vec![]);
    });
    let err = load(&bytes)
        .unwrap()
        .run(&GrayImage::filled(128, 128, 0.5))
        .unwrap_err();
    assert_eq!(err, EvalError::NotFinite("mask".into()));
    assert!(err.is_model_fault());
}

#[test]
fn out_of_range_output_is_caught() {
    let bytes = single_output(|g| {
        g.scalar("two", 2.0);
        g.node("Mul", &["image", "two"], &["mask"], vec![]);
    });
    let err = load(&bytes)
        .unwrap()
        .run(&GrayImage::filled(128, 128, 0.75))
        .unwrap_err();
    assert!(
        matches!(err, EvalError::OutOfRange { value, .. } if value == 1.5),
        "{err}"
    );
}

#[test]
fn output_smaller_than_declared_is_caught() {
    let bytes = single_output(|g| {
        g.node(
            "MaxPool",
            &["image"],
            &["mask"],
            vec![
                Attr::ints("kernel_shape", &[2, 2]),
                Attr::ints("strides", &[2, 2]),
            ],
        );
    });
    // tract may notice at load time or produce a short tensor: both are the
    // model's fault, neither is a crash.
    match load(&bytes) {
        Err(e) => assert!(matches!(e, EvalError::Load(_)), "{e}"),
        Ok(m) => {
            let e = m.run(&GrayImage::filled(128, 128, 0.5)).unwrap_err();
            assert!(e.is_model_fault(), "{e}");
        }
    }
}

#[test]
fn wrong_image_size_is_the_callers_fault() {
    let model = load(&reference::make(ReferenceKind::Null, 128)).unwrap();
    let err = model.run(&GrayImage::filled(64, 64, 0.5)).unwrap_err();
    assert!(!err.is_model_fault());
}
