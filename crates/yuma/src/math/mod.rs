//! Fixed-point building blocks of the Yuma epoch.
//!
//! Everything here works on the same [`substrate_fixed`] types the chain uses
//! ([`I32F32`] for proportions, [`I64F64`] for raw stake, [`I96F32`] for rao
//! amounts) and reproduces subtensor's `epoch/math.rs` operation by
//! operation: the same saturating / checked primitives in the same order,
//! so results are bit-identical.
//!
//! Conventions shared by every function in this module:
//!
//! * **Total.** No function panics. Where subtensor logs a "math error" on
//!   mismatched shapes and carries on (skipping missing entries, treating
//!   them as zero, or returning an input unchanged), these functions do
//!   exactly the same silent thing. Shape validation belongs to the caller —
//!   [`crate::epoch::run_epoch`] rejects malformed input with a
//!   [`crate::YumaError`] before any arithmetic runs.
//! * **Division by zero (or overflow) yields zero**, like subtensor's
//!   `safe_div`; see [`safe_div`].
//! * **Plain sums wrap.** Where the chain calls `Iterator::sum` on fixed
//!   values, the runtime (built without overflow checks) wraps on overflow;
//!   [`sum`] does the same instead of panicking. Epoch inputs are validated so
//!   that no sum can actually overflow.
//! * **Sparse matrices** are `Vec` rows of `(column, value)` pairs
//!   ([`SparseMatrix`]), in whatever column order the rows were built with.
//!
//! The module is split by theme: conversions, vector helpers, sparse and
//! dense matrix operations, the stake-weighted median, and the bond
//! exponential moving averages (including the Yuma3 liquid-alpha sigmoid).

mod bonds;
mod convert;
mod dense;
mod median;
mod sparse;
mod vector;

pub use bonds::*;
pub use convert::*;
pub use dense::*;
pub use median::*;
pub use sparse::*;
pub use vector::*;

pub use substrate_fixed::types::{I32F32, I64F64, I96F32, U64F64};

/// One row of a sparse matrix: `(column uid, value)` pairs.
pub type SparseRow = Vec<(u16, I32F32)>;

/// A sparse matrix as stored and processed by the chain: one [`SparseRow`]
/// per row uid.
pub type SparseMatrix = Vec<SparseRow>;

/// `0` as [`I32F32`].
pub const ZERO: I32F32 = I32F32::from_bits(0);

/// `1` as [`I32F32`].
pub const ONE: I32F32 = I32F32::from_bits(1 << 32);

/// `65535` (`u16::MAX`) as [`I32F32`], the scale of every u16 proportion.
pub const U16_MAX_FIXED: I32F32 = I32F32::from_bits((u16::MAX as i64) << 32);
