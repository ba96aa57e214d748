//! Oracle case `interval_no_burst` (`tests/oracle/interval_no_burst.js`): a 20 ms interval
//! whose first callback blocks the loop for 100 ms is not caught up with a burst of calls
//! afterwards: each firing is armed from when the previous one ran, so firings 2 to 5 still
//! come at least one period apart. The fifth clears the interval.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_interval_no_burst`.

mod oracle_util;

use std::cell::Cell;
use std::rc::Rc;

use node_experiment::runtime::{Timeout, clear_interval, print, set_interval};
use oracle_util::{busy_wait, scaled};

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        let me: Rc<Cell<Option<Timeout>>> = Rc::default();
        let m = me.clone();
        let mut n = 0;
        me.set(Some(set_interval(scaled(20), move |_| {
            n += 1;
            print(format!("interval #{n}"));
            if n == 1 {
                busy_wait(100);
            }
            if n == 5 {
                clear_interval(m.get().expect("the interval is set"));
            }
        })));
        print("main end");
    });
}
