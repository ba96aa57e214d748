//! Helpers for the integration tests, in one place (mio keeps its test helpers in
//! `tests/util/mod.rs` the same way). Every test file says `mod util;` and takes what it
//! needs.
//!
//! This file holds what the families of tests share; each family keeps the rest in a
//! submodule of its own:
//!
//! | module | for | what |
//! |---|---|---|
//! | here | every family | the one [`SLACK`]; bounded waits: [`within`], [`wait_for_child`] (with [`child_test`]); a seeded [`Rng`]; [`kind`], [`dead_addr`], [`answer_and_close`], [`fib`] |
//! | [`linux`] | leak and load tests, Linux only | the process's threads and descriptors, memory, descriptor limit (proc(5)) |
//! | [`minimio`] | `tests/minimio_*.rs` | loopback pairs, `expect_events` and friends |
//! | [`runtime`] | `tests/runtime_*.rs`, `trace_*`, `timeline_*` | a quiet runtime, a [`Log`](runtime::Log) of labels, temp files, a fake HTTP server |
//! | [`reliability`] | `tests/reliability_*.rs` | seeds, exactly-once bookkeeping, hostile servers |
//! | [`trace`] | `tests/trace_*.rs`, `timeline_*` | JSON, Chrome trace and XML checkers |
//! | `counting.rs` | two `reliability_leaks_*` files | a counting global allocator |
//!
//! `counting.rs` is not a submodule here: a `#[global_allocator]` replaces the allocator
//! of the whole binary, so only the binaries that count memory take it in, each with
//! `#[path = "util/counting.rs"] mod counting;`. The oracle's spec checker is not here
//! either: `tests/oracle_check/` is the Rust twin of `tests/oracle/check.js`, a checker
//! with unit tests of its own, not a helper (declared here, its unit tests would run in
//! every test binary).
//!
//! Every wait has a bound: a test whose behaviour breaks fails with a message that says
//! what it waited for, instead of hanging the whole run. Times are checked as order and
//! strict lower bounds; an upper bound is "expected + [`SLACK`]". The bounds on whole
//! steps differ by family, each named where it lives: [`minimio::EXPECT_WITHIN`] (5 s),
//! [`runtime::LIMIT`] (30 s), [`reliability::LIMIT`] (60 s); `tests/runtime_node_api.rs`
//! keeps its own `HANG_SLACK` (10 s).
//!
//! Only the crate's public API and std are used (and, in [`linux`], two calls into the C
//! library), so the same helpers serve the epoll, kqueue and IOCP backends.

// Every test file compiles its own copy of this module and uses only some of the helpers.
#![allow(dead_code)]

#[cfg(target_os = "linux")]
pub mod linux;
pub mod minimio;
pub mod reliability;
pub mod runtime;
pub mod trace;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The one generous slack added to every upper time bound.
///
/// Loopback events arrive in microseconds, a timed-out wait returns within a millisecond
/// or two of its deadline, and a timer that is due wakes the loop within a millisecond or
/// two; a second leaves room for 16 test threads on two cores, or for Wine. Lower bounds
/// get no slack: a timer must never fire early. (`tests/runtime_node_api.rs` keeps a
/// slack of its own, 2 s; it says so there.)
pub const SLACK: Duration = Duration::from_secs(1);

/// Runs `f` on a new thread and returns its result, or fails with a message naming `what`
/// if it has not finished within `limit`.
///
/// For calls that hang when the behaviour under test is broken: a `poll(None)` that is
/// never woken, a read on a socket that became blocking, a runtime whose loop never ends.
/// The thread is named after `what`, so a hang's thread dump says which wait it was. A
/// panic inside `f` (a failed assertion in a callback, say) is re-raised here with its
/// own payload. On a timeout the thread is left behind, still blocked; the test binary
/// exits without waiting for it.
pub fn within<T, F>(limit: Duration, what: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(format!("within: {what}"))
        .spawn(move || {
            // The receiver is gone only if we already timed out; nobody is left to tell.
            let _ = tx.send(f());
        })
        .expect("spawn a test thread");
    match rx.recv_timeout(limit) {
        Ok(value) => {
            // The thread has nothing left to do after sending.
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

/// This test binary, to be run again as a child process that runs only the test named
/// `test` (on one thread), with standard input closed; the caller adds `--nocapture` if it
/// reads what the test prints, sets the environment and the output pipes, spawns it, and
/// waits for it with [`wait_for_child`].
///
/// For what a test cannot check from inside its own process: what reaches the real
/// standard output, an abort, the environment read at start-up. The child's test must do
/// nothing unless an environment variable the caller sets says it is the child.
pub fn child_test(test: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args([test, "--exact", "--test-threads=1"])
        .stdin(Stdio::null());
    command
}

/// Waits for `child` to exit, at most `limit`; if it has not, kills it, reaps it and fails
/// with a message naming `what`.
///
/// std has no wait with a timeout, so this polls `try_wait` (one non-blocking system
/// call) every millisecond: cheap, and fine enough that a caller who times the exit
/// (`tests/node_oracle.rs`) sees it within a millisecond. A child that writes more than a
/// pipe holds needs its output read while it runs (on other threads), or it never exits.
pub fn wait_for_child(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not exit within {limit:?}; killed it");
            }
            Ok(None) => thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// An `io::Result` with its error reduced to the kind, so results compare with `==`.
pub fn kind<T>(result: io::Result<T>) -> Result<T, io::ErrorKind> {
    result.map_err(|e| e.kind())
}

/// An address on loopback where nothing listens: a port we bound, then let go.
pub fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("listener address")
    // `listener` is dropped here: the port is free and refuses connections.
}

/// For a hand-written server: sends `response`, ends the write side, and waits (bounded)
/// for the client to close its end, so that closing ours sends a clean FIN rather than a
/// reset.
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

/// The `n`-th Fibonacci number, computed the quick way: what `Crypto::encrypt(n, ..)` must
/// hand its callback (the runtime computes it the book's slow way).
pub fn fib(n: usize) -> usize {
    (0..n).fold((0, 1), |(a, b), _| (b, a + b)).0
}

/// A small deterministic generator (xorshift64*): the same seed gives the same run, so a
/// shuffle is the same on every run and a failure can be replayed (see
/// [`reliability::seed`]).
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
