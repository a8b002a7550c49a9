//! The report's data: what the demo recorded, tempo by tempo.
//!
//! Every type is plain data with `serde` derives, so the demo writes the same
//! value as `report.json` next to `report.html`. Strings (hotkeys, strategy
//! names, failure messages) are treated as untrusted by the renderer: they
//! are escaped wherever they appear. Floats may be non-finite; the renderer
//! skips such values in plots and shows `—` in tables (`serde_json` writes
//! them as `null`).

use serde::{Deserialize, Serialize};

/// Everything the demo's report shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DemoReport {
    /// Page title and top heading.
    pub title: String,
    /// Short lines shown at the top, in order.
    pub summary: Vec<String>,
    /// Key/value pairs shown in the configuration table, in order (netuid,
    /// tempo, round size, mechanism hash, backend, …).
    pub config: Vec<(String, String)>,
    /// The registered miners.
    pub miners: Vec<MinerInfo>,
    /// The registered validators.
    pub validators: Vec<ValidatorInfo>,
    /// One record per tempo, oldest first.
    pub tempos: Vec<TempoRecord>,
}

/// A registered miner and the model it committed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinerInfo {
    /// The miner's uid; tempo records refer to miners by uid.
    pub uid: u16,
    /// The miner's hotkey (SS58 or any string).
    pub hotkey: String,
    /// The red-team strategy this miner plays ("honest reference", "copycat", …).
    pub strategy: String,
    /// The modality of the committed model (`cxr`, `mri`, …).
    pub modality: String,
    /// SHA-256 of the committed ONNX bytes, usually shortened.
    pub model_sha256: String,
    /// Block at which the commitment was made.
    pub commit_block: u64,
}

/// A registered validator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidatorInfo {
    /// The validator's uid; dividends are keyed by uid.
    pub uid: u16,
    /// The validator's hotkey; weight records are keyed by hotkey.
    pub hotkey: String,
    /// Stake in rao (1 TAO = 10⁹ rao).
    pub stake: u64,
    /// How the validator behaves in the demo ("honest", "random weights", …).
    pub behaviour: String,
}

/// What happened in one tempo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TempoRecord {
    /// Tempo number; the x axis of the plots.
    pub index: u32,
    /// Block whose hash seeded the round.
    pub anchor_block: u64,
    /// Block at which the chain ran the Yuma epoch.
    pub epoch_block: u64,
    /// The round seed, as text (usually hex).
    pub round_seed: String,
    /// Per-miner scores as seen by the first honest validator.
    pub scores: Vec<MinerScore>,
    /// The weights each validator set this tempo.
    pub weights: Vec<ValidatorWeights>,
    /// `uid → incentive share` after the epoch (0..1).
    pub incentive: Vec<(u16, f64)>,
    /// `uid → dividend share` after the epoch (0..1).
    pub dividends: Vec<(u16, f64)>,
    /// `uid → emission in rao` this epoch.
    pub emission: Vec<(u16, u64)>,
    /// Wall-clock seconds the evaluation of the round took.
    pub eval_seconds: f64,
}

/// One miner's scores in one tempo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinerScore {
    /// The miner's uid.
    pub uid: u16,
    /// The miner's hotkey.
    pub hotkey: String,
    /// Accuracy reward (0..1).
    pub accuracy: f64,
    /// Speed reward (0..1).
    pub speed: f64,
    /// Robustness reward (0..1).
    pub robustness: f64,
    /// The composite score this round (0..1), after copy detection.
    pub composite: f64,
    /// The moving score after this round.
    pub ema: f64,
    /// Median latency per image, when the model ran.
    pub latency_ms: Option<f64>,
    /// Why the evaluation failed, when it did (untrusted text).
    pub failure: Option<String>,
    /// The hotkey this model was found to copy, when it was.
    pub copy_of: Option<String>,
}

/// The weights one validator set in one tempo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidatorWeights {
    /// The validator's hotkey (matched against [`ValidatorInfo::hotkey`]).
    pub hotkey: String,
    /// `uid → u16 weight`, as submitted.
    pub weights: Vec<(u16, u16)>,
}
