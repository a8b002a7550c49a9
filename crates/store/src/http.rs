//! Just enough of an HTTP/1.1 client for Kubo's RPC API and IPFS gateways:
//! one request per connection, every read and write under one deadline,
//! response heads and bodies under caps, `Content-Length`, chunked and
//! read-to-close bodies. Parsing is `httparse`'s; sockets, limits and
//! timeouts are ours.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest response head (status line and headers).
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest trailer section of a chunked body.
const MAX_TRAILER_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
const IO_CHUNK: usize = 64 * 1024;

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// No connection could be made.
    Connect(String),
    /// The deadline passed.
    Timeout,
    /// The body is longer than the cap.
    TooLarge(u64),
    /// Not HTTP as this module speaks it.
    Malformed(String),
    /// The socket failed or closed early.
    Io(io::Error),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Connect(m) => write!(f, "cannot connect: {m}"),
            HttpError::Timeout => f.write_str("timed out"),
            HttpError::TooLarge(max) => write!(f, "body exceeds {max} bytes"),
            HttpError::Malformed(m) => f.write_str(m),
            HttpError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Where to send requests: a host and port from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `host:port` as written (also the `Host` header).
    pub authority: String,
}

impl Endpoint {
    /// Parses `http://HOST:PORT` (a trailing `/` is allowed) or, when
    /// `allow_bare`, `HOST:PORT`. No user info, path, query or fragment; the
    /// port is required. IPv6 literals go in brackets.
    pub fn parse(url: &str, allow_bare: bool) -> Result<Self, String> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "unsupported scheme {scheme:?} in {url:?}: only http://HOST:PORT"
                ));
            }
            None if allow_bare => url,
            None => return Err(format!("expected http://HOST:PORT, got {url:?}")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| format!("expected http://HOST:PORT (with a port), got {url:?}"))?;
        let host_ok = if let Some(inner) = host.strip_prefix('[') {
            inner
                .strip_suffix(']')
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        } else {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        if !host_ok {
            return Err(format!("bad host in {url:?}"));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 && !port.starts_with('0') => {}
            _ => return Err(format!("bad port in {url:?}")),
        }
        Ok(Endpoint {
            authority: authority.to_string(),
        })
    }

    /// Resolves the host (a name goes through the system resolver, which
    /// the deadline does not cover: configure gateways by address where
    /// that matters).
    fn addrs(&self) -> Result<Vec<SocketAddr>, HttpError> {
        let addrs: Vec<SocketAddr> = self
            .authority
            .to_socket_addrs()
            .map_err(|e| HttpError::Connect(format!("cannot resolve {}: {e}", self.authority)))?
            .collect();
        if addrs.is_empty() {
            return Err(HttpError::Connect(format!(
                "{} resolves to no address",
                self.authority
            )));
        }
        Ok(addrs)
    }
}

/// A response: status, headers (trailers of a chunked body appended) and
/// body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request: `head_fields` are extra header lines (`Name: value`
/// without CRLF); `body` parts are sent one after another with a
/// `Content-Length` of their total.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub head_fields: &'a [String],
    pub body: &'a [&'a [u8]],
}

/// Sends `request` to `endpoint` and reads the response, all before
/// `timeout` has passed, the body at most `max_body` bytes.
pub(crate) fn exchange(
    endpoint: &Endpoint,
    request: &Request<'_>,
    max_body: u64,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let deadline = Instant::now() + timeout.max(Duration::from_millis(1));
    let mut stream = connect(endpoint, deadline)?;
    let _ = stream.set_nodelay(true);
    let length: usize = request.body.iter().map(|b| b.len()).sum();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: medmetric-store\r\nConnection: close\r\n",
        request.method, request.path, endpoint.authority
    );
    for field in request.head_fields {
        head.push_str(field);
        head.push_str("\r\n");
    }
    if request.method != "GET" || length > 0 {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("\r\n");
    write_all(&mut stream, head.as_bytes(), deadline)?;
    for part in request.body {
        write_all(&mut stream, part, deadline)?;
    }
    let _ = stream.flush();
    read_response(&mut stream, max_body, deadline)
}

fn connect(endpoint: &Endpoint, deadline: Instant) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for addr in endpoint.addrs()? {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(HttpError::Timeout);
        }
        match TcpStream::connect_timeout(&addr, remaining) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => last = Some("timed out".to_string()),
            Err(e) => last = Some(e.to_string()),
        }
    }
    match last.as_deref() {
        Some("timed out") if Instant::now() >= deadline => Err(HttpError::Timeout),
        Some(m) => Err(HttpError::Connect(format!("{}: {m}", endpoint.authority))),
        None => Err(HttpError::Connect(endpoint.authority.clone())),
    }
}

fn write_all(stream: &mut TcpStream, mut data: &[u8], deadline: Instant) -> Result<(), HttpError> {
    while !data.is_empty() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(HttpError::Timeout);
        }
        stream
            .set_write_timeout(Some(remaining.max(Duration::from_millis(1))))
            .map_err(HttpError::Io)?;
        let piece = data.get(..IO_CHUNK.min(data.len())).unwrap_or_default();
        match stream.write(piece) {
            Ok(0) => {
                return Err(HttpError::Io(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "connection closed while sending",
                )));
            }
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HttpError::Timeout);
            }
            Err(e) => return Err(HttpError::Io(e)),
        }
    }
    Ok(())
}

/// A socket with a read buffer and a deadline.
struct Conn<'a> {
    stream: &'a mut TcpStream,
    buf: Vec<u8>,
    pos: usize,
    deadline: Instant,
}

impl Conn<'_> {
    fn available(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> Result<usize, HttpError> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > IO_CHUNK {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; IO_CHUNK];
        loop {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(HttpError::Timeout);
            }
            self.stream
                .set_read_timeout(Some(remaining.max(Duration::from_millis(1))))
                .map_err(HttpError::Io)?;
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf
                        .extend_from_slice(chunk.get(..n).unwrap_or_default());
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(HttpError::Timeout);
                }
                Err(e) => return Err(HttpError::Io(e)),
            }
        }
    }

    fn fill_or_eof(&mut self, what: &str) -> Result<(), HttpError> {
        if self.fill()? == 0 {
            return Err(HttpError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed before the {what} ended"),
            )));
        }
        Ok(())
    }

    /// Appends exactly `n` bytes to `out`.
    fn read_exact_into(&mut self, mut n: u64, out: &mut Vec<u8>) -> Result<(), HttpError> {
        while n > 0 {
            if self.available().is_empty() {
                self.fill_or_eof("body")?;
            }
            let take = usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(self.available().len());
            out.extend_from_slice(self.available().get(..take).unwrap_or_default());
            self.consume(take);
            n -= take as u64;
        }
        Ok(())
    }

    /// Reads a CRLF-terminated line of at most `max` bytes (without CRLF).
    fn read_line(&mut self, max: usize) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(i) = self.available().windows(2).position(|w| w == b"\r\n") {
                let line = self.available().get(..i).unwrap_or_default().to_vec();
                self.consume(i + 2);
                return Ok(line);
            }
            if self.available().len() > max.saturating_add(2) {
                return Err(HttpError::Malformed(format!(
                    "a line in the body exceeds {max} bytes"
                )));
            }
            self.fill_or_eof("chunked body")?;
        }
    }
}

fn read_response(
    stream: &mut TcpStream,
    max_body: u64,
    deadline: Instant,
) -> Result<Response, HttpError> {
    let mut conn = Conn {
        stream,
        buf: Vec::with_capacity(IO_CHUNK),
        pos: 0,
        deadline,
    };
    loop {
        let (status, headers, head_len) = read_head(&mut conn)?;
        conn.consume(head_len);
        if (100..200).contains(&status) {
            // interim answers (100 Continue) carry no body
            continue;
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        read_body(&mut conn, &mut response, max_body)?;
        return Ok(response);
    }
}

type Head = (u16, Vec<(String, String)>, usize);

fn read_head(conn: &mut Conn<'_>) -> Result<Head, HttpError> {
    loop {
        let data = conn.available();
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut raw);
            match resp.parse(data.get(..end + 4).unwrap_or_default()) {
                Ok(httparse::Status::Complete(_)) => {}
                Ok(httparse::Status::Partial) => {
                    return Err(HttpError::Malformed("incomplete response head".into()));
                }
                Err(e) => return Err(HttpError::Malformed(format!("bad response head: {e}"))),
            }
            let status = resp.code.unwrap_or(0);
            let headers = resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).trim().to_string(),
                    )
                })
                .collect();
            return Ok((status, headers, end + 4));
        }
        if data.len() > MAX_HEAD_BYTES {
            return Err(HttpError::Malformed(format!(
                "the response head exceeds {MAX_HEAD_BYTES} bytes"
            )));
        }
        conn.fill_or_eof("response head")?;
    }
}

fn read_body(conn: &mut Conn<'_>, response: &mut Response, max: u64) -> Result<(), HttpError> {
    if response.status == 204 || response.status == 304 {
        return Ok(());
    }
    let mut chunked = false;
    let mut length: Option<u64> = None;
    for (name, value) in &response.headers {
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("chunked") {
                return Err(HttpError::Malformed(format!(
                    "unsupported Transfer-Encoding {value:?}"
                )));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| HttpError::Malformed(format!("bad Content-Length {value:?}")))?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::Malformed(
                    "conflicting Content-Length headers".into(),
                ));
            }
            length = Some(n);
        }
    }
    if chunked && length.is_some() {
        return Err(HttpError::Malformed(
            "both Transfer-Encoding and Content-Length".into(),
        ));
    }
    if chunked {
        return read_chunked(conn, response, max);
    }
    if let Some(n) = length {
        if n > max {
            return Err(HttpError::TooLarge(max));
        }
        // the length is the peer's claim: grow as bytes arrive past 64 MiB
        response
            .body
            .reserve(usize::try_from(n.min(64 << 20)).unwrap_or(0));
        return conn.read_exact_into(n, &mut response.body);
    }
    // No framing: the body runs to the end of the connection.
    loop {
        let have = conn.available().len();
        if (response.body.len() + have) as u64 > max {
            return Err(HttpError::TooLarge(max));
        }
        response
            .body
            .extend_from_slice(conn.available().get(..have).unwrap_or_default());
        conn.consume(have);
        if conn.fill()? == 0 {
            return Ok(());
        }
    }
}

fn read_chunked(conn: &mut Conn<'_>, response: &mut Response, max: u64) -> Result<(), HttpError> {
    loop {
        let size = loop {
            match httparse::parse_chunk_size(conn.available()) {
                Ok(httparse::Status::Complete((used, size))) => {
                    conn.consume(used);
                    break size;
                }
                Ok(httparse::Status::Partial) => {
                    if conn.available().len() > 4096 {
                        return Err(HttpError::Malformed("chunk-size line too long".into()));
                    }
                    conn.fill_or_eof("chunked body")?;
                }
                Err(_) => return Err(HttpError::Malformed("bad chunk size".into())),
            }
        };
        if size == 0 {
            break;
        }
        if (response.body.len() as u64).saturating_add(size) > max {
            return Err(HttpError::TooLarge(max));
        }
        conn.read_exact_into(size, &mut response.body)?;
        if !conn.read_line(0)?.is_empty() {
            return Err(HttpError::Malformed(
                "chunk data not followed by CRLF".into(),
            ));
        }
    }
    let mut trailer_bytes = 0usize;
    loop {
        let line = conn.read_line(MAX_TRAILER_BYTES)?;
        if line.is_empty() {
            return Ok(());
        }
        trailer_bytes += line.len() + 2;
        if trailer_bytes > MAX_TRAILER_BYTES {
            return Err(HttpError::Malformed("trailers too large".into()));
        }
        let text = String::from_utf8_lossy(&line);
        if let Some((name, value)) = text.split_once(':') {
            response
                .headers
                .push((name.trim().to_string(), value.trim().to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_strict() {
        assert!(Endpoint::parse("http://127.0.0.1:8080", false).is_ok());
        assert!(Endpoint::parse("http://gw.local:8080/", false).is_ok());
        assert!(Endpoint::parse("http://[::1]:5001", false).is_ok());
        assert!(Endpoint::parse("127.0.0.1:5001", true).is_ok());
        for bad in [
            "127.0.0.1:5001",
            "https://ipfs.io:443",
            "http://127.0.0.1",
            "http://127.0.0.1:0",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:8080/ipfs",
            "http://user@host:80",
            "http://host:80?x=1",
            "http://:80",
            "http://[zz]:80",
            "file:///etc/passwd",
        ] {
            assert!(Endpoint::parse(bad, false).is_err(), "{bad}");
        }
    }
}
