//! Ping-pong: round trips of a small message over a loopback TCP pair, one thread driving
//! the poll loop. minimio against a raw epoll loop written here.
//!
//! Run: `cargo bench --bench pingpong` (options after `--`: `--trips N`, `--rounds R`,
//! `--only VARIANT` to run one variant alone, e.g. under `strace -c`; see
//! `scripts/bench-syscalls.sh`). mio is measured by `scripts/bench-peers.sh`, in a crate
//! of its own, so this crate keeps no dependencies (see `docs/PERFORMANCE-draft.md`).
//!
//! Both ends of the connection live in this process and are registered with one event
//! queue; one thread waits, reads whichever end is readable, and writes the answer. A round
//! trip is: side 0 sends 64 bytes, side 1 reads them and sends 64 back, side 0 reads them.
//! Every variant does the same reads and writes; they differ only in how readiness is
//! asked for, which is the point:
//!
//! | variant | readiness | syscalls per round trip |
//! |---|---|---|
//! | `epoll-lt` | raw epoll, level-triggered, registered once | 6: per side `epoll_wait`, `recvfrom`, `sendto` |
//! | `epoll-oneshot` | raw epoll, `EPOLLONESHOT`, re-armed with `EPOLL_CTL_MOD` | 8: the same plus one `epoll_ctl` per side |
//! | `minimio` | minimio (one-shot), a short read taken as "drained" | 8, as `epoll-oneshot` |
//! | `minimio-drain` | minimio, reading until `WouldBlock` | 10: one more `recvfrom` per side, which says `EAGAIN` |
//!
//! The "short read" rule: a stream socket's `read` copies out everything the kernel holds,
//! up to the buffer's size. If it returns fewer bytes than the buffer holds, the receive
//! queue was empty when it returned, so asking again would only say `WouldBlock` (epoll(7),
//! "the condition that the read/write I/O space is exhausted can also be detected by
//! checking the amount of data read"). Data that arrives *after* that read is not lost:
//! a level-triggered or re-armed one-shot registration reports it at the next wait.
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(target_os = "linux")]
mod util;

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("pingpong: the raw-epoll baseline needs Linux; nothing to measure here");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::Instant;

    use node_experiment::minimio::{self, Events, Interests, Poll};

    use crate::util;

    /// Bytes per message.
    const MSG: usize = 64;
    /// Untimed round trips before each timed run: fills caches, settles the TCP window.
    const WARMUP: usize = 2_000;

    /// Hand-written epoll bindings for the baseline, as minimio's own `epoll.rs` has them
    /// (epoll_create(2), epoll_ctl(2), epoll_wait(2); values for x86_64 and aarch64).
    #[allow(non_camel_case_types)]
    mod ffi {
        pub const EPOLL_CLOEXEC: i32 = 0o2000000;
        pub const EPOLL_CTL_ADD: i32 = 1;
        pub const EPOLL_CTL_MOD: i32 = 3;
        pub const EPOLLIN: u32 = 0x001;
        pub const EPOLLONESHOT: u32 = 1 << 30;

        /// Packed on x86_64 only, as the kernel declares it.
        #[repr(C)]
        #[cfg_attr(target_arch = "x86_64", repr(packed))]
        #[derive(Clone, Copy)]
        pub struct epoll_event {
            pub events: u32,
            pub u64: u64,
        }
        #[cfg(target_arch = "x86_64")]
        const _: () = assert!(std::mem::size_of::<epoll_event>() == 12);
        #[cfg(not(target_arch = "x86_64"))]
        const _: () = assert!(std::mem::size_of::<epoll_event>() == 16);

        #[link(name = "c")]
        unsafe extern "C" {
            pub fn epoll_create1(flags: i32) -> i32;
            pub fn epoll_ctl(epfd: i32, op: i32, fd: i32, event: *mut epoll_event) -> i32;
            pub fn epoll_wait(
                epfd: i32,
                events: *mut epoll_event,
                maxevents: i32,
                timeout: i32,
            ) -> i32;
        }
    }

    fn cvt(ret: i32) -> io::Result<i32> {
        if ret == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    /// A raw epoll instance: the few calls the baseline needs, nothing more.
    struct Epoll {
        fd: OwnedFd,
        events: Vec<ffi::epoll_event>,
    }

    impl Epoll {
        fn new() -> io::Result<Epoll> {
            // SAFETY: epoll_create1 takes an integer and touches no memory of ours.
            let fd = cvt(unsafe { ffi::epoll_create1(ffi::EPOLL_CLOEXEC) })?;
            Ok(Epoll {
                // SAFETY: `fd` was just returned by epoll_create1, so it is open and ours.
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                events: Vec::with_capacity(16),
            })
        }

        fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
            let mut ev = ffi::epoll_event { events, u64: token };
            // SAFETY: `ev` is a valid epoll_event for the call (the kernel copies it) and
            // `self.fd` is an open epoll descriptor.
            cvt(unsafe { ffi::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
            Ok(())
        }

        /// Waits without a timeout; returns the tokens of the ready registrations.
        fn wait(&mut self) -> io::Result<impl Iterator<Item = usize> + '_> {
            self.events.clear();
            let max = self.events.capacity() as i32;
            let n = loop {
                // SAFETY: the buffer has room for `max` entries; the kernel writes at most
                // that many and returns how many.
                match cvt(unsafe {
                    ffi::epoll_wait(self.fd.as_raw_fd(), self.events.as_mut_ptr(), max, -1)
                }) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            // SAFETY: the kernel initialised the first `n <= max <= capacity` entries.
            unsafe { self.events.set_len(n as usize) };
            Ok(self.events.iter().map(|e| {
                let token = e.u64; // copied out of the (possibly packed) struct
                token as usize
            }))
        }
    }

    /// The two ends of one loopback connection and the state of the exchange.
    struct PingPong<S> {
        ends: [S; 2],
        /// Bytes of the current message each side has read so far.
        got: [usize; 2],
        trips_left: usize,
        buf: [u8; 4096],
    }

    /// A connected, non-blocking loopback pair with Nagle's algorithm off.
    fn tcp_pair() -> io::Result<[TcpStream; 2]> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let a = TcpStream::connect(listener.local_addr()?)?;
        let (b, _) = listener.accept()?;
        for s in [&a, &b] {
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
        }
        Ok([a, b])
    }

    impl<S: Read + Write> PingPong<S> {
        fn new(ends: [S; 2]) -> PingPong<S> {
            PingPong {
                ends,
                got: [0; 2],
                trips_left: 0,
                buf: [0; 4096],
            }
        }

        /// Side 0 sends the first ping of a run of `trips` round trips.
        fn start(&mut self, trips: usize) -> io::Result<()> {
            self.trips_left = trips;
            self.send(0)
        }

        fn send(&mut self, side: usize) -> io::Result<()> {
            // The peer has read everything before it answers, so the socket's send buffer
            // is empty and a 64-byte write always goes through whole.
            let n = self.ends[side].write(&[0x5a; MSG])?;
            assert_eq!(
                n, MSG,
                "a {MSG}-byte write to an idle loopback socket was cut short"
            );
            Ok(())
        }

        /// Handles a readable event on `side`: reads (once if the read is short, unless
        /// `drain`, then until `WouldBlock`) and answers a complete message. Returns
        /// `false` when side 0 has received the last answer of the run.
        fn serve(&mut self, side: usize, drain: bool) -> io::Result<bool> {
            loop {
                match self.ends[side].read(&mut self.buf) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => {
                        self.got[side] += n;
                        if !drain && n < self.buf.len() {
                            break; // a short read: the receive queue is empty
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.got[side] < MSG {
                return Ok(true); // part of a message: wait for the rest
            }
            // Messages strictly alternate, so a side never holds more than one.
            assert_eq!(self.got[side], MSG);
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

    /// One way of driving the exchange, set up once and then run any number of times.
    trait Variant {
        fn run(&mut self, trips: usize) -> io::Result<()>;
    }

    /// Raw epoll: level-triggered (registered once) or one-shot (re-armed after each event).
    struct RawEpoll {
        epoll: Epoll,
        pp: PingPong<TcpStream>,
        oneshot: bool,
    }

    impl RawEpoll {
        fn new(oneshot: bool) -> io::Result<RawEpoll> {
            let pp = PingPong::new(tcp_pair()?);
            let epoll = Epoll::new()?;
            for (side, s) in pp.ends.iter().enumerate() {
                epoll.ctl(
                    ffi::EPOLL_CTL_ADD,
                    s.as_raw_fd(),
                    RawEpoll::flags(oneshot),
                    side as u64,
                )?;
            }
            Ok(RawEpoll { epoll, pp, oneshot })
        }

        fn flags(oneshot: bool) -> u32 {
            if oneshot {
                ffi::EPOLLIN | ffi::EPOLLONESHOT
            } else {
                ffi::EPOLLIN
            }
        }
    }

    impl Variant for RawEpoll {
        fn run(&mut self, trips: usize) -> io::Result<()> {
            self.pp.start(trips)?;
            let mut ready = [0usize; 16];
            loop {
                let mut n = 0;
                for token in self.epoll.wait()? {
                    ready[n] = token;
                    n += 1;
                }
                for &side in &ready[..n] {
                    let more = self.pp.serve(side, false)?;
                    if self.oneshot {
                        let fd = self.pp.ends[side].as_raw_fd();
                        let flags = RawEpoll::flags(true);
                        self.epoll.ctl(ffi::EPOLL_CTL_MOD, fd, flags, side as u64)?;
                    }
                    if !more {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// minimio: every registration is one-shot, so every event is followed by a re-arm.
    struct Minimio {
        poll: Poll,
        events: Events,
        pp: PingPong<minimio::TcpStream>,
        drain: bool,
    }

    impl Minimio {
        fn new(drain: bool) -> io::Result<Minimio> {
            let [a, b] = tcp_pair()?;
            let pp = PingPong::new([
                minimio::TcpStream::from_std(a)?,
                minimio::TcpStream::from_std(b)?,
            ]);
            let poll = Poll::new()?;
            let registrator = poll.registrator();
            for (side, s) in pp.ends.iter().enumerate() {
                registrator.register(s, side, Interests::READABLE)?;
            }
            Ok(Minimio {
                poll,
                events: Events::with_capacity(16),
                pp,
                drain,
            })
        }
    }

    impl Variant for Minimio {
        fn run(&mut self, trips: usize) -> io::Result<()> {
            let registrator = self.poll.registrator();
            self.pp.start(trips)?;
            loop {
                self.poll.poll(&mut self.events, None)?;
                for event in &self.events {
                    let side = event.id().value();
                    let more = self.pp.serve(side, self.drain)?;
                    registrator.reregister(&self.pp.ends[side], side, Interests::READABLE)?;
                    if !more {
                        return Ok(());
                    }
                }
            }
        }
    }

    const VARIANTS: [(&str, &str); 4] = [
        ("epoll-lt", "raw epoll, level-triggered (baseline)"),
        ("epoll-oneshot", "raw epoll, one-shot + EPOLL_CTL_MOD"),
        ("minimio", "minimio, short read = drained"),
        ("minimio-drain", "minimio, read until WouldBlock"),
    ];
    /// Syscalls per round trip each variant makes by construction (`strace -c` agrees:
    /// `scripts/bench-syscalls.sh`).
    const SYSCALLS: [u32; 4] = [6, 8, 8, 10];

    fn make(index: usize) -> io::Result<Box<dyn Variant>> {
        Ok(match index {
            0 => Box::new(RawEpoll::new(false)?),
            1 => Box::new(RawEpoll::new(true)?),
            2 => Box::new(Minimio::new(false)?),
            _ => Box::new(Minimio::new(true)?),
        })
    }

    /// Sets up a fresh pair, warms it up, and returns round trips per second.
    fn measure(index: usize, trips: usize) -> f64 {
        let name = VARIANTS[index].0;
        let mut v = make(index).unwrap_or_else(|e| panic!("{name}: setup failed: {e}"));
        v.run(WARMUP)
            .unwrap_or_else(|e| panic!("{name}: warm-up failed: {e}"));
        let start = Instant::now();
        v.run(trips)
            .unwrap_or_else(|e| panic!("{name}: run failed: {e}"));
        trips as f64 / start.elapsed().as_secs_f64()
    }

    pub fn main() {
        let args = util::args();
        let trips: usize = util::flag(&args, "--trips", 200_000);
        let rounds: usize = util::flag(&args, "--rounds", 7);
        let only: String = util::flag(&args, "--only", String::new());

        if !only.is_empty() {
            let index = VARIANTS
                .iter()
                .position(|(n, _)| *n == only)
                .unwrap_or_else(|| panic!("--only: one of {:?}", VARIANTS.map(|v| v.0)));
            for _ in 0..rounds {
                let rate = measure(index, trips);
                println!(
                    "{only}: {trips} round trips (+{WARMUP} warm-up), {rate:.0} round trips/s"
                );
            }
            return;
        }

        println!(
            "pingpong: {trips} round trips of {MSG} bytes over loopback TCP, one thread; \
             {rounds} paired rounds; load average before: {}",
            util::load_average()
        );
        let n = VARIANTS.len();
        let mut rates = vec![Vec::new(); n];
        let mut ratios = vec![Vec::new(); n];
        for round in 0..rounds {
            let mut this = vec![0.0; n];
            for i in util::rotation(n, round) {
                this[i] = measure(i, trips);
            }
            for i in 0..n {
                rates[i].push(this[i]);
                ratios[i].push(this[i] / this[0]);
            }
        }
        println!(
            "{:<15} {:<40} {:>14} {:>24} {:>9}",
            "variant", "", "round trips/s", "ratio to epoll-lt", "syscalls"
        );
        println!(
            "{:<15} {:<40} {:>14} {:>24} {:>9}",
            "", "", "(median)", "median [min..max]", "per trip"
        );
        for i in 0..n {
            let r = &ratios[i];
            let min = r.iter().copied().fold(f64::INFINITY, f64::min);
            let max = r.iter().copied().fold(0.0, f64::max);
            println!(
                "{:<15} {:<40} {:>14.0} {:>24} {:>9}",
                VARIANTS[i].0,
                VARIANTS[i].1,
                util::median(&rates[i]),
                format!("{:.3} [{:.3}..{:.3}]", util::median(r), min, max),
                SYSCALLS[i]
            );
        }
        println!("load average after: {}", util::load_average());
    }
}
