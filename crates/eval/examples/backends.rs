//! tract against ONNX Runtime on the reference models: milliseconds per
//! image, single thread, batch 1, warm-up excluded.
//!
//! ```sh
//! medmetric setup onnxruntime
//! cargo run --release -p medmetric-eval --example backends -- [SIZE] [RUNS]
//! ```
//!
//! SIZE defaults to 256 and RUNS (timed runs per model and backend, after
//! 10 warm-up runs) to 200. Images are phantoms of every modality, cycled.

use std::time::Instant;

use medmetric_eval::ort::{OrtModel, backend_version, default_library_path, init_library};
use medmetric_eval::tract::TractModel;
use medmetric_imaging::{GrayImage, Modality, phantom};
use medmetric_model::gate::{GateLimits, check_bytes};
use medmetric_model::reference::{self, ReferenceKind};

const WARMUP: usize = 10;

struct Stats {
    mean: f64,
    p95: f64,
}

fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    // Nearest-rank 95th percentile.
    let rank = ((0.95 * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
    Stats {
        mean,
        p95: ms[rank - 1],
    }
}

fn time(runs: usize, images: &[GrayImage], mut run: impl FnMut(&GrayImage)) -> Stats {
    for img in images.iter().cycle().take(WARMUP) {
        run(img);
    }
    let ms = images
        .iter()
        .cycle()
        .take(runs)
        .map(|img| {
            let t = Instant::now();
            run(img);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    stats(ms)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let size: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let lib = default_library_path()
        .ok_or("ONNX Runtime is not installed: run `medmetric setup onnxruntime`")?;
    init_library(&lib)?;
    let images: Vec<GrayImage> = [Modality::Cxr, Modality::Brain, Modality::Bone]
        .into_iter()
        .flat_map(|m| {
            [false, true].map(|abnormal| phantom::generate(m, size, [7; 32], abnormal).image)
        })
        .collect();
    println!(
        "{size}x{size}, batch 1, 1 thread, {WARMUP} warm-up + {runs} timed runs; tract-onnx 0.23 vs {}",
        backend_version().unwrap_or_default()
    );
    println!(
        "{:<10} {:>11} {:>11} {:>11} {:>11} {:>11}",
        "model", "tract mean", "tract p95", "ort mean", "ort p95", "tract/ort"
    );
    for kind in ReferenceKind::ALL {
        let bytes = reference::make(kind, size);
        let report = check_bytes(&bytes, &GateLimits::default())?;
        let tract = TractModel::load(&bytes, &report)?;
        let mut ort = OrtModel::load(&bytes, &report, 1)?;
        let t = time(runs, &images, |img| {
            std::hint::black_box(tract.run(img).expect("tract run"));
        });
        let o = time(runs, &images, |img| {
            std::hint::black_box(ort.run(img).expect("ort run"));
        });
        println!(
            "{:<10} {:>8.3} ms {:>8.3} ms {:>8.3} ms {:>8.3} ms {:>10.2}x",
            kind.name(),
            t.mean,
            t.p95,
            o.mean,
            o.p95,
            t.mean / o.mean
        );
    }
    Ok(())
}
