//! The SVG timeline (`RuntimeBuilder::timeline`, `NODE_EXPERIMENT_TIMELINE`) and the text
//! timeline: well-formed, self-contained, and showing every thread of the run.

mod util;

use node_experiment::runtime::{Crypto, Fs, Io, Recording, Runtime, print, set_timeout};
use util::runtime::{LIMIT, TEST_TXT, TempPath, builder};
use util::trace::{Element, parse_xml};
use util::within;

/// A label with every character XML must escape (short enough not to be cut).
const AWKWARD: &str = "a<b & \"c\" 'd'>";

fn lane_names(svg: &Element) -> Vec<String> {
    svg.descendants()
        .into_iter()
        .filter(|e| e.name == "text" && e.attr("class") == Some("lane-label"))
        .map(Element::text)
        .collect()
}

/// Runs a small program with recording on; returns the handle and what the file holds.
fn recorded_run(threads: usize, file: &TempPath) -> (Recording, String) {
    let path = file.path().to_path_buf();
    let recording = within(LIMIT, "a recorded run", move || {
        let rt = builder().threads(threads).timeline(&path).build().unwrap();
        let recording = rt.recording();
        rt.run(|| {
            Fs::read(TEST_TXT, |_| {
                print(AWKWARD);
                Crypto::encrypt(25, |_| print("encrypted"));
            });
            set_timeout(3, |_| print("timer"));
            Io::http_get_slow("svg.example", 5, |_| print("response"));
        });
        recording
    });
    let svg = std::fs::read_to_string(file.path()).expect("the timeline file was written");
    (recording, svg)
}

#[test]
fn the_svg_is_well_formed_and_shows_every_thread() {
    let file = TempPath::new("timeline.svg");
    let (recording, text) = recorded_run(3, &file);
    let svg = parse_xml(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(svg.name, "svg");
    assert_eq!(svg.attr("xmlns"), Some("http://www.w3.org/2000/svg"));
    for size in ["width", "height"] {
        let v: f64 = svg
            .attr(size)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no numeric {size}"));
        assert!(v > 100.0, "{size} = {v}");
    }
    // Every thread of the run has its lane, even a pool thread that did nothing.
    assert_eq!(
        lane_names(&svg),
        ["main", "pool0", "pool1", "pool2", "epoll"]
    );
    let lanes: Vec<&str> = svg
        .descendants()
        .into_iter()
        .filter_map(|e| e.attr("data-lane"))
        .collect();
    assert_eq!(lanes, ["main", "pool0", "pool1", "pool2", "epoll"]);
    // Self-contained: no script, no external reference.
    for e in svg.descendants() {
        assert_ne!(e.name, "script");
        for (k, v) in &e.attrs {
            assert!(
                !k.ends_with("href") || v.starts_with('#'),
                "external reference {k}={v}"
            );
            assert!(!v.contains("http://") || k == "xmlns", "{k}={v}");
        }
    }
    // The awkward print is a callback's label, escaped in the file, intact once parsed.
    let labels: Vec<String> = svg
        .descendants()
        .into_iter()
        .filter(|e| e.attr("class") == Some("callback-label"))
        .map(Element::text)
        .collect();
    assert!(labels.iter().any(|l| l == AWKWARD), "labels: {labels:?}");
    assert!(
        labels.iter().any(|l| l == "encrypted"),
        "labels: {labels:?}"
    );
    // The same picture is available from the handle.
    assert!(parse_xml(&recording.svg()).is_ok());
}

#[test]
fn the_text_timeline_has_a_row_per_thread() {
    let file = TempPath::new("timeline-text.svg");
    let (recording, _) = recorded_run(2, &file);
    let text = recording.text_timeline();
    for lane in ["ticks", "main", "pool0", "pool1", "epoll"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{lane} ")) || l == lane),
            "no {lane} row in:\n{text}"
        );
    }
    // A job on the pool (F for a file read, C for encrypt), a callback on main, a socket
    // event on epoll.
    let row = |lane: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{lane} ")))
            .unwrap_or("")
            .to_string()
    };
    let pools = row("pool0") + &row("pool1");
    assert!(pools.contains('F') && pools.contains('C'), "{text}");
    // The read's callback shows as `R`, unless another callback ran in the same column
    // (a column is 1/80 of the run; under Wine callbacks bunch up): then the column shows
    // how many ran in it, a digit.
    let main = row("main");
    assert!(
        main.contains('R') || main.chars().skip(7).any(|c| ('2'..='9').contains(&c)),
        "{text}"
    );
    assert!(row("epoll").contains('*'), "{text}");
    assert!(text.contains("after its deadline (never before)"), "{text}");
}

#[test]
fn a_long_run_with_many_callbacks_stays_well_formed() {
    let file = TempPath::new("timeline-many.svg");
    let path = file.path().to_path_buf();
    let text = within(LIMIT, "many timers", move || {
        let rt = builder().threads(1).timeline(&path).build().unwrap();
        let recording = rt.recording();
        rt.run(|| {
            for n in 0..300 {
                set_timeout(n % 20, move |_| print(format!("timer {n} <&>")));
            }
            for _ in 0..20 {
                Crypto::encrypt(5, |_| {});
            }
        });
        recording.svg()
    });
    let svg = parse_xml(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lane_names(&svg), ["main", "pool0", "epoll"]);
    let written = std::fs::read_to_string(file.path()).expect("written");
    assert_eq!(
        written, text,
        "the file and the handle draw the same picture"
    );
}

#[test]
fn recording_off_draws_a_note_not_an_error() {
    let rt = Runtime::builder().verbose(false).build().unwrap();
    let recording = rt.recording();
    drop(rt);
    if !recording.is_on() {
        let svg = parse_xml(&recording.svg()).expect("well-formed");
        assert_eq!(svg.name, "svg");
        assert!(recording.text_timeline().contains("recording was off"));
    }
}
