//! After `run` returns, nothing of the runtime is left: no thread, no descriptor.
//!
//! Counted in `/proc/self/task` and `/proc/self/fd`, which describe the whole process, so
//! this file holds this one test: a test binary runs its tests in parallel, and a second
//! test's runtime would be counted too. Linux only, for those two directories (proc(5)).
#![cfg(target_os = "linux")]

mod util;

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use node_experiment::runtime::{Crypto, Fs, Io, Runtime, set_timeout};
use util::linux::{assert_back_to, snapshot};
use util::runtime::{FakeServer, LIMIT, Log, TEST_TXT, builder};
use util::{answer_and_close, dead_addr, within};

/// How long the process may take to get back to its baseline: a thread that was joined
/// can stay listed for a moment after `join` returns (the kernel wakes the joiner before
/// it has removed the thread); a leak never goes away.
const SETTLE: Duration = Duration::from_secs(2);

#[test]
fn no_thread_or_descriptor_outlives_run() {
    let baseline = snapshot();

    // 1. A run that uses every part: timers, pool, the built-in delay server, a refused
    //    connection and a request to another server.
    let server = FakeServer::start(1, |s| {
        answer_and_close(s, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    let other = server.addr;
    let labels = within(LIMIT, "a run that uses everything", move || {
        let log = Log::new();
        builder().build().expect("build").run(|| {
            set_timeout(5, log.cb("timer"));
            Fs::read(TEST_TXT, log.cb("read"));
            Crypto::encrypt(15, log.cb("encrypt"));
            Io::http_get_slow("x", 5, log.cb("built-in server"));
            Io::http_get_slow_from(dead_addr(), "x", 0, log.cb("refused"));
            Io::http_get_slow_from(other, "x", 0, log.cb("other server"));
        });
        log.labels().len()
    });
    assert_eq!(labels, 6);
    assert_eq!(server.request_lines().len(), 1);
    assert_back_to(&baseline, SETTLE, "a normal run");

    // 2. A run that panics with a read, a response and a timer still pending.
    let outcome = within(LIMIT, "a run that panics", || {
        let rt = builder()
            .fs_delay(Duration::from_secs(10))
            .build()
            .expect("build");
        panic::catch_unwind(AssertUnwindSafe(|| {
            rt.run(|| {
                Fs::read(TEST_TXT, |_| {});
                Io::http_get_slow("x", 10_000, |_| {});
                set_timeout(10_000, |_| {});
                set_timeout(5, |_| panic!("boom"));
            })
        }))
        .is_err()
    });
    assert!(outcome, "the panic did not propagate out of run");
    assert_back_to(&baseline, SETTLE, "a run that panicked");

    // 3. A runtime that is built and dropped without running.
    within(LIMIT, "a runtime that never runs", || {
        drop(Runtime::builder().verbose(false).build().expect("build"));
    });
    assert_back_to(&baseline, SETTLE, "a runtime dropped without running");
}
