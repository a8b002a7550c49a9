//! # medmetric-validator
//!
//! What a validator does with a round once it has one: evaluate every
//! model in the sandbox ([`evaluate`]), with latencies calibrated to the
//! reference edge device ([`calibration`]).

#![warn(missing_docs)]

pub mod calibration;
pub mod evaluate;
pub mod metrics;
pub mod node;
pub mod state;
