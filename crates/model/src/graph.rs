//! What a graph does with its weights, read without running it.
//!
//! Two questions an attacker who reads our code would otherwise answer for
//! us:
//!
//! - **Which tensors matter?** [`used_tensor_names`] walks back from the
//!   graph's outputs. A weight nothing reads cannot make a model a copy (a
//!   small "bait" model carrying an unused tensor of someone else's must not
//!   claim to be their original), and weight-level copy detection reads only
//!   these ([`crate::initializers`]).
//! - **What does loading cost?** Runtimes fold constant subgraphs once, at
//!   load time, where no per-image timer sees them. [`constant_cost`]
//!   estimates that work (multiply-adds and elements produced) from shapes
//!   alone, so the gate can refuse a model that would spend minutes of a
//!   validator's time before its first image.
//!
//! ```
//! use medmetric_model::{graph, proto, reference};
//!
//! let bytes = reference::make(reference::ReferenceKind::TinyUnet, 128);
//! let model = proto::decode_model(&bytes).unwrap();
//! let g = model.graph.as_ref().unwrap();
//! assert!(!graph::used_tensor_names(g).is_empty());
//! assert!(graph::constant_cost(g).unwrap().flops < 1_000_000);
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::proto::{AttributeProto, GraphProto, NodeProto, TensorProto, data_type};

/// Names a node reads: its inputs, and every name its subgraphs read from
/// the enclosing scope (all names their nodes take in, a superset).
fn reads(node: &NodeProto) -> Vec<&str> {
    let mut out: Vec<&str> = node
        .input
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    for attr in &node.attribute {
        for g in attr.g.iter().chain(&attr.graphs) {
            collect_subgraph_reads(g, &mut out);
        }
    }
    out
}

fn collect_subgraph_reads<'a>(g: &'a GraphProto, out: &mut Vec<&'a str>) {
    for n in &g.node {
        out.extend(reads(n));
    }
    out.extend(g.output.iter().map(|o| o.name.as_str()));
}

/// Every tensor name that reaches one of the graph's outputs: initializers,
/// node outputs and inputs on some path to an output.
pub fn used_tensor_names(graph: &GraphProto) -> BTreeSet<String> {
    let mut producer: BTreeMap<&str, &NodeProto> = BTreeMap::new();
    for node in &graph.node {
        for o in &node.output {
            if !o.is_empty() {
                producer.insert(o.as_str(), node);
            }
        }
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    while let Some(name) = stack.pop() {
        if !used.insert(name.to_string()) {
            continue;
        }
        if let Some(node) = producer.get(name) {
            // Every output of the producer counts as used (it ran).
            for o in &node.output {
                used.insert(o.clone());
            }
            stack.extend(reads(node));
        }
    }
    used
}

/// Whether a `Constant` node's value, or a graph's initializer, named
/// `name` is used.
pub fn is_used(used: &BTreeSet<String>, name: &str) -> bool {
    used.contains(name)
}

/// The work a runtime does folding a graph's constant subgraphs at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConstantCost {
    /// Multiply-adds (and one per element for everything else).
    pub flops: u64,
    /// Elements of every tensor the folding produces.
    pub elements: u64,
    /// Nodes folded.
    pub nodes: usize,
}

/// Why the cost of a constant subgraph cannot be bounded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot bound the load-time cost of constant node {node} ({op}): {why}")]
pub struct UnboundedConstant {
    /// The node's name (or its first output).
    pub node: String,
    /// Its operator.
    pub op: String,
    /// Why.
    pub why: String,
}

/// What is known of a constant tensor.
#[derive(Debug, Clone)]
struct Known {
    shape: Vec<u64>,
    /// Values of small integer tensors (shapes, axes, repeats).
    ints: Option<Vec<i64>>,
}

/// Integer values kept per constant tensor (shape vectors are short).
const MAX_TRACKED_INTS: usize = 64;

fn elements(shape: &[u64]) -> u64 {
    shape.iter().fold(1u64, |a, &d| a.saturating_mul(d))
}

fn tensor_ints(t: &TensorProto) -> Option<Vec<i64>> {
    let n = elements(&dims(t));
    if n > MAX_TRACKED_INTS as u64 {
        return None;
    }
    match t.data_type {
        data_type::INT64 if t.raw_data.is_empty() => Some(t.int64_data.clone()),
        data_type::INT64 => Some(
            t.raw_data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
        ),
        data_type::INT32 if t.raw_data.is_empty() => {
            Some(t.int32_data.iter().map(|&v| i64::from(v)).collect())
        }
        data_type::INT32 => Some(
            t.raw_data
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
        ),
        _ => None,
    }
}

fn dims(t: &TensorProto) -> Vec<u64> {
    t.dims.iter().map(|&d| d.max(0) as u64).collect()
}

fn known_tensor(t: &TensorProto) -> Known {
    Known {
        shape: dims(t),
        ints: tensor_ints(t),
    }
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_int(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_ints<'a>(node: &'a NodeProto, name: &str) -> Option<&'a [i64]> {
    attr(node, name).map(|a| a.ints.as_slice())
}

/// NumPy broadcasting of two shapes.
fn broadcast(a: &[u64], b: &[u64]) -> Option<Vec<u64>> {
    let n = a.len().max(b.len());
    let mut out = vec![0u64; n];
    for i in 0..n {
        let x = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let y = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r.max(1)).contains(&a).then_some(a as usize)
}

const ELEMENTWISE: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "Cast",
    "CastLike",
    "Ceil",
    "Celu",
    "Clip",
    "Cos",
    "Cosh",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "IsInf",
    "IsNaN",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "Mish",
    "Neg",
    "Not",
    "Reciprocal",
    "Relu",
    "Round",
    "Selu",
    "Shrink",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Dropout",
];

const BROADCASTING: &[&str] = &[
    "Add",
    "And",
    "BitShift",
    "Div",
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Max",
    "Mean",
    "Min",
    "Mod",
    "Mul",
    "Or",
    "Pow",
    "PRelu",
    "Sub",
    "Sum",
    "Where",
    "Xor",
];

/// Shape of the output and the work for one constant node; `Err` with a
/// reason when it cannot be bounded.
fn fold(node: &NodeProto, inputs: &[Option<&Known>]) -> Result<(Vec<Known>, u64), String> {
    let op = node.op_type.as_str();
    let shape = |i: usize| -> Result<&[u64], String> {
        inputs
            .get(i)
            .copied()
            .flatten()
            .map(|k| k.shape.as_slice())
            .ok_or_else(|| format!("input {i} has no known shape"))
    };
    let ints = |i: usize| -> Result<&[i64], String> {
        inputs
            .get(i)
            .copied()
            .flatten()
            .and_then(|k| k.ints.as_deref())
            .ok_or_else(|| format!("input {i} is not a small constant integer tensor"))
    };
    let out = |shape: Vec<u64>| Known { shape, ints: None };
    let one = |shape: Vec<u64>, flops: u64| Ok((vec![out(shape)], flops));
    if ELEMENTWISE.contains(&op) {
        let s = shape(0)?.to_vec();
        let n = elements(&s);
        // Shape arithmetic passes integer values through (Cast, Identity).
        let ints = inputs[0].and_then(|k| k.ints.clone());
        return Ok((vec![Known { shape: s, ints }], n));
    }
    if BROADCASTING.contains(&op) {
        let mut s = shape(0)?.to_vec();
        for i in 1..inputs.len() {
            s = broadcast(&s, shape(i)?).ok_or("shapes do not broadcast")?;
        }
        let n = elements(&s);
        return one(s, n);
    }
    match op {
        "Constant" => {
            let value = node
                .attribute
                .iter()
                .find_map(|a| a.t.as_ref())
                .map(known_tensor)
                .unwrap_or(Known {
                    shape: Vec::new(),
                    ints: None,
                });
            Ok((vec![value], 0))
        }
        "MatMul" => {
            let (a, b) = (shape(0)?, shape(1)?);
            if a.is_empty() || b.is_empty() {
                return Err("scalar operand".into());
            }
            let a2 = if a.len() == 1 {
                vec![1, a[0]]
            } else {
                a.to_vec()
            };
            let b2 = if b.len() == 1 {
                vec![b[0], 1]
            } else {
                b.to_vec()
            };
            let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
            let n = b2[b2.len() - 1];
            let batch = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])
                .ok_or("batch dimensions do not broadcast")?;
            let mut s = batch.clone();
            s.extend([m, n]);
            let flops = elements(&batch)
                .saturating_mul(m)
                .saturating_mul(n)
                .saturating_mul(k);
            one(s, flops)
        }
        "Gemm" => {
            let (a, b) = (shape(0)?, shape(1)?);
            if a.len() != 2 || b.len() != 2 {
                return Err("Gemm operands must be matrices".into());
            }
            let (m, k) = if attr_int(node, "transA", 0) != 0 {
                (a[1], a[0])
            } else {
                (a[0], a[1])
            };
            let n = if attr_int(node, "transB", 0) != 0 {
                b[0]
            } else {
                b[1]
            };
            one(vec![m, n], m.saturating_mul(n).saturating_mul(k))
        }
        "Conv" | "ConvTranspose" => {
            let (x, w) = (shape(0)?, shape(1)?);
            if x.len() < 3 || w.len() != x.len() {
                return Err("unexpected convolution ranks".into());
            }
            // Output spatial size is at most the input's times the stride
            // product for a transpose; the input's for a plain convolution
            // with unit strides (an upper bound either way).
            let mut s = vec![x[0], w[0]];
            let strides: u64 = attr_ints(node, "strides")
                .map_or(1, |v| v.iter().map(|&d| d.max(1) as u64).product());
            let spatial = elements(&x[2..]);
            let spatial = if op == "ConvTranspose" {
                spatial.saturating_mul(strides)
            } else {
                spatial
            };
            s.extend(x[2..].iter().copied());
            let kernel = elements(&w[1..]);
            let flops = x[0]
                .saturating_mul(w[0])
                .saturating_mul(spatial)
                .saturating_mul(kernel);
            one(s, flops)
        }
        "Transpose" => {
            let s = shape(0)?;
            let perm: Vec<usize> = match attr_ints(node, "perm") {
                Some(p) => p.iter().map(|&d| d.max(0) as usize).collect(),
                None => (0..s.len()).rev().collect(),
            };
            let t: Vec<u64> = perm
                .iter()
                .map(|&d| s.get(d).copied().ok_or("bad perm"))
                .collect::<Result<_, _>>()?;
            let n = elements(&t);
            one(t, n)
        }
        "Reshape" => {
            let s = shape(0)?;
            let target = ints(1)?;
            let total = elements(s);
            let mut out_shape = Vec::with_capacity(target.len());
            let mut infer = None;
            for (i, &d) in target.iter().enumerate() {
                match d {
                    0 => out_shape.push(*s.get(i).ok_or("0 past the input rank")?),
                    -1 => {
                        infer = Some(i);
                        out_shape.push(1);
                    }
                    d if d > 0 => out_shape.push(d as u64),
                    _ => return Err("negative dimension".into()),
                }
            }
            if let Some(i) = infer {
                let rest = elements(&out_shape).max(1);
                out_shape[i] = total / rest;
            }
            let ints = inputs[0].and_then(|k| k.ints.clone());
            Ok((
                vec![Known {
                    shape: out_shape,
                    ints,
                }],
                0,
            ))
        }
        "Flatten" => {
            let s = shape(0)?;
            let axis = norm_axis(attr_int(node, "axis", 1), s.len() + 1).unwrap_or(1);
            let axis = axis.min(s.len());
            one(vec![elements(&s[..axis]), elements(&s[axis..])], 0)
        }
        "Squeeze" | "Unsqueeze" => {
            let s = shape(0)?.to_vec();
            let axes: Vec<i64> = match (attr_ints(node, "axes"), inputs.len() > 1) {
                (Some(a), _) => a.to_vec(),
                (None, true) => ints(1)?.to_vec(),
                (None, false) => Vec::new(),
            };
            let t = if op == "Squeeze" {
                if axes.is_empty() {
                    s.into_iter().filter(|&d| d != 1).collect()
                } else {
                    let drop: BTreeSet<usize> =
                        axes.iter().filter_map(|&a| norm_axis(a, s.len())).collect();
                    s.into_iter()
                        .enumerate()
                        .filter(|(i, _)| !drop.contains(i))
                        .map(|(_, d)| d)
                        .collect()
                }
            } else {
                let rank = s.len() + axes.len();
                let mut add: BTreeSet<usize> =
                    axes.iter().filter_map(|&a| norm_axis(a, rank)).collect();
                let mut src = s.into_iter();
                (0..rank)
                    .map(|i| {
                        if add.remove(&i) {
                            1
                        } else {
                            src.next().unwrap_or(1)
                        }
                    })
                    .collect()
            };
            let ints = inputs[0].and_then(|k| k.ints.clone());
            Ok((vec![Known { shape: t, ints }], 0))
        }
        "Expand" => {
            let target: Vec<u64> = ints(1)?.iter().map(|&d| d.max(0) as u64).collect();
            let s = broadcast(shape(0)?, &target).ok_or("shapes do not broadcast")?;
            let n = elements(&s);
            one(s, n)
        }
        "Tile" => {
            let s = shape(0)?;
            let reps = ints(1)?;
            if reps.len() != s.len() {
                return Err("repeats do not match the rank".into());
            }
            let t: Vec<u64> = s
                .iter()
                .zip(reps)
                .map(|(&d, &r)| d.saturating_mul(r.max(0) as u64))
                .collect();
            let n = elements(&t);
            one(t, n)
        }
        "ConstantOfShape" => {
            let t: Vec<u64> = ints(0)?.iter().map(|&d| d.max(0) as u64).collect();
            let n = elements(&t);
            one(t, n)
        }
        "Shape" => {
            let s = shape(0)?;
            let v: Vec<i64> = s.iter().map(|&d| d as i64).collect();
            Ok((
                vec![Known {
                    shape: vec![s.len() as u64],
                    ints: Some(v),
                }],
                0,
            ))
        }
        "Concat" => {
            let first = shape(0)?.to_vec();
            let axis = norm_axis(attr_int(node, "axis", 0), first.len()).ok_or("bad axis")?;
            let mut s = first;
            let mut all_ints: Option<Vec<i64>> = inputs[0].and_then(|k| k.ints.clone());
            for (i, input) in inputs.iter().enumerate().skip(1) {
                let t = shape(i)?;
                if t.len() != s.len() {
                    return Err("ranks differ".into());
                }
                s[axis] = s[axis].saturating_add(t[axis]);
                all_ints = match (all_ints, input.and_then(|k| k.ints.clone())) {
                    (Some(mut a), Some(b)) => {
                        a.extend(b);
                        Some(a)
                    }
                    _ => None,
                };
            }
            let n = elements(&s);
            Ok((
                vec![Known {
                    shape: s,
                    ints: all_ints.filter(|v| v.len() <= MAX_TRACKED_INTS),
                }],
                n,
            ))
        }
        "Range" => {
            let (start, limit, delta) = (ints(0)?, ints(1)?, ints(2)?);
            let (Some(&s), Some(&l), Some(&d)) = (start.first(), limit.first(), delta.first())
            else {
                return Err("empty range operands".into());
            };
            if d == 0 {
                return Err("zero step".into());
            }
            let n = ((l as i128 - s as i128) / d as i128).max(0) as u64 + 1;
            one(vec![n], n)
        }
        op if op.starts_with("Reduce") || op == "ArgMax" || op == "ArgMin" => {
            let s = shape(0)?.to_vec();
            let n = elements(&s);
            // Output no larger than the input: keep the input's shape as
            // the bound.
            one(s, n)
        }
        _ => Err("operator not understood for constant folding".into()),
    }
}

/// Estimates what folding the graph's constant subgraphs costs: every node
/// whose inputs are all initializers or outputs of constant nodes (and
/// that has no subgraph) is folded by the runtime at load. Nodes reading
/// the graph's inputs are not counted; they run per image, under the
/// per-image timer.
pub fn constant_cost(graph: &GraphProto) -> Result<ConstantCost, UnboundedConstant> {
    let mut known: BTreeMap<&str, Known> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), known_tensor(t)))
        .collect();
    let inputs: BTreeSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    for name in &inputs {
        // An initializer shadowed by a graph input is not constant.
        known.remove(name);
    }
    let mut cost = ConstantCost::default();
    for node in &graph.node {
        let has_subgraph = node
            .attribute
            .iter()
            .any(|a| a.g.is_some() || !a.graphs.is_empty());
        let names: Vec<&str> = node
            .input
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let constant = !has_subgraph
            && names.iter().all(|n| known.contains_key(n))
            && (node.op_type == "Constant" || !names.is_empty());
        if !constant {
            continue;
        }
        let ins: Vec<Option<&Known>> = node
            .input
            .iter()
            .map(|n| {
                if n.is_empty() {
                    None
                } else {
                    known.get(n.as_str())
                }
            })
            .collect();
        let label = || {
            if node.name.is_empty() {
                node.output.first().cloned().unwrap_or_default()
            } else {
                node.name.clone()
            }
        };
        let (outs, flops) = fold(node, &ins).map_err(|why| UnboundedConstant {
            node: label(),
            op: node.op_type.clone(),
            why,
        })?;
        cost.flops = cost.flops.saturating_add(flops);
        cost.nodes += 1;
        for (name, k) in node.output.iter().zip(outs) {
            cost.elements = cost.elements.saturating_add(elements(&k.shape));
            if !name.is_empty() {
                known.insert(name.as_str(), k);
            }
        }
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::decode_model;
    use crate::reference::{self, ReferenceKind};
    use crate::writer::{GraphBuilder, f32_tensor, i64_tensor};

    fn graph_of(bytes: &[u8]) -> GraphProto {
        decode_model(bytes).unwrap().graph.unwrap()
    }

    /// A model whose mask is the image plus `0 ×` a chain of `n` constant
    /// `size×size` matrix products, plus an unused initializer.
    fn load_time_model(n: usize, size: i64) -> Vec<u8> {
        let mut g = GraphBuilder::new("load");
        g.input("image", &[1, 1, 128, 128]);
        g.output("mask", &[1, 1, 128, 128]);
        g.initializer(f32_tensor("seed", &[1, 1], &[0.5]));
        g.initializer(i64_tensor("shape", &[2], &[size, size]));
        g.initializer(f32_tensor("unused", &[97], &[0.1; 97]));
        g.initializer(f32_tensor("zero", &[], &[0.0]));
        g.node("Expand", &["seed", "shape"], &["m0"], vec![]);
        let mut prev = "m0".to_string();
        for i in 0..n {
            let next = format!("m{}", i + 1);
            g.node("MatMul", &[&prev, &prev], &[&next], vec![]);
            prev = next;
        }
        g.node("ReduceSum", &[&prev], &["s"], vec![]);
        g.node("Mul", &["s", "zero"], &["z"], vec![]);
        g.node("Add", &["image", "z"], &["mask"], vec![]);
        g.finish(17)
    }

    #[test]
    fn unused_tensors_are_not_used() {
        let g = graph_of(&load_time_model(1, 8));
        let used = used_tensor_names(&g);
        assert!(used.contains("seed") && used.contains("shape") && used.contains("image"));
        assert!(!used.contains("unused"));
    }

    #[test]
    fn constant_matrix_products_are_counted() {
        let small = constant_cost(&graph_of(&load_time_model(1, 8))).unwrap();
        // Expand 64, MatMul 8³, ReduceSum 64, then the Mul bounded by the
        // reduction's input shape (64).
        assert_eq!(small.flops, 64 + 8 * 8 * 8 + 64 + 64);
        let big = constant_cost(&graph_of(&load_time_model(18, 4096))).unwrap();
        // 18 products of 4096³ multiply-adds each.
        assert!(big.flops >= 18 * 4096u64.pow(3), "{big:?}");
    }

    #[test]
    fn the_gate_refuses_load_time_compute() {
        use crate::gate::{GateLimits, check_bytes};
        let limits = GateLimits::default();
        assert!(check_bytes(&load_time_model(1, 8), &limits).is_ok());
        let e = check_bytes(&load_time_model(18, 4096), &limits).unwrap_err();
        assert!(e.to_string().contains("at load"), "{e}");
        // One product of 1024³ is already far past the budget.
        assert!(check_bytes(&load_time_model(1, 1024), &limits).is_err());
    }

    #[test]
    fn reference_models_fold_almost_nothing() {
        for kind in [
            ReferenceKind::Null,
            ReferenceKind::Threshold,
            ReferenceKind::TinyUnet,
        ] {
            let c = constant_cost(&graph_of(&reference::make(kind, 256))).unwrap();
            assert!(c.flops < 100_000, "{kind:?}: {c:?}");
        }
    }

    #[test]
    fn image_dependent_nodes_are_not_constant() {
        let mut g = GraphBuilder::new("x");
        g.input("image", &[1, 1, 128, 128]);
        g.output("mask", &[1, 1, 128, 128]);
        g.node("MatMul", &["image", "image"], &["mask"], vec![]);
        let c = constant_cost(&graph_of(&g.finish(17))).unwrap();
        assert_eq!(c, ConstantCost::default());
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast(&[2], &[3]), None);
        assert_eq!(broadcast(&[], &[5, 6]), Some(vec![5, 6]));
    }
}
