//! What recording costs: the same busy program with recording off and on.
//!
//! Run: `cargo bench --bench trace_overhead` (options after `--`: `--rounds R`,
//! `--timers N`, `--immediates N`, `--jobs N`).
//!
//! | name | what |
//! |---|---|
//! | `off` | recording off (the default): every hook is one test of an `Option` that is `None` |
//! | `off again` | the same, a second time in each round: how much two identical runs differ on this machine, the noise any "cost when off" would have to rise above |
//! | `on` | `RuntimeBuilder::record(true)`: each hook reads the clock and pushes a record under a mutex |
//!
//! A build without the hooks cannot be timed next to these (the hooks are not behind a
//! feature flag, on purpose: one code path), so "nothing when off" is shown two ways: by
//! the code (`src/runtime/trace/mod.rs`: an off hook is `if let Some(..) = None`) and by
//! `off again`, whose ratio to `off` is the resolution of this measurement.
//!
//! The program: N timers (0 to 4 ms), N immediates that each queue a `next_tick`, and N
//! tiny pool jobs (`Crypto::encrypt(1)`); every callback counts itself. The clock starts
//! when the main program starts and stops when the last callback has run, so building
//! and shutting down the runtime are outside it. Rounds rotate the order of the variants
//! and the table reports the median of per-round ratios to `off` (see `benches/util`).
//! Finally it times drawing the last recorded run: the Chrome trace, the SVG, the text.

mod util;

use std::cell::Cell;
use std::time::{Duration, Instant};

use node_experiment::runtime::{Crypto, Recording, Runtime, next_tick, set_immediate, set_timeout};

const VARIANTS: [&str; 3] = ["off", "off again", "on"];

thread_local! {
    static DONE: Cell<usize> = const { Cell::new(0) };
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn count(total: usize) {
    DONE.with(|d| {
        d.set(d.get() + 1);
        if d.get() == total {
            LAST.with(|l| l.set(Some(Instant::now())));
        }
    });
}

struct Load {
    timers: usize,
    immediates: usize,
    jobs: usize,
}

impl Load {
    /// Callbacks the program runs: the timers, the immediates and their next-ticks, the jobs.
    fn callbacks(&self) -> usize {
        self.timers + 2 * self.immediates + self.jobs
    }
}

/// One run; returns how long the program took and the recording (off unless `record`).
fn run(load: &Load, record: bool) -> (Duration, Recording) {
    DONE.with(|d| d.set(0));
    LAST.with(|l| l.set(None));
    let rt = Runtime::builder()
        .verbose(false)
        .record(record)
        .build()
        .expect("build a runtime");
    let recording = rt.recording();
    let total = load.callbacks();
    let start = std::rc::Rc::new(Cell::new(None));
    let s = start.clone();
    let (timers, immediates, jobs) = (load.timers, load.immediates, load.jobs);
    rt.run(move || {
        s.set(Some(Instant::now()));
        for n in 0..timers {
            set_timeout((n % 5) as u64, move |_| count(total));
        }
        for _ in 0..immediates {
            set_immediate(move |_| {
                count(total);
                next_tick(move |_| count(total));
            });
        }
        for _ in 0..jobs {
            Crypto::encrypt(1, move |_| count(total));
        }
    });
    assert_eq!(DONE.with(Cell::get), total, "every callback ran");
    let took = LAST.with(Cell::get).expect("the last callback ran")
        - start.get().expect("the program started");
    (took, recording)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let args = util::args();
    let rounds: usize = util::flag(&args, "--rounds", 15);
    let load = Load {
        timers: util::flag(&args, "--timers", 5_000),
        immediates: util::flag(&args, "--immediates", 5_000),
        jobs: util::flag(&args, "--jobs", 2_000),
    };
    println!(
        "trace_overhead: {} timers, {} immediates (+ as many next_ticks), {} pool jobs = {} \
         callbacks per run; {rounds} rounds; load average {}",
        load.timers,
        load.immediates,
        load.jobs,
        load.callbacks(),
        util::load_average()
    );
    // One warm-up run of each, not counted: first-touch page faults, thread start-up.
    run(&load, false);
    run(&load, true);

    let mut times: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut last_recording = None;
    for round in 0..rounds {
        let mut this = [0.0; VARIANTS.len()];
        for v in util::rotation(VARIANTS.len(), round) {
            let (took, recording) = run(&load, VARIANTS[v] == "on");
            this[v] = ms(took);
            if recording.is_on() {
                last_recording = Some(recording);
            }
        }
        for v in 0..VARIANTS.len() {
            times[v].push(this[v]);
            ratios[v].push(this[v] / this[0]);
        }
    }

    println!();
    println!("| variant | median time | median ratio to off | extra per callback |");
    println!("|---|---|---|---|");
    let off = util::median(&times[0]);
    for (v, name) in VARIANTS.iter().enumerate() {
        let median = util::median(&times[v]);
        let ratio = util::median(&ratios[v]);
        let extra_ns = (median - off) * 1e6 / load.callbacks() as f64;
        println!("| {name} | {median:.2} ms | {ratio:.3} | {extra_ns:+.0} ns |");
    }

    let recording = last_recording.expect("an `on` run");
    let t = Instant::now();
    let json = recording.chrome_trace_json();
    let json_took = t.elapsed();
    let t = Instant::now();
    let svg = recording.svg();
    let svg_took = t.elapsed();
    let t = Instant::now();
    let text = recording.text_timeline();
    let text_took = t.elapsed();
    println!();
    println!("drawing the last recorded run (after it ended, outside the times above):");
    println!(
        "  Chrome trace {:.1} ms ({} KiB), SVG {:.1} ms ({} KiB), text {:.2} ms ({} lines)",
        ms(json_took),
        json.len() / 1024,
        ms(svg_took),
        svg.len() / 1024,
        ms(text_took),
        text.lines().count()
    );
}
