//! # medmetric-eval
//!
//! Runs a gated model on images and checks what comes back. The model must
//! already have passed [`medmetric_model::gate`]; this crate trusts the
//! gate's report for the input name and the output order, and trusts
//! nothing the model computes: every output is checked for shape, NaN/Inf
//! and the `[0, 1]` range before anyone scores it.
//!
//! Backends: [`tract`] (pure Rust, always present).
//!
//! ```
//! use medmetric_eval::tract::TractModel;
//! use medmetric_imaging::GrayImage;
//! use medmetric_model::{gate, reference};
//!
//! let bytes = reference::make(reference::ReferenceKind::Null, 128);
//! let report = gate::check_bytes(&bytes, &Default::default()).unwrap();
//! let model = TractModel::load(&bytes, &report).unwrap();
//! let out = model.run(&GrayImage::filled(128, 128, 0.5)).unwrap();
//! assert_eq!(out.cls, Some(0.0));
//! assert!(out.mask.unwrap().iter().all(|&p| p == 0.0));
//! ```

#![warn(missing_docs)]

pub mod ort;
pub mod sandbox;
pub mod tract;

/// What one inference produced, already checked against the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Per-pixel lesion probability, `H*W` values in `[0, 1]`, row-major.
    pub mask: Option<Vec<f32>>,
    /// Probability that the image is abnormal.
    pub cls: Option<f32>,
}

/// Why a run failed. Every variant but [`EvalError::Input`] is the model's
/// fault, and a validator records it against the miner.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The runtime refused to load the model.
    #[error("runtime cannot load the model: {0}")]
    Load(String),
    /// The runtime failed while running it.
    #[error("inference failed: {0}")]
    Run(String),
    /// An output has the wrong shape.
    #[error("output '{name}' has {got} values, expected {expected}")]
    Shape {
        /// Output name.
        name: String,
        /// Values produced.
        got: usize,
        /// Values expected.
        expected: usize,
    },
    /// An output holds NaN or infinity.
    #[error("output '{0}' contains NaN or infinity")]
    NotFinite(String),
    /// An output leaves `[0, 1]`.
    #[error("output '{name}' has value {value} outside [0, 1]")]
    OutOfRange {
        /// Output name.
        name: String,
        /// First offending value.
        value: f32,
    },
    /// The image handed in does not fit the model (the caller's fault).
    #[error("image is {got}x{got_h}, model expects {expected}x{expected}")]
    Input {
        /// Image width.
        got: u32,
        /// Image height.
        got_h: u32,
        /// Model size.
        expected: u32,
    },
}

impl EvalError {
    /// Whether the failure is the model's (its author loses the image) rather
    /// than the caller's.
    pub fn is_model_fault(&self) -> bool {
        !matches!(self, EvalError::Input { .. })
    }
}

impl Prediction {
    /// Checks one named runtime output against the contract (`pixels`
    /// values for `mask`, one for `cls`) and keeps it; other names are
    /// ignored.
    pub(crate) fn accept(
        &mut self,
        name: &str,
        values: &[f32],
        pixels: usize,
    ) -> Result<(), EvalError> {
        match name {
            medmetric_model::gate::MASK_OUTPUT => {
                check_output(name, values, pixels)?;
                self.mask = Some(values.to_vec());
            }
            medmetric_model::gate::CLS_OUTPUT => {
                check_output(name, values, 1)?;
                self.cls = Some(values[0]);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Checks one output tensor's values against the contract.
pub fn check_output(name: &str, values: &[f32], expected: usize) -> Result<(), EvalError> {
    if values.len() != expected {
        return Err(EvalError::Shape {
            name: name.into(),
            got: values.len(),
            expected,
        });
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(EvalError::NotFinite(name.into()));
    }
    if let Some(&value) = values.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(EvalError::OutOfRange {
            name: name.into(),
            value,
        });
    }
    Ok(())
}
