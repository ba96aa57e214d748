//! Registering from other threads while `poll` is blocked, and the thread-safety of the
//! public types.

mod util;

use std::hash::Hash;
use std::io::{self, Write};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use node_experiment::minimio::{Event, Events, Interests, Poll, Registrator, Token, Waker};
use util::minimio::{event_for, expect_events, tcp_pair};
use util::{SLACK, within};

// Compile-time checks: these lines do not build if a bound is lost.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn token_bounds<T: Copy + Eq + Hash + std::fmt::Debug>() {}
    send_sync::<Event>();
    send_sync::<Registrator>();
    send_sync::<Waker>();
    token_bounds::<Token>();
};

/// How long the main thread gives the poll thread to block before acting. Only order
/// matters; a register that comes first is reported at once anyway.
const LET_IT_BLOCK: Duration = Duration::from_millis(50);

/// Long enough that a poll ending before it was ended by an event, not a timeout.
const LONG_MS: i32 = 10_000;

#[test]
fn register_while_another_thread_is_blocked_in_poll() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let (blocked_tx, blocked_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let mut events = Events::with_capacity(16);
        blocked_tx.send(()).expect("main thread gone");
        let start = Instant::now();
        let result = poll.poll(&mut events, Some(LONG_MS));
        (result.map_err(|e| e.kind()), events, start.elapsed())
    });
    blocked_rx.recv().expect("poll thread gone");
    thread::sleep(LET_IT_BLOCK);

    // Registered (and already readable) only now, while the other thread is waiting.
    let (stream, mut peer) = tcp_pair();
    peer.write_all(b"late")?;
    registrator.register(&stream, 8, Interests::READABLE)?;

    let (result, events, elapsed) = within(SLACK * 5, "a poll after a register", move || {
        waiter.join().expect("poll thread panicked")
    });
    assert_eq!(result, Ok(1), "{events:?}");
    assert!(event_for(&events, 8).is_readable(), "{events:?}");
    assert!(
        elapsed < Duration::from_millis(LONG_MS as u64),
        "{elapsed:?}"
    );
    Ok(())
}

#[test]
fn reregister_while_another_thread_is_blocked_in_poll() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::WRITABLE)?;
    expect_events(&mut poll, &mut events, &[1]);

    let waiter = thread::spawn(move || {
        let mut events = Events::with_capacity(16);
        let result = poll.poll(&mut events, Some(LONG_MS));
        (result.map_err(|e| e.kind()), events)
    });
    thread::sleep(LET_IT_BLOCK);
    registrator.reregister(&stream, 2, Interests::WRITABLE)?;

    let (result, events) = within(SLACK * 5, "a poll after a reregister", move || {
        waiter.join().expect("poll thread panicked")
    });
    assert_eq!(result, Ok(1), "{events:?}");
    assert!(event_for(&events, 2).is_writable(), "{events:?}");
    Ok(())
}

#[test]
fn cloned_registrators_register_from_several_threads_during_poll() -> io::Result<()> {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 5;
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(64);
    let start = Arc::new(Barrier::new(THREADS));

    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let registrator = registrator.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || -> io::Result<Vec<_>> {
                start.wait();
                thread::sleep(LET_IT_BLOCK);
                let mut pairs = Vec::new();
                for i in 0..PER_THREAD {
                    let (stream, mut peer) = tcp_pair();
                    registrator.register(&stream, t * PER_THREAD + i, Interests::READABLE)?;
                    peer.write_all(b"x")?;
                    pairs.push((stream, peer));
                }
                // Kept open until the events are in; dropping them would deregister.
                Ok(pairs)
            })
        })
        .collect();

    // Blocks in poll while the threads register.
    let tokens: Vec<usize> = (0..THREADS * PER_THREAD).collect();
    let seen = expect_events(&mut poll, &mut events, &tokens);
    assert!(seen.iter().all(|e| e.is_readable()), "{seen:?}");
    for t in threads {
        t.join().expect("registering thread panicked")?;
    }
    Ok(())
}

#[test]
fn registrator_and_waker_can_be_shared_through_an_arc() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = Arc::new(poll.registrator());
    let waker = Arc::new(Waker::new(&registrator, 100)?);
    let mut events = Events::with_capacity(16);

    let (r, w) = (Arc::clone(&registrator), Arc::clone(&waker));
    let helper = thread::spawn(move || -> io::Result<_> {
        let (stream, peer) = tcp_pair();
        r.register(&stream, 101, Interests::WRITABLE)?;
        w.wake()?;
        Ok((stream, peer))
    });
    let _kept = helper.join().expect("helper thread panicked")?;
    expect_events(&mut poll, &mut events, &[100, 101]);
    Ok(())
}
