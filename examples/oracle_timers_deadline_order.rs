//! Oracle case `timers_deadline_order` (`tests/oracle/timers_deadline_order.js`): timers
//! registered as 300, 100, 500, 0, 200, 400, 50, 250 ms fire in deadline order.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_timers_deadline_order`.

mod oracle_util;

use node_experiment::runtime::{print, set_timeout};
use oracle_util::scaled;

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        for d in [300, 100, 500, 0, 200, 400, 50, 250] {
            set_timeout(scaled(d), move |_| print(format!("timer {d}ms")));
        }
        print("main end");
    });
}
