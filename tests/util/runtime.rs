//! For the runtime tests (`tests/runtime_*.rs`), and the recording tests (`trace_*`,
//! `timeline_*`) that run programs too.
//!
//! Every test runs its runtime on a thread of its own through [`run_logged`] (or
//! [`within`]) and waits for it at most [`LIMIT`], so a runtime that hangs fails the test
//! with a message instead of hanging `cargo test`. Callbacks record what happened in a
//! [`Log`]: labels in the order they ran, each with the time since the program started.
//! Tests compare the order, check times with strict lower bounds, and give every upper
//! bound the one generous [`SLACK`](super::SLACK).

use std::cell::RefCell;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use node_experiment::runtime::{Js, Runtime, RuntimeBuilder};

use super::within;

/// How long a simulated file read takes in these tests, unless a test says otherwise.
pub const FS_DELAY: Duration = Duration::from_millis(10);

/// A small file whose contents are [`TEST_TXT_CONTENTS`] (the book's `test.txt`).
pub const TEST_TXT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/test.txt");
pub const TEST_TXT_CONTENTS: &str = "Hello world! This is a text to encrypt!";

/// How long any one test's runtime may run before the test declares it hung: far above
/// what a correct test needs, so only a hang reaches it. The reliability tests, whose
/// steps run thousands of operations, allow twice as long ([`reliability::LIMIT`](super::reliability::LIMIT)).
pub const LIMIT: Duration = Duration::from_secs(30);

/// The runtime every test starts from: quiet (no trace lines) and with short reads.
pub fn builder() -> RuntimeBuilder {
    Runtime::builder().verbose(false).fs_delay(FS_DELAY)
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
///
/// It serves one connection after another and reads each request's head itself; the
/// reliability tests' [`HostileServer`](super::reliability::HostileServer) hands each raw
/// connection to a thread of its own instead, for answers that stall or reset on purpose.
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
