//! `poll`'s timeout: 0 does not wait, a negative number means 0, and a wait with nothing
//! to report lasts at least as long as asked (strict lower bound; upper bound with
//! [`util::SLACK`]).

mod util;

use std::io::{self, Write};
use std::time::{Duration, Instant};

use node_experiment::minimio::{Events, Interests, Poll, Waker};
use util::minimio::{expect_events, tcp_pair};
use util::{SLACK, within};

/// Polls once for `ms` milliseconds where nothing is ready: `poll` must return `Ok(0)`,
/// and no earlier than `ms` (a strict lower bound) but within `ms` + [`SLACK`].
fn assert_times_out(poll: &mut Poll, events: &mut Events, ms: i32) -> io::Result<()> {
    let start = Instant::now();
    assert_eq!(
        poll.poll(events, Some(ms))?,
        0,
        "poll(Some({ms})): {events:?}"
    );
    let elapsed = start.elapsed();
    let asked = Duration::from_millis(ms as u64);
    assert!(
        elapsed >= asked,
        "poll(Some({ms})) returned Ok(0) after {elapsed:?}"
    );
    assert!(elapsed < asked + SLACK, "poll(Some({ms})) took {elapsed:?}");
    Ok(())
}

#[test]
fn zero_timeout_with_nothing_ready_returns_at_once() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let start = Instant::now();
    assert_eq!(poll.poll(&mut events, Some(0))?, 0);
    assert!(start.elapsed() < SLACK, "took {:?}", start.elapsed());
    Ok(())
}

#[test]
fn zero_timeout_returns_events_that_are_already_ready() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);

    // A wake is ready as soon as `wake` returns.
    let waker = Waker::new(&registrator, 10)?;
    waker.wake()?;
    assert_eq!(poll.poll(&mut events, Some(0))?, 1, "{events:?}");
    assert_eq!(events[0].id().value(), 10);

    // A stream whose data is known to be there (its first event said so): the re-armed
    // registration reports it at once.
    let (stream, mut peer) = tcp_pair();
    registrator.register(&stream, 11, Interests::READABLE)?;
    peer.write_all(b"x")?;
    expect_events(&mut poll, &mut events, &[11]);
    registrator.reregister(&stream, 11, Interests::READABLE)?;
    assert_eq!(poll.poll(&mut events, Some(0))?, 1, "{events:?}");
    assert_eq!(events[0].id().value(), 11);
    assert!(events[0].is_readable());
    Ok(())
}

#[test]
fn timeout_with_nothing_registered_waits_at_least_the_timeout() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    assert_times_out(&mut poll, &mut events, 100)
}

#[test]
fn timeout_with_a_silent_registration_waits_at_least_the_timeout() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 1, Interests::READABLE)?;
    assert_times_out(&mut poll, &mut events, 100)
}

#[test]
fn short_timeouts_never_return_ok_0_early() -> io::Result<()> {
    // Timeouts the OS rounds or ends a little early are the ones at risk.
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    for ms in [1, 2, 3, 5, 7, 10, 15, 20, 1, 1, 1] {
        assert_times_out(&mut poll, &mut events, ms)?;
    }
    Ok(())
}

#[test]
fn negative_timeout_means_zero() -> io::Result<()> {
    // On another thread: a negative number passed on as "forever" would hang here.
    let mut poll = Poll::new()?;
    let results = within(SLACK, "poll with a negative timeout", move || {
        let mut events = Events::with_capacity(16);
        [-1, -100, i32::MIN].map(|ms| poll.poll(&mut events, Some(ms)).map_err(|e| e.kind()))
    });
    assert_eq!(results, [Ok(0), Ok(0), Ok(0)]);
    Ok(())
}

#[test]
fn negative_timeout_still_returns_ready_events() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Waker::new(&poll.registrator(), 4)?;
    waker.wake()?;
    let (n, token) = within(SLACK, "poll with a negative timeout", move || {
        let mut events = Events::with_capacity(16);
        let n = poll.poll(&mut events, Some(-1));
        (
            n.map_err(|e| e.kind()),
            events.first().map(|e| e.id().value()),
        )
    });
    assert_eq!(n, Ok(1));
    assert_eq!(token, Some(4));
    drop(waker);
    Ok(())
}
