//! Times written for a reader, shared by the SVG picture and the text timeline.
//!
//! Book: not in the book (its output lines carry no times). A run spans seconds and a callback
//! microseconds, so each time is written in the unit that suits it, and each time axis
//! steps in round numbers whatever the length of the run.

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
pub(super) fn axis_step(span: u64, parts: u64) -> u64 {
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
pub(super) fn axis_label(t: u64, step: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(axis_step(3_500_000_000, 10), 500_000_000);
        assert_eq!(axis_step(1_000, 10), 100);
        assert_eq!(axis_label(500_000_000, 500_000_000), "0.5 s");
        assert_eq!(axis_label(2_000_000, 1_000_000), "2 ms");
    }
}
