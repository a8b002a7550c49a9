//! The HTML report of `medmetric demo`: one self-contained file a newcomer
//! (or a hospital, offline) opens in a browser to see what the subnet did.
//!
//! The demo fills a [`DemoReport`] tempo by tempo — miners and their
//! strategies, validators and their stakes, and per tempo the scores, the
//! weights each validator set and Yuma's incentive, dividends and emission —
//! then calls [`write_report`], which writes `report.html` (from
//! [`render_html`]) and `report.json` (the same data) into a folder.
//!
//! The page holds a summary, the configuration, the final leaderboard, the
//! validators, five plots drawn as inline SVG with `plotters` (incentive and
//! EMA per miner across tempos, dividends per unit of stake per validator,
//! the spread of each strategy's composite over the tempos,
//! the last tempo's score components per miner) and, per tempo, the weights
//! every validator set. It references no script, style sheet, font or image
//! outside itself, and a Content-Security-Policy forbids loading any.
//!
//! Every string in the report is untrusted: miners choose their hotkeys and
//! their models' failure messages. Strings are escaped with [`escape`]
//! everywhere they appear (in SVG text by `plotters`, after control
//! characters are replaced). Plots skip non-finite values, and rendering is
//! deterministic: the same report gives the same bytes.
//!
//! # Example
//!
//! ```
//! use medmetric_report::{DemoReport, MinerInfo, TempoRecord, render_html};
//!
//! let report = DemoReport {
//!     title: "MedMetric demo".into(),
//!     miners: vec![MinerInfo { uid: 3, strategy: "honest reference".into(), ..Default::default() }],
//!     tempos: vec![TempoRecord { index: 0, incentive: vec![(3, 1.0)], ..Default::default() }],
//!     ..Default::default()
//! };
//! let html = render_html(&report);
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! assert!(html.contains("<svg"));
//! ```

#![warn(missing_docs)]

mod html;
mod model;
mod plot;
mod render;
mod strip;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use html::escape;
pub use model::{DemoReport, MinerInfo, MinerScore, TempoRecord, ValidatorInfo, ValidatorWeights};

/// File name of the HTML report inside the output folder.
pub const HTML_FILE: &str = "report.html";
/// File name of the JSON copy of the data inside the output folder.
pub const JSON_FILE: &str = "report.json";

/// Renders `report` as one self-contained HTML page (inline CSS and SVG).
///
/// Never panics on odd data: empty reports, non-finite numbers, zero
/// stakes, hundreds of miners and very long strings all render. A plot that
/// cannot be drawn is replaced by a one-line note.
pub fn render_html(report: &DemoReport) -> String {
    render::page(report)
}

/// Writes `report.html` and `report.json` into `dir` (created if missing)
/// and returns the path of `report.html`.
///
/// Each file is written to a temporary file in `dir`, flushed to disk and
/// renamed over the final name, so a reader never sees half a report.
pub fn write_report(report: &DemoReport, dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| context(e, "creating", dir))?;
    let json = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    write_atomic(dir, JSON_FILE, json.as_bytes())?;
    let html_path = write_atomic(dir, HTML_FILE, render_html(report).as_bytes())?;
    // Make the renames themselves durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context(e, "syncing", dir))?;
    Ok(html_path)
}

/// `e` with what was being done to which path, keeping its kind.
fn context(e: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{doing} {}: {e}", path.display()))
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(context(e, "writing", &path));
    }
    Ok(path)
}
