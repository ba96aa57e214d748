//! The oracle's spec checker, in Rust: the same directives and the same verdicts as
//! `tests/oracle/check.js`, Node's own checker, applied to the output of our programs.
//!
//! A spec (`tests/oracle/<case>.spec`) lists rules that real Node.js kept in every one of
//! 40 runs of the case's program (see `tests/oracle/README.md`). One directive a line; `#`
//! starts a comment line; `<text>` is the rest of the line, compared verbatim with whole
//! output lines:
//!
//! | directive | holds when |
//! |---|---|
//! | `exit <code>` | the exit status is `<code>`, Node's; see [`rust_exit_for`] |
//! | `lines <n>` | there are exactly n output lines |
//! | `first <text>` / `last <text>` | the first / last line is `<text>` |
//! | `once <text>` / `count <n> <text>` / `never <text>` | `<text>` occurs 1 / n / 0 times |
//! | `stderr <text>` | standard error contains `<text>` |
//! | `order A => B [=> C ..]` | each line occurs, and every occurrence of each precedes every occurrence of the next |
//! | `node-order A => B ..` | the same check; the rule follows from a Node-specific mechanism |
//! | `time <lo> <hi> <text>` | `<text>` is first printed between `lo*scale - 2` and `hi*scale + slack` ms after start; `@exit` is the exit |
//!
//! Our programs print through the book's `print` and `print_content`, so their standard
//! output is first brought to the oracle's form by [`normalise`].

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;

/// Node's exit status for an uncaught exception.
pub const NODE_UNCAUGHT_EXCEPTION: i32 = 1;
/// A Rust program's exit status when `main` panics: our runtime's uncaught exception.
pub const RUST_PANIC: i32 = 101;

/// The exit status our program must have where Node exits with `node_exit`: a panic
/// (101) where Node dies of an uncaught exception (1); any other status as it is.
pub fn rust_exit_for(node_exit: i32) -> i32 {
    if node_exit == NODE_UNCAUGHT_EXCEPTION {
        RUST_PANIC
    } else {
        node_exit
    }
}

/// One directive of a spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Directive {
    Exit(i32),
    Lines(usize),
    First(String),
    Last(String),
    Once(String),
    Count(usize, String),
    Never(String),
    Stderr(String),
    /// `order` (portable) or `node-order` (`node: true`); checked the same way.
    Order {
        chain: Vec<String>,
        node: bool,
    },
    Time {
        lo: f64,
        hi: f64,
        text: String,
    },
}

/// A directive with where it came from, for messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub directive: Directive,
    /// 1-based line number in the spec.
    pub line_no: usize,
    /// The spec line as written.
    pub raw: String,
}

/// Parses a spec; an unknown directive or a malformed one is an error naming its line.
pub fn parse_spec(spec: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for (i, raw) in spec.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let line_no = i + 1;
        let bad = |what: &str| format!("spec line {line_no}: {what}: {line:?}");
        // check.js: /^(\S+)\s?(.*)$/ - the keyword, one optional blank, the rest verbatim.
        let (kw, rest) = match line.find(char::is_whitespace) {
            Some(at) => {
                let blank = line[at..].chars().next().map_or(0, char::len_utf8);
                (&line[..at], &line[at + blank..])
            }
            None => (line, ""),
        };
        if kw.is_empty() {
            return Err(bad("a directive must start the line"));
        }
        let number = |s: &str| s.trim().parse::<i64>().map_err(|_| bad("not a number"));
        let directive = match kw {
            "exit" => Directive::Exit(number(rest)? as i32),
            "lines" => Directive::Lines(number(rest)? as usize),
            "first" => Directive::First(rest.to_string()),
            "last" => Directive::Last(rest.to_string()),
            "once" => Directive::Once(rest.to_string()),
            "never" => Directive::Never(rest.to_string()),
            "stderr" => Directive::Stderr(rest.to_string()),
            "count" => {
                let (n, text) = rest
                    .split_once(' ')
                    .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| bad("bad count"))?;
                Directive::Count(number(n)? as usize, text.to_string())
            }
            "order" | "node-order" => {
                let chain: Vec<String> = rest.split(" => ").map(str::to_string).collect();
                if chain.len() < 2 {
                    return Err(bad("order needs =>"));
                }
                Directive::Order {
                    chain,
                    node: kw == "node-order",
                }
            }
            "time" => {
                let mut parts = rest.splitn(3, ' ');
                let lo = parts.next().unwrap_or_default();
                let hi = parts.next().unwrap_or_default();
                let text = parts.next().ok_or_else(|| bad("bad time"))?;
                let is_num = |s: &str, signed: bool| {
                    let digits = if signed {
                        s.strip_prefix('-').unwrap_or(s)
                    } else {
                        s
                    };
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                };
                if !is_num(lo, true) || !is_num(hi, false) {
                    return Err(bad("bad time"));
                }
                let parse = |s: &str| s.parse::<f64>().map_err(|_| bad("bad time"));
                Directive::Time {
                    lo: parse(lo)?,
                    hi: parse(hi)?,
                    text: text.to_string(),
                }
            }
            other => return Err(bad(&format!("unknown directive {other}"))),
        };
        rules.push(Rule {
            directive,
            line_no,
            raw: line.to_string(),
        });
    }
    Ok(rules)
}

/// One line of output in the oracle's form.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub text: String,
    /// When it was printed, in ms since the program started.
    pub at_ms: f64,
    /// The thread `print` named, if the line came from `print` or `print_content`.
    pub thread: Option<String>,
}

/// Brings our programs' standard output to the oracle's form, from `(ms, raw line)`
/// pairs:
/// - `Thread: <name>\t <text>` (what `print` writes) becomes `<text>`;
/// - the block `print_content` writes,
///   `\n===== THREAD <name> START CONTENT - <DESCR> =====\n<text>\n===== END CONTENT =====\n\n`,
///   becomes the one line `CONTENT - <DESCR>: <text>`, timed at its header;
/// - empty lines are dropped.
///
/// Other lines are kept as they are, with no thread.
pub fn normalise(raw: &[(f64, String)]) -> Vec<Line> {
    let mut out = Vec::new();
    let mut lines = raw.iter();
    while let Some((at_ms, line)) = lines.next() {
        let at_ms = *at_ms;
        if line.is_empty() {
            continue;
        }
        let header = line
            .strip_prefix("===== THREAD ")
            .and_then(|l| l.strip_suffix(" ====="))
            .and_then(|l| l.split_once(" START CONTENT - "));
        if let Some((name, descr)) = header {
            let mut body = Vec::new();
            for (_, l) in lines.by_ref() {
                if l == "===== END CONTENT =====" {
                    break;
                }
                body.push(l.as_str());
            }
            out.push(Line {
                text: format!("CONTENT - {descr}: {}", body.join("\n")),
                at_ms,
                thread: Some(name.to_string()),
            });
        } else if let Some((name, text)) = line
            .strip_prefix("Thread: ")
            .and_then(|l| l.split_once("\t "))
        {
            out.push(Line {
                text: text.to_string(),
                at_ms,
                thread: Some(name.to_string()),
            });
        } else {
            out.push(Line {
                text: line.clone(),
                at_ms,
                thread: None,
            });
        }
    }
    out
}

/// One run of a program, as the checker sees it.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Output lines, normalised.
    pub out: Vec<String>,
    pub err: String,
    /// The exit status; `None` if the program was killed by a signal.
    pub rc: Option<i32>,
    /// When each distinct line was first printed, and `@exit`, in ms since start.
    pub times: HashMap<String, f64>,
}

impl Run {
    /// A run from normalised lines, standard error, exit status and exit time.
    pub fn new(lines: &[Line], err: String, rc: Option<i32>, exit_ms: f64) -> Run {
        let mut times = HashMap::new();
        for l in lines {
            times.entry(l.text.clone()).or_insert(l.at_ms);
        }
        times.insert("@exit".to_string(), exit_ms);
        Run {
            out: lines.iter().map(|l| l.text.clone()).collect(),
            err,
            rc,
            times,
        }
    }
}

/// Checks `run` against every rule; returns one message per broken rule (none: all hold).
///
/// `scale` multiplies the nominal times of `time` rules, whose windows are
/// `[lo*scale - 2, hi*scale + slack_ms]`, as in check.js.
pub fn check(rules: &[Rule], run: &Run, scale: f64, slack_ms: f64) -> Vec<String> {
    let mut fails = Vec::new();
    let positions = |text: &str| -> Vec<usize> {
        (run.out.iter().enumerate())
            .filter(|(_, l)| *l == text)
            .map(|(i, _)| i)
            .collect()
    };
    let count = |text: &str| run.out.iter().filter(|l| *l == text).count();
    for rule in rules {
        let shown = if rule.raw.chars().count() > 100 {
            format!("{}...", rule.raw.chars().take(97).collect::<String>())
        } else {
            rule.raw.clone()
        };
        let mut fail =
            |msg: String| fails.push(format!("spec line {} [{shown}]: {msg}", rule.line_no));
        match &rule.directive {
            Directive::Exit(node) => {
                let want = rust_exit_for(*node);
                if run.rc != Some(want) {
                    let status = run
                        .rc
                        .map_or("none (killed)".to_string(), |c| c.to_string());
                    fail(format!(
                        "exit status {status}, expected {want} (Node's {node})"
                    ));
                }
            }
            Directive::Lines(n) => {
                if run.out.len() != *n {
                    fail(format!("{} lines", run.out.len()));
                }
            }
            Directive::First(text) => {
                if run.out.first() != Some(text) {
                    fail(format!("first line is {:?}", run.out.first()));
                }
            }
            Directive::Last(text) => {
                if run.out.last() != Some(text) {
                    fail(format!("last line is {:?}", run.out.last()));
                }
            }
            Directive::Once(text) => {
                let n = count(text);
                if n != 1 {
                    fail(format!("occurs {n} times"));
                }
            }
            Directive::Count(want, text) => {
                let n = count(text);
                if n != *want {
                    fail(format!("occurs {n} times"));
                }
            }
            Directive::Never(text) => {
                let n = count(text);
                if n != 0 {
                    fail(format!("occurs {n} times"));
                }
            }
            Directive::Stderr(text) => {
                if !run.err.contains(text.as_str()) {
                    fail("not in stderr".to_string());
                }
            }
            Directive::Order { chain, .. } => {
                for pair in chain.windows(2) {
                    let (a, b) = (positions(&pair[0]), positions(&pair[1]));
                    match (a.last(), b.first()) {
                        (None, _) => fail(format!("missing {:?}", pair[0])),
                        (_, None) => fail(format!("missing {:?}", pair[1])),
                        (Some(&last_a), Some(&first_b)) if last_a >= first_b => fail(format!(
                            "{:?} (line {}) not before {:?} (line {})",
                            pair[0],
                            last_a + 1,
                            pair[1],
                            first_b + 1
                        )),
                        _ => {}
                    }
                }
            }
            Directive::Time { lo, hi, text } => match run.times.get(text) {
                None => fail("no timing recorded".to_string()),
                Some(&t) => {
                    let (lo, hi) = (lo * scale - 2.0, hi * scale + slack_ms);
                    if t < lo || t > hi {
                        fail(format!("at {t:.1} ms, window [{lo:.1}, {hi:.1}]"));
                    }
                }
            },
        }
    }
    fails
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(spec: &str) -> Vec<Rule> {
        parse_spec(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A run of `lines`, printed one ms apart, that exited with `rc` at 100 ms.
    fn run(lines: &[&str], rc: i32) -> Run {
        let lines: Vec<Line> = lines
            .iter()
            .enumerate()
            .map(|(i, t)| Line {
                text: t.to_string(),
                at_ms: i as f64,
                thread: Some("main".into()),
            })
            .collect();
        Run::new(&lines, "Error: boom\n".into(), Some(rc), 100.0)
    }

    fn holds(spec: &str, run: &Run) -> bool {
        check(&rules(spec), run, 1.0, 60.0).is_empty()
    }

    #[test]
    fn parses_every_directive() {
        let spec = "# a comment\n\nexit 0\nlines 3\nfirst a b\nlast c\nonce a b\ncount 2 x y\n\
                    never z\nstderr Error: boom\norder a => b => c\nnode-order a => c\n\
                    time 10 20.5 some text\ntime -1 0 @exit\r\n";
        let parsed: Vec<Directive> = rules(spec).into_iter().map(|r| r.directive).collect();
        let s = |t: &str| t.to_string();
        assert_eq!(
            parsed,
            [
                Directive::Exit(0),
                Directive::Lines(3),
                Directive::First(s("a b")),
                Directive::Last(s("c")),
                Directive::Once(s("a b")),
                Directive::Count(2, s("x y")),
                Directive::Never(s("z")),
                Directive::Stderr(s("Error: boom")),
                Directive::Order {
                    chain: vec![s("a"), s("b"), s("c")],
                    node: false
                },
                Directive::Order {
                    chain: vec![s("a"), s("c")],
                    node: true
                },
                Directive::Time {
                    lo: 10.0,
                    hi: 20.5,
                    text: s("some text")
                },
                Directive::Time {
                    lo: -1.0,
                    hi: 0.0,
                    text: s("@exit")
                },
            ]
        );
        assert_eq!(rules("\n\nonce x")[0].line_no, 3);
    }

    #[test]
    fn rejects_what_check_js_rejects() {
        for bad in [
            "frobnicate x",
            "count x y",
            "count 2",
            "order a",
            "node-order a =>b",
            "time 1 x y",
            "time 1 2",
            "exit x",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn each_rule_fails_when_it_should() {
        let r = run(&["a", "b", "x", "x", "c"], 0);
        // (spec, holds?)
        let cases = [
            ("exit 0", true),
            ("exit 3", false),
            ("lines 5", true),
            ("lines 4", false),
            ("first a", true),
            ("first b", false),
            ("last c", true),
            ("last x", false),
            ("once a", true),
            ("once x", false),
            ("once missing", false),
            ("count 2 x", true),
            ("count 1 x", false),
            ("never missing", true),
            ("never a", false),
            ("stderr Error: boom", true),
            ("stderr Error: bang", false),
            ("order a => b => c", true),
            ("order b => a", false),
            ("order a => missing", false),
            ("order missing => a", false),
            // Every x must precede every c, and the last x is before c: holds.
            ("order x => c", true),
            // b precedes only the first x... every occurrence matters.
            ("order x => b", false),
            ("node-order a => c", true),
            ("node-order c => a", false),
            // Lines 0..4 are printed at 0..4 ms; windows are [lo-2, hi+60].
            ("time 2 2 b", true),
            ("time 5 5 b", false),
            ("time 0 0 c", true),
            ("time 0 0 missing", false),
            ("time 100 100 @exit", true),
            ("time 0 39 @exit", false),
        ];
        for (spec, want) in cases {
            assert_eq!(holds(spec, &r), want, "{spec:?} on {:?}", r.out);
        }
    }

    #[test]
    fn the_time_window_scales_and_has_slack() {
        let r = run(&["a"], 0); // "a" at 0 ms, exit at 100 ms
        let at =
            |spec: &str, scale: f64, slack: f64| check(&rules(spec), &r, scale, slack).is_empty();
        // [1000 * 0.1 - 2, 1000 * 0.1 + 0] = [98, 100] holds the exit at 100 ms.
        assert!(at("time 1000 1000 @exit", 0.1, 0.0));
        assert!(!at("time 1030 1030 @exit", 0.1, 0.0)); // [101, 103]
        assert!(!at("time 900 900 @exit", 0.1, 0.0));
        assert!(at("time 900 900 @exit", 0.1, 10.0));
    }

    #[test]
    fn node_s_exit_1_is_a_rust_panic() {
        assert!(holds("exit 1", &run(&[], RUST_PANIC)));
        assert!(!holds("exit 1", &run(&[], 1)));
        assert!(!holds("exit 0", &run(&[], RUST_PANIC)));
        let killed = Run {
            rc: None,
            ..run(&[], 0)
        };
        assert!(!holds("exit 0", &killed));
    }

    #[test]
    fn failures_name_the_spec_line() {
        let fails = check(&rules("# c\nonce a\nonce zz"), &run(&["a"], 0), 1.0, 60.0);
        assert_eq!(fails, ["spec line 3 [once zz]: occurs 0 times"]);
    }

    #[test]
    fn normalise_strips_the_prefix_and_folds_content() {
        let raw: Vec<(f64, String)> = [
            "Thread: main\t First call",
            "",
            "===== THREAD main START CONTENT - FILE READ =====",
            "Hello world!",
            "===== END CONTENT =====",
            "",
            "Thread: pool0\t from the pool",
            "Thread: main\t tab\tinside",
            "no prefix",
        ]
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64, l.to_string()))
        .collect();
        let lines = normalise(&raw);
        let texts: Vec<(&str, Option<&str>, f64)> = lines
            .iter()
            .map(|l| (l.text.as_str(), l.thread.as_deref(), l.at_ms))
            .collect();
        assert_eq!(
            texts,
            [
                ("First call", Some("main"), 0.0),
                ("CONTENT - FILE READ: Hello world!", Some("main"), 2.0),
                ("from the pool", Some("pool0"), 6.0),
                ("tab\tinside", Some("main"), 7.0),
                ("no prefix", None, 8.0),
            ]
        );
    }

    #[test]
    fn run_new_keeps_the_first_time_of_each_line() {
        let lines = normalise(&[
            (1.0, "Thread: main\t x".into()),
            (5.0, "Thread: main\t x".into()),
        ]);
        let r = Run::new(&lines, String::new(), Some(0), 9.0);
        assert_eq!(r.times["x"], 1.0);
        assert_eq!(r.times["@exit"], 9.0);
        assert_eq!(r.out, ["x", "x"]);
    }
}
