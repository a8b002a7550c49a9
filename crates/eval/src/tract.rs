//! The tract backend: pure Rust, no native library, always available.

use medmetric_imaging::GrayImage;
use medmetric_model::gate::GateReport;
use tract_onnx::prelude::*;

use crate::{EvalError, Prediction};

/// A model loaded and optimised by tract, ready to run.
pub struct TractModel {
    plan: std::sync::Arc<TypedSimplePlan>,
    size: u32,
    outputs: Vec<String>,
}

impl std::fmt::Debug for TractModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractModel")
            .field("size", &self.size)
            .field("outputs", &self.outputs)
            .finish()
    }
}

fn one_line(e: impl std::fmt::Display) -> String {
    let s = e.to_string().replace(['\n', '\r'], " ");
    s.chars().take(300).collect()
}

impl TractModel {
    /// Loads gated model bytes. `report` must be the gate's report for
    /// exactly these bytes.
    pub fn load(bytes: &[u8], report: &GateReport) -> Result<Self, EvalError> {
        let size = report.size();
        let s = size as usize;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(bytes))
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 1, s, s]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| EvalError::Load(one_line(format!("{e:#}"))))?;
        Ok(TractModel {
            plan,
            size,
            outputs: report.output_order.clone(),
        })
    }

    /// The input size `H` (= `W`).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Runs one image of the model's size.
    pub fn run(&self, image: &GrayImage) -> Result<Prediction, EvalError> {
        if image.width != self.size || image.height != self.size {
            return Err(EvalError::Input {
                got: image.width,
                got_h: image.height,
                expected: self.size,
            });
        }
        let s = self.size as usize;
        let input = Tensor::from_shape(&[1, 1, s, s], &image.data)
            .map_err(|e| EvalError::Run(one_line(e)))?;
        let result = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| EvalError::Run(one_line(format!("{e:#}"))))?;
        let mut pred = Prediction {
            mask: None,
            cls: None,
        };
        for (name, value) in self.outputs.iter().zip(result.iter()) {
            let view = value
                .try_as_plain_ram()
                .map_err(|e| EvalError::Run(one_line(e)))?;
            let values = view
                .as_slice::<f32>()
                .map_err(|e| EvalError::Run(one_line(e)))?;
            pred.accept(name, values, s * s)?;
        }
        Ok(pred)
    }
}
