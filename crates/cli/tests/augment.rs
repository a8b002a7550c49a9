//! `medmetric augment`: OpenCV-exact CLAHE, determinism, and one-line errors.
//!
//! CLAHE expectations come from `scripts/gen_clahe_fixtures.py`: the set
//! committed under `crates/imaging/tests/fixtures/clahe`, plus a sample of
//! the fresh set named by `MEDMETRIC_CLAHE_FIXTURES` when the test command
//! generates one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use medmetric_imaging::GrayImage;
use medmetric_imaging::png_io::{self, PngLimits};
use serde_json::Value;

fn medmetric(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medmetric"))
        .args(args)
        .output()
        .unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn decode(path: &Path) -> png_io::DecodedGray {
    png_io::decode_gray(&std::fs::read(path).unwrap(), &PngLimits::default()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `(fixture dir, every n-th case)`.
fn fixture_sets() -> Vec<(PathBuf, usize)> {
    let committed =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../imaging/tests/fixtures/clahe");
    let mut sets = vec![(committed, 1)];
    if let Some(extra) = std::env::var_os("MEDMETRIC_CLAHE_FIXTURES") {
        // one process per case: a sample keeps the run short; the library
        // test checks every case
        sets.push((PathBuf::from(extra), 23));
    }
    sets
}

#[test]
fn clahe_alone_is_opencv_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (dir, every) in fixture_sets() {
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let cases = index["cases"].as_array().unwrap();
        for case in cases
            .iter()
            .filter(|c| c["tiles_x"] == c["tiles_y"])
            .step_by(every)
        {
            let input = dir.join(case["input"].as_str().unwrap());
            let out_path = tmp.path().join("out.png");
            let arg = format!(
                "{},{}",
                case["clip"].as_f64().unwrap(),
                case["tiles_x"].as_u64().unwrap()
            );
            let out = medmetric(&["augment", p(&input), p(&out_path), "--clahe", &arg]);
            assert!(out.status.success(), "{case}: {}", stderr(&out));
            let got = decode(&out_path);
            let want = decode(&dir.join(case["output"].as_str().unwrap()));
            assert_eq!(got.bit_depth, want.bit_depth, "{case}");
            assert!(got.raw == want.raw, "{case}: differs from OpenCV");
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(report["ops"][0]["op"], "clahe");
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} cases checked");
}

fn write_gray8(path: &Path, w: u32, h: u32) {
    let img = GrayImage::from_fn(w, h, |x, y| ((x * 13 + y * 7) % 50) as f32 / 49.0);
    std::fs::write(path, png_io::encode_gray8(&img).unwrap()).unwrap();
}

#[test]
fn same_seed_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.png");
    write_gray8(&input, 45, 31);
    let run = |name: &str, seed: &str| {
        let out_path = tmp.path().join(name);
        let out = medmetric(&[
            "augment",
            p(&input),
            p(&out_path),
            "--affine",
            "-12.5,1.1,0.05,-0.02",
            "--clahe",
            "2,4",
            "--noise",
            "0.03",
            "--seed",
            seed,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (std::fs::read(&out_path).unwrap(), report)
    };
    let (a, report) = run("a.png", "0xabc");
    let (b, _) = run("b.png", "abc");
    let (c, _) = run("c.png", "abd");
    assert_eq!(a, b);
    assert_ne!(a, c);
    let decoded = decode(&tmp.path().join("a.png"));
    assert_eq!(decoded.bit_depth, 8);
    assert_eq!((decoded.image.width, decoded.image.height), (45, 31));
    // operations in the fixed order, with the matrix recorded
    let ops: Vec<&str> = report["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["affine", "clahe", "noise"]);
    assert_eq!(report["transform"].as_array().unwrap().len(), 2);
    assert_eq!(report["seed"].as_str().unwrap().len(), 64);
    assert!(report["seed"].as_str().unwrap().ends_with("0abc"));
}

#[test]
fn sixteen_bit_input_stays_sixteen_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in16.png");
    let img = GrayImage::from_fn(20, 9, |x, y| (x * 9 + y) as f32 / 200.0);
    std::fs::write(&input, png_io::encode_gray16(&img).unwrap()).unwrap();
    let out_path = tmp.path().join("out16.png");
    let out = medmetric(&["augment", p(&input), p(&out_path), "--noise", "0.01"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(decode(&out_path).bit_depth, 16);
}

#[test]
fn bad_arguments_and_files_fail_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.png");
    write_gray8(&input, 8, 8);
    let garbage = tmp.path().join("garbage.png");
    std::fs::write(&garbage, b"not a png").unwrap();
    let out_path = tmp.path().join("out.png");
    let (i, o) = (p(&input), p(&out_path));
    let missing = tmp.path().join("missing.png");
    let unwritable = tmp.path().join("no/such/dir/out.png");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![i, o], "nothing to do"),
        (vec![i, o, "--clahe", "abc"], "--clahe"),
        (vec![i, o, "--clahe", "2"], "--clahe"),
        (vec![i, o, "--clahe", "2,0"], "TILES"),
        (vec![i, o, "--clahe", "-1,8"], "CLIP"),
        (vec![i, o, "--affine", "1,2"], "--affine"),
        (vec![i, o, "--affine", "0,0,0,0"], "scale"),
        (vec![i, o, "--noise", "-0.5"], "sigma"),
        (vec![i, o, "--noise", "x"], "--noise"),
        (vec![i, o, "--noise", "0.1", "--seed", "xyz"], "--seed"),
        (vec![p(&missing), o, "--noise", "0.1"], "cannot read"),
        (vec![p(&garbage), o, "--noise", "0.1"], "PNG"),
        (vec![i, p(&unwritable), "--noise", "0.1"], "cannot write"),
    ];
    for (args, needle) in cases {
        let mut full = vec!["augment"];
        full.extend(&args);
        let out = medmetric(&full);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // a colour PNG is refused
    let rgb = tmp.path().join("rgb.png");
    {
        let file = std::fs::File::create(&rgb).unwrap();
        let mut enc = png::Encoder::new(file, 2, 2);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .unwrap()
            .write_image_data(&[0; 12])
            .unwrap();
    }
    let out = medmetric(&["augment", p(&rgb), o, "--clahe", "2,8"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("grayscale"), "{}", stderr(&out));
}

#[test]
fn help_explains_every_flag() {
    let out = medmetric(&["augment", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--clahe",
        "CLIP,TILES",
        "--affine",
        "ROT_DEG,SCALE,TX,TY",
        "--noise",
        "--seed",
        "OpenCV",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}
