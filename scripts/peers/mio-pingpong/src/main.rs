//! The ping-pong of `benches/pingpong.rs`, driven by mio: round trips of 64 bytes over a
//! loopback TCP pair, both ends registered with one `mio::Poll`, one thread.
//!
//! mio registers edge-triggered (`EPOLLET`), so a registration lives on without re-arming:
//! per round trip, `epoll_wait`, `recvfrom` and `sendto` on each side (6 syscalls) when a
//! short read is taken as "drained", one more `recvfrom` per side (8) when reading until
//! `WouldBlock`, as mio's documentation asks.
//!
//! Usage: `mio-pingpong [TRIPS] [short|drain]`; prints `round_trips_per_s=...`.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const MSG: usize = 64;
const WARMUP: usize = 2_000;

struct PingPong {
    ends: [TcpStream; 2],
    got: [usize; 2],
    trips_left: usize,
    buf: [u8; 4096],
}

impl PingPong {
    fn send(&mut self, side: usize) -> io::Result<()> {
        let n = self.ends[side].write(&[0x5a; MSG])?;
        assert_eq!(n, MSG, "a write to an idle loopback socket was cut short");
        Ok(())
    }

    /// Reads what `side` has; answers a complete message. `false` once side 0 has the last.
    fn serve(&mut self, side: usize, drain: bool) -> io::Result<bool> {
        loop {
            match self.ends[side].read(&mut self.buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.got[side] += n;
                    if !drain && n < self.buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.got[side] < MSG {
            return Ok(true);
        }
        self.got[side] = 0;
        if side == 0 {
            self.trips_left -= 1;
            if self.trips_left == 0 {
                return Ok(false);
            }
        }
        self.send(side)?;
        Ok(true)
    }
}

fn run(
    poll: &mut Poll,
    events: &mut Events,
    pp: &mut PingPong,
    trips: usize,
    drain: bool,
) -> io::Result<()> {
    pp.trips_left = trips;
    pp.send(0)?;
    loop {
        poll.poll(events, None)?;
        for event in events.iter() {
            if !pp.serve(event.token().0, drain)? {
                return Ok(());
            }
        }
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let trips: usize = args.get(1).map_or(200_000, |a| a.parse().expect("TRIPS"));
    let drain = args.get(2).is_some_and(|a| a == "drain");

    // Connected pair: mio's connect is non-blocking, so accept with a blocking std listener.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = std_listener.local_addr()?;
    let a = std::net::TcpStream::connect(addr)?;
    let (b, _) = std_listener.accept()?;
    let mut ends = [a, b].map(|s| {
        s.set_nodelay(true).expect("nodelay");
        s.set_nonblocking(true).expect("nonblocking");
        TcpStream::from_std(s)
    });
    let mut poll = Poll::new()?;
    for (side, s) in ends.iter_mut().enumerate() {
        poll.registry()
            .register(s, Token(side), Interest::READABLE)?;
    }
    let mut pp = PingPong {
        ends,
        got: [0; 2],
        trips_left: 0,
        buf: [0; 4096],
    };
    let mut events = Events::with_capacity(16);
    run(&mut poll, &mut events, &mut pp, WARMUP, drain)?;
    let start = Instant::now();
    run(&mut poll, &mut events, &mut pp, trips, drain)?;
    println!(
        "round_trips_per_s={}",
        trips as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}
