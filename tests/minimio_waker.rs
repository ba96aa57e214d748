//! `Waker`: ends a blocked `poll` from another thread with one readable event for its
//! token; wakes before a poll coalesce; silence until the next wake.

mod util;

use std::io;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use node_experiment::minimio::{Events, Poll, Waker};
use util::minimio::{QUIET_MS, event_for, expect_events, expect_no_events};
use util::{SLACK, within};

/// How long the main thread gives a poll thread to block before waking it. Only order
/// matters: if the wake comes first, the poll still returns at once.
const LET_IT_BLOCK: Duration = Duration::from_millis(50);

#[test]
fn wake_from_another_thread_ends_a_poll_without_timeout() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Waker::new(&poll.registrator(), 9)?;

    let waiter = thread::spawn(move || {
        let mut events = Events::with_capacity(16);
        let result = poll.poll(&mut events, None);
        (result.map_err(|e| e.kind()), events)
    });
    thread::sleep(LET_IT_BLOCK);
    waker.wake()?;

    let (result, events) = within(SLACK * 5, "poll(None) after a wake", move || {
        waiter.join().expect("poll thread panicked")
    });
    assert_eq!(result, Ok(1), "{events:?}");
    assert_eq!(events[0].id().value(), 9);
    assert!(events[0].is_readable(), "{events:?}");
    Ok(())
}

#[test]
fn wake_from_another_thread_while_polled_is_delivered() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(&poll.registrator(), 9)?);
    let mut events = Events::with_capacity(16);

    let w = Arc::clone(&waker);
    let waking = thread::spawn(move || {
        thread::sleep(LET_IT_BLOCK);
        w.wake()
    });
    let seen = expect_events(&mut poll, &mut events, &[9]);
    assert!(event_for(&seen, 9).is_readable(), "{seen:?}");
    waking.join().expect("waking thread panicked")?;
    Ok(())
}

#[test]
fn several_wakes_before_a_poll_give_one_event_then_silence() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Waker::new(&poll.registrator(), 3)?;
    let mut events = Events::with_capacity(16);
    for _ in 0..5 {
        waker.wake()?;
    }
    assert_eq!(poll.poll(&mut events, Some(0))?, 1, "{events:?}");
    assert_eq!(events[0].id().value(), 3);
    // The five wakes were one event: nothing is left.
    expect_no_events(&mut poll, 100);
    Ok(())
}

#[test]
fn wakes_from_many_threads_at_once_coalesce() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(&poll.registrator(), 3)?);
    let mut events = Events::with_capacity(16);
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (waker, start) = (Arc::clone(&waker), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                (0..100).try_for_each(|_| waker.wake())
            })
        })
        .collect();
    for t in threads {
        t.join().expect("waking thread panicked")?;
    }
    // All wakes happened before this poll: one event, then nothing.
    expect_events(&mut poll, &mut events, &[3]);
    expect_no_events(&mut poll, QUIET_MS);
    Ok(())
}

#[test]
fn a_later_wake_gives_a_new_event() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Waker::new(&poll.registrator(), 5)?;
    let mut events = Events::with_capacity(16);
    for _ in 0..3 {
        waker.wake()?;
        expect_events(&mut poll, &mut events, &[5]);
        expect_no_events(&mut poll, 100);
    }
    Ok(())
}

#[test]
fn two_wakers_report_their_own_tokens() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let a = Waker::new(&registrator, 1)?;
    let b = Waker::new(&registrator, 2)?;
    let mut events = Events::with_capacity(16);

    a.wake()?;
    expect_events(&mut poll, &mut events, &[1]);
    b.wake()?;
    expect_events(&mut poll, &mut events, &[2]);
    a.wake()?;
    b.wake()?;
    expect_events(&mut poll, &mut events, &[1, 2]);
    expect_no_events(&mut poll, QUIET_MS);
    Ok(())
}

#[test]
fn wake_after_its_poll_is_dropped_is_not_connected() -> io::Result<()> {
    let poll = Poll::new()?;
    let registrator = poll.registrator();
    let waker = Waker::new(&registrator, 1)?;
    drop(poll);

    let err = waker.wake().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
    let err = Waker::new(&registrator, 2).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
    Ok(())
}

#[test]
fn dropping_a_waker_leaves_its_poll_working() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let woken = Waker::new(&registrator, 1)?;
    woken.wake()?;
    drop(woken);
    // Its pending wake is gone with it or still delivered; either way the poll goes on.
    poll.poll(&mut events, Some(0))?;

    let other = Waker::new(&registrator, 2)?;
    other.wake()?;
    expect_events(&mut poll, &mut events, &[2]);
    Ok(())
}
