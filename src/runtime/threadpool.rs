//! The thread pool: where file reads and CPU work run, off the loop's thread.
//!
//! Book: "Implementing the Node Eventloop", sections "The thread pool" and
//! `register_work`.
//!
//! Node (through libuv) runs file system calls and crypto on a small pool of threads,
//! because the OS offers no readiness API for files and because CPU work would freeze the
//! loop. A pool thread takes a task, runs it, and sends the result back to the loop as a
//! `PollEvent::Threadpool`; the loop then runs the task's callback on its own thread.
//!
//! FIX(book) R2: the book gave each thread its own channel and picked a free thread with
//! `get_available_thread`, which panicked "Out of threads." at the fifth concurrent task.
//! Here all threads take from **one FIFO queue** (a `Mutex<VecDeque>` and a `Condvar`,
//! libuv's design): at most N tasks run at once, the rest wait in order, none is lost.
//!
//! # Waking threads: one at a time
//!
//! Waking a sleeping thread is a system call, and on two cores it also costs a context
//! switch, far more than a tiny task. So a submit wakes **one** idle thread, and only if no
//! wake-up is already on its way (`Queue::waking`); the thread it wakes passes the wake-up
//! on if work remains and another thread sleeps. A burst of tasks thus wakes the threads
//! one after another, each as soon as the last one is up, instead of once per task: while
//! the first wake-up travels, the loop queues more tasks without any system call, and the
//! woken thread takes them all. Waking every thread for every task (`notify_all`, as this
//! pool first did) made four threads fight over one task (a "thundering herd"), and
//! waking one per task still cost a system call per task: on a 2-core machine, 100,000
//! tiny tasks ran three to four times slower with `notify_all` than with this
//! (`benches/threadpool.rs`).
//! libuv signals one idle thread per task; Go's scheduler and rayon hand the wake-up on,
//! as here.
//!
//! No task is ever stranded: while the queue is not empty, some thread is awake (it will
//! come back to the queue before it sleeps) or a wake-up is in flight, and `waking` is
//! cleared only by a thread that has just returned from `wait` and looks at the queue.
//!
//! A second condition variable makes waits inside a task interruptible: a simulated slow
//! read waits on it with a timeout, so shutting the pool down (after a panic in a
//! callback, say) does not have to sit out the delay. It is separate so that a wake-up
//! meant for an idle thread can never be spent on a sleeping task instead.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Js, PollEvent, Recording, print::trace};

/// What kind of work a task is; printed by the loop's trace lines, as in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    FileRead,
    Encrypt,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::FileRead => f.write_str("File read"),
            EventKind::Encrypt => f.write_str("Encrypt"),
        }
    }
}

/// The work itself. It gets a [`Shutdown`] so that any waiting it does can be cut short.
pub(crate) type Work = Box<dyn FnOnce(&Shutdown) -> Js + Send + 'static>;

/// One unit of work for the pool (the book's `Event` struct, renamed because
/// `minimio::Event` is something else). The book's special "close" task is gone: shutting
/// down is a flag on the queue, so no thread can miss it.
pub(crate) struct Task {
    pub(crate) task: Work,
    pub(crate) callback_id: usize,
    pub(crate) kind: EventKind,
}

struct Queue {
    tasks: VecDeque<Task>,
    shutdown: bool,
    /// Threads blocked in `work.wait` (or just woken, and not yet back on the lock).
    idle: usize,
    /// A wake-up was signalled and no thread has returned from `wait` since.
    waking: bool,
}

impl Queue {
    /// Whether to wake one idle thread now: there is work, a thread sleeps, and no wake-up
    /// is already on its way. Marks the wake-up as on its way.
    fn should_wake(&mut self) -> bool {
        let wake = !self.tasks.is_empty() && self.idle > 0 && !self.waking;
        self.waking |= wake;
        wake
    }
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled (one thread) when a task is queued while a thread is idle; all threads
    /// at shutdown.
    work: Condvar,
    /// Signalled at shutdown only: ends the waits of tasks in [`Shutdown::sleep`].
    stop: Condvar,
}

impl Shared {
    /// Locks the queue. A worker never panics while holding the lock (tasks run outside
    /// it, inside `catch_unwind`), so a poisoned lock still holds consistent data; we
    /// take it rather than propagate a panic into the loop.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Lets a task wait in a way that shutdown can interrupt.
pub(crate) struct Shutdown {
    shared: Arc<Shared>,
}

impl Shutdown {
    /// Waits for `duration`, or less if the pool is shutting down. Returns `false` if it
    /// was interrupted.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        let Some(deadline) = Instant::now().checked_add(duration) else {
            // A delay past the end of time: wait until shutdown.
            let mut queue = self.shared.lock();
            while !queue.shutdown {
                queue = self
                    .shared
                    .stop
                    .wait(queue)
                    .unwrap_or_else(|e| e.into_inner());
            }
            return false;
        };
        let mut queue = self.shared.lock();
        loop {
            if queue.shutdown {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            queue = self
                .shared
                .stop
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A thread of the pool: the book's `NodeThread`, without its private channel.
struct NodeThread {
    handle: JoinHandle<()>,
}

/// A fixed number of threads in front of one FIFO queue.
pub(crate) struct ThreadPool {
    shared: Arc<Shared>,
    threads: Vec<NodeThread>,
}

impl ThreadPool {
    /// Starts `size` threads named `pool0`..`pool{size-1}`; each sends its results to
    /// `events`.
    pub(crate) fn new(
        size: usize,
        events: Sender<PollEvent>,
        verbose: bool,
        recording: &Recording,
    ) -> io::Result<ThreadPool> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                tasks: VecDeque::new(),
                shutdown: false,
                idle: 0,
                waking: false,
            }),
            work: Condvar::new(),
            stop: Condvar::new(),
        });
        let mut pool = ThreadPool {
            shared,
            threads: Vec::with_capacity(size),
        };
        for i in 0..size {
            let shared = Arc::clone(&pool.shared);
            let events = events.clone();
            let recording = recording.clone();
            let spawned = thread::Builder::new()
                .name(format!("pool{i}"))
                .spawn(move || worker(i, &shared, &events, verbose, &recording));
            match spawned {
                Ok(handle) => pool.threads.push(NodeThread { handle }),
                Err(e) => {
                    // Stop the threads already started before reporting the error.
                    pool.shutdown(true);
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// Queues a task; the first free thread takes it, in FIFO order.
    pub(crate) fn submit(&self, task: Task) {
        let mut queue = self.shared.lock();
        queue.tasks.push_back(task);
        let wake = queue.should_wake();
        drop(queue);
        // A thread counted in `idle` is waiting (it released the lock inside `wait`) or
        // already woken, so it cannot miss this signal.
        if wake {
            self.shared.work.notify_one();
        }
    }

    /// Stops every thread and waits for them. With `discard`, tasks still queued are
    /// dropped (after a panic, nobody is left to run their callbacks); otherwise the
    /// threads first finish what is queued.
    pub(crate) fn shutdown(&mut self, discard: bool) {
        {
            let mut queue = self.shared.lock();
            queue.shutdown = true;
            if discard {
                queue.tasks.clear();
            }
        }
        self.shared.work.notify_all();
        self.shared.stop.notify_all();
        for thread in self.threads.drain(..) {
            // A worker catches every panic of its tasks, so `join` only fails if the
            // thread itself was killed; there is nothing left to clean up then.
            let _ = thread.handle.join();
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown(true);
        }
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.threads.len())
            .finish()
    }
}

fn worker(
    id: usize,
    shared: &Arc<Shared>,
    events: &Sender<PollEvent>,
    verbose: bool,
    recording: &Recording,
) {
    let shutdown = Shutdown {
        shared: Arc::clone(shared),
    };
    loop {
        let (task, wake_another) = {
            let mut queue = shared.lock();
            loop {
                if let Some(task) = queue.tasks.pop_front() {
                    // More work and a thread asleep: pass the wake-up on.
                    break (task, queue.should_wake());
                }
                if queue.shutdown {
                    return;
                }
                queue.idle += 1;
                queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
                queue.idle -= 1;
                // Signalled or not, this thread is awake and looks at the queue before it
                // sleeps again: the wake-up in flight has done its job.
                queue.waking = false;
            }
        };
        if wake_another {
            shared.work.notify_one();
        }
        if verbose {
            trace(format_args!("received a task of type: {}", task.kind));
        }
        let Task {
            task,
            callback_id,
            kind,
        } = task;
        // FIX(book) R9: a panic inside a task used to kill the pool thread, no completion
        // was sent, and `run` waited forever. A panic is now an error value for the
        // callback, and the thread lives on.
        recording.job_begin(id, callback_id, kind);
        let result = panic::catch_unwind(AssertUnwindSafe(|| task(&shutdown)))
            .unwrap_or_else(|payload| Js::Error(io::Error::other(panic_message(&*payload))));
        recording.job_end(id, result.is_error());
        if verbose {
            trace(format_args!("finished running a task of type: {kind}."));
        }
        // The loop has gone away only when it is shutting down; the result has no
        // callback to go to any more.
        if events
            .send(PollEvent::Threadpool((id, callback_id, result)))
            .is_err()
        {
            return;
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("a thread pool task panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("a thread pool task panicked: {s}")
    } else {
        "a thread pool task panicked".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task {
            task: Box::new(|_| Js::Undefined),
            callback_id: 0,
            kind: EventKind::Encrypt,
        }
    }

    #[test]
    fn one_wake_up_at_a_time_and_only_for_work_and_a_sleeping_thread() {
        let mut q = Queue {
            tasks: VecDeque::new(),
            shutdown: false,
            idle: 2,
            waking: false,
        };
        assert!(!q.should_wake(), "no work: nobody to wake");
        q.tasks.push_back(task());
        assert!(q.should_wake());
        q.tasks.push_back(task());
        assert!(!q.should_wake(), "a wake-up is already on its way");
        q.waking = false; // the woken thread is up, takes a task, and sees one more
        q.tasks.pop_front();
        assert!(
            q.should_wake(),
            "it passes the wake-up on while work remains"
        );
        q.waking = false;
        q.idle = 0;
        assert!(
            !q.should_wake(),
            "every thread is busy: each comes back to the queue"
        );
    }
}
