//! The client side: one request per connection, the whole exchange under
//! one deadline.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::message::read_response_from;
use crate::wire::write_all;
use crate::{HttpError, Limits, Response};

/// Where requests go: a host and port from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    authority: String,
}

impl Endpoint {
    /// Parses `http://HOST:PORT` (a trailing `/` is allowed) or, when
    /// `allow_bare`, `HOST:PORT`. No user info, path, query or fragment;
    /// the port is required; IPv6 literals go in brackets.
    pub fn parse(url: &str, allow_bare: bool) -> Result<Self, HttpError> {
        let bad = |why: &str| HttpError::BadUrl(format!("{why}, got {url:?}"));
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(HttpError::BadUrl(format!(
                    "unsupported scheme {scheme:?} in {url:?}: only http://HOST:PORT"
                )));
            }
            None if allow_bare => url,
            None => return Err(bad("expected http://HOST:PORT")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| bad("expected http://HOST:PORT (with a port)"))?;
        let host_ok = if let Some(inner) = host.strip_prefix('[') {
            inner
                .strip_suffix(']')
                .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok())
        } else {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        if !host_ok {
            return Err(bad("bad host"));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 && !port.starts_with('0') => {}
            _ => return Err(bad("bad port")),
        }
        Ok(Endpoint {
            authority: authority.to_string(),
        })
    }

    /// `host:port` as configured (also the `Host` header).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// The addresses the host resolves to. A name goes through the system
    /// resolver, which no deadline covers: configure addresses where that
    /// matters.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, HttpError> {
        let connect = |reason: String| HttpError::Connect {
            authority: self.authority.clone(),
            reason,
        };
        let addrs: Vec<SocketAddr> = self
            .authority
            .to_socket_addrs()
            .map_err(|e| connect(format!("cannot resolve: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(connect("resolves to no address".into()));
        }
        Ok(addrs)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}", self.authority)
    }
}

/// A request to send.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRequest<'a> {
    /// The method, an HTTP token (`GET`, `POST`).
    pub method: &'a str,
    /// The target: a path starting with `/`, with an optional query.
    pub target: &'a str,
    /// Extra headers (`Host`, `User-Agent`, `Connection` and
    /// `Content-Length` are written by [`write_request`]).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body, in parts sent one after another (so a large payload
    /// need not be copied to be framed).
    pub body: &'a [&'a [u8]],
}

impl<'a> OutgoingRequest<'a> {
    /// `GET target` without extra headers.
    pub fn get(target: &'a str) -> Self {
        Self {
            method: "GET",
            target,
            headers: &[],
            body: &[],
        }
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(crate) fn check_header_value(name: &str, value: &str) -> Result<(), HttpError> {
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(HttpError::Invalid(format!(
            "header {name} holds a control character"
        )));
    }
    Ok(())
}

/// The request's bytes up to the body.
pub(crate) fn request_head(host: &str, request: &OutgoingRequest<'_>) -> Result<String, HttpError> {
    if !is_token(request.method) {
        return Err(HttpError::Invalid(format!("method {:?}", request.method)));
    }
    if !request.target.starts_with('/')
        || request
            .target
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || !b.is_ascii())
    {
        return Err(HttpError::Invalid(format!("target {:?}", request.target)));
    }
    check_header_value("Host", host)?;
    let length: usize = request.body.iter().map(|b| b.len()).sum();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: medmetric\r\nConnection: close\r\n",
        request.method, request.target
    );
    for (name, value) in request.headers {
        if !is_token(name) {
            return Err(HttpError::Invalid(format!("header name {name:?}")));
        }
        check_header_value(name, value)?;
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if request.method != "GET" || length > 0 {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("\r\n");
    Ok(head)
}

/// Connects to the first of `endpoint`'s addresses that answers before
/// `deadline`.
pub fn connect(endpoint: &Endpoint, deadline: Instant) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for addr in endpoint.resolve()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HttpError::Timeout);
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => {
                // Requests are written in one go; waiting to coalesce them
                // only adds latency.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) if e.kind() == io::ErrorKind::TimedOut && Instant::now() >= deadline => {
            Err(HttpError::Timeout)
        }
        Some(e) => Err(HttpError::Connect {
            authority: endpoint.authority.clone(),
            reason: e.to_string(),
        }),
        None => Err(HttpError::Connect {
            authority: endpoint.authority.clone(),
            reason: "no address".into(),
        }),
    }
}

/// Writes `request` (with `Host: host`) before `deadline`.
pub fn write_request(
    stream: &mut TcpStream,
    host: &str,
    request: &OutgoingRequest<'_>,
    deadline: Instant,
) -> Result<(), HttpError> {
    let head = request_head(host, request)?;
    write_all(stream, head.as_bytes(), deadline)?;
    for part in request.body {
        write_all(stream, part, deadline)?;
    }
    Ok(())
}

/// Reads one response before `deadline` and within `limits`: interim
/// (1xx) answers are skipped; the body is framed by `Content-Length`,
/// `chunked`, or runs to the end of the connection. `head_request` says the
/// request was `HEAD`, whose answer has no body whatever it announces.
pub fn read_response(
    stream: &mut TcpStream,
    limits: &Limits,
    deadline: Instant,
    head_request: bool,
) -> Result<Response, HttpError> {
    read_response_from(stream, limits, deadline, head_request)
}

/// Connects to `endpoint`, sends `request` and reads the response, all
/// before `timeout` has passed.
pub fn exchange(
    endpoint: &Endpoint,
    request: &OutgoingRequest<'_>,
    limits: &Limits,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let deadline = Instant::now() + timeout.max(Duration::from_millis(1));
    let mut stream = connect(endpoint, deadline)?;
    write_request(&mut stream, &endpoint.authority, request, deadline)?;
    read_response(
        &mut stream,
        limits,
        deadline,
        request.method.eq_ignore_ascii_case("HEAD"),
    )
}
