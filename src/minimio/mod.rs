//! minimio: a small readiness event queue over epoll, kqueue and IOCP.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapters "The Poll module" and
//! "Epoll"/"Kqueue"/"IOCP"; used by "The Node Experiment", chapter "Implementing the Node
//! Eventloop".
//!
//! An operating system can tell a program *when* a socket is ready instead of making one
//! thread block per socket. The program hands the OS a list of interests ("tell me when this
//! socket can be read, and call it token 7"), then blocks in one call until any of them is
//! ready. This module wraps that pattern in five types:
//!
//! | type | role |
//! |---|---|
//! | [`Poll`] | owns the OS queue; [`Poll::poll`] blocks until events arrive |
//! | [`Registrator`] | a `Send + Sync` handle that adds, changes and removes interests from any thread |
//! | [`Events`] / [`Event`] | the ready list one `poll` returns |
//! | [`Token`] / [`Interests`] | what the caller calls a registration, and what it waits for |
//! | [`Waker`] | lets another thread end a blocked `poll` with an event of its own |
//!
//! # One-shot readiness
//!
//! A registration here is **one-shot**: it delivers at most one event, then stays silent
//! until [`Registrator::reregister`] arms it again. The runtime built on top of this
//! (`crate::runtime`) maps one registration to one callback, so one event per arming is
//! exactly what it wants; a second event for the same registration would have no callback
//! to run.
//!
//! The two libraries a reader may know choose differently:
//! - **mio** registers *edge-triggered*: an event when readiness *changes*, for as long as
//!   the registration lives, and the user must read until `WouldBlock` before the next edge
//!   can come. No re-arm syscall, but a missed drain means a silent hang.
//! - **libuv** polls *level-triggered*: an event on every wait while the socket *is* ready,
//!   and it stops the watcher itself when the user no longer wants data.
//!
//! One-shot costs one extra syscall per round trip (the re-arm) and in exchange cannot
//! flood the caller or lose an edge: if data arrives before the re-arm, the re-armed
//! registration reports it at once.
//!
//! # The backend contract
//!
//! This file is the crate's one platform switch. Every backend (`epoll.rs`, `kqueue.rs`,
//! `iocp/`) provides the same private items, and keeps these promises:
//!
//! - `Selector::new()` creates the OS queue plus whatever `close_loop` needs, and frees all
//!   of it in `Drop`, which never panics.
//! - `Selector::select(&self, raw, max, timeout)` waits **once** for at most `timeout`
//!   (`None`: forever) and fills `raw` (cleared first) with at most `max` OS events. It may
//!   return early or with no events; it returns `Err(Interrupted)` for a signal (`EINTR`).
//!   [`Poll::poll`] retries both with the time that remains, so no backend repeats that
//!   logic.
//! - `Selector::translate(&self, raw) -> Option<Event>` turns one OS event into an
//!   [`Event`]; `None` for an event that is internal to the backend.
//! - `register` / `reregister` / `deregister` take effect even while another thread is
//!   blocked in `select`. Registering a stream twice fails with `AlreadyExists`; changing or
//!   removing one that is not registered fails with `NotFound`. Every registration is
//!   one-shot (see above).
//! - `Selector::wake_close(&self)` makes a blocked `select` return. [`Poll`] sets its
//!   `closed` flag *before* calling it, and checks the flag after every `select`, so the
//!   backend never has to tell its close event apart from a user's token.
//! - `Waker::new(&Selector, Token)` / `Waker::wake(&self, &Selector)`: a wake produces one
//!   readable event for the token at the next `select`; several wakes before it coalesce
//!   into one; after it, silence until the next wake.
//! - `StreamState` is the per-socket state a backend keeps inside [`TcpStream`] (nothing on
//!   epoll). It is dropped *before* the socket is closed.
//! - `RawEvent` is the OS's own event record, buffered by [`Poll`] between calls. (IOCP
//!   settles each record inside `select`, because `translate` is skipped after a close.)
//!
//! # Differences from the book
//!
//! - FIX(book) M1: `poll` passes the buffer's real capacity to the OS, never a fixed 1024.
//! - FIX(book) M4: registrations can be re-armed ([`Registrator::reregister`]) and removed
//!   ([`Registrator::deregister`]).
//! - FIX(book) M5: [`Interests::WRITABLE`] works on every backend.
//! - FIX(book) M6: `close_loop` uses a wake-up source that [`Poll`] owns and closes; it uses
//!   no token, so it cannot collide with a user's token 0.
//! - FIX(book) M12: `compare_exchange`-style `swap` instead of `compare_and_swap`; no
//!   `Drop` panics.
//! - FIX(book) M13: a signal (`EINTR`) is retried with the time that remains, not the full
//!   timeout; a wait that ends early is retried too, so `poll` never returns before its
//!   timeout with nothing to report.
//! - FIX(book) M7 (kqueue: a close through a timer with ident 0, a macOS-only layout):
//!   see `kqueue.rs`. M8–M11 (Windows: the close wake-up on the stack, one never-reposted
//!   1024-byte read, operations never cancelled, `BOOL` as `bool`): see `iocp/`.
//! - The book's `Token` wraps an `AtomicUsize` and a global counter hands out tokens; here a
//!   `Token` is a plain `Copy` value chosen by the caller, as in mio.
//! - A [`Registrator`] holds a weak reference to its `Poll`: once the `Poll` is dropped it
//!   returns an error instead of calling `epoll_ctl` on a number that may by then name
//!   another file.

use std::fmt;
use std::io;
use std::ops::{BitOr, BitOrAssign};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

mod net;
mod tcp;
pub use tcp::TcpStream;

// THE platform switch. `minimio_libkqueue` lets CI run the kqueue backend on Linux through
// libkqueue, a user-space emulation of kqueue.
#[cfg(all(target_os = "linux", not(minimio_libkqueue)))]
#[path = "epoll.rs"]
mod sys;

#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    all(target_os = "linux", minimio_libkqueue)
))]
#[path = "kqueue.rs"]
mod sys;

#[cfg(windows)]
#[path = "iocp/mod.rs"]
mod sys;

#[cfg(not(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    windows
)))]
compile_error!("minimio supports Linux (epoll), macOS/FreeBSD (kqueue) and Windows (IOCP) only");

/// The list one [`Poll::poll`] fills.
///
/// A plain `Vec`, as in the book: create it with `Events::with_capacity(n)`. `poll` never
/// grows it; its capacity is the most events one call returns, and whatever else is ready
/// is returned by the next call.
pub type Events = Vec<Event>;

/// The caller's name for a registration, handed back in every [`Event`] it causes.
///
/// minimio never interprets a token: the runtime uses it as a callback id. Two
/// registrations may share a token; telling them apart is then the caller's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(usize);

impl Token {
    /// Wraps a value chosen by the caller.
    pub const fn new(value: usize) -> Token {
        Token(value)
    }

    /// The value this token was made from.
    pub const fn value(&self) -> usize {
        self.0
    }
}

impl From<usize> for Token {
    fn from(value: usize) -> Token {
        Token(value)
    }
}

/// What a registration waits for: [`Interests::READABLE`], [`Interests::WRITABLE`], or both
/// (`Interests::READABLE | Interests::WRITABLE`).
///
/// There is no empty value: a registration that waits for nothing would be a bug.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interests(u8);

const READABLE: u8 = 0b01;
const WRITABLE: u8 = 0b10;

impl Interests {
    /// Wait until a read would not block (data, end of stream, or an error).
    pub const READABLE: Interests = Interests(READABLE);
    /// Wait until a write would not block (buffer space, or an error).
    pub const WRITABLE: Interests = Interests(WRITABLE);

    /// The book's spelling of [`Interests::READABLE`].
    pub const fn readable() -> Interests {
        Interests::READABLE
    }

    /// Same as [`Interests::WRITABLE`].
    pub const fn writable() -> Interests {
        Interests::WRITABLE
    }

    /// Whether these interests include reading.
    pub const fn is_readable(&self) -> bool {
        self.0 & READABLE != 0
    }

    /// Whether these interests include writing.
    pub const fn is_writable(&self) -> bool {
        self.0 & WRITABLE != 0
    }
}

impl BitOr for Interests {
    type Output = Interests;
    fn bitor(self, other: Interests) -> Interests {
        Interests(self.0 | other.0)
    }
}

impl BitOrAssign for Interests {
    fn bitor_assign(&mut self, other: Interests) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for Interests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            // Cannot happen: every public constructor sets a bit. Printed honestly anyway.
            (false, false) => f.write_str("(none)"),
        }
    }
}

/// One readiness notification: which registration ([`Event::id`]) and what is ready.
///
/// It is plain data, the same on every backend, so it can be sent to another thread. An
/// error or hang-up on the socket makes it both readable and writable in the sense used
/// here: the next read or write will not block, it returns the error or end of stream at
/// once. (libuv reports such an event only for the interests that were registered; that
/// needs a table per descriptor, which minimio does without.)
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    token: Token,
    flags: u8,
}

impl Event {
    pub(crate) const READABLE: u8 = 0b0000_0001;
    pub(crate) const WRITABLE: u8 = 0b0000_0010;
    pub(crate) const READ_CLOSED: u8 = 0b0000_0100;
    pub(crate) const WRITE_CLOSED: u8 = 0b0000_1000;
    pub(crate) const ERROR: u8 = 0b0001_0000;

    /// Used by the backends, which know how their OS spells each flag.
    pub(crate) const fn new(token: Token, flags: u8) -> Event {
        Event { token, flags }
    }

    /// The token of the registration (or [`Waker`]) that caused this event.
    pub fn id(&self) -> Token {
        self.token
    }

    /// A read will not block: there is data, the peer closed its side, or an error waits.
    pub fn is_readable(&self) -> bool {
        self.flags & Event::READABLE != 0
    }

    /// A write will not block.
    pub fn is_writable(&self) -> bool {
        self.flags & Event::WRITABLE != 0
    }

    /// A hint that the peer will send nothing more; reads return what is left, then 0.
    ///
    /// A hint only, as in mio: not every OS reports it, so `read` returning `0` stays the
    /// authority.
    pub fn is_read_closed(&self) -> bool {
        self.flags & Event::READ_CLOSED != 0
    }

    /// A hint that writing can no longer succeed (the connection is gone).
    pub fn is_write_closed(&self) -> bool {
        self.flags & Event::WRITE_CLOSED != 0
    }

    /// A hint that the socket has a pending error; the next read or write returns it
    /// (or [`TcpStream::take_error`] does).
    pub fn is_error(&self) -> bool {
        self.flags & Event::ERROR != 0
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.token.0)
            .field("readable", &self.is_readable())
            .field("writable", &self.is_writable())
            .field("read_closed", &self.is_read_closed())
            .field("write_closed", &self.is_write_closed())
            .field("error", &self.is_error())
            .finish()
    }
}

/// What [`Poll`] shares with its [`Registrator`]s and [`Waker`]s.
struct Shared {
    selector: sys::Selector,
    /// Set once by `close_loop`, before the selector is woken; see the backend contract.
    closed: AtomicBool,
}

/// The event queue: owns the OS queue and waits on it.
///
/// Create one, hand out [`Registrator`]s (to this or other threads), and call
/// [`Poll::poll`] in a loop on one thread. See the [module docs](self) for why every
/// registration is one-shot.
///
/// # Example
///
/// ```
/// use std::io::{self, Read, Write};
/// use std::net::TcpListener;
/// use node_experiment::minimio::{Events, Interests, Poll, TcpStream};
///
/// # fn main() -> io::Result<()> {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut stream = TcpStream::connect(listener.local_addr()?)?;
/// let (mut peer, _) = listener.accept()?;
///
/// let mut poll = Poll::new()?;
/// poll.registrator().register(&stream, 7, Interests::READABLE)?;
///
/// peer.write_all(b"hello")?;
/// let mut events = Events::with_capacity(16);
/// poll.poll(&mut events, Some(5_000))?;
/// assert_eq!(events[0].id().value(), 7);
///
/// let mut buf = [0; 16];
/// assert_eq!(stream.read(&mut buf)?, 5);
/// // The socket never blocks: with nothing left, `read` says `WouldBlock`.
/// assert_eq!(stream.read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
/// # Ok(())
/// # }
/// ```
pub struct Poll {
    shared: Arc<Shared>,
    /// The OS's own event records, reused between calls so `poll` does not allocate.
    raw: Vec<sys::RawEvent>,
}

impl Poll {
    /// Creates a new OS event queue.
    ///
    /// # Errors
    ///
    /// Whatever the OS says when it cannot create the queue (for example, too many open
    /// files).
    pub fn new() -> io::Result<Poll> {
        Ok(Poll {
            shared: Arc::new(Shared {
                selector: sys::Selector::new()?,
                closed: AtomicBool::new(false),
            }),
            raw: Vec::new(),
        })
    }

    /// A handle that registers interests with this queue, from any thread.
    pub fn registrator(&self) -> Registrator {
        Registrator {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Waits for events and returns how many were written into `events`.
    ///
    /// `events` is cleared first; at most `events.capacity()` events are returned, and the
    /// rest stay ready for the next call. `timeout_ms` is `None` to wait until something
    /// happens, or a number of milliseconds (a negative number means 0: do not wait).
    /// `poll` does not return `Ok(0)` before the timeout has passed: a signal, or an OS
    /// wait that ends a little early, is retried with the time that remains.
    ///
    /// # Errors
    ///
    /// - `ErrorKind::Interrupted` once [`Registrator::close_loop`] has been called, on this
    ///   and every later call. It is the only way `poll` returns `Interrupted`.
    /// - `ErrorKind::InvalidInput` if `events` has a capacity of 0: use
    ///   `Events::with_capacity(n)` with `n > 0`.
    /// - Any other error the OS reports.
    pub fn poll(&mut self, events: &mut Events, timeout_ms: Option<i32>) -> io::Result<usize> {
        events.clear();
        if events.capacity() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Poll::poll needs room for at least one event: use Events::with_capacity(n) with n > 0",
            ));
        }
        let max = events.capacity();
        self.raw.clear();
        if self.raw.capacity() < max {
            self.raw.reserve_exact(max);
        }

        let timeout = timeout_ms.map(|ms| Duration::from_millis(ms.max(0) as u64));
        // `None` if the deadline does not fit in an `Instant`; such a wait is "forever".
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));

        loop {
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(closed_error());
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match self.shared.selector.select(&mut self.raw, max, remaining) {
                Ok(()) => {}
                // FIX(book) M13: a signal ends the wait with EINTR. The book waited again
                // with the full timeout; we go round the loop, which waits only for what
                // remains.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(closed_error());
            }
            for raw in &self.raw {
                if let Some(event) = self.shared.selector.translate(raw) {
                    events.push(event);
                }
            }
            let timed_out = match deadline {
                Some(d) => Instant::now() >= d,
                None => false,
            };
            if !events.is_empty() || timed_out {
                return Ok(events.len());
            }
            // Nothing for the caller yet and time remains: a wake-up that ended early, or
            // only internal events. Waiting again keeps the promise of no early `Ok(0)`.
        }
    }
}

/// Whole milliseconds for an OS wait that takes them (epoll_wait, GetQueuedCompletionStatusEx),
/// rounded **up** and capped at `max`.
///
/// Rounding down would turn a 0.4 ms wait into 0, and a caller waiting for a timer would
/// spin until it is due (the book's R6); so a partial millisecond counts as a whole one,
/// as mio does. A longer wait than `max` is cut to `max`; `Poll::poll` waits again for the
/// rest. (kqueue takes a `timespec` with nanoseconds and needs none of this.)
// Unused by the kqueue backend (macOS, FreeBSD, and Linux with `minimio_libkqueue`).
#[cfg_attr(
    any(minimio_libkqueue, all(unix, not(target_os = "linux"))),
    allow(dead_code)
)]
pub(crate) fn millis_rounded_up(t: Duration, max: u32) -> u32 {
    let ms = t.as_millis() + u128::from(t.subsec_nanos() % 1_000_000 != 0);
    ms.min(u128::from(max)) as u32
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::Interrupted,
        "the event loop was closed with Registrator::close_loop",
    )
}

fn poll_dropped_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the Poll this handle belongs to has been dropped",
    )
}

impl fmt::Debug for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poll")
            .field("selector", &self.shared.selector)
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// Registers interests with a [`Poll`], from any thread, even while it is blocked in
/// [`Poll::poll`].
///
/// A `Registrator` does not keep its `Poll` alive: after the `Poll` is dropped every method
/// returns an error (`ErrorKind::NotConnected`) and touches nothing, so it can never act on
/// a descriptor number the OS has since given to another file.
#[derive(Clone)]
pub struct Registrator {
    shared: Weak<Shared>,
}

impl Registrator {
    fn shared(&self) -> io::Result<Arc<Shared>> {
        self.shared.upgrade().ok_or_else(poll_dropped_error)
    }

    /// Asks for one event with `token` when `stream` is ready for `interests`.
    ///
    /// The registration is one-shot: after its event, it stays silent until
    /// [`reregister`](Registrator::reregister).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if `stream` is already registered (use `reregister`);
    /// `NotConnected` if the `Poll` was dropped; on kqueue, `AlreadyExists` too if it is
    /// registered with another `Poll` (one at a time, as in mio); on Windows,
    /// `Unsupported` if `stream` was ever registered with another `Poll` (a socket is
    /// bound to one completion port for life); otherwise what the OS reports.
    pub fn register(
        &self,
        stream: &TcpStream,
        token: usize,
        interests: Interests,
    ) -> io::Result<()> {
        self.shared()?
            .selector
            .register(stream, Token(token), interests)
    }

    /// Re-arms a registration, replacing its token and interests.
    ///
    /// If the stream is already ready, the event comes at the next `poll`.
    ///
    /// # Errors
    ///
    /// `NotFound` if `stream` is not registered; `NotConnected` if the `Poll` was dropped;
    /// otherwise what the OS reports.
    pub fn reregister(
        &self,
        stream: &TcpStream,
        token: usize,
        interests: Interests,
    ) -> io::Result<()> {
        self.shared()?
            .selector
            .reregister(stream, Token(token), interests)
    }

    /// Removes a registration: no event for it arrives after this returns.
    ///
    /// Dropping a [`TcpStream`] removes its registration too.
    ///
    /// # Errors
    ///
    /// `NotFound` if `stream` is not registered; `NotConnected` if the `Poll` was dropped;
    /// otherwise what the OS reports.
    pub fn deregister(&self, stream: &TcpStream) -> io::Result<()> {
        self.shared()?.selector.deregister(stream)
    }

    /// Closes the event loop: a thread blocked in [`Poll::poll`] wakes up with
    /// `ErrorKind::Interrupted`, and so does every later call.
    ///
    /// Calling it again does nothing and returns `Ok(())`, and so does calling it after the
    /// `Poll` is gone: either way the loop is closed.
    ///
    /// # Errors
    ///
    /// What the OS reports if it cannot deliver the wake-up.
    pub fn close_loop(&self) -> io::Result<()> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        // FIX(book) M12: the book used the deprecated `compare_and_swap`. `swap` says the
        // same thing: only the first caller sees `false` and delivers the wake-up.
        if shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        shared.selector.wake_close()
    }
}

impl fmt::Debug for Registrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrator")
            .field("poll_alive", &(self.shared.strong_count() > 0))
            .finish()
    }
}

/// Ends a blocked [`Poll::poll`] from another thread with a readable event for its token.
///
/// Several `wake` calls before the next `poll` give one event; after that, nothing until
/// the next `wake`. A `Waker` is `Send + Sync`; share it with an `Arc`.
///
/// ```
/// use std::{io, sync::Arc, thread};
/// use node_experiment::minimio::{Events, Poll, Waker};
///
/// # fn main() -> io::Result<()> {
/// let mut poll = Poll::new()?;
/// let waker = Arc::new(Waker::new(&poll.registrator(), 99)?);
/// let w = Arc::clone(&waker);
/// let t = thread::spawn(move || w.wake());
///
/// let mut events = Events::with_capacity(4);
/// poll.poll(&mut events, Some(5_000))?;
/// assert_eq!(events[0].id().value(), 99);
/// assert!(events[0].is_readable());
/// t.join().unwrap()?;
/// # Ok(())
/// # }
/// ```
pub struct Waker {
    inner: sys::Waker,
    shared: Weak<Shared>,
}

impl Waker {
    /// Creates a waker whose events carry `token`.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the `Poll` behind `registrator` was dropped; otherwise what the
    /// OS reports.
    pub fn new(registrator: &Registrator, token: usize) -> io::Result<Waker> {
        let shared = registrator.shared()?;
        Ok(Waker {
            inner: sys::Waker::new(&shared.selector, Token(token))?,
            shared: Arc::downgrade(&shared),
        })
    }

    /// Wakes the `Poll` this waker belongs to.
    ///
    /// # Errors
    ///
    /// `NotConnected` if that `Poll` was dropped; otherwise what the OS reports.
    pub fn wake(&self) -> io::Result<()> {
        let shared = self.shared.upgrade().ok_or_else(poll_dropped_error)?;
        self.inner.wake(&shared.selector)
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker").field("inner", &self.inner).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interests_combine() {
        let both = Interests::READABLE | Interests::WRITABLE;
        assert!(both.is_readable() && both.is_writable());
        assert!(Interests::readable().is_readable() && !Interests::readable().is_writable());
        assert!(Interests::writable().is_writable() && !Interests::writable().is_readable());
        let mut i = Interests::READABLE;
        i |= Interests::WRITABLE;
        assert_eq!(i, both);
        assert_eq!(format!("{both:?}"), "READABLE | WRITABLE");
    }

    #[test]
    fn event_flags_are_independent() {
        let e = Event::new(Token::new(3), Event::READABLE | Event::READ_CLOSED);
        assert_eq!(e.id(), Token::new(3));
        assert!(e.is_readable() && e.is_read_closed());
        assert!(!e.is_writable() && !e.is_write_closed() && !e.is_error());
    }

    #[test]
    fn public_types_are_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Event>();
        assert_send_sync::<Registrator>();
        assert_send_sync::<Waker>();
        assert_send_sync::<Poll>();
        assert_send_sync::<TcpStream>();
    }
}
