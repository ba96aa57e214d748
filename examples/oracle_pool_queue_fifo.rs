//! Oracle case `pool_queue_fifo` (`tests/oracle/pool_queue_fifo.js`): four slow reads hold
//! all four pool threads; six cheap encrypt jobs submitted after them wait in the FIFO
//! queue. Every callback prints `completion #k`: queued encrypt j can only finish after
//! completion #(j+1) has freed a thread.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_pool_queue_fifo`.

mod oracle_util;

use std::cell::Cell;
use std::rc::Rc;

use node_experiment::runtime::{Crypto, Fs, print};
use oracle_util::{case_file, js_length};

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        let done = Rc::new(Cell::new(0));
        let reads = Rc::new(Cell::new(0));
        for i in 0..4 {
            let (done, reads) = (done.clone(), reads.clone());
            Fs::read(case_file("test.txt"), move |text| {
                let text = text.into_string().unwrap_or_default();
                print(format!("read {i} done: {} chars", js_length(&text)));
                done.set(done.get() + 1);
                print(format!("completion #{}", done.get()));
                reads.set(reads.get() + 1);
                if reads.get() == 4 {
                    print("all reads done");
                }
            });
        }
        for j in 0..6 {
            let done = done.clone();
            Crypto::encrypt(20, move |v| {
                let v = v.into_int().unwrap_or_default();
                print(format!("queued encrypt {j} done: {v}"));
                done.set(done.get() + 1);
                print(format!("completion #{}", done.get()));
            });
        }
        print("main end");
    });
}
