//! Dropping things: a registered `TcpStream` takes its registration with it, and a
//! `Registrator` that outlives its `Poll` refuses to act (it could otherwise reach a new
//! queue that the OS gave the old one's number).

mod util;

use std::io::{self, Write};
use std::net::TcpListener;

use node_experiment::minimio::{Events, Interests, Poll, TcpStream};
use util::minimio::{QUIET_MS, event_for, expect_events, expect_no_events, tcp_pair};

#[test]
fn dropping_a_registered_stream_leaves_no_stale_event() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let (readable, mut peer) = tcp_pair();
    let (writable, _peer2) = tcp_pair();
    registrator.register(&readable, 1, Interests::READABLE)?;
    registrator.register(&writable, 2, Interests::WRITABLE)?;
    peer.write_all(b"never read")?;

    // Both are ready (or about to be); neither may be reported once dropped.
    drop(readable);
    drop(writable);
    expect_no_events(&mut poll, QUIET_MS);
    Ok(())
}

#[test]
fn a_new_socket_after_a_dropped_registered_one_starts_clean() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;

    let old = TcpStream::connect(addr)?;
    let (mut old_peer, _) = listener.accept()?;
    registrator.register(&old, 1, Interests::READABLE)?;
    #[cfg(unix)]
    let old_fd = std::os::fd::AsRawFd::as_raw_fd(&old);
    drop(old);
    // Ignored: the peer may already know the socket is gone.
    let _ = old_peer.write_all(b"to nobody");

    // The OS usually hands the freed number to the next socket (not always: other tests
    // run in parallel threads), so this does not depend on it.
    let new = TcpStream::connect(addr)?;
    let (mut new_peer, _) = listener.accept()?;
    #[cfg(unix)]
    if std::os::fd::AsRawFd::as_raw_fd(&new) == old_fd {
        println!("the new socket reuses descriptor {old_fd}");
    }
    registrator
        .register(&new, 2, Interests::READABLE)
        .expect("a new socket must not inherit a dropped socket's registration");

    expect_no_events(&mut poll, QUIET_MS);
    new_peer.write_all(b"hi")?;
    let seen = expect_events(&mut poll, &mut events, &[2]);
    assert!(event_for(&seen, 2).is_readable(), "{seen:?}");
    Ok(())
}

#[test]
fn reregister_and_deregister_of_a_new_socket_after_a_dropped_one_are_not_found() -> io::Result<()> {
    let poll = Poll::new()?;
    let registrator = poll.registrator();
    let (old, _old_peer) = tcp_pair();
    registrator.register(&old, 1, Interests::READABLE)?;
    drop(old);

    let (new, _new_peer) = tcp_pair();
    let err = registrator
        .reregister(&new, 1, Interests::READABLE)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    let err = registrator.deregister(&new).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    Ok(())
}

#[test]
fn registrator_after_its_poll_is_dropped_is_not_connected() -> io::Result<()> {
    let poll = Poll::new()?;
    let registrator = poll.registrator();
    let (stream, _peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::READABLE)?;
    drop(poll);

    for result in [
        registrator.register(&stream, 1, Interests::READABLE),
        registrator.reregister(&stream, 1, Interests::READABLE),
        registrator.deregister(&stream),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
    }
    Ok(())
}

#[test]
fn registrator_of_a_dropped_poll_does_not_touch_a_new_poll() -> io::Result<()> {
    let old = Poll::new()?;
    let stale = old.registrator();
    drop(old);
    // The new queue may well get the old one's descriptor number.
    let mut new = Poll::new()?;
    let fresh = new.registrator();
    let mut events = Events::with_capacity(16);
    let (stream, _peer) = tcp_pair();

    let err = stale.register(&stream, 1, Interests::WRITABLE).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
    // Had the stale handle reached the new queue, this would be AlreadyExists, and token 1
    // would come instead of 2.
    fresh.register(&stream, 2, Interests::WRITABLE)?;
    expect_events(&mut new, &mut events, &[2]);

    // Nor may it remove the new registration.
    fresh.reregister(&stream, 3, Interests::WRITABLE)?;
    let err = stale.deregister(&stream).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
    expect_events(&mut new, &mut events, &[3]);
    Ok(())
}
