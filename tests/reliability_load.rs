//! Load on the runtime, with nothing lost: 100,000 timers with colliding deadlines,
//! 10,000 pool jobs and 1,000 concurrent `Io::http_get_slow` requests. Each test is
//! seeded, bounded in time, and counts every callback: each must run exactly once, with
//! the right value.
//!
//! (10,000 sockets on one `Poll` are in `reliability_load_sockets.rs`; the soak that mixes
//! everything is `reliability_soak.rs`.)

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use node_experiment::runtime::{Crypto, Fs, Io, Js, set_timeout};
use util::reliability::{LIMIT, Ledger, builder, delay_server_body, seed};
use util::{Rng, fib, within};

/// The delays the timers choose from: 100,000 timers on six values collide constantly,
/// and timers set in the same millisecond with the same delay share a deadline to the
/// nanosecond often enough (the clock is read once per `set_timeout`).
const DELAYS: [u64; 6] = [0, 1, 2, 3, 5, 8];

#[test]
fn a_hundred_thousand_timers_with_colliding_deadlines_each_fire_once_in_order() {
    const N: usize = 100_000;
    let seed = seed("100k timers", 0x7133_0001);
    let report = within(LIMIT, "100,000 timers", move || {
        let mut rng = Rng::new(seed);
        let delays: Vec<u64> = (0..N).map(|_| rng.pick(&DELAYS)).collect();
        // (timer id, when it fired), in firing order; and when each was set.
        let fired: Rc<RefCell<Vec<(usize, Instant)>>> =
            Rc::new(RefCell::new(Vec::with_capacity(N)));
        let mut set_at = Vec::with_capacity(N);
        let start = Instant::now();
        builder().build().expect("build").run(|| {
            for (i, &ms) in delays.iter().enumerate() {
                let f = Rc::clone(&fired);
                set_at.push(Instant::now());
                set_timeout(ms, move |js| {
                    assert!(matches!(js, Js::Undefined), "a timer got {js:?}");
                    f.borrow_mut().push((i, Instant::now()));
                });
            }
        });
        let took = start.elapsed();
        let fired = fired.take();

        // Exactly once each.
        assert_eq!(fired.len(), N, "{} of {N} timers fired", fired.len());
        let mut pos = vec![usize::MAX; N];
        for (p, &(i, _)) in fired.iter().enumerate() {
            assert_eq!(pos[i], usize::MAX, "timer {i} fired twice");
            pos[i] = p;
        }
        // Never early.
        for &(i, at) in &fired {
            let waited = at - set_at[i];
            assert!(
                waited >= Duration::from_millis(delays[i]),
                "timer {i} ({} ms) fired after {waited:?}",
                delays[i]
            );
        }
        // Order: a timer set earlier with a delay no longer than a later one's has a
        // deadline no later (the clock only moves forward), so it fires first; with equal
        // deadlines, registration order decides (FIX(book) R1's `(deadline, sequence)`).
        // Sweep in registration order, keeping, per delay, the latest position seen.
        let mut latest = [None::<usize>; DELAYS.len()];
        for j in 0..N {
            let dj = DELAYS
                .iter()
                .position(|&d| d == delays[j])
                .expect("a known delay");
            for (d, l) in latest.iter().enumerate().take(dj + 1) {
                if let Some(p) = *l {
                    assert!(
                        p < pos[j],
                        "timer {j} ({} ms) fired before an earlier timer of {} ms",
                        delays[j],
                        DELAYS[d]
                    );
                }
            }
            latest[dj] = Some(latest[dj].map_or(pos[j], |p| p.max(pos[j])));
        }
        format!("{N} timers on {} delays: run took {took:?}", DELAYS.len())
    });
    println!("{report}");
}

#[test]
fn ten_thousand_pool_jobs_each_call_back_once_with_their_value() {
    const N: usize = 10_000;
    let seed = seed("10k pool jobs", 0x9001_0002);
    let files = Files::new();
    let paths = files.paths.clone();
    let report = within(LIMIT, "10,000 pool jobs", move || {
        let mut rng = Rng::new(seed);
        let ledger = Ledger::new();
        let wrong: Rc<RefCell<Vec<String>>> = Rc::default();
        let start = Instant::now();
        builder().threads(4).build().expect("build").run(|| {
            for _ in 0..N {
                let id = ledger.open();
                let (l, w) = (ledger.clone(), Rc::clone(&wrong));
                if rng.chance(50) {
                    let n = rng.below(21) as usize;
                    Crypto::encrypt(n, move |js| {
                        l.ran(id);
                        match js {
                            Js::Int(v) if v == fib(n) => {}
                            other => w.borrow_mut().push(format!("encrypt({n}): {other:?}")),
                        }
                    });
                } else {
                    let f = rng.below(paths.len() as u64) as usize;
                    let (path, want) = paths[f].clone();
                    Fs::read(path, move |js| {
                        l.ran(id);
                        match js {
                            Js::String(s) if s == want => {}
                            other => w.borrow_mut().push(format!("read file {f}: {other:.60?}")),
                        }
                    });
                }
            }
        });
        let took = start.elapsed();
        assert_eq!(ledger.len(), N);
        let missing = ledger.missing();
        assert!(
            missing.is_empty(),
            "{} jobs never called back: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        let wrong = wrong.take();
        assert!(
            wrong.is_empty(),
            "{} wrong values: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
        format!("{N} pool jobs on 4 threads: {took:?}")
    });
    drop(files);
    println!("{report}");
}

#[test]
fn a_thousand_concurrent_requests_each_call_back_once_with_their_body() {
    const N: usize = 1_000;
    // Each request holds a socket at both ends (the built-in server is in this process).
    #[cfg(target_os = "linux")]
    {
        let need = 2 * N as u64 + 512;
        let limit = util::linux::raise_nofile(need);
        assert!(
            limit >= need,
            "needs {need} descriptors; the hard limit allows {limit}"
        );
    }
    let seed = seed("1k requests", 0x4177_0003);
    let report = within(LIMIT, "1,000 concurrent requests", move || {
        let mut rng = Rng::new(seed);
        let ledger = Ledger::new();
        let wrong: Rc<RefCell<Vec<String>>> = Rc::default();
        let start = Instant::now();
        let mut main_took = Duration::ZERO;
        builder().build().expect("build").run(|| {
            for i in 0..N {
                let id = ledger.open();
                let (l, w) = (ledger.clone(), Rc::clone(&wrong));
                let url = format!("load.example/{i}");
                let want = delay_server_body(&url);
                let delay = rng.below(100) as u32;
                Io::http_get_slow(&url.clone(), delay, move |js| {
                    l.ran(id);
                    match js {
                        Js::String(s) if s == want => {}
                        other => w.borrow_mut().push(format!("{url}: {other:?}")),
                    }
                });
            }
            main_took = start.elapsed();
        });
        let took = start.elapsed();
        let missing = ledger.missing();
        assert!(
            missing.is_empty(),
            "{} requests never called back",
            missing.len()
        );
        let wrong = wrong.take();
        assert!(
            wrong.is_empty(),
            "{} wrong answers: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
        format!("{N} concurrent requests: main took {main_took:?}, run took {took:?}")
    });
    println!("{report}");
}

/// A few files of different kinds for the read jobs; removed when dropped.
struct Files {
    paths: Vec<(std::path::PathBuf, String)>,
}

impl Files {
    fn new() -> Files {
        let contents = [
            String::new(),
            "one line\n".to_string(),
            "héllo wörld — ünïcode ✓\n".repeat(100),
            (0..16 * 1024)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect(),
        ];
        let dir = std::env::temp_dir();
        let paths = contents
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let path = dir.join(format!(
                    "node-experiment-reliability-{}-{i}.txt",
                    std::process::id()
                ));
                std::fs::write(&path, &text).expect("write a test file");
                (path, text)
            })
            .collect();
        Files { paths }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        for (p, _) in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}
