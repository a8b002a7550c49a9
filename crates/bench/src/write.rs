//! Writing a built round to a folder, with its manifest and digest.

use std::path::Path;

use medmetric_imaging::png_io;
use serde::Serialize;
use serde_json::json;

use crate::config::{ROUND_FORMAT_VERSION, RoundConfig};
use crate::manifest::{FileEntry, digest_of};
use crate::round::{Anchor, ItemRecord, PoolRecord, ProbeRecord, Round, RoundError};

/// The manifest as written (`digest` last).
#[derive(Debug, Serialize)]
struct ManifestBody<'a> {
    format: u32,
    anchor: &'a Anchor,
    seed: String,
    config_digest: String,
    config: &'a RoundConfig,
    pools: &'a [PoolRecord],
    items: Vec<&'a ItemRecord>,
    probes: Vec<&'a ProbeRecord>,
    files: Vec<FileEntry>,
}

fn io(path: &Path, e: impl std::fmt::Display) -> RoundError {
    RoundError::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

/// Writes `round` into `dir` (created if needed) and returns its digest.
/// Files are encoded in manifest order, so the bytes depend only on the
/// round.
pub fn write(round: &Round, dir: &Path) -> Result<String, RoundError> {
    for sub in ["images", "masks", "probes"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| io(&dir.join(sub), e))?;
    }
    let mut files = Vec::new();
    let mut put = |rel: &str, bytes: Vec<u8>| -> Result<(), RoundError> {
        let path = dir.join(rel);
        std::fs::write(&path, &bytes).map_err(|e| io(&path, e))?;
        files.push(FileEntry::of(rel, &bytes));
        Ok(())
    };
    let enc = |e: png_io::PngError| RoundError::Io {
        path: dir.display().to_string(),
        why: e.to_string(),
    };
    for item in &round.items {
        put(
            &item.record.image,
            png_io::encode_gray16(&item.image).map_err(enc)?,
        )?;
        put(
            &item.record.mask,
            png_io::encode_mask(&item.mask).map_err(enc)?,
        )?;
    }
    for probe in &round.probes {
        for (rec, (img, mask)) in probe.record.variants.iter().zip(&probe.variants) {
            put(&rec.image, png_io::encode_gray16(img).map_err(enc)?)?;
            put(&rec.mask, png_io::encode_mask(mask).map_err(enc)?)?;
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let body = ManifestBody {
        format: ROUND_FORMAT_VERSION,
        anchor: &round.anchor,
        seed: round.seed.to_hex(),
        config_digest: round.config.digest(),
        config: &round.config,
        pools: &round.pools,
        items: round.items.iter().map(|i| &i.record).collect(),
        probes: round.probes.iter().map(|p| &p.record).collect(),
        files,
    };
    let value = serde_json::to_value(&body).map_err(|e| io(dir, e))?;
    let digest = digest_of(&value);
    let mut full = value;
    full.as_object_mut()
        .expect("manifest is an object")
        .insert("digest".into(), json!(digest));
    let text = serde_json::to_string_pretty(&full).map_err(|e| io(dir, e))?;
    let path = dir.join("manifest.json");
    std::fs::write(&path, text).map_err(|e| io(&path, e))?;
    Ok(digest)
}
