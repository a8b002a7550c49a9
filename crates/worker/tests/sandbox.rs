//! The hostile-model suite: models written with MedMetric's own ONNX writer
//! that try to hang, exhaust memory or CPU, crash the runtime or return
//! garbage. Each must end as a per-model failure with the right reason,
//! inside its limits, while the validator (this test process) carries on
//! and an honest model evaluated in between gets exactly the outputs it
//! gets alone. Runs on tract, and on ONNX Runtime when it is installed
//! (`MEDMETRIC_REQUIRE_ORT=1` makes its absence an error).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use medmetric_eval::sandbox::{Backend, FailureKind, Limits, SandboxConfig, Session};
use medmetric_imaging::{GrayImage, Modality, phantom};
use medmetric_model::gate::{self, CLS_OUTPUT, GateLimits, MASK_OUTPUT};
use medmetric_model::proto::{TensorProto, data_type};
use medmetric_model::reference::INPUT_NAME;
use medmetric_model::reference::{self, ReferenceKind};
use medmetric_model::writer::{Attr, GraphBuilder, i64_tensor};

const S: i64 = 128;
const OPSET: i64 = 17;

fn worker() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_medmetric-worker"))
}

fn limits() -> Limits {
    Limits {
        address_space: 1 << 30,
        cpu_seconds: 60,
        open_files: 64,
        load_timeout_ms: 20_000,
        image_timeout_ms: 3_000,
        total_ms: 120_000,
    }
}

fn backends() -> Vec<(Backend, Option<PathBuf>)> {
    let mut out = vec![(Backend::Tract, None)];
    match medmetric_eval::ort::default_library_path() {
        Some(lib) => out.push((Backend::Ort, Some(lib))),
        None if std::env::var_os("MEDMETRIC_REQUIRE_ORT").is_some() => {
            panic!("MEDMETRIC_REQUIRE_ORT is set but ONNX Runtime is not installed")
        }
        None => eprintln!("ONNX Runtime not installed: hostile suite runs on tract only"),
    }
    out
}

fn config(backend: Backend, lib: Option<PathBuf>) -> SandboxConfig {
    let mut cfg = SandboxConfig::new(worker(), backend, lib);
    cfg.limits = limits();
    cfg
}

fn images() -> Vec<GrayImage> {
    (0..3u8)
        .map(|i| phantom::generate(Modality::Cxr, S as u32, [i; 32], i % 2 == 0).image)
        .collect()
}

/// Starts with the mask and cls outputs declared and the input "image".
fn graph(name: &str) -> GraphBuilder {
    let mut g = GraphBuilder::new(name);
    g.input(INPUT_NAME, &[1, 1, S, S]);
    g.output(MASK_OUTPUT, &[1, 1, S, S]);
    g.output(CLS_OUTPUT, &[1, 1]);
    g
}

/// cls = mean(image) in [0, 1].
fn mean_cls(g: &mut GraphBuilder, from: &str) {
    g.node(
        "ReduceMean",
        &[from],
        &["cls_mean"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 0)],
    );
    g.node("Clip", &["cls_mean", "c_lo", "c_hi"], &[CLS_OUTPUT], vec![]);
    g.scalar("c_lo", 0.0);
    g.scalar("c_hi", 1.0);
}

fn fix_order(g: GraphBuilder) -> Vec<u8> {
    g.finish(OPSET)
}

fn mask_is_image(g: &mut GraphBuilder) {
    g.node("Identity", &[INPUT_NAME], &[MASK_OUTPUT], vec![]);
}

fn scalar_i64(name: &str, v: i64) -> TensorProto {
    i64_tensor(name, &[], &[v])
}

fn bool_true(name: &str) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![],
        data_type: data_type::BOOL,
        raw_data: vec![1],
        ..Default::default()
    }
}

struct Hostile {
    name: &'static str,
    bytes: Vec<u8>,
    /// Reasons that count as contained for this model.
    expect: &'static [FailureKind],
    /// Per-test limit overrides.
    tweak: fn(&mut Limits),
}

fn keep(_: &mut Limits) {}

fn hostile_models() -> Vec<Hostile> {
    use FailureKind::*;
    let mut out = Vec::new();
    let mut add = |name, bytes, expect, tweak| {
        out.push(Hostile {
            name,
            bytes,
            expect,
            tweak,
        })
    };

    // 1. NaN in the mask.
    let mut g = graph("nan_mask");
    g.scalar("nan", f32::NAN);
    g.node("Mul", &[INPUT_NAME, "nan"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add("nan mask", fix_order(g), &[NotFinite], keep);

    // 2. +Inf in cls (division by zero).
    let mut g = graph("inf_cls");
    mask_is_image(&mut g);
    g.node(
        "ReduceMax",
        &[INPUT_NAME],
        &["mx"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 0)],
    );
    g.scalar("zero", 0.0);
    g.scalar("one", 1.0);
    g.node("Add", &["mx", "one"], &["pos"], vec![]);
    g.node("Div", &["pos", "zero"], &[CLS_OUTPUT], vec![]);
    add("inf cls", fix_order(g), &[NotFinite], keep);

    // 3. Mask probabilities above 1.
    let mut g = graph("mask_above_one");
    g.scalar("two", 2.0);
    g.node("Add", &[INPUT_NAME, "two"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add("mask above 1", fix_order(g), &[OutOfRange], keep);

    // 4. Negative cls.
    let mut g = graph("negative_cls");
    mask_is_image(&mut g);
    g.node(
        "ReduceMean",
        &[INPUT_NAME],
        &["m"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 0)],
    );
    g.scalar("minus", -1.0);
    g.node("Add", &["m", "minus"], &["neg"], vec![]);
    g.node("Clip", &["neg", "lo", "hi"], &[CLS_OUTPUT], vec![]);
    g.scalar("lo", -1.0);
    g.scalar("hi", -0.5);
    add("negative cls", fix_order(g), &[OutOfRange], keep);

    // 5. Mask of the wrong shape (half resolution) under a full-size
    //    declaration.
    let mut g = graph("small_mask");
    g.node(
        "MaxPool",
        &[INPUT_NAME],
        &[MASK_OUTPUT],
        vec![
            Attr::ints("kernel_shape", &[2, 2]),
            Attr::ints("strides", &[2, 2]),
        ],
    );
    mean_cls(&mut g, INPUT_NAME);
    add("half-size mask", fix_order(g), &[Shape, Load, Run], keep);

    // 6. cls of the wrong shape ([1,1,S] instead of [1,1]).
    let mut g = graph("long_cls");
    mask_is_image(&mut g);
    g.node(
        "ReduceMean",
        &[INPUT_NAME],
        &["row"],
        vec![Attr::ints("axes", &[3]), Attr::int("keepdims", 0)],
    );
    g.node("Clip", &["row", "lo", "hi"], &[CLS_OUTPUT], vec![]);
    g.scalar("lo", 0.0);
    g.scalar("hi", 1.0);
    add("cls of S values", fix_order(g), &[Shape, Load, Run], keep);

    // 7. A Loop with a trillion iterations.
    let mut body = GraphBuilder::new("spin");
    body.input_typed("i", data_type::INT64, &[]);
    body.input_typed("cond_in", data_type::BOOL, &[]);
    body.input("acc_in", &[1, 1, S, S]);
    body.output_typed("cond_out", data_type::BOOL, &[]);
    body.output("acc_out", &[1, 1, S, S]);
    body.node("Identity", &["cond_in"], &["cond_out"], vec![]);
    body.scalar("decay", 0.5);
    body.node("Mul", &["acc_in", "decay"], &["acc_out"], vec![]);
    let mut g = graph("huge_loop");
    g.initializer(scalar_i64("trips", 1_000_000_000_000));
    g.initializer(bool_true("go"));
    g.node(
        "Loop",
        &["trips", "go", INPUT_NAME],
        &[MASK_OUTPUT],
        vec![Attr::Graph("body".into(), body.into_graph())],
    );
    mean_cls(&mut g, INPUT_NAME);
    add(
        "loop 1e12 trips",
        fix_order(g),
        &[Timeout, CpuLimit, Load],
        keep,
    );

    // 8. Allocation bomb at load: a constant of 2^40 floats.
    let mut g = graph("constant_bomb");
    g.ints("bomb_shape", &[1 << 20, 1 << 20]);
    g.node("ConstantOfShape", &["bomb_shape"], &["bomb"], vec![]);
    g.node(
        "ReduceMean",
        &["bomb"],
        &["bomb_mean"],
        vec![Attr::int("keepdims", 0)],
    );
    g.node("Mul", &[INPUT_NAME, "bomb_mean"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add(
        "ConstantOfShape 2^40",
        fix_order(g),
        &[OutOfMemory, Load],
        keep,
    );

    // 9. Allocation bomb at run time: Expand the image 65536-fold.
    let mut g = graph("expand_bomb");
    g.ints("big", &[65536, 1, S, S]);
    g.node("Expand", &[INPUT_NAME, "big"], &["huge"], vec![]);
    g.node(
        "ReduceMean",
        &["huge"],
        &[MASK_OUTPUT],
        vec![Attr::ints("axes", &[0]), Attr::int("keepdims", 1)],
    );
    mean_cls(&mut g, INPUT_NAME);
    add("Expand to 4 GiB", fix_order(g), &[OutOfMemory, Load], keep);

    // 10. Resize to an absurd scale.
    let mut g = graph("resize_bomb");
    g.weights("roi", &[0], &[]);
    g.weights("scales", &[4], &[1.0, 1.0, 1000.0, 1000.0]);
    g.node("Resize", &[INPUT_NAME, "roi", "scales"], &["giant"], vec![]);
    g.node(
        "ReduceMean",
        &["giant"],
        &["gm"],
        vec![Attr::int("keepdims", 1)],
    );
    g.node("Mul", &[INPUT_NAME, "gm"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add("Resize x1000", fix_order(g), &[OutOfMemory, Load], keep);

    // 11. Range with 10^12 elements.
    let mut g = graph("range_bomb");
    g.scalar("r0", 0.0);
    g.scalar("r1", 1e12);
    g.scalar("r_step", 1.0);
    g.node("Range", &["r0", "r1", "r_step"], &["ramp"], vec![]);
    g.node(
        "ReduceMax",
        &["ramp"],
        &["rmax"],
        vec![Attr::int("keepdims", 0)],
    );
    g.node("Mul", &[INPUT_NAME, "rmax"], &["scaled"], vec![]);
    g.node("Sigmoid", &["scaled"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add("Range 1e12", fix_order(g), &[OutOfMemory, Load], keep);

    // 12. A very slow model: a deep stack of wide convolutions.
    let mut g = graph("slow");
    let width = 64i64;
    let k = vec![0.001f32; (width * width * 9) as usize];
    g.weights("w_in", &[width, 1, 3, 3], &vec![0.01; (width * 9) as usize]);
    g.weights("w_mid", &[width, width, 3, 3], &k);
    g.weights(
        "w_out",
        &[1, width, 3, 3],
        &vec![0.001; (width * 9) as usize],
    );
    let pads = || {
        vec![
            Attr::ints("pads", &[1, 1, 1, 1]),
            Attr::ints("kernel_shape", &[3, 3]),
        ]
    };
    g.node("Conv", &[INPUT_NAME, "w_in"], &["h0"], pads());
    let layers = 400;
    for i in 0..layers {
        let (a, b) = (format!("h{i}"), format!("h{}", i + 1));
        g.node("Conv", &[&a, "w_mid"], &[&b], pads());
    }
    let last = format!("h{layers}");
    g.node("Conv", &[&last, "w_out"], &["o"], pads());
    g.node("Sigmoid", &["o"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    let slow = fix_order(g);
    add("slow (timeout)", slow.clone(), &[Timeout], |l| {
        l.image_timeout_ms = 1_500
    });

    // 13. The same slow model against the CPU-time limit.
    add("slow (CPU limit)", slow, &[CpuLimit], |l| {
        l.cpu_seconds = 2;
        l.image_timeout_ms = 60_000;
    });

    // 14. Gather with an index far out of range.
    let mut g = graph("gather_oob");
    g.ints("far", &[1 << 40]);
    g.node(
        "Flatten",
        &[INPUT_NAME],
        &["flat"],
        vec![Attr::int("axis", 0)],
    );
    g.node(
        "Gather",
        &["flat", "far"],
        &["picked"],
        vec![Attr::int("axis", 1)],
    );
    g.node(
        "ReduceMean",
        &["picked"],
        &["pm"],
        vec![Attr::int("keepdims", 1)],
    );
    g.node("Mul", &[INPUT_NAME, "pm"], &["z"], vec![]);
    g.node("Sigmoid", &["z"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add(
        "Gather out of range",
        fix_order(g),
        &[Load, Run, Crash],
        keep,
    );

    // 15. TopK asking for far more elements than exist.
    let mut g = graph("topk_oob");
    g.node(
        "Flatten",
        &[INPUT_NAME],
        &["flat"],
        vec![Attr::int("axis", 0)],
    );
    g.ints("k", &[1 << 40]);
    g.node(
        "TopK",
        &["flat", "k"],
        &["top", "top_idx"],
        vec![Attr::int("axis", 1)],
    );
    g.node(
        "ReduceMean",
        &["top"],
        &["tm"],
        vec![Attr::int("keepdims", 1)],
    );
    g.node("Mul", &[INPUT_NAME, "tm"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add(
        "TopK k = 2^40",
        fix_order(g),
        &[Load, Run, Crash, OutOfMemory, NotFinite],
        keep,
    );

    // 16. Reshape to an impossible shape.
    let mut g = graph("bad_reshape");
    g.ints("shape7", &[7, 7]);
    g.node("Reshape", &[INPUT_NAME, "shape7"], &["r"], vec![]);
    g.node(
        "ReduceMean",
        &["r"],
        &["rm"],
        vec![Attr::int("keepdims", 1)],
    );
    g.node("Mul", &[INPUT_NAME, "rm"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add(
        "impossible Reshape",
        fix_order(g),
        &[Load, Run, Crash],
        keep,
    );

    // 17. Concat of incompatible shapes.
    let mut g = graph("bad_concat");
    g.weights("odd", &[1, 1, 3, 5], &[0.0; 15]);
    g.node(
        "Concat",
        &[INPUT_NAME, "odd"],
        &["cat"],
        vec![Attr::int("axis", 1)],
    );
    g.node(
        "ReduceMean",
        &["cat"],
        &["cm"],
        vec![Attr::int("keepdims", 1)],
    );
    g.node("Mul", &[INPUT_NAME, "cm"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add(
        "incompatible Concat",
        fix_order(g),
        &[Load, Run, Crash],
        keep,
    );

    // 18. A Loop whose state grows every iteration (memory, then time).
    let mut body = GraphBuilder::new("grow");
    body.input_typed("i", data_type::INT64, &[]);
    body.input_typed("cond_in", data_type::BOOL, &[]);
    body.input("acc_in", &[-1]);
    body.output_typed("cond_out", data_type::BOOL, &[]);
    body.output("acc_out", &[-1]);
    body.node("Identity", &["cond_in"], &["cond_out"], vec![]);
    body.node(
        "Concat",
        &["acc_in", "acc_in"],
        &["acc_out"],
        vec![Attr::int("axis", 0)],
    );
    let mut g = graph("growing_loop");
    g.initializer(scalar_i64("trips", 64));
    g.initializer(bool_true("go"));
    g.weights("seed_vec", &[1024], &[0.5; 1024]);
    g.node(
        "Loop",
        &["trips", "go", "seed_vec"],
        &["grown"],
        vec![Attr::Graph("body".into(), body.into_graph())],
    );
    g.node(
        "ReduceMean",
        &["grown"],
        &["gm"],
        vec![Attr::int("keepdims", 0)],
    );
    g.node("Mul", &[INPUT_NAME, "gm"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add(
        "Loop doubling its state",
        fix_order(g),
        &[OutOfMemory, Timeout, CpuLimit, Load, Run, Crash],
        keep,
    );

    // 19. If whose branches disagree on shape with the declaration.
    let mut then_b = GraphBuilder::new("then");
    then_b.output("t_out", &[1, 1, 2, 2]);
    then_b.weights("t_val", &[1, 1, 2, 2], &[0.5; 4]);
    then_b.node("Identity", &["t_val"], &["t_out"], vec![]);
    let mut else_b = GraphBuilder::new("else");
    else_b.output("e_out", &[1, 1, 3, 3]);
    else_b.weights("e_val", &[1, 1, 3, 3], &[0.5; 9]);
    else_b.node("Identity", &["e_val"], &["e_out"], vec![]);
    let mut g = graph("if_shapes");
    g.initializer(bool_true("which"));
    g.node(
        "If",
        &["which"],
        &[MASK_OUTPUT],
        vec![
            Attr::Graph("then_branch".into(), then_b.into_graph()),
            Attr::Graph("else_branch".into(), else_b.into_graph()),
        ],
    );
    mean_cls(&mut g, INPUT_NAME);
    add(
        "If with wrong shapes",
        fix_order(g),
        &[Shape, Load, Run, Crash],
        keep,
    );

    // 20. cls a hair above 1.
    let mut g = graph("cls_just_above");
    mask_is_image(&mut g);
    g.node(
        "ReduceMean",
        &[INPUT_NAME],
        &["m"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 0)],
    );
    g.scalar("zero", 0.0);
    g.scalar("over", 1.0001);
    g.node("Mul", &["m", "zero"], &["z"], vec![]);
    g.node("Add", &["z", "over"], &[CLS_OUTPUT], vec![]);
    add("cls = 1.0001", fix_order(g), &[OutOfRange], keep);

    // 21. -Inf in the mask via log(0).
    let mut g = graph("log_zero");
    g.scalar("zero", 0.0);
    g.node("Mul", &[INPUT_NAME, "zero"], &["z"], vec![]);
    g.node("Log", &["z"], &[MASK_OUTPUT], vec![]);
    mean_cls(&mut g, INPUT_NAME);
    add("log(0) mask", fix_order(g), &[NotFinite], keep);

    // 22. A model that would fit a generous limit (256 MiB of activations)
    //    run under a tight 192 MiB address space.
    let mut g = graph("expand_256mib");
    g.ints("big", &[4096, 1, S, S]);
    g.node("Expand", &[INPUT_NAME, "big"], &["huge"], vec![]);
    g.node(
        "ReduceMean",
        &["huge"],
        &[MASK_OUTPUT],
        vec![Attr::ints("axes", &[0]), Attr::int("keepdims", 1)],
    );
    mean_cls(&mut g, INPUT_NAME);
    add(
        "256 MiB under a 192 MiB limit",
        fix_order(g),
        &[OutOfMemory],
        |l| l.address_space = 192 << 20,
    );
    out
}

fn run_honest(cfg: &SandboxConfig, imgs: &[GrayImage]) -> Vec<(Option<Vec<f32>>, Option<f32>)> {
    let bytes = reference::make(ReferenceKind::Threshold, S as u32);
    let report = gate::check_bytes(&bytes, &GateLimits::default()).unwrap();
    let mut s = Session::start(cfg, &bytes, &report).unwrap();
    let out = imgs
        .iter()
        .map(|im| {
            let o = s.run(im).unwrap();
            (o.prediction.mask, o.prediction.cls)
        })
        .collect();
    s.finish();
    out
}

#[test]
fn hostile_models_are_contained() {
    let imgs = images();
    let models = hostile_models();
    assert!(models.len() >= 20);
    for (backend, lib) in backends() {
        let base = config(backend, lib.clone());
        let honest_alone = run_honest(&base, &imgs);
        let mut report_lines = Vec::new();
        let mut refused_at_load = Vec::new();
        for h in &models {
            let report = match gate::check_bytes(&h.bytes, &GateLimits::default()) {
                Ok(r) => r,
                // Constant work a runtime would do at load is refused
                // before any runtime sees the file; such a model never
                // reaches the sandbox.
                Err(e)
                    if e.to_string().contains("at load") || e.to_string().contains("load-time") =>
                {
                    refused_at_load.push(h.name);
                    report_lines.push(format!(
                        "{backend:5} {:<28} refused by the gate: {e}",
                        h.name
                    ));
                    continue;
                }
                Err(e) => panic!("{}: the gate refused a hostile test model: {e}", h.name),
            };
            let mut cfg = base.clone();
            (h.tweak)(&mut cfg.limits);
            let started = Instant::now();
            let outcome = Session::start(&cfg, &h.bytes, &report).and_then(|mut s| {
                for im in &imgs {
                    s.run(im)?;
                }
                s.finish();
                Ok(())
            });
            let took = started.elapsed();
            let failure = match outcome {
                Ok(()) => panic!(
                    "{} on {backend}: ran without failing\n{}",
                    h.name,
                    report_lines.join("\n")
                ),
                Err(f) => f,
            };
            report_lines.push(format!(
                "{backend:5} {:<28} {:>6} ms  {}",
                h.name,
                took.as_millis(),
                failure
            ));
            assert!(
                h.expect.contains(&failure.kind),
                "{} on {backend}: got {failure}, expected one of {:?}\n{}",
                h.name,
                h.expect,
                report_lines.join("\n")
            );
            // Contained within its limits: the image and load deadlines
            // plus a margin for reaping.
            let bound = Duration::from_millis(
                cfg.limits.load_timeout_ms + cfg.limits.image_timeout_ms * imgs.len() as u64,
            ) + Duration::from_secs(5);
            assert!(took < bound, "{} on {backend} took {took:?}", h.name);
            // The validator is alive and an honest model is unaffected.
            assert_eq!(
                run_honest(&base, &imgs),
                honest_alone,
                "honest outputs changed after {}",
                h.name
            );
        }
        eprintln!("{}", report_lines.join("\n"));
        // The constant-shape bombs are stopped by the gate now; the rest
        // still reach the sandbox and are contained there.
        assert!(
            refused_at_load.contains(&"ConstantOfShape 2^40"),
            "{refused_at_load:?}"
        );
        assert!(models.len() - refused_at_load.len() >= 15);
    }
}

#[test]
fn confinement_refuses_network_writes_and_processes() {
    for (backend, lib) in backends() {
        let report = Session::self_test(&config(backend, lib)).unwrap();
        eprintln!("{report}");
        for probe in [
            "tcp-connect",
            "udp-socket",
            "file-write",
            "file-append",
            "spawn",
            "fork",
        ] {
            let line = report
                .lines()
                .find(|l| l.starts_with(&format!("{probe}:")))
                .unwrap_or_else(|| panic!("no {probe} line in {report}"));
            assert!(line.contains("refused"), "{line}");
        }
        assert!(report.contains("thread: allowed"), "{report}");
        assert!(report.contains("file-read: allowed"), "{report}");
        assert!(report.contains("environment: 0 variables"), "{report}");
    }
}

#[test]
fn garbage_and_missing_worker_are_validator_errors_not_panics() {
    let bytes = reference::make(ReferenceKind::Null, S as u32);
    let report = gate::check_bytes(&bytes, &GateLimits::default()).unwrap();
    let mut cfg = config(Backend::Tract, None);
    cfg.worker = PathBuf::from("/nonexistent/medmetric-worker");
    let f = Session::start(&cfg, &bytes, &report).unwrap_err();
    assert_eq!(f.kind, FailureKind::Setup);
    assert!(!f.kind.is_model_fault());
    let cfg = config(Backend::Ort, None);
    let f = Session::start(&cfg, &bytes, &report).unwrap_err();
    assert_eq!(f.kind, FailureKind::Setup);
}

#[test]
fn wrong_image_size_is_refused_before_the_worker_sees_it() {
    let bytes = reference::make(ReferenceKind::Null, S as u32);
    let report = gate::check_bytes(&bytes, &GateLimits::default()).unwrap();
    let mut s = Session::start(&config(Backend::Tract, None), &bytes, &report).unwrap();
    let f = s.run(&GrayImage::filled(64, 64, 0.0)).unwrap_err();
    assert_eq!(f.kind, FailureKind::Setup);
    let ok = s.run(&GrayImage::filled(S as u32, S as u32, 0.3)).unwrap();
    assert_eq!(ok.prediction.cls, Some(0.0));
    s.finish();
}
