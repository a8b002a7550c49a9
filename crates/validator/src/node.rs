//! The validator's per-tempo loop (SPEC §1).
//!
//! [`Validator::step`] does one tempo's work and is safe to call at any
//! time: it finds the latest epoch block (the round's anchor), and if that
//! round is not yet recorded it syncs the metagraph and commitments,
//! fetches and verifies artifacts, gates them, builds the round, evaluates
//! every eligible model in sandboxed workers (in parallel, within the
//! cores), scores, detects copies, updates the score book, turns it into
//! weights exactly like the Bittensor SDK, records everything in one SQLite
//! transaction, and submits the weights with retries. A crash anywhere
//! before the transaction means the round is redone from scratch; after it,
//! only the submission is retried. No round is counted twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use medmetric_bench::RoundConfig;
use medmetric_bench::round::{Anchor, build};
use medmetric_chain::{Chain, ChainError, Metagraph, weights_commit_hash};
use medmetric_core::{Hotkey, ModelDigest};
use medmetric_eval::sandbox::SandboxConfig;
use medmetric_imaging::Modality;
use medmetric_imaging::pool::Pool;
use medmetric_model::gate::{self, GateLimits, GateReport};
use medmetric_scoring::mechanism::copies::{self, CopyEntry, CopyLedger};
use medmetric_scoring::mechanism::{self, MechanismConfig, ScoreBook, apply_incumbency, reward};
use medmetric_scoring::weights::{WeightParams, weights_for_emit_with};
use medmetric_store::LocalStore;
use medmetric_store::commitment::Commitment;
use rand_core::{Rng, SeedableRng};

use crate::calibration::Calibration;
use crate::evaluate::{self, Evaluation};
use crate::metrics::Metrics;
use crate::state::{EvalRecord, State, StateError};

/// How the validator sets weights. Everything but `Honest` exists to show
/// (in the demo and tests) what Yuma Consensus does to validators that do
/// not evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Evaluate every model and weight by the score book.
    Honest,
    /// Skip evaluation and set seeded random weights.
    RandomWeights {
        /// Seed of the random weights.
        seed: u64,
    },
}

/// What a validator needs to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The validator's hotkey.
    pub hotkey: Hotkey,
    /// The mechanism.
    pub mechanism: MechanismConfig,
    /// Round settings (size, cases per modality, …); modalities are the
    /// ones eligible models were committed for.
    pub round: RoundConfig,
    /// Blocks a commitment must precede the round's anchor (SPEC §3).
    pub eval_delay: u64,
    /// How models are run.
    pub sandbox: SandboxConfig,
    /// Latency calibration of this machine.
    pub calibration: Calibration,
    /// Models evaluated at once.
    pub workers: usize,
    /// Largest artifact accepted, bytes.
    pub max_artifact_bytes: u64,
    /// Honest or not.
    pub behaviour: Behaviour,
    /// Attempts to submit weights before giving up for this step.
    pub submit_attempts: u32,
    /// Threads used to build the round.
    pub build_threads: usize,
}

/// Errors that stop a step (the chain or the validator's own state);
/// anything a miner causes is a per-model result instead.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The chain failed.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// The state database failed.
    #[error("{0}")]
    State(#[from] StateError),
    /// The round could not be built.
    #[error("round: {0}")]
    Round(String),
    /// Weights could not be computed.
    #[error("weights: {0}")]
    Weights(String),
}

/// What one step did.
#[derive(Debug, Clone)]
pub struct RoundOutcome {
    /// Anchor block.
    pub anchor: u64,
    /// Round seed (hex).
    pub seed: String,
    /// Per-model results.
    pub evals: Vec<EvalRecord>,
    /// Score book after the round: hotkey → EMA.
    pub ema: BTreeMap<String, f64>,
    /// The weights set: uids and u16 values.
    pub weights: (Vec<u16>, Vec<u16>),
    /// Whether the chain accepted them (or the commit, under
    /// commit-reveal).
    pub submitted: bool,
    /// Seconds spent evaluating.
    pub eval_seconds: f64,
}

/// The latest epoch block at or before `head`: the devnet (like subtensor)
/// runs the epoch where `(block + netuid + 1) % (tempo + 1) == 0`.
pub fn last_epoch_block(head: u64, tempo: u16, netuid: u16) -> Option<u64> {
    if tempo == 0 {
        return None;
    }
    let period = u64::from(tempo) + 1;
    let offset = (head + u64::from(netuid) + 1) % period;
    head.checked_sub(offset).filter(|&b| b > 0)
}

/// A model that made it through fetch, verification and the gate.
struct Candidate {
    hotkey: String,
    uid: u16,
    commit_block: u64,
    modality: Modality,
    bytes: Vec<u8>,
    report: GateReport,
    sha256: String,
}

/// A validator bound to a chain, an artifact store and its state.
pub struct Validator<'a, C: Chain> {
    chain: &'a C,
    cfg: NodeConfig,
    store: LocalStore,
    state: State,
    metrics: std::sync::Arc<Metrics>,
}

const BOOK_KEY: &str = "score_book";
const LEDGER_KEY: &str = "copy_ledger";
const REVEAL_KEY: &str = "pending_reveal";

#[derive(serde::Serialize, serde::Deserialize)]
struct PendingReveal {
    anchor: u64,
    uids: Vec<u16>,
    values: Vec<u16>,
    salt: Vec<u16>,
    version_key: u64,
}

fn log(event: &str, fields: serde_json::Value) {
    let mut obj = serde_json::json!({
        "ts": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        "event": event,
    });
    if let (Some(o), serde_json::Value::Object(f)) = (obj.as_object_mut(), fields) {
        o.extend(f);
    }
    if std::env::var_os("MEDMETRIC_QUIET").is_none() {
        eprintln!("{obj}");
    }
}

impl<'a, C: Chain> Validator<'a, C> {
    /// A validator on `chain` reading artifacts from `store`, keeping its
    /// state in `state`.
    pub fn new(chain: &'a C, cfg: NodeConfig, store: LocalStore, state: State) -> Self {
        Validator {
            chain,
            cfg,
            store,
            state,
            metrics: std::sync::Arc::new(Metrics::default()),
        }
    }

    /// Counters for the Prometheus endpoint.
    pub fn metrics(&self) -> std::sync::Arc<Metrics> {
        self.metrics.clone()
    }

    /// The validator's state database.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// Does this tempo's work if it is not done yet. Returns the round's
    /// outcome when a round was evaluated in this call.
    pub fn step(
        &mut self,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Option<RoundOutcome>, NodeError> {
        let hp = self.chain.hyperparameters()?;
        let head = self.chain.block()?;
        self.metrics
            .head_block
            .store(head.number.0 as usize, Ordering::Relaxed);
        self.try_reveal(&hp)?;
        let netuid = self.chain.netuid();
        let Some(anchor) = last_epoch_block(head.number.0, hp.tempo, netuid.0) else {
            return Ok(None);
        };
        if self.state.has_round(anchor)? {
            if let Some(rec) = self.state.latest_round()?
                && rec.anchor == anchor
                && !rec.submitted
            {
                let ok = self.submit(&hp, anchor, &rec.weights)?;
                if ok {
                    self.state.mark_submitted(anchor)?;
                }
            }
            return Ok(None);
        }
        let started = Instant::now();
        let block_hash = self.chain.block_hash(anchor)?;
        let round_anchor = Anchor {
            netuid: netuid.0,
            block_number: anchor,
            block_hash: block_hash.0,
        };
        let seed = round_anchor.seed().to_hex();
        log(
            "round.start",
            serde_json::json!({"anchor": anchor, "seed": seed, "validator": self.cfg.hotkey.0}),
        );
        let mg = self.chain.metagraph()?;
        let registered: Vec<String> = mg.neurons.iter().map(|n| n.hotkey.0.clone()).collect();
        let mut book: ScoreBook = self.state.get(BOOK_KEY)?.unwrap_or_default();
        let mut ledger: CopyLedger = self.state.get(LEDGER_KEY)?.unwrap_or_default();

        let mut evals = Vec::new();
        let mut commit_blocks = BTreeMap::new();
        let weights = match self.cfg.behaviour {
            Behaviour::RandomWeights { seed } => random_weights(&mg, seed ^ anchor),
            Behaviour::Honest => {
                let candidates = self.candidates(&mg, anchor, &mut evals, &mut commit_blocks)?;
                let results = self.evaluate_all(
                    &round_anchor,
                    candidates,
                    &mut ledger,
                    &mut evals,
                    progress,
                )?;
                book.update(&self.cfg.mechanism, anchor, &results, &registered);
                ledger.retain_registered(&registered);
                self.weights_from_book(&hp, &mg, &book, &commit_blocks, anchor)?
            }
        };
        let eval_seconds = started.elapsed().as_secs_f64();
        let meta = vec![
            (
                BOOK_KEY,
                serde_json::to_string(&book).map_err(StateError::from)?,
            ),
            (
                LEDGER_KEY,
                serde_json::to_string(&ledger).map_err(StateError::from)?,
            ),
        ];
        let fresh = self.state.record_round(
            anchor,
            &seed,
            &self.cfg.mechanism.hash(),
            &evals,
            &meta,
            &weights,
        )?;
        if !fresh {
            return Ok(None);
        }
        self.metrics.rounds.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .last_anchor
            .store(anchor as usize, Ordering::Relaxed);
        let submitted = self.submit(&hp, anchor, &weights)?;
        if submitted {
            self.state.mark_submitted(anchor)?;
        }
        log(
            "round.done",
            serde_json::json!({"anchor": anchor, "models": evals.len(), "seconds": eval_seconds, "submitted": submitted}),
        );
        Ok(Some(RoundOutcome {
            anchor,
            seed,
            evals,
            ema: book.scores().into_iter().collect(),
            weights,
            submitted,
            eval_seconds,
        }))
    }

    /// Parses commitments and fetches, verifies and gates the artifacts of
    /// eligible registered miners; everything refused is recorded.
    fn candidates(
        &self,
        mg: &Metagraph,
        anchor: u64,
        evals: &mut Vec<EvalRecord>,
        commit_blocks: &mut BTreeMap<String, u64>,
    ) -> Result<Vec<Candidate>, NodeError> {
        let mut out = Vec::new();
        for c in self.chain.commitments()? {
            let Some(neuron) = mg.neuron(&c.hotkey) else {
                continue;
            };
            let hotkey = c.hotkey.0.clone();
            let uid = neuron.uid.0;
            let fail = |evals: &mut Vec<EvalRecord>, modality: &str, sha: &str, why: String| {
                log(
                    "model.skipped",
                    serde_json::json!({"hotkey": hotkey, "reason": why}),
                );
                evals.push(EvalRecord::failed(&hotkey, uid, modality, sha, why));
            };
            let parsed = match Commitment::try_from(&c) {
                Ok(p) => p,
                Err(e) => {
                    fail(evals, "", "", format!("commitment ({}): {e}", e.kind()));
                    continue;
                }
            };
            commit_blocks.insert(hotkey.clone(), c.block.0);
            if c.block.0.saturating_add(self.cfg.eval_delay) > anchor {
                // Not eligible yet: no result, the score book is untouched.
                continue;
            }
            let modality: Modality = match parsed.modality().parse() {
                Ok(m) => m,
                Err(_) => {
                    fail(
                        evals,
                        parsed.modality(),
                        "",
                        "commitment: unknown modality".into(),
                    );
                    continue;
                }
            };
            let bytes = match self
                .store
                .get_by_cid(parsed.cid(), self.cfg.max_artifact_bytes)
            {
                Ok(b) => b,
                Err(e) => {
                    self.metrics.fetch_failures.fetch_add(1, Ordering::Relaxed);
                    fail(evals, modality.name(), "", format!("artifact: {e}"));
                    continue;
                }
            };
            let digest = ModelDigest::of(&bytes);
            let sha = digest.to_string();
            if !parsed.verify_binding(&digest, &c.hotkey) {
                fail(
                    evals,
                    modality.name(),
                    &sha,
                    "artifact: its SHA-256 does not match the commitment's binding for this hotkey"
                        .into(),
                );
                continue;
            }
            if let Some((status, reason)) = self.state.artifact(&sha)?
                && status == "rejected"
            {
                fail(
                    evals,
                    modality.name(),
                    &sha,
                    reason.unwrap_or_else(|| "gate: rejected".into()),
                );
                continue;
            }
            let limits = GateLimits {
                max_bytes: self
                    .cfg
                    .max_artifact_bytes
                    .min(GateLimits::default().max_bytes),
                ..GateLimits::default()
            };
            let report = match gate::check_bytes(&bytes, &limits) {
                Ok(r) => r,
                Err(e) => {
                    let why = format!("gate: {e}");
                    self.state.mark_artifact(&sha, "rejected", Some(&why))?;
                    fail(evals, modality.name(), &sha, why);
                    continue;
                }
            };
            if report.size() != self.cfg.round.size {
                fail(
                    evals,
                    modality.name(),
                    &sha,
                    format!(
                        "model input is {0}x{0}; this subnet's rounds are {1}x{1}",
                        report.size(),
                        self.cfg.round.size
                    ),
                );
                continue;
            }
            self.state.mark_artifact(&sha, "ok", None)?;
            out.push(Candidate {
                hotkey,
                uid,
                commit_block: c.block.0,
                modality,
                bytes,
                report,
                sha256: sha,
            });
        }
        Ok(out)
    }

    /// Builds the round, evaluates every candidate, scores and detects
    /// copies. Returns hotkey → credited composite (0 for failures and
    /// copies) for the score book, and appends the records.
    fn evaluate_all(
        &self,
        anchor: &Anchor,
        candidates: Vec<Candidate>,
        ledger: &mut CopyLedger,
        evals: &mut Vec<EvalRecord>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<BTreeMap<String, f64>, NodeError> {
        let mut results: BTreeMap<String, f64> = evals
            .iter()
            .filter(|e| e.failure.is_some() && !e.model_sha256.is_empty())
            .map(|e| (e.hotkey.clone(), 0.0))
            .collect();
        if candidates.is_empty() {
            return Ok(results);
        }
        let modalities: BTreeSet<Modality> = candidates.iter().map(|c| c.modality).collect();
        let mut config = self.cfg.round.clone();
        config.modalities = modalities.into_iter().collect();
        let pools: Vec<medmetric_bench::pools::PhantomPool> = config
            .modalities
            .iter()
            .map(|&m| medmetric_bench::pools::PhantomPool::fresh(m, anchor.seed().0))
            .collect();
        let refs: Vec<&dyn Pool> = pools.iter().map(|p| p as &dyn Pool).collect();
        progress("building round");
        let round = build(
            anchor,
            &refs,
            &config,
            self.cfg.build_threads.max(1),
            &|| {},
        )
        .map_err(|e| NodeError::Round(e.to_string()))?;

        // Parallel evaluation: each worker thread drives one sandboxed
        // worker process at a time.
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Evaluation>>> =
            candidates.iter().map(|_| Mutex::new(None)).collect();
        let workers = self.cfg.workers.clamp(1, candidates.len());
        let sandbox = &self.cfg.sandbox;
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(c) = candidates.get(i) else { break };
                        progress(&format!("evaluating {}", c.hotkey));
                        let e = evaluate::evaluate(
                            &round,
                            &c.bytes,
                            &c.report,
                            sandbox,
                            &[c.modality],
                            &|| {},
                        );
                        if let Ok(mut slot) = slots[i].lock() {
                            *slot = Some(e);
                        }
                    }
                });
            }
        });
        let evaluations: Vec<Evaluation> = slots
            .into_iter()
            .map(|m| m.into_inner().ok().flatten())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| NodeError::Round("an evaluation thread died".into()))?;

        let mut entries = Vec::new();
        let mut records = Vec::new();
        for (c, e) in candidates.iter().zip(&evaluations) {
            let calibrated = e.latency_mean_ms().map(|m| self.cfg.calibration.apply(m));
            let score = match &e.failure {
                Some(f) => mechanism::RoundScore::failed(f.to_string()),
                None => mechanism::score(
                    &self.cfg.mechanism,
                    &e.images,
                    &e.null,
                    &e.probes,
                    calibrated,
                ),
            };
            if e.failure.is_none() {
                let weights = medmetric_model::initializers::float_initializers(&c.bytes)
                    .ok()
                    .map(|w| copies::reduce_weights(&w, 16_384));
                entries.push(CopyEntry {
                    hotkey: c.hotkey.clone(),
                    commit_block: c.commit_block,
                    outputs: e.fingerprint.clone(),
                    weights,
                });
            }
            self.metrics.evaluations.fetch_add(1, Ordering::Relaxed);
            if e.failure.is_some() {
                self.metrics.eval_failures.fetch_add(1, Ordering::Relaxed);
            }
            records.push(EvalRecord {
                hotkey: c.hotkey.clone(),
                uid: c.uid,
                model_sha256: c.sha256.clone(),
                modality: c.modality.name().to_string(),
                accuracy: score.accuracy,
                speed: score.speed,
                robustness: score.robustness,
                composite: score.composite,
                credited: score.composite,
                latency_ms: calibrated,
                failure: e.failure.as_ref().map(|f| f.to_string()),
                copy_of: None,
            });
        }
        let verdicts = ledger.detect(&self.cfg.mechanism, anchor.block_number, &entries);
        for r in &mut records {
            if let Some(v) = verdicts.get(&r.hotkey) {
                r.copy_of = Some(v.original.clone());
                r.credited = 0.0;
            }
            if r.failure.is_some() {
                r.credited = 0.0;
            }
            results.insert(r.hotkey.clone(), r.credited);
            log(
                "model.scored",
                serde_json::json!({"hotkey": r.hotkey, "composite": r.composite, "credited": r.credited,
                    "failure": r.failure, "copy_of": r.copy_of}),
            );
        }
        evals.extend(records);
        Ok(results)
    }

    /// Score book → incumbency → reward curve → SDK weights.
    fn weights_from_book(
        &self,
        hp: &medmetric_chain::Hyperparameters,
        mg: &Metagraph,
        book: &ScoreBook,
        commit_blocks: &BTreeMap<String, u64>,
        anchor: u64,
    ) -> Result<(Vec<u16>, Vec<u16>), NodeError> {
        let with_blocks: Vec<(String, u64, f64)> = book
            .scores()
            .into_iter()
            .map(|(h, s)| {
                let b = commit_blocks.get(&h).copied().unwrap_or(anchor);
                (h, b, s)
            })
            .collect();
        let effective = apply_incumbency(&self.cfg.mechanism, &with_blocks, anchor);
        let shares: BTreeMap<String, f64> = reward::apply(&self.cfg.mechanism, &effective)
            .into_iter()
            .collect();
        let uids: Vec<u16> = mg.neurons.iter().map(|n| n.uid.0).collect();
        let scores: Vec<f32> = mg
            .neurons
            .iter()
            .map(|n| shares.get(&n.hotkey.0).copied().unwrap_or(0.0) as f32)
            .collect();
        let params = WeightParams {
            max_weight_limit: f64::from(hp.max_weight_limit.max(1)) / 65535.0,
            min_allowed_weights: usize::from(hp.min_allowed_weights),
            ..WeightParams::default()
        };
        weights_for_emit_with(&uids, &scores, &params)
            .map_err(|e| NodeError::Weights(e.to_string()))
    }

    /// Sends weights (or commits them under commit-reveal), retrying
    /// transient failures with backoff. `Ok(false)` when the chain refused.
    fn submit(
        &self,
        hp: &medmetric_chain::Hyperparameters,
        anchor: u64,
        weights: &(Vec<u16>, Vec<u16>),
    ) -> Result<bool, NodeError> {
        let (uids, values) = weights;
        if uids.is_empty() {
            return Ok(false);
        }
        let version_key = hp.weights_version_key;
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=self.cfg.submit_attempts.max(1) {
            let result = if hp.commit_reveal_enabled {
                let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(anchor ^ 0x5a17);
                let salt: Vec<u16> = (0..8).map(|_| rng.next_u32() as u16).collect();
                let hash = weights_commit_hash(
                    &self.cfg.hotkey,
                    self.chain.netuid(),
                    uids,
                    values,
                    &salt,
                    version_key,
                );
                self.chain.commit_weights(&self.cfg.hotkey, hash).map(|_| {
                    let pending = PendingReveal {
                        anchor,
                        uids: uids.clone(),
                        values: values.clone(),
                        salt,
                        version_key,
                    };
                    let _ = self.state.put(REVEAL_KEY, &pending);
                })
            } else {
                self.chain
                    .set_weights(&self.cfg.hotkey, uids, values, version_key)
                    .map(|_| ())
            };
            match result {
                Ok(()) => {
                    self.metrics.weights_set.fetch_add(1, Ordering::Relaxed);
                    log(
                        "weights.set",
                        serde_json::json!({"anchor": anchor, "uids": uids.len(), "commit_reveal": hp.commit_reveal_enabled}),
                    );
                    return Ok(true);
                }
                Err(ChainError::Rejected(r)) => {
                    self.metrics.weight_failures.fetch_add(1, Ordering::Relaxed);
                    log(
                        "weights.rejected",
                        serde_json::json!({"anchor": anchor, "reason": r.to_string()}),
                    );
                    return Ok(false);
                }
                Err(e) => {
                    self.metrics.weight_failures.fetch_add(1, Ordering::Relaxed);
                    log(
                        "weights.retry",
                        serde_json::json!({"anchor": anchor, "attempt": attempt, "error": e.to_string()}),
                    );
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
        Ok(false)
    }

    /// Reveals committed weights once the chain accepts the reveal.
    fn try_reveal(&self, hp: &medmetric_chain::Hyperparameters) -> Result<(), NodeError> {
        if !hp.commit_reveal_enabled {
            return Ok(());
        }
        let Some(p) = self.state.get::<PendingReveal>(REVEAL_KEY)? else {
            return Ok(());
        };
        match self.chain.reveal_weights(
            &self.cfg.hotkey,
            &p.uids,
            &p.values,
            &p.salt,
            p.version_key,
        ) {
            Ok(_) => {
                self.state.put(REVEAL_KEY, &serde_json::Value::Null)?;
                log("weights.revealed", serde_json::json!({"anchor": p.anchor}));
                Ok(())
            }
            Err(ChainError::Rejected(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Seeded random weights over every uid (the dishonest behaviour).
fn random_weights(mg: &Metagraph, seed: u64) -> (Vec<u16>, Vec<u16>) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let uids: Vec<u16> = mg.neurons.iter().map(|n| n.uid.0).collect();
    let mut values: Vec<u16> = uids.iter().map(|_| (rng.next_u32() >> 16) as u16).collect();
    if let Some(max) = values.iter().copied().max()
        && max > 0
    {
        values = values
            .iter()
            .map(|&v| ((u32::from(v) * 65535 + u32::from(max) / 2) / u32::from(max)) as u16)
            .collect();
    }
    let (uids, values): (Vec<u16>, Vec<u16>) =
        uids.into_iter().zip(values).filter(|(_, v)| *v > 0).unzip();
    (uids, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_blocks_follow_the_devnet_rule() {
        // tempo 9, netuid 1: epochs where (b + 2) % 10 == 0 → 8, 18, 28…
        assert_eq!(last_epoch_block(7, 9, 1), None);
        assert_eq!(last_epoch_block(8, 9, 1), Some(8));
        assert_eq!(last_epoch_block(17, 9, 1), Some(8));
        assert_eq!(last_epoch_block(18, 9, 1), Some(18));
        assert_eq!(last_epoch_block(5, 0, 1), None);
    }
}
