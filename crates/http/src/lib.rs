//! # medmetric-http
//!
//! Just enough HTTP/1.1 for MedMetric's small servers and clients — the
//! devnet's loopback API, the validator's Prometheus endpoint, the Kubo RPC
//! and IPFS gateway clients — over `std::net` sockets, with parsing by
//! [`httparse`].
//!
//! One exchange per connection (`Connection: close`), and every exchange is
//! bounded:
//!
//! * **in time**: one deadline covers the whole request or response, so a
//!   peer that trickles bytes is cut off at the deadline, not at a
//!   per-read timeout it can keep resetting;
//! * **in size**: heads and bodies are capped ([`Limits`]), whether the
//!   body announces its length, comes `chunked`, or (responses only) runs
//!   to the end of the connection;
//! * **in form**: conflicting or ambiguous framing (`Content-Length` twice
//!   with different values, `Content-Length` with `chunked`, any other
//!   `Transfer-Encoding`) is refused, as are outgoing headers that would
//!   split the head.
//!
//! Failures are typed ([`HttpError`]); [`HttpError::status`] gives the
//! status a server answers a request that failed to arrive with.
//!
//! # Example
//!
//! A server thread answering one request, and a client exchange with it:
//!
//! ```
//! use std::net::TcpListener;
//! use std::time::{Duration, Instant};
//!
//! use medmetric_http::{Endpoint, Limits, OutgoingRequest, exchange, read_request, write_response};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let url = format!("http://{}", listener.local_addr()?);
//! let server = std::thread::spawn(move || -> Result<String, medmetric_http::HttpError> {
//!     let (mut stream, _) = listener.accept()?;
//!     let deadline = Instant::now() + Duration::from_secs(5);
//!     let request = read_request(&mut stream, &Limits::default(), deadline)?;
//!     let answer = format!("{} {} ({} bytes)", request.method, request.path(), request.body.len());
//!     write_response(&mut stream, 200, "text/plain", answer.as_bytes(), deadline)?;
//!     Ok(request.query_param("x").unwrap_or_default().to_string())
//! });
//!
//! let endpoint = Endpoint::parse(&url, false)?;
//! let request = OutgoingRequest {
//!     method: "POST",
//!     target: "/echo?x=1",
//!     headers: &[("Content-Type", "application/json")],
//!     body: &[b"{}"],
//! };
//! let response = exchange(&endpoint, &request, &Limits::default(), Duration::from_secs(5))?;
//! assert_eq!(response.status, 200);
//! assert_eq!(response.body, b"POST /echo (2 bytes)");
//! assert_eq!(server.join().unwrap()?, "1");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod error;
mod message;
mod server;
mod wire;

pub use client::{Endpoint, OutgoingRequest, connect, exchange, read_response, write_request};
pub use error::{HttpError, MAX_HEADERS};
pub use message::{Limits, Request, Response};
pub use server::{linger, read_request, reason_phrase, write_response};

#[cfg(test)]
mod tests;
