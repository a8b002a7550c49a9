//! # medmetric-bench
//!
//! Seeded benchmark rounds: `(seed, pools, config) → round` (docs/rounds.md).
//! Every validator builds the same hidden benchmark from the same block, and
//! nobody can build it before the block exists.
//!
//! - [`seed`]: the round seed from a block, and per-purpose sub-seeds;
//! - [`config`]: what a round contains (part of the mechanism config);
//! - [`hybrid`]: lesion transplants with feathered gradient-domain blending;
//! - [`round`]: sampling, hybridization, augmentation and probes;
//! - [`write`](mod@write) and [`manifest`]: the round folder, its manifest
//!   and the digest anyone with the same pools and block reproduces.
//!
//! Pure apart from writing the round folder: no clocks, no globals, no
//! network; thread count never changes a byte.
//!
//! ```
//! use medmetric_bench::seed::RoundSeed;
//!
//! let a = RoundSeed::from_block(42, 1000, &[0xab; 32]);
//! let b = RoundSeed::from_block(42, 1000, &[0xab; 32]);
//! assert_eq!(a, b);
//! assert_ne!(a.sub("sample/cxr", 0), a.sub("sample/brain", 0));
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod hybrid;
pub mod manifest;
pub mod pools;
pub mod round;
pub mod seed;
pub mod write;

pub use config::RoundConfig;
pub use round::{Anchor, Round, build};
