//! Framing and limits against scripted peers: every byte boundary, hostile
//! heads and bodies, stalls.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use crate::client::request_head;
use crate::message::{read_request_from, read_response_from};
use crate::server::response_bytes;
use crate::wire::Wire;
use crate::{Endpoint, HttpError, Limits, OutgoingRequest, Request, Response};

/// What a scripted peer does on the next read.
enum Step {
    Data(Vec<u8>),
    /// Nothing arrives: the read times out.
    Stall,
}

/// A peer that sends a script, then closes; what we write is kept.
struct Script {
    steps: VecDeque<Step>,
    written: Vec<u8>,
}

impl Script {
    fn new(steps: Vec<Step>) -> Self {
        Self {
            steps: steps.into(),
            written: Vec::new(),
        }
    }

    /// `bytes` in pieces of `size`.
    fn pieces(bytes: &[u8], size: usize) -> Self {
        Self::new(
            bytes
                .chunks(size.max(1))
                .map(|c| Step::Data(c.to_vec()))
                .collect(),
        )
    }
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.steps.pop_front() {
            None => Ok(0),
            Some(Step::Stall) => Err(io::Error::from(io::ErrorKind::WouldBlock)),
            Some(Step::Data(mut data)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                if n < data.len() {
                    self.steps.push_front(Step::Data(data.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Wire for Script {
    fn set_read_limit(&mut self, _: Duration) -> io::Result<()> {
        Ok(())
    }

    fn set_write_limit(&mut self, _: Duration) -> io::Result<()> {
        Ok(())
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn request(bytes: &[u8]) -> Result<Request, HttpError> {
    request_in_pieces(bytes, usize::MAX, &Limits::default())
}

fn request_in_pieces(bytes: &[u8], size: usize, limits: &Limits) -> Result<Request, HttpError> {
    read_request_from(&mut Script::pieces(bytes, size), limits, soon())
}

fn response(bytes: &[u8], limits: &Limits) -> Result<Response, HttpError> {
    read_response_from(&mut Script::pieces(bytes, 7), limits, soon(), false)
}

// ------------------------------------------------------------------ requests

#[test]
fn a_request_arrives_whole_at_every_split() {
    let bytes = b"POST /v1/stake?block=5&timeout_ms=10 HTTP/1.1\r\nHost: x\r\ncontent-length: 11\r\n\r\nhello world";
    for size in 1..=bytes.len() {
        let r = request_in_pieces(bytes, size, &Limits::default()).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path(), "/v1/stake");
        assert_eq!(r.query(), "block=5&timeout_ms=10");
        assert_eq!(r.query_param("timeout_ms"), Some("10"));
        assert_eq!(r.query_param("nope"), None);
        assert_eq!(r.header("Content-Length"), Some("11"));
        assert_eq!(r.body, b"hello world");
    }
    let r = request(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert!(r.body.is_empty() && r.query().is_empty() && r.path() == "/");
    // Bytes after the body (a pipelined request) are not this request's.
    let r =
        request(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(r.body, b"ab");
}

#[test]
fn oversized_heads_are_refused() {
    let limits = Limits::default();
    // No end in sight.
    let mut head = b"GET /v1/status HTTP/1.1\r\n".to_vec();
    head.extend(std::iter::repeat_n(b'a', 20_000));
    assert!(matches!(
        request_in_pieces(&head, 1000, &limits),
        Err(HttpError::HeadTooLarge { max: 16384 })
    ));
    // Complete, but in one read and over the cap.
    let mut head = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 17_000));
    head.extend_from_slice(b"\r\n\r\n");
    assert!(matches!(
        request(&head),
        Err(HttpError::HeadTooLarge { .. })
    ));
    // More headers than the parser holds.
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        head.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let err = request(&head).unwrap_err();
    assert!(matches!(err, HttpError::HeadTooLarge { .. }), "{err}");
    assert_eq!(err.status(), Some(413));
    // A smaller cap applies.
    let small = Limits {
        max_head_bytes: 32,
        ..Limits::default()
    };
    assert!(matches!(
        request_in_pieces(
            b"GET /a-rather-long-path HTTP/1.1\r\nHost: x\r\n\r\n",
            4,
            &small
        ),
        Err(HttpError::HeadTooLarge { max: 32 })
    ));
}

#[test]
fn oversized_bodies_are_refused_before_or_while_reading() {
    let limits = Limits::with_max_body(10);
    // Announced: refused without waiting for the bytes.
    let err = request_in_pieces(
        b"POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n",
        5,
        &limits,
    )
    .unwrap_err();
    assert!(matches!(err, HttpError::BodyTooLarge { max: 10 }), "{err}");
    assert_eq!(err.status(), Some(413));
    // At the cap is fine, one over is not.
    let ok = request_in_pieces(
        b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789",
        3,
        &limits,
    )
    .unwrap();
    assert_eq!(ok.body.len(), 10);
    assert!(matches!(
        request(b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n"),
        Err(HttpError::BodyTooLarge { max: 1_048_576 })
    ));
    // Chunked: the cap counts as chunks arrive.
    let err = request_in_pieces(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n",
        4,
        &limits,
    )
    .unwrap_err();
    assert!(matches!(err, HttpError::BodyTooLarge { max: 10 }), "{err}");
    // A single enormous chunk is refused from its size line.
    assert!(matches!(
        request_in_pieces(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffff\r\n",
            4,
            &limits,
        ),
        Err(HttpError::BodyTooLarge { .. })
    ));
}

#[test]
fn malformed_request_lines_and_headers_are_refused() {
    for bad in [
        &b"NONSENSE\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / FTP/1.1\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    ] {
        let err = request(bad).unwrap_err();
        assert!(
            matches!(err, HttpError::MalformedHead(_)),
            "{:?}: {err:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(err.status(), Some(400));
    }
}

#[test]
fn ambiguous_framing_is_refused() {
    for bad in [
        &b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nabcde",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1 1\r\n\r\nab",
        b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    ] {
        let err = request(bad).unwrap_err();
        assert!(
            matches!(err, HttpError::BadFraming(_)),
            "{:?}: {err:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(err.status(), Some(400));
    }
    // The same length twice is one length.
    let r =
        request(b"POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab").unwrap();
    assert_eq!(r.body, b"ab");
}

// ------------------------------------------------------------------- chunked

#[test]
fn chunked_bodies_at_every_split() {
    let bytes = b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n5;name=value\r\nhello\r\nA\r\n, chunked!\r\n1\r\n \r\n0\r\nX-Checksum: 42\r\nX-Other:  b \r\n\r\n";
    for size in 1..=bytes.len() {
        let r = request_in_pieces(bytes, size, &Limits::default()).unwrap();
        assert_eq!(r.body, b"hello, chunked! ", "split {size}");
        assert_eq!(r.header("x-checksum"), Some("42"));
        assert_eq!(r.header("X-Other"), Some("b"));
    }
    // An empty chunked body.
    let r = request(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").unwrap();
    assert!(r.body.is_empty());
}

#[test]
fn chunked_edge_cases_are_refused() {
    let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    type Expected = fn(&HttpError) -> bool;
    let cases: [(&str, Expected); 9] = [
        // Data longer than its size line says.
        ("3\r\nabcd\r\n0\r\n\r\n", |e| {
            matches!(e, HttpError::BadFraming(_))
        }),
        // Not hexadecimal.
        ("xyz\r\nabc\r\n0\r\n\r\n", |e| {
            matches!(e, HttpError::BadFraming(_))
        }),
        // A size that overflows 64 bits.
        ("fffffffffffffffffffff\r\n", |e| {
            matches!(e, HttpError::BadFraming(_))
        }),
        // No size at all.
        ("\r\nabc\r\n", |e| matches!(e, HttpError::BadFraming(_))),
        // A size line that never ends.
        ("5;", |e| matches!(e, HttpError::UnexpectedEof(_))),
        // Extensions beyond the line cap.
        (
            "5;xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            |e| matches!(e, HttpError::BadFraming(_) | HttpError::UnexpectedEof(_)),
        ),
        // The peer hangs up inside a chunk.
        ("a\r\nabc", |e| matches!(e, HttpError::UnexpectedEof(_))),
        // ... or before the last chunk.
        ("3\r\nabc\r\n", |e| matches!(e, HttpError::UnexpectedEof(_))),
        // A trailer that is not a header.
        ("0\r\nnot a header\r\n\r\n", |e| {
            matches!(e, HttpError::BadFraming(_))
        }),
    ];
    for (body, expected) in cases {
        let err = request(format!("{head}{body}").as_bytes()).unwrap_err();
        assert!(expected(&err), "{body:?}: {err:?}");
    }
    // Extensions past the line cap are refused even with more data coming.
    let long = format!("{head}5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(5000));
    assert!(matches!(
        request(long.as_bytes()),
        Err(HttpError::BadFraming(_))
    ));
    // Trailers past their cap.
    let trailers: String = (0..2000)
        .map(|i| format!("X-{i}: yyyyyyyyyy\r\n"))
        .collect();
    let err = request(format!("{head}0\r\n{trailers}\r\n").as_bytes()).unwrap_err();
    assert!(matches!(err, HttpError::BadFraming(_)), "{err:?}");
}

// ------------------------------------------------------------ stalls and EOF

#[test]
fn stalls_and_hangups_are_told_apart() {
    let mut stalled = Script::new(vec![
        Step::Data(b"GET / HTTP/1.1\r\nHo".to_vec()),
        Step::Stall,
    ]);
    let err = read_request_from(&mut stalled, &Limits::default(), soon()).unwrap_err();
    assert!(matches!(err, HttpError::Timeout));
    assert_eq!(err.status(), Some(408));
    let err = request(b"GET / HTTP/1.1\r\nHo").unwrap_err();
    assert!(
        matches!(err, HttpError::UnexpectedEof("message head")),
        "{err:?}"
    );
    assert_eq!(err.status(), None);
    let err = request(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc").unwrap_err();
    assert!(matches!(err, HttpError::UnexpectedEof("body")), "{err:?}");
    assert!(matches!(request(b""), Err(HttpError::UnexpectedEof(_))));
    // A deadline already past fails at once, even with bytes waiting.
    let mut ready = Script::pieces(b"GET / HTTP/1.1\r\n\r\n", 100);
    assert!(matches!(
        read_request_from(&mut ready, &Limits::default(), Instant::now()),
        Err(HttpError::Timeout)
    ));
}

#[test]
fn expect_continue_is_answered_once_the_head_is_accepted() {
    let mut peer = Script::new(vec![
        Step::Data(
            b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n".to_vec(),
        ),
        Step::Data(b"abc".to_vec()),
    ]);
    let r = read_request_from(&mut peer, &Limits::default(), soon()).unwrap();
    assert_eq!(r.body, b"abc");
    assert_eq!(peer.written, b"HTTP/1.1 100 Continue\r\n\r\n");
    // Not invited when the body is refused anyway.
    let mut peer = Script::new(vec![Step::Data(
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3000000\r\n\r\n".to_vec(),
    )]);
    assert!(read_request_from(&mut peer, &Limits::default(), soon()).is_err());
    assert!(peer.written.is_empty());
}

// ----------------------------------------------------------------- responses

#[test]
fn responses_under_every_framing() {
    let limits = Limits::with_max_body(100);
    let r = response(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        &limits,
    )
    .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    // Read to the end of the connection.
    let r = response(b"HTTP/1.0 200 OK\r\nX: y\r\n\r\nuntil the end", &limits).unwrap();
    assert_eq!(r.body, b"until the end");
    assert_eq!(r.header("x"), Some("y"));
    let r = response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: done\r\n\r\n",
        &limits,
    )
    .unwrap();
    assert_eq!(r.body, b"ok");
    assert_eq!(r.header("x-trailer"), Some("done"));
    // Interim answers are skipped; no-content answers have no body.
    let r = response(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
        &limits,
    )
    .unwrap();
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let endless = "HTTP/1.1 100 Continue\r\n\r\n".repeat(20);
    assert!(matches!(
        response(endless.as_bytes(), &limits),
        Err(HttpError::MalformedHead(_))
    ));
    // HEAD: the length describes a body that is not sent.
    let mut peer = Script::pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", 3);
    let r = read_response_from(&mut peer, &limits, soon(), true).unwrap();
    assert!(r.body.is_empty());
}

#[test]
fn response_caps_hold() {
    let limits = Limits::with_max_body(10);
    let long = format!("HTTP/1.1 200 OK\r\n\r\n{}", "z".repeat(11));
    assert!(matches!(
        response(long.as_bytes(), &limits),
        Err(HttpError::BodyTooLarge { max: 10 })
    ));
    assert!(matches!(
        response(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", &limits),
        Err(HttpError::BodyTooLarge { max: 10 })
    ));
    assert!(matches!(
        response(b"SSH-2.0-OpenSSH\r\n\r\n", &limits),
        Err(HttpError::MalformedHead(_))
    ));
    assert!(matches!(
        response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            &limits
        ),
        Err(HttpError::BadFraming(_))
    ));
    assert!(matches!(
        response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
            &Limits::default()
        ),
        Err(HttpError::UnexpectedEof("body"))
    ));
}

// ----------------------------------------------------------- what we write

#[test]
fn outgoing_messages_cannot_be_split() {
    let get = OutgoingRequest::get("/v1/status");
    let head = request_head("127.0.0.1:9", &get).unwrap();
    assert!(head.starts_with("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"));
    assert!(head.ends_with("\r\n\r\n") && !head.contains("Content-Length"));
    let post = OutgoingRequest {
        method: "POST",
        target: "/x",
        headers: &[("Content-Type", "application/json")],
        body: &[b"ab", b"cd"],
    };
    let head = request_head("h:1", &post).unwrap();
    assert!(head.contains("Content-Type: application/json\r\n"));
    assert!(head.contains("Content-Length: 4\r\n"));
    let bad_headers: [(&str, &str); 3] =
        [("X", "a\r\nInjected: yes"), ("Bad Name", "v"), ("X:Y", "v")];
    for header in bad_headers {
        let headers = [header];
        let req = OutgoingRequest {
            headers: &headers,
            ..get
        };
        assert!(
            matches!(request_head("h:1", &req), Err(HttpError::Invalid(_))),
            "{header:?}"
        );
    }
    for target in ["x", "/a b", "/a\r\nb", "/é", ""] {
        let req = OutgoingRequest { target, ..get };
        assert!(
            matches!(request_head("h:1", &req), Err(HttpError::Invalid(_))),
            "{target:?}"
        );
    }
    for method in ["", "GE T", "GET\r\n"] {
        let req = OutgoingRequest { method, ..get };
        assert!(
            matches!(request_head("h:1", &req), Err(HttpError::Invalid(_))),
            "{method:?}"
        );
    }
    assert!(matches!(
        request_head("h:1\r\nX: y", &get),
        Err(HttpError::Invalid(_))
    ));

    let answer = response_bytes(404, "text/plain", b"nope").unwrap();
    assert_eq!(
        answer,
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
    );
    assert!(response_bytes(200, "text/plain\r\nSet-Cookie: x", b"").is_err());
    assert!(response_bytes(42, "text/plain", b"").is_err());
    // What we write, we read back.
    let back = response(&answer, &Limits::default()).unwrap();
    assert_eq!((back.status, back.body.as_slice()), (404, &b"nope"[..]));
}

#[test]
fn endpoints_are_strict() {
    assert_eq!(
        Endpoint::parse("http://127.0.0.1:8080", false)
            .unwrap()
            .authority(),
        "127.0.0.1:8080"
    );
    assert_eq!(
        Endpoint::parse("http://gw.local:8080/", false)
            .unwrap()
            .url(),
        "http://gw.local:8080"
    );
    assert!(Endpoint::parse("http://[::1]:5001", false).is_ok());
    assert!(Endpoint::parse("127.0.0.1:5001", true).is_ok());
    for bad in [
        "127.0.0.1:5001",
        "https://ipfs.io:443",
        "http://127.0.0.1",
        "http://127.0.0.1:0",
        "http://127.0.0.1:099",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:8080/ipfs",
        "http://user@host:80",
        "http://host:80?x=1",
        "http://:80",
        "http://[zz]:80",
        "file:///etc/passwd",
    ] {
        assert!(
            matches!(Endpoint::parse(bad, false), Err(HttpError::BadUrl(_))),
            "{bad}"
        );
    }
}
