//! The `onnxruntime` wheel: its pinned digests, its file name, and the
//! capped extraction of the library inside it.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::InstallError;

/// The pinned wheels of [`ORT_VERSION`](medmetric_eval::ort::ORT_VERSION):
/// every manylinux build on PyPI, with the SHA-256 PyPI publishes for it
/// (checked against the downloaded files).
pub(super) const PINNED_WHEELS: &[(&str, &str)] = &[
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
pub(super) const PINNED_LIBRARIES: &[(&str, &str)] = &[
    (
        "x86_64",
        "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
    ),
    (
        "aarch64",
        "8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467",
    ),
];

/// Largest library extracted, in bytes (the pinned one is 29 MB).
const MAX_LIBRARY_BYTES: u64 = 512 << 20;
/// Most entries a wheel may list (the pinned one has 353).
const MAX_ENTRIES: usize = 100_000;
/// Most library files taken from one wheel.
const MAX_LIBRARIES: usize = 8;
/// Where the library sits inside the wheel.
const LIBRARY_PREFIX: &str = "onnxruntime/capi/libonnxruntime.so";

/// Why the library could not be taken out of a wheel.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The wheel is not a readable zip archive.
    #[error("not a zip archive")]
    NotZip(#[source] zip::result::ZipError),
    /// The archive lists more entries than any real wheel.
    #[error("{0} entries, more than {max}", max = MAX_ENTRIES)]
    TooManyEntries(usize),
    /// An entry's header cannot be read.
    #[error("unreadable entry")]
    Entry(#[source] zip::result::ZipError),
    /// A library entry's name is not UTF-8.
    #[error("entry name is not UTF-8")]
    NameNotUtf8(#[source] std::str::Utf8Error),
    /// A library entry is a symlink or folder.
    #[error("onnxruntime/capi/{file} is not a regular file")]
    NotRegular {
        /// The library file name.
        file: String,
    },
    /// More library files than any real wheel has.
    #[error("too many library files")]
    TooManyLibraries,
    /// The same library file is listed twice.
    #[error("{file} appears twice")]
    Duplicate {
        /// The library file name.
        file: String,
    },
    /// A library declares more bytes than the cap.
    #[error("{file} declares {size} bytes, more than {max}", max = MAX_LIBRARY_BYTES)]
    DeclaredTooLarge {
        /// The library file name.
        file: String,
        /// The size the archive declares.
        size: u64,
    },
    /// A library inflates past the cap, whatever it declared.
    #[error("{file} inflates past {max} bytes", max = MAX_LIBRARY_BYTES)]
    InflatesTooLarge {
        /// The library file name.
        file: String,
    },
    /// Writing an extracted file failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, e.g. `create`, `write`.
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The wheel has no library file.
    #[error("the wheel has no {prefix}*", prefix = LIBRARY_PREFIX)]
    NoLibrary,
}

impl ExtractError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| ExtractError::Io {
            action,
            path,
            source,
        }
    }
}

/// The parts of a wheel file name MedMetric uses.
pub(super) struct WheelName {
    pub(super) file: String,
    pub(super) version: String,
    pub(super) platform: String,
}

impl WheelName {
    /// `onnxruntime-<version>-<python>-<abi>-<platform>.whl`.
    pub(super) fn parse(path: &Path) -> Result<Self, InstallError> {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .ok_or_else(|| InstallError::NotAFileName {
                path: path.to_path_buf(),
            })?
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
            _ => Err(InstallError::WheelName { file }),
        }
    }
}

/// Extracts every `onnxruntime/capi/libonnxruntime.so*` file of the wheel
/// into `dir` (flat, executable), under size caps, and returns their paths.
pub(super) fn extract_libraries(wheel: &[u8], dir: &Path) -> Result<Vec<PathBuf>, ExtractError> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(wheel)).map_err(ExtractError::NotZip)?;
    if archive.len() > MAX_ENTRIES {
        return Err(ExtractError::TooManyEntries(archive.len()));
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(ExtractError::Entry)?;
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
            std::str::from_utf8(rest).map_err(ExtractError::NameNotUtf8)?
        );
        if !entry.is_file() || entry.is_symlink() {
            return Err(ExtractError::NotRegular { file });
        }
        if out.len() >= MAX_LIBRARIES {
            return Err(ExtractError::TooManyLibraries);
        }
        let target = dir.join(&file);
        if out.contains(&target) {
            return Err(ExtractError::Duplicate { file });
        }
        if entry.size() > MAX_LIBRARY_BYTES {
            return Err(ExtractError::DeclaredTooLarge {
                size: entry.size(),
                file,
            });
        }
        let mut dst = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(ExtractError::io("create", &target))?;
        // The declared size is the archive's word; the cap holds on what is
        // actually inflated.
        let copied = std::io::copy(&mut (&mut entry).take(MAX_LIBRARY_BYTES + 1), &mut dst)
            .map_err(ExtractError::io("extract", Path::new(&file)))?;
        if copied > MAX_LIBRARY_BYTES {
            return Err(ExtractError::InflatesTooLarge { file });
        }
        dst.sync_all().map_err(ExtractError::io("write", &target))?;
        set_executable(&target)?;
        out.push(target);
    }
    if out.is_empty() {
        return Err(ExtractError::NoLibrary);
    }
    sync_dir(dir);
    Ok(out)
}

fn set_executable(path: &Path) -> Result<(), ExtractError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(ExtractError::io("set permissions of", path))
}

/// Flushes a folder's entries (renames, new files) to disk; best effort.
pub(super) fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use medmetric_eval::ort::ORT_VERSION;

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

    fn zipped(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn only_plain_library_files_are_extracted() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = zipped(&[
            ("onnxruntime/__init__.py", b""),
            ("onnxruntime/capi/libonnxruntime.so.9.9.9", b"lib"),
            ("onnxruntime/capi/libonnxruntime.so.1/../../evil", b"x"),
            ("onnxruntime/capi/libonnxruntime_providers_shared.so", b"y"),
        ]);
        let libs = extract_libraries(&wheel, tmp.path()).unwrap();
        assert_eq!(libs, [tmp.path().join("libonnxruntime.so.9.9.9")]);
        assert_eq!(std::fs::read(&libs[0]).unwrap(), b"lib");

        let empty = tempfile::tempdir().unwrap();
        let err = extract_libraries(&zipped(&[("onnxruntime/x.py", b"")]), empty.path());
        assert!(matches!(err, Err(ExtractError::NoLibrary)));
        assert!(matches!(
            extract_libraries(b"PK not a zip", empty.path()),
            Err(ExtractError::NotZip(_))
        ));
    }
}
