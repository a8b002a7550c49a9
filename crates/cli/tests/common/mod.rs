//! Shared by the integration tests: a `medmetric devnet serve` process.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};

/// The `medmetric` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_medmetric");

/// A devnet server process on a free loopback port, killed and reaped when
/// dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts `medmetric devnet serve --port 0` with `extra` arguments.
    pub fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["devnet", "serve", "--port", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = child.wait();
            panic!("no address line: {line:?}; stderr: {err}");
        };
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Server {
            url: format!("http://{addr}"),
            child,
            _stdout: stdout,
        }
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
