//! A thousand `Poll`s, each with registered streams, a waker, handles that outlive it and a
//! thread blocked in it, leave no thread and no descriptor behind.
//!
//! `minimio_fd_leak.rs` counts descriptors over bare `Poll`s and wakers; this adds what a
//! real user has around a `Poll`: registered sockets dropped before or after it, a
//! `Registrator` and a `Waker` that outlive it (and must then say `NotConnected`), and a
//! poll thread that `close_loop` ends. It counts threads too: libkqueue (the kqueue
//! backend on Linux) runs helper threads and frees a queue's descriptors from one of them,
//! which is why the count is allowed to settle.
//!
//! Linux only: it counts `/proc/self/task` and `/proc/self/fd` (proc(5)). The only test in
//! this file, since those describe the whole process.
#![cfg(target_os = "linux")]

mod util;

use std::io::{self, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use node_experiment::minimio::{Events, Interests, Poll, TcpStream, Waker};
use util::linux::{assert_back_to, snapshot};
use util::reliability::{LIMIT, seed};
use util::{Rng, within};

const ROUNDS: usize = 1_000;
const SETTLE: Duration = Duration::from_secs(5);

fn one_round(listener: &TcpListener, rng: &mut Rng) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let poll = Poll::new()?;
    let registrator = poll.registrator();
    let waker = Waker::new(&registrator, 1)?;
    let mut streams = Vec::new();
    let mut peers = Vec::new();
    for k in 0..2 {
        let s = TcpStream::connect(addr)?;
        let (mut p, _) = listener.accept()?;
        registrator.register(&s, 10 + k, Interests::READABLE)?;
        p.write_all(b"ping")?;
        streams.push(s);
        peers.push(p);
    }

    // A poll thread that sees the wake, then blocks until the loop is closed; it keeps the
    // Poll or drops it itself.
    let keep = rng.chance(50);
    let (woke_tx, woke_rx) = std::sync::mpsc::channel();
    let poller = thread::spawn(move || -> io::Result<Option<Poll>> {
        let mut poll = poll;
        let mut events = Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut woken = false;
        while !woken {
            assert!(Instant::now() < deadline, "the wake never came");
            poll.poll(&mut events, Some(500))?;
            woken = events.iter().any(|e| e.id().value() == 1);
        }
        // A close wins over ready events, so the main thread closes only after this.
        let _ = woke_tx.send(());
        loop {
            match poll.poll(&mut events, None) {
                Ok(_) => continue, // the streams' events
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                Err(e) => return Err(e),
            }
        }
        Ok(keep.then_some(poll))
    });
    waker.wake()?;
    woke_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the poll thread did not see the wake");
    registrator.close_loop()?;
    let kept = poller.join().expect("the poll thread panicked")?;

    // Drop streams and the Poll in a seeded order; the handles outlive it.
    if rng.chance(50) {
        streams.clear();
    }
    drop(kept);
    let stream = TcpStream::connect(addr)?;
    let (_p, _) = listener.accept()?;
    assert_eq!(
        registrator
            .register(&stream, 3, Interests::READABLE)
            .map_err(|e| e.kind()),
        Err(io::ErrorKind::NotConnected)
    );
    assert_eq!(
        waker.wake().map_err(|e| e.kind()),
        Err(io::ErrorKind::NotConnected)
    );
    registrator.close_loop()?; // documented: Ok after the Poll is gone
    Ok(())
}

#[test]
fn a_thousand_polls_with_streams_wakers_and_poll_threads_leave_nothing_behind() -> io::Result<()> {
    // The listener is part of the baseline: it lives for the whole test.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let seed = seed("1,000 polls", 0x9011_0004);
    let baseline = snapshot();
    let (took, listener) = within(LIMIT, "1,000 polls", move || -> io::Result<_> {
        let mut rng = Rng::new(seed);
        let start = Instant::now();
        for _ in 0..ROUNDS {
            one_round(&listener, &mut rng)?;
        }
        // Handed back so that it is still open when the count is compared.
        Ok((start.elapsed(), listener))
    })?;
    assert_back_to(&baseline, SETTLE, "1,000 polls");
    drop(listener);
    println!("{ROUNDS} polls with streams, wakers and poll threads: {took:?}");
    Ok(())
}
