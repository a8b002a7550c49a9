//! Pools end to end on small fixtures written in the exact public layouts,
//! plus hostile-input tests: every malformed file, manifest or CSV must end
//! in a one-line error naming the file, never a panic or a huge allocation.
#![cfg(all(feature = "dicom", feature = "nifti"))]

use std::io::Write;
use std::path::{Path, PathBuf};

use medmetric_imaging::pool::import::{self, BratsOptions, ChexpertOptions, PoolSpec, Uncertain};
use medmetric_imaging::pool::{
    FolderPool, Label, Manifest, Pool, PoolError, ReadLimits, Window, boxes_mask, source,
};
use medmetric_imaging::{GrayImage, Mask, Modality, dicom, nifti, png_io};

// ---------------------------------------------------------------------------
// Fixture writers.

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn png8(w: u32, h: u32, f: impl FnMut(u32, u32) -> f32) -> Vec<u8> {
    png_io::encode_gray8(&GrayImage::from_fn(w, h, f)).unwrap()
}

fn mask_png(w: u32, h: u32, f: impl Fn(u32, u32) -> bool) -> Vec<u8> {
    let mut m = Mask::empty(w, h);
    for y in 0..h {
        for x in 0..w {
            m.data[(y * w + x) as usize] = u8::from(f(x, y));
        }
    }
    png_io::encode_mask(&m).unwrap()
}

/// A little-endian NIfTI-1 single-file volume, int16, with an sform whose
/// diagonal is `diag` (or no orientation when `None`).
fn nifti_i16(dims: [i16; 3], voxels: &[i16], diag: Option<[f32; 3]>, gz: bool) -> Vec<u8> {
    let mut h = nifti_header(&dims, 4, 16);
    if let Some(d) = diag {
        h[254..256].copy_from_slice(&1i16.to_le_bytes()); // sform_code
        for (row, off) in [280usize, 296, 312].into_iter().enumerate() {
            let mut r = [0f32; 4];
            r[row] = d[row];
            for (i, v) in r.iter().enumerate() {
                h[off + 4 * i..off + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    for v in voxels {
        h.extend_from_slice(&v.to_le_bytes());
    }
    if gz {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&h).unwrap();
        enc.finish().unwrap()
    } else {
        h
    }
}

/// 352 bytes: the 348-byte header and an empty extension block.
fn nifti_header(dims: &[i16], datatype: i16, bitpix: i16) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    h[40..42].copy_from_slice(&(dims.len() as i16).to_le_bytes());
    for (i, d) in dims.iter().enumerate() {
        h[42 + 2 * i..44 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&datatype.to_le_bytes());
    h[72..74].copy_from_slice(&bitpix.to_le_bytes());
    h[76..80].copy_from_slice(&1f32.to_le_bytes());
    h[108..112].copy_from_slice(&352f32.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

mod dcm {
    use dicom_core::value::PixelFragmentSequence;
    use dicom_core::{DataElement, DicomValue, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

    pub enum Pixels {
        U8(Vec<u8>),
        U16(Vec<u16>),
        Encapsulated(Vec<u8>),
    }

    pub struct Spec {
        pub rows: u16,
        pub cols: u16,
        pub bits: u16,
        pub stored: u16,
        pub signed: bool,
        pub photometric: &'static str,
        pub ts: &'static str,
        pub pixels: Pixels,
        pub rescale: Option<(f64, f64)>,
        pub window: Option<(f64, f64)>,
        pub frames: Option<u32>,
    }

    impl Spec {
        pub fn gray8(rows: u16, cols: u16, data: Vec<u8>) -> Spec {
            Spec {
                rows,
                cols,
                bits: 8,
                stored: 8,
                signed: false,
                photometric: "MONOCHROME2",
                ts: "1.2.840.10008.1.2.1",
                pixels: Pixels::U8(data),
                rescale: None,
                window: None,
                frames: None,
            }
        }
    }

    pub fn bytes(s: Spec) -> Vec<u8> {
        let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
        let mut obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.1"),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "2.25.42"),
            DataElement::new(tags::MODALITY, VR::CS, "CR"),
            us(tags::SAMPLES_PER_PIXEL, 1),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, s.photometric),
            us(tags::ROWS, s.rows),
            us(tags::COLUMNS, s.cols),
            us(tags::BITS_ALLOCATED, s.bits),
            us(tags::BITS_STORED, s.stored),
            us(tags::HIGH_BIT, s.stored - 1),
            us(tags::PIXEL_REPRESENTATION, u16::from(s.signed)),
        ]);
        if let Some((slope, intercept)) = s.rescale {
            obj.put(DataElement::new(
                tags::RESCALE_SLOPE,
                VR::DS,
                slope.to_string(),
            ));
            obj.put(DataElement::new(
                tags::RESCALE_INTERCEPT,
                VR::DS,
                intercept.to_string(),
            ));
        }
        if let Some((c, w)) = s.window {
            obj.put(DataElement::new(tags::WINDOW_CENTER, VR::DS, c.to_string()));
            obj.put(DataElement::new(tags::WINDOW_WIDTH, VR::DS, w.to_string()));
        }
        if let Some(n) = s.frames {
            obj.put(DataElement::new(
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                n.to_string(),
            ));
        }
        let pixel = match s.pixels {
            Pixels::U8(v) => DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(v)),
            Pixels::U16(v) => {
                DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(v.into()))
            }
            Pixels::Encapsulated(frag) => DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                DicomValue::PixelSequence(PixelFragmentSequence::new_fragments(vec![frag])),
            ),
        };
        obj.put(pixel);
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.1")
                    .transfer_syntax(s.ts),
            )
            .unwrap();
        let mut out = Vec::new();
        file.write_all(&mut out).unwrap();
        out
    }
}

fn limits() -> ReadLimits {
    ReadLimits::default()
}

fn assert_one_line(e: &impl std::fmt::Display) -> String {
    let s = e.to_string();
    assert!(!s.is_empty() && !s.contains('\n'), "not one line: {s:?}");
    s
}

/// Deterministic bytes for the fuzz-style tests.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---------------------------------------------------------------------------
// Folder pools, manifests, digests.

fn png_pool(dir: &Path) {
    // 8-bit image using only 50..=150, with a mask; a 16-bit image; a
    // normal case without mask; an abnormal case without mask.
    write(
        &dir.join("img/a.png"),
        &png8(40, 20, |x, _| {
            (50.0 + 100.0 * x as f32 / 39.0).round() / 255.0
        }),
    );
    write(
        &dir.join("masks/a.png"),
        &mask_png(40, 20, |x, y| x < 10 && y < 10),
    );
    write(
        &dir.join("img/b.png"),
        &png_io::encode_gray16(&GrayImage::from_fn(16, 16, |x, y| {
            (1000.0 + 10.0 * (x + y) as f32) / 65535.0
        }))
        .unwrap(),
    );
    write(&dir.join("img/c.png"), &png8(8, 8, |_, _| 0.5));
    write(&dir.join("img/d.png"), &png8(8, 8, |x, _| x as f32 / 7.0));
    write(
        &dir.join("pool.json"),
        br#"{"format": "medmetric-pool/1", "name": "pngs", "cases": [
            {"id": "d", "image": "img/d.png", "label": "abnormal", "modality": "bone"},
            {"id": "a", "image": "img/a.png", "mask": "masks/a.png", "label": "abnormal",
             "modality": "cxr"},
            {"id": "b", "image": "img/b.png", "label": "normal", "modality": "brain"},
            {"id": "c", "image": "img/c.png", "label": "normal", "modality": "cxr"}
        ]}"#,
    );
}

#[test]
fn png_pool_loads_letterboxed_min_max_images() {
    let dir = tempfile::tempdir().unwrap();
    png_pool(dir.path());
    let pool = FolderPool::open(dir.path(), &limits()).unwrap();
    assert_eq!(pool.name(), "pngs");
    let ids: Vec<_> = (0..pool.len())
        .map(|i| pool.info(i).unwrap().id.clone())
        .collect();
    assert_eq!(ids, ["a", "b", "c", "d"], "cases are sorted by id");

    // a: 40x20 letterboxed into 40x40 (10 zero rows above and below).
    let a = pool.load(0, 40).unwrap();
    assert_eq!((a.modality, a.abnormal), (Modality::Cxr, true));
    assert_eq!(a.image.get(0, 5), 0.0, "padding");
    assert_eq!(a.image.get(0, 10), 0.0, "min of the stretch");
    assert_eq!(a.image.get(39, 10), 1.0, "max of the stretch");
    assert_eq!(a.mask.data.iter().filter(|&&v| v == 1).count(), 100);
    assert_eq!(a.mask.data[(10 * 40) as usize], 1);
    assert_eq!(a.mask.data[(9 * 40) as usize], 0);
    let small = pool.load(0, 20).unwrap();
    assert_eq!(small.mask.data.iter().filter(|&&v| v == 1).count(), 25);

    // b: 16-bit, min-max over the raw samples.
    let b = pool.load(1, 16).unwrap();
    assert_eq!(b.image.get(0, 0), 0.0);
    assert_eq!(b.image.get(15, 15), 1.0);
    // c: a constant image gives zeros; a normal case has a known empty mask.
    let c = pool.load(2, 8).unwrap();
    assert!(c.image.data.iter().all(|&v| v == 0.0));
    assert!(!c.mask.any() && pool.mask_known(2) == Some(true));
    // d: abnormal without an outline is classification-only.
    assert_eq!(pool.mask_known(3), Some(false));
    assert!(!pool.load(3, 8).unwrap().mask.any());

    assert!(matches!(pool.load(4, 8), Err(PoolError::OutOfRange { .. })));
    assert!(matches!(pool.load(0, 0), Err(PoolError::BadSize { .. })));
}

#[test]
fn digest_is_content_addressed() {
    let one = tempfile::tempdir().unwrap();
    png_pool(one.path());
    let d1 = FolderPool::open(one.path(), &limits()).unwrap().digest();

    // Same content, other folder, other case order, other pool name: same.
    let two = tempfile::tempdir().unwrap();
    png_pool(two.path());
    let mut m: Manifest =
        serde_json::from_slice(&std::fs::read(two.path().join("pool.json")).unwrap()).unwrap();
    m.cases.reverse();
    m.name = "renamed".into();
    std::fs::write(two.path().join("pool.json"), m.to_json()).unwrap();
    assert_eq!(
        FolderPool::open(two.path(), &limits()).unwrap().digest(),
        d1
    );

    // A label change changes it.
    let c = m
        .cases
        .iter_mut()
        .find(|c| c.id.as_deref() == Some("c"))
        .unwrap();
    c.label = Label::Abnormal;
    std::fs::write(two.path().join("pool.json"), m.to_json()).unwrap();
    let d2 = FolderPool::open(two.path(), &limits()).unwrap().digest();
    assert_ne!(d2, d1);

    // One changed pixel changes it.
    write(
        &one.path().join("img/c.png"),
        &png8(8, 8, |x, _| if x == 0 { 0.6 } else { 0.5 }),
    );
    assert_ne!(
        FolderPool::open(one.path(), &limits()).unwrap().digest(),
        d1
    );
}

#[test]
fn files_changed_after_opening_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    png_pool(dir.path());
    let pool = FolderPool::open(dir.path(), &limits()).unwrap();
    write(
        &dir.path().join("masks/a.png"),
        &mask_png(40, 20, |_, _| true),
    );
    let e = pool.load(0, 32).unwrap_err();
    assert!(matches!(e, PoolError::Changed { .. }), "{e}");
    assert!(assert_one_line(&e).contains("masks/a.png"));
}

#[test]
fn csv_manifest_matches_json() {
    let dir = tempfile::tempdir().unwrap();
    png_pool(dir.path());
    let json = FolderPool::open(dir.path(), &limits()).unwrap();
    std::fs::remove_file(dir.path().join("pool.json")).unwrap();
    write(
        &dir.path().join("manifest.csv"),
        b"id,image,mask,label,modality\n\
          a,img/a.png,masks/a.png,abnormal,cxr\n\
          b,img/b.png,,normal,brain\n\
          c,img/c.png,,normal,cxr\n\
          d,img/d.png,,abnormal,bone\n",
    );
    let csv = FolderPool::open(dir.path(), &limits()).unwrap();
    assert_eq!(csv.digest(), json.digest());
    assert_eq!(csv.listing(), json.listing());
    assert!(csv.listing().starts_with("medmetric/pool/v1\n"));
}

#[test]
fn manifest_errors_are_one_line_and_name_the_file() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": ["#,
            "line",
        ),
        (
            r#"{"format": "medmetric-pool/2", "name": "x", "cases": []}"#,
            "format",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": []}"#,
            "no cases",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "/etc/passwd", "label": "normal", "modality": "cxr"}]}"#,
            "absolute",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "a/../../b.png", "label": "normal", "modality": "cxr"}]}"#,
            "'..'",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "a\\b.png", "label": "normal", "modality": "cxr"}]}"#,
            "'\\'",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "mask": "../m.png", "label": "normal", "modality": "cxr"}]}"#,
            "mask",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "label": "sick", "modality": "cxr"}]}"#,
            "sick",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "label": "normal", "modality": "cxr", "colour": 1}]}"#,
            "colour",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "label": "normal", "modality": "cxr"}, {"image": "img/a.png", "label": "normal", "modality": "cxr"}]}"#,
            "duplicate id",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "label": "abnormal", "modality": "cxr", "boxes": []}]}"#,
            "empty box list",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "label": "abnormal", "modality": "cxr", "boxes": [[0, 0, -1, 3]]}]}"#,
            "rectangle",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "label": "normal", "modality": "cxr", "window": {"center": 1, "width": 0}}]}"#,
            "width",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "label": "normal", "modality": "cxr", "window": {"center": 40, "width": 400}}]}"#,
            "only to DICOM",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "label": "normal", "modality": "cxr", "slice": 3}]}"#,
            "only to NIfTI",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/missing.png", "label": "normal", "modality": "cxr"}]}"#,
            "missing.png",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/a.png", "mask": "img/b.png", "label": "abnormal", "modality": "cxr"}]}"#,
            "",
        ),
        (
            r#"{"format": "medmetric-pool/1", "name": "x", "cases": [{"image": "img/junk.bin", "label": "normal", "modality": "cxr"}]}"#,
            "not a DICOM, NIfTI, PNG or JPEG",
        ),
    ];
    for (json, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        png_pool(dir.path());
        write(&dir.path().join("img/junk.bin"), b"hello");
        write(&dir.path().join("pool.json"), json.as_bytes());
        let e = match FolderPool::open(dir.path(), &limits()) {
            // The mask/image size mismatch only shows when loading.
            Ok(pool) => pool.load(0, 16).unwrap_err(),
            Err(e) => e,
        };
        let msg = assert_one_line(&e);
        assert!(msg.contains(needle), "{needle:?} not in {msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }
}

#[test]
fn malformed_csv_manifests() {
    for (csv, needle) in [
        ("image,label,modality\na.png,normal\n", "line 2"),
        ("image,label,modality\na.png,normal,cxr,extra\n", "line 2"),
        (
            "image,label,modality\na.png,normal,cxr\n../b.png,normal,cxr\n",
            "line 3",
        ),
        ("image,label\na.png,normal\n", "modality"),
        (
            "image,label,modality,window_center\nimg/a.png,normal,cxr,40\n",
            "window",
        ),
        (
            "image,label,modality,slice\nimg/a.png,normal,cxr,-3\n",
            "line 2",
        ),
        ("image,label,modality\n\"unterminated,normal,cxr\n", ""),
        ("\u{0}\u{1}\u{2}", ""),
    ] {
        let dir = tempfile::tempdir().unwrap();
        png_pool(dir.path());
        std::fs::remove_file(dir.path().join("pool.json")).unwrap();
        write(&dir.path().join("manifest.csv"), csv.as_bytes());
        let e = FolderPool::open(dir.path(), &limits()).unwrap_err();
        let msg = assert_one_line(&e);
        assert!(msg.contains(needle), "{needle:?} not in {msg}");
        assert!(msg.contains("manifest.csv"), "{msg}");
    }
}

#[test]
fn limits_refuse_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    png_pool(dir.path());
    let tight = ReadLimits {
        max_file_bytes: 100,
        ..ReadLimits::default()
    };
    let e = FolderPool::open(dir.path(), &tight).unwrap_err();
    assert!(matches!(e, PoolError::FileTooLarge { .. }), "{e}");
    let narrow = ReadLimits {
        max_side: 16,
        ..ReadLimits::default()
    };
    let pool = FolderPool::open(dir.path(), &narrow).unwrap();
    assert!(matches!(pool.load(0, 16), Err(PoolError::Png { .. })));
    assert!(matches!(pool.load(1, 32), Err(PoolError::BadSize { .. })));
}

#[test]
fn both_manifests_or_none_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(FolderPool::open(dir.path(), &limits()).is_err());
    png_pool(dir.path());
    write(&dir.path().join("manifest.csv"), b"image,label,modality\n");
    let e = FolderPool::open(dir.path(), &limits()).unwrap_err();
    assert!(assert_one_line(&e).contains("both"));
}

// ---------------------------------------------------------------------------
// BraTS.

const N: i16 = 8;

/// A BraTS-like case: brain (nonzero) in slices 1..=5 (small in slice 1),
/// tumour in slices 2..=4 with areas 2, 6 and 3 voxels.
fn brats_case(root: &Path, name: &str, gz: bool) {
    let (nx, ny, nz) = (N as usize, N as usize, 6usize);
    let idx = |i: usize, j: usize, k: usize| i + nx * (j + ny * k);
    let mut brain = vec![0i16; nx * ny * nz];
    let mut seg = vec![0i16; nx * ny * nz];
    for k in 1..nz {
        // Slice 1 is the skull's top: too little brain to be a normal case.
        let (lo, hi) = if k == 1 { (3, 5) } else { (1, nx - 1) };
        for j in lo..hi {
            for i in lo..hi {
                brain[idx(i, j, k)] = 100 + (i * 10 + j) as i16;
            }
        }
    }
    for (k, voxels) in [(2usize, 2usize), (3, 6), (4, 3)] {
        for v in 0..voxels {
            seg[idx(2 + v % 3, 2 + v / 3, k)] = [1i16, 2, 4][v % 3];
            brain[idx(2 + v % 3, 2 + v / 3, k)] = 900;
        }
    }
    let ext = if gz { "nii.gz" } else { "nii" };
    let diag = Some([-1.0, -1.0, 1.0]);
    let dims = [N, N, nz as i16];
    for seq in ["flair", "t1", "t1ce", "t2"] {
        write(
            &root.join(format!("{name}/{name}_{seq}.{ext}")),
            &nifti_i16(dims, &brain, diag, gz),
        );
    }
    write(
        &root.join(format!("{name}/{name}_seg.{ext}")),
        &nifti_i16(dims, &seg, diag, gz),
    );
}

#[test]
fn brats_layout_largest_tumour_slice_and_normal_slice() {
    let root = tempfile::tempdir().unwrap();
    brats_case(root.path(), "BraTS2021_00000", true);
    brats_case(root.path(), "BraTS2021_00001", false);
    std::fs::create_dir(root.path().join("notes")).unwrap();
    let manifest = import::brats(root.path(), &BratsOptions::default(), &limits()).unwrap();
    let slices: Vec<_> = manifest
        .cases
        .iter()
        .map(|c| (c.id.clone().unwrap(), c.slice.unwrap(), c.label))
        .collect();
    assert_eq!(
        slices,
        [
            ("BraTS2021_00000/tumour".to_string(), 3, Label::Abnormal),
            ("BraTS2021_00000/normal".to_string(), 5, Label::Normal),
            ("BraTS2021_00001/tumour".to_string(), 3, Label::Abnormal),
            ("BraTS2021_00001/normal".to_string(), 5, Label::Normal),
        ]
    );
    assert_eq!(
        manifest.cases[0].image,
        "BraTS2021_00000/BraTS2021_00000_flair.nii.gz"
    );
    let pool = FolderPool::from_manifest(root.path(), manifest, &limits()).unwrap();
    assert_eq!(pool.len(), 4);
    let tumour = pool.load(3, 8).unwrap(); // sorted: 00000/normal, 00000/tumour, ...
    assert_eq!(tumour.id, "BraTS2021_00001/tumour");
    assert_eq!((tumour.modality, tumour.abnormal), (Modality::Brain, true));
    assert_eq!(tumour.mask.data.iter().filter(|&&v| v == 1).count(), 6);
    // sform diag(-1, -1, 1) is already radiological: voxel (i, j) at (x, y).
    assert_eq!(tumour.mask.data[2 * 8 + 2], 1);
    assert_eq!(tumour.image.get(2, 2), 1.0, "tumour is the brightest");
    let normal = pool.load(2, 16).unwrap();
    assert!(!normal.abnormal && !normal.mask.any());

    let t1 = import::brats(
        root.path(),
        &BratsOptions {
            sequence: import::BratsSequence::T1ce,
            normal_slices: false,
        },
        &limits(),
    )
    .unwrap();
    assert_eq!(t1.cases.len(), 2);
    assert!(t1.cases[0].image.ends_with("_t1ce.nii.gz"));

    // The same pool through its spec string.
    let spec: PoolSpec = format!("brats:{}", root.path().display()).parse().unwrap();
    let again = spec.open_files(&limits()).unwrap().unwrap();
    assert_eq!(again.digest(), pool.digest());
}

#[test]
fn brats_missing_files_are_named() {
    let root = tempfile::tempdir().unwrap();
    brats_case(root.path(), "BraTS2021_00007", true);
    std::fs::remove_file(
        root.path()
            .join("BraTS2021_00007/BraTS2021_00007_seg.nii.gz"),
    )
    .unwrap();
    let e = import::brats(root.path(), &BratsOptions::default(), &limits()).unwrap_err();
    assert!(assert_one_line(&e).contains("BraTS2021_00007_seg.nii.gz"));
    let empty = tempfile::tempdir().unwrap();
    assert!(import::brats(empty.path(), &BratsOptions::default(), &limits()).is_err());
}

#[test]
fn nifti_orientation_follows_the_sform() {
    // A 2x2x1 volume: value = 1 + i + 2j.
    let vox = [1i16, 2, 3, 4];
    let ras = nifti::decode_volume(
        &nifti_i16([2, 2, 1], &vox, Some([1.0, 1.0, 1.0]), false),
        &limits(),
    )
    .unwrap();
    // i toward +x (right) and j toward +y (anterior): both mirrored.
    assert_eq!(ras.slice_values(0).unwrap(), vec![4.0, 3.0, 2.0, 1.0]);
    let plain = nifti::decode_volume(&nifti_i16([2, 2, 1], &vox, None, false), &limits()).unwrap();
    assert_eq!(plain.slice_values(0).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(plain.middle_slice(), 0);
}

#[test]
fn hostile_nifti_is_refused_cheaply() {
    let l = limits();
    // 2^31 voxels declared (8192 x 8192 x 32 float32 = 8 GiB).
    let h = nifti_header(&[8192, 8192, 32], 16, 32);
    let e = nifti::decode_volume(&h, &l).unwrap_err();
    assert!(matches!(e, nifti::NiftiError::TooLarge(_)), "{e}");
    // Negative and zero dimensions.
    for dims in [[-1i16, 4, 4], [4, 0, 4], [4, 4, -32768]] {
        let e = nifti::decode_volume(&nifti_header(&dims, 4, 16), &l).unwrap_err();
        assert!(
            matches!(e, nifti::NiftiError::Malformed(_)),
            "{dims:?}: {e}"
        );
    }
    // dim[0] out of range, NIfTI-2, pair header, bad datatype, bad offset.
    let mut h = nifti_header(&[4, 4, 4], 4, 16);
    h[40] = 9;
    assert!(nifti::decode_volume(&h, &l).is_err());
    let mut h = nifti_header(&[4, 4, 4], 4, 16);
    h[0..4].copy_from_slice(&540i32.to_le_bytes());
    assert!(matches!(
        nifti::decode_volume(&h, &l),
        Err(nifti::NiftiError::Unsupported(_))
    ));
    let mut h = nifti_header(&[4, 4, 4], 4, 16);
    h[344..348].copy_from_slice(b"ni1\0");
    assert!(matches!(
        nifti::decode_volume(&h, &l),
        Err(nifti::NiftiError::Unsupported(_))
    ));
    assert!(nifti::decode_volume(&nifti_header(&[4, 4, 4], 128, 24), &l).is_err());
    assert!(nifti::decode_volume(&nifti_header(&[4, 4, 4], 77, 16), &l).is_err());
    let mut h = nifti_header(&[4, 4, 4], 4, 16);
    h[108..112].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(nifti::decode_volume(&h, &l).is_err());
    let mut h = nifti_header(&[4, 4, 4], 4, 16);
    h[108..112].copy_from_slice(&1e12f32.to_le_bytes());
    assert!(nifti::decode_volume(&h, &l).is_err());
    // Truncated voxel data, plain and gzipped.
    let full = nifti_i16([4, 4, 4], &[7; 64], None, false);
    for cut in [0, 10, 347, 352, 400, full.len() - 1] {
        let e = nifti::decode_volume(&full[..cut], &l).unwrap_err();
        assert_one_line(&e);
    }
    let gz = nifti_i16([4, 4, 4], &[7; 64], None, true);
    // (A stream cut only in its CRC trailer still holds every voxel.)
    for cut in [2, 20, gz.len() / 2] {
        assert!(nifti::decode_volume(&gz[..cut], &l).is_err());
    }
    // A gzip bomb: 64 MiB of zeros behind a header that declares a volume
    // over the cap is refused from the header; one under the cap reads only
    // what it declares.
    let small = ReadLimits {
        max_decoded_bytes: 1 << 20,
        ..ReadLimits::default()
    };
    let bomb = |dims: [i16; 3]| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&nifti_header(&dims, 2, 8)).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        enc.finish().unwrap()
    };
    assert!(matches!(
        nifti::decode_volume(&bomb([1024, 1024, 16]), &small),
        Err(nifti::NiftiError::TooLarge(_))
    ));
    let v = nifti::decode_volume(&bomb([64, 64, 4]), &small).unwrap();
    assert_eq!(v.data.len(), 64 * 64 * 4);
    // Random bytes behind a valid-looking start.
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for n in 0..200 {
        let mut b = nifti_header(&[4, 4, 4], 4, 16);
        let noise = rng.bytes(64);
        let at = (rng.next() % 300) as usize;
        b[at..at + 48].copy_from_slice(&noise[..48]);
        b.extend(rng.bytes(n));
        if let Err(e) = nifti::decode_volume(&b, &l) {
            assert_one_line(&e);
        }
    }
}

// ---------------------------------------------------------------------------
// RSNA Pneumonia.

fn rsna_layout(root: &Path, labels: &str) {
    write(&root.join("stage_2_train_labels.csv"), labels.as_bytes());
    for pid in [
        "0004cfab-14fd-4e49-80ba-63a80b6bddd6",
        "00313ee0-9eaa-42f4-b0ab-c148ed3241cd",
        "00322d4d-1c29-4943-afc9-b6754be640eb",
    ] {
        let data = (0..32 * 32).map(|i| (i % 251) as u8).collect();
        write(
            &root.join(format!("stage_2_train_images/{pid}.dcm")),
            &dcm::bytes(dcm::Spec::gray8(32, 32, data)),
        );
    }
}

const RSNA_LABELS: &str = "patientId,x,y,width,height,Target
0004cfab-14fd-4e49-80ba-63a80b6bddd6,,,,,0
00313ee0-9eaa-42f4-b0ab-c148ed3241cd,,,,,0
00322d4d-1c29-4943-afc9-b6754be640eb,2.0,3.0,4.0,5.0,1
00322d4d-1c29-4943-afc9-b6754be640eb,20.0,20.0,6.0,2.0,1
";

#[test]
fn rsna_layout_merges_boxes_into_masks() {
    let root = tempfile::tempdir().unwrap();
    rsna_layout(root.path(), RSNA_LABELS);
    let manifest = import::rsna(root.path()).unwrap();
    assert_eq!(manifest.cases.len(), 3);
    let pool = FolderPool::from_manifest(root.path(), manifest, &limits()).unwrap();
    assert_eq!(pool.is_abnormal(0), Some(false));
    assert_eq!(pool.mask_known(0), Some(true));
    let sick = pool.load(2, 32).unwrap();
    assert!(sick.abnormal);
    assert_eq!(
        sick.mask,
        boxes_mask(32, 32, &[[2.0, 3.0, 4.0, 5.0], [20.0, 20.0, 6.0, 2.0]])
    );
    assert_eq!(
        sick.mask.data.iter().filter(|&&v| v == 1).count(),
        4 * 5 + 6 * 2
    );
    let half = pool.load(2, 16).unwrap();
    // Nearest sampling keeps source columns/rows 1, 3, 5, …: 2·3 + 3·1.
    assert_eq!(half.mask.data.iter().filter(|&&v| v == 1).count(), 9);
    // An 8-bit MONOCHROME2 radiograph without a window: min-max.
    assert_eq!(sick.image.get(0, 0), 0.0);
    let spec: PoolSpec = format!("rsna:{}", root.path().display()).parse().unwrap();
    assert_eq!(
        spec.open_files(&limits()).unwrap().unwrap().digest(),
        pool.digest()
    );
}

#[test]
fn rsna_malformed_rows() {
    for (row, needle) in [
        ("00322d4d-1c29-4943-afc9-b6754be640eb,1,1,2,2,2", "Target"),
        (
            "00322d4d-1c29-4943-afc9-b6754be640eb,1,1,2,2,0",
            "Target 0 with a box",
        ),
        ("00322d4d-1c29-4943-afc9-b6754be640eb,,,,,1", "not a number"),
        ("00322d4d-1c29-4943-afc9-b6754be640eb,1,1,0,2,1", "no area"),
        (
            "00322d4d-1c29-4943-afc9-b6754be640eb,1,1,NaN,2,1",
            "not a number",
        ),
        (
            "0004cfab-14fd-4e49-80ba-63a80b6bddd6,1,1,2,2,1",
            "both targets",
        ),
        ("../../etc/passwd,1,1,2,2,1", "plain name"),
        ("a/b,1,1,2,2,1", "plain name"),
        ("short,row", "line 6"),
    ] {
        let root = tempfile::tempdir().unwrap();
        rsna_layout(root.path(), &format!("{RSNA_LABELS}{row}\n"));
        let e = import::rsna(root.path()).unwrap_err();
        let msg = assert_one_line(&e);
        assert!(
            msg.contains(needle) && msg.contains("line 6"),
            "{needle:?}: {msg}"
        );
        assert!(msg.contains("stage_2_train_labels.csv"));
    }
    let root = tempfile::tempdir().unwrap();
    rsna_layout(root.path(), "patientId,x,y,width,height\n");
    assert!(assert_one_line(&import::rsna(root.path()).unwrap_err()).contains("Target"));
    let root = tempfile::tempdir().unwrap();
    rsna_layout(root.path(), RSNA_LABELS);
    std::fs::remove_file(
        root.path()
            .join("stage_2_train_images/00313ee0-9eaa-42f4-b0ab-c148ed3241cd.dcm"),
    )
    .unwrap();
    let m = import::rsna(root.path()).unwrap();
    let e = FolderPool::from_manifest(root.path(), m, &limits()).unwrap_err();
    assert!(assert_one_line(&e).contains("00313ee0"));
}

// ---------------------------------------------------------------------------
// CheXpert.

fn jpeg(w: u16, h: u16, f: impl Fn(u16, u16) -> u8) -> Vec<u8> {
    let data: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| f(x, y))
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 95)
        .encode(&data, w, h, jpeg_encoder::ColorType::Luma)
        .unwrap();
    out
}

const CHEXPERT_HEADER: &str = "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,Fracture,Support Devices";

fn chexpert_layout(parent: &Path) -> PathBuf {
    let root = parent.join("CheXpert-v1.0-small");
    let rows = [
        // normal
        "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0",
        // abnormal: cardiomegaly
        "CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg,Male,87,Frontal,AP,,,1.0,,,-1.0,,,,,,,,",
        // lateral: skipped
        "CheXpert-v1.0-small/train/patient00002/study1/view2_lateral.jpg,Male,87,Lateral,,,,1.0,,,,,,,,,,,",
        // only uncertain: skipped under U-Ignore, abnormal under U-Ones
        "CheXpert-v1.0-small/train/patient00003/study1/view1_frontal.jpg,Male,40,Frontal,PA,,,,,,,,-1.0,,,,,,",
        // nothing decidable: skipped
        "CheXpert-v1.0-small/train/patient00004/study1/view1_frontal.jpg,Female,51,Frontal,PA,,,,,,,,,,,,,,1.0",
    ];
    write(
        &root.join("train.csv"),
        format!("{CHEXPERT_HEADER}\n{}\n", rows.join("\n")).as_bytes(),
    );
    for p in 1..=4 {
        let img = jpeg(48, 40, move |x, y| {
            ((x * 3 + y * 2 + p * 10) % 200) as u8 + 20
        });
        write(
            &root.join(format!("train/patient0000{p}/study1/view1_frontal.jpg")),
            &img,
        );
    }
    write(
        &root.join("train/patient00002/study1/view2_lateral.jpg"),
        &jpeg(40, 48, |x, _| x as u8),
    );
    root
}

#[test]
fn chexpert_layout_labels_without_masks() {
    let parent = tempfile::tempdir().unwrap();
    let root = chexpert_layout(parent.path());
    let manifest = import::chexpert(&root, &ChexpertOptions::default()).unwrap();
    let got: Vec<_> = manifest
        .cases
        .iter()
        .map(|c| (c.image.as_str(), c.label))
        .collect();
    assert_eq!(
        got,
        [
            ("train/patient00001/study1/view1_frontal.jpg", Label::Normal),
            (
                "train/patient00002/study1/view1_frontal.jpg",
                Label::Abnormal
            ),
        ]
    );
    let pool = FolderPool::from_manifest(&root, manifest, &limits()).unwrap();
    assert_eq!(pool.mask_known(0), Some(true));
    assert_eq!(
        pool.mask_known(1),
        Some(false),
        "abnormal CheXpert: classification only"
    );
    let case = pool.load(1, 48).unwrap();
    assert_eq!(case.modality, Modality::Cxr);
    // 48x40 JPEG letterboxed to 48x48: 4 zero rows on top.
    assert_eq!(case.image.get(10, 1), 0.0);
    let inner = &case.image.data[4 * 48..44 * 48];
    assert!(inner.iter().any(|&v| v > 0.9) && inner.iter().any(|&v| v < 0.1));

    let ones = import::chexpert(
        &root,
        &ChexpertOptions {
            uncertain: Uncertain::Ones,
            ..ChexpertOptions::default()
        },
    )
    .unwrap();
    assert_eq!(ones.cases.len(), 3);
    let all = import::chexpert(
        &root,
        &ChexpertOptions {
            frontal_only: false,
            ..ChexpertOptions::default()
        },
    )
    .unwrap();
    assert_eq!(all.cases.len(), 3);

    std::fs::write(
        root.join("train.csv"),
        format!("{CHEXPERT_HEADER}\n../../x.jpg,F,1,Frontal,AP,1.0,,,,,,,,,,,,,\n"),
    )
    .unwrap();
    let e = import::chexpert(&root, &ChexpertOptions::default()).unwrap_err();
    assert!(assert_one_line(&e).contains("line 2"));
    std::fs::write(
        root.join("train.csv"),
        format!("{CHEXPERT_HEADER}\nCheXpert-v1.0-small/a.jpg,F,1,Frontal,AP,maybe,,,,,,,,,,,,,\n"),
    )
    .unwrap();
    let e = import::chexpert(&root, &ChexpertOptions::default()).unwrap_err();
    assert!(assert_one_line(&e).contains("maybe"));
}

// ---------------------------------------------------------------------------
// DICOM preprocessing on synthetic files.

fn ramp16(n: usize) -> Vec<u16> {
    (0..n).map(|i| (i * 37 % 4096) as u16).collect()
}

#[test]
fn dicom_rescale_window_and_monochrome1() {
    let l = limits();
    let base = |photometric, window| dcm::Spec {
        rows: 4,
        cols: 4,
        bits: 16,
        stored: 12,
        signed: false,
        photometric,
        ts: "1.2.840.10008.1.2.1",
        pixels: dcm::Pixels::U16((0..16).map(|i| i * 100).collect()),
        rescale: Some((2.0, -1000.0)),
        window,
        frames: None,
    };
    // Min-max (no window): 0..1500 stored → -1000..2000 HU → 0..1.
    let d = dicom::decode(&dcm::bytes(base("MONOCHROME2", None)), None, &l).unwrap();
    assert_eq!(d.image.data[0], 0.0);
    assert_eq!(d.image.data[15], 1.0);
    assert!((d.image.data[5] - 1.0 / 3.0).abs() < 1e-6);
    // MONOCHROME1: inverted.
    let m1 = dicom::decode(&dcm::bytes(base("MONOCHROME1", None)), None, &l).unwrap();
    assert_eq!(m1.image.data[0], 1.0);
    assert!((m1.image.data[5] - 2.0 / 3.0).abs() < 1e-6);
    // File window: centre 0 HU, width 1001 → stored 500 (0 HU) ≈ 0.5.
    let w = dicom::decode(
        &dcm::bytes(base("MONOCHROME2", Some((0.0, 1001.0)))),
        None,
        &l,
    )
    .unwrap();
    assert!((w.image.data[5] - 0.5).abs() < 1e-3, "{}", w.image.data[5]);
    assert_eq!(w.image.data[15], 1.0);
    // The manifest window wins over the file's.
    let over = Window {
        center: 2000.0,
        width: 2.0,
    };
    let o = dicom::decode(
        &dcm::bytes(base("MONOCHROME2", Some((0.0, 1001.0)))),
        Some(over),
        &l,
    )
    .unwrap();
    assert_eq!(o.image.data[14], 0.0);
    assert_eq!(o.image.data[15], 1.0);
}

#[test]
fn dicom_signed_12_bit_in_16() {
    // -2048..2047 stored in 12 bits with garbage in the top nibble.
    let vals: Vec<u16> = [-2048i16, -1, 0, 2047]
        .iter()
        .map(|&v| (v as u16 & 0x0FFF) | 0xA000)
        .collect();
    let spec = dcm::Spec {
        rows: 1,
        cols: 4,
        bits: 16,
        stored: 12,
        signed: true,
        photometric: "MONOCHROME2",
        ts: "1.2.840.10008.1.2.1",
        pixels: dcm::Pixels::U16(vals),
        rescale: None,
        window: None,
        frames: None,
    };
    let d = dicom::decode(&dcm::bytes(spec), None, &limits()).unwrap();
    let expect = [0.0, 2047.0 / 4095.0, 2048.0 / 4095.0, 1.0];
    for (a, b) in d.image.data.iter().zip(expect) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

/// DICOM RLE Lossless (PS3.5 G) with literal runs only.
fn rle_fragment(segments: &[Vec<u8>]) -> Vec<u8> {
    let mut header = vec![0u8; 64];
    header[0..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
    let mut body = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let offset = 64 + body.len() as u32;
        header[4 + 4 * i..8 + 4 * i].copy_from_slice(&offset.to_le_bytes());
        for chunk in seg.chunks(128) {
            body.push((chunk.len() - 1) as u8);
            body.extend_from_slice(chunk);
        }
        if body.len() % 2 == 1 {
            body.push(0x80); // no-op run
        }
    }
    header.extend(body);
    header
}

#[test]
fn dicom_compressed_transfer_syntaxes() {
    let l = limits();
    let (rows, cols) = (24u16, 20u16);
    let n = usize::from(rows) * usize::from(cols);
    let raw16 = ramp16(n);
    let native = dcm::Spec {
        rows,
        cols,
        bits: 16,
        stored: 12,
        signed: false,
        photometric: "MONOCHROME2",
        ts: "1.2.840.10008.1.2.1",
        pixels: dcm::Pixels::U16(raw16.clone()),
        rescale: None,
        window: None,
        frames: None,
    };
    let reference = dicom::decode(&dcm::bytes(native), None, &l).unwrap().image;

    // RLE lossless, 16-bit: high bytes segment, then low bytes.
    let hi: Vec<u8> = raw16.iter().map(|v| (v >> 8) as u8).collect();
    let lo: Vec<u8> = raw16.iter().map(|v| (v & 0xFF) as u8).collect();
    let rle = dcm::Spec {
        rows,
        cols,
        bits: 16,
        stored: 12,
        signed: false,
        photometric: "MONOCHROME2",
        ts: "1.2.840.10008.1.2.5",
        pixels: dcm::Pixels::Encapsulated(rle_fragment(&[hi, lo])),
        rescale: None,
        window: None,
        frames: None,
    };
    let d = dicom::decode(&dcm::bytes(rle), None, &l).unwrap();
    assert!(d.image == reference, "RLE decodes to the native pixels");

    // Deflated explicit VR little endian.
    let deflated = dcm::Spec {
        ts: "1.2.840.10008.1.2.1.99",
        ..dcm::Spec {
            rows,
            cols,
            bits: 16,
            stored: 12,
            signed: false,
            photometric: "MONOCHROME2",
            ts: "",
            pixels: dcm::Pixels::U16(raw16.clone()),
            rescale: None,
            window: None,
            frames: None,
        }
    };
    let bytes = dcm::bytes(deflated);
    let d = dicom::decode(&bytes, None, &l).unwrap();
    assert_eq!(d.transfer_syntax, "1.2.840.10008.1.2.1.99");
    assert!(d.image == reference, "deflate decodes to the native pixels");
    // ...and a deflated data set inflating past the cap is refused.
    let tiny = ReadLimits {
        max_decoded_bytes: 64,
        ..ReadLimits::default()
    };
    assert!(matches!(
        dicom::decode(&bytes, None, &tiny),
        Err(dicom::DicomError::TooLarge(_))
    ));

    // JPEG baseline, 8-bit.
    let img8: Vec<u8> = (0..n).map(|i| ((i % 20) * 12) as u8).collect();
    let jpeg_bytes = jpeg(cols, rows, |x, _| (x * 12) as u8);
    let mut spec = dcm::Spec::gray8(rows, cols, Vec::new());
    spec.ts = "1.2.840.10008.1.2.4.50";
    spec.pixels = dcm::Pixels::Encapsulated(jpeg_bytes.clone());
    let d = dicom::decode(&dcm::bytes(spec), None, &l).unwrap();
    let native8 = dicom::decode(&dcm::bytes(dcm::Spec::gray8(rows, cols, img8)), None, &l)
        .unwrap()
        .image;
    let mad = d
        .image
        .data
        .iter()
        .zip(&native8.data)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / n as f32;
    assert!(mad < 0.02, "JPEG baseline within lossy tolerance ({mad})");
    // The standalone JPEG path gives the same pixels.
    let standalone = dicom::decode_jpeg(&jpeg_bytes, &l).unwrap();
    assert!(standalone == d.image);

    // A JPEG whose frame header disagrees with Rows/Columns is refused
    // before the codec allocates for it.
    let mut spec = dcm::Spec::gray8(rows, cols + 1, Vec::new());
    spec.ts = "1.2.840.10008.1.2.4.50";
    spec.pixels = dcm::Pixels::Encapsulated(jpeg_bytes);
    let e = dicom::decode(&dcm::bytes(spec), None, &l).unwrap_err();
    assert!(matches!(e, dicom::DicomError::Malformed(_)), "{e}");
}

#[test]
fn dicom_multiframe_takes_the_first_frame() {
    let mut frames = vec![10u8; 16];
    frames.extend([0u8, 255].repeat(8));
    frames.extend([99u8; 16]);
    let mut spec = dcm::Spec::gray8(4, 4, frames);
    spec.frames = Some(3);
    let d = dicom::decode(&dcm::bytes(spec), None, &limits()).unwrap();
    assert_eq!(d.frames, 3);
    assert!(
        d.image.data.iter().all(|&v| v == 0.0),
        "constant first frame"
    );
}

#[test]
fn dicom_and_jpeg_in_a_pool_with_a_manifest_window() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dcm::Spec {
        rows: 8,
        cols: 16,
        bits: 16,
        stored: 16,
        signed: false,
        photometric: "MONOCHROME2",
        ts: "1.2.840.10008.1.2",
        pixels: dcm::Pixels::U16((0..128).map(|i| i * 10).collect()),
        rescale: None,
        window: None,
        frames: None,
    };
    write(&dir.path().join("ct.dcm"), &dcm::bytes(spec));
    write(
        &dir.path().join("x.jpg"),
        &jpeg(16, 16, |x, y| (x * 8 + y) as u8),
    );
    write(
        &dir.path().join("pool.json"),
        br#"{"format": "medmetric-pool/1", "name": "d", "cases": [
            {"image": "ct.dcm", "label": "normal", "modality": "bone",
             "window": {"center": 645, "width": 2}},
            {"image": "x.jpg", "label": "normal", "modality": "cxr"}]}"#,
    );
    let pool = FolderPool::open(dir.path(), &limits()).unwrap();
    let ct = pool.load(0, 16).unwrap();
    // A 2-wide window at 645: stored 640 → 0, 650 → 1. Stored values are
    // 10·(16·row + col); rows land 4 lower after letterboxing.
    assert_eq!(ct.image.get(0, 8), 0.0);
    assert_eq!(ct.image.get(1, 8), 1.0);
    assert_eq!(ct.image.get(0, 9), 1.0);
    assert!(
        ct.image.get(0, 0) == 0.0 && ct.image.get(0, 15) == 0.0,
        "letterbox"
    );
    assert!(pool.listing().contains("[645.0,2.0]"), "{}", pool.listing());
    let x = pool.load(1, 16).unwrap();
    assert_eq!(x.image.width, 16);
}

#[test]
fn hostile_dicom_never_panics() {
    let l = limits();
    let good = dcm::bytes(dcm::Spec {
        rows: 16,
        cols: 16,
        bits: 16,
        stored: 12,
        signed: false,
        photometric: "MONOCHROME2",
        ts: "1.2.840.10008.1.2.1",
        pixels: dcm::Pixels::U16(ramp16(256)),
        rescale: Some((1.0, -1024.0)),
        window: Some((40.0, 400.0)),
        frames: None,
    });
    dicom::decode(&good, None, &l).unwrap();
    // Every truncation.
    for cut in 0..good.len() {
        if let Err(e) = dicom::decode(&good[..cut], None, &l) {
            assert_one_line(&e);
        }
    }
    // Random bytes, with and without a DICM marker.
    let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
    for n in [0usize, 1, 4, 131, 132, 133, 200, 1000, 5000] {
        for _ in 0..20 {
            let mut b = rng.bytes(n);
            if n >= 132 && rng.next().is_multiple_of(2) {
                b[128..132].copy_from_slice(b"DICM");
            }
            if let Err(e) = dicom::decode(&b, None, &l) {
                assert_one_line(&e);
            }
        }
    }
    // Bit flips and random byte runs in a valid file.
    for _ in 0..2000 {
        let mut b = good.clone();
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() as usize) % b.len();
            b[at] = rng.next() as u8;
        }
        if let Err(e) = dicom::decode(&b, None, &l) {
            assert_one_line(&e);
        }
    }
    // The same on the JPEG path.
    let j = jpeg(16, 16, |x, y| (x * y) as u8);
    for _ in 0..500 {
        let mut b = j.clone();
        let at = 2 + (rng.next() as usize) % (b.len() - 2);
        b[at] = rng.next() as u8;
        if let Err(e) = dicom::decode_jpeg(&b, &l) {
            assert_one_line(&e);
        }
    }
    for cut in 0..j.len() {
        if let Err(e) = dicom::decode_jpeg(&j[..cut], &l) {
            assert_one_line(&e);
        }
    }
}

#[test]
fn dicom_declared_sizes_are_bounded() {
    let l = limits();
    // Rows x Columns over the side limit, without the pixels to match.
    let mut spec = dcm::Spec::gray8(60000, 60000, vec![0; 16]);
    spec.frames = None;
    let e = dicom::decode(&dcm::bytes(spec), None, &l).unwrap_err();
    assert!(matches!(e, dicom::DicomError::TooLarge(_)), "{e}");
    // Declared pixels beyond the data: an error, not a read past the end.
    let e =
        dicom::decode(&dcm::bytes(dcm::Spec::gray8(64, 64, vec![0; 16])), None, &l).unwrap_err();
    assert_one_line(&e);
    // An element claiming 4 GiB in a tiny file is refused by the pre-scan.
    let mut good = dcm::bytes(dcm::Spec::gray8(2, 2, vec![1, 2, 3, 4]));
    let pos = good
        .windows(4)
        .position(|w| w == [0x08, 0x00, 0x60, 0x00]) // (0008,0060) Modality, CS
        .unwrap();
    good[pos + 6..pos + 8].copy_from_slice(&[0xFF, 0xFF]);
    let e = dicom::decode(&good, None, &l).unwrap_err();
    assert!(assert_one_line(&e).contains("past the end"), "{e}");
    let too_big = ReadLimits {
        max_file_bytes: 100,
        ..ReadLimits::default()
    };
    assert!(matches!(
        dicom::decode(&good, None, &too_big),
        Err(dicom::DicomError::TooLarge(_))
    ));
}

#[test]
fn source_sniffs_formats_not_names() {
    let dir = tempfile::tempdir().unwrap();
    let png_named_dcm = dir.path().join("image.dcm");
    write(&png_named_dcm, &png8(4, 4, |x, _| x as f32 / 3.0));
    let img = source::load_image(&png_named_dcm, &Default::default(), &limits()).unwrap();
    assert_eq!(img.data[3], 1.0);
    let e = source::load_image(&dir.path().join("nope.png"), &Default::default(), &limits())
        .unwrap_err();
    assert!(matches!(e, PoolError::Io { .. }));
    assert!(assert_one_line(&e).contains("nope.png"));
}

#[test]
fn pool_specs_parse() {
    assert_eq!(
        "phantom:cxr".parse::<PoolSpec>(),
        Ok(PoolSpec::Phantom(Modality::Cxr))
    );
    assert_eq!(
        "folder:/data/x".parse::<PoolSpec>(),
        Ok(PoolSpec::Folder(PathBuf::from("/data/x")))
    );
    assert!("phantom:lung".parse::<PoolSpec>().is_err());
    assert!("ftp:x".parse::<PoolSpec>().is_err());
    assert!("folder:".parse::<PoolSpec>().is_err());
    assert!(
        PoolSpec::Phantom(Modality::Bone)
            .open_files(&limits())
            .unwrap()
            .is_none()
    );
}
