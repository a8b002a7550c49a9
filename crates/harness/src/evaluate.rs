//! Evaluating one model on one round, in the sandbox.
//!
//! The model sees every round item of the selected modalities and every
//! variant of their robustness probes, one image at a time, batch 1. A few
//! warm-up runs on the first image come first and are not timed. Each
//! prediction is measured against the truth with the mechanism's
//! [`ImageMetrics`]; probe variants are mapped back onto the base image
//! with the inverse of their recorded transform before
//! [`ProbeOutcome::measure`] compares them. The null predictor is measured
//! on the same images so the mechanism can score skill against it.
//!
//! Any failure of the model — in the gate, at load or on any image — ends
//! its evaluation with a [`Failure`]; the validator moves on.

use std::time::Duration;

use medmetric_bench::round::Round;
use medmetric_eval::sandbox::{Failure, FailureKind, SandboxConfig, Session};
use medmetric_imaging::augment::map_image_back;
use medmetric_imaging::{GrayImage, Modality};
use medmetric_model::gate::GateReport;
use medmetric_scoring::mechanism::{ImageMetrics, ProbeOutcome};

/// Side of the downsampled mask kept per image for copy detection.
pub const FINGERPRINT_SIDE: u32 = 16;

/// Warm-up inferences (not timed) before the timed ones.
pub const WARMUP_RUNS: u32 = 2;

/// What a model did on a round.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Per-image measurements, round order.
    pub images: Vec<ImageMetrics>,
    /// The null predictor on the same images.
    pub null: Vec<ImageMetrics>,
    /// Robustness probes.
    pub probes: Vec<ProbeOutcome>,
    /// Inference time of each timed image, milliseconds (round items then
    /// probe variants).
    pub latencies_ms: Vec<f64>,
    /// Model load time in the worker.
    pub load_time: Duration,
    /// The worker's peak resident memory, when the system reports it.
    pub peak_memory_bytes: Option<u64>,
    /// Wall time of the whole evaluation (start, load, every image).
    pub wall_time: Duration,
    /// The model's outputs, condensed (a `16×16` mean-pooled mask and the
    /// cls probability per round item) for copy detection.
    pub fingerprint: Vec<f32>,
    /// Why the evaluation stopped, if it did.
    pub failure: Option<Failure>,
}

impl Evaluation {
    fn failed(failure: Failure) -> Evaluation {
        Evaluation {
            images: Vec::new(),
            null: Vec::new(),
            probes: Vec::new(),
            latencies_ms: Vec::new(),
            load_time: Duration::ZERO,
            peak_memory_bytes: None,
            wall_time: Duration::ZERO,
            fingerprint: Vec::new(),
            failure: Some(failure),
        }
    }

    /// Mean latency, milliseconds (`None` without timed runs).
    pub fn latency_mean_ms(&self) -> Option<f64> {
        if self.latencies_ms.is_empty() {
            return None;
        }
        Some(self.latencies_ms.iter().sum::<f64>() / self.latencies_ms.len() as f64)
    }

    /// 95th percentile latency (nearest rank), milliseconds.
    pub fn latency_p95_ms(&self) -> Option<f64> {
        if self.latencies_ms.is_empty() {
            return None;
        }
        let mut v = self.latencies_ms.clone();
        v.sort_by(f64::total_cmp);
        let rank = ((0.95 * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
}

/// Images a model is evaluated on: the round's items and probe variants of
/// the given modalities.
pub fn image_count(round: &Round, modalities: &[Modality]) -> usize {
    let items = round
        .items
        .iter()
        .filter(|i| modalities.contains(&i.record.modality))
        .count();
    let variants: usize = round
        .probes
        .iter()
        .filter(|p| modalities.contains(&p.record.modality))
        .map(|p| p.variants.len())
        .sum();
    items + variants
}

/// Rank, from the top, of the value kept per fingerprint block.
pub const FINGERPRINT_RANK: usize = 4;

/// Pools a `size×size` probability map to `side×side` blocks, keeping each
/// block's [`FINGERPRINT_RANK`]-th largest value. An order statistic
/// commutes with every increasing function, so a copy that recalibrates its
/// outputs (a temperature, a logit shift) has the recalibrated fingerprint
/// of its original, and a sparse pattern of faint pixels (fewer than the
/// rank per block, or none above the block's kept value) cannot move it.
fn pool(mask: &[f32], size: u32, side: u32) -> Vec<f32> {
    let s = size as usize;
    let k = (size / side).max(1) as usize;
    let side = (size as usize / k).max(1);
    let rank = FINGERPRINT_RANK.min(k * k);
    let mut out = vec![0f32; side * side];
    let mut block = Vec::with_capacity(k * k);
    for (i, o) in out.iter_mut().enumerate() {
        let (by, bx) = (i / side, i % side);
        block.clear();
        for y in by * k..(by + 1) * k {
            block.extend_from_slice(&mask[y * s + bx * k..y * s + (bx + 1) * k]);
        }
        let (_, nth, _) = block.select_nth_unstable_by(rank - 1, |a, b| b.total_cmp(a));
        *o = *nth;
    }
    out
}

/// Evaluates gated `model` on `round`, restricted to `modalities`.
/// `progress` is called once per image. The round must be built at the
/// model's input size.
pub fn evaluate(
    round: &Round,
    model: &[u8],
    report: &GateReport,
    sandbox: &SandboxConfig,
    modalities: &[Modality],
    progress: &dyn Fn(),
) -> Evaluation {
    let started = std::time::Instant::now();
    let mut eval = evaluate_timed(round, model, report, sandbox, modalities, progress);
    eval.wall_time = started.elapsed();
    eval
}

fn evaluate_timed(
    round: &Round,
    model: &[u8],
    report: &GateReport,
    sandbox: &SandboxConfig,
    modalities: &[Modality],
    progress: &dyn Fn(),
) -> Evaluation {
    if report.size() != round.config.size {
        return Evaluation::failed(Failure {
            kind: FailureKind::Shape,
            detail: format!(
                "model input is {0}x{0}, the round's images are {1}x{1}",
                report.size(),
                round.config.size
            ),
        });
    }
    let mut session = match Session::start(sandbox, model, report) {
        Ok(s) => s,
        Err(f) => return Evaluation::failed(f),
    };
    let mut eval = Evaluation::failed(Failure {
        kind: FailureKind::Crash,
        detail: String::new(),
    });
    eval.failure = None;
    eval.load_time = session.load_time;
    let result = run_all(&mut session, round, modalities, progress, &mut eval);
    eval.peak_memory_bytes = session.peak_memory_bytes();
    session.finish();
    if let Err(f) = result {
        eval.failure = Some(f);
    }
    eval
}

fn run_all(
    session: &mut Session,
    round: &Round,
    modalities: &[Modality],
    progress: &dyn Fn(),
    eval: &mut Evaluation,
) -> Result<(), Failure> {
    let size = round.config.size;
    let measure_err = |e: medmetric_scoring::metrics::MetricsError| Failure {
        kind: FailureKind::Setup,
        detail: format!("measuring: {e}"),
    };
    let items: Vec<_> = round
        .items
        .iter()
        .filter(|i| modalities.contains(&i.record.modality))
        .collect();
    if let Some(first) = items.first() {
        for _ in 0..WARMUP_RUNS {
            session.run(&first.image)?;
        }
    }
    for item in items {
        let out = session.run(&item.image)?;
        eval.latencies_ms.push(out.elapsed.as_secs_f64() * 1e3);
        let group = item.record.modality.name();
        let pred = &out.prediction;
        eval.images.push(
            ImageMetrics::measure(
                group,
                pred.mask.as_deref(),
                pred.cls,
                &item.mask.data,
                item.record.abnormal,
            )
            .map_err(measure_err)?,
        );
        eval.null.push(
            ImageMetrics::null(group, &item.mask.data, item.record.abnormal)
                .map_err(measure_err)?,
        );
        if let Some(mask) = &pred.mask {
            eval.fingerprint.extend(pool(mask, size, FINGERPRINT_SIDE));
        }
        if let Some(cls) = pred.cls {
            eval.fingerprint.push(cls);
        }
        progress();
    }
    for probe in round
        .probes
        .iter()
        .filter(|p| modalities.contains(&p.record.modality))
    {
        let mut mapped = Vec::with_capacity(probe.variants.len());
        let mut calls = Vec::with_capacity(probe.variants.len());
        for ((image, _), record) in probe.variants.iter().zip(&probe.record.variants) {
            let out = session.run(image)?;
            eval.latencies_ms.push(out.elapsed.as_secs_f64() * 1e3);
            let back = match out.prediction.mask {
                Some(mask) => {
                    let pred = GrayImage {
                        width: size,
                        height: size,
                        data: mask,
                    };
                    let back = map_image_back(&pred, &record.transform).map_err(|e| Failure {
                        kind: FailureKind::Setup,
                        detail: format!("probe {}: {e}", probe.record.id),
                    })?;
                    Some(back.data)
                }
                None => None,
            };
            mapped.push(back);
            calls.push(out.prediction.cls);
            progress();
        }
        eval.probes.push(
            ProbeOutcome::measure(&mapped, &calls, &probe.base_mask.data)
                .map_err(measure_err)?
                .with_group(probe.record.modality.name()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_keeps_an_order_statistic_per_block() {
        let mask: Vec<f32> = (0..16).map(|i| if i % 4 < 2 { 1.0 } else { 0.0 }).collect();
        assert_eq!(pool(&mask, 4, 2), vec![1.0, 0.0, 1.0, 0.0]);
        // 8×8 blocks: the 4th largest survives faint altered pixels and
        // commutes with an increasing function.
        let base: Vec<f32> = (0..256).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
        let mut spiked = base.clone();
        for i in [0, 9, 18, 130] {
            spiked[i] = 0.05;
        }
        let squash = |v: &[f32]| v.iter().map(|p| p * p).collect::<Vec<_>>();
        let (a, b) = (pool(&base, 16, 2), pool(&spiked, 16, 2));
        assert_eq!(a, b);
        let c = pool(&squash(&base), 16, 2);
        assert_eq!(c, squash(&a));
    }

    #[test]
    fn p95_is_nearest_rank() {
        let mut e = Evaluation::failed(Failure {
            kind: FailureKind::Crash,
            detail: String::new(),
        });
        assert_eq!(e.latency_p95_ms(), None);
        e.latencies_ms = (1..=20).map(f64::from).collect();
        assert_eq!(e.latency_p95_ms(), Some(19.0));
        assert_eq!(e.latency_mean_ms(), Some(10.5));
    }
}
