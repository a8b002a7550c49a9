//! What a validator sets on chain: a sparse row of u16 weights.

use serde::{Deserialize, Serialize};

/// One validator's weights: `values[i]` is the u16 weight on uid `uids[i]`,
/// exactly as `set_weights` carries them. Uids are strictly increasing in
/// every vector MedMetric emits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    /// Uids with a weight.
    pub uids: Vec<u16>,
    /// Their u16 weights.
    pub values: Vec<u16>,
}

impl Weights {
    /// Weights from parallel vectors.
    pub fn new(uids: Vec<u16>, values: Vec<u16>) -> Weights {
        Weights { uids, values }
    }

    /// No weight on anyone.
    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.uids.len()
    }

    /// The weight on `uid` (0 when absent).
    pub fn get(&self, uid: u16) -> u16 {
        self.uids
            .iter()
            .position(|&u| u == uid)
            .map_or(0, |i| self.values[i])
    }

    /// `(uid, weight)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        self.uids.iter().copied().zip(self.values.iter().copied())
    }
}

impl From<(Vec<u16>, Vec<u16>)> for Weights {
    fn from((uids, values): (Vec<u16>, Vec<u16>)) -> Weights {
        Weights { uids, values }
    }
}
