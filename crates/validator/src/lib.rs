//! # medmetric-validator
//!
//! A validator's loop and what it keeps: each tempo [`node::Validator::step`]
//! syncs the chain, fetches and gates the committed models, runs them
//! through the evaluation harness ([`medmetric_harness`]), keeps the score
//! book and copy ledger in its SQLite [`state`], sets weights, and counts
//! what happened for Prometheus ([`metrics`]).

#![warn(missing_docs)]

pub mod metrics;
pub mod node;
pub mod state;
