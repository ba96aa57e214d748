//! For the minimio tests (`tests/minimio_*.rs`): a loopback pair with a minimio end, and
//! bounded ways to wait for events (or for their absence) and to read what arrived.
//!
//! Each wait polls with a timeout and fails with a message that says what it waited for
//! (like mio's `expect_events`, 10 polls of 500 ms), never a `poll(None)` that could hang.

use std::io::{self, Read};
use std::net::{self, TcpListener};
use std::time::{Duration, Instant};

use node_experiment::minimio::{Event, Events, Poll, TcpStream};

use super::{SLACK, within};

/// How long [`expect_events`] waits in one `poll` call...
pub const POLL_MS: i32 = 500;
/// ...and in all, like mio's `expect_events` (10 polls of 500 ms). A deadline rather than a
/// number of polls: events that trickle in one by one each end a poll early.
pub const EXPECT_WITHIN: Duration = Duration::from_secs(5);

/// How long a test listens for an event that must not come. Loopback readiness is
/// reported in microseconds, so a stale or duplicate event would show up well inside it.
pub const QUIET_MS: i32 = 200;

/// A connected pair over loopback: the minimio end, under test, and a plain std peer.
///
/// Also checks that the minimio end is non-blocking (FIX(book) M3) with a bounded read,
/// so that a blocking socket fails here with a message rather than hanging a later read.
pub fn tcp_pair() -> (TcpStream, net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("listener address");
    let ours = TcpStream::connect(addr).expect("minimio::TcpStream::connect over loopback");
    // The connection is already in the backlog: this accept returns at once.
    let (peer, _) = listener.accept().expect("accept over loopback");
    peer.set_nodelay(true).expect("set_nodelay on the peer");
    // A safety net for tests that read from the peer: they fail instead of hanging.
    peer.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set_read_timeout on the peer");

    let (ours, first_read) = within(SLACK, "a read on a fresh minimio::TcpStream", move || {
        let r = (&ours).read(&mut [0; 1]).map_err(|e| e.kind());
        (ours, r)
    });
    assert_eq!(
        first_read,
        Err(io::ErrorKind::WouldBlock),
        "a fresh minimio::TcpStream with nothing to read must say WouldBlock"
    );
    (ours, peer)
}

/// Polls until one event has arrived for each token in `expected`, and returns the events
/// in the order they came.
///
/// Fails with a message if an event comes for any other token, if a token gets a second
/// event (registrations are one-shot), or if the tokens have not all come within
/// [`EXPECT_WITHIN`] (polling at most [`POLL_MS`] at a time). Returns as soon as the last
/// expected token is seen, so it costs nothing when the events are already there.
pub fn expect_events(poll: &mut Poll, events: &mut Events, expected: &[usize]) -> Vec<Event> {
    assert!(
        !expected.is_empty(),
        "expect_events needs a token to wait for"
    );
    let mut seen: Vec<Event> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < EXPECT_WITHIN {
        let n = poll
            .poll(events, Some(POLL_MS))
            .unwrap_or_else(|e| panic!("poll failed while waiting for tokens {expected:?}: {e}"));
        assert_eq!(
            n,
            events.len(),
            "poll's count differs from the events it wrote"
        );
        for event in events.iter() {
            let token = event.id().value();
            assert!(
                expected.contains(&token),
                "unexpected event {event:?}; expected only tokens {expected:?} (seen so far: {seen:?})"
            );
            assert!(
                !seen.iter().any(|s| s.id() == event.id()),
                "a second event for token {token} without a reregister: {event:?} after {seen:?}; \
                 registrations are one-shot"
            );
            seen.push(*event);
        }
        if expected
            .iter()
            .all(|t| seen.iter().any(|s| s.id().value() == *t))
        {
            return seen;
        }
    }
    panic!(
        "waited {:?} for events with tokens {expected:?}; got only {seen:?}",
        start.elapsed()
    );
}

/// The event for `token` among `events`; fails if there is none.
pub fn event_for(events: &[Event], token: usize) -> Event {
    *events
        .iter()
        .find(|e| e.id().value() == token)
        .unwrap_or_else(|| panic!("no event for token {token} in {events:?}"))
}

/// Polls once for `ms` milliseconds and fails if any event arrives.
pub fn expect_no_events(poll: &mut Poll, ms: i32) {
    let mut events = Events::with_capacity(16);
    match poll.poll(&mut events, Some(ms)) {
        Ok(0) => {}
        Ok(_) => panic!("expected no events for {ms} ms, got {events:?}"),
        Err(e) => panic!("poll failed while expecting no events: {e}"),
    }
}

/// Reads until `WouldBlock` and returns what was read.
///
/// Fails if the stream reports end of stream (`Ok(0)`): use it where the peer is still
/// open.
pub fn drain(stream: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => panic!("unexpected end of stream after {} bytes", data.len()),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return data,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
}
