//! The subnet end to end over a loopback devnet server: miners commit and
//! publish, two `medmetric validator run` processes evaluate the same round
//! and reach the same weights, malicious commitments are skipped with a
//! reason, and a validator killed with SIGKILL in the middle of a round
//! neither loses nor double-counts it after a restart.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use medmetric_chain::{Chain, Coldkey, CommitmentField};
use medmetric_core::{Hotkey, Modality};
use medmetric_devnet::{DevnetClient, DevnetControl};
use medmetric_model::gate::{CLS_OUTPUT, MASK_OUTPUT};
use medmetric_model::reference::{self, INPUT_NAME, ReferenceKind};
use medmetric_model::writer::{Attr, GraphBuilder};
use medmetric_store::LocalStore;
use medmetric_store::cid::{Cid, Version};
use medmetric_store::commitment::Commitment;
use medmetric_validator::state::{FailureStage, State};
use serde_json::Value;

mod common;
use common::{BIN, Server};
const SIZE: u32 = 128;

fn publish(chain: &DevnetClient, store: &LocalStore, bytes: &[u8], hotkey: &Hotkey) {
    medmetric_miner::publish(chain, store, bytes, Modality::Cxr, hotkey).unwrap();
}

/// A model that answers like the threshold reference but spends ~`layers`
/// extra convolutions per image (to make a round last long enough to
/// kill a validator in the middle of it).
fn slow_threshold(layers: usize) -> Vec<u8> {
    let s = i64::from(SIZE);
    let mut g = GraphBuilder::new("slow_threshold");
    g.input(INPUT_NAME, &[1, 1, s, s]);
    g.output(MASK_OUTPUT, &[1, 1, s, s]);
    g.output(CLS_OUTPUT, &[1, 1]);
    let width = 32i64;
    g.weights("w_in", &[width, 1, 3, 3], &vec![0.01; (width * 9) as usize]);
    g.weights(
        "w_mid",
        &[width, width, 3, 3],
        &vec![0.001; (width * width * 9) as usize],
    );
    g.weights(
        "w_out",
        &[1, width, 3, 3],
        &vec![0.001; (width * 9) as usize],
    );
    let conv = || {
        vec![
            Attr::ints("pads", &[1, 1, 1, 1]),
            Attr::ints("kernel_shape", &[3, 3]),
        ]
    };
    g.node("Conv", &[INPUT_NAME, "w_in"], &["h0"], conv());
    for i in 0..layers {
        g.node(
            "Conv",
            &[&format!("h{i}"), "w_mid"],
            &[&format!("h{}", i + 1)],
            conv(),
        );
    }
    g.node(
        "Conv",
        &[&format!("h{layers}"), "w_out"],
        &["noise"],
        conv(),
    );
    g.scalar("tiny", 1e-6);
    g.node("Mul", &["noise", "tiny"], &["small"], vec![]);
    g.node("Add", &[INPUT_NAME, "small"], &["x"], vec![]);
    g.node("Sigmoid", &["x"], &[MASK_OUTPUT], vec![]);
    g.node(
        "ReduceMean",
        &["x"],
        &["m"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 0)],
    );
    g.node("Sigmoid", &["m"], &[CLS_OUTPUT], vec![]);
    g.finish(17)
}

struct Subnet {
    server: Server,
    dir: tempfile::TempDir,
}

impl Subnet {
    /// Two staked validators, honest miners and miners with malicious
    /// commitments; blocks advanced past the eval delay and one epoch.
    fn new(slow_layers: Option<usize>) -> Subnet {
        let server = Server::start(&["--tempo", "9", "--netuid", "1"]);
        let dir = tempfile::tempdir().unwrap();
        let chain = DevnetClient::connect(&server.url).unwrap();
        let store = LocalStore::open(dir.path().join("store")).unwrap();
        let owner = Coldkey("owner".into());
        for v in ["va", "vb"] {
            let h = Hotkey(v.into());
            chain.burned_register(&h, &owner).unwrap();
            chain.add_stake(&owner, &h, 1_000_000_000_000).unwrap();
        }
        let mut models = vec![
            (
                "m-honest",
                medmetric_miners::make(
                    medmetric_miners::Strategy::Honest,
                    medmetric_imaging::Modality::Cxr,
                    SIZE,
                    0,
                )
                .unwrap(),
            ),
            ("m-null", reference::make(ReferenceKind::Null, SIZE)),
        ];
        if let Some(layers) = slow_layers {
            models.push(("m-slow", slow_threshold(layers)));
        }
        for (name, bytes) in &models {
            let h = Hotkey((*name).into());
            chain
                .burned_register(&h, &Coldkey(format!("c-{name}")))
                .unwrap();
            publish(&chain, &store, bytes, &h);
        }
        // Malicious commitments: each must be skipped with a reason.
        let thr = &models[0].1;
        let sha = medmetric_core::ModelDigest::of(thr);
        let cid = Cid::of(thr, Version::V0).to_string();
        let hostile: Vec<(&str, Vec<CommitmentField>)> = vec![
            (
                "m-url",
                vec![
                    CommitmentField::raw_text("mm1:cxr:http://evil.example/m.onnx"),
                    CommitmentField::Sha256([0; 32]),
                ],
            ),
            (
                "m-garbage",
                vec![
                    CommitmentField::Raw(vec![0xff, 0x00, 0x9c, 0x41]),
                    CommitmentField::Sha256([1; 32]),
                ],
            ),
            (
                "m-badcid",
                vec![
                    CommitmentField::raw_text("mm1:cxr:QmNotARealCidAtAll"),
                    CommitmentField::Sha256([2; 32]),
                ],
            ),
            (
                "m-oversized",
                vec![
                    CommitmentField::BigRaw(
                        format!("mm1:cxr:{cid}{}", "x".repeat(300)).into_bytes(),
                    ),
                    CommitmentField::Sha256([3; 32]),
                ],
            ),
            // Someone else's commitment copied verbatim: the hotkey binding fails.
            (
                "m-stolen",
                Commitment::new(
                    Modality::Cxr,
                    cid.parse().unwrap(),
                    &sha,
                    &Hotkey("m-honest".into()),
                )
                .to_chain_fields(),
            ),
        ];
        for (name, fields) in &hostile {
            let h = Hotkey((*name).into());
            chain
                .burned_register(&h, &Coldkey(format!("c-{name}")))
                .unwrap();
            chain.set_commitment(&h, fields).unwrap();
        }
        chain.advance(25).unwrap();
        Subnet { server, dir }
    }

    fn validator(&self, hotkey: &str, once: bool) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "validator",
            "run",
            "--chain",
            &self.server.url,
            "--wallet.hotkey",
            hotkey,
        ])
        .args(["--state", self.state(hotkey).to_str().unwrap()])
        .args(["--store", self.dir.path().join("store").to_str().unwrap()])
        .args([
            "--size",
            &SIZE.to_string(),
            "--cases",
            "8",
            "--eval-delay",
            "2",
        ])
        .args([
            "--backend",
            "tract",
            "--allow-noncanonical",
            "--no-calibrate",
        ])
        .args(["--metrics-addr", ""])
        .args(["--workers", "2", "--poll-ms", "200"])
        .env("HOME", self.dir.path())
        .stdin(Stdio::null());
        if once {
            cmd.arg("--once");
        }
        cmd
    }

    fn state(&self, hotkey: &str) -> PathBuf {
        self.dir.path().join(format!("{hotkey}.sqlite"))
    }

    fn run_once(&self, hotkey: &str) -> (Vec<Value>, String) {
        let out: Output = self.validator(hotkey, true).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "validator {hotkey} failed: {stderr}");
        let rounds = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["event"] == "round")
            .collect();
        (rounds, stderr)
    }
}

fn rounds_in(path: &Path) -> u64 {
    State::open(path).unwrap().round_count().unwrap()
}

#[test]
fn two_validators_agree_and_skip_malicious_commitments() {
    let net = Subnet::new(None);
    let (a, a_log) = net.run_once("va");
    let (b, _) = net.run_once("vb");
    assert_eq!(a.len(), 1, "{a_log}");
    assert_eq!(b.len(), 1);
    assert_eq!(a[0]["anchor"], b[0]["anchor"]);
    assert_eq!(a[0]["seed"], b[0]["seed"]);
    assert_eq!(a[0]["uids"], b[0]["uids"], "validators disagree on weights");
    assert_eq!(
        a[0]["weights"], b[0]["weights"],
        "validators disagree on weights"
    );
    assert_eq!(a[0]["submitted"], true);

    let state = State::open(&net.state("va")).unwrap();
    let anchor = a[0]["anchor"].as_u64().unwrap();
    let evals = state.evaluations(anchor).unwrap();
    let reason = |h: &str| {
        evals
            .iter()
            .find(|e| e.hotkey.as_str() == h)
            .and_then(|e| e.failure.as_ref().map(|f| (f.stage, f.to_string())))
            .unwrap_or_else(|| panic!("no failure recorded for {h}: {evals:?}"))
            .1
    };
    let stage = |h: &str| {
        evals
            .iter()
            .find(|e| e.hotkey.as_str() == h)
            .and_then(|e| e.failure.as_ref().map(|f| f.stage))
            .unwrap()
    };
    // Refusals keep their stage, typed, up to the record.
    assert_eq!(stage("m-garbage"), FailureStage::Commitment);
    assert_eq!(stage("m-stolen"), FailureStage::Artifact);
    assert!(reason("m-url").contains("url"), "{}", reason("m-url"));
    assert!(reason("m-garbage").starts_with("commitment ("));
    assert!(
        reason("m-badcid").contains("CID") || reason("m-badcid").contains("cid"),
        "{}",
        reason("m-badcid")
    );
    assert!(reason("m-oversized").starts_with("commitment ("));
    assert!(
        reason("m-stolen").contains("binding"),
        "{}",
        reason("m-stolen")
    );
    // The honest threshold model earned weight; nobody malicious did.
    let thr = evals
        .iter()
        .find(|e| e.hotkey.as_str() == "m-honest")
        .unwrap();
    assert!(thr.failure.is_none());
    assert!(
        thr.credited > 0.0,
        "the honest model earned nothing: {thr:?}"
    );
    let uids: Vec<u64> = a[0]["uids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    for bad in ["m-url", "m-garbage", "m-badcid", "m-oversized", "m-stolen"] {
        let uid = u64::from(evals.iter().find(|e| e.hotkey.as_str() == bad).unwrap().uid);
        assert!(!uids.contains(&uid), "{bad} got weight");
    }
    // A second step in the same tempo does nothing.
    let (again, _) = net.run_once("va");
    assert!(again.is_empty());
    assert_eq!(rounds_in(&net.state("va")), 1);
}

#[test]
fn a_validator_killed_mid_round_neither_loses_nor_doubles_it() {
    let net = Subnet::new(Some(40));
    let mut child = net
        .validator("va", false)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let started = Instant::now();
    let mut line = String::new();
    loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("validator exited before starting a round");
        }
        if line.contains("\"round.start\"") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no round started"
        );
    }
    // Mid-evaluation: SIGKILL.
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    assert!(
        !rest.contains("\"round.done\""),
        "round finished before the kill; make the model slower"
    );
    assert_eq!(
        rounds_in(&net.state("va")),
        0,
        "a half-done round was recorded"
    );

    let (rounds, log) = net.run_once("va");
    assert_eq!(rounds.len(), 1, "{log}");
    assert_eq!(rounds[0]["submitted"], true);
    assert_eq!(rounds_in(&net.state("va")), 1);
    let (again, _) = net.run_once("va");
    assert!(again.is_empty(), "the round was counted twice");
    assert_eq!(rounds_in(&net.state("va")), 1);
}
