//! Recording only watches: the same programs run in the same order with recording on as
//! with it off (the ordering rules of `runtime_*` tests and of `tests/oracle/`).

mod util;

use std::time::Duration;

use node_experiment::runtime::{
    Crypto, Fs, Io, RuntimeBuilder, next_tick, set_immediate, set_interval, set_timeout,
};
use util::runtime::{Log, TEST_TXT, TempPath, builder, run_logged};

/// A program whose order is fixed by the rules alone, never by timing: main first, then
/// next-ticks; equal timers in registration order; inside an I/O callback an immediate
/// before a 0 ms timer; FIFO in a one-thread pool; a chain of callbacks.
fn ordered_program(log: &Log) {
    let l = log.clone();
    next_tick(move |_| l.push("tick 1"));
    set_timeout(0, log.cb("timeout a"));
    set_timeout(0, log.cb("timeout b"));
    let l = log.clone();
    Fs::read(TEST_TXT, move |_| {
        l.push("read");
        let (a, b, c) = (l.clone(), l.clone(), l.clone());
        set_timeout(0, move |_| {
            a.push("timeout after read");
            // A chain: a later timer, then a request it starts.
            let a2 = a.clone();
            set_timeout(5, move |_| {
                a2.push("late timer");
                let a3 = a2.clone();
                Io::http_get_slow("order.example", 1, move |_| a3.push("response"));
            });
        });
        set_immediate(move |_| b.push("immediate after read"));
        next_tick(move |_| c.push("tick after read"));
    });
    for n in 0..4 {
        Crypto::encrypt(n, log.cb(format!("encrypt {n}")));
    }
    log.push("main end");
}

fn run(builder: RuntimeBuilder) -> Vec<String> {
    run_logged("the ordered program", builder, ordered_program).labels()
}

#[test]
fn recording_does_not_change_the_order() {
    // One pool thread: jobs finish in the order they were queued.
    let base = || builder().threads(1).fs_delay(Duration::ZERO);
    let expected = [
        "main end",
        "tick 1",
        "timeout a",
        "timeout b",
        "read",
        "tick after read",
        "encrypt 0",
        "encrypt 1",
        "encrypt 2",
        "encrypt 3",
        "immediate after read",
        "timeout after read",
        "late timer",
        "response",
    ];
    let svg = TempPath::new("ordering.svg");
    let json = TempPath::new("ordering.json");
    for _ in 0..3 {
        let off = run(base());
        let on = run(base().record(true));
        let files = run(base().trace(json.path()).timeline(svg.path()));
        // The pool's results may arrive in one poll phase or several; what the rules fix
        // is the relative order, which is the same in all three runs.
        for order in [&off, &on, &files] {
            let pos = |l: &str| {
                order
                    .iter()
                    .position(|x| x == l)
                    .unwrap_or_else(|| panic!("{l:?} missing from {order:?}"))
            };
            assert_eq!(order.len(), expected.len(), "{order:?}");
            for pair in expected.windows(2) {
                let rule_holds = match (pair[0], pair[1]) {
                    // Both follow the read; where the encrypts land around them depends
                    // on when the pool finishes, with or without recording.
                    (a, b) if a.starts_with("encrypt") || b.starts_with("encrypt") => true,
                    (a, b) => pos(a) < pos(b),
                };
                assert!(
                    rule_holds,
                    "{} before {} broken in {order:?}",
                    pair[0], pair[1]
                );
            }
            for n in 0..3 {
                assert!(pos(&format!("encrypt {n}")) < pos(&format!("encrypt {}", n + 1)));
            }
            assert!(pos("read") < pos("tick after read"));
            assert!(pos("tick after read") < pos("immediate after read"));
            assert!(pos("immediate after read") < pos("timeout after read"));
        }
    }
}

#[test]
fn an_interval_records_each_firing_and_keeps_its_rhythm() {
    use std::cell::Cell;
    use std::rc::Rc;
    for record in [false, true] {
        let trace = run_logged("an interval", builder().record(record), |log| {
            let n = Rc::new(Cell::new(0));
            let me = Rc::new(Cell::new(None));
            let (l, n2, m) = (log.clone(), n.clone(), me.clone());
            me.set(Some(set_interval(1, move |_| {
                n2.set(n2.get() + 1);
                l.push(format!("fire {}", n2.get()));
                if n2.get() == 3 {
                    node_experiment::runtime::clear_interval(m.get().unwrap());
                }
            })));
        });
        assert_eq!(trace.labels(), ["fire 1", "fire 2", "fire 3"]);
    }
}
