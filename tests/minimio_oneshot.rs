//! One-shot readable registrations: one event per arming, the socket stays non-blocking,
//! `reregister` arms again, and end of stream is a readable event.

mod util;

use std::io::{self, Read, Write};
use std::net::Shutdown;

use node_experiment::minimio::{Events, Interests, Poll};
use util::minimio::{QUIET_MS, drain, event_for, expect_events, expect_no_events, tcp_pair};
use util::{SLACK, within};

#[test]
fn no_event_before_the_peer_writes() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let (stream, _peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 1, Interests::READABLE)?;
    expect_no_events(&mut poll, QUIET_MS);
    Ok(())
}

#[test]
fn peer_write_gives_one_readable_event_with_the_token() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (mut stream, mut peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 42, Interests::READABLE)?;

    peer.write_all(b"hello")?;
    let seen = expect_events(&mut poll, &mut events, &[42]);
    assert!(event_for(&seen, 42).is_readable(), "{seen:?}");
    assert_eq!(drain(&mut stream), b"hello");
    Ok(())
}

#[test]
fn read_until_would_block_then_silence_until_reregister() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (mut stream, mut peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::READABLE)?;

    peer.write_all(b"first")?;
    expect_events(&mut poll, &mut events, &[1]);
    assert_eq!(drain(&mut stream), b"first");

    // More data arrives, but the registration has fired and is not re-armed.
    peer.write_all(b"second")?;
    expect_no_events(&mut poll, QUIET_MS);

    registrator.reregister(&stream, 1, Interests::READABLE)?;
    let seen = expect_events(&mut poll, &mut events, &[1]);
    assert!(event_for(&seen, 1).is_readable(), "{seen:?}");
    assert_eq!(drain(&mut stream), b"second");
    Ok(())
}

#[test]
fn undrained_data_is_not_reported_twice_without_reregister() -> io::Result<()> {
    // A level-triggered registration would report the unread byte on every poll.
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (stream, mut peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 1, Interests::READABLE)?;

    peer.write_all(b"x")?;
    expect_events(&mut poll, &mut events, &[1]);
    expect_no_events(&mut poll, QUIET_MS);
    Ok(())
}

#[test]
fn reregister_reports_data_that_arrived_before_the_rearm() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (mut stream, mut peer) = tcp_pair();
    registrator.register(&stream, 1, Interests::READABLE)?;

    peer.write_all(b"a")?;
    expect_events(&mut poll, &mut events, &[1]);
    assert_eq!(drain(&mut stream), b"a");

    // The new data is there (and would have been reported) before the re-arm; the
    // re-armed registration must not wait for a further edge.
    peer.write_all(b"b")?;
    expect_no_events(&mut poll, QUIET_MS);
    registrator.reregister(&stream, 1, Interests::READABLE)?;
    expect_events(&mut poll, &mut events, &[1]);
    assert_eq!(drain(&mut stream), b"b");
    Ok(())
}

#[test]
fn rearmed_registration_fires_again_for_each_new_write() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(16);
    let (mut stream, mut peer) = tcp_pair();
    registrator.register(&stream, 7, Interests::READABLE)?;

    for round in 0..5u8 {
        peer.write_all(&[round])?;
        expect_events(&mut poll, &mut events, &[7]);
        assert_eq!(drain(&mut stream), [round]);
        registrator.reregister(&stream, 7, Interests::READABLE)?;
    }
    expect_no_events(&mut poll, QUIET_MS);
    Ok(())
}

/// FIX(book) M3: the book made the socket blocking again before reading, so the read that
/// should say "nothing left" blocked forever while the peer kept the connection open.
#[test]
fn second_read_after_would_block_does_not_block() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (stream, mut peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 1, Interests::READABLE)?;
    peer.write_all(b"data")?;
    expect_events(&mut poll, &mut events, &[1]);

    // The reads run on another thread so that a blocking socket fails the test instead of
    // hanging it. `peer` stays open meanwhile: no end of stream rescues a blocked read.
    let (data, second, third) = within(SLACK, "reads after draining the socket", move || {
        let mut stream = stream;
        let data = drain(&mut stream);
        let mut buf = [0; 16];
        let second = stream.read(&mut buf).map_err(|e| e.kind());
        let third = stream.read(&mut buf).map_err(|e| e.kind());
        (data, second, third)
    });
    assert_eq!(data, b"data");
    assert_eq!(second, Err(io::ErrorKind::WouldBlock));
    assert_eq!(third, Err(io::ErrorKind::WouldBlock));
    drop(peer);
    Ok(())
}

#[test]
fn end_of_stream_is_readable_and_read_returns_zero() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (mut stream, mut peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 3, Interests::READABLE)?;

    peer.write_all(b"bye")?;
    peer.shutdown(Shutdown::Write)?;
    let seen = expect_events(&mut poll, &mut events, &[3]);
    assert!(event_for(&seen, 3).is_readable(), "{seen:?}");

    // The data first, then end of stream: 0, and 0 again (not WouldBlock, not a block).
    let mut data = Vec::new();
    let mut buf = [0; 16];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            // The FIN may trail the data by a moment; the registration has fired, so wait
            // for it with a re-arm rather than a busy loop.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                poll.registrator()
                    .reregister(&stream, 3, Interests::READABLE)?;
                expect_events(&mut poll, &mut events, &[3]);
            }
            Err(e) => return Err(e),
        }
    }
    assert_eq!(data, b"bye");
    assert_eq!(stream.read(&mut buf)?, 0);
    Ok(())
}

#[test]
fn peer_close_without_data_is_a_readable_event() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let (mut stream, peer) = tcp_pair();
    poll.registrator()
        .register(&stream, 4, Interests::READABLE)?;
    expect_no_events(&mut poll, QUIET_MS);

    drop(peer);
    let seen = expect_events(&mut poll, &mut events, &[4]);
    assert!(event_for(&seen, 4).is_readable(), "{seen:?}");
    assert_eq!(stream.read(&mut [0; 16])?, 0);
    Ok(())
}
