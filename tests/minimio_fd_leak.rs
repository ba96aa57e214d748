//! A `Poll` frees every descriptor it made: its queue, its close wake-up (FIX(book) M6: the
//! book's `close_loop` opened a new eventfd on every call and never closed it) and its
//! wakers'.
//!
//! Linux only: it counts the entries of `/proc/self/fd`, which other systems do not have.
//! It is the only test in this file on purpose: the tests of one binary run in parallel
//! threads of one process, and any other test opening a socket would change the count.

#![cfg(target_os = "linux")]

use std::fs;
use std::io;

use node_experiment::minimio::{Events, Poll, Waker};

fn open_fds() -> io::Result<usize> {
    // `read_dir` holds one descriptor of its own while it reads; it does so on every call,
    // so the counts stay comparable.
    Ok(fs::read_dir("/proc/self/fd")?.count())
}

#[test]
fn creating_polling_and_dropping_polls_leaves_no_descriptor_open() -> io::Result<()> {
    // libkqueue (the kqueue backend on Linux, in CI) tears a closed kqueue down about 50 ms
    // later on a thread of its own; a new kqueue that reuses the descriptor number before
    // then can lose its filters (seen as ENOENT from a wake in round ~50). That is
    // libkqueue's race, not minimio's: there, fewer rounds, each given time to settle.
    const ROUNDS: usize = if cfg!(minimio_libkqueue) { 30 } else { 2_000 };
    const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);
    let before = open_fds()?;
    let mut events = Events::with_capacity(4);
    for round in 0..ROUNDS {
        // Each step names itself in its error, so a failure says where it happened.
        let at = |what: &'static str| {
            move |e: io::Error| io::Error::new(e.kind(), format!("round {round}, {what}: {e}"))
        };
        let mut poll = Poll::new().map_err(at("Poll::new"))?;
        let registrator = poll.registrator();
        let waker = Waker::new(&registrator, 1).map_err(at("Waker::new"))?;
        waker.wake().map_err(at("wake"))?;
        assert_eq!(poll.poll(&mut events, Some(0)).map_err(at("poll"))?, 1);
        registrator.close_loop().map_err(at("close_loop"))?;
        registrator.close_loop().map_err(at("second close_loop"))?;
        assert_eq!(
            poll.poll(&mut events, Some(0)).unwrap_err().kind(),
            io::ErrorKind::Interrupted
        );
        // Both orders of dropping must free everything.
        if round % 2 == 0 {
            drop(poll);
            drop(waker);
        } else {
            drop(waker);
            drop(poll);
        }
        if cfg!(minimio_libkqueue) {
            std::thread::sleep(SETTLE);
        }
    }
    // With `--cfg minimio_libkqueue` (the kqueue backend on Linux, in CI), libkqueue closes
    // the descriptors behind a closed kqueue a moment later, on a thread of its own (about
    // 50 ms here); epoll frees everything before `drop` returns. Give it a bounded moment.
    let mut after = open_fds()?;
    for _ in 0..40 {
        if after == before || !cfg!(minimio_libkqueue) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        after = open_fds()?;
    }
    assert_eq!(
        after, before,
        "{before} descriptors open before {ROUNDS} Polls, {after} after"
    );
    Ok(())
}
