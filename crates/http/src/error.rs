//! What can go wrong in an exchange.

use std::io;

/// Why a message could not be sent or received.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A configured URL that is not `http://HOST:PORT` (or, where allowed,
    /// `HOST:PORT`).
    #[error("{0}")]
    BadUrl(String),
    /// A message this crate refuses to send (a header that would split the
    /// head, a method that is not a token, a target that is not a path).
    #[error("refusing to send an invalid message: {0}")]
    Invalid(String),
    /// No connection could be made.
    #[error("cannot connect to {authority}: {reason}")]
    Connect {
        /// `host:port` as configured.
        authority: String,
        /// What the system said.
        reason: String,
    },
    /// The deadline passed before the exchange was done.
    #[error("timed out")]
    Timeout,
    /// The head (start line and headers) is longer than the cap, or has
    /// more headers than the parser takes.
    #[error("the message head exceeds {max} bytes or {MAX_HEADERS} headers")]
    HeadTooLarge {
        /// The cap in bytes.
        max: usize,
    },
    /// The body is longer than the cap (announced or as it arrived).
    #[error("the body exceeds {max} bytes")]
    BodyTooLarge {
        /// The cap in bytes.
        max: u64,
    },
    /// The start line or a header is not HTTP/1.1.
    #[error("malformed message head: {0}")]
    MalformedHead(String),
    /// The body's framing is unusable: a bad or conflicting
    /// `Content-Length`, a `Transfer-Encoding` other than `chunked`, a bad
    /// chunk.
    #[error("bad body framing: {0}")]
    BadFraming(String),
    /// The peer closed the connection in the middle of a message.
    #[error("connection closed before the {0} ended")]
    UnexpectedEof(&'static str),
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Most headers in one head.
pub const MAX_HEADERS: usize = 64;

impl HttpError {
    /// The status a server answers a request that failed to arrive with:
    /// 408, 413 or 400; `None` when the connection is gone and nobody would
    /// read an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Timeout => Some(408),
            HttpError::HeadTooLarge { .. } | HttpError::BodyTooLarge { .. } => Some(413),
            HttpError::MalformedHead(_) | HttpError::BadFraming(_) => Some(400),
            HttpError::BadUrl(_)
            | HttpError::Invalid(_)
            | HttpError::Connect { .. }
            | HttpError::UnexpectedEof(_)
            | HttpError::Io(_) => None,
        }
    }
}
