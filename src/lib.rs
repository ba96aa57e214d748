//! # node-experiment
//!
//! A teaching crate: a Node.js-style event loop built from the ground up, read next to
//! the books "The Node Experiment – Exploring Async Basics with Rust" and "Epoll, Kqueue
//! and IOCP Explained with Rust".
//!
//! **This is a teaching crate, not for production.** Every part is small enough to read
//! in one sitting, and every bug of the books' code is fixed where it stood, with a
//! `FIX(book):` comment that says what went wrong and why the fix is right.
//!
//! | part | what it is | book chapter |
//! |---|---|---|
//! | [`minimio`] | a readiness event queue over hand-written epoll / kqueue / IOCP FFI | "Epoll, Kqueue and IOCP Explained with Rust" |
//! | [`runtime`] | the Node-style event loop: timers, thread pool, poll thread, callbacks | "Implementing the Node Eventloop" |
//!
//! The crate has no dependencies: writing the FFI by hand is the lesson.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

pub mod minimio;
pub mod runtime;
