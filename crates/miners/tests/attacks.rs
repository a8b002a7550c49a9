//! The strategies of an attacker who read our code (`attacks.rs`): each one
//! passes the gate, runs in tract (except the full-size load-time model,
//! which is only decoded), and relates to the honest outputs the way its
//! documentation says.
//!
//! One honest model per modality at 128², trained once per test binary.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use medmetric_eval::Prediction;
use medmetric_eval::tract::TractModel;
use medmetric_imaging::{GrayImage, Modality, phantom};
use medmetric_miners::{Factory, Strategy, attacks};
use medmetric_model::gate::{self, GateLimits};
use medmetric_model::proto::{self, ModelProto, TensorProto, data_type};

const SIZE: u32 = 128;

/// The strategies `attacks.rs` adds.
const ATTACKS: [Strategy; 7] = [
    Strategy::Bait,
    Strategy::CastCopy,
    Strategy::TemperatureCopy,
    Strategy::SparseCopy,
    Strategy::RetunedCopy,
    Strategy::LoadTimeCompute,
    Strategy::SlowGraph,
];

fn factory(m: Modality) -> &'static Factory {
    static F: OnceLock<Vec<Factory>> = OnceLock::new();
    let all = F.get_or_init(|| {
        Modality::ALL
            .iter()
            .map(|&m| Factory::new(m, SIZE).unwrap())
            .collect()
    });
    &all[Modality::ALL.iter().position(|&x| x == m).unwrap()]
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

fn decode(bytes: &[u8]) -> ModelProto {
    proto::decode_model(bytes).unwrap()
}

/// A normal and an abnormal phantom of `m`.
fn images(m: Modality) -> Vec<GrayImage> {
    [(1u8, false), (2, true), (3, true)]
        .into_iter()
        .map(|(seed, abnormal)| phantom::generate(m, SIZE, [seed; 32], abnormal).image)
        .collect()
}

/// Honest and `other` on the same images.
fn pairs(m: Modality, other: &[u8]) -> Vec<(Prediction, Prediction)> {
    let honest = load(&made(m, Strategy::Honest));
    let other = load(other);
    images(m)
        .iter()
        .map(|im| (honest.run(im).unwrap(), other.run(im).unwrap()))
        .collect()
}

fn mask(p: &Prediction) -> &[f32] {
    p.mask.as_deref().unwrap()
}

fn cls(p: &Prediction) -> f32 {
    p.cls.unwrap()
}

/// Largest difference of mask and cls over all pairs.
fn worst(pairs: &[(Prediction, Prediction)]) -> f32 {
    pairs
        .iter()
        .map(|(h, o)| {
            mask(h)
                .iter()
                .zip(mask(o))
                .map(|(a, b)| (a - b).abs())
                .fold((cls(h) - cls(o)).abs(), f32::max)
        })
        .fold(0.0, f32::max)
}

/// Order slack: tract's sigmoid is a rational approximation whose deep
/// tail (σ ≈ 1e-5) wobbles by ~1e-7, far below any scoring threshold.
const ORDER_SLACK: f32 = 1e-6;

/// Checks that `(honest, other)` value pairs never swap order: sorted by
/// the honest value (ties by the other), the other never falls below the
/// largest value before it by more than [`ORDER_SLACK`]. Returns the
/// largest fall.
fn assert_order_kept(what: &str, mut values: Vec<(f32, f32)>) -> f32 {
    values.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (mut highest, mut fall) = (f32::NEG_INFINITY, 0f32);
    for &(h, o) in &values {
        assert!(
            o >= highest - ORDER_SLACK,
            "{what}: honest {h} gives {o}, a smaller honest value gave {highest}"
        );
        fall = fall.max(highest - o);
        highest = highest.max(o);
    }
    fall
}

/// Gates `bytes`; the full-size load-time model may instead be refused for
/// its work at load, the gate rule it was built to test.
fn gate_attack(s: Strategy, m: Modality, bytes: &[u8]) -> Option<gate::GateReport> {
    match gate::check_bytes(bytes, &GateLimits::default()) {
        Ok(report) => Some(report),
        Err(e) if s == Strategy::LoadTimeCompute && e.to_string().contains("at load") => {
            eprintln!("{m}: {s} refused: {e}");
            None
        }
        Err(e) => panic!("{s} {m}: gate refused: {e}"),
    }
}

fn float_initializers(m: &ModelProto) -> impl Iterator<Item = &TensorProto> {
    m.graph
        .iter()
        .flat_map(|g| &g.initializer)
        .filter(|t| t.data_type == data_type::FLOAT)
}

#[test]
fn every_attack_passes_the_gate_is_deterministic_and_runs() {
    for m in Modality::ALL {
        let image = &images(m)[1];
        for s in ATTACKS {
            let bytes = made(m, s);
            assert!(bytes == made(m, s), "{s} {m}: not deterministic");
            assert!(factory(m).make(s, 8).unwrap() == bytes, "{s}: seed matters");
            let graph = decode(&bytes).graph.unwrap();
            assert_eq!(graph.name, format!("medmetric-{}", s.name()));
            let Some(report) = gate_attack(s, m, &bytes) else {
                continue;
            };
            assert_eq!(report.size(), SIZE);
            assert_eq!(report.opset, medmetric_miners::OPSET);
            assert!(report.outputs.mask && report.outputs.cls, "{s}");
            if s == Strategy::LoadTimeCompute {
                // Folding the full-size chain takes ~2.5e12 flops: only
                // look at it.
                continue;
            }
            let p = TractModel::load(&bytes, &report)
                .unwrap_or_else(|e| panic!("{s} {m}: {e}"))
                .run(image)
                .unwrap_or_else(|e| panic!("{s} {m}: {e}"));
            assert!(p.mask.is_some() && p.cls.is_some(), "{s}");
        }
    }
}

#[test]
fn full_size_load_time_model_is_well_formed() {
    let m = Modality::Cxr;
    let bytes = made(m, Strategy::LoadTimeCompute);
    let honest = made(m, Strategy::Honest);
    assert!(bytes.len() < honest.len() + 4096, "{}", bytes.len());
    let graph = decode(&bytes).graph.unwrap();
    let matmuls = graph.node.iter().filter(|n| n.op_type == "MatMul").count();
    assert_eq!(matmuls, attacks::LOAD_TIME_MATMULS);
    let expand = graph.node.iter().find(|n| n.op_type == "Expand").unwrap();
    let shape = graph
        .initializer
        .iter()
        .find(|t| t.name == expand.input[1])
        .unwrap();
    assert_eq!(shape.data_type, data_type::INT64);
    let side = attacks::LOAD_TIME_SIDE;
    let expected: Vec<u8> = [side, side].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(shape.raw_data, expected);
    // No stored tensor is anywhere near the size of what it computes.
    let largest_new = graph
        .initializer
        .iter()
        .filter(|t| t.name.starts_with("load_"))
        .map(|t| t.raw_data.len())
        .max();
    assert_eq!(largest_new, Some(16));
    if let Some(report) = gate_attack(Strategy::LoadTimeCompute, m, &bytes) {
        assert!(report.outputs.mask && report.outputs.cls);
    }
}

#[test]
fn small_load_time_model_matches_honest() {
    for m in Modality::ALL {
        let h = factory(m).honest().unwrap();
        let bytes = attacks::load_time_with(h, attacks::LOAD_TIME_MATMULS, 64).unwrap();
        assert!(bytes == attacks::load_time_with(h, attacks::LOAD_TIME_MATMULS, 64).unwrap());
        let w = worst(&pairs(m, &bytes));
        eprintln!("{m}: load-time (n = 64) differs from honest by {w}");
        assert!(w <= 1e-6, "{m}: {w}");
    }
}

#[test]
fn cast_copy_stores_no_large_float_and_matches_honest() {
    for m in Modality::ALL {
        let bytes = made(m, Strategy::CastCopy);
        let copy = decode(&bytes);
        let honest = decode(&made(m, Strategy::Honest));
        let large = |t: &&TensorProto| t.raw_data.len() / 4 >= attacks::MIN_ELEMENTS;
        assert_eq!(float_initializers(&copy).filter(large).count(), 0, "{m}");
        let ints = copy
            .graph
            .iter()
            .flat_map(|g| &g.initializer)
            .filter(|t| t.data_type == data_type::INT32)
            .count();
        assert_eq!(ints, float_initializers(&honest).filter(large).count());
        assert!(ints > 0);
        let w = worst(&pairs(m, &bytes));
        eprintln!("{m}: cast-copy differs from honest by {w}");
        assert!(w < 1e-4, "{m}: {w}");
    }
}

#[test]
fn calibration_copies_keep_every_order_and_change_the_numbers() {
    for m in Modality::ALL {
        for s in [Strategy::TemperatureCopy, Strategy::RetunedCopy] {
            let pairs = pairs(m, &made(m, s));
            let mut fall = 0f32;
            for (i, (h, o)) in pairs.iter().enumerate() {
                let values = mask(h).iter().copied().zip(mask(o).iter().copied());
                let what = format!("{s} {m} image {i} mask");
                fall = fall.max(assert_order_kept(&what, values.collect()));
            }
            let classes = pairs.iter().map(|(h, o)| (cls(h), cls(o))).collect();
            fall = fall.max(assert_order_kept(&format!("{s} {m} cls"), classes));
            let w = worst(&pairs);
            eprintln!("{m}: {s} differs from honest by {w}; order broken by at most {fall}");
            assert!(w > 0.01, "{s} {m}: {w}");
        }
    }
}

#[test]
fn sparse_copy_only_touches_its_pattern() {
    let on_pattern = |i: usize| {
        let (y, x) = ((i as u32) / SIZE, (i as u32) % SIZE);
        y % attacks::SPARSE_BLOCK == attacks::SPARSE_OFFSET
            && x % attacks::SPARSE_BLOCK == attacks::SPARSE_OFFSET
    };
    let pattern = (0..(SIZE * SIZE) as usize)
        .filter(|&i| on_pattern(i))
        .count();
    assert_eq!(pattern, (SIZE * SIZE / 256) as usize);
    for m in Modality::ALL {
        let pairs = pairs(m, &made(m, Strategy::SparseCopy));
        let mut moved = 0;
        for (h, o) in &pairs {
            assert_eq!(cls(h), cls(o), "{m}");
            for (i, (a, b)) in mask(h).iter().zip(mask(o)).enumerate() {
                if on_pattern(i) {
                    assert_eq!(*b, a.max(attacks::SPARSE_VALUE), "{m} pixel {i}");
                    moved += usize::from(a != b);
                } else {
                    assert_eq!(a, b, "{m} pixel {i}");
                }
            }
        }
        let w = worst(&pairs);
        eprintln!("{m}: sparse-copy differs from honest by {w} on {moved} pixels");
        assert!(moved > 0, "{m}");
    }
}

#[test]
fn bait_is_null_with_an_unused_honest_initializer() {
    for m in Modality::ALL {
        let bait = decode(&made(m, Strategy::Bait));
        let honest = decode(&made(m, Strategy::Honest));
        let null = decode(&made(m, Strategy::Null));
        let graph = bait.graph.as_ref().unwrap();
        let null_graph = null.graph.as_ref().unwrap();
        assert_eq!(graph.node, null_graph.node);
        let extra: Vec<&TensorProto> = graph
            .initializer
            .iter()
            .filter(|t| !null_graph.initializer.contains(t))
            .collect();
        let [extra] = extra.as_slice() else {
            panic!("{m}: {} extra initializers", extra.len())
        };
        assert!(
            graph.node.iter().all(|n| !n.input.contains(&extra.name)),
            "{m}: '{}' is read",
            extra.name
        );
        let source = honest
            .graph
            .as_ref()
            .unwrap()
            .initializer
            .iter()
            .find(|t| t.name == extra.name)
            .unwrap();
        assert_eq!(*extra, source, "{m}");
        // The smallest honest float tensor of 64 elements or more.
        let n = source.raw_data.len() / 4;
        assert!(n >= attacks::MIN_ELEMENTS);
        assert!(
            float_initializers(&honest)
                .map(|t| t.raw_data.len() / 4)
                .all(|k| k < attacks::MIN_ELEMENTS || k >= n)
        );
        assert_eq!(
            **extra,
            attacks::bait_initializer(factory(m).honest().unwrap()).unwrap()
        );
        // It still is the null model.
        for image in images(m) {
            let p = load(&made(m, Strategy::Bait)).run(&image).unwrap();
            assert_eq!(p.cls, Some(0.0));
            assert!(mask(&p).iter().all(|&v| v == 0.0));
        }
    }
}

fn latency(model: &TractModel, image: &GrayImage) -> Duration {
    model.run(image).unwrap();
    let t = Instant::now();
    for _ in 0..2 {
        model.run(image).unwrap();
    }
    t.elapsed() / 2
}

#[test]
fn slow_graph_matches_honest_at_a_higher_cost() {
    let m = Modality::Bone;
    let bytes = made(m, Strategy::SlowGraph);
    let graph = decode(&bytes).graph.unwrap();
    let convs = |g: &proto::GraphProto| g.node.iter().filter(|n| n.op_type == "Conv").count();
    let honest_convs = convs(&decode(&made(m, Strategy::Honest)).graph.unwrap());
    assert_eq!(convs(&graph), honest_convs + attacks::SLOW_GRAPH_LAYERS);
    let w = worst(&pairs(m, &bytes));
    eprintln!("{m}: slow-graph differs from honest by {w}");
    assert_eq!(w, 0.0, "{m}");
    let image = &images(m)[2];
    let honest = latency(&load(&made(m, Strategy::Honest)), image);
    let slow_accurate = latency(&load(&made(m, Strategy::SlowAccurate)), image);
    let slow = latency(&load(&bytes), image);
    eprintln!(
        "{m}: latency honest {honest:?}, slow-accurate {slow_accurate:?}, slow-graph {slow:?}"
    );
    // Generous margin: timing on a shared machine is noisy; the chain
    // alone is many times the honest model's work.
    assert!(slow > honest * 2, "{honest:?} vs {slow:?}");
}
