//! 10,000 register / reregister / deregister cycles, and a thousand `Poll`s and `Waker`s
//! made and dropped, leave no memory (and, on Windows, no handle) behind.
//!
//! Memory is counted by this test binary's own global allocator, which tallies the blocks
//! and bytes that are live: it needs nothing from the OS, so it works the same on Linux,
//! macOS and Windows under Wine (whose `GetProcessHandleCount` is a stub that always
//! answers 0). Handles are counted with a probe: Windows, and Wine's server, give a new
//! handle the lowest free slot of the process's handle table, so a handle created after
//! the cycles gets the same value as one created before unless handles leaked in between.
//!
//! The IOCP backend frees a cancelled operation only when its completion is dequeued, so
//! the cycles poll now and then, as any user's loop does, and the final count is taken
//! after the `Poll` is dropped. Under Wine, cancelled operations come back more slowly
//! than the cycles make them, so the drop still finds a backlog of thousands: this test
//! is also the check that `Drop` waits for a backlog that keeps coming back (a fixed
//! one-second wait leaked 1,704 operations here on a slow machine).
//!
//! The only test in this file: the allocator counts the whole process.

mod util;

use std::io::{self, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use node_experiment::minimio::{Events, Interests, Poll, TcpStream, Waker};
use util::reliability::LIMIT;
use util::within;

#[path = "util/counting.rs"]
mod counting;
use counting::live;

/// The value of a fresh handle: the lowest free slot in the handle table (see the module
/// docs). Elsewhere there is no such probe; descriptors are counted in the Linux-only
/// leak tests.
#[cfg(windows)]
fn handle_probe() -> usize {
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn CreateEventW(
            attributes: *mut std::ffi::c_void,
            manual_reset: i32,
            initial_state: i32,
            name: *const u16,
        ) -> *mut std::ffi::c_void;
        fn CloseHandle(handle: *mut std::ffi::c_void) -> i32;
    }
    // SAFETY: no security attributes and no name (both may be null, MSDN "CreateEventW");
    // the handle returned is closed at once.
    unsafe {
        let h = CreateEventW(std::ptr::null_mut(), 0, 0, std::ptr::null());
        assert!(!h.is_null(), "CreateEventW: {}", io::Error::last_os_error());
        CloseHandle(h);
        h as usize
    }
}

#[cfg(not(windows))]
fn handle_probe() -> usize {
    0
}

const CYCLES: usize = 10_000;
const POLLS: usize = 1_000;
/// Blocks that may appear once, lazily, in std (a thread-local's first use, say). A leak
/// per cycle would be thousands.
const BLOCK_SLACK: isize = 16;

/// Polls until no event has come for a while, so that every completion (IOCP) has been
/// dequeued and its operation freed.
fn drain(poll: &mut Poll, events: &mut Events) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while poll.poll(events, Some(20))? > 0 {
        assert!(Instant::now() < deadline, "events keep coming");
    }
    Ok(())
}

/// Register/reregister/deregister cycles over a few streams of one `Poll`, with events
/// taken now and then.
fn cycles(listener: &TcpListener, count: usize) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let mut events = Events::with_capacity(64);
    let mut pairs = Vec::new();
    for _ in 0..4 {
        let s = TcpStream::connect(addr)?;
        let (p, _) = listener.accept()?;
        pairs.push((s, p));
    }
    for i in 0..count {
        let (s, p) = &mut pairs[i % 4];
        registrator.register(s, i, Interests::READABLE)?;
        if i % 7 == 0 {
            p.write_all(b"x")?;
        }
        registrator.reregister(s, i, Interests::READABLE | Interests::WRITABLE)?;
        registrator.deregister(s)?;
        if i % 1_000 == 999 {
            drain(&mut poll, &mut events)?;
        }
    }
    drain(&mut poll, &mut events)?;
    // Streams dropped while registered, then the Poll.
    for (s, _) in &pairs {
        registrator.register(s, 0, Interests::READABLE)?;
    }
    drop(pairs);
    drain(&mut poll, &mut events)?;
    Ok(())
}

/// `Poll`s and `Waker`s made, woken and dropped, in both orders.
fn polls(count: usize) -> io::Result<()> {
    let mut events = Events::with_capacity(4);
    for i in 0..count {
        let mut poll = Poll::new()?;
        let waker = Waker::new(&poll.registrator(), 1)?;
        waker.wake()?;
        if i % 2 == 0 {
            assert_eq!(poll.poll(&mut events, Some(1_000))?, 1);
        }
        poll.registrator().close_loop()?;
        if i % 3 == 0 {
            drop(waker);
            drop(poll);
        } else {
            drop(poll);
            let _ = waker.wake(); // NotConnected; must not leak either
            drop(waker);
        }
    }
    Ok(())
}

#[test]
fn ten_thousand_registration_cycles_leave_no_memory_or_handle_behind() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let report = within(
        LIMIT,
        "registration cycles",
        move || -> io::Result<String> {
            // Warm up: std's and the backend's one-time set-ups (Winsock's start-up on
            // Windows, say) happen here, not in the measured part.
            cycles(&listener, 200)?;
            polls(50)?;
            let (blocks, bytes) = live();
            let handle = handle_probe();
            let start = Instant::now();
            cycles(&listener, CYCLES)?;
            polls(POLLS)?;
            let took = start.elapsed();
            let (blocks_after, bytes_after) = live();
            let handle_after = handle_probe();
            assert!(
                blocks_after - blocks <= BLOCK_SLACK,
                "{} blocks ({} bytes) more are live after {CYCLES} cycles and {POLLS} polls",
                blocks_after - blocks,
                bytes_after - bytes
            );
            // Four slots of slack (a handle value is a multiple of 4) for a handle that std or
            // Wine opens lazily once; a leak per cycle or per Poll would be thousands.
            assert!(
                handle_after <= handle + 4 * 4,
                "the handle probe moved from {handle:#x} to {handle_after:#x}: handles leaked"
            );
            Ok(format!(
                "{CYCLES} cycles and {POLLS} polls in {took:?}: live blocks {blocks} -> \
             {blocks_after}, bytes {bytes} -> {bytes_after}, handle probe {handle:#x} -> \
             {handle_after:#x}"
            ))
        },
    )?;
    println!("{report}");
    Ok(())
}
