//! Linux-only views of the process, from `/proc/self` (proc(5)), and its descriptor limit:
//! the threads and descriptors it has (for the tests that prove nothing outlives a `Poll`
//! or a run), its memory (for the tests that prove memory stays bounded), and
//! `RLIMIT_NOFILE` (for the tests that open thousands of sockets).
//!
//! `/proc/self` describes the whole process, and a test binary runs its tests in parallel
//! threads of one process: a file that counts with these holds one test.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

/// A field of `/proc/self/status` that is given in kB (`VmRSS`, `VmHWM`, `VmSize`).
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The resident set now, in KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS").expect("VmRSS in /proc/self/status")
}

/// The peak resident set since the last [`reset_peak_rss`], in KiB.
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM").expect("VmHWM in /proc/self/status")
}

/// Resets `VmHWM` to the current RSS (writing "5" to `/proc/self/clear_refs`, proc(5),
/// Linux 4.0+). Returns whether the kernel allowed it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's threads (by id, with their names) and descriptors (with what each
/// names), as `/proc/self/task` and `/proc/self/fd` list them.
pub type Snapshot = (BTreeMap<String, String>, BTreeMap<String, String>);

/// The threads and descriptors now.
pub fn snapshot() -> Snapshot {
    let list = |dir: &str, describe: &dyn Fn(&str) -> String| {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {dir}: {e}"))
            .filter_map(Result::ok)
            .map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let what = describe(&name);
                (name, what)
            })
            .collect::<BTreeMap<_, _>>()
    };
    let tasks = list("/proc/self/task", &|tid| {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string()
    });
    let mut fds = list("/proc/self/fd", &|fd| {
        std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    });
    // Not ours: the directory `read_dir` had open while it listed the descriptors.
    let listing = format!("/proc/{}/fd", std::process::id());
    fds.retain(|_, what| *what != listing);
    (tasks, fds)
}

/// Fails unless the process is back to `baseline` within `settle`.
///
/// A joined thread can stay listed for a moment after `join` returns (the kernel wakes
/// the joiner before it has reaped the thread), and libkqueue closes a queue's
/// descriptors from a helper thread of its own; a leak never goes away.
pub fn assert_back_to(baseline: &Snapshot, settle: Duration, after: &str) {
    let deadline = Instant::now() + settle;
    loop {
        let now = snapshot();
        if now == *baseline {
            return;
        }
        if Instant::now() > deadline {
            let extra_tasks: Vec<_> = now
                .0
                .iter()
                .filter(|(k, _)| !baseline.0.contains_key(*k))
                .collect();
            let extra_fds: Vec<_> = now
                .1
                .iter()
                .filter(|(k, _)| !baseline.1.contains_key(*k))
                .collect();
            panic!(
                "after {after}: {} threads (was {}), {} descriptors (was {}); \
                 new threads {extra_tasks:?}, new descriptors {extra_fds:?}",
                now.0.len(),
                baseline.0.len(),
                now.1.len(),
                baseline.1.len()
            );
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// `struct rlimit` from <sys/resource.h>, getrlimit(2): two `rlim_t`, which is a
/// 64-bit unsigned integer on the 64-bit Linux targets this crate supports.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Rlimit {
    rlim_cur: u64,
    rlim_max: u64,
}
const _: () = assert!(std::mem::size_of::<Rlimit>() == 16);

/// `RLIMIT_NOFILE` on x86_64 and aarch64 (asm-generic/resource.h).
const RLIMIT_NOFILE: i32 = 7;

#[link(name = "c")]
unsafe extern "C" {
    fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
    fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
}

/// Raises this process's soft limit on open descriptors to at least `want`, as far as
/// the hard limit allows, and returns the soft limit now in force. (The crate has no
/// `libc` dependency on purpose, so the two calls are declared here.)
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = Rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable `struct rlimit` for the duration of the call.
    if unsafe { getrlimit(RLIMIT_NOFILE, &mut lim) } != 0 {
        panic!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if lim.rlim_cur >= want {
        return lim.rlim_cur;
    }
    let raised = Rlimit {
        rlim_cur: want.min(lim.rlim_max),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `raised` is a valid `struct rlimit` that the kernel only reads; raising
    // the soft limit up to the hard limit needs no privilege.
    if unsafe { setrlimit(RLIMIT_NOFILE, &raised) } != 0 {
        panic!("setrlimit: {}", std::io::Error::last_os_error());
    }
    raised.rlim_cur
}
