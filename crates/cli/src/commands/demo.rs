//! `medmetric demo`: the most complete job MedMetric can run today.
//!
//! It builds a seeded benchmark round from the built-in phantom pools (the
//! same builder validators use), makes the three reference models, passes
//! each through the gate, runs each in tract on every round image, scores
//! them with the validator's metrics and SPEC §6's per-image reward, and
//! prints a leaderboard. The devnet, miners and validators join this run as
//! they land.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use medmetric_bench::RoundConfig;
use medmetric_bench::pools::PhantomPool;
use medmetric_bench::round::{Anchor, build};
use medmetric_bench::write::write;
use medmetric_eval::tract::TractModel;
use medmetric_imaging::pool::Pool;
use medmetric_imaging::{GrayImage, Modality, png_io};
use medmetric_model::gate::{self, GateLimits};
use medmetric_model::reference::{self, ReferenceKind};
use medmetric_scoring::metrics::{cls_loss_bits, segmentation};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the round, the models and the predicted masks.
    #[arg(long, default_value = "medmetric-demo")]
    pub out: PathBuf,
    /// Cases per modality in the round.
    #[arg(long, default_value_t = 8)]
    pub cases: u32,
    /// Input size of the models and images (128, 256 or 512).
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    /// Block number the round is anchored to (the block hash is derived
    /// from it, as a devnet would).
    #[arg(long, default_value_t = 1000)]
    pub block: u64,
}

#[derive(Default)]
struct Row {
    dice: f64,
    bce: f64,
    cls_bits: f64,
    correct: u32,
    reward: f64,
    seconds: f64,
    n: u32,
}

fn clamp01(v: f64) -> f64 {
    v.clamp(0.0, 1.0)
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.cases > 0, "--cases must be at least 1");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let anchor = Anchor {
        netuid: 0,
        block_number: args.block,
        block_hash: medmetric_core::ModelDigest::of(&args.block.to_le_bytes()).0,
    };
    let config = RoundConfig {
        size: args.size,
        cases_per_modality: args.cases,
        ..RoundConfig::default()
    };
    println!(
        "MedMetric demo: round at block {} ({} cases per modality, {}x{}), 3 reference models",
        args.block, args.cases, args.size, args.size
    );
    let pools: Vec<PhantomPool> = Modality::ALL.into_iter().map(PhantomPool::new).collect();
    let refs: Vec<&dyn Pool> = pools.iter().map(|p| p as &dyn Pool).collect();
    let total = u64::from(args.cases) * refs.len() as u64;
    let bar = super::progress_bar(total, "round");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let round = build(&anchor, &refs, &config, threads, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let round_dir = args.out.join("round");
    let digest = write(&round, &round_dir)?;
    println!(
        "  round  {} images, seed {}…, digest {}…",
        round.items.len(),
        &round.seed.to_hex()[..16],
        &digest[..16]
    );

    let mut rows = Vec::new();
    for kind in ReferenceKind::ALL {
        let bytes = reference::make(kind, args.size);
        std::fs::write(args.out.join(format!("{kind}.onnx")), &bytes)?;
        let report = gate::check_bytes(&bytes, &GateLimits::default())
            .with_context(|| format!("{kind} failed the gate"))?;
        println!(
            "  gate   {:<10} accepted, sha256 {}…, {} parameters, opset {}",
            kind.name(),
            &report.sha256[..16],
            report.parameters,
            report.opset
        );
        let model = TractModel::load(&bytes, &report)?;
        let pred_dir = args.out.join(format!("pred-{kind}"));
        std::fs::create_dir_all(&pred_dir)?;
        let bar = super::progress_bar(round.items.len() as u64, kind.name());
        let mut row = Row::default();
        for item in &round.items {
            let started = Instant::now();
            let pred = model.run(&item.image)?;
            row.seconds += started.elapsed().as_secs_f64();
            let mask = pred.mask.context("reference model has no mask")?;
            let cls = f64::from(pred.cls.context("reference model has no cls")?);
            let m = segmentation(&mask, &item.mask.data)?;
            let bits = cls_loss_bits(item.record.abnormal, cls);
            // SPEC §6, per image: 0.6·clamp01(1 − L_seg) + 0.4·clamp01(1 − L_cls).
            let l_seg = (1.0 - m.dice) + m.bce;
            row.reward += 0.6 * clamp01(1.0 - l_seg) + 0.4 * clamp01(1.0 - bits);
            row.dice += m.dice;
            row.bce += m.bce;
            row.cls_bits += bits;
            row.correct += u32::from((cls >= 0.5) == item.record.abnormal);
            row.n += 1;
            let out = GrayImage {
                width: args.size,
                height: args.size,
                data: mask,
            };
            std::fs::write(
                pred_dir.join(format!("{}.png", item.record.id)),
                png_io::encode_gray8(&out)?,
            )?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        rows.push((kind, row));
    }
    rows.sort_by(|a, b| b.1.reward.total_cmp(&a.1.reward));
    println!();
    println!(
        "  {:<10} {:>8} {:>8} {:>8} {:>10} {:>8} {:>10}",
        "model", "R_acc", "dice", "bce", "cls bits", "cls acc", "ms/image"
    );
    for (kind, r) in &rows {
        let n = f64::from(r.n);
        println!(
            "  {:<10} {:>8.3} {:>8.3} {:>8.3} {:>10.3} {:>8.2} {:>10.2}",
            kind.name(),
            r.reward / n,
            r.dice / n,
            r.bce / n,
            r.cls_bits / n,
            f64::from(r.correct) / n,
            r.seconds * 1000.0 / n
        );
    }
    println!();
    println!("R_acc is SPEC §6's per-image accuracy reward (seed formula); the gated, skill-based");
    println!("mechanism, the devnet and the validator loop join this demo as they land.");
    println!(
        "round, models and predicted masks written to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
