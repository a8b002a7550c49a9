//! Reading messages: heads through `httparse`, bodies by `Content-Length`,
//! `chunked`, or (responses only) to the end of the connection.

use crate::HttpError;
use crate::error::MAX_HEADERS;
use crate::wire::{Reader, Wire, write_all};

/// Longest chunk-size line (size, extensions, CRLF).
const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section of a chunked body.
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Interim (1xx) responses skipped before the real one.
const MAX_INTERIM_RESPONSES: usize = 8;
/// Memory reserved up front for a declared length: the length is the
/// peer's claim, so beyond this the body grows as bytes arrive.
const MAX_PREALLOCATION: u64 = 64 << 20;

/// Size caps on what is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head: start line plus headers, with the blank line. Default
    /// 16 KiB.
    pub max_head_bytes: usize,
    /// Largest body, however it is framed. Default 1 MiB.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_body_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// The default head cap with this body cap.
    pub fn with_max_body(max_body_bytes: u64) -> Self {
        Self {
            max_body_bytes,
            ..Self::default()
        }
    }
}

/// A request as a server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ….
    pub method: String,
    /// The request target as sent: path and query.
    pub target: String,
    /// Headers in order, values trimmed (chunked trailers appended).
    pub headers: Vec<(String, String)>,
    /// The body (empty when none was sent).
    pub body: Vec<u8>,
}

impl Request {
    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The target's query (after `?`), empty when there is none.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The value of the first `key=value` pair named `key` in the query, as
    /// sent (no percent-decoding).
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A response as a client received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers in order, values trimmed (chunked trailers appended).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn owned_headers(raw: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    raw.iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect()
}

fn head_error(e: httparse::Error, max: usize) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::HeadTooLarge { max },
        other => HttpError::MalformedHead(other.to_string()),
    }
}

/// How a body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The framing the headers announce. `Content-Length` must be plain
/// digits and agree with itself; `Transfer-Encoding` must be exactly
/// `chunked`; both at once is refused, since a peer that sends both is
/// probably trying to desynchronise someone.
fn framing(headers: &[(String, String)], unframed: Framing) -> Result<Framing, HttpError> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if chunked || !value.eq_ignore_ascii_case("chunked") {
                return Err(HttpError::BadFraming(format!(
                    "unsupported Transfer-Encoding {value:?}: only a single `chunked`"
                )));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = Some(value.as_str())
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| HttpError::BadFraming(format!("bad Content-Length {value:?}")))?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::BadFraming(
                    "conflicting Content-Length headers".into(),
                ));
            }
            length = Some(n);
        }
    }
    match (chunked, length) {
        (true, Some(_)) => Err(HttpError::BadFraming(
            "both Transfer-Encoding and Content-Length".into(),
        )),
        (true, None) => Ok(Framing::Chunked),
        (false, Some(n)) => Ok(Framing::Length(n)),
        (false, None) => Ok(unframed),
    }
}

/// Reads the body `framing` describes, at most `max` bytes; chunked
/// trailers are appended to `headers`.
fn read_body<W: Wire>(
    reader: &mut Reader<'_, W>,
    framing: Framing,
    max: u64,
    headers: &mut Vec<(String, String)>,
) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    match framing {
        Framing::Empty => {}
        Framing::Length(n) => {
            if n > max {
                return Err(HttpError::BodyTooLarge { max });
            }
            body.reserve(usize::try_from(n.min(MAX_PREALLOCATION)).unwrap_or(0));
            reader.read_exact_into(n, &mut body, "body")?;
        }
        Framing::Chunked => read_chunked(reader, max, &mut body, headers)?,
        Framing::UntilClose => loop {
            let have = reader.available().len();
            if (body.len() as u64).saturating_add(have as u64) > max {
                return Err(HttpError::BodyTooLarge { max });
            }
            body.extend_from_slice(reader.available());
            reader.consume(have);
            if reader.fill()? == 0 {
                break;
            }
        },
    }
    Ok(body)
}

fn read_chunked<W: Wire>(
    reader: &mut Reader<'_, W>,
    max: u64,
    body: &mut Vec<u8>,
    headers: &mut Vec<(String, String)>,
) -> Result<(), HttpError> {
    loop {
        let size = loop {
            match httparse::parse_chunk_size(reader.available()) {
                Ok(httparse::Status::Complete((used, size))) => {
                    if used > MAX_CHUNK_LINE {
                        return Err(HttpError::BadFraming("chunk-size line too long".into()));
                    }
                    reader.consume(used);
                    break size;
                }
                Ok(httparse::Status::Partial) => {
                    if reader.available().len() > MAX_CHUNK_LINE {
                        return Err(HttpError::BadFraming("chunk-size line too long".into()));
                    }
                    reader.fill_or_eof("chunked body")?;
                }
                Err(_) => return Err(HttpError::BadFraming("bad chunk size".into())),
            }
        };
        if size == 0 {
            break;
        }
        if (body.len() as u64).saturating_add(size) > max {
            return Err(HttpError::BodyTooLarge { max });
        }
        reader.read_exact_into(size, body, "chunked body")?;
        if !reader.read_line(0, "chunked body")?.is_empty() {
            return Err(HttpError::BadFraming(
                "chunk data not followed by CRLF".into(),
            ));
        }
    }
    let mut trailer_bytes = 0usize;
    loop {
        let line = reader.read_line(MAX_TRAILER_BYTES, "chunked body")?;
        if line.is_empty() {
            return Ok(());
        }
        trailer_bytes += line.len() + 2;
        if trailer_bytes > MAX_TRAILER_BYTES {
            return Err(HttpError::BadFraming("trailers too large".into()));
        }
        let text = String::from_utf8_lossy(&line);
        let Some((name, value)) = text.split_once(':') else {
            return Err(HttpError::BadFraming(format!(
                "bad trailer line {:?}",
                truncate(&text, 80)
            )));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// Waits until the buffer holds a complete head, parsing as bytes arrive;
/// `parse` returns the head's length when complete.
fn await_head<W: Wire, T>(
    reader: &mut Reader<'_, W>,
    max_head: usize,
    mut parse: impl FnMut(&[u8]) -> Result<Option<(usize, T)>, HttpError>,
) -> Result<T, HttpError> {
    loop {
        if !reader.available().is_empty()
            && let Some((len, head)) = parse(reader.available())?
        {
            if len > max_head {
                return Err(HttpError::HeadTooLarge { max: max_head });
            }
            reader.consume(len);
            return Ok(head);
        }
        if reader.available().len() >= max_head {
            return Err(HttpError::HeadTooLarge { max: max_head });
        }
        reader.fill_or_eof("message head")?;
    }
}

type RequestHead = (String, String, Vec<(String, String)>);

pub(crate) fn read_request_from<W: Wire>(
    wire: &mut W,
    limits: &Limits,
    deadline: std::time::Instant,
) -> Result<Request, HttpError> {
    let mut reader = Reader::new(wire, deadline);
    let max_head = limits.max_head_bytes;
    let (method, target, mut headers): RequestHead = await_head(&mut reader, max_head, |data| {
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut raw);
        match req.parse(data) {
            Ok(httparse::Status::Complete(len)) => Ok(Some((
                len,
                (
                    req.method.unwrap_or_default().to_string(),
                    req.path.unwrap_or_default().to_string(),
                    owned_headers(req.headers),
                ),
            ))),
            Ok(httparse::Status::Partial) => Ok(None),
            Err(e) => Err(head_error(e, max_head)),
        }
    })?;
    let framing = framing(&headers, Framing::Empty)?;
    if let Framing::Length(n) = framing
        && n > limits.max_body_bytes
    {
        return Err(HttpError::BodyTooLarge {
            max: limits.max_body_bytes,
        });
    }
    // A client that asked to be invited before sending its body (curl does
    // for large bodies) would otherwise wait a second for nothing.
    let expects_continue =
        find_header(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue
        && reader.available().is_empty()
        && matches!(framing, Framing::Chunked | Framing::Length(1..))
    {
        let deadline = reader.deadline();
        write_all(reader.wire(), b"HTTP/1.1 100 Continue\r\n\r\n", deadline)?;
    }
    let body = read_body(&mut reader, framing, limits.max_body_bytes, &mut headers)?;
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

pub(crate) fn read_response_from<W: Wire>(
    wire: &mut W,
    limits: &Limits,
    deadline: std::time::Instant,
    head_request: bool,
) -> Result<Response, HttpError> {
    let mut reader = Reader::new(wire, deadline);
    let max_head = limits.max_head_bytes;
    for _ in 0..=MAX_INTERIM_RESPONSES {
        let (status, mut headers) = await_head(&mut reader, max_head, |data| {
            let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut raw);
            match resp.parse(data) {
                Ok(httparse::Status::Complete(len)) => Ok(Some((
                    len,
                    (resp.code.unwrap_or(0), owned_headers(resp.headers)),
                ))),
                Ok(httparse::Status::Partial) => Ok(None),
                Err(e) => Err(head_error(e, max_head)),
            }
        })?;
        if (100..200).contains(&status) {
            continue;
        }
        let bodyless = head_request || status == 204 || status == 304;
        let framing = if bodyless {
            Framing::Empty
        } else {
            framing(&headers, Framing::UntilClose)?
        };
        let body = read_body(&mut reader, framing, limits.max_body_bytes, &mut headers)?;
        return Ok(Response {
            status,
            headers,
            body,
        });
    }
    Err(HttpError::MalformedHead(format!(
        "more than {MAX_INTERIM_RESPONSES} interim responses"
    )))
}
