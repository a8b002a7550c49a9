//! A small ONNX writer: enough to build MedMetric's reference, red-team and
//! hostile models in code, with deterministic bytes.
//!
//! ```
//! use medmetric_model::writer::{Attr, GraphBuilder};
//!
//! let mut g = GraphBuilder::new("double");
//! g.input("image", &[1, 1, 128, 128]);
//! g.scalar("two", 2.0);
//! g.node("Mul", &["image", "two"], &["mask"], vec![]);
//! g.output("mask", &[1, 1, 128, 128]);
//! let bytes = g.finish(17);
//! assert!(medmetric_model::gate::check_bytes(&bytes, &Default::default()).is_ok());
//! # let _ = Attr::Int("axis".into(), 0);
//! ```

use prost::Message;

use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attr_type, data_type, tensor_shape_proto,
    type_proto,
};

/// IR version written by MedMetric (ONNX 1.15+, opsets up to 21).
pub const IR_VERSION: i64 = 10;

/// A node attribute.
#[derive(Debug, Clone)]
pub enum Attr {
    /// `INT`
    Int(String, i64),
    /// `INTS`
    Ints(String, Vec<i64>),
    /// `FLOAT`
    Float(String, f32),
    /// `FLOATS`
    Floats(String, Vec<f32>),
    /// `STRING`
    Str(String, String),
    /// `TENSOR`
    Tensor(String, TensorProto),
    /// `GRAPH`
    Graph(String, GraphProto),
}

impl Attr {
    /// Shorthand for an `INT` attribute.
    pub fn int(name: &str, v: i64) -> Attr {
        Attr::Int(name.into(), v)
    }
    /// Shorthand for an `INTS` attribute.
    pub fn ints(name: &str, v: &[i64]) -> Attr {
        Attr::Ints(name.into(), v.to_vec())
    }
    /// Shorthand for a `FLOAT` attribute.
    pub fn float(name: &str, v: f32) -> Attr {
        Attr::Float(name.into(), v)
    }
    /// Shorthand for a `STRING` attribute.
    pub fn str(name: &str, v: &str) -> Attr {
        Attr::Str(name.into(), v.into())
    }

    fn into_proto(self) -> AttributeProto {
        let mut a = AttributeProto::default();
        match self {
            Attr::Int(n, v) => {
                a.name = n;
                a.r#type = attr_type::INT;
                a.i = v;
            }
            Attr::Ints(n, v) => {
                a.name = n;
                a.r#type = attr_type::INTS;
                a.ints = v;
            }
            Attr::Float(n, v) => {
                a.name = n;
                a.r#type = attr_type::FLOAT;
                a.f = v;
            }
            Attr::Floats(n, v) => {
                a.name = n;
                a.r#type = attr_type::FLOATS;
                a.floats = v;
            }
            Attr::Str(n, v) => {
                a.name = n;
                a.r#type = attr_type::STRING;
                a.s = v.into_bytes();
            }
            Attr::Tensor(n, t) => {
                a.name = n;
                a.r#type = attr_type::TENSOR;
                a.t = Some(t);
            }
            Attr::Graph(n, g) => {
                a.name = n;
                a.r#type = attr_type::GRAPH;
                a.g = Some(g);
            }
        }
        a
    }
}

/// A float32 tensor stored as little-endian `raw_data`.
pub fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An int64 tensor stored as little-endian `raw_data`.
pub fn i64_tensor(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::INT64,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A value declaration with a static shape and element type.
pub fn value_info(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::DimValue::DimValue(d)),
                            denotation: String::new(),
                        })
                        .collect(),
                }),
            })),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

/// Builds one graph, node by node, in topological order.
#[derive(Debug, Clone, Default)]
pub struct GraphBuilder {
    graph: GraphProto,
}

impl GraphBuilder {
    /// An empty graph called `name`.
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            graph: GraphProto {
                name: name.into(),
                ..Default::default()
            },
        }
    }

    /// Declares a float32 graph input.
    pub fn input(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.graph
            .input
            .push(value_info(name, data_type::FLOAT, dims));
        self
    }

    /// Declares a graph input of any element type.
    pub fn input_typed(&mut self, name: &str, elem_type: i32, dims: &[i64]) -> &mut Self {
        self.graph.input.push(value_info(name, elem_type, dims));
        self
    }

    /// Declares a float32 graph output.
    pub fn output(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.graph
            .output
            .push(value_info(name, data_type::FLOAT, dims));
        self
    }

    /// Declares a graph output of any element type.
    pub fn output_typed(&mut self, name: &str, elem_type: i32, dims: &[i64]) -> &mut Self {
        self.graph.output.push(value_info(name, elem_type, dims));
        self
    }

    /// Adds a prepared initializer.
    pub fn initializer(&mut self, t: TensorProto) -> &mut Self {
        self.graph.initializer.push(t);
        self
    }

    /// Adds a float32 initializer.
    pub fn weights(&mut self, name: &str, dims: &[i64], data: &[f32]) -> &mut Self {
        self.initializer(f32_tensor(name, dims, data))
    }

    /// Adds a float32 scalar initializer (rank 0).
    pub fn scalar(&mut self, name: &str, v: f32) -> &mut Self {
        self.initializer(f32_tensor(name, &[], &[v]))
    }

    /// Adds an int64 initializer.
    pub fn ints(&mut self, name: &str, data: &[i64]) -> &mut Self {
        self.initializer(i64_tensor(name, &[data.len() as i64], data))
    }

    /// Appends a default-domain node.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<Attr>,
    ) -> &mut Self {
        let name = format!("{}_{}", op.to_lowercase(), self.graph.node.len());
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name,
            op_type: op.into(),
            attribute: attrs.into_iter().map(Attr::into_proto).collect(),
            ..Default::default()
        });
        self
    }

    /// Direct access for tests that need to build malformed graphs.
    pub fn graph_mut(&mut self) -> &mut GraphProto {
        &mut self.graph
    }

    /// The graph alone (e.g. a subgraph body).
    pub fn into_graph(self) -> GraphProto {
        self.graph
    }

    /// Wraps the graph in a model importing the default domain at `opset`.
    pub fn into_model(self, opset: i64) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            producer_name: "medmetric".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(self.graph),
            ..Default::default()
        }
    }

    /// Serialises the model. The bytes depend only on what was built.
    pub fn finish(self, opset: i64) -> Vec<u8> {
        encode(&self.into_model(opset))
    }
}

/// Serialises any model.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
