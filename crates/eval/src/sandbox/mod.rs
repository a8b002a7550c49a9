//! Running untrusted models in a confined worker process (docs/evaluator.md).
//!
//! The validator never runs a model in its own process. [`Session::start`]
//! spawns the worker binary (`medmetric-worker`, which links only this
//! crate and the runtimes) with an empty environment, rlimits, a private
//! network namespace where the kernel allows it and a seccomp filter (see
//! [`confine`]), hands it the model bytes over a pipe and then one image at
//! a time. Every failure the model can cause — a crash, a hang, running out
//! of memory or CPU time, NaN/Inf, values outside `[0, 1]`, wrong shapes —
//! comes back as a [`Failure`] for that model; the validator carries on.
//!
//! The parent trusts nothing the worker says: frames are size-capped before
//! they are read, and outputs are checked again here.

pub mod confine;
pub mod protocol;
pub mod worker;

use std::io::{BufWriter, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use confine::Limits;
use medmetric_imaging::GrayImage;
pub use protocol::Backend;
use protocol::*;

use crate::{EvalError, Prediction, check_output};

/// The worker binary's file name.
pub const WORKER_NAME: &str = "medmetric-worker";

/// Bytes of the worker's stderr kept for diagnosis.
const STDERR_CAP: usize = 16 * 1024;

/// Why a model's evaluation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The wall-clock limit passed; the worker was killed.
    Timeout,
    /// The CPU-time limit passed.
    CpuLimit,
    /// The model needed more memory than the address-space limit.
    OutOfMemory,
    /// The worker died from a signal or exited unexpectedly.
    Crash,
    /// The runtime refused the model.
    Load,
    /// Inference failed.
    Run,
    /// An output had the wrong shape.
    Shape,
    /// An output held NaN or infinity.
    NotFinite,
    /// An output left `[0, 1]`.
    OutOfRange,
    /// The worker could not be started or confined: the validator's
    /// problem, not the model's.
    Setup,
}

impl FailureKind {
    /// Whether the model's author is to blame (it loses the round) rather
    /// than the validator's setup.
    pub fn is_model_fault(&self) -> bool {
        !matches!(self, FailureKind::Setup)
    }

    /// Short name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::CpuLimit => "cpu-limit",
            FailureKind::OutOfMemory => "out-of-memory",
            FailureKind::Crash => "crash",
            FailureKind::Load => "load",
            FailureKind::Run => "run",
            FailureKind::Shape => "shape",
            FailureKind::NotFinite => "not-finite",
            FailureKind::OutOfRange => "out-of-range",
            FailureKind::Setup => "setup",
        }
    }
}

/// A failed evaluation with its reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("{}: {detail}", kind.name())]
pub struct Failure {
    /// What went wrong.
    pub kind: FailureKind,
    /// One readable line.
    pub detail: String,
}

impl Failure {
    fn new(kind: FailureKind, detail: impl Into<String>) -> Failure {
        let detail: String = detail.into().replace(['\n', '\r'], " ");
        Failure {
            kind,
            detail: detail.chars().take(300).collect(),
        }
    }
}

impl From<EvalError> for Failure {
    fn from(e: EvalError) -> Failure {
        let kind = match &e {
            EvalError::Load(_) => FailureKind::Load,
            EvalError::Run(_) => FailureKind::Run,
            EvalError::Shape { .. } => FailureKind::Shape,
            EvalError::NotFinite(_) => FailureKind::NotFinite,
            EvalError::OutOfRange { .. } => FailureKind::OutOfRange,
            EvalError::Input { .. } => FailureKind::Setup,
        };
        Failure::new(kind, e.to_string())
    }
}

/// How to start workers.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Path of the worker binary.
    pub worker: PathBuf,
    /// Arguments it is started with: none for the dedicated
    /// `medmetric-worker`, the worker-mode argument when a program runs
    /// itself as the worker ([`locate_worker`]).
    pub worker_args: Vec<String>,
    /// Runtime.
    pub backend: Backend,
    /// ONNX Runtime library (required for [`Backend::Ort`]).
    pub ort_library: Option<PathBuf>,
    /// Intra-op threads per worker.
    pub threads: u32,
    /// Resource limits.
    pub limits: Limits,
}

impl SandboxConfig {
    /// A configuration with default limits, one thread.
    pub fn new(worker: PathBuf, backend: Backend, ort_library: Option<PathBuf>) -> SandboxConfig {
        SandboxConfig {
            worker,
            worker_args: Vec::new(),
            backend,
            ort_library,
            threads: 1,
            limits: Limits::default(),
        }
    }
}

/// Finds the worker binary: `$MEDMETRIC_WORKER`, else next to the running
/// executable (and its parent, for `target/debug/deps` test binaries).
pub fn find_worker() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MEDMETRIC_WORKER") {
        // The worker starts in `/`, so a relative path must be resolved here.
        let p = PathBuf::from(p);
        return Some(std::fs::canonicalize(&p).unwrap_or(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join(WORKER_NAME), dir.parent()?.join(WORKER_NAME)]
        .into_iter()
        .find(|p| p.is_file())
}

/// The worker to start: the dedicated [`WORKER_NAME`] binary when
/// [`find_worker`] finds it (it links only the evaluation crate), else the
/// running program itself started with `self_mode` as its only argument —
/// for a program whose `main` hands that argument to [`worker::main`]
/// (the `medmetric` command does), so that a binary built alone, as
/// `cargo run -p medmetric-cli` builds it, can still evaluate. `None` when
/// neither is available.
pub fn locate_worker(self_mode: Option<&str>) -> Option<(PathBuf, Vec<String>)> {
    if let Some(path) = find_worker() {
        return Some((path, Vec::new()));
    }
    let mode = self_mode?;
    let exe = std::env::current_exe().ok()?;
    Some((exe, vec![mode.to_string()]))
}

/// One inference's checked result.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The checked prediction.
    pub prediction: Prediction,
    /// Inference time measured inside the worker.
    pub elapsed: Duration,
}

type Frame = std::io::Result<Option<(u8, Vec<u8>)>>;

/// A live worker with a model loaded.
pub struct Session {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    frames: Receiver<Frame>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    size: u32,
    has_mask: bool,
    has_cls: bool,
    limits: Limits,
    /// How long the worker took to load the model.
    pub load_time: Duration,
    killed_by_us: bool,
    /// When the worker was started: the session's total budget runs from
    /// here.
    started: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("pid", &self.child.id())
            .field("size", &self.size)
            .finish()
    }
}

fn spawn(cfg: &SandboxConfig) -> Result<Child, Failure> {
    let mut cmd = Command::new(&cfg.worker);
    let limits = cfg.limits.clone();
    cmd.args(&cfg.worker_args)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: the closure only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || confine::pre_exec(&limits));
    }
    cmd.spawn().map_err(|e| {
        Failure::new(
            FailureKind::Setup,
            format!("cannot start worker {}: {e}", cfg.worker.display()),
        )
    })
}

fn reader_thread(mut stdout: impl Read + Send + 'static, max: usize) -> Receiver<Frame> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let frame = read_frame(&mut stdout, max);
            let done = !matches!(frame, Ok(Some(_)));
            if tx.send(frame).is_err() || done {
                break;
            }
        }
    });
    rx
}

fn stderr_thread(mut stderr: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = STDERR_CAP.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        kept
    })
}

impl Session {
    /// Starts a worker and loads `model` (already gated by the caller;
    /// `size` and the outputs come from the gate's report).
    pub fn start(
        cfg: &SandboxConfig,
        model: &[u8],
        report: &medmetric_model::gate::GateReport,
    ) -> Result<Session, Failure> {
        if cfg.backend == Backend::Ort && cfg.ort_library.is_none() {
            return Err(Failure::new(
                FailureKind::Setup,
                "ONNX Runtime is not installed (run `medmetric setup onnxruntime`)",
            ));
        }
        let size = report.size();
        let mut child = spawn(cfg)?;
        // Larger pipes: a 512×512 image is 1 MiB, and the default 64 KiB
        // pipe would cost a dozen context switches per image each way.
        {
            use std::os::fd::AsRawFd;
            let fds = [
                child.stdin.as_ref().map(|s| s.as_raw_fd()),
                child.stdout.as_ref().map(|s| s.as_raw_fd()),
            ];
            for fd in fds.into_iter().flatten() {
                // SAFETY: fcntl on a pipe descriptor we own; failure is harmless.
                unsafe {
                    libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
                }
            }
        }
        let stdin = child
            .stdin
            .take()
            .map(|s| BufWriter::with_capacity(1 << 20, s));
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (Some(stdin), Some(stdout), Some(stderr)) = (stdin, stdout, stderr) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::new(FailureKind::Setup, "worker pipes missing"));
        };
        let pixels = (size as usize) * (size as usize);
        let mut session = Session {
            child,
            stdin: Some(stdin),
            frames: reader_thread(stdout, 64 + pixels * 4 + MAX_MESSAGE),
            stderr: Some(stderr_thread(stderr)),
            size,
            has_mask: report.outputs.mask,
            has_cls: report.outputs.cls,
            limits: cfg.limits.clone(),
            load_time: Duration::ZERO,
            killed_by_us: false,
            started: Instant::now(),
        };
        let request = LoadRequest {
            backend: cfg.backend,
            threads: cfg.threads,
            ort_library: cfg
                .ort_library
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            model: model.to_vec(),
        };
        let started = Instant::now();
        session.send(TAG_LOAD, &request.encode())?;
        drop(request);
        let deadline = session.deadline(session.limits.load_timeout_ms)?;
        match session.receive(deadline)? {
            (TAG_LOADED, _) => {
                session.load_time = started.elapsed();
                Ok(session)
            }
            (TAG_ERROR, payload) => Err(session.worker_error(&payload)),
            (tag, _) => Err(session.protocol_failure(&format!("unexpected frame {tag}"))),
        }
    }

    /// Runs a self-test worker: confines it and reports what it could and
    /// could not do (see [`confine::self_test`]).
    pub fn self_test(cfg: &SandboxConfig) -> Result<String, Failure> {
        let mut child = spawn(cfg)?;
        let mut stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let result = (|| {
            let stdin = stdin.as_mut().ok_or("no stdin")?;
            write_frame(stdin, TAG_SELF_TEST, &[]).map_err(|e| e.to_string())?;
            let mut stdout = stdout.ok_or("no stdout")?;
            match read_frame(&mut stdout, 64 * 1024).map_err(|e| e.to_string())? {
                Some((TAG_SELF_TEST_REPORT, text)) => {
                    Ok(String::from_utf8_lossy(&text).into_owned())
                }
                Some((TAG_ERROR, msg)) => {
                    Err(String::from_utf8_lossy(msg.get(1..).unwrap_or(&[])).into_owned())
                }
                _ => Err("no report".to_string()),
            }
        })();
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
        result.map_err(|e| Failure::new(FailureKind::Setup, e))
    }

    /// The model's input size.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Runs one image (of the model's size) and checks the outputs.
    pub fn run(&mut self, image: &GrayImage) -> Result<Output, Failure> {
        if image.width != self.size || image.height != self.size {
            return Err(Failure::new(
                FailureKind::Setup,
                format!(
                    "image is {}x{}, model expects {}x{}",
                    image.width, image.height, self.size, self.size
                ),
            ));
        }
        let deadline = self.deadline(self.limits.image_timeout_ms)?;
        self.send(TAG_RUN, &float_bytes(&image.data))?;
        let (tag, payload) = self.receive(deadline)?;
        match tag {
            TAG_OUTPUT => {
                let pixels = (self.size as usize) * (self.size as usize);
                let raw =
                    RawOutput::decode(&payload, pixels).map_err(|e| self.protocol_failure(&e))?;
                self.check(raw)
            }
            TAG_ERROR => Err(self.worker_error(&payload)),
            other => Err(self.protocol_failure(&format!("unexpected frame {other}"))),
        }
    }

    fn check(&self, raw: RawOutput) -> Result<Output, Failure> {
        let pixels = (self.size as usize) * (self.size as usize);
        if self.has_mask != raw.mask.is_some() || self.has_cls != raw.cls.is_some() {
            return Err(Failure::new(
                FailureKind::Shape,
                "outputs differ from the ones the model declares",
            ));
        }
        if let Some(mask) = &raw.mask {
            check_output("mask", mask, pixels)?;
        }
        if let Some(cls) = raw.cls {
            check_output("cls", &[cls], 1)?;
        }
        Ok(Output {
            prediction: Prediction {
                mask: raw.mask,
                cls: raw.cls,
            },
            elapsed: Duration::from_nanos(raw.elapsed_ns),
        })
    }

    /// Tells the worker to exit and reaps it.
    pub fn finish(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = write_frame(&mut stdin, TAG_QUIT, &[]);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill();
    }

    fn send(&mut self, tag: u8, payload: &[u8]) -> Result<(), Failure> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.death_failure());
        };
        // The protocol is request/response, so the worker is reading; if it
        // died, the write fails with a broken pipe and we report its death.
        if write_frame(stdin, tag, payload).is_err() {
            self.stdin = None;
            return Err(self.death_failure());
        }
        Ok(())
    }

    /// The worker's peak resident memory so far (`VmHWM`), while it runs.
    pub fn peak_memory_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// The wait for the next answer: `step_ms`, cut to what is left of the
    /// session's total budget; a failure when nothing is left.
    fn deadline(&mut self, step_ms: u64) -> Result<Duration, Failure> {
        let total = Duration::from_millis(self.limits.total_ms);
        let left = total.saturating_sub(self.started.elapsed());
        if left.is_zero() {
            self.kill();
            return Err(Failure::new(
                FailureKind::Timeout,
                format!(
                    "the evaluation exceeded its total budget of {} ms; worker killed",
                    self.limits.total_ms
                ),
            ));
        }
        Ok(Duration::from_millis(step_ms).min(left))
    }

    fn receive(&mut self, timeout: Duration) -> Result<(u8, Vec<u8>), Failure> {
        match self.frames.recv_timeout(timeout) {
            Ok(Ok(Some(frame))) => Ok(frame),
            Ok(Ok(None)) | Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                Err(self.death_failure())
            }
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                Err(Failure::new(
                    FailureKind::Timeout,
                    format!("no answer within {} ms; worker killed", timeout.as_millis()),
                ))
            }
        }
    }

    fn kill(&mut self) {
        self.killed_by_us = true;
        self.stdin = None;
        // SAFETY: signal the worker's own process group (it cannot fork,
        // so this is the worker and its threads).
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn stderr_text(&mut self) -> String {
        let bytes = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The worker is gone (or broke the protocol): reap it and say why.
    fn death_failure(&mut self) -> Failure {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    self.kill();
                    break None;
                }
            }
        };
        let stderr = self.stderr_text();
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let oom = looks_like_oom(&stderr);
        match status.and_then(|s| s.signal().map(|sig| (sig, s)).or(Some((0, s)))) {
            Some((sig, _)) if sig == libc::SIGXCPU => Failure::new(
                FailureKind::CpuLimit,
                format!("used its {} CPU seconds", self.limits.cpu_seconds),
            ),
            Some((sig, _)) if sig == libc::SIGKILL && !self.killed_by_us => Failure::new(
                FailureKind::CpuLimit,
                "killed by the kernel (CPU hard limit or memory pressure)",
            ),
            Some((sig, _)) if sig != 0 && oom => Failure::new(
                FailureKind::OutOfMemory,
                format!(
                    "exceeded the {} MiB address-space limit: {last}",
                    self.limits.address_space >> 20
                ),
            ),
            Some((sig, _)) if sig == libc::SIGSYS => {
                Failure::new(FailureKind::Crash, "forbidden system call")
            }
            Some((sig, _)) if sig != 0 => Failure::new(
                FailureKind::Crash,
                format!(
                    "worker died from signal {sig}{}",
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    }
                ),
            ),
            Some((_, s)) => Failure::new(
                if oom {
                    FailureKind::OutOfMemory
                } else {
                    FailureKind::Crash
                },
                format!(
                    "worker exited ({s}){}",
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    }
                ),
            ),
            None => Failure::new(FailureKind::Crash, "worker stopped answering"),
        }
    }

    fn protocol_failure(&mut self, why: &str) -> Failure {
        self.kill();
        Failure::new(
            FailureKind::Crash,
            format!("worker broke the protocol: {why}"),
        )
    }

    fn worker_error(&mut self, payload: &[u8]) -> Failure {
        let code = payload.first().copied().unwrap_or(0);
        let msg = String::from_utf8_lossy(payload.get(1..).unwrap_or(&[])).into_owned();
        let kind = match code {
            worker::code::LOAD => FailureKind::Load,
            worker::code::RUN => FailureKind::Run,
            worker::code::SHAPE => FailureKind::Shape,
            worker::code::NOT_FINITE => FailureKind::NotFinite,
            worker::code::OUT_OF_RANGE => FailureKind::OutOfRange,
            worker::code::SETUP | worker::code::PROTOCOL => FailureKind::Setup,
            worker::code::PANIC => FailureKind::Crash,
            _ => FailureKind::Crash,
        };
        let oom = looks_like_oom(&msg);
        let kind = if oom
            && matches!(
                kind,
                FailureKind::Load | FailureKind::Run | FailureKind::Crash
            ) {
            FailureKind::OutOfMemory
        } else {
            kind
        };
        Failure::new(kind, msg)
    }
}

/// Whether a runtime's message says it ran out of memory (Rust's
/// allocation-failure abort, capacity overflow, C++ `bad_alloc`, ORT's
/// allocator errors).
fn looks_like_oom(text: &str) -> bool {
    [
        "memory allocation of",
        "capacity overflow",
        "bad_alloc",
        "Failed to allocate",
        "failed to allocate",
        "out of memory",
        "allocation failed",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
