//! Planning the picture: what goes where, worked out before anything is drawn.
//!
//! Book: not in the book (it draws no pictures). Timers and the labels of the boxes on
//! `main` are packed into rows so that none hides another, and how many rows they need
//! decides how tall the picture is; so the whole layout is settled first, then drawn.

use std::fmt::Write as _;

use super::{
    LABEL_CHARS, LABEL_ROW_H, LANE_GAP, LANE_H, LEFT, Layout, MAIN_H, MAX_LABEL_ROWS,
    MAX_TIMER_ROWS, PROGRAM_FILL, Picture, RIGHT, STRIP_H, Svg, TIMER_ROW_H, WIDTH, colours,
    shorten, text_width,
};
use crate::runtime::trace::Kind;
use crate::runtime::trace::model::{CallbackRun, Model, Span, SpanKind};
use crate::runtime::trace::units::human;

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

impl Picture<'_> {
    /// Works out where everything goes: the rows of timers and of labels decide how tall
    /// the picture is.
    pub(super) fn plan(model: &Model) -> Picture<'_> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_never_overlaps_in_a_row() {
        let rows = pack(&[(0.0, 10.0), (5.0, 15.0), (20.0, 30.0), (1.0, 2.0)], 2);
        assert_eq!(rows, [Some(0), Some(1), Some(0), None]);
    }
}
