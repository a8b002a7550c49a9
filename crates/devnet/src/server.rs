//! The devnet on `127.0.0.1` over HTTP/JSON (routes in `docs/devnet.md`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use medmetric_chain::{BlockInfo, Chain, ChainError, Rejection};
use medmetric_core::Hotkey;
use medmetric_http::{HttpError, Limits, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    AdvanceRequest, CommitWeightsRequest, CommitmentRequest, CommitmentResponse,
    CommitmentsResponse, ErrorBody, RegisterRequest, RegisterResponse, RevealWeightsRequest,
    RowsResponse, StakeRequest, StakeResponse, WaitResponse, WeightsRequest,
};
use crate::{Devnet, DevnetControl};

const JSON: &str = "application/json";

/// Limits and timing of a [`DevnetServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Produce a block every this often; `None` leaves block production to
    /// `POST /v1/advance`. Default `None`.
    pub block_interval: Option<Duration>,
    /// Largest request body accepted (bytes). Default 1 MiB.
    pub max_body_bytes: u64,
    /// Time a client has to send its whole request. Default 10 s.
    pub request_timeout: Duration,
    /// Connections served at once; more are answered 503. Default 64.
    pub max_connections: usize,
    /// Longest `GET /v1/wait` the server holds open. Default 30 s.
    pub max_wait: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            block_interval: None,
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(10),
            max_connections: 64,
            max_wait: Duration::from_secs(30),
        }
    }
}

/// A running loopback server for one [`Devnet`]. Dropping it stops the
/// server (and its block timer) and waits for them.
pub struct DevnetServer {
    addr: SocketAddr,
    devnet: Arc<Devnet>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    producer: Option<JoinHandle<()>>,
}

impl DevnetServer {
    /// Binds `127.0.0.1:port` (port 0 picks a free one) and starts serving
    /// on background threads.
    pub fn start(
        devnet: Arc<Devnet>,
        port: u16,
        options: ServerOptions,
    ) -> Result<Self, ChainError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|e| {
            ChainError::Transport(format!("cannot listen on 127.0.0.1:{port}: {e}"))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| ChainError::Transport(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let options = Arc::new(options);

        let accept = {
            let devnet = Arc::clone(&devnet);
            let stop = Arc::clone(&stop);
            let options = Arc::clone(&options);
            std::thread::Builder::new()
                .name("devnet-accept".to_string())
                .spawn(move || accept_loop(&listener, &devnet, &stop, &options))
                .map_err(|e| ChainError::Transport(format!("cannot start the server: {e}")))?
        };
        let producer = match options.block_interval {
            None => None,
            Some(interval) => {
                let devnet = Arc::clone(&devnet);
                let stop = Arc::clone(&stop);
                Some(
                    std::thread::Builder::new()
                        .name("devnet-blocks".to_string())
                        .spawn(move || produce_blocks(&devnet, &stop, interval))
                        .map_err(|e| {
                            ChainError::Transport(format!("cannot start the block timer: {e}"))
                        })?,
                )
            }
        };
        Ok(Self {
            addr,
            devnet,
            stop,
            accept: Some(accept),
            producer,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for [`crate::DevnetClient::connect`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The devnet being served.
    pub fn devnet(&self) -> &Arc<Devnet> {
        &self.devnet
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }

    /// Stops accepting, stops the block timer and waits for both.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        if let Some(producer) = self.producer.take() {
            let _ = producer.join();
        }
    }
}

impl Drop for DevnetServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn produce_blocks(devnet: &Devnet, stop: &AtomicBool, interval: Duration) {
    let interval = interval.max(Duration::from_millis(1));
    let mut next = Instant::now() + interval;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(50)));
            continue;
        }
        if let Err(e) = devnet.advance(1) {
            eprintln!("devnet: producing a block failed: {e}");
        }
        // One block per tick: after a stall, carry on from now rather than
        // bursting to catch up.
        next = (next + interval).max(Instant::now());
    }
}

struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(
    listener: &TcpListener,
    devnet: &Arc<Devnet>,
    stop: &AtomicBool,
    options: &Arc<ServerOptions>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut stream) = stream else {
            // Transient accept failures (e.g. too many open files): back off.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if active.fetch_add(1, Ordering::SeqCst) >= options.max_connections {
            active.fetch_sub(1, Ordering::SeqCst);
            let body = error_body("busy", "too many connections; retry shortly", None);
            let deadline = Instant::now() + Duration::from_millis(500);
            let _ = medmetric_http::write_response(&mut stream, 503, JSON, &body, deadline);
            continue;
        }
        let guard = ActiveGuard(Arc::clone(&active));
        let devnet = Arc::clone(devnet);
        let options = Arc::clone(options);
        let spawned = std::thread::Builder::new()
            .name("devnet-conn".to_string())
            .spawn(move || {
                let _guard = guard;
                serve_connection(stream, &devnet, &options);
            });
        if spawned.is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve_connection(mut stream: TcpStream, devnet: &Devnet, options: &ServerOptions) {
    let deadline = Instant::now() + options.request_timeout;
    let limits = Limits::with_max_body(options.max_body_bytes);
    let (status, body) = match medmetric_http::read_request(&mut stream, &limits, deadline) {
        Ok(request) => route(devnet, options, &request),
        Err(e) => match e.status() {
            Some(status) => (
                status,
                error_body(read_error_kind(&e), &e.to_string(), None),
            ),
            // Nobody is left to read an answer.
            None => return,
        },
    };
    // The answer gets its own time: a long `GET /v1/wait` has used the
    // request's.
    let deadline = Instant::now() + options.request_timeout;
    if medmetric_http::write_response(&mut stream, status, JSON, &body, deadline).is_ok() {
        medmetric_http::linger(&mut stream);
    }
}

fn read_error_kind(e: &HttpError) -> &'static str {
    match e {
        HttpError::Timeout => "timeout",
        HttpError::HeadTooLarge { .. } | HttpError::BodyTooLarge { .. } => "too_large",
        _ => "bad_request",
    }
}

fn error_body(kind: &str, message: &str, rejection: Option<Rejection>) -> Vec<u8> {
    let body = ErrorBody {
        error: kind.to_string(),
        message: message.to_string(),
        rejection,
    };
    serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec())
}

type Reply = (u16, Vec<u8>);

fn ok(value: &impl Serialize) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => (200, body),
        Err(e) => (500, error_body("internal", &e.to_string(), None)),
    }
}

fn chain_error(e: ChainError) -> Reply {
    match e {
        ChainError::Rejected(r) => (422, error_body("rejected", &r.to_string(), Some(r))),
        ChainError::Storage(m) => (500, error_body("storage", &m, None)),
        other => (500, error_body("internal", &other.to_string(), None)),
    }
}

fn answer<T: Serialize>(result: Result<T, ChainError>) -> Reply {
    match result {
        Ok(v) => ok(&v),
        Err(e) => chain_error(e),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| {
        (
            400,
            error_body("bad_request", &format!("invalid JSON body: {e}"), None),
        )
    })
}

fn query_u64(req: &Request, key: &str) -> Result<Option<u64>, Reply> {
    req.query_param(key)
        .map(|v| {
            v.parse().map_err(|_| {
                (
                    400,
                    error_body("bad_request", &format!("`{key}` must be a number"), None),
                )
            })
        })
        .transpose()
}

fn route(devnet: &Devnet, options: &ServerOptions, req: &Request) -> Reply {
    match route_inner(devnet, options, req) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn route_inner(devnet: &Devnet, options: &ServerOptions, req: &Request) -> Result<Reply, Reply> {
    let segments: Vec<&str> = req.path().trim_end_matches('/').split('/').collect();
    let method = req.method.as_str();
    let reply = match (method, segments.as_slice()) {
        ("GET", ["", "v1", "status"]) => answer(devnet.status()),
        ("GET", ["", "v1", "block"]) => answer(devnet.block()),
        ("GET", ["", "v1", "block", n]) => {
            let number: u64 = n.parse().map_err(|_| {
                (
                    400,
                    error_body("bad_request", "block number must be a number", None),
                )
            })?;
            answer(devnet.block_hash(number).map(|hash| BlockInfo {
                number: medmetric_core::Block(number),
                hash,
            }))
        }
        ("GET", ["", "v1", "wait"]) => {
            let block = query_u64(req, "block")?
                .ok_or_else(|| (400, error_body("bad_request", "`block` is required", None)))?;
            let wait = query_u64(req, "timeout_ms")?
                .map_or(options.max_wait, Duration::from_millis)
                .min(options.max_wait);
            match devnet.wait_for_block(block, wait) {
                Ok(head) => ok(&WaitResponse {
                    reached: true,
                    head,
                }),
                Err(ChainError::Timeout { .. }) => {
                    answer(devnet.block().map(|head| WaitResponse {
                        reached: false,
                        head,
                    }))
                }
                Err(e) => chain_error(e),
            }
        }
        ("GET", ["", "v1", "hyperparameters"]) => answer(devnet.hyperparameters()),
        ("POST", ["", "v1", "hyperparameters"]) => {
            let changes: serde_json::Value = parse(&req.body)?;
            answer(devnet.set_hyperparameters(&changes))
        }
        ("GET", ["", "v1", "metagraph"]) => answer(devnet.metagraph()),
        ("GET", ["", "v1", "weights"]) => {
            answer(devnet.weights().map(|rows| RowsResponse { rows }))
        }
        ("GET", ["", "v1", "bonds"]) => answer(devnet.bonds().map(|rows| RowsResponse { rows })),
        ("GET", ["", "v1", "commitments"]) => answer(
            devnet
                .commitments()
                .map(|commitments| CommitmentsResponse { commitments }),
        ),
        ("GET", ["", "v1", "commitments", hotkey]) => answer(
            devnet
                .commitment(&Hotkey((*hotkey).to_string()))
                .map(|commitment| CommitmentResponse { commitment }),
        ),
        ("POST", ["", "v1", "commitments"]) => {
            let r: CommitmentRequest = parse(&req.body)?;
            answer(devnet.set_commitment(&r.hotkey, &r.fields))
        }
        ("POST", ["", "v1", "register"]) => {
            let r: RegisterRequest = parse(&req.body)?;
            answer(
                devnet
                    .burned_register(&r.hotkey, &r.coldkey)
                    .map(|uid| RegisterResponse { uid }),
            )
        }
        ("POST", ["", "v1", "stake"]) => {
            let r: StakeRequest = parse(&req.body)?;
            answer(
                devnet
                    .add_stake(&r.coldkey, &r.hotkey, r.amount)
                    .map(|stake| StakeResponse { stake }),
            )
        }
        ("POST", ["", "v1", "weights"]) => {
            let r: WeightsRequest = parse(&req.body)?;
            answer(devnet.set_weights(&r.hotkey, &r.uids, &r.values, r.version_key))
        }
        ("POST", ["", "v1", "weights", "commit"]) => {
            let r: CommitWeightsRequest = parse(&req.body)?;
            answer(devnet.commit_weights(&r.hotkey, r.hash))
        }
        ("POST", ["", "v1", "weights", "reveal"]) => {
            let r: RevealWeightsRequest = parse(&req.body)?;
            answer(devnet.reveal_weights(&r.hotkey, &r.uids, &r.values, &r.salt, r.version_key))
        }
        ("POST", ["", "v1", "advance"]) => {
            let r: AdvanceRequest = parse(&req.body)?;
            answer(devnet.advance(r.blocks))
        }
        (_, path) if known_path(path) => (
            405,
            error_body(
                "method_not_allowed",
                &format!("{method} is not allowed on {}", req.path()),
                None,
            ),
        ),
        _ => (
            404,
            error_body("not_found", &format!("no route {}", req.path()), None),
        ),
    };
    Ok(reply)
}

fn known_path(path: &[&str]) -> bool {
    matches!(
        path,
        [
            "",
            "v1",
            "status" | "block" | "wait" | "hyperparameters" | "metagraph"
        ] | [
            "",
            "v1",
            "weights" | "bonds" | "commitments" | "register" | "stake" | "advance"
        ] | ["", "v1", "block" | "commitments", _]
            | ["", "v1", "weights", "commit" | "reveal"]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> Request {
        Request {
            method: "GET".into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn query_parsing() {
        let req = get("/v1/wait?block=5&timeout_ms=10");
        assert_eq!(query_u64(&req, "block").unwrap(), Some(5));
        assert_eq!(query_u64(&req, "timeout_ms").unwrap(), Some(10));
        assert_eq!(query_u64(&get("/v1/wait"), "block").unwrap(), None);
        assert!(query_u64(&get("/v1/wait?block=x"), "block").is_err());
    }
}
