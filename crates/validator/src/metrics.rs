//! Prometheus metrics: a few counters and a plain-text `/metrics` endpoint
//! on a loopback (or configured) address, served by one thread with
//! deadlines, so a slow scraper cannot stall the validator.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use medmetric_http::Limits;

/// The validator's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Rounds recorded.
    pub rounds: AtomicUsize,
    /// Models evaluated.
    pub evaluations: AtomicUsize,
    /// Evaluations that failed (model's fault).
    pub eval_failures: AtomicUsize,
    /// Artifacts that could not be fetched or verified.
    pub fetch_failures: AtomicUsize,
    /// Weight submissions accepted.
    pub weights_set: AtomicUsize,
    /// Weight submissions refused or failed.
    pub weight_failures: AtomicUsize,
    /// Anchor block of the latest round.
    pub last_anchor: AtomicUsize,
    /// Latest chain head seen.
    pub head_block: AtomicUsize,
    /// Rounds abandoned because the validator itself could not evaluate
    /// (runtime library or worker missing, sandbox failing): retried, and
    /// no miner's score changed.
    pub validator_faults: AtomicUsize,
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicUsize); 9] = [
            (
                "medmetric_rounds_total",
                "counter",
                "Rounds recorded.",
                &self.rounds,
            ),
            (
                "medmetric_evaluations_total",
                "counter",
                "Models evaluated.",
                &self.evaluations,
            ),
            (
                "medmetric_evaluation_failures_total",
                "counter",
                "Evaluations the model failed.",
                &self.eval_failures,
            ),
            (
                "medmetric_artifact_failures_total",
                "counter",
                "Artifacts that could not be fetched or verified.",
                &self.fetch_failures,
            ),
            (
                "medmetric_validator_faults_total",
                "counter",
                "Rounds not recorded because the validator could not evaluate (retried).",
                &self.validator_faults,
            ),
            (
                "medmetric_weights_set_total",
                "counter",
                "Weight submissions accepted.",
                &self.weights_set,
            ),
            (
                "medmetric_weights_failures_total",
                "counter",
                "Weight submissions refused or failed.",
                &self.weight_failures,
            ),
            (
                "medmetric_last_round_anchor",
                "gauge",
                "Anchor block of the latest round.",
                &self.last_anchor,
            ),
            (
                "medmetric_chain_head",
                "gauge",
                "Latest chain head seen.",
                &self.head_block,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, v) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// One scrape. A single thread serves them all, so each exchange has two
/// seconds to read the request and two to write the answer.
fn answer(mut stream: TcpStream, metrics: &Metrics) {
    let limits = Limits {
        max_head_bytes: 8 * 1024,
        max_body_bytes: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    let (status, body) = match medmetric_http::read_request(&mut stream, &limits, deadline) {
        Ok(req) if req.method == "GET" && matches!(req.path(), "/metrics" | "/") => {
            (200, metrics.render())
        }
        Ok(_) => (404, "not found\n".to_string()),
        Err(e) => match e.status() {
            Some(status) => (status, format!("{e}\n")),
            None => return,
        },
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    let content_type = "text/plain; version=0.0.4";
    let body = body.as_bytes();
    let _ = medmetric_http::write_response(&mut stream, status, content_type, body, deadline);
}

/// Serves `/metrics` on `addr` from a background thread; returns the bound
/// address (useful with port 0).
pub fn serve(addr: &str, metrics: Arc<Metrics>) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, &metrics);
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn serves_the_counters() {
        let m = Arc::new(Metrics::default());
        m.rounds.fetch_add(3, Ordering::Relaxed);
        let addr = serve("127.0.0.1:0", m).unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200"));
        assert!(text.contains("medmetric_rounds_total 3\n"));
    }
}
