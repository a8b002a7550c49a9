//! `medmetric metrics --pred P.png --truth T.png`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use medmetric_imaging::png_io::{self, PngLimits};
use medmetric_scoring::metrics::segmentation;

use super::print_json;

/// Largest PNG file accepted, in bytes.
const MAX_PNG_BYTES: u64 = 256 << 20;

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Predicted probability map: grayscale 8- or 16-bit PNG, probability =
    /// value / 255 or value / 65535.
    #[arg(long)]
    pub pred: PathBuf,
    /// Ground-truth mask: grayscale PNG, non-zero = lesion.
    #[arg(long)]
    pub truth: PathBuf,
}

fn read_png(path: &Path) -> anyhow::Result<Vec<u8>> {
    super::read_capped(path, MAX_PNG_BYTES)
}

/// Prints `{"dice","iou","bce","mcc","precision","recall"}`: Dice, IoU, MCC,
/// precision and recall on p >= 0.5, mean pixel BCE in nats.
pub fn run(args: MetricsArgs) -> anyhow::Result<ExitCode> {
    let limits = PngLimits::default();
    let pred = png_io::decode_gray(&read_png(&args.pred)?, &limits)
        .with_context(|| format!("prediction {}", args.pred.display()))?;
    let truth = png_io::decode_mask(&read_png(&args.truth)?, &limits)
        .with_context(|| format!("truth {}", args.truth.display()))?;
    if (pred.image.width, pred.image.height) != (truth.width, truth.height) {
        bail!(
            "prediction is {}x{} but truth is {}x{}",
            pred.image.width,
            pred.image.height,
            truth.width,
            truth.height
        );
    }
    let max = if pred.bit_depth == 16 { 65535.0 } else { 255.0 };
    let probs: Vec<f64> = pred.raw.iter().map(|&v| f64::from(v) / max).collect();
    let m = segmentation(&probs, &truth.data)?;
    print_json(&m)?;
    Ok(ExitCode::SUCCESS)
}
