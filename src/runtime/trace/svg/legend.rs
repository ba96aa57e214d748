//! The picture's legend: a swatch or a stroke for each thing drawn, and what it means.
//!
//! Book: not in the book (it draws no pictures). Each swatch is drawn with the same
//! colours and strokes as the picture, so the key cannot drift from what it explains.

use super::{INK, LATE, LEFT, PROGRAM_FILL, Svg, colours, phase_fill};
use crate::runtime::trace::{Kind, Phase};

pub(super) fn legend(svg: &mut Svg, y0: f64) {
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
    // A line `length` long, styled as the picture draws it.
    let line = |length: f64, attrs: &str| {
        let attrs = attrs.to_string();
        move |svg: &mut Svg, x: f64, y: f64| svg.line(x, y + 6.0, x + length, y + 6.0, &attrs)
    };
    let mut n = 0;
    let mut add = |svg: &mut Svg, draw: &dyn Fn(&mut Svg, f64, f64), label: &str| {
        item(svg, n, draw, label);
        n += 1;
    };
    // The boxes: a fill, with a stroke for a job's light tint and for a wait.
    let callback = |kind: Kind| (colours(kind).fill, None);
    let job = |kind: Kind| (colours(kind).light, Some(colours(kind).fill));
    for ((fill, stroke), label) in [
        ((PROGRAM_FILL, None), "the main program"),
        (
            callback(Kind::Timeout(0)),
            "set_timeout / set_interval callback",
        ),
        (callback(Kind::Immediate), "set_immediate callback"),
        (callback(Kind::NextTick), "next_tick callback"),
        (callback(Kind::FileRead), "Fs::read callback"),
        (job(Kind::FileRead), "File read job (pool)"),
        (callback(Kind::Encrypt), "Crypto::encrypt callback"),
        (job(Kind::Encrypt), "Encrypt job (pool)"),
        (callback(Kind::Http), "Io::http_get_slow callback"),
        (
            ("url(#wait)", Some("#cccccc")),
            "waiting (poll phase, epoll_wait)",
        ),
    ] {
        add(svg, &swatch(fill, stroke), label);
    }
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
    let c = colours(Kind::FileRead).fill;
    add(
        svg,
        &line(
            22.0,
            &format!(r#" stroke="{c}" stroke-width="1.5" stroke-dasharray="2,2""#),
        ),
        "a job waiting in the pool's queue",
    );
    add(
        svg,
        &line(20.0, r##" stroke="#444444" marker-end="url(#arrow)""##),
        "a result handed to the loop",
    );
    add(
        svg,
        &line(
            20.0,
            r##" stroke="#999999" stroke-dasharray="3,2" marker-end="url(#arrow-grey)""##,
        ),
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
