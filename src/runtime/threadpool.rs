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
//! The same condition variable makes waits inside a task interruptible: a simulated slow
//! read waits on it with a timeout, so shutting the pool down (after a panic in a
//! callback, say) does not have to sit out the delay.

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
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a task is queued and when the pool shuts down.
    cond: Condvar,
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
                    .cond
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
                .cond
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
            }),
            cond: Condvar::new(),
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
        self.shared.lock().tasks.push_back(task);
        self.shared.cond.notify_all();
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
        self.shared.cond.notify_all();
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
        let task = {
            let mut queue = shared.lock();
            loop {
                if let Some(task) = queue.tasks.pop_front() {
                    break task;
                }
                if queue.shutdown {
                    return;
                }
                queue = shared.cond.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
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
