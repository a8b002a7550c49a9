//! Attacks by a miner who has read MedMetric's code: the honest model
//! disguised, re-calibrated, salted or padded so that weight- or
//! output-level copy detection, the gate's static limits, or the latency
//! measurement misjudge it.
//!
//! Most are edits of the honest model's ONNX protobuf, the way an attacker
//! holding someone else's file would work: decode, rename a value, splice
//! nodes in, re-encode. Every result passes
//! [`medmetric_model::gate::check_bytes`] with default limits and is
//! deterministic (same bytes on every call).

use medmetric_model::gate::{CLS_OUTPUT, MASK_OUTPUT};
use medmetric_model::proto::{self, GraphProto, ModelProto, TensorProto, data_type};
use medmetric_model::writer::{self, Attr, GraphBuilder};

use crate::honest::Honest;
use crate::{MinersError, Strategy, strategies};

/// Fewest elements of an initializer that [`bait`] copies and
/// [`cast_copy`] re-encodes (smaller ones are biases and scalars).
pub const MIN_ELEMENTS: usize = 64;

/// Bits the largest magnitude of a [`cast_copy`] tensor uses as an integer.
pub const CAST_BITS: i32 = 20;

/// Clip applied to probabilities before taking their logit, so that 0 and
/// 1 do not become infinities.
pub const LOGIT_CLIP: f32 = 1e-6;

/// Temperature of [`temperature_copy`].
pub const TEMPERATURE: f32 = 1.15;

/// Side of the blocks of [`sparse_copy`]'s pattern; one pixel per block.
pub const SPARSE_BLOCK: u32 = 16;
/// Row and column of the pattern pixel inside its block.
pub const SPARSE_OFFSET: u32 = 7;
/// Value of the pattern pixels.
pub const SPARSE_VALUE: f32 = 0.05;

/// [`retuned_copy`]'s mask logit scale.
pub const RETUNE_MASK_SCALE: f32 = 1.3;
/// [`retuned_copy`]'s mask logit shift.
pub const RETUNE_MASK_SHIFT: f32 = 0.4;
/// [`retuned_copy`]'s cls logit shift.
pub const RETUNE_CLS_SHIFT: f32 = 0.3;

/// Side `N` of [`load_time`]'s constant matrix.
pub const LOAD_TIME_SIDE: i64 = 4096;
/// Length of [`load_time`]'s `MatMul` chain.
pub const LOAD_TIME_MATMULS: usize = 18;

/// Depth of [`slow_graph`]'s convolution chain (the older
/// `slow-accurate` strategy has 80).
pub const SLOW_GRAPH_LAYERS: usize = 120;
/// Channels of [`slow_graph`]'s convolution chain.
pub const SLOW_GRAPH_CHANNELS: i64 = 16;

fn model_err(strategy: Strategy, why: impl std::fmt::Display) -> MinersError {
    MinersError::Model(format!("{strategy}: {why}"))
}

/// A decoded model under edit.
struct Edit {
    strategy: Strategy,
    model: ModelProto,
}

impl Edit {
    /// Decodes `bytes` and renames the graph for `strategy`.
    fn decode(bytes: &[u8], strategy: Strategy) -> Result<Self, MinersError> {
        let mut model = proto::decode_model(bytes).map_err(|e| model_err(strategy, e))?;
        let graph = model
            .graph
            .as_mut()
            .ok_or_else(|| model_err(strategy, "no graph"))?;
        graph.name = format!("medmetric-{}", strategy.name());
        Ok(Edit { strategy, model })
    }

    /// The honest model, decoded.
    fn honest(h: &Honest, strategy: Strategy) -> Result<Self, MinersError> {
        Self::decode(&strategies::honest(h), strategy)
    }

    fn graph(&mut self) -> &mut GraphProto {
        self.model.graph.as_mut().expect("decode checked the graph")
    }

    /// Renames the node output `name` to `new`, so that a node spliced in
    /// after its producer can take the name over: readers of `name` (and a
    /// graph output called `name`) then see the new node's value.
    fn detach(&mut self, name: &str, new: &str) -> Result<(), MinersError> {
        let strategy = self.strategy;
        let graph = self.graph();
        let taken = graph.initializer.iter().any(|t| t.name == new)
            || graph.node.iter().any(|n| n.output.iter().any(|o| o == new));
        if taken {
            return Err(model_err(strategy, format!("'{new}' already exists")));
        }
        let out = graph
            .node
            .iter_mut()
            .flat_map(|n| n.output.iter_mut())
            .find(|o| *o == name)
            .ok_or_else(|| model_err(strategy, format!("nothing produces '{name}'")))?;
        *out = new.into();
        Ok(())
    }

    /// Index just past the node producing `name`.
    fn after(&mut self, name: &str) -> Result<usize, MinersError> {
        let strategy = self.strategy;
        self.graph()
            .node
            .iter()
            .position(|n| n.output.iter().any(|o| o == name))
            .map(|i| i + 1)
            .ok_or_else(|| model_err(strategy, format!("nothing produces '{name}'")))
    }

    /// Moves the nodes of `part` to position `at` (named `prefix/…` so they
    /// cannot clash with the existing `op_index` names) and its
    /// initializers to the end of the initializer list.
    fn splice(&mut self, at: usize, part: GraphBuilder, prefix: &str) -> Result<(), MinersError> {
        let part = part.into_graph();
        let strategy = self.strategy;
        let graph = self.graph();
        for t in &part.initializer {
            if graph.initializer.iter().any(|u| u.name == t.name) {
                return Err(model_err(strategy, format!("'{}' already exists", t.name)));
            }
        }
        graph.initializer.extend(part.initializer);
        let nodes = part.node.into_iter().map(|mut n| {
            n.name = format!("{prefix}/{}", n.name);
            n
        });
        graph.node.splice(at..at, nodes);
        Ok(())
    }

    /// Appends `part` after every existing node.
    fn append(&mut self, part: GraphBuilder, prefix: &str) -> Result<(), MinersError> {
        let at = self.graph().node.len();
        self.splice(at, part, prefix)
    }

    fn encode(self) -> Vec<u8> {
        writer::encode(&self.model)
    }
}

fn f32_values(t: &TensorProto) -> Vec<f32> {
    t.raw_data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn is_float_with(t: &TensorProto, min_elements: usize) -> bool {
    t.data_type == data_type::FLOAT && t.raw_data.len() / 4 >= min_elements
}

/// The honest initializer [`bait`] carries: the smallest float one with at
/// least [`MIN_ELEMENTS`] elements (the first such in graph order).
pub fn bait_initializer(h: &Honest) -> Result<TensorProto, MinersError> {
    let honest = Edit::honest(h, Strategy::Bait)?;
    honest
        .model
        .graph
        .iter()
        .flat_map(|g| &g.initializer)
        .filter(|t| is_float_with(t, MIN_ELEMENTS))
        .min_by_key(|t| t.raw_data.len())
        .cloned()
        .ok_or_else(|| model_err(Strategy::Bait, "no float initializer is large enough"))
}

/// The null model (empty mask, `cls` = 0) carrying one honest initializer,
/// byte for byte, that nothing reads: committed before the honest model, it
/// hopes weight-level copy detection names it the original.
pub fn bait(h: &Honest) -> Result<Vec<u8>, MinersError> {
    let mut e = Edit::decode(&strategies::null(h.size), Strategy::Bait)?;
    let mut part = GraphBuilder::default();
    part.initializer(bait_initializer(h)?);
    e.append(part, "bait")?;
    Ok(e.encode())
}

/// The honest model with every float initializer of at least
/// [`MIN_ELEMENTS`] elements stored as int32 `round(w·2^k)` (the largest
/// `|w|` in `[2^19, 2^20)`) and restored by `Cast` and `Mul` by `2^-k`
/// under its original name: no float weight in the file matches honest's.
pub fn cast_copy(h: &Honest) -> Result<Vec<u8>, MinersError> {
    let mut e = Edit::honest(h, Strategy::CastCopy)?;
    let mut part = GraphBuilder::default();
    for t in e.graph().initializer.iter_mut() {
        if !is_float_with(t, MIN_ELEMENTS) {
            continue;
        }
        let values = f32_values(t);
        let largest = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        // frexp is exact: largest = f·2^exp with f in [0.5, 1).
        let (_, exp) = libm::frexp(f64::from(largest));
        let k = if largest > 0.0 { CAST_BITS - exp } else { 0 };
        let scale = libm::ldexp(1.0, k);
        let name = std::mem::take(&mut t.name);
        let (q, f, s) = (
            format!("{name}__int"),
            format!("{name}__float"),
            format!("{name}__scale"),
        );
        t.name = q.clone();
        t.data_type = data_type::INT32;
        t.raw_data = values
            .iter()
            .flat_map(|&v| (libm::round(f64::from(v) * scale) as i32).to_le_bytes())
            .collect();
        part.scalar(&s, libm::ldexp(1.0, -k) as f32);
        part.node(
            "Cast",
            &[&q],
            &[&f],
            vec![Attr::int("to", i64::from(data_type::FLOAT))],
        );
        part.node("Mul", &[&f, &s], &[&name], vec![]);
    }
    // The restored tensors must exist before any node reads them.
    e.splice(0, part, "cast")?;
    Ok(e.encode())
}

/// Emits `logit(clip(p))` into `g`; returns its name.
fn emit_logit(g: &mut GraphBuilder, p: &str, prefix: &str) -> String {
    let n = |s: &str| format!("{prefix}_{s}");
    g.scalar(&n("lo"), LOGIT_CLIP);
    g.scalar(&n("hi"), 1.0 - LOGIT_CLIP);
    g.scalar(&n("one"), 1.0);
    g.node("Clip", &[p, &n("lo"), &n("hi")], &[&n("p")], vec![]);
    g.node("Sub", &[&n("one"), &n("p")], &[&n("q")], vec![]);
    g.node("Log", &[&n("p")], &[&n("log_p")], vec![]);
    g.node("Log", &[&n("q")], &[&n("log_q")], vec![]);
    g.node("Sub", &[&n("log_p"), &n("log_q")], &[&n("logit")], vec![]);
    n("logit")
}

/// Renames the honest `output` to `{prefix}_base` and returns the logit of
/// the clipped probability, emitted into `part`.
fn detach_logit(
    e: &mut Edit,
    part: &mut GraphBuilder,
    output: &str,
    prefix: &str,
) -> Result<String, MinersError> {
    let base = format!("{prefix}_base");
    e.detach(output, &base)?;
    Ok(emit_logit(part, &base, prefix))
}

/// Honest `mask` and `cls` through `σ(logit(p)/T)` with `T` =
/// [`TEMPERATURE`]: the same ranking of pixels and images, different
/// numbers.
pub fn temperature_copy(h: &Honest) -> Result<Vec<u8>, MinersError> {
    let mut e = Edit::honest(h, Strategy::TemperatureCopy)?;
    let mut part = GraphBuilder::default();
    part.scalar("temperature", TEMPERATURE);
    for out in [MASK_OUTPUT, CLS_OUTPUT] {
        let prefix = format!("temperature_{out}");
        let logit = detach_logit(&mut e, &mut part, out, &prefix)?;
        let cooled = format!("{prefix}_cooled");
        part.node("Div", &[&logit, "temperature"], &[&cooled], vec![]);
        part.node("Sigmoid", &[&cooled], &[out], vec![]);
    }
    e.append(part, "temperature")?;
    Ok(e.encode())
}

/// Honest `mask` through `Max(mask, P)`, `P` zero but for one pixel per
/// [`SPARSE_BLOCK`]² block set to [`SPARSE_VALUE`]; `cls` unchanged. A
/// 1/256 salt that moves outputs by a fixed amount on few pixels.
pub fn sparse_copy(h: &Honest) -> Result<Vec<u8>, MinersError> {
    let mut e = Edit::honest(h, Strategy::SparseCopy)?;
    let s = h.size;
    let pattern: Vec<f32> = (0..s * s)
        .map(|i| {
            let (y, x) = (i / s, i % s);
            if y % SPARSE_BLOCK == SPARSE_OFFSET && x % SPARSE_BLOCK == SPARSE_OFFSET {
                SPARSE_VALUE
            } else {
                0.0
            }
        })
        .collect();
    let mut part = GraphBuilder::default();
    e.detach(MASK_OUTPUT, "sparse_mask_base")?;
    let side = i64::from(s);
    part.weights("sparse_pattern", &[1, 1, side, side], &pattern);
    part.node(
        "Max",
        &["sparse_mask_base", "sparse_pattern"],
        &[MASK_OUTPUT],
        vec![],
    );
    e.append(part, "sparse")?;
    Ok(e.encode())
}

/// `σ(a·logit(mask) + b)` with `a` = [`RETUNE_MASK_SCALE`], `b` =
/// [`RETUNE_MASK_SHIFT`], and `σ(logit(cls) + c)` with `c` =
/// [`RETUNE_CLS_SHIFT`]: three retuned scalars on honest outputs.
pub fn retuned_copy(h: &Honest) -> Result<Vec<u8>, MinersError> {
    let mut e = Edit::honest(h, Strategy::RetunedCopy)?;
    let mut part = GraphBuilder::default();
    part.scalar("retune_a", RETUNE_MASK_SCALE);
    part.scalar("retune_b", RETUNE_MASK_SHIFT);
    part.scalar("retune_c", RETUNE_CLS_SHIFT);
    let logit = detach_logit(&mut e, &mut part, MASK_OUTPUT, "retune_mask")?;
    part.node(
        "Mul",
        &[&logit, "retune_a"],
        &["retune_mask_scaled"],
        vec![],
    );
    part.node(
        "Add",
        &["retune_mask_scaled", "retune_b"],
        &["retune_mask_shifted"],
        vec![],
    );
    part.node("Sigmoid", &["retune_mask_shifted"], &[MASK_OUTPUT], vec![]);
    let logit = detach_logit(&mut e, &mut part, CLS_OUTPUT, "retune_cls")?;
    part.node(
        "Add",
        &[&logit, "retune_c"],
        &["retune_cls_shifted"],
        vec![],
    );
    part.node("Sigmoid", &["retune_cls_shifted"], &[CLS_OUTPUT], vec![]);
    e.append(part, "retune")?;
    Ok(e.encode())
}

/// [`load_time_with`] at [`LOAD_TIME_SIDE`] and [`LOAD_TIME_MATMULS`]:
/// about 2.5·10¹² flops for a runtime that folds constants at load, from a
/// file of a few hundred bytes more than honest.
pub fn load_time(h: &Honest) -> Result<Vec<u8>, MinersError> {
    load_time_with(h, LOAD_TIME_MATMULS, LOAD_TIME_SIDE)
}

/// The honest model plus a constant subgraph: a scalar `1/size`
/// `Expand`ed to `[size, size]`, squared by `n` `MatMul`s in a chain,
/// summed, multiplied by 0 and added to the class logit. Every input is an
/// initializer, so a runtime that folds constants computes the chain when
/// it loads the model (`n·size³` multiply-adds), while the file holds no
/// tensor larger than two elements. The entries stay `1/size` (exactly
/// when `size` is a power of two), so the sum is finite and the outputs are
/// unchanged.
pub fn load_time_with(h: &Honest, n: usize, size: i64) -> Result<Vec<u8>, MinersError> {
    if size < 1 {
        return Err(MinersError::Param(format!("load-time side {size} < 1")));
    }
    let mut e = Edit::honest(h, Strategy::LoadTimeCompute)?;
    let mut part = GraphBuilder::default();
    part.scalar("load_seed", (1.0 / size as f64) as f32);
    part.ints("load_shape", &[size, size]);
    part.ints("load_axes", &[0, 1]);
    part.scalar("load_zero", 0.0);
    part.node("Expand", &["load_seed", "load_shape"], &["load_m0"], vec![]);
    let mut prev = "load_m0".to_string();
    for i in 1..=n {
        let next = format!("load_m{i}");
        part.node("MatMul", &[&prev, &prev], &[&next], vec![]);
        prev = next;
    }
    part.node(
        "ReduceSum",
        &[&prev, "load_axes"],
        &["load_sum"],
        vec![Attr::int("keepdims", 1)],
    );
    part.node("Mul", &["load_sum", "load_zero"], &["load_term"], vec![]);
    // The class logit also drives the mask gate, so both outputs depend on
    // the chain.
    e.detach("cls_logit", "load_cls_logit_base")?;
    part.node(
        "Add",
        &["load_cls_logit_base", "load_term"],
        &["cls_logit"],
        vec![],
    );
    let at = e.after("load_cls_logit_base")?;
    e.splice(at, part, "load")?;
    Ok(e.encode())
}

/// Honest outputs plus [`SLOW_GRAPH_LAYERS`] full-resolution 3×3
/// convolutions of [`SLOW_GRAPH_CHANNELS`] channels on the input, whose
/// mean is clamped to exactly 0 and added to the mask: the same outputs at
/// many times the cost per image.
///
/// The zero is `Min(mean, 0)` of a ReLU output (never negative), not a
/// product with a zero constant: tract rewrites `x·0` to a constant and
/// then drops the whole chain as dead code, but it cannot know the sign of
/// a runtime value.
pub fn slow_graph(h: &Honest) -> Result<Vec<u8>, MinersError> {
    let mut e = Edit::honest(h, Strategy::SlowGraph)?;
    let mut part = GraphBuilder::default();
    strategies::conv_chain(
        &mut part,
        "slowg",
        0x534c_4f57_4752,
        SLOW_GRAPH_LAYERS,
        SLOW_GRAPH_CHANNELS,
    );
    part.scalar("slowg_zero", 0.0);
    part.node(
        "Min",
        &["slowg_mean", "slowg_zero"],
        &["slowg_term"],
        vec![],
    );
    e.detach(MASK_OUTPUT, "slowg_mask_base")?;
    part.node(
        "Add",
        &["slowg_mask_base", "slowg_term"],
        &[MASK_OUTPUT],
        vec![],
    );
    e.append(part, "slowg")?;
    Ok(e.encode())
}
