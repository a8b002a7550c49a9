//! The devnet: a deterministic local chain for one subnet, state in SQLite.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use medmetric_chain::{
    BlockHash, BlockInfo, Chain, ChainError, Coldkey, Commitment, CommitmentField, Hyperparameters,
    Metagraph, Rejection, SparseRows, WeightCommitInfo, check_key,
};
use medmetric_core::{Hotkey, NetUid, Uid};
use medmetric_yuma::EpochInput;

use crate::DevnetControl;
use crate::state::{DevnetState, DevnetStatus, Dirty, MAX_ADVANCE_BLOCKS};
use crate::store::Store;

/// How a new devnet starts. Stored with the state: reopening a state file
/// keeps the values it was created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevnetConfig {
    /// Chain name, part of every block hash. Default `medmetric-devnet`.
    pub chain_id: String,
    /// The subnet's netuid (shifts the epoch schedule). Default 1.
    pub netuid: NetUid,
    /// The subnet owner's hotkey, if any: never pruned, always permitted.
    pub owner_hotkey: Option<Hotkey>,
    /// Initial hyperparameters.
    pub hyperparameters: Hyperparameters,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self {
            chain_id: "medmetric-devnet".to_string(),
            netuid: NetUid(1),
            owner_hotkey: None,
            hyperparameters: Hyperparameters::default(),
        }
    }
}

impl DevnetConfig {
    fn genesis(&self) -> Result<DevnetState, ChainError> {
        if self.chain_id.is_empty() || self.chain_id.len() > 128 {
            return Err(Rejection::InvalidHyperparameter {
                name: "chain_id".to_string(),
                reason: "must be 1 to 128 bytes".to_string(),
            }
            .into());
        }
        if let Some(owner) = &self.owner_hotkey {
            check_key("owner hotkey", &owner.0)?;
        }
        self.hyperparameters.validate()?;
        Ok(DevnetState::genesis(
            &self.chain_id,
            self.netuid,
            self.owner_hotkey.clone(),
            self.hyperparameters.clone(),
        ))
    }
}

struct Inner {
    state: DevnetState,
    store: Store,
    /// Set when a failed write could not be undone by reloading: memory and
    /// disk may disagree, so every later call fails.
    broken: Option<String>,
}

/// A deterministic local chain for one subnet.
///
/// Blocks are produced by [`DevnetControl::advance`] (or by the server's
/// block timer); each block's hash is [`crate::block_hash`] of its parent.
/// An epoch runs at every [`medmetric_chain::epoch::is_epoch_block`], calling
/// [`medmetric_yuma::run_epoch`] on the stored stakes, weights, bonds and
/// blocks, and pays the emission accumulated since the last epoch. Every
/// change is written to SQLite in one transaction before the call returns,
/// so a devnet reopened from its file continues exactly where it stopped.
///
/// `Devnet` is `Send + Sync`: share it behind an `Arc`.
pub struct Devnet {
    inner: Mutex<Inner>,
    head: Mutex<BlockInfo>,
    head_changed: Condvar,
    on_demand: AtomicBool,
    netuid: NetUid,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Devnet {
    fn from_parts(state: DevnetState, store: Store) -> Self {
        Self {
            netuid: state.netuid,
            head: Mutex::new(state.head),
            head_changed: Condvar::new(),
            on_demand: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                state,
                store,
                broken: None,
            }),
        }
    }

    /// A devnet kept in memory only.
    pub fn in_memory(config: &DevnetConfig) -> Result<Self, ChainError> {
        let state = config.genesis()?;
        let mut store = Store::in_memory()?;
        store.init(&state)?;
        Ok(Self::from_parts(state, store))
    }

    /// Creates a devnet in a new state file; fails if the file already
    /// holds one.
    pub fn create(path: &Path, config: &DevnetConfig) -> Result<Self, ChainError> {
        match Self::open_or_create(path, config)? {
            (devnet, true) => Ok(devnet),
            (_, false) => Err(ChainError::Storage(format!(
                "{} already holds a devnet",
                path.display()
            ))),
        }
    }

    /// Reopens the devnet in an existing state file.
    pub fn open(path: &Path) -> Result<Self, ChainError> {
        if !path.exists() {
            return Err(ChainError::Storage(format!(
                "state file {} does not exist",
                path.display()
            )));
        }
        let store = Store::open(path)?;
        let state = store
            .load()?
            .ok_or_else(|| ChainError::Storage(format!("{} holds no devnet", path.display())))?;
        Ok(Self::from_parts(state, store))
    }

    /// Reopens the devnet in `path`, or creates it from `config` if the file
    /// is absent or empty. The flag says whether it was created (when it
    /// was not, `config` is ignored: the stored values win).
    pub fn open_or_create(path: &Path, config: &DevnetConfig) -> Result<(Self, bool), ChainError> {
        let genesis = config.genesis()?;
        let mut store = Store::open(path)?;
        match store.load()? {
            Some(state) => Ok((Self::from_parts(state, store), false)),
            None => {
                store.init(&genesis)?;
                Ok((Self::from_parts(genesis, store), true))
            }
        }
    }

    /// Whether [`Chain::wait_for_block`] produces the missing blocks itself
    /// (for single-process simulations; at most [`MAX_ADVANCE_BLOCKS`]
    /// ahead) instead of waiting for someone else to. Off by default.
    pub fn set_on_demand_blocks(&self, on: bool) {
        self.on_demand.store(on, Ordering::SeqCst);
    }

    /// A copy of the whole state.
    pub fn state(&self) -> Result<DevnetState, ChainError> {
        self.read(|s| s.clone())
    }

    /// The input the epoch would get if it ran at the current block (with
    /// the emission accumulated so far): for inspection and tests.
    pub fn epoch_input(&self) -> Result<EpochInput, ChainError> {
        self.read(|s| s.epoch_input())
    }

    fn read<T>(&self, f: impl FnOnce(&DevnetState) -> T) -> Result<T, ChainError> {
        let inner = lock(&self.inner);
        if let Some(why) = &inner.broken {
            return Err(ChainError::Storage(why.clone()));
        }
        Ok(f(&inner.state))
    }

    /// Runs one rule against the state and writes what it changed. Rules
    /// leave the state untouched when they refuse; when the write fails the
    /// state is reloaded from the last committed transaction.
    fn mutate<T>(
        &self,
        f: impl FnOnce(&mut DevnetState, &mut Dirty) -> Result<T, Rejection>,
    ) -> Result<T, ChainError> {
        let mut inner = lock(&self.inner);
        if let Some(why) = &inner.broken {
            return Err(ChainError::Storage(why.clone()));
        }
        let mut dirty = Dirty::default();
        let out = f(&mut inner.state, &mut dirty)?;
        let Inner { state, store, .. } = &mut *inner;
        if let Err(e) = store.flush(state, &dirty) {
            match store.load() {
                Ok(Some(reloaded)) => inner.state = reloaded,
                Ok(None) => inner.broken = Some(format!("state vanished after: {e}")),
                Err(reload) => inner.broken = Some(format!("{e}; reloading failed: {reload}")),
            }
            return Err(e.into());
        }
        let head = inner.state.head;
        drop(inner);
        if !dirty.blocks.is_empty() {
            *lock(&self.head) = head;
            self.head_changed.notify_all();
        }
        Ok(out)
    }
}

impl Chain for Devnet {
    fn netuid(&self) -> NetUid {
        self.netuid
    }

    fn block(&self) -> Result<BlockInfo, ChainError> {
        self.read(|s| s.head)
    }

    fn block_hash(&self, number: u64) -> Result<BlockHash, ChainError> {
        let inner = lock(&self.inner);
        if let Some(why) = &inner.broken {
            return Err(ChainError::Storage(why.clone()));
        }
        let head = inner.state.head.number.0;
        if number > head {
            return Err(Rejection::UnknownBlock {
                block: number,
                head,
            }
            .into());
        }
        inner
            .store
            .block_hash(number)?
            .ok_or_else(|| ChainError::Storage(format!("block {number} has no stored hash")))
    }

    fn metagraph(&self) -> Result<Metagraph, ChainError> {
        self.read(DevnetState::metagraph)
    }

    fn weights(&self) -> Result<SparseRows, ChainError> {
        self.read(|s| s.neurons.iter().map(|n| n.weights.clone()).collect())
    }

    fn bonds(&self) -> Result<SparseRows, ChainError> {
        self.read(|s| s.neurons.iter().map(|n| n.bonds.clone()).collect())
    }

    fn hyperparameters(&self) -> Result<Hyperparameters, ChainError> {
        self.read(|s| s.hyperparameters.clone())
    }

    fn commitments(&self) -> Result<Vec<Commitment>, ChainError> {
        self.read(|s| s.commitments.values().cloned().collect())
    }

    fn commitment(&self, hotkey: &Hotkey) -> Result<Option<Commitment>, ChainError> {
        self.read(|s| s.commitments.get(hotkey).cloned())
    }

    fn set_commitment(
        &self,
        hotkey: &Hotkey,
        fields: &[CommitmentField],
    ) -> Result<BlockInfo, ChainError> {
        self.mutate(|s, d| s.set_commitment(d, hotkey, fields))
    }

    fn set_weights(
        &self,
        hotkey: &Hotkey,
        uids: &[u16],
        values: &[u16],
        version_key: u64,
    ) -> Result<BlockInfo, ChainError> {
        self.mutate(|s, d| s.set_weights(d, hotkey, uids, values, version_key))
    }

    fn commit_weights(
        &self,
        hotkey: &Hotkey,
        hash: [u8; 32],
    ) -> Result<WeightCommitInfo, ChainError> {
        self.mutate(|s, d| s.commit_weights(d, hotkey, hash))
    }

    fn reveal_weights(
        &self,
        hotkey: &Hotkey,
        uids: &[u16],
        values: &[u16],
        salt: &[u16],
        version_key: u64,
    ) -> Result<BlockInfo, ChainError> {
        self.mutate(|s, d| s.reveal_weights(d, hotkey, uids, values, salt, version_key))
    }

    fn burned_register(&self, hotkey: &Hotkey, coldkey: &Coldkey) -> Result<Uid, ChainError> {
        self.mutate(|s, d| s.burned_register(d, hotkey, coldkey))
            .map(Uid)
    }

    fn add_stake(
        &self,
        coldkey: &Coldkey,
        hotkey: &Hotkey,
        amount: u64,
    ) -> Result<u64, ChainError> {
        self.mutate(|s, d| s.add_stake(d, coldkey, hotkey, amount))
    }

    fn wait_for_block(&self, number: u64, timeout: Duration) -> Result<BlockInfo, ChainError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut head = lock(&self.head);
        loop {
            if head.number.0 >= number {
                return Ok(*head);
            }
            if self.on_demand.load(Ordering::SeqCst) {
                let missing = number - head.number.0;
                if missing > MAX_ADVANCE_BLOCKS {
                    return Err(Rejection::TooManyBlocks {
                        requested: missing,
                        max: MAX_ADVANCE_BLOCKS,
                    }
                    .into());
                }
                drop(head);
                self.advance(missing)?;
                head = lock(&self.head);
                continue;
            }
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if remaining.is_zero() {
                return Err(ChainError::Timeout {
                    target: number,
                    head: head.number.0,
                });
            }
            head = self
                .head_changed
                .wait_timeout(head, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl DevnetControl for Devnet {
    fn advance(&self, blocks: u64) -> Result<BlockInfo, ChainError> {
        self.mutate(|s, d| {
            s.advance(d, blocks)?;
            Ok(s.head)
        })
    }

    fn set_hyperparameters(
        &self,
        changes: &serde_json::Value,
    ) -> Result<Hyperparameters, ChainError> {
        self.mutate(|s, _| {
            let next = s.hyperparameters.with_changes(changes)?;
            s.hyperparameters = next.clone();
            Ok(next)
        })
    }

    fn status(&self) -> Result<DevnetStatus, ChainError> {
        self.read(DevnetState::status)
    }
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("netuid", &self.netuid)
            .field("head", &*lock(&self.head))
            .finish_non_exhaustive()
    }
}
