//! The gate against a hostile corpus built here with the writer: every file
//! must be refused with a specific reason, and the reference models accepted.

use medmetric_model::gate::{GateError, GateLimits, check_bytes, check_file};
use medmetric_model::proto::{
    self, DATA_LOCATION_EXTERNAL, ModelProto, OperatorSetIdProto, StringStringEntryProto,
    data_type, tensor_shape_proto,
};
use medmetric_model::reference::{self, ReferenceKind};
use medmetric_model::writer::{self, Attr, GraphBuilder, f32_tensor};
use prost::Message;

const S: i64 = 128;

/// A minimal valid model: mask = image * w, cls = mean(image) * w.
fn base() -> GraphBuilder {
    let mut g = GraphBuilder::new("base");
    g.input("image", &[1, 1, S, S]);
    g.scalar("w", 1.0);
    g.node("Mul", &["image", "w"], &["mask"], vec![]);
    g.node(
        "ReduceMean",
        &["image"],
        &["m"],
        vec![Attr::ints("axes", &[2, 3]), Attr::int("keepdims", 0)],
    );
    g.node("Mul", &["m", "w"], &["cls"], vec![]);
    g.output("mask", &[1, 1, S, S]);
    g.output("cls", &[1, 1]);
    g
}

fn model(g: GraphBuilder) -> ModelProto {
    g.into_model(17)
}

fn reason(bytes: &[u8]) -> String {
    match check_bytes(bytes, &GateLimits::default()) {
        Ok(r) => panic!("accepted a hostile model: {r:?}"),
        Err(e) => {
            let s = e.to_string();
            assert!(!s.contains('\n'), "reason spans lines: {s:?}");
            assert!(!s.is_empty());
            s
        }
    }
}

fn refuse(m: &ModelProto, expect: &str) {
    let r = reason(&writer::encode(m));
    assert!(r.contains(expect), "reason {r:?} lacks {expect:?}");
}

fn external(location: &str) -> Vec<StringStringEntryProto> {
    vec![
        StringStringEntryProto {
            key: "location".into(),
            value: location.into(),
        },
        StringStringEntryProto {
            key: "length".into(),
            value: "4".into(),
        },
    ]
}

#[test]
fn base_model_is_accepted() {
    let bytes = writer::encode(&model(base()));
    let r = check_bytes(&bytes, &GateLimits::default()).unwrap();
    assert_eq!(r.input.name, "image");
    assert_eq!(r.parameters, 1);
    assert_eq!(r.bytes, bytes.len() as u64);
    assert_eq!(r.sha256.len(), 64);
}

#[test]
fn reference_models_are_accepted() {
    for kind in ReferenceKind::ALL {
        let bytes = reference::make(kind, 256);
        check_bytes(&bytes, &GateLimits::default()).unwrap();
    }
}

#[test]
fn external_data_with_path_traversal() {
    let mut m = model(base());
    let init = &mut m.graph.as_mut().unwrap().initializer[0];
    init.raw_data.clear();
    init.data_location = DATA_LOCATION_EXTERNAL;
    init.external_data = external("../../../../etc/passwd");
    refuse(&m, "external data");
}

#[test]
fn external_data_with_absolute_path() {
    let mut m = model(base());
    let init = &mut m.graph.as_mut().unwrap().initializer[0];
    init.raw_data.clear();
    init.external_data = external("/etc/shadow");
    refuse(&m, "external data");
}

#[test]
fn external_data_in_a_constant_attribute() {
    let mut g = base();
    let mut t = f32_tensor("c", &[1], &[]);
    t.data_location = DATA_LOCATION_EXTERNAL;
    t.external_data = external("weights.bin");
    g.node(
        "Constant",
        &[],
        &["c"],
        vec![Attr::Tensor("value".into(), t)],
    );
    refuse(&model(g), "external data");
}

#[test]
fn external_data_inside_a_subgraph() {
    let mut branch = GraphBuilder::new("then");
    let mut t = f32_tensor("k", &[1], &[]);
    t.external_data = external("/proc/self/environ");
    branch.initializer(t);
    branch.node("Identity", &["k"], &["out"], vec![]);
    branch.output("out", &[1]);
    let mut g = base();
    g.initializer(writer::i64_tensor("flag", &[], &[1]));
    g.graph_mut().initializer.last_mut().unwrap().data_type = data_type::BOOL;
    g.graph_mut().initializer.last_mut().unwrap().raw_data = vec![1];
    let b = branch.into_graph();
    g.node(
        "If",
        &["flag"],
        &["picked"],
        vec![
            Attr::Graph("then_branch".into(), b.clone()),
            Attr::Graph("else_branch".into(), b),
        ],
    );
    refuse(&model(g), "external data");
}

#[test]
fn custom_domain_operator() {
    let mut g = base();
    g.node("Identity", &["image"], &["x"], vec![]);
    g.graph_mut().node.last_mut().unwrap().domain = "com.microsoft".into();
    refuse(&model(g), "non-default domain");
}

#[test]
fn custom_domain_opset_import() {
    let mut m = model(base());
    m.opset_import.push(OperatorSetIdProto {
        domain: "com.example.evil".into(),
        version: 1,
    });
    refuse(&m, "non-default domain");
}

#[test]
fn unknown_default_domain_operator() {
    let mut g = base();
    g.node("ReadFile", &["image"], &["x"], vec![]);
    refuse(&model(g), "unknown operator");
}

#[test]
fn opsets_outside_range() {
    for v in [12, 22, 0, -1] {
        let mut m = model(base());
        m.opset_import[0].version = v;
        refuse(&m, "outside 13..=21");
    }
    let mut m = model(base());
    m.opset_import.clear();
    refuse(&m, "no default-domain opset");
}

#[test]
fn dynamic_dimensions() {
    let mut m = model(base());
    let input = &mut m.graph.as_mut().unwrap().input[0];
    let Some(proto::type_proto::Value::TensorType(t)) = &mut input.r#type.as_mut().unwrap().value
    else {
        unreachable!()
    };
    t.shape.as_mut().unwrap().dim[0].value =
        Some(tensor_shape_proto::DimValue::DimParam("batch".into()));
    refuse(&m, "dynamic dimension");

    let mut g = base();
    g.graph_mut().output[0] = writer::value_info("mask", data_type::FLOAT, &[1, 1, S, S]);
    let Some(proto::type_proto::Value::TensorType(t)) =
        &mut g.graph_mut().output[0].r#type.as_mut().unwrap().value
    else {
        unreachable!()
    };
    t.shape = None;
    refuse(&model(g), "no shape");
}

#[test]
fn wrong_dtypes() {
    let mut g = GraphBuilder::new("double_input");
    g.input_typed("image", data_type::DOUBLE, &[1, 1, S, S]);
    g.node("Cast", &["image"], &["mask"], vec![Attr::int("to", 1)]);
    g.output("mask", &[1, 1, S, S]);
    refuse(&model(g), "expected float32");

    let mut g = base();
    g.graph_mut().output[0] = writer::value_info("mask", data_type::INT64, &[1, 1, S, S]);
    refuse(&model(g), "expected float32");
}

#[test]
fn two_inputs() {
    let mut g = base();
    g.input("second", &[1, 1, S, S]);
    refuse(&model(g), "2 inputs");
}

#[test]
fn misshaped_outputs() {
    let mut g = base();
    g.graph_mut().output[0] = writer::value_info("mask", data_type::FLOAT, &[1, 1, S, S / 2]);
    refuse(&model(g), "output 'mask' has shape");

    let mut g = base();
    g.graph_mut().output[1] = writer::value_info("cls", data_type::FLOAT, &[1, 2]);
    refuse(&model(g), "output 'cls' has shape");

    let mut g = base();
    g.graph_mut().output[1].name = "logits".into();
    g.node("Identity", &["m"], &["logits"], vec![]);
    refuse(&model(g), "unexpected output 'logits'");

    let mut g = base();
    g.graph_mut().output.clear();
    refuse(&model(g), "neither");
}

#[test]
fn input_sizes_outside_the_contract() {
    for dims in [
        [1, 1, 100, 100],
        [1, 1, 128, 256],
        [2, 1, 128, 128],
        [1, 3, 128, 128],
    ] {
        let mut g = base();
        g.graph_mut().input[0] = writer::value_info("image", data_type::FLOAT, &dims);
        let r = reason(&writer::encode(&model(g)));
        assert!(r.contains("input"), "{r}");
    }
}

#[test]
fn truncated_and_random_bytes() {
    let bytes = reference::make(ReferenceKind::TinyUnet, 128);
    for cut in [1, 7, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            check_bytes(&bytes[..cut], &GateLimits::default()).is_err(),
            "cut {cut}"
        );
    }
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for len in [1usize, 16, 1000, 100_000] {
        let random: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(check_bytes(&random, &GateLimits::default()).is_err());
    }
}

#[test]
fn empty_file() {
    assert_eq!(
        check_bytes(&[], &GateLimits::default()),
        Err(GateError::Empty)
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.onnx");
    std::fs::write(&p, []).unwrap();
    assert_eq!(
        check_file(&p, &GateLimits::default()).unwrap_err(),
        GateError::Empty
    );
}

#[test]
fn huge_declared_initializer_with_tiny_data() {
    let mut g = base();
    g.initializer(f32_tensor("big", &[1_000_000_000], &[1.0]));
    refuse(&model(g), "declares more than");

    let mut g = base();
    g.initializer(f32_tensor("overflow", &[i64::MAX, 4], &[1.0]));
    refuse(&model(g), "declares more than");

    let mut g = base();
    g.initializer(f32_tensor("short", &[1000], &[1.0, 2.0]));
    refuse(&model(g), "does not match");

    let mut g = base();
    let mut t = f32_tensor("typed", &[1000], &[]);
    t.float_data = vec![0.5; 3];
    g.initializer(t);
    refuse(&model(g), "does not match");
}

#[test]
fn too_large_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.onnx");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(GateLimits::default().max_bytes + 1).unwrap();
    assert!(matches!(
        check_file(&p, &GateLimits::default()),
        Err(GateError::TooLarge { .. })
    ));
}

#[test]
fn endless_device_is_refused_at_the_cap() {
    let limits = GateLimits {
        max_bytes: 1 << 20,
        ..GateLimits::default()
    };
    assert!(matches!(
        check_file(std::path::Path::new("/dev/zero"), &limits),
        Err(GateError::TooLarge { .. })
    ));
    assert!(matches!(
        check_file(std::path::Path::new("/"), &limits),
        Err(GateError::Io(_))
    ));
    assert!(matches!(
        check_file(std::path::Path::new("/nonexistent/model.onnx"), &limits),
        Err(GateError::Io(_))
    ));
}

fn nested_if(depth: usize) -> proto::GraphProto {
    let mut g = GraphBuilder::new(&format!("level{depth}"));
    g.scalar(&format!("v{depth}"), 1.0);
    if depth == 0 {
        g.node("Identity", &["v0"], &["out0"], vec![]);
    } else {
        g.initializer(writer::i64_tensor(&format!("c{depth}"), &[], &[1]));
        let last = g.graph_mut().initializer.last_mut().unwrap();
        last.data_type = data_type::BOOL;
        last.raw_data = vec![1];
        let inner = nested_if(depth - 1);
        g.node(
            "If",
            &[&format!("c{depth}")],
            &[&format!("out{depth}")],
            vec![
                Attr::Graph("then_branch".into(), inner.clone()),
                Attr::Graph("else_branch".into(), inner),
            ],
        );
    }
    g.output(&format!("out{depth}"), &[1]);
    g.into_graph()
}

#[test]
fn deeply_nested_subgraphs() {
    let mut g = base();
    g.initializer(writer::i64_tensor("top", &[], &[1]));
    let last = g.graph_mut().initializer.last_mut().unwrap();
    last.data_type = data_type::BOOL;
    last.raw_data = vec![1];
    let inner = nested_if(8);
    g.node(
        "If",
        &["top"],
        &["deep"],
        vec![
            Attr::Graph("then_branch".into(), inner.clone()),
            Attr::Graph("else_branch".into(), inner),
        ],
    );
    refuse(&model(g), "nested deeper");
}

#[test]
fn protobuf_nesting_beyond_the_decoder_limit() {
    // GraphProto.node(1) -> NodeProto.attribute(5) -> AttributeProto.g(6)
    // -> GraphProto ..., 300 levels deep, written by hand.
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..300 {
        let attr = field(6, &inner);
        let node = field(5, &attr);
        inner = field(1, &node);
    }
    let mut bytes = field(7, &inner);
    bytes.extend(field(8, &[0x10, 17]));
    let r = reason(&bytes);
    assert!(r.starts_with("not an ONNX model"), "{r}");
}

fn field(tag: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

#[test]
fn subgraph_on_an_operator_without_one() {
    let mut g = base();
    g.node(
        "Relu",
        &["image"],
        &["r"],
        vec![Attr::Graph("body".into(), nested_if(0))],
    );
    refuse(&model(g), "carries a subgraph");
}

#[test]
fn too_many_nodes() {
    let mut g = base();
    let mut prev = "image".to_string();
    for i in 0..20_001 {
        let next = format!("n{i}");
        g.node("Identity", &[&prev], &[&next], vec![]);
        prev = next;
    }
    refuse(&model(g), "more than 20000 nodes");
}

#[test]
fn undefined_and_duplicate_values() {
    let mut g = base();
    g.node("Relu", &["ghost"], &["r"], vec![]);
    refuse(&model(g), "undefined value 'ghost'");

    let mut g = base();
    g.node("Relu", &["image"], &["mask"], vec![]);
    refuse(&model(g), "defined twice");
}

#[test]
fn sparse_initializers_and_functions() {
    let mut m = model(base());
    m.graph
        .as_mut()
        .unwrap()
        .sparse_initializer
        .push(proto::SparseTensorProto::default());
    refuse(&m, "sparse");

    let mut m = model(base());
    m.functions.push(proto::FunctionProto {
        name: "f".into(),
        domain: "local".into(),
        ..Default::default()
    });
    refuse(&m, "functions");
}

#[test]
fn hostile_names_stay_on_one_line() {
    let mut g = base();
    g.node("Evil\nOp\r\u{1b}[31m", &["image"], &["x"], vec![]);
    let r = reason(&writer::encode(&model(g)));
    assert!(r.contains("unknown operator"), "{r}");
}

#[test]
fn mutated_reference_models_never_panic() {
    let bytes = reference::make(ReferenceKind::TinyUnet, 128);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refused = 0;
    for _ in 0..300 {
        let mut m = bytes.clone();
        for _ in 0..1 + next() % 8 {
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
        }
        if check_bytes(&m, &GateLimits::default()).is_err() {
            refused += 1;
        }
    }
    // Most single-byte changes land in weights and stay valid; some must not.
    assert!(refused > 0);
}

#[test]
fn decoded_reference_round_trips() {
    let bytes = reference::make(ReferenceKind::Threshold, 128);
    let m = ModelProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(writer::encode(&m), bytes);
}

/// Builds `ModelProto { graph: GraphProto { node: [fragment; n] } }` by hand.
fn amplifier(fragment: &[u8], n: usize) -> Vec<u8> {
    let graph = fragment.repeat(n);
    let mut bytes = field(7, &graph);
    bytes.extend(field(8, &[0x10, 17]));
    bytes
}

#[test]
fn decoder_amplification_is_refused_before_decoding() {
    // 5 MB of empty nodes would decode to ~1 GB of structs at 2 bytes each
    // without the pre-decode budget; the same on a small budget here.
    let limits = GateLimits {
        max_decoded_bytes: 64 << 20,
        ..GateLimits::default()
    };
    let empty_nodes = amplifier(&[0x0a, 0x00], 500_000);
    let r = check_bytes(&empty_nodes, &limits).unwrap_err().to_string();
    assert!(r.contains("decoding would need more than"), "{r}");

    // A node whose `input` is three million empty strings.
    let mut node = Vec::new();
    for _ in 0..3_000_000 {
        node.extend([0x0a, 0x00]);
    }
    let bytes = amplifier(&field(1, &node), 1);
    let r = check_bytes(&bytes, &limits).unwrap_err().to_string();
    assert!(r.contains("decoding would need more than"), "{r}");
}

#[test]
fn full_size_amplification_stays_under_a_gigabyte() {
    // 99 MB of one-byte packed varints in an initializer's dims: 8x on decode.
    let mut tensor = Vec::new();
    let packed = vec![1u8; 99_000_000];
    prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut tensor);
    prost::encoding::encode_varint(packed.len() as u64, &mut tensor);
    tensor.extend(&packed);
    let bytes = amplifier(&field(5, &tensor), 1);
    let started = std::time::Instant::now();
    let r = check_bytes(&bytes, &GateLimits::default())
        .unwrap_err()
        .to_string();
    assert!(r.contains("decoding would need more than"), "{r}");
    assert!(started.elapsed().as_secs() < 10);
}
