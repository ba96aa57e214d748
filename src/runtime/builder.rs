//! The builder: how a [`Runtime`] is configured and started.
//!
//! Book: "Implementing the Node Eventloop", `Runtime::new` (its "THE REGULAR THREADPOOL"
//! and "EPOLL THREAD" set-up).
//!
//! The book fixed four pool threads in `Runtime::new` and a one-second sleep in `Fs::read`,
//! and `expect`ed every call to the OS. Here the choices live in a [`RuntimeBuilder`]
//! whose defaults are the book's ([`DEFAULT_THREADS`], [`DEFAULT_FS_DELAY`]).
//! [`RuntimeBuilder::build`] starts the pool and the poll thread and returns what the OS
//! refused as an `io::Error`; [`Runtime::new`] is the same with a panic instead.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::minimio::Poll;

use super::callbacks::CallbackTable;
use super::epoll_thread::epoll_thread;
use super::threadpool::ThreadPool;
use super::timers::Timers;
use super::{Recording, Runtime, trace};

/// Gives each runtime its own id (see [`Timeout`]).
///
/// [`Timeout`]: super::Timeout
static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(0);

/// The pool size when none is chosen: 4, as in the book (and libuv).
pub const DEFAULT_THREADS: usize = 4;

/// The most pool threads a runtime starts: 1024, libuv's limit for
/// `UV_THREADPOOL_SIZE`. More threads than that only cost memory and scheduling.
pub const MAX_THREADS: usize = 1024;

/// How long [`Fs::read`] pretends a read takes when none is chosen: 1 s, as in the book.
///
/// [`Fs::read`]: super::Fs::read
pub const DEFAULT_FS_DELAY: Duration = Duration::from_secs(1);

/// Chooses how a [`Runtime`] is built. Start from [`Runtime::builder`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    threads: usize,
    fs_delay: Duration,
    delay_server: Option<SocketAddr>,
    verbose: bool,
    record: bool,
    trace: Option<PathBuf>,
    timeline: Option<PathBuf>,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            threads: DEFAULT_THREADS,
            fs_delay: DEFAULT_FS_DELAY,
            delay_server: None,
            verbose: true,
            record: false,
            trace: trace::path_from_env(trace::TRACE_VAR),
            timeline: trace::path_from_env(trace::TIMELINE_VAR),
        }
    }
}

impl RuntimeBuilder {
    /// How many pool threads run [`Fs::read`] and [`Crypto::encrypt`] tasks (default
    /// [`DEFAULT_THREADS`], at most [`MAX_THREADS`]). More tasks than threads wait in a
    /// FIFO queue.
    ///
    /// [`Fs::read`]: super::Fs::read
    /// [`Crypto::encrypt`]: super::Crypto::encrypt
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// How long each [`Fs::read`] pretends to take before reading (default
    /// [`DEFAULT_FS_DELAY`]), so a small file behaves like a large one. Tests shorten it.
    ///
    /// [`Fs::read`]: super::Fs::read
    pub fn fs_delay(mut self, delay: Duration) -> Self {
        self.fs_delay = delay;
        self
    }

    /// Sends [`Io::http_get_slow`] requests to the server at `addr` instead of starting
    /// the built-in delay server.
    ///
    /// [`Io::http_get_slow`]: super::Io::http_get_slow
    pub fn delay_server(mut self, addr: SocketAddr) -> Self {
        self.delay_server = Some(addr);
        self
    }

    /// Whether the loop prints its own trace lines (ticks, tasks, events) on standard
    /// error, as the book's runtime does (default `true`).
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Whether the runtime records which thread ran what, and when (default `false`):
    /// read the record through [`Runtime::recording`], as a text timeline, an SVG picture
    /// or a Chrome trace. Off, recording costs one branch per hook and nothing else.
    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// Records the run and writes it to `path` in the Chrome Trace Event format when the
    /// runtime shuts down, to open in [Perfetto](https://ui.perfetto.dev) or
    /// `chrome://tracing` (see [`Recording::chrome_trace_json`]). The default is the path
    /// in the environment variable `NODE_EXPERIMENT_TRACE`, if set.
    pub fn trace(mut self, path: impl Into<PathBuf>) -> Self {
        self.trace = Some(path.into());
        self
    }

    /// Records the run and draws it as an SVG picture at `path` when the runtime shuts
    /// down, to open in any browser (see [`Recording::svg`]). The default is the path in
    /// the environment variable `NODE_EXPERIMENT_TIMELINE`, if set.
    pub fn timeline(mut self, path: impl Into<PathBuf>) -> Self {
        self.timeline = Some(path.into());
        self
    }

    /// Starts the pool threads and the poll thread.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `threads(0)` or more than [`MAX_THREADS`]; otherwise what the OS says when it cannot create
    /// the event queue or a thread.
    pub fn build(self) -> io::Result<Runtime> {
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a runtime needs 1 to {MAX_THREADS} pool threads, not {}: \
                     use RuntimeBuilder::threads(n) with n in that range",
                    self.threads
                ),
            ));
        }
        let recording = if self.record || self.trace.is_some() || self.timeline.is_some() {
            Recording::new(self.threads, self.trace.clone(), self.timeline.clone())
        } else {
            Recording::default()
        };
        let (event_sender, event_receiver) = mpsc::channel();
        let thread_pool =
            ThreadPool::new(self.threads, event_sender.clone(), self.verbose, &recording)?;
        let poll = Poll::new()?;
        let epoll_registrator = poll.registrator();
        let verbose = self.verbose;
        let epoll_recording = recording.clone();
        let epoll_thread = thread::Builder::new()
            .name("epoll".to_string())
            .spawn(move || epoll_thread(poll, &event_sender, verbose, &epoll_recording))?;
        Ok(Runtime {
            id: NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed),
            callbacks_to_run: VecDeque::new(),
            callback_queue: CallbackTable::default(),
            immediates: VecDeque::new(),
            next_ticks: VecDeque::new(),
            pending_queue: VecDeque::new(),
            epoll_pending_events: 0,
            epoll_registrator,
            epoll_thread: Some(epoll_thread),
            event_receiver,
            pending_events: 0,
            thread_pool,
            timers: Timers::default(),
            timers_to_run: Vec::new(),
            http_requests: HashMap::new(),
            delay_server: None,
            delay_server_addr: self.delay_server,
            fs_delay: self.fs_delay,
            verbose: self.verbose,
            recording,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_is_an_error_not_a_hang() {
        let err = Runtime::builder().threads(0).build().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
