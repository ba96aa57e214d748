//! The poll phase: how long the loop waits, and what it handles when it wakes.
//!
//! Rules: the loop never sleeps past the next timer, whoever set it (FIX(book) R5, R6);
//! every event that is ready is handled in the same poll phase (R7); callbacks that are
//! ready together run in the order they became ready (R8).

mod util;

use std::thread;
use std::time::Duration;

use node_experiment::runtime::{Fs, Io, set_timeout};
use util::SLACK;
use util::runtime::{TEST_TXT, builder, run_logged};

/// FIX(book) R5: the book's poll thread read its timeout before blocking; it started as
/// "no timeout", so a program whose only pending work was a timer set from a pool callback
/// slept forever.
#[test]
fn a_timer_set_from_a_pool_callback_fires_on_time() {
    const DELAY: Duration = Duration::from_millis(50);
    let trace = run_logged("a timer set from a read's callback", builder(), |log| {
        let l = log.clone();
        Fs::read(TEST_TXT, move |_| {
            l.push("read");
            set_timeout(DELAY.as_millis() as u64, l.cb("timer"));
        });
    });
    assert_eq!(trace.labels(), ["read", "timer"]);
    let waited = trace.at("timer") - trace.at("read");
    assert!(waited >= DELAY, "the timer fired after {waited:?}");
    assert!(waited < DELAY + SLACK, "the timer fired after {waited:?}");
}

/// The same from a network callback, with a pool job still running: the loop must wake
/// for the timer although it is also waiting for the pool.
#[test]
fn a_timer_set_from_an_http_callback_fires_on_time_while_the_pool_is_busy() {
    const DELAY: Duration = Duration::from_millis(40);
    let trace = run_logged(
        "a timer set from an HTTP callback",
        builder().fs_delay(Duration::from_millis(600)),
        |log| {
            Fs::read(TEST_TXT, log.cb("slow read"));
            let l = log.clone();
            Io::http_get_slow("timer.example", 10, move |_| {
                l.push("response");
                set_timeout(DELAY.as_millis() as u64, l.cb("timer"));
            });
        },
    );
    assert_eq!(trace.labels(), ["response", "timer", "slow read"]);
    let waited = trace.at("timer") - trace.at("response");
    assert!(waited >= DELAY, "the timer fired after {waited:?}");
    assert!(waited < DELAY + SLACK, "the timer fired after {waited:?}");
}

/// FIX(book) R7: the book handled one event per tick, so between two reads that finished
/// together, a new tick ran its timers phase: a 0 ms timer set by the first read's
/// callback ran before the second read's callback. Here all three reads are done before
/// the loop starts (main sleeps), so one poll phase takes them all.
#[test]
fn all_ready_events_run_in_the_same_tick() {
    let trace = run_logged(
        "three reads ready at once",
        builder().fs_delay(Duration::from_millis(5)),
        |log| {
            let l = log.clone();
            Fs::read(TEST_TXT, move |_| {
                l.push("read");
                set_timeout(0, l.cb("timer set by the first read"));
            });
            Fs::read(TEST_TXT, log.cb("read"));
            Fs::read(TEST_TXT, log.cb("read"));
            // Long enough for all three reads (5 ms each, on 4 threads) to finish and
            // queue their results before the loop's first poll.
            thread::sleep(Duration::from_millis(300));
        },
    );
    assert_eq!(
        trace.labels(),
        ["read", "read", "read", "timer set by the first read"]
    );
}

/// FIX(book) R8: the book used `callbacks_to_run` as a stack. With one pool thread the
/// reads finish in submission order, all before the loop starts; a stack would run their
/// callbacks newest first.
#[test]
fn callbacks_run_in_fifo_order() {
    let trace = run_logged(
        "ten reads ready at once",
        builder().threads(1).fs_delay(Duration::ZERO),
        |log| {
            for i in 0..10 {
                Fs::read(TEST_TXT, log.cb(format!("read {i}")));
            }
            thread::sleep(Duration::from_millis(200));
            for i in 0..10 {
                set_timeout(0, log.cb(format!("timer {i}")));
            }
        },
    );
    let expected: Vec<String> = (0..10)
        .map(|i| format!("timer {i}"))
        .chain((0..10).map(|i| format!("read {i}")))
        .collect();
    assert_eq!(trace.labels(), expected);
}

/// The loop wakes for whichever comes first, a timer or an event, again and again.
#[test]
fn timers_and_pool_results_interleave_by_time() {
    let trace = run_logged(
        "timers around reads",
        builder().fs_delay(Duration::from_millis(200)),
        |log| {
            let l = log.clone();
            Fs::read(TEST_TXT, move |_| {
                l.push("read 1");
                Fs::read(TEST_TXT, l.cb("read 2"));
            });
            // 100 ms between neighbours, so a busy machine cannot swap them.
            for d in [100, 300, 500] {
                set_timeout(d, log.cb(format!("timer {d}ms")));
            }
        },
    );
    assert_eq!(
        trace.labels(),
        [
            "timer 100ms",
            "read 1",
            "timer 300ms",
            "read 2",
            "timer 500ms"
        ]
    );
}
