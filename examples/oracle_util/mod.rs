//! What the `oracle_*` examples share: the oracle's runtime set-up, its scale, and Node's
//! names for errors. The Rust twin of `tests/oracle/_rt.js`.
//!
//! Each `examples/oracle_<case>.rs` is `tests/oracle/<case>.js` written against our
//! runtime, printing the same lines; `tests/node_oracle.rs` runs it and checks its output
//! against `tests/oracle/<case>.spec`, the rules real Node.js keeps for that program.

// Each example uses only part of this module.
#![allow(dead_code)]

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use node_experiment::runtime::Runtime;

/// The environment variable that scales every delay (timers, reads, HTTP delays), like
/// `ORACLE_SCALE` for `_rt.js`. CPU work (`Crypto::encrypt`) is not scaled.
pub const SCALE_VAR: &str = "NODE_EXPERIMENT_SCALE";

/// How long a read takes before scaling: the book's one second.
const READ_SLEEP_MS: u64 = 1000;

/// The scale factor: `NODE_EXPERIMENT_SCALE`, 1 when unset.
///
/// # Panics
///
/// If the variable is set to anything but a positive number.
pub fn scale() -> f64 {
    match std::env::var(SCALE_VAR) {
        Err(_) => 1.0,
        Ok(s) => match s.parse::<f64>() {
            Ok(x) if x > 0.0 && x.is_finite() => x,
            _ => panic!("{SCALE_VAR} must be a positive number, not {s:?}"),
        },
    }
}

/// `ms` times the scale, rounded, and at least 1 unless it is 0: `scaled()` in `_rt.js`.
pub fn scaled(ms: u64) -> u64 {
    if ms == 0 {
        return 0;
    }
    ((ms as f64 * scale()).round() as u64).max(1)
}

/// Blocks the loop's thread for `ms` times the scale, spinning (a CPU-heavy callback):
/// `busyWait()` in `_rt.js`, which does not round.
pub fn busy_wait(ms: u64) {
    let end = Instant::now() + Duration::from_secs_f64(ms as f64 * scale() / 1000.0);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// [`scaled`] for an HTTP delay.
pub fn scaled_u32(ms: u32) -> u32 {
    u32::try_from(scaled(ms.into())).unwrap_or(u32::MAX)
}

/// The runtime the oracle's Node programs get: 4 pool threads, reads that take 1 s (times
/// the scale), no trace lines (the checks read only what the program prints).
pub fn runtime() -> Runtime {
    Runtime::builder()
        .threads(4)
        .fs_delay(Duration::from_millis(scaled(READ_SLEEP_MS)))
        .verbose(false)
        .build()
        .expect("start the runtime")
}

/// A file next to the oracle's cases (`tests/oracle/`), where `_rt.js` resolves paths.
pub fn case_file(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle")).join(name)
}

/// An address on loopback where nothing listens (`ORACLE_DEAD_PORT` for Node): a port we
/// bound and let go.
pub fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("the listener's address")
}

/// Node's `err.code` for an error: what the Node program prints.
pub fn code(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "ENOENT".into(),
        io::ErrorKind::ConnectionRefused => "ECONNREFUSED".into(),
        io::ErrorKind::ConnectionReset => "ECONNRESET".into(),
        io::ErrorKind::PermissionDenied => "EACCES".into(),
        io::ErrorKind::IsADirectory => "EISDIR".into(),
        io::ErrorKind::TimedOut => "ETIMEDOUT".into(),
        other => format!("{other:?}"),
    }
}

/// JavaScript's `string.length`: UTF-16 code units, not bytes.
pub fn js_length(s: &str) -> usize {
    s.encode_utf16().count()
}
