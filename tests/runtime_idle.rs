//! The loop's thread sleeps while it waits: it does not spin until the next timer.
//!
//! Measured as the CPU time of the thread that runs the loop, from
//! `/proc/thread-self/stat` (proc(5)), so other tests running at the same time do not
//! count. Linux only: that file is Linux's, and std has no portable per-thread CPU clock.
#![cfg(target_os = "linux")]

mod util;

use std::time::Duration;

use node_experiment::runtime::set_timeout;
use util::runtime::{LIMIT, builder};
use util::within;

/// Clock ticks per second in `/proc` times (`sysconf(_SC_CLK_TCK)`): 100 on every Linux
/// architecture in use.
const TICKS_PER_SEC: u64 = 100;

/// CPU time (user + system) the calling thread has used so far.
fn thread_cpu_time() -> Duration {
    let stat =
        std::fs::read_to_string("/proc/thread-self/stat").expect("read /proc/thread-self/stat");
    // The thread's name, in parentheses, may contain spaces: count fields after it. Field
    // 3 (state) comes first; utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')').expect("a ')' after the name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 1000 / TICKS_PER_SEC)
}

/// Runs `program` and returns the CPU time the loop's thread used.
fn loop_cpu_time(what: &str, program: fn()) -> Duration {
    within(LIMIT, what, move || {
        let before = thread_cpu_time();
        builder().build().expect("build the runtime").run(program);
        thread_cpu_time() - before
    })
}

/// FIX(book) R5: a stale timeout of 0 ms made the book's poll thread return at once, again
/// and again, flooding the loop with events while it waited for a timer.
#[test]
fn the_loop_sleeps_while_it_waits_for_a_timer() {
    let cpu = loop_cpu_time("one 400 ms timer", || {
        set_timeout(400, |_| {});
    });
    assert!(
        cpu < Duration::from_millis(100),
        "the loop's thread used {cpu:?} of CPU while waiting 400 ms for one timer"
    );
}

/// FIX(book) R6: the book turned the time to the next timer into whole milliseconds by
/// rounding down, so the last fraction of a millisecond before each timer became a wait of
/// 0 ms: a busy loop. With timers one millisecond apart that is spinning all the time.
#[test]
fn timers_a_millisecond_apart_do_not_make_the_loop_spin() {
    let cpu = loop_cpu_time("300 timers 1 ms apart", || {
        for ms in 1..=300 {
            set_timeout(ms, |_| {});
        }
    });
    assert!(
        cpu < Duration::from_millis(100),
        "the loop's thread used {cpu:?} of CPU for 300 timers over 300 ms"
    );
}
