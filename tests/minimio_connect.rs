//! `TcpStream::connect_nonblocking`: the handshake's end is a writable event, and
//! `take_error` then says how it ended, on every backend (on Windows through `ConnectEx`,
//! started when the stream is registered).

mod util;

use std::io::{self, Read, Write};
use std::net::TcpListener;

use node_experiment::minimio::{Events, Interests, Poll, TcpStream};
use util::minimio::{drain, event_for, expect_events};
use util::{SLACK, dead_addr, within};

/// Accepts the connection `within` a bound: the caller has seen the connect succeed, so
/// it is in the listener's queue already.
fn accept(listener: TcpListener) -> std::net::TcpStream {
    let (peer, _) = within(SLACK, "accept a finished connect", move || {
        listener.accept().expect("accept over loopback")
    });
    peer.set_read_timeout(Some(SLACK * 5))
        .expect("set_read_timeout on the peer");
    peer
}

#[test]
fn a_nonblocking_connect_ends_in_a_writable_event_and_carries_data() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut stream = TcpStream::connect_nonblocking(addr)?;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    poll.registrator()
        .register(&stream, 1, Interests::WRITABLE)?;

    let seen = expect_events(&mut poll, &mut events, &[1]);
    let event = event_for(&seen, 1);
    assert!(event.is_writable() && !event.is_error(), "{event:?}");
    assert!(stream.take_error()?.is_none(), "the connect failed");
    // Fully connected: on Windows this needs SO_UPDATE_CONNECT_CONTEXT after ConnectEx.
    assert_eq!(stream.peer_addr()?, addr);

    let mut peer = accept(listener);
    stream.write_all(b"ping")?;
    let mut buf = [0; 4];
    peer.read_exact(&mut buf)?;
    assert_eq!(&buf, b"ping");

    peer.write_all(b"pong")?;
    poll.registrator()
        .reregister(&stream, 2, Interests::READABLE)?;
    let seen = expect_events(&mut poll, &mut events, &[2]);
    assert!(event_for(&seen, 2).is_readable(), "{seen:?}");
    assert_eq!(drain(&mut stream), b"pong");
    Ok(())
}

#[test]
fn a_refused_nonblocking_connect_ends_in_an_event_and_take_error_says_why() -> io::Result<()> {
    let addr = dead_addr();
    let stream = match TcpStream::connect_nonblocking(addr) {
        Ok(stream) => stream,
        // Linux refuses a loopback connect at once; the caller learns it now. On Windows
        // the connect has not even started: it starts at `register`.
        Err(e) if !cfg!(windows) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    poll.registrator()
        .register(&stream, 1, Interests::WRITABLE)?;

    let seen = expect_events(&mut poll, &mut events, &[1]);
    let event = event_for(&seen, 1);
    assert!(event.is_writable() || event.is_error(), "{event:?}");
    match stream.take_error()? {
        Some(error) => {
            assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
            // Taken, as reading SO_ERROR takes it.
            assert!(stream.take_error()?.is_none());
        }
        // libkqueue (the kqueue backend on Linux, in CI) reads SO_ERROR itself to fill in
        // the event's `fflags`, and on Linux reading it takes it: there the event's error
        // flag is what is left to tell. A real kqueue leaves SO_ERROR alone.
        None if cfg!(minimio_libkqueue) => assert!(event.is_error(), "{event:?}"),
        None => panic!("take_error after a refused connect says nothing; event {event:?}"),
    }

    // Re-armed, the dead socket reports at once again: nothing will ever come, so the
    // caller must not be left waiting.
    poll.registrator()
        .reregister(&stream, 2, Interests::READABLE | Interests::WRITABLE)?;
    expect_events(&mut poll, &mut events, &[2]);
    Ok(())
}

/// The handshake belongs to the socket, not to its registration: it goes on after
/// `deregister`, and a new registration hears how it ended (on Windows too, where the
/// `ConnectEx` started by the first `register` is not aborted by `deregister`).
#[test]
fn a_connect_goes_on_after_deregister_and_the_next_registration_reports_it() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stream = TcpStream::connect_nonblocking(addr)?;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let registrator = poll.registrator();
    registrator.register(&stream, 1, Interests::WRITABLE)?;
    registrator.deregister(&stream)?;
    registrator.register(&stream, 2, Interests::WRITABLE)?;

    let seen = expect_events(&mut poll, &mut events, &[2]);
    assert!(event_for(&seen, 2).is_writable(), "{seen:?}");
    assert!(stream.take_error()?.is_none(), "the connect failed");
    assert_eq!(stream.peer_addr()?, addr);
    drop(accept(listener));
    Ok(())
}

/// Registered for reading only, a stream that has just connected reports nothing until
/// data comes: the handshake's end is writability, not data.
#[test]
fn a_connect_registered_for_reading_reports_the_first_data() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut stream = TcpStream::connect_nonblocking(listener.local_addr()?)?;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    poll.registrator()
        .register(&stream, 1, Interests::READABLE)?;

    let mut peer = accept(listener);
    peer.write_all(b"hello")?;
    let seen = expect_events(&mut poll, &mut events, &[1]);
    assert!(event_for(&seen, 1).is_readable(), "{seen:?}");
    assert_eq!(drain(&mut stream), b"hello");
    Ok(())
}

/// On Windows the connect starts at `register` (see `connect_nonblocking`'s docs): until
/// then the stream is bound and unconnected, and nothing on it blocks.
#[cfg(windows)]
#[test]
fn an_unregistered_windows_stream_waits_to_connect_without_blocking() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stream = TcpStream::connect_nonblocking(addr)?;
    let (stream, results) = within(SLACK, "I/O on a stream still connecting", move || {
        let read = (&stream).read(&mut [0; 8]).map_err(|e| e.kind());
        let write = (&stream).write(b"early").map_err(|e| e.kind());
        let peer = stream.peer_addr().map_err(|e| e.kind());
        (stream, (read, write, peer))
    });
    assert_eq!(
        results,
        (
            Err(io::ErrorKind::WouldBlock),
            Err(io::ErrorKind::WouldBlock),
            Err(io::ErrorKind::NotConnected)
        )
    );
    assert!(stream.take_error()?.is_none());
    // Bound, as ConnectEx needs: `getsockname` fails with WSAEINVAL on an unbound socket.
    stream.local_addr()?;

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    poll.registrator()
        .register(&stream, 7, Interests::WRITABLE)?;
    let seen = expect_events(&mut poll, &mut events, &[7]);
    assert!(event_for(&seen, 7).is_writable(), "{seen:?}");
    assert_eq!(stream.peer_addr()?, addr);
    Ok(())
}
