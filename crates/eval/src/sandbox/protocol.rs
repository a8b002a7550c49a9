//! The pipe protocol between the validator and a worker.
//!
//! Every message is a frame: a one-byte tag, a little-endian `u32` payload
//! length, then the payload. The reader is given a cap before it reads, so
//! neither side can make the other allocate more than it expects. The
//! protocol is strictly request/response: the parent sends `Load`, waits for
//! `Loaded` or `Error`, then sends one `Run` at a time.

use std::io::{self, Read, Write};

/// Parent → worker: load a model (payload: [`LoadRequest::encode`]).
pub const TAG_LOAD: u8 = 1;
/// Parent → worker: run one image (payload: `H*W` little-endian `f32`).
pub const TAG_RUN: u8 = 2;
/// Parent → worker: exit cleanly.
pub const TAG_QUIT: u8 = 3;
/// Parent → worker: probe the confinement and report (tests, `doctor`).
pub const TAG_SELF_TEST: u8 = 4;
/// Worker → parent: model loaded (payload: load time in ns, `u64`).
pub const TAG_LOADED: u8 = 10;
/// Worker → parent: one inference's outputs (payload: [`RawOutput::encode`]).
pub const TAG_OUTPUT: u8 = 11;
/// Worker → parent: a failure (payload: code byte + UTF-8 message).
pub const TAG_ERROR: u8 = 12;
/// Worker → parent: the self-test report (payload: UTF-8 lines).
pub const TAG_SELF_TEST_REPORT: u8 = 13;

/// Longest error message a worker may send.
pub const MAX_MESSAGE: usize = 1024;

/// Which runtime the worker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// tract, pure Rust.
    Tract,
    /// ONNX Runtime, loaded from a shared library.
    Ort,
}

impl Backend {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Tract => "tract",
            Backend::Ort => "ort",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the worker needs to load a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRequest {
    /// Runtime.
    pub backend: Backend,
    /// Intra-op threads the runtime may use.
    pub threads: u32,
    /// ONNX Runtime library path (ORT only; loaded before confinement).
    pub ort_library: Option<String>,
    /// The model file.
    pub model: Vec<u8>,
}

impl LoadRequest {
    /// Serialises the request.
    pub fn encode(&self) -> Vec<u8> {
        let lib = self.ort_library.as_deref().unwrap_or("").as_bytes();
        let mut out = Vec::with_capacity(9 + lib.len() + self.model.len());
        out.push(match self.backend {
            Backend::Tract => 0,
            Backend::Ort => 1,
        });
        out.extend_from_slice(&self.threads.to_le_bytes());
        out.extend_from_slice(&(lib.len() as u32).to_le_bytes());
        out.extend_from_slice(lib);
        out.extend_from_slice(&self.model);
        out
    }

    /// Parses a request.
    pub fn decode(payload: &[u8]) -> Result<LoadRequest, String> {
        let backend = match payload.first() {
            Some(0) => Backend::Tract,
            Some(1) => Backend::Ort,
            _ => return Err("bad backend byte".into()),
        };
        let threads = read_u32(payload, 1)?;
        let lib_len = read_u32(payload, 5)? as usize;
        let lib_end = 9usize
            .checked_add(lib_len)
            .filter(|&e| e <= payload.len())
            .ok_or("library path overruns the frame")?;
        let lib =
            std::str::from_utf8(&payload[9..lib_end]).map_err(|_| "library path is not UTF-8")?;
        Ok(LoadRequest {
            backend,
            threads,
            ort_library: (!lib.is_empty()).then(|| lib.to_string()),
            model: payload[lib_end..].to_vec(),
        })
    }
}

/// What a model returned for one image, before the parent checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOutput {
    /// Inference time measured inside the worker, nanoseconds.
    pub elapsed_ns: u64,
    /// The mask output, if the model has one.
    pub mask: Option<Vec<f32>>,
    /// The cls output, if the model has one.
    pub cls: Option<f32>,
}

impl RawOutput {
    /// Serialises the output.
    pub fn encode(&self) -> Vec<u8> {
        let n = self.mask.as_ref().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(13 + 4 * n);
        out.extend_from_slice(&self.elapsed_ns.to_le_bytes());
        let flags = u8::from(self.mask.is_some()) | (u8::from(self.cls.is_some()) << 1);
        out.push(flags);
        out.extend_from_slice(&self.cls.unwrap_or(0.0).to_le_bytes());
        if let Some(mask) = &self.mask {
            for v in mask {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Parses an output; the mask must hold exactly `pixels` values.
    pub fn decode(payload: &[u8], pixels: usize) -> Result<RawOutput, String> {
        if payload.len() < 13 {
            return Err("output frame too short".into());
        }
        let elapsed_ns = u64::from_le_bytes(payload[0..8].try_into().map_err(|_| "short")?);
        let flags = payload[8];
        if flags & !3 != 0 {
            return Err("bad output flags".into());
        }
        let cls = f32::from_le_bytes(payload[9..13].try_into().map_err(|_| "short")?);
        let rest = &payload[13..];
        let mask = if flags & 1 != 0 {
            if rest.len() != pixels * 4 {
                return Err(format!(
                    "mask has {} values, expected {pixels}",
                    rest.len() / 4
                ));
            }
            Some(floats(rest))
        } else {
            if !rest.is_empty() {
                return Err("trailing bytes after output".into());
            }
            None
        };
        Ok(RawOutput {
            elapsed_ns,
            mask,
            cls: (flags & 2 != 0).then_some(cls),
        })
    }
}

/// Little-endian `f32` values from bytes (length a multiple of 4).
pub fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Bytes of little-endian `f32` values.
pub fn float_bytes(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, String> {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| "frame too short".to_string())
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..].copy_from_slice(&len.to_le_bytes());
    w.write_all(&head)?;
    w.write_all(payload)?;
    w.flush()
}

/// Reads one frame whose payload is at most `max` bytes. `Ok(None)` at a
/// clean end of stream.
pub fn read_frame(r: &mut impl Read, max: usize) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {max}-byte cap"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_round_trips() {
        let req = LoadRequest {
            backend: Backend::Ort,
            threads: 3,
            ort_library: Some("/x/libonnxruntime.so".into()),
            model: vec![1, 2, 3],
        };
        assert_eq!(LoadRequest::decode(&req.encode()).unwrap(), req);
        let bare = LoadRequest {
            backend: Backend::Tract,
            threads: 1,
            ort_library: None,
            model: vec![],
        };
        assert_eq!(LoadRequest::decode(&bare.encode()).unwrap(), bare);
        assert!(LoadRequest::decode(&[7]).is_err());
        assert!(LoadRequest::decode(&[0, 1, 0, 0, 0, 255, 255, 255, 255]).is_err());
    }

    #[test]
    fn output_round_trips_and_checks_length() {
        let out = RawOutput {
            elapsed_ns: 42,
            mask: Some(vec![0.25, 1.0, f32::NAN, 0.0]),
            cls: Some(0.5),
        };
        let back = RawOutput::decode(&out.encode(), 4).unwrap();
        assert_eq!(back.elapsed_ns, 42);
        assert_eq!(back.cls, Some(0.5));
        assert!(back.mask.as_ref().unwrap()[2].is_nan());
        assert!(RawOutput::decode(&out.encode(), 5).is_err());
        let cls_only = RawOutput {
            elapsed_ns: 1,
            mask: None,
            cls: Some(0.1),
        };
        assert_eq!(RawOutput::decode(&cls_only.encode(), 4).unwrap(), cls_only);
    }

    #[test]
    fn frames_respect_the_cap() {
        let mut buf = Vec::new();
        write_frame(&mut buf, TAG_RUN, &[9; 100]).unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r, 100).unwrap(),
            Some((TAG_RUN, vec![9; 100]))
        );
        assert_eq!(read_frame(&mut r, 100).unwrap(), None);
        let mut r = &buf[..];
        assert!(read_frame(&mut r, 99).is_err());
        let mut r = &buf[..50];
        assert!(read_frame(&mut r, 100).is_err());
    }
}
