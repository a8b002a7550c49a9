//! Where models run: the sandbox configuration every caller uses, and the
//! mechanism config it scores with.

use std::path::Path;
use std::str::FromStr;

use medmetric_eval::sandbox::{self, Backend, SandboxConfig};
use medmetric_scoring::mechanism::MechanismConfig;

use crate::HarnessError;

/// The argument that turns a program into the sandboxed worker (see
/// [`sandbox::locate_worker`]): the `medmetric` command hands it to
/// [`medmetric_eval::sandbox::worker::main`] when it is its only argument.
pub const WORKER_MODE_ARG: &str = "__sandbox-worker";

/// Largest mechanism config file read.
const MAX_MECHANISM_BYTES: u64 = 1 << 20;

/// Which runtime evaluates models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// ONNX Runtime when `medmetric setup onnxruntime` has installed it,
    /// else tract.
    #[default]
    Auto,
    /// tract (pure Rust, always available).
    Tract,
    /// ONNX Runtime (an error when it is not installed).
    Ort,
}

impl FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "tract" => Ok(BackendChoice::Tract),
            "ort" => Ok(BackendChoice::Ort),
            _ => Err(format!(
                "unknown backend '{}' (expected auto, tract or ort)",
                s.chars().take(32).collect::<String>()
            )),
        }
    }
}

impl std::fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Tract => "tract",
            BackendChoice::Ort => "ort",
        })
    }
}

/// The sandbox settings for `choice` with `threads` intra-op threads: the
/// dedicated worker binary when it sits next to this program, else this
/// program in worker mode ([`WORKER_MODE_ARG`]); ONNX Runtime from
/// `medmetric setup onnxruntime`'s cache.
pub fn sandbox_config(choice: BackendChoice, threads: u32) -> Result<SandboxConfig, HarnessError> {
    let (worker, args) =
        sandbox::locate_worker(Some(WORKER_MODE_ARG)).ok_or(HarnessError::NoWorker)?;
    let lib = medmetric_eval::ort::default_library_path();
    let (backend, lib) = match (choice, lib) {
        (BackendChoice::Tract, _) | (BackendChoice::Auto, None) => (Backend::Tract, None),
        (BackendChoice::Auto | BackendChoice::Ort, Some(lib)) => (Backend::Ort, Some(lib)),
        (BackendChoice::Ort, None) => return Err(HarnessError::OrtMissing),
    };
    let mut cfg = SandboxConfig::new(worker, backend, lib);
    cfg.worker_args = args;
    cfg.threads = threads.max(1);
    Ok(cfg)
}

/// Whether scores from `sandbox` are canonical, the ones weights may be set
/// from: the pinned ONNX Runtime with one intra-op thread, the same kernels
/// and summation order on every validator. tract and multi-threaded runs
/// are fine for `eval` and hospitals, flagged as non-canonical.
pub fn is_canonical(sandbox: &SandboxConfig) -> bool {
    sandbox.backend == Backend::Ort && sandbox.threads == 1
}

/// The mechanism config: the TOML `file` when given, else the built-in
/// `profile` (`medmetric`, `seed`, `sn34`, `sn87`).
pub fn mechanism(profile: &str, file: Option<&Path>) -> Result<MechanismConfig, HarnessError> {
    match file {
        Some(path) => {
            let bytes = medmetric_core::limits::read_capped(path, MAX_MECHANISM_BYTES)
                .map_err(|e| HarnessError::Mechanism(e.to_string()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| HarnessError::Mechanism(format!("{} is not UTF-8", path.display())))?;
            MechanismConfig::from_toml(&text)
                .map_err(|e| HarnessError::Mechanism(format!("{}: {e}", path.display())))
        }
        None => MechanismConfig::builtin(profile)
            .map_err(|e| HarnessError::Mechanism(format!("--profile: {e}"))),
    }
}
