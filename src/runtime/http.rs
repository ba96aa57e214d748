//! The HTTP client behind `Io::http_get_slow`: a small state machine driven by readiness
//! events.
//!
//! Book: "Implementing the Node Eventloop", section "Io".
//!
//! FIX(book) R10: the book wrote the request with a blocking `write_all` and read the
//! answer with `read_to_string` on the loop's thread, after making the socket blocking
//! again, so the "JavaScript" thread stalled on the network. Here the loop's thread never
//! waits for the network: it writes what the socket accepts, reads what has arrived until
//! `WouldBlock`, and re-arms the one-shot registration to hear about the rest. Each
//! readiness event advances the request one step:
//!
//! ```text
//!   Connecting --(writable)--> Writing --(request sent)--> Reading --(end)--> done
//!      ^  |                     ^  |                         ^  |
//!      +--+ not yet: re-arm     +--+ WouldBlock: re-arm      +--+ WouldBlock: re-arm
//! ```
//!
//! Connecting does not wait either: `TcpStream::connect_nonblocking` starts the handshake,
//! and its end arrives as a writable event, before the request is written. (A blocking
//! connect froze the loop for a second whenever the server's listen backlog was full.)
//!
//! SIMPLIFICATION: the URL is sent to the delay server as is: no DNS, no TLS, HTTP/1.1
//! with `Connection: close`, so the body ends where the stream ends.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use super::Js;
use crate::minimio::{Interests, TcpStream};

/// Network functions, as the book's runtime offers them.
#[derive(Debug)]
pub struct Io;

impl Io {
    /// Asks the delay server for a response that takes `delay_ms` to arrive, and calls
    /// `cb` on the loop's thread with the body as [`Js::String`] (or a [`Js::Error`]).
    ///
    /// The request is `GET /delay/<delay_ms>/url/http://<url>`; the built-in delay server
    /// (started on first use, on loopback) answers `slow response for http://<url>\n`.
    /// [`RuntimeBuilder::delay_server`](super::RuntimeBuilder::delay_server) points it at
    /// another server. The loop's thread never waits for the network (see the module
    /// docs). A URL with a space, a control character or non-ASCII (`InvalidInput`: it
    /// must be percent-encoded), a refused connection, a reset, a response that is not
    /// HTTP, a status other than 2xx, or a body over [`MAX_RESPONSE`] bytes reaches `cb`
    /// once as `Js::Error`.
    ///
    /// ```
    /// use node_experiment::runtime::{Io, Runtime};
    ///
    /// Runtime::builder().verbose(false).build().unwrap().run(|| {
    ///     Io::http_get_slow("example.com", 10, |js| {
    ///         assert_eq!(js.into_string().unwrap(), "slow response for http://example.com\n");
    ///     });
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside [`Runtime::run`](super::Runtime::run) or on another thread than the loop's.
    pub fn http_get_slow(url: &str, delay_ms: u32, cb: impl FnOnce(Js) + 'static) {
        super::start_http(None, url, delay_ms, cb);
    }

    /// Like [`Io::http_get_slow`], but asks the delay server at `server` for this one
    /// request (Node's `http.get({ port })`); used to show a refused connection beside a
    /// working one.
    ///
    /// # Panics
    ///
    /// Outside [`Runtime::run`](super::Runtime::run) or on another thread than the loop's.
    pub fn http_get_slow_from(
        server: SocketAddr,
        url: &str,
        delay_ms: u32,
        cb: impl FnOnce(Js) + 'static,
    ) {
        super::start_http(Some(server), url, delay_ms, cb);
    }
}

/// The largest response we keep. Memory per request is bounded by this; a larger response
/// ends the request with an `InvalidData` error instead of growing without limit.
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// One request in flight.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    pub(crate) stream: TcpStream,
    request: Vec<u8>,
    written: usize,
    response: Vec<u8>,
    /// Where the response ends, once its head has arrived.
    end: End,
}

/// Where a response ends: not known yet (its head is still arriving), at the end of the
/// stream, or at the length its `Content-Length` gives, even if the server then leaves the
/// connection open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Unknown,
    AtEof,
    At(usize),
}

/// What a readiness event led to.
#[derive(Debug)]
pub(crate) enum Progress {
    /// Wait for the socket to be ready for these interests again.
    Wait(Interests),
    /// The exchange is over: the body, or why there is none.
    Done(io::Result<String>),
}

impl HttpRequest {
    /// Connects to the delay server at `server` and prepares the request for `url`.
    pub(crate) fn connect(server: SocketAddr, url: &str, delay_ms: u32) -> io::Result<HttpRequest> {
        check_url(url)?;
        let stream = TcpStream::connect_nonblocking(server)?;
        let request = format!(
            "GET /delay/{delay_ms}/url/http://{url} HTTP/1.1\r\n\
             Host: {server}\r\n\
             Connection: close\r\n\
             \r\n"
        );
        Ok(HttpRequest {
            stream,
            request: request.into_bytes(),
            written: 0,
            response: Vec::new(),
            end: End::Unknown,
        })
    }

    /// Does all the work the socket allows now, without blocking.
    pub(crate) fn advance(&mut self) -> Progress {
        if self.written == 0 {
            // Connecting: the handshake may still be under way. `SO_ERROR` tells a failed
            // one; `peer_addr` fails with `NotConnected` while it has not ended.
            match self.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return Progress::Done(Err(e)),
            }
            match self.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    return Progress::Wait(Interests::WRITABLE);
                }
                Err(e) => return Progress::Done(Err(e)),
            }
        }
        while self.written < self.request.len() {
            match self.stream.write(&self.request[self.written..]) {
                Ok(0) => return Progress::Done(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Progress::Wait(Interests::WRITABLE);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Progress::Done(Err(e)),
            }
        }
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Progress::Done(parse_response(&self.response)),
                Ok(n) => {
                    if self.response.len() + n > MAX_RESPONSE {
                        return Progress::Done(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("HTTP response larger than {MAX_RESPONSE} bytes"),
                        )));
                    }
                    let searched = self.response.len().saturating_sub(3);
                    self.response.extend_from_slice(&buf[..n]);
                    if self.end == End::Unknown {
                        self.end = response_end(&self.response, searched);
                    }
                    // A server that ignores `Connection: close` would otherwise keep the
                    // callback waiting for an end of stream that never comes; Node, too,
                    // ends a response at its `Content-Length`.
                    if matches!(self.end, End::At(len) if self.response.len() >= len) {
                        return Progress::Done(parse_response(&self.response));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Progress::Wait(Interests::READABLE);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Progress::Done(Err(e)),
            }
        }
    }
}

/// The URL goes into the request line as it is, so it must not contain what would end
/// that line early: a space would cut it short, and `\r\n` would let the caller write
/// headers of their choice. Node refuses such a path the same way
/// (`ERR_UNESCAPED_CHARACTERS`); percent-encode them instead.
fn check_url(url: &str) -> io::Result<()> {
    match url.chars().find(|c| !c.is_ascii_graphic()) {
        None => Ok(()),
        Some(c) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the URL {url:?} contains {c:?}, which must be percent-encoded \
                 (spaces, control characters and non-ASCII are not allowed in a request line)"
            ),
        )),
    }
}

/// Where the response in `raw` ends, judged from its head. The end of the head is looked
/// for from `from` on: the bytes before it were searched by an earlier call, so a large
/// head arriving in pieces is not scanned again and again.
fn response_end(raw: &[u8], from: usize) -> End {
    let Some(end) = raw[from..].windows(4).position(|w| w == b"\r\n\r\n") else {
        return End::Unknown;
    };
    let end = from + end;
    let length = std::str::from_utf8(&raw[..end]).ok().and_then(|head| {
        head.split("\r\n").skip(1).find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
    });
    // Without a (valid) length the body runs to the end of the stream; `parse_response`
    // then says what is wrong with the head, if anything.
    length.map_or(End::AtEof, |len| End::At(end + 4 + len))
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Splits a complete HTTP/1.x response and returns its body as text.
///
/// A status other than 2xx is an error carrying the status line; a `Content-Length` that
/// promises more than arrived is `UnexpectedEof`; chunked transfer is not supported (the
/// delay server never uses it).
pub(crate) fn parse_response(raw: &[u8]) -> io::Result<String> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(if raw.is_empty() {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection without answering",
            )
        } else {
            invalid("not an HTTP response: no end of headers")
        });
    };
    let head =
        std::str::from_utf8(&raw[..end]).map_err(|_| invalid("HTTP headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| invalid(format!("not an HTTP status line: {status_line:?}")))?;
    if !(200..300).contains(&code) {
        return Err(io::Error::other(format!("HTTP error: {status_line}")));
    }
    let mut body = &raw[end + 4..];
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let len: usize = value
                .parse()
                .map_err(|_| invalid(format!("bad Content-Length: {value:?}")))?;
            if body.len() < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("HTTP body cut short: {} of {len} bytes", body.len()),
                ));
            }
            body = &body[..len];
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && !value.eq_ignore_ascii_case("identity")
        {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("unsupported Transfer-Encoding: {value}"),
            ));
        }
    }
    String::from_utf8(body.to_vec()).map_err(|_| invalid("HTTP body is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_that_would_break_the_request_line_are_refused() {
        assert!(check_url("http//www.google.com").is_ok());
        assert!(check_url("a/b?c=d%20e").is_ok());
        for bad in ["two words", "x\r\nX-Evil: 1", "caf\u{e9}", "tab\there"] {
            assert_eq!(
                check_url(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parses_a_body_by_content_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse_response(raw).unwrap(), "hello");
    }

    #[test]
    fn a_body_without_length_runs_to_the_end() {
        let raw = b"HTTP/1.0 200 OK\r\nX: y\r\n\r\nall of it";
        assert_eq!(parse_response(raw).unwrap(), "all of it");
    }

    #[test]
    fn errors_are_values() {
        let kind = |raw: &[u8]| parse_response(raw).unwrap_err().kind();
        assert_eq!(kind(b""), io::ErrorKind::UnexpectedEof);
        assert_eq!(kind(b"garbage without end"), io::ErrorKind::InvalidData);
        assert_eq!(kind(b"SMTP 220 hi\r\n\r\n"), io::ErrorKind::InvalidData);
        assert_eq!(
            kind(b"HTTP/1.1 404 Not Found\r\n\r\n"),
            io::ErrorKind::Other
        );
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            io::ErrorKind::Unsupported
        );
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\n\r\n\xff\xfe"),
            io::ErrorKind::InvalidData
        );
    }
}
