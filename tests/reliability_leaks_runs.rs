//! A thousand runs in one process leave nothing behind: no thread, no descriptor, and no
//! memory growth past a small bound.
//!
//! `runtime_leaks.rs` proves it for one run of each kind; this repeats varied runs a
//! thousand times, so that a leak of one thread or one descriptor per run in some rarely
//! taken path (a panic with a request in flight, the built-in server started and stopped)
//! adds up to something that cannot be missed.
//!
//! Linux only: it counts `/proc/self/task` and `/proc/self/fd` and reads the resident set
//! from `/proc/self/status` (proc(5)). It is the only test in this file because those
//! describe the whole process: a test running beside it would be counted too.
#![cfg(target_os = "linux")]

mod util;

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use node_experiment::runtime::{
    Crypto, Fs, Io, Js, clear_interval, next_tick, set_immediate, set_interval, set_timeout,
};
use util::linux::{assert_back_to, rss_kib, snapshot};
use util::reliability::{LIMIT, builder};
use util::{dead_addr, within};

const RUNS: usize = 1_000;
/// Runs before the memory baseline is taken: the allocator's arenas for the threads, std's
/// lazily built statics and the like are set up once and then reused.
const WARM_UP: usize = 100;
/// How much the resident set may grow over the remaining runs. A leak of one small
/// allocation per run would not show; a leaked thread stack, pool, buffer or runtime
/// (each at least several KiB, a thread's stack touched at least 8 KiB) would.
const MAX_GROWTH_KIB: u64 = 4 * 1024;
/// How long threads and descriptors may take to disappear after `run` returns: a joined
/// thread can stay listed for a moment; a leak never goes away.
const SETTLE: Duration = Duration::from_secs(5);

const CARGO_TOML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");

/// One run; which parts it uses depends on `r`. Returns how many callbacks ran.
fn one_run(r: usize) -> usize {
    let count = Rc::new(Cell::new(0));
    let cb = |c: &Rc<Cell<usize>>| {
        let c = Rc::clone(c);
        move |_: Js| c.set(c.get() + 1)
    };
    let panics = r % 50 == 49;
    let threads = 1 + r % 4;
    let rt = builder().threads(threads).build().expect("build");
    let c = Rc::clone(&count);
    let result = panic::catch_unwind(AssertUnwindSafe(move || {
        rt.run(|| {
            set_timeout(r as u64 % 3, cb(&c));
            set_immediate(cb(&c));
            next_tick(cb(&c));
            Fs::read(CARGO_TOML, cb(&c));
            Crypto::encrypt(r % 12, cb(&c));
            let me = Rc::new(Cell::new(None));
            let (m, c2) = (Rc::clone(&me), Rc::clone(&c));
            me.set(Some(set_interval(1, move |_| {
                c2.set(c2.get() + 1);
                if let Some(t) = m.take() {
                    clear_interval(t);
                }
            })));
            if r % 10 == 0 {
                // Starts the built-in delay server (two threads and a listener).
                Io::http_get_slow("leaks.example", 0, cb(&c));
                Io::http_get_slow_from(dead_addr(), "x", 0, cb(&c));
            }
            if panics {
                // With a request in flight, a read sleeping, a timer waiting.
                Io::http_get_slow("slow.example", 10_000, cb(&c));
                set_timeout(10_000, cb(&c));
                set_timeout(1, |_| panic!("a planned panic"));
            }
        })
    }));
    assert_eq!(
        result.is_err(),
        panics,
        "run {r}: a panic was expected: {panics}"
    );
    if !panics {
        // Timer, immediate, tick, read, encrypt, interval; and the two requests.
        let expected = if r % 10 == 0 { 8 } else { 6 };
        assert_eq!(count.get(), expected, "run {r}: callbacks lost or repeated");
    }
    count.get()
}

#[test]
fn a_thousand_runs_leave_no_thread_descriptor_or_memory_behind() {
    let baseline = snapshot();
    let (callbacks, rss_after_warm_up, rss_after, took) = within(LIMIT, "1,000 runs", || {
        let start = Instant::now();
        let mut callbacks = 0;
        for r in 0..WARM_UP {
            callbacks += one_run(r);
        }
        let warm = rss_kib();
        for r in WARM_UP..RUNS {
            callbacks += one_run(r);
        }
        (callbacks, warm, rss_kib(), start.elapsed())
    });
    assert_back_to(&baseline, SETTLE, "1,000 runs");
    let growth = rss_after.saturating_sub(rss_after_warm_up);
    println!(
        "{RUNS} runs ({callbacks} callbacks) in {took:?}; RSS {rss_after_warm_up} KiB after \
         {WARM_UP} runs, {rss_after} KiB after {RUNS} (growth {growth} KiB)"
    );
    if util::reliability::under_sanitizer() {
        println!("under a sanitizer: memory growth not checked");
    } else {
        assert!(
            growth <= MAX_GROWTH_KIB,
            "the resident set grew by {growth} KiB over {} runs",
            RUNS - WARM_UP
        );
    }
}
