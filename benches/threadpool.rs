//! Thread pool: 100,000 tiny jobs (`Crypto::encrypt(1)`), each result back on the main
//! thread's callback; the runtime against a small libuv-style pool written here.
//!
//! Run: `cargo bench --bench threadpool` (options after `--`: `--jobs N`, `--threads T`,
//! `--rounds R`).
//!
//! | name | what |
//! |---|---|
//! | `runtime` | `Crypto::encrypt(1, cb)` N times from the main program of a [`Runtime`] with T pool threads |
//! | `reference` | libuv's `uv_queue_work` design in a few lines: one `Mutex<VecDeque>` + `Condvar` queue that signals one thread, and only when one is idle; results collected in one `Mutex<Vec>` that wakes the main thread only when it sleeps (as `uv_async_send` coalesces); callbacks looked up by index in a `Vec` |
//!
//! Each run is a fresh child process. The clock starts before the first job is submitted
//! and stops when the last callback has run on the main thread; thread start-up and
//! shutdown are outside it.
//!
//! [`Runtime`]: node_experiment::runtime::Runtime

mod util;

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Instant;

use node_experiment::runtime::{Crypto, Runtime};

const IMPLS: [&str; 2] = ["runtime", "reference"];

thread_local! {
    /// Callbacks run so far.
    static DONE: Cell<usize> = const { Cell::new(0) };
    /// When the last one ran.
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The main thread's side of every job: count it, and note when the last one came back.
fn on_result(value: Option<usize>, jobs: usize) {
    assert_eq!(value, Some(1), "fib(1) is 1");
    DONE.with(|d| {
        d.set(d.get() + 1);
        if d.get() == jobs {
            LAST.with(|l| l.set(Some(Instant::now())));
        }
    });
}

/// Returns when the clock started (the first job is submitted just after).
fn run_runtime(jobs: usize, threads: usize) -> Instant {
    let rt = Runtime::builder()
        .threads(threads)
        .verbose(false)
        .build()
        .expect("build a runtime");
    let start = std::rc::Rc::new(Cell::new(None));
    let s = start.clone();
    rt.run(move || {
        s.set(Some(Instant::now()));
        for _ in 0..jobs {
            Crypto::encrypt(1, move |js| on_result(js.into_int(), jobs));
        }
    });
    start.get().expect("the program ran")
}

/// The same fibonacci the runtime's `Crypto::encrypt` computes.
fn fibonacci(n: usize) -> usize {
    if n < 2 {
        n
    } else {
        fibonacci(n - 1) + fibonacci(n - 2)
    }
}

type Work = Box<dyn FnOnce() -> usize + Send>;
type Callback = Box<dyn FnOnce(usize)>;

/// The work queue, shared by the submitting thread and the workers.
struct Queue {
    jobs: VecDeque<(usize, Work)>,
    /// Workers blocked in `wait`: only then does a submit need to signal (libuv's
    /// `idle_threads`), so a busy pool costs no futex call per job.
    idle: usize,
    shutdown: bool,
}

/// Finished jobs on their way back to the main thread.
struct Done {
    results: Vec<(usize, usize)>,
    /// The main thread is blocked in `wait` and needs a signal.
    main_waiting: bool,
}

struct Pool {
    queue: Mutex<Queue>,
    work_ready: Condvar,
    done: Mutex<Done>,
    done_ready: Condvar,
}

fn worker(pool: &Pool) {
    loop {
        let (id, work) = {
            let mut q = pool.queue.lock().unwrap();
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.shutdown {
                    return;
                }
                q.idle += 1;
                q = pool.work_ready.wait(q).unwrap();
                q.idle -= 1;
            }
        };
        let value = work();
        let mut done = pool.done.lock().unwrap();
        done.results.push((id, value));
        if done.main_waiting {
            done.main_waiting = false;
            pool.done_ready.notify_one();
        }
    }
}

fn run_reference(jobs: usize, threads: usize) -> Instant {
    let pool = Arc::new(Pool {
        queue: Mutex::new(Queue {
            jobs: VecDeque::new(),
            idle: 0,
            shutdown: false,
        }),
        work_ready: Condvar::new(),
        done: Mutex::new(Done {
            results: Vec::new(),
            main_waiting: false,
        }),
        done_ready: Condvar::new(),
    });
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let pool = Arc::clone(&pool);
            thread::spawn(move || worker(&pool))
        })
        .collect();

    let start = Instant::now();
    let mut callbacks: Vec<Option<Callback>> = Vec::new();
    for _ in 0..jobs {
        // As `Crypto::encrypt`: the work captures its argument, the callback is the same.
        let n = std::hint::black_box(1);
        let id = callbacks.len();
        callbacks.push(Some(Box::new(move |v| on_result(Some(v), jobs))));
        let mut q = pool.queue.lock().unwrap();
        q.jobs.push_back((id, Box::new(move || fibonacci(n))));
        if q.idle > 0 {
            pool.work_ready.notify_one();
        }
    }
    let mut ran = 0;
    let mut batch = Vec::new();
    while ran < jobs {
        {
            let mut done = pool.done.lock().unwrap();
            while done.results.is_empty() {
                done.main_waiting = true;
                done = pool.done_ready.wait(done).unwrap();
            }
            std::mem::swap(&mut batch, &mut done.results);
        }
        for (id, value) in batch.drain(..) {
            if let Some(cb) = callbacks[id].take() {
                cb(value);
                ran += 1;
            }
        }
    }
    pool.queue.lock().unwrap().shutdown = true;
    pool.work_ready.notify_all();
    for h in handles {
        h.join().unwrap();
    }
    start
}

fn child(args: &[String]) {
    let imp = args[0].as_str();
    let jobs: usize = args[1].parse().expect("job count");
    let threads: usize = args[2].parse().expect("thread count");
    let cpu_before = util::cpu_time();
    let start = match imp {
        "runtime" => run_runtime(jobs, threads),
        "reference" => run_reference(jobs, threads),
        other => panic!("unknown implementation {other}"),
    };
    let cpu = match (cpu_before, util::cpu_time()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => f64::NAN,
    };
    assert_eq!(DONE.with(Cell::get), jobs, "{imp}: every callback ran once");
    let last = LAST.with(Cell::get).expect("the last callback ran");
    let secs = (last - start).as_secs_f64();
    util::report("jobs_per_s", jobs as f64 / secs);
    util::report("secs", secs);
    util::report("cpu_s", cpu);
}

fn main() {
    let args = util::args();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[2..]);
    }
    let jobs: usize = util::flag(&args, "--jobs", 100_000);
    let threads: usize = util::flag(&args, "--threads", 4);
    let rounds: usize = util::flag(&args, "--rounds", 9);

    println!(
        "threadpool: {jobs} tiny jobs (fib(1)) on {threads} pool threads, each result back \
         on the main thread; {rounds} paired rounds, each run in a fresh process; \
         load average before: {}",
        util::load_average()
    );
    let runs = util::paired_rounds(2, rounds, |i| {
        vec![
            "pool".to_string(),
            IMPLS[i].to_string(),
            jobs.to_string(),
            threads.to_string(),
        ]
    });
    println!(
        "{:<10} {:>12} {:>20} {:>10} {:>22}",
        "impl", "jobs/s", "min..max jobs/s", "CPU s", "ratio to reference"
    );
    for (i, name) in IMPLS.iter().enumerate() {
        let rate = runs.col(i, "jobs_per_s");
        let (min, max) = runs.min_max(i, "jobs_per_s");
        let ratio = if i == 0 {
            format!("{:.3}", runs.median_ratio(0, 1, "jobs_per_s"))
        } else {
            "1".to_string()
        };
        println!(
            "{:<10} {:>12.0} {:>20} {:>10.3} {:>22}",
            name,
            util::median(&rate),
            format!("{min:.0}..{max:.0}"),
            util::median(&runs.col(i, "cpu_s")),
            ratio
        );
    }
    println!("load average after: {}", util::load_average());
}
