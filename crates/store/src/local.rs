//! A content-addressed directory of artifacts.
//!
//! ```text
//! <root>/blobs/<sha256 hex>     the artifact bytes
//! <root>/cids/<cid>             64 hex digits: the SHA-256 the CID names
//! <root>/tmp/                   files being written
//! ```
//!
//! Every file is written to `tmp/`, flushed to disk, then renamed into place,
//! and the directory is synced, so a crash leaves either the old state or the
//! new one. One small file per CID (instead of one shared index) means two
//! processes adding artifacts at once cannot lose each other's entries.
//! File names come only from digests and parsed CIDs, never from caller
//! strings.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use medmetric_core::ModelDigest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cid::{Cid, Version};

/// Default largest artifact [`LocalStore::put`] accepts: the model
/// contract's cap, so the store, the gate and validators accept the same
/// files.
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = medmetric_core::limits::MAX_MODEL_BYTES;

/// The environment variable naming MedMetric's cache folder (the one
/// `medmetric setup` installs into).
pub const CACHE_ENV: &str = "MEDMETRIC_CACHE";

/// The default store folder, where `miner publish` puts artifacts and a
/// validator on the same machine looks for them: `$MEDMETRIC_CACHE/store`,
/// else `~/.cache/medmetric/store`. An empty variable counts as unset;
/// `None` when neither gives a folder (the caller asks for one then, since
/// a folder relative to the working directory would differ per process).
pub fn default_dir() -> Option<PathBuf> {
    default_dir_from(std::env::var_os(CACHE_ENV), std::env::var_os("HOME"))
}

fn default_dir_from(
    cache: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let cache = match cache.filter(|c| !c.is_empty()) {
        Some(cache) => PathBuf::from(cache),
        None => PathBuf::from(home.filter(|h| !h.is_empty())?)
            .join(".cache")
            .join("medmetric"),
    };
    Some(cache.join("store"))
}

/// What [`LocalStore::put`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// SHA-256 of the bytes: the artifact's identity (64 hex digits in
    /// the serde form).
    #[serde(with = "digest_hex")]
    pub sha256: ModelDigest,
    /// Kubo's CIDv0 of the bytes.
    pub cid_v0: Cid,
    /// Size in bytes.
    pub size: u64,
}

/// Why the local store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// No artifact under that key.
    #[error("no artifact {key} in the local store")]
    NotFound {
        /// The SHA-256 or CID asked for.
        key: String,
    },
    /// The artifact is larger than allowed.
    #[error("artifact of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Its size (or a lower bound).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The stored bytes no longer hash to their name: the disk or someone
    /// else changed them. They are not returned.
    #[error("stored artifact {path} is corrupt: expected SHA-256 {expected}, found {actual}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Its name.
        expected: ModelDigest,
        /// What its bytes hash to now.
        actual: ModelDigest,
    },
    /// The bytes stored for a CID do not have that CID (the CID index was
    /// changed behind the store's back).
    #[error("stored bytes for {cid} have CID {actual}")]
    CidMismatch {
        /// The CID asked for.
        cid: Cid,
        /// The CID of the bytes found.
        actual: Cid,
    },
    /// A key that is not 64 hexadecimal digits.
    #[error("{0:?} is not a SHA-256 (64 hexadecimal digits)")]
    BadDigest(String),
}

/// A content-addressed artifact directory. Cheap to clone; several
/// processes may share one directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    max_size: u64,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl LocalStore {
    /// Opens (creating if needed) a store in `dir`. Temporary files a
    /// crashed writer left behind more than an hour ago are removed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = dir.as_ref().to_path_buf();
        for sub in ["blobs", "cids", "tmp"] {
            let path = root.join(sub);
            fs::create_dir_all(&path).map_err(io_err("cannot create", &path))?;
        }
        remove_stale_temporaries(&root.join("tmp"));
        Ok(Self {
            root,
            max_size: DEFAULT_MAX_ARTIFACT_BYTES,
        })
    }

    /// The same store with another limit for [`LocalStore::put`].
    pub fn with_max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &ModelDigest) -> PathBuf {
        self.root.join("blobs").join(digest.to_string())
    }

    fn cid_path(&self, cid: &Cid) -> PathBuf {
        // A parsed CID prints as base58 or base32 letters and digits only.
        self.root.join("cids").join(cid.to_string())
    }

    /// Stores `bytes` (idempotent) and indexes them under their CIDv0 and
    /// CIDv1. A stored copy that no longer matches its hash is replaced.
    pub fn put(&self, bytes: &[u8]) -> Result<ArtifactRef, StoreError> {
        let size = bytes.len() as u64;
        if size > self.max_size {
            return Err(StoreError::TooLarge {
                size,
                max: self.max_size,
            });
        }
        let sha256 = ModelDigest::of(bytes);
        let cid_v0 = Cid::of(bytes, Version::V0);
        let cid_v1 = Cid::of(bytes, Version::V1);
        let blob = self.blob_path(&sha256);
        let intact = match self.read_verified(&sha256, size) {
            Ok(_) => true,
            Err(StoreError::NotFound { .. } | StoreError::Corrupt { .. }) => false,
            Err(StoreError::TooLarge { .. }) => false,
            Err(e) => return Err(e),
        };
        if !intact {
            self.write_atomic(&blob, bytes)?;
        }
        let hex = sha256.to_string();
        for cid in [cid_v0, cid_v1] {
            let path = self.cid_path(&cid);
            if self.read_cid_entry(&path)?.as_ref() != Some(&sha256) {
                self.write_atomic(&path, hex.as_bytes())?;
            }
        }
        Ok(ArtifactRef {
            sha256,
            cid_v0,
            size,
        })
    }

    /// The bytes whose SHA-256 is `sha256_hex`, at most `max_size` of them.
    /// The bytes are hashed again on every load; a corrupt file is an error,
    /// never returned.
    pub fn get(&self, sha256_hex: &str, max_size: u64) -> Result<Vec<u8>, StoreError> {
        let digest = parse_digest(sha256_hex)?;
        self.read_verified(&digest, max_size)
    }

    /// Whether an intact artifact with this SHA-256 is stored (the file is
    /// hashed).
    pub fn contains(&self, sha256_hex: &str) -> bool {
        parse_digest(sha256_hex)
            .and_then(|d| self.read_verified(&d, u64::MAX))
            .is_ok()
    }

    /// The SHA-256 recorded for `cid`, if the store has seen it.
    pub fn lookup_cid(&self, cid: &Cid) -> Result<Option<ModelDigest>, StoreError> {
        self.read_cid_entry(&self.cid_path(cid))
    }

    /// The bytes named by `cid`, at most `max_size` of them: looked up by
    /// CID, then checked against both the SHA-256 and the CID.
    pub fn get_by_cid(&self, cid: &Cid, max_size: u64) -> Result<Vec<u8>, StoreError> {
        let digest = self.lookup_cid(cid)?.ok_or_else(|| StoreError::NotFound {
            key: cid.to_string(),
        })?;
        let bytes = self.read_verified(&digest, max_size)?;
        let actual = Cid::of(&bytes, cid.version());
        if actual != *cid {
            return Err(StoreError::CidMismatch { cid: *cid, actual });
        }
        Ok(bytes)
    }

    fn read_cid_entry(&self, path: &Path) -> Result<Option<ModelDigest>, StoreError> {
        let mut text = String::new();
        match File::open(path) {
            Ok(f) => {
                f.take(65)
                    .read_to_string(&mut text)
                    .map_err(io_err("cannot read", path))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("cannot open", path)(e)),
        }
        // A damaged entry is as good as none: `put` rewrites it.
        Ok(text.parse().ok())
    }

    fn read_verified(&self, digest: &ModelDigest, max_size: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    key: digest.to_string(),
                });
            }
            Err(e) => return Err(io_err("cannot open", &path)(e)),
        };
        let len = file.metadata().map_err(io_err("cannot stat", &path))?.len();
        if len > max_size {
            return Err(StoreError::TooLarge {
                size: len,
                max: max_size,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        // The file may grow after the stat: read one byte past the cap.
        file.take(max_size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io_err("cannot read", &path))?;
        if bytes.len() as u64 > max_size {
            return Err(StoreError::TooLarge {
                size: bytes.len() as u64,
                max: max_size,
            });
        }
        let actual = ModelDigest(Sha256::digest(&bytes).into());
        if actual != *digest {
            return Err(StoreError::Corrupt {
                path,
                expected: *digest,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Writes `bytes` to a fresh file in `tmp/`, syncs it, renames it over
    /// `dest` and syncs the destination directory.
    fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp_dir = self.root.join("tmp");
        let name = format!(
            "{}.{}.{}.tmp",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let tmp = tmp_dir.join(name);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io_err("cannot create", &tmp))?;
            f.write_all(bytes).map_err(io_err("cannot write", &tmp))?;
            f.sync_all().map_err(io_err("cannot sync", &tmp))?;
            drop(f);
            fs::rename(&tmp, dest).map_err(io_err("cannot rename into", dest))?;
            if let Some(dir) = dest.parent() {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err("cannot sync", dir))?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Removes files in `tmp` older than an hour (a live writer renames its
/// file within seconds). Best effort: failures are ignored.
fn remove_stale_temporaries(tmp: &Path) {
    const STALE: std::time::Duration = std::time::Duration::from_secs(3600);
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE);
        if old && entry.file_name().to_string_lossy().ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Serde helpers: a [`ModelDigest`] as 64 hex digits.
mod digest_hex {
    use medmetric_core::ModelDigest;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &ModelDigest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ModelDigest, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse()
            .map_err(|_| D::Error::custom("expected 64 hexadecimal digits"))
    }
}

fn parse_digest(hex: &str) -> Result<ModelDigest, StoreError> {
    hex.parse()
        .map_err(|_| StoreError::BadDigest(hex.chars().take(80).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_dir_prefers_the_cache_variable_and_ignores_empty_ones() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            default_dir_from(os("/c"), os("/h")),
            Some(PathBuf::from("/c/store"))
        );
        assert_eq!(
            default_dir_from(os(""), os("/h")),
            Some(PathBuf::from("/h/.cache/medmetric/store"))
        );
        assert_eq!(
            default_dir_from(None, os("/h")),
            Some(PathBuf::from("/h/.cache/medmetric/store"))
        );
        assert_eq!(default_dir_from(None, os("")), None);
        assert_eq!(default_dir_from(os(""), None), None);
    }

    #[test]
    fn put_get_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let a = store.put(b"abc").unwrap();
        assert_eq!(a.size, 3);
        assert_eq!(a.sha256, ModelDigest::of(b"abc"));
        assert_eq!(a.cid_v0, Cid::of(b"abc", Version::V0));
        let hex = a.sha256.to_string();
        assert_eq!(store.get(&hex, 3).unwrap(), b"abc");
        assert!(matches!(
            store.get(&hex, 2),
            Err(StoreError::TooLarge { size: 3, max: 2 })
        ));
        assert!(store.contains(&hex));
        assert_eq!(store.get_by_cid(&a.cid_v0, 10).unwrap(), b"abc");
        let v1 = Cid::of(b"abc", Version::V1);
        assert_eq!(store.get_by_cid(&v1, 10).unwrap(), b"abc");
        assert_eq!(store.put(b"abc").unwrap(), a);
        // nothing left behind in tmp/
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
