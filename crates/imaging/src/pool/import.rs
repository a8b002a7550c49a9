//! Importers: public dataset layouts → pool [`Manifest`]s, which
//! [`FolderPool::from_manifest`] opens (and `pool.json` can store).
//!
//! | layout | expects under `root` | cases |
//! |---|---|---|
//! | [`brats`] | `BraTS*/` case folders with `<case>_{flair,t1,t1ce,t2,seg}.nii[.gz]` | per case: the slice with the largest tumour area (abnormal, mask = `seg ≠ 0`), and optionally one tumour-free slice (normal) |
//! | [`rsna`] | `stage_2_train_labels.csv` (`patientId,x,y,width,height,Target`) and `stage_2_train_images/<patientId>.dcm` | per patient: abnormal with the union of its boxes as mask, or normal |
//! | [`chexpert`] | `train.csv` (`Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,…`) and the images it names | per frontal image with a decidable label; no masks (abnormal cases are classification-only) |
//!
//! ```no_run
//! use medmetric_imaging::pool::{FolderPool, Pool, ReadLimits, import};
//! use std::path::Path;
//!
//! let root = Path::new("/data/rsna-pneumonia");
//! let manifest = import::rsna(root)?;
//! std::fs::write(root.join("pool.json"), manifest.to_json())?;
//! let pool = FolderPool::from_manifest(root, manifest, &ReadLimits::default())?;
//! println!("{} cases, digest {}", pool.len(), hex::encode(pool.digest()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::manifest::{MAX_CASES, MAX_MANIFEST_BYTES, check_relative_path, one_line};
use super::{Label, Manifest, ManifestCase, PoolError, ReadLimits, read_bounded};
use crate::Modality;

#[cfg(doc)]
use super::FolderPool;

/// Which BraTS sequence becomes the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BratsSequence {
    /// T2-FLAIR: tumour and oedema bright (default).
    #[default]
    Flair,
    /// Native T1.
    T1,
    /// Contrast-enhanced T1.
    T1ce,
    /// T2.
    T2,
}

impl BratsSequence {
    #[cfg(feature = "nifti")]
    fn suffix(self) -> &'static str {
        match self {
            BratsSequence::Flair => "flair",
            BratsSequence::T1 => "t1",
            BratsSequence::T1ce => "t1ce",
            BratsSequence::T2 => "t2",
        }
    }
}

/// Options of the BraTS importer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BratsOptions {
    /// The sequence used as the image.
    pub sequence: BratsSequence,
    /// Also emit one tumour-free slice per case as a normal case.
    pub normal_slices: bool,
}

impl Default for BratsOptions {
    fn default() -> Self {
        BratsOptions {
            sequence: BratsSequence::Flair,
            normal_slices: true,
        }
    }
}

/// Imports BraTS case folders (`root/BraTS*/`, sorted by name).
///
/// For each case the segmentation (`<case>_seg.nii.gz`, or `.nii`) is read
/// and the axial slice with the most nonzero labels — whole tumour, every
/// label — becomes an abnormal case `"<case>/tumour"` (ties: the lowest
/// slice index). With [`BratsOptions::normal_slices`], the tumour-free slice
/// with the most nonzero image voxels (brain) becomes a normal case
/// `"<case>/normal"`, provided that area is at least half the largest
/// per-slice brain area of the volume (so it is brain, not the skull's
/// top); ties again go to the lowest index. The slices are written into the
/// manifest, so later loads do not recompute them.
#[cfg(feature = "nifti")]
pub fn brats(root: &Path, opts: &BratsOptions, limits: &ReadLimits) -> Result<Manifest, PoolError> {
    use crate::nifti::decode_volume;

    let mut cases = Vec::new();
    for name in sorted_dirs(root, |n| n.starts_with("BraTS"))? {
        let dir = root.join(&name);
        let image_rel = find_volume(&dir, &name, opts.sequence.suffix())?;
        let seg_rel = find_volume(&dir, &name, "seg")?;
        let seg_path = root.join(&seg_rel);
        let seg = decode_volume(&read_bounded(&seg_path, limits.max_file_bytes)?, limits).map_err(
            |source| PoolError::Nifti {
                path: seg_path.clone(),
                source,
            },
        )?;
        let tumour = seg.nonzero_per_slice();
        let case = |suffix: &str, k: usize, label| ManifestCase {
            id: Some(format!("{name}/{suffix}")),
            image: image_rel.clone(),
            mask: Some(seg_rel.clone()),
            boxes: None,
            label,
            modality: Modality::Brain,
            window: None,
            slice: Some(k as u32),
        };
        if let Some(k) = argmax(&tumour).filter(|&k| tumour[k] > 0) {
            cases.push(case("tumour", k, Label::Abnormal));
        }
        if opts.normal_slices {
            let image_path = root.join(&image_rel);
            let image = decode_volume(&read_bounded(&image_path, limits.max_file_bytes)?, limits)
                .map_err(|source| PoolError::Nifti {
                path: image_path.clone(),
                source,
            })?;
            if (image.nx, image.ny, image.nz) != (seg.nx, seg.ny, seg.nz) {
                return Err(PoolError::layout(
                    &image_path,
                    format!(
                        "volume is {}x{}x{}, segmentation is {}x{}x{}",
                        image.nx, image.ny, image.nz, seg.nx, seg.ny, seg.nz
                    ),
                ));
            }
            let brain = image.nonzero_per_slice();
            let most = brain.iter().copied().max().unwrap_or(0);
            let free: Vec<u64> = brain
                .iter()
                .zip(&tumour)
                .map(|(&b, &t)| if t == 0 { b } else { 0 })
                .collect();
            if let Some(k) = argmax(&free).filter(|&k| free[k] > 0 && 2 * free[k] >= most) {
                cases.push(case("normal", k, Label::Normal));
            }
        }
    }
    if cases.is_empty() {
        return Err(PoolError::layout(root, "no BraTS case folders (BraTS*/)"));
    }
    Ok(Manifest::new(dir_name(root, "brats"), cases))
}

/// First index of the maximum.
#[cfg(feature = "nifti")]
fn argmax(v: &[u64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &x) in v.iter().enumerate() {
        if best.is_none_or(|b| x > v[b]) {
            best = Some(i);
        }
    }
    best
}

#[cfg(feature = "nifti")]
fn find_volume(dir: &Path, case: &str, suffix: &str) -> Result<String, PoolError> {
    for ext in ["nii.gz", "nii"] {
        let file = format!("{case}_{suffix}.{ext}");
        if dir.join(&file).is_file() {
            let rel = format!("{case}/{file}");
            check_relative_path(&rel).map_err(|r| PoolError::layout(dir, r))?;
            return Ok(rel);
        }
    }
    Err(PoolError::layout(
        dir,
        format!("missing {case}_{suffix}.nii.gz"),
    ))
}

#[cfg(feature = "nifti")]
fn sorted_dirs(root: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<String>, PoolError> {
    let io = |source| PoolError::Io {
        path: root.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if keep(&name) && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn dir_name(root: &Path, fallback: &str) -> String {
    root.canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| !n.is_empty() && !n.chars().any(char::is_control))
        .unwrap_or_else(|| fallback.into())
}

type CsvReader = csv::Reader<std::io::Cursor<Vec<u8>>>;

fn open_csv(path: &Path) -> Result<(CsvReader, Vec<String>), PoolError> {
    let bytes = read_bounded(path, MAX_MANIFEST_BYTES)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(std::io::Cursor::new(bytes));
    let headers = rdr
        .headers()
        .map_err(|e| PoolError::manifest(path, "line 1: ".into(), one_line(&e.to_string())))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    Ok((rdr, headers))
}

fn column(path: &Path, headers: &[String], name: &str) -> Result<usize, PoolError> {
    headers
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| PoolError::manifest(path, "line 1: ".into(), format!("no '{name}' column")))
}

/// Reads every record, calling `f(line, record)`; stops at [`MAX_CASES`]
/// rows.
fn for_each_record(
    path: &Path,
    rdr: &mut CsvReader,
    mut f: impl FnMut(u64, &csv::StringRecord) -> Result<(), String>,
) -> Result<(), PoolError> {
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    loop {
        let line = rdr.position().line();
        let loc = || format!("line {line}: ");
        match rdr.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => return Err(PoolError::manifest(path, loc(), one_line(&e.to_string()))),
        }
        rows += 1;
        if rows > 4 * MAX_CASES {
            return Err(PoolError::manifest(path, loc(), "too many rows"));
        }
        f(line, &record).map_err(|r| PoolError::manifest(path, loc(), r))?;
    }
}

/// Imports the RSNA Pneumonia Detection layout.
///
/// `stage_2_train_labels.csv` has one row per box (`Target = 1`, box in
/// pixels of the 1024² image) or one row per normal patient (`Target = 0`,
/// empty box). Rows of one patient are merged: their boxes become one
/// mask (union of rectangles, [`boxes_mask`](super::boxes_mask)
/// rules). A patient with both targets, a malformed box or an unsafe
/// patient id is an error naming the line. Images are
/// `stage_2_train_images/<patientId>.dcm`.
pub fn rsna(root: &Path) -> Result<Manifest, PoolError> {
    let path = root.join("stage_2_train_labels.csv");
    let (mut rdr, headers) = open_csv(&path)?;
    let cols = ["patientId", "x", "y", "width", "height", "Target"]
        .map(|c| column(&path, &headers, c))
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let mut patients: BTreeMap<String, (bool, Vec<[f64; 4]>)> = BTreeMap::new();
    for_each_record(&path, &mut rdr, |_, rec| {
        let get = |i: usize| rec.get(cols[i]).unwrap_or("").trim();
        let pid = get(0);
        if pid.is_empty()
            || pid.len() > 128
            || !pid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || pid.starts_with('.')
        {
            return Err(format!("patientId '{}' is not a plain name", one_line(pid)));
        }
        let target = match get(5) {
            "1" => true,
            "0" => false,
            t => return Err(format!("Target '{}' is not 0 or 1", one_line(t))),
        };
        let fields = [get(1), get(2), get(3), get(4)];
        let b = if target {
            let mut b = [0.0; 4];
            for (v, s) in b.iter_mut().zip(fields) {
                *v = s
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && v.abs() <= 1e6)
                    .ok_or_else(|| format!("box value '{}' is not a number", one_line(s)))?;
            }
            if b[2] <= 0.0 || b[3] <= 0.0 {
                return Err(format!("box {b:?} has no area"));
            }
            Some(b)
        } else {
            if fields.iter().any(|f| !f.is_empty()) {
                return Err("Target 0 with a box".into());
            }
            None
        };
        let entry = patients
            .entry(pid.to_string())
            .or_insert_with(|| (target, Vec::new()));
        if entry.0 != target {
            return Err(format!("patient {pid} is listed with both targets"));
        }
        entry.1.extend(b);
        if entry.1.len() > super::manifest::MAX_BOXES {
            return Err(format!("patient {pid} has too many boxes"));
        }
        Ok(())
    })?;
    if patients.is_empty() {
        return Err(PoolError::manifest(&path, String::new(), "no rows"));
    }
    if patients.len() > MAX_CASES {
        return Err(PoolError::manifest(
            &path,
            String::new(),
            "too many patients",
        ));
    }
    let cases = patients
        .into_iter()
        .map(|(pid, (target, boxes))| ManifestCase {
            image: format!("stage_2_train_images/{pid}.dcm"),
            id: Some(pid),
            mask: None,
            boxes: Some(boxes),
            label: if target {
                Label::Abnormal
            } else {
                Label::Normal
            },
            modality: Modality::Cxr,
            window: None,
            slice: None,
        })
        .collect();
    Ok(Manifest::new(dir_name(root, "rsna-pneumonia"), cases))
}

/// How CheXpert's uncertain labels (`-1`) count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Uncertain {
    /// U-Ignore: an image whose label depends on an uncertain finding is
    /// left out (default).
    #[default]
    Ignore,
    /// U-Ones: uncertain counts as present.
    Ones,
    /// U-Zeros: uncertain counts as absent.
    Zeros,
}

/// Options of the CheXpert importer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChexpertOptions {
    /// The label file under `root` (`train.csv` or `valid.csv`).
    pub csv: String,
    /// Uncertain-label policy.
    pub uncertain: Uncertain,
    /// Keep only frontal views.
    pub frontal_only: bool,
}

impl Default for ChexpertOptions {
    fn default() -> Self {
        ChexpertOptions {
            csv: "train.csv".into(),
            uncertain: Uncertain::Ignore,
            frontal_only: true,
        }
    }
}

/// The CheXpert findings that make an image abnormal ("No Finding" and
/// "Support Devices" do not).
pub const CHEXPERT_FINDINGS: [&str; 12] = [
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
];

/// Imports the CheXpert layout.
///
/// A row is abnormal when any of [`CHEXPERT_FINDINGS`] is `1` (after the
/// uncertainty policy), normal when none is and `No Finding` is `1`, and
/// left out otherwise (blank labels, or an uncertain finding under
/// U-Ignore). Values are `1`, `0`, `-1` (`.0` allowed) or blank. `Path`
/// names the image relative to the dataset's parent folder
/// (`CheXpert-v1.0-small/train/…`): when its first component is `root`'s own
/// name it is stripped. CheXpert has no outlines: abnormal cases have
/// unknown masks ([`CaseInfo::mask_known`](super::CaseInfo::mask_known) is
/// `false`). The images are JPEG; PNG and DICOM copies work too.
pub fn chexpert(root: &Path, opts: &ChexpertOptions) -> Result<Manifest, PoolError> {
    check_relative_path(&opts.csv).map_err(|r| PoolError::layout(root, r))?;
    let path = root.join(&opts.csv);
    let (mut rdr, headers) = open_csv(&path)?;
    let path_col = column(&path, &headers, "Path")?;
    let view_col = column(&path, &headers, "Frontal/Lateral")?;
    let none_col = column(&path, &headers, "No Finding")?;
    let finding_cols: Vec<usize> = CHEXPERT_FINDINGS
        .iter()
        .filter_map(|f| headers.iter().position(|h| h == f))
        .collect();
    if finding_cols.is_empty() {
        return Err(PoolError::manifest(
            &path,
            "line 1: ".into(),
            "no finding columns",
        ));
    }
    let root_name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let mut cases = Vec::new();
    for_each_record(&path, &mut rdr, |_, rec| {
        let cell = |i: usize| rec.get(i).unwrap_or("").trim();
        let value = |i: usize| -> Result<Option<f32>, String> {
            match cell(i) {
                "" => Ok(None),
                "1" | "1.0" => Ok(Some(1.0)),
                "0" | "0.0" => Ok(Some(0.0)),
                "-1" | "-1.0" => Ok(Some(-1.0)),
                other => Err(format!(
                    "label '{}' in column {} is not 1, 0, -1 or blank",
                    one_line(other),
                    i + 1
                )),
            }
        };
        let mut image = cell(path_col).to_string();
        check_relative_path(&image)?;
        if let Some(name) = &root_name
            && let Some(rest) = image.strip_prefix(&format!("{name}/"))
        {
            image = rest.to_string();
        }
        if opts.frontal_only && cell(view_col) != "Frontal" {
            return Ok(());
        }
        let (mut positive, mut uncertain) = (false, false);
        for &c in &finding_cols {
            match (value(c)?, opts.uncertain) {
                (Some(v), _) if v > 0.5 => positive = true,
                (Some(v), Uncertain::Ones) if v < -0.5 => positive = true,
                (Some(v), Uncertain::Ignore) if v < -0.5 => uncertain = true,
                _ => {}
            }
        }
        let label = if positive {
            Label::Abnormal
        } else if uncertain {
            return Ok(());
        } else if value(none_col)? == Some(1.0) {
            Label::Normal
        } else {
            return Ok(());
        };
        if cases.len() >= MAX_CASES {
            return Err(format!("more than {MAX_CASES} cases"));
        }
        cases.push(ManifestCase {
            id: None,
            image,
            mask: None,
            boxes: None,
            label,
            modality: Modality::Cxr,
            window: None,
            slice: None,
        });
        Ok(())
    })?;
    if cases.is_empty() {
        return Err(PoolError::manifest(
            &path,
            String::new(),
            "no row with a decidable frontal label",
        ));
    }
    Ok(Manifest::new(dir_name(root, "chexpert"), cases))
}

/// Where a pool comes from, as written on command lines and in round
/// configs: `phantom:<modality>`, `folder:<dir>`, `brats:<dir>`,
/// `rsna:<dir>` or `chexpert:<dir>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolSpec {
    /// Built-in procedural phantoms (built by the phantom module).
    Phantom(Modality),
    /// A folder with `pool.json` or `manifest.csv`.
    Folder(PathBuf),
    /// BraTS case folders, default options.
    Brats(PathBuf),
    /// RSNA Pneumonia layout.
    Rsna(PathBuf),
    /// CheXpert layout, default options.
    Chexpert(PathBuf),
}

impl std::str::FromStr for PoolSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s
            .split_once(':')
            .ok_or_else(|| format!("pool '{}' is not KIND:ARG", one_line(s)))?;
        if arg.is_empty() {
            return Err(format!("pool '{}' has no argument", one_line(s)));
        }
        let dir = PathBuf::from(arg);
        Ok(match kind {
            "phantom" => PoolSpec::Phantom(arg.parse()?),
            "folder" => PoolSpec::Folder(dir),
            "brats" => PoolSpec::Brats(dir),
            "rsna" => PoolSpec::Rsna(dir),
            "chexpert" => PoolSpec::Chexpert(dir),
            other => {
                return Err(format!(
                    "unknown pool kind '{}' (phantom, folder, brats, rsna, chexpert)",
                    one_line(other)
                ));
            }
        })
    }
}

impl PoolSpec {
    /// Opens a file-based pool; `None` for [`PoolSpec::Phantom`], which the
    /// phantom module builds.
    pub fn open_files(&self, limits: &ReadLimits) -> Result<Option<super::FolderPool>, PoolError> {
        use super::FolderPool;
        let (root, manifest) = match self {
            PoolSpec::Phantom(_) => return Ok(None),
            PoolSpec::Folder(dir) => return FolderPool::open(dir, limits).map(Some),
            #[cfg(feature = "nifti")]
            PoolSpec::Brats(dir) => (dir, brats(dir, &BratsOptions::default(), limits)?),
            #[cfg(not(feature = "nifti"))]
            PoolSpec::Brats(dir) => {
                return Err(PoolError::layout(dir, "NIfTI support is not built in"));
            }
            PoolSpec::Rsna(dir) => (dir, rsna(dir)?),
            PoolSpec::Chexpert(dir) => (dir, chexpert(dir, &ChexpertOptions::default())?),
        };
        FolderPool::from_manifest(root, manifest, limits).map(Some)
    }
}
