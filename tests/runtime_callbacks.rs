//! The callback queue: when and where callbacks run.
//!
//! Rules: `main` runs to completion before any callback; no callback ever runs inside the
//! call that scheduled it, not even one whose result is known at once (a refused
//! connection); every callback runs exactly once, on the thread that called `run`, with
//! the value its operation produced.

mod util;

use std::thread;
use std::time::Duration;

use node_experiment::runtime::{Crypto, Fs, Io, Js, set_timeout};
use util::dead_addr;
use util::runtime::{Log, TEST_TXT, TEST_TXT_CONTENTS, builder, run_logged};

#[test]
fn main_runs_to_completion_first() {
    let trace = run_logged("a busy main", builder().fs_delay(Duration::ZERO), |log| {
        set_timeout(0, log.cb("timer"));
        Fs::read(TEST_TXT, log.cb("read"));
        Crypto::encrypt(1, log.cb("encrypt"));
        Io::http_get_slow_from(dead_addr(), "refused.example", 0, log.cb("refused"));
        Io::http_get_slow("fast.example", 0, log.cb("response"));
        // Everything above is done long before main ends.
        thread::sleep(Duration::from_millis(100));
        log.push("main end");
    });
    let labels = trace.labels();
    assert_eq!(labels.len(), 6, "{labels:?}");
    assert_eq!(labels[0], "main end", "{labels:?}");
}

/// Schedules one of each operation from inside a callback and notes when each call
/// returned: every callback must come after its call returned.
fn schedule_everything(log: &Log, round: &'static str) {
    let l = log.clone();
    let cb = move |what: &'static str| l.cb(format!("{round}: {what} callback"));
    set_timeout(0, cb("set_timeout"));
    log.push(format!("{round}: set_timeout returned"));
    Fs::read(TEST_TXT, cb("Fs::read"));
    log.push(format!("{round}: Fs::read returned"));
    Crypto::encrypt(3, cb("Crypto::encrypt"));
    log.push(format!("{round}: Crypto::encrypt returned"));
    Io::http_get_slow_from(dead_addr(), "refused.example", 0, cb("refused request"));
    log.push(format!("{round}: refused request returned"));
    Io::http_get_slow("ok.example", 0, cb("request"));
    log.push(format!("{round}: request returned"));
}

#[test]
fn no_callback_runs_inside_the_call_that_scheduled_it() {
    let trace = run_logged(
        "every operation, from main and from callbacks",
        builder().fs_delay(Duration::ZERO),
        |log| {
            schedule_everything(log, "main");
            let l = log.clone();
            // From a timer callback (timers phase)...
            set_timeout(0, move |_| schedule_everything(&l, "timer"));
            let l = log.clone();
            // ...from a refused connection's callback (pending phase)...
            Io::http_get_slow_from(dead_addr(), "refused.example", 0, move |_| {
                schedule_everything(&l, "pending")
            });
            let l = log.clone();
            // ...and from a read's callback (poll phase).
            Fs::read(TEST_TXT, move |_| schedule_everything(&l, "poll"));
        },
    );
    let ops = [
        "set_timeout",
        "Fs::read",
        "Crypto::encrypt",
        "refused request",
        "request",
    ];
    for round in ["main", "timer", "pending", "poll"] {
        for op in ops {
            let returned = trace.position(&format!("{round}: {op} returned"));
            let called = trace.position(&format!("{round}: {op} callback"));
            assert!(
                returned < called,
                "{round}: the {op} callback ran inside the call: {:?}",
                trace.labels()
            );
        }
    }
}

/// A refused connection is known while `Io::http_get_slow_from` runs; its callback waits
/// for the loop's pending phase, after `main` has returned.
#[test]
fn a_refused_connection_is_reported_after_main_returns() {
    let trace = run_logged("a refused connection", builder(), |log| {
        Io::http_get_slow_from(dead_addr(), "refused.example", 0, log.cb("refused"));
        log.push("main end");
    });
    assert_eq!(trace.labels(), ["main end", "refused"]);
}

/// FIX(book) R3: callback ids are unique while pending, so with hundreds in flight at once
/// every callback runs exactly once (a duplicate id would run one twice and lose another).
#[test]
fn every_callback_runs_exactly_once() {
    let trace = run_logged(
        "hundreds of callbacks in flight",
        builder().fs_delay(Duration::from_millis(1)),
        |log| {
            for i in 0..300 {
                set_timeout(i % 7, log.cb(format!("timer {i}")));
            }
            for i in 0..100 {
                Fs::read(TEST_TXT, log.cb(format!("read {i}")));
                Crypto::encrypt(i % 20, log.cb(format!("encrypt {i}")));
            }
            for i in 0..20 {
                Io::http_get_slow(&format!("r{i}"), i, log.cb(format!("request {i}")));
            }
        },
    );
    let mut labels = trace.labels();
    let total = labels.len();
    labels.sort();
    labels.dedup();
    assert_eq!(labels.len(), total, "a callback ran twice");
    assert_eq!(total, 300 + 200 + 20, "a callback was lost");
}

/// Callbacks run on the thread that called `run`, never on a pool or poll thread.
#[test]
fn callbacks_run_on_the_thread_that_called_run() {
    let trace = run_logged("where callbacks run", builder(), |log| {
        let me = thread::current().id();
        let check = move |what: &'static str, log: &Log| {
            let l = log.clone();
            move |_: Js| {
                assert_eq!(thread::current().id(), me, "{what} ran on another thread");
                l.push(what);
            }
        };
        set_timeout(0, check("timer", log));
        Fs::read(TEST_TXT, check("read", log));
        Crypto::encrypt(10, check("encrypt", log));
        Io::http_get_slow("x", 0, check("request", log));
        Io::http_get_slow_from(dead_addr(), "x", 0, check("refused", log));
    });
    assert_eq!(trace.entries.len(), 5, "{:?}", trace.labels());
}

#[test]
fn each_operation_hands_its_callback_its_value() {
    let trace = run_logged("the values callbacks get", builder(), |log| {
        let l = log.clone();
        set_timeout(0, move |js| l.push(format!("timer: {js:?}")));
        let l = log.clone();
        Fs::read(TEST_TXT, move |js| {
            l.push(format!("read: {:?}", js.into_string()));
        });
        let l = log.clone();
        Crypto::encrypt(30, move |js| {
            l.push(format!("encrypt: {:?}", js.into_int()))
        });
        let l = log.clone();
        Io::http_get_slow("v.example", 0, move |js| {
            l.push(format!("request: {:?}", js.into_string()));
        });
    });
    let mut labels = trace.labels();
    labels.sort();
    assert_eq!(
        labels,
        [
            "encrypt: Some(832040)".to_string(),
            format!("read: Some({TEST_TXT_CONTENTS:?})"),
            "request: Some(\"slow response for http://v.example\\n\")".to_string(),
            "timer: Undefined".to_string(),
        ]
    );
}
