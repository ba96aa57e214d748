//! Writable interest (FIX(book) M5: the book's `Interests::WRITABLE` was
//! `unimplemented!()`), alone and combined with readable.

mod util;

use std::io::{self, Read, Write};

use node_experiment::minimio::{Events, Interests, Poll};
use util::minimio::{QUIET_MS, drain, event_for, expect_events, expect_no_events, tcp_pair};

#[test]
fn connected_stream_reports_writable() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (mut stream, mut peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 5, Interests::WRITABLE)?;

    let seen = expect_events(&mut poll, &mut events, &[5]);
    assert!(event_for(&seen, 5).is_writable(), "{seen:?}");

    // And the write it promised does not block.
    stream.write_all(b"ping")?;
    let mut buf = [0; 4];
    peer.read_exact(&mut buf)?;
    assert_eq!(&buf, b"ping");
    Ok(())
}

#[test]
fn writable_registration_is_one_shot_and_rearms() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();
    registrator.register(&stream, 5, Interests::WRITABLE)?;

    expect_events(&mut poll, &mut events, &[5]);
    // Still writable, but the registration has fired.
    expect_no_events(&mut poll, QUIET_MS);
    registrator.reregister(&stream, 5, Interests::WRITABLE)?;
    let seen = expect_events(&mut poll, &mut events, &[5]);
    assert!(event_for(&seen, 5).is_writable(), "{seen:?}");
    Ok(())
}

#[test]
fn readable_or_writable_reports_writable_when_there_is_nothing_to_read() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 6, Interests::READABLE | Interests::WRITABLE)?;

    let seen = expect_events(&mut poll, &mut events, &[6]);
    let event = event_for(&seen, 6);
    assert!(event.is_writable(), "{event:?}");
    assert!(!event.is_readable(), "nothing to read yet: {event:?}");
    Ok(())
}

#[test]
fn readable_and_writable_together_give_one_event_with_both() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (mut stream, mut peer) = tcp_pair();

    // Make sure the data has arrived before arming both interests: a readable-only
    // registration reports it first.
    registrator.register(&stream, 1, Interests::READABLE)?;
    peer.write_all(b"both")?;
    expect_events(&mut poll, &mut events, &[1]);

    registrator.reregister(&stream, 2, Interests::READABLE | Interests::WRITABLE)?;
    // One registration, one event (expect_events fails on a second one), carrying both.
    let seen = expect_events(&mut poll, &mut events, &[2]);
    let event = event_for(&seen, 2);
    assert!(event.is_readable() && event.is_writable(), "{event:?}");
    expect_no_events(&mut poll, QUIET_MS);
    assert_eq!(drain(&mut stream), b"both");
    Ok(())
}
