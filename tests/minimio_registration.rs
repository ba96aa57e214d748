//! `register`, `reregister` and `deregister` (FIX(book) M4: the book could only add a
//! one-shot registration, never re-arm or remove one), and their errors.

mod util;

use std::io::{self, Write};

use node_experiment::minimio::{Events, Interests, Poll};
use util::minimio::{QUIET_MS, event_for, expect_events, expect_no_events, tcp_pair};

#[test]
fn reregister_replaces_token_and_interests() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (stream, mut peer) = tcp_pair();

    // Readable, nothing to read: silent.
    registrator.register(&stream, 1, Interests::READABLE)?;
    expect_no_events(&mut poll, QUIET_MS);

    // New token and interest: the writable event carries token 2, and token 1 is gone
    // (expect_events fails on any other token).
    registrator.reregister(&stream, 2, Interests::WRITABLE)?;
    let seen = expect_events(&mut poll, &mut events, &[2]);
    assert!(event_for(&seen, 2).is_writable(), "{seen:?}");

    // Back to readable only: the socket is still writable, but that interest was replaced,
    // not added to, so nothing comes until there is data.
    registrator.reregister(&stream, 3, Interests::READABLE)?;
    expect_no_events(&mut poll, QUIET_MS);
    peer.write_all(b"x")?;
    let seen = expect_events(&mut poll, &mut events, &[3]);
    assert!(event_for(&seen, 3).is_readable(), "{seen:?}");
    Ok(())
}

#[test]
fn no_events_after_deregister() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let (stream, mut peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::READABLE)?;
    registrator.deregister(&stream)?;

    peer.write_all(b"ignored")?;
    expect_no_events(&mut poll, QUIET_MS);
    Ok(())
}

#[test]
fn deregister_drops_an_event_that_is_already_ready() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let (stream, _peer) = tcp_pair();
    // A connected socket is writable at once, so this registration is ready before the
    // deregister; its event must not be delivered afterwards.
    registrator.register(&stream, 1, Interests::WRITABLE)?;
    registrator.deregister(&stream)?;
    expect_no_events(&mut poll, QUIET_MS);
    Ok(())
}

#[test]
fn register_after_deregister_starts_a_new_registration() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::WRITABLE)?;
    registrator.deregister(&stream)?;
    registrator.register(&stream, 2, Interests::WRITABLE)?;
    expect_events(&mut poll, &mut events, &[2]);
    Ok(())
}

#[test]
fn registering_twice_is_already_exists() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::WRITABLE)?;

    let err = registrator
        .register(&stream, 2, Interests::READABLE)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");

    // Still registered after its one event has fired: re-arming is `reregister`'s job.
    expect_events(&mut poll, &mut events, &[1]);
    let err = registrator
        .register(&stream, 1, Interests::WRITABLE)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
    Ok(())
}

#[test]
fn failed_second_register_leaves_the_first_registration_alone() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::WRITABLE)?;
    assert!(
        registrator
            .register(&stream, 2, Interests::WRITABLE)
            .is_err()
    );
    // Token 1 still, and only one event (expect_events fails on token 2 or a duplicate).
    expect_events(&mut poll, &mut events, &[1]);
    expect_no_events(&mut poll, QUIET_MS);
    Ok(())
}

#[test]
fn reregister_of_a_stream_never_registered_is_not_found() -> io::Result<()> {
    let poll = Poll::new()?;
    let (stream, _peer) = tcp_pair();
    let err = poll
        .registrator()
        .reregister(&stream, 1, Interests::READABLE)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    Ok(())
}

#[test]
fn deregister_of_a_stream_never_registered_is_not_found() -> io::Result<()> {
    let poll = Poll::new()?;
    let (stream, _peer) = tcp_pair();
    let err = poll.registrator().deregister(&stream).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    Ok(())
}

#[test]
fn reregister_and_deregister_after_deregister_are_not_found() -> io::Result<()> {
    let poll = Poll::new()?;
    let registrator = poll.registrator();
    let (stream, _peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::READABLE)?;
    registrator.deregister(&stream)?;

    let err = registrator.deregister(&stream).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    let err = registrator
        .reregister(&stream, 1, Interests::READABLE)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    Ok(())
}

#[test]
fn registrations_in_one_poll_do_not_affect_another() -> io::Result<()> {
    // Each Poll has its own interest list: a stream registered with one is unknown to the
    // other.
    let mut first = Poll::new()?;
    let second = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();
    first
        .registrator()
        .register(&stream, 1, Interests::WRITABLE)?;

    let err = second.registrator().deregister(&stream).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    expect_events(&mut first, &mut events, &[1]);
    Ok(())
}
