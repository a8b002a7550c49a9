//! `medmetric setup onnxruntime --wheel`: offline installs from wheels we
//! build here, and from the real pinned wheel when one is at hand.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use medmetric_eval::ort::ORT_VERSION;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

const ARCH: &str = std::env::consts::ARCH;

fn setup(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medmetric"))
        .args(["setup", "onnxruntime", "--cache"])
        .arg(cache)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A wheel holding `entries` (name, bytes), written to `dir/name`.
fn wheel(dir: &Path, name: &str, entries: &[(&str, &[u8])]) -> PathBuf {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (entry, bytes) in entries {
        zip.start_file(*entry, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    let path = dir.join(name);
    std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
    path
}

fn fake_library(version: &str) -> Vec<u8> {
    let mut bytes = b"\x7fELF".to_vec();
    bytes.extend(
        format!("not really onnxruntime {version} ")
            .repeat(1000)
            .as_bytes(),
    );
    bytes
}

fn entries_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn installs_only_the_library_atomically_and_idempotently() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let lib = fake_library("9.9.9");
    let w = wheel(
        tmp.path(),
        &format!("onnxruntime-9.9.9-cp312-cp312-manylinux_2_28_{ARCH}.whl"),
        &[
            ("onnxruntime/__init__.py", b"# python\n"),
            ("onnxruntime/capi/libonnxruntime.so.9.9.9", &lib),
            ("onnxruntime/capi/libonnxruntime_providers_shared.so", b"x"),
            ("onnxruntime/capi/onnxruntime_pybind11_state.so", b"y"),
            ("onnxruntime-9.9.9.dist-info/RECORD", b"z"),
        ],
    );
    let out = setup(&["--wheel", w.to_str().unwrap()], &cache);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = cache.join("onnxruntime/9.9.9");
    let installed = dir.join("libonnxruntime.so.9.9.9");
    assert_eq!(stdout(&out), format!("{}\n", installed.display()));
    assert_eq!(entries_of(&dir), ["libonnxruntime.so.9.9.9"]);
    assert_eq!(std::fs::read(&installed).unwrap(), lib);
    let mode = std::fs::metadata(&installed).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    // Unpinned: nothing verified, but the hash is shown for the user.
    let digest = hex::encode(Sha256::digest(std::fs::read(&w).unwrap()));
    assert!(stderr(&out).contains(&digest), "{}", stderr(&out));
    assert!(stderr(&out).contains("not the pinned"), "{}", stderr(&out));
    // No staging folders left behind, and a local wheel is not moved.
    assert_eq!(entries_of(&cache.join("onnxruntime")), ["9.9.9"]);
    assert!(w.is_file());

    let again = setup(&["--wheel", w.to_str().unwrap()], &cache);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), stdout(&out));
    assert!(
        stderr(&again).contains("already installed"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn leftover_folder_without_a_library_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = cache.join("onnxruntime/9.9.8");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("junk"), b"").unwrap();
    let w = wheel(
        tmp.path(),
        &format!("onnxruntime-9.9.8-cp312-cp312-manylinux_2_28_{ARCH}.whl"),
        &[(
            "onnxruntime/capi/libonnxruntime.so.9.9.8",
            &fake_library("9.9.8"),
        )],
    );
    let out = setup(&["--wheel", w.to_str().unwrap()], &cache);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(entries_of(&dir), ["libonnxruntime.so.9.9.8"]);
}

/// Each case must fail with exit 1, one `error:` line, and nothing installed.
#[test]
fn bad_wheels_are_refused_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let other_arch = if ARCH == "x86_64" {
        "aarch64"
    } else {
        "x86_64"
    };
    let lib = fake_library("9.9.9");
    let name = format!("onnxruntime-9.9.9-cp312-cp312-manylinux_2_28_{ARCH}.whl");
    let mut cases: Vec<(&str, PathBuf, Vec<&str>, &str)> = Vec::new();

    let d = tmp.path().join("nolib");
    std::fs::create_dir(&d).unwrap();
    cases.push((
        "no library",
        wheel(&d, &name, &[("onnxruntime/__init__.py", b"")]),
        vec![],
        "has no onnxruntime/capi/libonnxruntime.so",
    ));
    let d = tmp.path().join("escape");
    std::fs::create_dir(&d).unwrap();
    cases.push((
        "path escape",
        wheel(
            &d,
            &name,
            &[(
                "onnxruntime/capi/libonnxruntime.so.1/../../../../evil",
                &lib,
            )],
        ),
        vec![],
        "has no onnxruntime/capi/libonnxruntime.so",
    ));
    let d = tmp.path().join("symlink");
    std::fs::create_dir(&d).unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.add_symlink(
        "onnxruntime/capi/libonnxruntime.so.9.9.9",
        "/etc/passwd",
        SimpleFileOptions::default(),
    )
    .unwrap();
    let symlink = d.join(&name);
    std::fs::write(&symlink, zip.finish().unwrap().into_inner()).unwrap();
    cases.push(("symlink", symlink, vec![], "not a regular file"));
    let d = tmp.path().join("arch");
    std::fs::create_dir(&d).unwrap();
    cases.push((
        "other architecture",
        wheel(
            &d,
            &format!("onnxruntime-9.9.9-cp312-cp312-manylinux_2_28_{other_arch}.whl"),
            &[("onnxruntime/capi/libonnxruntime.so.9.9.9", &lib)],
        ),
        vec![],
        "is for platform",
    ));
    let d = tmp.path().join("notzip");
    std::fs::create_dir(&d).unwrap();
    let notzip = d.join(&name);
    std::fs::write(&notzip, b"PK but not really a zip").unwrap();
    cases.push(("not a zip", notzip, vec![], "not a zip archive"));
    let d = tmp.path().join("mismatch");
    std::fs::create_dir(&d).unwrap();
    cases.push((
        "version mismatch",
        wheel(
            &d,
            &name,
            &[("onnxruntime/capi/libonnxruntime.so.9.9.9", &lib)],
        ),
        vec!["--version", "9.9.7"],
        "does not match",
    ));
    let d = tmp.path().join("badname");
    std::fs::create_dir(&d).unwrap();
    cases.push((
        "file name",
        wheel(
            &d,
            "onnxruntime.whl",
            &[("onnxruntime/capi/libonnxruntime.so", &lib)],
        ),
        vec![],
        "not named like an onnxruntime wheel",
    ));
    // A wheel claiming the pinned version must be a pinned file.
    let d = tmp.path().join("forged");
    std::fs::create_dir(&d).unwrap();
    cases.push((
        "forged pinned wheel",
        wheel(
            &d,
            &format!("onnxruntime-{ORT_VERSION}-cp312-cp312-manylinux_2_28_{ARCH}.whl"),
            &[(
                &format!("onnxruntime/capi/libonnxruntime.so.{ORT_VERSION}"),
                &lib,
            )],
        ),
        vec![],
        "not a pinned onnxruntime",
    ));

    for (what, w, extra, expected) in cases {
        let mut args = vec!["--wheel", w.to_str().unwrap()];
        args.extend(extra);
        let out = setup(&args, &cache);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        // Warnings may come first; the failure is the one last line.
        let last = err.trim_end().lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{what}: {err}");
        assert!(last.contains(expected), "{what}: {err}");
        assert_eq!(err.matches("error").count(), 1, "{what}: {err}");
        assert!(out.stdout.is_empty(), "{what}");
        let root = cache.join("onnxruntime");
        assert!(
            entries_of(&root)
                .iter()
                .all(|e| !e.starts_with('9') && e != ORT_VERSION && !e.starts_with('.')),
            "{what}: {:?}",
            entries_of(&root)
        );
    }
    assert!(!tmp.path().join("evil").exists());
}

/// The pinned wheel `medmetric setup onnxruntime` downloaded (kept in the
/// cache) or `$MEDMETRIC_ORT_WHEEL`.
fn real_wheel() -> Option<PathBuf> {
    if let Some(w) = std::env::var_os("MEDMETRIC_ORT_WHEEL").filter(|w| !w.is_empty()) {
        return Some(PathBuf::from(w));
    }
    let cache = medmetric_eval::ort::cache_dir()?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache.join("onnxruntime/wheels"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&format!("onnxruntime-{ORT_VERSION}-"))
                    && n.ends_with(&format!("_{ARCH}.whl"))
            })
        })
        .collect();
    found.sort();
    found.pop()
}

#[test]
fn the_pinned_wheel_installs_offline() {
    let Some(w) = real_wheel() else {
        assert!(
            std::env::var_os("MEDMETRIC_REQUIRE_ORT").is_none_or(|v| v.is_empty()),
            "MEDMETRIC_REQUIRE_ORT is set but no onnxruntime {ORT_VERSION} wheel was found: run `medmetric setup onnxruntime`"
        );
        // Straight to stderr: the harness would swallow `eprintln!`.
        let _ = writeln!(
            std::io::stderr(),
            "notice: no onnxruntime {ORT_VERSION} wheel at hand; skipping the real-wheel install"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = setup(&["--wheel", w.to_str().unwrap()], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("matches the pin"), "{}", stderr(&out));
    let dir = tmp.path().join("onnxruntime").join(ORT_VERSION);
    let lib = dir.join(format!("libonnxruntime.so.{ORT_VERSION}"));
    assert_eq!(stdout(&out), format!("{}\n", lib.display()));
    assert_eq!(
        entries_of(&dir),
        [format!("libonnxruntime.so.{ORT_VERSION}")]
    );
    let bytes = std::fs::read(&lib).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert!(bytes.len() > 10 << 20, "{} bytes", bytes.len());
}
