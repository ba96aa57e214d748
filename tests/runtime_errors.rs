//! Errors are values: a failed operation hands its callback a `Js::Error`, once, and the
//! loop goes on (FIX(book) R9: the book `unwrap`ped inside pool jobs, so a missing file
//! killed a pool thread, its result never came, and `run` hung).
//!
//! The HTTP errors are in `runtime_http.rs`.

mod util;

use std::path::PathBuf;

use node_experiment::runtime::{Crypto, Fs, Js, MAX_FIBONACCI_N};
use util::runtime::{Log, TEST_TXT, TEST_TXT_CONTENTS, TempPath, builder, run_logged};

/// A callback that records the error's kind, or what came instead of an error.
fn expect_error(log: &Log, what: &'static str) -> impl FnOnce(Js) + 'static {
    let log = log.clone();
    move |js| match js {
        Js::Error(e) => log.push(format!("{what}: {:?}: {e}", e.kind())),
        other => log.push(format!("{what}: no error but {other:?}")),
    }
}

/// Reads `path`, which must fail, then a good file with a pool of one thread: if the
/// failure had killed the thread, the second read would never be delivered.
fn read_fails_once_then_loop_goes_on(path: PathBuf) -> String {
    let trace = run_logged("a failing read", builder().threads(1), move |log| {
        let l = log.clone();
        let recorder = expect_error(log, "bad read");
        Fs::read(path, move |js| {
            recorder(js);
            Fs::read(TEST_TXT, move |js| {
                l.push(format!("good read: {:?}", js.into_string()));
            });
        });
    });
    let labels = trace.labels();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert_eq!(labels[1], format!("good read: Some({TEST_TXT_CONTENTS:?})"));
    labels[0].clone()
}

#[test]
fn missing_file_reaches_the_callback_as_an_error() {
    let missing = TempPath::new("missing");
    let got = read_fails_once_then_loop_goes_on(missing.path().to_path_buf());
    assert!(got.starts_with("bad read: NotFound: "), "{got}");
    // The message names the file, so a program can say which one.
    assert!(
        got.contains(&*missing.path().to_string_lossy()),
        "the error does not name the path: {got}"
    );
}

#[test]
fn a_directory_reaches_the_callback_as_an_error() {
    let dir = TempPath::dir("dir");
    let got = read_fails_once_then_loop_goes_on(dir.path().to_path_buf());
    assert!(got.starts_with("bad read: "), "{got}");
    assert!(!got.contains("no error"), "{got}");
}

#[test]
fn a_file_that_is_not_utf8_reaches_the_callback_as_an_error() {
    let file = TempPath::file("latin1", b"caf\xe9 \xff\xfe");
    let got = read_fails_once_then_loop_goes_on(file.path().to_path_buf());
    assert!(got.starts_with("bad read: InvalidData: "), "{got}");
}

/// Fibonacci numbers past `MAX_FIBONACCI_N` do not fit in a `usize`: an error value, not
/// an overflow panic on a pool thread.
#[test]
fn an_encrypt_too_large_for_a_usize_is_an_error() {
    let trace = run_logged("encrypt past the limit", builder().threads(1), |log| {
        Crypto::encrypt(MAX_FIBONACCI_N + 1, expect_error(log, "too large"));
        // (The naive recursion makes `MAX_FIBONACCI_N` itself take years.)
        let l = log.clone();
        Crypto::encrypt(10, move |js| l.push(format!("then: {:?}", js.into_int())));
    });
    let labels = trace.labels();
    assert!(
        labels[0].starts_with("too large: InvalidInput: "),
        "{labels:?}"
    );
    assert_eq!(labels[1], "then: Some(55)");
}

/// Many failures in a row (more than there are threads) all arrive, and none stops the
/// pool.
#[test]
fn many_failing_reads_all_arrive() {
    let missing = TempPath::new("many-missing");
    let path = missing.path().to_path_buf();
    let trace = run_logged(
        "20 failing reads on 2 threads",
        builder().threads(2),
        move |log| {
            for i in 0..20 {
                Fs::read(path.clone(), log.cb(format!("failed {i}")));
            }
            Fs::read(TEST_TXT, log.cb("good"));
        },
    );
    assert_eq!(trace.entries.len(), 21, "{:?}", trace.labels());
    assert_eq!(trace.count("good"), 1);
}
