//! `medmetric demo`: the whole subnet in one command.
//!
//! A devnet chain runs in this process with its state in SQLite. The
//! red-team miners (an honest reference and the strategies that try to
//! game the mechanism) register, commit their models on chain and publish
//! them to a local content-addressed store. Three validators with different
//! stakes run the real validator loop — round from the anchor block,
//! sandboxed evaluation, mechanism scoring, copy detection, score book,
//! SDK-exact weights — except the third, which sets random weights. After
//! every tempo the chain runs Yuma Consensus, and the demo prints the
//! leaderboard, the weights and each validator's incentive and dividends.
//! At the end it writes an HTML report with plots.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use medmetric_bench::RoundConfig;
use medmetric_chain::epoch::last_epoch_block;
use medmetric_chain::{Chain, Coldkey, Hyperparameters, Metagraph};
use medmetric_core::{Hotkey, NetUid};
use medmetric_devnet::{Devnet, DevnetConfig, DevnetControl};
use medmetric_eval::sandbox::SandboxConfig;
use medmetric_harness::Harness;
use medmetric_harness::calibration;
use medmetric_imaging::Modality;
use medmetric_miner::PublishError;
use medmetric_miners::{Factory, Strategy};
use medmetric_report::{
    DemoReport, MinerInfo, MinerScore, TempoRecord, ValidatorInfo, ValidatorWeights,
};
use medmetric_scoring::mechanism::MechanismConfig;
use medmetric_store::LocalStore;
use medmetric_validator::node::{Behaviour, NodeConfig, Validator};
use medmetric_validator::state::State;

use crate::SimError;

/// One TAO in rao.
const TAO: u64 = 1_000_000_000;

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Folder for the chain and validator databases, the artifact store and
    /// the report.
    pub out: PathBuf,
    /// Tempos (epochs) to run.
    pub tempos: u32,
    /// Blocks per tempo.
    pub tempo: u16,
    /// Cases per round (chest X-ray).
    pub cases: u32,
    /// Model input and image size (128, 256 or 512).
    pub size: u32,
    /// How models are run.
    pub sandbox: SandboxConfig,
    /// Models each validator evaluates at once.
    pub workers: usize,
}

/// Where the demo is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `done` of `total` miner models made.
    Models {
        /// Made so far.
        done: u64,
        /// To make.
        total: u64,
    },
    /// `done` of `total` validators stepped in tempo `tempo`.
    Tempo {
        /// The tempo, from 1.
        tempo: u32,
        /// Validators done.
        done: u64,
        /// Validators in all.
        total: u64,
    },
}

/// How the demo ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOutcome {
    /// The honest reference miner ranks first by incentive.
    pub honest_first: bool,
    /// The dishonest validator earns less dividend per unit of stake than
    /// both honest ones.
    pub dishonest_less: bool,
    /// The reference's mean composite minus the best mean composite of any
    /// other strategy, over the tempos (first honest validator, credited
    /// after copy detection); positive when the reference leads.
    pub margin: f64,
    /// The HTML report.
    pub report: PathBuf,
}

impl DemoOutcome {
    /// Whether the subnet behaved as designed.
    pub fn ok(&self) -> bool {
        self.honest_first && self.dishonest_less
    }
}

struct MinerSpec {
    strategy: Strategy,
    hotkey: Hotkey,
    uid: u16,
    sha256: String,
    commit_block: u64,
}

struct ValidatorSpec {
    hotkey: Hotkey,
    stake: u64,
    behaviour: Behaviour,
    label: &'static str,
}

fn publish(
    chain: &Devnet,
    store: &LocalStore,
    bytes: &[u8],
    modality: Modality,
    hotkey: &Hotkey,
) -> Result<(String, u64), SimError> {
    // The miners' own publish: gate, commit first, store second.
    let published =
        medmetric_miner::publish(chain, store, bytes, modality, hotkey).map_err(|e| match e {
            PublishError::Metagraph(source)
            | PublishError::ReadCommitment(source)
            | PublishError::SetCommitment { source, .. } => SimError::Chain(source),
            PublishError::Store { source, .. } => SimError::Store(source),
            other => SimError::Setup(format!("publishing for {hotkey}: {other}")),
        })?;
    Ok((published.sha256.to_string(), published.commit_block))
}

fn share(v: u16) -> f64 {
    f64::from(v) / 65535.0
}

fn neuron_uid(mg: &Metagraph, hotkey: &Hotkey) -> u16 {
    mg.neuron(hotkey).map_or(u16::MAX, |n| n.uid.0)
}

/// Runs the demo: prints the story to `out`, reports progress, writes
/// the report, and says whether the subnet behaved as designed.
pub fn run(
    args: &DemoConfig,
    out: &mut dyn Write,
    progress: &dyn Fn(Stage),
) -> Result<DemoOutcome, SimError> {
    if args.tempos < 1 {
        return Err(SimError::Config("--tempos must be at least 1".into()));
    }
    if args.tempo < 5 {
        return Err(SimError::Config("--tempo must be at least 5 blocks".into()));
    }
    let started = Instant::now();
    if args.out.exists() {
        for f in [
            "chain.sqlite",
            "validator-a.sqlite",
            "validator-b.sqlite",
            "validator-c.sqlite",
        ] {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(args.out.join(format!("{f}{suffix}")));
            }
        }
    }
    std::fs::create_dir_all(&args.out).map_err(|e| SimError::Io {
        what: format!("cannot create {}", args.out.display()),
        source: e,
    })?;
    let modality = Modality::Cxr;
    let netuid = 1u16;
    let eval_delay = 5u64;
    let hp = Hyperparameters {
        tempo: args.tempo,
        weights_set_rate_limit: 0,
        min_allowed_weights: 1,
        max_weight_limit: u16::MAX,
        immunity_period: 10_000,
        activity_cutoff: 10_000,
        ..Hyperparameters::default()
    };
    let config = DevnetConfig {
        netuid: NetUid(netuid),
        hyperparameters: hp.clone(),
        ..DevnetConfig::default()
    };
    let chain = Devnet::create(&args.out.join("chain.sqlite"), &config)?;
    let store = LocalStore::open(args.out.join("store"))?;
    let mechanism =
        MechanismConfig::builtin("medmetric").map_err(|e| SimError::Config(e.to_string()))?;

    writeln!(
        out,
        "MedMetric demo: a devnet subnet with red-team miners and three validators"
    )?;
    writeln!(
        out,
        "  chain   netuid {netuid}, tempo {} blocks, eval delay {eval_delay} blocks, Yuma Consensus in subtensor's fixed point",
        args.tempo
    )?;

    // Miners: the honest reference and the strategies that try to game it.
    let factory = Factory::new(modality, args.size)?;
    let mut models = Vec::new();
    // Every strategy but the two that only test the validator's budgets
    // (one the gate refuses, one that takes a second per image).
    let strategies: Vec<Strategy> = Strategy::ALL
        .into_iter()
        .filter(|s| !matches!(s, Strategy::LoadTimeCompute | Strategy::SlowGraph))
        .collect();
    let total = strategies.len() as u64;
    for (i, strategy) in strategies.into_iter().enumerate() {
        models.push((strategy, factory.make(strategy, 1000 + i as u64)?));
        progress(Stage::Models {
            done: i as u64 + 1,
            total,
        });
    }

    let owner = Coldkey("demo-owner".into());
    let validators = [
        ValidatorSpec {
            hotkey: Hotkey("validator-a".into()),
            stake: 1000 * TAO,
            behaviour: Behaviour::Honest,
            label: "honest",
        },
        ValidatorSpec {
            hotkey: Hotkey("validator-b".into()),
            stake: 600 * TAO,
            behaviour: Behaviour::Honest,
            label: "honest",
        },
        ValidatorSpec {
            hotkey: Hotkey("validator-c".into()),
            stake: 400 * TAO,
            behaviour: Behaviour::RandomWeights { seed: 7 },
            label: "random weights (dishonest)",
        },
    ];
    for v in &validators {
        chain.burned_register(&v.hotkey, &owner)?;
        chain.add_stake(&owner, &v.hotkey, v.stake)?;
    }
    let mut miners = Vec::new();
    for (strategy, bytes) in &models {
        let hotkey = Hotkey(format!("miner-{}", strategy.name()));
        let uid = chain.burned_register(&hotkey, &Coldkey(format!("cold-{}", strategy.name())))?;
        miners.push(MinerSpec {
            strategy: *strategy,
            hotkey,
            uid: uid.0,
            sha256: String::new(),
            commit_block: 0,
        });
        let _ = bytes;
    }
    // Publish in order: the copy comes after the honest model it copies.
    for (m, (_, bytes)) in miners.iter_mut().zip(&models) {
        chain.advance(1)?;
        let (sha, block) = publish(&chain, &store, bytes, modality, &m.hotkey)?;
        m.sha256 = sha;
        m.commit_block = block;
    }
    writeln!(
        out,
        "  miners  {} registered and committed ({}): {}",
        miners.len(),
        modality.name(),
        miners
            .iter()
            .map(|m| m.strategy.name())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "  valis   a: {} TAO honest, b: {} TAO honest, c: {} TAO random weights",
        validators[0].stake / TAO,
        validators[1].stake / TAO,
        validators[2].stake / TAO
    )?;

    let mut sandbox = args.sandbox.clone();
    sandbox.limits.image_timeout_ms = 20_000;
    let calib = calibration::calibrate(&sandbox, 9)
        .map_err(|f| SimError::Setup(format!("calibration: {f}")))?;
    writeln!(
        out,
        "  eval    backend {}, calibration model {:.1} ms here = {:.1} ms on the reference device (×{:.2})",
        sandbox.backend,
        calib.local_ms,
        calibration::REFERENCE_DEVICE_MS,
        calib.factor
    )?;
    let round = RoundConfig {
        size: args.size,
        cases_per_modality: args.cases,
        modalities: vec![modality],
        ..RoundConfig::default()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut nodes = Vec::new();
    for v in &validators {
        let mut harness = Harness::new(mechanism.clone(), sandbox.clone(), calib);
        harness.workers = args.workers.max(1);
        let cfg = NodeConfig {
            hotkey: v.hotkey.clone(),
            harness,
            round: round.clone(),
            eval_delay,
            max_artifact_bytes: medmetric_core::limits::MAX_MODEL_BYTES,
            behaviour: v.behaviour,
            submit_attempts: 3,
            build_threads: threads,
        };
        let state = State::open(&args.out.join(format!("{}.sqlite", v.hotkey.0)))?;
        let store = LocalStore::open(args.out.join("store"))?;
        nodes.push(Validator::new(&chain, cfg, store, state));
    }

    // Let the first epoch hand out validator permits and the eval delay pass.
    let head = chain.block()?.number.0;
    let period = u64::from(args.tempo) + 1;
    let first = last_epoch_block(head + period, args.tempo, netuid).unwrap_or(head + period);
    let target = if first < head + eval_delay + 1 {
        first + period
    } else {
        first
    };
    chain.advance(target - head)?;

    let mut report = DemoReport {
        title: "MedMetric demo subnet".into(),
        ..Default::default()
    };
    let mg = chain.metagraph()?;
    for m in &miners {
        report.miners.push(MinerInfo {
            uid: m.uid,
            hotkey: m.hotkey.0.clone(),
            strategy: m.strategy.name().into(),
            modality: modality.name().into(),
            model_sha256: m.sha256[..12].to_string(),
            commit_block: m.commit_block,
        });
    }
    for v in &validators {
        report.validators.push(ValidatorInfo {
            uid: neuron_uid(&mg, &v.hotkey),
            hotkey: v.hotkey.0.clone(),
            stake: v.stake,
            behaviour: v.label.into(),
        });
    }
    let strategy_of: BTreeMap<String, &'static str> = miners
        .iter()
        .map(|m| (m.hotkey.0.clone(), m.strategy.name()))
        .collect();

    for t in 1..=args.tempos {
        let mut outcomes = Vec::new();
        let mut eval_seconds = 0.0;
        for node in nodes.iter_mut() {
            let out = node.step(&|_| {})?;
            if let Some(o) = &out {
                eval_seconds += o.eval_seconds;
            }
            outcomes.push(out);
            progress(Stage::Tempo {
                tempo: t,
                done: outcomes.len() as u64,
                total: validators.len() as u64,
            });
        }
        let anchor = chain.block()?.number.0;
        // Run to the next epoch: Yuma Consensus turns the weights into
        // incentive and dividends.
        let next = anchor + period;
        chain.advance(next - anchor)?;
        let mg = chain.metagraph()?;
        let epoch_block = mg.block.0;

        let first_honest = outcomes[0]
            .as_ref()
            .ok_or_else(|| SimError::Setup("validator-a did not evaluate".into()))?;
        writeln!(out)?;
        writeln!(
            out,
            "tempo {t}: round at block {} (seed {}…), epoch at block {epoch_block}, {:.1} s of evaluation",
            first_honest.anchor,
            &first_honest.seed[..12],
            eval_seconds
        )?;
        writeln!(
            out,
            "  {:<16} {:>4} {:>9} {:>7} {:>7} {:>9} {:>7} {:>9}  note",
            "miner", "uid", "accuracy", "speed", "robust", "composite", "EMA", "incentive"
        )?;
        let mut scores = Vec::new();
        let mut rows: Vec<_> = first_honest.evals.iter().collect();
        rows.sort_by(|a, b| {
            let ia = mg
                .neurons
                .get(usize::from(a.uid))
                .map_or(0, |n| n.incentive);
            let ib = mg
                .neurons
                .get(usize::from(b.uid))
                .map_or(0, |n| n.incentive);
            ib.cmp(&ia).then(a.uid.cmp(&b.uid))
        });
        for e in rows {
            let ema = first_honest.ema.get(&e.hotkey).copied().unwrap_or(0.0);
            let incentive = mg
                .neurons
                .get(usize::from(e.uid))
                .map_or(0, |n| n.incentive);
            let note = match (&e.failure, &e.copy_of) {
                (Some(f), _) => format!(
                    "failed: {}",
                    f.to_string().chars().take(60).collect::<String>()
                ),
                (None, Some(o)) => format!("copy of {o}"),
                _ => e.latency_ms.map_or(String::new(), |l| format!("{l:.0} ms")),
            };
            writeln!(
                out,
                "  {:<16} {:>4} {:>9.3} {:>7.3} {:>7.3} {:>9.3} {:>7.3} {:>9.3}  {note}",
                strategy_of.get(e.hotkey.as_str()).copied().unwrap_or("?"),
                e.uid,
                e.accuracy,
                e.speed,
                e.robustness,
                e.composite,
                ema,
                share(incentive),
            )?;
            scores.push(MinerScore {
                uid: e.uid,
                hotkey: e.hotkey.0.clone(),
                accuracy: e.accuracy,
                speed: e.speed,
                robustness: e.robustness,
                composite: e.credited,
                ema,
                latency_ms: e.latency_ms,
                failure: e.failure.as_ref().map(ToString::to_string),
                copy_of: e.copy_of.as_ref().map(|h| h.0.clone()),
            });
        }
        let total_stake: u64 = validators.iter().map(|v| v.stake).sum();
        writeln!(
            out,
            "  {:<16} {:>8} {:>10} {:>10} {:>16}",
            "validator", "stake", "weights", "dividends", "div. per stake"
        )?;
        let mut weights = Vec::new();
        for (v, outcome) in validators.iter().zip(&outcomes) {
            let n = mg.neuron(&v.hotkey);
            let div = n.map_or(0.0, |n| share(n.dividends));
            let stake_share = v.stake as f64 / total_stake as f64;
            let set = outcome.as_ref().map_or(0, |o| o.weights.len());
            writeln!(
                out,
                "  {:<16} {:>8} {:>10} {:>10.3} {:>16.3}",
                format!(
                    "{} ({})",
                    v.hotkey.0.trim_start_matches("validator-"),
                    if v.behaviour == Behaviour::Honest {
                        "honest"
                    } else {
                        "random"
                    }
                ),
                v.stake / TAO,
                format!("{set} uids"),
                div,
                div / stake_share
            )?;
            if let Some(o) = outcome {
                weights.push(ValidatorWeights {
                    hotkey: v.hotkey.0.clone(),
                    weights: o.weights.iter().collect(),
                });
            }
        }
        report.tempos.push(TempoRecord {
            index: t,
            anchor_block: first_honest.anchor,
            epoch_block,
            round_seed: first_honest.seed.clone(),
            scores,
            weights,
            incentive: mg
                .neurons
                .iter()
                .map(|n| (n.uid.0, share(n.incentive)))
                .collect(),
            dividends: mg
                .neurons
                .iter()
                .map(|n| (n.uid.0, share(n.dividends)))
                .collect(),
            emission: mg.neurons.iter().map(|n| (n.uid.0, n.emission)).collect(),
            eval_seconds,
        });
    }

    // The outcome, checked.
    let mg = chain.metagraph()?;
    let incentive = |h: &Hotkey| mg.neuron(h).map_or(0, |n| n.incentive);
    let best = miners
        .iter()
        .max_by(|a, b| {
            incentive(&a.hotkey)
                .cmp(&incentive(&b.hotkey))
                .then(b.uid.cmp(&a.uid))
        })
        .ok_or_else(|| SimError::Setup("no miners".into()))?;
    let total_stake: u64 = validators.iter().map(|v| v.stake).sum();
    let per_stake = |v: &ValidatorSpec| {
        mg.neuron(&v.hotkey).map_or(0.0, |n| share(n.dividends))
            / (v.stake as f64 / total_stake as f64)
    };
    let honest_first = best.strategy == Strategy::Honest;
    let (margin, runner_up) = reference_margin(&report, &miners);
    let dishonest_less =
        per_stake(&validators[2]) < per_stake(&validators[0]).min(per_stake(&validators[1]));
    let mark = |ok: bool| if ok { "yes" } else { "NO" };
    writeln!(out)?;
    writeln!(
        out,
        "honest reference miner ranks first by incentive: {} (first: {})",
        mark(honest_first),
        best.strategy.name()
    )?;
    writeln!(
        out,
        "reference's margin in mean composite over the next best strategy ({runner_up}): {margin:+.3}"
    )?;
    writeln!(
        out,
        "dishonest validator earns less dividend per unit of stake: {} ({:.3} vs {:.3} and {:.3})",
        mark(dishonest_less),
        per_stake(&validators[2]),
        per_stake(&validators[0]),
        per_stake(&validators[1])
    )?;
    report.summary = vec![
        format!(
            "{} miners, 3 validators, {} tempos of {} blocks on the devnet; {} cases per round at {}x{}.",
            miners.len(),
            args.tempos,
            args.tempo,
            args.cases,
            args.size,
            args.size
        ),
        format!(
            "Honest reference miner first by incentive: {}.",
            mark(honest_first)
        ),
        format!(
            "Reference's margin: mean composite {margin:+.3} over the next best strategy ({runner_up}), across {} tempos.",
            args.tempos
        ),
        format!(
            "Dishonest validator's dividends per unit of stake: {:.3}, honest: {:.3} and {:.3}.",
            per_stake(&validators[2]),
            per_stake(&validators[0]),
            per_stake(&validators[1])
        ),
    ];
    report.config = vec![
        ("netuid".into(), netuid.to_string()),
        ("tempo".into(), args.tempo.to_string()),
        ("eval delay".into(), eval_delay.to_string()),
        (
            "mechanism".into(),
            format!(
                "{} ({}…)",
                mechanism.profile.name(),
                &mechanism.hash()[..16]
            ),
        ),
        ("backend".into(), sandbox.backend.to_string()),
        ("calibration factor".into(), format!("{:.3}", calib.factor)),
        (
            "round".into(),
            format!(
                "{} cases of {}, {}x{}",
                args.cases,
                modality.name(),
                args.size,
                args.size
            ),
        ),
    ];
    let path = medmetric_report::write_report(&report, &args.out).map_err(|e| SimError::Io {
        what: format!("cannot write the report into {}", args.out.display()),
        source: e,
    })?;
    writeln!(out, "report  {}", path.display())?;
    writeln!(out, "done in {:.1} s", started.elapsed().as_secs_f64())?;
    Ok(DemoOutcome {
        honest_first,
        dishonest_less,
        margin,
        report: path,
    })
}

/// The reference's mean credited composite over the tempos minus the best
/// other strategy's, and that strategy's name.
fn reference_margin(report: &DemoReport, miners: &[MinerSpec]) -> (f64, &'static str) {
    let mean = |uid: u16| {
        let values: Vec<f64> = report
            .tempos
            .iter()
            .filter_map(|t| t.scores.iter().find(|s| s.uid == uid))
            .map(|s| s.composite)
            .filter(|c| c.is_finite())
            .collect();
        if values.is_empty() {
            0.0
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        }
    };
    let reference = miners
        .iter()
        .find(|m| m.strategy == Strategy::Honest)
        .map_or(0.0, |m| mean(m.uid));
    miners
        .iter()
        .filter(|m| m.strategy != Strategy::Honest)
        .map(|m| (mean(m.uid), m.strategy.name()))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or((reference, "none"), |(best, name)| (reference - best, name))
}
