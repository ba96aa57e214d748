//! Oracle case `next_tick_starves` (`tests/oracle/next_tick_starves.js`): the next-tick
//! queue is drained completely, ticks queued by ticks included, before anything else runs.
//! 10000 chained ticks from main finish before a 0 ms timer that is already overdue (main
//! busy-waits 20 ms); 10000 chained ticks from a timer callback finish before the next
//! callback (a timer of the same timeout) and before the immediate that callback set.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_next_tick_starves`.

mod oracle_util;

use std::cell::Cell;
use std::rc::Rc;

use node_experiment::runtime::{next_tick, print, set_immediate, set_timeout};
use oracle_util::{busy_wait, scaled};

const TICKS: u32 = 10_000;

/// Queues one tick that queues the next, `TICKS` in all; the last calls `done(TICKS)`.
fn chain(done: impl FnOnce(u32) + 'static) {
    fn tick(n: Rc<Cell<u32>>, done: Box<dyn FnOnce(u32)>) {
        n.set(n.get() + 1);
        if n.get() < TICKS {
            next_tick(move |_| tick(n, done));
        } else {
            done(n.get());
        }
    }
    let n = Rc::new(Cell::new(0));
    let done: Box<dyn FnOnce(u32)> = Box::new(done);
    next_tick(move |_| tick(n, done));
}

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        set_timeout(0, |_| print("timer 0ms fired"));
        chain(|n| print(format!("ticks done {n}")));
        set_timeout(scaled(100), |_| {
            print("timer A 100ms: starts the ticks");
            chain(|n| print(format!("ticks in timer A done {n}")));
            set_immediate(|_| print("immediate from timer A"));
        });
        set_timeout(scaled(100), |_| print("timer B 100ms"));
        busy_wait(20);
        print("main end");
    });
}
