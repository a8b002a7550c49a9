//! A model's weights, for weight-level copy detection
//! (docs/mechanism.md#5-copy-detection).
//!
//! The bytes go through the [`gate`](mod@crate::gate) first, which bounds what
//! decoding costs and refuses anything outside the contract; only then are
//! they decoded again here and the weights read out. What counts, and in
//! what form, is chosen so that an attacker who read this cannot steer it:
//!
//! - **Only tensors that reach an output** ([`crate::graph::used_tensor_names`]):
//!   graph initializers and `Constant` values (and everything inside the
//!   subgraphs of nodes that run). A tensor nothing reads cannot make a
//!   model anyone's copy or original.
//! - **Every numeric storage type, as `f32`**: `float16`, `bfloat16`,
//!   `double` and integer tensors alike, so storing weights as `int32`
//!   behind a `Cast` hides nothing.
//! - **In a canonical channel order**: the slices along a tensor's first two
//!   axes are sorted by their sums, so permuting a layer's output channels
//!   (and the next layer's inputs to match) leaves the tensors unchanged.
//!   Scale and offset are removed later by z-scoring.
//!
//! ```
//! use medmetric_model::{initializers, reference};
//!
//! let bytes = reference::make(reference::ReferenceKind::TinyUnet, 128);
//! let tensors = initializers::float_initializers(&bytes).unwrap();
//! assert!(tensors.iter().map(Vec::len).sum::<usize>() > 1000);
//! ```

use std::collections::BTreeSet;

use crate::gate::{self, GateError, GateLimits};
use crate::graph::used_tensor_names;
use crate::proto::{self, GraphProto, TensorProto, data_type};

/// Most float elements returned for one model (the contract's 100 MB file
/// holds at most 50 M `float16` values).
pub const MAX_FLOAT_ELEMENTS: u64 = 64 * 1000 * 1000;

/// The weights of a model that reach an output, each flattened as `f32` in
/// canonical channel order, after the gate accepted it under the default
/// limits.
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
        let used = used_tensor_names(graph);
        collect(graph, Some(&used), &mut out, &mut total)?;
    }
    Ok(out)
}

/// Collects the weights of `graph`; with `used`, only those it names (a
/// subgraph of a node that runs is taken whole).
fn collect(
    graph: &GraphProto,
    used: Option<&BTreeSet<String>>,
    out: &mut Vec<Vec<f32>>,
    total: &mut u64,
) -> Result<(), GateError> {
    let wanted = |name: &str| used.is_none_or(|u| u.contains(name));
    for t in &graph.initializer {
        if wanted(&t.name) {
            push(t, out, total)?;
        }
    }
    for node in &graph.node {
        if !node.output.iter().any(|o| wanted(o)) {
            continue;
        }
        for attr in &node.attribute {
            for t in attr.t.iter().chain(&attr.tensors) {
                push(t, out, total)?;
            }
            for g in attr.g.iter().chain(&attr.graphs) {
                collect(g, None, out, total)?;
            }
        }
    }
    Ok(())
}

/// Reorders the slices along the first two axes of a `dims`-shaped tensor
/// by their sums (ties keep their order), so channel permutations do not
/// change the result.
fn canonical(values: Vec<f32>, dims: &[usize]) -> Vec<f32> {
    if dims.len() < 2 || dims.iter().product::<usize>() != values.len() {
        return values;
    }
    let (d0, d1) = (dims[0], dims[1]);
    let inner: usize = dims[2..].iter().product();
    let at = |i: usize, j: usize, k: usize| (i * d1 + j) * inner + k;
    let order = |n: usize, key: &dyn Fn(usize) -> f64| {
        let keys: Vec<f64> = (0..n).map(key).collect();
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
        idx
    };
    let rows = order(d0, &|i| {
        (0..d1 * inner)
            .map(|r| f64::from(values[i * d1 * inner + r]))
            .sum()
    });
    let cols = order(d1, &|j| {
        (0..d0)
            .flat_map(|i| (0..inner).map(move |k| (i, k)))
            .map(|(i, k)| f64::from(values[at(i, j, k)]))
            .sum()
    });
    let mut out = Vec::with_capacity(values.len());
    for &i in &rows {
        for &j in &cols {
            out.extend_from_slice(&values[at(i, j, 0)..at(i, j, 0) + inner]);
        }
    }
    out
}

fn push(t: &TensorProto, out: &mut Vec<Vec<f32>>, total: &mut u64) -> Result<(), GateError> {
    let Some(values) = numbers(t) else {
        return Ok(());
    };
    let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    let values = canonical(values, &dims);
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

/// The tensor's values as `f32`, integers included; `None` for strings and
/// booleans. The gate has already checked that the stored data matches the
/// dimensions.
fn numbers(t: &TensorProto) -> Option<Vec<f32>> {
    if let Some(v) = integers(t) {
        return Some(v);
    }
    floats(t)
}

/// Integer tensors as `f32`.
fn integers(t: &TensorProto) -> Option<Vec<f32>> {
    let raw = &t.raw_data;
    let le = |n: usize| raw.chunks_exact(n);
    Some(match t.data_type {
        data_type::INT8 if !raw.is_empty() => raw.iter().map(|&b| f32::from(b as i8)).collect(),
        data_type::UINT8 if !raw.is_empty() => raw.iter().map(|&b| f32::from(b)).collect(),
        data_type::INT16 if !raw.is_empty() => le(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])))
            .collect(),
        data_type::UINT16 if !raw.is_empty() => le(2)
            .map(|b| f32::from(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        data_type::INT8 | data_type::UINT8 | data_type::INT16 | data_type::UINT16 => {
            t.int32_data.iter().map(|&v| v as f32).collect()
        }
        data_type::INT32 if raw.is_empty() => t.int32_data.iter().map(|&v| v as f32).collect(),
        data_type::INT32 => le(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
            .collect(),
        data_type::INT64 if raw.is_empty() => t.int64_data.iter().map(|&v| v as f32).collect(),
        data_type::INT64 => le(8)
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        data_type::UINT32 | data_type::UINT64 if raw.is_empty() => {
            t.uint64_data.iter().map(|&v| v as f32).collect()
        }
        data_type::UINT32 => le(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
            .collect(),
        data_type::UINT64 => le(8)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        _ => return None,
    })
}

/// Float tensors as `f32`.
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
                // Integer tensors count too (as f32).
                vec![1.0, 2.0],
                vec![42.0],
            ]
        );
    }

    #[test]
    fn unused_tensors_do_not_count() {
        let mut g = GraphBuilder::new("bait");
        g.input("image", &[1, 1, 128, 128]);
        g.output("mask", &[1, 1, 128, 128]);
        g.initializer(f32_tensor("kernel", &[97], &[0.25; 97]));
        g.initializer(f32_tensor("bias", &[1], &[0.5]));
        g.node("Add", &["image", "bias"], &["mask"], vec![]);
        let got = float_initializers(&g.finish(17)).unwrap();
        assert_eq!(got, vec![vec![0.5]]);
    }

    #[test]
    fn channel_permutations_and_integer_storage_do_not_hide_weights() {
        // A 3×2×2 tensor and the same with its first axis permuted and its
        // second axis swapped.
        let v: Vec<f32> = (0..12)
            .map(|i| (i * 7 % 12) as f32 + 0.01 * i as f32)
            .collect();
        let dims = [3usize, 2, 2];
        let at = |i: usize, j: usize, k: usize| v[(i * 2 + j) * 2 + k];
        let mut p = Vec::new();
        for i in [2, 0, 1] {
            for j in [1, 0] {
                for k in 0..2 {
                    p.push(at(i, j, k));
                }
            }
        }
        assert_ne!(p, v);
        assert_eq!(canonical(p, &dims), canonical(v.clone(), &dims));
        // Vectors and scalars are left alone.
        assert_eq!(canonical(vec![3.0, 1.0], &[2]), vec![3.0, 1.0]);
        // int32 storage reads back as its values.
        let t = tensor(
            data_type::INT32,
            &[3],
            [5i32, -7, 1 << 20]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        );
        assert_eq!(numbers(&t).unwrap(), vec![5.0, -7.0, 1_048_576.0]);
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
