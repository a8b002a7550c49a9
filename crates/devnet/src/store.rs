//! SQLite persistence of the devnet state.
//!
//! One row per uid (weights and bonds as little-endian `(u16, u16)` blobs),
//! per hotkey (account, pending weight commits, commitment, space usage),
//! per block (hash), plus a key/value `meta` table for the counters and the
//! hyperparameters. Every mutation is written in one transaction; the
//! connection holds an exclusive lock, so one state file serves one devnet.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use medmetric_core::{Block, Hotkey, NetUid};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use medmetric_chain::{BlockHash, BlockInfo, ChainError, Coldkey, Commitment, CommitmentField};

use crate::state::{
    Account, DevnetState, Dirty, MAX_TOTAL_STAKE, NeuronState, PendingWeightCommit, SpaceUsage,
};

/// A storage failure. The light chain crate knows nothing of SQLite, so
/// SQLite's errors become this here and [`ChainError::Storage`] at the
/// store's edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreError(pub(crate) String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<StoreError> for ChainError {
    fn from(e: StoreError) -> Self {
        ChainError::Storage(e.0)
    }
}

const SCHEMA_VERSION: &str = "1";

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blocks (number INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE neurons (
    uid INTEGER PRIMARY KEY,
    hotkey TEXT NOT NULL,
    block_at_registration INTEGER NOT NULL,
    last_update INTEGER NOT NULL,
    validator_permit INTEGER NOT NULL,
    active INTEGER NOT NULL,
    stake_weight INTEGER NOT NULL,
    consensus INTEGER NOT NULL,
    incentive INTEGER NOT NULL,
    dividends INTEGER NOT NULL,
    validator_trust INTEGER NOT NULL,
    emission INTEGER NOT NULL,
    weights BLOB NOT NULL,
    bonds BLOB NOT NULL
);
CREATE TABLE accounts (hotkey TEXT PRIMARY KEY, coldkey TEXT NOT NULL, stake INTEGER NOT NULL);
CREATE TABLE weight_commits (hotkey TEXT PRIMARY KEY, commits TEXT NOT NULL);
CREATE TABLE commitments (hotkey TEXT PRIMARY KEY, block INTEGER NOT NULL, fields TEXT NOT NULL);
CREATE TABLE commitment_usage (
    hotkey TEXT PRIMARY KEY, last_epoch INTEGER NOT NULL, used_space INTEGER NOT NULL
);
";

/// SQLite stores signed 64-bit integers; u64 values are stored bit for bit.
fn to_db(x: u64) -> i64 {
    i64::from_le_bytes(x.to_le_bytes())
}

fn from_db(x: i64) -> u64 {
    u64::from_le_bytes(x.to_le_bytes())
}

fn encode_row(row: &[(u16, u16)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(row.len() * 4);
    for &(j, v) in row {
        out.extend_from_slice(&j.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn decode_row(bytes: &[u8]) -> Result<Vec<(u16, u16)>, StoreError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(corrupt("a weight or bond row has a truncated entry"));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| {
            (
                u16::from_le_bytes([c[0], c[1]]),
                u16::from_le_bytes([c[2], c[3]]),
            )
        })
        .collect())
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError(format!("the state file is corrupt: {what}"))
}

fn u16_col(x: i64, what: &str) -> Result<u16, StoreError> {
    u16::try_from(x).map_err(|_| corrupt(format!("{what} {x} is not a u16")))
}

pub(crate) struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if absent) a state file and takes its lock.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open state file {}: {e}", path.display())))?;
        Self::configure(conn, true).map_err(|e| match e {
            StoreError(m) if m.contains("locked") || m.contains("busy") => StoreError(format!(
                "state file {} is in use by another devnet ({m})",
                path.display()
            )),
            other => other,
        })
    }

    /// A store that lives in memory only.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::configure(Connection::open_in_memory()?, false)
    }

    fn configure(conn: Connection, file: bool) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_millis(500))?;
        if file {
            // Exclusive locking first, so WAL needs no shared memory and a
            // second devnet on the same file is refused.
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError(format!(
                    "could not switch the state file to WAL (journal mode {mode})"
                )));
            }
            // WAL with NORMAL sync survives a killed process; only a power
            // loss may drop the last transactions.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")?;
        }
        Ok(Self { conn })
    }

    /// Whether the file already holds a devnet.
    fn initialized(&self) -> Result<bool, StoreError> {
        let found: Option<String> = self
            .conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Writes a fresh state (schema, every row, the genesis block).
    pub fn init(&mut self, state: &DevnetState) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.execute(
            "INSERT INTO blocks (number, hash) VALUES (?1, ?2)",
            params![to_db(state.head.number.0), state.head.hash.0.as_slice()],
        )?;
        let mut dirty = Dirty {
            all_neurons: true,
            ..Dirty::default()
        };
        dirty.accounts.extend(state.accounts.keys().cloned());
        write(&tx, state, &dirty)?;
        tx.commit()?;
        Ok(())
    }

    /// Writes what `dirty` names, in one transaction.
    pub fn flush(&mut self, state: &DevnetState, dirty: &Dirty) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        write(&tx, state, dirty)?;
        tx.commit()?;
        Ok(())
    }

    pub fn block_hash(&self, number: u64) -> Result<Option<BlockHash>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT hash FROM blocks WHERE number = ?1",
                [to_db(number)],
                |r| r.get(0),
            )
            .optional()?;
        match bytes {
            None => Ok(None),
            Some(b) => Ok(Some(BlockHash(b.try_into().map_err(|_| {
                corrupt(format!("hash of block {number} is not 32 bytes"))
            })?))),
        }
    }

    /// Reads the whole state back; `None` if the file holds no devnet yet.
    pub fn load(&self) -> Result<Option<DevnetState>, StoreError> {
        if !self.initialized()? {
            return Ok(None);
        }
        let meta: BTreeMap<String, String> = {
            let mut stmt = self.conn.prepare("SELECT key, value FROM meta")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let get = |k: &str| {
            meta.get(k)
                .map(String::as_str)
                .ok_or_else(|| corrupt(format!("meta `{k}` is missing")))
        };
        let num = |k: &str| -> Result<u64, StoreError> {
            get(k)?
                .parse()
                .map_err(|_| corrupt(format!("meta `{k}` is not a number")))
        };
        let json = |k: &str| -> Result<serde_json::Value, StoreError> {
            serde_json::from_str(get(k)?).map_err(|e| corrupt(format!("meta `{k}`: {e}")))
        };
        if get("schema_version")? != SCHEMA_VERSION {
            return Err(StoreError(format!(
                "the state file has schema version {}, this build reads {SCHEMA_VERSION}",
                get("schema_version")?
            )));
        }
        let head_number = num("block")?;
        let head_hash = self
            .block_hash(head_number)?
            .ok_or_else(|| corrupt(format!("head block {head_number} has no hash")))?;
        let netuid = u16::try_from(num("netuid")?).map_err(|_| corrupt("netuid is not a u16"))?;
        let mut state = DevnetState {
            chain_id: get("chain_id")?.to_string(),
            netuid: NetUid(netuid),
            owner_hotkey: serde_json::from_value(json("owner_hotkey")?)
                .map_err(|e| corrupt(format!("owner_hotkey: {e}")))?,
            hyperparameters: serde_json::from_value(json("hyperparameters")?)
                .map_err(|e| corrupt(format!("hyperparameters: {e}")))?,
            head: BlockInfo {
                number: Block(head_number),
                hash: head_hash,
            },
            epoch_index: num("epoch_index")?,
            last_epoch_block: num("last_epoch_block")?,
            pending_emission: num("pending_emission")?,
            total_burned: num("total_burned")?,
            total_emitted: num("total_emitted")?,
            last_epoch_error: serde_json::from_value(json("last_epoch_error")?)
                .map_err(|e| corrupt(format!("last_epoch_error: {e}")))?,
            neurons: Vec::new(),
            accounts: BTreeMap::new(),
            weight_commits: BTreeMap::new(),
            commitments: BTreeMap::new(),
            commitment_usage: BTreeMap::new(),
        };
        self.load_neurons(&mut state)?;
        self.load_hotkey_tables(&mut state)?;
        check(&state)?;
        Ok(Some(state))
    }

    fn load_neurons(&self, state: &mut DevnetState) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT uid, hotkey, block_at_registration, last_update, validator_permit, active,
                    stake_weight, consensus, incentive, dividends, validator_trust, emission,
                    weights, bonds
             FROM neurons ORDER BY uid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let uid: i64 = r.get(0)?;
            if usize::try_from(uid).ok() != Some(state.neurons.len()) {
                return Err(corrupt(format!("uid {uid} is out of sequence")));
            }
            let weights: Vec<u8> = r.get(12)?;
            let bonds: Vec<u8> = r.get(13)?;
            state.neurons.push(NeuronState {
                hotkey: Hotkey(r.get(1)?),
                block_at_registration: from_db(r.get(2)?),
                last_update: from_db(r.get(3)?),
                validator_permit: r.get(4)?,
                active: r.get(5)?,
                stake_weight: u16_col(r.get(6)?, "stake_weight")?,
                consensus: u16_col(r.get(7)?, "consensus")?,
                incentive: u16_col(r.get(8)?, "incentive")?,
                dividends: u16_col(r.get(9)?, "dividends")?,
                validator_trust: u16_col(r.get(10)?, "validator_trust")?,
                emission: from_db(r.get(11)?),
                weights: decode_row(&weights)?,
                bonds: decode_row(&bonds)?,
            });
        }
        Ok(())
    }

    fn load_hotkey_tables(&self, state: &mut DevnetState) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT hotkey, coldkey, stake FROM accounts")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            state.accounts.insert(
                Hotkey(r.get(0)?),
                Account {
                    coldkey: Coldkey(r.get(1)?),
                    stake: from_db(r.get(2)?),
                },
            );
        }
        let mut stmt = self
            .conn
            .prepare("SELECT hotkey, commits FROM weight_commits")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let text: String = r.get(1)?;
            let commits: Vec<PendingWeightCommit> =
                serde_json::from_str(&text).map_err(|e| corrupt(format!("weight commits: {e}")))?;
            state.weight_commits.insert(Hotkey(r.get(0)?), commits);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT hotkey, block, fields FROM commitments")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let hotkey = Hotkey(r.get(0)?);
            let text: String = r.get(2)?;
            let fields: Vec<CommitmentField> =
                serde_json::from_str(&text).map_err(|e| corrupt(format!("commitment: {e}")))?;
            state.commitments.insert(
                hotkey.clone(),
                Commitment {
                    hotkey,
                    block: Block(from_db(r.get(1)?)),
                    fields,
                },
            );
        }
        let mut stmt = self
            .conn
            .prepare("SELECT hotkey, last_epoch, used_space FROM commitment_usage")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            state.commitment_usage.insert(
                Hotkey(r.get(0)?),
                SpaceUsage {
                    last_epoch: from_db(r.get(1)?),
                    used_space: from_db(r.get(2)?),
                },
            );
        }
        Ok(())
    }
}

/// Invariants the rules rely on; a state file that breaks them is refused.
fn check(state: &DevnetState) -> Result<(), StoreError> {
    let n = state.neurons.len();
    if n > medmetric_yuma::MAX_UIDS {
        return Err(corrupt(format!("{n} uids")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (uid, neuron) in state.neurons.iter().enumerate() {
        if !seen.insert(&neuron.hotkey) {
            return Err(corrupt(format!("hotkey {} holds two uids", neuron.hotkey)));
        }
        if !state.accounts.contains_key(&neuron.hotkey) {
            return Err(corrupt(format!("uid {uid} has no account")));
        }
        for row in [&neuron.weights, &neuron.bonds] {
            if row.iter().any(|&(j, _)| usize::from(j) >= n) {
                return Err(corrupt(format!(
                    "uid {uid} has a row entry beyond the subnet"
                )));
            }
        }
    }
    let total = state
        .accounts
        .values()
        .try_fold(0u64, |acc, a| acc.checked_add(a.stake));
    if total.is_none_or(|t| t > MAX_TOTAL_STAKE) {
        return Err(corrupt("total stake exceeds the cap"));
    }
    state
        .hyperparameters
        .validate()
        .map_err(|e| corrupt(format!("hyperparameters: {e}")))
}

fn write(tx: &Transaction<'_>, state: &DevnetState, dirty: &Dirty) -> Result<(), StoreError> {
    let meta: [(&str, String); 13] = [
        ("schema_version", SCHEMA_VERSION.to_string()),
        ("chain_id", state.chain_id.clone()),
        ("netuid", state.netuid.0.to_string()),
        ("owner_hotkey", to_json(&state.owner_hotkey)?),
        ("hyperparameters", to_json(&state.hyperparameters)?),
        ("block", state.head.number.0.to_string()),
        ("epoch_index", state.epoch_index.to_string()),
        ("last_epoch_block", state.last_epoch_block.to_string()),
        ("pending_emission", state.pending_emission.to_string()),
        ("total_burned", state.total_burned.to_string()),
        ("total_emitted", state.total_emitted.to_string()),
        ("last_epoch_error", to_json(&state.last_epoch_error)?),
        ("head_hash", state.head.hash.to_string()),
    ];
    {
        let mut stmt =
            tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
        for (k, v) in &meta {
            stmt.execute(params![k, v])?;
        }
    }
    if !dirty.blocks.is_empty() {
        let mut stmt =
            tx.prepare_cached("INSERT OR REPLACE INTO blocks (number, hash) VALUES (?1, ?2)")?;
        for (number, hash) in &dirty.blocks {
            stmt.execute(params![to_db(*number), hash.0.as_slice()])?;
        }
    }
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO neurons (uid, hotkey, block_at_registration, last_update,
                validator_permit, active, stake_weight, consensus, incentive, dividends,
                validator_trust, emission, weights, bonds)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        let uids: Box<dyn Iterator<Item = usize>> = if dirty.all_neurons {
            Box::new(0..state.neurons.len())
        } else {
            Box::new(dirty.neurons.iter().map(|&u| usize::from(u)))
        };
        for uid in uids {
            let Some(n) = state.neurons.get(uid) else {
                continue;
            };
            stmt.execute(params![
                i64::try_from(uid).unwrap_or(i64::MAX),
                n.hotkey.0,
                to_db(n.block_at_registration),
                to_db(n.last_update),
                n.validator_permit,
                n.active,
                n.stake_weight,
                n.consensus,
                n.incentive,
                n.dividends,
                n.validator_trust,
                to_db(n.emission),
                encode_row(&n.weights),
                encode_row(&n.bonds),
            ])?;
        }
    }
    {
        let mut upsert = tx.prepare_cached(
            "INSERT OR REPLACE INTO accounts (hotkey, coldkey, stake) VALUES (?1, ?2, ?3)",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM accounts WHERE hotkey = ?1")?;
        for hotkey in &dirty.accounts {
            match state.accounts.get(hotkey) {
                Some(a) => upsert.execute(params![hotkey.0, a.coldkey.0, to_db(a.stake)])?,
                None => delete.execute([&hotkey.0])?,
            };
        }
    }
    {
        let mut upsert = tx.prepare_cached(
            "INSERT OR REPLACE INTO weight_commits (hotkey, commits) VALUES (?1, ?2)",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM weight_commits WHERE hotkey = ?1")?;
        for hotkey in &dirty.weight_commits {
            match state.weight_commits.get(hotkey) {
                Some(c) => upsert.execute(params![hotkey.0, to_json(c)?])?,
                None => delete.execute([&hotkey.0])?,
            };
        }
    }
    {
        let mut upsert = tx.prepare_cached(
            "INSERT OR REPLACE INTO commitments (hotkey, block, fields) VALUES (?1, ?2, ?3)",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM commitments WHERE hotkey = ?1")?;
        for hotkey in &dirty.commitments {
            match state.commitments.get(hotkey) {
                Some(c) => {
                    upsert.execute(params![hotkey.0, to_db(c.block.0), to_json(&c.fields)?])?
                }
                None => delete.execute([&hotkey.0])?,
            };
        }
    }
    {
        let mut upsert = tx.prepare_cached(
            "INSERT OR REPLACE INTO commitment_usage (hotkey, last_epoch, used_space)
             VALUES (?1, ?2, ?3)",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM commitment_usage WHERE hotkey = ?1")?;
        for hotkey in &dirty.commitment_usage {
            match state.commitment_usage.get(hotkey) {
                Some(u) => {
                    upsert.execute(params![hotkey.0, to_db(u.last_epoch), to_db(u.used_space)])?
                }
                None => delete.execute([&hotkey.0])?,
            };
        }
    }
    Ok(())
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_integers_round_trip() {
        let row = vec![(0, 65535), (7, 1), (4095, 0)];
        assert_eq!(decode_row(&encode_row(&row)).unwrap(), row);
        assert!(decode_row(&[1, 2, 3]).is_err());
        for x in [0, 1, u64::MAX, 1 << 63] {
            assert_eq!(from_db(to_db(x)), x);
        }
    }
}
