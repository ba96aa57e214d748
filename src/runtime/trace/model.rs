//! The model: spans, instants, flows and timers, built from the records.
//!
//! Book: not in the book (the book prints each moment as a line and keeps nothing). The
//! records are moments; what the pictures draw are spans, so this file turns the one into
//! the other, once, for the Chrome trace, the SVG and the text timeline alike.
//!
//! # From records to spans
//!
//! The hooks record *moments*: "tick 3 begins", "callback 7 begins", "callback ends". The
//! [`Model`] turns them into spans (a begin and an end on one thread) that nest, like the
//! calls they describe: a tick holds its phases, a phase holds its callbacks and its wait.
//! A span still open when the record ends (a callback that panicked) is closed at the last
//! moment recorded and marked unfinished, so every picture has only closed spans.

use std::collections::HashMap;
use std::time::Duration;

use super::{Kind, Lane, Phase, Record, Recording, Source, What};
use crate::runtime::threadpool::EventKind;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, lane: Lane, what: What) -> Record {
        Record { t, lane, what }
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
}
