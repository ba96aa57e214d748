//! Unit tests of the selector: the settled entry, the timeout rounding, and the life of
//! operations and wake-ups across registering, deregistering, dropping and threads.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "IOCP" (the book's
//! `windows.rs`).
//!
//! They span the files of this folder (a `Selector` drives sockets, operations and wakers
//! at once), so they live here rather than next to one of them.

use super::*;

#[test]
fn timeouts_round_up_to_whole_milliseconds() {
    assert_eq!(duration_to_ms_rounded_up(Duration::ZERO), 0);
    assert_eq!(duration_to_ms_rounded_up(Duration::from_nanos(1)), 1);
    assert_eq!(duration_to_ms_rounded_up(Duration::from_micros(400)), 1);
    assert_eq!(duration_to_ms_rounded_up(Duration::from_millis(5)), 5);
    assert_eq!(duration_to_ms_rounded_up(Duration::from_micros(5_001)), 6);
    // Never INFINITE: a finite timeout must not become "wait forever".
    assert_eq!(
        duration_to_ms_rounded_up(Duration::from_secs(u64::MAX)),
        ffi::INFINITE - 1
    );
}

#[test]
fn a_settled_entry_carries_the_event_or_nothing() {
    let flags = Event::READABLE | Event::ERROR;
    let raw = settled(Some((Token::new(usize::MAX), flags)));
    assert!(raw.0.lpOverlapped.is_null());
    let selector = Selector::new().unwrap();
    let event = selector.translate(&raw).unwrap();
    assert_eq!(event.id(), Token::new(usize::MAX));
    assert!(event.is_readable() && event.is_error() && !event.is_writable());
    assert_eq!(selector.translate(&settled(None)), None);
}

/// A connected loopback pair: our stream and the std peer.
fn pair() -> io::Result<(TcpStream, std::net::TcpStream)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let stream = TcpStream::connect(listener.local_addr()?)?;
    let (peer, _) = listener.accept()?;
    Ok((stream, peer))
}

/// Selects until every operation the selector started has come back; returns the
/// events seen on the way. Bounded: fails after about two seconds.
fn settle_all(selector: &Selector) -> Vec<Event> {
    let mut raw = Vec::with_capacity(8);
    let mut events = Vec::new();
    for _ in 0..20 {
        selector
            .select(&mut raw, 8, Some(Duration::from_millis(100)))
            .unwrap();
        events.extend(raw.iter().filter_map(|r| selector.translate(r)));
        if selector.in_flight.load(Ordering::Relaxed) == 0 {
            return events;
        }
    }
    panic!("operations still in flight after 2 s: {selector:?}");
}

#[test]
fn a_socket_belongs_to_the_first_poll_forever() -> io::Result<()> {
    let (stream, _peer) = pair()?;
    let first = Selector::new()?;
    let second = Selector::new()?;
    first.register(&stream, Token::new(1), Interests::READABLE)?;
    first.deregister(&stream)?;
    let err = second
        .register(&stream, Token::new(2), Interests::READABLE)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    // Not registered with `second`, so it cannot change or remove it either.
    assert_eq!(
        second.deregister(&stream).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    // The first one can take it back.
    first.register(&stream, Token::new(3), Interests::READABLE)?;
    Ok(())
}

#[test]
fn a_dropped_streams_pending_read_comes_back_cancelled_and_silent() -> io::Result<()> {
    let (stream, _peer) = pair()?;
    let selector = Selector::new()?;
    // No data: the zero-byte read stays pending in the kernel.
    selector.register(&stream, Token::new(1), Interests::READABLE)?;
    assert_eq!(selector.in_flight.load(Ordering::Relaxed), 1);
    drop(stream);
    assert_eq!(settle_all(&selector), []);
    Ok(())
}

#[test]
fn a_deregistered_streams_finished_write_yields_no_event() -> io::Result<()> {
    let (stream, _peer) = pair()?;
    let selector = Selector::new()?;
    // The zero-byte send finishes at once; its entry is queued before `deregister`.
    selector.register(&stream, Token::new(1), Interests::WRITABLE)?;
    selector.deregister(&stream)?;
    assert_eq!(settle_all(&selector), []);
    Ok(())
}

#[test]
fn a_pending_read_is_kept_across_reregister_and_reports_the_new_token() -> io::Result<()> {
    use std::io::Write;
    let (stream, mut peer) = pair()?;
    let selector = Selector::new()?;
    selector.register(&stream, Token::new(1), Interests::READABLE)?;
    selector.reregister(&stream, Token::new(2), Interests::READABLE)?;
    assert_eq!(selector.in_flight.load(Ordering::Relaxed), 1);
    peer.write_all(b"x")?;
    let events = settle_all(&selector);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].id(), Token::new(2));
    assert!(events[0].is_readable());
    Ok(())
}

#[test]
fn dropping_the_poll_cancels_and_frees_what_registered_streams_have_pending() -> io::Result<()> {
    let (stream, _peer) = pair()?;
    let selector = Selector::new()?;
    selector.register(&stream, Token::new(1), Interests::READABLE)?;
    // What `Drop` does, with a result to check.
    assert!(selector.cancel_and_drain(), "{selector:?}");
    assert_eq!(selector.in_flight.load(Ordering::Relaxed), 0);
    // The stream is still open, and knows it is no longer registered.
    assert_eq!(
        selector.deregister(&stream).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    Ok(())
}

#[test]
fn an_operation_outlives_the_thread_that_started_it() -> io::Result<()> {
    use std::io::Write;
    // Windows cancels a thread's pending I/O when the thread exits, except for a handle
    // bound to a completion port: its requests belong to the handle ("thread-agnostic
    // I/O", Windows Internals). Were it cancelled, the registration would not hang (a
    // cancelled current operation is reported as readiness), but an event would come
    // before any data.
    let (stream, mut peer) = pair()?;
    let selector = Arc::new(Selector::new()?);
    let stream = Arc::new(stream);
    let (s, st) = (Arc::clone(&selector), Arc::clone(&stream));
    std::thread::spawn(move || s.register(&st, Token::new(4), Interests::READABLE))
        .join()
        .unwrap()?;
    let mut raw = Vec::with_capacity(8);
    selector.select(&mut raw, 8, Some(Duration::from_millis(100)))?;
    assert!(raw.is_empty(), "an entry before any data was sent");
    assert_eq!(selector.in_flight.load(Ordering::Relaxed), 1);
    peer.write_all(b"x")?;
    let events = settle_all(&selector);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].is_readable() && !events[0].is_error(),
        "{events:?}"
    );
    Ok(())
}

#[test]
fn a_wake_still_queued_when_its_waker_is_dropped_is_not_delivered() -> io::Result<()> {
    let selector = Selector::new()?;
    let waker = Waker::new(&selector, Token::new(9))?;
    waker.wake(&selector)?;
    waker.wake(&selector)?; // coalesced: one entry
    assert_eq!(selector.in_flight.load(Ordering::Relaxed), 1);
    drop(waker);
    // The entry still comes back, and its `Arc` is freed, but it is no event.
    assert_eq!(settle_all(&selector), []);
    Ok(())
}

#[test]
fn a_connect_is_the_only_operation_until_it_ends_then_it_is_the_event() -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let stream = TcpStream::connect_nonblocking(listener.local_addr()?)?;
    let selector = Selector::new()?;
    // Zero-byte operations would fail at once with WSAENOTCONN: only ConnectEx starts.
    selector.register(
        &stream,
        Token::new(1),
        Interests::READABLE | Interests::WRITABLE,
    )?;
    assert_eq!(selector.in_flight.load(Ordering::Relaxed), 1);
    let events = settle_all(&selector);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].is_writable() && !events[0].is_error(),
        "{events:?}"
    );
    assert!(stream.take_error()?.is_none());
    Ok(())
}

#[test]
fn a_dropped_streams_connect_comes_back_silent_and_is_freed() -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let stream = TcpStream::connect_nonblocking(listener.local_addr()?)?;
    let selector = Selector::new()?;
    selector.register(&stream, Token::new(1), Interests::WRITABLE)?;
    drop(stream);
    assert_eq!(settle_all(&selector), []);
    Ok(())
}

#[test]
fn dropping_the_poll_frees_a_connect_still_registered() -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let stream = TcpStream::connect_nonblocking(listener.local_addr()?)?;
    let selector = Selector::new()?;
    selector.register(&stream, Token::new(1), Interests::WRITABLE)?;
    assert!(selector.cancel_and_drain(), "{selector:?}");
    assert_eq!(selector.in_flight.load(Ordering::Relaxed), 0);
    Ok(())
}

#[test]
fn a_failed_connect_keeps_its_winsock_error_for_take_error() -> io::Result<()> {
    // A port we bound and let go: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let stream = TcpStream::connect_nonblocking(addr)?;
    let selector = Selector::new()?;
    selector.register(&stream, Token::new(1), Interests::WRITABLE)?;
    let events = settle_all(&selector);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].is_error() && events[0].is_write_closed(),
        "{events:?}"
    );
    let error = stream.take_error()?.expect("the connect's error");
    assert_eq!(error.raw_os_error(), Some(10061), "{error}"); // WSAECONNREFUSED
    Ok(())
}
