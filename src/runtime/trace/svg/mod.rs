//! Drawing a recorded run as a self-contained SVG picture.
//!
//! Book: not in the book. It draws what the book's output lines say ("Thread: pool1
//! received a task of type: File read", "===== TICK 3 =====") as one picture: time runs
//! left to right, each thread is a row.
//!
//! [`Recording::svg`] draws one lane per thread (`main`, `pool0`..`poolN-1`, `epoll`), the
//! tick boundaries, a box per callback labelled with what it printed, the phases of each
//! tick, the waits (hatched), each timer from the moment it was set to its deadline with
//! its lateness in red, each pool job with the time it waited in the queue, arrows from a
//! job's result (or a socket event) to its callback, and a legend. Plain SVG 1.1: no
//! script, no external font or style sheet, so any browser opens it, and hovering a box
//! shows its details (`<title>`).
//!
//! Callbacks take microseconds and a run takes seconds, so at any width most callbacks
//! are far thinner than a pixel. Boxes are therefore drawn at least [`MIN_BOX`] wide and
//! labels are stacked in rows above the `main` lane, each tied to its box by a thin line.
//!
//! This file holds what every part of the drawing shares: sizes, colours, the SVG writer
//! and the [`Layout`]. `plan.rs` works out where everything goes before a line is written,
//! `draw.rs` then draws the picture part by part, and `legend.rs` draws its key.

use std::fmt::{self, Display, Write as _};

use super::model::Model;
use super::{Kind, Lane, Phase, Recording};

mod draw;
mod legend;
mod plan;

use draw::draw;

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
}
