//! The book's "javascript" program, on the book's runtime made correct.
//!
//! Book: "The Node Experiment", chapter "Implementing the Node Eventloop", the function
//! `javascript()`.
//!
//! Run it with `cargo run --example javascript`. It runs offline (the slow web call goes
//! to a delay server the runtime starts on loopback) and ends by itself after about
//! 3.5 seconds. What the program prints goes to standard output; the loop's own trace
//! lines (ticks, pool tasks, socket events) go to standard error, so a terminal shows
//! both, as in the book, and `2>/dev/null` shows only the program's output:
//!
//! ```text
//! Thread: main     First call to read test.txt
//! Thread: main     Registering immediate timeout 1
//! ...
//! Thread: main     Immediate1 timed out
//! Thread: main     Immediate2 timed out
//! Thread: main     First count: 39 characters.
//! ...
//! Thread: main     500ms timer(nested) timed out
//! ```
//!
//! The order of the lines obeys the rules real Node.js keeps for the same program
//! (`tests/oracle/book_main.spec`); `cargo test` checks it.
//!
//! At the end (on standard error) it draws the run as a text timeline, one row per
//! thread. `NODE_EXPERIMENT_TIMELINE=run.svg` also draws it as a picture for a browser,
//! and `NODE_EXPERIMENT_TRACE=run.json` writes a trace for Perfetto (README, "See the
//! loop").

use node_experiment::runtime::{Crypto, Fs, Io, Runtime, print, print_content, set_timeout};

/// The book reads `test.txt` from the working directory; we find it next to this file,
/// so the example runs from any directory.
const TEST_TXT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/test.txt");

fn javascript() {
    print("First call to read test.txt");
    Fs::read(TEST_TXT, |result| {
        let text = result.into_string().expect("examples/test.txt is readable");
        let len = text.len();
        print(format!("First count: {len} characters."));

        print(r#"I want to create a "magic" number based on the text."#);
        Crypto::encrypt(text.len(), |result| {
            let n = result.into_int().expect("fibonacci(39) fits in a usize");
            print(format!(r#""Encrypted" number is: {n}"#));
        })
    });

    print("Registering immediate timeout 1");
    set_timeout(0, |_res| {
        print("Immediate1 timed out");
    });
    print("Registering immediate timeout 2");
    set_timeout(0, |_res| {
        print("Immediate2 timed out");
    });

    // let's read the file again and display the text
    print("Second call to read test.txt");
    Fs::read(TEST_TXT, |result| {
        let text = result.into_string().expect("examples/test.txt is readable");
        let len = text.len();
        print(format!("Second count: {len} characters."));

        // aaand one more time but not in parallel.
        print("Third call to read test.txt");
        Fs::read(TEST_TXT, |result| {
            let text = result.into_string().expect("examples/test.txt is readable");
            print_content(&text, "file read");
        });
    });

    print("Registering a 3000 and a 500 ms timeout");
    set_timeout(3000, |_res| {
        print("3000ms timer timed out");
        set_timeout(500, |_res| {
            print("500ms timer(nested) timed out");
        });
    });

    print("Registering a 1000 ms timeout");
    set_timeout(1000, |_res| {
        print("SETTIMEOUT");
    });

    // `http_get_slow` lets us define a latency we want to simulate
    print("Registering http get request to google.com");
    Io::http_get_slow("http//www.google.com", 2000, |result| {
        let result = result
            .into_string()
            .expect("the local delay server answers");
        print_content(result.trim(), "web call");
    });
}

fn main() {
    // Not in the book: the runtime records which thread ran what, and when, and the
    // record is drawn at the end, one row per thread (README, "See the loop").
    let rt = Runtime::builder()
        .record(true)
        .build()
        .expect("the runtime starts");
    let recording = rt.recording();
    rt.run(javascript);
    eprint!("{}", recording.text_timeline());
}
