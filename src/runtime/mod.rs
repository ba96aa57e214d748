//! The Node-style event loop: timers, a thread pool, a poll thread and a callback queue.
//!
//! Book: "The Node Experiment", chapter "Implementing the Node Eventloop".
//!
//! A "JavaScript" program is a Rust closure passed to [`Runtime::run`]. It runs to
//! completion first, on the calling thread (labelled `main`), and schedules work with
//! [`set_timeout`], [`Fs::read`], [`Crypto::encrypt`] and [`Io::http_get_slow`]. Each of
//! those takes a callback. `run` then loops, one **tick** at a time, until nothing is
//! pending; each tick walks Node's phases in order:
//!
//! | # | phase | here |
//! |---|---|---|
//! | 1 | timers | callbacks of every timer due at the start of the phase, deadline order |
//! | 2 | pending callbacks | I/O errors found while scheduling (a refused connection), deferred to here so no callback runs inside the call that scheduled it |
//! | 3 | idle, prepare | libuv-internal; nothing here |
//! | 4 | poll | wait for the pool or the poll thread, but no longer than the next timer; then handle **every** event that is ready and run its callback |
//! | 5 | check | [`set_immediate`] callbacks queued before the phase began |
//! | 6 | close callbacks | nothing here: sockets are closed when their request ends |
//!
//! The parts, each in its own file (this one keeps the loop: [`Runtime`], `run`, the tick
//! and its phases):
//! - `builder` — [`RuntimeBuilder`] and its defaults; `build` starts the threads;
//! - `node_api` — [`set_timeout`] and the other functions a program calls, and
//!   [`Timeout`];
//! - `timers` — one list per delay, as in Node, and a small heap of lists, all keyed by
//!   `(deadline, sequence)`;
//! - `callbacks` — the table of waiting callbacks, whose ids are never reused;
//! - `threadpool` — N threads behind one FIFO queue, for file reads and CPU work;
//! - `fs`, `crypto` — [`Fs::read`] and [`Crypto::encrypt`], which run on the pool;
//! - `epoll_thread` — the poll thread: runs [`minimio::Poll`](crate::minimio::Poll)
//!   and forwards each readiness event to the loop;
//! - `http` — the non-blocking HTTP client behind [`Io::http_get_slow`];
//! - `delay_server` — a local stand-in for the book's slow web service;
//! - `print` — [`print()`] and [`print_content`], which say which thread is talking;
//! - `trace` (not in the book, a folder) — a [`Recording`] of which thread ran what,
//!   and when, drawn as a text timeline, an SVG picture or a Chrome trace
//!   ([`RuntimeBuilder::record`], `NODE_EXPERIMENT_TIMELINE`, `NODE_EXPERIMENT_TRACE`).
//!
//! Between any two callbacks, the [`next_tick`] queue is drained completely, as Node does
//! with `process.nextTick`. A timer can be cancelled with [`clear_timeout`], and
//! [`set_interval`] repeats one.
//!
//! Everything that finishes elsewhere (a pool task, a socket event) comes back to the loop
//! as a `PollEvent` on one channel, and the loop's thread is the only one that runs
//! callbacks, as in Node.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use node_experiment::runtime::{print, set_timeout, Crypto, Runtime};
//!
//! let rt = Runtime::builder().verbose(false).build().unwrap();
//! rt.run(|| {
//!     set_timeout(10, |_| print("second"));
//!     Crypto::encrypt(10, |n| print(format!("fib(10) = {}", n.into_int().unwrap())));
//!     print("first: main runs to completion before any callback");
//! });
//! ```
//!
//! # Differences from the book
//!
//! - R1: timers are keyed by `(deadline, sequence)`; equal deadlines no longer overwrite
//!   each other (`timers.rs`).
//! - R2: a FIFO queue in front of the pool; the fifth concurrent task no longer panics
//!   "Out of threads." (`threadpool.rs`).
//! - R3: a callback id names a free slot of the callback table, with a generation that
//!   makes an old id name nothing; the book's counter loop stopped on a *taken* id
//!   (`generate_cb_identity`). The table is a slab, not a `HashMap` (`callbacks.rs`).
//! - R4: no `static mut RUNTIME`: the running loop lives in a thread-local slot, so the
//!   free functions reach it only on the loop's own thread and only during `run`; anywhere
//!   else they panic with a message, never touch freed memory.
//! - R5, R6: the loop's thread is the one place that decides how long to sleep: it waits
//!   on its event channel for at most the time to the next timer, measured in full
//!   precision (no `as_millis() as i32` rounding down to a busy loop, no poll thread
//!   sleeping forever because it read a stale timeout) (`poll_phase`, `epoll_thread.rs`).
//! - R7: every event that is ready is handled in the same poll phase, not one per tick.
//! - R8: `callbacks_to_run` is a FIFO queue, not a stack.
//! - R9: errors are values: a missing file, a refused connection or a panicking task reach
//!   the callback as [`Js::Error`], and the loop goes on.
//! - R10: the HTTP client never blocks the loop's thread (`http.rs`).
//! - R11: a local delay server replaces the dead public one (`delay_server.rs`).
//! - R12: the pool size is one constant, [`DEFAULT_THREADS`], and
//!   [`RuntimeBuilder::threads`] chooses another (`builder.rs`).
//! - R13: `print` from an unnamed thread no longer panics (`print.rs`).
//! - The simulated slow read waits on the pool's condition variable, not `thread::sleep`,
//!   so a panic in a callback ends `run` at once instead of after the delay.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::minimio::Registrator;

mod builder;
mod callbacks;
mod crypto;
mod delay_server;
mod epoll_thread;
mod fs;
mod http;
mod node_api;
mod print;
mod threadpool;
mod timers;
mod trace;

pub use builder::{DEFAULT_FS_DELAY, DEFAULT_THREADS, MAX_THREADS, RuntimeBuilder};
pub use crypto::Crypto;
pub use crypto::MAX_FIBONACCI_N;
pub use fs::Fs;
pub use http::{Io, MAX_RESPONSE};
pub use node_api::{
    Timeout, clear_interval, clear_timeout, next_tick, set_immediate, set_interval, set_timeout,
};
pub use print::{print, print_content};
pub use trace::Recording;

use callbacks::CallbackTable;
use delay_server::DelayServer;
use http::{HttpRequest, Progress};
use node_api::Interval;
use print::trace;
use threadpool::{EventKind, Task, ThreadPool};
use timers::Timers;
use trace::{Kind, Phase};

/// A value handed to a callback: the book's stand-in for a JavaScript value.
#[derive(Debug)]
pub enum Js {
    /// No value (a timer's callback gets this).
    Undefined,
    /// Text: a file's contents, an HTTP body.
    String(String),
    /// A number: the result of [`Crypto::encrypt`].
    Int(usize),
    /// The operation failed; the error says why.
    Error(io::Error),
}

impl Js {
    /// The text, if this is a `Js::String`.
    pub fn into_string(self) -> Option<String> {
        match self {
            Js::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is a `Js::Int`.
    pub fn into_int(self) -> Option<usize> {
        match self {
            Js::Int(n) => Some(n),
            _ => None,
        }
    }

    /// The error, if this is a `Js::Error`.
    pub fn into_error(self) -> Option<io::Error> {
        match self {
            Js::Error(e) => Some(e),
            _ => None,
        }
    }

    /// Whether this is a `Js::Error`.
    pub fn is_error(&self) -> bool {
        matches!(self, Js::Error(_))
    }
}

/// A callback waiting in the runtime's table.
///
/// Two pointers wide: the rare interval keeps its state behind a `Box`, so the table's
/// slots stay small for the common one-shot callback.
enum Callback {
    /// Runs once: every operation but an interval.
    Once(Box<dyn FnOnce(Js)>),
    /// An interval's callback, run each time its timer fires.
    Interval(Box<Interval>),
}

/// What the pool and the poll thread send to the loop: the book's `PollEvent`.
#[derive(Debug)]
pub(crate) enum PollEvent {
    /// A pool task finished: `(thread id, callback id, result)`.
    Threadpool((usize, usize, Js)),
    /// A socket registered with this token is ready.
    Epoll(usize),
    /// The poll thread hit an error it cannot recover from and stopped.
    EpollFailed(io::Error),
}

/// The event loop and everything it owns. Field names are the book's.
///
/// Create it with [`Runtime::new`] or [`Runtime::builder`], then hand your program to
/// [`Runtime::run`].
pub struct Runtime {
    /// Tells this runtime's [`Timeout`] handles from another's.
    id: u64,
    /// Callbacks ready to run now, with their argument, in the order they became ready.
    callbacks_to_run: VecDeque<(usize, Js)>,
    /// Every callback that is still waiting for its operation, by callback id.
    callback_queue: CallbackTable<Callback>,
    /// Callbacks of `set_immediate`, run in the check phase (phase 5).
    immediates: VecDeque<usize>,
    /// Callbacks of `next_tick`, run as soon as the current callback returns.
    next_ticks: VecDeque<Box<dyn FnOnce(Js)>>,
    /// Results found while scheduling (libuv's "pending" queue), run in phase 2.
    pending_queue: VecDeque<(usize, Js)>,
    /// Sockets waiting for an event; only printed, as in the book.
    epoll_pending_events: usize,
    /// Registers sockets with the poll thread's queue.
    epoll_registrator: Registrator,
    /// The thread that runs `Poll::poll` (joined on shutdown).
    epoll_thread: Option<JoinHandle<()>>,
    /// Where the pool and the poll thread report to the loop.
    event_receiver: Receiver<PollEvent>,
    /// Operations whose callback has not run yet; the loop ends when this reaches 0.
    pending_events: usize,
    /// The pool that runs file reads and CPU work.
    thread_pool: ThreadPool,
    /// Pending timers.
    timers: Timers,
    /// Scratch space for the timers phase (the book's `timers_to_remove`), kept to reuse
    /// its memory.
    timers_to_run: Vec<usize>,
    /// HTTP requests in flight, by their token (which is also their callback id).
    http_requests: HashMap<usize, HttpRequest>,
    /// The built-in delay server, once something needed it.
    delay_server: Option<DelayServer>,
    /// A delay server chosen with [`RuntimeBuilder::delay_server`].
    delay_server_addr: Option<SocketAddr>,
    /// How long [`Fs::read`] pretends to take.
    fs_delay: Duration,
    /// Whether the loop prints its trace lines.
    verbose: bool,
    /// Which thread ran what, and when: `Option<Arc<..>>` inside, so each hook costs one
    /// branch when recording is off (`trace/mod.rs`).
    recording: Recording,
}

// `const` already; clippy's `missing_const_for_thread_local` misfires on targets without
// native thread-locals (windows-gnu), see rust-lang/rust-clippy#17566.
thread_local! {
    #[allow(clippy::missing_const_for_thread_local)]
    /// The runtime that is running on this thread, if any.
    ///
    /// FIX(book) R4: the book stored a raw pointer to a local of `run` in a
    /// `static mut RUNTIME`: every call made a `&mut Runtime` out of thin air (aliasing
    /// the one `run` held), the pointer dangled after `run`, and a call from another
    /// thread was a data race. A thread-local slot is reachable only from the loop's own
    /// thread, holds the runtime only while `run` runs, and is borrowed only for the
    /// moment each call needs, never while a user callback runs.
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// Gives `f` the running runtime.
///
/// # Panics
///
/// Outside [`Runtime::run`], or on another thread than the one running it.
fn with_runtime<R>(what: &str, f: impl FnOnce(&mut Runtime) -> R) -> R {
    RUNTIME.with(|slot| {
        let mut slot = slot.try_borrow_mut().unwrap_or_else(|_| {
            panic!("{what} was called while the runtime was busy; this is a bug in node-experiment")
        });
        match slot.as_mut() {
            Some(rt) => f(rt),
            None => panic!(
                "{what} must be called inside Runtime::run, on the thread that called run \
                 (from the closure given to run or from a callback)"
            ),
        }
    })
}

impl Runtime {
    /// A runtime with the book's defaults: [`DEFAULT_THREADS`] pool threads and a
    /// simulated read latency of [`DEFAULT_FS_DELAY`], printing its trace lines.
    ///
    /// # Panics
    ///
    /// If the OS cannot start the threads or the event queue (say, when out of
    /// descriptors). [`Runtime::builder`]`().build()` returns that as an error instead.
    pub fn new() -> Runtime {
        Runtime::builder().build().unwrap_or_else(|e| {
            panic!(
                "Runtime::new could not start the runtime ({e}); \
                 use Runtime::builder().build() to handle this as an error"
            )
        })
    }

    /// A builder to choose the pool size, the read latency and the delay server.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A handle to this runtime's record of which thread ran what, and when; take it
    /// before `run` and read it after. It records only if the runtime was built with
    /// [`RuntimeBuilder::record`] (or `trace`, `timeline`, or their environment
    /// variables); otherwise it is off and records nothing.
    pub fn recording(&self) -> Recording {
        self.recording.clone()
    }

    /// Runs `f` (the "main" program), then the event loop until nothing is pending.
    ///
    /// The calling thread is labelled `main` while it runs. `run` returns once every
    /// callback has run, after stopping and joining all of its threads and closing every
    /// socket it opened.
    ///
    /// # Panics
    ///
    /// - If `f` or a callback panics: the pool and the poll thread are stopped (a
    ///   simulated read in progress is interrupted, queued tasks are dropped) and the panic
    ///   continues out of `run`, as an uncaught exception ends a Node program. A task that
    ///   is computing (a long [`Crypto::encrypt`]) is waited for.
    /// - If called inside another `run` on the same thread.
    pub fn run(self, f: impl FnOnce()) {
        let recording = self.recording.clone();
        RUNTIME.with(|slot| {
            let mut slot = slot.borrow_mut();
            assert!(
                slot.is_none(),
                "Runtime::run was called inside a running Runtime::run; run one runtime per thread at a time"
            );
            *slot = Some(self);
        });
        // On every way out, normal or panic, the guard takes the runtime back out of the
        // thread-local slot, stops its threads and restores the thread's label.
        let _guard = RunGuard {
            old_label: print::set_label(Some("main")),
        };
        recording.program_begin();
        f();
        recording.program_end();
        run_next_ticks(&recording);
        event_loop();
    }

    /// Stores a callback and returns its fresh id.
    ///
    /// FIX(book) R3: the book's loop `break`s on an id that is *taken* and returns it: a
    /// duplicate. Here the table hands out the id of a *free* slot, and the slot's
    /// generation makes it differ from every id the slot had before (`callbacks.rs`).
    fn generate_cb_identity(&mut self, cb: Callback) -> usize {
        self.callback_queue.insert(cb)
    }

    fn add_callback(&mut self, cb: impl FnOnce(Js) + 'static) -> usize {
        let id = self.generate_cb_identity(Callback::Once(Box::new(cb)));
        self.pending_events += 1;
        id
    }

    fn register_work(
        &mut self,
        task: impl FnOnce(&threadpool::Shutdown) -> Js + Send + 'static,
        kind: EventKind,
        cb: impl FnOnce(Js) + 'static,
    ) {
        let callback_id = self.add_callback(cb);
        // Before `submit`: a free pool thread may start the job at once.
        self.recording.job_queued(callback_id, kind);
        self.thread_pool.submit(Task {
            task: Box::new(task),
            callback_id,
            kind,
        });
    }

    /// Starts an HTTP request; its result reaches `cb` as [`Js::String`] or [`Js::Error`].
    fn http_get_slow(
        &mut self,
        server: Option<SocketAddr>,
        url: &str,
        delay_ms: u32,
        cb: impl FnOnce(Js) + 'static,
    ) {
        let token = self.add_callback(cb);
        self.recording.registered(token, Kind::Http);
        let started = match server {
            Some(addr) => Ok(addr),
            None => self.delay_server_addr(),
        }
        .and_then(|addr| HttpRequest::connect(addr, url, delay_ms));
        match started {
            Ok(request) => {
                self.http_requests.insert(token, request);
                self.epoll_pending_events += 1;
                if self.verbose {
                    let slot = callbacks::slot(token);
                    trace(format_args!("Event with id: {slot} registered."));
                }
                // Write the request now; the first registration waits for the rest.
                self.drive_http(token, true);
            }
            // Never call `cb` from inside the call that scheduled it: defer to phase 2.
            Err(e) => self.pending_queue.push_back((token, Js::Error(e))),
        }
    }

    fn delay_server_addr(&mut self) -> io::Result<SocketAddr> {
        if let Some(addr) = self.delay_server_addr {
            return Ok(addr);
        }
        let server = DelayServer::start()?;
        let addr = server.addr();
        self.delay_server = Some(server);
        self.delay_server_addr = Some(addr);
        Ok(addr)
    }

    /// Advances request `token` as far as its socket allows, then re-arms its one-shot
    /// registration or finishes it.
    fn drive_http(&mut self, token: usize, first: bool) {
        let Some(request) = self.http_requests.get_mut(&token) else {
            // An event for a request that already finished: nothing to do.
            return;
        };
        let outcome = match request.advance() {
            Progress::Wait(interests) => {
                let armed = if first {
                    self.epoll_registrator
                        .register(&request.stream, token, interests)
                } else {
                    self.epoll_registrator
                        .reregister(&request.stream, token, interests)
                };
                match armed {
                    Ok(()) => return,
                    Err(e) => Err(e),
                }
            }
            Progress::Done(result) => result,
        };
        // Dropping the request closes its socket, which also removes its registration.
        self.http_requests.remove(&token);
        self.epoll_pending_events -= 1;
        let js = match outcome {
            Ok(body) => Js::String(body),
            Err(e) => Js::Error(e),
        };
        if first {
            self.pending_queue.push_back((token, js));
        } else {
            self.callbacks_to_run.push_back((token, js));
        }
    }

    /// Phase 1: queue the callbacks of every timer that is due.
    fn process_expired_timers(&mut self) {
        let mut due = std::mem::take(&mut self.timers_to_run);
        self.timers.drain_expired(Instant::now(), &mut due);
        self.callbacks_to_run
            .extend(due.drain(..).map(|id| (id, Js::Undefined)));
        self.timers_to_run = due;
    }

    /// How long the poll phase may wait: not at all if deferred work is queued, until the
    /// next timer if there is one, otherwise until an event arrives.
    fn poll_timeout(&mut self) -> Option<Duration> {
        if !self.pending_queue.is_empty()
            || !self.callbacks_to_run.is_empty()
            || !self.immediates.is_empty()
        {
            return Some(Duration::ZERO);
        }
        let now = Instant::now();
        self.timers
            .next_deadline()
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    fn handle_event(&mut self, event: PollEvent) {
        match event {
            PollEvent::Threadpool((_thread_id, callback_id, data)) => {
                self.callbacks_to_run.push_back((callback_id, data));
            }
            PollEvent::Epoll(token) => self.drive_http(token, false),
            PollEvent::EpollFailed(e) => {
                // Without a poll thread no socket event will ever come: fail every request
                // in flight rather than wait forever.
                for (token, _request) in self.http_requests.drain() {
                    self.epoll_pending_events -= 1;
                    let err = io::Error::new(e.kind(), format!("the poll thread failed: {e}"));
                    self.callbacks_to_run.push_back((token, Js::Error(err)));
                }
            }
        }
    }

    /// Takes every callback still waiting (after a panic), for `RunGuard` to drop outside
    /// the runtime; `None` if there is none.
    #[allow(clippy::type_complexity)]
    fn take_pending(
        &mut self,
    ) -> Option<(
        CallbackTable<Callback>,
        VecDeque<Box<dyn FnOnce(Js)>>,
        VecDeque<(usize, Js)>,
        VecDeque<(usize, Js)>,
    )> {
        if self.callback_queue.is_empty()
            && self.next_ticks.is_empty()
            && self.callbacks_to_run.is_empty()
            && self.pending_queue.is_empty()
        {
            return None;
        }
        Some((
            std::mem::take(&mut self.callback_queue),
            std::mem::take(&mut self.next_ticks),
            std::mem::take(&mut self.callbacks_to_run),
            std::mem::take(&mut self.pending_queue),
        ))
    }

    /// Stops and joins every thread the runtime started, and closes its sockets.
    fn shutdown(&mut self) {
        // Queued tasks are dropped: on a normal exit there are none, after a panic nobody
        // is left to run their callbacks.
        self.thread_pool.shutdown(true);
        // The poll thread ends when `close_loop` wakes it. If that failed (it needs one
        // descriptor write), joining could hang; leaving the thread is the lesser evil.
        if self.epoll_registrator.close_loop().is_ok() {
            if let Some(handle) = self.epoll_thread.take() {
                let _ = handle.join();
            }
        }
        self.http_requests.clear();
        self.delay_server = None;
        // Every thread has stopped, so the record is complete: write the files asked for.
        for said in self.recording.write_files() {
            match said {
                Ok(line) if self.verbose => trace(format_args!("{line}")),
                Ok(_) => {}
                Err(line) => trace(format_args!("{line}")),
            }
        }
        if self.verbose {
            trace(format_args!("FINISHED"));
        }
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("pending_events", &self.pending_events)
            .field("callbacks", &self.callback_queue.len())
            .field("timers", &self.timers.len())
            .field("thread_pool", &self.thread_pool)
            .field("fs_delay", &self.fs_delay)
            .finish_non_exhaustive()
    }
}

/// Takes the runtime out of the thread-local slot when `run` ends, however it ends.
struct RunGuard {
    old_label: Option<&'static str>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        // After a panic, callbacks are still waiting; they are dropped, never run. Drop
        // them while the runtime is still in its slot (and not borrowed): what a callback
        // captured may call the runtime from its destructor (an RAII guard that schedules
        // clean-up, say), and that call must find it; panicking there, inside the unwinding
        // panic, would abort the process. What such a destructor schedules is dropped the
        // same way, on the next pass.
        while let Some(pending) = RUNTIME.with(|slot| {
            let mut slot = slot.try_borrow_mut().ok()?;
            slot.as_mut()?.take_pending()
        }) {
            drop(pending);
        }
        // `try_`: if the slot is somehow still borrowed we cannot take it; the runtime
        // then stays until the thread ends rather than panicking inside a panic.
        let rt = RUNTIME.with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()));
        drop(rt); // `Runtime::drop` shuts down and joins.
        print::set_label(self.old_label);
    }
}

/// The loop: one tick per iteration, Node's phases in order.
fn event_loop() {
    let recording = with_runtime("the event loop", |rt| rt.recording.clone());
    let mut ticks = 0;
    while with_runtime("the event loop", |rt| rt.pending_events) > 0 {
        ticks += 1;
        if verbose() {
            trace(format_args!("===== TICK {ticks} ====="));
        }
        recording.tick(ticks);

        // ===== 1. TIMERS =====
        recording.phase(Phase::Timers);
        with_runtime("the timers phase", Runtime::process_expired_timers);
        run_callbacks();

        // ===== 2. PENDING CALLBACKS =====
        // Results that were known while scheduling (a refused connection): deferred to
        // here so that no callback ever runs inside the call that scheduled it.
        recording.phase(Phase::Pending);
        with_runtime("the pending phase", |rt| {
            let pending = std::mem::take(&mut rt.pending_queue);
            rt.callbacks_to_run.extend(pending);
        });
        run_callbacks();

        // ===== 3. IDLE / PREPARE =====
        // libuv's internal housekeeping; nothing to do here.

        // ===== 4. POLL =====
        if with_runtime("the poll phase", |rt| rt.pending_events) == 0 {
            break;
        }
        recording.phase(Phase::Poll);
        poll_phase();
        run_callbacks();

        // ===== 5. CHECK =====
        // `set_immediate` callbacks queued before this phase began, in creation order;
        // those they queue wait for the next tick's check phase.
        recording.phase(Phase::Check);
        with_runtime("the check phase", |rt| {
            let batch = std::mem::take(&mut rt.immediates);
            rt.callbacks_to_run
                .extend(batch.into_iter().map(|id| (id, Js::Undefined)));
        });
        run_callbacks();

        // ===== 6. CLOSE CALLBACKS =====
        // Node runs `close` handlers here. Our sockets are closed as soon as their
        // request ends (in the poll phase), and nothing else needs closing.
    }
    recording.loop_end();
}

fn verbose() -> bool {
    with_runtime("the event loop", |rt| rt.verbose)
}

/// Waits for the first event (no longer than the next timer), then takes every event that
/// is already waiting too.
///
/// FIX(book) R7: the book handled one event per tick; everything that is ready now is
/// handled in this phase.
fn poll_phase() {
    with_runtime("the poll phase", |rt| {
        let timeout = rt.poll_timeout();
        rt.recording.poll_wait(timeout);
        let first = match timeout {
            None => rt
                .event_receiver
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
            Some(timeout) => rt.event_receiver.recv_timeout(timeout),
        };
        rt.recording.poll_woke(first.as_ref().ok());
        match first {
            Ok(event) => rt.handle_event(event),
            // The next timer is due: the timers phase of the next tick takes it.
            Err(RecvTimeoutError::Timeout) => return,
            // Every pool thread and the poll thread hold a sender until shutdown, and no
            // thread of ours dies before sending (tasks run under `catch_unwind`), so the
            // channel cannot close while work is pending.
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the runtime's threads stopped while {} operations were pending; this is a bug in node-experiment",
                rt.pending_events
            ),
        }
        while let Ok(event) = rt.event_receiver.try_recv() {
            rt.recording.also_ready(&event);
            rt.handle_event(event);
        }
    });
}

/// Runs every queued callback, oldest first, without holding the runtime while a callback
/// runs (it may schedule more work).
///
/// FIX(book) R8: the book `pop`ped from a `Vec`, running the newest first.
fn run_callbacks() {
    let recording = with_runtime("run_callbacks", |rt| rt.recording.clone());
    loop {
        let job = with_runtime("run_callbacks", |rt| {
            let (id, data) = rt.callbacks_to_run.pop_front()?;
            Some(match rt.callback_queue.get_mut(id) {
                Some(Callback::Interval(interval)) => {
                    interval.cb.take().map(|f| Job::Repeat(id, f))
                }
                Some(Callback::Once(_)) => match rt.callback_queue.remove(id) {
                    Some(Callback::Once(cb)) => {
                        rt.pending_events -= 1;
                        Some(Job::Once(id, cb, data))
                    }
                    _ => None,
                },
                // Cleared after it was queued: nothing to run.
                None => None,
            })
        });
        match job {
            None => return,
            Some(Some(Job::Once(id, cb, data))) => {
                recording.callback_begin(Some(id));
                cb(data);
                recording.callback_end();
            }
            Some(Some(Job::Repeat(id, mut f))) => {
                let fired = Instant::now();
                recording.callback_begin(Some(id));
                f(Js::Undefined);
                recording.callback_end();
                // Dropped here, after the runtime is released (see `Runtime::clear`).
                drop(with_runtime("set_interval", |rt| {
                    rt.rearm_interval(id, f, fired)
                }));
            }
            Some(None) => {}
        }
        run_next_ticks(&recording);
    }
}

/// A callback taken out of the table to run without holding the runtime.
enum Job {
    Once(usize, Box<dyn FnOnce(Js)>, Js),
    Repeat(usize, Box<dyn FnMut(Js)>),
}

/// Drains the next-tick queue, including ticks queued by ticks.
fn run_next_ticks(recording: &Recording) {
    while let Some(cb) = with_runtime("next_tick", |rt| rt.next_ticks.pop_front()) {
        recording.callback_begin(None);
        cb(Js::Undefined);
        recording.callback_end();
    }
}

// The "modules" a JavaScript program imports call into the runtime through these.
pub(crate) fn register_work(
    what: &str,
    task: impl FnOnce(&threadpool::Shutdown) -> Js + Send + 'static,
    kind: EventKind,
    cb: impl FnOnce(Js) + 'static,
) {
    with_runtime(what, |rt| rt.register_work(task, kind, cb));
}

pub(crate) fn fs_delay(what: &str) -> Duration {
    with_runtime(what, |rt| rt.fs_delay)
}

pub(crate) fn start_http(
    server: Option<SocketAddr>,
    url: &str,
    delay_ms: u32,
    cb: impl FnOnce(Js) + 'static,
) {
    with_runtime("Io::http_get_slow", |rt| {
        rt.http_get_slow(server, url, delay_ms, cb)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_ids_are_never_handed_out_twice() {
        let mut rt = Runtime::builder().verbose(false).build().unwrap();
        let a = rt.generate_cb_identity(Callback::Once(Box::new(|_| {})));
        let b = rt.generate_cb_identity(Callback::Once(Box::new(|_| {})));
        // The book handed out an id that was *taken*; a live id is never handed out again.
        assert_ne!(a, b);
        // A freed slot is reused under a new id, so an old handle names nothing.
        assert!(rt.callback_queue.remove(a).is_some());
        let c = rt.generate_cb_identity(Callback::Once(Box::new(|_| {})));
        assert_ne!(c, a);
        assert_ne!(c, b);
        assert!(rt.callback_queue.get_mut(a).is_none());
        assert!(rt.callback_queue.remove(b).is_some() && rt.callback_queue.remove(c).is_some());
    }
}
