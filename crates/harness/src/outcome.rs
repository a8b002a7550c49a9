//! Scoring evaluations and running whole rounds: the part of the path
//! after the sandbox.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use medmetric_bench::round::Round;
use medmetric_core::{Hotkey, Modality, ModelDigest};
use medmetric_eval::sandbox::{Failure, FailureKind, SandboxConfig};
use medmetric_model::gate::{self, GateError, GateLimits, GateReport};
use medmetric_scoring::mechanism::copies::{CopyEntry, CopyLedger, CopyVerdict, reduce_weights};
use medmetric_scoring::mechanism::{self, MechanismConfig, RoundScore};

use crate::HarnessError;
use crate::calibration::{self, Calibration};
use crate::evaluate::{self, Evaluation};

/// Longest a model may take to load, in milliseconds on the reference
/// device (scaled by the calibration like latencies). Runtimes fold
/// constant subgraphs and plan kernels at load, where no per-image timer
/// sees it; beyond this the model is refused for the round, below it the
/// load time is charged to the speed score, spread over the round's images.
pub const LOAD_BUDGET_MS: f64 = 2_000.0;

/// Elements kept per initializer for weight-level copy detection.
const WEIGHT_SKETCH_ELEMENTS: usize = 16_384;

/// A model that passed the gate, with its identity.
#[derive(Debug, Clone)]
pub struct GatedModel {
    /// The ONNX bytes.
    pub bytes: Vec<u8>,
    /// What the gate found.
    pub report: GateReport,
    /// SHA-256 of the bytes.
    pub digest: ModelDigest,
}

impl GatedModel {
    /// Gates `bytes` with the default limits; on refusal, the digest and
    /// the reason.
    pub fn gate(bytes: Vec<u8>) -> Result<GatedModel, (ModelDigest, GateError)> {
        GatedModel::gate_with(bytes, &GateLimits::default())
    }

    /// Gates `bytes` with `limits`.
    pub fn gate_with(
        bytes: Vec<u8>,
        limits: &GateLimits,
    ) -> Result<GatedModel, (ModelDigest, GateError)> {
        let digest = ModelDigest::of(&bytes);
        match gate::check_bytes(&bytes, limits) {
            Ok(report) => Ok(GatedModel {
                bytes,
                report,
                digest,
            }),
            Err(e) => Err((digest, e)),
        }
    }
}

/// Latency of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// Mean inference time measured here, ms.
    pub mean_ms: Option<f64>,
    /// 95th percentile measured here, ms.
    pub p95_ms: Option<f64>,
    /// Mean on the reference device with the load time spread over the
    /// images (what the speed score uses), ms.
    pub calibrated_ms: Option<f64>,
    /// Load time on the reference device, ms.
    #[serde(default)]
    pub load_ms: Option<f64>,
}

/// One evaluation scored by the mechanism.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The score (every component 0 for a failed evaluation).
    pub score: RoundScore,
    /// Why the evaluation failed, typed.
    pub failure: Option<Failure>,
    /// Latencies.
    pub latency: Latency,
}

/// Scores `evaluation` under `mechanism`, with latencies calibrated by
/// `calibration`: the only place an evaluation becomes a score.
pub fn score(
    mechanism: &MechanismConfig,
    evaluation: &Evaluation,
    calibration: Calibration,
) -> Scored {
    let mean_ms = evaluation.latency_mean_ms();
    let images = evaluation.latencies_ms.len().max(1) as f64;
    let load_local = evaluation.load_time.as_secs_f64() * 1e3;
    let load_ms =
        (evaluation.failure.is_none() && mean_ms.is_some()).then(|| calibration.apply(load_local));
    let calibrated_ms = mean_ms.map(|m| calibration.apply(m + load_local / images));
    let failure = match (&evaluation.failure, load_ms) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(load)) if load > LOAD_BUDGET_MS => Some(Failure {
            kind: FailureKind::Timeout,
            detail: format!(
                "loading took {load:.0} ms on the reference device, over the {LOAD_BUDGET_MS:.0} ms budget"
            ),
        }),
        (None, _) => None,
    };
    let score = match &failure {
        Some(f) => RoundScore::failed(f.to_string()),
        None => mechanism::score(
            mechanism,
            &evaluation.images,
            &evaluation.null,
            &evaluation.probes,
            calibrated_ms,
        ),
    };
    Scored {
        score,
        failure,
        latency: Latency {
            mean_ms,
            p95_ms: evaluation.latency_p95_ms(),
            calibrated_ms,
            load_ms,
        },
    }
}

/// One model taking part in a round.
#[derive(Debug, Clone, Copy)]
pub struct Entrant<'a> {
    /// The miner.
    pub hotkey: &'a Hotkey,
    /// Block of its commitment (earliest wins copy disputes).
    pub commit_block: u64,
    /// The modality it was committed for: the only one it is scored on.
    pub modality: Modality,
    /// The model.
    pub model: &'a GatedModel,
}

/// What a round gave one model.
#[derive(Debug, Clone)]
pub struct ModelOutcome {
    /// The miner.
    pub hotkey: Hotkey,
    /// The model's digest.
    pub digest: ModelDigest,
    /// The raw evaluation (for other profiles, reports, records).
    pub evaluation: Evaluation,
    /// The score under the harness's mechanism.
    pub scored: Scored,
    /// The copy verdict, when the model duplicates an earlier commitment.
    pub copy: Option<CopyVerdict>,
    /// What enters the score book: the composite, or 0 for failures and
    /// copies.
    pub credited: f64,
}

/// Float initializers of models, reduced for copy detection, kept per
/// SHA-256 so a model is parsed once, not every round. Entries not used
/// by the latest round are dropped, so the cache holds at most one round's
/// models.
#[derive(Debug, Default)]
pub struct WeightCache {
    sketches: HashMap<ModelDigest, Option<Arc<Vec<Vec<f32>>>>>,
    parses: usize,
}

impl WeightCache {
    /// An empty cache.
    pub fn new() -> WeightCache {
        WeightCache::default()
    }

    /// The reduced initializers of `model` (`None` when they cannot be
    /// read), parsing only on the first request.
    pub fn get(&mut self, model: &GatedModel) -> Option<Arc<Vec<Vec<f32>>>> {
        let parses = &mut self.parses;
        self.sketches
            .entry(model.digest)
            .or_insert_with(|| {
                *parses += 1;
                medmetric_model::initializers::float_initializers(&model.bytes)
                    .ok()
                    .map(|w| Arc::new(reduce_weights(&w, WEIGHT_SKETCH_ELEMENTS)))
            })
            .clone()
    }

    /// Keeps only the given digests.
    pub fn retain(&mut self, keep: &[ModelDigest]) {
        self.sketches.retain(|d, _| keep.contains(d));
    }

    /// How many models were parsed so far.
    pub fn parses(&self) -> usize {
        self.parses
    }
}

/// The evaluation settings shared by every model of a run.
#[derive(Debug, Clone)]
pub struct Harness {
    /// The mechanism models are scored with.
    pub mechanism: MechanismConfig,
    /// How models are run.
    pub sandbox: SandboxConfig,
    /// This machine's latency calibration.
    pub calibration: Calibration,
    /// Models evaluated at once by [`Harness::run_round`].
    pub workers: usize,
}

impl Harness {
    /// A harness evaluating one model at a time.
    pub fn new(
        mechanism: MechanismConfig,
        sandbox: SandboxConfig,
        calibration: Calibration,
    ) -> Harness {
        Harness {
            mechanism,
            sandbox,
            calibration,
            workers: 1,
        }
    }

    /// Evaluates `model` on `round`, restricted to `modalities`;
    /// `progress` is called once per image.
    pub fn evaluate(
        &self,
        round: &Round,
        model: &GatedModel,
        modalities: &[Modality],
        progress: &dyn Fn(),
    ) -> Evaluation {
        evaluate::evaluate(
            round,
            &model.bytes,
            &model.report,
            &self.sandbox,
            modalities,
            progress,
        )
    }

    /// Scores an evaluation under the harness's mechanism and calibration.
    pub fn score(&self, evaluation: &Evaluation) -> Scored {
        score(&self.mechanism, evaluation, self.calibration)
    }

    /// Whether a failure the worker blamed on the validator is real: the
    /// calibration model (MedMetric's own) is run in the same sandbox, and
    /// the fault stands only if that fails too. A worker that a hostile
    /// model took over could otherwise claim "setup failure" and stop
    /// every round.
    pub fn confirms_fault(&self) -> bool {
        calibration::calibrate(&self.sandbox, 1).is_err()
    }

    /// Evaluates every entrant on `round` (up to `workers` at once), scores
    /// them, detects copies through `ledger` as round `round_id`, and
    /// credits each. `progress` is called as each model starts.
    ///
    /// A failure that is the validator's own (confirmed by
    /// [`Harness::confirms_fault`]) ends the run with
    /// [`HarnessError::ValidatorFault`] and leaves `ledger` untouched; an
    /// unconfirmed one is charged to the model as a crash.
    pub fn run_round(
        &self,
        round: &Round,
        round_id: u64,
        entrants: &[Entrant<'_>],
        ledger: &mut CopyLedger,
        cache: &mut WeightCache,
        progress: &(dyn Fn(&Hotkey) + Sync),
    ) -> Result<Vec<ModelOutcome>, HarnessError> {
        let mut evaluations = self.evaluate_all(round, entrants, progress)?;
        if evaluations
            .iter()
            .any(|e| e.failure.as_ref().is_some_and(|f| !f.kind.is_model_fault()))
        {
            let first = evaluations
                .iter()
                .filter_map(|e| e.failure.clone())
                .find(|f| !f.kind.is_model_fault());
            if let Some(f) = first
                && self.confirms_fault()
            {
                return Err(HarnessError::ValidatorFault(f));
            }
            for e in &mut evaluations {
                if let Some(f) = &mut e.failure
                    && !f.kind.is_model_fault()
                {
                    f.kind = FailureKind::Crash;
                    f.detail = format!(
                        "the worker reported a setup failure the validator cannot reproduce: {}",
                        f.detail
                    );
                }
            }
        }
        let mut outcomes: Vec<ModelOutcome> = entrants
            .iter()
            .zip(evaluations)
            .map(|(e, evaluation)| {
                let scored = self.score(&evaluation);
                ModelOutcome {
                    hotkey: e.hotkey.clone(),
                    digest: e.model.digest,
                    credited: if scored.failure.is_some() {
                        0.0
                    } else {
                        scored.score.composite
                    },
                    evaluation,
                    scored,
                    copy: None,
                }
            })
            .collect();
        let entries: Vec<CopyEntry> = entrants
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| o.scored.failure.is_none())
            .map(|(e, o)| CopyEntry {
                hotkey: e.hotkey.clone(),
                commit_block: e.commit_block,
                outputs: o.evaluation.fingerprint.clone(),
                weights: cache.get(e.model).map(|w| w.as_ref().clone()),
            })
            .collect();
        let mut verdicts: BTreeMap<Hotkey, CopyVerdict> =
            ledger.detect(&self.mechanism, round_id, &entries);
        for o in &mut outcomes {
            if let Some(v) = verdicts.remove(&o.hotkey) {
                o.credited = 0.0;
                o.copy = Some(v);
            }
        }
        let keep: Vec<ModelDigest> = entrants.iter().map(|e| e.model.digest).collect();
        cache.retain(&keep);
        Ok(outcomes)
    }

    /// Evaluates entrants in parallel, each on its own modality.
    fn evaluate_all(
        &self,
        round: &Round,
        entrants: &[Entrant<'_>],
        progress: &(dyn Fn(&Hotkey) + Sync),
    ) -> Result<Vec<Evaluation>, HarnessError> {
        if entrants.is_empty() {
            return Ok(Vec::new());
        }
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Evaluation>>> =
            entrants.iter().map(|_| Mutex::new(None)).collect();
        let workers = self.workers.clamp(1, entrants.len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(e) = entrants.get(i) else { break };
                        progress(e.hotkey);
                        let evaluation = self.evaluate(round, e.model, &[e.modality], &|| {});
                        if let Ok(mut slot) = slots[i].lock() {
                            *slot = Some(evaluation);
                        }
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|m| m.into_inner().ok().flatten())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                HarnessError::ValidatorFault(Failure {
                    kind: FailureKind::Setup,
                    detail: "an evaluation thread died".into(),
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use medmetric_scoring::mechanism::ImageMetrics;

    use super::*;

    fn evaluation(load: Duration) -> Evaluation {
        let truth = [0u8; 16];
        let image = ImageMetrics::measure("cxr", Some(&[0.0; 16]), Some(0.1), &truth, false)
            .expect("measured");
        Evaluation {
            images: vec![image.clone(); 4],
            null: vec![ImageMetrics::null("cxr", &truth, false).expect("null"); 4],
            probes: Vec::new(),
            latencies_ms: vec![10.0; 4],
            load_time: load,
            peak_memory_bytes: None,
            wall_time: Duration::ZERO,
            fingerprint: Vec::new(),
            failure: None,
        }
    }

    #[test]
    fn load_time_is_charged_below_the_budget_and_refused_above() {
        let mech = MechanismConfig::builtin("medmetric").expect("builtin");
        let quick = score(
            &mech,
            &evaluation(Duration::from_millis(40)),
            Calibration::IDENTITY,
        );
        assert!(quick.failure.is_none());
        // 40 ms of loading over 4 images adds 10 ms to each.
        assert_eq!(quick.latency.calibrated_ms, Some(20.0));
        assert_eq!(quick.latency.load_ms, Some(40.0));
        let slow = score(
            &mech,
            &evaluation(Duration::from_secs(3)),
            Calibration::IDENTITY,
        );
        let f = slow.failure.expect("refused");
        assert_eq!(f.kind, FailureKind::Timeout);
        assert!(f.detail.contains("budget"), "{f}");
        assert_eq!(slow.score.composite, 0.0);
        // A slower machine (factor 0.5) loads the same model within budget.
        let calib = Calibration {
            local_ms: 80.0,
            factor: 0.5,
        };
        assert!(
            score(&mech, &evaluation(Duration::from_secs(3)), calib)
                .failure
                .is_none()
        );
    }
}
