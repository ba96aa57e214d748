//! Oracle case `timers_equal_order` (`tests/oracle/timers_equal_order.js`): timers with
//! equal delays fire in registration order, each once (the book's `BTreeMap<Instant, _>`
//! could lose some): 50 x 0 ms, 30 x 100 ms, and two groups registered interleaved.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_timers_equal_order`.

mod oracle_util;

use node_experiment::runtime::{print, set_timeout};
use oracle_util::scaled;

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        for i in 0..50 {
            set_timeout(0, move |_| print(format!("zero #{i}")));
        }
        for i in 0..30 {
            set_timeout(scaled(100), move |_| print(format!("hundred #{i}")));
        }
        for i in 0..10 {
            set_timeout(scaled(300), move |_| print(format!("three-hundred #{i}")));
            set_timeout(scaled(200), move |_| print(format!("two-hundred #{i}")));
        }
        print("main end");
    });
}
