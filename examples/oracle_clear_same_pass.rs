//! Oracle case `clear_same_pass` (`tests/oracle/clear_same_pass.js`): a timer cleared while
//! it is already due in the timers pass that is running never runs.
//!
//! - Timers of the same timeout: the first clears the second and an interval of the same
//!   period, both registered after it; a third, not cleared, still runs.
//! - Different timeouts overdue in one pass: a 500 ms timer blocks the loop for 100 ms, so
//!   the 510 ms and 520 ms timers are due together; the 510 ms one clears the other.
//! - An interval that clears itself from its own callback, on its third firing.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_clear_same_pass`.

mod oracle_util;

use std::cell::Cell;
use std::rc::Rc;

use node_experiment::runtime::{
    Timeout, clear_interval, clear_timeout, print, set_interval, set_timeout,
};
use oracle_util::{busy_wait, scaled};

/// A handle a callback registered earlier can read once it is set.
type Slot = Rc<Cell<Option<Timeout>>>;

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        let second: Slot = Rc::default();
        let same_interval: Slot = Rc::default();
        let (s, i) = (second.clone(), same_interval.clone());
        set_timeout(scaled(50), move |_| {
            print("first 50ms: clears the second and the interval");
            clear_timeout(s.get().expect("the second timer is set"));
            clear_interval(i.get().expect("the interval is set"));
        });
        second.set(Some(set_timeout(scaled(50), |_| {
            print("second 50ms (BUG: it was cleared)")
        })));
        same_interval.set(Some(set_interval(scaled(50), |_| {
            print("interval 50ms (BUG: it was cleared)")
        })));
        set_timeout(scaled(50), |_| print("third 50ms"));

        let me: Slot = Rc::default();
        let m = me.clone();
        let mut n = 0;
        me.set(Some(set_interval(scaled(100), move |_| {
            n += 1;
            print(format!("self-clearing interval #{n}"));
            if n == 3 {
                clear_interval(m.get().expect("the interval is set"));
            }
        })));

        let later: Slot = Rc::default();
        let l = later.clone();
        set_timeout(scaled(500), |_| {
            print("blocker 500ms: busy for 100ms");
            busy_wait(100);
        });
        set_timeout(scaled(510), move |_| {
            print("timer 510ms: clears the 520ms timer");
            clear_timeout(l.get().expect("the 520ms timer is set"));
        });
        later.set(Some(set_timeout(scaled(520), |_| {
            print("timer 520ms (BUG: it was cleared)")
        })));
        set_timeout(scaled(800), |_| print("timer 800ms"));
        print("main end");
    });
}
