//! Oracle case `immediate_vs_timeout_in_io` (`tests/oracle/immediate_vs_timeout_in_io.js`):
//! inside an I/O callback (the poll phase), `set_immediate` runs before a `set_timeout(0, ..)`
//! set at the same moment, even one set before it: the check phase comes before the next
//! timers phase. 10 rounds; each round's read starts from the previous round's timeout.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_immediate_vs_timeout_in_io`.

mod oracle_util;

use node_experiment::runtime::{Fs, print, set_immediate, set_timeout};
use oracle_util::case_file;

const ROUNDS: u32 = 10;

fn round(i: u32) {
    Fs::read(case_file("test.txt"), move |_| {
        print(format!("round {i}: read done"));
        set_timeout(0, move |_| {
            print(format!("round {i}: timeout"));
            if i < ROUNDS {
                round(i + 1);
            }
        });
        set_immediate(move |_| print(format!("round {i}: immediate")));
    });
}

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        round(1);
        print("main end");
    });
}
