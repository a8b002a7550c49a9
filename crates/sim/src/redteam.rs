//! The red team: every strategy of `medmetric-miners` through the real
//! evaluation path on several rounds, scored under every mechanism profile
//! side by side, with the `medmetric` profile's invariants checked.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use medmetric_bench::RoundConfig;
use medmetric_bench::round::Anchor;
use medmetric_core::{Hotkey, Modality, ModelDigest};
use medmetric_eval::sandbox::SandboxConfig;
use medmetric_harness::calibration;
use medmetric_harness::{Entrant, GatedModel, Harness, WeightCache, plan, score};
use medmetric_miners::{Factory, Strategy};
use medmetric_scoring::mechanism::MechanismConfig;
use medmetric_scoring::mechanism::copies::CopyLedger;
use serde_json::json;

use crate::SimError;

/// Profiles compared, the default first.
pub const PROFILES: [&str; 4] = ["medmetric", "seed", "sn34", "sn87"];

/// What to run.
#[derive(Debug, Clone)]
pub struct RedteamConfig {
    /// Rounds, each from its own block.
    pub rounds: u32,
    /// Model input and image size.
    pub size: u32,
    /// Cases per round.
    pub cases: u32,
    /// Modality of the miners and the round.
    pub modality: Modality,
    /// How models are run.
    pub sandbox: SandboxConfig,
}

/// Where the run is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Making the strategy's model.
    Model(Strategy),
    /// Evaluating `strategy` in round `round` (from 0).
    Evaluate {
        /// The round.
        round: u32,
        /// The strategy.
        strategy: Strategy,
    },
}

/// One strategy on one round under one profile.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cell {
    /// Composite before copy detection.
    pub raw: f64,
    /// Composite credited (0 for detected copies and failures).
    pub credited: f64,
    /// Accuracy component.
    pub accuracy: f64,
    /// Speed component.
    pub speed: f64,
    /// Robustness component.
    pub robustness: f64,
}

/// Everything a red-team run measured.
#[derive(Debug, Clone)]
pub struct RedteamReport {
    /// The configuration (sandbox aside).
    pub rounds: u32,
    /// Image size.
    pub size: u32,
    /// Cases per round.
    pub cases: u32,
    /// The modality.
    pub modality: Modality,
    /// The backend that ran the models.
    pub backend: String,
    /// profile → strategy → one cell per round.
    pub cells: BTreeMap<&'static str, BTreeMap<Strategy, Vec<Cell>>>,
    /// Per round: anchor block, seed, and per profile and strategy the
    /// detail as JSON.
    pub round_details: Vec<serde_json::Value>,
    /// Strategies detected as copies, with the original.
    pub copies: BTreeMap<Strategy, String>,
    /// Strategies the gate refused, with the reason.
    pub refused: BTreeMap<Strategy, String>,
    /// Longest evaluation of each strategy on one round, seconds.
    pub wall_seconds: BTreeMap<Strategy, f64>,
    /// The per-model evaluation budget (the sandbox's total), seconds.
    pub budget_seconds: f64,
    /// The invariants and whether each held.
    pub invariants: Vec<(&'static str, bool)>,
    /// Rounds on which the honest model was strictly first.
    pub honest_first_rounds: usize,
}

fn block_hash(round: u32) -> [u8; 32] {
    ModelDigest::of(format!("medmetric redteam round {round}").as_bytes()).0
}

/// Runs the red team.
pub fn run(
    cfg: &RedteamConfig,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RedteamReport, SimError> {
    if cfg.rounds == 0 {
        return Err(SimError::Config("rounds must be at least 1".into()));
    }
    let configs: Vec<MechanismConfig> = PROFILES
        .iter()
        .map(|p| MechanismConfig::builtin(p))
        .collect::<Result<_, _>>()
        .map_err(|e| SimError::Config(e.to_string()))?;
    let factory = Factory::new(cfg.modality, cfg.size)?;
    let mut models = Vec::new();
    let mut refused: BTreeMap<Strategy, String> = BTreeMap::new();
    for (i, s) in Strategy::ALL.into_iter().enumerate() {
        progress(Progress::Model(s));
        let bytes = factory.make(s, 42)?;
        match GatedModel::gate(bytes) {
            // Commit order: the bait first (it hopes to be taken for the
            // original), the honest reference next, the others after.
            Ok(model) => {
                let block = if s == Strategy::Bait {
                    50
                } else {
                    100 + i as u64
                };
                models.push((s, Hotkey(s.name().to_string()), model, block));
            }
            Err((_, e)) => {
                refused.insert(s, format!("gate: {e}"));
            }
        }
    }
    if !models.iter().any(|(s, ..)| *s == Strategy::Honest) {
        return Err(SimError::Model("the honest reference was refused".into()));
    }
    let calib = calibration::calibrate(&cfg.sandbox, 9)
        .map_err(|f| SimError::Setup(format!("calibration: {f}")))?;
    let harness = Harness::new(configs[0].clone(), cfg.sandbox.clone(), calib);

    let mut cells: BTreeMap<&'static str, BTreeMap<Strategy, Vec<Cell>>> = BTreeMap::new();
    let mut copies = BTreeMap::new();
    let mut ledger = CopyLedger::new();
    let mut cache = WeightCache::new();
    let mut round_details = Vec::new();
    let mut wall_seconds: BTreeMap<Strategy, f64> = BTreeMap::new();
    for r in 0..cfg.rounds {
        let anchor = Anchor {
            netuid: medmetric_core::NetUid(0),
            block_number: medmetric_core::Block(10_000 + u64::from(r) * 361),
            block_hash: block_hash(r),
        };
        let config = RoundConfig {
            size: cfg.size,
            cases_per_modality: cfg.cases,
            modalities: vec![cfg.modality],
            ..RoundConfig::default()
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let round = plan::build_round(&anchor, &config, None, threads, &|| {})?;
        let entrants: Vec<Entrant<'_>> = models
            .iter()
            .map(|(_, hotkey, model, block)| Entrant {
                hotkey,
                commit_block: *block,
                modality: cfg.modality,
                model,
            })
            .collect();
        let by_name: BTreeMap<&str, Strategy> =
            models.iter().map(|(s, h, _, _)| (h.as_str(), *s)).collect();
        let outcomes = harness.run_round(
            &round,
            u64::from(r),
            &entrants,
            &mut ledger,
            &mut cache,
            &|h| {
                if let Some(&strategy) = by_name.get(h.as_str()) {
                    progress(Progress::Evaluate { round: r, strategy });
                }
            },
        )?;
        for ((s, ..), o) in models.iter().zip(&outcomes) {
            let t = o.evaluation.wall_time.as_secs_f64();
            let w = wall_seconds.entry(*s).or_insert(0.0f64);
            *w = w.max(t);
        }
        let mut detail = BTreeMap::new();
        for (mech, name) in configs.iter().zip(PROFILES) {
            let mut per = BTreeMap::new();
            for (s, why) in &refused {
                per.insert(
                    s.name(),
                    json!({"composite": 0.0, "credited": 0.0, "accuracy": 0.0,
                        "speed": 0.0, "robustness": 0.0, "copy_of": null,
                        "latency_ms": null, "failure": why}),
                );
                cells
                    .entry(name)
                    .or_default()
                    .entry(*s)
                    .or_default()
                    .push(Cell::default());
            }
            for ((s, _, _, _), o) in models.iter().zip(&outcomes) {
                let scored = score(mech, &o.evaluation, calib);
                let copy_of = o.copy.as_ref().map(|v| v.original.0.clone());
                let failed = scored.failure.is_some();
                let cell = Cell {
                    raw: scored.score.composite,
                    credited: if copy_of.is_some() || failed {
                        0.0
                    } else {
                        scored.score.composite
                    },
                    accuracy: scored.score.accuracy,
                    speed: scored.score.speed,
                    robustness: scored.score.robustness,
                };
                per.insert(
                    s.name(),
                    json!({"composite": cell.raw, "credited": cell.credited,
                        "accuracy": cell.accuracy, "speed": cell.speed,
                        "robustness": cell.robustness, "copy_of": copy_of,
                        "latency_ms": scored.latency.calibrated_ms,
                        "failure": scored.failure.as_ref().map(|f| f.to_string())}),
                );
                cells
                    .entry(name)
                    .or_default()
                    .entry(*s)
                    .or_default()
                    .push(cell);
                if let Some(original) = copy_of {
                    copies.insert(*s, original);
                }
            }
            detail.insert(name, per);
        }
        round_details.push(json!({"anchor": anchor.block_number, "seed": anchor.seed().to_hex(), "scores": detail}));
    }
    let budget_seconds = cfg.sandbox.limits.total_ms as f64 / 1e3;
    let (invariants, honest_first_rounds) = check_invariants(
        &cells["medmetric"],
        &copies,
        &refused,
        &wall_seconds,
        budget_seconds,
    );
    Ok(RedteamReport {
        rounds: cfg.rounds,
        size: cfg.size,
        cases: cfg.cases,
        modality: cfg.modality,
        backend: cfg.sandbox.backend.name().to_string(),
        cells,
        round_details,
        copies,
        refused,
        wall_seconds,
        budget_seconds,
        invariants,
        honest_first_rounds,
    })
}

/// Functional copies of the honest model: different bytes, the same
/// function up to storage or recalibration.
pub const FUNCTIONAL_COPIES: [Strategy; 5] = [
    Strategy::Copy,
    Strategy::CastCopy,
    Strategy::TemperatureCopy,
    Strategy::SparseCopy,
    Strategy::RetunedCopy,
];

/// The `medmetric` profile's invariants. Caps hold on every round;
/// rankings are judged on the mean over the rounds, as the score book sees
/// them (a single small round can leave even a good model without skill
/// over the null predictor).
fn check_invariants(
    med: &BTreeMap<Strategy, Vec<Cell>>,
    copies: &BTreeMap<Strategy, String>,
    refused: &BTreeMap<Strategy, String>,
    wall_seconds: &BTreeMap<Strategy, f64>,
    budget_seconds: f64,
) -> (Vec<(&'static str, bool)>, usize) {
    let rounds = med.values().map(Vec::len).min().unwrap_or(0);
    let every = |f: &dyn Fn(usize) -> bool| (0..rounds).all(f);
    let cell = |s: Strategy, i: usize| med.get(&s).map(|c| c[i]).unwrap_or_default();
    let raw = |s: Strategy, i: usize| cell(s, i).raw;
    let credited = |s: Strategy, i: usize| cell(s, i).credited;
    let avg = |f: &dyn Fn(usize) -> f64| (0..rounds).map(f).sum::<f64>() / rounds.max(1) as f64;
    let others = || Strategy::ALL.into_iter().filter(|&s| s != Strategy::Honest);
    let honest_first_rounds = (0..rounds)
        .filter(|&i| others().all(|s| credited(Strategy::Honest, i) > credited(s, i)))
        .count();
    let invariants = vec![
        (
            "null ≤ 0.05 (every round)",
            every(&|i| raw(Strategy::Null, i) <= 0.05),
        ),
        (
            "classification-only ≤ 0.35, no mask and empty mask (every round)",
            every(&|i| raw(Strategy::ClsOnly, i) <= 0.35 && raw(Strategy::ClsEmptyMask, i) <= 0.35),
        ),
        (
            "every functional copy (noise, int32 + Cast, temperature, sparse pixels, re-tuned) earns 0 and is named a copy (every round)",
            FUNCTIONAL_COPIES.iter().all(|&c| {
                every(&|i| credited(c, i) == 0.0)
                    && copies.get(&c).is_some_and(|o| o == Strategy::Honest.name())
            }),
        ),
        (
            "a bait committed first never makes the honest model a copy, and earns nothing",
            !copies.contains_key(&Strategy::Honest)
                && every(&|i| credited(Strategy::Bait, i) == 0.0),
        ),
        (
            "load-time compute is refused or scores below honest",
            refused.contains_key(&Strategy::LoadTimeCompute)
                || avg(&|i| credited(Strategy::LoadTimeCompute, i))
                    < avg(&|i| credited(Strategy::Honest, i)),
        ),
        (
            "slow-accurate > fast-useless (mean over rounds)",
            avg(&|i| raw(Strategy::SlowAccurate, i)) > avg(&|i| raw(Strategy::FastUseless, i)),
        ),
        (
            "honest first (mean over rounds)",
            others().all(|s| avg(&|i| credited(Strategy::Honest, i)) > avg(&|i| credited(s, i))),
        ),
        (
            "every evaluation within the per-model time budget",
            wall_seconds.values().all(|&t| t <= budget_seconds),
        ),
    ];
    (invariants, honest_first_rounds)
}

impl RedteamReport {
    /// Whether every invariant held.
    pub fn ok(&self) -> bool {
        self.invariants.iter().all(|(_, v)| *v)
    }

    fn mean(cells: &[Cell], f: impl Fn(&Cell) -> f64) -> f64 {
        cells.iter().map(f).sum::<f64>() / cells.len().max(1) as f64
    }

    /// Mean credited composite of every strategy under every profile.
    pub fn mean_credited(&self) -> BTreeMap<&'static str, BTreeMap<Strategy, f64>> {
        self.cells
            .iter()
            .map(|(p, per)| {
                (
                    *p,
                    per.iter()
                        .map(|(s, c)| (*s, Self::mean(c, |c| c.credited)))
                        .collect(),
                )
            })
            .collect()
    }

    /// The side-by-side table, Markdown.
    pub fn table(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "| strategy | medmetric | seed | sn34 | sn87 | medmetric accuracy / speed / robustness | note |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for s in Strategy::ALL {
            let mut row = format!("| {} |", s.name());
            for p in PROFILES {
                let _ = write!(
                    row,
                    " {:.3} |",
                    Self::mean(&self.cells[p][&s], |c| c.credited)
                );
            }
            let d = &self.cells["medmetric"][&s];
            let _ = write!(
                row,
                " {:.3} / {:.3} / {:.3} |",
                Self::mean(d, |c| c.accuracy),
                Self::mean(d, |c| c.speed),
                Self::mean(d, |c| c.robustness)
            );
            let note = match (self.copies.get(&s), self.refused.get(&s)) {
                (_, Some(why)) => format!("refused: {}", why.chars().take(90).collect::<String>()),
                (Some(o), None) => format!(
                    "copy of {o} (0 credited; {:.3} before detection)",
                    Self::mean(d, |c| c.raw)
                ),
                (None, None) => String::new(),
            };
            let note = match self.wall_seconds.get(&s) {
                Some(t) => format!(
                    "{note}{}{t:.1} s/round",
                    if note.is_empty() { "" } else { "; " }
                ),
                None => note,
            };
            let _ = writeln!(row, " {note} |");
            md.push_str(&row);
        }
        md
    }

    /// The invariants as a Markdown list.
    pub fn checks(&self) -> String {
        let mut out = String::new();
        for (name, v) in &self.invariants {
            let _ = writeln!(out, "- {} {name}", if *v { "PASS" } else { "FAIL" });
        }
        let _ = writeln!(
            out,
            "- honest strictly first on {} of {} single rounds",
            self.honest_first_rounds, self.rounds
        );
        out
    }

    /// The whole run as JSON (the `sim redteam --json` contract).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "modality": self.modality.name(),
            "size": self.size,
            "cases": self.cases,
            "backend": self.backend,
            "rounds": self.round_details,
            "invariants": self.invariants.iter().map(|(k, v)| ((*k).to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "honest_first_rounds": self.honest_first_rounds,
            "refused": self.refused.iter().map(|(s, w)| (s.name().to_string(), w.clone())).collect::<BTreeMap<_, _>>(),
            "wall_seconds": self.wall_seconds.iter().map(|(s, w)| (s.name().to_string(), *w)).collect::<BTreeMap<_, _>>(),
            "budget_seconds": self.budget_seconds,
            "mean_credited": self.mean_credited().iter().map(|(p, per)| {
                (p.to_string(), per.iter().map(|(s, v)| (s.name().to_string(), *v)).collect::<BTreeMap<_, _>>())
            }).collect::<BTreeMap<_, _>>(),
        })
    }

    /// `docs/redteam.md`.
    pub fn document(&self) -> String {
        format!(
            "# Red team: every mechanism profile side by side\n\n\
             Generated by `medmetric sim redteam --rounds {} --size {} --cases {} --modality {}` \
             (backend {}). Each strategy is an ONNX model from `crates/miners` (see \
             `docs/miners.md`), evaluated in the sandbox on {} rounds built from fresh \
             phantoms; a cell is the mean composite credited after copy detection (a \
             detected copy is credited 0). The bait is committed before the honest \
             model; every other strategy after it. The note gives the longest \
             evaluation of each model on one round (budget {:.0} s).\n\n{}\n## `medmetric` invariants\n\n{}\n\
             The `seed` column shows why the design documents' literal formula is not \
             the default: doing nothing (`null`) or classifying without segmenting \
             earns a large share there, because an empty mask is a perfect answer on \
             every normal image.\n",
            self.rounds,
            self.size,
            self.cases,
            self.modality.name(),
            self.backend,
            self.rounds,
            self.budget_seconds,
            self.table(),
            self.checks()
        )
    }
}
