//! The folder-pool manifest: `pool.json`, or the flat `manifest.csv`.
//!
//! `pool.json` (preferred; the importers write this form):
//!
//! ```json
//! {
//!   "format": "medmetric-pool/1",
//!   "name": "st-mary-cxr-2024",
//!   "cases": [
//!     {"id": "p001", "image": "dicom/p001.dcm", "label": "abnormal", "modality": "cxr",
//!      "mask": "masks/p001.png", "window": {"center": -600, "width": 1500}},
//!     {"image": "brats/BraTS2021_00000_flair.nii.gz", "slice": 77, "label": "abnormal",
//!      "modality": "brain", "mask": "brats/BraTS2021_00000_seg.nii.gz"},
//!     {"image": "rsna/0004cfab.dcm", "label": "abnormal", "modality": "cxr",
//!      "boxes": [[264.0, 152.0, 213.0, 379.0]]},
//!     {"image": "png/n17.png", "label": "normal", "modality": "bone"}
//!   ]
//! }
//! ```
//!
//! Fields of a case: `image` (required), `label` (`normal` | `abnormal`),
//! `modality` (`cxr` | `brain` | `bone`), and optionally `id` (default: the
//! image path, with `#<slice>` appended when a slice is given), `mask` (PNG,
//! or NIfTI label volume read at the same slice; nonzero = lesion), `boxes`
//! (`[x, y, width, height]` rectangles in image pixels, top-left origin; a
//! pixel is lesion when its centre lies inside a box), `window` (DICOM only:
//! centre/width in modality units, overriding the file's), `slice` (NIfTI
//! only: index along the third axis, default the middle). Unknown fields are
//! refused.
//!
//! The mask is *known* when a `mask` or `boxes` is given, or the case is
//! `normal` (a normal case has no lesion by definition). An `abnormal` case
//! with neither is classification-only: its loaded mask is empty and
//! [`CaseInfo::mask_known`](super::CaseInfo::mask_known) is `false`.
//!
//! `manifest.csv` carries the same cases without boxes: a header row naming
//! columns among `id,image,mask,label,modality,window_center,window_width,slice`
//! (`image`, `label`, `modality` required; any order; an empty cell is an
//! absent value); the pool's name is the folder's name.
//!
//! Paths are relative to the manifest's folder, `/`-separated, and refused
//! when absolute, when any component is empty, `.` or `..`, or when they
//! contain `\`, `:`, or control characters. Ids and names must be free of
//! control characters.
//!
//! ```
//! use medmetric_imaging::pool::Manifest;
//! use std::path::Path;
//!
//! let json = br#"{"format": "medmetric-pool/1", "name": "x",
//!                 "cases": [{"image": "../etc/passwd", "label": "normal", "modality": "cxr"}]}"#;
//! let err = Manifest::from_json(Path::new("pool.json"), json).unwrap_err();
//! assert!(err.to_string().contains(".."));
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{PoolError, Window};
use crate::Modality;

/// The value of the `format` field.
pub const FORMAT: &str = "medmetric-pool/1";
/// Largest manifest (or importer CSV) read, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;
/// Most cases in one pool.
pub const MAX_CASES: usize = 2_000_000;
/// Most boxes on one case.
pub const MAX_BOXES: usize = 256;

/// A case's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// No lesion.
    Normal,
    /// Lesion present.
    Abnormal,
}

impl Label {
    /// `"normal"` or `"abnormal"`.
    pub fn name(self) -> &'static str {
        match self {
            Label::Normal => "normal",
            Label::Abnormal => "abnormal",
        }
    }
}

/// One case of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestCase {
    /// Identifier; defaults to the image path (plus `#slice`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Image path, relative to the manifest's folder.
    pub image: String,
    /// Mask path (PNG or NIfTI label volume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// Lesion rectangles `[x, y, width, height]` in image pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boxes: Option<Vec<[f64; 4]>>,
    /// Label.
    pub label: Label,
    /// Modality.
    pub modality: Modality,
    /// DICOM window overriding the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// NIfTI slice index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<u32>,
}

impl ManifestCase {
    /// The case's id: `id`, else the image path with `#slice` when sliced.
    pub fn effective_id(&self) -> String {
        match (&self.id, self.slice) {
            (Some(id), _) => id.clone(),
            (None, Some(k)) => format!("{}#{k}", self.image),
            (None, None) => self.image.clone(),
        }
    }

    /// Whether the mask is ground truth (see the module docs).
    pub fn mask_known(&self) -> bool {
        self.mask.is_some() || self.boxes.is_some() || self.label == Label::Normal
    }
}

/// A pool manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The pool's name.
    pub name: String,
    /// The cases, in any order (pools sort them by id).
    pub cases: Vec<ManifestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvRow {
    #[serde(default)]
    id: Option<String>,
    image: String,
    #[serde(default)]
    mask: Option<String>,
    label: Label,
    modality: Modality,
    #[serde(default)]
    window_center: Option<f64>,
    #[serde(default)]
    window_width: Option<f64>,
    #[serde(default)]
    slice: Option<u32>,
}

const CSV_COLUMNS: [&str; 8] = [
    "id",
    "image",
    "mask",
    "label",
    "modality",
    "window_center",
    "window_width",
    "slice",
];

impl Manifest {
    /// A manifest with the current format tag.
    pub fn new(name: impl Into<String>, cases: Vec<ManifestCase>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            name: name.into(),
            cases,
        }
    }

    /// Parses and validates `pool.json` bytes; `path` names the file in
    /// errors.
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<Manifest, PoolError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            PoolError::manifest(
                path,
                format!("line {} column {}: ", e.line(), e.column()),
                one_line(&e.to_string()),
            )
        })?;
        m.validate(path)?;
        Ok(m)
    }

    /// Parses and validates `manifest.csv` bytes; the pool is named `name`.
    pub fn from_csv(path: &Path, name: &str, bytes: &[u8]) -> Result<Manifest, PoolError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(bytes);
        let headers = rdr
            .headers()
            .map_err(|e| PoolError::manifest(path, "line 1: ".into(), one_line(&e.to_string())))?
            .clone();
        for h in &headers {
            if !CSV_COLUMNS.contains(&h) {
                return Err(PoolError::manifest(
                    path,
                    "line 1: ".into(),
                    format!("unknown column '{}'", one_line(h)),
                ));
            }
        }
        let mut cases = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            let line = rdr.position().line();
            let loc = || format!("line {line}: ");
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(PoolError::manifest(path, loc(), one_line(&e.to_string()))),
            }
            if cases.len() >= MAX_CASES {
                return Err(PoolError::manifest(
                    path,
                    loc(),
                    format!("more than {MAX_CASES} cases"),
                ));
            }
            // Empty cells are absent values.
            let trimmed: csv::StringRecord = record.iter().map(str::trim).collect();
            let row: CsvRow = trimmed
                .deserialize(Some(&headers))
                .map_err(|e| PoolError::manifest(path, loc(), csv_reason(&e)))?;
            let window = match (row.window_center, row.window_width) {
                (Some(center), Some(width)) => Some(Window { center, width }),
                (None, None) => None,
                _ => {
                    return Err(PoolError::manifest(
                        path,
                        loc(),
                        "window_center and window_width go together",
                    ));
                }
            };
            let case = ManifestCase {
                id: row.id.filter(|s| !s.is_empty()),
                image: row.image,
                mask: row.mask.filter(|s| !s.is_empty()),
                boxes: None,
                label: row.label,
                modality: row.modality,
                window,
                slice: row.slice,
            };
            validate_case(&case).map_err(|r| PoolError::manifest(path, loc(), r))?;
            cases.push(case);
        }
        let m = Manifest::new(name, cases);
        m.validate(path)?;
        Ok(m)
    }

    /// Serialises as pretty `pool.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the whole manifest: format tag, name, case count, every case,
    /// unique ids.
    pub fn validate(&self, path: &Path) -> Result<(), PoolError> {
        let top = |r: String| PoolError::manifest(path, String::new(), r);
        if self.format != FORMAT {
            return Err(top(format!(
                "format is '{}', expected '{FORMAT}'",
                one_line(&self.format)
            )));
        }
        check_text("name", &self.name, 128).map_err(top)?;
        if self.cases.is_empty() {
            return Err(top("no cases".into()));
        }
        if self.cases.len() > MAX_CASES {
            return Err(top(format!("more than {MAX_CASES} cases")));
        }
        let mut ids = BTreeSet::new();
        for (i, case) in self.cases.iter().enumerate() {
            let loc = || format!("case {i}: ");
            validate_case(case).map_err(|r| PoolError::manifest(path, loc(), r))?;
            let id = case.effective_id();
            if !ids.insert(id.clone()) {
                return Err(PoolError::manifest(
                    path,
                    loc(),
                    format!("duplicate id '{id}'"),
                ));
            }
        }
        Ok(())
    }
}

fn validate_case(case: &ManifestCase) -> Result<(), String> {
    check_relative_path(&case.image).map_err(|r| format!("image {r}"))?;
    if let Some(mask) = &case.mask {
        check_relative_path(mask).map_err(|r| format!("mask {r}"))?;
    }
    if let Some(id) = &case.id {
        check_text("id", id, 512)?;
    } else {
        check_text("id", &case.effective_id(), 2048)?;
    }
    if let Some(w) = case.window
        && !w.is_valid()
    {
        return Err(format!(
            "window centre {} width {} (width must be ≥ 1, both finite)",
            w.center, w.width
        ));
    }
    if let Some(boxes) = &case.boxes {
        if case.mask.is_some() {
            return Err("give a mask or boxes, not both".into());
        }
        if boxes.len() > MAX_BOXES {
            return Err(format!("more than {MAX_BOXES} boxes"));
        }
        for b in boxes {
            if b.iter().any(|v| !v.is_finite() || v.abs() > 1e6) || b[2] <= 0.0 || b[3] <= 0.0 {
                return Err(format!("box {b:?} is not a finite positive rectangle"));
            }
        }
        match (case.label, boxes.is_empty()) {
            (Label::Abnormal, true) => return Err("abnormal case with an empty box list".into()),
            (Label::Normal, false) => return Err("normal case with lesion boxes".into()),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a manifest path: relative, `/`-separated, no `.`/`..`/empty
/// components, no `\`, `:` or control characters, at most 1024 bytes.
pub fn check_relative_path(p: &str) -> Result<(), String> {
    let shown = one_line(p);
    if p.is_empty() {
        return Err("path is empty".into());
    }
    if p.len() > 1024 {
        return Err("path is longer than 1024 bytes".into());
    }
    if p.starts_with('/') {
        return Err(format!("path '{shown}' is absolute"));
    }
    if p.chars().any(|c| c.is_control() || c == '\\' || c == ':') {
        return Err(format!(
            "path '{shown}' contains '\\', ':' or a control character"
        ));
    }
    for comp in p.split('/') {
        match comp {
            "" => return Err(format!("path '{shown}' has an empty component")),
            "." | ".." => return Err(format!("path '{shown}' contains '{comp}'")),
            _ => {}
        }
    }
    Ok(())
}

fn check_text(what: &str, s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > max {
        return Err(format!("{what} is longer than {max} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!(
            "{what} '{}' contains a control character",
            one_line(s)
        ));
    }
    Ok(())
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(f) => format!("column {}: {}", f + 1, one_line(&err.kind().to_string())),
            None => one_line(&err.kind().to_string()),
        },
        _ => one_line(&e.to_string()),
    }
}

/// Makes untrusted text safe for a one-line message.
pub(crate) fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        for ok in [
            "a.png",
            "dir/sub/a.dcm",
            "x y/é.nii.gz",
            "..a/b..",
            ".hidden",
        ] {
            assert!(check_relative_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            "C:/x",
            "a\\b",
            "a\nb",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn csv_round_trip_and_errors() {
        let p = Path::new("manifest.csv");
        let m = Manifest::from_csv(
            p,
            "pool",
            b"image,label,modality,slice,window_center,window_width\n\
              a.nii,abnormal,brain,3,,\n\
              b.dcm,normal,cxr,,40,400\n",
        )
        .unwrap();
        assert_eq!(m.cases.len(), 2);
        assert_eq!(m.cases[0].effective_id(), "a.nii#3");
        assert_eq!(
            m.cases[1].window,
            Some(Window {
                center: 40.0,
                width: 400.0
            })
        );
        let e = Manifest::from_csv(p, "x", b"image,label,modality\na.png,sick,cxr\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = Manifest::from_csv(p, "x", b"image,label,modality\na.png,normal\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = Manifest::from_csv(p, "x", b"image,label,colour\n").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }
}
