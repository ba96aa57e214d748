//! For the reliability tests (`tests/reliability_*.rs`): a runtime without pretended
//! delays, seeds that can be replayed, exactly-once bookkeeping, and small hostile servers.
//!
//! Every random choice comes from a [`Rng`](super::Rng) whose seed is printed (and can be
//! chosen with `NODE_EXPERIMENT_SEED`), so a failure can be replayed. The Linux-only views
//! of the process (threads, descriptors, memory, descriptor limit) these tests count with
//! are in [`linux`](super::linux).

use std::cell::RefCell;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use node_experiment::runtime::{Runtime, RuntimeBuilder};

/// How long any one runtime or load step may take before the test declares it hung. Far
/// above what any step needs (seconds at most), so only a hang reaches it. Twice the
/// runtime tests' [`runtime::LIMIT`](super::runtime::LIMIT): a step here can run thousands of
/// operations.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The runtime these tests start from: quiet, with reads that do not pretend to be slow
/// (unlike the runtime tests' [`runtime::builder`](super::runtime::builder), whose reads
/// take [`runtime::FS_DELAY`](super::runtime::FS_DELAY)).
pub fn builder() -> RuntimeBuilder {
    Runtime::builder().verbose(false).fs_delay(Duration::ZERO)
}

/// The seed for this test: `NODE_EXPERIMENT_SEED` if set (decimal or `0x` hex), else
/// `default`. Printed, so a failing run says how to replay it (`cargo test` shows a test's
/// output when it fails).
pub fn seed(test: &str, default: u64) -> u64 {
    let chosen = std::env::var("NODE_EXPERIMENT_SEED").ok().and_then(|s| {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        }
    });
    let seed = chosen.unwrap_or(default);
    println!("{test}: seed {seed:#x} (replay with NODE_EXPERIMENT_SEED={seed:#x})");
    seed
}

/// Exactly-once bookkeeping for callbacks on the loop's thread: each operation gets an id
/// when it is scheduled, and its callback marks it when it runs.
///
/// Cloning gives another handle to the same ledger, for moving into a callback.
#[derive(Clone, Default)]
pub struct Ledger {
    runs: Rc<RefCell<Vec<u32>>>,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// A new operation id.
    pub fn open(&self) -> usize {
        let mut runs = self.runs.borrow_mut();
        runs.push(0);
        runs.len() - 1
    }

    /// Records that the callback of `id` ran; fails at once on a second run.
    pub fn ran(&self, id: usize) {
        let mut runs = self.runs.borrow_mut();
        runs[id] += 1;
        assert_eq!(runs[id], 1, "the callback of operation {id} ran twice");
    }

    /// How many operations were scheduled.
    pub fn len(&self) -> usize {
        self.runs.borrow().len()
    }

    /// The ids whose callback has not run (yet).
    pub fn missing(&self) -> Vec<usize> {
        let runs = self.runs.borrow();
        (0..runs.len()).filter(|&i| runs[i] == 0).collect()
    }
}

/// A hand-written server on loopback for hostile answers: it accepts `connections`
/// connections, one after another, and hands each to `answer` (on its own thread, so a
/// slow answer does not hold up the next accept). Gives up after [`LIMIT`], so its
/// threads always end.
pub struct HostileServer {
    pub addr: SocketAddr,
    handle: JoinHandle<usize>,
}

impl HostileServer {
    pub fn start<A>(connections: usize, answer: A) -> HostileServer
    where
        A: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let answer = std::sync::Arc::new(answer);
        let handle = thread::spawn(move || {
            let deadline = Instant::now() + LIMIT;
            let mut served = Vec::new();
            while served.len() < connections && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking stream");
                        let answer = std::sync::Arc::clone(&answer);
                        served.push(thread::spawn(move || answer(stream)));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => panic!("accept failed: {e}"),
                }
            }
            let count = served.len();
            for s in served {
                s.join().expect("an answer panicked");
            }
            count
        });
        HostileServer { addr, handle }
    }

    /// Waits for every answer to finish; returns how many connections were served.
    pub fn served(self) -> usize {
        self.handle.join().expect("the hostile server panicked")
    }
}

/// Waits (bounded) until the client's whole request head has arrived, without consuming
/// it: what is left unread makes the kernel answer our close with a reset (RFC 2525,
/// section 2.17; Linux's `tcp_close`), which is how these tests make one without
/// `SO_LINGER`.
pub fn wait_for_request(stream: &TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match stream.peek(&mut buf) {
            Ok(n) if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") => return,
            Ok(0) => return,
            Ok(_) => thread::sleep(Duration::from_millis(1)),
            Err(_) => return,
        }
    }
}

/// Reads and discards the request head (bounded).
pub fn consume_request(stream: &mut TcpStream) {
    wait_for_request(stream);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
}

/// A valid response head promising `len` bytes of body.
pub fn response_head(len: usize) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// The body the built-in delay server sends for `url`.
pub fn delay_server_body(url: &str) -> String {
    format!("slow response for http://{url}\n")
}

/// Whether this process runs under a sanitizer (AddressSanitizer reserves terabytes of
/// address space for its shadow memory). Memory bounds measured in RSS do not hold there:
/// the sanitizer keeps freed memory in quarantine and adds redzones on purpose.
pub fn under_sanitizer() -> bool {
    if std::env::var_os("NODE_EXPERIMENT_SANITIZER").is_some() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        if let Some(kib) = super::linux::status_kib("VmSize") {
            return kib > (1 << 30); // more than 1 TiB of address space
        }
    }
    false
}

/// Runs a closure when dropped: a guard a callback can own, whose `Drop` does something
/// (schedules work, say) when the callback is cleared or unwound.
pub struct OnDrop(pub Option<Box<dyn FnOnce()>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}
