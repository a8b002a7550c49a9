//! # medmetric-scoring
//!
//! Everything between a model's raw outputs and the weights a validator
//! sets: per-image [`metrics`]; the incentive [`mechanism`] (scoring
//! profiles, copy detection, the score book, the ε advantage of earlier
//! commitments, reward curves); and the conversion of shares into the u16
//! [`weights`] the chain accepts, bit for bit as the Bittensor SDK does it.
//! Pure: no I/O, no clocks, no global state.
//!
//! ```
//! use medmetric_scoring::metrics::segmentation;
//! let m = segmentation(&[0.0f32; 16], &[0u8; 16]).unwrap();
//! assert_eq!(m.dice, 1.0);
//! ```

#![warn(missing_docs)]

pub mod mechanism;
pub mod metrics;
pub mod weights;
