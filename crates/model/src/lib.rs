//! # medmetric-model
//!
//! The ONNX side of MedMetric's model contract (docs/model-contract.md), with no runtime in
//! sight:
//!
//! - [`gate`] checks untrusted ONNX bytes against the v1 contract and either
//!   returns a [`gate::GateReport`] or a one-line reason. It is the only code
//!   that touches a miner's file before a runtime does.
//! - [`writer`] builds ONNX models in code, deterministically.
//! - [`reference`](mod@reference) holds the reference models (`null`, `threshold`,
//!   `tiny-unet`) that every later test uses.
//!
//! ```
//! use medmetric_model::{gate, reference};
//!
//! let bytes = reference::make(reference::ReferenceKind::Threshold, 256);
//! let report = gate::check_bytes(&bytes, &gate::GateLimits::default()).unwrap();
//! assert_eq!(report.input.shape, vec![1, 1, 256, 256]);
//! assert!(report.outputs.mask && report.outputs.cls);
//!
//! let err = gate::check_bytes(b"not a model", &gate::GateLimits::default()).unwrap_err();
//! println!("rejected: {err}");
//! ```

#![warn(missing_docs)]

pub mod gate;
pub mod graph;
pub mod initializers;
mod ops;
pub mod proto;
pub mod reference;
pub mod wire;
pub mod writer;

pub use gate::{GateError, GateLimits, GateReport, check_bytes, check_file};
