//! A pre-decode pass over the protobuf wire format that bounds what decoding
//! will allocate.
//!
//! Protobuf amplifies: two bytes on the wire (`0a 00`) decode to a whole
//! empty `NodeProto`, one byte of a packed varint to an 8-byte `i64`, an
//! empty repeated string to a 24-byte `String`. A 100 MB file of such
//! fragments would make a decoder allocate many gigabytes before any check
//! ran. This pass walks the same message tree the decoder will, allocating
//! nothing, and estimates the decoded size from above; the gate refuses the
//! file when the estimate passes its budget.

/// Upper bound on the in-memory size of any decoded ONNX message struct.
const MESSAGE_COST: u64 = 512;
/// Size of a `String`/`Vec` header.
const VEC_COST: u64 = 24;
/// Deepest message nesting walked (the decoder stops at 100 itself).
const MAX_DEPTH: usize = 100;

/// The messages whose fields the walk distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Msg {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
    ValueInfo,
    Type,
    TypeTensor,
    Shape,
    TrainingInfo,
    Function,
    /// A message whose fields are all scalars or strings.
    Leaf,
}

enum Field {
    Message(Msg),
    PackedVarints,
    Bytes,
}

fn field_kind(msg: Msg, field: u32) -> Field {
    use Field::*;
    use Msg::*;
    match (msg, field) {
        (Model, 7) => Message(Graph),
        (Model, 8 | 14) => Message(Leaf),
        (Model, 20) => Message(TrainingInfo),
        (Model, 25) => Message(Function),
        (Graph, 1) => Message(Node),
        (Graph, 5) => Message(Tensor),
        (Graph, 15) => Message(SparseTensor),
        (Graph, 11..=13) => Message(ValueInfo),
        (Graph, 14) => Message(Leaf),
        (Node, 5) => Message(Attribute),
        (Node, 9) => Message(Leaf),
        (Attribute, 5 | 10) => Message(Tensor),
        (Attribute, 6 | 11) => Message(Graph),
        (Attribute, 22 | 23) => Message(SparseTensor),
        (Attribute, 14 | 15) => Message(Type),
        (Attribute, 8) => PackedVarints,
        (Tensor, 3 | 13 | 16) => Message(Leaf),
        (Tensor, 1 | 5 | 7 | 11) => PackedVarints,
        (SparseTensor, 1 | 2) => Message(Tensor),
        (SparseTensor, 3) => PackedVarints,
        (ValueInfo, 2) => Message(Type),
        (ValueInfo, 4) => Message(Leaf),
        (Type, 1) => Message(TypeTensor),
        (Type, 4 | 5 | 8 | 9) => Message(Leaf),
        (TypeTensor, 2) => Message(Shape),
        (Shape, 1) => Message(Leaf),
        (TrainingInfo, 1 | 2) => Message(Graph),
        (TrainingInfo, 3 | 4) => Message(Leaf),
        (Function, 7) => Message(Node),
        (Function, 6 | 8 | 9 | 11 | 12 | 14) => Message(Leaf),
        _ => Bytes,
    }
}

/// Why the walk stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Not valid protobuf wire format.
    Malformed(&'static str),
    /// Decoding would allocate more than the budget.
    TooExpensive,
}

struct Walk {
    cost: u64,
    budget: u64,
}

/// Estimates from above how many bytes decoding `bytes` as a `ModelProto`
/// allocates, stopping with [`WireError::TooExpensive`] past `budget`.
pub fn decoded_cost(bytes: &[u8], budget: u64) -> Result<u64, WireError> {
    let mut w = Walk { cost: 0, budget };
    w.add(MESSAGE_COST)?;
    w.message(bytes, Msg::Model, 0)?;
    Ok(w.cost)
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Err(WireError::Malformed("truncated varint"));
        };
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(WireError::Malformed("varint overflow"));
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::Malformed("varint too long"))
}

impl Walk {
    fn add(&mut self, n: u64) -> Result<(), WireError> {
        self.cost = self.cost.saturating_add(n);
        if self.cost > self.budget {
            Err(WireError::TooExpensive)
        } else {
            Ok(())
        }
    }

    fn message(&mut self, buf: &[u8], msg: Msg, depth: usize) -> Result<(), WireError> {
        if depth > MAX_DEPTH {
            return Err(WireError::Malformed("messages nested too deeply"));
        }
        let mut pos = 0;
        while pos < buf.len() {
            let key = varint(buf, &mut pos)?;
            let field = (key >> 3) as u32;
            match key & 7 {
                0 => {
                    varint(buf, &mut pos)?;
                    self.add(8)?;
                }
                1 => {
                    pos = pos
                        .checked_add(8)
                        .filter(|&p| p <= buf.len())
                        .ok_or(WireError::Malformed("truncated fixed64"))?;
                    self.add(8)?;
                }
                5 => {
                    pos = pos
                        .checked_add(4)
                        .filter(|&p| p <= buf.len())
                        .ok_or(WireError::Malformed("truncated fixed32"))?;
                    self.add(8)?;
                }
                2 => {
                    let len = varint(buf, &mut pos)?;
                    let end = usize::try_from(len)
                        .ok()
                        .and_then(|l| pos.checked_add(l))
                        .filter(|&e| e <= buf.len())
                        .ok_or(WireError::Malformed("length past end of buffer"))?;
                    let payload = &buf[pos..end];
                    pos = end;
                    match field_kind(msg, field) {
                        Field::Message(Msg::Leaf) => {
                            self.add(MESSAGE_COST + payload.len() as u64 * 8)?;
                        }
                        Field::Message(sub) => {
                            self.add(MESSAGE_COST)?;
                            self.message(payload, sub, depth + 1)?;
                        }
                        Field::PackedVarints => {
                            let count = payload.iter().filter(|&&b| b & 0x80 == 0).count();
                            self.add(VEC_COST + count as u64 * 8)?;
                        }
                        Field::Bytes => self.add(VEC_COST + payload.len() as u64)?,
                    }
                }
                _ => return Err(WireError::Malformed("unsupported wire type")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_nodes_are_expensive() {
        // GraphProto with 1000 empty nodes inside a ModelProto.
        let graph: Vec<u8> = [0x0a, 0x00].repeat(1000);
        let mut model = vec![0x3a];
        model.extend(varint_bytes(graph.len() as u64));
        model.extend(&graph);
        let cost = decoded_cost(&model, u64::MAX).unwrap();
        assert!(cost >= 1000 * MESSAGE_COST);
        assert_eq!(decoded_cost(&model, 1000), Err(WireError::TooExpensive));
    }

    #[test]
    fn malformed_input_is_reported() {
        assert!(matches!(
            decoded_cost(&[0x3a, 0x05, 0x00], u64::MAX),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            decoded_cost(&[0xff; 12], u64::MAX),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            decoded_cost(&[0x0b], u64::MAX),
            Err(WireError::Malformed(_))
        ));
    }

    fn varint_bytes(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }
}
