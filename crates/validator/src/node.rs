//! The validator's per-tempo loop (docs/design.md#1-roles-and-the-round).
//!
//! [`Validator::step`] does one tempo's work and is safe to call at any
//! time: it finds the latest epoch block (the round's anchor), and if that
//! round is not yet recorded it syncs the metagraph and commitments,
//! fetches and verifies artifacts, gates them, and hands them to the
//! evaluation harness ([`medmetric_harness`]): the round from the anchor,
//! sandboxed evaluation, scoring and copy detection. Then it updates the
//! score book, turns it into weights exactly like the Bittensor SDK,
//! records everything in one SQLite transaction, and submits the weights
//! with retries. A crash anywhere before the transaction means the round is
//! redone from scratch; after it, only the submission is retried. No round
//! is counted twice, and a failure that is the validator's own (its runtime
//! library, its worker) records nothing: the round is tried again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use medmetric_bench::RoundConfig;
use medmetric_bench::round::Anchor;
use medmetric_chain::epoch::last_epoch_block;
use medmetric_chain::validity::{ChainWeightParams, check_set_weights};
use medmetric_chain::{Chain, ChainError, Metagraph, weights_commit_hash};
use medmetric_core::{Hotkey, Modality, Weights};
use medmetric_harness::{Entrant, GatedModel, Harness, HarnessError, WeightCache, plan};
use medmetric_model::gate::GateLimits;
use medmetric_scoring::mechanism::copies::CopyLedger;
use medmetric_scoring::mechanism::{MinerType, ScoreBook, apply_incumbency, reward};
use medmetric_scoring::weights::{WeightParams, weights_for_emit_with};
use medmetric_store::LocalStore;
use medmetric_store::commitment::Commitment;
use rand_core::{Rng, SeedableRng};

use crate::metrics::Metrics;
use crate::state::{EvalRecord, FailureStage, State, StateError};

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
    /// The evaluation path: mechanism, sandbox, calibration, parallelism.
    pub harness: Harness,
    /// Round settings (size, cases per modality, …); modalities are the
    /// ones eligible models were committed for.
    pub round: RoundConfig,
    /// Blocks a commitment must precede the round's anchor
    /// (docs/design.md#3-commitments-and-eligibility).
    pub eval_delay: u64,
    /// Largest artifact accepted, bytes.
    pub max_artifact_bytes: u64,
    /// Honest or not.
    pub behaviour: Behaviour,
    /// Attempts to submit weights before giving up for this step.
    pub submit_attempts: u32,
    /// Threads used to build the round.
    pub build_threads: usize,
}

/// Errors that stop a step (the chain, the validator's own state or
/// setup); anything a miner causes is a per-model result instead.
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
    /// The validator could not evaluate (runtime library, worker,
    /// sandbox): the round is not recorded and is tried again.
    #[error("{0}")]
    ValidatorFault(String),
    /// Weights could not be computed.
    #[error("weights: {0}")]
    Weights(String),
}

impl From<HarnessError> for NodeError {
    fn from(e: HarnessError) -> Self {
        match e {
            HarnessError::Round(r) => NodeError::Round(r),
            other => NodeError::ValidatorFault(other.to_string()),
        }
    }
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
    pub ema: BTreeMap<Hotkey, f64>,
    /// The weights set.
    pub weights: Weights,
    /// Whether the chain accepted them (or the commit, under
    /// commit-reveal).
    pub submitted: bool,
    /// Seconds spent evaluating.
    pub eval_seconds: f64,
}

/// A model that made it through fetch, verification and the gate.
struct Candidate {
    hotkey: Hotkey,
    uid: u16,
    commit_block: u64,
    modality: Modality,
    model: GatedModel,
}

/// A validator bound to a chain, an artifact store and its state.
pub struct Validator<'a, C: Chain> {
    chain: &'a C,
    cfg: NodeConfig,
    store: LocalStore,
    state: State,
    metrics: std::sync::Arc<Metrics>,
    weight_cache: WeightCache,
}

const BOOK_KEY: &str = "score_book";
const LEDGER_KEY: &str = "copy_ledger";
const REVEAL_KEY: &str = "pending_reveal";
/// Each hotkey's latest commitment that was eligible, evaluated while a
/// newer one waits out the evaluation delay.
const ELIGIBLE_KEY: &str = "eligible_commitments";
/// Each hotkey's model type (segmenter or detector), for per-type shares.
const TYPES_KEY: &str = "miner_types";

/// Weights committed under commit-reveal and not yet revealed. Stored
/// before the commit is sent, so a crash never loses the salt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingReveal {
    /// Round the weights belong to.
    pub anchor: u64,
    /// The weights.
    pub weights: Weights,
    /// The secret salt, from the operating system's random generator.
    pub salt: Vec<u16>,
    /// Weights version key.
    pub version_key: u64,
}

/// The pending reveal as stored: the current shape, or the one older
/// validators wrote (weights as two top-level vectors).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum StoredReveal {
    Current(PendingReveal),
    Legacy {
        anchor: u64,
        uids: Vec<u16>,
        values: Vec<u16>,
        salt: Vec<u16>,
        version_key: u64,
    },
}

impl From<StoredReveal> for PendingReveal {
    fn from(s: StoredReveal) -> PendingReveal {
        match s {
            StoredReveal::Current(p) => p,
            StoredReveal::Legacy {
                anchor,
                uids,
                values,
                salt,
                version_key,
            } => PendingReveal {
                anchor,
                weights: Weights { uids, values },
                salt,
                version_key,
            },
        }
    }
}

/// Salt words in a weight commit.
const SALT_WORDS: usize = 8;

/// A fresh secret salt: nobody can recompute it, so the committed hash
/// reveals nothing about the weights before the reveal.
fn fresh_salt() -> Result<Vec<u16>, NodeError> {
    let mut bytes = [0u8; SALT_WORDS * 2];
    getrandom::fill(&mut bytes).map_err(|e| {
        NodeError::ValidatorFault(format!("the operating system gave no randomness: {e}"))
    })?;
    Ok(bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect())
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
            weight_cache: WeightCache::new(),
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

    /// The configuration, to change between steps (e.g. the sandbox).
    pub fn config_mut(&mut self) -> &mut NodeConfig {
        &mut self.cfg
    }

    /// Models whose initializers were parsed for copy detection so far.
    pub fn weight_parses(&self) -> usize {
        self.weight_cache.parses()
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
            netuid: medmetric_core::NetUid(netuid.0),
            block_number: medmetric_core::Block(anchor),
            block_hash: block_hash.0,
        };
        let seed = round_anchor.seed().to_hex();
        tracing::info!(event = "round.start", anchor, seed = %seed, validator = %self.cfg.hotkey);
        let mg = self.chain.metagraph()?;
        let registered: Vec<Hotkey> = mg.neurons.iter().map(|n| n.hotkey.clone()).collect();
        let mut book: ScoreBook = self.state.get(BOOK_KEY)?.unwrap_or_default();
        let mut ledger: CopyLedger = self.state.get(LEDGER_KEY)?.unwrap_or_default();
        let mut eligible: BTreeMap<Hotkey, medmetric_chain::Commitment> =
            self.state.get(ELIGIBLE_KEY)?.unwrap_or_default();
        let mut types: BTreeMap<Hotkey, MinerType> = self.state.get(TYPES_KEY)?.unwrap_or_default();

        let mut evals = Vec::new();
        let mut commit_blocks = BTreeMap::new();
        let weights = match self.cfg.behaviour {
            Behaviour::RandomWeights { seed } => random_weights(&mg, seed ^ anchor),
            Behaviour::Honest => {
                let candidates =
                    self.candidates(&mg, anchor, &mut eligible, &mut evals, &mut commit_blocks)?;
                for c in &candidates {
                    types.insert(c.hotkey.clone(), miner_type(&c.model));
                }
                let results = match self.evaluate_all(
                    &round_anchor,
                    &candidates,
                    &mut ledger,
                    &mut evals,
                    progress,
                ) {
                    Ok(r) => r,
                    Err(e @ NodeError::ValidatorFault(_)) => {
                        self.metrics
                            .validator_faults
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::error!(event = "round.validator_fault", anchor, error = %e,
                            "nothing recorded; the round is tried again");
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                };
                book.update(&self.cfg.harness.mechanism, anchor, &results, &registered);
                ledger.retain_registered(&registered);
                eligible.retain(|h, _| registered.contains(h));
                types.retain(|h, _| registered.contains(h));
                self.weights_from_book(&hp, &mg, &book, &commit_blocks, &types, anchor)?
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
            (
                ELIGIBLE_KEY,
                serde_json::to_string(&eligible).map_err(StateError::from)?,
            ),
            (
                TYPES_KEY,
                serde_json::to_string(&types).map_err(StateError::from)?,
            ),
        ];
        let fresh = self.state.record_round(
            anchor,
            &seed,
            &self.cfg.harness.mechanism.hash(),
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
        tracing::info!(
            event = "round.done",
            anchor,
            models = evals.len(),
            seconds = eval_seconds,
            submitted
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

    /// The commitment to evaluate for each registered hotkey: its current
    /// one once eligible, else the last one that was (so re-committing
    /// does not cost a miner its standing while the new model waits out
    /// the delay). `eligible` remembers them across rounds.
    fn commitments_to_evaluate(
        &self,
        mg: &Metagraph,
        anchor: u64,
        eligible: &mut BTreeMap<Hotkey, medmetric_chain::Commitment>,
    ) -> Result<Vec<medmetric_chain::Commitment>, NodeError> {
        let mut out = Vec::new();
        for c in self.chain.commitments()? {
            if mg.neuron(&c.hotkey).is_none() {
                continue;
            }
            if c.block.0.saturating_add(self.cfg.eval_delay) <= anchor {
                eligible.insert(c.hotkey.clone(), c.clone());
                out.push(c);
            } else if let Some(previous) = eligible.get(&c.hotkey) {
                out.push(previous.clone());
            }
        }
        Ok(out)
    }

    /// Parses commitments and fetches, verifies and gates the artifacts of
    /// eligible registered miners; everything refused is recorded.
    fn candidates(
        &self,
        mg: &Metagraph,
        anchor: u64,
        eligible: &mut BTreeMap<Hotkey, medmetric_chain::Commitment>,
        evals: &mut Vec<EvalRecord>,
        commit_blocks: &mut BTreeMap<Hotkey, u64>,
    ) -> Result<Vec<Candidate>, NodeError> {
        let mut out = Vec::new();
        for c in self.commitments_to_evaluate(mg, anchor, eligible)? {
            let Some(neuron) = mg.neuron(&c.hotkey) else {
                continue;
            };
            let hotkey = c.hotkey.clone();
            let uid = neuron.uid.0;
            let fail = |evals: &mut Vec<EvalRecord>,
                        modality: Option<Modality>,
                        sha: &str,
                        stage: FailureStage,
                        why: String| {
                tracing::info!(event = "model.skipped", hotkey = %hotkey, stage = ?stage, reason = %why);
                evals.push(EvalRecord::refused(&hotkey, uid, modality, sha, stage, why));
            };
            let parsed = match Commitment::try_from(&c) {
                Ok(p) => p,
                Err(e) => {
                    fail(
                        evals,
                        None,
                        "",
                        FailureStage::Commitment,
                        format!("commitment ({}): {e}", e.kind()),
                    );
                    continue;
                }
            };
            commit_blocks.insert(hotkey.clone(), c.block.0);
            let modality: Modality = match parsed.modality().parse() {
                Ok(m) => m,
                Err(e) => {
                    fail(
                        evals,
                        None,
                        "",
                        FailureStage::Commitment,
                        format!("commitment: {e}"),
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
                    fail(
                        evals,
                        Some(modality),
                        "",
                        FailureStage::Artifact,
                        format!("artifact: {e}"),
                    );
                    continue;
                }
            };
            let digest = medmetric_core::ModelDigest::of(&bytes);
            let sha = digest.to_string();
            if !parsed.verify_binding(&digest, &c.hotkey) {
                fail(
                    evals,
                    Some(modality),
                    &sha,
                    FailureStage::Artifact,
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
                    Some(modality),
                    &sha,
                    FailureStage::Gate,
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
            let model = match GatedModel::gate_with(bytes, &limits) {
                Ok(m) => m,
                Err((_, e)) => {
                    let why = format!("gate: {e}");
                    self.state.mark_artifact(&sha, "rejected", Some(&why))?;
                    fail(evals, Some(modality), &sha, FailureStage::Gate, why);
                    continue;
                }
            };
            if model.report.size() != self.cfg.round.size {
                fail(
                    evals,
                    Some(modality),
                    &sha,
                    FailureStage::Size,
                    format!(
                        "model input is {0}x{0}; this subnet's rounds are {1}x{1}",
                        model.report.size(),
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
                model,
            });
        }
        Ok(out)
    }

    /// Builds the round and runs every candidate through the harness.
    /// Returns hotkey → credited composite (0 for failures and copies) for
    /// the score book, and appends the records.
    fn evaluate_all(
        &mut self,
        anchor: &Anchor,
        candidates: &[Candidate],
        ledger: &mut CopyLedger,
        evals: &mut Vec<EvalRecord>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<BTreeMap<Hotkey, f64>, NodeError> {
        let mut results: BTreeMap<Hotkey, f64> = evals
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
        progress("building round");
        let round =
            plan::build_round(anchor, &config, None, self.cfg.build_threads.max(1), &|| {})?;
        let entrants: Vec<Entrant<'_>> = candidates
            .iter()
            .map(|c| Entrant {
                hotkey: &c.hotkey,
                commit_block: c.commit_block,
                modality: c.modality,
                model: &c.model,
            })
            .collect();
        // The ledger changes only when the whole round succeeds.
        let mut trial = ledger.clone();
        let outcomes = self.cfg.harness.run_round(
            &round,
            anchor.block_number.0,
            &entrants,
            &mut trial,
            &mut self.weight_cache,
            &|h| progress(&format!("evaluating {h}")),
        )?;
        *ledger = trial;
        for (c, o) in candidates.iter().zip(&outcomes) {
            self.metrics.evaluations.fetch_add(1, Ordering::Relaxed);
            if o.scored.failure.is_some() {
                self.metrics.eval_failures.fetch_add(1, Ordering::Relaxed);
            }
            let record = EvalRecord::scored(c.uid, c.modality, o);
            tracing::info!(event = "model.scored", hotkey = %record.hotkey,
                composite = record.composite, credited = record.credited,
                failure = ?record.failure, copy_of = ?record.copy_of);
            results.insert(record.hotkey.clone(), record.credited);
            evals.push(record);
        }
        Ok(results)
    }

    /// Score book → incumbency → reward curve (per miner type when the
    /// profile splits them) → SDK weights.
    fn weights_from_book(
        &self,
        hp: &medmetric_chain::Hyperparameters,
        mg: &Metagraph,
        book: &ScoreBook,
        commit_blocks: &BTreeMap<Hotkey, u64>,
        types: &BTreeMap<Hotkey, MinerType>,
        anchor: u64,
    ) -> Result<Weights, NodeError> {
        let mechanism = &self.cfg.harness.mechanism;
        let with_blocks: Vec<(Hotkey, u64, f64)> = book
            .scores()
            .into_iter()
            .map(|(h, s)| {
                let b = commit_blocks.get(&h).copied().unwrap_or(anchor);
                (h, b, s)
            })
            .collect();
        let effective = apply_incumbency(mechanism, &with_blocks, anchor);
        let shares: BTreeMap<Hotkey, f64> = if mechanism.miner_types.is_some() {
            // A hotkey whose model type is unknown (never gated) has no
            // type pool to be paid from.
            let typed: Vec<(Hotkey, MinerType, f64)> = effective
                .iter()
                .filter_map(|(h, s)| types.get(h).map(|t| (h.clone(), *t, *s)))
                .collect();
            reward::apply_by_type(mechanism, &typed)
                .into_iter()
                .collect()
        } else {
            reward::apply(mechanism, &effective).into_iter().collect()
        };
        let uids: Vec<u16> = mg.neurons.iter().map(|n| n.uid.0).collect();
        let scores: Vec<f32> = mg
            .neurons
            .iter()
            .map(|n| shares.get(&n.hotkey).copied().unwrap_or(0.0) as f32)
            .collect();
        let params = WeightParams {
            max_weight_limit: f64::from(hp.max_weight_limit.max(1)) / 65535.0,
            min_allowed_weights: usize::from(hp.min_allowed_weights),
        };
        let weights: Weights = weights_for_emit_with(&uids, &scores, &params)
            .map(Weights::from)
            .map_err(|e| NodeError::Weights(e.to_string()))?;
        // Never sign what the chain's own rules refuse.
        let chain = ChainWeightParams {
            subnet_n: mg.neurons.len(),
            min_allowed_weights: usize::from(hp.min_allowed_weights),
            max_weight_limit: hp.max_weight_limit,
        };
        let own = mg.neuron(&self.cfg.hotkey).map(|n| n.uid.0);
        if !weights.is_empty() {
            check_set_weights(&chain, own, &weights.uids, &weights.values).map_err(|r| {
                NodeError::Weights(format!("the chain would reject these weights: {r}"))
            })?;
        }
        Ok(weights)
    }

    /// Sends weights (or commits them under commit-reveal), retrying
    /// transient failures with backoff. `Ok(false)` when the chain refused.
    fn submit(
        &self,
        hp: &medmetric_chain::Hyperparameters,
        anchor: u64,
        weights: &Weights,
    ) -> Result<bool, NodeError> {
        if weights.is_empty() {
            return Ok(false);
        }
        let version_key = hp.weights_version_key;
        let pending = if hp.commit_reveal_enabled {
            Some(self.pending_reveal(anchor, weights, version_key)?)
        } else {
            None
        };
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=self.cfg.submit_attempts.max(1) {
            let result = match &pending {
                Some(p) => {
                    let hash = weights_commit_hash(
                        &self.cfg.hotkey,
                        self.chain.netuid(),
                        &p.weights.uids,
                        &p.weights.values,
                        &p.salt,
                        p.version_key,
                    );
                    self.chain
                        .commit_weights(&self.cfg.hotkey, hash)
                        .map(|_| ())
                }
                None => self
                    .chain
                    .set_weights(
                        &self.cfg.hotkey,
                        &weights.uids,
                        &weights.values,
                        version_key,
                    )
                    .map(|_| ()),
            };
            match result {
                Ok(()) => {
                    self.metrics.weights_set.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        event = "weights.set",
                        anchor,
                        uids = weights.len(),
                        commit_reveal = hp.commit_reveal_enabled
                    );
                    return Ok(true);
                }
                Err(ChainError::Rejected(r)) => {
                    self.metrics.weight_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(event = "weights.rejected", anchor, reason = %r);
                    return Ok(false);
                }
                Err(e) => {
                    self.metrics.weight_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(event = "weights.retry", anchor, attempt, error = %e);
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
        Ok(false)
    }

    /// The salted commit for `anchor`: the stored one when this round was
    /// committed before (a retry after a crash sends the same hash), else
    /// a fresh secret salt, stored before anything is sent.
    fn pending_reveal(
        &self,
        anchor: u64,
        weights: &Weights,
        version_key: u64,
    ) -> Result<PendingReveal, NodeError> {
        if let Some(p) = self.pending()?
            && p.anchor == anchor
            && &p.weights == weights
            && p.version_key == version_key
        {
            return Ok(p);
        }
        let pending = PendingReveal {
            anchor,
            weights: weights.clone(),
            salt: fresh_salt()?,
            version_key,
        };
        self.state.put(REVEAL_KEY, &Some(&pending))?;
        Ok(pending)
    }

    /// The weights committed and not yet revealed, if any.
    pub fn pending(&self) -> Result<Option<PendingReveal>, NodeError> {
        Ok(self
            .state
            .get::<Option<StoredReveal>>(REVEAL_KEY)?
            .flatten()
            .map(PendingReveal::from))
    }

    /// Reveals committed weights once the chain accepts the reveal.
    fn try_reveal(&self, hp: &medmetric_chain::Hyperparameters) -> Result<(), NodeError> {
        if !hp.commit_reveal_enabled {
            return Ok(());
        }
        let Some(p) = self.pending()? else {
            return Ok(());
        };
        match self.chain.reveal_weights(
            &self.cfg.hotkey,
            &p.weights.uids,
            &p.weights.values,
            &p.salt,
            p.version_key,
        ) {
            Ok(_) => {
                self.state.put(REVEAL_KEY, &None::<PendingReveal>)?;
                tracing::info!(event = "weights.revealed", anchor = p.anchor);
                Ok(())
            }
            Err(ChainError::Rejected(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The model's type: a segmenter when it has a mask output.
fn miner_type(model: &GatedModel) -> MinerType {
    if model.report.outputs.mask {
        MinerType::Segmenter
    } else {
        MinerType::Detector
    }
}

/// Seeded random weights over every uid (the dishonest behaviour).
fn random_weights(mg: &Metagraph, seed: u64) -> Weights {
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
    Weights { uids, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reveals_stored_by_older_validators_still_read() {
        let legacy = r#"{"anchor":9,"uids":[1,2],"values":[3,4],"salt":[5],"version_key":0}"#;
        let p: PendingReveal = serde_json::from_str::<StoredReveal>(legacy).unwrap().into();
        assert_eq!(p.weights, Weights::new(vec![1, 2], vec![3, 4]));
        let text = serde_json::to_string(&p).unwrap();
        let back: PendingReveal = serde_json::from_str::<StoredReveal>(&text).unwrap().into();
        assert_eq!(back, p);
    }

    #[test]
    fn salts_are_fresh() {
        let (a, b) = (fresh_salt().unwrap(), fresh_salt().unwrap());
        assert_eq!(a.len(), SALT_WORDS);
        assert_ne!(a, b);
    }
}
