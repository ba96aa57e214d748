//! Recording a run: which thread ran what, and when, kept as data to be drawn.
//!
//! Book: not in the book. The book teaches with `println!` lines ("Thread: pool1 received
//! a task of type: File read"); this module keeps the same facts as records, so that
//! `timeline` can draw them as a picture and [`Recording::chrome_trace_json`] can hand
//! them to Perfetto or `chrome://tracing`.
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
//!
//! # From records to spans
//!
//! The hooks record *moments*: "tick 3 begins", "callback 7 begins", "callback ends". The
//! [`Model`] turns them into spans (a begin and an end on one thread) that nest, like the
//! calls they describe: a tick holds its phases, a phase holds its callbacks and its wait.
//! A span still open when the record ends (a callback that panicked) is closed at the last
//! moment recorded and marked unfinished, so every picture has only closed spans.
//!
//! # The Chrome trace
//!
//! [`Recording::chrome_trace_json`] writes the Trace Event Format ("JSON Object Format"):
//! one thread per lane (`main`, `pool0`.., `epoll`), a complete event (`"ph":"X"`) per
//! span, instant events (`"i"`) for wake-ups, socket events and `print`s, nestable async
//! events (`"b"`/`"e"`) for timers (from `set_timeout` to the moment the callback ran, with
//! the lateness inside), and flow events (`"s"`/`"f"`) that draw arrows from a job's
//! completion to its callback, from a socket event to the callback it finished, and from
//! the callback that queued a job to the job.

use std::collections::HashMap;
use std::fmt::{self, Display, Write as _};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::PollEvent;
use super::threadpool::EventKind;
use super::timers::MAX_DELAY;

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

// ---------------------------------------------------------------------------------------
// The model: spans, instants, flows and timers, built from the records.
// ---------------------------------------------------------------------------------------

/// A recording turned into what the pictures draw. All times are ns since the origin.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) threads: usize,
    /// The first and last moments recorded.
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) ticks: u64,
    pub(crate) spans: Vec<Span>,
    pub(crate) marks: Vec<Mark>,
    pub(crate) flows: Vec<Flow>,
    pub(crate) timers: Vec<TimerRun>,
}

/// Something that took time on one thread.
#[derive(Debug)]
pub(crate) struct Span {
    pub(crate) lane: Lane,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) what: SpanKind,
    /// Still open when the record ended (the run panicked): closed at [`Model::end`].
    pub(crate) unfinished: bool,
}

impl Span {
    pub(crate) fn duration(&self) -> u64 {
        self.end - self.start
    }

    /// A moment strictly inside the span, as near `t` as possible: a flow event there
    /// binds to this span and not to its neighbour.
    fn point_in(&self, t: u64) -> u64 {
        if self.end - self.start < 2 {
            self.start
        } else {
            t.clamp(self.start + 1, self.end - 1)
        }
    }
}

#[derive(Debug)]
pub(crate) enum SpanKind {
    /// The closure given to `run`.
    Program {
        prints: Vec<String>,
    },
    Tick(u64),
    Phase {
        tick: u64,
        phase: Phase,
    },
    Callback(CallbackRun),
    /// The poll phase waiting for an event.
    PollWait {
        timeout: Option<Duration>,
        /// `None`: the wait timed out because a timer was due.
        woke: Option<Source>,
    },
    Job {
        id: usize,
        kind: EventKind,
        queued: Option<u64>,
        failed: bool,
    },
    /// The poll thread blocked in the OS.
    EpollWait,
    /// The poll thread handing what the OS reported to the loop.
    EpollForward,
}

/// One callback run on the loop's thread.
#[derive(Debug)]
pub(crate) struct CallbackRun {
    /// `None` for `next_tick` callbacks, which have no id.
    pub(crate) id: Option<usize>,
    pub(crate) kind: Kind,
    /// Where it ran: `None` before the first tick (a `next_tick` of the main program).
    pub(crate) tick: Option<u64>,
    pub(crate) phase: Option<Phase>,
    /// For a timer: how long after its deadline it started.
    pub(crate) late: Option<u64>,
    pub(crate) prints: Vec<String>,
}

impl CallbackRun {
    /// A short name: the first line it printed, or else the call that registered it.
    pub(crate) fn label(&self) -> String {
        match self.prints.first() {
            Some(line) => line.clone(),
            None => self.kind.to_string(),
        }
    }
}

/// Something that happened at one moment.
#[derive(Debug)]
pub(crate) struct Mark {
    pub(crate) lane: Lane,
    pub(crate) t: u64,
    pub(crate) what: MarkKind,
}

#[derive(Debug)]
pub(crate) enum MarkKind {
    /// The poll phase's wait ended: an event, or `None` for "a timer is due".
    Woke(Option<Source>),
    AlsoReady(Source),
    Queued {
        id: usize,
        kind: EventKind,
    },
    SocketReady {
        token: usize,
    },
    PollClosed,
    Print(String),
}

/// An arrow from one span to another: a cause and its effect on another thread.
#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) kind: FlowKind,
    /// Indexes into [`Model::spans`].
    pub(crate) from: usize,
    pub(crate) to: usize,
    /// Where the arrow leaves and arrives: moments strictly inside `from` and `to`.
    pub(crate) from_t: u64,
    pub(crate) to_t: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowKind {
    /// From the callback that queued a job to the job, on the thread that took it.
    Queued,
    /// From a finished job to its callback.
    Result,
    /// From the socket event that finished a request to its callback.
    Socket,
}

/// One arming of a timer: set, due, and fired (or cleared).
#[derive(Debug)]
pub(crate) struct TimerRun {
    pub(crate) id: usize,
    pub(crate) kind: Kind,
    pub(crate) set: u64,
    pub(crate) deadline: u64,
    /// When its callback started.
    pub(crate) fired: Option<u64>,
    pub(crate) cleared: Option<u64>,
}

impl Recording {
    /// Whether this handle records: `false` for a runtime built without
    /// [`RuntimeBuilder::record`](super::RuntimeBuilder::record) (or `trace`, `timeline`,
    /// or their environment variables).
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The spans, instants, flows and timers of the record so far; `None` when off.
    pub(crate) fn model(&self) -> Option<Model> {
        let shared = self.0.as_ref()?;
        let records = shared.lock().clone();
        Some(Model::build(shared.threads, &records))
    }
}

/// Turns records into spans, one pass in time order.
struct ModelBuilder {
    model: Model,
    /// Spans opened by a `...Begin` record and not yet ended, per lane, innermost last.
    open: HashMap<Lane, Vec<usize>>,
    tick: Option<usize>,
    phase: Option<usize>,
    forward: Option<usize>,
    kinds: HashMap<usize, Kind>,
    /// The latest arming of each timer, by callback id: an index into `model.timers`.
    armed: HashMap<usize, usize>,
    /// Queued jobs not yet started: callback id -> (when, the span that queued it).
    queued: HashMap<usize, (u64, Option<usize>)>,
    /// Socket events by token: (when, the forwarding span it happened in).
    ready: HashMap<usize, (u64, usize)>,
    /// Jobs that finished: callback id -> job span, waiting for their callback.
    finished_jobs: HashMap<usize, usize>,
    /// Queued jobs: job span -> the span that queued it and when.
    queue_flows: Vec<(usize, usize, u64)>,
}

impl Model {
    fn build(threads: usize, records: &[Record]) -> Model {
        let start = records.first().map_or(0, |r| r.t);
        let end = records.last().map_or(start, |r| r.t);
        let mut b = ModelBuilder {
            model: Model {
                threads,
                start,
                end,
                ticks: 0,
                spans: Vec::new(),
                marks: Vec::new(),
                flows: Vec::new(),
                timers: Vec::new(),
            },
            open: HashMap::new(),
            tick: None,
            phase: None,
            forward: None,
            kinds: HashMap::new(),
            armed: HashMap::new(),
            queued: HashMap::new(),
            ready: HashMap::new(),
            finished_jobs: HashMap::new(),
            queue_flows: Vec::new(),
        };
        for record in records {
            b.add(record);
        }
        b.finish()
    }
}

impl ModelBuilder {
    fn open_span(&mut self, lane: Lane, t: u64, what: SpanKind) -> usize {
        self.model.spans.push(Span {
            lane,
            start: t,
            end: t,
            what,
            unfinished: true,
        });
        self.model.spans.len() - 1
    }

    fn close(&mut self, span: Option<usize>, t: u64) {
        if let Some(i) = span {
            self.model.spans[i].end = t;
            self.model.spans[i].unfinished = false;
        }
    }

    fn begin(&mut self, lane: Lane, t: u64, what: SpanKind) -> usize {
        let i = self.open_span(lane, t, what);
        self.open.entry(lane).or_default().push(i);
        i
    }

    /// Ends the innermost open span of `lane`, and returns it.
    fn end(&mut self, lane: Lane, t: u64) -> Option<usize> {
        let i = self.open.get_mut(&lane)?.pop()?;
        self.close(Some(i), t);
        Some(i)
    }

    /// The innermost span open on the loop's thread that runs user code (a callback or
    /// the main program), if any.
    fn running(&self) -> Option<usize> {
        self.open
            .get(&Lane::Main)?
            .iter()
            .rev()
            .copied()
            .find(|&i| {
                matches!(
                    self.model.spans[i].what,
                    SpanKind::Callback(_) | SpanKind::Program { .. }
                )
            })
    }

    fn mark(&mut self, lane: Lane, t: u64, what: MarkKind) {
        self.model.marks.push(Mark { lane, t, what });
    }

    fn add(&mut self, record: &Record) {
        let Record { t, lane, ref what } = *record;
        match what {
            What::ProgramBegin => {
                self.begin(lane, t, SpanKind::Program { prints: Vec::new() });
            }
            What::ProgramEnd | What::CallbackEnd => {
                self.end(lane, t);
            }
            What::Tick(n) => {
                let open = self.phase.take();
                self.close(open, t);
                let open = self.tick.take();
                self.close(open, t);
                self.tick = Some(self.open_span(lane, t, SpanKind::Tick(*n)));
                self.model.ticks = *n;
            }
            What::Phase(phase) => {
                let open = self.phase.take();
                self.close(open, t);
                let tick = self.model.ticks;
                let phase = *phase;
                self.phase = Some(self.open_span(lane, t, SpanKind::Phase { tick, phase }));
            }
            What::LoopEnd => {
                let open = self.phase.take();
                self.close(open, t);
                let open = self.tick.take();
                self.close(open, t);
            }
            What::CallbackBegin(id) => self.callback_begin(t, *id),
            What::PollWait(timeout) => {
                let timeout = *timeout;
                self.begin(
                    lane,
                    t,
                    SpanKind::PollWait {
                        timeout,
                        woke: None,
                    },
                );
            }
            What::PollWoke(source) => {
                if let Some(i) = self.end(lane, t) {
                    if let SpanKind::PollWait { woke, .. } = &mut self.model.spans[i].what {
                        *woke = *source;
                    }
                }
                self.mark(lane, t, MarkKind::Woke(*source));
            }
            What::AlsoReady(source) => self.mark(lane, t, MarkKind::AlsoReady(*source)),
            What::Registered(id, kind) => {
                self.kinds.insert(*id, *kind);
            }
            What::TimerSet { id, kind, deadline } => {
                if let Some(kind) = kind {
                    self.kinds.insert(*id, *kind);
                }
                let kind = self.kinds.get(id).copied().unwrap_or(Kind::Unknown);
                self.model.timers.push(TimerRun {
                    id: *id,
                    kind,
                    set: t,
                    deadline: *deadline,
                    fired: None,
                    cleared: None,
                });
                self.armed.insert(*id, self.model.timers.len() - 1);
            }
            What::TimerCleared(id) => {
                if let Some(i) = self.armed.remove(id) {
                    self.model.timers[i].cleared = Some(t);
                }
            }
            What::JobQueued(id, kind) => {
                self.kinds.insert(*id, Kind::from(*kind));
                let by = self.running();
                self.queued.insert(*id, (t, by));
                let (id, kind) = (*id, *kind);
                self.mark(lane, t, MarkKind::Queued { id, kind });
            }
            What::JobBegin(id, kind) => {
                let (queued_at, by) = match self.queued.remove(id) {
                    Some((at, by)) => (Some(at), by),
                    None => (None, None),
                };
                let job = SpanKind::Job {
                    id: *id,
                    kind: *kind,
                    queued: queued_at,
                    failed: false,
                };
                let span = self.begin(lane, t, job);
                if let (Some(by), Some(at)) = (by, queued_at) {
                    self.queue_flows.push((by, span, at));
                }
            }
            What::JobEnd { failed: f } => {
                if let Some(i) = self.end(lane, t) {
                    if let SpanKind::Job { id, failed, .. } = &mut self.model.spans[i].what {
                        *failed = *f;
                        let id = *id;
                        self.finished_jobs.insert(id, i);
                    }
                }
            }
            What::EpollWaitBegin => {
                let open = self.forward.take();
                self.close(open, t);
                self.begin(lane, t, SpanKind::EpollWait);
            }
            What::EpollWaitEnd => {
                self.end(lane, t);
                self.forward = Some(self.open_span(lane, t, SpanKind::EpollForward));
            }
            What::EpollReady(token) => {
                if let Some(forward) = self.forward {
                    self.ready.insert(*token, (t, forward));
                }
                self.mark(lane, t, MarkKind::SocketReady { token: *token });
            }
            What::EpollClosed => {
                let open = self.forward.take();
                self.close(open, t);
                self.mark(lane, t, MarkKind::PollClosed);
            }
            What::Print(text) => {
                if let Some(i) = self.running() {
                    match &mut self.model.spans[i].what {
                        SpanKind::Callback(run) => run.prints.push(text.clone()),
                        SpanKind::Program { prints } => prints.push(text.clone()),
                        _ => {}
                    }
                }
                self.mark(lane, t, MarkKind::Print(text.clone()));
            }
        }
    }

    fn callback_begin(&mut self, t: u64, id: Option<usize>) {
        let kind = match id {
            None => Kind::NextTick,
            Some(id) => self.kinds.get(&id).copied().unwrap_or(Kind::Unknown),
        };
        let (tick, phase) = match self.phase.map(|i| &self.model.spans[i].what) {
            Some(SpanKind::Phase { tick, phase }) => (Some(*tick), Some(*phase)),
            _ => (None, None),
        };
        let mut late = None;
        if let (true, Some(id)) = (kind.is_timer(), id) {
            if let Some(i) = self.armed.remove(&id) {
                let run = &mut self.model.timers[i];
                run.fired = Some(t);
                late = Some(t.saturating_sub(run.deadline));
            }
        }
        let span = self.begin(
            Lane::Main,
            t,
            SpanKind::Callback(CallbackRun {
                id,
                kind,
                tick,
                phase,
                late,
                prints: Vec::new(),
            }),
        );
        let Some(id) = id else { return };
        // What made this callback ready: a job's result, or a socket event.
        let from = match kind {
            Kind::FileRead | Kind::Encrypt => self
                .finished_jobs
                .remove(&id)
                .map(|job| (FlowKind::Result, job, self.model.spans[job].end)),
            Kind::Http => self
                .ready
                .remove(&id)
                .map(|(at, forward)| (FlowKind::Socket, forward, at)),
            _ => None,
        };
        if let Some((kind, from, at)) = from {
            self.model.flows.push(Flow {
                kind,
                from,
                to: span,
                from_t: at,
                to_t: t,
            });
        }
    }

    fn finish(mut self) -> Model {
        for (by, job, at) in std::mem::take(&mut self.queue_flows) {
            let to_t = self.model.spans[job].start;
            self.model.flows.push(Flow {
                kind: FlowKind::Queued,
                from: by,
                to: job,
                from_t: at,
                to_t,
            });
        }
        // Close what the record left open (a run that panicked) at its last moment.
        let end = self.model.end;
        for span in &mut self.model.spans {
            if span.unfinished {
                span.end = end;
            }
        }
        // Move each flow's ends strictly inside their spans, now that every span is closed.
        for flow in &mut self.model.flows {
            flow.from_t = self.model.spans[flow.from].point_in(flow.from_t);
            flow.to_t = self.model.spans[flow.to].point_in(flow.to_t);
        }
        self.model
    }
}

// ---------------------------------------------------------------------------------------
// The Chrome trace (Trace Event Format, JSON Object Format).
// ---------------------------------------------------------------------------------------

/// The one process of the trace.
const PID: u32 = 1;

/// A lane's thread id in the trace: 1 for `main`, then the pool, then `epoll`.
pub(crate) fn tid(lane: Lane, threads: usize) -> usize {
    lane.index(threads) + 1
}

/// Microseconds, the unit of `ts` and `dur`, with the nanoseconds after the point: exact,
/// so a span that ends where its parent ends is written as ending there.
struct Micros(u64);

impl Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// Milliseconds with three decimals, for `args` a reader looks at.
pub(crate) struct Millis(pub(crate) u64);

impl Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1_000_000, self.0 % 1_000_000 / 1000)
    }
}

/// A JSON string literal, with the escaping RFC 8259 requires: `"`, `\` and every control
/// character. Everything else, including any Unicode, may stand as it is.
pub(crate) struct JsonStr<'a>(pub(crate) &'a str);

impl Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Writes one trace event object per line, with the commas between them.
struct Events {
    out: String,
    first: bool,
}

impl Events {
    /// Starts an event: `{"name":..,"cat":..,"ph":..,"pid":1,"tid":..`; the caller adds
    /// the rest and calls `close`.
    fn open(&mut self, name: &str, cat: &str, ph: char, tid: usize) -> &mut String {
        self.out.push_str(if self.first { "\n" } else { ",\n" });
        self.first = false;
        let _ = write!(
            self.out,
            r#"{{"name":{},"cat":{},"ph":"{ph}","pid":{PID},"tid":{tid}"#,
            JsonStr(name),
            JsonStr(cat)
        );
        &mut self.out
    }
}

/// The trace event `args` of a span: key/value pairs, values already JSON.
fn args(pairs: &[(&str, String)]) -> String {
    let mut s = String::from(r#","args":{"#);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}:{v}", JsonStr(k));
    }
    s.push('}');
    s
}

fn json_lines(lines: &[String]) -> String {
    let items: Vec<String> = lines.iter().map(|l| JsonStr(l).to_string()).collect();
    format!("[{}]", items.join(","))
}

impl Span {
    /// The name, category and arguments of this span in the Chrome trace.
    fn chrome(&self) -> (String, &'static str, Vec<(&'static str, String)>) {
        let mut args: Vec<(&str, String)> = Vec::new();
        let (name, cat) = match &self.what {
            SpanKind::Program { prints } => {
                args.push(("printed", json_lines(prints)));
                ("main program".to_string(), "callback")
            }
            SpanKind::Tick(n) => (format!("tick {n}"), "tick"),
            SpanKind::Phase { tick, phase } => {
                args.push(("tick", tick.to_string()));
                (format!("{phase} phase"), "phase")
            }
            SpanKind::Callback(run) => {
                if let Some(id) = run.id {
                    args.push(("callback_id", id.to_string()));
                }
                args.push(("registered_by", JsonStr(&run.kind.to_string()).to_string()));
                if let (Some(tick), Some(phase)) = (run.tick, run.phase) {
                    args.push(("tick", tick.to_string()));
                    args.push(("phase", JsonStr(&phase.to_string()).to_string()));
                }
                if let Some(late) = run.late {
                    args.push(("late_ms", Millis(late).to_string()));
                }
                args.push(("printed", json_lines(&run.prints)));
                (format!("{} callback", run.kind), "callback")
            }
            SpanKind::PollWait { timeout, woke } => {
                let timeout = match timeout {
                    Some(t) => Millis(nanos(*t)).to_string(),
                    None => JsonStr("none: no timer pending").to_string(),
                };
                args.push(("timeout_ms", timeout));
                let woke = match woke {
                    Some(source) => source.to_string(),
                    None => "the timeout: a timer is due".to_string(),
                };
                args.push(("woken_by", JsonStr(&woke).to_string()));
                ("waiting for events".to_string(), "poll")
            }
            SpanKind::Job {
                id,
                kind,
                queued,
                failed,
            } => {
                args.push(("callback_id", id.to_string()));
                if let Some(q) = queued {
                    args.push(("queued_at_ms", Millis(*q).to_string()));
                    args.push((
                        "waited_in_queue_ms",
                        Millis(self.start.saturating_sub(*q)).to_string(),
                    ));
                }
                args.push((
                    "result",
                    JsonStr(if *failed { "error" } else { "ok" }).to_string(),
                ));
                (format!("{kind} (callback {id})"), "job")
            }
            SpanKind::EpollWait => ("waiting in the OS (epoll_wait)".to_string(), "epoll"),
            SpanKind::EpollForward => ("forwarding events to the loop".to_string(), "epoll"),
        };
        if self.unfinished {
            args.push(("unfinished", "true".to_string()));
        }
        (name, cat, args)
    }
}

impl Recording {
    /// The record as a Chrome trace (the Trace Event Format's JSON object), to open in
    /// [Perfetto](https://ui.perfetto.dev) or `chrome://tracing`.
    ///
    /// One track per thread (`main`, `pool0`.., `epoll`); a span for each tick, phase,
    /// callback, wait and pool job; instant events for wake-ups, socket events and
    /// `print`s; async spans for timers (set, due, fired, with the lateness inside); and
    /// flow arrows from a job's completion (or a socket event) to its callback, and from
    /// the callback that queued a job to the job. Times are in microseconds from the
    /// moment the runtime was built. When recording is off, the trace has no events.
    pub fn chrome_trace_json(&self) -> String {
        let Some(model) = self.model() else {
            return "{\"traceEvents\":[],\"otherData\":{\"recording\":\"off\"}}\n".to_string();
        };
        let threads = model.threads;
        let mut ev = Events {
            out: String::from("{\"traceEvents\":["),
            first: true,
        };
        let program = program_name();
        let _ = write!(
            ev.open("process_name", "__metadata", 'M', 0),
            r#","args":{{"name":{}}}}}"#,
            JsonStr(&format!("node-experiment {program}"))
        );
        for lane in Lane::all(threads) {
            let tid = tid(lane, threads);
            let _ = write!(
                ev.open("thread_name", "__metadata", 'M', tid),
                r#","args":{{"name":{}}}}}"#,
                JsonStr(&lane.to_string())
            );
            let _ = write!(
                ev.open("thread_sort_index", "__metadata", 'M', tid),
                r#","args":{{"sort_index":{}}}}}"#,
                lane.index(threads)
            );
        }
        // Spans, parents before children: by thread, start, and longest first.
        let mut order: Vec<usize> = (0..model.spans.len()).collect();
        order.sort_by_key(|&i| {
            let s = &model.spans[i];
            (s.lane.index(threads), s.start, std::cmp::Reverse(s.end))
        });
        for i in order {
            let span = &model.spans[i];
            let (name, cat, pairs) = span.chrome();
            let _ = write!(
                ev.open(&name, cat, 'X', tid(span.lane, threads)),
                r#","ts":{},"dur":{}{}}}"#,
                Micros(span.start),
                Micros(span.duration()),
                args(&pairs)
            );
        }
        for mark in &model.marks {
            let (name, cat) = match &mark.what {
                MarkKind::Woke(Some(source)) => (format!("woke: {source}"), "poll"),
                MarkKind::Woke(None) => ("woke: a timer is due".to_string(), "poll"),
                MarkKind::AlsoReady(source) => (format!("also ready: {source}"), "poll"),
                MarkKind::Queued { id, kind } => (format!("queued: {kind} (callback {id})"), "job"),
                MarkKind::SocketReady { token } => {
                    (format!("socket ready (token {token})"), "epoll")
                }
                MarkKind::PollClosed => ("close_loop: the poll thread ends".to_string(), "epoll"),
                MarkKind::Print(text) => (format!("print: {text}"), "print"),
            };
            let _ = write!(
                ev.open(&name, cat, 'i', tid(mark.lane, threads)),
                r#","ts":{},"s":"t"}}"#,
                Micros(mark.t)
            );
        }
        // Timers: a nestable async span from `set_timeout` to the callback, and inside it,
        // from the deadline to the callback, how late it ran.
        let main = tid(Lane::Main, threads);
        for (n, timer) in model.timers.iter().enumerate() {
            let name = format!("{} (callback {})", timer.kind, timer.id);
            let until = timer
                .fired
                .or(timer.cleared)
                .unwrap_or(model.end.max(timer.set));
            let late = timer.fired.map(|f| (timer.deadline.min(f), f));
            let mut pairs = vec![("due_at_ms", Millis(timer.deadline).to_string())];
            match (timer.fired, timer.cleared) {
                (Some(f), _) => pairs.push((
                    "late_ms",
                    Millis(f.saturating_sub(timer.deadline)).to_string(),
                )),
                (None, Some(_)) => pairs.push(("cleared", "true".to_string())),
                (None, None) => pairs.push(("never_fired", "true".to_string())),
            }
            let _ = write!(
                ev.open(&name, "timer", 'b', main),
                r#","ts":{},"id":{n}{}}}"#,
                Micros(timer.set),
                args(&pairs)
            );
            if let Some((due, fired)) = late {
                let late_name = format!("late by {} ms", Millis(fired - due));
                let _ = write!(
                    ev.open(&late_name, "timer", 'b', main),
                    r#","ts":{},"id":{n}}}"#,
                    Micros(due)
                );
                let _ = write!(
                    ev.open(&late_name, "timer", 'e', main),
                    r#","ts":{},"id":{n}}}"#,
                    Micros(fired)
                );
            }
            let _ = write!(
                ev.open(&name, "timer", 'e', main),
                r#","ts":{},"id":{n}}}"#,
                Micros(until)
            );
        }
        // Flows: a start event inside the cause, a finish event inside the effect
        // ("bp":"e": bind to the span that encloses it).
        for (n, flow) in model.flows.iter().enumerate() {
            let name = match flow.kind {
                FlowKind::Queued => "queued",
                FlowKind::Result => "result",
                FlowKind::Socket => "socket ready",
            };
            let from = tid(model.spans[flow.from].lane, threads);
            let to = tid(model.spans[flow.to].lane, threads);
            let _ = write!(
                ev.open(name, "flow", 's', from),
                r#","ts":{},"id":{n}}}"#,
                Micros(flow.from_t)
            );
            let _ = write!(
                ev.open(name, "flow", 'f', to),
                r#","ts":{},"id":{n},"bp":"e"}}"#,
                Micros(flow.to_t)
            );
        }
        let _ = write!(
            ev.out,
            "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{{\"generator\":\"node-experiment\",\
             \"pool_threads\":{threads},\"ticks\":{}}}}}\n",
            model.ticks
        );
        ev.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, lane: Lane, what: What) -> Record {
        Record { t, lane, what }
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        let s = JsonStr("a\"b\\c\nd\u{1}e\té").to_string();
        assert_eq!(s, r#""a\"b\\c\nd\u0001e\té""#);
    }

    #[test]
    fn micros_are_exact() {
        assert_eq!(Micros(0).to_string(), "0.000");
        assert_eq!(Micros(1_234_567).to_string(), "1234.567");
        assert_eq!(Millis(1_234_567).to_string(), "1.234");
    }

    #[test]
    fn ticks_and_phases_become_nested_spans() {
        use Lane::Main;
        let records = [
            rec(0, Main, What::ProgramBegin),
            rec(1, Main, What::Registered(1, Kind::Immediate)),
            rec(2, Main, What::ProgramEnd),
            rec(3, Main, What::Tick(1)),
            rec(4, Main, What::Phase(Phase::Timers)),
            rec(5, Main, What::Phase(Phase::Check)),
            rec(6, Main, What::CallbackBegin(Some(1))),
            rec(7, Main, What::Print("hi".into())),
            rec(8, Main, What::CallbackEnd),
            rec(9, Main, What::LoopEnd),
        ];
        let m = Model::build(4, &records);
        assert_eq!(m.ticks, 1);
        let cb = m
            .spans
            .iter()
            .find_map(|s| match &s.what {
                SpanKind::Callback(run) => Some((s.start, s.end, run)),
                _ => None,
            })
            .expect("a callback span");
        assert_eq!((cb.0, cb.1), (6, 8));
        assert_eq!(cb.2.kind, Kind::Immediate);
        assert_eq!(cb.2.phase, Some(Phase::Check));
        assert_eq!(cb.2.prints, ["hi"]);
        let check = m
            .spans
            .iter()
            .find(|s| {
                matches!(
                    s.what,
                    SpanKind::Phase {
                        phase: Phase::Check,
                        ..
                    }
                )
            })
            .expect("a check phase");
        assert_eq!((check.start, check.end), (5, 9));
        assert!(m.spans.iter().all(|s| !s.unfinished));
    }

    #[test]
    fn spans_left_open_are_closed_at_the_end_and_marked() {
        use Lane::{Main, Pool};
        let records = [
            rec(0, Main, What::Tick(1)),
            rec(1, Main, What::Phase(Phase::Timers)),
            rec(2, Main, What::CallbackBegin(Some(9))),
            rec(3, Pool(0), What::JobBegin(4, EventKind::Encrypt)),
            rec(10, Pool(0), What::JobEnd { failed: false }),
        ];
        let m = Model::build(1, &records);
        let open: Vec<&Span> = m.spans.iter().filter(|s| s.unfinished).collect();
        assert_eq!(open.len(), 3, "tick, phase and callback: {:?}", m.spans);
        assert!(open.iter().all(|s| s.end == 10));
    }

    #[test]
    fn a_timer_s_lateness_is_measured_from_its_deadline() {
        use Lane::Main;
        let records = [
            rec(
                0,
                Main,
                What::TimerSet {
                    id: 1,
                    kind: Some(Kind::Timeout(5)),
                    deadline: 5_000_000,
                },
            ),
            rec(5_300_000, Main, What::CallbackBegin(Some(1))),
            rec(5_400_000, Main, What::CallbackEnd),
        ];
        let m = Model::build(1, &records);
        assert_eq!(m.timers[0].fired, Some(5_300_000));
        let late = m.spans.iter().find_map(|s| match &s.what {
            SpanKind::Callback(run) => run.late,
            _ => None,
        });
        assert_eq!(late, Some(300_000));
    }

    #[test]
    fn a_job_s_result_flows_to_its_callback() {
        use Lane::{Main, Pool};
        let records = [
            rec(0, Main, What::ProgramBegin),
            rec(1, Main, What::JobQueued(3, EventKind::FileRead)),
            rec(2, Main, What::ProgramEnd),
            rec(3, Pool(1), What::JobBegin(3, EventKind::FileRead)),
            rec(9, Pool(1), What::JobEnd { failed: false }),
            rec(10, Main, What::CallbackBegin(Some(3))),
            rec(12, Main, What::CallbackEnd),
        ];
        let m = Model::build(2, &records);
        let kinds: Vec<FlowKind> = m.flows.iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&FlowKind::Result) && kinds.contains(&FlowKind::Queued));
        for f in &m.flows {
            let (from, to) = (&m.spans[f.from], &m.spans[f.to]);
            assert!(from.start < f.from_t && f.from_t < from.end, "{f:?}");
            assert!(to.start < f.to_t && f.to_t < to.end, "{f:?}");
        }
    }

    #[test]
    fn off_records_nothing() {
        let off = Recording::default();
        off.tick(1);
        off.callback_begin(Some(1));
        assert!(!off.is_on());
        assert!(off.model().is_none());
        assert!(off.write_files().is_empty());
    }
}
