//! Calls made where no runtime is running, and `print` from any thread.
//!
//! FIX(book) R4: the book reached the runtime through a `static mut` pointer to a local of
//! `run`, so a call outside `run` (or from another thread) used a dangling pointer or raced.
//! Here such a call panics with a message that says what to do. (`print`, which needs no
//! runtime, is in `runtime_print.rs`.)

mod util;

use std::thread;

use node_experiment::runtime::{Crypto, Fs, Io, Runtime, set_timeout};
use util::runtime::{LIMIT, TEST_TXT, builder, run_logged};
use util::{dead_addr, within};

#[test]
#[should_panic(expected = "inside Runtime::run")]
fn set_timeout_outside_run_panics() {
    set_timeout(0, |_| {});
}

#[test]
#[should_panic(expected = "inside Runtime::run")]
fn fs_read_outside_run_panics() {
    Fs::read(TEST_TXT, |_| {});
}

#[test]
#[should_panic(expected = "inside Runtime::run")]
fn crypto_encrypt_outside_run_panics() {
    Crypto::encrypt(1, |_| {});
}

#[test]
#[should_panic(expected = "inside Runtime::run")]
fn http_get_slow_outside_run_panics() {
    Io::http_get_slow_from(dead_addr(), "x", 0, |_| {});
}

/// After `run` has returned, the runtime is gone: a call panics, it does not reach a
/// dangling runtime.
#[test]
#[should_panic(expected = "inside Runtime::run")]
fn set_timeout_after_run_returned_panics() {
    within(LIMIT, "a runtime, then a call after it", || {
        builder().build().expect("build").run(|| {});
        set_timeout(0, |_| {});
    });
}

/// A thread spawned by the program is not the loop's thread: a call from it panics there
/// with a message, and the loop goes on undisturbed.
#[test]
fn set_timeout_from_another_thread_panics_with_a_message() {
    let trace = run_logged("set_timeout from a spawned thread", builder(), |log| {
        let joined = thread::spawn(|| {
            set_timeout(0, |_| {});
        })
        .join();
        let payload = joined.expect_err("set_timeout on another thread must panic");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.contains("on the thread that called run"),
            "unhelpful message: {message:?}"
        );
        set_timeout(0, log.cb("the loop goes on"));
    });
    assert_eq!(trace.labels(), ["the loop goes on"]);
}

#[test]
#[should_panic(expected = "inside a running Runtime::run")]
fn run_inside_run_panics() {
    within(LIMIT, "a run inside a run", || {
        builder().build().expect("build outer").run(|| {
            let inner = Runtime::builder()
                .verbose(false)
                .build()
                .expect("build inner");
            inner.run(|| {});
        });
    });
}
