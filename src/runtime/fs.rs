//! `Fs::read`: a file read on the thread pool, made slow on purpose.
//!
//! Book: "Implementing the Node Eventloop", section "Fs".
//!
//! Operating systems offer no readiness events for regular files (epoll refuses them,
//! kqueue reports them always ready), so Node, through libuv, reads files on its thread
//! pool. The book makes every read wait first, to pretend the file is large and let the
//! reader watch the pool at work; the wait is [`RuntimeBuilder::fs_delay`](super::RuntimeBuilder::fs_delay).

use std::io;
use std::path::PathBuf;

use super::threadpool::EventKind;
use super::{Js, register_work};

/// File system functions, as Node's `fs` module offers them.
#[derive(Debug)]
pub struct Fs;

impl Fs {
    /// Reads the whole file at `path` as UTF-8 text on the thread pool, then calls `cb`
    /// on the loop's thread with [`Js::String`] (the contents) or [`Js::Error`].
    ///
    /// `path` may be a `&str`, a `String` or a `PathBuf`; a relative path is relative to
    /// the working directory. Errors are values: a missing file, a directory, or contents
    /// that are not UTF-8 reach `cb` once, as `Js::Error` naming the path.
    ///
    /// ```
    /// use std::time::Duration;
    /// use node_experiment::runtime::{print, Fs, Runtime};
    ///
    /// let rt = Runtime::builder().fs_delay(Duration::ZERO).verbose(false).build().unwrap();
    /// rt.run(|| {
    ///     Fs::read("Cargo.toml", |js| {
    ///         assert!(js.into_string().unwrap().contains("node-experiment"));
    ///     });
    ///     Fs::read("no/such/file", |js| assert!(js.is_error()));
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside [`Runtime::run`](super::Runtime::run) or on another thread than the loop's.
    pub fn read(path: impl Into<PathBuf>, cb: impl FnOnce(Js) + 'static) {
        let path = path.into();
        let delay = super::fs_delay("Fs::read");
        let work = move |shutdown: &super::threadpool::Shutdown| {
            // The book's `thread::sleep(1s)`, but one that shutdown can cut short.
            if !shutdown.sleep(delay) {
                return Js::Error(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "the runtime shut down during the read",
                ));
            }
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => Js::String(text),
                    Err(_) => Js::Error(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: the file is not valid UTF-8", path.display()),
                    )),
                },
                // FIX(book) R9: the book `unwrap`ped here, killing the pool thread.
                Err(e) => Js::Error(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
            }
        };
        register_work("Fs::read", work, EventKind::FileRead, cb);
    }
}
