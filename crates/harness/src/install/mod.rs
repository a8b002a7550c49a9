//! Installs the ONNX Runtime shared library the `ort` backend loads, from
//! the pinned `onnxruntime` wheel on PyPI (`medmetric setup onnxruntime`).
//!
//! [`install_onnxruntime`] takes a local wheel or fetches one with
//! `pip download --no-deps --only-binary=:all:`, checks its SHA-256 against
//! the pins recorded here (for [`ORT_VERSION`]), extracts only
//! `onnxruntime/capi/libonnxruntime.so*` under size caps, and renames the
//! filled folder into `<cache>/onnxruntime/<version>/`, so an interrupted
//! run leaves nothing half-installed. A downloaded wheel is kept in
//! `<cache>/onnxruntime/wheels/` for offline reinstalls.
//!
//! Messages for the user go through the caller's `log` callback. pip talks
//! on this process's stderr (its stdout is sent there too), so stdout stays
//! the caller's.
//!
//! ```no_run
//! use medmetric_harness::install::{InstallOptions, install_onnxruntime};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = InstallOptions {
//!     cache: "/var/cache/medmetric".into(),
//!     version: None,
//!     wheel: None,
//! };
//! let outcome = install_onnxruntime(&opts, &|line| eprintln!("{line}"))?;
//! println!("{}", outcome.library().display());
//! # Ok(())
//! # }
//! ```

mod pip;
mod wheel;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use medmetric_eval::ort::{ORT_VERSION, install_dir, library_in};
use sha2::{Digest, Sha256};

use pip::pip_download;
pub use wheel::ExtractError;
use wheel::{PINNED_LIBRARIES, PINNED_WHEELS, WheelName, extract_libraries, sync_dir};

/// Largest wheel read, in bytes (the pinned one is 24 MB).
const MAX_WHEEL_BYTES: u64 = 512 << 20;

/// What to install, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// Cache folder: the library goes into `<cache>/onnxruntime/<version>/`
    /// ([`install_dir`]), and pip may be `<cache>/venv/bin/pip`.
    pub cache: PathBuf,
    /// ONNX Runtime version to install. `None` is the local wheel's version
    /// when [`wheel`](Self::wheel) is given, else [`ORT_VERSION`]. Versions
    /// other than [`ORT_VERSION`] are installed unverified.
    pub version: Option<String>,
    /// A local `onnxruntime-<version>-<python>-<abi>-<platform>.whl` to
    /// install from instead of downloading; pip is then not needed.
    pub wheel: Option<PathBuf>,
}

/// How an install ended; [`library`](Self::library) is the file to load in
/// every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The library was already in the cache; nothing was downloaded.
    AlreadyInstalled {
        /// The installed library.
        library: PathBuf,
    },
    /// Another run installed the same version while this one was working;
    /// its library is the one kept.
    InstalledByAnotherRun {
        /// The installed library.
        library: PathBuf,
    },
    /// This run installed the library.
    Installed {
        /// The installed library.
        library: PathBuf,
        /// Hex SHA-256 of the wheel it came from.
        wheel_sha256: String,
        /// Whether the wheel and library were checked against the pins
        /// (only [`ORT_VERSION`] is pinned).
        verified: bool,
    },
}

impl InstallOutcome {
    /// The installed library, whichever run installed it.
    pub fn library(&self) -> &Path {
        match self {
            InstallOutcome::AlreadyInstalled { library }
            | InstallOutcome::InstalledByAnotherRun { library }
            | InstallOutcome::Installed { library, .. } => library,
        }
    }
}

/// Why nothing was installed. The rendering is one line per level, with
/// the underlying error as [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Wheels exist for Linux x86_64 and aarch64 only.
    #[error("onnxruntime wheels are installed on Linux x86_64 and aarch64 only, not {os} {arch}")]
    UnsupportedPlatform {
        /// This machine's operating system.
        os: &'static str,
        /// This machine's architecture.
        arch: &'static str,
    },
    /// The version would not be a safe folder name or pip requirement.
    #[error("'{version}' is not a version number such as {pinned}", pinned = ORT_VERSION)]
    BadVersion {
        /// The version asked for.
        version: String,
    },
    /// The requested version and the local wheel's disagree.
    #[error("--version {requested} does not match the wheel's version {wheel}")]
    VersionMismatch {
        /// The version asked for.
        requested: String,
        /// The version in the wheel's file name.
        wheel: String,
    },
    /// The wheel path has no usable file name.
    #[error("{} is not a wheel file name", path.display())]
    NotAFileName {
        /// The path given.
        path: PathBuf,
    },
    /// The file name is not `onnxruntime-<version>-<python>-<abi>-<platform>.whl`.
    #[error(
        "{file} is not named like an onnxruntime wheel (onnxruntime-<version>-<python>-<abi>-<platform>.whl)"
    )]
    WheelName {
        /// The file name.
        file: String,
    },
    /// A file-system operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, e.g. `create`, `read`.
        action: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The wheel is larger than the cap.
    #[error("{} is larger than {cap} bytes", path.display())]
    TooLarge {
        /// The wheel.
        path: PathBuf,
        /// The cap, in bytes.
        cap: u64,
    },
    /// None of the pip commands works.
    #[error(
        "pip is not available (tried python3 -m pip, {}, pip3): install python3-pip, or pass --wheel FILE",
        venv_pip.display()
    )]
    NoPip {
        /// The test environment's pip that was tried.
        venv_pip: PathBuf,
    },
    /// `pip download` exited with a failure; pip printed why on stderr.
    #[error("pip download of onnxruntime=={version} failed ({status}); see pip's message above")]
    PipFailed {
        /// The version asked for.
        version: String,
        /// pip's exit status.
        status: ExitStatus,
    },
    /// `pip download` succeeded without leaving a wheel.
    #[error("pip downloaded no onnxruntime {version} wheel")]
    PipNoWheel {
        /// The version asked for.
        version: String,
    },
    /// `pip download` left several wheels.
    #[error("pip downloaded {count} onnxruntime wheels, expected one")]
    PipManyWheels {
        /// How many wheels it left.
        count: usize,
    },
    /// The wheel is of another version than asked for.
    #[error("pip returned {file} for version {version}")]
    WrongVersion {
        /// The wheel's file name.
        file: String,
        /// The version asked for.
        version: String,
    },
    /// The wheel is for another platform than this machine.
    #[error("{file} is for platform {platform}, this machine is linux {arch}")]
    WrongPlatform {
        /// The wheel's file name.
        file: String,
        /// The platform tag in its name.
        platform: String,
        /// This machine's architecture.
        arch: &'static str,
    },
    /// A wheel of the pinned version whose digest is not pinned.
    #[error(
        "{file} has SHA-256 {sha256}, which is not a pinned onnxruntime {pinned} wheel",
        pinned = ORT_VERSION
    )]
    UnpinnedWheel {
        /// The wheel's file name.
        file: String,
        /// Its hex SHA-256.
        sha256: String,
    },
    /// The library could not be extracted from the wheel.
    #[error("cannot extract {file}")]
    Extract {
        /// The wheel's file name.
        file: String,
        /// What went wrong inside it.
        #[source]
        source: ExtractError,
    },
    /// No library digest is pinned for this architecture.
    #[error("no pinned library for this architecture")]
    NoPinnedLibrary {
        /// This machine's architecture.
        arch: &'static str,
    },
    /// The pinned wheel lacks the versioned library file.
    #[error("{file} lacks libonnxruntime.so.{pinned}", pinned = ORT_VERSION)]
    MissingLibrary {
        /// The wheel's file name.
        file: String,
    },
    /// The extracted library is not the pinned file.
    #[error("extracted library has SHA-256 {got}, pinned {want}")]
    LibraryDigest {
        /// Its hex SHA-256.
        got: String,
        /// The pinned hex SHA-256.
        want: &'static str,
    },
    /// The install folder has no library right after the move.
    #[error("the installed library is missing")]
    LibraryMissing {
        /// The install folder.
        dir: PathBuf,
    },
}

impl InstallError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| InstallError::Io {
            action,
            path,
            source,
        }
    }
}

/// Installs the ONNX Runtime library `opts` asks for into the cache and
/// returns where it is. Progress and warnings go to `log`, one line each;
/// pip, when it runs, writes on this process's stderr.
pub fn install_onnxruntime(
    opts: &InstallOptions,
    log: &dyn Fn(&str),
) -> Result<InstallOutcome, InstallError> {
    let os = std::env::consts::OS;
    let arch = std::env::consts::ARCH;
    if os != "linux" || !matches!(arch, "x86_64" | "aarch64") {
        return Err(InstallError::UnsupportedPlatform { os, arch });
    }
    let wheel_version = match &opts.wheel {
        Some(w) => Some(WheelName::parse(w)?.version),
        None => None,
    };
    let version = match (opts.version.clone(), wheel_version) {
        (Some(requested), Some(wheel)) if requested != wheel => {
            return Err(InstallError::VersionMismatch { requested, wheel });
        }
        (_, Some(w)) => w,
        (Some(v), None) => v,
        (None, None) => ORT_VERSION.to_string(),
    };
    check_version(&version)?;
    let cache = &opts.cache;
    let root = cache.join("onnxruntime");
    let dest = install_dir(cache, &version);
    if let Some(library) = library_in(&dest) {
        log(&format!("onnxruntime {version} is already installed"));
        return Ok(InstallOutcome::AlreadyInstalled { library });
    }
    std::fs::create_dir_all(&root).map_err(InstallError::io("create", &root))?;

    // Downloads land beside the install folder so the verified wheel can be
    // kept with a rename; the folder goes when `download` drops.
    let download;
    let (wheel_path, downloaded) = match &opts.wheel {
        Some(w) => (w.clone(), false),
        None => {
            download = tempfile::Builder::new()
                .prefix(".download-")
                .tempdir_in(&root)
                .map_err(InstallError::io("create a folder in", &root))?;
            let w = pip_download(cache, &version, arch, download.path(), log)?;
            (w, true)
        }
    };
    let name = WheelName::parse(&wheel_path)?;
    if name.version != version {
        return Err(InstallError::WrongVersion {
            file: name.file,
            version,
        });
    }
    if !(name.platform.contains("linux") && name.platform.ends_with(&format!("_{arch}"))) {
        return Err(InstallError::WrongPlatform {
            file: name.file,
            platform: name.platform,
            arch,
        });
    }
    let bytes = read_capped(&wheel_path, MAX_WHEEL_BYTES)?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let pinned = version == ORT_VERSION;
    if pinned {
        if !PINNED_WHEELS.iter().any(|(_, h)| *h == digest) {
            return Err(InstallError::UnpinnedWheel {
                file: name.file,
                sha256: digest,
            });
        }
        log(&format!("{}: SHA-256 {digest} matches the pin", name.file));
    } else {
        log(&format!(
            "warning: onnxruntime {version} is not the pinned {ORT_VERSION}; nothing is verified. {}: SHA-256 {digest}",
            name.file
        ));
    }

    let staging = tempfile::Builder::new()
        .prefix(&format!(".install-{version}-"))
        .tempdir_in(&root)
        .map_err(InstallError::io("create a folder in", &root))?;
    let libs =
        extract_libraries(&bytes, staging.path()).map_err(|source| InstallError::Extract {
            file: name.file.clone(),
            source,
        })?;
    if pinned {
        check_pinned_library(&libs, staging.path(), &name.file, arch)?;
    }

    // A folder without a library is the debris of an older, interrupted
    // tool; a folder with one appeared meanwhile from another run.
    if dest.exists() && library_in(&dest).is_none() {
        std::fs::remove_dir_all(&dest).map_err(InstallError::io("remove the incomplete", &dest))?;
    }
    if let Err(e) = std::fs::rename(staging.path(), &dest) {
        if let Some(library) = library_in(&dest) {
            log(&format!(
                "onnxruntime {version} was installed meanwhile by another run"
            ));
            return Ok(InstallOutcome::InstalledByAnotherRun { library });
        }
        return Err(InstallError::io("move the library into", &dest)(e));
    }
    sync_dir(&root);
    if downloaded {
        keep_wheel(&root, &wheel_path, &name.file, log);
    }
    let library =
        library_in(&dest).ok_or_else(|| InstallError::LibraryMissing { dir: dest.clone() })?;
    log(&format!(
        "installed onnxruntime {version} into {}",
        dest.display()
    ));
    Ok(InstallOutcome::Installed {
        library,
        wheel_sha256: digest,
        verified: pinned,
    })
}

/// The pinned wheel must carry the pinned library file for `arch`.
fn check_pinned_library(
    libs: &[PathBuf],
    dir: &Path,
    file: &str,
    arch: &'static str,
) -> Result<(), InstallError> {
    let want = PINNED_LIBRARIES
        .iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, h)| *h)
        .ok_or(InstallError::NoPinnedLibrary { arch })?;
    let main = dir.join(format!("libonnxruntime.so.{ORT_VERSION}"));
    if !libs.contains(&main) {
        return Err(InstallError::MissingLibrary {
            file: file.to_string(),
        });
    }
    let got = hex::encode(Sha256::digest(
        std::fs::read(&main).map_err(InstallError::io("read", &main))?,
    ));
    if got != want {
        return Err(InstallError::LibraryDigest { got, want });
    }
    Ok(())
}

/// Refuses versions that could escape the cache folder or confuse pip.
fn check_version(v: &str) -> Result<(), InstallError> {
    let ok = !v.is_empty()
        && v.len() <= 40
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        && !v.contains("..");
    if ok {
        Ok(())
    } else {
        Err(InstallError::BadVersion {
            version: v.to_string(),
        })
    }
}

/// Reads a whole file, refusing it past `cap` bytes (checked while reading,
/// so devices and growing files cannot exhaust memory).
fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, InstallError> {
    let file = std::fs::File::open(path).map_err(InstallError::io("read", path))?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(InstallError::io("read", path))?;
    if bytes.len() as u64 > cap {
        return Err(InstallError::TooLarge {
            path: path.to_path_buf(),
            cap,
        });
    }
    Ok(bytes)
}

/// Keeps the verified wheel in `<root>/wheels/` for offline reinstalls and
/// the tests; best effort, the install has already succeeded.
fn keep_wheel(root: &Path, wheel: &Path, file: &str, log: &dyn Fn(&str)) {
    let wheels = root.join("wheels");
    let kept =
        std::fs::create_dir_all(&wheels).and_then(|()| std::fs::rename(wheel, wheels.join(file)));
    match kept {
        Ok(()) => log(&format!("kept the wheel in {}", wheels.display())),
        Err(e) => log(&format!(
            "warning: could not keep the wheel in {}: {e}",
            wheels.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_cannot_escape_the_cache() {
        assert!(check_version("1.31.1").is_ok());
        assert!(check_version("1.20.0rc1").is_ok());
        for bad in ["", "..", "1/../x", "1..2", "a1", "1.2 3", "1-2"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_wheel_and_another_version_are_refused_before_any_work() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = InstallOptions {
            cache: tmp.path().join("cache"),
            version: Some("9.9.7".into()),
            wheel: Some("onnxruntime-9.9.9-cp312-cp312-manylinux_2_28_x86_64.whl".into()),
        };
        let err = install_onnxruntime(&opts, &|_| {}).unwrap_err();
        if cfg!(target_os = "linux") && matches!(std::env::consts::ARCH, "x86_64" | "aarch64") {
            assert_eq!(
                err.to_string(),
                "--version 9.9.7 does not match the wheel's version 9.9.9"
            );
            assert!(!tmp.path().join("cache").exists());
        }
    }

    #[test]
    fn an_installed_library_is_reported_without_work() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = install_dir(tmp.path(), "9.9.9");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libonnxruntime.so.9.9.9"), b"\x7fELF").unwrap();
        let opts = InstallOptions {
            cache: tmp.path().to_path_buf(),
            version: Some("9.9.9".into()),
            wheel: None,
        };
        let lines = std::cell::RefCell::new(Vec::new());
        let result = install_onnxruntime(&opts, &|l| lines.borrow_mut().push(l.to_string()));
        if cfg!(target_os = "linux") && matches!(std::env::consts::ARCH, "x86_64" | "aarch64") {
            let outcome = result.unwrap();
            assert_eq!(
                outcome,
                InstallOutcome::AlreadyInstalled {
                    library: dir.join("libonnxruntime.so.9.9.9")
                }
            );
            assert_eq!(
                lines.into_inner(),
                ["onnxruntime 9.9.9 is already installed"]
            );
        }
    }
}
