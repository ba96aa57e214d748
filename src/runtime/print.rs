//! `print` and `print_content`: output that says which thread it came from.
//!
//! Book: "Implementing the Node Eventloop", section "Helpers" (`print`, `print_content`,
//! `current`).
//!
//! The whole point of the book's output is to *see* which thread runs what, so every line
//! starts with `Thread: <name>`. The thread that calls [`Runtime::run`](super::Runtime::run)
//! is labelled `main` for the duration of the run, whatever its real name (a test
//! harness's thread is called after the test); the pool threads are `pool0`..`poolN-1`
//! and the poll thread is `epoll`.
//!
//! Two streams, on purpose: what the program prints goes to standard output, and what the
//! loop says about itself (ticks, tasks, events) goes to standard error. A terminal shows
//! them interleaved, as the book's output does; `2>/dev/null` leaves exactly the
//! program's own output.

use std::cell::Cell;
use std::fmt::{self, Display};
use std::io::{self, Write};
use std::thread;

// `const` already; clippy's `missing_const_for_thread_local` misfires on targets without
// native thread-locals (windows-gnu), see rust-lang/rust-clippy#17566.
thread_local! {
    #[allow(clippy::missing_const_for_thread_local)]
    /// The label `print` uses on this thread instead of the thread's real name.
    static LABEL: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Labels the current thread (or removes the label with `None`); returns the old label.
pub(crate) fn set_label(label: Option<&'static str>) -> Option<&'static str> {
    LABEL.with(|l| l.replace(label))
}

/// Calls `f` with the name `print` shows for the current thread.
///
/// FIX(book) R13: the book's `current()` unwrapped the thread name, so `print` from an
/// unnamed thread panicked. An unnamed thread is shown as `<unnamed>`, as std's panic
/// messages do.
fn with_current<R>(f: impl FnOnce(&str) -> R) -> R {
    if let Some(label) = LABEL.with(Cell::get) {
        return f(label);
    }
    let current = thread::current();
    f(current.name().unwrap_or("<unnamed>"))
}

/// Prints `t` on standard output, prefixed with the current thread's name, as in the
/// book: `Thread: main\t First call to read test.txt`.
///
/// Output errors (a closed pipe) are ignored, as Node ignores `EPIPE` on `console.log`:
/// a program should not die because nobody reads its output.
pub fn print(t: impl Display) {
    with_current(|name| {
        let _ = writeln!(io::stdout().lock(), "Thread: {name}\t {t}");
    });
    // For the timeline's labels; nothing unless the runtime records (`trace/mod.rs`).
    super::trace::record_print(None, &t);
}

/// Prints a block of content framed by a header that names the thread and `descr`, as in
/// the book:
///
/// ```text
///
/// ===== THREAD main START CONTENT - FILE READ =====
/// Hello world! This is a text to encrypt!
/// ===== END CONTENT =====
///
/// ```
///
/// The block is written under one lock, so no other thread's line lands inside it.
pub fn print_content(t: impl Display, descr: &str) {
    with_current(|name| {
        let _ = write!(
            io::stdout().lock(),
            "\n===== THREAD {name} START CONTENT - {} =====\n{t}\n===== END CONTENT =====\n\n",
            descr.to_uppercase()
        );
    });
    super::trace::record_print(Some(descr), &t);
}

/// One of the loop's own trace lines (ticks, tasks, events), on standard error.
pub(crate) fn trace(args: fmt::Arguments<'_>) {
    with_current(|name| {
        let _ = writeln!(io::stderr().lock(), "Thread: {name}\t {args}");
    });
}
