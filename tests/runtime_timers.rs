//! Timers: `set_timeout` and `clear_timeout`, as Node orders them.
//!
//! Rules: equal delays fire in registration order, different ones in deadline order; a
//! timer never fires early; a 0 ms timer set inside a timer callback waits for a later
//! tick; a cleared timer never fires and does not keep the loop alive.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use node_experiment::runtime::{Fs, Timeout, clear_timeout, set_timeout};
use util::SLACK;
use util::runtime::{TEST_TXT, builder, run_logged};

/// FIX(book) R1: the book keyed timers by `Instant` alone, so a second timer with the same
/// deadline overwrote the first: its callback never ran and `run` hung.
///
/// The public API cannot force two equal `Instant`s (each `set_timeout` reads the clock),
/// so this sets a thousand timers per delay in a tight loop: on a clock as coarse as
/// Windows' (100 ns) many of them share an `Instant`. The exact case is the unit test
/// `two_timers_at_the_same_instant_both_fire_in_registration_order` in
/// `src/runtime/timers.rs`.
#[test]
fn two_timers_at_the_same_instant_both_fire() {
    const N: usize = 1000;
    let trace = run_logged("a thousand timers per delay", builder(), |log| {
        for i in 0..N {
            set_timeout(0, log.cb(format!("zero {i}")));
        }
        for i in 0..N {
            set_timeout(5, log.cb(format!("five {i}")));
        }
    });
    let expected: Vec<String> = (0..N)
        .map(|i| format!("zero {i}"))
        .chain((0..N).map(|i| format!("five {i}")))
        .collect();
    assert_eq!(
        trace.labels(),
        expected,
        "every timer fires exactly once; equal delays in registration order"
    );
}

#[test]
fn timers_fire_in_deadline_order_not_registration_order() {
    let delays = [30, 10, 50, 0, 20, 40, 5, 25];
    let trace = run_logged("timers of different delays", builder(), move |log| {
        for d in delays {
            set_timeout(d, log.cb(format!("timer {d}ms")));
        }
        log.push("main end");
    });
    let mut sorted = delays;
    sorted.sort_unstable();
    let expected: Vec<String> = std::iter::once("main end".to_string())
        .chain(sorted.iter().map(|d| format!("timer {d}ms")))
        .collect();
    assert_eq!(trace.labels(), expected);
}

/// Interleaved registration (300, 200, 300, 200, ...) as in the oracle's
/// `timers_equal_order`: each group keeps its registration order, the groups keep deadline
/// order.
#[test]
fn interleaved_groups_keep_registration_order_within_deadline_order() {
    let trace = run_logged("interleaved timer groups", builder(), |log| {
        for i in 0..10 {
            set_timeout(30, log.cb(format!("thirty {i}")));
            set_timeout(20, log.cb(format!("twenty {i}")));
        }
    });
    let expected: Vec<String> = (0..10)
        .map(|i| format!("twenty {i}"))
        .chain((0..10).map(|i| format!("thirty {i}")))
        .collect();
    assert_eq!(trace.labels(), expected);
}

/// FIX(book) R6: the book rounded the time to the next timer down to whole milliseconds;
/// whatever the rounding, a timer must never run before its delay has passed.
#[test]
fn a_timer_never_fires_early() {
    let delays = [1u64, 2, 3, 5, 8, 13, 21, 34, 55];
    let trace = run_logged("timers checked for lateness", builder(), move |log| {
        for d in delays {
            // Recorded before the call, so `set` is no later than the clock reading that
            // `set_timeout` starts the delay from: the bound below is strict.
            log.push(format!("set {d}"));
            set_timeout(d, log.cb(format!("fired {d}")));
            // Spread the registrations over time so the deadlines do not line up.
            thread::sleep(Duration::from_micros(300));
        }
    });
    for d in delays {
        let waited = trace.at(&format!("fired {d}")) - trace.at(&format!("set {d}"));
        let delay = Duration::from_millis(d);
        assert!(
            waited >= delay,
            "the {d} ms timer fired after only {waited:?}"
        );
        assert!(
            waited < delay + SLACK,
            "the {d} ms timer fired {waited:?} after it was set"
        );
    }
}

/// Node runs the timers that are due when the timers phase starts; a 0 ms timer set by one
/// of them is due only in the next tick's phase.
#[test]
fn a_zero_timer_set_in_a_timer_callback_runs_after_the_other_due_timers() {
    let trace = run_logged("A sets C while B is due", builder(), |log| {
        let l = log.clone();
        set_timeout(0, move |_| {
            l.push("A");
            set_timeout(0, l.cb("C"));
        });
        set_timeout(0, log.cb("B"));
    });
    assert_eq!(trace.labels(), ["A", "B", "C"]);
}

/// "A later tick" means the rest of the tick runs first: a read that finished while main
/// was busy is delivered in this tick's poll phase, before C. A timers phase that went
/// round again for timers set during it would run C before the read.
#[test]
fn a_zero_timer_set_in_a_timer_callback_waits_for_the_next_tick() {
    let trace = run_logged(
        "A sets C while a read is ready",
        builder().fs_delay(Duration::ZERO),
        |log| {
            let l = log.clone();
            set_timeout(0, move |_| {
                l.push("A");
                set_timeout(0, l.cb("C"));
            });
            set_timeout(0, log.cb("B"));
            Fs::read(TEST_TXT, log.cb("read"));
            // The read is done and waiting before the loop's first tick.
            thread::sleep(Duration::from_millis(100));
        },
    );
    assert_eq!(trace.labels(), ["A", "B", "read", "C"]);
}

#[test]
fn a_cleared_timer_never_fires() {
    let trace = run_logged("a timer cleared in main", builder(), |log| {
        let t = set_timeout(10, log.cb("cleared timer fired"));
        set_timeout(20, log.cb("other timer"));
        clear_timeout(t);
    });
    assert_eq!(trace.labels(), ["other timer"]);
}

/// A and B are both due in the same timers phase; A clears B, which has already been taken
/// out of the heap to run. B must not run, and the loop must still count right: the later
/// timer D still fires and `run` still returns.
#[test]
fn a_timer_cleared_by_another_due_timer_in_the_same_pass_never_fires() {
    let trace = run_logged("A clears B in the same pass", builder(), |log| {
        let b: Rc<Cell<Option<Timeout>>> = Rc::default();
        let (l, b2) = (log.clone(), b.clone());
        set_timeout(0, move |_| {
            l.push("A");
            clear_timeout(b2.get().expect("B was set in main"));
        });
        b.set(Some(set_timeout(0, log.cb("B"))));
        set_timeout(0, log.cb("after B"));
        set_timeout(20, log.cb("D"));
    });
    assert_eq!(trace.labels(), ["A", "after B", "D"]);
}

/// Clearing a timer that already fired, or clearing one twice, must not touch the count of
/// pending work: if it did, the loop would end before the read below delivers.
#[test]
fn clearing_a_fired_timer_or_clearing_twice_changes_nothing() {
    let trace = run_logged(
        "stale clear_timeout calls",
        builder().fs_delay(Duration::from_millis(50)),
        |log| {
            let early = set_timeout(0, log.cb("early"));
            let late = set_timeout(30, log.cb("late"));
            Fs::read(TEST_TXT, log.cb("read"));
            let l = log.clone();
            set_timeout(10, move |_| {
                l.push("clearing");
                clear_timeout(early);
                clear_timeout(early);
                clear_timeout(late);
                clear_timeout(late);
            });
        },
    );
    assert_eq!(trace.labels(), ["early", "clearing", "read"]);
}

#[test]
fn a_cleared_long_timer_does_not_keep_the_loop_alive() {
    let trace = run_logged("a cleared 60 s timer", builder(), |log| {
        let long = set_timeout(60_000, log.cb("long timer fired"));
        set_timeout(0, move |_| clear_timeout(long));
    });
    assert!(trace.labels().is_empty(), "{:?}", trace.labels());
    assert!(
        trace.run_took < SLACK,
        "run returned {:?} after start although nothing was pending",
        trace.run_took
    );
}

#[test]
fn a_delay_of_u64_max_does_not_panic() {
    let trace = run_logged("set_timeout(u64::MAX)", builder(), |log| {
        let forever = set_timeout(u64::MAX, log.cb("u64::MAX timer fired"));
        let l = log.clone();
        set_timeout(10, move |_| {
            l.push("clearing");
            clear_timeout(forever);
        });
    });
    assert_eq!(trace.labels(), ["clearing"]);
    assert!(trace.run_took < SLACK, "run took {:?}", trace.run_took);
}

/// A program that keeps setting 0 ms timers from timer callbacks gets one per tick, and the
/// poll phase runs between them: a read that finishes meanwhile is delivered, and the chain
/// sees it.
#[test]
fn a_chain_of_zero_timers_does_not_starve_io() {
    // Far more ticks than a 10 ms read needs, even on a slow machine; a starving loop
    // reaches it in seconds.
    const MAX_LINKS: usize = 200_000;
    fn link(n: usize, read_done: Rc<Cell<bool>>, log: util::runtime::Log) {
        if read_done.get() {
            log.push("chain stopped by the read");
        } else if n == MAX_LINKS {
            log.push("chain ran out: the read was never delivered");
        } else {
            set_timeout(0, move |_| link(n + 1, read_done, log));
        }
    }
    let trace = run_logged("a chain of 0 ms timers beside a read", builder(), |log| {
        let done: Rc<Cell<bool>> = Rc::default();
        let (d, l) = (done.clone(), log.clone());
        Fs::read(TEST_TXT, move |_| {
            d.set(true);
            l.push("read delivered");
        });
        let l = log.clone();
        set_timeout(0, move |_| link(0, done, l));
    });
    assert_eq!(
        trace.labels(),
        ["read delivered", "chain stopped by the read"]
    );
}
