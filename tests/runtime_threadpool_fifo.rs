//! The pool's concurrency, measured exactly: reads of named pipes (FIFOs) that the test
//! holds open and lets go of one at a time.
//!
//! `Fs::read` of a FIFO blocks its pool thread until the test writes the pipe and closes
//! it, and the test can tell whether a pool thread has started a read: opening the write
//! end with `O_NONBLOCK` succeeds only if a reader has the pipe open, and fails with
//! `ENXIO` otherwise (fifo(7)). So the test sees exactly which jobs run at any moment,
//! without guessing from times.
//!
//! Linux only: FIFOs, `mkfifo` and the values of `O_NONBLOCK` and `ENXIO` are
//! platform-specific, and the crate has no `libc` to look them up (`O_NONBLOCK` is 0o4000
//! on the architectures listed below, not on mips, sparc, alpha or parisc).
#![cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
))]

mod util;

use std::ffi::{CString, c_char, c_int};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use node_experiment::runtime::{DEFAULT_THREADS, Fs, Runtime};
use util::runtime::{LIMIT, TempPath};

const O_NONBLOCK: c_int = 0o4000;
const ENXIO: i32 = 6;

/// How long a pool thread may take to start a job it is free to start.
const START_WITHIN: Duration = Duration::from_secs(10);
/// How long the test gives a wrong pool to start a job it must not start yet.
const QUIET: Duration = Duration::from_millis(50);

unsafe extern "C" {
    /// mkfifo(3).
    fn mkfifo(path: *const c_char, mode: u32) -> c_int;
}

fn make_fifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: `c_path` is a valid NUL-terminated string that lives until the call returns;
    // mkfifo only reads it.
    let rc = unsafe { mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        io::Error::last_os_error()
    );
}

/// The write end of `path` if a pool thread is reading it (the read then waits for our
/// data), `None` if no thread has started that read.
fn try_attach(path: &Path) -> Option<File> {
    match OpenOptions::new()
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
    {
        Ok(f) => Some(f),
        Err(e) if e.raw_os_error() == Some(ENXIO) => None,
        Err(e) => panic!("opening {} for writing: {e}", path.display()),
    }
}

/// Waits until a pool thread starts reading job `i`'s pipe.
fn attach(paths: &[PathBuf], i: usize, threads: usize) -> File {
    let deadline = Instant::now() + START_WITHIN;
    loop {
        if let Some(f) = try_attach(&paths[i]) {
            return f;
        }
        assert!(
            Instant::now() < deadline,
            "job {i} did not start within {START_WITHIN:?} although one of the {threads} \
             pool threads was free for it"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Lets every blocked read finish, so that a failed test does not leave the runtime's
/// threads (and the test binary) stuck in `open` on a pipe nobody will write.
struct ReleaseAll {
    paths: Vec<PathBuf>,
    runtime_done: Arc<AtomicBool>,
}

impl Drop for ReleaseAll {
    fn drop(&mut self) {
        let deadline = Instant::now() + START_WITHIN;
        while !self.runtime_done.load(Ordering::SeqCst) && Instant::now() < deadline {
            for p in &self.paths {
                // Opening and closing the write end gives a waiting reader end of file.
                drop(try_attach(p));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Runs `jobs` reads of pipes on a pool of `threads` (None: the default) and checks, while
/// they run, that exactly `threads` run at once and that queued jobs start in FIFO order.
fn check_pool(threads: Option<usize>, jobs: usize) {
    let n = threads.unwrap_or(DEFAULT_THREADS);
    let dir = TempPath::dir("fifo");
    let paths: Vec<PathBuf> = (0..jobs)
        .map(|i| dir.path().join(format!("job{i}")))
        .collect();
    for p in &paths {
        make_fifo(p);
    }

    let runtime_done = Arc::new(AtomicBool::new(false));
    let _release = ReleaseAll {
        paths: paths.clone(),
        runtime_done: runtime_done.clone(),
    };
    let (tx, rx) = mpsc::channel();
    let job_paths = paths.clone();
    let done = runtime_done.clone();
    thread::spawn(move || {
        let mut b = Runtime::builder().verbose(false).fs_delay(Duration::ZERO);
        if let Some(n) = threads {
            b = b.threads(n);
        }
        let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        b.build().expect("build the runtime").run(|| {
            for (i, p) in job_paths.into_iter().enumerate() {
                let r = results.clone();
                Fs::read(p, move |js| {
                    r.borrow_mut().push((i, js.into_string()));
                });
            }
        });
        done.store(true, Ordering::SeqCst);
        let _ = tx.send(results.take());
    });

    let mut writers: Vec<Option<File>> = (0..jobs).map(|_| None).collect();
    // At least n at once: the first n jobs all start without any finishing.
    for (i, w) in writers.iter_mut().enumerate().take(n) {
        *w = Some(attach(&paths, i, n));
    }
    // At most n at once: give a wrong pool time to start another job.
    thread::sleep(QUIET);
    for (j, p) in paths.iter().enumerate().skip(n) {
        assert!(
            try_attach(p).is_none(),
            "job {j} started while the {n} jobs before it were all still running"
        );
    }
    // Each finished job frees one thread, which takes the oldest queued job: job i + n.
    for i in 0..jobs {
        let mut w = writers[i].take().expect("job i was attached");
        w.write_all(format!("job {i}").as_bytes())
            .expect("write the pipe");
        drop(w);
        if i + n < jobs {
            writers[i + n] = Some(attach(&paths, i + n, n));
            for (j, p) in paths.iter().enumerate().skip(i + n + 1) {
                assert!(
                    try_attach(p).is_none(),
                    "job {j} started before job {} although it was queued later",
                    i + n
                );
            }
        }
    }

    let mut results = rx
        .recv_timeout(LIMIT)
        .unwrap_or_else(|e| panic!("the runtime did not return after all reads finished: {e}"));
    // Job i's thread had sent its result before it took job i + n, and job i + 1 was let
    // go only after that: so all but the last n results arrive in order. The last n were
    // let go together, on different threads.
    let delivered: Vec<usize> = results.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        delivered[..jobs - n],
        (0..jobs - n).collect::<Vec<_>>(),
        "results in the order the jobs finished: {delivered:?}"
    );
    results.sort();
    let expected: Vec<(usize, Option<String>)> =
        (0..jobs).map(|i| (i, Some(format!("job {i}")))).collect();
    assert_eq!(
        results, expected,
        "each read delivered once, with its contents"
    );
}

/// FIX(book) R2 and R12: the pool has exactly the threads it was given (the default is
/// `DEFAULT_THREADS`), runs no more jobs than that at once, and starts queued jobs in the
/// order they were submitted.
#[test]
fn at_most_n_jobs_run_at_once_and_queued_jobs_start_in_fifo_order() {
    check_pool(Some(1), 4);
    check_pool(Some(3), 7);
    check_pool(None, DEFAULT_THREADS + 3);
}
