//! The Chrome trace a recorded run writes (`RuntimeBuilder::trace`,
//! `NODE_EXPERIMENT_TRACE`): valid JSON in the Trace Event format, every span closed,
//! every event on the right thread, spans on one thread nested, and the contents true to
//! what the program did.

mod util;

use std::cell::Cell;
use std::process::Stdio;
use std::rc::Rc;

use node_experiment::runtime::{
    Crypto, Fs, Io, Runtime, clear_interval, clear_timeout, next_tick, print, set_immediate,
    set_interval, set_timeout,
};
use util::runtime::{LIMIT, TEST_TXT, TempPath, builder};
use util::trace::{Json, check_trace, parse_json, parse_xml};
use util::{child_test, wait_for_child, within};

/// Text with every character JSON (and XML) must escape.
const AWKWARD: &str = "quote \" backslash \\ <tag> & 'apos' tab\t bell\u{7} é";

/// A program that uses every kind of callback, a pool with a queue, a socket and timers
/// that are set, re-armed and cleared. Returns how many callbacks it expects to run.
fn busy_program(ran: Rc<Cell<usize>>) {
    let count = move || {
        let ran = ran.clone();
        move || ran.set(ran.get() + 1)
    };
    print(AWKWARD);
    let c = count();
    set_timeout(0, move |_| c());
    let c = count();
    set_timeout(5, move |_| c());
    let c = count();
    set_immediate(move |_| c());
    let c = count();
    next_tick(move |_| c());
    let c = count();
    let c2 = count();
    Fs::read(TEST_TXT, move |_| {
        c();
        Fs::read(TEST_TXT, move |_| c2());
    });
    // Six jobs on two threads: four wait in the queue.
    for n in 20..26 {
        let c = count();
        Crypto::encrypt(n, move |_| c());
    }
    let c = count();
    Io::http_get_slow("example.com", 15, move |_| c());
    let never = set_timeout(10_000, |_| panic!("cleared timers never fire"));
    let c = count();
    set_timeout(1, move |_| {
        c();
        clear_timeout(never);
    });
    let fired = Rc::new(Cell::new(0));
    let me = Rc::new(Cell::new(None));
    let (f, m, c) = (fired.clone(), me.clone(), count());
    me.set(Some(set_interval(2, move |_| {
        c();
        f.set(f.get() + 1);
        if f.get() == 3 {
            clear_interval(m.get().expect("the handle is set"));
        }
    })));
}

/// Callbacks `busy_program` runs: 2 timers, 1 immediate, 1 next_tick, 2 reads, 6
/// encrypts, 1 request, the clearing timer, 3 interval firings.
const BUSY_CALLBACKS: usize = 17;

#[test]
fn a_recorded_run_writes_a_valid_chrome_trace() {
    let file = TempPath::new("trace.json");
    let path = file.path().to_path_buf();
    let ran = within(LIMIT, "the busy program", move || {
        let ran = Rc::new(Cell::new(0));
        let r = ran.clone();
        builder()
            .threads(2)
            .trace(&path)
            .build()
            .expect("the runtime starts")
            .run(move || busy_program(r));
        ran.get()
    });
    assert_eq!(ran, BUSY_CALLBACKS);
    let text = std::fs::read_to_string(file.path()).expect("the trace file was written");
    let trace = check_trace(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    // One named thread per lane, nothing else.
    let names: Vec<&str> = trace.threads.values().map(String::as_str).collect();
    assert_eq!(names, ["main", "pool0", "pool1", "epoll"]);

    // Every callback, and the main program, is a span on main.
    let callbacks = trace.slices_in("callback");
    assert_eq!(callbacks.len(), BUSY_CALLBACKS + 1, "{callbacks:#?}");
    assert_eq!(
        callbacks
            .iter()
            .filter(|s| s.name == "main program")
            .count(),
        1
    );
    for kind in [
        "set_timeout(0) callback",
        "set_timeout(5) callback",
        "set_immediate callback",
        "next_tick callback",
        "Fs::read callback",
        "Crypto::encrypt callback",
        "Io::http_get_slow callback",
        "set_interval(2) callback",
    ] {
        assert!(
            callbacks.iter().any(|s| s.name == kind),
            "no {kind:?} among {:?}",
            callbacks.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
    }
    // Eight jobs on the pool threads, each with its result flowing to its callback and
    // an arrow from the callback that queued it; one socket event for the request.
    assert_eq!(trace.slices_in("job").len(), 8);
    let flows = |name: &str| trace.flows.iter().filter(|f| f.0 == name).count();
    assert_eq!(flows("result"), 8);
    assert_eq!(flows("queued"), 8);
    assert_eq!(flows("socket ready"), 1);
    let main = trace.tid_of("main");
    for f in &trace.flows {
        match f.0.as_str() {
            "result" | "socket ready" => assert_eq!(f.3, main, "{f:?}"),
            _ => assert_eq!(f.1, main, "{f:?}"),
        }
    }
    // Some jobs waited in the queue: two threads, six encrypts queued at once.
    let waited = trace
        .slices_in("job")
        .iter()
        .filter_map(|s| s.args.as_ref()?.get("waited_in_queue_ms")?.num())
        .filter(|ms| *ms > 0.0)
        .count();
    assert!(waited >= 1, "no job waited in the queue");

    // Ticks: as many spans as the trace says, each holding its phases.
    let ticks = trace.slices_in("tick");
    let said = trace
        .root
        .get("otherData")
        .and_then(|o| o.get("ticks"))
        .and_then(Json::num)
        .expect("otherData.ticks");
    assert_eq!(ticks.len() as f64, said);
    assert!(ticks.len() >= 2);
    for phase in trace.slices_in("phase") {
        assert!(
            ticks
                .iter()
                .any(|t| t.start <= phase.start && phase.end <= t.end),
            "{phase:?} is in no tick"
        );
    }
    // Every callback but those before the first tick runs inside a phase.
    let first_tick = ticks.iter().map(|t| t.start).min().expect("a tick");
    for cb in callbacks.iter().filter(|c| c.start >= first_tick) {
        assert!(
            trace
                .slices_in("phase")
                .iter()
                .any(|p| p.start <= cb.start && cb.end <= p.end),
            "{cb:?} ran outside every phase"
        );
    }

    // Timers: none ran before its deadline; the cleared one never fired.
    for cb in &callbacks {
        if let Some(late) = cb.args.as_ref().and_then(|a| a.get("late_ms")) {
            assert!(late.num().expect("a number") >= 0.0, "{cb:?}");
        }
    }
    assert!(
        trace
            .asyncs
            .iter()
            .any(|(cat, name)| cat == "timer" && name.starts_with("set_timeout(10000)"))
    );
    assert!(
        !callbacks
            .iter()
            .any(|s| s.name == "set_timeout(10000) callback"),
        "the cleared timer ran"
    );

    // What the program printed, escaped and unescaped correctly.
    assert!(
        trace
            .instants
            .iter()
            .any(|(name, tid, _)| *name == format!("print: {AWKWARD}") && *tid == main),
        "the awkward print is missing or mangled"
    );
}

#[test]
fn a_run_that_panics_still_writes_a_trace_with_every_span_closed() {
    let file = TempPath::new("trace-panic.json");
    let path = file.path().to_path_buf();
    let panicked = within(LIMIT, "the panicking program", move || {
        std::panic::catch_unwind(|| {
            builder()
                .trace(&path)
                .build()
                .expect("the runtime starts")
                .run(|| {
                    Crypto::encrypt(10, |_| {});
                    set_timeout(1, |_| panic!("boom"));
                });
        })
        .is_err()
    });
    assert!(panicked, "run should pass the callback's panic on");
    let text = std::fs::read_to_string(file.path()).expect("the trace file was written");
    let trace = check_trace(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let unfinished: Vec<&str> = trace
        .slices
        .iter()
        .filter(|s| s.args.as_ref().and_then(|a| a.get("unfinished")) == Some(&Json::Bool(true)))
        .map(|s| s.name.as_str())
        .collect();
    assert!(
        unfinished.contains(&"set_timeout(1) callback"),
        "the panicking callback is not marked unfinished: {unfinished:?}"
    );
}

#[test]
fn without_recording_nothing_is_recorded() {
    within(LIMIT, "a quiet run", || {
        let rt = Runtime::builder()
            .verbose(false)
            .record(false)
            .build()
            .unwrap();
        let recording = rt.recording();
        rt.run(|| {
            set_timeout(1, |_| {});
        });
        // Unless the environment asks for a file, a runtime does not record.
        if std::env::var_os("NODE_EXPERIMENT_TRACE").is_none()
            && std::env::var_os("NODE_EXPERIMENT_TIMELINE").is_none()
        {
            assert!(!recording.is_on());
            let json = parse_json(&recording.chrome_trace_json()).expect("valid JSON");
            assert_eq!(json.get("traceEvents"), Some(&Json::Arr(Vec::new())));
        }
    });
}

/// The child of `the_environment_variables_ask_for_files`: a plain runtime, no builder
/// calls about recording. Does nothing unless run as that child.
#[test]
fn env_child() {
    if std::env::var_os("TRACE_JSON_CHILD").is_none() {
        return;
    }
    Runtime::builder().verbose(false).build().unwrap().run(|| {
        Crypto::encrypt(15, |_| {});
        set_timeout(2, |_| {});
    });
}

#[test]
fn the_environment_variables_ask_for_files() {
    let json = TempPath::new("env.json");
    let svg = TempPath::new("env.svg");
    let mut child = child_test("env_child")
        .env("TRACE_JSON_CHILD", "1")
        .env("NODE_EXPERIMENT_TRACE", json.path())
        .env("NODE_EXPERIMENT_TIMELINE", svg.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test binary as a child");
    wait_for_child(&mut child, LIMIT, "the child");
    let out = child.wait_with_output().expect("the child's output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(json.path()).expect("NODE_EXPERIMENT_TRACE was written");
    let trace = check_trace(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trace.slices_in("job").len(), 1);
    let svg = std::fs::read_to_string(svg.path()).expect("NODE_EXPERIMENT_TIMELINE was written");
    parse_xml(&svg).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_json_parser_rejects_what_json_forbids() {
    assert!(parse_json(r#"{"a":[1,2.5,-0.125,1e3,true,null,"x\u00e9\n\ud83d\ude00"]}"#).is_ok());
    for bad in [
        "{\"a\":1,}",
        "[1,]",
        "01",
        "\"raw\ttab\"",
        "{\"a\":1,\"a\":2}",
        "[1] x",
        "\"\\q\"",
        "NaN",
        "\"\\ud83d\"",
    ] {
        assert!(parse_json(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn the_trace_checker_rejects_overlaps_and_open_spans() {
    let head = r#"{"traceEvents":[{"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"main"}},"#;
    let ok = format!(
        r#"{head}{{"name":"a","cat":"tick","ph":"X","pid":1,"tid":1,"ts":0.000,"dur":10.000}},{{"name":"b","cat":"phase","ph":"X","pid":1,"tid":1,"ts":2.000,"dur":8.000}}]}}"#
    );
    assert!(check_trace(&ok).is_ok(), "{:?}", check_trace(&ok).err());
    let overlap = format!(
        r#"{head}{{"name":"a","cat":"tick","ph":"X","pid":1,"tid":1,"ts":0.000,"dur":10.000}},{{"name":"b","cat":"phase","ph":"X","pid":1,"tid":1,"ts":5.000,"dur":8.000}}]}}"#
    );
    assert!(check_trace(&overlap).is_err());
    let open =
        format!(r#"{head}{{"name":"a","cat":"tick","ph":"B","pid":1,"tid":1,"ts":0.000}}]}}"#);
    assert!(check_trace(&open).is_err());
    let wrong_thread = format!(
        r#"{head}{{"name":"a","cat":"job","ph":"X","pid":1,"tid":1,"ts":0.000,"dur":1.000}}]}}"#
    );
    assert!(check_trace(&wrong_thread).is_err());
}

#[test]
fn the_xml_checker_rejects_what_xml_forbids() {
    assert!(parse_xml(r#"<?xml version="1.0"?><a x="1 &amp; 2"><b/>t&lt;<!-- c --></a>"#).is_ok());
    for bad in [
        "<a><b></a></b>",
        "<a x=1/>",
        "<a>&nbsp;</a>",
        "<a>AT&T</a>",
        "<a x=\"<\"/>",
        "<a/><b/>",
        "<a x=\"1\" x=\"2\"/>",
        "<a>\u{1}</a>",
        "<a>",
    ] {
        assert!(parse_xml(bad).is_err(), "accepted {bad:?}");
    }
}
