//! `medmetric miner publish|status` against a real `medmetric devnet serve`
//! process: the commitment on chain, the artifact in the store, what status
//! reports, and the refusals (a model the gate rejects, an unregistered
//! hotkey, a real-chain endpoint, an unreachable chain).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use medmetric_core::{Hotkey, ModelDigest};
use medmetric_store::LocalStore;
use medmetric_store::commitment::Commitment;
use serde_json::Value;

mod common;
use common::{BIN, Server};

/// A scratch home: `HOME`, the cache, the store and the wallets live in it,
/// so nothing of the real user's is read or written.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Home { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn store(&self) -> PathBuf {
        self.path("store")
    }

    fn wallets(&self) -> PathBuf {
        self.path("wallets")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("HOME", self.path("home"))
            .env("MEDMETRIC_CACHE", self.path("cache"))
            .env_remove("MEDMETRIC_CHAIN")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// A command that must succeed and print one JSON value.
    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
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

    /// `miner publish` for a wallet (coldkey `owner`) of this home.
    fn publish(&self, url: &str, model: &Path, hotkey: &str, extra: &[&str]) -> Output {
        let mut args = vec!["miner", "publish", "--model", model.to_str().unwrap()];
        args.extend(["--modality", "cxr", "--chain", url]);
        args.extend(["--wallet.name", "owner", "--wallet.hotkey", hotkey]);
        let (wallets, store) = (self.wallets(), self.store());
        args.extend(["--wallet.path", wallets.to_str().unwrap()]);
        args.extend(["--store", store.to_str().unwrap()]);
        args.extend(extra);
        self.run(&args)
    }

    fn status(&self, url: &str, hotkey: &str, extra: &[&str]) -> Output {
        let mut args = vec!["miner", "status", "--chain", url];
        args.extend(["--wallet.name", "owner", "--wallet.hotkey", hotkey]);
        let (wallets, store) = (self.wallets(), self.store());
        args.extend(["--wallet.path", wallets.to_str().unwrap()]);
        args.extend(["--store", store.to_str().unwrap()]);
        args.extend(extra);
        self.run(&args)
    }

    fn devnet(&self, url: &str, sub: &str, args: &[&str]) -> Value {
        let mut all = vec!["devnet", sub, "--url", url];
        all.extend(args);
        self.json(&all)
    }

    fn register(&self, url: &str, hotkey: &str) -> u64 {
        let v = self.devnet(url, "register", &["--hotkey", hotkey, "--coldkey", "owner"]);
        v["uid"].as_u64().unwrap()
    }

    /// The hotkey's commitment as the chain stores it (`null` if none).
    fn commitment(&self, url: &str, hotkey: &str) -> Value {
        self.devnet(url, "commitments", &["--hotkey", hotkey])["commitment"].clone()
    }

    fn make_model(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        self.json(&[
            "model",
            "make",
            "null",
            "--size",
            "128",
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit 1, nothing on stdout, exactly one line on stderr; returns it.
#[track_caller]
fn fails_with_one_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn publish_commits_then_stores_and_status_reports_it() {
    let server = Server::start(&["--tempo", "9"]);
    let url = server.url.as_str();
    let home = Home::new();
    home.register(url, "validator");
    let uid = home.register(url, "miner-1");
    let model = home.make_model("null.onnx");
    let bytes = std::fs::read(&model).unwrap();
    let sha = ModelDigest::of(&bytes);

    let head = home.devnet(url, "block", &[])["number"].as_u64().unwrap();
    let p =
        serde_json::from_slice::<Value>(&home.publish(url, &model, "miner-1", &["--json"]).stdout)
            .expect("publish prints JSON");
    assert_eq!(p["hotkey"], "miner-1");
    assert_eq!(p["coldkey"], "owner");
    assert_eq!(p["uid"].as_u64(), Some(uid));
    assert_eq!(p["modality"], "cxr");
    assert_eq!(p["sha256"], sha.to_string());
    assert_eq!(p["bytes"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(p["already_committed"], false);
    assert_eq!(p["ipfs"], Value::Null);
    let cid = p["cid"].as_str().unwrap().to_string();
    assert!(cid.starts_with("Qm") && cid.len() == 46, "{cid}");
    let commit_block = p["commit_block"].as_u64().unwrap();
    let after = home.devnet(url, "block", &[])["number"].as_u64().unwrap();
    assert!(
        (head..=after).contains(&commit_block),
        "committed at {commit_block}, head was {head} then {after}"
    );
    assert_eq!(p["eligible_at_block"].as_u64(), Some(commit_block + 100));
    assert_eq!(
        Path::new(p["store"].as_str().unwrap()),
        home.store().as_path()
    );

    // The chain holds the commitment (docs/artifacts.md#the-commitment), bound to this hotkey.
    let onchain = home.commitment(url, "miner-1");
    assert_eq!(onchain["block"].as_u64(), Some(commit_block));
    let onchain: medmetric_chain::Commitment = serde_json::from_value(onchain).unwrap();
    let parsed = Commitment::try_from(&onchain).unwrap();
    assert_eq!(parsed.modality(), "cxr");
    assert_eq!(parsed.cid().to_string(), cid);
    assert!(parsed.verify_binding(&sha, &Hotkey("miner-1".into())));
    assert!(!parsed.verify_binding(&sha, &Hotkey("validator".into())));

    // The store holds exactly the file's bytes under its SHA-256 and CID.
    let store = LocalStore::open(home.store()).unwrap();
    assert_eq!(store.get(&sha.to_string(), 1 << 20).unwrap(), bytes);
    assert_eq!(store.lookup_cid(parsed.cid()).unwrap(), Some(sha));

    // Status: registered, committed, not yet eligible.
    let s = home.status(url, "miner-1", &["--json"]);
    assert!(s.status.success(), "{}", text(&s.stderr));
    let s: Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(s["registered"], true);
    assert_eq!(s["uid"].as_u64(), Some(uid));
    assert_eq!(s["commitment"]["cid"], cid.as_str());
    assert_eq!(s["commitment"]["modality"], "cxr");
    assert_eq!(s["commitment"]["block"].as_u64(), Some(commit_block));
    assert_eq!(s["eligible"], false);
    assert_eq!(s["eligible_at_block"].as_u64(), Some(commit_block + 100));
    assert_eq!(s["artifact"]["sha256"], sha.to_string());
    assert_eq!(s["artifact"]["binding_ok"], true);
    assert_eq!(s["validators_setting_weights"].as_u64(), Some(0));

    let human = home.status(url, "miner-1", &[]);
    assert!(human.status.success(), "{}", text(&human.stderr));
    let human = text(&human.stdout);
    assert!(human.contains(&format!("uid         {uid}")), "{human}");
    assert!(human.contains(&cid), "{human}");
    assert!(
        human.contains(&format!("eligible at block {}", commit_block + 100)),
        "{human}"
    );
    assert!(human.contains("not yet"), "{human}");

    // Republishing the same model keeps the commitment and its block.
    let again: Value =
        serde_json::from_slice(&home.publish(url, &model, "miner-1", &["--json"]).stdout).unwrap();
    assert_eq!(again["already_committed"], true);
    assert_eq!(again["commit_block"].as_u64(), Some(commit_block));
    assert_eq!(
        home.commitment(url, "miner-1")["block"].as_u64(),
        Some(commit_block)
    );

    // A custom delay moves eligibility; once the chain passes it, eligible.
    let s = home.status(url, "miner-1", &["--json", "--eval-delay", "3"]);
    let s: Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(s["eligible_at_block"].as_u64(), Some(commit_block + 3));
    home.devnet(url, "advance", &["--blocks", "100"]);
    let s = home.status(url, "miner-1", &["--json"]);
    let s: Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(s["eligible"], true);
    let human = text(&home.status(url, "miner-1", &[]).stdout);
    assert!(human.contains("eligible    now"), "{human}");

    // Weights from a staked validator show up in incentive and rank.
    home.devnet(
        url,
        "stake",
        &[
            "--coldkey",
            "owner",
            "--hotkey",
            "validator",
            "--amount",
            "1000000000",
        ],
    );
    home.devnet(url, "advance", &["--blocks", "10"]);
    let uid_text = uid.to_string();
    home.devnet(
        url,
        "set-weights",
        &[
            "--hotkey",
            "validator",
            "--uids",
            &uid_text,
            "--values",
            "65535",
        ],
    );
    home.devnet(url, "advance", &["--blocks", "10"]);
    let s: Value =
        serde_json::from_slice(&home.status(url, "miner-1", &["--json"]).stdout).unwrap();
    assert_eq!(s["validators_setting_weights"].as_u64(), Some(1));
    assert_eq!(s["validators_weighting"].as_u64(), Some(1));
    assert_eq!(s["rank"].as_u64(), Some(1));
    assert_eq!(s["miners"].as_u64(), Some(1));
    assert!(s["incentive"].as_f64().unwrap() > 0.99, "{s}");
    assert!(s["emission"].as_u64().unwrap() > 0, "{s}");

    // A new model replaces the commitment and restarts the clock.
    let other = home.path("other.onnx");
    home.json(&[
        "model",
        "make",
        "threshold",
        "--size",
        "128",
        "--out",
        other.to_str().unwrap(),
    ]);
    let q: Value =
        serde_json::from_slice(&home.publish(url, &other, "miner-1", &["--json"]).stdout).unwrap();
    assert_eq!(q["already_committed"], false);
    assert!(q["commit_block"].as_u64().unwrap() >= commit_block + 120);
    assert_ne!(q["cid"], cid.as_str());
}

#[test]
fn a_model_the_gate_refuses_sets_no_commitment() {
    let server = Server::start(&["--tempo", "9"]);
    let url = server.url.as_str();
    let home = Home::new();
    home.register(url, "miner-2");
    let garbage = home.path("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07\xff\xff not an onnx model at all").unwrap();
    let err = fails_with_one_line(&home.publish(url, &garbage, "miner-2", &["--json"]));
    assert!(err.contains("refused by the gate"), "{err}");
    assert_eq!(home.commitment(url, "miner-2"), Value::Null);

    let empty = home.path("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let err = fails_with_one_line(&home.publish(url, &empty, "miner-2", &[]));
    assert!(err.contains("empty file"), "{err}");
    assert_eq!(home.commitment(url, "miner-2"), Value::Null);
    // Nothing reached the store either.
    let blobs = home.store().join("blobs");
    assert_eq!(std::fs::read_dir(blobs).map(|d| d.count()).unwrap_or(0), 0);

    let status: Value =
        serde_json::from_slice(&home.status(url, "miner-2", &["--json"]).stdout).unwrap();
    assert_eq!(status["commitment"], Value::Null);
    assert_eq!(status["eligible"], false);
}

#[test]
fn an_unregistered_hotkey_fails_cleanly() {
    let server = Server::start(&["--tempo", "9"]);
    let url = server.url.as_str();
    let home = Home::new();
    let model = home.make_model("m.onnx");
    let err = fails_with_one_line(&home.publish(url, &model, "nobody", &[]));
    assert!(err.contains("nobody is not registered"), "{err}");
    assert_eq!(home.commitment(url, "nobody"), Value::Null);

    let out = home.status(url, "nobody", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("not registered"));
    let s: Value = serde_json::from_slice(&home.status(url, "nobody", &["--json"]).stdout).unwrap();
    assert_eq!(s["registered"], false);
    assert_eq!(s["uid"], Value::Null);
    assert_eq!(s["rank"], Value::Null);
}

#[test]
fn real_chain_endpoints_and_unreachable_chains_fail_with_one_line() {
    let home = Home::new();
    let model = home.make_model("m.onnx");
    for chain in ["wss://x", "finney"] {
        let err = fails_with_one_line(&home.publish(chain, &model, "m", &[]));
        assert!(err.contains("real-chain"), "{err}");
        let err = fails_with_one_line(&home.status(chain, "m", &[]));
        assert!(err.contains("real-chain"), "{err}");
    }
    // `devnet` follows $MEDMETRIC_CHAIN, whatever it names.
    let out = Command::new(BIN)
        .args(["miner", "status", "--chain", "devnet"])
        .env("HOME", home.path("home"))
        .env(
            "MEDMETRIC_CHAIN",
            "wss://entrypoint-finney.opentensor.ai:443",
        )
        .output()
        .unwrap();
    assert!(fails_with_one_line(&out).contains("real-chain"));

    // A port nobody listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let err = fails_with_one_line(&home.status(&url, "m", &[]));
    assert!(err.contains("cannot reach the devnet"), "{err}");
    let err = fails_with_one_line(&home.publish(&url, &model, "m", &[]));
    assert!(err.contains("cannot reach the devnet"), "{err}");
}

#[test]
fn a_bittensor_hotkey_file_gives_the_ss58_address() {
    const SS58: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
    let server = Server::start(&["--tempo", "9"]);
    let url = server.url.as_str();
    let home = Home::new();
    let hotkeys = home.wallets().join("owner").join("hotkeys");
    std::fs::create_dir_all(&hotkeys).unwrap();
    std::fs::write(
        hotkeys.join("hk"),
        format!(r#"{{"privateKey":"0xSECRET","secretPhrase":"x","ss58Address":"{SS58}"}}"#),
    )
    .unwrap();
    let uid = home.register(url, SS58);
    let model = home.make_model("m.onnx");
    let p: Value =
        serde_json::from_slice(&home.publish(url, &model, "hk", &["--json"]).stdout).unwrap();
    assert_eq!(p["hotkey"], SS58);
    assert_eq!(p["uid"].as_u64(), Some(uid));
    assert_eq!(home.commitment(url, "hk"), Value::Null);
    let onchain: medmetric_chain::Commitment =
        serde_json::from_value(home.commitment(url, SS58)).unwrap();
    let parsed = Commitment::try_from(&onchain).unwrap();
    let sha = ModelDigest::of(&std::fs::read(&model).unwrap());
    assert!(parsed.verify_binding(&sha, &Hotkey(SS58.into())));
    assert!(!parsed.verify_binding(&sha, &Hotkey("hk".into())));
}

/// A stand-in for Kubo's `/api/v0/add`: takes the multipart file and
/// answers with `answer(file)` as the CID; sends each file it got.
fn fake_kubo(answer: fn(&[u8]) -> String) -> (String, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let file = handle_add(stream, answer);
            if tx.send(file).is_err() {
                return;
            }
        }
    });
    (format!("http://{addr}"), rx)
}

fn handle_add(mut stream: TcpStream, answer: fn(&[u8]) -> String) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed in the head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    assert!(head.starts_with("POST /api/v0/add?pin=true&"), "{head}");
    let field = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap()
    };
    let length: usize = field("content-length").parse().unwrap();
    let boundary = field("content-type")
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap()
        .to_string();
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed in the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[head_end..head_end + length];
    let open = format!("--{boundary}\r\n");
    let close = format!("\r\n--{boundary}--\r\n");
    let part = &body[open.len()..body.len() - close.len()];
    let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let file = part[split + 4..].to_vec();
    let json = format!(
        "{{\"Name\":\"artifact\",\"Hash\":\"{}\",\"Size\":\"{}\"}}\n",
        answer(&file),
        file.len()
    );
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    file
}

#[test]
fn ipfs_api_pins_the_committed_cid() {
    let server = Server::start(&["--tempo", "9"]);
    let url = server.url.as_str();
    let home = Home::new();
    home.register(url, "miner-3");
    let model = home.make_model("m.onnx");
    let bytes = std::fs::read(&model).unwrap();

    let (kubo, files) = fake_kubo(medmetric_store::cid::cid_v0);
    let p: Value = serde_json::from_slice(
        &home
            .publish(url, &model, "miner-3", &["--json", "--ipfs-api", &kubo])
            .stdout,
    )
    .unwrap();
    assert_eq!(p["ipfs"], p["cid"]);
    assert_eq!(files.recv_timeout(Duration::from_secs(5)).unwrap(), bytes);

    // A node that files the bytes under another CID: the commitment was
    // already made (it comes first), and the miner is told the artifact is
    // not where it points.
    home.register(url, "miner-4");
    let (liar, _files) = fake_kubo(medmetric_store::cid::cid_v1);
    let err = fails_with_one_line(&home.publish(url, &model, "miner-4", &["--ipfs-api", &liar]));
    assert!(err.contains("publishing to IPFS failed"), "{err}");
    assert_ne!(home.commitment(url, "miner-4"), Value::Null);

    // A malformed address is refused before anything is committed.
    home.register(url, "miner-5");
    let err = fails_with_one_line(&home.publish(
        url,
        &model,
        "miner-5",
        &["--ipfs-api", "ftp://nowhere"],
    ));
    assert!(err.contains("--ipfs-api"), "{err}");
    assert_eq!(home.commitment(url, "miner-5"), Value::Null);
}
