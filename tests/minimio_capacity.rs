//! `poll` returns at most `events.capacity()` events and keeps the rest for later calls
//! (FIX(book) M1: the book told the kernel it had room for 1024, whatever the buffer).

mod util;

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::time::Instant;

use node_experiment::minimio::{Events, Interests, Poll};
use util::minimio::{EXPECT_WITHIN, POLL_MS, QUIET_MS, expect_events, expect_no_events, tcp_pair};

/// Polls with a buffer of `capacity` until `count` streams, registered with tokens
/// `0..count`, have each reported once; checks every call against the capacity.
/// Returns how many polls it took.
fn collect_all(poll: &mut Poll, capacity: usize, count: usize) -> io::Result<usize> {
    let mut events = Events::with_capacity(capacity);
    let capacity = events.capacity();
    assert!(
        capacity < count,
        "the test needs fewer slots than ready streams"
    );
    let mut seen = BTreeSet::new();
    let mut polls = 0;
    let start = Instant::now();
    while seen.len() < count {
        assert!(
            start.elapsed() < EXPECT_WITHIN,
            "only tokens {seen:?} after {polls} polls in {:?}",
            start.elapsed()
        );
        polls += 1;
        let n = poll.poll(&mut events, Some(POLL_MS))?;
        assert!(
            n <= capacity,
            "{n} events in a buffer of {capacity}: {events:?}"
        );
        assert_eq!(n, events.len());
        assert_eq!(events.capacity(), capacity, "poll must not grow the buffer");
        for event in &events {
            let token = event.id().value();
            assert!(token < count, "unknown token in {event:?}");
            assert!(
                seen.insert(token),
                "token {token} reported twice: {event:?}"
            );
        }
    }
    expect_no_events(poll, QUIET_MS);
    Ok(polls)
}

#[test]
fn poll_returns_at_most_capacity_events_and_the_rest_later() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut pairs = Vec::new();
    for token in 0..5 {
        let (stream, mut peer) = tcp_pair();
        registrator.register(&stream, token, Interests::READABLE)?;
        peer.write_all(b"ready")?;
        pairs.push((stream, peer));
    }
    let polls = collect_all(&mut poll, 2, 5)?;
    assert!(polls >= 3, "5 events cannot fit in fewer than 3 polls of 2");
    Ok(())
}

#[test]
fn capacity_of_one_delivers_one_event_per_poll() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut pairs = Vec::new();
    for token in 0..3 {
        let (stream, peer) = tcp_pair();
        // A connected socket is writable at once.
        registrator.register(&stream, token, Interests::WRITABLE)?;
        pairs.push((stream, peer));
    }
    let polls = collect_all(&mut poll, 1, 3)?;
    assert!(polls >= 3);
    Ok(())
}

#[test]
fn zero_capacity_is_invalid_input() -> io::Result<()> {
    let mut poll = Poll::new()?;
    for mut events in [Events::with_capacity(0), Events::new()] {
        let err = poll.poll(&mut events, Some(0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }
    Ok(())
}

#[test]
fn zero_capacity_does_not_consume_a_ready_event() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 1, Interests::WRITABLE)?;
    assert!(poll.poll(&mut Events::new(), Some(0)).is_err());
    expect_events(&mut poll, &mut events, &[1]);
    Ok(())
}
