//! Sockets under a deadline: every blocking call gets the time left, never
//! more, so one deadline bounds a whole exchange however the peer trickles.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::HttpError;

/// Bytes read or written per system call.
pub(crate) const IO_CHUNK: usize = 64 * 1024;

/// A byte stream whose blocking reads and writes can be bounded in time.
/// Only [`TcpStream`] in the public API; tests script others.
pub(crate) trait Wire: Read + Write {
    fn set_read_limit(&mut self, limit: Duration) -> io::Result<()>;
    fn set_write_limit(&mut self, limit: Duration) -> io::Result<()>;
}

impl Wire for TcpStream {
    fn set_read_limit(&mut self, limit: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(limit))
    }

    fn set_write_limit(&mut self, limit: Duration) -> io::Result<()> {
        self.set_write_timeout(Some(limit))
    }
}

/// Time left before `deadline`; a socket timeout of zero would mean "none",
/// so at least a millisecond.
fn time_left(deadline: Instant) -> Result<Duration, HttpError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(HttpError::Timeout);
    }
    Ok(left.max(Duration::from_millis(1)))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Writes all of `data` before `deadline`.
pub(crate) fn write_all<W: Wire>(
    wire: &mut W,
    mut data: &[u8],
    deadline: Instant,
) -> Result<(), HttpError> {
    while !data.is_empty() {
        wire.set_write_limit(time_left(deadline)?)?;
        let piece = data.get(..IO_CHUNK.min(data.len())).unwrap_or_default();
        match wire.write(piece) {
            Ok(0) => {
                return Err(HttpError::Io(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "connection closed while sending",
                )));
            }
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Err(HttpError::Timeout),
            Err(e) => return Err(HttpError::Io(e)),
        }
    }
    match wire.flush() {
        Err(e) if is_timeout(&e) => Err(HttpError::Timeout),
        other => Ok(other?),
    }
}

/// A socket with a read buffer and a deadline.
pub(crate) struct Reader<'a, W: Wire> {
    wire: &'a mut W,
    buf: Vec<u8>,
    pos: usize,
    deadline: Instant,
}

impl<'a, W: Wire> Reader<'a, W> {
    pub(crate) fn new(wire: &'a mut W, deadline: Instant) -> Self {
        Self {
            wire,
            buf: Vec::with_capacity(4096),
            pos: 0,
            deadline,
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    pub(crate) fn wire(&mut self) -> &mut W {
        self.wire
    }

    /// Buffered bytes not consumed yet.
    pub(crate) fn available(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Reads more bytes into the buffer; `Ok(0)` at the end of the stream.
    pub(crate) fn fill(&mut self) -> Result<usize, HttpError> {
        // Drop consumed bytes so the buffer stays near one chunk however
        // long the body.
        if self.pos > 0 && (self.pos == self.buf.len() || self.pos > IO_CHUNK) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; IO_CHUNK];
        loop {
            self.wire.set_read_limit(time_left(self.deadline)?)?;
            match self.wire.read(&mut chunk) {
                Ok(n) => {
                    self.buf
                        .extend_from_slice(chunk.get(..n).unwrap_or_default());
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(HttpError::Timeout),
                Err(e) => return Err(HttpError::Io(e)),
            }
        }
    }

    /// [`Reader::fill`], with the end of the stream an error: the peer hung
    /// up inside `what`.
    pub(crate) fn fill_or_eof(&mut self, what: &'static str) -> Result<(), HttpError> {
        if self.fill()? == 0 {
            return Err(HttpError::UnexpectedEof(what));
        }
        Ok(())
    }

    /// Appends exactly `n` bytes to `out`.
    pub(crate) fn read_exact_into(
        &mut self,
        mut n: u64,
        out: &mut Vec<u8>,
        what: &'static str,
    ) -> Result<(), HttpError> {
        while n > 0 {
            if self.available().is_empty() {
                self.fill_or_eof(what)?;
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

    /// A CRLF-terminated line of at most `max` bytes, without the CRLF.
    pub(crate) fn read_line(
        &mut self,
        max: usize,
        what: &'static str,
    ) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(i) = self.available().windows(2).position(|w| w == b"\r\n") {
                if i > max {
                    return Err(HttpError::BadFraming(format!(
                        "a line in the {what} exceeds {max} bytes"
                    )));
                }
                let line = self.available().get(..i).unwrap_or_default().to_vec();
                self.consume(i + 2);
                return Ok(line);
            }
            if self.available().len() > max.saturating_add(1) {
                return Err(HttpError::BadFraming(format!(
                    "a line in the {what} exceeds {max} bytes"
                )));
            }
            self.fill_or_eof(what)?;
        }
    }
}
