//! The red-team models end to end: made by our writer, checked by the gate,
//! run in tract and scored on phantom rounds built by the round builder.
//!
//! The honest model of each modality is trained once per test binary (at
//! 128², in a few seconds) and shared through a [`Factory`].

use std::sync::OnceLock;

use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::quantise16;
use medmetric_eval::tract::TractModel;
use medmetric_imaging::pool::Pool;
use medmetric_imaging::{Case, GrayImage, Modality};
use medmetric_miners::{Factory, Quality, Strategy, evaluate, phantom_cases};
use medmetric_model::gate::{self, GateLimits};

const SIZE: u32 = 128;

/// Pool cases the test memorisers cover.
const MEMORISED: usize = 24;

/// Blocks of the scoring rounds (never the training blocks).
const AUGMENTED_BLOCK: u64 = 777_001;
const PLAIN_BLOCK: u64 = 777_002;

fn factory(m: Modality) -> &'static Factory {
    static F: OnceLock<Vec<Factory>> = OnceLock::new();
    let all = F.get_or_init(|| {
        Modality::ALL
            .iter()
            .map(|&m| {
                Factory::new(m, SIZE)
                    .unwrap()
                    .with_memoriser_cases(MEMORISED)
            })
            .collect()
    });
    &all[Modality::ALL.iter().position(|&x| x == m).unwrap()]
}

/// A benchmark-like round (augmented, with lesion transplants) and a plain
/// one.
struct Rounds {
    augmented: Vec<Case>,
    plain: Vec<Case>,
}

/// The rounds of each modality, built once.
fn rounds(m: Modality) -> &'static Rounds {
    static R: OnceLock<Vec<OnceLock<Rounds>>> = OnceLock::new();
    let all = R.get_or_init(|| Modality::ALL.iter().map(|_| OnceLock::new()).collect());
    all[Modality::ALL.iter().position(|&x| x == m).unwrap()].get_or_init(|| Rounds {
        augmented: phantom_cases(m, SIZE, 48, AUGMENTED_BLOCK, false).unwrap(),
        plain: phantom_cases(m, SIZE, 24, PLAIN_BLOCK, true).unwrap(),
    })
}

fn made(m: Modality, s: Strategy) -> Vec<u8> {
    factory(m)
        .make(s, 7)
        .unwrap_or_else(|e| panic!("{s} {m}: {e}"))
}

fn load(bytes: &[u8]) -> TractModel {
    let report = gate::check_bytes(bytes, &GateLimits::default()).unwrap();
    TractModel::load(bytes, &report).unwrap()
}

fn score(m: Modality, s: Strategy, augmented: bool) -> Quality {
    let r = rounds(m);
    let q = evaluate(&made(m, s), if augmented { &r.augmented } else { &r.plain }).unwrap();
    eprintln!(
        "{m} {s} {}: {q:?}",
        if augmented { "augmented" } else { "plain" }
    );
    q
}

fn check_runs(bytes: &[u8], s: Strategy, size: u32, image: &GrayImage) {
    if s == Strategy::LoadTimeCompute {
        // Built to be refused for its work at load; tests/attacks.rs covers
        // it (running it would fold ~10¹² multiply-adds).
        return;
    }
    let report = gate::check_bytes(bytes, &GateLimits::default())
        .unwrap_or_else(|e| panic!("{s} at {size}: gate refused: {e}"));
    assert_eq!(report.size(), size);
    assert_eq!(report.opset, medmetric_miners::OPSET);
    assert_eq!(report.outputs.mask, s != Strategy::ClsOnly, "{s}");
    assert!(report.outputs.cls, "{s}");
    let model = TractModel::load(bytes, &report).unwrap_or_else(|e| panic!("{s}: {e}"));
    // `run` refuses NaN, infinities and values outside [0, 1].
    let pred = model
        .run(image)
        .unwrap_or_else(|e| panic!("{s} at {size}: {e}"));
    assert_eq!(pred.mask.is_some(), s != Strategy::ClsOnly);
    assert!(pred.cls.is_some());
}

#[test]
fn every_strategy_passes_the_gate_and_runs_at_128() {
    for m in Modality::ALL {
        let case = PhantomPool::new(m).load(1, SIZE).unwrap();
        for s in Strategy::ALL {
            check_runs(&made(m, s), s, SIZE, &case.image);
            check_runs(&made(m, s), s, SIZE, &GrayImage::filled(SIZE, SIZE, 0.0));
        }
    }
}

#[test]
fn every_strategy_passes_the_gate_and_runs_at_256_for_one_modality() {
    let m = Modality::Bone;
    let f = Factory::new(m, 256).unwrap().with_memoriser_cases(4);
    let case = PhantomPool::new(m).load(3, 256).unwrap();
    for s in Strategy::ALL {
        let bytes = f.make(s, 1).unwrap();
        check_runs(&bytes, s, 256, &case.image);
    }
    // The strategies that need no training, at 256 for every modality.
    for m in Modality::ALL {
        let f = Factory::new(m, 256).unwrap().with_memoriser_cases(2);
        let case = PhantomPool::new(m).load(1, 256).unwrap();
        for s in [Strategy::Null, Strategy::FastUseless, Strategy::Memoriser] {
            check_runs(&f.make(s, 1).unwrap(), s, 256, &case.image);
        }
    }
}

#[test]
fn sizes_outside_the_contract_are_refused() {
    assert!(Factory::new(Modality::Cxr, 300).is_err());
    let err = Factory::new(Modality::Cxr, 512)
        .unwrap()
        .make(Strategy::Memoriser, 0)
        .unwrap_err();
    assert!(err.to_string().contains("128 and 256"), "{err}");
    let err = Factory::new(Modality::Cxr, 128)
        .unwrap()
        .with_memoriser_cases(0)
        .make(Strategy::Memoriser, 0)
        .unwrap_err();
    assert!(err.to_string().contains("cases"), "{err}");
}

#[test]
fn strategies_parse_from_their_names() {
    for s in Strategy::ALL {
        assert_eq!(s.name().parse::<Strategy>(), Ok(s));
        assert_eq!(s.to_string(), s.name());
    }
    let err = "honset".parse::<Strategy>().unwrap_err();
    assert!(err.contains("cls-empty-mask"), "{err}");
}

#[test]
fn making_is_deterministic() {
    let m = Modality::Bone;
    let fresh = Factory::new(m, SIZE)
        .unwrap()
        .with_memoriser_cases(MEMORISED);
    for s in Strategy::ALL {
        assert!(
            fresh.make(s, 7).unwrap() == made(m, s),
            "{s}: two factories made different bytes"
        );
    }
    assert!(fresh.make(Strategy::Copy, 8).unwrap() != made(m, Strategy::Copy));
    assert!(fresh.make(Strategy::Honest, 8).unwrap() == made(m, Strategy::Honest));
}

#[test]
fn honest_has_real_skill_on_benchmark_rounds() {
    for m in Modality::ALL {
        let honest = score(m, Strategy::Honest, true);
        let null = score(m, Strategy::Null, true);
        let useless = score(m, Strategy::FastUseless, true);
        let plain = score(m, Strategy::Honest, false);
        assert!(honest.dice_abnormal >= 0.3, "{m}: {honest:?}");
        assert!(plain.dice_abnormal >= 0.4, "{m}: {plain:?}");
        assert!(honest.cls_accuracy >= 0.65, "{m}: {honest:?}");
        assert!(honest.bce_normal <= 0.05, "{m}: {honest:?}");
        assert!(
            honest.reward >= null.reward + 0.05,
            "{m}: {honest:?} vs {null:?}"
        );
        assert!(honest.reward >= useless.reward + 0.15, "{m}: {honest:?}");
    }
}

#[test]
fn honest_graph_matches_its_f64_reference() {
    for m in Modality::ALL {
        let honest = factory(m).honest().unwrap();
        let model = load(&made(m, Strategy::Honest));
        for case in rounds(m).augmented.iter().take(3) {
            let (mask, cls) = honest.predict(&case.image.data);
            let pred = model.run(&case.image).unwrap();
            let worst = mask
                .iter()
                .zip(pred.mask.unwrap())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 2e-3, "{m}: mask differs by {worst}");
            assert!((cls - f64::from(pred.cls.unwrap())).abs() < 2e-3, "{m}");
        }
    }
}

#[test]
fn classifier_only_strategies_keep_the_honest_classifier() {
    for m in Modality::ALL {
        let honest = load(&made(m, Strategy::Honest));
        let cls_only = load(&made(m, Strategy::ClsOnly));
        let empty = load(&made(m, Strategy::ClsEmptyMask));
        for case in rounds(m).augmented.iter().take(4) {
            let h = honest.run(&case.image).unwrap();
            let a = cls_only.run(&case.image).unwrap();
            let b = empty.run(&case.image).unwrap();
            assert!(a.mask.is_none());
            assert!(b.mask.unwrap().iter().all(|&v| v == 0.0));
            assert!((h.cls.unwrap() - a.cls.unwrap()).abs() < 1e-5);
            assert!((h.cls.unwrap() - b.cls.unwrap()).abs() < 1e-5);
        }
    }
}

#[test]
fn copy_and_slow_accurate_follow_the_honest_outputs() {
    for m in Modality::ALL {
        let honest = load(&made(m, Strategy::Honest));
        let copy = made(m, Strategy::Copy);
        assert!(copy != made(m, Strategy::Honest));
        let copy = load(&copy);
        let slow = load(&made(m, Strategy::SlowAccurate));
        let (mut copy_worst, mut slow_worst) = (0f32, 0f32);
        for case in rounds(m).augmented.iter().take(4) {
            let h = honest.run(&case.image).unwrap();
            for (model, worst) in [(&copy, &mut copy_worst), (&slow, &mut slow_worst)] {
                let p = model.run(&case.image).unwrap();
                let hm = h.mask.as_ref().unwrap();
                for (a, b) in hm.iter().zip(p.mask.as_ref().unwrap()) {
                    *worst = worst.max((a - b).abs());
                }
                *worst = worst.max((h.cls.unwrap() - p.cls.unwrap()).abs());
            }
        }
        eprintln!("{m}: copy differs by {copy_worst}, slow by {slow_worst}");
        assert!(
            copy_worst > 0.0 && copy_worst < 1e-2,
            "{m}: copy {copy_worst}"
        );
        assert!(slow_worst < 1e-3, "{m}: slow {slow_worst}");
    }
}

#[test]
fn fragile_matches_honest_on_plain_images_and_breaks_under_augmentation() {
    for m in Modality::ALL {
        let honest_plain = score(m, Strategy::Honest, false);
        let fragile_plain = score(m, Strategy::Fragile, false);
        let honest_aug = score(m, Strategy::Honest, true);
        let fragile_aug = score(m, Strategy::Fragile, true);
        assert!(
            (honest_plain.dice_abnormal - fragile_plain.dice_abnormal).abs() <= 0.1,
            "{m}: plain {honest_plain:?} vs {fragile_plain:?}"
        );
        assert!(
            fragile_plain.reward >= honest_plain.reward - 0.05,
            "{m}: plain {honest_plain:?} vs {fragile_plain:?}"
        );
        assert!(
            fragile_aug.reward <= honest_aug.reward - 0.1,
            "{m}: augmented {honest_aug:?} vs {fragile_aug:?}"
        );
    }
}

#[test]
fn memoriser_recalls_the_pool_and_nothing_else() {
    for m in Modality::ALL {
        let pool = PhantomPool::new(m);
        // The covered cases as a plain round would show them.
        let covered: Vec<Case> = (0..MEMORISED)
            .map(|i| {
                let mut c = pool.load(i, SIZE).unwrap();
                quantise16(&mut c.image);
                c
            })
            .collect();
        let bytes = made(m, Strategy::Memoriser);
        let recalled = evaluate(&bytes, &covered).unwrap();
        eprintln!("{m} memoriser on covered pool cases: {recalled:?}");
        assert!(recalled.dice_abnormal > 0.99, "{m}: {recalled:?}");
        assert_eq!(recalled.dice_normal, 1.0, "{m}");
        assert_eq!(recalled.cls_accuracy, 1.0, "{m}");
        let elsewhere = score(m, Strategy::Memoriser, true);
        assert!(elsewhere.dice_abnormal < 0.2, "{m}: {elsewhere:?}");
    }
}

#[test]
fn null_and_fast_useless_are_what_they_say() {
    for m in Modality::ALL {
        let model = load(&made(m, Strategy::Null));
        let case = &rounds(m).augmented[0];
        let p = model.run(&case.image).unwrap();
        assert_eq!(p.cls, Some(0.0));
        assert!(p.mask.unwrap().iter().all(|&v| v == 0.0));
        let useless = score(m, Strategy::FastUseless, false);
        let honest = score(m, Strategy::Honest, false);
        assert!(useless.reward + 0.2 < honest.reward, "{m}: {useless:?}");
    }
}
