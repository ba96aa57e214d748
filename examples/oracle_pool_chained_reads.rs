//! Oracle case `pool_chained_reads` (`tests/oracle/pool_chained_reads.js`): a read whose
//! callback starts the next read (read -> read -> read), an encrypt job started from the
//! second read, and timers at 500, 1500 and 2500 ms in between.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_pool_chained_reads`.

mod oracle_util;

use node_experiment::runtime::{Crypto, Fs, print, set_timeout};
use oracle_util::{case_file, js_length, scaled};

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        Fs::read(case_file("test.txt"), |t1| {
            let t1 = t1.into_string().unwrap_or_default();
            print(format!("read 1 done: {} chars", js_length(&t1)));
            Fs::read(case_file("test.txt"), |t2| {
                let t2 = t2.into_string().unwrap_or_default();
                print(format!("read 2 done: {} chars", js_length(&t2)));
                Crypto::encrypt(20, |v| {
                    let v = v.into_int().unwrap_or_default();
                    print(format!("encrypt from read 2 done: {v}"));
                });
                Fs::read(case_file("test.txt"), |t3| {
                    let t3 = t3.into_string().unwrap_or_default();
                    print(format!("read 3 done: {t3}"));
                });
            });
        });
        for d in [500, 1500, 2500] {
            set_timeout(scaled(d), move |_| print(format!("timer {d}ms")));
        }
        print("main end");
    });
}
