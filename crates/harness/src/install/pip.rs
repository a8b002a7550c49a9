//! Fetching the wheel with pip.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use medmetric_eval::ort::ORT_VERSION;

use super::InstallError;

/// The pip command: `python3 -m pip`, else the test venv's pip, else `pip3`.
fn find_pip(cache: &Path) -> Result<Vec<OsString>, InstallError> {
    let venv_pip = cache.join("venv/bin/pip");
    let candidates: [Vec<OsString>; 3] = [
        vec!["python3".into(), "-m".into(), "pip".into()],
        vec![venv_pip.clone().into_os_string()],
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
    Err(InstallError::NoPip { venv_pip })
}

/// Runs `pip download` into `dir` and returns the wheel it fetched.
pub(super) fn pip_download(
    cache: &Path,
    version: &str,
    arch: &str,
    dir: &Path,
    log: &dyn Fn(&str),
) -> Result<PathBuf, InstallError> {
    let pip = find_pip(cache)?;
    let mut cmd = Command::new(&pip[0]);
    cmd.args(&pip[1..])
        .args(["download", "--no-deps", "--only-binary=:all:"]);
    // The library is the same file in every Python's wheel: one fixed tag
    // makes every machine install identical, pinned bytes.
    if version == ORT_VERSION {
        cmd.args(["--implementation", "cp", "--python-version", "3.12"])
            .args(["--abi", "cp312", "--platform"])
            .arg(format!("manylinux_2_28_{arch}"));
    }
    cmd.arg("--dest")
        .arg(dir)
        .arg(format!("onnxruntime=={version}"))
        .stdin(Stdio::null())
        // stdout is the caller's; pip talks on stderr.
        .stdout(Stdio::from(std::io::stderr()));
    log(&format!("downloading onnxruntime {version} with pip"));
    let status = cmd
        .status()
        .map_err(InstallError::io("run", Path::new(&pip[0])))?;
    if !status.success() {
        return Err(InstallError::PipFailed {
            version: version.to_string(),
            status,
        });
    }
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(InstallError::io("read", dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&format!("onnxruntime-{version}-")) && n.ends_with(".whl")
            })
        })
        .collect();
    match wheels.len() {
        1 => Ok(wheels.remove(0)),
        0 => Err(InstallError::PipNoWheel {
            version: version.to_string(),
        }),
        count => Err(InstallError::PipManyWheels { count }),
    }
}
