//! The text timeline: the record as rows of characters, one per thread, for a terminal.
//!
//! Book: not in the book (its output is the `println!` lines, which this sums up).
//! [`Recording::text_timeline`] prints the same lanes as the SVG picture as rows of
//! characters, for a terminal; the example prints it after the run. A column is a slice
//! of time, so what a column cannot show (several callbacks in one) is said as a count,
//! and a summary gives the numbers.

use std::fmt::Write as _;

use super::model::{MarkKind, Model, Span, SpanKind};
use super::units::{axis_label, axis_step, human};
use super::{Kind, Lane, Recording};
use crate::runtime::threadpool::EventKind;

impl Recording {
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
