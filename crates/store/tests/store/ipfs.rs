//! The gateway and Kubo RPC clients against servers that behave and
//! servers that do not.

use std::io::Write;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use medmetric_core::ModelDigest;
use medmetric_store::cid::{Cid, Version};
use medmetric_store::{AttemptError, Gateway, IpfsError, KuboRpc};

use crate::servers::{respond, respond_chunked, serve};

const SHORT: Duration = Duration::from_millis(500);

fn artifact(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// A gateway that serves `bytes` for their CID and 404 for anything else.
fn good_gateway(bytes: Vec<u8>) -> String {
    let path = format!("/ipfs/{}", Cid::of(&bytes, Version::V0));
    serve(move |s, seen| {
        if seen.request_line() == format!("GET {path} HTTP/1.1") {
            respond(
                s,
                "200 OK",
                "Content-Type: application/octet-stream\r\n",
                &bytes,
            );
        } else {
            respond(s, "404 Not Found", "", b"not found");
        }
    })
    .0
}

#[test]
fn fetches_and_verifies_from_a_good_gateway() {
    let bytes = artifact(300_000);
    let cid = Cid::of(&bytes, Version::V0);
    let (url, seen) = {
        let b = bytes.clone();
        serve(move |s, _| respond(s, "200 OK", "", &b))
    };
    let gw = Gateway::new(&[url.as_str()]).unwrap();
    let got = gw
        .fetch(&cid, &ModelDigest::of(&bytes), 1 << 20, SHORT * 10)
        .unwrap();
    assert_eq!(got, bytes);
    let req = seen.recv().unwrap();
    assert_eq!(req.request_line(), format!("GET /ipfs/{cid} HTTP/1.1"));
    assert_eq!(
        req.header("host").unwrap(),
        url.trim_start_matches("http://")
    );
    assert!(req.body.is_empty());
}

#[test]
fn chunked_bodies_are_reassembled() {
    let bytes = artifact(70_001);
    let cid = Cid::of(&bytes, Version::V0);
    let b = bytes.clone();
    let (url, _) = serve(move |s, _| respond_chunked(s, &b, 4093, "X-Trailer: done\r\n"));
    let gw = Gateway::new(&[url]).unwrap();
    assert_eq!(
        gw.fetch(&cid, &ModelDigest::of(&bytes), 1 << 20, SHORT * 10)
            .unwrap(),
        bytes
    );
    // and the cap holds for chunked bodies too
    let err = gw
        .fetch(&cid, &ModelDigest::of(&bytes), 70_000, SHORT * 10)
        .unwrap_err();
    assert_eq!(
        err.attempts[0].error,
        AttemptError::TooLarge { max: 70_000 }
    );
}

#[test]
fn oversized_bodies_are_refused_under_every_framing() {
    let bytes = artifact(10_000);
    let cid = Cid::of(&bytes, Version::V0);
    let digest = ModelDigest::of(&bytes);
    // Announces a huge Content-Length, then streams forever.
    let (huge, _) = serve(|s, _| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\nConnection: close\r\n\r\n",
        );
        let junk = [7u8; 65536];
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until && s.write_all(&junk).is_ok() {}
    });
    // No framing: streams until the client gives up.
    let (endless, _) = serve(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let junk = [7u8; 65536];
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until && s.write_all(&junk).is_ok() {}
    });
    for url in [huge, endless] {
        let gw = Gateway::new(&[url.as_str()]).unwrap();
        let start = Instant::now();
        let err = gw.fetch(&cid, &digest, 1 << 20, SHORT * 10).unwrap_err();
        assert_eq!(
            err.attempts[0].error,
            AttemptError::TooLarge { max: 1 << 20 },
            "{url}"
        );
        assert!(start.elapsed() < Duration::from_secs(4));
    }
}

#[test]
fn stalled_gateway_times_out_and_the_next_one_serves() {
    let bytes = artifact(5000);
    let cid = Cid::of(&bytes, Version::V0);
    // Sends half a head, then nothing.
    let (stall, _) = serve(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Len");
        thread::sleep(Duration::from_secs(5));
    });
    // Sends the head and a trickle of body, one byte every 100 ms.
    let (trickle, _) = serve(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
        for _ in 0..50 {
            if s.write_all(b"x").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let good = good_gateway(bytes.clone());
    let gw = Gateway::new(&[stall.as_str(), trickle.as_str(), good.as_str()]).unwrap();
    let start = Instant::now();
    let got = gw
        .fetch(&cid, &ModelDigest::of(&bytes), 1 << 20, SHORT)
        .unwrap();
    assert_eq!(got, bytes);
    let elapsed = start.elapsed();
    assert!(elapsed >= SHORT * 2, "{elapsed:?}");
    assert!(elapsed < SHORT * 2 + Duration::from_secs(2), "{elapsed:?}");

    let only_bad = Gateway::new(&[stall, trickle]).unwrap();
    let err = only_bad
        .fetch(&cid, &ModelDigest::of(&bytes), 1 << 20, SHORT)
        .unwrap_err();
    assert_eq!(err.attempts.len(), 2);
    for a in &err.attempts {
        assert_eq!(a.error, AttemptError::Timeout);
    }
    assert!(err.to_string().contains("timed out"));
}

#[test]
fn wrong_bytes_fall_through_to_the_next_gateway() {
    let bytes = artifact(4000);
    let cid = Cid::of(&bytes, Version::V0);
    let mut evil = bytes.clone();
    evil[1234] ^= 1;
    let evil_digest = ModelDigest::of(&evil);
    let (liar, _) = serve(move |s, _| respond(s, "200 OK", "", &evil));
    let good = good_gateway(bytes.clone());
    let gw = Gateway::new(&[liar.as_str(), good.as_str()]).unwrap();
    assert_eq!(
        gw.fetch(&cid, &ModelDigest::of(&bytes), 1 << 20, SHORT * 10)
            .unwrap(),
        bytes
    );
    let err = Gateway::new(&[liar])
        .unwrap()
        .fetch(&cid, &ModelDigest::of(&bytes), 1 << 20, SHORT * 10)
        .unwrap_err();
    assert_eq!(
        err.attempts[0].error,
        AttemptError::HashMismatch {
            actual: evil_digest
        }
    );
    let line = err.to_string();
    assert!(
        line.contains(&cid.to_string()) && !line.contains('\n'),
        "{line}"
    );
}

#[test]
fn statuses_refusals_and_broken_answers_are_reported() {
    let bytes = artifact(100);
    let cid = Cid::of(&bytes, Version::V0);
    let digest = ModelDigest::of(&bytes);
    let (not_found, _) = serve(|s, _| respond(s, "404 Not Found", "", b"nope"));
    let (redirect, _) = serve(|s, _| {
        respond(
            s,
            "301 Moved Permanently",
            "Location: http://169.254.169.254/\r\n",
            b"",
        )
    });
    let (garbage, _) = serve(|s, _| {
        let _ = s.write_all(b"SSH-2.0-OpenSSH\r\n\r\n");
    });
    let (gzip, _) = {
        let b = bytes.clone();
        serve(move |s, _| respond(s, "200 OK", "Content-Encoding: gzip\r\n", &b))
    };
    let (cut, _) = serve(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    });
    let (bad_te, _) = serve(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    });
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let gw = Gateway::new(&[
        &not_found, &redirect, &garbage, &gzip, &cut, &bad_te, &refused,
    ])
    .unwrap();
    let err = gw.fetch(&cid, &digest, 1 << 20, SHORT * 10).unwrap_err();
    let kinds: Vec<&AttemptError> = err.attempts.iter().map(|a| &a.error).collect();
    assert_eq!(kinds[0], &AttemptError::Status(404));
    assert_eq!(kinds[1], &AttemptError::Status(301));
    assert!(
        matches!(kinds[2], AttemptError::Protocol(_)),
        "{:?}",
        kinds[2]
    );
    assert!(
        matches!(kinds[3], AttemptError::Protocol(_)),
        "{:?}",
        kinds[3]
    );
    assert!(matches!(kinds[4], AttemptError::Io(_)), "{:?}", kinds[4]);
    assert!(
        matches!(kinds[5], AttemptError::Protocol(_)),
        "{:?}",
        kinds[5]
    );
    assert!(
        matches!(kinds[6], AttemptError::Connect(_)),
        "{:?}",
        kinds[6]
    );
}

#[test]
fn gateway_urls_are_configuration_not_commitments() {
    for bad in [
        "https://ipfs.io:443",
        "http://gw:8080/ipfs/",
        "ipfs://QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
        "gw:8080",
    ] {
        assert!(
            matches!(Gateway::new(&[bad]), Err(IpfsError::BadAddress(_))),
            "{bad}"
        );
    }
    let gw = Gateway::new(&["http://127.0.0.1:8080/", "http://[::1]:8081"]).unwrap();
    assert_eq!(gw.urls(), ["http://127.0.0.1:8080", "http://[::1]:8081"]);
}

/// A fake Kubo RPC endpoint: parses the multipart body like Kubo and
/// answers `/api/v0/add` as Kubo does (chunked NDJSON), with `hash_of`
/// choosing the CID it claims.
fn fake_kubo(
    hash_of: fn(&[u8]) -> String,
) -> (String, std::sync::mpsc::Receiver<crate::servers::Seen>) {
    serve(move |s, seen| {
        let ctype = seen.header("content-type").unwrap_or_default();
        let Some(boundary) = ctype.strip_prefix("multipart/form-data; boundary=") else {
            respond(
                s,
                "400 Bad Request",
                "",
                br#"{"Message":"no multipart","Code":0,"Type":"error"}"#,
            );
            return;
        };
        let body = &seen.body;
        let open = format!("--{boundary}\r\n");
        let close = format!("\r\n--{boundary}--\r\n");
        assert!(
            body.starts_with(open.as_bytes()),
            "body starts with the boundary"
        );
        assert!(
            body.ends_with(close.as_bytes()),
            "body ends with the closing boundary"
        );
        let part = &body[open.len()..body.len() - close.len()];
        let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let part_head = std::str::from_utf8(&part[..split]).unwrap();
        assert!(part_head.contains("Content-Disposition: form-data; name=\"file\"; filename=\""));
        let file = &part[split + 4..];
        let line = format!(
            "{{\"Name\":\"artifact\",\"Hash\":\"{}\",\"Size\":\"{}\"}}\n",
            hash_of(file),
            file.len()
        );
        respond_chunked(s, line.as_bytes(), 10, "X-Stream-Error: \r\n");
    })
}

#[test]
fn kubo_add_posts_multipart_and_checks_the_cid() {
    let bytes = artifact(600_000);
    let (url, seen) = fake_kubo(|f| Cid::of(f, Version::V0).to_string());
    let rpc = KuboRpc::new(&url).unwrap();
    let cid = rpc.add(&bytes, true).unwrap();
    assert_eq!(cid, Cid::of(&bytes, Version::V0));
    let req = seen.recv().unwrap();
    let line = req.request_line().to_string();
    assert!(line.starts_with("POST /api/v0/add?"), "{line}");
    assert!(
        line.contains("pin=true") && line.contains("cid-version=0"),
        "{line}"
    );
    assert!(line.contains("raw-leaves=false") && line.contains("chunker=size-262144"));
    assert!(req.body.windows(bytes.len()).any(|w| w == bytes.as_slice()));

    // pin=false is passed through
    let (url, seen) = fake_kubo(|f| Cid::of(f, Version::V0).to_string());
    KuboRpc::new(url.trim_start_matches("http://"))
        .unwrap()
        .add(b"small", false)
        .unwrap();
    assert!(seen.recv().unwrap().request_line().contains("pin=false"));
}

#[test]
fn kubo_add_refuses_a_different_cid() {
    // a node configured for CIDv1 / raw leaves would answer this
    let (url, _) = fake_kubo(|f| Cid::of(f, Version::V1).to_string());
    let err = KuboRpc::new(&url)
        .unwrap()
        .add(&artifact(1000), true)
        .unwrap_err();
    assert!(matches!(err, IpfsError::CidMismatch { .. }), "{err}");
    let (url, _) = fake_kubo(|_| "http://evil.example/x".to_string());
    let err = KuboRpc::new(&url).unwrap().add(b"x", true).unwrap_err();
    assert!(matches!(err, IpfsError::CidMismatch { .. }), "{err}");
}

#[test]
fn kubo_errors_are_reported() {
    let (url, _) = serve(|s, _| {
        respond(
            s,
            "500 Internal Server Error",
            "",
            br#"{"Message":"pinning failed: disk full","Code":0,"Type":"error"}"#,
        )
    });
    let err = KuboRpc::new(&url).unwrap().add(b"x", true).unwrap_err();
    assert_eq!(
        err,
        IpfsError::Status {
            status: 500,
            message: "pinning failed: disk full".into()
        }
    );
    let (url, _) = serve(|s, _| {
        respond_chunked(
            s,
            b"{\"Name\":\"artifact\"}\n",
            7,
            "X-Stream-Error: context canceled\r\n",
        )
    });
    let err = KuboRpc::new(&url).unwrap().add(b"x", true).unwrap_err();
    assert!(err.to_string().contains("context canceled"), "{err}");
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let err = KuboRpc::new(&format!(
        "/ip4/{}/tcp/{}",
        "127.0.0.1",
        refused.rsplit(':').next().unwrap()
    ))
    .unwrap()
    .with_timeout(SHORT)
    .add(b"x", true)
    .unwrap_err();
    assert!(matches!(err, IpfsError::Transport(_)), "{err}");
}
