//! A local slow HTTP server, so `Io::http_get_slow` works offline.
//!
//! Book: "Implementing the Node Eventloop", section "Io" (the book called the public
//! service `slowwly.robertomurray.co.uk`).
//!
//! FIX(book) R11: the book's web call went to a public delay service that no longer
//! exists, so the example and every test needed the internet and now fail. This server
//! answers the same path on loopback:
//!
//! ```text
//! GET /delay/<ms>/url/<url> HTTP/1.1   ->   after <ms>: 200, body "slow response for <url>\n"
//! ```
//!
//! The runtime starts it on first use (on `127.0.0.1`, port 0: the OS picks a free port)
//! and stops it when `run` returns, joining its threads and closing its sockets.
//!
//! It is deliberately *not* built on the crate's own event loop: it plays the part of a
//! server somewhere else on the network, and must not share the loop it is testing. Three
//! threads suffice however many requests wait:
//! - an *acceptor* does nothing but `accept`, so the kernel's queue of finished handshakes
//!   (the listen backlog, 128 connections with std) never fills up. When it is full the
//!   kernel drops new handshakes, and a client's `connect` waits a whole second for its
//!   retry: a burst of 1,000 requests used to stall its caller for seconds that way;
//! - a *reader* reads each request (they are small) and files its response under its due
//!   time;
//! - a *responder* sleeps until the earliest due time and sends that response.
//!
//! Waiting requests therefore cost memory only, not threads, and responses leave in
//! due-time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a client may take to send its request line and headers, counted from when
/// the reader starts waiting for them.
///
/// Not "at once": the runtime writes a request when its loop sees the connect finish,
/// which is after the program's `main` has returned. Under Wine on a loaded two-core
/// machine, a `main` that started 1,000 requests took over 2 s, and the first request,
/// accepted at once, was dropped when this was 2 s. The cost of a longer wait: one client
/// that connects and never sends holds the reader, and everyone behind it, that long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the responder waits for a client that does not read its response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head we read; the server's own clients send well under 1 KiB.
const MAX_REQUEST: usize = 16 * 1024;

/// A response waiting for its time.
struct Due {
    at: Instant,
    seq: u64,
    stream: TcpStream,
    response: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Same key as the runtime's timers, for the same reason: equal times keep order.
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct State {
    due: BinaryHeap<Reverse<Due>>,
    next_seq: u64,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Neither thread panics while holding the lock; a poisoned lock still holds
        // consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running server. Dropping it stops it.
pub(crate) struct DelayServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    reader: Option<JoinHandle<()>>,
    responder: Option<JoinHandle<()>>,
}

impl DelayServer {
    /// Starts the server on `127.0.0.1`, on a port the OS chooses.
    pub(crate) fn start() -> io::Result<DelayServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());

        let s = Arc::clone(&shared);
        let responder = thread::Builder::new()
            .name("delay-server-responder".into())
            .spawn(move || respond(&s))?;
        // Built field by field so that, if a later spawn fails, `Drop` stops the threads
        // already running.
        let mut server = DelayServer {
            addr,
            shared: Arc::clone(&shared),
            acceptor: None,
            reader: None,
            responder: Some(responder),
        };
        let (accepted, to_read) = mpsc::channel();
        let s = Arc::clone(&shared);
        server.reader = Some(
            thread::Builder::new()
                .name("delay-server-reader".into())
                .spawn(move || read_requests(&to_read, &s))?,
        );
        let s = Arc::clone(&shared);
        server.acceptor = Some(
            thread::Builder::new()
                .name("delay-server-acceptor".into())
                .spawn(move || accept(&listener, &s, &accepted))?,
        );
        Ok(server)
    }

    /// Where the server listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DelayServer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.cond.notify_all();
        if let Some(responder) = self.responder.take() {
            let _ = responder.join();
        }
        // The acceptor is blocked in `accept`; one connection wakes it, and it sees
        // `stop`. If even that fails, joining could wait forever: leave it be.
        let acceptor_gone = match self.acceptor.take() {
            Some(acceptor) => TcpStream::connect(self.addr).is_ok() && acceptor.join().is_ok(),
            None => true,
        };
        // The reader ends once the acceptor's end of their channel is gone, after at most
        // one request's `REQUEST_TIMEOUT`.
        if let Some(reader) = self.reader.take() {
            if acceptor_gone {
                let _ = reader.join();
            }
        }
    }
}

impl fmt::Debug for DelayServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayServer")
            .field("addr", &self.addr)
            .finish()
    }
}

fn accept(listener: &TcpListener, shared: &Shared, accepted: &Sender<TcpStream>) {
    for stream in listener.incoming() {
        if shared.lock().stop {
            return;
        }
        // A failed accept (the client gave up, or we ran out of descriptors for a moment)
        // concerns that client only.
        let Ok(stream) = stream else { continue };
        if accepted.send(stream).is_err() {
            return;
        }
    }
}

fn read_requests(to_read: &Receiver<TcpStream>, shared: &Shared) {
    for mut stream in to_read {
        let (delay, response) = match read_request(&mut stream) {
            Ok(Some((delay, url))) => (
                delay,
                response(200, "OK", &format!("slow response for {url}\n")),
            ),
            Ok(None) => (Duration::ZERO, response(404, "Not Found", "not found\n")),
            // The client sent nothing usable in time, or went away: drop it.
            Err(_) => continue,
        };
        let now = Instant::now();
        let at = now
            .checked_add(delay)
            .unwrap_or(now + super::timers::MAX_DELAY);
        let mut state = shared.lock();
        if state.stop {
            return;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.due.push(Reverse(Due {
            at,
            seq,
            stream,
            response,
        }));
        drop(state);
        shared.cond.notify_all();
    }
}

/// Reads one request head. `Ok(None)` for a request that is not `GET /delay/<ms>/url/..`.
fn read_request(stream: &mut TcpStream) -> io::Result<Option<(Duration, String)>> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST {
            return Ok(None);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(parse_request_line(&String::from_utf8_lossy(&head)))
}

/// `GET /delay/<ms>/url/<url> HTTP/1.1` -> `(<ms>, <url>)`. The `/url/<url>` part may be
/// missing (the URL is then empty), as with the original service.
fn parse_request_line(head: &str) -> Option<(Duration, String)> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "GET" {
        return None;
    }
    let rest = target.strip_prefix("/delay/")?;
    let (ms, url) = match rest.split_once('/') {
        Some((ms, tail)) => (ms, tail.strip_prefix("url/")?),
        None => (rest, ""),
    };
    let ms: u64 = ms.parse().ok()?;
    Some((Duration::from_millis(ms), url.to_string()))
}

fn response(code: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn respond(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.stop {
            // Dropping the waiting streams closes them; their clients see the end of the
            // connection (the runtime is shutting down anyway).
            return;
        }
        let now = Instant::now();
        let next = state.due.peek().map(|Reverse(d)| d.at);
        match next {
            Some(at) if at <= now => {
                // Cannot fail: `peek` just returned an entry.
                let Some(Reverse(mut due)) = state.due.pop() else {
                    continue;
                };
                drop(state);
                // A client that went away concerns only itself.
                let _ = send(&mut due);
                state = shared.lock();
            }
            Some(at) => {
                state = shared
                    .cond
                    .wait_timeout(state, at - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            None => state = shared.cond.wait(state).unwrap_or_else(|e| e.into_inner()),
        }
    }
}

fn send(due: &mut Due) -> io::Result<()> {
    due.stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    due.stream.write_all(&due.response)?;
    due.stream.shutdown(Shutdown::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_slowwly_path() {
        let head = "GET /delay/2000/url/http://http//www.google.com HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            parse_request_line(head),
            Some((
                Duration::from_millis(2000),
                "http://http//www.google.com".to_string()
            ))
        );
        assert_eq!(
            parse_request_line("GET /delay/5 HTTP/1.1\r\n\r\n"),
            Some((Duration::from_millis(5), String::new()))
        );
        assert_eq!(parse_request_line("GET /other HTTP/1.1\r\n\r\n"), None);
        assert_eq!(
            parse_request_line("POST /delay/5/url/x HTTP/1.1\r\n\r\n"),
            None
        );
        assert_eq!(
            parse_request_line("GET /delay/x/url/y HTTP/1.1\r\n\r\n"),
            None
        );
    }

    #[test]
    fn answers_in_due_order_and_stops_cleanly() -> io::Result<()> {
        let server = DelayServer::start()?;
        let ask = |ms: u64| -> io::Result<TcpStream> {
            let mut s = TcpStream::connect(server.addr())?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(s, "GET /delay/{ms}/url/u{ms} HTTP/1.1\r\n\r\n")?;
            Ok(s)
        };
        let mut slow = ask(80)?;
        let mut fast = ask(10)?;
        let start = Instant::now();
        let mut body = String::new();
        fast.read_to_string(&mut body)?;
        assert!(body.ends_with("slow response for u10\n"), "{body:?}");
        body.clear();
        slow.read_to_string(&mut body)?;
        assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body:?}");
        assert!(body.ends_with("slow response for u80\n"), "{body:?}");
        assert!(start.elapsed() >= Duration::from_millis(70));
        drop(server);
        Ok(())
    }
}
