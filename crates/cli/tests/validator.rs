//! The validator loop in process, on an in-memory devnet, with models run
//! by the `medmetric` binary in its worker mode:
//!
//! - `eval` and a validator score the same model on the same anchor,
//!   modality and size identically (one evaluation path);
//! - a validator that loses its runtime (worker or ONNX Runtime library)
//!   records nothing and changes no score or weight, then recovers;
//! - a miner that re-commits keeps being scored on its previous model
//!   while the new one waits out the evaluation delay;
//! - the `sn34` profile pays each miner type its configured share;
//! - commit-reveal salts are secret and kept until the reveal;
//! - copy-detection initializers are parsed once per model.

use std::path::{Path, PathBuf};
use std::process::Command;

use medmetric_bench::RoundConfig;
use medmetric_chain::{Chain, Coldkey, Hyperparameters};
use medmetric_core::{Hotkey, ModelDigest};
use medmetric_devnet::{Devnet, DevnetConfig, DevnetControl};
use medmetric_eval::sandbox::{Backend, SandboxConfig};
use medmetric_harness::Harness;
use medmetric_harness::calibration::Calibration;
use medmetric_harness::runtime::WORKER_MODE_ARG;
use medmetric_imaging::Modality;
use medmetric_miners::{Factory, Strategy};
use medmetric_model::reference::{self, ReferenceKind};
use medmetric_scoring::mechanism::{MechanismConfig, ScoreBook};
use medmetric_store::LocalStore;
use medmetric_store::cid::{Cid, Version};
use medmetric_store::commitment::Commitment;
use medmetric_validator::node::{Behaviour, NodeConfig, NodeError, PendingReveal, Validator};
use medmetric_validator::state::State;
use rand_core::{Rng, SeedableRng};

mod common;
use common::BIN;

const SIZE: u32 = 128;
const CASES: u32 = 8;
const TEMPO: u16 = 9;

fn sandbox(worker: &Path) -> SandboxConfig {
    let mut cfg = SandboxConfig::new(worker.to_path_buf(), Backend::Tract, None);
    cfg.worker_args = vec![WORKER_MODE_ARG.to_string()];
    cfg
}

struct Net {
    chain: Devnet,
    store_dir: PathBuf,
    dir: tempfile::TempDir,
}

impl Net {
    /// A devnet with one staked validator `v` and an epoch behind it (so it
    /// holds a validator permit).
    fn new(hp: Hyperparameters) -> Net {
        let config = DevnetConfig {
            hyperparameters: Hyperparameters {
                tempo: TEMPO,
                weights_set_rate_limit: 0,
                ..hp
            },
            ..DevnetConfig::default()
        };
        let chain = Devnet::in_memory(&config).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("store");
        let net = Net {
            chain,
            store_dir,
            dir,
        };
        net.validator_hotkey("v");
        net
    }

    fn validator_hotkey(&self, name: &str) -> Hotkey {
        let owner = Coldkey(format!("owner-{name}"));
        let h = Hotkey::from(name);
        self.chain.burned_register(&h, &owner).unwrap();
        self.chain.add_stake(&owner, &h, 1_000_000_000_000).unwrap();
        h
    }

    fn store(&self) -> LocalStore {
        LocalStore::open(&self.store_dir).unwrap()
    }

    /// Registers `hotkey` when needed, commits `bytes` for cxr and stores
    /// them. Returns the commitment block.
    fn publish(&self, hotkey: &str, bytes: &[u8]) -> u64 {
        let h = Hotkey::from(hotkey);
        if self.chain.metagraph().unwrap().neuron(&h).is_none() {
            self.chain
                .burned_register(&h, &Coldkey(format!("c-{hotkey}")))
                .unwrap();
        }
        medmetric_miner::publish(&self.chain, &self.store(), bytes, Modality::Cxr, &h)
            .unwrap()
            .commit_block
    }

    /// What an attacker who skips `miner publish` (and its gate) does:
    /// registers, commits and stores the bytes directly.
    fn commit_raw(&self, hotkey: &str, bytes: &[u8]) {
        let h = Hotkey::from(hotkey);
        self.chain
            .burned_register(&h, &Coldkey(format!("c-{hotkey}")))
            .unwrap();
        let sha = ModelDigest::of(bytes);
        let c = Commitment::new(Modality::Cxr, Cid::of(bytes, Version::V0), &sha, &h);
        self.chain.set_commitment(&h, &c.to_chain_fields()).unwrap();
        self.store().put(bytes).unwrap();
    }

    fn node(
        &self,
        hotkey: &str,
        profile: &str,
        eval_delay: u64,
        worker: &Path,
    ) -> Validator<'_, Devnet> {
        let mechanism = MechanismConfig::builtin(profile).unwrap();
        let mut harness = Harness::new(mechanism, sandbox(worker), Calibration::IDENTITY);
        harness.workers = 2;
        let cfg = NodeConfig {
            hotkey: Hotkey::from(hotkey),
            harness,
            round: RoundConfig {
                size: SIZE,
                cases_per_modality: CASES,
                ..RoundConfig::default()
            },
            eval_delay,
            max_artifact_bytes: medmetric_core::limits::MAX_MODEL_BYTES,
            behaviour: Behaviour::Honest,
            submit_attempts: 2,
            build_threads: 2,
        };
        let state = State::open(&self.dir.path().join(format!("{hotkey}.sqlite"))).unwrap();
        Validator::new(&self.chain, cfg, self.store(), state)
    }

    /// Advances to the next epoch block (strictly after the head).
    fn next_epoch(&self) {
        let head = self.chain.block().unwrap().number.0;
        let next = medmetric_chain::epoch::next_epoch_block(head, TEMPO, 1).unwrap();
        self.chain.advance(next - head).unwrap();
    }
}

/// The ONNX Runtime library, or `None` (the test is skipped) when it is not
/// installed and the test command did not require it.
fn ort_library() -> Option<PathBuf> {
    let lib = medmetric_eval::ort::default_library_path();
    if lib.is_none() {
        assert!(
            std::env::var_os("MEDMETRIC_REQUIRE_ORT").is_none(),
            "MEDMETRIC_REQUIRE_ORT is set but ONNX Runtime is not installed"
        );
        eprintln!("ONNX Runtime not installed: skipped");
    }
    lib
}

fn book(node: &Validator<'_, Devnet>) -> ScoreBook {
    node.state().get("score_book").unwrap().unwrap_or_default()
}

fn honest_models() -> (Vec<u8>, Vec<u8>) {
    let f = Factory::new(Modality::Cxr, SIZE).unwrap();
    (
        f.make(Strategy::Honest, 42).unwrap(),
        f.make(Strategy::ClsOnly, 42).unwrap(),
    )
}

#[test]
fn eval_and_a_devnet_validator_give_the_identical_composite() {
    let net = Net::new(Hyperparameters::default());
    let (honest, _) = honest_models();
    net.publish("m-honest", &honest);
    net.chain.advance(12).unwrap();
    net.next_epoch();
    let mut node = net.node("v", "medmetric", 5, Path::new(BIN));
    let outcome = node.step(&|_| {}).unwrap().expect("a round");
    let record = outcome
        .evals
        .iter()
        .find(|e| e.hotkey == "m-honest")
        .unwrap()
        .clone();
    assert!(record.failure.is_none(), "{record:?}");
    assert!(record.accuracy > 0.0, "{record:?}");

    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("honest.onnx");
    std::fs::write(&model, &honest).unwrap();
    let hash = net.chain.block_hash(outcome.anchor).unwrap();
    let out = Command::new(BIN)
        .args(["eval", "--model"])
        .arg(&model)
        .args(["--block", &hex::encode(hash.0)])
        .args(["--number", &outcome.anchor.to_string()])
        .args(["--netuid", &net.chain.netuid().0.to_string()])
        .args(["--modality", "cxr", "--cases", &CASES.to_string()])
        .args(["--backend", "tract", "--no-calibrate", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["round"]["seed"], outcome.seed.as_str());
    // Accuracy and robustness are bit-identical; speed too, as both run the
    // model well inside the fast band.
    assert_eq!(v["accuracy"].as_f64().unwrap(), record.accuracy);
    assert_eq!(v["robustness"].as_f64().unwrap(), record.robustness);
    assert_eq!(v["speed"].as_f64().unwrap(), record.speed);
    assert_eq!(v["composite"].as_f64().unwrap(), record.composite);
    assert_eq!(v["model_sha256"], record.model_sha256.as_str());
}

#[test]
fn a_validator_without_its_runtime_changes_no_score_or_weight() {
    let net = Net::new(Hyperparameters::default());
    let threshold = reference::make(ReferenceKind::Threshold, SIZE);
    net.publish("m-a", &threshold);
    net.chain.advance(12).unwrap();
    net.next_epoch();
    // The worker through a link we can pull away mid-run, as an operator
    // deleting or upgrading the installation would.
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("medmetric");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let mut node = net.node("v", "seed", 5, &link);
    let first = node.step(&|_| {}).unwrap().expect("first round");
    let credited = first.evals[0].credited;
    assert!(credited > 0.0, "{:?}", first.evals);
    let book_before = book(&node);
    let weights_before = net.chain.weights().unwrap();
    let rounds_before = node.state().round_count().unwrap();

    std::fs::remove_file(&link).unwrap();
    net.next_epoch();
    let err = node.step(&|_| {}).unwrap_err();
    assert!(matches!(err, NodeError::ValidatorFault(_)), "{err}");
    assert_eq!(node.state().round_count().unwrap(), rounds_before);
    assert_eq!(book(&node), book_before);
    assert_eq!(net.chain.weights().unwrap(), weights_before);
    let metrics = node.metrics();
    assert_eq!(
        metrics
            .validator_faults
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(
        metrics
            .render()
            .contains("medmetric_validator_faults_total 1")
    );

    // Put the runtime back: the same round is evaluated, once.
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let again = node.step(&|_| {}).unwrap().expect("the retried round");
    assert_eq!(again.evals[0].credited, credited);
    assert_eq!(node.state().round_count().unwrap(), rounds_before + 1);
}

#[test]
fn a_validator_without_onnx_runtime_changes_no_score() {
    let Some(lib) = ort_library() else {
        return;
    };
    let net = Net::new(Hyperparameters::default());
    net.publish("m-a", &reference::make(ReferenceKind::Threshold, SIZE));
    net.chain.advance(12).unwrap();
    net.next_epoch();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("libonnxruntime.so");
    std::os::unix::fs::symlink(&lib, &link).unwrap();
    let mut node = net.node("v", "seed", 5, Path::new(BIN));
    node.config_mut().harness.sandbox.backend = Backend::Ort;
    node.config_mut().harness.sandbox.ort_library = Some(link.clone());
    node.step(&|_| {}).unwrap().expect("first round");
    let book_before = book(&node);
    let weights_before = net.chain.weights().unwrap();

    std::fs::remove_file(&link).unwrap();
    net.next_epoch();
    let err = node.step(&|_| {}).unwrap_err();
    assert!(matches!(err, NodeError::ValidatorFault(_)), "{err}");
    assert_eq!(book(&node), book_before);
    assert_eq!(net.chain.weights().unwrap(), weights_before);
    assert_eq!(node.state().round_count().unwrap(), 1);
}

#[test]
fn a_recommitting_miner_is_scored_on_its_previous_model_during_the_delay() {
    let net = Net::new(Hyperparameters::default());
    let first = reference::make(ReferenceKind::Threshold, SIZE);
    let second = reference::make(ReferenceKind::Null, SIZE);
    let delay = 15;
    net.publish("m-a", &first);
    net.chain.advance(delay + 2).unwrap();
    net.next_epoch();
    let mut node = net.node("v", "seed", delay, Path::new(BIN));
    let r1 = node.step(&|_| {}).unwrap().expect("round 1");
    let ema1 = r1.ema[&Hotkey::from("m-a")];
    assert!(ema1 > 0.0);

    // A new model, committed right after the anchor: not eligible next round.
    net.publish("m-a", &second);
    net.next_epoch();
    let r2 = node.step(&|_| {}).unwrap().expect("round 2");
    let rec = r2
        .evals
        .iter()
        .find(|e| e.hotkey == "m-a")
        .expect("the miner is still evaluated");
    assert_eq!(rec.model_sha256, ModelDigest::of(&first).to_string());
    assert!(rec.credited > 0.0, "{rec:?}");
    let alpha = MechanismConfig::builtin("seed").unwrap().ema.alpha;
    assert!(
        r2.ema[&Hotkey::from("m-a")] > (1.0 - alpha) * ema1,
        "the moving score decayed while the new model waited"
    );

    // Once the delay has passed, the new model is the one scored.
    net.chain.advance(delay).unwrap();
    net.next_epoch();
    let r3 = node.step(&|_| {}).unwrap().expect("round 3");
    let rec = r3.evals.iter().find(|e| e.hotkey == "m-a").unwrap();
    assert_eq!(rec.model_sha256, ModelDigest::of(&second).to_string());
    // Two models, three rounds: each model's initializers parsed once.
    assert_eq!(node.weight_parses(), 2);
}

#[test]
fn sn34_pays_each_miner_type_its_configured_share() {
    let net = Net::new(Hyperparameters::default());
    // Independent models (the red team's classifier-only model shares the
    // honest model's weights, and copy detection would pair them).
    let segmenter = reference::make(ReferenceKind::Threshold, SIZE);
    let (_, detector) = honest_models();
    net.publish("m-seg", &segmenter);
    net.publish("m-det", &detector);
    net.chain.advance(12).unwrap();
    net.next_epoch();
    let mut node = net.node("v", "sn34", 5, Path::new(BIN));
    let out = node.step(&|_| {}).unwrap().expect("a round");
    let ema = |h: &str| out.ema[&Hotkey::from(h)];
    assert!(
        ema("m-seg") > 0.0 && ema("m-det") > 0.0,
        "{:?} {:#?}",
        out.ema,
        out.evals
    );
    assert_ne!(ema("m-seg"), ema("m-det"));
    let mg = net.chain.metagraph().unwrap();
    let uid = |h: &str| mg.neuron(&Hotkey::from(h)).unwrap().uid.0;
    // Half the emission to each type (sn34.toml), whatever their scores.
    let (seg, det) = (out.weights.get(uid("m-seg")), out.weights.get(uid("m-det")));
    assert!(
        seg.abs_diff(det) <= 1,
        "segmenter {seg}, detector {det}: {out:?}"
    );
}

#[test]
fn commit_reveal_salts_are_secret_and_kept_until_the_reveal() {
    let net = Net::new(Hyperparameters {
        commit_reveal_enabled: true,
        reveal_period: 1,
        ..Hyperparameters::default()
    });
    net.validator_hotkey("w");
    net.publish("m-a", &reference::make(ReferenceKind::Threshold, SIZE));
    net.chain.advance(12).unwrap();
    net.next_epoch();
    let mut v = net.node("v", "seed", 5, Path::new(BIN));
    let mut w = net.node("w", "seed", 5, Path::new(BIN));
    let out_v = v.step(&|_| {}).unwrap().expect("round");
    let out_w = w.step(&|_| {}).unwrap().expect("round");
    assert!(out_v.submitted && out_w.submitted);
    assert_eq!(out_v.weights, out_w.weights);
    let pending = |n: &Validator<'_, Devnet>| -> PendingReveal {
        n.pending().unwrap().expect("the salt is stored")
    };
    let (pv, pw) = (pending(&v), pending(&w));
    // The salt the validator used to derive from the anchor alone.
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(out_v.anchor ^ 0x5a17);
    let guessable: Vec<u16> = (0..8).map(|_| rng.next_u32() as u16).collect();
    assert_ne!(pv.salt, guessable);
    assert_ne!(pv.salt, pw.salt, "two validators, same weights, same salt");
    assert_eq!(pv.weights, out_v.weights);

    // A restart keeps the salt, and the reveal goes through a period later.
    drop(v);
    let mut v = net.node("v", "seed", 5, Path::new(BIN));
    assert_eq!(pending(&v), pv);
    net.next_epoch();
    net.chain.advance(1).unwrap();
    let _ = v.step(&|_| {}).unwrap();
    assert!(
        v.pending().unwrap().is_none_or(|p| p.anchor != pv.anchor),
        "the reveal did not go through"
    );
    let uid_v = net
        .chain
        .metagraph()
        .unwrap()
        .neuron(&Hotkey::from("v"))
        .unwrap()
        .uid
        .0;
    assert!(
        net.chain
            .weights()
            .unwrap()
            .get(usize::from(uid_v))
            .is_some_and(|row| !row.is_empty()),
        "revealed weights are on chain"
    );
}

#[test]
fn two_validators_on_different_thread_counts_agree_bit_for_bit() {
    let Some(lib) = ort_library() else {
        return;
    };
    let net = Net::new(Hyperparameters::default());
    net.validator_hotkey("w");
    let (honest, _) = honest_models();
    net.publish("m-honest", &honest);
    net.publish(
        "m-threshold",
        &reference::make(ReferenceKind::Threshold, SIZE),
    );
    net.chain.advance(12).unwrap();
    net.next_epoch();
    let canonical = |node: &mut Validator<'_, Devnet>, parallel: usize| {
        let cfg = node.config_mut();
        cfg.harness.sandbox.backend = Backend::Ort;
        cfg.harness.sandbox.ort_library = Some(lib.clone());
        cfg.harness.workers = parallel;
        cfg.build_threads = parallel;
        assert!(medmetric_harness::runtime::is_canonical(
            &cfg.harness.sandbox
        ));
    };
    let mut v = net.node("v", "medmetric", 5, Path::new(BIN));
    let mut w = net.node("w", "medmetric", 5, Path::new(BIN));
    canonical(&mut v, 1);
    canonical(&mut w, 2);
    let a = v.step(&|_| {}).unwrap().expect("round");
    let b = w.step(&|_| {}).unwrap().expect("round");
    assert_eq!(a.seed, b.seed);
    assert_eq!(a.evals.len(), b.evals.len());
    for (x, y) in a.evals.iter().zip(&b.evals) {
        assert_eq!(x.hotkey, y.hotkey);
        assert_eq!(x.accuracy.to_bits(), y.accuracy.to_bits(), "{x:?} {y:?}");
        assert_eq!(x.robustness.to_bits(), y.robustness.to_bits());
        assert_eq!(x.speed.to_bits(), y.speed.to_bits());
        assert_eq!(x.composite.to_bits(), y.composite.to_bits());
    }
    assert!(a.evals.iter().any(|e| e.accuracy > 0.0), "{:?}", a.evals);
    assert_eq!(a.weights, b.weights);
}

/// A devnet round with a bait committed first, the honest original, its
/// functional copies and a load-time attack: the original earns the top
/// weight, every copy and the bait nothing, and the load-time model never
/// reaches a runtime.
#[test]
fn on_a_devnet_round_the_original_beats_its_bait_and_copies() {
    use medmetric_miners::Factory;
    let net = Net::new(Hyperparameters::default());
    let f = Factory::new(Modality::Cxr, SIZE).unwrap();
    let make = |s: Strategy| f.make(s, 42).unwrap();
    net.publish("m-bait", &make(Strategy::Bait));
    net.chain.advance(1).unwrap();
    net.publish("m-honest", &make(Strategy::Honest));
    net.chain.advance(1).unwrap();
    let copies = [
        Strategy::Copy,
        Strategy::CastCopy,
        Strategy::TemperatureCopy,
        Strategy::SparseCopy,
        Strategy::RetunedCopy,
    ];
    for s in copies {
        net.publish(&format!("m-{s}"), &make(s));
    }
    net.commit_raw("m-load-time", &make(Strategy::LoadTimeCompute));
    net.chain.advance(12).unwrap();
    net.next_epoch();
    let mut node = net.node("v", "medmetric", 5, Path::new(BIN));
    let out = node.step(&|_| {}).unwrap().expect("a round");
    let rec = |h: &str| out.evals.iter().find(|e| e.hotkey == h).unwrap().clone();
    let honest = rec("m-honest");
    assert!(honest.copy_of.is_none(), "{honest:?}");
    assert!(honest.credited > 0.0, "{honest:?}");
    for s in copies {
        let r = rec(&format!("m-{s}"));
        assert_eq!(r.credited, 0.0, "{r:?}");
        assert_eq!(r.copy_of, Some(Hotkey::from("m-honest")), "{r:?}");
    }
    assert_eq!(rec("m-bait").credited, 0.0);
    let lt = rec("m-load-time");
    assert!(
        lt.failure
            .as_ref()
            .is_some_and(|f| f.detail.contains("at load")),
        "{lt:?}"
    );
    let mg = net.chain.metagraph().unwrap();
    let uid = |h: &str| mg.neuron(&Hotkey::from(h)).unwrap().uid.0;
    let top = out.weights.get(uid("m-honest"));
    assert_eq!(top, u16::MAX, "{:?}", out.weights);
    for h in out.evals.iter().map(|e| e.hotkey.as_str()) {
        if h != "m-honest" {
            assert_eq!(out.weights.get(uid(h)), 0, "{h}: {:?}", out.weights);
        }
    }
}
