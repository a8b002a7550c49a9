//! The score book: one moving score per **hotkey** (docs/mechanism.md#7-the-score-book).
//!
//! Uids are reused when a miner deregisters and a new hotkey takes the
//! slot, so the book never looks at uids: a new hotkey starts at 0 whatever
//! uid it sits on, and a hotkey that leaves the metagraph is dropped.

use std::collections::{BTreeMap, BTreeSet};

use medmetric_core::Hotkey;
use serde::{Deserialize, Serialize};

use super::config::MechanismConfig;

/// One hotkey's moving score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BookEntry {
    /// The moving score `V`, in `[0, 1]`.
    pub ema: f64,
    /// Rounds applied to this hotkey.
    pub rounds: u64,
    /// The first round applied to it.
    pub first_round: u64,
    /// The last round applied to it.
    pub last_round: u64,
    /// The composite `C` of that last round (0 when it was not evaluated,
    /// failed, or was a copy).
    pub last_score: f64,
}

/// Moving scores keyed by hotkey, plus the id of the last round applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreBook {
    entries: BTreeMap<Hotkey, BookEntry>,
    last_round: Option<u64>,
}

impl ScoreBook {
    /// An empty book.
    pub fn new() -> ScoreBook {
        ScoreBook::default()
    }

    /// Applies one round and returns whether it was applied.
    ///
    /// A round is applied only if `round_id` is greater than every round
    /// applied before, so replaying a round (e.g. after a crash between
    /// scoring and persisting) or a stale one is a no-op. Then:
    /// - hotkeys no longer in `registered` are dropped;
    /// - every registered hotkey gets `V ← α·C + (1−α)·V` where `C` is its
    ///   composite in `results`, or 0 when it has none (not evaluated,
    ///   failed); set copies to 0 before calling
    ///   ([`super::copies::zero_copies`]);
    /// - a hotkey seen for the first time starts at `V = 0`, so its first
    ///   round gives `α·C`.
    ///
    /// Composites are clamped to `[0, 1]`, NaN counts as 0. Results for
    /// hotkeys that are not registered are ignored.
    pub fn update(
        &mut self,
        cfg: &MechanismConfig,
        round_id: u64,
        results: &BTreeMap<Hotkey, f64>,
        registered: &[Hotkey],
    ) -> bool {
        if self.last_round.is_some_and(|last| round_id <= last) {
            return false;
        }
        let alpha = cfg.ema.alpha;
        let registered: BTreeSet<&Hotkey> = registered.iter().collect();
        self.entries.retain(|h, _| registered.contains(h));
        for hotkey in registered {
            let c = results.get(hotkey).copied().unwrap_or(0.0);
            let c = if c.is_nan() { 0.0 } else { c.clamp(0.0, 1.0) };
            let entry = self.entries.entry(hotkey.clone()).or_insert(BookEntry {
                ema: 0.0,
                rounds: 0,
                first_round: round_id,
                last_round: round_id,
                last_score: 0.0,
            });
            entry.ema = (alpha * c + (1.0 - alpha) * entry.ema).clamp(0.0, 1.0);
            entry.rounds += 1;
            entry.last_round = round_id;
            entry.last_score = c;
        }
        self.last_round = Some(round_id);
        true
    }

    /// The entry of a hotkey.
    pub fn get(&self, hotkey: &str) -> Option<&BookEntry> {
        self.entries.get(hotkey)
    }

    /// Every entry, by hotkey.
    pub fn entries(&self) -> &BTreeMap<Hotkey, BookEntry> {
        &self.entries
    }

    /// `(hotkey, moving score)` in hotkey order: the input of
    /// [`super::reward::apply`].
    pub fn scores(&self) -> Vec<(Hotkey, f64)> {
        self.entries
            .iter()
            .map(|(h, e)| (h.clone(), e.ema))
            .collect()
    }

    /// The last round applied.
    pub fn last_round(&self) -> Option<u64> {
        self.last_round
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> MechanismConfig {
        MechanismConfig::builtin("medmetric").unwrap()
    }

    fn results(items: &[(&str, f64)]) -> BTreeMap<Hotkey, f64> {
        items.iter().map(|(h, s)| (Hotkey::from(*h), *s)).collect()
    }

    fn keys(items: &[&str]) -> Vec<Hotkey> {
        items.iter().map(|s| Hotkey::from(*s)).collect()
    }

    #[test]
    fn ema_starts_at_zero_and_moves_by_alpha() {
        let c = cfg();
        let a = c.ema.alpha;
        let mut book = ScoreBook::new();
        assert!(book.update(&c, 1, &results(&[("a", 0.8)]), &keys(&["a", "b"])));
        assert!((book.get("a").unwrap().ema - a * 0.8).abs() < 1e-15);
        assert_eq!(book.get("b").unwrap().ema, 0.0);
        assert!(book.update(
            &c,
            2,
            &results(&[("a", 0.8), ("b", 1.0)]),
            &keys(&["a", "b"])
        ));
        let want = a * 0.8 + (1.0 - a) * a * 0.8;
        assert!((book.get("a").unwrap().ema - want).abs() < 1e-15);
        assert_eq!(book.get("a").unwrap().rounds, 2);
        assert!((book.get("b").unwrap().ema - a).abs() < 1e-15);
    }

    #[test]
    fn replayed_and_stale_rounds_are_no_ops() {
        let c = cfg();
        let mut book = ScoreBook::new();
        let r = results(&[("a", 0.5)]);
        assert!(book.update(&c, 10, &r, &keys(&["a"])));
        let snapshot = book.clone();
        assert!(!book.update(&c, 10, &r, &keys(&["a"])));
        assert!(!book.update(&c, 9, &r, &keys(&["a"])));
        assert_eq!(book, snapshot);
        assert_eq!(book.last_round(), Some(10));
    }

    #[test]
    fn failures_count_zero_and_hostile_values_are_clamped() {
        let c = cfg();
        let mut book = ScoreBook::new();
        book.update(&c, 1, &results(&[("a", 1.0)]), &keys(&["a"]));
        let before = book.get("a").unwrap().ema;
        book.update(&c, 2, &results(&[]), &keys(&["a"]));
        assert!((book.get("a").unwrap().ema - (1.0 - c.ema.alpha) * before).abs() < 1e-15);
        book.update(
            &c,
            3,
            &results(&[("a", f64::NAN), ("x", 1.0)]),
            &keys(&["a"]),
        );
        book.update(&c, 4, &results(&[("a", 7.0)]), &keys(&["a"]));
        let e = book.get("a").unwrap();
        assert!(e.ema.is_finite() && (0.0..=1.0).contains(&e.ema));
        assert_eq!(e.last_score, 1.0);
        assert!(book.get("x").is_none());
    }

    #[test]
    fn a_reused_uid_never_inherits_a_score() {
        let c = cfg();
        let mut book = ScoreBook::new();
        // uid -> hotkey, before and after uid 1 is re-registered.
        let mut metagraph: BTreeMap<u16, String> =
            [(0, "alice".to_string()), (1, "bob".to_string())].into();
        let hotkeys = |m: &BTreeMap<u16, String>| {
            m.values()
                .map(|h| Hotkey::from(h.as_str()))
                .collect::<Vec<_>>()
        };
        for round in 1..=20 {
            book.update(
                &c,
                round,
                &results(&[("alice", 0.3), ("bob", 0.9)]),
                &hotkeys(&metagraph),
            );
        }
        assert!(book.get("bob").unwrap().ema > 0.5);
        metagraph.insert(1, "carol".to_string());
        book.update(
            &c,
            21,
            &results(&[("alice", 0.3), ("carol", 0.1)]),
            &hotkeys(&metagraph),
        );
        assert!(book.get("bob").is_none());
        let carol = book.get(&metagraph[&1]).unwrap();
        assert!((carol.ema - c.ema.alpha * 0.1).abs() < 1e-15);
        assert_eq!((carol.rounds, carol.first_round), (1, 21));
        // Bob comes back on another uid: still starts from zero.
        metagraph.insert(2, "bob".to_string());
        book.update(&c, 22, &results(&[("bob", 0.9)]), &hotkeys(&metagraph));
        assert!((book.get("bob").unwrap().ema - c.ema.alpha * 0.9).abs() < 1e-15);
    }
}
