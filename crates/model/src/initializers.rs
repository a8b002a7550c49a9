//! A model's floating-point weights, for weight-level copy detection
//! (docs/mechanism.md#5-copy-detection).
//!
//! The bytes go through the [`gate`](mod@crate::gate) first, which bounds what
//! decoding costs and refuses anything outside the contract; only then are
//! they decoded again here and the float tensors read out. Every float
//! tensor counts: graph initializers, tensors in node attributes (`Constant`
//! values) and those of subgraphs, in file order, so moving weights into
//! `Constant` nodes or a subgraph does not hide them. `float16`, `bfloat16`
//! and `double` tensors are converted to `f32`, so a copy cannot hide behind
//! a cast either. Integer tensors (shapes, indices) are not weights and are
//! skipped.
//!
//! ```
//! use medmetric_model::{initializers, reference};
//!
//! let bytes = reference::make(reference::ReferenceKind::TinyUnet, 128);
//! let tensors = initializers::float_initializers(&bytes).unwrap();
//! assert!(tensors.iter().map(Vec::len).sum::<usize>() > 1000);
//! ```

use crate::gate::{self, GateError, GateLimits};
use crate::proto::{self, GraphProto, TensorProto, data_type};

/// Most float elements returned for one model (the contract's 100 MB file
/// holds at most 50 M `float16` values).
pub const MAX_FLOAT_ELEMENTS: u64 = 64 * 1000 * 1000;

/// The float tensors of a model, each flattened, after the gate accepted it
/// under the default limits.
pub fn float_initializers(bytes: &[u8]) -> Result<Vec<Vec<f32>>, GateError> {
    float_initializers_with(bytes, &GateLimits::default())
}

/// [`float_initializers`] under explicit gate limits.
pub fn float_initializers_with(
    bytes: &[u8],
    limits: &GateLimits,
) -> Result<Vec<Vec<f32>>, GateError> {
    gate::check_bytes(bytes, limits)?;
    let model = proto::decode_model(bytes)
        .map_err(|e| GateError::Decode(e.to_string().replace(['\n', '\r'], " ")))?;
    let mut out = Vec::new();
    let mut total = 0u64;
    if let Some(graph) = &model.graph {
        collect(graph, &mut out, &mut total)?;
    }
    Ok(out)
}

fn collect(graph: &GraphProto, out: &mut Vec<Vec<f32>>, total: &mut u64) -> Result<(), GateError> {
    for t in &graph.initializer {
        push(t, out, total)?;
    }
    for node in &graph.node {
        for attr in &node.attribute {
            for t in attr.t.iter().chain(&attr.tensors) {
                push(t, out, total)?;
            }
            for g in attr.g.iter().chain(&attr.graphs) {
                collect(g, out, total)?;
            }
        }
    }
    Ok(())
}

fn push(t: &TensorProto, out: &mut Vec<Vec<f32>>, total: &mut u64) -> Result<(), GateError> {
    let Some(values) = floats(t) else {
        return Ok(());
    };
    if values.is_empty() {
        return Ok(());
    }
    *total = total.saturating_add(values.len() as u64);
    if *total > MAX_FLOAT_ELEMENTS {
        return Err(GateError::Contract(format!(
            "more than {MAX_FLOAT_ELEMENTS} float weight elements"
        )));
    }
    out.push(values);
    Ok(())
}

/// The tensor's values as `f32`, or `None` if it is not a float tensor. The
/// gate has already checked that the stored data matches the dimensions.
fn floats(t: &TensorProto) -> Option<Vec<f32>> {
    let raw = &t.raw_data;
    Some(match t.data_type {
        data_type::FLOAT if raw.is_empty() => t.float_data.clone(),
        data_type::FLOAT => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        data_type::DOUBLE if raw.is_empty() => t.double_data.iter().map(|&v| v as f32).collect(),
        data_type::DOUBLE => raw
            .chunks_exact(8)
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                f64::from_le_bytes(a) as f32
            })
            .collect(),
        data_type::FLOAT16 | data_type::BFLOAT16 => {
            let bits: Vec<u16> = if raw.is_empty() {
                // Stored one value per int32, low 16 bits.
                t.int32_data.iter().map(|&v| v as u16).collect()
            } else {
                raw.chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect()
            };
            if t.data_type == data_type::FLOAT16 {
                bits.into_iter().map(f16_to_f32).collect()
            } else {
                bits.into_iter()
                    .map(|b| f32::from_bits(u32::from(b) << 16))
                    .collect()
            }
        }
        _ => return None,
    })
}

/// IEEE 754 binary16 to binary32, exactly (every half is a float).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise the fraction.
            let (mut e, mut f) = (127 - 15 + 1, frac);
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{self, ReferenceKind};
    use crate::writer::{Attr, GraphBuilder, f32_tensor};

    fn tensor(dt: i32, dims: &[i64], raw: Vec<u8>) -> TensorProto {
        TensorProto {
            name: format!("t{dt}"),
            dims: dims.to_vec(),
            data_type: dt,
            raw_data: raw,
            ..Default::default()
        }
    }

    /// A contract-valid model whose mask is `image + sum of its weights`.
    fn model_with(tensors: Vec<TensorProto>, constant: Option<TensorProto>) -> Vec<u8> {
        let mut g = GraphBuilder::new("w");
        g.input("image", &[1, 1, 128, 128]);
        let mut prev = "image".to_string();
        for (i, t) in tensors.into_iter().enumerate() {
            let name = t.name.clone();
            let is_float = t.data_type == data_type::FLOAT;
            g.initializer(t);
            let value = if is_float {
                name
            } else {
                let cast = format!("cast{i}");
                g.node("Cast", &[&name], &[&cast], vec![Attr::int("to", 1)]);
                cast
            };
            let sum = format!("sum{i}");
            g.node(
                "ReduceSum",
                &[&value],
                &[&sum],
                vec![Attr::int("keepdims", 0)],
            );
            let next = format!("add{i}");
            g.node("Add", &[&prev, &sum], &[&next], vec![]);
            prev = next;
        }
        if let Some(c) = constant {
            g.node(
                "Constant",
                &[],
                &["k"],
                vec![Attr::Tensor("value".into(), c)],
            );
            g.node("Add", &[&prev, "k"], &["mask"], vec![]);
        } else {
            g.node("Identity", &[&prev], &["mask"], vec![]);
        }
        g.output("mask", &[1, 1, 128, 128]);
        g.finish(17)
    }

    #[test]
    fn reads_every_float_encoding() {
        let f = f32_tensor("f", &[3], &[1.0, -2.5, 0.25]);
        let mut packed = f32_tensor("p", &[2], &[]);
        packed.raw_data.clear();
        packed.float_data = vec![7.0, 8.0];
        let d = tensor(
            data_type::DOUBLE,
            &[2],
            [0.5f64, -1.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        );
        let h = tensor(
            data_type::FLOAT16,
            &[4],
            [0x3c00u16, 0xc000, 0x0001, 0x7bff]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        );
        let b = tensor(data_type::BFLOAT16, &[1], 0x3fc0u16.to_le_bytes().to_vec());
        let ints = crate::writer::i64_tensor("shape", &[2], &[1, 2]);
        let constant = f32_tensor("c", &[1], &[42.0]);
        let bytes = model_with(vec![f, packed, d, h, b, ints], Some(constant));
        let got = float_initializers(&bytes).unwrap();
        assert_eq!(
            got,
            vec![
                vec![1.0, -2.5, 0.25],
                vec![7.0, 8.0],
                vec![0.5, -1.0],
                vec![1.0, -2.0, 2f32.powi(-24), 65504.0],
                vec![1.5],
                vec![42.0],
            ]
        );
    }

    #[test]
    fn half_precision_conversion_is_exact() {
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x8000).is_sign_negative());
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0200), 2f32.powi(-15));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn reference_models_yield_their_weights() {
        let null = float_initializers(&reference::make(ReferenceKind::Null, 128)).unwrap();
        let unet = float_initializers(&reference::make(ReferenceKind::TinyUnet, 128)).unwrap();
        let n = |v: &[Vec<f32>]| v.iter().map(Vec::len).sum::<usize>();
        assert!(n(&unet) > n(&null));
        // Deterministic.
        assert_eq!(
            unet,
            float_initializers(&reference::make(ReferenceKind::TinyUnet, 128)).unwrap()
        );
    }

    #[test]
    fn hostile_bytes_are_refused_by_the_gate() {
        assert_eq!(float_initializers(b""), Err(GateError::Empty));
        assert!(matches!(
            float_initializers(b"\x0a\x05junk"),
            Err(GateError::Decode(_))
        ));
        let limits = GateLimits {
            max_bytes: 10,
            ..GateLimits::default()
        };
        let bytes = reference::make(ReferenceKind::Threshold, 128);
        assert!(matches!(
            float_initializers_with(&bytes, &limits),
            Err(GateError::TooLarge { .. })
        ));
    }
}
