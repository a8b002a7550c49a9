//! IPFS over HTTP: publishing through Kubo's RPC API and fetching through
//! gateways.
//!
//! Both talk plain HTTP/1.1 over `std::net` with a deadline on every
//! exchange and caps on every body. Hosts come from configuration only; a
//! fetch takes a parsed [`Cid`] and builds the path `/ipfs/<cid>` itself,
//! so nothing read from the chain can choose where a request goes.

use std::fmt;
use std::time::Duration;

use medmetric_core::ModelDigest;
use medmetric_http::{Endpoint, HttpError, Limits, OutgoingRequest};
use sha2::{Digest, Sha256};

use crate::cid::{self, Cid, Version};

/// Default per-gateway time limit for one fetch.
pub const DEFAULT_GATEWAY_TIMEOUT: Duration = Duration::from_secs(120);
/// Default time limit for one `add` through the RPC API.
const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest answer read from `/api/v0/add` (a few JSON lines).
const MAX_RPC_RESPONSE: u64 = 1 << 20;

/// Why talking to the IPFS node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpfsError {
    /// A configured address that is not `http://HOST:PORT`, `HOST:PORT` or
    /// a `/ip4|ip6|dns/…/tcp/PORT` multiaddr.
    #[error("bad IPFS address: {0}")]
    BadAddress(String),
    /// The node could not be reached or the exchange broke off.
    #[error("IPFS RPC {0}")]
    Transport(String),
    /// The node answered with an error.
    #[error("IPFS RPC answered HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Kubo's message.
        message: String,
    },
    /// The answer was not what Kubo sends.
    #[error("unexpected IPFS RPC answer: {0}")]
    Protocol(String),
    /// The node computed another CID than we did (its import settings
    /// differ from Kubo's defaults): the commitment would point nowhere.
    #[error("the IPFS node stored the artifact as {got}, but its CID is {expected}")]
    CidMismatch {
        /// Our CIDv0.
        expected: Cid,
        /// The node's.
        got: String,
    },
}

/// A Kubo node's RPC API (`ipfs daemon`, port 5001 by default).
#[derive(Debug, Clone)]
pub struct KuboRpc {
    endpoint: Endpoint,
    timeout: Duration,
}

impl KuboRpc {
    /// An RPC client for `api_addr`: `http://HOST:PORT`, `HOST:PORT`, or
    /// the multiaddr form Kubo prints (`/ip4/127.0.0.1/tcp/5001`). Nothing
    /// is sent until [`KuboRpc::add`].
    pub fn new(api_addr: &str) -> Result<Self, IpfsError> {
        let addr = api_addr.trim();
        let url = if addr.starts_with('/') {
            multiaddr_authority(addr).ok_or_else(|| {
                IpfsError::BadAddress(format!(
                    "{addr:?}: expected /ip4/ADDR/tcp/PORT, /ip6/ADDR/tcp/PORT or /dns/HOST/tcp/PORT"
                ))
            })?
        } else {
            addr.to_string()
        };
        let endpoint =
            Endpoint::parse(&url, true).map_err(|e| IpfsError::BadAddress(e.to_string()))?;
        Ok(Self {
            endpoint,
            timeout: DEFAULT_RPC_TIMEOUT,
        })
    }

    /// The same client with another time limit per call (default 300 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds `bytes` as one file (`POST /api/v0/add`, CIDv0 with Kubo's
    /// default chunker and layout spelled out, so a node configured
    /// otherwise still imports the same DAG), pinned when `pin`. Returns
    /// the CID after checking it equals the one computed locally.
    pub fn add(&self, bytes: &[u8], pin: bool) -> Result<Cid, IpfsError> {
        let expected = Cid::of(bytes, Version::V0);
        let boundary = boundary_for(bytes);
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"artifact\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let path = format!(
            "/api/v0/add?pin={pin}&cid-version=0&raw-leaves=false&chunker=size-{}&hash=sha2-256",
            cid::CHUNK_SIZE
        );
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let request = OutgoingRequest {
            method: "POST",
            target: &path,
            headers: &[("Content-Type", &content_type)],
            body: &[head.as_bytes(), bytes, tail.as_bytes()],
        };
        let limits = Limits::with_max_body(MAX_RPC_RESPONSE);
        let response = medmetric_http::exchange(&self.endpoint, &request, &limits, self.timeout)
            .map_err(|e| IpfsError::Transport(format!("{}/api/v0/add: {e}", self.endpoint)))?;
        if response.status != 200 {
            let message = serde_json::from_slice::<serde_json::Value>(&response.body)
                .ok()
                .and_then(|v| {
                    v.get("Message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| one_line(&response.body));
            return Err(IpfsError::Status {
                status: response.status,
                message,
            });
        }
        if let Some(err) = response.header("X-Stream-Error").filter(|e| !e.is_empty()) {
            return Err(IpfsError::Protocol(format!(
                "the node reported {:?}",
                truncate(err, 200)
            )));
        }
        let mut hash = None;
        for value in serde_json::Deserializer::from_slice(&response.body).into_iter() {
            let value: serde_json::Value =
                value.map_err(|e| IpfsError::Protocol(format!("bad JSON: {e}")))?;
            if let Some(h) = value.get("Hash").and_then(|h| h.as_str()) {
                hash = Some(h.to_string());
            }
        }
        let hash = hash.ok_or_else(|| IpfsError::Protocol("no \"Hash\" in the answer".into()))?;
        match cid::parse(&hash) {
            Ok(got) if got == expected => Ok(got),
            _ => Err(IpfsError::CidMismatch {
                expected,
                got: truncate(&hash, 100).to_string(),
            }),
        }
    }
}

/// `HOST:PORT` (or `http://…`) of a TCP multiaddr.
fn multiaddr_authority(addr: &str) -> Option<String> {
    let parts: Vec<&str> = addr.split('/').collect();
    match parts.as_slice() {
        ["", "ip4" | "dns" | "dns4" | "dns6", host, "tcp", port] => Some(format!("{host}:{port}")),
        ["", "ip6", host, "tcp", port] => Some(format!("[{host}]:{port}")),
        _ => None,
    }
}

/// A multipart boundary that does not occur in `bytes`.
fn boundary_for(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut n = 0u32;
    loop {
        let candidate = format!(
            "medmetric-{}-{n}",
            hex::encode(digest.get(..12).unwrap_or_default())
        );
        let needle = format!("--{candidate}");
        if !contains(bytes, needle.as_bytes()) {
            return candidate;
        }
        n += 1;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    haystack
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == first)
        .any(|(i, _)| {
            haystack
                .get(i + 1..i + 1 + rest.len())
                .is_some_and(|w| w == rest)
        })
}

fn one_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body.get(..body.len().min(200)).unwrap_or_default())
        .replace(['\r', '\n'], " ");
    text.trim().to_string()
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// IPFS HTTP gateways to fetch artifacts from, tried in order.
#[derive(Debug, Clone)]
pub struct Gateway {
    endpoints: Vec<Endpoint>,
}

/// Why one gateway did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// No TCP connection.
    Connect(String),
    /// The time limit passed (connecting, sending or receiving).
    Timeout,
    /// Not `200 OK` (redirects are not followed).
    Status(u16),
    /// The body would exceed the byte cap.
    TooLarge {
        /// The cap.
        max: u64,
    },
    /// The bytes arrived but their SHA-256 is not the committed one.
    HashMismatch {
        /// What the served bytes hash to.
        actual: ModelDigest,
    },
    /// The answer was not HTTP as expected.
    Protocol(String),
    /// The connection failed mid-way.
    Io(String),
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Connect(m) => write!(f, "{m}"),
            AttemptError::Timeout => f.write_str("timed out"),
            AttemptError::Status(s) => write!(f, "HTTP {s}"),
            AttemptError::TooLarge { max } => write!(f, "more than {max} bytes"),
            AttemptError::HashMismatch { actual } => {
                write!(f, "served bytes with SHA-256 {actual}")
            }
            AttemptError::Protocol(m) => write!(f, "{m}"),
            AttemptError::Io(m) => write!(f, "{m}"),
        }
    }
}

/// One gateway's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The gateway, `host:port`.
    pub gateway: String,
    /// What went wrong.
    pub error: AttemptError,
}

/// Every configured gateway failed to deliver the artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot fetch {cid} (SHA-256 {sha256}): {}", summary(.attempts))]
pub struct FetchError {
    /// The CID asked for.
    pub cid: Cid,
    /// The SHA-256 required.
    pub sha256: ModelDigest,
    /// One entry per gateway, in order.
    pub attempts: Vec<Attempt>,
}

fn summary(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(|a| format!("{}: {}", a.gateway, a.error))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Gateway {
    /// Gateways at `base_urls`, each `http://HOST:PORT` (no path: requests
    /// go to `/ipfs/<cid>`). At least one is required.
    pub fn new<S: AsRef<str>>(base_urls: &[S]) -> Result<Self, IpfsError> {
        if base_urls.is_empty() {
            return Err(IpfsError::BadAddress("no gateway configured".into()));
        }
        let endpoints = base_urls
            .iter()
            .map(|u| Endpoint::parse(u.as_ref().trim(), false))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IpfsError::BadAddress(e.to_string()))?;
        Ok(Self { endpoints })
    }

    /// The gateways, as `http://host:port`.
    pub fn urls(&self) -> Vec<String> {
        self.endpoints.iter().map(Endpoint::url).collect()
    }

    /// Fetches the file named by `cid` (`GET /ipfs/<cid>`), trying each
    /// gateway in turn with `timeout` for the whole exchange and at most
    /// `max_bytes` of body, and returns the first body whose SHA-256 is
    /// `expected_sha256`.
    pub fn fetch(
        &self,
        cid: &Cid,
        expected_sha256: &ModelDigest,
        max_bytes: u64,
        timeout: Duration,
    ) -> Result<Vec<u8>, FetchError> {
        let path = format!("/ipfs/{cid}");
        let request = OutgoingRequest {
            method: "GET",
            target: &path,
            headers: &[("Accept", "*/*"), ("Accept-Encoding", "identity")],
            body: &[],
        };
        let limits = Limits::with_max_body(max_bytes);
        let mut attempts = Vec::new();
        for endpoint in &self.endpoints {
            let error = match medmetric_http::exchange(endpoint, &request, &limits, timeout) {
                Err(e) => match e {
                    HttpError::Connect { .. } | HttpError::BadUrl(_) => {
                        AttemptError::Connect(e.to_string())
                    }
                    HttpError::Timeout => AttemptError::Timeout,
                    HttpError::BodyTooLarge { max } => AttemptError::TooLarge { max },
                    HttpError::UnexpectedEof(_) | HttpError::Io(_) => {
                        AttemptError::Io(e.to_string())
                    }
                    HttpError::Invalid(_)
                    | HttpError::HeadTooLarge { .. }
                    | HttpError::MalformedHead(_)
                    | HttpError::BadFraming(_) => AttemptError::Protocol(e.to_string()),
                },
                Ok(r) if r.status != 200 => AttemptError::Status(r.status),
                Ok(r)
                    if r.header("Content-Encoding")
                        .is_some_and(|v| !v.eq_ignore_ascii_case("identity")) =>
                {
                    AttemptError::Protocol("compressed body although identity was asked".into())
                }
                Ok(r) => {
                    let actual = ModelDigest::of(&r.body);
                    if actual == *expected_sha256 {
                        return Ok(r.body);
                    }
                    AttemptError::HashMismatch { actual }
                }
            };
            attempts.push(Attempt {
                gateway: endpoint.authority().to_string(),
                error,
            });
        }
        Err(FetchError {
            cid: *cid,
            sha256: *expected_sha256,
            attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_addresses() {
        assert!(KuboRpc::new("/ip4/127.0.0.1/tcp/5001").is_ok());
        assert!(KuboRpc::new("/ip6/::1/tcp/5001").is_ok());
        assert!(KuboRpc::new("/dns/localhost/tcp/5001").is_ok());
        assert!(KuboRpc::new("http://127.0.0.1:5001").is_ok());
        assert!(KuboRpc::new("127.0.0.1:5001").is_ok());
        assert!(KuboRpc::new("/ip4/127.0.0.1/udp/5001").is_err());
        assert!(KuboRpc::new("https://127.0.0.1:5001").is_err());
        assert!(Gateway::new::<&str>(&[]).is_err());
        assert!(Gateway::new(&["127.0.0.1:8080"]).is_err());
    }

    #[test]
    fn boundary_avoids_the_payload() {
        let b = boundary_for(b"abc");
        assert!(b.starts_with("medmetric-") && b.len() < 70);
        assert!(contains(
            format!("x--{b}y").as_bytes(),
            format!("--{b}").as_bytes()
        ));
        assert!(contains(b"hello", b"ll"));
        assert!(!contains(b"hello", b"lo!"));
    }
}
