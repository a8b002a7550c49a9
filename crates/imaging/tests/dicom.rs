//! Real DICOM files from pydicom's test data (pydicom-data 1.0.0).
//!
//! `scripts/fetch-test-data.sh` downloads them; the folder comes from
//! `MEDMETRIC_PYDICOM_DATA` or the script's default cache path. These tests
//! fail, not skip, when the data is missing: real DICOM must work.
#![cfg(feature = "dicom")]

use std::path::PathBuf;

use medmetric_imaging::dicom::{self, DicomError, DicomImage, Photometric, VoiApplied};
use medmetric_imaging::pool::{FolderPool, Pool, ReadLimits};
use medmetric_imaging::{GrayImage, Modality};

fn data_dir() -> PathBuf {
    let dir = std::env::var_os("MEDMETRIC_PYDICOM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("MEDMETRIC_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/medmetric")
                });
            cache.join("pydicom-data/data_store/data")
        });
    assert!(
        dir.join("RG1_UNCR.dcm").is_file(),
        "pydicom test data not found in {}: run scripts/fetch-test-data.sh \
         (or set MEDMETRIC_PYDICOM_DATA to its output)",
        dir.display()
    );
    dir
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).unwrap()
}

fn decode(name: &str) -> Result<DicomImage, DicomError> {
    dicom::decode(&read(name), None, &ReadLimits::default())
}

fn stats(img: &GrayImage) -> (f32, f32, f64) {
    let lo = img.data.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = img.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mean = img.data.iter().map(|&v| f64::from(v)).sum::<f64>() / img.data.len() as f64;
    (lo, hi, mean)
}

/// In range, finite, and not (nearly) constant.
fn assert_sane(name: &str, img: &GrayImage) {
    assert!(
        img.data
            .iter()
            .all(|v| v.is_finite() && (0.0..=1.0).contains(v)),
        "{name}: values outside [0, 1]"
    );
    let (lo, hi, mean) = stats(img);
    assert!(hi - lo > 0.5, "{name}: nearly constant ({lo}..{hi})");
    assert!(mean > 0.02 && mean < 0.98, "{name}: mean {mean}");
}

/// Same size and mean absolute difference at most `tol`.
fn assert_close(a: &GrayImage, b: &GrayImage, tol: f64) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let mad = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum::<f64>()
        / a.data.len() as f64;
    assert!(mad <= tol, "mean absolute difference {mad} > {tol}");
}

/// Mean of a centred box spanning `frac` of each side.
fn centre_mean(img: &GrayImage, frac: f32) -> f64 {
    let (w, h) = (img.width as f32, img.height as f32);
    let (x0, x1) = (
        (w * (1.0 - frac) / 2.0) as u32,
        (w * (1.0 + frac) / 2.0) as u32,
    );
    let (y0, y1) = (
        (h * (1.0 - frac) / 2.0) as u32,
        (h * (1.0 + frac) / 2.0) as u32,
    );
    let mut sum = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += f64::from(img.get(x, y));
        }
    }
    sum / f64::from((x1 - x0) * (y1 - y0))
}

#[test]
fn chest_radiograph_monochrome1_is_inverted() {
    for name in ["RG1_UNCR.dcm", "RG1_UNCI.dcm"] {
        let d = decode(name).unwrap();
        assert_eq!(d.photometric, Photometric::Monochrome1, "{name}");
        assert!(d.image.width > 1000 && d.image.height > 1000, "{name}");
        assert_sane(name, &d.image);
        // The mediastinum and spine (centre column) are brighter than the
        // lung fields beside them once MONOCHROME1 is inverted.
        let img = &d.image;
        let (w, h) = (img.width, img.height);
        let column_mean = |x0: u32| {
            let mut s = 0.0;
            for y in h / 3..2 * h / 3 {
                for x in x0..x0 + w / 20 {
                    s += f64::from(img.get(x, y));
                }
            }
            s / f64::from((h / 3) * (w / 20))
        };
        let spine = column_mean(w / 2 - w / 40);
        let lung_left = column_mean(w / 4);
        let lung_right = column_mean(3 * w / 4 - w / 20);
        assert!(
            spine > lung_left && spine > lung_right,
            "{name}: spine {spine} vs lungs {lung_left}/{lung_right}"
        );
    }
    // The copy decompressed from lossy JPEG 2000 (UNCI) stays close.
    assert_close(
        &decode("RG1_UNCR.dcm").unwrap().image,
        &decode("RG1_UNCI.dcm").unwrap().image,
        0.01,
    );
}

#[test]
fn tibia_radiograph_loads() {
    let d = decode("RG3_UNCR.dcm").unwrap();
    assert!(d.image.width > 1000 && d.image.height > 1000);
    assert_sane("RG3_UNCR.dcm", &d.image);
    // Bone is bright: the image is mostly dark background around a bright
    // bone, so the brightest tenth must be far above the median.
    let mut v = d.image.data.clone();
    v.sort_by(f32::total_cmp);
    let median = v[v.len() / 2];
    let p90 = v[v.len() * 9 / 10];
    assert!(p90 > median, "p90 {p90} median {median}");
    assert_close(&d.image, &decode("RG3_UNCI.dcm").unwrap().image, 0.01);
}

#[test]
fn ct_uses_rescale_and_file_window() {
    let d = decode("693_UNCR.dcm").unwrap();
    assert_eq!((d.image.width, d.image.height), (512, 512));
    assert_eq!(d.modality.as_deref(), Some("CT"));
    assert_sane("693_UNCR.dcm", &d.image);
    assert_close(&d.image, &decode("693_UNCI.dcm").unwrap().image, 0.05);
    // The centre of an axial CT (body) is brighter than the corners (air).
    let img = &d.image;
    let corner = f64::from(img.get(2, 2) + img.get(509, 2) + img.get(2, 509)) / 3.0;
    assert!(centre_mean(img, 0.2) > corner + 0.1);
    // A manifest window overrides the file's: a narrow soft-tissue window
    // saturates more pixels than a wide bone window.
    let limits = ReadLimits::default();
    let bytes = read("693_UNCR.dcm");
    let narrow = dicom::decode(&bytes, Some(window(40.0, 80.0)), &limits).unwrap();
    let wide = dicom::decode(&bytes, Some(window(400.0, 3000.0)), &limits).unwrap();
    assert_eq!(narrow.voi, VoiApplied::Override(window(40.0, 80.0)));
    let saturated = |img: &GrayImage| img.data.iter().filter(|&&v| v == 0.0 || v == 1.0).count();
    assert!(saturated(&narrow.image) > saturated(&wide.image));
}

fn window(center: f64, width: f64) -> medmetric_imaging::pool::Window {
    medmetric_imaging::pool::Window { center, width }
}

#[test]
fn head_mr_first_frame_and_encodings_agree() {
    let d = decode("emri_small.dcm").unwrap();
    assert_eq!((d.image.width, d.image.height), (64, 64));
    assert!(d.frames > 1, "emri_small is multi-frame");
    assert_sane("emri_small.dcm", &d.image);
    // Explicit big endian and RLE lossless decode to the same first frame.
    for other in ["emri_small_big_endian.dcm", "emri_small_RLE.dcm"] {
        let o = decode(other).unwrap();
        assert!(o.image == d.image, "{other} differs from emri_small.dcm");
    }
}

#[test]
fn jpeg_lossless_decodes() {
    let d = decode("JPEG-LL.dcm").unwrap();
    assert_eq!(d.transfer_syntax, "1.2.840.10008.1.2.4.70");
    assert_sane("JPEG-LL.dcm", &d.image);
    let d = decode("JPGLosslessP14SV1_1s_1f_8b.dcm").unwrap();
    assert_sane("JPGLosslessP14SV1_1s_1f_8b.dcm", &d.image);
}

#[test]
fn jpeg2000_and_jpegls_are_refused_clearly() {
    for name in [
        "RG1_J2KR.dcm",
        "693_J2KR.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ] {
        let e = decode(name).unwrap_err();
        assert!(
            matches!(e, DicomError::UnsupportedTransferSyntax { .. }),
            "{name}: {e}"
        );
        assert!(!e.to_string().contains('\n'));
    }
}

#[test]
fn colour_is_refused() {
    for name in [
        "SC_rgb.dcm",
        "color3d_jpeg_baseline.dcm",
        "US1_UNCR.dcm",
        "OBXXXX1A.dcm",
    ] {
        let e = decode(name).unwrap_err();
        assert!(matches!(e, DicomError::Unsupported(_)), "{name}: {e}");
    }
}

/// Every file of the package decodes or is refused with a one-line error.
#[test]
fn every_file_decodes_or_fails_cleanly() {
    let mut names: Vec<_> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    names.sort();
    assert!(names.len() > 40);
    let mut ok = 0;
    for path in &names {
        let bytes = std::fs::read(path).unwrap();
        match dicom::decode(&bytes, None, &ReadLimits::default()) {
            Ok(d) => {
                ok += 1;
                assert!(
                    d.image.data.iter().all(|v| (0.0..=1.0).contains(v)),
                    "{}",
                    path.display()
                );
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty() && !msg.contains('\n'), "{msg}");
            }
        }
    }
    assert!(ok >= 15, "only {ok} files decoded");
}

#[test]
fn real_dicom_backgrounds_as_a_pool() {
    let data = data_dir();
    let root = tempfile::tempdir().unwrap();
    for name in [
        "RG1_UNCR.dcm",
        "RG3_UNCR.dcm",
        "693_UNCR.dcm",
        "emri_small.dcm",
        "emri_small_RLE.dcm",
    ] {
        std::fs::copy(data.join(name), root.path().join(name)).unwrap();
    }
    std::fs::write(
        root.path().join("pool.json"),
        r#"{"format": "medmetric-pool/1", "name": "pydicom", "cases": [
            {"image": "RG1_UNCR.dcm", "label": "normal", "modality": "cxr"},
            {"image": "RG3_UNCR.dcm", "label": "abnormal", "modality": "bone"},
            {"image": "693_UNCR.dcm", "label": "normal", "modality": "bone",
             "window": {"center": 300, "width": 1500}},
            {"image": "emri_small.dcm", "label": "normal", "modality": "brain"},
            {"image": "emri_small_RLE.dcm", "label": "normal", "modality": "brain"}
        ]}"#,
    )
    .unwrap();
    let pool = FolderPool::open(root.path(), &ReadLimits::default()).unwrap();
    assert_eq!(pool.len(), 5);
    let ids: Vec<&str> = (0..5).map(|i| pool.info(i).unwrap().id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "693_UNCR.dcm",
            "RG1_UNCR.dcm",
            "RG3_UNCR.dcm",
            "emri_small.dcm",
            "emri_small_RLE.dcm"
        ]
    );
    for i in 0..pool.len() {
        let case = pool.load(i, 256).unwrap();
        assert_eq!((case.image.width, case.image.height), (256, 256));
        assert_sane(&case.id, &case.image);
    }
    assert_eq!(pool.modality_of(2), Some(Modality::Bone));
    assert_eq!(pool.is_abnormal(2), Some(true));
    // RG3 is abnormal with no outline: classification-only.
    assert_eq!(pool.mask_known(2), Some(false));
    assert_eq!(pool.mask_known(1), Some(true));
}

/// Byte mutations of real compressed files end in an image or a one-line
/// error, and the pre-checks (not the panic backstop) catch what the codecs
/// would choke on.
#[test]
fn mutated_compressed_files_fail_cleanly() {
    let mut state: u64 = 0x1234_5678_9ABC_DEF1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["emri_small_RLE.dcm", "JPEG-LL.dcm"] {
        let good = read(name);
        for _ in 0..80 {
            let mut b = good.clone();
            for _ in 0..1 + next() % 8 {
                let at = (next() as usize) % b.len();
                b[at] = next() as u8;
            }
            if let Err(e) = dicom::decode(&b, None, &ReadLimits::default()) {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{msg}");
                assert!(!msg.contains("panicked"), "{name}: a codec panicked");
            }
        }
    }
}
