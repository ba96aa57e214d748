//! Timer accuracy: 1,000 timers of 10 ms in sequence, each set from the previous one's
//! callback. How late does each fire, and what does the waiting cost?
//!
//! Run: `cargo bench --bench timer_accuracy` (options after `--`: `--timers N`,
//! `--period MS`, `--rounds R`).
//!
//! | name | what |
//! |---|---|
//! | `runtime` | `set_timeout(10, cb)` from the previous callback, in a [`Runtime`] |
//! | `sleep` | `thread::sleep(10 ms)` in a loop: what the OS gives one thread that does nothing else (the floor) |
//!
//! Lateness is measured from a clock read taken just *before* the timer is set, so it can
//! only overstate the lateness the runtime sees; a negative figure would mean a timer fired
//! early. CPU time is the whole process's (every thread) from before the runtime is built
//! to after `run` returns. Each run is a fresh child process.
//!
//! [`Runtime`]: node_experiment::runtime::Runtime

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use node_experiment::runtime::{Runtime, set_timeout};

const IMPLS: [&str; 2] = ["runtime", "sleep"];

/// Sets the next timer of the chain; records each one's lateness in microseconds.
fn chain(left: usize, period: Duration, late: Rc<RefCell<Vec<f64>>>) {
    if left == 0 {
        return;
    }
    let due = Instant::now() + period;
    set_timeout(period.as_millis() as u64, move |_| {
        let now = Instant::now();
        let us = if now >= due {
            (now - due).as_secs_f64() * 1e6
        } else {
            -((due - now).as_secs_f64() * 1e6)
        };
        late.borrow_mut().push(us);
        chain(left - 1, period, late);
    });
}

fn run_runtime(timers: usize, period: Duration) -> Vec<f64> {
    let late = Rc::new(RefCell::new(Vec::with_capacity(timers)));
    let l = late.clone();
    Runtime::builder()
        .verbose(false)
        .build()
        .expect("build a runtime")
        .run(move || chain(timers, period, l));
    late.take()
}

fn run_sleep(timers: usize, period: Duration) -> Vec<f64> {
    (0..timers)
        .map(|_| {
            let due = Instant::now() + period;
            std::thread::sleep(period);
            Instant::now().saturating_duration_since(due).as_secs_f64() * 1e6
        })
        .collect()
}

fn child(args: &[String]) {
    let imp = args[0].as_str();
    let timers: usize = args[1].parse().expect("timer count");
    let period = Duration::from_millis(args[2].parse().expect("period in ms"));
    let cpu_before = util::cpu_time();
    let start = Instant::now();
    let late = match imp {
        "runtime" => run_runtime(timers, period),
        "sleep" => run_sleep(timers, period),
        other => panic!("unknown implementation {other}"),
    };
    let wall = start.elapsed();
    let cpu = match (cpu_before, util::cpu_time()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => f64::NAN,
    };
    assert_eq!(late.len(), timers, "{imp}: every timer fired");
    util::report("p50_us", util::percentile(&late, 50.0));
    util::report("p90_us", util::percentile(&late, 90.0));
    util::report("p99_us", util::percentile(&late, 99.0));
    util::report("max_us", util::percentile(&late, 100.0));
    util::report("min_us", util::percentile(&late, 0.0));
    util::report("early", late.iter().filter(|&&l| l < 0.0).count() as f64);
    util::report("cpu_ms", cpu * 1e3);
    util::report("wall_s", wall.as_secs_f64());
}

fn main() {
    let args = util::args();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[2..]);
    }
    let timers: usize = util::flag(&args, "--timers", 1_000);
    let period: u64 = util::flag(&args, "--period", 10);
    let rounds: usize = util::flag(&args, "--rounds", 3);
    println!(
        "timer_accuracy: {timers} timers of {period} ms in sequence, each set from the \
         previous callback; {rounds} paired rounds, each run in a fresh process; \
         load average before: {}",
        util::load_average()
    );
    let runs = util::paired_rounds(2, rounds, |i| {
        vec![
            "accuracy".to_string(),
            IMPLS[i].to_string(),
            timers.to_string(),
            period.to_string(),
        ]
    });
    println!(
        "{:<8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>6} {:>8} {:>10}",
        "impl", "p50 us", "p90 us", "p99 us", "max us", "min us", "early", "CPU ms", "p50/sleep"
    );
    for (i, name) in IMPLS.iter().enumerate() {
        let (min, _) = runs.min_max(i, "min_us");
        let (_, max) = runs.min_max(i, "max_us");
        println!(
            "{:<8} {:>8.0} {:>8.0} {:>8.0} {:>9.0} {:>8.1} {:>6} {:>8.1} {:>10}",
            name,
            util::median(&runs.col(i, "p50_us")),
            util::median(&runs.col(i, "p90_us")),
            util::median(&runs.col(i, "p99_us")),
            max,
            min,
            runs.col(i, "early").iter().sum::<f64>(),
            util::median(&runs.col(i, "cpu_ms")),
            if i == 0 {
                format!("{:.2}", runs.median_ratio(0, 1, "p50_us"))
            } else {
                "1".to_string()
            }
        );
    }
    println!("(percentiles: median over rounds; max, min and early: over all rounds)");
    println!("load average after: {}", util::load_average());
}
