//! Timers: a million timers with seeded random timeouts (0..999 ms), run until all fired;
//! the runtime against two small reference loops written here.
//!
//! Run: `cargo bench --bench timers` (options after `--`: `--timers N`, `--rounds R`,
//! `--seed S`, `--skip-scaling`).
//!
//! Three implementations schedule the same timers (same seed) with the same callback, a
//! closure that captures its index (8 bytes, so each is one small allocation, as a real
//! callback's captured state is):
//!
//! | name | what |
//! |---|---|
//! | `runtime` | [`set_timeout`] in a [`Runtime`] |
//! | `heap` | the least a loop can do: a `BinaryHeap` of `(deadline, seq)`, callbacks in a `Vec` by `seq`, `thread::sleep` until the next deadline |
//! | `btree` | the same loop over a `BTreeMap<(deadline, seq), callback>` (the book keyed a `BTreeMap` by `Instant` alone, which also loses timers with equal deadlines) |
//!
//! Two measurements, each run in a fresh child process (peak RSS and the allocator's state
//! are per process):
//! 1. **workload**: N timers spread over a second, run until the last has fired. Wall time
//!    from the first `set_timeout` to the last callback; peak RSS (`VmHWM`); CPU time.
//! 2. **scaling** (10k, 100k, 1M timers): the cost per timer of setting it, and of firing
//!    it: the program sets every timer, then sleeps a second so that all are due, and the
//!    loop's time from then to the last callback, divided by N, is the firing cost. A flat
//!    cost per timer from 10k to 1M says nothing grows worse than the O(log n) of a heap.
//!
//! [`set_timeout`]: node_experiment::runtime::set_timeout
//! [`Runtime`]: node_experiment::runtime::Runtime

mod util;

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use node_experiment::runtime::{Runtime, set_timeout};

const IMPLS: [&str; 3] = ["runtime", "heap", "btree"];

thread_local! {
    /// How many callbacks ran, and the sum of their indexes (checks each ran once).
    static FIRED: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    /// When the last callback ran.
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The callback every implementation runs: it captures its index, so it is boxed.
fn callback(i: u64, n: u64) -> impl FnOnce() + 'static {
    move || {
        FIRED.with(|f| {
            let (count, sum) = f.get();
            f.set((count + 1, sum.wrapping_add(i)));
            if count + 1 == n {
                LAST.with(|l| l.set(Some(Instant::now())));
            }
        });
    }
}

/// What the child measured while setting timers.
struct SetPhase {
    /// When the first timer was set.
    start: Instant,
    /// How long setting all of them took.
    took: Duration,
    /// When the loop was free to fire them (after the optional sleep).
    loop_start: Instant,
}

/// Sets `n` timers through `set`, then, if `all_due`, sleeps until every one is due.
fn set_timers(n: u64, seed: u64, all_due: bool, mut set: impl FnMut(u64, u64)) -> SetPhase {
    let mut rng = util::SplitMix64::new(seed);
    let start = Instant::now();
    for i in 0..n {
        set(rng.below(1000), i);
    }
    let took = start.elapsed();
    if all_due {
        std::thread::sleep(Duration::from_millis(1_000));
    }
    SetPhase {
        start,
        took,
        loop_start: Instant::now(),
    }
}

/// The reference loop over a binary heap.
fn run_heap(n: u64, seed: u64, all_due: bool) -> SetPhase {
    let mut heap = BinaryHeap::new();
    let mut callbacks: Vec<Option<Box<dyn FnOnce()>>> = Vec::new();
    let phase = set_timers(n, seed, all_due, |ms, i| {
        let seq = callbacks.len();
        callbacks.push(Some(Box::new(callback(i, n))));
        heap.push(Reverse((Instant::now() + Duration::from_millis(ms), seq)));
    });
    while let Some(&Reverse((deadline, seq))) = heap.peek() {
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
            continue;
        }
        heap.pop();
        if let Some(cb) = callbacks[seq].take() {
            cb();
        }
    }
    phase
}

/// The same loop over a B-tree keyed by `(deadline, seq)`.
fn run_btree(n: u64, seed: u64, all_due: bool) -> SetPhase {
    let mut tree: BTreeMap<(Instant, u64), Box<dyn FnOnce()>> = BTreeMap::new();
    let mut seq = 0;
    let phase = set_timers(n, seed, all_due, |ms, i| {
        tree.insert(
            (Instant::now() + Duration::from_millis(ms), seq),
            Box::new(callback(i, n)),
        );
        seq += 1;
    });
    while let Some((&(deadline, _), _)) = tree.first_key_value() {
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
            continue;
        }
        if let Some((_, cb)) = tree.pop_first() {
            cb();
        }
    }
    phase
}

/// The runtime, as a program uses it.
fn run_runtime(n: u64, seed: u64, all_due: bool) -> SetPhase {
    let rt = Runtime::builder()
        .verbose(false)
        .build()
        .expect("build a runtime");
    let phase = std::rc::Rc::new(Cell::new(None));
    let p = phase.clone();
    rt.run(move || {
        p.set(Some(set_timers(n, seed, all_due, |ms, i| {
            let cb = callback(i, n);
            set_timeout(ms, move |_| cb());
        })));
    });
    phase.take().expect("the program ran")
}

/// In the child process: one run, figures printed as `key=value`.
fn child(args: &[String]) {
    let imp = args[0].as_str();
    let n: u64 = args[1].parse().expect("timer count");
    let seed: u64 = args[2].parse().expect("seed");
    let all_due = args[3] == "due";
    let rss_before = util::peak_rss_mib().unwrap_or(f64::NAN);
    let cpu_before = util::cpu_time();
    let phase = match imp {
        "runtime" => run_runtime(n, seed, all_due),
        "heap" => run_heap(n, seed, all_due),
        "btree" => run_btree(n, seed, all_due),
        other => panic!("unknown implementation {other}"),
    };
    let cpu = match (cpu_before, util::cpu_time()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => f64::NAN,
    };
    let (count, sum) = FIRED.with(Cell::get);
    assert_eq!(count, n, "{imp}: every timer fires once");
    assert_eq!(sum, n * (n - 1) / 2, "{imp}: every timer fires once");
    let last = LAST.with(Cell::get).expect("the last timer fired");
    util::report("wall_s", (last - phase.start).as_secs_f64());
    util::report("set_ns", phase.took.as_nanos() as f64 / n as f64);
    util::report(
        "fire_ns",
        last.saturating_duration_since(phase.loop_start).as_nanos() as f64 / n as f64,
    );
    util::report("cpu_s", cpu);
    util::report("rss_mib", util::peak_rss_mib().unwrap_or(f64::NAN));
    util::report("rss_start_mib", rss_before);
}

fn run(imp: &str, n: u64, seed: u64, mode: &str) -> std::collections::HashMap<String, f64> {
    util::run_child(&[
        "timers".to_string(),
        imp.to_string(),
        n.to_string(),
        seed.to_string(),
        mode.to_string(),
    ])
}

fn main() {
    let args = util::args();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[2..]);
    }
    let n: u64 = util::flag(&args, "--timers", 1_000_000);
    let rounds: usize = util::flag(&args, "--rounds", 5);
    let seed: u64 = util::flag(&args, "--seed", 42);
    let skip_scaling = args.iter().any(|a| a == "--skip-scaling");

    println!(
        "timers: {n} timers, seeded ({seed}) random timeouts 0..999 ms, run until all fired; \
         {rounds} paired rounds, each run in a fresh process; load average before: {}",
        util::load_average()
    );
    let runs = util::paired_rounds(3, rounds, |i| {
        vec![
            "timers".to_string(),
            IMPLS[i].to_string(),
            n.to_string(),
            seed.to_string(),
            "spread".to_string(),
        ]
    });
    println!(
        "{:<8} {:>9} {:>11} {:>9} {:>13} {:>8} {:>12} {:>11}",
        "impl",
        "wall s",
        "wall/heap",
        "CPU s",
        "peak RSS MiB",
        "RSS/heap",
        "set ns/timer",
        "min..max wall"
    );
    for (i, name) in IMPLS.iter().enumerate() {
        let wall = runs.col(i, "wall_s");
        let (min, max) = runs.min_max(i, "wall_s");
        println!(
            "{:<8} {:>9.3} {:>11.3} {:>9.3} {:>13.1} {:>8.2} {:>12.0} {:>5.3}..{:.3}",
            name,
            util::median(&wall),
            runs.median_ratio(i, 1, "wall_s"),
            util::median(&runs.col(i, "cpu_s")),
            util::median(&runs.col(i, "rss_mib")),
            runs.median_ratio(i, 1, "rss_mib"),
            util::median(&runs.col(i, "set_ns")),
            min,
            max
        );
    }
    println!(
        "(peak RSS includes the process's own start-up, {:.1} MiB)",
        util::median(&runs.col(0, "rss_start_mib"))
    );

    if !skip_scaling {
        let scaling_rounds = rounds.min(3);
        println!();
        println!(
            "scaling: ns per timer to set it, and to fire it once all are due \
             (median of {} paired rounds)",
            scaling_rounds
        );
        println!(
            "{:<8} {:>9} {:>8} {:>8} {:>12} {:>13}",
            "impl", "timers", "set ns", "fire ns", "set vs 10k", "fire vs 10k"
        );
        let counts = [10_000u64, 100_000, 1_000_000];
        // medians[implementation][count] = (set ns, fire ns)
        let mut medians = [[(0.0, 0.0); 3]; 2];
        for (c, &count) in counts.iter().enumerate() {
            let mut set = [Vec::new(), Vec::new()];
            let mut fire = [Vec::new(), Vec::new()];
            for round in 0..scaling_rounds {
                for i in util::rotation(2, round) {
                    let r = run(IMPLS[i], count, seed, "due");
                    set[i].push(r["set_ns"]);
                    fire[i].push(r["fire_ns"]);
                }
            }
            for (m, (s, f)) in medians.iter_mut().zip(set.iter().zip(&fire)) {
                m[c] = (util::median(s), util::median(f));
            }
        }
        for (name, row) in IMPLS.iter().zip(&medians) {
            let (set0, fire0) = row[0];
            for (count, &(s, f)) in counts.iter().zip(row) {
                println!(
                    "{:<8} {:>9} {:>8.0} {:>8.0} {:>12.2} {:>13.2}",
                    name,
                    count,
                    s,
                    f,
                    s / set0,
                    f / fire0
                );
            }
        }
    }
    println!("load average after: {}", util::load_average());
}
