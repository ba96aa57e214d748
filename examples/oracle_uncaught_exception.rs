//! Oracle case `uncaught_exception` (`tests/oracle/uncaught_exception.js`): a callback
//! panics. Node dies of the uncaught exception at once (status 1); our `run` lets the
//! panic through at once, and the program dies of it (status 101): no other callback runs,
//! not even a timer with the same deadline, nor pending pool or HTTP work.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_uncaught_exception`.

mod oracle_util;

use node_experiment::runtime::{Fs, Io, print, set_timeout};
use oracle_util::{case_file, scaled, scaled_u32};

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        Fs::read(case_file("test.txt"), |_| {
            print("read done (BUG: process should be dead)")
        });
        Io::http_get_slow("http//www.google.com", scaled_u32(300), |_| {
            print("http done (BUG: process should be dead)")
        });
        set_timeout(scaled(100), |_| {
            print("about to throw");
            // Node reports `throw new Error("boom ...")` as "Error: boom ..."; a panic
            // reports its message as given, so the message carries the same words.
            panic!("Error: boom from timer callback");
        });
        set_timeout(scaled(100), |_| {
            print("same-deadline timer after the throwing one (BUG)")
        });
        set_timeout(scaled(200), |_| {
            print("timer 200ms (BUG: process should be dead)")
        });
        print("main end");
    });
}
