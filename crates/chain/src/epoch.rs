//! When a subnet's epoch runs: subtensor's `blocks_until_next_epoch`
//! schedule, the one rule the devnet runs epochs by and validators anchor
//! their rounds on.
//!
//! With `tempo > 0` the epoch runs at every block `b` where
//! `blocks_until_next_epoch(b) == 0`, i.e. where
//! `(b + netuid + 1) mod (tempo + 1) == tempo`: every `tempo + 1` blocks,
//! staggered by netuid. A tempo of 0 stops epochs. Block 0 is genesis, and
//! no epoch runs there.
//!
//! (Current subtensor moved to a stateful scheduler anchored on the last
//! epoch block; its migration seeds it so the epochs fall on the same
//! blocks as this rule.)
//!
//! ```
//! use medmetric_chain::epoch::{blocks_until_next_epoch, is_epoch_block, last_epoch_block, next_epoch_block};
//!
//! // netuid 1, tempo 10: (b + 2) mod 11 == 10 at blocks 8, 19, 30, ...
//! assert!(is_epoch_block(8, 10, 1) && is_epoch_block(19, 10, 1));
//! assert_eq!(blocks_until_next_epoch(0, 10, 1), 8);
//! assert_eq!(last_epoch_block(7, 10, 1), None);
//! assert_eq!(last_epoch_block(25, 10, 1), Some(19));
//! assert_eq!(next_epoch_block(19, 10, 1), Some(30));
//! ```

/// `(block + netuid + 1) mod (tempo + 1)`, wrapping as the runtime does.
/// `tempo` must be positive.
fn phase(block: u64, tempo: u16, netuid: u16) -> u64 {
    let netuid_plus_one = u64::from(netuid) + 1;
    let tempo_plus_one = u64::from(tempo) + 1;
    block.wrapping_add(netuid_plus_one) % tempo_plus_one
}

/// Blocks from `block` until the subnet's next epoch, 0 when it runs at
/// `block` itself: subtensor's `blocks_until_next_epoch`,
/// `tempo - (block + netuid + 1) mod (tempo + 1)`. `u64::MAX` when tempo is
/// 0 (no epochs).
pub fn blocks_until_next_epoch(block: u64, tempo: u16, netuid: u16) -> u64 {
    if tempo == 0 {
        return u64::MAX;
    }
    u64::from(tempo) - phase(block, tempo, netuid)
}

/// Whether the epoch runs at `block` (never at genesis, never with tempo 0).
pub fn is_epoch_block(block: u64, tempo: u16, netuid: u16) -> bool {
    block > 0 && blocks_until_next_epoch(block, tempo, netuid) == 0
}

/// The latest block at or before `head` at which the epoch ran: the anchor
/// of the current round. `None` with tempo 0 or before the first epoch.
pub fn last_epoch_block(head: u64, tempo: u16, netuid: u16) -> Option<u64> {
    if tempo == 0 {
        return None;
    }
    // Blocks since the last epoch: the phase counts from the block after
    // one (phase 0) up to the epoch block itself (phase `tempo`).
    let since = (phase(head, tempo, netuid) + 1) % (u64::from(tempo) + 1);
    head.checked_sub(since).filter(|&b| b > 0)
}

/// The first block strictly after `head` at which the epoch runs. `None`
/// with tempo 0 or past `u64::MAX`.
pub fn next_epoch_block(head: u64, tempo: u16, netuid: u16) -> Option<u64> {
    let next = head.checked_add(1)?;
    let wait = blocks_until_next_epoch(next, tempo, netuid);
    if wait == u64::MAX {
        return None;
    }
    next.checked_add(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_follows_subtensor() {
        // netuid 1, tempo 10: (b + 2) % 11 == 10 at blocks 8, 19, 30.
        let due: Vec<u64> = (0..40).filter(|&b| is_epoch_block(b, 10, 1)).collect();
        assert_eq!(due, [8, 19, 30]);
        assert_eq!(blocks_until_next_epoch(0, 10, 1), 8);
        assert_eq!(blocks_until_next_epoch(0, 360, 0), 359);
        assert_eq!(blocks_until_next_epoch(5, 0, 3), u64::MAX);
        // Wrapping arithmetic at the extremes, as on chain.
        assert_eq!(blocks_until_next_epoch(u64::MAX, u16::MAX, u16::MAX), 0);
        // Genesis is never an epoch, even where the phase says so.
        assert_eq!(blocks_until_next_epoch(0, 1, 0), 0);
        assert!(!is_epoch_block(0, 1, 0));
    }

    #[test]
    fn last_and_next_agree_with_a_scan() {
        for tempo in [1_u16, 2, 9, 10, 360] {
            for netuid in [0_u16, 1, 7, 300] {
                let mut last = None;
                for head in 0..1000_u64 {
                    if is_epoch_block(head, tempo, netuid) {
                        last = Some(head);
                    }
                    assert_eq!(
                        last_epoch_block(head, tempo, netuid),
                        last,
                        "{head} {tempo} {netuid}"
                    );
                    let next = (head + 1..).find(|&b| is_epoch_block(b, tempo, netuid));
                    assert_eq!(
                        next_epoch_block(head, tempo, netuid),
                        next,
                        "{head} {tempo} {netuid}"
                    );
                }
            }
        }
        assert_eq!(last_epoch_block(1000, 0, 1), None);
        assert_eq!(next_epoch_block(1000, 0, 1), None);
        assert_eq!(next_epoch_block(u64::MAX, 10, 1), None);
    }
}
