//! A signal that interrupts the OS wait is retried inside `poll` with the time that
//! remains (FIX(book) M13: the book waited the full timeout again after every `EINTR`).
//!
//! Linux only, because of how the signal is made without a signal handler (the crate has
//! no `libc` to install one): on Linux, a process stopped by `SIGSTOP` and resumed by
//! `SIGCONT` sees `epoll_wait` fail with `EINTR` even though no handler ran (signal(7),
//! "Interruption of system calls and library functions by stop signals"). The test sends
//! itself that pair with `sh -c 'kill -STOP $pid; kill -CONT $pid'` every so often while
//! one `poll` waits.
//!
//! It is the only test in this file because stopping the process stops every test thread
//! in it, which would disturb the timing of other tests.

#![cfg(target_os = "linux")]

mod util;

use std::io;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use node_experiment::minimio::{Events, Poll};
use util::SLACK;

/// The poll's timeout.
const TIMEOUT_MS: u64 = 1_000;
/// Time between two stop/continue pairs. Much shorter than the timeout, so a `poll` that
/// restarted the full timeout after each one would not return before the signals stop.
const EVERY: Duration = Duration::from_millis(150);
/// When the signals stop at the latest, so that even a broken `poll` ends.
const SIGNAL_FOR: Duration = Duration::from_millis(TIMEOUT_MS * 4);

/// Stops this process and lets it go on at once, from a shell that is not stopped with it.
fn stop_and_continue_this_process() -> io::Result<()> {
    let pid = std::process::id().to_string();
    let status = Command::new("sh")
        .args(["-c", "kill -STOP \"$0\" && kill -CONT \"$0\"", &pid])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kill -STOP/-CONT failed: {status}"
        )))
    }
}

#[test]
fn signals_during_poll_are_retried_with_the_remaining_time() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));

    let start = Instant::now();
    let signaller = {
        let (done, sent) = (Arc::clone(&done), Arc::clone(&sent));
        thread::spawn(move || -> io::Result<()> {
            while !done.load(Ordering::Acquire) && start.elapsed() < SIGNAL_FOR {
                thread::sleep(EVERY);
                if done.load(Ordering::Acquire) {
                    break;
                }
                stop_and_continue_this_process()?;
                sent.fetch_add(1, Ordering::AcqRel);
            }
            Ok(())
        })
    };

    let result = poll.poll(&mut events, Some(TIMEOUT_MS as i32));
    let elapsed = start.elapsed();
    let sent_during_poll = sent.load(Ordering::Acquire);
    done.store(true, Ordering::Release);
    signaller.join().expect("signalling thread panicked")?;

    // Not an error: `Interrupted` means only "closed" (see `Poll::poll`).
    assert_eq!(result.map_err(|e| e.kind()), Ok(0), "{events:?}");
    // Not early...
    let timeout = Duration::from_millis(TIMEOUT_MS);
    assert!(elapsed >= timeout, "returned Ok(0) after {elapsed:?}");
    // ...and not the full timeout again after the last signal.
    assert!(
        elapsed < timeout + SLACK,
        "took {elapsed:?} for a {timeout:?} timeout, with {sent_during_poll} stop/continue pairs"
    );
    // Otherwise the test proved nothing.
    assert!(
        sent_during_poll >= 2,
        "only {sent_during_poll} stop/continue pairs reached the poll"
    );
    Ok(())
}
