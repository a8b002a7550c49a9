//! The command-line contracts: exit codes and JSON shapes.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn medmetric(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medmetric"))
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {:?} / {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn make_then_check_every_reference_model() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["null", "threshold", "tiny-unet"] {
        for size in ["128", "256", "512"] {
            let file = dir.path().join(format!("{kind}-{size}.onnx"));
            let out = medmetric(&["model", "make", kind, "--size", size, "--out", p(&file)]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = medmetric(&["model", "check", p(&file)]);
            assert_eq!(out.status.code(), Some(0));
            let v = json(&out);
            assert_eq!(v["accepted"], true);
            assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
            assert_eq!(v["input"]["name"], "image");
            let s: i64 = size.parse().unwrap();
            assert_eq!(v["input"]["shape"], serde_json::json!([1, 1, s, s]));
            assert_eq!(v["outputs"], serde_json::json!({"mask": true, "cls": true}));
            assert!(v["parameters"].as_u64().unwrap() >= 1);
            assert_eq!(v["opset"], 17);
            assert_eq!(v["bytes"], std::fs::metadata(&file).unwrap().len());
            let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 7, "{keys:?}");
        }
    }
}

#[test]
fn check_refuses_with_exit_1_and_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.onnx", vec![]),
        (
            "garbage.onnx",
            b"\x08\x07garbage that is not protobuf \xff\xff\xff".to_vec(),
        ),
        ("text.onnx", b"hello world\n".to_vec()),
    ];
    for (name, bytes) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let out = medmetric(&["model", "check", p(&file)]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let v = json(&out);
        assert_eq!(v["accepted"], false);
        let reason = v["reason"].as_str().unwrap();
        assert!(!reason.is_empty() && !reason.contains('\n'), "{reason:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    }
    let out = medmetric(&["model", "check", "/nonexistent/x.onnx"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["accepted"], false);
    let out = medmetric(&["model", "check", "/dev/zero", "--max-bytes", "4096"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        json(&out)["reason"]
            .as_str()
            .unwrap()
            .contains("larger than")
    );
}

#[test]
fn make_refuses_bad_kind_and_size() {
    let out = medmetric(&["model", "make", "resnet", "--out", "/tmp/x.onnx"]);
    assert!(!out.status.success());
    let out = medmetric(&[
        "model",
        "make",
        "null",
        "--size",
        "300",
        "--out",
        "/tmp/x.onnx",
    ]);
    assert!(!out.status.success());
}

#[test]
fn make_red_team_miners() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, extra, mask) in [
        ("cls-only", vec!["--modality", "bone"], false),
        ("copy", vec!["--modality", "bone", "--seed", "5"], true),
        ("memoriser", vec!["--memoriser-cases", "4"], true),
        ("fast-useless", vec![], true),
    ] {
        let file = dir.path().join(format!("{kind}.onnx"));
        let mut args = vec!["model", "make", kind, "--size", "128", "--out", p(&file)];
        args.extend(extra);
        let out = medmetric(&args);
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let made = json(&out);
        assert_eq!(made["kind"], kind);
        assert_eq!(made["size"], 128);
        let out = medmetric(&["model", "check", p(&file)]);
        assert_eq!(out.status.code(), Some(0), "{kind}");
        let v = json(&out);
        assert_eq!(v["sha256"], made["sha256"]);
        assert_eq!(v["outputs"], serde_json::json!({"mask": mask, "cls": true}));
    }
    let out = medmetric(&[
        "model",
        "make",
        "memoriser",
        "--size",
        "512",
        "--out",
        "/tmp/x.onnx",
    ]);
    assert!(!out.status.success());
}

fn gray_png(path: &Path, w: u32, h: u32, data: &[u8]) {
    let img = medmetric_imaging::GrayImage {
        width: w,
        height: h,
        data: data.iter().map(|&v| f32::from(v) / 255.0).collect(),
    };
    std::fs::write(path, medmetric_imaging::png_io::encode_gray8(&img).unwrap()).unwrap();
}

#[test]
fn metrics_prints_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let (pred, truth) = (dir.path().join("p.png"), dir.path().join("t.png"));
    gray_png(&pred, 2, 2, &[255, 255, 0, 0]);
    gray_png(&truth, 2, 2, &[255, 0, 0, 0]);
    let out = medmetric(&["metrics", "--pred", p(&pred), "--truth", p(&truth)]);
    assert!(out.status.success());
    let v = json(&out);
    assert!((v["dice"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!((v["iou"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(v["precision"], 0.5);
    assert_eq!(v["recall"], 1.0);
    assert!((v["mcc"].as_f64().unwrap() - 1.0 / 3f64.sqrt()).abs() < 1e-12);
    assert!(v["bce"].as_f64().unwrap() > 0.0);
}

#[test]
fn metrics_errors_are_one_readable_line() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, junk) = (
        dir.path().join("a.png"),
        dir.path().join("b.png"),
        dir.path().join("junk.png"),
    );
    gray_png(&a, 2, 2, &[0; 4]);
    gray_png(&b, 3, 2, &[0; 6]);
    std::fs::write(&junk, b"not a png").unwrap();
    for (pred, truth, expect) in [
        (&a, &b, "2x2"),
        (&junk, &a, "not a readable PNG"),
        (&a, &dir.path().join("missing.png"), "cannot read"),
    ] {
        let out = medmetric(&["metrics", "--pred", p(pred), "--truth", p(truth)]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expect), "{err}");
    }
}

#[test]
fn metrics_refuses_colour_images() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = dir.path().join("rgb.png");
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 1, 1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[1, 2, 3]).unwrap();
    }
    std::fs::write(&rgb, bytes).unwrap();
    let out = medmetric(&["metrics", "--pred", p(&rgb), "--truth", p(&rgb)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a grayscale PNG"));
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["model", "--help"],
        vec!["model", "check", "--help"],
        vec!["model", "make", "--help"],
        vec!["metrics", "--help"],
        vec!["round", "build", "--help"],
        vec!["round", "verify", "--help"],
        vec!["weights", "--help"],
        vec!["yuma", "--help"],
        vec!["eval", "--help"],
        vec!["sim", "redteam", "--help"],
        vec!["validator", "run", "--help"],
        vec!["miner", "publish", "--help"],
        vec!["setup", "onnxruntime", "--help"],
    ] {
        let out = medmetric(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn demo_runs_the_subnet_and_its_outcome_holds() {
    let dir = tempfile::tempdir().unwrap();
    let out = medmetric(&[
        "demo",
        "--out",
        p(dir.path()),
        "--tempos",
        "3",
        "--cases",
        "6",
        "--size",
        "128",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in 1..=3 {
        assert!(
            text.contains(&format!("tempo {t}: round at block")),
            "{text}"
        );
    }
    assert!(
        text.contains("honest reference miner ranks first by incentive: yes"),
        "{text}"
    );
    assert!(
        text.contains("dishonest validator earns less dividend per unit of stake: yes"),
        "{text}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<svg"));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["tempos"].as_array().unwrap().len(), 3);
    // Every red-team strategy but the two budget-only ones (load-time
    // compute, which the gate refuses, and the slow graph).
    assert_eq!(
        report["miners"].as_array().unwrap().len(),
        medmetric_miners::Strategy::ALL.len() - 2
    );
}

#[test]
fn weights_match_the_sdk_examples() {
    let dir = tempfile::tempdir().unwrap();
    for (scores, uids, weights) in [
        (
            "[0.1,0.2,0.3,0.4]",
            "[0,1,2,3]",
            "[16384,32768,49151,65535]",
        ),
        ("[0.5,0.25,0,1e-6]", "[0,1]", "[65535,32768]"),
    ] {
        let file = dir.path().join("s.json");
        std::fs::write(&file, format!(r#"{{"uids":[0,1,2,3],"scores":{scores}}}"#)).unwrap();
        let out = medmetric(&["weights", "--scores", p(&file)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&out);
        assert_eq!(v["uids"].to_string(), uids.replace(' ', ""));
        assert_eq!(v["weights"].to_string(), weights);
    }
}

#[test]
fn weights_refuse_hostile_scores() {
    let dir = tempfile::tempdir().unwrap();
    for body in [
        r#"{"uids":[0,1],"scores":[0.5]}"#,
        r#"{"uids":[0,0],"scores":[0.5,0.5]}"#,
        r#"{"uids":[0,1],"scores":[-1,0.5]}"#,
        r#"{"uids":[0,1],"scores":[1e39,0.5]}"#,
        r#"{"uids":[0,1]"#,
        r#"[]"#,
    ] {
        let file = dir.path().join("s.json");
        std::fs::write(&file, body).unwrap();
        let out = medmetric(&["weights", "--scores", p(&file)]);
        assert_eq!(out.status.code(), Some(1), "{body}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{body}"
        );
    }
}

#[test]
fn yuma_scenario_follows_the_json_contract() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.json");
    // subtensor's test_10_graph: ten uids, stake 1 each, only self-weights.
    let weights: Vec<Vec<f64>> = (0..10)
        .map(|i| (0..10).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    let scenario = serde_json::json!({"stakes": vec![1.0; 10], "epochs": [{"weights": weights}]});
    std::fs::write(&file, scenario.to_string()).unwrap();
    let out = medmetric(&["yuma", "--scenario", p(&file)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let epoch = &v["epochs"][0];
    for key in [
        "consensus",
        "incentive",
        "dividends",
        "validator_trust",
        "bonds",
        "emission",
    ] {
        assert_eq!(epoch[key].as_array().unwrap().len(), 10, "{key}");
    }
    for e in epoch["emission"].as_array().unwrap() {
        assert_eq!(e.as_u64(), Some(99_999_999));
    }

    std::fs::write(&file, r#"{"stakes":[1,1],"epochs":[{"weights":[[1]]}]}"#).unwrap();
    let out = medmetric(&["yuma", "--scenario", p(&file)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

#[test]
fn a_validator_refuses_to_score_with_a_non_canonical_backend() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_medmetric"))
        .args(["validator", "run", "--backend", "tract", "--once"])
        .args(["--chain", "http://127.0.0.1:9"])
        .arg("--state")
        .arg(dir.path().join("v.sqlite"))
        .arg("--store")
        .arg(dir.path().join("store"))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("canonical"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one readable line: {err}");
}
