//! The validator's durable state, in SQLite.
//!
//! One transaction per round records everything the round changed — the
//! per-model results, the new score book, the copy ledger and the weights
//! to submit — keyed by the round's anchor block. The anchor is the primary
//! key, so a round can never be counted twice: after a crash the validator
//! either finds the round recorded (and only resubmits its weights if that
//! had not happened) or finds nothing and evaluates it again from scratch.
//! Submission is recorded separately once the chain accepted the weights.

use std::path::Path;

use medmetric_core::{Hotkey, Modality, Weights};
use medmetric_eval::sandbox::FailureKind;
use medmetric_harness::ModelOutcome;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Serialize, de::DeserializeOwned};

/// State errors.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite failed.
    #[error("validator state: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Stored JSON did not parse.
    #[error("validator state is corrupt: {0}")]
    Json(#[from] serde_json::Error),
}

/// Where a model's round ended, when it did not end with a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureStage {
    /// The commitment did not parse.
    Commitment,
    /// The artifact could not be fetched, or did not match the commitment.
    Artifact,
    /// The gate refused the model.
    Gate,
    /// The model's input size is not the subnet's.
    Size,
    /// The model failed in the sandbox ([`RecordedFailure::kind`] says how).
    Evaluation,
}

/// Why a model earned nothing this round, kept typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RecordedFailure {
    /// The step that stopped it.
    pub stage: FailureStage,
    /// For [`FailureStage::Evaluation`], the sandbox's classification.
    pub kind: Option<FailureKind>,
    /// One readable line.
    pub detail: String,
}

impl std::fmt::Display for RecordedFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            Some(k) => write!(f, "{}: {}", k.name(), self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

/// One model's result in a round, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct EvalRecord {
    /// Miner hotkey.
    pub hotkey: Hotkey,
    /// Uid at evaluation time.
    pub uid: u16,
    /// Model identity (empty when no artifact could be fetched).
    pub model_sha256: String,
    /// Modality the model was committed for (`None` when the commitment
    /// did not say one).
    pub modality: Option<Modality>,
    /// Scores.
    pub accuracy: f64,
    /// Speed score.
    pub speed: f64,
    /// Robustness score.
    pub robustness: f64,
    /// Composite before copy detection.
    pub composite: f64,
    /// What entered the score book (0 for failures and copies).
    pub credited: f64,
    /// Calibrated mean latency, ms.
    pub latency_ms: Option<f64>,
    /// Why it earned nothing, if it failed.
    pub failure: Option<RecordedFailure>,
    /// The original this model copies, if detected.
    pub copy_of: Option<Hotkey>,
}

impl EvalRecord {
    /// A model refused before evaluation (bad commitment, artifact, gate
    /// or size): every score 0, with the reason.
    pub fn refused(
        hotkey: &Hotkey,
        uid: u16,
        modality: Option<Modality>,
        sha256: &str,
        stage: FailureStage,
        detail: String,
    ) -> EvalRecord {
        EvalRecord {
            hotkey: hotkey.clone(),
            uid,
            model_sha256: sha256.to_string(),
            modality,
            accuracy: 0.0,
            speed: 0.0,
            robustness: 0.0,
            composite: 0.0,
            credited: 0.0,
            latency_ms: None,
            failure: Some(RecordedFailure {
                stage,
                kind: None,
                detail,
            }),
            copy_of: None,
        }
    }

    /// The record of a model the harness evaluated.
    pub fn scored(uid: u16, modality: Modality, o: &ModelOutcome) -> EvalRecord {
        let s = &o.scored.score;
        EvalRecord {
            hotkey: o.hotkey.clone(),
            uid,
            model_sha256: o.digest.to_string(),
            modality: Some(modality),
            accuracy: s.accuracy,
            speed: s.speed,
            robustness: s.robustness,
            composite: s.composite,
            credited: o.credited,
            latency_ms: o.scored.latency.calibrated_ms,
            failure: o.scored.failure.as_ref().map(|f| RecordedFailure {
                stage: FailureStage::Evaluation,
                kind: Some(f.kind),
                detail: f.detail.clone(),
            }),
            copy_of: o.copy.as_ref().map(|v| v.original.clone()),
        }
    }
}

/// A recorded round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundRecord {
    /// Anchor block number.
    pub anchor: u64,
    /// Round seed, hex.
    pub seed: String,
    /// Mechanism config hash.
    pub mechanism_hash: String,
    /// Weights chosen.
    pub weights: Weights,
    /// Whether the chain accepted them.
    pub submitted: bool,
}

/// The validator's database.
pub struct State {
    conn: Connection,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    anchor INTEGER PRIMARY KEY,
    seed TEXT NOT NULL,
    mechanism_hash TEXT NOT NULL,
    weights TEXT NOT NULL,
    submitted INTEGER NOT NULL DEFAULT 0,
    recorded_unix INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    anchor INTEGER NOT NULL REFERENCES rounds(anchor),
    hotkey TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (anchor, hotkey)
);
CREATE TABLE IF NOT EXISTS artifacts (
    sha256 TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    reason TEXT,
    checked_unix INTEGER NOT NULL
);
";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Weights as stored: `{"uids","values"}`, or the `[uids, values]` pair
/// databases written before [`Weights`] existed hold.
fn parse_weights(text: &str) -> Result<Weights, serde_json::Error> {
    serde_json::from_str::<Weights>(text)
        .or_else(|_| serde_json::from_str::<(Vec<u16>, Vec<u16>)>(text).map(Weights::from))
}

impl State {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<State, StateError> {
        Self::init(Connection::open(path)?)
    }

    /// A throwaway in-memory database.
    pub fn in_memory() -> Result<State, StateError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<State, StateError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(State { conn })
    }

    /// Reads a JSON value stored under `key` (e.g. the score book).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    }

    /// Stores a JSON value under `key` on its own.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, serde_json::to_string(value)?],
        )?;
        Ok(())
    }

    /// Whether the round anchored at `anchor` is recorded.
    pub fn has_round(&self, anchor: u64) -> Result<bool, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM rounds WHERE anchor = ?1",
                [anchor as i64],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records a whole round atomically: its results, the values under
    /// `meta` keys (score book, copy ledger, …) and the weights. Returns
    /// `false`, changing nothing, when the round is already recorded.
    pub fn record_round(
        &mut self,
        anchor: u64,
        seed: &str,
        mechanism_hash: &str,
        evals: &[EvalRecord],
        meta: &[(&str, String)],
        weights: &Weights,
    ) -> Result<bool, StateError> {
        let tx = self.conn.transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO rounds (anchor, seed, mechanism_hash, weights, recorded_unix)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                anchor as i64,
                seed,
                mechanism_hash,
                serde_json::to_string(weights)?,
                now()
            ],
        )?;
        if inserted == 0 {
            return Ok(false);
        }
        for e in evals {
            tx.execute(
                "INSERT INTO evaluations (anchor, hotkey, record) VALUES (?1, ?2, ?3)",
                params![anchor as i64, e.hotkey.0, serde_json::to_string(e)?],
            )?;
        }
        for (key, value) in meta {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Marks a round's weights as accepted by the chain.
    pub fn mark_submitted(&self, anchor: u64) -> Result<(), StateError> {
        self.conn.execute(
            "UPDATE rounds SET submitted = 1 WHERE anchor = ?1",
            [anchor as i64],
        )?;
        Ok(())
    }

    /// The latest recorded round.
    pub fn latest_round(&self) -> Result<Option<RoundRecord>, StateError> {
        let row: Option<(i64, String, String, String, i64)> = self
            .conn
            .query_row(
                "SELECT anchor, seed, mechanism_hash, weights, submitted FROM rounds
                 ORDER BY anchor DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        Ok(match row {
            Some((anchor, seed, mechanism_hash, weights, submitted)) => Some(RoundRecord {
                anchor: anchor as u64,
                seed,
                mechanism_hash,
                weights: parse_weights(&weights)?,
                submitted: submitted != 0,
            }),
            None => None,
        })
    }

    /// Number of recorded rounds.
    pub fn round_count(&self) -> Result<u64, StateError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM rounds", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Every model result of one round, by hotkey.
    pub fn evaluations(&self, anchor: u64) -> Result<Vec<EvalRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT record FROM evaluations WHERE anchor = ?1 ORDER BY hotkey")?;
        let rows = stmt.query_map([anchor as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// Remembers that an artifact is bad (hash mismatch, gate rejection…)
    /// so it is not fetched again and again.
    pub fn mark_artifact(
        &self,
        sha256: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT INTO artifacts (sha256, status, reason, checked_unix) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(sha256) DO UPDATE SET status = excluded.status,
             reason = excluded.reason, checked_unix = excluded.checked_unix",
            params![sha256, status, reason, now()],
        )?;
        Ok(())
    }

    /// An artifact's recorded status and reason.
    pub fn artifact(&self, sha256: &str) -> Result<Option<(String, Option<String>)>, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT status, reason FROM artifacts WHERE sha256 = ?1",
                [sha256],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(hotkey: &str, credited: f64) -> EvalRecord {
        EvalRecord {
            hotkey: hotkey.into(),
            uid: 1,
            model_sha256: "ab".into(),
            modality: Some(Modality::Cxr),
            accuracy: 0.5,
            speed: 1.0,
            robustness: 0.5,
            composite: credited,
            credited,
            latency_ms: Some(3.0),
            failure: None,
            copy_of: None,
        }
    }

    #[test]
    fn a_round_is_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sqlite");
        let mut s = State::open(&path).unwrap();
        let w = Weights::new(vec![1u16, 2], vec![65535u16, 100]);
        let book = vec![("book", "{\"a\":1}".to_string())];
        assert!(
            s.record_round(100, "seed", "h", &[record("a", 0.4)], &book, &w)
                .unwrap()
        );
        let other = vec![("book", "{\"a\":2}".to_string())];
        assert!(
            !s.record_round(100, "seed", "h", &[record("a", 0.9)], &other, &w)
                .unwrap()
        );
        drop(s);
        let s = State::open(&path).unwrap();
        assert_eq!(s.round_count().unwrap(), 1);
        let v: serde_json::Value = s.get("book").unwrap().unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(s.evaluations(100).unwrap()[0].credited, 0.4);
        let latest = s.latest_round().unwrap().unwrap();
        assert!(!latest.submitted);
        s.mark_submitted(100).unwrap();
        assert!(s.latest_round().unwrap().unwrap().submitted);
        assert_eq!(latest.weights, w);
    }

    #[test]
    fn weights_from_older_databases_still_read() {
        let w = parse_weights("[[1,2],[65535,7]]").unwrap();
        assert_eq!(w, Weights::new(vec![1, 2], vec![65535, 7]));
        let text = serde_json::to_string(&w).unwrap();
        assert_eq!(parse_weights(&text).unwrap(), w);
    }

    #[test]
    fn artifacts_remember_their_status() {
        let s = State::in_memory().unwrap();
        assert_eq!(s.artifact("x").unwrap(), None);
        s.mark_artifact("x", "bad", Some("hash mismatch")).unwrap();
        assert_eq!(
            s.artifact("x").unwrap(),
            Some(("bad".to_string(), Some("hash mismatch".to_string())))
        );
    }
}
