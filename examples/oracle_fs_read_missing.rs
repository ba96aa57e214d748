//! Oracle case `fs_read_missing` (`tests/oracle/fs_read_missing.js`): reading a missing
//! file hands the callback an error (after the simulated 1 s, as the book sleeps before it
//! opens), and the loop carries on: a further read works.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_fs_read_missing`.

mod oracle_util;

use node_experiment::runtime::{Fs, Js, print, set_timeout};
use oracle_util::{case_file, code, js_length, scaled};

fn main() {
    oracle_util::runtime().run(|| {
        print("main start");
        Fs::read(case_file("no-such-file.txt"), |result| {
            match result {
                Js::Error(e) => print(format!("read error: {}", code(&e))),
                other => print(format!("unexpected success: {other:?}")),
            }
            Fs::read(case_file("test.txt"), |result| match result {
                Js::Error(e) => print(format!("second read error: {}", code(&e))),
                other => {
                    let text = other.into_string().unwrap_or_default();
                    print(format!("second read ok: {} chars", js_length(&text)));
                }
            });
        });
        set_timeout(scaled(500), |_| print("timer 500ms"));
        set_timeout(scaled(1500), |_| print("timer 1500ms"));
        print("main end");
    });
}
