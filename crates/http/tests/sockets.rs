//! Real loopback sockets: deadlines against slow peers, both directions.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use medmetric_http::{
    Endpoint, HttpError, Limits, OutgoingRequest, exchange, linger, read_request, write_response,
};

fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

#[test]
fn a_slow_client_is_cut_off_at_the_deadline() {
    let (l, _) = listener();
    let addr = l.local_addr().unwrap();
    // One byte every 50 ms: each read succeeds, only the deadline stops it.
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        for b in b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n"
            .iter()
            .cycle()
            .take(200)
        {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let (mut stream, _) = l.accept().unwrap();
    let started = Instant::now();
    let err = read_request(
        &mut stream,
        &Limits::default(),
        Instant::now() + Duration::from_millis(400),
    )
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, HttpError::Timeout), "{err:?}");
    assert!(elapsed >= Duration::from_millis(390), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    drop(stream);
    client.join().unwrap();
}

#[test]
fn a_server_answers_and_a_client_reads() {
    let (l, url) = listener();
    let server = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let request = read_request(&mut s, &Limits::with_max_body(100), deadline).unwrap();
        let body = [request.body.as_slice(), b"!"].concat();
        write_response(&mut s, 200, "application/json", &body, deadline).unwrap();
        linger(&mut s);
        request
    });
    let endpoint = Endpoint::parse(&url, false).unwrap();
    let request = OutgoingRequest {
        method: "POST",
        target: "/v1/x?y=2",
        headers: &[("Accept", "application/json")],
        body: &[b"{\"a\":", b"1}"],
    };
    let r = exchange(
        &endpoint,
        &request,
        &Limits::default(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"{\"a\":1}!");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let seen = server.join().unwrap();
    assert_eq!(seen.path(), "/v1/x");
    assert_eq!(seen.header("host"), Some(endpoint.authority()));
    assert_eq!(seen.header("accept"), Some("application/json"));
}

#[test]
fn a_client_gives_up_on_a_stalled_or_trickling_server() {
    let endpoint_of = |serve: fn(TcpStream)| {
        let (l, url) = listener();
        thread::spawn(move || {
            if let Ok((s, _)) = l.accept() {
                serve(s);
            }
        });
        Endpoint::parse(&url, false).unwrap()
    };
    let stalled = endpoint_of(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Len");
        thread::sleep(Duration::from_secs(3));
    });
    let trickle = endpoint_of(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        for _ in 0..60 {
            if s.write_all(b"x").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    for endpoint in [stalled, trickle] {
        let started = Instant::now();
        let err = exchange(
            &endpoint,
            &OutgoingRequest::get("/"),
            &Limits::default(),
            Duration::from_millis(400),
        )
        .unwrap_err();
        assert!(matches!(err, HttpError::Timeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn nobody_listening_is_a_connect_error() {
    let (l, url) = listener();
    drop(l);
    let err = exchange(
        &Endpoint::parse(&url, false).unwrap(),
        &OutgoingRequest::get("/"),
        &Limits::default(),
        Duration::from_secs(2),
    )
    .unwrap_err();
    assert!(matches!(err, HttpError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot connect"));
}

#[test]
fn a_refused_body_still_gets_its_answer() {
    let (l, _) = listener();
    let addr = l.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = read_request(&mut s, &Limits::with_max_body(10), deadline).unwrap_err();
        let status = err.status().unwrap();
        write_response(&mut s, status, "text/plain", b"too large", deadline).unwrap();
        linger(&mut s);
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    // The client keeps sending what it announced; the server drains it.
    let _ = s.write_all(&[b'x'; 50_000]);
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
        "{answer}"
    );
    server.join().unwrap();
}
