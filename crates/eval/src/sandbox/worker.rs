//! The worker side: what runs inside the confined child process.
//!
//! Order matters: read the load request, load the ONNX Runtime library if
//! asked (it must be opened from disk), confine the process with seccomp,
//! and only then parse the untrusted model. After that the worker answers
//! one `Run` at a time until `Quit` or the end of its input.

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use medmetric_imaging::GrayImage;
use medmetric_model::gate::{self, GateLimits};

use super::confine;
use super::protocol::*;
use crate::{EvalError, Prediction};

/// Error codes in a worker's `Error` frame.
pub mod code {
    /// The runtime refused the model.
    pub const LOAD: u8 = 1;
    /// Inference failed.
    pub const RUN: u8 = 2;
    /// An output had the wrong number of values.
    pub const SHAPE: u8 = 3;
    /// An output held NaN or infinity.
    pub const NOT_FINITE: u8 = 4;
    /// An output left `[0, 1]`.
    pub const OUT_OF_RANGE: u8 = 5;
    /// The worker could not set itself up (not the model's fault).
    pub const SETUP: u8 = 6;
    /// The parent broke the protocol (not the model's fault).
    pub const PROTOCOL: u8 = 7;
    /// The runtime panicked (the worker exits after reporting it).
    pub const PANIC: u8 = 8;
}

static PANIC_MESSAGE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Keeps the last panic's message for the error frame instead of printing.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut slot) = PANIC_MESSAGE.lock() {
            *slot = format!("{msg}{at}");
        }
    }));
}

fn panic_message() -> String {
    PANIC_MESSAGE
        .lock()
        .map(|s| s.clone())
        .unwrap_or_else(|_| "panic".into())
}

/// Runs `f`, turning a panic into an error frame and exit status 5.
fn guarded<T>(out: &mut impl Write, f: impl FnOnce() -> T) -> Result<T, ExitCode> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(_) => {
            send_error(
                out,
                code::PANIC,
                &format!("runtime panicked: {}", panic_message()),
            );
            Err(ExitCode::from(5))
        }
    }
}

/// Largest load request accepted: the gate's file cap plus headroom.
const MAX_LOAD: usize = 110 * 1024 * 1024;

enum Runner {
    Tract(crate::tract::TractModel),
    Ort(Box<crate::ort::OrtModel>),
}

impl Runner {
    fn run(&mut self, image: &GrayImage) -> Result<Prediction, EvalError> {
        match self {
            Runner::Tract(m) => m.run(image),
            Runner::Ort(m) => m.run(image),
        }
    }
}

fn error_code(e: &EvalError) -> u8 {
    match e {
        EvalError::Load(_) => code::LOAD,
        EvalError::Run(_) => code::RUN,
        EvalError::Shape { .. } => code::SHAPE,
        EvalError::NotFinite(_) => code::NOT_FINITE,
        EvalError::OutOfRange { .. } => code::OUT_OF_RANGE,
        EvalError::Input { .. } => code::PROTOCOL,
    }
}

fn send_error(out: &mut impl Write, code: u8, message: &str) {
    let mut payload = vec![code];
    let msg: String = message
        .replace(['\n', '\r'], " ")
        .chars()
        .take(300)
        .collect();
    payload.extend_from_slice(&msg.as_bytes()[..msg.len().min(MAX_MESSAGE)]);
    let _ = write_frame(out, TAG_ERROR, &payload);
}

/// The worker's `main`: speaks the protocol on stdin/stdout. Exit status 0
/// after `Quit` or end of input, 3 when the parent broke the protocol, 4
/// when confinement could not be set up, 5 after a runtime panic.
pub fn main() -> ExitCode {
    install_panic_hook();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut input = BufReader::with_capacity(1 << 20, stdin.lock());
    let mut output = BufWriter::with_capacity(1 << 20, stdout.lock());

    let (tag, payload) = match read_frame(&mut input, MAX_LOAD) {
        Ok(Some(frame)) => frame,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            send_error(&mut output, code::PROTOCOL, &e.to_string());
            return ExitCode::from(3);
        }
    };
    if tag == TAG_SELF_TEST {
        if let Err(e) = confine::install_seccomp() {
            send_error(&mut output, code::SETUP, &e);
            return ExitCode::from(4);
        }
        let report = confine::self_test();
        let _ = write_frame(&mut output, TAG_SELF_TEST_REPORT, report.as_bytes());
        return ExitCode::SUCCESS;
    }
    if tag != TAG_LOAD {
        send_error(&mut output, code::PROTOCOL, "expected a load request");
        return ExitCode::from(3);
    }
    let request = match LoadRequest::decode(&payload) {
        Ok(r) => r,
        Err(e) => {
            send_error(&mut output, code::PROTOCOL, &e);
            return ExitCode::from(3);
        }
    };
    drop(payload);
    if request.backend == Backend::Ort {
        let Some(lib) = &request.ort_library else {
            send_error(
                &mut output,
                code::SETUP,
                "ONNX Runtime library path missing",
            );
            return ExitCode::from(4);
        };
        if let Err(e) = crate::ort::init_library(std::path::Path::new(lib)) {
            send_error(&mut output, code::SETUP, &e.to_string());
            return ExitCode::from(4);
        }
    }
    if let Err(e) = confine::install_seccomp() {
        send_error(&mut output, code::SETUP, &format!("seccomp: {e}"));
        return ExitCode::from(4);
    }

    let started = Instant::now();
    // The parent gated these bytes already; gating again here costs
    // milliseconds and means the worker trusts nothing it is handed.
    let report = match gate::check_bytes(&request.model, &GateLimits::default()) {
        Ok(r) => r,
        Err(e) => {
            send_error(&mut output, code::LOAD, &format!("gate: {e}"));
            return ExitCode::SUCCESS;
        }
    };
    let threads = request.threads.max(1) as usize;
    let loaded = guarded(&mut output, || match request.backend {
        Backend::Tract => {
            crate::tract::TractModel::load(&request.model, &report).map(Runner::Tract)
        }
        Backend::Ort => crate::ort::OrtModel::load(&request.model, &report, threads)
            .map(|m| Runner::Ort(Box::new(m))),
    });
    let loaded = match loaded {
        Ok(l) => l,
        Err(code) => return code,
    };
    drop(request);
    let mut runner = match loaded {
        Ok(r) => r,
        Err(e) => {
            send_error(&mut output, error_code(&e), &e.to_string());
            return ExitCode::SUCCESS;
        }
    };
    let load_ns = started.elapsed().as_nanos() as u64;
    if write_frame(&mut output, TAG_LOADED, &load_ns.to_le_bytes()).is_err() {
        return ExitCode::SUCCESS;
    }

    let size = report.size();
    let pixels = (size as usize) * (size as usize);
    let mut image = GrayImage::filled(size, size, 0.0);
    loop {
        let (tag, payload) = match read_frame(&mut input, pixels * 4) {
            Ok(Some(frame)) => frame,
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                send_error(&mut output, code::PROTOCOL, &e.to_string());
                return ExitCode::from(3);
            }
        };
        match tag {
            TAG_QUIT => return ExitCode::SUCCESS,
            TAG_RUN if payload.len() == pixels * 4 => {
                for (dst, src) in image.data.iter_mut().zip(payload.chunks_exact(4)) {
                    *dst = f32::from_le_bytes([src[0], src[1], src[2], src[3]]);
                }
                let t = Instant::now();
                let result = match guarded(&mut output, || runner.run(&image)) {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                let elapsed_ns = t.elapsed().as_nanos() as u64;
                match result {
                    Ok(pred) => {
                        let raw = RawOutput {
                            elapsed_ns,
                            mask: pred.mask,
                            cls: pred.cls,
                        };
                        if write_frame(&mut output, TAG_OUTPUT, &raw.encode()).is_err() {
                            return ExitCode::SUCCESS;
                        }
                    }
                    Err(e) => send_error(&mut output, error_code(&e), &e.to_string()),
                }
            }
            _ => {
                send_error(&mut output, code::PROTOCOL, "unexpected frame");
                return ExitCode::from(3);
            }
        }
    }
}
