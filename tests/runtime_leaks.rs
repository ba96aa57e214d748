//! After `run` returns, nothing of the runtime is left: no thread, no descriptor.
//!
//! Counted in `/proc/self/task` and `/proc/self/fd`, which describe the whole process, so
//! this file holds this one test: a test binary runs its tests in parallel, and a second
//! test's runtime would be counted too. Linux only, for those two directories (proc(5)).
#![cfg(target_os = "linux")]

mod runtime_util;

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant};

use node_experiment::runtime::{Crypto, Fs, Io, Runtime, set_timeout};
use runtime_util::{
    FakeServer, LIMIT, Log, TEST_TXT, answer_and_close, builder, dead_addr, within,
};

/// A thread that was joined can stay listed for a moment after `join` returns (the kernel
/// wakes the joiner before it has removed the thread); a leak never goes away.
const SETTLE: Duration = Duration::from_secs(2);

/// The process's threads (by id, with their names) and descriptors (with what they are).
fn snapshot() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
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

/// Fails unless the process is back to `baseline` within [`SETTLE`].
fn assert_back_to(baseline: &(BTreeMap<String, String>, BTreeMap<String, String>), after: &str) {
    let deadline = Instant::now() + SETTLE;
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
    assert_back_to(&baseline, "a normal run");

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
    assert_back_to(&baseline, "a run that panicked");

    // 3. A runtime that is built and dropped without running.
    within(LIMIT, "a runtime that never runs", || {
        drop(Runtime::builder().verbose(false).build().expect("build"));
    });
    assert_back_to(&baseline, "a runtime dropped without running");
}
