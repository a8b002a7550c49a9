//! Just enough HTTP/1.1 for the loopback API: one request per connection,
//! `Content-Length` bodies only, every read under a deadline and a size cap.
//! Parsing is `httparse`'s; this module owns the sockets, limits and timeouts
//! (which the small server crates do not expose).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Largest request or response head (request line or status line plus
/// headers).
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;

/// Why a message could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The deadline passed.
    Timeout,
    /// Head or body beyond the caps.
    TooLarge(String),
    /// Not HTTP as this module speaks it.
    Malformed(String),
    /// The socket failed or closed early.
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Timeout => f.write_str("timed out"),
            ReadError::TooLarge(m) | ReadError::Malformed(m) => f.write_str(m),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The query string (after `?`), possibly empty.
    pub query: String,
    pub body: Vec<u8>,
}

/// Reads once into `buf`, honouring the deadline.
fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, ReadError> {
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ReadError::Timeout);
        }
        stream
            .set_read_timeout(Some(remaining.max(Duration::from_millis(1))))
            .map_err(ReadError::Io)?;
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ReadError::Timeout);
            }
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

/// Reads until the blank line that ends the head; returns all bytes read
/// (head and whatever body followed) and the head's length.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> Result<(Vec<u8>, usize), ReadError> {
    let mut data = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find_head_end(&data) {
            return Ok((data, end));
        }
        if data.len() > MAX_HEAD_BYTES {
            return Err(ReadError::TooLarge(format!(
                "the message head exceeds {MAX_HEAD_BYTES} bytes"
            )));
        }
        let n = read_some(stream, &mut chunk, deadline)?;
        if n == 0 {
            return Err(ReadError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the message head ended",
            )));
        }
        data.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

fn find_head_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// `Content-Length` (0 when absent); chunked bodies are refused.
fn content_length(headers: &[httparse::Header<'_>], max_body: usize) -> Result<usize, ReadError> {
    let mut length = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReadError::Malformed(
                "Transfer-Encoding is not supported; send Content-Length".to_string(),
            ));
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value)
                .map_err(|_| ReadError::Malformed("bad Content-Length".to_string()))?;
            let n: usize = text
                .trim()
                .parse()
                .map_err(|_| ReadError::Malformed("bad Content-Length".to_string()))?;
            if length.is_some_and(|l| l != n) {
                return Err(ReadError::Malformed(
                    "conflicting Content-Length headers".to_string(),
                ));
            }
            length = Some(n);
        }
    }
    let n = length.unwrap_or(0);
    if n > max_body {
        return Err(ReadError::TooLarge(format!(
            "the body has {n} bytes, at most {max_body} are accepted"
        )));
    }
    Ok(n)
}

fn read_body(
    stream: &mut TcpStream,
    mut body: Vec<u8>,
    length: usize,
    deadline: Instant,
) -> Result<Vec<u8>, ReadError> {
    if body.len() > length {
        body.truncate(length);
    }
    let mut chunk = [0u8; 16 * 1024];
    while body.len() < length {
        let want = (length - body.len()).min(chunk.len());
        let n = read_some(stream, chunk.get_mut(..want).unwrap_or_default(), deadline)?;
        if n == 0 {
            return Err(ReadError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the body ended",
            )));
        }
        body.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(body)
}

/// Reads one request, all of it before `deadline`, its body at most
/// `max_body` bytes.
pub(crate) fn read_request(
    stream: &mut TcpStream,
    max_body: usize,
    deadline: Instant,
) -> Result<Request, ReadError> {
    let (data, head_len) = read_head(stream, deadline)?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&data) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ReadError::Malformed("incomplete request head".to_string()));
        }
        Err(e) => return Err(ReadError::Malformed(format!("bad request head: {e}"))),
    }
    let method = req.method.unwrap_or_default().to_string();
    let target = req.path.unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_string(), query.to_string());
    let length = content_length(req.headers, max_body)?;
    let rest = data.get(head_len..).unwrap_or_default().to_vec();
    let body = read_body(stream, rest, length, deadline)?;
    Ok(Request {
        method,
        path,
        query,
        body,
    })
}

/// Reads one response: status and body (at most `max_body` bytes).
pub(crate) fn read_response(
    stream: &mut TcpStream,
    max_body: usize,
    deadline: Instant,
) -> Result<(u16, Vec<u8>), ReadError> {
    let (data, head_len) = read_head(stream, deadline)?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&data) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ReadError::Malformed("incomplete response head".to_string()));
        }
        Err(e) => return Err(ReadError::Malformed(format!("bad response head: {e}"))),
    }
    let status = resp.code.unwrap_or(0);
    let length = content_length(resp.headers, max_body)?;
    let rest = data.get(head_len..).unwrap_or_default().to_vec();
    let body = read_body(stream, rest, length, deadline)?;
    Ok((status, body))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a JSON response and closes the exchange.
pub(crate) fn write_response(
    stream: &mut TcpStream,
    status: u16,
    body: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    stream.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Writes a request with an optional JSON body.
pub(crate) fn write_request(
    stream: &mut TcpStream,
    method: &str,
    host: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<()> {
    stream.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    stream.write_all(&message)?;
    stream.flush()
}
