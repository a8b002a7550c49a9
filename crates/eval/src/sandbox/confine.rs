//! The worker's confinement: resource limits set between `fork` and `exec`
//! by the parent, and a seccomp filter the worker installs on itself once
//! the runtime library is loaded and before it parses the model.
//!
//! Layers, each enough on its own for its threat:
//! - **rlimits** (parent, pre-exec): address space, CPU seconds, open
//!   files, file size (64 MiB), no core dumps, no locked memory;
//! - **network namespace** (parent, pre-exec, best effort): a fresh
//!   namespace has only a downed loopback, so even a socket that slipped
//!   through reaches nothing. Needs root or user namespaces; without them
//!   the seccomp layer still refuses every socket;
//! - **seccomp** (worker): refuses sockets, `exec`, new processes (`clone`
//!   without `CLONE_THREAD`, `fork`, `vfork`), opening files for writing,
//!   every filesystem mutation, ptrace, mounts, namespaces, module and
//!   kernel-keyring calls, BPF and io_uring. Threads stay allowed: both
//!   runtimes use them;
//! - **environment**: empty, working directory `/`, parent-death signal
//!   `SIGKILL` so a worker never outlives its validator.

use std::collections::BTreeMap;

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

/// Resource limits of one worker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Address space, bytes (`RLIMIT_AS`).
    pub address_space: u64,
    /// CPU seconds over the worker's life (`RLIMIT_CPU`, all threads).
    pub cpu_seconds: u64,
    /// Open file descriptors (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Wall-clock limit for loading the model, milliseconds.
    pub load_timeout_ms: u64,
    /// Wall-clock limit for one image, milliseconds.
    pub image_timeout_ms: u64,
    /// Wall-clock limit for the whole session (load and every image),
    /// milliseconds: what one model may cost a validator per round.
    pub total_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            address_space: 4 << 30,
            cpu_seconds: 600,
            open_files: 64,
            load_timeout_ms: 60_000,
            image_timeout_ms: 10_000,
            total_ms: 300_000,
        }
    }
}

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads a valid, fully initialised struct.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs in the child between `fork` and `exec`: only async-signal-safe
/// system calls, no allocation.
pub(crate) fn pre_exec(limits: &Limits) -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    set_limit(libc::RLIMIT_AS, limits.address_space, limits.address_space)?;
    // The soft limit sends SIGXCPU (reported as "CPU limit"); the hard limit
    // one second later is SIGKILL.
    set_limit(
        libc::RLIMIT_CPU,
        limits.cpu_seconds,
        limits.cpu_seconds.saturating_add(1),
    )?;
    set_limit(libc::RLIMIT_NOFILE, limits.open_files, limits.open_files)?;
    // Writes to the filesystem are refused by seccomp at open; this caps
    // what the runtime writes to descriptors it may still make (ONNX
    // Runtime writes to an in-memory file at start-up).
    set_limit(libc::RLIMIT_FSIZE, 64 << 20, 64 << 20)?;
    set_limit(libc::RLIMIT_CORE, 0, 0)?;
    set_limit(libc::RLIMIT_MEMLOCK, 0, 0)?;
    // Best effort: a private network namespace. Root can make one directly;
    // others may through a user namespace. Seccomp covers the failure case.
    // SAFETY: unshare only changes this (single-threaded) child.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET);
        }
    }
    Ok(())
}

fn arch() -> Result<TargetArch, String> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(TargetArch::x86_64),
        "aarch64" => Ok(TargetArch::aarch64),
        "riscv64" => Ok(TargetArch::riscv64),
        other => Err(format!("no seccomp filter for architecture {other}")),
    }
}

fn masked(arg: u8, bits: u64) -> Result<SeccompRule, String> {
    let cond = SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(bits),
        bits,
    )
    .map_err(|e| e.to_string())?;
    SeccompRule::new(vec![cond]).map_err(|e| e.to_string())
}

/// System calls the worker never needs, refused outright.
#[cfg(target_arch = "x86_64")]
fn legacy_calls() -> Vec<i64> {
    vec![
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_creat,
        libc::SYS_unlink,
        libc::SYS_rename,
        libc::SYS_mkdir,
        libc::SYS_rmdir,
        libc::SYS_symlink,
        libc::SYS_link,
        libc::SYS_chmod,
        libc::SYS_chown,
        libc::SYS_lchown,
        libc::SYS_mknod,
    ]
}

#[cfg(not(target_arch = "x86_64"))]
fn legacy_calls() -> Vec<i64> {
    Vec::new()
}

fn refused_calls() -> Vec<i64> {
    let mut calls = vec![
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_connect,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_accept,
        libc::SYS_accept4,
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_unlinkat,
        libc::SYS_renameat,
        libc::SYS_renameat2,
        libc::SYS_mkdirat,
        libc::SYS_mknodat,
        libc::SYS_symlinkat,
        libc::SYS_linkat,
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_fchown,
        libc::SYS_fchownat,
        libc::SYS_truncate,
        libc::SYS_ftruncate,
        libc::SYS_fallocate,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_setuid,
        libc::SYS_setgid,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
    ];
    calls.extend(legacy_calls());
    calls
}

/// Open flags that can change a file.
const WRITE_FLAGS: [u64; 5] = [
    libc::O_WRONLY as u64,
    libc::O_RDWR as u64,
    libc::O_CREAT as u64,
    libc::O_TRUNC as u64,
    libc::O_APPEND as u64,
];

fn build_filters() -> Result<Vec<seccompiler::BpfProgram>, String> {
    let arch = arch()?;
    let mut refuse: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for call in refused_calls() {
        refuse.insert(call, Vec::new());
    }
    // A new process is a clone without CLONE_THREAD.
    let no_thread = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
        0,
    )
    .map_err(|e| e.to_string())?;
    refuse.insert(
        libc::SYS_clone,
        vec![SeccompRule::new(vec![no_thread]).map_err(|e| e.to_string())?],
    );
    // Opening for writing: any write flag set in openat's flags (arg 2).
    let open_rules: Result<Vec<_>, _> = WRITE_FLAGS.iter().map(|&f| masked(2, f)).collect();
    refuse.insert(libc::SYS_openat, open_rules?);
    #[cfg(target_arch = "x86_64")]
    {
        let open_rules: Result<Vec<_>, _> = WRITE_FLAGS.iter().map(|&f| masked(1, f)).collect();
        refuse.insert(libc::SYS_open, open_rules?);
    }
    let refuse = SeccompFilter::new(
        refuse,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    // clone3 and openat2 carry their flags in a struct the filter cannot
    // read; answering ENOSYS makes libc fall back to clone/openat, which
    // the first filter inspects.
    let mut absent: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    absent.insert(libc::SYS_clone3, Vec::new());
    absent.insert(libc::SYS_openat2, Vec::new());
    let absent = SeccompFilter::new(
        absent,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    Ok(vec![
        refuse
            .try_into()
            .map_err(|e: seccompiler::BackendError| e.to_string())?,
        absent
            .try_into()
            .map_err(|e: seccompiler::BackendError| e.to_string())?,
    ])
}

/// Installs the seccomp filters on every thread of the calling process.
/// Irreversible; also sets `no_new_privs`.
pub fn install_seccomp() -> Result<(), String> {
    for prog in build_filters()? {
        seccompiler::apply_filter_all_threads(&prog).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Tries what a hostile runtime would try and says what happened, one line
/// per attempt (`<name>: refused|ALLOWED (<detail>)`). Run inside a
/// confined worker by the sandbox self-test.
pub fn self_test() -> String {
    let mut lines = Vec::new();
    let mut note = |name: &str, refused: bool, detail: String| {
        lines.push(format!(
            "{name}: {} ({detail})",
            if refused { "refused" } else { "ALLOWED" }
        ));
    };
    match std::net::TcpStream::connect("127.0.0.1:9") {
        Ok(_) => note("tcp-connect", false, "connected".into()),
        Err(e) => note("tcp-connect", true, e.to_string()),
    }
    match std::net::UdpSocket::bind("0.0.0.0:0") {
        Ok(_) => note("udp-socket", false, "bound".into()),
        Err(e) => note("udp-socket", true, e.to_string()),
    }
    let path = std::env::temp_dir().join(format!("medmetric-sandbox-{}", std::process::id()));
    match std::fs::write(&path, b"x") {
        Ok(()) => {
            let _ = std::fs::remove_file(&path);
            note("file-write", false, path.display().to_string());
        }
        Err(e) => note("file-write", true, e.to_string()),
    }
    match std::fs::OpenOptions::new()
        .append(true)
        .open("/etc/hostname")
    {
        Ok(_) => note("file-append", false, "/etc/hostname".into()),
        Err(e) => note("file-append", true, e.to_string()),
    }
    match std::process::Command::new("/bin/true").status() {
        Ok(s) => note("spawn", false, s.to_string()),
        Err(e) => note("spawn", true, e.to_string()),
    }
    // SAFETY: fork in a test probe; the child exits at once.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: terminate the forked child without running destructors.
        unsafe { libc::_exit(0) };
    }
    if pid > 0 {
        // SAFETY: reap the child we just made.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
    note(
        "fork",
        pid < 0,
        if pid < 0 {
            std::io::Error::last_os_error().to_string()
        } else {
            format!("child {pid}")
        },
    );
    match std::thread::spawn(|| 7).join() {
        Ok(7) => lines.push("thread: allowed (runtimes need threads)".into()),
        _ => lines.push("thread: BROKEN".into()),
    }
    match std::fs::read("/proc/self/status") {
        Ok(_) => lines.push("file-read: allowed".into()),
        Err(e) => lines.push(format!("file-read: BROKEN ({e})")),
    }
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    lines.push(format!("environment: {} variables", env.len()));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_compile() {
        let progs = super::build_filters().unwrap();
        assert_eq!(progs.len(), 2);
        assert!(progs.iter().all(|p| !p.is_empty()));
    }
}
