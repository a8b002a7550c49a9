//! Size caps every crate must agree on, and the capped file reader.
//!
//! An artifact a miner commits is read by `miner publish`, fetched and
//! stored by validators, gated and run: each step must accept exactly the
//! files the others accept, so the cap lives here once.

use std::io::Read;
use std::path::Path;

/// Largest model artifact (ONNX bytes) anyone accepts: the gate's cap.
pub const MAX_MODEL_BYTES: u64 = 100 * 1000 * 1000;

/// Why [`read_capped`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than the cap.
    #[error("{path} is larger than {cap} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The cap.
        cap: u64,
    },
}

/// Reads a whole file, refusing it past `cap` bytes. The cap is enforced
/// while reading, so devices, pipes and growing files cannot exhaust
/// memory.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge {
            path: path.display().to_string(),
            cap,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_devices_and_files() {
        let err = read_capped(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { cap: 1024, .. }));
        let dir = std::env::temp_dir().join(format!("mm-core-{}", std::process::id()));
        std::fs::write(&dir, b"abc").unwrap();
        assert_eq!(read_capped(&dir, 3).unwrap(), b"abc");
        assert!(read_capped(&dir, 2).is_err());
        std::fs::remove_file(&dir).unwrap();
    }
}
