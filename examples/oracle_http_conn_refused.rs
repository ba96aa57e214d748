//! Oracle case `http_conn_refused` (`tests/oracle/http_conn_refused.js`): a request to a
//! port where nothing listens hands its callback `ECONNREFUSED`, after main has returned
//! and without waiting for the delay, and the loop carries on.
//!
//! Run by `tests/node_oracle.rs`; by hand: `cargo run --example oracle_http_conn_refused`.

mod oracle_util;

use node_experiment::runtime::{Io, Js, print, set_timeout};
use oracle_util::{code, dead_addr, scaled, scaled_u32};

fn main() {
    let dead = dead_addr();
    oracle_util::runtime().run(|| {
        print("main start");
        Io::http_get_slow_from(dead, "http//refused.example", scaled_u32(1000), |result| {
            match result {
                Js::Error(e) => print(format!("http error: {}", code(&e))),
                other => print(format!("unexpected response: {other:?}")),
            }
            Io::http_get_slow(
                "http//www.google.com",
                scaled_u32(1000),
                |result| match result {
                    Js::Error(e) => print(format!("second http error: {}", code(&e))),
                    other => {
                        let body = other.into_string().unwrap_or_default();
                        print(format!("second http ok: {}", body.trim()));
                    }
                },
            );
        });
        set_timeout(scaled(500), |_| print("timer 500ms"));
        print("main end");
    });
}
