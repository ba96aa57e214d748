//! Node's timer API: `clear_timeout`, `set_interval`, `clear_interval`, `set_immediate` and
//! `next_tick`, checked against the rules Node documents ("The Node.js Event Loop",
//! `timers`, `process.nextTick`).
//!
//! Every test records what ran by pushing a label from each callback, then compares the
//! order after `run` returns; times appear only as strict lower bounds and as upper bounds
//! of "expected + [`SLACK`]". Each runtime runs on its own thread and the test waits for it
//! at most [`HANG_SLACK`], so a broken rule that hangs the loop fails with a message
//! instead of stalling the whole test run.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use node_experiment::runtime::{
    Fs, Io, Js, Runtime, Timeout, clear_interval, clear_timeout, next_tick, set_immediate,
    set_interval, set_timeout,
};
use util::within;

/// The one generous slack added to every upper time bound in this file: room for 16 test
/// threads on two cores. This file's own: twice [`util::SLACK`], the slack of the other
/// test files (tightening it would change this file's bounds, so it stays).
const SLACK: Duration = Duration::from_secs(2);

/// How long a test waits for its runtime's thread (through [`within`]) before calling the
/// loop hung. Far above anything a correct test needs (the slowest takes well under a
/// second), and well below [`util::runtime::LIMIT`] (30 s) of the other runtime tests.
const HANG_SLACK: Duration = Duration::from_secs(10);

/// The pretended latency of every `Fs::read`.
const FS_DELAY: Duration = Duration::from_millis(20);

/// A file that exists wherever the tests run.
const SOME_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");

/// Labels pushed by callbacks, in the order the callbacks ran.
type Log = Rc<RefCell<Vec<String>>>;

fn push(log: &Log, label: impl Into<String>) {
    log.borrow_mut().push(label.into());
}

/// A callback that only records `label`.
fn mark(log: &Log, label: &str) -> impl FnOnce(Js) + 'static {
    let (log, label) = (log.clone(), label.to_string());
    move |_| push(&log, label)
}

/// An interval's callback that records `label` each time.
fn mark_each(log: &Log, label: &str) -> impl FnMut(Js) + 'static {
    let (log, label) = (log.clone(), label.to_string());
    move |_| push(&log, label.clone())
}

/// Builds a quiet runtime and runs `program` as its main, bounded by [`HANG_SLACK`].
/// Returns the labels the callbacks pushed and how long `run` took.
fn run_js(what: &str, program: impl FnOnce(&Log) + Send + 'static) -> (Vec<String>, Duration) {
    within(HANG_SLACK, what, move || {
        let rt = Runtime::builder()
            .verbose(false)
            .fs_delay(FS_DELAY)
            .build()
            .expect("build the runtime");
        let log: Log = Rc::default();
        let l = log.clone();
        let start = Instant::now();
        rt.run(move || program(&l));
        let took = start.elapsed();
        let labels = log.borrow().clone();
        (labels, took)
    })
}

/// A slot for a timer's own handle, so a callback can clear the timer that runs it (or one
/// set after it).
type Handle = Rc<Cell<Option<Timeout>>>;

fn handle_slot() -> Handle {
    Rc::new(Cell::new(None))
}

fn the(h: &Handle) -> Timeout {
    h.get()
        .expect("the handle is stored before the loop starts")
}

// ===== clear_timeout =====

#[test]
fn a_timer_cleared_by_an_earlier_timer_of_the_same_pass_never_fires() {
    let (log, _) = run_js("same pass", |log| {
        // All three are due at the first timers phase: they were set before main returned.
        let b = handle_slot();
        let (l, b2) = (log.clone(), b.clone());
        set_timeout(0, move |_| {
            push(&l, "A");
            clear_timeout(the(&b2));
        });
        b.set(Some(set_timeout(0, mark(log, "B"))));
        set_timeout(0, mark(log, "C"));
        // Make sure the same holds for timers that are due because time passed.
        let d = handle_slot();
        let (l, d2) = (log.clone(), d.clone());
        set_timeout(1, move |_| {
            push(&l, "D");
            clear_timeout(the(&d2));
        });
        d.set(Some(set_timeout(1, mark(log, "E"))));
        thread::sleep(Duration::from_millis(5));
    });
    assert_eq!(
        log,
        ["A", "C", "D"],
        "B and E were cleared while already due"
    );
}

#[test]
fn a_timer_cleared_from_main_before_it_is_due_never_fires() {
    let (log, took) = run_js("clear from main", |log| {
        let t = set_timeout(10, mark(log, "cleared"));
        clear_timeout(t);
        set_timeout(20, mark(log, "kept"));
    });
    assert_eq!(log, ["kept"]);
    assert!(took >= Duration::from_millis(20), "ran after {took:?}");
    assert!(
        took < Duration::from_millis(20) + SLACK,
        "ran after {took:?}"
    );
}

#[test]
fn clearing_twice_or_clearing_a_fired_timer_does_nothing() {
    // If a second clear (or a clear of a fired timer) counted again against the loop's
    // pending work, the loop would stop before "late" and "last", or underflow and panic.
    let (log, _) = run_js("no-op clears", |log| {
        let fired = set_timeout(0, mark(log, "fired"));
        let twice = set_timeout(10, mark(log, "cleared twice"));
        clear_timeout(twice);
        clear_timeout(twice);
        clear_interval(twice);
        let l = log.clone();
        set_timeout(20, move |_| {
            clear_timeout(fired);
            clear_timeout(fired);
            clear_timeout(twice);
            push(&l, "late");
        });
        // A timer clearing itself while it runs: it has already fired.
        let me = handle_slot();
        let (l, m) = (log.clone(), me.clone());
        me.set(Some(set_timeout(30, move |_| {
            clear_timeout(the(&m));
            push(&l, "self");
        })));
        set_timeout(40, mark(log, "last"));
    });
    assert_eq!(log, ["fired", "late", "self", "last"]);
}

#[test]
fn a_cleared_timer_does_not_keep_the_loop_alive() {
    let (log, took) = run_js("cleared 60 s", |log| {
        let long = set_timeout(60_000, mark(log, "60 s timeout"));
        let long_interval = set_interval(60_000, |_| panic!("a cleared interval fired"));
        clear_timeout(long);
        clear_interval(long_interval);
        // One cleared from a callback, after the loop has started.
        let later = set_timeout(60_000, mark(log, "60 s, cleared late"));
        let l = log.clone();
        set_timeout(10, move |_| {
            clear_timeout(later);
            push(&l, "10 ms");
        });
    });
    assert_eq!(log, ["10 ms"]);
    assert!(took >= Duration::from_millis(10), "ran after {took:?}");
    assert!(
        took < Duration::from_millis(10) + SLACK,
        "ran after {took:?}"
    );
}

#[test]
fn clear_timeout_takes_an_interval_and_clear_interval_a_timeout() {
    let (log, _) = run_js("either handle", |log| {
        let count = Rc::new(Cell::new(0));
        let me = handle_slot();
        let (l, c, m) = (log.clone(), count.clone(), me.clone());
        me.set(Some(set_interval(1, move |_| {
            c.set(c.get() + 1);
            push(&l, format!("interval {}", c.get()));
            if c.get() == 3 {
                clear_timeout(the(&m));
            }
        })));
        let t = set_timeout(5, mark(log, "timeout"));
        clear_interval(t);
        // An interval cleared by another timer due in the same pass: both are set in a
        // callback that then blocks past their deadlines.
        let l = log.clone();
        set_timeout(10, move |_| {
            let other = handle_slot();
            let (l2, o) = (l.clone(), other.clone());
            set_timeout(1, move |_| {
                push(&l2, "clearer");
                clear_timeout(the(&o));
            });
            other.set(Some(set_interval(1, mark_each(&l, "other interval"))));
            thread::sleep(Duration::from_millis(5));
        });
    });
    // The two parts may interleave on a loaded machine; each keeps its own order.
    let (intervals, rest): (Vec<String>, Vec<String>) =
        log.into_iter().partition(|l| l.starts_with("interval"));
    assert_eq!(intervals, ["interval 1", "interval 2", "interval 3"]);
    assert_eq!(rest, ["clearer"], "a cleared timer or interval fired");
}

#[test]
fn a_stale_handle_from_an_earlier_run_cancels_nothing() {
    // A `Timeout` is `Copy` and `Send`, so it can outlive the `run` that made it. Clearing
    // it in a later run must not cancel whatever now holds the same numbers (Node: clearing
    // something that is not a live timer does nothing).
    let (stale_tx, stale_rx) = mpsc::channel();
    run_js("first run", move |log| {
        stale_tx
            .send(set_timeout(0, mark(log, "first")))
            .expect("send the handle out");
    });
    let stale = stale_rx.recv().expect("the first run made a handle");
    let (log, _) = run_js("second run", move |log| {
        // Each new runtime numbers its callbacks and timers from the start again.
        Fs::read(SOME_FILE, mark(log, "read"));
        set_timeout(10, mark(log, "timeout"));
        clear_timeout(stale);
    });
    let mut log = log;
    log.sort();
    assert_eq!(log, ["read", "timeout"]);
}

// ===== set_interval =====

#[test]
fn an_interval_rearms_when_it_fires_and_never_bursts_to_catch_up() {
    const PERIOD: Duration = Duration::from_millis(10);
    const BLOCK: Duration = Duration::from_millis(50);
    const FIRINGS: usize = 6;
    let (firings, set_at) = within(HANG_SLACK, "no burst", || {
        let rt = Runtime::builder()
            .verbose(false)
            .fs_delay(FS_DELAY)
            .build()
            .unwrap();
        let firings = Rc::new(RefCell::new(Vec::new()));
        let set_at = Rc::new(Cell::new(None));
        let (f, s) = (firings.clone(), set_at.clone());
        rt.run(move || {
            let me = handle_slot();
            let m = me.clone();
            s.set(Some(Instant::now()));
            me.set(Some(set_interval(PERIOD.as_millis() as u64, move |_| {
                f.borrow_mut().push(Instant::now());
                let n = f.borrow().len();
                if n == 1 {
                    thread::sleep(BLOCK);
                }
                if n == FIRINGS {
                    clear_interval(the(&m));
                }
            })));
        });
        let firings = firings.borrow().clone();
        (firings, set_at.get().unwrap())
    });
    assert_eq!(firings.len(), FIRINGS, "cleared after {FIRINGS} firings");
    assert!(firings[0] - set_at >= PERIOD, "first firing was early");
    let gaps: Vec<Duration> = firings.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= BLOCK,
        "the second firing came before the first returned: {gaps:?}"
    );
    for gap in &gaps {
        assert!(
            *gap >= PERIOD,
            "two firings closer than the period (a catch-up burst?): {gaps:?}"
        );
    }
    let total = *firings.last().unwrap() - set_at;
    assert!(
        total < BLOCK + PERIOD * FIRINGS as u32 + SLACK,
        "took {total:?}"
    );
}

#[test]
fn an_interval_that_clears_itself_never_fires_again_and_run_returns() {
    let (log, took) = run_js("self-clearing interval", |log| {
        let count = Rc::new(Cell::new(0));
        let me = handle_slot();
        let (l, c, m) = (log.clone(), count.clone(), me.clone());
        me.set(Some(set_interval(2, move |_| {
            c.set(c.get() + 1);
            push(&l, format!("tick {}", c.get()));
            if c.get() == 3 {
                clear_interval(the(&m));
                // Clearing it again, from its own callback, is a no-op too.
                clear_timeout(the(&m));
                // Ten periods later: any further firing would have come by then.
                let (l, c) = (l.clone(), c.clone());
                set_timeout(20, move |_| {
                    push(&l, format!("count 20 ms later: {}", c.get()))
                });
            }
        })));
    });
    assert_eq!(log, ["tick 1", "tick 2", "tick 3", "count 20 ms later: 3"]);
    let least = Duration::from_millis(3 * 2 + 20);
    assert!(took >= least, "ran after {took:?}");
    assert!(took < least + SLACK, "ran after {took:?}");
}

#[test]
fn a_live_interval_keeps_the_loop_alive() {
    const PERIOD_MS: u64 = 3;
    const N: usize = 5;
    let (log, took) = run_js("live interval", |log| {
        let count = Rc::new(Cell::new(0));
        let me = handle_slot();
        let (l, c, m) = (log.clone(), count.clone(), me.clone());
        me.set(Some(set_interval(PERIOD_MS, move |_| {
            c.set(c.get() + 1);
            push(&l, "interval");
            if c.get() == N {
                // Cleared from outside: a 0 ms timer, which runs before the next firing.
                let m = m.clone();
                set_timeout(0, move |_| clear_interval(the(&m)));
            }
        })));
    });
    assert_eq!(log.len(), N, "{log:?}");
    let least = Duration::from_millis(PERIOD_MS * N as u64);
    assert!(took >= least, "ran after {took:?}");
    assert!(took < least + SLACK, "ran after {took:?}");
}

// ===== set_immediate =====

#[test]
fn immediates_run_in_creation_order() {
    let (log, _) = run_js("immediate order", |log| {
        for i in 0..10 {
            set_immediate(mark(log, &format!("immediate {i}")));
        }
    });
    let expected: Vec<String> = (0..10).map(|i| format!("immediate {i}")).collect();
    assert_eq!(log, expected);
}

#[test]
fn an_immediate_queued_by_an_immediate_waits_for_the_next_check_phase() {
    let (log, _) = run_js("next check phase", |log| {
        let l = log.clone();
        set_immediate(move |_| {
            push(&l, "A");
            set_immediate(mark(&l, "C"));
            next_tick(mark(&l, "tick after A"));
            // Due before the next check phase (also with Node's 1 ms minimum).
            set_timeout(0, mark(&l, "timer"));
            thread::sleep(Duration::from_millis(2));
        });
        // Queued before the check phase began: runs in the same one as A.
        set_immediate(mark(log, "B"));
    });
    assert_eq!(log, ["A", "tick after A", "B", "timer", "C"]);
}

#[test]
fn the_poll_phase_does_not_wait_while_an_immediate_is_queued() {
    // A chain of immediates, each queuing the next, then clearing a 300 ms timer. If the
    // poll phase waited for the timer, that timer would fire before the chain ended.
    let (log, took) = run_js("poll does not wait", |log| {
        let timer = set_timeout(300, mark(log, "timer"));
        fn link(log: Log, i: u32, timer: Timeout) {
            push(&log, format!("immediate {i}"));
            if i == 5 {
                clear_timeout(timer);
            } else {
                set_immediate(move |_| link(log, i + 1, timer));
            }
        }
        let l = log.clone();
        set_immediate(move |_| link(l, 1, timer));
    });
    let expected: Vec<String> = (1..=5).map(|i| format!("immediate {i}")).collect();
    assert_eq!(log, expected);
    assert!(took < Duration::from_millis(300), "ran for {took:?}");
}

#[test]
fn inside_an_io_callback_an_immediate_always_runs_before_a_zero_timeout() {
    const ROUNDS: usize = 20;
    // One round at a time: the I/O callback sets both, the timeout starts the next round.
    // Even rounds read a file (a pool callback), odd rounds fetch from the local delay
    // server with no delay (a socket event); both run in the poll phase.
    fn round(log: Log, i: usize) {
        if i == ROUNDS {
            return;
        }
        let cb = move |js: Js| {
            assert!(!js.is_error(), "round {i}: {:?}", js.into_error());
            push(&log, format!("io {i}"));
            let l = log.clone();
            set_timeout(0, move |_| {
                push(&l, format!("timeout {i}"));
                round(l, i + 1);
            });
            set_immediate(mark(&log, &format!("immediate {i}")));
        };
        if i % 2 == 0 {
            Fs::read(SOME_FILE, cb);
        } else {
            Io::http_get_slow("example.com", 0, cb);
        }
    }
    let (log, _) = run_js("immediate before timeout", |log| round(log.clone(), 0));
    let expected: Vec<String> = (0..ROUNDS)
        .flat_map(|i| {
            [
                format!("io {i}"),
                format!("immediate {i}"),
                format!("timeout {i}"),
            ]
        })
        .collect();
    assert_eq!(log, expected);
}

// ===== next_tick =====

#[test]
fn next_ticks_run_after_main_before_any_timer_or_immediate() {
    let (log, _) = run_js("tick after main", |log| {
        set_timeout(0, mark(log, "timeout"));
        set_immediate(mark(log, "immediate"));
        Fs::read(SOME_FILE, mark(log, "read"));
        next_tick(mark(log, "tick 1"));
        next_tick(mark(log, "tick 2"));
        push(log, "main ends");
    });
    assert_eq!(log[..3], ["main ends", "tick 1", "tick 2"], "{log:?}");
    // Node leaves a 0 ms timeout against an immediate, both set in main, to chance; only
    // that all of them ran is checked.
    let mut rest = log[3..].to_vec();
    rest.sort();
    assert_eq!(rest, ["immediate", "read", "timeout"]);
}

#[test]
fn a_next_tick_runs_before_the_next_callback_of_the_same_phase() {
    let (log, _) = run_js("tick between callbacks", |log| {
        // Both timers are due at the first timers phase.
        let l = log.clone();
        set_timeout(0, move |_| {
            push(&l, "timer 1");
            next_tick(mark(&l, "tick from timer 1"));
        });
        set_timeout(0, mark(log, "timer 2"));
        // Both immediates run in the first check phase.
        let l = log.clone();
        set_immediate(move |_| {
            push(&l, "immediate 1");
            next_tick(mark(&l, "tick from immediate 1"));
        });
        set_immediate(mark(log, "immediate 2"));
    });
    assert_eq!(
        log,
        [
            "timer 1",
            "tick from timer 1",
            "timer 2",
            "immediate 1",
            "tick from immediate 1",
            "immediate 2",
        ]
    );
}

#[test]
fn the_next_tick_queue_drains_completely_before_the_loop_moves_on() {
    fn chain(log: &Log, prefix: &'static str, depth: u32) -> impl FnOnce(Js) + 'static {
        let log = log.clone();
        move |_| {
            push(&log, format!("{prefix} {depth}"));
            if depth < 3 {
                next_tick(chain(&log, prefix, depth + 1));
            }
        }
    }
    let (log, _) = run_js("ticks of ticks", |log| {
        set_timeout(0, {
            let l = log.clone();
            move |_| {
                push(&l, "timer 1");
                next_tick(chain(&l, "timer tick", 1));
            }
        });
        set_timeout(0, mark(log, "timer 2"));
        next_tick(chain(log, "main tick", 1));
        next_tick(mark(log, "second main tick"));
    });
    assert_eq!(
        log,
        [
            "main tick 1",
            "second main tick",
            "main tick 2",
            "main tick 3",
            "timer 1",
            "timer tick 1",
            "timer tick 2",
            "timer tick 3",
            "timer 2",
        ]
    );
}

#[test]
fn a_recursive_next_tick_starves_timers_and_io() {
    const TICKS: usize = 10_000;
    fn tick(log: Log, n: usize) {
        push(&log, "tick");
        if n == 0 {
            // Let the read finish on the pool: its result is then waiting, and still
            // must not run before the ticks stop.
            thread::sleep(FS_DELAY + Duration::from_millis(10));
        }
        if n + 1 < TICKS {
            next_tick(move |_| tick(log, n + 1));
        }
    }
    let (log, _) = run_js("starvation", |log| {
        Fs::read(SOME_FILE, mark(log, "read"));
        set_timeout(0, mark(log, "timer"));
        let l = log.clone();
        next_tick(move |_| tick(l, 0));
    });
    let ticks = log.iter().take_while(|l| *l == "tick").count();
    assert_eq!(
        ticks,
        TICKS,
        "something ran between ticks: {:?}",
        &log[ticks..]
    );
    assert_eq!(log[TICKS..], ["timer", "read"]);
}

// ===== nothing runs inside the call that scheduled it =====

#[test]
fn no_callback_runs_inside_the_call_that_scheduled_it() {
    /// Schedules one of everything, then records `who ends`; each callback records
    /// `who: kind`.
    fn schedule_all(log: &Log, who: &str) {
        let me = handle_slot();
        let (l, m, w) = (log.clone(), me.clone(), who.to_string());
        me.set(Some(set_interval(1, move |_| {
            push(&l, format!("{w}: interval"));
            clear_interval(the(&m));
        })));
        set_timeout(0, mark(log, &format!("{who}: timeout")));
        set_immediate(mark(log, &format!("{who}: immediate")));
        next_tick(mark(log, &format!("{who}: tick")));
        Fs::read("no/such/file", mark(log, &format!("{who}: failed read")));
        push(log, format!("{who} ends"));
    }
    let (log, _) = run_js("nothing synchronous", |log| {
        schedule_all(log, "main");
        let l = log.clone();
        set_timeout(5, move |_| schedule_all(&l, "timer"));
        let l = log.clone();
        set_immediate(move |_| schedule_all(&l, "immediate"));
    });
    for who in ["main", "timer", "immediate"] {
        let ends = log.iter().position(|l| *l == format!("{who} ends"));
        let ends = ends.unwrap_or_else(|| panic!("{who} never ran: {log:?}"));
        let prefix = format!("{who}: ");
        let theirs: Vec<usize> = (0..log.len())
            .filter(|&i| log[i].starts_with(&prefix))
            .collect();
        assert_eq!(theirs.len(), 5, "{who}'s callbacks: {log:?}");
        assert!(
            theirs.iter().all(|&i| i > ends),
            "a callback of {who} ran inside the call that scheduled it: {log:?}"
        );
        assert_eq!(
            log[ends + 1],
            format!("{who}: tick"),
            "{who}'s next tick is the very next thing: {log:?}"
        );
    }
}
