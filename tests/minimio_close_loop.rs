//! `Registrator::close_loop`: ends a blocked `poll` with `ErrorKind::Interrupted`, and
//! every later one; it reserves no token (FIX(book) M6: the book's close event carried
//! token 0, the same as a user's registration with token 0).

mod util;

use std::io::{self, Write};
use std::thread;
use std::time::Duration;

use node_experiment::minimio::{Events, Interests, Poll, Waker};
use util::minimio::{event_for, expect_events, tcp_pair};
use util::{SLACK, kind, within};

/// How long the main thread gives a poll thread to block before closing its loop. Only
/// order matters: if the close comes first, the poll still returns at once.
const LET_IT_BLOCK: Duration = Duration::from_millis(50);

#[test]
fn close_loop_from_another_thread_ends_a_blocked_poll_with_interrupted() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let waiter = thread::spawn(move || {
        let mut events = Events::with_capacity(16);
        let first = kind(poll.poll(&mut events, None));
        (first, poll)
    });
    thread::sleep(LET_IT_BLOCK);
    registrator.close_loop()?;

    let (first, mut poll) = within(SLACK * 5, "poll(None) after close_loop", move || {
        waiter.join().expect("poll thread panicked")
    });
    assert_eq!(first, Err(io::ErrorKind::Interrupted));

    // And every later call, with or without a timeout, at once.
    let later = within(SLACK, "polls on a closed loop", move || {
        let mut events = Events::with_capacity(16);
        [Some(0), Some(100), None].map(|timeout| kind(poll.poll(&mut events, timeout)))
    });
    assert_eq!(later, [Err(io::ErrorKind::Interrupted); 3]);
    Ok(())
}

#[test]
fn close_loop_before_poll_makes_it_return_interrupted_at_once() -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registrator().close_loop()?;
    let result = within(SLACK, "poll(None) on a closed loop", move || {
        kind(poll.poll(&mut Events::with_capacity(16), None))
    });
    assert_eq!(result, Err(io::ErrorKind::Interrupted));
    Ok(())
}

#[test]
fn close_loop_wins_over_ready_events() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let (stream, _peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::WRITABLE)?;
    registrator.close_loop()?;
    let mut events = Events::with_capacity(16);
    assert_eq!(
        kind(poll.poll(&mut events, Some(0))),
        Err(io::ErrorKind::Interrupted)
    );
    assert!(events.is_empty(), "{events:?}");
    Ok(())
}

#[test]
fn close_loop_twice_is_ok() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    registrator.close_loop()?;
    registrator.clone().close_loop()?;
    let mut events = Events::with_capacity(16);
    assert_eq!(
        kind(poll.poll(&mut events, Some(0))),
        Err(io::ErrorKind::Interrupted)
    );
    registrator.close_loop()?;
    assert_eq!(
        kind(poll.poll(&mut events, Some(0))),
        Err(io::ErrorKind::Interrupted)
    );
    Ok(())
}

#[test]
fn close_loop_after_the_poll_is_dropped_is_ok() -> io::Result<()> {
    let poll = Poll::new()?;
    let registrator = poll.registrator();
    drop(poll);
    registrator.close_loop()?;
    Ok(())
}

/// FIX(book) M6, one way: a close is reported as `Interrupted`, never as an event for a
/// user's token 0.
#[test]
fn close_loop_is_not_an_event_for_a_user_token_0() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let (stream, _peer) = tcp_pair();
    registrator.register(&stream, 0, Interests::READABLE)?;

    let waiter = thread::spawn(move || {
        let mut events = Events::with_capacity(16);
        let result = kind(poll.poll(&mut events, None));
        (result, events)
    });
    thread::sleep(LET_IT_BLOCK);
    registrator.close_loop()?;
    let (result, events) = within(SLACK * 5, "poll(None) after close_loop", move || {
        waiter.join().expect("poll thread panicked")
    });
    assert_eq!(result, Err(io::ErrorKind::Interrupted), "{events:?}");
    assert!(events.is_empty(), "close_loop leaked an event: {events:?}");
    Ok(())
}

/// FIX(book) M6, the other way: an event for a user's token 0 (a stream's or a waker's)
/// is an event, not a close.
#[test]
fn user_token_0_events_do_not_close_the_loop() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (stream, mut peer) = tcp_pair();
    registrator.register(&stream, 0, Interests::READABLE)?;

    peer.write_all(b"zero")?;
    let seen = expect_events(&mut poll, &mut events, &[0]);
    assert!(event_for(&seen, 0).is_readable(), "{seen:?}");

    let waker = Waker::new(&registrator, 0)?;
    waker.wake()?;
    expect_events(&mut poll, &mut events, &[0]);

    // Still open: a timed poll times out normally.
    assert_eq!(poll.poll(&mut events, Some(10))?, 0);
    Ok(())
}
