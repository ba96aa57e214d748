//! Helpers shared by the benchmarks (`benches/*.rs`): arguments, paired rounds and their
//! medians, child processes, and what a process used (peak RSS, CPU time).
//!
//! The benchmarks are plain programs (`harness = false`), run by `cargo bench`, which
//! builds them in release mode. Nothing here is a test: `cargo test` never runs them.
//!
//! # How the numbers are taken
//!
//! This machine is shared (other builds run beside a benchmark), so a single timing says
//! little. Each benchmark runs its variants in **paired rounds**: one run of every variant
//! per round, in an order that rotates from round to round (A B, then B A), and divides
//! each variant's figure by the baseline's figure *of the same round*. The median of those
//! per-round ratios is what the table reports: a burst of load that slows one round
//! slows both sides of its ratio, and the median drops the rounds it spoiled anyway.
//!
//! Memory and allocator state leak from one run into the next inside a process (a freed
//! heap is not given back to the OS, and the peak RSS only grows), so the timer and pool
//! benchmarks run every measurement in a **fresh child process**: the bench binary runs
//! itself again with `--child ...` and reads the figures the child prints.

// Every bench compiles its own copy of this module and uses only some of the helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The command-line arguments, without the `--bench` flag that `cargo bench` passes.
pub fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect()
}

/// The value after `--name` in `args`, parsed; `default` if the flag is absent.
///
/// # Panics
///
/// If the value does not parse: a benchmark run with a typo should stop, not guess.
pub fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    match args.iter().position(|a| a == name) {
        None => default,
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} needs a value")),
    }
}

/// The median of `values` (the mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `p`th percentile (0..=100) of `values`, nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The order of `n` variants in round `round`: rotated by one each round, so every variant
/// runs first (on a cold machine) as often as every other.
pub fn rotation(n: usize, round: usize) -> Vec<usize> {
    (0..n).map(|i| (i + round) % n).collect()
}

/// The system's load averages (1, 5 and 15 minutes), for the record of every run.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".to_string())
}

/// Peak resident set size of this process so far, in MiB (`VmHWM` in `/proc/self/status`,
/// Linux only).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system, every thread) this process has used so far.
///
/// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`: the kernel's own sum of the run time of
/// every thread of the process, in nanoseconds (`getrusage` gives the same sum, split
/// into user and system time, in microseconds).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn cpu_time() -> Option<Duration> {
    // clock_gettime(2); `struct timespec` on 64-bit Linux is two `long`s.
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    const _: () = assert!(std::mem::size_of::<Timespec>() == 16);
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    #[link(name = "c")]
    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }

    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `struct timespec` for the duration of the call
    // (size checked above); the kernel writes it and touches nothing else.
    if unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// CPU time is read with Linux's `clock_gettime` layout only.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn cpu_time() -> Option<Duration> {
    None
}

/// Prints one `key=value` line for the parent process to read (see [`run_child`]).
pub fn report(key: &str, value: f64) {
    println!("{key}={value}");
}

/// Runs this benchmark binary again as `<exe> --child <child_args>`, in a fresh process,
/// and returns the `key=value` lines it printed on standard output.
///
/// # Panics
///
/// If the child cannot start or fails: a benchmark that lost a run has nothing to report.
pub fn run_child(child_args: &[String]) -> HashMap<String, f64> {
    let exe = std::env::current_exe().expect("the path of this benchmark binary");
    let out = Command::new(exe)
        .arg("--child")
        .args(child_args)
        .stderr(Stdio::inherit())
        .output()
        .expect("start a child benchmark process");
    assert!(
        out.status.success(),
        "child run {child_args:?} failed: {}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// What paired rounds measured: for every variant, the figures its child printed, one
/// map per round.
pub struct Runs(Vec<Vec<HashMap<String, f64>>>);

/// Runs `variants` variants for `rounds` paired rounds (see the module docs): each round
/// runs every variant once, in a fresh child process, in the order [`rotation`] gives;
/// `child_args(i)` is what variant `i`'s child is given after `--child`.
pub fn paired_rounds(
    variants: usize,
    rounds: usize,
    mut child_args: impl FnMut(usize) -> Vec<String>,
) -> Runs {
    let mut runs = vec![Vec::with_capacity(rounds); variants];
    for round in 0..rounds {
        // Filled in rotated order, kept in variant order.
        let mut this = vec![HashMap::new(); variants];
        for i in rotation(variants, round) {
            this[i] = run_child(&child_args(i));
        }
        for (i, r) in this.into_iter().enumerate() {
            runs[i].push(r);
        }
    }
    Runs(runs)
}

impl Runs {
    /// Variant `variant`'s figure `key`, one value per round.
    ///
    /// # Panics
    ///
    /// If a child did not print `key`: the benchmark and its child disagree.
    pub fn col(&self, variant: usize, key: &str) -> Vec<f64> {
        self.0[variant]
            .iter()
            .map(|r| {
                *r.get(key)
                    .unwrap_or_else(|| panic!("the child printed no {key}= line"))
            })
            .collect()
    }

    /// The median over rounds of `variant`'s figure divided by `baseline`'s figure of the
    /// same round: the paired ratio the module docs explain.
    pub fn median_ratio(&self, variant: usize, baseline: usize, key: &str) -> f64 {
        let (a, b) = (self.col(variant, key), self.col(baseline, key));
        median(&a.iter().zip(&b).map(|(x, y)| x / y).collect::<Vec<_>>())
    }

    /// The smallest and largest of `variant`'s figure `key` over all rounds.
    pub fn min_max(&self, variant: usize, key: &str) -> (f64, f64) {
        self.col(variant, key)
            .into_iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    }
}

/// A small seeded random number generator (SplitMix64): the same seed gives the same
/// timeouts in every variant and every run, and no dependency is needed for it.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (with a bias of at most n / 2^64, irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
