//! The ONNX Runtime backend, through the `ort` crate with `load-dynamic`.
//!
//! Nothing of ONNX Runtime is linked or downloaded at build time. The shared
//! library is the one inside the pinned `onnxruntime` wheel from PyPI, which
//! `medmetric setup onnxruntime` extracts into the cache folder; this module
//! loads it at run time with [`init_library`], once per process.
//!
//! Where the library is looked for ([`default_library_path`]):
//! `$MEDMETRIC_ORT_LIB` when set, otherwise
//! `<cache>/onnxruntime/<ORT_VERSION>/libonnxruntime.so*` where `<cache>` is
//! `$MEDMETRIC_CACHE` or `~/.cache/medmetric`.
//!
//! Sessions are configured for reproducible, bounded work: `threads`
//! intra-op threads that do not spin, one inter-op thread, sequential
//! execution, every graph optimisation, no profiling, ONNX Runtime's own
//! logger on stderr at error level, no telemetry. The bytes are always
//! parsed as ONNX protobuf, never as ONNX Runtime's flatbuffer format, so
//! what runs is exactly what the gate checked.
//!
//! ```no_run
//! use medmetric_eval::ort::{OrtModel, default_library_path, init_library};
//! use medmetric_imaging::GrayImage;
//! use medmetric_model::{gate, reference};
//!
//! let lib = default_library_path().expect("run `medmetric setup onnxruntime` first");
//! init_library(&lib).unwrap();
//! let bytes = reference::make(reference::ReferenceKind::Threshold, 128);
//! let report = gate::check_bytes(&bytes, &Default::default()).unwrap();
//! let mut model = OrtModel::load(&bytes, &report, 1).unwrap();
//! let out = model.run(&GrayImage::filled(128, 128, 0.5)).unwrap();
//! assert!(out.cls.is_some());
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use ::ort::environment::Environment;
use ::ort::session::Session;
use ::ort::session::builder::{BuilderResult, GraphOptimizationLevel, SessionBuilder};
use ::ort::value::TensorRef;
use medmetric_imaging::GrayImage;
use medmetric_model::gate::GateReport;

use crate::{EvalError, Prediction};

/// The ONNX Runtime release MedMetric pins: the wheel `medmetric setup
/// onnxruntime` installs, and the API level this backend is built against
/// (libraries older than 1.31 are refused when loaded).
pub const ORT_VERSION: &str = "1.31.1";

/// Environment variable naming the ONNX Runtime shared library to load.
pub const LIBRARY_ENV: &str = "MEDMETRIC_ORT_LIB";

/// Environment variable naming MedMetric's cache folder.
pub const CACHE_ENV: &str = "MEDMETRIC_CACHE";

/// The library file name inside the wheel and the install folder.
const LIBRARY_STEM: &str = "libonnxruntime.so";

struct Loaded {
    path: PathBuf,
    version: Option<String>,
    env: Result<Environment, String>,
}

/// The one library and environment of this process. ONNX Runtime allows one
/// environment per process, and a loaded library cannot be swapped, so both
/// live until exit.
static LOADED: OnceLock<Loaded> = OnceLock::new();
/// Serialises [`init_library`] so two threads cannot load two libraries.
static INIT: Mutex<()> = Mutex::new(());

fn one_line(e: impl std::fmt::Display) -> String {
    let s = e.to_string().replace(['\n', '\r'], " ");
    s.chars().take(300).collect()
}

/// MedMetric's cache folder: `$MEDMETRIC_CACHE`, else `~/.cache/medmetric`;
/// `None` when neither variable is set.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(".cache").join("medmetric")),
    }
}

/// The folder `medmetric setup onnxruntime` installs `version` into under
/// `cache`: `<cache>/onnxruntime/<version>`.
pub fn install_dir(cache: &Path, version: &str) -> PathBuf {
    cache.join("onnxruntime").join(version)
}

/// The ONNX Runtime library installed in `dir`, if any: the versioned file
/// the wheel ships (`libonnxruntime.so.<version>`) first, then a plain
/// `libonnxruntime.so`. With several versioned files the name that sorts
/// last wins, so the answer does not depend on directory order.
pub fn library_in(dir: &Path) -> Option<PathBuf> {
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{LIBRARY_STEM}.")))
                && p.is_file()
        })
        .collect();
    versioned.sort();
    versioned.pop().or_else(|| {
        let plain = dir.join(LIBRARY_STEM);
        plain.is_file().then_some(plain)
    })
}

/// Where to load ONNX Runtime from: `$MEDMETRIC_ORT_LIB` when set (whether
/// or not the file exists, so a typo is reported rather than ignored),
/// otherwise the library `medmetric setup onnxruntime` installed for
/// [`ORT_VERSION`] under [`cache_dir`], if it is there.
pub fn default_library_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(LIBRARY_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    library_in(&install_dir(&cache_dir()?, ORT_VERSION))
}

/// Loads the ONNX Runtime shared library at `path` and creates the
/// process's ONNX Runtime environment.
///
/// Idempotent for the same file; once a library is loaded, asking for a
/// different one is an error (a process cannot unload it). Fails with a
/// one-line [`EvalError::Load`] when the file is missing, is not a shared
/// library, does not export ONNX Runtime's API, or is older than 1.31.
pub fn init_library(path: &Path) -> Result<(), EvalError> {
    let _guard = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    let fail =
        |why: String| EvalError::Load(format!("ONNX Runtime library {}: {why}", path.display()));
    let wanted = path.canonicalize().map_err(|e| fail(one_line(e)))?;
    if let Some(loaded) = LOADED.get() {
        if loaded.path != wanted {
            return Err(fail(format!(
                "ONNX Runtime is already loaded from {} in this process",
                loaded.path.display()
            )));
        }
        return loaded.env.as_ref().map(|_| ()).map_err(|e| fail(e.clone()));
    }
    if !wanted.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let mut magic = Vec::with_capacity(4);
    std::fs::File::open(&wanted)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 4), &mut magic))
        .map_err(|e| fail(one_line(e)))?;
    if magic != b"\x7fELF" {
        return Err(fail("not a shared library (no ELF header)".into()));
    }
    // A failed dlopen or version check leaves nothing loaded, so a later call
    // may try another file. Past that point the library stays in the process
    // whatever happens, and so does the outcome.
    let builder = catch_unwind(|| ::ort::init_from(&wanted))
        .map_err(|_| fail("the library could not be loaded".into()))?
        .map_err(|e| fail(one_line(e)))?;
    let env = catch_unwind(AssertUnwindSafe(|| {
        builder.with_name("medmetric").with_telemetry(false).build()
    }))
    .map_err(|_| "creating the environment panicked".to_string())
    .and_then(|r| r.map_err(one_line));
    let version = env.is_ok().then(|| version_of(&wanted)).flatten();
    let loaded = LOADED.get_or_init(|| Loaded {
        path: wanted,
        version,
        env,
    });
    loaded.env.as_ref().map(|_| ()).map_err(|e| fail(e.clone()))
}

/// The environment, loading the default library on first use.
fn environment() -> Result<&'static Environment, EvalError> {
    if LOADED.get().is_none() {
        let Some(path) = default_library_path() else {
            return Err(EvalError::Load(format!(
                "ONNX Runtime is not installed: run `medmetric setup onnxruntime` or set {LIBRARY_ENV}"
            )));
        };
        init_library(&path)?;
    }
    match LOADED.get().map(|l| &l.env) {
        Some(Ok(env)) => Ok(env),
        Some(Err(e)) => Err(EvalError::Load(e.clone())),
        None => Err(EvalError::Load("ONNX Runtime is not loaded".into())),
    }
}

/// The path of the loaded library, if one is loaded.
pub fn loaded_library() -> Option<PathBuf> {
    LOADED.get().map(|l| l.path.clone())
}

/// `onnxruntime <version>` of the loaded library, as the library reports
/// it, or `None` when no library is loaded.
pub fn backend_version() -> Option<String> {
    match LOADED.get() {
        Some(Loaded {
            env: Ok(_),
            version,
            ..
        }) => Some(format!(
            "onnxruntime {}",
            version.as_deref().unwrap_or("(unknown version)")
        )),
        _ => None,
    }
}

/// Asks the already loaded library at `path` for its version string; `ort`
/// checks the version while loading but does not expose it.
fn version_of(path: &Path) -> Option<String> {
    use std::ffi::{CStr, CString};
    use std::os::unix::ffi::OsStrExt;
    type GetApiBase = unsafe extern "C" fn() -> *const ::ort::sys::OrtApiBase;
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `RTLD_NOLOAD` only hands back the library `init_library` has
    // already loaded and checked (it exports `OrtGetApiBase`, whose result
    // `ort` has already dereferenced the same way); the handle's reference
    // is released before returning. `OrtGetApiBase` and
    // `GetVersionString` take no arguments and return static data.
    unsafe {
        let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if handle.is_null() {
            return None;
        }
        let symbol = libc::dlsym(handle, c"OrtGetApiBase".as_ptr());
        let mut version = None;
        if !symbol.is_null() {
            let get_api_base: GetApiBase =
                std::mem::transmute::<*mut libc::c_void, GetApiBase>(symbol);
            let base = get_api_base();
            if !base.is_null() {
                let s = ((*base).GetVersionString)();
                if !s.is_null() {
                    version = CStr::from_ptr(s).to_str().ok().map(str::to_owned);
                }
            }
        }
        libc::dlclose(handle);
        version
    }
}

/// A model loaded into an ONNX Runtime session, ready to run.
pub struct OrtModel {
    session: Session,
    size: u32,
    input: String,
    outputs: Vec<String>,
}

impl std::fmt::Debug for OrtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtModel")
            .field("size", &self.size)
            .field("input", &self.input)
            .field("outputs", &self.outputs)
            .finish()
    }
}

fn configure(env: &Environment, threads: usize) -> Result<SessionBuilder, String> {
    // `ort` hands the builder back inside its error; only the message matters.
    fn ok(step: BuilderResult) -> Result<SessionBuilder, String> {
        step.map_err(one_line)
    }
    let b = Session::builder(env).map_err(one_line)?;
    let b = ok(b.with_intra_threads(threads.max(1)))?;
    let b = ok(b.with_inter_threads(1))?;
    let b = ok(b.with_parallel_execution(false))?;
    let b = ok(b.with_optimization_level(GraphOptimizationLevel::All))?;
    // Spinning threads burn the CPU-time budget while they wait.
    let b = ok(b.with_intra_op_spinning(false))?;
    let b = ok(b.with_inter_op_spinning(false))?;
    // The gate checked ONNX protobuf; never let the bytes be sniffed as
    // ONNX Runtime's flatbuffer format instead.
    ok(b.with_config_entry("session.load_model_format", "ONNX"))
}

impl OrtModel {
    /// Loads gated model bytes with `threads` intra-op threads (at least
    /// one). `report` must be the gate's report for exactly these bytes.
    ///
    /// Loads the [`default_library_path`] first if no library is loaded yet.
    pub fn load(bytes: &[u8], report: &GateReport, threads: usize) -> Result<Self, EvalError> {
        let env = environment()?;
        let session = catch_unwind(AssertUnwindSafe(|| {
            configure(env, threads)?
                .commit_from_memory(bytes)
                .map_err(one_line)
        }))
        .unwrap_or_else(|_| Err("ONNX Runtime panicked while loading".into()))
        .map_err(EvalError::Load)?;
        Ok(OrtModel {
            session,
            size: report.size(),
            input: report.input.name.clone(),
            outputs: report.output_order.clone(),
        })
    }

    /// The input size `H` (= `W`).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Runs one image of the model's size.
    pub fn run(&mut self, image: &GrayImage) -> Result<Prediction, EvalError> {
        if image.width != self.size || image.height != self.size {
            return Err(EvalError::Input {
                got: image.width,
                got_h: image.height,
                expected: self.size,
            });
        }
        let s = self.size as usize;
        let (session, input, names) = (&mut self.session, &self.input, &self.outputs);
        catch_unwind(AssertUnwindSafe(|| {
            let tensor = TensorRef::from_array_view(([1usize, 1, s, s], image.data.as_slice()))
                .map_err(|e| EvalError::Run(one_line(e)))?;
            let result = session
                .run(::ort::inputs![input.as_str() => tensor])
                .map_err(|e| EvalError::Run(one_line(e)))?;
            let mut pred = Prediction {
                mask: None,
                cls: None,
            };
            for name in names {
                let value = result
                    .get(name.as_str())
                    .ok_or_else(|| EvalError::Run(format!("output '{name}' is missing")))?;
                let (_, values) = value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| EvalError::Run(format!("output '{name}': {}", one_line(e))))?;
                pred.accept(name, values, s * s)?;
            }
            Ok(pred)
        }))
        .unwrap_or_else(|_| Err(EvalError::Run("ONNX Runtime panicked while running".into())))
    }
}
