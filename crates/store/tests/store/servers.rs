//! Small HTTP servers on `127.0.0.1:0` that misbehave on purpose.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// What a test server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub head: String,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Reads a request head and its `Content-Length` body.
pub fn read_request(stream: &mut TcpStream) -> Seen {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "client closed before the head ended");
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
    let mut seen = Seen {
        head,
        body: data[head_end..].to_vec(),
    };
    let length: usize = seen
        .header("content-length")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    while seen.body.len() < length {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "client closed before the body ended");
        seen.body.extend_from_slice(&buf[..n]);
    }
    seen
}

/// A server answering every connection with `handler`; each request seen
/// goes to the returned receiver. The listener lives as long as the test
/// process (threads are detached).
pub fn serve<F>(handler: F) -> (String, mpsc::Receiver<Seen>)
where
    F: Fn(&mut TcpStream, &Seen) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    let handler = std::sync::Arc::new(handler);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let tx = tx.clone();
            let handler = handler.clone();
            thread::spawn(move || {
                let seen = read_request(&mut stream);
                let _ = tx.send(seen.clone());
                handler(&mut stream, &seen);
                let _ = stream.flush();
            });
        }
    });
    (url, rx)
}

/// Answers 200 with a `Content-Length` body.
pub fn respond(stream: &mut TcpStream, status: &str, extra: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// Answers 200 with a chunked body cut into `piece`-byte chunks, with
/// chunk extensions and a trailer.
pub fn respond_chunked(stream: &mut TcpStream, body: &[u8], piece: usize, trailer: &str) {
    let mut out =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for (i, c) in body.chunks(piece).enumerate() {
        if i % 2 == 0 {
            out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        } else {
            out.extend_from_slice(format!("{:X};name=value\r\n", c.len()).as_bytes());
        }
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0\r\n{trailer}\r\n").as_bytes());
    // dribble it out in small writes so the client reassembles across reads
    for part in out.chunks(1000) {
        if stream.write_all(part).is_err() {
            return;
        }
    }
}
