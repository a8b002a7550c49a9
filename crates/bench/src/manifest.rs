//! The on-disk form of a round and its digest.
//!
//! Layout of a round folder:
//!
//! ```text
//! manifest.json
//! images/<modality>_<nnnn>.png          16-bit grayscale, what models see
//! masks/<modality>_<nnnn>.png           8-bit, 255 = lesion
//! probes/<modality>_<p>_<v>.png         probe variants (16-bit)
//! probes/<modality>_<p>_<v>_mask.png    their transformed truth (8-bit)
//! ```
//!
//! Every file is listed in `manifest.json` with its SHA-256 and size. The
//! round digest is the SHA-256 of the manifest's canonical JSON (serde's
//! field order, no whitespace) with the `digest` field left out; since the
//! manifest holds every file's hash, the digest covers every byte of the
//! round. `verify` recomputes both.

use std::io::Read;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A file of the round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path relative to the round folder, `/`-separated.
    pub path: String,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

impl FileEntry {
    /// Describes `bytes` stored at `path`.
    pub fn of(path: &str, bytes: &[u8]) -> Self {
        FileEntry {
            path: path.to_string(),
            sha256: hex::encode(Sha256::digest(bytes)),
            bytes: bytes.len() as u64,
        }
    }
}

/// Digest of a manifest body: SHA-256 of its canonical JSON without `digest`.
pub fn digest_of(manifest_without_digest: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(manifest_without_digest).expect("JSON value serialises");
    hex::encode(Sha256::digest(bytes))
}

/// Why a round folder does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The manifest is missing or unreadable.
    #[error("cannot read manifest: {0}")]
    Manifest(String),
    /// A listed file is missing, unreadable or differs.
    #[error("{path}: {why}")]
    File {
        /// Relative path.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The manifest's digest does not match its content.
    #[error("manifest digest {recorded} does not match its content ({computed})")]
    Digest {
        /// Digest in the file.
        recorded: String,
        /// Digest recomputed.
        computed: String,
    },
}

/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;
/// Largest single round file accepted by `verify`, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(format!("larger than {cap} bytes"));
    }
    Ok(bytes)
}

/// A relative path that stays inside the round folder.
pub fn is_safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && !path.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Recomputes every file hash and the digest of the round in `dir`.
/// Returns the digest.
pub fn verify(dir: &Path) -> Result<String, VerifyError> {
    let bytes = read_capped(&dir.join("manifest.json"), MAX_MANIFEST_BYTES)
        .map_err(VerifyError::Manifest)?;
    let mut value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| VerifyError::Manifest(e.to_string()))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| VerifyError::Manifest("not a JSON object".into()))?;
    let recorded = obj
        .remove("digest")
        .and_then(|d| d.as_str().map(str::to_string))
        .ok_or_else(|| VerifyError::Manifest("no digest".into()))?;
    let files: Vec<FileEntry> = serde_json::from_value(
        obj.get("files")
            .cloned()
            .ok_or_else(|| VerifyError::Manifest("no file list".into()))?,
    )
    .map_err(|e| VerifyError::Manifest(format!("file list: {e}")))?;
    for f in &files {
        if !is_safe_relative(&f.path) {
            return Err(VerifyError::File {
                path: f.path.clone(),
                why: "path leaves the round folder".into(),
            });
        }
        let data =
            read_capped(&dir.join(&f.path), MAX_FILE_BYTES).map_err(|why| VerifyError::File {
                path: f.path.clone(),
                why,
            })?;
        let actual = FileEntry::of(&f.path, &data);
        if actual != *f {
            return Err(VerifyError::File {
                path: f.path.clone(),
                why: format!(
                    "sha256 {} differs from the manifest's {}",
                    actual.sha256, f.sha256
                ),
            });
        }
    }
    let computed = digest_of(&value);
    if computed != recorded {
        return Err(VerifyError::Digest { recorded, computed });
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths() {
        assert!(is_safe_relative("images/cxr_0000.png"));
        for bad in ["", "../x", "/etc/passwd", "a/../../b", "a\\b", "./a"] {
            assert!(!is_safe_relative(bad), "{bad}");
        }
    }
}
