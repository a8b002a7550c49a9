//! Folder pools: a manifest plus the files it names.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::{MAX_MANIFEST_BYTES, Manifest, ManifestCase};
use super::source::{self, ImageFormat, ImageOptions};
use super::{CaseInfo, Pool, PoolError, ReadLimits, fit_square, read_bounded};
use crate::{Case, Mask};

/// First line of the canonical listing that the digest covers.
pub const LISTING_HEADER: &str = "medmetric/pool/v1";

#[derive(Debug, Clone)]
enum MaskSource {
    None,
    File { path: PathBuf, sha: [u8; 32] },
    Boxes(Vec<[f64; 4]>),
}

#[derive(Debug, Clone)]
struct Entry {
    image: PathBuf,
    image_sha: [u8; 32],
    opts: ImageOptions,
    mask: MaskSource,
}

/// A pool read from a folder's `pool.json` or `manifest.csv` (see
/// [`manifest`](super::manifest)), or built by an importer.
///
/// Opening reads every file the manifest names once (size-bounded), checks
/// its format and options, and hashes it; [`Pool::load`] re-reads the file
/// and refuses it if its bytes changed since ([`PoolError::Changed`]), so a
/// loaded case always matches the digest.
#[derive(Debug, Clone)]
pub struct FolderPool {
    name: String,
    root: PathBuf,
    limits: ReadLimits,
    manifest: Manifest,
    entries: Vec<Entry>,
    infos: Vec<CaseInfo>,
    digest: [u8; 32],
}

impl FolderPool {
    /// Opens the pool in `dir`: `pool.json` if present, else `manifest.csv`
    /// (named after the folder). Both present is an error, to avoid doubt
    /// about which one a digest covers.
    pub fn open(dir: &Path, limits: &ReadLimits) -> Result<FolderPool, PoolError> {
        let json = dir.join("pool.json");
        let csv = dir.join("manifest.csv");
        let manifest = match (json.is_file(), csv.is_file()) {
            (true, true) => {
                return Err(PoolError::layout(
                    dir,
                    "has both pool.json and manifest.csv; keep one",
                ));
            }
            (true, false) => Manifest::from_json(&json, &read_bounded(&json, MAX_MANIFEST_BYTES)?)?,
            (false, true) => {
                let name = dir
                    .canonicalize()
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "pool".into());
                Manifest::from_csv(&csv, &name, &read_bounded(&csv, MAX_MANIFEST_BYTES)?)?
            }
            (false, false) => {
                return Err(PoolError::layout(dir, "no pool.json or manifest.csv"));
            }
        };
        FolderPool::from_manifest(dir, manifest, limits)
    }

    /// Builds a pool from a manifest whose paths are relative to `root`.
    pub fn from_manifest(
        root: &Path,
        mut manifest: Manifest,
        limits: &ReadLimits,
    ) -> Result<FolderPool, PoolError> {
        let manifest_path = root.join("pool.json");
        manifest.validate(&manifest_path)?;
        manifest.cases.sort_by_key(ManifestCase::effective_id);
        let mut seen: BTreeMap<PathBuf, ([u8; 32], ImageFormat)> = BTreeMap::new();
        let mut entries = Vec::with_capacity(manifest.cases.len());
        let mut infos = Vec::with_capacity(manifest.cases.len());
        for case in &manifest.cases {
            let image = root.join(&case.image);
            let opts = ImageOptions {
                window: case.window,
                slice: case.slice,
            };
            let (image_sha, format) = hash_file(&mut seen, &image, limits)?;
            source::check_options(&image, format, &opts)?;
            let mask = match (&case.mask, &case.boxes) {
                (Some(m), _) => {
                    let path = root.join(m);
                    let (sha, format) = hash_file(&mut seen, &path, limits)?;
                    if !matches!(format, ImageFormat::Png | ImageFormat::Nifti) {
                        return Err(PoolError::Format {
                            path,
                            reason: format!(
                                "masks must be PNG or NIfTI label volumes, not {}",
                                format.name()
                            ),
                        });
                    }
                    MaskSource::File { path, sha }
                }
                (None, Some(b)) => MaskSource::Boxes(b.clone()),
                (None, None) => MaskSource::None,
            };
            infos.push(CaseInfo {
                id: case.effective_id(),
                modality: case.modality,
                abnormal: case.label == super::Label::Abnormal,
                mask_known: case.mask_known(),
            });
            entries.push(Entry {
                image,
                image_sha,
                opts,
                mask,
            });
        }
        let mut pool = FolderPool {
            name: manifest.name.clone(),
            root: root.to_path_buf(),
            limits: *limits,
            manifest,
            entries,
            infos,
            digest: [0; 32],
        };
        pool.digest = Sha256::digest(pool.listing().as_bytes()).into();
        Ok(pool)
    }

    /// The manifest, cases sorted by id (the pool's index order).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The folder the manifest's paths are relative to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The canonical listing the digest is the SHA-256 of: the line
    /// `medmetric/pool/v1`, then one line per case in id order (byte-wise),
    /// each a compact JSON array
    /// `[id, modality, label, mask_known, image_sha256_hex, slice|null,
    /// [window_centre, window_width]|null, mask]` where `mask` is `null`,
    /// `["file", mask_sha256_hex]` or `["boxes", [[x, y, w, h], …]]`; every
    /// line ends with `\n`. Paths and the pool name are not part of it:
    /// the digest addresses content.
    pub fn listing(&self) -> String {
        let mut out = String::with_capacity(64 + self.entries.len() * 160);
        out.push_str(LISTING_HEADER);
        out.push('\n');
        for (entry, (info, case)) in self
            .entries
            .iter()
            .zip(self.infos.iter().zip(&self.manifest.cases))
        {
            let mask = match &entry.mask {
                MaskSource::None => serde_json::Value::Null,
                MaskSource::File { sha, .. } => serde_json::json!(["file", hex::encode(sha)]),
                MaskSource::Boxes(b) => serde_json::json!(["boxes", b]),
            };
            let line = serde_json::json!([
                info.id,
                info.modality.name(),
                case.label.name(),
                info.mask_known,
                hex::encode(entry.image_sha),
                entry.opts.slice,
                entry.opts.window.map(|w| [w.center, w.width]),
                mask,
            ]);
            let _ = writeln!(out, "{line}");
        }
        out
    }

    fn read_checked(&self, path: &Path, sha: &[u8; 32]) -> Result<Vec<u8>, PoolError> {
        let bytes = read_bounded(path, self.limits.max_file_bytes)?;
        if Sha256::digest(&bytes).as_slice() != sha {
            return Err(PoolError::Changed {
                path: path.to_path_buf(),
            });
        }
        Ok(bytes)
    }
}

/// SHA-256 and format of a file, each file read once per pool.
fn hash_file(
    seen: &mut BTreeMap<PathBuf, ([u8; 32], ImageFormat)>,
    path: &Path,
    limits: &ReadLimits,
) -> Result<([u8; 32], ImageFormat), PoolError> {
    if let Some(&v) = seen.get(path) {
        return Ok(v);
    }
    let bytes = read_bounded(path, limits.max_file_bytes)?;
    let format = ImageFormat::sniff(&bytes).ok_or_else(|| PoolError::Format {
        path: path.to_path_buf(),
        reason: "not a DICOM, NIfTI, PNG or JPEG file".into(),
    })?;
    let sha: [u8; 32] = Sha256::digest(&bytes).into();
    seen.insert(path.to_path_buf(), (sha, format));
    Ok((sha, format))
}

/// Lesion mask of `boxes` on a `width × height` image: a pixel is lesion
/// when its centre `(px + 0.5, py + 0.5)` lies in `[x, x + w) × [y, y + h)`.
pub fn boxes_mask(width: u32, height: u32, boxes: &[[f64; 4]]) -> Mask {
    let mut mask = Mask::empty(width, height);
    let range = |start: f64, len: f64, n: u32| {
        let lo = (start - 0.5).ceil().max(0.0);
        let hi = (start + len - 0.5).ceil().min(f64::from(n));
        if hi > lo {
            (lo as usize, hi as usize)
        } else {
            (0, 0)
        }
    };
    for &[x, y, w, h] in boxes {
        let (x0, x1) = range(x, w, width);
        let (y0, y1) = range(y, h, height);
        for row in y0..y1 {
            let base = row * width as usize;
            mask.data[base + x0..base + x1].fill(1);
        }
    }
    mask
}

impl Pool for FolderPool {
    fn name(&self) -> &str {
        &self.name
    }

    fn digest(&self) -> [u8; 32] {
        self.digest
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn info(&self, index: usize) -> Option<&CaseInfo> {
        self.infos.get(index)
    }

    fn load(&self, index: usize, size: u32) -> Result<Case, PoolError> {
        let (entry, info) =
            self.entries
                .get(index)
                .zip(self.infos.get(index))
                .ok_or(PoolError::OutOfRange {
                    index,
                    len: self.entries.len(),
                })?;
        if size == 0 || size > self.limits.max_side {
            return Err(PoolError::BadSize {
                size,
                max: self.limits.max_side,
            });
        }
        let bytes = self.read_checked(&entry.image, &entry.image_sha)?;
        let image = source::decode_image(&entry.image, &bytes, &entry.opts, &self.limits)?;
        drop(bytes);
        let mask = match &entry.mask {
            MaskSource::None => Mask::empty(image.width, image.height),
            MaskSource::Boxes(b) => boxes_mask(image.width, image.height, b),
            MaskSource::File { path, sha } => {
                let bytes = self.read_checked(path, sha)?;
                let mask = source::decode_mask(path, &bytes, entry.opts.slice, &self.limits)?;
                if (mask.width, mask.height) != (image.width, image.height) {
                    return Err(PoolError::MaskMismatch {
                        path: path.clone(),
                        mask_width: mask.width,
                        mask_height: mask.height,
                        width: image.width,
                        height: image.height,
                    });
                }
                mask
            }
        };
        let (image, mask, _) = fit_square(&image, &mask, size);
        Ok(Case {
            id: info.id.clone(),
            modality: info.modality,
            image,
            mask,
            abnormal: info.abnormal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_cover_pixel_centres() {
        let m = boxes_mask(6, 4, &[[1.0, 1.0, 2.0, 2.0], [4.6, -3.0, 10.0, 4.0]]);
        let rows: Vec<&[u8]> = m.data.chunks(6).collect();
        assert_eq!(rows[0], &[0, 0, 0, 0, 0, 1]);
        assert_eq!(rows[1], &[0, 1, 1, 0, 0, 0]);
        assert_eq!(rows[2], &[0, 1, 1, 0, 0, 0]);
        assert_eq!(rows[3], &[0, 0, 0, 0, 0, 0]);
    }
}
