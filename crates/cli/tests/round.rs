//! `medmetric round build|verify`: two processes, and 1 vs 2 threads, give
//! the same digest; another block gives another round; tampering is caught.

use std::process::{Command, Output};

use serde_json::Value;

fn medmetric(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medmetric"))
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    })
}

fn build(block: &str, number: &str, threads: &str, out: &std::path::Path) -> Value {
    json(&medmetric(&[
        "round",
        "build",
        "--block",
        block,
        "--number",
        number,
        "--netuid",
        "3",
        "--cases",
        "3",
        "--size",
        "128",
        "--threads",
        threads,
        "--out",
        out.to_str().unwrap(),
    ]))
}

#[test]
fn same_block_same_digest_across_processes_and_threads() {
    let block = "ab".repeat(32);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = build(&block, "1000", "1", dirs[0].path());
    let b = build(&block, "1000", "2", dirs[1].path());
    assert_eq!(a["digest"], b["digest"]);
    assert_eq!(a["items"], 9);
    let c = build(&block, "1001", "2", dirs[2].path());
    assert_ne!(a["digest"], c["digest"]);

    let v = json(&medmetric(&[
        "round",
        "verify",
        dirs[0].path().to_str().unwrap(),
        "--rebuild",
    ]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["digest"], a["digest"]);
}

#[test]
fn tampered_round_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    build(&"cd".repeat(32), "5", "2", dir.path());
    let mask = dir.path().join("masks/cxr_0000.png");
    std::fs::write(&mask, b"not the mask").unwrap();
    let out = medmetric(&["round", "verify", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert!(v["reason"].as_str().unwrap().contains("masks/cxr_0000.png"));
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    for args in [
        vec!["round", "build", "--block", "xyz", "--out", out_dir],
        vec![
            "round",
            "build",
            "--block",
            &"00".repeat(32),
            "--pool",
            "nope:1",
            "--out",
            out_dir,
        ],
        vec![
            "round",
            "build",
            "--block",
            &"00".repeat(32),
            "--size",
            "100",
            "--out",
            out_dir,
        ],
    ] {
        let out = medmetric(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{args:?}"
        );
    }
    let out = medmetric(&["round", "verify", "/nonexistent/round"]);
    assert_eq!(out.status.code(), Some(1));
}
