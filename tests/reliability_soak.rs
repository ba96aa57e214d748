//! Soak: everything at once, for a while, with nothing lost.
//!
//! Runtimes run one after another (a round each, about a second), each mixing timers with
//! colliding deadlines, cleared timers, intervals, immediates, next ticks, pool jobs (reads,
//! failing reads, Fibonacci) and HTTP requests to the built-in delay server. Every callback
//! checks its value and schedules more work, seeded, until the round's time is up. Beside
//! them, a thread plays ping-pong over 32 loopback pairs on one minimio `Poll`. At the end
//! of each round every callback has run exactly once (a cleared timer never), every
//! interval fired exactly as often as it should; the ping-pong never stalls.
//!
//! `NODE_EXPERIMENT_SOAK_SECS` sets the duration (default 5, so `cargo test` stays quick;
//! `scripts/soak.sh` runs 60), `NODE_EXPERIMENT_SEED` the seed. The figures (operations of
//! each kind, memory) are printed; run with `--nocapture` to see them.

mod util;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use node_experiment::minimio::{Events, Interests, Poll, TcpStream};
use node_experiment::runtime::{
    Crypto, Fs, Io, Js, Timeout, clear_interval, clear_timeout, next_tick, set_immediate,
    set_interval, set_timeout,
};
use util::reliability::{LIMIT, builder, delay_server_body, seed};
use util::{Rng, fib, within};

const DEFAULT_SECS: u64 = 5;
/// How long one runtime's round schedules new work.
const ROUND: Duration = Duration::from_millis(1_000);
/// Above this many operations in flight, a callback schedules at most one more.
const CROWD: usize = 300;

fn soak_duration() -> Duration {
    let secs = std::env::var("NODE_EXPERIMENT_SOAK_SECS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_SECS);
    Duration::from_secs(secs)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Timer,
    ClearedTimer,
    Interval,
    Immediate,
    NextTick,
    Encrypt,
    Read,
    ReadMissing,
    Http,
}

/// Kinds with their weights.
const MIX: [(Kind, u64); 9] = [
    (Kind::Timer, 25),
    (Kind::ClearedTimer, 5),
    (Kind::Interval, 5),
    (Kind::Immediate, 10),
    (Kind::NextTick, 10),
    (Kind::Encrypt, 15),
    (Kind::Read, 12),
    (Kind::ReadMissing, 3),
    (Kind::Http, 15),
];

/// Colliding deadlines: few distinct delays.
const DELAYS: [u64; 6] = [0, 0, 1, 2, 5, 10];

struct State {
    rng: Rng,
    until: Instant,
    /// Per operation: how often its callback ran, and how often it must.
    runs: Vec<(u32, u32)>,
    kinds: Vec<Kind>,
    in_flight: usize,
    wrong: Vec<String>,
    files: Rc<Vec<(std::path::PathBuf, String)>>,
}

type Shared = Rc<RefCell<State>>;

impl State {
    fn pick_kind(&mut self) -> Kind {
        let total: u64 = MIX.iter().map(|(_, w)| w).sum();
        let mut x = self.rng.below(total);
        for (k, w) in MIX {
            if x < w {
                return k;
            }
            x -= w;
        }
        unreachable!()
    }

    fn open(&mut self, kind: Kind, expected_runs: u32) -> usize {
        self.runs.push((0, expected_runs));
        self.kinds.push(kind);
        self.in_flight += 1;
        self.runs.len() - 1
    }
}

/// Records one run of operation `id`; `done` when it will not run again.
fn ran(s: &Shared, id: usize, done: bool, problem: Option<String>) {
    let mut st = s.borrow_mut();
    st.runs[id].0 += 1;
    let (got, want) = st.runs[id];
    if got > want {
        let kind = st.kinds[id];
        st.wrong.push(format!(
            "operation {id} ({kind:?}) ran {got} times, expected {want}"
        ));
    }
    if let Some(p) = problem {
        st.wrong.push(format!("operation {id}: {p}"));
    }
    // A cleared timer is not in flight (see `schedule`): nothing to count down.
    if done && st.kinds[id] != Kind::ClearedTimer {
        st.in_flight -= 1;
    }
}

/// After a callback: more work, while the round lasts.
fn follow_up(s: &Shared) {
    let n = {
        let mut st = s.borrow_mut();
        if Instant::now() >= st.until {
            return;
        }
        if st.in_flight < CROWD {
            1 + st.rng.below(3)
        } else {
            st.rng.below(2)
        }
    };
    for _ in 0..n {
        schedule(s);
    }
}

/// Schedules one operation of a seeded kind; its callback checks its value, records the
/// run and schedules more.
fn schedule(s: &Shared) {
    let kind = s.borrow_mut().pick_kind();
    let s2 = Rc::clone(s);
    match kind {
        Kind::Timer => {
            let (id, ms) = {
                let mut st = s.borrow_mut();
                let ms = st.rng.pick(&DELAYS);
                (st.open(kind, 1), ms)
            };
            let set = Instant::now();
            set_timeout(ms, move |js| {
                let early = set.elapsed() < Duration::from_millis(ms);
                let problem = match js {
                    Js::Undefined if !early => None,
                    Js::Undefined => {
                        Some(format!("a {ms} ms timer fired after {:?}", set.elapsed()))
                    }
                    other => Some(format!("a timer got {other:?}")),
                };
                ran(&s2, id, true, problem);
                follow_up(&s2);
            });
        }
        Kind::ClearedTimer => {
            let (id, ms, later) = {
                let mut st = s.borrow_mut();
                let ms = st.rng.pick(&DELAYS);
                let later = st.rng.chance(50);
                (st.open(kind, 0), ms, later)
            };
            let cleared = move |_| ran(&s2, id, true, Some("a cleared timer fired".into()));
            if later {
                // Cleared by a 0 ms timer set just before it: that one's deadline is no
                // later and its sequence number smaller, so it runs first, possibly in the
                // same timers phase that already took the cleared timer off the heap.
                let slot: Rc<RefCell<Option<Timeout>>> = Rc::default();
                let (s3, sl) = (Rc::clone(s), Rc::clone(&slot));
                let cid = s3.borrow_mut().open(Kind::Timer, 1);
                set_timeout(0, move |_| {
                    clear_timeout(sl.borrow_mut().take().expect("the cleared timer's handle"));
                    ran(&s3, cid, true, None);
                    follow_up(&s3);
                });
                *slot.borrow_mut() = Some(set_timeout(ms, cleared));
            } else {
                clear_timeout(set_timeout(ms, cleared));
            }
            s.borrow_mut().in_flight -= 1; // it will never run
        }
        Kind::Interval => {
            let (id, period, times) = {
                let mut st = s.borrow_mut();
                let period = 1 + st.rng.below(3);
                let times = 1 + st.rng.below(5) as u32;
                (st.open(kind, times), period, times)
            };
            let me: Rc<RefCell<Option<Timeout>>> = Rc::default();
            let m = Rc::clone(&me);
            let mut fired = 0;
            let t = set_interval(period, move |js| {
                fired += 1;
                let done = fired == times;
                if done {
                    clear_interval(m.borrow_mut().take().expect("the interval's handle"));
                }
                let problem =
                    (!matches!(js, Js::Undefined)).then(|| format!("an interval got {js:?}"));
                ran(&s2, id, done, problem);
                if done {
                    follow_up(&s2);
                }
            });
            *me.borrow_mut() = Some(t);
        }
        Kind::Immediate | Kind::NextTick => {
            let id = s.borrow_mut().open(kind, 1);
            let cb = move |js: Js| {
                let problem = (!matches!(js, Js::Undefined)).then(|| format!("got {js:?}"));
                ran(&s2, id, true, problem);
                follow_up(&s2);
            };
            if kind == Kind::Immediate {
                set_immediate(cb);
            } else {
                next_tick(cb);
            }
        }
        Kind::Encrypt => {
            let (id, n) = {
                let mut st = s.borrow_mut();
                let n = st.rng.below(19) as usize;
                (st.open(kind, 1), n)
            };
            Crypto::encrypt(n, move |js| {
                let problem = match js {
                    Js::Int(v) if v == fib(n) => None,
                    other => Some(format!("encrypt({n}) gave {other:?}")),
                };
                ran(&s2, id, true, problem);
                follow_up(&s2);
            });
        }
        Kind::Read => {
            let (id, path, want) = {
                let mut st = s.borrow_mut();
                let count = st.files.len() as u64;
                let f = st.rng.below(count) as usize;
                let (path, want) = st.files[f].clone();
                (st.open(kind, 1), path, want)
            };
            Fs::read(path, move |js| {
                let problem = match js {
                    Js::String(got) if got == want => None,
                    other => Some(format!("a read gave {other:.60?}")),
                };
                ran(&s2, id, true, problem);
                follow_up(&s2);
            });
        }
        Kind::ReadMissing => {
            let id = s.borrow_mut().open(kind, 1);
            Fs::read("/no/such/dir/no-such-file", move |js| {
                let problem = match js {
                    Js::Error(e) if e.kind() == io::ErrorKind::NotFound => None,
                    other => Some(format!("a missing file gave {other:?}")),
                };
                ran(&s2, id, true, problem);
                follow_up(&s2);
            });
        }
        Kind::Http => {
            let (id, delay) = {
                let mut st = s.borrow_mut();
                let delay = st.rng.below(20) as u32;
                (st.open(kind, 1), delay)
            };
            let url = format!("soak.example/{id}");
            let want = delay_server_body(&url);
            Io::http_get_slow(&url.clone(), delay, move |js| {
                let problem = match js {
                    Js::String(got) if got == want => None,
                    other => Some(format!("{url} gave {other:?}")),
                };
                ran(&s2, id, true, problem);
                follow_up(&s2);
            });
        }
    }
}

/// One runtime, one round. Returns the operations of each kind it ran.
fn one_round(seed: u64, files: Rc<Vec<(std::path::PathBuf, String)>>) -> BTreeMap<Kind, usize> {
    let state: Shared = Rc::new(RefCell::new(State {
        rng: Rng::new(seed),
        until: Instant::now() + ROUND,
        runs: Vec::new(),
        kinds: Vec::new(),
        in_flight: 0,
        wrong: Vec::new(),
        files,
    }));
    let threads = 1 + (seed % 4) as usize;
    let s = Rc::clone(&state);
    builder()
        .threads(threads)
        .build()
        .expect("build")
        .run(move || {
            for _ in 0..50 {
                schedule(&s);
            }
        });
    let st = state.borrow();
    assert!(
        st.wrong.is_empty(),
        "round {seed:#x}: {:?}",
        &st.wrong[..st.wrong.len().min(10)]
    );
    let mut per_kind = BTreeMap::new();
    for (id, &(got, want)) in st.runs.iter().enumerate() {
        assert_eq!(
            got, want,
            "round {seed:#x}: operation {id} ({:?}) ran {got} times, expected {want}",
            st.kinds[id]
        );
        *per_kind.entry(st.kinds[id]).or_default() += 1;
    }
    assert_eq!(
        st.in_flight, 0,
        "round {seed:#x}: operations still in flight"
    );
    per_kind
}

/// Ping-pong over `PAIRS` loopback pairs on one `Poll` until `until`: each side answers
/// the number it reads with the next one. Returns the messages exchanged; fails if any
/// pair stalls (a lost event stops its pair for good).
fn pingpong(until: Instant) -> io::Result<u64> {
    const PAIRS: usize = 32;
    const STALL: Duration = Duration::from_secs(2);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    // Socket `k` and `k ^ 1` are the two ends of one pair.
    let mut socks = Vec::new();
    for _ in 0..PAIRS {
        socks.push(TcpStream::connect(listener.local_addr()?)?);
        socks.push(TcpStream::from_std(listener.accept()?.0)?);
    }
    for (k, s) in socks.iter().enumerate() {
        registrator.register(s, k, Interests::READABLE)?;
    }
    let mut expect = vec![0u64; socks.len()];
    let mut last = vec![Instant::now(); PAIRS];
    for k in (0..socks.len()).step_by(2) {
        (&socks[k]).write_all(&0u64.to_le_bytes())?;
        expect[k + 1] = 0;
    }
    let mut messages = 0u64;
    let mut events = Events::with_capacity(16);
    let mut pending: Vec<Vec<u8>> = vec![Vec::new(); socks.len()];
    while Instant::now() < until {
        poll.poll(&mut events, Some(100))?;
        for e in events.iter() {
            let k = e.id().value();
            let mut buf = [0u8; 64];
            loop {
                match (&socks[k]).read(&mut buf) {
                    Ok(0) => panic!("pingpong: socket {k} closed"),
                    Ok(n) => pending[k].extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            while pending[k].len() >= 8 {
                let msg: Vec<u8> = pending[k].drain(..8).collect();
                let n = u64::from_le_bytes(msg.try_into().expect("8 bytes"));
                assert_eq!(
                    n, expect[k],
                    "pingpong: socket {k} got {n}, expected {}",
                    expect[k]
                );
                expect[k ^ 1] = n + 1;
                expect[k] = n + 2;
                messages += 1;
                last[k / 2] = Instant::now();
                (&socks[k]).write_all(&(n + 1).to_le_bytes())?;
            }
            registrator.reregister(&socks[k], k, Interests::READABLE)?;
        }
        for (p, at) in last.iter().enumerate() {
            assert!(
                at.elapsed() < STALL,
                "pingpong: pair {p} stalled for {:?}",
                at.elapsed()
            );
        }
    }
    Ok(messages)
}

#[test]
fn a_seeded_soak_of_everything_at_once_loses_nothing() {
    let duration = soak_duration();
    let seed = seed("soak", 0x50A4_0005);
    let until = Instant::now() + duration;
    #[cfg(target_os = "linux")]
    util::linux::raise_nofile(4096);

    let pp = thread::Builder::new()
        .name("pingpong".into())
        .spawn(move || pingpong(until))
        .expect("spawn the ping-pong thread");

    let files = std::env::temp_dir();
    let contents = ["", "short\n", "ünïcödé ✓\n"];
    let paths: Vec<(std::path::PathBuf, String)> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = files.join(format!(
                "node-experiment-soak-{}-{i}.txt",
                std::process::id()
            ));
            std::fs::write(&p, c).expect("write a soak file");
            (p, c.to_string())
        })
        .collect();

    let mut totals: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut rounds = 0u64;
    #[cfg(target_os = "linux")]
    let mut rss_after_first = 0;
    let start = Instant::now();
    while Instant::now() < until || rounds == 0 {
        let round_seed = seed ^ rounds.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let p = paths.clone();
        let per_kind = within(LIMIT, &format!("soak round {rounds}"), move || {
            one_round(round_seed, Rc::new(p))
        });
        for (k, n) in per_kind {
            *totals.entry(k).or_default() += n;
        }
        rounds += 1;
        #[cfg(target_os = "linux")]
        if rounds == 1 {
            rss_after_first = util::linux::rss_kib();
        }
    }
    let took = start.elapsed();
    let messages = pp
        .join()
        .expect("the ping-pong thread panicked")
        .expect("ping-pong");
    for (p, _) in &paths {
        let _ = std::fs::remove_file(p);
    }
    let ops: usize = totals.values().sum();
    println!(
        "soak {duration:?} (seed {seed:#x}): {rounds} runtimes, {ops} operations in {took:?} \
         {totals:?}; ping-pong: {messages} messages over 32 pairs"
    );
    #[cfg(target_os = "linux")]
    println!(
        "soak: RSS {rss_after_first} KiB after the first round, {} KiB at the end",
        util::linux::rss_kib()
    );
    assert!(messages > 0, "the ping-pong never got going");
}
