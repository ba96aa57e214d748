//! Oracle case `pool_ten_crypto` (`tests/oracle/pool_ten_crypto.js`): ten concurrent
//! encrypt jobs on a four-thread pool (the book panics "Out of threads." at the fifth): all
//! complete, each once, and job i (i >= 4) only after the (i-3)-th completion.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_pool_ten_crypto`.

mod oracle_util;

use std::cell::Cell;
use std::rc::Rc;

use node_experiment::runtime::{Crypto, print};

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        let done = Rc::new(Cell::new(0));
        for i in 0..10 {
            let done = done.clone();
            Crypto::encrypt(30, move |v| {
                let v = v.into_int().unwrap_or_default();
                print(format!("encrypt job {i} done: {v}"));
                done.set(done.get() + 1);
                print(format!("completion #{}", done.get()));
                if done.get() == 10 {
                    print("all 10 encrypt jobs done");
                }
            });
        }
        print("main end");
    });
}
