//! How `run` ends: as soon as nothing is pending, or at once when a callback panics.
//!
//! Rules: `run` returns as soon as the last callback has run (at once for an empty main);
//! a panic in `main` or in a callback propagates out of `run` promptly, as an uncaught
//! exception ends a Node program, without waiting for pending work and without running
//! another callback. `runtime_leaks.rs` checks that no thread or descriptor survives.

mod util;

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use node_experiment::runtime::{Fs, Io, set_timeout};
use util::runtime::{LIMIT, Log, TEST_TXT, builder, run_logged};
use util::{SLACK, within};

#[test]
fn an_empty_main_returns_at_once() {
    let trace = run_logged("an empty main", builder(), |_| {});
    assert!(
        trace.run_took < SLACK,
        "building the runtime, running nothing and shutting down took {:?}",
        trace.run_took
    );
}

#[test]
fn run_returns_as_soon_as_the_last_callback_has_run() {
    let trace = run_logged("work that ends at 100 ms", builder(), |log| {
        set_timeout(100, log.cb("last"));
        set_timeout(10, log.cb("first"));
        Fs::read(TEST_TXT, log.cb("read"));
    });
    assert_eq!(trace.labels().last().map(String::as_str), Some("last"));
    let lingered = trace.run_took - trace.at("last");
    assert!(
        lingered < SLACK,
        "run returned {lingered:?} after the last callback"
    );
}

/// What a panicking program left behind: the panic's message, how long `run` took to give
/// it back, and what the callbacks recorded.
struct Panicked {
    message: String,
    took: Duration,
    labels: Vec<String>,
}

/// Runs `program` expecting it to panic out of `run`, with slow work still pending.
fn run_expecting_panic(what: &str, program: fn(&Log)) -> Panicked {
    within(LIMIT, what, move || {
        let log = Log::new();
        let rt = builder()
            .fs_delay(Duration::from_secs(10))
            .build()
            .expect("build the runtime");
        let start = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| rt.run(|| program(&log))));
        let took = start.elapsed();
        let payload = result.expect_err("the panic did not propagate out of run");
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let labels = log.labels();
        Panicked {
            message,
            took,
            labels,
        }
    })
}

/// Schedules slow work that must not delay the panic: a 10 s read, a 10 s response, a
/// 10 s timer.
fn schedule_slow_work(log: &Log) {
    Fs::read(TEST_TXT, log.cb("read (should never run)"));
    Io::http_get_slow(
        "slow.example",
        10_000,
        log.cb("response (should never run)"),
    );
    set_timeout(10_000, log.cb("timer (should never run)"));
}

#[test]
fn a_panic_in_a_callback_propagates_out_of_run_promptly() {
    let p = run_expecting_panic("a panic in a timer callback", |log| {
        schedule_slow_work(log);
        let l = log.clone();
        set_timeout(10, move |_| {
            l.push("about to panic");
            panic!("boom from a timer callback");
        });
        // Same deadline as the panicking timer, set right after it: never runs.
        set_timeout(10, log.cb("same-deadline timer (should never run)"));
    });
    assert_eq!(p.message, "boom from a timer callback");
    assert_eq!(p.labels, ["about to panic"]);
    assert!(
        p.took < SLACK,
        "the panic took {:?} to leave run, with a 10 s read pending",
        p.took
    );
}

#[test]
fn a_panic_in_main_propagates_out_of_run_promptly() {
    let p = run_expecting_panic("a panic in main", |log| {
        schedule_slow_work(log);
        panic!("boom from main");
    });
    assert_eq!(p.message, "boom from main");
    assert!(p.labels.is_empty(), "{:?}", p.labels);
    assert!(p.took < SLACK, "the panic took {:?} to leave run", p.took);
}

/// The panic leaves nothing behind on the thread: it can run another runtime at once.
#[test]
fn after_a_panic_the_thread_can_run_another_runtime() {
    let labels = within(LIMIT, "a runtime after a panicking one", || {
        let rt = builder().build().expect("build the first runtime");
        let first = panic::catch_unwind(AssertUnwindSafe(|| {
            rt.run(|| {
                set_timeout(0, |_| panic!("boom"));
            })
        }));
        assert!(first.is_err());
        let log = Log::new();
        builder()
            .build()
            .expect("build the second runtime")
            .run(|| {
                set_timeout(0, log.cb("second runtime's timer"));
                Fs::read(TEST_TXT, log.cb("second runtime's read"));
            });
        log.labels()
    });
    assert_eq!(labels, ["second runtime's timer", "second runtime's read"]);
}

/// Two runtimes one after the other on one thread, each with its own pool and server.
#[test]
fn two_runtimes_can_run_one_after_the_other() {
    let labels = within(LIMIT, "two runtimes in a row", || {
        let log = Log::new();
        for round in ["first", "second"] {
            builder().build().expect("build a runtime").run(|| {
                Io::http_get_slow("x", 0, log.cb(format!("{round} response")));
                Fs::read(TEST_TXT, log.cb(format!("{round} read")));
            });
        }
        let mut labels = log.labels();
        labels.sort();
        labels
    });
    assert_eq!(
        labels,
        [
            "first read",
            "first response",
            "second read",
            "second response"
        ]
    );
}
