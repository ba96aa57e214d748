//! Recording a run: which thread ran what, and when, kept as data to be drawn.
//!
//! Book: not in the book. The book teaches with `println!` lines ("Thread: pool1 received
//! a task of type: File read"); this module keeps the same facts as records, so that
//! [`Recording::svg`] and [`Recording::text_timeline`] can draw them as a picture and
//! [`Recording::chrome_trace_json`] can hand them to Perfetto or `chrome://tracing`.
//!
//! This file is the recorder: the records, the hooks the runtime calls, and the files it
//! writes when `run` ends. The rest of the folder reads the records, one concept a file:
//!
//! | file | what |
//! |---|---|
//! | `model.rs` | the records turned into spans, instants, flows and timers |
//! | `chrome.rs` | the model as a Chrome trace (Trace Event Format JSON) |
//! | `svg/` | the model drawn as an SVG picture (`plan.rs`, `draw.rs`, `legend.rs`) |
//! | `text.rs` | the model as rows of characters, for a terminal |
//! | `units.rs` | times for a reader, shared by both pictures |
//!
//! # What is recorded
//!
//! | thread | records |
//! |---|---|
//! | `main` | the main program; each tick and each of its phases; each callback (which registration, how long it ran, what it printed); each wait in the poll phase and what ended it; every registration, timer deadline and queued pool job |
//! | `pool0`..`poolN-1` | each job: when it started and finished |
//! | `epoll` | each `epoll_wait` (or `kevent`, `GetQueuedCompletionStatusEx`), and each socket event it forwarded |
//!
//! # What it costs
//!
//! A [`Recording`] is an `Option<Arc<..>>`. When recording is off (the default) every hook
//! is one test of that `Option` and nothing else: no clock read, no lock, no allocation,
//! and the runtime's code paths are the same ones it takes without recording. When it is
//! on, each hook reads the clock and pushes one small record onto a `Vec` behind a mutex
//! (`benches/trace_overhead.rs` measures both). All timestamps are taken under that mutex
//! from one `Instant` origin, so records from different threads are in one order and
//! their times agree. The one hook outside the loop, in `print`, first looks up the
//! running runtime in its thread-local slot: cheap next to the write to standard output
//! that comes before it.
//!
//! SIMPLIFICATION: one mutex for every thread. Tracers built for production (Perfetto's
//! SDK, `tracing-chrome`) give each thread its own buffer to avoid the contention; here
//! the pool threads record twice per job and the poll thread twice per wait, so the lock
//! is nearly always free and one `Vec` keeps the code short.

use std::fmt::{self, Display};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::PollEvent;
use super::threadpool::EventKind;
use super::timers::MAX_DELAY;

mod chrome;
mod model;
mod svg;
mod text;
mod units;

/// The record of one run: which thread ran what, and when.
///
/// Ask for one with [`RuntimeBuilder::record`](super::RuntimeBuilder::record) (or
/// [`trace`](super::RuntimeBuilder::trace) / [`timeline`](super::RuntimeBuilder::timeline),
/// which also write files when `run` ends), take a handle with
/// [`Runtime::recording`](super::Runtime::recording) before calling `run`, and read it
/// afterwards. A handle is cheap to clone; all clones share one record.
///
/// ```
/// use node_experiment::runtime::{set_timeout, Crypto, Runtime};
///
/// let rt = Runtime::builder().verbose(false).record(true).build().unwrap();
/// let recording = rt.recording();
/// rt.run(|| {
///     set_timeout(5, |_| {});
///     Crypto::encrypt(20, |_| {});
/// });
/// let text = recording.text_timeline();
/// assert!(text.contains("main") && text.contains("pool0") && text.contains("epoll"));
/// assert!(recording.chrome_trace_json().starts_with('{'));
/// assert!(recording.svg().contains("<svg"));
/// ```
///
/// A runtime built without recording hands out a handle that is off: it records nothing
/// and its pictures say so.
#[derive(Clone, Default)]
pub struct Recording(Option<Arc<Shared>>);

/// What every clone of a [`Recording`] that is on shares.
struct Shared {
    /// Time zero for every record, whichever thread writes it.
    origin: Instant,
    /// How many pool threads the runtime has: each gets a lane even if it never ran a job.
    threads: usize,
    /// Where to write the Chrome trace when the runtime shuts down.
    trace_path: Option<PathBuf>,
    /// Where to write the SVG timeline when the runtime shuts down.
    timeline_path: Option<PathBuf>,
    /// Every record, in the order the mutex was taken, which is also time order.
    records: Mutex<Vec<Record>>,
}

/// One moment on one thread.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Nanoseconds since [`Shared::origin`].
    t: u64,
    lane: Lane,
    what: What,
}

/// A thread of the runtime: one row of every picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Lane {
    /// The thread that called `run`, where every callback runs.
    Main,
    /// A pool thread, by its number.
    Pool(usize),
    /// The thread that waits on minimio's `Poll`.
    Epoll,
}

impl Lane {
    /// The lane's place from the top: `main`, then the pool in order, then `epoll`.
    pub(crate) fn index(self, threads: usize) -> usize {
        match self {
            Lane::Main => 0,
            Lane::Pool(i) => 1 + i,
            Lane::Epoll => 1 + threads,
        }
    }

    /// Every lane of a runtime with `threads` pool threads, top to bottom.
    pub(crate) fn all(threads: usize) -> impl Iterator<Item = Lane> {
        std::iter::once(Lane::Main)
            .chain((0..threads).map(Lane::Pool))
            .chain(std::iter::once(Lane::Epoll))
    }
}

impl Display for Lane {
    /// The thread's name, as `print` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lane::Main => f.write_str("main"),
            Lane::Pool(i) => write!(f, "pool{i}"),
            Lane::Epoll => f.write_str("epoll"),
        }
    }
}

/// The phases of a tick that can run callbacks (the other two do nothing here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Timers,
    Pending,
    Poll,
    Check,
}

impl Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Timers => "timers",
            Phase::Pending => "pending callbacks",
            Phase::Poll => "poll",
            Phase::Check => "check",
        })
    }
}

/// Which call registered a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Timeout(u64),
    Interval(u64),
    Immediate,
    NextTick,
    FileRead,
    Encrypt,
    Http,
    /// A callback whose registration was not recorded (cannot happen while every
    /// registering call has its hook; kept so a missing hook shows instead of panicking).
    Unknown,
}

impl Kind {
    /// Timers have deadlines, so they can be late.
    pub(crate) fn is_timer(self) -> bool {
        matches!(self, Kind::Timeout(_) | Kind::Interval(_))
    }
}

impl From<EventKind> for Kind {
    fn from(kind: EventKind) -> Kind {
        match kind {
            EventKind::FileRead => Kind::FileRead,
            EventKind::Encrypt => Kind::Encrypt,
        }
    }
}

impl Display for Kind {
    /// The call that registered the callback, as a program writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Timeout(ms) => write!(f, "set_timeout({ms})"),
            Kind::Interval(ms) => write!(f, "set_interval({ms})"),
            Kind::Immediate => f.write_str("set_immediate"),
            Kind::NextTick => f.write_str("next_tick"),
            Kind::FileRead => f.write_str("Fs::read"),
            Kind::Encrypt => f.write_str("Crypto::encrypt"),
            Kind::Http => f.write_str("Io::http_get_slow"),
            Kind::Unknown => f.write_str("callback"),
        }
    }
}

/// What woke the loop's thread in the poll phase (besides the next timer's deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Pool thread `thread` finished the job of callback `id`.
    Pool { thread: usize, id: usize },
    /// The socket registered with `token` is ready.
    Socket { token: usize },
    /// The poll thread failed.
    PollFailed,
}

impl Source {
    fn of(event: &PollEvent) -> Source {
        match event {
            PollEvent::Threadpool((thread, id, _)) => Source::Pool {
                thread: *thread,
                id: *id,
            },
            PollEvent::Epoll(token) => Source::Socket { token: *token },
            PollEvent::EpollFailed(_) => Source::PollFailed,
        }
    }
}

impl Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Pool { thread, id } => {
                write!(f, "pool{thread} finished the job of callback {id}")
            }
            Source::Socket { token } => write!(f, "the socket of callback {token} is ready"),
            Source::PollFailed => f.write_str("the poll thread failed"),
        }
    }
}

/// What happened at one moment. `...Begin` and `...End` pairs become spans.
#[derive(Debug, Clone)]
enum What {
    ProgramBegin,
    ProgramEnd,
    /// Tick `n` begins (and the previous one, if any, ends).
    Tick(u64),
    /// A phase begins (and the previous phase of the tick ends).
    Phase(Phase),
    /// The loop ends, and with it the last tick.
    LoopEnd,
    /// A callback starts running: `None` is a `next_tick` callback, which has no id.
    CallbackBegin(Option<usize>),
    CallbackEnd,
    /// The poll phase starts waiting, for at most this long (`None`: until an event).
    PollWait(Option<Duration>),
    /// The wait ended: an event (`Some`) or the timeout, that is, a timer is due (`None`).
    PollWoke(Option<Source>),
    /// Another event that was already waiting, handled in the same poll phase.
    AlsoReady(Source),
    Registered(usize, Kind),
    /// A timer was set (or an interval re-armed); `deadline` in ns since the origin.
    TimerSet {
        id: usize,
        kind: Option<Kind>,
        deadline: u64,
    },
    TimerCleared(usize),
    JobQueued(usize, EventKind),
    JobBegin(usize, EventKind),
    JobEnd {
        failed: bool,
    },
    EpollWaitBegin,
    EpollWaitEnd,
    EpollReady(usize),
    EpollClosed,
    Print(String),
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Recording(off)"),
            Some(shared) => f
                .debug_struct("Recording")
                .field("records", &shared.lock().len())
                .field("trace_path", &shared.trace_path)
                .field("timeline_path", &shared.timeline_path)
                .finish(),
        }
    }
}

impl Shared {
    /// Locks the records. Nothing panics while holding the lock, so a poisoned lock still
    /// holds whole records; we take them rather than lose the run.
    fn lock(&self) -> MutexGuard<'_, Vec<Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, lane: Lane, what: What) {
        let mut records = self.lock();
        // Read the clock under the lock: the order of the `Vec` is then also time order.
        let t = nanos(self.origin.elapsed());
        records.push(Record { t, lane, what });
    }

    fn since_origin(&self, at: Instant) -> u64 {
        nanos(at.saturating_duration_since(self.origin))
    }
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

// The hooks the runtime calls. Each is `#[inline]` and starts with the one test that
// makes it free when recording is off; what it records is built only when it is on.
impl Recording {
    /// A recording that is on, for a runtime with `threads` pool threads.
    pub(crate) fn new(
        threads: usize,
        trace_path: Option<PathBuf>,
        timeline_path: Option<PathBuf>,
    ) -> Recording {
        Recording(Some(Arc::new(Shared {
            origin: Instant::now(),
            threads,
            trace_path,
            timeline_path,
            records: Mutex::new(Vec::with_capacity(1024)),
        })))
    }

    #[inline]
    fn record(&self, lane: Lane, what: impl FnOnce() -> What) {
        if let Some(shared) = &self.0 {
            shared.push(lane, what());
        }
    }

    #[inline]
    pub(crate) fn program_begin(&self) {
        self.record(Lane::Main, || What::ProgramBegin);
    }

    #[inline]
    pub(crate) fn program_end(&self) {
        self.record(Lane::Main, || What::ProgramEnd);
    }

    #[inline]
    pub(crate) fn tick(&self, n: u64) {
        self.record(Lane::Main, || What::Tick(n));
    }

    #[inline]
    pub(crate) fn phase(&self, phase: Phase) {
        self.record(Lane::Main, || What::Phase(phase));
    }

    #[inline]
    pub(crate) fn loop_end(&self) {
        self.record(Lane::Main, || What::LoopEnd);
    }

    /// A callback starts: `id` is its callback id, `None` for a `next_tick` callback.
    #[inline]
    pub(crate) fn callback_begin(&self, id: Option<usize>) {
        self.record(Lane::Main, || What::CallbackBegin(id));
    }

    #[inline]
    pub(crate) fn callback_end(&self) {
        self.record(Lane::Main, || What::CallbackEnd);
    }

    #[inline]
    pub(crate) fn poll_wait(&self, timeout: Option<Duration>) {
        self.record(Lane::Main, || What::PollWait(timeout));
    }

    /// The poll phase's wait ended with `event`, or with its timeout if `None`.
    #[inline]
    pub(crate) fn poll_woke(&self, event: Option<&PollEvent>) {
        self.record(Lane::Main, || What::PollWoke(event.map(Source::of)));
    }

    #[inline]
    pub(crate) fn also_ready(&self, event: &PollEvent) {
        self.record(Lane::Main, || What::AlsoReady(Source::of(event)));
    }

    #[inline]
    pub(crate) fn registered(&self, id: usize, kind: Kind) {
        self.record(Lane::Main, || What::Registered(id, kind));
    }

    /// A timer was set at `now` to fire `delay` later (`kind` is `None` when an interval
    /// is re-armed: its registration was recorded when it was set).
    #[inline]
    pub(crate) fn timer_set(&self, id: usize, kind: Option<Kind>, now: Instant, delay: Duration) {
        if let Some(shared) = &self.0 {
            // The same deadline `Timers::insert` computes from the same `now`.
            let deadline = now.checked_add(delay.min(MAX_DELAY)).unwrap_or(now);
            let deadline = shared.since_origin(deadline);
            shared.push(Lane::Main, What::TimerSet { id, kind, deadline });
        }
    }

    #[inline]
    pub(crate) fn timer_cleared(&self, id: usize) {
        self.record(Lane::Main, || What::TimerCleared(id));
    }

    #[inline]
    pub(crate) fn job_queued(&self, id: usize, kind: EventKind) {
        self.record(Lane::Main, || What::JobQueued(id, kind));
    }

    #[inline]
    pub(crate) fn job_begin(&self, thread: usize, id: usize, kind: EventKind) {
        self.record(Lane::Pool(thread), || What::JobBegin(id, kind));
    }

    #[inline]
    pub(crate) fn job_end(&self, thread: usize, failed: bool) {
        self.record(Lane::Pool(thread), || What::JobEnd { failed });
    }

    #[inline]
    pub(crate) fn epoll_wait_begin(&self) {
        self.record(Lane::Epoll, || What::EpollWaitBegin);
    }

    #[inline]
    pub(crate) fn epoll_wait_end(&self) {
        self.record(Lane::Epoll, || What::EpollWaitEnd);
    }

    #[inline]
    pub(crate) fn epoll_ready(&self, token: usize) {
        self.record(Lane::Epoll, || What::EpollReady(token));
    }

    #[inline]
    pub(crate) fn epoll_closed(&self) {
        self.record(Lane::Epoll, || What::EpollClosed);
    }

    /// Writes the files asked for with `RuntimeBuilder::trace` and `timeline` (or the
    /// environment variables) and says, for each, where it went or why it could not.
    /// Called once, when the runtime has stopped all of its threads.
    pub(crate) fn write_files(&self) -> Vec<Result<String, String>> {
        let Some(shared) = &self.0 else {
            return Vec::new();
        };
        let write =
            |path: &Path, what: &str, contents: String| match write_atomically(path, &contents) {
                Ok(()) => Ok(format!(
                    "wrote the {what} of this run to {}",
                    path.display()
                )),
                Err(e) => Err(format!(
                    "could not write the {what} to {}: {e}",
                    path.display()
                )),
            };
        let mut said = Vec::new();
        if let Some(path) = &shared.trace_path {
            said.push(write(path, "trace", self.chrome_trace_json()));
        }
        if let Some(path) = &shared.timeline_path {
            said.push(write(path, "timeline", self.svg()));
        }
        said
    }
}

impl Recording {
    /// Whether this handle records: `false` for a runtime built without
    /// [`RuntimeBuilder::record`](super::RuntimeBuilder::record) (or `trace`, `timeline`,
    /// or their environment variables).
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }
}

/// Writes `contents` to a temporary file next to `path`, then renames it over `path`: a
/// reader (or another runtime writing the same path) never sees half a file.
fn write_atomically(path: &Path, contents: &str) -> io::Result<()> {
    // Unique per process and per call: two runtimes may finish at the same moment.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}-{n}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// The running program's name (`javascript` for `examples/javascript.rs`), for titles.
pub(crate) fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|p| {
            Path::new(&p)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// The environment variable that asks every runtime for a Chrome trace file.
pub(crate) const TRACE_VAR: &str = "NODE_EXPERIMENT_TRACE";
/// The environment variable that asks every runtime for an SVG timeline file.
pub(crate) const TIMELINE_VAR: &str = "NODE_EXPERIMENT_TIMELINE";

/// The path an environment variable names, if it is set and not empty.
pub(crate) fn path_from_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Records a `print` (or a `print_content`, with its description) made on the loop's
/// thread during `run`, so that the pictures can label each callback with what it
/// printed. Elsewhere, or when recording is off, it does nothing.
pub(crate) fn record_print(descr: Option<&str>, text: &dyn Display) {
    // `try_`: a print during the thread's teardown, or while the runtime is borrowed,
    // is simply not recorded.
    let _ = super::RUNTIME.try_with(|slot| {
        if let Ok(slot) = slot.try_borrow() {
            if let Some(rt) = slot.as_ref() {
                rt.recording.record(Lane::Main, || {
                    What::Print(match descr {
                        // As the oracle's specs name it: `FILE READ: Hello world! ...`.
                        Some(descr) => format!("{}: {text}", descr.to_uppercase()),
                        None => text.to_string(),
                    })
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_records_nothing() {
        let off = Recording::default();
        off.tick(1);
        off.callback_begin(Some(1));
        assert!(!off.is_on());
        assert!(off.model().is_none());
        assert!(off.write_files().is_empty());
    }

    #[test]
    fn off_draws_a_note() {
        let off = Recording::default();
        assert!(off.svg().contains("Recording was off"));
        assert!(off.text_timeline().contains("recording was off"));
    }
}
