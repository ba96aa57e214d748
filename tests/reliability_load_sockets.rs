//! Load: 10,000 registered sockets (5,000 loopback pairs, both ends registered) on one
//! `Poll`, and nothing lost: every socket reports exactly once per arming, with its own
//! token and its own data, through a buffer far smaller than the ready list.
//!
//! Linux only: 10,000 sockets need more descriptors than a default soft limit (often
//! 1,024) allows, and the test raises it with `setrlimit`, whose `struct rlimit` layout
//! and `RLIMIT_NOFILE` number are Linux's (see `util::linux`). It has its own
//! file so that its sockets and raised limit stay out of other tests' counts.
#![cfg(target_os = "linux")]

mod util;

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use node_experiment::minimio::{Events, Interests, Poll, TcpStream};
use util::linux::raise_nofile;
use util::reliability::{LIMIT, seed};
use util::{Rng, within};

const PAIRS: usize = 5_000;
const SOCKETS: usize = 2 * PAIRS;
/// How long a socket that must stay silent is listened to. Loopback readiness arrives in
/// microseconds, so a stale or duplicate event would show up well inside it.
const QUIET: Duration = Duration::from_millis(200);
/// A small buffer on purpose: 10,000 ready sockets take at least 40 calls to collect.
const CAPACITY: usize = 256;

/// Polls until each token in `want` has reported once; fails on an unknown token, on a
/// second event for a token, or after [`LIMIT`]. Calls `each` for every event.
fn collect(
    poll: &mut Poll,
    want: &HashSet<usize>,
    mut each: impl FnMut(usize),
) -> io::Result<usize> {
    let mut events = Events::with_capacity(CAPACITY);
    let mut seen = HashSet::with_capacity(want.len());
    let mut calls = 0;
    let start = Instant::now();
    while seen.len() < want.len() {
        assert!(
            start.elapsed() < LIMIT,
            "only {} of {} sockets reported within {LIMIT:?}",
            seen.len(),
            want.len()
        );
        calls += 1;
        let n = poll.poll(&mut events, Some(500))?;
        assert!(n <= CAPACITY, "{n} events in a buffer of {CAPACITY}");
        for event in &events {
            let token = event.id().value();
            assert!(
                want.contains(&token),
                "an event for token {token}, which is not armed"
            );
            assert!(
                seen.insert(token),
                "a second event for token {token} without a re-arm"
            );
            each(token);
        }
    }
    Ok(calls)
}

/// Fails if any event arrives within [`QUIET`].
fn expect_silence(poll: &mut Poll, what: &str) -> io::Result<()> {
    let mut events = Events::with_capacity(CAPACITY);
    let n = poll.poll(&mut events, Some(QUIET.as_millis() as i32))?;
    assert_eq!(n, 0, "{what}: unexpected events {events:?}");
    Ok(())
}

/// Reads what is waiting on `stream` (until `WouldBlock`).
fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => panic!("unexpected end of stream"),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return data,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

#[test]
fn ten_thousand_registered_sockets_each_report_once_per_arming() {
    // The sockets, a listener, and room for what the harness and std hold. libkqueue (the
    // kqueue backend on Linux) opens one more descriptor per registered socket for its
    // emulation; if the hard limit does not allow that, the test runs with as many pairs
    // as fit there, and says so. With the OS's own queue, all 10,000 are required.
    let per_socket: u64 = if cfg!(minimio_libkqueue) { 2 } else { 1 };
    let need = per_socket * SOCKETS as u64 + 256;
    let limit = raise_nofile(need);
    let pairs = if limit >= need {
        PAIRS
    } else if cfg!(minimio_libkqueue) {
        let fit = ((limit.saturating_sub(256)) / (2 * per_socket)) as usize;
        println!("libkqueue: {limit} descriptors allow {fit} pairs, not {PAIRS}");
        fit
    } else {
        panic!(
            "this test needs {need} open descriptors, and the hard limit allows {limit}: \
             raise it (`ulimit -Hn`, or LimitNOFILE= for a service)"
        );
    };
    let n_sockets = 2 * pairs;
    let seed = seed("ten_thousand_registered_sockets", 0x50C_4E75);
    let figures = within(
        LIMIT * 2,
        "10,000 sockets on one Poll",
        move || -> io::Result<String> {
            let mut rng = Rng::new(seed);
            let start = Instant::now();
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            // Socket `k` and socket `k ^ 1` are the two ends of one connection.
            let mut sockets: Vec<TcpStream> = Vec::with_capacity(n_sockets);
            for _ in 0..pairs {
                let ours = TcpStream::connect(addr)?;
                // The handshake is done; accepting at once keeps the backlog empty.
                let (theirs, _) = listener.accept()?;
                sockets.push(ours);
                sockets.push(TcpStream::from_std(theirs)?);
            }
            let connected = start.elapsed();

            let mut poll = Poll::new()?;
            let registrator = poll.registrator();
            for (k, s) in sockets.iter().enumerate() {
                registrator.register(s, k, Interests::READABLE)?;
            }
            expect_silence(
                &mut poll,
                "10,000 readable registrations with nothing to read",
            )?;

            // Round 1: every socket gets one message naming it, sent by its peer in a seeded
            // order, and must report once and read exactly that message.
            let mut order: Vec<usize> = (0..n_sockets).collect();
            rng.shuffle(&mut order);
            for &k in &order {
                (&sockets[k ^ 1]).write_all(&(k as u64 ^ seed).to_le_bytes())?;
            }
            let all: HashSet<usize> = (0..n_sockets).collect();
            let round1 = Instant::now();
            let mut wrong = Vec::new();
            let calls = collect(&mut poll, &all, |k| {
                let got = read_all(&mut sockets[k]);
                if got != (k as u64 ^ seed).to_le_bytes() {
                    wrong.push((k, got));
                }
            })?;
            assert!(
                wrong.is_empty(),
                "sockets read another's data: {:?}",
                &wrong[..wrong.len().min(5)]
            );
            let round1 = round1.elapsed();
            expect_silence(&mut poll, "after every one-shot readable event was taken")?;

            // Round 2: re-arm all for writing, with new tokens: all 10,000 are writable at once.
            for (k, s) in sockets.iter().enumerate() {
                registrator.reregister(s, n_sockets + k, Interests::WRITABLE)?;
            }
            let all2: HashSet<usize> = (n_sockets..2 * n_sockets).collect();
            collect(&mut poll, &all2, |_| {})?;
            expect_silence(&mut poll, "after every one-shot writable event was taken")?;

            // Round 3: a seeded half is deregistered, the other half re-armed for reading;
            // every socket then gets data. Only the armed half may report.
            let mut armed = HashSet::new();
            for (k, s) in sockets.iter().enumerate() {
                if rng.chance(50) {
                    registrator.reregister(s, 2 * n_sockets + k, Interests::READABLE)?;
                    armed.insert(2 * n_sockets + k);
                } else {
                    registrator.deregister(s)?;
                }
            }
            for k in 0..n_sockets {
                (&sockets[k ^ 1]).write_all(b"x")?;
            }
            collect(&mut poll, &armed, |t| {
                assert_eq!(read_all(&mut sockets[t - 2 * n_sockets]), b"x");
            })?;
            expect_silence(&mut poll, "deregistered sockets with data waiting")?;

            // Dropping 10,000 registered sockets leaves the Poll quiet and working.
            drop(sockets);
            expect_silence(&mut poll, "after dropping every socket")?;
            Ok(format!(
                "{n_sockets} sockets: connected in {connected:?}; round 1 collected in {round1:?} \
             over {calls} polls of {CAPACITY}; total {:?}",
                start.elapsed()
            ))
        },
    )
    .expect("the 10,000-socket test");
    println!("{figures}");
}
