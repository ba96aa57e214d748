//! The thread pool: N threads behind one FIFO queue.
//!
//! Rules: more jobs than threads wait in the queue, in order, and none is lost; at most N
//! run at once, so N threads finish 6 reads of delay D in `ceil(6 / N)` waves; a queued job
//! i (i >= N) can only finish after the (i - N + 1)-th completion has freed a thread.
//! `tests/runtime_threadpool_fifo.rs` measures the concurrency exactly, on Linux.

mod util;

use std::time::Duration;

use node_experiment::runtime::{Crypto, DEFAULT_THREADS, Fs, Js};
use util::runtime::{Log, TEST_TXT, TEST_TXT_CONTENTS, Trace, builder, run_logged};
use util::{SLACK, fib};

/// A callback that checks a read's result and records `label`.
fn read_cb(log: &Log, label: String) -> impl FnOnce(Js) + 'static {
    let log = log.clone();
    move |js| {
        assert_eq!(js.into_string().as_deref(), Some(TEST_TXT_CONTENTS));
        log.push(label);
    }
}

/// A callback that checks `fibonacci(n)` and records `label`.
fn encrypt_cb(log: &Log, n: usize, label: String) -> impl FnOnce(Js) + 'static {
    let log = log.clone();
    move |js| {
        assert_eq!(js.into_int(), Some(fib(n)), "fibonacci({n})");
        log.push(label);
    }
}

/// `job i` labels, in the order their callbacks ran.
fn completion_order(trace: &Trace) -> Vec<usize> {
    trace
        .labels()
        .iter()
        .filter_map(|l| l.strip_prefix("job ")?.parse().ok())
        .collect()
}

/// Queued job i can only start when a thread is free, i.e. after the (i - N + 1)-th
/// completion: so at least i - N + 1 callbacks ran before its own.
fn assert_fifo_rule(order: &[usize], threads: usize) {
    for (position, &job) in order.iter().enumerate() {
        let needed = (job + 1).saturating_sub(threads);
        assert!(
            position >= needed,
            "job {job} completed as #{}, before {needed} others had freed a thread \
             (completion order {order:?}, {threads} threads)",
            position + 1
        );
    }
}

/// FIX(book) R2: the book gave each pool thread its own channel and panicked "Out of
/// threads." when a fifth job arrived while four were busy.
#[test]
fn fifth_concurrent_pool_job_does_not_panic() {
    let trace = run_logged("ten jobs on the default pool", builder(), |log| {
        for i in 0..5 {
            Fs::read(TEST_TXT, read_cb(log, format!("job {i}")));
        }
        for i in 5..10 {
            Crypto::encrypt(20, encrypt_cb(log, 20, format!("job {i}")));
        }
    });
    let mut order = completion_order(&trace);
    assert_eq!(order.len(), 10, "{:?}", trace.labels());
    assert_fifo_rule(&order, DEFAULT_THREADS);
    order.sort_unstable();
    assert_eq!(order, (0..10).collect::<Vec<_>>(), "each job exactly once");
}

/// With 2 threads, 6 reads of delay D arrive in 3 waves: the k-th callback comes no
/// sooner than `ceil(k / 2) * D` after the reads were submitted, and the last after 3 D.
#[test]
fn two_threads_finish_six_reads_in_three_waves() {
    const THREADS: usize = 2;
    const JOBS: usize = 6;
    const D: Duration = Duration::from_millis(60);
    let trace = run_logged(
        "6 reads on 2 threads",
        builder().threads(THREADS).fs_delay(D),
        |log| {
            log.push("submitting");
            for i in 0..JOBS {
                Fs::read(TEST_TXT, read_cb(log, format!("job {i}")));
            }
        },
    );
    let submitted = trace.at("submitting");
    let order = completion_order(&trace);
    assert_eq!(order.len(), JOBS, "{:?}", trace.labels());
    assert_fifo_rule(&order, THREADS);
    for (k, &job) in order.iter().enumerate() {
        let wave = k / THREADS + 1;
        let took = trace.at(&format!("job {job}")) - submitted;
        assert!(
            took >= D * wave as u32,
            "completion #{} (job {job}) after {took:?}: more than {THREADS} reads ran at once",
            k + 1
        );
    }
    let last = trace.entries.last().expect("callbacks ran").1 - submitted;
    assert!(
        last < D * 3 + SLACK,
        "6 reads of {D:?} on 2 threads took {last:?}"
    );
}

/// The same rule with the book's numbers, as in the oracle's `pool_ten_crypto`: ten
/// encrypt jobs on the default four threads.
#[test]
fn queued_encrypt_jobs_complete_after_the_jobs_ahead_of_them() {
    let trace = run_logged("10 encrypt jobs on 4 threads", builder(), |log| {
        for i in 0..10 {
            Crypto::encrypt(25, encrypt_cb(log, 25, format!("job {i}")));
        }
    });
    let order = completion_order(&trace);
    assert_eq!(order.len(), 10, "{:?}", trace.labels());
    assert_fifo_rule(&order, DEFAULT_THREADS);
}

/// Reads hold all four threads; the encrypt jobs queued behind them cannot finish before
/// the first read (the oracle's `pool_queue_fifo`).
#[test]
fn jobs_queued_behind_busy_threads_wait_for_a_free_thread() {
    let trace = run_logged(
        "4 reads then 6 encrypts",
        builder().fs_delay(Duration::from_millis(50)),
        |log| {
            for i in 0..4 {
                Fs::read(TEST_TXT, read_cb(log, format!("job {i}")));
            }
            for i in 4..10 {
                Crypto::encrypt(20, encrypt_cb(log, 20, format!("job {i}")));
            }
        },
    );
    let order = completion_order(&trace);
    assert_eq!(order.len(), 10, "{:?}", trace.labels());
    assert!(order[0] < 4, "an encrypt job finished first: {order:?}");
    assert_fifo_rule(&order, DEFAULT_THREADS);
}

#[test]
fn nothing_is_lost_with_100_jobs_on_4_threads() {
    let trace = run_logged(
        "100 jobs on 4 threads",
        builder().threads(4).fs_delay(Duration::from_millis(1)),
        |log| {
            for i in 0..100 {
                if i % 2 == 0 {
                    Fs::read(TEST_TXT, read_cb(log, format!("job {i}")));
                } else {
                    let n = i % 25;
                    Crypto::encrypt(n, encrypt_cb(log, n, format!("job {i}")));
                }
            }
        },
    );
    let mut order = completion_order(&trace);
    assert_eq!(order.len(), 100, "{:?}", trace.labels());
    assert_fifo_rule(&order, 4);
    order.sort_unstable();
    assert_eq!(order, (0..100).collect::<Vec<_>>(), "each job exactly once");
}

/// A pool callback schedules the next read (read -> read -> read); each waits for the one
/// before it, so three reads of D take at least 3 D.
#[test]
fn a_pool_callback_can_schedule_more_pool_work() {
    const D: Duration = Duration::from_millis(30);
    let trace = run_logged("chained reads", builder().fs_delay(D), |log| {
        log.push("submitting");
        let l = log.clone();
        Fs::read(TEST_TXT, move |_| {
            l.push("read 1");
            let l2 = l.clone();
            Fs::read(TEST_TXT, move |_| {
                l2.push("read 2");
                Crypto::encrypt(20, encrypt_cb(&l2, 20, "encrypt from read 2".into()));
                Fs::read(TEST_TXT, read_cb(&l2, "read 3".into()));
            });
        });
    });
    assert_eq!(
        trace.labels(),
        [
            "submitting",
            "read 1",
            "read 2",
            "encrypt from read 2",
            "read 3"
        ]
    );
    assert!(trace.at("read 3") - trace.at("submitting") >= D * 3);
}

/// `threads(1)` is a valid pool: jobs run one at a time, in submission order.
#[test]
fn one_thread_runs_jobs_in_submission_order() {
    let trace = run_logged(
        "mixed jobs on one thread",
        builder().threads(1).fs_delay(Duration::from_millis(2)),
        |log| {
            for i in 0..12 {
                if i % 3 == 0 {
                    Crypto::encrypt(i, encrypt_cb(log, i, format!("job {i}")));
                } else {
                    Fs::read(TEST_TXT, read_cb(log, format!("job {i}")));
                }
            }
        },
    );
    assert_eq!(completion_order(&trace), (0..12).collect::<Vec<_>>());
}
