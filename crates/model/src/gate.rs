//! The pre-runtime gate: the model contract (docs/model-contract.md), checked on the raw bytes.
//!
//! Nothing here executes the model. The gate decodes the protobuf with a
//! bounded recursion depth, then walks every graph (subgraphs included) and
//! refuses anything outside the v1 contract with a one-line reason. Only a
//! file that passes is ever handed to a runtime.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ops;
use crate::proto::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto,
    attr_type, data_type, tensor_shape_proto::DimValue, type_proto,
};
use crate::wire::{self, WireError};

/// Name of the segmentation output.
pub const MASK_OUTPUT: &str = "mask";
/// Name of the classification output.
pub const CLS_OUTPUT: &str = "cls";

/// Limits the gate enforces. [`GateLimits::default`] is the v1 contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateLimits {
    /// Largest accepted file, in bytes (docs/model-contract.md: 100 MB).
    pub max_bytes: u64,
    /// Accepted input sizes `H = W`.
    pub allowed_sizes: Vec<u32>,
    /// Lowest and highest accepted default-domain opset.
    pub min_opset: i64,
    /// Highest accepted default-domain opset.
    pub max_opset: i64,
    /// Total nodes across the main graph and every subgraph.
    pub max_nodes: usize,
    /// Nesting depth of subgraphs (the main graph is depth 0).
    pub max_subgraph_depth: usize,
    /// Largest number of elements in one tensor (initializer or constant).
    pub max_tensor_elements: u64,
    /// Largest tensor rank.
    pub max_rank: usize,
    /// Budget for what decoding the protobuf may allocate, in bytes,
    /// estimated before decoding (see [`crate::wire`]).
    pub max_decoded_bytes: u64,
    /// Work a runtime may do folding the graph's constant subgraphs at load
    /// (multiply-adds, see [`crate::graph::constant_cost`]): load time is
    /// not timed per image, so it must not hide real compute.
    pub max_constant_flops: u64,
    /// Elements the constant folding may produce in all.
    pub max_constant_elements: u64,
}

impl Default for GateLimits {
    fn default() -> Self {
        GateLimits {
            max_bytes: medmetric_core::limits::MAX_MODEL_BYTES,
            allowed_sizes: vec![128, 256, 512],
            min_opset: 13,
            max_opset: 21,
            max_nodes: 20_000,
            max_subgraph_depth: 4,
            max_tensor_elements: 100 * 1000 * 1000,
            max_rank: 8,
            max_decoded_bytes: 512 << 20,
            // A 256×256×256 product is 16.8 M; reference models fold well
            // under 0.1 M.
            max_constant_flops: 64 * 1000 * 1000,
            max_constant_elements: 16 * 1000 * 1000,
        }
    }
}

/// Why a file was refused. `Display` is the one-line reason a miner sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// The file could not be read at all.
    #[error("cannot read model file: {0}")]
    Io(String),
    /// The file is empty.
    #[error("empty file")]
    Empty,
    /// The file exceeds [`GateLimits::max_bytes`].
    #[error("file is larger than {limit} bytes")]
    TooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// Not a decodable ONNX protobuf.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// A structural rule of the contract was broken.
    #[error("{0}")]
    Contract(String),
}

fn contract<T>(msg: impl Into<String>) -> Result<T, GateError> {
    Err(GateError::Contract(msg.into()))
}

/// The model's single input as the contract sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputInfo {
    /// Graph input name.
    pub name: String,
    /// Always `[1, 1, H, H]`.
    pub shape: Vec<i64>,
}

/// Which contract outputs the model provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutputsInfo {
    /// Has a `mask` output `[1,1,H,W]`.
    pub mask: bool,
    /// Has a `cls` output `[1,1]`.
    pub cls: bool,
}

/// What the gate learned about an accepted model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateReport {
    /// Always `true`; present so the JSON matches the CLI contract.
    pub accepted: bool,
    /// SHA-256 of the file bytes: the model's identity.
    pub sha256: String,
    /// The input.
    pub input: InputInfo,
    /// The outputs present.
    pub outputs: OutputsInfo,
    /// Number of scalar parameters in initializers and constants.
    pub parameters: u64,
    /// Default-domain opset version.
    pub opset: i64,
    /// File size in bytes.
    pub bytes: u64,
    /// Graph output names in declaration order (runtimes return outputs in
    /// this order).
    #[serde(skip)]
    pub output_order: Vec<String>,
}

impl GateReport {
    /// The input size `H` (= `W`).
    pub fn size(&self) -> u32 {
        self.input.shape[3] as u32
    }
}

/// Reads at most `limits.max_bytes` from `path` and checks it.
///
/// The size is checked before reading and again while reading, so a file
/// that grows, or a device such as `/dev/zero`, never makes the gate
/// allocate more than the cap.
pub fn check_file(path: &Path, limits: &GateLimits) -> Result<(Vec<u8>, GateReport), GateError> {
    let bytes = read_capped(path, limits.max_bytes)?;
    let report = check_bytes(&bytes, limits)?;
    Ok((bytes, report))
}

/// Reads a whole file, refusing it once it passes `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, GateError> {
    use medmetric_core::limits::{self, ReadError};
    limits::read_capped(path, cap).map_err(|e| match e {
        ReadError::TooLarge { cap, .. } => GateError::TooLarge { limit: cap },
        ReadError::Io { source, .. } => GateError::Io(source.to_string()),
    })
}

/// Checks model bytes against the contract.
pub fn check_bytes(bytes: &[u8], limits: &GateLimits) -> Result<GateReport, GateError> {
    if bytes.is_empty() {
        return Err(GateError::Empty);
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(GateError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    match wire::decoded_cost(bytes, limits.max_decoded_bytes) {
        Ok(_) => {}
        Err(WireError::Malformed(why)) => return Err(GateError::Decode(why.into())),
        Err(WireError::TooExpensive) => {
            return contract(format!(
                "decoding would need more than {} MiB (too many tiny messages or values)",
                limits.max_decoded_bytes >> 20
            ));
        }
    }
    let model = proto::decode_model(bytes).map_err(|e| GateError::Decode(one_line(&e)))?;
    let report = check_model(&model, limits)?;
    Ok(GateReport {
        sha256: hex::encode(Sha256::digest(bytes)),
        bytes: bytes.len() as u64,
        ..report
    })
}

fn one_line(e: &impl std::fmt::Display) -> String {
    e.to_string().replace(['\n', '\r'], " ")
}

/// Checks an already decoded model. `sha256` and `bytes` are left empty.
pub fn check_model(model: &ModelProto, limits: &GateLimits) -> Result<GateReport, GateError> {
    if !(7..=11).contains(&model.ir_version) {
        return contract(format!("IR version {} outside 7..=11", model.ir_version));
    }
    if !model.functions.is_empty() {
        return contract("model-local functions are not allowed");
    }
    if !model.training_info.is_empty() {
        return contract("training info is not allowed");
    }
    let opset = default_opset(model, limits)?;
    let Some(graph) = &model.graph else {
        return contract("model has no graph");
    };

    let mut walker = Walker {
        limits,
        nodes: 0,
        parameters: 0,
    };
    walker.graph(graph, 0, &mut HashSet::new())?;
    check_constant_cost(graph, limits)?;

    let input = check_input(graph, limits)?;
    let size = input.shape[3];
    let (outputs, output_order) = check_outputs(graph, size)?;
    Ok(GateReport {
        accepted: true,
        sha256: String::new(),
        input,
        outputs,
        parameters: walker.parameters,
        opset,
        bytes: 0,
        output_order,
    })
}

/// Refuses graphs whose constant subgraphs a runtime would spend too long
/// folding at load, or whose cost cannot be bounded.
fn check_constant_cost(graph: &GraphProto, limits: &GateLimits) -> Result<(), GateError> {
    let cost = crate::graph::constant_cost(graph)
        .map_err(|e| GateError::Contract(printable_long(&e.to_string())))?;
    if cost.flops > limits.max_constant_flops {
        return contract(format!(
            "constant subgraphs would cost {} multiply-adds at load (limit {}): \
             work at load time is not free",
            cost.flops, limits.max_constant_flops
        ));
    }
    if cost.elements > limits.max_constant_elements {
        return contract(format!(
            "constant subgraphs would produce {} elements at load (limit {})",
            cost.elements, limits.max_constant_elements
        ));
    }
    Ok(())
}

/// One line of at most 200 printable characters.
fn printable_long(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

fn default_opset(model: &ModelProto, limits: &GateLimits) -> Result<i64, GateError> {
    let mut found = None;
    for imp in &model.opset_import {
        if !is_default_domain(&imp.domain) {
            return contract(format!(
                "opset import of non-default domain '{}'",
                printable(&imp.domain)
            ));
        }
        if found.replace(imp.version).is_some() {
            return contract("default domain imported twice");
        }
    }
    let Some(version) = found else {
        return contract("no default-domain opset import");
    };
    if version < limits.min_opset || version > limits.max_opset {
        return contract(format!(
            "opset {version} outside {}..={}",
            limits.min_opset, limits.max_opset
        ));
    }
    Ok(version)
}

/// Keeps attacker-chosen names short and on one line in reasons.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

struct Walker<'a> {
    limits: &'a GateLimits,
    nodes: usize,
    parameters: u64,
}

impl<'m> Walker<'_> {
    /// Walks one graph. `defined` holds every value visible from the outer
    /// scopes; names this graph adds are removed again on the way out, so
    /// each subgraph costs time proportional to its own size.
    fn graph(
        &mut self,
        graph: &'m GraphProto,
        depth: usize,
        defined: &mut HashSet<&'m str>,
    ) -> Result<(), GateError> {
        let mut added: Vec<&'m str> = Vec::new();
        let result = self.graph_scoped(graph, depth, defined, &mut added);
        for name in added {
            defined.remove(name);
        }
        result
    }

    fn graph_scoped(
        &mut self,
        graph: &'m GraphProto,
        depth: usize,
        defined: &mut HashSet<&'m str>,
        added: &mut Vec<&'m str>,
    ) -> Result<(), GateError> {
        if depth > self.limits.max_subgraph_depth {
            return contract(format!(
                "subgraphs nested deeper than {}",
                self.limits.max_subgraph_depth
            ));
        }
        if !graph.sparse_initializer.is_empty() {
            return contract("sparse initializers are not allowed");
        }
        for init in &graph.initializer {
            let n = self.tensor(init, "initializer")?;
            self.parameters = self.parameters.saturating_add(n);
            if defined.insert(&init.name) {
                added.push(&init.name);
            }
        }
        for input in &graph.input {
            if defined.insert(&input.name) {
                added.push(&input.name);
            }
        }
        for node in &graph.node {
            self.nodes += 1;
            if self.nodes > self.limits.max_nodes {
                return contract(format!("more than {} nodes", self.limits.max_nodes));
            }
            self.node(node, depth, defined)?;
            for out in &node.output {
                if out.is_empty() {
                    continue;
                }
                if !defined.insert(out) {
                    return contract(format!("value '{}' is defined twice", printable(out)));
                }
                added.push(out);
            }
        }
        for out in &graph.output {
            if !defined.contains(out.name.as_str()) {
                return contract(format!(
                    "graph output '{}' is never produced",
                    printable(&out.name)
                ));
            }
        }
        Ok(())
    }

    fn node(
        &mut self,
        node: &'m NodeProto,
        depth: usize,
        defined: &mut HashSet<&'m str>,
    ) -> Result<(), GateError> {
        if !is_default_domain(&node.domain) {
            return contract(format!(
                "operator '{}' from non-default domain '{}'",
                printable(&node.op_type),
                printable(&node.domain)
            ));
        }
        if !ops::is_standard_op(&node.op_type) {
            return contract(format!("unknown operator '{}'", printable(&node.op_type)));
        }
        for input in &node.input {
            if !input.is_empty() && !defined.contains(input.as_str()) {
                return contract(format!(
                    "operator '{}' reads undefined value '{}' (graph not in topological order?)",
                    printable(&node.op_type),
                    printable(input)
                ));
            }
        }
        let subgraphs_allowed = ops::has_subgraphs(&node.op_type);
        for attr in &node.attribute {
            self.attribute(attr, &node.op_type, subgraphs_allowed, depth, defined)?;
        }
        Ok(())
    }

    fn attribute(
        &mut self,
        attr: &'m AttributeProto,
        op: &str,
        subgraphs_allowed: bool,
        depth: usize,
        defined: &mut HashSet<&'m str>,
    ) -> Result<(), GateError> {
        if !attr.ref_attr_name.is_empty() {
            return contract("attribute references are only valid inside functions");
        }
        if attr.sparse_tensor.is_some() || !attr.sparse_tensors.is_empty() {
            return contract("sparse tensor attributes are not allowed");
        }
        if attr.tp.is_some() || !attr.type_protos.is_empty() {
            return contract("type-proto attributes are not allowed");
        }
        for t in attr.t.iter().chain(&attr.tensors) {
            let n = self.tensor(t, "constant")?;
            self.parameters = self.parameters.saturating_add(n);
        }
        let has_graph = attr.g.is_some()
            || !attr.graphs.is_empty()
            || matches!(attr.r#type, attr_type::GRAPH | attr_type::GRAPHS);
        if has_graph && !subgraphs_allowed {
            return contract(format!(
                "operator '{}' carries a subgraph attribute",
                printable(op)
            ));
        }
        for g in attr.g.iter().chain(&attr.graphs) {
            self.graph(g, depth + 1, defined)?;
        }
        Ok(())
    }

    /// Checks one stored tensor and returns its element count.
    fn tensor(&self, t: &TensorProto, what: &str) -> Result<u64, GateError> {
        let name = printable(&t.name);
        if t.data_location == proto::DATA_LOCATION_EXTERNAL || !t.external_data.is_empty() {
            return contract(format!("{what} '{name}' uses external data"));
        }
        if t.segment.is_some() {
            return contract(format!("{what} '{name}' is segmented"));
        }
        if t.dims.len() > self.limits.max_rank {
            return contract(format!(
                "{what} '{name}' has rank above {}",
                self.limits.max_rank
            ));
        }
        let mut count: u64 = 1;
        for &d in &t.dims {
            if d < 0 {
                return contract(format!("{what} '{name}' has a negative dimension"));
            }
            count = count
                .checked_mul(d as u64)
                .filter(|&c| c <= self.limits.max_tensor_elements)
                .ok_or_else(|| {
                    GateError::Contract(format!(
                        "{what} '{name}' declares more than {} elements",
                        self.limits.max_tensor_elements
                    ))
                })?;
        }
        let Some(elem) = element_size(t.data_type) else {
            return contract(format!(
                "{what} '{name}' has unsupported data type {}",
                t.data_type
            ));
        };
        let typed_len = match t.data_type {
            data_type::FLOAT => t.float_data.len(),
            data_type::DOUBLE => t.double_data.len(),
            data_type::INT64 => t.int64_data.len(),
            data_type::UINT32 | data_type::UINT64 => t.uint64_data.len(),
            _ => t.int32_data.len(),
        };
        let other_fields = [
            t.float_data.len(),
            t.double_data.len(),
            t.int64_data.len(),
            t.uint64_data.len(),
            t.int32_data.len(),
            t.string_data.len(),
        ]
        .iter()
        .sum::<usize>()
            - typed_len;
        if other_fields != 0 {
            return contract(format!("{what} '{name}' stores data in the wrong field"));
        }
        let matches = if !t.raw_data.is_empty() {
            typed_len == 0 && t.raw_data.len() as u64 == count * elem
        } else {
            typed_len as u64 == count
        };
        if !matches {
            return contract(format!(
                "{what} '{name}' data does not match its declared {count} elements"
            ));
        }
        Ok(count)
    }
}

fn element_size(dt: i32) -> Option<u64> {
    Some(match dt {
        data_type::FLOAT | data_type::INT32 | data_type::UINT32 => 4,
        data_type::DOUBLE | data_type::INT64 | data_type::UINT64 => 8,
        data_type::UINT8 | data_type::INT8 | data_type::BOOL => 1,
        data_type::UINT16 | data_type::INT16 | data_type::FLOAT16 | data_type::BFLOAT16 => 2,
        _ => return None,
    })
}

/// Static shape and element type of a value, or a reason why it has none.
fn static_tensor(v: &ValueInfoProto, role: &str) -> Result<(i32, Vec<i64>), GateError> {
    let name = printable(&v.name);
    let Some(tp) = &v.r#type else {
        return contract(format!("{role} '{name}' has no type"));
    };
    let Some(type_proto::Value::TensorType(t)) = &tp.value else {
        return contract(format!("{role} '{name}' is not a tensor"));
    };
    let Some(shape) = &t.shape else {
        return contract(format!("{role} '{name}' has no shape"));
    };
    let mut dims = Vec::with_capacity(shape.dim.len());
    for d in &shape.dim {
        match d.value {
            Some(DimValue::DimValue(v)) if v > 0 => dims.push(v),
            Some(DimValue::DimValue(v)) => {
                return contract(format!("{role} '{name}' has dimension {v}"));
            }
            Some(DimValue::DimParam(_)) | None => {
                return contract(format!("{role} '{name}' has a dynamic dimension"));
            }
        }
    }
    Ok((t.elem_type, dims))
}

fn check_input(graph: &GraphProto, limits: &GateLimits) -> Result<InputInfo, GateError> {
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .collect();
    let input = match inputs.as_slice() {
        [one] => *one,
        [] => return contract("model has no input"),
        more => return contract(format!("model has {} inputs, expected 1", more.len())),
    };
    let (elem, dims) = static_tensor(input, "input")?;
    if elem != data_type::FLOAT {
        return contract(format!(
            "input '{}' has element type {elem}, expected float32",
            printable(&input.name)
        ));
    }
    let size = match dims.as_slice() {
        [1, 1, h, w] if h == w => *h,
        _ => {
            return contract(format!("input shape {dims:?}, expected [1, 1, H, H]"));
        }
    };
    if !limits.allowed_sizes.iter().any(|&s| i64::from(s) == size) {
        return contract(format!(
            "input size {size} not in {:?}",
            limits.allowed_sizes
        ));
    }
    Ok(InputInfo {
        name: input.name.clone(),
        shape: dims,
    })
}

fn check_outputs(graph: &GraphProto, size: i64) -> Result<(OutputsInfo, Vec<String>), GateError> {
    let mut info = OutputsInfo {
        mask: false,
        cls: false,
    };
    let mut order = Vec::new();
    for out in &graph.output {
        let (elem, dims) = static_tensor(out, "output")?;
        let (flag, expected) = match out.name.as_str() {
            MASK_OUTPUT => (&mut info.mask, vec![1, 1, size, size]),
            CLS_OUTPUT => (&mut info.cls, vec![1, 1]),
            other => {
                return contract(format!(
                    "unexpected output '{}' (only 'mask' and 'cls')",
                    printable(other)
                ));
            }
        };
        if *flag {
            return contract(format!("output '{}' declared twice", out.name));
        }
        if elem != data_type::FLOAT {
            return contract(format!(
                "output '{}' has element type {elem}, expected float32",
                out.name
            ));
        }
        if dims != expected {
            return contract(format!(
                "output '{}' has shape {dims:?}, expected {expected:?}",
                out.name
            ));
        }
        *flag = true;
        order.push(out.name.clone());
    }
    if !info.mask && !info.cls {
        return contract("model has neither a 'mask' nor a 'cls' output");
    }
    Ok((info, order))
}
