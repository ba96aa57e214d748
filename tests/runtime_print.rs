//! `print` and `print_content`: each line says which thread it came from.
//!
//! Rules: during `run`, the calling thread is shown as `main` (in `main` and in every
//! callback); afterwards it has its own name back; a thread without a name is shown as
//! `<unnamed>` instead of panicking (FIX(book) R13); the program's output goes to standard
//! output and the loop's own trace lines to standard error.
//!
//! `print` writes to the process's standard output, which the test harness does not
//! capture, so this test runs its own binary again as a child (only the test
//! `print_child`, which does nothing unless [`CHILD`] is set) and reads what it printed.

mod util;

use std::process::Stdio;
use std::thread;

use node_experiment::runtime::{Runtime, print, print_content, set_timeout};
use util::runtime::LIMIT;
use util::{child_test, wait_for_child};

/// Set in the child's environment: `print_child` prints only then.
const CHILD: &str = "NODE_EXPERIMENT_PRINT_CHILD";
/// The lines around the child's output.
const BEGIN: &str = "--- print_child begins ---";
const END: &str = "--- print_child ends ---";

/// The child's half: prints from every kind of thread.
#[test]
fn print_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // Markers around our lines, apart from the harness's own ("test print_child ... ok").
    println!("\n{BEGIN}");
    thread::Builder::new()
        .spawn(|| {
            print("from a thread without a name");
            print_content("some content", "unnamed");
        })
        .expect("spawn")
        .join()
        .expect("print panicked on an unnamed thread");
    thread::Builder::new()
        .name("worker".into())
        .spawn(|| {
            print("worker before run");
            // Verbose: the loop's trace lines must go to standard error.
            let rt = Runtime::builder().build().expect("build");
            rt.run(|| {
                print("in main");
                set_timeout(0, |_| {
                    print("in a callback");
                    print_content("file text", "file read");
                });
            });
            print("worker after run");
        })
        .expect("spawn")
        .join()
        .expect("the worker panicked");
    println!("{END}");
}

#[test]
fn print_shows_main_during_run_and_the_thread_s_own_name_otherwise() {
    let mut child = child_test("print_child")
        .arg("--nocapture")
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test binary as a child");
    // Bounded: a child that hangs is killed, not left behind. Its output (a few hundred
    // bytes) fits in the pipes, so it never waits for us to read.
    wait_for_child(&mut child, LIMIT, "the print child");
    let output = child.wait_with_output().expect("the child's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child failed:\n{stdout}\n{stderr}"
    );
    let ours: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != BEGIN)
        .skip(1)
        .take_while(|l| *l != END)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        ours,
        [
            "Thread: <unnamed>\t from a thread without a name",
            "===== THREAD <unnamed> START CONTENT - UNNAMED =====",
            "some content",
            "===== END CONTENT =====",
            "Thread: worker\t worker before run",
            "Thread: main\t in main",
            "Thread: main\t in a callback",
            "===== THREAD main START CONTENT - FILE READ =====",
            "file text",
            "===== END CONTENT =====",
            "Thread: worker\t worker after run",
        ],
        "whole stdout:\n{stdout}"
    );
    assert!(
        !stdout.contains("TICK"),
        "the loop's trace lines went to stdout:\n{stdout}"
    );
    assert!(
        stderr.contains("Thread: main\t ===== TICK 1 ====="),
        "no trace lines on stderr:\n{stderr}"
    );
}
