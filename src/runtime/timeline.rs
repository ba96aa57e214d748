//! Drawing a recorded run: a self-contained SVG picture and a compact text timeline.
//!
//! Book: not in the book. It draws what the book's output lines say ("Thread: pool1
//! received a task of type: File read", "===== TICK 3 =====") as one picture: time runs
//! left to right, each thread is a row.
//!
//! - [`Recording::svg`] draws one lane per thread (`main`, `pool0`..`poolN-1`, `epoll`),
//!   the tick boundaries, a box per callback labelled with what it printed, the phases of
//!   each tick, the waits (hatched), each timer from the moment it was set to its
//!   deadline with its lateness in red, each pool job with the time it waited in the
//!   queue, arrows from a job's result (or a socket event) to its callback, and a legend.
//!   Plain SVG 1.1: no script, no external font or style sheet, so any browser opens it,
//!   and hovering a box shows its details (`<title>`).
//! - [`Recording::text_timeline`] prints the same lanes as rows of characters, for a
//!   terminal.
//!
//! Callbacks take microseconds and a run takes seconds, so at any width most callbacks
//! are far thinner than a pixel. Boxes are therefore drawn at least [`MIN_BOX`] wide and
//! labels are stacked in rows above the `main` lane, each tied to its box by a thin line.

use std::fmt::{self, Display, Write as _};

use super::threadpool::EventKind;
use super::trace::{
    CallbackRun, FlowKind, Kind, Lane, MarkKind, Model, Phase, Recording, Span, SpanKind,
    program_name,
};

/// The picture's width in pixels.
const WIDTH: f64 = 1200.0;
/// Room on the left for the lane names.
const LEFT: f64 = 100.0;
const RIGHT: f64 = 28.0;
const PLOT: f64 = WIDTH - LEFT - RIGHT;
/// The narrowest box drawn, in pixels.
const MIN_BOX: f64 = 3.0;
/// Width of one character of the 11 px monospace font, to fit labels without measuring.
const CHAR_W: f64 = 6.7;
/// The most label rows above `main`, and timer rows; what does not fit has a tooltip only.
const MAX_LABEL_ROWS: usize = 5;
const MAX_TIMER_ROWS: usize = 8;
const LABEL_CHARS: usize = 36;

const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, monospace";

/// Colours: one per kind of callback; a job is drawn in a light tint of its callback's.
struct Colours {
    fill: &'static str,
    light: &'static str,
}

fn colours(kind: Kind) -> Colours {
    let (fill, light) = match kind {
        Kind::Timeout(_) | Kind::Interval(_) => ("#dd8452", "#f5d3bd"),
        Kind::Immediate => ("#55a868", "#c6e6cf"),
        Kind::NextTick => ("#937860", "#dfd2c4"),
        Kind::FileRead => ("#2a9d8f", "#b4e0da"),
        Kind::Encrypt => ("#c9950c", "#f0dc9c"),
        Kind::Http => ("#8172b3", "#d6d0ea"),
        Kind::Unknown => ("#7f7f7f", "#d9d9d9"),
    };
    Colours { fill, light }
}

const PROGRAM_FILL: &str = "#4c72b0";
const LATE: &str = "#d62728";
const INK: &str = "#222222";
const GREY: &str = "#777777";

fn phase_fill(phase: Phase) -> &'static str {
    match phase {
        Phase::Timers => "#f2b48c",
        Phase::Pending => "#c9b3e6",
        Phase::Poll => "#c3cfe0",
        Phase::Check => "#a8d5b5",
    }
}

/// Text for XML content and attribute values: the five special characters as entities,
/// and characters XML 1.0 forbids (most control characters) replaced by U+FFFD.
struct Xml<'a>(&'a str);

impl Display for Xml<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&apos;")?,
                '\t' | '\n' | '\r' => f.write_char(c)?,
                c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => f.write_char('\u{fffd}')?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The first line of `s`, at most `max` characters (ending in `…` if cut).
fn shorten(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    let cut = line.chars().count() > max || s.lines().nth(1).is_some();
    if line.chars().count() > max {
        let mut short: String = line.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    } else if cut {
        format!("{line} …")
    } else {
        line.to_string()
    }
}

fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

/// A duration for a reader: "420 ns", "12.3 µs", "1.25 ms", "3.52 s".
pub(crate) fn human(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", f / 1e3)
    } else if ns < 10_000_000 {
        format!("{:.2} ms", f / 1e6)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", f / 1e6)
    } else {
        format!("{:.2} s", f / 1e9)
    }
}

/// A round step for a time axis over `span` ns: 1, 2 or 5 times a power of ten, giving
/// at most about `parts` parts.
fn axis_step(span: u64, parts: u64) -> u64 {
    let raw = (span / parts).max(1);
    let mut pow = 1u64;
    while pow.saturating_mul(10) <= raw {
        pow *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| pow.saturating_mul(m))
        .find(|&s| s >= raw)
        .unwrap_or(raw)
}

/// An axis label for time `t` with steps of `step`: "0", "0.5 s", "250 ms", "40 µs".
fn axis_label(t: u64, step: u64) -> String {
    if t == 0 {
        return "0".to_string();
    }
    let (unit, name) = if step >= 100_000_000 {
        (1e9, "s")
    } else if step >= 100_000 {
        (1e6, "ms")
    } else {
        (1e3, "µs")
    };
    format!("{} {name}", t as f64 / unit)
}

/// The words a tooltip uses for one callback.
fn describe_callback(run: &CallbackRun, span: &Span, start: u64) -> String {
    let mut s = match run.id {
        Some(id) => format!("{} callback (callback id {id})", run.kind),
        None => format!("{} callback", run.kind),
    };
    match (run.tick, run.phase) {
        (Some(tick), Some(phase)) => {
            let _ = write!(s, "\nran in tick {tick}, {phase} phase");
        }
        _ => s.push_str("\nran right after the main program, before the first tick"),
    }
    let _ = write!(
        s,
        "\nat {} for {}",
        human(span.start - start),
        human(span.duration())
    );
    if let Some(late) = run.late {
        let _ = write!(s, "\n{} after its deadline", human(late));
    }
    for line in &run.prints {
        let _ = write!(s, "\nprinted: {}", shorten(line, 80));
    }
    if span.unfinished {
        s.push_str("\nunfinished: the run ended (panicked) inside it");
    }
    s
}

/// Builds the SVG text.
struct Svg {
    out: String,
}

impl Svg {
    fn raw(&mut self, s: impl Display) {
        let _ = writeln!(self.out, "{s}");
    }

    #[allow(clippy::too_many_arguments)]
    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, extra: &str, title: &str) {
        let _ = write!(
            self.out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"{extra}"#
        );
        if title.is_empty() {
            self.out.push_str("/>\n");
        } else {
            let _ = writeln!(self.out, "><title>{}</title></rect>", Xml(title));
        }
    }

    fn text(&mut self, x: f64, y: f64, attrs: &str, s: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{x:.1}" y="{y:.1}"{attrs}>{}</text>"#,
            Xml(s)
        );
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, attrs: &str) {
        let _ = writeln!(
            self.out,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}"{attrs}/>"#
        );
    }
}

/// Where each part of the picture goes, worked out before drawing.
struct Layout {
    start: u64,
    span: u64,
    axis_y: f64,
    ticks_y: f64,
    timers_y: f64,
    timer_rows: usize,
    labels_y: f64,
    label_rows: usize,
    main_y: f64,
    pool_y: f64,
    epoll_y: f64,
    lanes_bottom: f64,
    legend_y: f64,
    height: f64,
}

const LANE_H: f64 = 24.0;
const MAIN_H: f64 = 30.0;
const STRIP_H: f64 = 7.0;
const LANE_GAP: f64 = 8.0;
const LABEL_ROW_H: f64 = 14.0;
const TIMER_ROW_H: f64 = 12.0;

impl Layout {
    fn x(&self, t: u64) -> f64 {
        LEFT + t.saturating_sub(self.start) as f64 / self.span as f64 * PLOT
    }

    /// The top of a lane.
    fn lane_y(&self, lane: Lane) -> f64 {
        match lane {
            Lane::Main => self.main_y,
            Lane::Pool(i) => self.pool_y + i as f64 * (LANE_H + LANE_GAP),
            Lane::Epoll => self.epoll_y,
        }
    }

    fn lane_h(&self, lane: Lane) -> f64 {
        if lane == Lane::Main { MAIN_H } else { LANE_H }
    }

    /// A box from `start` to `end`, at least `MIN_BOX` wide: (x, width).
    fn box_x(&self, start: u64, end: u64) -> (f64, f64) {
        let x = self.x(start);
        (x, (self.x(end) - x).max(MIN_BOX))
    }
}

/// Puts intervals into rows so that none overlaps another in its row; returns each one's
/// row, or `None` when all `max` rows are taken at that place.
fn pack(extents: &[(f64, f64)], max: usize) -> Vec<Option<usize>> {
    let mut ends: Vec<f64> = Vec::new();
    extents
        .iter()
        .map(|&(a, b)| {
            if let Some(row) = ends.iter().position(|&end| end + 4.0 <= a) {
                ends[row] = b;
                Some(row)
            } else if ends.len() < max {
                ends.push(b);
                Some(ends.len() - 1)
            } else {
                None
            }
        })
        .collect()
}

/// A timer's text in the picture: "set_timeout(1000): 0.31 ms late".
fn timer_text(kind: Kind, fired: Option<u64>, deadline: u64, cleared: bool) -> String {
    match fired {
        Some(f) => format!("{kind}: {} late", human(f.saturating_sub(deadline))),
        None if cleared => format!("{kind}: cleared"),
        None => format!("{kind}: never fired"),
    }
}

impl Recording {
    /// The record drawn as a self-contained SVG picture, to open in any browser.
    ///
    /// Lanes for `main`, `pool0`..`poolN-1` and `epoll` (every thread of the runtime,
    /// even one that did nothing); the tick boundaries and each tick's phases; a box for
    /// each callback, labelled with the first line it printed (or the call that
    /// registered it); the waits in the poll phase and in `epoll_wait`, hatched; each
    /// timer from the moment it was set to its deadline, with how late it ran in red;
    /// each pool job, with the time it waited in the queue; arrows from a finished job
    /// (or a socket event) to its callback; and a legend. Hover over anything for its
    /// details. When recording is off, the picture says so.
    pub fn svg(&self) -> String {
        match self.model() {
            Some(model) => draw(&model),
            None => off_svg(),
        }
    }

    /// The record as rows of characters, one per thread, for a terminal.
    ///
    /// ```text
    /// main   3...................RR2......E...............2..............T........T
    /// pool0  FFFFFFFFFFFFFFFFFFFF
    /// ```
    ///
    /// A letter is a callback (or a job) in that column, a digit says how many callbacks
    /// shared a column, `.` is waiting; a legend and a summary (busy time, the longest
    /// callback, timer lateness) follow. When recording is off, it says how to turn it on.
    pub fn text_timeline(&self) -> String {
        match self.model() {
            Some(model) => text(&model),
            None => "timeline: recording was off (use RuntimeBuilder::record(true), or set \
                     NODE_EXPERIMENT_TIMELINE or NODE_EXPERIMENT_TRACE)\n"
                .to_string(),
        }
    }
}

fn off_svg() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"60\" viewBox=\"0 0 600 60\">\n\
         <rect width=\"600\" height=\"60\" fill=\"#ffffff\"/>\n\
         <text x=\"10\" y=\"35\" font-family=\"{FONT}\" font-size=\"13\">Recording was off: \
         nothing to draw.</text>\n</svg>\n"
    )
}

/// The callbacks (and the main program) on `main`, with the label each gets.
fn main_boxes(model: &Model) -> Vec<(usize, String, &'static str, String)> {
    let mut boxes = Vec::new();
    for (i, span) in model.spans.iter().enumerate() {
        let (label, fill, title) = match &span.what {
            SpanKind::Program { prints } => {
                let mut title = format!(
                    "the main program (the closure given to run)\nat {} for {}",
                    human(span.start - model.start),
                    human(span.duration())
                );
                for line in prints {
                    let _ = write!(title, "\nprinted: {}", shorten(line, 80));
                }
                ("main program".to_string(), PROGRAM_FILL, title)
            }
            SpanKind::Callback(run) => (
                shorten(&run.label(), LABEL_CHARS),
                colours(run.kind).fill,
                describe_callback(run, span, model.start),
            ),
            _ => continue,
        };
        boxes.push((i, label, fill, title));
    }
    boxes
}

/// A picture being drawn: the model, where each part goes, and the SVG written so far.
struct Picture<'a> {
    model: &'a Model,
    l: Layout,
    svg: Svg,
    /// The callbacks (and the main program) on `main`: span, label, colour, tooltip.
    boxes: Vec<(usize, String, &'static str, String)>,
    /// Each label's row above `main` (`None`: no room, tooltip only) and extent.
    label_rows: Vec<Option<usize>>,
    label_extents: Vec<(f64, f64)>,
    /// Each timer's text, row, and (extent, text x, whether the text ends at x).
    timer_texts: Vec<String>,
    timer_rows: Vec<Option<usize>>,
    timer_places: Vec<((f64, f64), f64, bool)>,
}

fn draw(model: &Model) -> String {
    let mut p = Picture::plan(model);
    p.header();
    p.axis_and_lanes();
    p.ticks_and_phases();
    p.waits_jobs_and_sockets();
    p.callbacks();
    p.timers();
    p.arrows();
    p.footer();
    p.svg.out
}

impl Picture<'_> {
    /// Works out where everything goes: the rows of timers and of labels decide how tall
    /// the picture is.
    fn plan(model: &Model) -> Picture<'_> {
        let start = model.start;
        let mut l = Layout {
            start,
            span: (model.end - start).max(1),
            axis_y: 0.0,
            ticks_y: 0.0,
            timers_y: 0.0,
            timer_rows: 0,
            labels_y: 0.0,
            label_rows: 0,
            main_y: 0.0,
            pool_y: 0.0,
            epoll_y: 0.0,
            lanes_bottom: 0.0,
            legend_y: 0.0,
            height: 0.0,
        };

        // Timers: one row each where they would overlap, with their text beside them.
        let timer_texts: Vec<String> = model
            .timers
            .iter()
            .map(|t| timer_text(t.kind, t.fired, t.deadline, t.cleared.is_some()))
            .collect();
        // Each text goes after the timer's end if there is room, else on its line just before
        // the end (on a white halo), else before its start: (extent, text x, text-anchor end).
        let timer_places: Vec<((f64, f64), f64, bool)> = model
            .timers
            .iter()
            .zip(&timer_texts)
            .map(|(t, text)| {
                let a = l.x(t.set);
                let b = l
                    .x(t.fired.or(t.cleared).unwrap_or(t.deadline).min(model.end))
                    .max(a + 2.0);
                let w = text_width(text) * 10.0 / 11.0 + 8.0;
                if b + w <= WIDTH - RIGHT {
                    ((a, b + w), b + 6.0, false)
                } else if b - a >= w + 8.0 {
                    ((a, b), b - 8.0, true)
                } else {
                    let x = (a - 6.0).max(LEFT + w);
                    ((x - w, b), x, true)
                }
            })
            .collect();
        let timer_extents: Vec<(f64, f64)> = timer_places.iter().map(|p| p.0).collect();
        let timer_rows = pack(&timer_extents, MAX_TIMER_ROWS);
        l.timer_rows = timer_rows.iter().flatten().max().map_or(0, |r| r + 1);

        // Labels of the boxes on main, stacked in rows above it.
        let boxes = main_boxes(model);
        // A label starts just right of its box's leader line, or ends just left of it near
        // the right edge, so the line never crosses the text of a label at the same place.
        let label_extents: Vec<(f64, f64)> = boxes
            .iter()
            .map(|(i, label, _, _)| {
                let span = &model.spans[*i];
                let (x, w) = l.box_x(span.start, span.end);
                let anchor = x + w / 2.0;
                let tw = text_width(label);
                if anchor + 4.0 + tw <= WIDTH - RIGHT {
                    (anchor + 4.0, anchor + 4.0 + tw)
                } else {
                    (anchor - 4.0 - tw, anchor - 4.0)
                }
            })
            .collect();
        let label_rows = pack(&label_extents, MAX_LABEL_ROWS);
        l.label_rows = label_rows.iter().flatten().max().map_or(0, |r| r + 1);

        // Vertical layout, top to bottom.
        l.axis_y = 70.0;
        l.ticks_y = 80.0;
        l.timers_y = l.ticks_y + 22.0;
        l.labels_y = l.timers_y + (l.timer_rows.max(1) as f64) * TIMER_ROW_H + 10.0;
        l.main_y = l.labels_y + l.label_rows as f64 * LABEL_ROW_H + 6.0;
        l.pool_y = l.main_y + MAIN_H + 2.0 + STRIP_H + 26.0;
        l.epoll_y = l.pool_y + model.threads as f64 * (LANE_H + LANE_GAP) + 10.0;
        l.lanes_bottom = l.epoll_y + LANE_H;
        l.legend_y = l.lanes_bottom + 36.0;
        let legend_rows = 5.0;
        l.height = (l.legend_y + legend_rows * 20.0 + 40.0).round();

        Picture {
            model,
            l,
            svg: Svg { out: String::new() },
            boxes,
            label_rows,
            label_extents,
            timer_texts,
            timer_rows,
            timer_places,
        }
    }

    /// The XML prologue, shared definitions (the hatching, the arrow heads) and the title.
    fn header(&mut self) {
        let Picture {
            model,
            l,
            svg,
            boxes,
            ..
        } = self;
        let start = model.start;
        svg.raw(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        svg.raw(format_args!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}" font-family="{FONT}" font-size="11" fill="{INK}">"#,
            h = l.height
        ));
        let program = program_name();
        let callbacks = boxes.len();
        let jobs = model
            .spans
            .iter()
            .filter(|s| matches!(s.what, SpanKind::Job { .. }))
            .count();
        svg.raw(format_args!(
            "<title>node-experiment: one run of the event loop ({})</title>",
            Xml(&program)
        ));
        svg.raw(
            "<desc>Each row is a thread of the runtime; time runs left to right. Boxes on main \
             are callbacks, boxes on the pool threads are jobs, hatched areas are waits, arrows \
             go from a finished job or socket event to its callback.</desc>",
        );
        svg.raw(concat!(
            "<defs>\n",
            r##"<pattern id="wait" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f3f3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#d4d4d4" stroke-width="2.5"/></pattern>"##,
            "\n",
            r##"<marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#444444"/></marker>"##,
            "\n",
            r##"<marker id="arrow-grey" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#999999"/></marker>"##,
            "\n</defs>"
        ));
        svg.rect(0.0, 0.0, WIDTH, l.height, "#ffffff", "", "");

        // Title.
        svg.text(
            LEFT,
            26.0,
            r#" font-size="16" font-weight="bold""#,
            &format!("One run of the event loop: {program}"),
        );
        svg.text(
            LEFT,
            46.0,
            &format!(r#" font-size="12" fill="{GREY}""#),
            &format!(
                "{} · {} ticks · {} callbacks on main · {} pool jobs on {} pool threads",
                human(model.end - start),
                model.ticks,
                callbacks,
                jobs,
                model.threads
            ),
        );
    }

    /// The time axis with its grid, and a named background for every lane.
    fn axis_and_lanes(&mut self) {
        let Picture { model, l, svg, .. } = self;
        let start = model.start;
        // Time axis and grid.
        let step = axis_step(l.span, 10);
        let mut t = 0;
        while t <= l.span {
            let x = l.x(start + t);
            svg.line(
                x,
                l.axis_y + 4.0,
                x,
                l.lanes_bottom,
                r##" stroke="#ececec""##,
            );
            svg.text(
                x,
                l.axis_y,
                &format!(r#" text-anchor="middle" fill="{GREY}""#),
                &axis_label(t, step),
            );
            t += step;
        }

        // Lane names and backgrounds.
        let lane_label = |svg: &mut Svg, y: f64, h: f64, name: &str, class: &str| {
            svg.text(
                LEFT - 10.0,
                y + h / 2.0 + 4.0,
                &format!(r#" text-anchor="end" font-weight="bold" class="{class}""#),
                name,
            );
        };
        lane_label(svg, l.ticks_y, 12.0, "ticks", "row-label");
        lane_label(
            svg,
            l.timers_y,
            l.timer_rows.max(1) as f64 * TIMER_ROW_H,
            "timers",
            "row-label",
        );
        for lane in Lane::all(model.threads) {
            let (y, h) = (l.lane_y(lane), l.lane_h(lane));
            svg.raw(format_args!(r#"<g class="lane" data-lane="{lane}">"#));
            lane_label(svg, y, h, &lane.to_string(), "lane-label");
            svg.rect(
                LEFT,
                y,
                PLOT,
                h,
                "#fbfbfb",
                r##" stroke="#dddddd" stroke-width="0.5""##,
                "",
            );
            svg.raw("</g>");
        }
    }

    /// Tick boundaries and numbers, shaded bands on `main`, and the phase strip.
    fn ticks_and_phases(&mut self) {
        let Picture { model, l, svg, .. } = self;
        let start = model.start;
        // Ticks: shaded bands on main, a boundary line, and the tick number where it fits.
        let mut last_label = f64::NEG_INFINITY;
        for span in &model.spans {
            let SpanKind::Tick(n) = span.what else {
                continue;
            };
            let (x, w) = (l.x(span.start), l.x(span.end) - l.x(span.start));
            if n % 2 == 0 {
                svg.rect(x, l.main_y, w, MAIN_H, "#f0f3f8", "", "");
            }
            svg.line(
                x,
                l.ticks_y - 2.0,
                x,
                l.main_y + MAIN_H + 2.0 + STRIP_H,
                r##" stroke="#8a8a8a" stroke-width="0.7" stroke-dasharray="3,2""##,
            );
            let label = n.to_string();
            if x >= last_label + 4.0 {
                svg.raw(format_args!(
                    r#"<text x="{:.1}" y="{:.1}" font-size="10">{}<title>tick {n}: at {} for {}</title></text>"#,
                    x + 2.0,
                    l.ticks_y + 10.0,
                    label,
                    human(span.start - start),
                    human(span.duration())
                ));
                last_label = x + 2.0 + text_width(&label) * 0.9;
            }
        }

        // Phases: a thin strip under main.
        let strip_y = l.main_y + MAIN_H + 2.0;
        for span in &model.spans {
            if let SpanKind::Phase { tick, phase } = span.what {
                let (x, w) = (l.x(span.start), l.x(span.end) - l.x(span.start));
                svg.rect(
                    x,
                    strip_y,
                    w.max(0.6),
                    STRIP_H,
                    phase_fill(phase),
                    "",
                    &format!("tick {tick}, {phase} phase: {}", human(span.duration())),
                );
            }
        }
    }

    /// The waits (hatched), the pool jobs with their time in the queue, and the poll
    /// thread's socket events.
    fn waits_jobs_and_sockets(&mut self) {
        let Picture { model, l, svg, .. } = self;
        let start = model.start;
        // Waits, jobs and the poll thread.
        for span in &model.spans {
            let y = l.lane_y(span.lane);
            let h = l.lane_h(span.lane);
            match &span.what {
                SpanKind::PollWait { timeout, woke } => {
                    let (x, w) = (l.x(span.start), l.x(span.end) - l.x(span.start));
                    let until = match timeout {
                        Some(t) => {
                            format!("at most {}: the next timer", human(super::trace::nanos(*t)))
                        }
                        None => "with no timer pending: until an event".to_string(),
                    };
                    let woke = match woke {
                        Some(source) => format!("woken because {source}"),
                        None => "woken by the timeout: a timer is due".to_string(),
                    };
                    svg.rect(
                        x,
                        y + 3.0,
                        w,
                        h - 6.0,
                        "url(#wait)",
                        "",
                        &format!(
                            "poll phase: waiting for events {until}\nwaited {}; {woke}",
                            human(span.duration())
                        ),
                    );
                    let label = "waiting in the poll phase";
                    if w >= text_width(label) + 12.0 {
                        svg.text(
                            x + 6.0,
                            y + h / 2.0 + 4.0,
                            &format!(r#" fill="{GREY}" font-style="italic""#),
                            label,
                        );
                    }
                }
                SpanKind::Job {
                    id,
                    kind,
                    queued,
                    failed,
                } => {
                    let c = colours(Kind::from(*kind));
                    if let Some(q) = queued {
                        let (qx, sx) = (l.x(*q), l.x(span.start));
                        svg.line(
                            qx,
                            y + h / 2.0,
                            sx,
                            y + h / 2.0,
                            &format!(
                                r#" stroke="{}" stroke-width="1.5" stroke-dasharray="2,2""#,
                                c.fill
                            ),
                        );
                        svg.line(
                            qx,
                            y + 6.0,
                            qx,
                            y + h - 6.0,
                            &format!(r#" stroke="{}""#, c.fill),
                        );
                    }
                    let (x, w) = l.box_x(span.start, span.end);
                    let waited = queued.map_or(0, |q| span.start.saturating_sub(q));
                    svg.rect(
                        x,
                        y + 2.0,
                        w,
                        h - 4.0,
                        c.light,
                        &format!(r#" stroke="{}" stroke-width="1""#, c.fill),
                        &format!(
                            "{}: {kind} job for callback {id}\nwaited {} in the queue, then ran {}{}{}",
                            span.lane,
                            human(waited),
                            human(span.duration()),
                            if *failed { "\nresult: an error" } else { "" },
                            if span.unfinished {
                                "\nunfinished when the run ended"
                            } else {
                                ""
                            },
                        ),
                    );
                    let long = format!("{kind} · callback {id}");
                    let short = kind.to_string();
                    for label in [long, short] {
                        if text_width(&label) + 10.0 <= w {
                            svg.text(x + 5.0, y + h / 2.0 + 4.0, "", &label);
                            break;
                        }
                    }
                }
                SpanKind::EpollWait => {
                    let (x, w) = (l.x(span.start), l.x(span.end) - l.x(span.start));
                    svg.rect(
                        x,
                        y + 3.0,
                        w,
                        h - 6.0,
                        "url(#wait)",
                        "",
                        &format!(
                            "epoll: blocked in the OS (epoll_wait / kevent / IOCP) for {}",
                            human(span.duration())
                        ),
                    );
                    let label = "waiting in epoll_wait";
                    if w >= text_width(label) + 12.0 {
                        svg.text(
                            x + 6.0,
                            y + h / 2.0 + 4.0,
                            &format!(r#" fill="{GREY}" font-style="italic""#),
                            label,
                        );
                    }
                }
                SpanKind::EpollForward => {
                    let (x, w) = l.box_x(span.start, span.end);
                    svg.rect(
                        x,
                        y + 5.0,
                        w,
                        h - 10.0,
                        "#666666",
                        "",
                        &format!(
                            "epoll: forwarding events to the loop ({})",
                            human(span.duration())
                        ),
                    );
                }
                _ => {}
            }
        }
        for mark in &model.marks {
            if let MarkKind::SocketReady { token } = mark.what {
                let (x, y) = (l.x(mark.t), l.epoll_y + LANE_H / 2.0);
                svg.raw(format_args!(
                    r#"<path d="M{:.1},{:.1} l5,5 l-5,5 l-5,-5 z" fill="{}"><title>socket of callback {token} ready at {}</title></path>"#,
                    x,
                    y - 5.0,
                    colours(Kind::Http).fill,
                    human(mark.t - start)
                ));
            }
        }
    }

    /// The boxes on `main`, and their labels above it.
    fn callbacks(&mut self) {
        let Picture {
            model,
            l,
            svg,
            boxes,
            label_rows,
            label_extents,
            ..
        } = self;
        // Boxes on main, then their labels above.
        for (n, (i, label, fill, title)) in boxes.iter().enumerate() {
            let span = &model.spans[*i];
            let (x, w) = l.box_x(span.start, span.end);
            let extra = if span.unfinished {
                format!(r#" stroke="{LATE}" stroke-width="1.5" stroke-dasharray="3,2""#)
            } else {
                String::new()
            };
            svg.rect(x, l.main_y + 2.0, w, MAIN_H - 4.0, fill, &extra, title);
            // Row 0 on top: labels at one place read top-down in the order the boxes ran.
            if let Some(row) = label_rows[n] {
                let anchor = x + w / 2.0;
                let (a, b) = label_extents[n];
                let (tx, end) = if a > anchor {
                    (a, "")
                } else {
                    (b, r#" text-anchor="end""#)
                };
                let ty = l.labels_y + 10.0 + row as f64 * LABEL_ROW_H;
                svg.line(
                    anchor,
                    ty - 8.0,
                    anchor,
                    l.main_y + 2.0,
                    r##" stroke="#aaaaaa" stroke-width="0.6""##,
                );
                svg.raw(format_args!(
                    r#"<text x="{tx:.1}" y="{ty:.1}"{end} class="callback-label">{}<title>{}</title></text>"#,
                    Xml(label),
                    Xml(title)
                ));
            }
        }
    }

    /// Each timer: set to due in grey, due to fired in red (how late), and its text.
    fn timers(&mut self) {
        let Picture {
            model,
            l,
            svg,
            timer_texts,
            timer_rows,
            timer_places,
            ..
        } = self;
        let start = model.start;
        // Timers: set -> due (grey), due -> fired (red, how late), and the text.
        for (((timer, text), packed), place) in model
            .timers
            .iter()
            .zip(timer_texts.iter())
            .zip(timer_rows.iter())
            .zip(timer_places.iter())
        {
            // A timer that found no free row shares the last one, without its text.
            let row = packed.unwrap_or(MAX_TIMER_ROWS - 1);
            let y = l.timers_y + row as f64 * TIMER_ROW_H + TIMER_ROW_H / 2.0;
            let set = l.x(timer.set);
            let due = l.x(timer.deadline.min(model.end));
            let stop = timer.cleared.map_or(due, |c| l.x(c).min(due));
            let mut title = format!(
                "{} (callback {}): set at {}, due at {}",
                timer.kind,
                timer.id,
                human(timer.set - start),
                human(timer.deadline.saturating_sub(start))
            );
            match (timer.fired, timer.cleared) {
                (Some(f), _) => {
                    let _ = write!(
                        title,
                        ", its callback ran at {}: {} late",
                        human(f - start),
                        human(f.saturating_sub(timer.deadline))
                    );
                }
                (None, Some(c)) => {
                    let _ = write!(title, ", cleared at {}", human(c - start));
                }
                (None, None) => title.push_str(", never fired"),
            }
            svg.raw(format_args!(
                r#"<g class="timer"><title>{}</title>"#,
                Xml(&title)
            ));
            svg.line(set, y, stop, y, r##" stroke="#9a9a9a" stroke-width="2""##);
            svg.line(
                set,
                y - 3.0,
                set,
                y + 3.0,
                r##" stroke="#9a9a9a" stroke-width="1.5""##,
            );
            if let Some(f) = timer.fired {
                let fx = l.x(f);
                svg.line(
                    due,
                    y - 4.5,
                    due,
                    y + 4.5,
                    &format!(r#" stroke="{INK}" stroke-width="1.5""#),
                );
                svg.rect(due, y - 3.0, (fx - due).max(2.0), 6.0, LATE, "", "");
            } else if timer.cleared.is_some() {
                svg.text(stop - 3.0, y + 4.0, &format!(r#" fill="{LATE}""#), "×");
            }
            if packed.is_some() {
                let (_, tx, end) = *place;
                let attrs = if end {
                    // On (or near) the timer's line: clear a patch of it first.
                    let w = text_width(text) * 10.0 / 11.0;
                    svg.rect(tx - w - 3.0, y - 5.0, w + 6.0, 10.0, "#ffffff", "", "");
                    r#" font-size="10" text-anchor="end""#
                } else {
                    r#" font-size="10""#
                };
                svg.text(tx, y + 4.0, attrs, text);
            }
            svg.raw("</g>");
        }
    }

    /// Arrows from a finished job or a socket event to the callback it made ready, and
    /// from the callback that queued a job to the job.
    fn arrows(&mut self) {
        let Picture { model, l, svg, .. } = self;
        // Arrows: from a finished job or a socket event to the callback it made ready; from
        // the callback that queued a job to the job.
        for flow in &model.flows {
            let from = &model.spans[flow.from];
            let to = &model.spans[flow.to];
            let (x1, x2) = (l.x(flow.from_t), l.x(flow.to_t));
            let (y1, y2, style) = match flow.kind {
                FlowKind::Queued => (
                    l.main_y + MAIN_H + 2.0 + STRIP_H,
                    l.lane_y(to.lane) + 2.0,
                    r##" stroke="#999999" stroke-dasharray="3,2" marker-end="url(#arrow-grey)""##,
                ),
                FlowKind::Result | FlowKind::Socket => (
                    l.lane_y(from.lane) + 2.0,
                    l.main_y + MAIN_H + 2.0 + STRIP_H,
                    r##" stroke="#444444" marker-end="url(#arrow)""##,
                ),
            };
            let ym = (y1 + y2) / 2.0;
            let what = match flow.kind {
                FlowKind::Queued => "queued a job",
                FlowKind::Result => "result handed to the loop",
                FlowKind::Socket => "socket event handed to the loop",
            };
            svg.raw(format_args!(
                r#"<path d="M{x1:.1},{y1:.1} C{x1:.1},{ym:.1} {x2:.1},{ym:.1} {x2:.1},{y2:.1}" fill="none" stroke-width="1"{style}><title>{what}: {} later</title></path>"#,
                human(flow.to_t.saturating_sub(flow.from_t))
            ));
        }
    }

    /// The legend and a note on how to read the picture.
    fn footer(&mut self) {
        let Picture { l, svg, .. } = self;
        legend(svg, l.legend_y);
        svg.text(
            LEFT,
            l.height - 14.0,
            &format!(r#" font-size="10" fill="{GREY}""#),
            "Time runs left to right from the moment the runtime was built; all threads read one clock. \
             Boxes under 3 px are drawn 3 px wide. In a browser, hover over anything for details.",
        );
        svg.raw("</svg>");
    }
}

fn legend(svg: &mut Svg, y0: f64) {
    svg.text(
        LEFT - 10.0,
        y0 + 4.0,
        r#" text-anchor="end" font-weight="bold""#,
        "legend",
    );
    let col = 268.0;
    let item = |svg: &mut Svg, n: usize, draw: &dyn Fn(&mut Svg, f64, f64), label: &str| {
        let (x, y) = (LEFT + (n % 4) as f64 * col, y0 + (n / 4) as f64 * 20.0);
        draw(svg, x, y - 6.0);
        svg.text(x + 30.0, y + 4.0, "", label);
    };
    let swatch = |fill: &'static str, stroke: Option<&'static str>| {
        move |svg: &mut Svg, x: f64, y: f64| {
            let extra = stroke.map_or(String::new(), |s| format!(r#" stroke="{s}""#));
            svg.rect(x, y, 22.0, 12.0, fill, &extra, "");
        }
    };
    let mut n = 0;
    let mut add = |svg: &mut Svg, draw: &dyn Fn(&mut Svg, f64, f64), label: &str| {
        item(svg, n, draw, label);
        n += 1;
    };
    add(svg, &swatch(PROGRAM_FILL, None), "the main program");
    add(
        svg,
        &swatch(colours(Kind::Timeout(0)).fill, None),
        "set_timeout / set_interval callback",
    );
    add(
        svg,
        &swatch(colours(Kind::Immediate).fill, None),
        "set_immediate callback",
    );
    add(
        svg,
        &swatch(colours(Kind::NextTick).fill, None),
        "next_tick callback",
    );
    add(
        svg,
        &swatch(colours(Kind::FileRead).fill, None),
        "Fs::read callback",
    );
    add(
        svg,
        &swatch(
            colours(Kind::FileRead).light,
            Some(colours(Kind::FileRead).fill),
        ),
        "File read job (pool)",
    );
    add(
        svg,
        &swatch(colours(Kind::Encrypt).fill, None),
        "Crypto::encrypt callback",
    );
    add(
        svg,
        &swatch(
            colours(Kind::Encrypt).light,
            Some(colours(Kind::Encrypt).fill),
        ),
        "Encrypt job (pool)",
    );
    add(
        svg,
        &swatch(colours(Kind::Http).fill, None),
        "Io::http_get_slow callback",
    );
    add(
        svg,
        &swatch("url(#wait)", Some("#cccccc")),
        "waiting (poll phase, epoll_wait)",
    );
    add(
        svg,
        &|svg: &mut Svg, x: f64, y: f64| {
            svg.line(
                x,
                y + 6.0,
                x + 16.0,
                y + 6.0,
                r##" stroke="#9a9a9a" stroke-width="2""##,
            );
            svg.line(
                x + 16.0,
                y + 1.5,
                x + 16.0,
                y + 10.5,
                &format!(r#" stroke="{INK}" stroke-width="1.5""#),
            );
            svg.rect(x + 16.0, y + 3.0, 6.0, 6.0, LATE, "", "");
        },
        "timer: set → deadline, then late",
    );
    add(
        svg,
        &|svg: &mut Svg, x: f64, y: f64| {
            let c = colours(Kind::FileRead).fill;
            svg.line(
                x,
                y + 6.0,
                x + 22.0,
                y + 6.0,
                &format!(r#" stroke="{c}" stroke-width="1.5" stroke-dasharray="2,2""#),
            );
        },
        "a job waiting in the pool's queue",
    );
    add(
        svg,
        &|svg: &mut Svg, x: f64, y: f64| {
            svg.line(
                x,
                y + 6.0,
                x + 20.0,
                y + 6.0,
                r##" stroke="#444444" marker-end="url(#arrow)""##,
            );
        },
        "a result handed to the loop",
    );
    add(
        svg,
        &|svg: &mut Svg, x: f64, y: f64| {
            svg.line(
                x,
                y + 6.0,
                x + 20.0,
                y + 6.0,
                r##" stroke="#999999" stroke-dasharray="3,2" marker-end="url(#arrow-grey)""##,
            );
        },
        "a callback queues a pool job",
    );
    add(
        svg,
        &|svg: &mut Svg, x: f64, y: f64| {
            svg.raw(format_args!(
                r#"<path d="M{:.1},{:.1} l5,5 l-5,5 l-5,-5 z" fill="{}"/>"#,
                x + 11.0,
                y + 1.0,
                colours(Kind::Http).fill
            ));
        },
        "a socket event (poll thread)",
    );
    add(
        svg,
        &|svg: &mut Svg, x: f64, y: f64| {
            svg.line(
                x + 11.0,
                y - 2.0,
                x + 11.0,
                y + 14.0,
                r##" stroke="#8a8a8a" stroke-dasharray="3,2""##,
            );
        },
        "a new tick begins",
    );
    add(
        svg,
        &|svg: &mut Svg, x: f64, y: f64| {
            for (k, phase) in [Phase::Timers, Phase::Pending, Phase::Poll, Phase::Check]
                .into_iter()
                .enumerate()
            {
                svg.rect(
                    x + k as f64 * 6.0,
                    y + 3.0,
                    5.0,
                    7.0,
                    phase_fill(phase),
                    "",
                    "",
                );
            }
        },
        "phases: timers, pending, poll, check",
    );
}

/// The text timeline: a row of characters per thread.
fn text(model: &Model) -> String {
    const COLS: usize = 80;
    let start = model.start;
    let span = (model.end - start).max(1);
    let col = |t: u64| {
        ((t.saturating_sub(start) as u128 * COLS as u128 / span as u128) as usize).min(COLS - 1)
    };
    let lanes: Vec<Lane> = Lane::all(model.threads).collect();
    let mut rows: Vec<Vec<char>> = vec![vec![' '; COLS]; lanes.len()];
    let mut main_count = vec![0u32; COLS];
    let mut ticks = vec![' '; COLS];
    let row_of = |lane: Lane| lane.index(model.threads);

    // Waits first, so that anything else drawn in the same column wins.
    for span in &model.spans {
        if matches!(span.what, SpanKind::PollWait { .. } | SpanKind::EpollWait) {
            rows[row_of(span.lane)][col(span.start)..=col(span.end)].fill('.');
        }
    }
    let (mut busy, mut longest): (u64, Option<(u64, String)>) = (0, None);
    let mut callbacks = 0;
    for span in &model.spans {
        match &span.what {
            SpanKind::Tick(_) => ticks[col(span.start)] = '|',
            SpanKind::Job { kind, .. } => {
                let letter = match kind {
                    EventKind::FileRead => 'F',
                    EventKind::Encrypt => 'C',
                };
                // The first column in capitals, so that back-to-back jobs stay apart.
                let row = &mut rows[row_of(span.lane)];
                row[col(span.start)..=col(span.end)].fill(letter.to_ascii_lowercase());
                row[col(span.start)] = letter;
            }
            SpanKind::Program { .. } | SpanKind::Callback(_) => {
                let (letter, name) = match &span.what {
                    SpanKind::Callback(run) => (
                        match run.kind {
                            Kind::Timeout(_) | Kind::Interval(_) => 'T',
                            Kind::Immediate => 'I',
                            Kind::NextTick => 'N',
                            Kind::FileRead => 'R',
                            Kind::Encrypt => 'E',
                            Kind::Http => 'H',
                            Kind::Unknown => '?',
                        },
                        format!("{} callback", run.kind),
                    ),
                    _ => ('M', "the main program".to_string()),
                };
                callbacks += 1;
                busy += span.duration();
                if longest.as_ref().is_none_or(|(d, _)| span.duration() > *d) {
                    longest = Some((span.duration(), name));
                }
                let c = col(span.start);
                main_count[c] += 1;
                rows[0][c] = match main_count[c] {
                    1 => letter,
                    n @ 2..=9 => char::from_digit(n, 10).unwrap_or('+'),
                    _ => '+',
                };
            }
            _ => {}
        }
    }
    for mark in &model.marks {
        if let MarkKind::SocketReady { .. } = mark.what {
            rows[row_of(mark.lane)][col(mark.t)] = '*';
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nTimeline of this run: {}, {} ticks, one column = {} (see README, \"See the loop\")",
        human(span),
        model.ticks,
        human(span / COLS as u64)
    );
    // An axis with a few labels.
    let mut axis = vec![' '; COLS + 10];
    let step = axis_step(span, 4);
    let mut t = 0;
    while t <= span {
        let label = axis_label(t, step);
        let c = col(start + t);
        if c + label.chars().count() <= COLS + 8 {
            for (k, ch) in label.chars().enumerate() {
                axis[c + k] = ch;
            }
        }
        t += step;
    }
    let _ = writeln!(out, "       {}", axis.iter().collect::<String>().trim_end());
    let _ = writeln!(
        out,
        "ticks  {}",
        ticks.iter().collect::<String>().trim_end()
    );
    for (lane, row) in lanes.iter().zip(&rows) {
        let line = format!("{:<7}{}", lane.to_string(), row.iter().collect::<String>());
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(
        out,
        "key    main: M main program, T timer, I set_immediate, N next_tick, R Fs::read,\n       \
         E Crypto::encrypt, H Io::http_get_slow callback; 2-9: that many in one column\n       \
         pools: F File read job, C Encrypt job   . waiting   * socket event   | new tick"
    );
    let waited: u64 = model
        .spans
        .iter()
        .filter(|s| matches!(s.what, SpanKind::PollWait { .. }))
        .map(Span::duration)
        .sum();
    let mut summary = format!(
        "main   {callbacks} callbacks ran for {} in all; {} waiting in the poll phase",
        human(busy),
        human(waited)
    );
    if let Some((d, name)) = longest {
        let _ = write!(
            summary,
            ";\n       the longest, {}, blocked the loop for {}",
            name,
            human(d)
        );
    }
    let _ = writeln!(out, "{summary}");
    let late: Vec<u64> = model
        .timers
        .iter()
        .filter_map(|t| Some(t.fired?.saturating_sub(t.deadline)))
        .collect();
    if let (Some(min), Some(max)) = (late.iter().min(), late.iter().max()) {
        let _ = writeln!(
            out,
            "timers {} fired, each {} to {} after its deadline (never before)",
            late.len(),
            human(*min),
            human(*max)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_the_five_characters_and_drops_forbidden_ones() {
        assert_eq!(
            Xml("a<b>&\"c\"'\u{1}").to_string(),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;\u{fffd}"
        );
    }

    #[test]
    fn shorten_keeps_one_line_and_cuts_at_characters() {
        assert_eq!(shorten("héllo wörld", 6), "héllo…");
        assert_eq!(shorten("one\ntwo", 20), "one …");
        assert_eq!(shorten("short", 20), "short");
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(axis_step(3_500_000_000, 10), 500_000_000);
        assert_eq!(axis_step(1_000, 10), 100);
        assert_eq!(axis_label(500_000_000, 500_000_000), "0.5 s");
        assert_eq!(axis_label(2_000_000, 1_000_000), "2 ms");
    }

    #[test]
    fn packing_never_overlaps_in_a_row() {
        let rows = pack(&[(0.0, 10.0), (5.0, 15.0), (20.0, 30.0), (1.0, 2.0)], 2);
        assert_eq!(rows, [Some(0), Some(1), Some(0), None]);
    }

    #[test]
    fn off_draws_a_note() {
        let off = Recording::default();
        assert!(off.svg().contains("Recording was off"));
        assert!(off.text_timeline().contains("recording was off"));
    }
}
