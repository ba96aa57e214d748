//! Streams from `connect_nonblocking` dropped or deregistered while their connect may
//! still be under way, and `Poll`s dropped under them, leave no memory behind.
//!
//! On Windows each registered connect is a `ConnectEx` whose memory the kernel owns until
//! its completion is dequeued; dropping the stream or the `Poll` cancels it, and it is
//! freed when it comes back. Memory is counted by this binary's own global allocator, as
//! in `tests/reliability_leaks_alloc.rs`.
//!
//! To have connects that are really pending, the listener never accepts: once its queue
//! (std listens with a backlog of 128) is full, Linux drops further handshakes and the
//! client retries a second later, so every later connect is still under way when it is
//! dropped. The earlier ones connect at once; both kinds are covered.
//!
//! The only test in this file: the allocator counts the whole process.

mod util;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use node_experiment::minimio::{Events, Interests, Poll, TcpStream};
use util::reliability::LIMIT;
use util::within;

#[path = "util/counting.rs"]
mod counting;
use counting::live;

/// Enough to overflow the listener's queue (129 on Linux) and have more than a hundred
/// connects pending.
const CYCLES: usize = 300;
/// Blocks that may appear once, lazily, in std. A leak per cycle would be hundreds.
const BLOCK_SLACK: isize = 16;

/// Polls until no event has come for a while, so every completion has been dequeued, and
/// notes the tokens of the events seen.
fn drain(poll: &mut Poll, events: &mut Events, seen: &mut Vec<usize>) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while poll.poll(events, Some(20))? > 0 {
        seen.extend(events.iter().map(|e| e.id().value()));
        assert!(Instant::now() < deadline, "events keep coming");
    }
    Ok(())
}

/// Connects `count` times to `addr` and lets go of each connect in one of four ways.
/// Returns how many of the streams kept registered until the `Poll` was dropped were
/// still connecting then (no event had come).
fn cycles(addr: SocketAddr, count: usize) -> io::Result<usize> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(64);
    let mut kept = Vec::new();
    let mut seen = Vec::new();
    for i in 0..count {
        let stream = match TcpStream::connect_nonblocking(addr) {
            Ok(stream) => stream,
            // Refused at once (Unix, when the queue overflows and the OS says so).
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        let registrator = poll.registrator();
        match i % 4 {
            // Never registered: on Windows nothing was started.
            0 => drop(stream),
            // Dropped while registered.
            1 => {
                registrator.register(&stream, i, Interests::WRITABLE)?;
                drop(stream);
            }
            // Deregistered (the connect goes on), then dropped.
            2 => {
                registrator.register(&stream, i, Interests::READABLE | Interests::WRITABLE)?;
                registrator.deregister(&stream)?;
                drop(stream);
            }
            // Kept registered until the `Poll` is dropped, below.
            _ => {
                registrator.register(&stream, i, Interests::WRITABLE)?;
                kept.push((i, stream));
            }
        }
        if i % 50 == 49 {
            drain(&mut poll, &mut events, &mut seen)?;
        }
    }
    drain(&mut poll, &mut events, &mut seen)?;
    let pending = kept.iter().filter(|(i, _)| !seen.contains(i)).count();
    // The `Poll` goes first: its drop cancels what the kept streams have pending.
    drop(poll);
    drop(kept);
    Ok(pending)
}

#[test]
fn connects_dropped_or_deregistered_while_pending_leave_no_memory_behind() -> io::Result<()> {
    let report = within(LIMIT, "connect cycles", move || -> io::Result<String> {
        // Never accepts: see the module docs.
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        // Warm up one-time set-ups (Winsock's start-up, the ConnectEx lookup).
        cycles(addr, 8)?;
        let (blocks, bytes) = live();
        let start = Instant::now();
        let pending = cycles(addr, CYCLES)?;
        let took = start.elapsed();
        assert!(
            pending > 0,
            "no connect was still pending when its Poll was dropped: the test tests less \
             than it says"
        );
        let (blocks_after, bytes_after) = live();
        assert!(
            blocks_after - blocks <= BLOCK_SLACK,
            "{} blocks ({} bytes) more are live after {CYCLES} connect cycles",
            blocks_after - blocks,
            bytes_after - bytes
        );
        drop(listener);
        Ok(format!(
            "{CYCLES} connect cycles in {took:?} ({pending} still pending when their Poll \
             was dropped): live blocks {blocks} -> {blocks_after}, bytes {bytes} -> \
             {bytes_after}"
        ))
    })?;
    println!("{report}");
    Ok(())
}
