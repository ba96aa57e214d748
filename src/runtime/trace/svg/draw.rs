//! Drawing the planned picture, one part at a time, back to front.
//!
//! Book: not in the book (it draws no pictures). Each part is one method, called in the
//! order the SVG paints: what comes later is drawn on top, so the lanes go first and the
//! arrows last.

use std::fmt::Write as _;

use super::legend::legend;
use super::{
    FONT, GREY, INK, LABEL_ROW_H, LANE_H, LATE, LEFT, Layout, MAIN_H, MAX_TIMER_ROWS, PLOT,
    Picture, STRIP_H, Svg, TIMER_ROW_H, WIDTH, Xml, colours, phase_fill, text_width,
};
use crate::runtime::trace::model::{FlowKind, MarkKind, Model, Span, SpanKind};
use crate::runtime::trace::units::{axis_label, axis_step, human};
use crate::runtime::trace::{Kind, Lane, nanos, program_name};

/// The picture of `model` as SVG text: planned first, then drawn part by part.
pub(super) fn draw(model: &Model) -> String {
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
                    let until = match timeout {
                        Some(t) => format!("at most {}: the next timer", human(nanos(*t))),
                        None => "with no timer pending: until an event".to_string(),
                    };
                    let woke = match woke {
                        Some(source) => format!("woken because {source}"),
                        None => "woken by the timeout: a timer is due".to_string(),
                    };
                    let title = format!(
                        "poll phase: waiting for events {until}\nwaited {}; {woke}",
                        human(span.duration())
                    );
                    wait(svg, l, span, &title, "waiting in the poll phase");
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
                    let title = format!(
                        "epoll: blocked in the OS (epoll_wait / kevent / IOCP) for {}",
                        human(span.duration())
                    );
                    wait(svg, l, span, &title, "waiting in epoll_wait");
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

/// A wait (in the poll phase, or in `epoll_wait`) on its span's lane: a hatched box with
/// `title` as its tooltip, and `label` written in it when the box is wide enough.
fn wait(svg: &mut Svg, l: &Layout, span: &Span, title: &str, label: &str) {
    let (x, w) = (l.x(span.start), l.x(span.end) - l.x(span.start));
    let (y, h) = (l.lane_y(span.lane), l.lane_h(span.lane));
    svg.rect(x, y + 3.0, w, h - 6.0, "url(#wait)", "", title);
    if w >= text_width(label) + 12.0 {
        svg.text(
            x + 6.0,
            y + h / 2.0 + 4.0,
            &format!(r#" fill="{GREY}" font-style="italic""#),
            label,
        );
    }
}
