//! Oracle case `empty_main` (`tests/oracle/empty_main.js`): main registers nothing, so
//! `run` returns right after main does.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_empty_main`.

mod oracle_util;

use node_experiment::runtime::print;

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        let _unused = || print("never called");
        print("main end");
    });
}
