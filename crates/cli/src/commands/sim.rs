//! `medmetric sim redteam`: every red-team miner through the real
//! evaluator on several rounds, scored by every mechanism profile side by
//! side, with the `medmetric` profile's invariants checked.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use medmetric_bench::RoundConfig;
use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::{Anchor, build};
use medmetric_core::ModelDigest;
use medmetric_imaging::Modality;
use medmetric_imaging::pool::Pool;
use medmetric_miners::{Factory, Strategy};
use medmetric_model::gate::{self, GateLimits};
use medmetric_scoring::mechanism::copies::{CopyEntry, CopyLedger, reduce_weights};
use medmetric_scoring::mechanism::{self, MechanismConfig, RoundScore};
use medmetric_validator::calibration;
use medmetric_validator::evaluate;
use serde_json::json;

use super::eval::{BackendChoice, sandbox_config};
use super::print_json;

/// Profiles compared, the default first.
pub const PROFILES: [&str; 4] = ["medmetric", "seed", "sn34", "sn87"];

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run the red-team miners (null, classification-only, copy, fragile,
    /// slow-but-accurate, memoriser, fast-but-useless and the honest
    /// reference) through the sandboxed evaluator on several rounds, score
    /// them under every mechanism profile, and check the `medmetric`
    /// profile's invariants: on every round null ≤ 0.05,
    /// classification-only ≤ 0.35 and a detected copy earns 0; over the
    /// rounds slow-accurate > fast-useless and honest first. Prints a table (or --json) and with --out writes it as
    /// Markdown. Exit 0 when every invariant holds, 3 otherwise.
    Redteam(RedteamArgs),
}

#[derive(Debug, Args)]
pub struct RedteamArgs {
    /// Rounds to run (each from its own block).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Model input and image size.
    #[arg(long, default_value_t = 128)]
    pub size: u32,
    /// Cases per round.
    #[arg(long, default_value_t = 12)]
    pub cases: u32,
    /// Modality of the miners and the round (cxr, brain, bone).
    #[arg(long, default_value = "cxr")]
    pub modality: String,
    /// Runtime: auto, tract or ort.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Write the side-by-side table as Markdown to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: SimCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SimCommand::Redteam(args) => redteam(args),
    }
}

#[derive(Default, Clone)]
struct Cell {
    raw: f64,
    credited: f64,
}

fn block_hash(round: u32) -> [u8; 32] {
    ModelDigest::of(format!("medmetric redteam round {round}").as_bytes()).0
}

fn redteam(args: RedteamArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    let modality: Modality = args
        .modality
        .parse()
        .map_err(|e| anyhow::anyhow!("--modality: {e}"))?;
    let configs: Vec<MechanismConfig> = PROFILES
        .iter()
        .map(|p| MechanismConfig::builtin(p))
        .collect::<Result<_, _>>()?;
    let bar = super::progress_bar(Strategy::ALL.len() as u64, "models");
    let factory = Factory::new(modality, args.size)?;
    let mut models = Vec::new();
    for (i, s) in Strategy::ALL.into_iter().enumerate() {
        let bytes = factory.make(s, 42)?;
        let report = gate::check_bytes(&bytes, &GateLimits::default())
            .map_err(|e| anyhow::anyhow!("{s} model rejected: {e}"))?;
        let weights = medmetric_model::initializers::float_initializers(&bytes)
            .ok()
            .map(|w| reduce_weights(&w, 16_384));
        // Commit order: the honest reference first, the others after.
        models.push((s, bytes, report, weights, 100 + i as u64));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let sandbox = sandbox_config(args.backend, 1)?;
    let calib =
        calibration::calibrate(&sandbox, 9).map_err(|f| anyhow::anyhow!("calibration: {f}"))?;

    // profile → strategy → per-round cells
    let mut table: BTreeMap<&str, BTreeMap<Strategy, Vec<Cell>>> = BTreeMap::new();
    let mut detail: BTreeMap<Strategy, Vec<RoundScore>> = BTreeMap::new();
    let mut copies: BTreeMap<Strategy, Option<String>> = BTreeMap::new();
    let mut ledger = CopyLedger::new();
    let mut rounds_json = Vec::new();
    for r in 0..args.rounds {
        let anchor = Anchor {
            netuid: 0,
            block_number: 10_000 + u64::from(r) * 361,
            block_hash: block_hash(r),
        };
        let config = RoundConfig {
            size: args.size,
            cases_per_modality: args.cases,
            modalities: vec![modality],
            ..RoundConfig::default()
        };
        let pool = PhantomPool::fresh(modality, anchor.seed().0);
        let refs: Vec<&dyn Pool> = vec![&pool];
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let round = build(&anchor, &refs, &config, threads, &|| {})?;
        let bar = super::progress_bar(models.len() as u64, &format!("round {}", r + 1));
        let mut evals = Vec::new();
        for (s, bytes, report, _, _) in &models {
            let e = evaluate::evaluate(&round, bytes, report, &sandbox, &[modality], &|| {});
            evals.push((*s, e));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let entries: Vec<CopyEntry> = models
            .iter()
            .zip(&evals)
            .filter(|(_, (_, e))| e.failure.is_none())
            .map(|((s, _, _, w, block), (_, e))| CopyEntry {
                hotkey: s.name().to_string(),
                commit_block: *block,
                outputs: e.fingerprint.clone(),
                weights: w.clone(),
            })
            .collect();
        let verdicts = ledger.detect(&configs[0], u64::from(r), &entries);
        let mut round_json = BTreeMap::new();
        for (cfg, name) in configs.iter().zip(PROFILES) {
            let mut per = BTreeMap::new();
            for (s, e) in &evals {
                let latency = e.latency_mean_ms().map(|m| calib.apply(m));
                let score = match &e.failure {
                    Some(f) => RoundScore::failed(f.to_string()),
                    None => mechanism::score(cfg, &e.images, &e.null, &e.probes, latency),
                };
                let copy_of = verdicts.get(s.name()).map(|v| v.original.clone());
                let cell = Cell {
                    raw: score.composite,
                    credited: if copy_of.is_some() {
                        0.0
                    } else {
                        score.composite
                    },
                };
                per.insert(
                    s.name(),
                    json!({"composite": cell.raw, "credited": cell.credited,
                        "accuracy": score.accuracy, "speed": score.speed,
                        "robustness": score.robustness, "copy_of": copy_of,
                        "latency_ms": latency, "failure": e.failure.as_ref().map(|f| f.to_string())}),
                );
                table
                    .entry(name)
                    .or_default()
                    .entry(*s)
                    .or_default()
                    .push(cell);
                if name == "medmetric" {
                    detail.entry(*s).or_default().push(score);
                    if copy_of.is_some() {
                        copies.insert(*s, copy_of);
                    }
                }
            }
            round_json.insert(name, per);
        }
        rounds_json.push(json!({"anchor": anchor.block_number, "seed": anchor.seed().to_hex(), "scores": round_json}));
    }

    // The invariants, round by round, under `medmetric`.
    let med = &table["medmetric"];
    let every = |f: &dyn Fn(usize) -> bool| (0..args.rounds as usize).all(f);
    let raw = |s: Strategy, i: usize| med[&s][i].raw;
    let credited = |s: Strategy, i: usize| med[&s][i].credited;
    let n = f64::from(args.rounds);
    let avg = |f: &dyn Fn(usize) -> f64| (0..args.rounds as usize).map(f).sum::<f64>() / n;
    let honest_first_on = |i: usize| {
        Strategy::ALL
            .iter()
            .filter(|&&s| s != Strategy::Honest)
            .all(|&s| credited(Strategy::Honest, i) > credited(s, i))
    };
    let honest_rounds = (0..args.rounds as usize)
        .filter(|&i| honest_first_on(i))
        .count();
    // Caps hold on every round; rankings are judged on the mean over the
    // rounds, as the score book sees them (a single small round can leave
    // even a good model without skill over the null predictor).
    let invariants: Vec<(&str, bool)> = vec![
        (
            "null ≤ 0.05 (every round)",
            every(&|i| raw(Strategy::Null, i) <= 0.05),
        ),
        (
            "classification-only ≤ 0.35, no mask and empty mask (every round)",
            every(&|i| raw(Strategy::ClsOnly, i) <= 0.35 && raw(Strategy::ClsEmptyMask, i) <= 0.35),
        ),
        (
            "copy earns 0 once detected (every round)",
            every(&|i| credited(Strategy::Copy, i) == 0.0) && copies.contains_key(&Strategy::Copy),
        ),
        (
            "slow-accurate > fast-useless (mean over rounds)",
            avg(&|i| raw(Strategy::SlowAccurate, i)) > avg(&|i| raw(Strategy::FastUseless, i)),
        ),
        (
            "honest first (mean over rounds)",
            Strategy::ALL
                .iter()
                .filter(|&&s| s != Strategy::Honest)
                .all(|&s| avg(&|i| credited(Strategy::Honest, i)) > avg(&|i| credited(s, i))),
        ),
    ];
    let ok = invariants.iter().all(|(_, v)| *v);
    let mean = |cells: &[Cell], f: &dyn Fn(&Cell) -> f64| {
        cells.iter().map(f).sum::<f64>() / cells.len() as f64
    };

    let mut md = String::new();
    let _ = writeln!(
        md,
        "| strategy | medmetric | seed | sn34 | sn87 | medmetric accuracy / speed / robustness | note |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for s in Strategy::ALL {
        let mut row = format!("| {} |", s.name());
        for p in PROFILES {
            let cells = &table[p][&s];
            let _ = write!(row, " {:.3} |", mean(cells, &|c| c.credited));
        }
        let d = &detail[&s];
        let n = d.len() as f64;
        let _ = write!(
            row,
            " {:.3} / {:.3} / {:.3} |",
            d.iter().map(|x| x.accuracy).sum::<f64>() / n,
            d.iter().map(|x| x.speed).sum::<f64>() / n,
            d.iter().map(|x| x.robustness).sum::<f64>() / n
        );
        let note = match copies.get(&s) {
            Some(Some(o)) => format!(
                "copy of {o} (0 credited; {:.3} before detection)",
                mean(&table["medmetric"][&s], &|c| c.raw)
            ),
            _ => String::new(),
        };
        let _ = writeln!(row, " {note} |");
        md.push_str(&row);
    }
    let mut checks = String::new();
    for (name, v) in &invariants {
        let _ = writeln!(checks, "- {} {name}", if *v { "PASS" } else { "FAIL" });
    }
    let _ = writeln!(
        checks,
        "- honest strictly first on {honest_rounds} of {} single rounds",
        args.rounds
    );

    if args.json {
        print_json(&json!({
            "modality": modality.name(),
            "size": args.size,
            "cases": args.cases,
            "backend": sandbox.backend.name(),
            "rounds": rounds_json,
            "invariants": invariants.iter().map(|(k, v)| ((*k).to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "honest_first_rounds": honest_rounds,
            "mean_credited": PROFILES.iter().map(|p| {
                (p.to_string(), Strategy::ALL.iter().map(|s| (s.name().to_string(), mean(&table[p][s], &|c| c.credited))).collect::<BTreeMap<_, _>>())
            }).collect::<BTreeMap<_, _>>(),
        }))?;
    } else {
        println!(
            "red team: {} rounds of {} {} cases at {}x{}, backend {}; mean composite credited (copies 0)\n",
            args.rounds,
            args.cases,
            modality.name(),
            args.size,
            args.size,
            sandbox.backend
        );
        print!("{md}");
        println!("\nmedmetric invariants:\n{checks}");
    }
    if let Some(path) = &args.out {
        let doc = format!(
            "# Red team: every mechanism profile side by side\n\n\
             Generated by `medmetric sim redteam --rounds {} --size {} --cases {} --modality {}` \
             (backend {}). Each strategy is an ONNX model from `crates/miners` (see \
             `docs/miners.md`), evaluated in the sandbox on {} rounds built from fresh \
             phantoms; a cell is the mean composite credited after copy detection (a \
             detected copy is credited 0).\n\n{md}\n## `medmetric` invariants\n\n{checks}\n\
             The `seed` column shows why the design documents' literal formula is not \
             the default: doing nothing (`null`) or classifying without segmenting \
             earns a large share there, because an empty mask is a perfect answer on \
             every normal image.\n",
            args.rounds,
            args.size,
            args.cases,
            modality.name(),
            sandbox.backend,
            args.rounds
        );
        std::fs::write(path, doc)?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
