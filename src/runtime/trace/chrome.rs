//! The Chrome trace (Trace Event Format, JSON Object Format).
//!
//! Book: not in the book (it prints lines; this writes them as a file a trace viewer
//! opens). It writes the [`Model`](super::model::Model) as text by hand, with a small JSON
//! string escaper, so the crate keeps no dependencies.
//!
//! [`Recording::chrome_trace_json`] writes the Trace Event Format ("JSON Object Format"):
//! one thread per lane (`main`, `pool0`.., `epoll`), a complete event (`"ph":"X"`) per
//! span, instant events (`"i"`) for wake-ups, socket events and `print`s, nestable async
//! events (`"b"`/`"e"`) for timers (from `set_timeout` to the moment the callback ran, with
//! the lateness inside), and flow events (`"s"`/`"f"`) that draw arrows from a job's
//! completion to its callback, from a socket event to the callback it finished, and from
//! the callback that queued a job to the job.

use std::fmt::{self, Display, Write as _};

use super::model::{FlowKind, MarkKind, Span, SpanKind};
use super::{Lane, Recording, nanos, program_name};

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
}
