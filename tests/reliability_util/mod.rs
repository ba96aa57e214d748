//! Helpers shared by the reliability tests (`tests/reliability_*.rs`): bounded waits, a
//! seeded generator, exactly-once bookkeeping, small hostile servers, and (on Linux) the
//! process's threads, descriptors, memory and descriptor limit.
//!
//! The runtime tests keep their helpers in `tests/runtime_util/`, the minimio tests in
//! `tests/util/`; these are separate so that each family can change its own.
//!
//! Every wait here has a bound, and every random choice comes from a [`Rng`] whose seed is
//! printed (and can be chosen with `NODE_EXPERIMENT_SEED`), so a failure can be replayed.
//! Only the public API and std are used.

// Every test file compiles its own copy of this module and uses only some of the helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use node_experiment::runtime::{Runtime, RuntimeBuilder};

/// How long any one runtime or load step may take before the test declares it hung. Far
/// above what any step needs (seconds at most), so only a hang reaches it.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The one generous slack added to every upper time bound (as in the other test helpers).
pub const SLACK: Duration = Duration::from_secs(1);

/// The runtime these tests start from: quiet, with reads that do not pretend to be slow.
pub fn builder() -> RuntimeBuilder {
    Runtime::builder().verbose(false).fs_delay(Duration::ZERO)
}

/// Runs `f` on a new thread and returns its result, or fails with a message naming `what`
/// if it has not finished within `limit`. A panic inside `f` is re-raised here with its
/// own payload. On a timeout the thread is left behind; the test binary exits without it.
pub fn within<T, F>(limit: Duration, what: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(format!("within: {what}"))
        .spawn(move || {
            // The receiver is gone only if we already timed out.
            let _ = tx.send(f());
        })
        .expect("spawn a test thread");
    match rx.recv_timeout(limit) {
        Ok(value) => {
            let _ = handle.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {limit:?}: something hangs")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => panic!("{what} ended without a result"),
        },
    }
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

/// A small deterministic generator (xorshift64*): the same seed gives the same run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // xorshift must not start at 0; mix the seed so that nearby seeds differ at once.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of `items`, chosen uniformly.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// `true` with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
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

/// An address on loopback where nothing listens: a port we bound, then let go.
pub fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("listener address")
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

/// Writes `data`, ends our side, and waits (bounded) for the client to close, so that our
/// close is a clean FIN.
pub fn answer_and_close(stream: &mut TcpStream, data: &[u8]) {
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    if stream.write_all(data).is_ok() && stream.shutdown(Shutdown::Write).is_ok() {
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
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
        if let Some(kib) = linux::status_kib("VmSize") {
            return kib > (1 << 30); // more than 1 TiB of address space
        }
    }
    false
}

/// Linux-only views of the process, from `/proc/self` (proc(5)), and its descriptor limit.
#[cfg(target_os = "linux")]
pub mod linux {
    use std::collections::BTreeMap;
    use std::thread;
    use std::time::{Duration, Instant};

    /// A field of `/proc/self/status` that is given in kB (`VmRSS`, `VmHWM`, `VmSize`).
    pub fn status_kib(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status
            .lines()
            .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
        line[field.len() + 1..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// The resident set now, in KiB.
    pub fn rss_kib() -> u64 {
        status_kib("VmRSS").expect("VmRSS in /proc/self/status")
    }

    /// The peak resident set since the last [`reset_peak_rss`], in KiB.
    pub fn peak_rss_kib() -> u64 {
        status_kib("VmHWM").expect("VmHWM in /proc/self/status")
    }

    /// Resets `VmHWM` to the current RSS (writing "5" to `/proc/self/clear_refs`, proc(5),
    /// Linux 4.0+). Returns whether the kernel allowed it.
    pub fn reset_peak_rss() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    /// The process's threads (by id, with their names) and descriptors (with what each
    /// names), as `/proc/self/task` and `/proc/self/fd` list them.
    pub type Snapshot = (BTreeMap<String, String>, BTreeMap<String, String>);

    pub fn snapshot() -> Snapshot {
        let list = |dir: &str, describe: &dyn Fn(&str) -> String| {
            std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("read {dir}: {e}"))
                .filter_map(Result::ok)
                .map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let what = describe(&name);
                    (name, what)
                })
                .collect::<BTreeMap<_, _>>()
        };
        let tasks = list("/proc/self/task", &|tid| {
            std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
                .unwrap_or_default()
                .trim()
                .to_string()
        });
        let mut fds = list("/proc/self/fd", &|fd| {
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        });
        // Not ours: the directory `read_dir` had open while it listed the descriptors.
        let listing = format!("/proc/{}/fd", std::process::id());
        fds.retain(|_, what| *what != listing);
        (tasks, fds)
    }

    /// Fails unless the process is back to `baseline` within `settle`.
    ///
    /// A joined thread can stay listed for a moment after `join` returns (the kernel wakes
    /// the joiner before it has reaped the thread), and libkqueue closes a queue's
    /// descriptors from a helper thread of its own; a leak never goes away.
    pub fn assert_back_to(baseline: &Snapshot, settle: Duration, after: &str) {
        let deadline = Instant::now() + settle;
        loop {
            let now = snapshot();
            if now == *baseline {
                return;
            }
            if Instant::now() > deadline {
                let extra_tasks: Vec<_> = now
                    .0
                    .iter()
                    .filter(|(k, _)| !baseline.0.contains_key(*k))
                    .collect();
                let extra_fds: Vec<_> = now
                    .1
                    .iter()
                    .filter(|(k, _)| !baseline.1.contains_key(*k))
                    .collect();
                panic!(
                    "after {after}: {} threads (was {}), {} descriptors (was {}); \
                     new threads {extra_tasks:?}, new descriptors {extra_fds:?}",
                    now.0.len(),
                    baseline.0.len(),
                    now.1.len(),
                    baseline.1.len()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// `struct rlimit` from <sys/resource.h>, getrlimit(2): two `rlim_t`, which is a
    /// 64-bit unsigned integer on the 64-bit Linux targets this crate supports.
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    struct Rlimit {
        rlim_cur: u64,
        rlim_max: u64,
    }
    const _: () = assert!(std::mem::size_of::<Rlimit>() == 16);

    /// `RLIMIT_NOFILE` on x86_64 and aarch64 (asm-generic/resource.h).
    const RLIMIT_NOFILE: i32 = 7;

    #[link(name = "c")]
    unsafe extern "C" {
        fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
        fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
    }

    /// Raises this process's soft limit on open descriptors to at least `want`, as far as
    /// the hard limit allows, and returns the soft limit now in force. (The crate has no
    /// `libc` dependency on purpose, so the two calls are declared here.)
    pub fn raise_nofile(want: u64) -> u64 {
        let mut lim = Rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid, writable `struct rlimit` for the duration of the call.
        if unsafe { getrlimit(RLIMIT_NOFILE, &mut lim) } != 0 {
            panic!("getrlimit: {}", std::io::Error::last_os_error());
        }
        if lim.rlim_cur >= want {
            return lim.rlim_cur;
        }
        let raised = Rlimit {
            rlim_cur: want.min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid `struct rlimit` that the kernel only reads; raising
        // the soft limit up to the hard limit needs no privilege.
        if unsafe { setrlimit(RLIMIT_NOFILE, &raised) } != 0 {
            panic!("setrlimit: {}", std::io::Error::last_os_error());
        }
        raised.rlim_cur
    }
}
