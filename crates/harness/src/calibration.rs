//! Latency calibration: validators on different hardware must agree on a
//! model's speed score.
//!
//! Each validator times one fixed calibration model — the reference
//! `tiny-unet` at 256×256, built by MedMetric's own deterministic writer —
//! in the same sandbox and backend it evaluates miners with, and scales
//! every measured latency by `REFERENCE_DEVICE_MS / local_ms`. A model that
//! takes twice the calibration model's time locally is credited with twice
//! the calibration model's time on the reference device, whatever machine
//! measured it.
//!
//! [`REFERENCE_DEVICE_MS`] is a protocol constant, part of the mechanism,
//! not a measurement anyone repeats: it fixes the calibration model's
//! batch-1 single-thread time on the reference edge device (Jetson Orin NX
//! class CPU). Changing it rescales every miner's speed score at once.

use std::time::Duration;

use medmetric_eval::sandbox::{Failure, SandboxConfig, Session};
use medmetric_imaging::{GrayImage, Modality, phantom};
use medmetric_model::gate::{self, GateLimits};
use medmetric_model::reference::{self, ReferenceKind};

/// The calibration model's time on the reference edge device, ms.
pub const REFERENCE_DEVICE_MS: f64 = 40.0;

/// Input size of the calibration model.
pub const CALIBRATION_SIZE: u32 = 256;

/// Warm-up runs before timing.
const WARMUP: u32 = 3;

/// A machine's calibration.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// The calibration model's median time here, ms.
    pub local_ms: f64,
    /// Multiply local latencies by this to get reference-device latencies.
    pub factor: f64,
}

impl Calibration {
    /// A calibration that leaves times unchanged (for tests and reports
    /// that want raw numbers).
    pub const IDENTITY: Calibration = Calibration {
        local_ms: REFERENCE_DEVICE_MS,
        factor: 1.0,
    };

    /// Scales a local latency to the reference device.
    pub fn apply(&self, local_ms: f64) -> f64 {
        local_ms * self.factor
    }
}

/// Times the calibration model `runs` times (after warm-up) in `sandbox`
/// and returns the median-based calibration.
pub fn calibrate(sandbox: &SandboxConfig, runs: u32) -> Result<Calibration, Failure> {
    let bytes = reference::make(ReferenceKind::TinyUnet, CALIBRATION_SIZE);
    let report = gate::check_bytes(&bytes, &GateLimits::default()).map_err(|e| Failure {
        kind: medmetric_eval::sandbox::FailureKind::Setup,
        detail: format!("calibration model rejected: {e}"),
    })?;
    let image: GrayImage = phantom::generate(Modality::Cxr, CALIBRATION_SIZE, [7; 32], true).image;
    let mut session = Session::start(sandbox, &bytes, &report)?;
    for _ in 0..WARMUP {
        session.run(&image)?;
    }
    let mut times: Vec<Duration> = Vec::with_capacity(runs.max(1) as usize);
    for _ in 0..runs.max(1) {
        times.push(session.run(&image)?.elapsed);
    }
    session.finish();
    times.sort();
    let local_ms = times[times.len() / 2].as_secs_f64() * 1e3;
    let local_ms = local_ms.max(1e-3);
    Ok(Calibration {
        local_ms,
        factor: REFERENCE_DEVICE_MS / local_ms,
    })
}
