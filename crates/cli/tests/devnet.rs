//! `medmetric devnet`: a served devnet shared by separate client processes,
//! surviving `kill -9` and a restart on the same state file.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::{BIN, Server};

/// A devnet server keeping its chain in `state`.
fn serve(state: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--state", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn devnet(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("devnet")
        .args(args.get(..1).unwrap_or_default())
        .args(["--url", url])
        .args(args.get(1..).unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs a client subcommand that must succeed; returns its JSON.
#[track_caller]
fn ok(url: &str, args: &[&str]) -> Value {
    let out = devnet(url, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn two_client_processes_share_a_devnet_that_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("chain.sqlite");
    let params = dir.path().join("hyper.json");
    std::fs::write(&params, r#"{"weights_set_rate_limit": 0, "tempo": 100}"#).unwrap();
    let server = serve(
        &state,
        &[
            "--tempo",
            "9",
            "--hyperparameters",
            params.to_str().unwrap(),
        ],
    );
    let url = server.url.clone();

    // Two client processes at once register different hotkeys.
    let spawn = |hotkey: &str| {
        Command::new(BIN)
            .args(["devnet", "register", "--url", &url, "--hotkey", hotkey])
            .args(["--coldkey", "alice"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("validator"), spawn("miner"));
    let mut uids: Vec<u64> = [a, b]
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            v["uid"].as_u64().unwrap()
        })
        .collect();
    uids.sort_unstable();
    assert_eq!(uids, [0, 1]);

    // One process changes the chain, others read it.
    let v = ok(
        &url,
        &[
            "stake",
            "--coldkey",
            "alice",
            "--hotkey",
            "validator",
            "--amount",
            "1000000000",
        ],
    );
    assert_eq!(v["stake"], 1_000_000_000u64);
    let head = ok(&url, &["advance", "--blocks", "10"]);
    assert_eq!(head["number"], 10);
    let status = ok(&url, &["status"]);
    assert_eq!(status["head"], head);
    assert_eq!(
        (status["epoch_index"].as_u64(), status["subnet_n"].as_u64()),
        (Some(1), Some(2))
    );
    let hyper = ok(&url, &["hyperparameters"]);
    assert_eq!(
        (
            hyper["tempo"].as_u64(),
            hyper["weights_set_rate_limit"].as_u64()
        ),
        (Some(9), Some(0))
    );

    let m = ok(&url, &["metagraph"]);
    let neurons = m["neurons"].as_array().unwrap();
    let validator_uid = neurons.iter().find(|n| n["hotkey"] == "validator").unwrap()["uid"]
        .as_u64()
        .unwrap();
    let miner_uid = 1 - validator_uid;
    assert_eq!(neurons[validator_uid as usize]["validator_permit"], true);

    let miner = miner_uid.to_string();
    ok(
        &url,
        &[
            "set-weights",
            "--hotkey",
            "validator",
            "--uids",
            &miner,
            "--values",
            "65535",
        ],
    );
    ok(
        &url,
        &[
            "commit",
            "--hotkey",
            "miner",
            "--field",
            "raw:model-v1",
            "--field",
            &format!("sha256:{}", "ab".repeat(32)),
        ],
    );
    let head = ok(&url, &["advance", "--blocks", "10"]);
    assert_eq!(head["number"], 20);
    let m = ok(&url, &["metagraph"]);
    assert_eq!(m["neurons"][miner_uid as usize]["incentive"], 65535);
    let weights = ok(&url, &["weights"]);
    assert_eq!(
        weights["rows"][validator_uid as usize],
        serde_json::json!([[miner_uid, 65535]])
    );
    let c = ok(&url, &["commitments", "--hotkey", "miner"]);
    assert_eq!(c["commitment"]["block"], 10);
    assert_eq!(c["commitment"]["fields"][0]["raw"], "6d6f64656c2d7631");

    // A refused request: exit 1, the typed rejection on stdout.
    let out = devnet(
        &url,
        &["register", "--hotkey", "miner", "--coldkey", "alice"],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rejected"]["error"], "HotKeyAlreadyRegisteredInSubNet");
    let out = devnet(
        &url,
        &[
            "commit",
            "--hotkey",
            "miner",
            "--field",
            &format!("raw:{}", "x".repeat(129)),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FieldTooLarge"));

    let before_status = ok(&url, &["status"]);
    let before_metagraph = ok(&url, &["metagraph"]);
    let before_block = ok(&url, &["block", "--number", "7"]);
    server.kill();

    // The chain is gone: a transport failure exits 2.
    let out = devnet(&url, &["status"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Restart on the same file (genesis flags now ignored): nothing lost.
    let server = serve(&state, &["--tempo", "50"]);
    let url = server.url.clone();
    assert_eq!(ok(&url, &["status"]), before_status);
    assert_eq!(ok(&url, &["metagraph"]), before_metagraph);
    assert_eq!(ok(&url, &["block", "--number", "7"]), before_block);
    assert_eq!(ok(&url, &["hyperparameters"])["tempo"], 9);
    let c = ok(&url, &["commitments"]);
    assert_eq!(c["commitments"].as_array().unwrap().len(), 1);

    // And it carries on.
    let head = ok(&url, &["advance", "--blocks", "5"]);
    assert_eq!(head["number"], 25);
    let waited = ok(&url, &["wait", "--block", "25", "--timeout-secs", "5"]);
    assert_eq!(waited, head);
}

#[test]
fn commit_reveal_across_processes_with_a_block_timer() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("chain.sqlite");
    let server = serve(&state, &["--tempo", "9", "--block-interval-ms", "40"]);
    let url = server.url.clone();
    ok(
        &url,
        &[
            "hyperparameters",
            "--set",
            r#"{"commit_reveal_enabled": true, "weights_set_rate_limit": 0}"#,
        ],
    );
    ok(&url, &["register", "--hotkey", "v", "--coldkey", "c"]);
    ok(&url, &["register", "--hotkey", "m", "--coldkey", "c"]);
    ok(
        &url,
        &["stake", "--coldkey", "c", "--hotkey", "v", "--amount", "5"],
    );
    // Blocks come from the timer: wait for the first epoch to grant permits.
    let status = ok(&url, &["status"]);
    let next = status["next_epoch_block"].as_u64().unwrap().to_string();
    ok(&url, &["wait", "--block", &next, "--timeout-secs", "30"]);

    let args = [
        "--hotkey", "v", "--uids", "1", "--values", "7", "--salt", "3,1,4",
    ];
    let commit_args = [&["commit-weights"][..], &args].concat();
    let reveal_args = [&["reveal-weights"][..], &args].concat();
    // The reveal window is one epoch wide; on a loaded machine a client
    // process may miss it, so commit again then (bounded).
    let mut revealed = false;
    for _attempt in 0..5 {
        let commit = ok(&url, &commit_args);
        assert_eq!(commit["hash"].as_str().unwrap().len(), 64);
        let reveal_epoch = commit["reveal_epoch"].as_u64().unwrap();
        let out = devnet(&url, &reveal_args);
        if out.status.code() == Some(1) {
            assert!(String::from_utf8_lossy(&out.stdout).contains("RevealTooEarly"));
        }
        loop {
            let s = ok(&url, &["status"]);
            if s["epoch_index"].as_u64().unwrap() >= reveal_epoch {
                break;
            }
            let next = s["next_epoch_block"].as_u64().unwrap().to_string();
            ok(&url, &["wait", "--block", &next, "--timeout-secs", "30"]);
        }
        let out = devnet(&url, &reveal_args);
        if out.status.success() {
            revealed = true;
            break;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("ExpiredWeightCommit") || text.contains("NoWeightsCommitFound"),
            "{text}"
        );
    }
    assert!(revealed, "never revealed within its epoch");
    assert_eq!(
        ok(&url, &["weights"])["rows"][0],
        serde_json::json!([[1, 65535]])
    );
}
