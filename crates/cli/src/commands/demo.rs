//! `medmetric demo`: the most complete job MedMetric can run today.
//!
//! It makes the three reference models, passes each through the gate, runs
//! each in tract on a small seeded set of synthetic cases (a bright lesion on
//! a smooth background, or none), scores them with the validator's metrics
//! and prints a leaderboard. Procedural phantoms and seeded rounds replace
//! the synthetic cases once they exist.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use medmetric_eval::tract::TractModel;
use medmetric_imaging::{GrayImage, Mask, png_io};
use medmetric_model::gate::{self, GateLimits};
use medmetric_model::reference::{self, ReferenceKind};
use medmetric_scoring::metrics::{cls_loss_bits, segmentation};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the models, masks and the report.
    #[arg(long, default_value = "medmetric-demo")]
    pub out: PathBuf,
    /// Number of synthetic cases (half of them abnormal).
    #[arg(long, default_value_t = 8)]
    pub cases: u32,
    /// Input size of the models and images.
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    /// Seed of the synthetic cases.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

struct Case {
    image: GrayImage,
    mask: Mask,
    abnormal: bool,
}

fn unit(rng: &mut ChaCha8Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32
}

/// A smooth radial background with seeded noise and, for abnormal cases, a
/// bright disk whose mask is known by construction.
fn synthetic_case(size: u32, seed: u64, index: u32) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003) ^ u64::from(index));
    let abnormal = index % 2 == 1;
    let s = size as f32;
    let (cx, cy) = (
        s * (0.3 + 0.4 * unit(&mut rng)),
        s * (0.3 + 0.4 * unit(&mut rng)),
    );
    let radius = s * (0.03 + 0.04 * unit(&mut rng));
    let base = 0.25 + 0.2 * unit(&mut rng);
    let mut mask = Mask::empty(size, size);
    let image = GrayImage::from_fn(size, size, |x, y| {
        let (dx, dy) = (x as f32 - s / 2.0, y as f32 - s / 2.0);
        let background = base + 0.2 * (1.0 - (dx * dx + dy * dy).sqrt() / s);
        let noise = 0.03 * (unit(&mut rng) - 0.5);
        let inside =
            abnormal && (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) <= radius * radius;
        if inside {
            mask.data[(y * size + x) as usize] = 1;
        }
        (background + noise + if inside { 0.35 } else { 0.0 }).clamp(0.0, 1.0)
    });
    Case {
        image,
        mask,
        abnormal,
    }
}

struct Row {
    kind: ReferenceKind,
    dice: f64,
    bce: f64,
    cls_bits: f64,
    cls_accuracy: f64,
    ms: f64,
    parameters: u64,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.cases > 0, "--cases must be at least 1");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    println!(
        "MedMetric demo: {} reference models, {} synthetic {}x{} cases (seed {})",
        ReferenceKind::ALL.len(),
        args.cases,
        args.size,
        args.size,
        args.seed
    );
    let cases: Vec<Case> = (0..args.cases)
        .map(|i| synthetic_case(args.size, args.seed, i))
        .collect();
    for (i, case) in cases.iter().enumerate() {
        std::fs::write(
            args.out.join(format!("case{i:02}.png")),
            png_io::encode_gray8(&case.image)?,
        )?;
        std::fs::write(
            args.out.join(format!("case{i:02}_truth.png")),
            png_io::encode_mask(&case.mask)?,
        )?;
    }

    let mut rows = Vec::new();
    for kind in ReferenceKind::ALL {
        let bytes = reference::make(kind, args.size);
        let path = args.out.join(format!("{kind}.onnx"));
        std::fs::write(&path, &bytes)?;
        let report = gate::check_bytes(&bytes, &GateLimits::default())
            .with_context(|| format!("{kind} failed the gate"))?;
        println!(
            "  gate  {:<10} accepted  sha256 {}…  {} parameters  opset {}",
            kind.name(),
            &report.sha256[..16],
            report.parameters,
            report.opset
        );
        let model = TractModel::load(&bytes, &report)?;
        let (mut dice, mut bce, mut bits, mut correct, mut seconds) = (0.0, 0.0, 0.0, 0u32, 0.0);
        for (i, case) in cases.iter().enumerate() {
            let started = Instant::now();
            let pred = model.run(&case.image)?;
            seconds += started.elapsed().as_secs_f64();
            let mask = pred.mask.context("reference model has no mask")?;
            let cls = pred.cls.context("reference model has no cls")?;
            let m = segmentation(&mask, &case.mask.data)?;
            dice += m.dice;
            bce += m.bce;
            bits += cls_loss_bits(case.abnormal, f64::from(cls));
            correct += u32::from((cls >= 0.5) == case.abnormal);
            let out = GrayImage {
                width: args.size,
                height: args.size,
                data: mask,
            };
            std::fs::write(
                args.out.join(format!("case{i:02}_{kind}.png")),
                png_io::encode_gray8(&out)?,
            )?;
        }
        let n = f64::from(args.cases);
        rows.push(Row {
            kind,
            dice: dice / n,
            bce: bce / n,
            cls_bits: bits / n,
            cls_accuracy: f64::from(correct) / n,
            ms: seconds * 1000.0 / n,
            parameters: report.parameters,
        });
    }
    rows.sort_by(|a, b| b.dice.total_cmp(&a.dice));
    println!();
    println!(
        "  {:<10} {:>8} {:>8} {:>10} {:>8} {:>10} {:>10}",
        "model", "dice", "bce", "cls bits", "cls acc", "ms/image", "params"
    );
    for r in &rows {
        println!(
            "  {:<10} {:>8.3} {:>8.3} {:>10.3} {:>8.2} {:>10.2} {:>10}",
            r.kind.name(),
            r.dice,
            r.bce,
            r.cls_bits,
            r.cls_accuracy,
            r.ms,
            r.parameters
        );
    }
    println!();
    println!(
        "models, cases and predicted masks written to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
