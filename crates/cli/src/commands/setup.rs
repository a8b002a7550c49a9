//! `medmetric setup onnxruntime`: installs the ONNX Runtime shared library
//! from the pinned `onnxruntime` wheel on PyPI.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use medmetric_eval::ort::cache_dir;
use medmetric_harness::install::{InstallOptions, install_onnxruntime};

#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Install the ONNX Runtime shared library the `ort` backend loads.
    ///
    /// Downloads the pinned `onnxruntime` wheel from PyPI with
    /// `pip download --no-deps --only-binary=:all:` (pip shows its own
    /// progress), checks its SHA-256 against the value recorded in MedMetric,
    /// and extracts only `onnxruntime/capi/libonnxruntime.so*` into
    /// `<cache>/onnxruntime/<version>/`, atomically: a folder is filled
    /// beside it and renamed into place, so an interrupted run leaves
    /// nothing half-installed. The verified wheel is kept in
    /// `<cache>/onnxruntime/wheels/` for offline reinstalls.
    ///
    /// The library's path is the only thing printed on stdout, so
    /// `export MEDMETRIC_ORT_LIB="$(medmetric setup onnxruntime)"` works;
    /// messages go to stderr. Running it again when the library is already
    /// there says so and exits 0 without downloading.
    ///
    /// For the pinned version the command asks pip for the CPython 3.12
    /// manylinux_2_28 wheel of this machine's architecture (x86_64 or
    /// aarch64), whatever Python runs pip: the library inside is the same
    /// file in every Python's wheel, and every machine then installs
    /// identical bytes. For another `--version` pip picks the wheel for the
    /// Python that runs it, nothing is pinned, and the SHA-256 is printed
    /// for you to check.
    ///
    /// pip is `python3 -m pip` when that works, else
    /// `<cache>/venv/bin/pip` (the test environment `scripts/test.sh`
    /// creates), else `pip3`. With `--wheel FILE` nothing is downloaded and
    /// pip is not needed.
    ///
    /// The cache folder is `--cache`, else `$MEDMETRIC_CACHE`, else
    /// `~/.cache/medmetric`. The ort backend finds the library there by
    /// itself; `$MEDMETRIC_ORT_LIB` overrides it.
    // `--version` names the ONNX Runtime release here, not MedMetric's.
    #[command(disable_version_flag = true)]
    Onnxruntime(OnnxruntimeArgs),
}

#[derive(Debug, Args)]
pub struct OnnxruntimeArgs {
    /// ONNX Runtime version to install (default: the pinned version).
    /// Versions other than the pinned one are installed unverified.
    #[arg(long)]
    pub version: Option<String>,
    /// Cache folder (default: $MEDMETRIC_CACHE, else ~/.cache/medmetric).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Install from this local `onnxruntime-<version>-...-manylinux_..._<arch>.whl`
    /// instead of downloading (offline). Its version comes from its name.
    #[arg(long)]
    pub wheel: Option<PathBuf>,
}

pub fn run(cmd: SetupCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SetupCommand::Onnxruntime(args) => onnxruntime(args),
    }
}

fn onnxruntime(args: OnnxruntimeArgs) -> anyhow::Result<ExitCode> {
    let cache = match args.cache {
        Some(c) => c,
        None => {
            cache_dir().context("no cache folder: set MEDMETRIC_CACHE or HOME, or pass --cache")?
        }
    };
    let opts = InstallOptions {
        cache,
        version: args.version,
        wheel: args.wheel,
    };
    let outcome = install_onnxruntime(&opts, &|line| eprintln!("{line}"))?;
    // The library path alone on stdout, for `MEDMETRIC_ORT_LIB="$(...)"`.
    println!("{}", outcome.library().display());
    Ok(ExitCode::SUCCESS)
}
