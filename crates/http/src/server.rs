//! The server side: read one request, write one answer, close.

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::message::read_request_from;
use crate::wire::write_all;
use crate::{HttpError, Limits, Request};

/// Reads one request, head and body, all of it before `deadline` and
/// within `limits`.
///
/// Bodies come with `Content-Length` or `Transfer-Encoding: chunked`; a
/// request with neither has none. A client that sent `Expect:
/// 100-continue` is invited to send its body once the head is accepted.
/// When this fails, [`HttpError::status`] is the status to answer with.
pub fn read_request(
    stream: &mut TcpStream,
    limits: &Limits,
    deadline: Instant,
) -> Result<Request, HttpError> {
    read_request_from(stream, limits, deadline)
}

/// Writes a complete response with `Content-Length` and `Connection:
/// close`, before `deadline`.
pub fn write_response(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    deadline: Instant,
) -> Result<(), HttpError> {
    write_all(
        stream,
        &response_bytes(status, content_type, body)?,
        deadline,
    )
}

pub(crate) fn response_bytes(
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<Vec<u8>, HttpError> {
    if !(100..=999).contains(&status) {
        return Err(HttpError::Invalid(format!("status {status}")));
    }
    crate::client::check_header_value("Content-Type", content_type)?;
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason_phrase(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    Ok(out)
}

/// Closes our side and drains what the client may still be sending (a
/// refused body, say) for a moment, so that closing does not reset the
/// connection before the client has read the answer.
pub fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(250);
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    while drained < (1 << 20) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// The reason phrase for the statuses MedMetric's servers send.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
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
