//! Helpers shared by the runtime tests (`tests/runtime_*.rs`); the minimio tests keep
//! theirs in `tests/util/mod.rs`.
//!
//! Every test runs its runtime on a thread of its own through [`run_logged`] (or
//! [`within`]) and waits for it with a bound, so a runtime that hangs fails the test with
//! a message instead of hanging `cargo test`. Callbacks record what happened in a [`Log`]:
//! labels in the order they ran, each with the time since the program started. Tests
//! compare the order, check times with strict lower bounds, and give every upper bound the
//! one generous [`SLACK`].
//!
//! Only the public API and std are used.

// Every test file compiles its own copy of this module and uses only some of the helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use node_experiment::runtime::{Js, Runtime, RuntimeBuilder};

/// The one generous slack added to every upper time bound.
///
/// A timer that is due wakes the loop within a millisecond or two; a second leaves room
/// for 16 test threads on two cores, or for Wine. Lower bounds get no slack: a timer must
/// never fire early.
pub const SLACK: Duration = Duration::from_secs(1);

/// How long a simulated file read takes in these tests, unless a test says otherwise.
pub const FS_DELAY: Duration = Duration::from_millis(10);

/// A small file whose contents are [`TEST_TXT_CONTENTS`] (the book's `test.txt`).
pub const TEST_TXT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/test.txt");
pub const TEST_TXT_CONTENTS: &str = "Hello world! This is a text to encrypt!";

/// How long any one test's runtime may run before the test declares it hung.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The runtime every test starts from: quiet (no trace lines) and with short reads.
pub fn builder() -> RuntimeBuilder {
    Runtime::builder().verbose(false).fs_delay(FS_DELAY)
}

/// Runs `f` on a new thread and returns its result, or fails with a message naming `what`
/// if it has not finished within `limit`.
///
/// A panic inside `f` (a failed assertion in a callback, say) is re-raised here with its
/// own message. On a timeout the thread is left behind, still blocked; the test binary
/// exits without waiting for it.
pub fn within<T, F>(limit: Duration, what: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        // The receiver is gone only if we already timed out; nobody is left to tell.
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            // The thread has nothing left to do after sending.
            let _ = handle.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {limit:?}: the runtime hangs")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => panic!("{what} ended without a result"),
        },
    }
}

/// What callbacks recorded: labels in the order they were pushed, each with the time since
/// the log was created (just before the runtime was built).
///
/// Cloning gives another handle to the same log, for moving into a callback.
#[derive(Clone)]
pub struct Log {
    start: Instant,
    entries: Rc<RefCell<Vec<(String, Duration)>>>,
}

impl Log {
    pub fn new() -> Log {
        Log {
            start: Instant::now(),
            entries: Rc::default(),
        }
    }

    /// Records `label` now.
    pub fn push(&self, label: impl Into<String>) {
        let at = self.start.elapsed();
        self.entries.borrow_mut().push((label.into(), at));
    }

    /// A callback that records `label` when it runs.
    ///
    /// Boxed so that it does not borrow `self` (an `impl Trait` return would).
    pub fn cb(&self, label: impl Into<String>) -> Box<dyn FnOnce(Js)> {
        let log = self.clone();
        let label = label.into();
        Box::new(move |_| log.push(label))
    }

    /// The labels recorded so far, in order.
    pub fn labels(&self) -> Vec<String> {
        self.entries
            .borrow()
            .iter()
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// The time since the log was created.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn trace(&self, run_took: Duration) -> Trace {
        Trace {
            entries: self.entries.borrow().clone(),
            run_took,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log::new()
    }
}

/// A finished run: what the [`Log`] recorded, and when `run` returned.
#[derive(Debug, Clone)]
pub struct Trace {
    pub entries: Vec<(String, Duration)>,
    /// From the log's creation (before the runtime was built) until `run` returned.
    pub run_took: Duration,
}

impl Trace {
    /// The labels in the order they were recorded.
    pub fn labels(&self) -> Vec<String> {
        self.entries.iter().map(|(l, _)| l.clone()).collect()
    }

    /// When `label` was first recorded; fails if it never was.
    pub fn at(&self, label: &str) -> Duration {
        self.entries
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, t)| *t)
            .unwrap_or_else(|| panic!("{label:?} was never recorded; got {:?}", self.labels()))
    }

    /// Where `label` first appears in the order; fails if it never does.
    pub fn position(&self, label: &str) -> usize {
        self.entries
            .iter()
            .position(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("{label:?} was never recorded; got {:?}", self.labels()))
    }

    /// How often `label` was recorded.
    pub fn count(&self, label: &str) -> usize {
        self.entries.iter().filter(|(l, _)| l == label).count()
    }
}

/// Builds a runtime from `builder`, runs `program` in it (on a thread of its own, bounded
/// by [`LIMIT`]) and returns what the program's callbacks logged.
///
/// `program` is the "main" JavaScript program; it gets the log to record into.
pub fn run_logged<F>(what: &str, builder: RuntimeBuilder, program: F) -> Trace
where
    F: FnOnce(&Log) + Send + 'static,
{
    within(LIMIT, what, move || {
        let log = Log::new();
        let rt = builder
            .build()
            .unwrap_or_else(|e| panic!("building the runtime failed: {e}"));
        rt.run(|| program(&log));
        log.trace(log.elapsed())
    })
}

/// An address on loopback where nothing listens: a port we bound, then let go.
pub fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("listener address")
    // `listener` is dropped here: the port is free and refuses connections.
}

/// A file under the system's temp directory with a name no other test (or test run)
/// uses; removed when dropped.
pub struct TempPath(pub PathBuf);

impl TempPath {
    /// A fresh, unused path whose name contains `tag`.
    pub fn new(tag: &str) -> TempPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        TempPath(std::env::temp_dir().join(format!(
            "node-experiment-{tag}-{}-{n}-{nanos}",
            std::process::id()
        )))
    }

    /// A fresh file holding `contents`.
    pub fn file(tag: &str, contents: &[u8]) -> TempPath {
        let p = TempPath::new(tag);
        std::fs::write(&p.0, contents).unwrap_or_else(|e| panic!("writing {}: {e}", p.0.display()));
        p
    }

    /// A fresh, empty directory.
    pub fn dir(tag: &str) -> TempPath {
        let p = TempPath::new(tag);
        std::fs::create_dir(&p.0).unwrap_or_else(|e| panic!("creating {}: {e}", p.0.display()));
        p
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        // Best effort: a leftover file in the temp directory hurts nobody.
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// How long a [`FakeServer`] waits for its connections before it gives up.
pub const SERVER_WAIT: Duration = Duration::from_secs(20);

/// A hand-written HTTP server on loopback that answers each connection its own way: the
/// delay server's stand-in for answers the real one never gives (garbage, nothing, 1 MiB).
pub struct FakeServer {
    pub addr: SocketAddr,
    handle: JoinHandle<Vec<String>>,
}

impl FakeServer {
    /// Serves `connections` connections, one after another: reads each request's head,
    /// then lets `answer` reply (or not). Gives up after [`SERVER_WAIT`], so its thread
    /// always ends.
    pub fn start<A>(connections: usize, answer: A) -> FakeServer
    where
        A: Fn(&mut TcpStream) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let handle = thread::spawn(move || {
            let deadline = Instant::now() + SERVER_WAIT;
            let mut request_lines = Vec::new();
            while request_lines.len() < connections && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking stream");
                        stream
                            .set_read_timeout(Some(Duration::from_secs(5)))
                            .expect("read timeout");
                        let head = read_head(&mut stream);
                        request_lines.push(head.lines().next().unwrap_or_default().to_string());
                        answer(&mut stream);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => panic!("accept failed: {e}"),
                }
            }
            request_lines
        });
        FakeServer { addr, handle }
    }

    /// Waits for the server to finish (bounded by [`SERVER_WAIT`]) and returns the request
    /// line of each connection it served.
    pub fn request_lines(self) -> Vec<String> {
        self.handle.join().expect("the fake server panicked")
    }
}

/// Reads a request head (up to the blank line); what has arrived if the peer stops early.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Sends `response`, ends the write side, and waits for the client to close its end, so
/// that closing ours sends a clean FIN rather than a reset.
pub fn answer_and_close(stream: &mut TcpStream, response: &[u8]) {
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    // A client that gave up concerns its own test, which reports it.
    if stream.write_all(response).is_ok() && stream.shutdown(Shutdown::Write).is_ok() {
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    }
}

/// A small deterministic generator (xorshift64*), for shuffles that are the same on every
/// run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}
