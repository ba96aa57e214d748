//! The Linux backend: epoll, with hand-written FFI.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "Epoll" (the book's
//! `linux.rs`).
//!
//! epoll is a *readiness* API. The kernel keeps an interest list per epoll instance
//! (`epoll_ctl` edits it) and a ready list; `epoll_wait` sleeps until the ready list is not
//! empty and copies out up to `maxevents` entries. Each entry carries back the 64-bit
//! `data` we stored at registration: we store the caller's [`Token`].
//!
//! Every socket is registered with `EPOLLONESHOT`: after one event the kernel disables the
//! entry (it stays in the interest list) until `EPOLL_CTL_MOD` arms it again. That gives
//! the module's one-shot contract without any bookkeeping in user space, and it gives
//! `register`/`reregister`/`deregister` their errors for free: `EPOLL_CTL_ADD` of a known
//! descriptor fails with `EEXIST`, `MOD`/`DEL` of an unknown one with `ENOENT`.
//!
//! Wake-ups use an `eventfd`, a kernel counter that is readable while it is not zero.
//! - The close wake-up is registered *level-triggered*: once written it stays ready, so
//!   every later `epoll_wait` returns at once and `Poll` reports the loop closed.
//! - A [`Waker`]'s eventfd is registered *edge-triggered* (`EPOLLET`): each write that
//!   raises the counter is one edge, many writes before a wait are one event, and nothing
//!   follows until the next write. Nobody ever reads the counter; it would take 2^64 wakes
//!   to fill it, and a full counter (`EAGAIN`) means "already awake" anyway.
//!
//! Closing a descriptor removes it from every epoll interest list (see epoll(7), "Will
//! closing a file descriptor cause it to be removed from all epoll interest lists?"), as
//! long as no duplicate of it is open; minimio never duplicates a socket, so dropping a
//! [`TcpStream`] is a complete deregistration.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{Event, Interests, TcpStream, Token};

/// Hand-written bindings; names follow the C headers so they can be looked up.
#[allow(non_camel_case_types)]
mod ffi {
    // <sys/epoll.h>, epoll_ctl(2), epoll_create(2), eventfd(2). The flag values below are
    // those of x86_64 and aarch64 (O_CLOEXEC = 0o2000000, O_NONBLOCK = 0o4000); other
    // architectures (mips, sparc, alpha) spell some differently and are not supported.
    pub const EPOLL_CLOEXEC: i32 = 0o2000000;
    pub const EPOLL_CTL_ADD: i32 = 1;
    pub const EPOLL_CTL_DEL: i32 = 2;
    pub const EPOLL_CTL_MOD: i32 = 3;

    pub const EPOLLIN: u32 = 0x001;
    pub const EPOLLPRI: u32 = 0x002;
    pub const EPOLLOUT: u32 = 0x004;
    pub const EPOLLERR: u32 = 0x008;
    pub const EPOLLHUP: u32 = 0x010;
    pub const EPOLLRDHUP: u32 = 0x2000;
    pub const EPOLLONESHOT: u32 = 1 << 30;
    pub const EPOLLET: u32 = 1 << 31;

    pub const EFD_CLOEXEC: i32 = 0o2000000;
    pub const EFD_NONBLOCK: i32 = 0o4000;

    /// `struct epoll_event`. The kernel declares it `__attribute__((packed))` on x86_64
    /// only (for compatibility with 32-bit x86); on aarch64 it has natural alignment and is
    /// 16 bytes.
    ///
    /// FIX(book) M2: the book packed it everywhere, which reads garbage tokens on aarch64.
    #[repr(C)]
    #[cfg_attr(target_arch = "x86_64", repr(packed))]
    #[derive(Clone, Copy)]
    pub struct epoll_event {
        pub events: u32,
        pub u64: u64,
    }

    // Checked at compile time, so a `cargo check --target` for another CPU catches a wrong
    // layout before anything runs.
    #[cfg(target_arch = "x86_64")]
    const _: () = assert!(std::mem::size_of::<epoll_event>() == 12);
    #[cfg(not(target_arch = "x86_64"))]
    const _: () = assert!(std::mem::size_of::<epoll_event>() == 16);

    #[link(name = "c")]
    unsafe extern "C" {
        pub fn epoll_create1(flags: i32) -> i32;
        pub fn epoll_ctl(epfd: i32, op: i32, fd: i32, event: *mut epoll_event) -> i32;
        pub fn epoll_wait(epfd: i32, events: *mut epoll_event, maxevents: i32, timeout: i32)
        -> i32;
        pub fn eventfd(initval: u32, flags: i32) -> i32;
        // `close(2)` is called through `OwnedFd`'s `Drop`, which std implements with the
        // same libc function; owning descriptors beats calling `close` by hand.
    }
}

pub(crate) type RawEvent = ffi::epoll_event;

/// The one place a C return value becomes an `io::Error`: -1 means "look at errno".
fn cvt(ret: i32) -> io::Result<i32> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps a new descriptor so that it is closed exactly once.
fn owned(fd: i32) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: `fd` was just returned by a successful syscall that creates a descriptor, so
    // it is open and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn new_eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes two integers and touches no memory of ours.
    owned(unsafe { ffi::eventfd(0, ffi::EFD_CLOEXEC | ffi::EFD_NONBLOCK) })
}

/// Adds 1 to an eventfd's counter.
fn signal(fd: &OwnedFd) -> io::Result<()> {
    // `&File` implements `Write` without taking ownership; `ManuallyDrop` keeps this view
    // from closing a descriptor that `fd` owns.
    // SAFETY: `fd` is open for the whole call (we borrow its owner), and the `File` is
    // never dropped, so it does not close it.
    let file = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd.as_raw_fd()) });
    match (&*file).write(&1u64.to_ne_bytes()) {
        Ok(_) => Ok(()),
        // The counter is full: it is already readable, which is all a wake-up needs.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) struct Selector {
    epfd: OwnedFd,
    /// Written once by `close_loop`; registered level-triggered, so it stays ready.
    close_fd: OwnedFd,
}

impl Selector {
    pub(crate) fn new() -> io::Result<Selector> {
        // SAFETY: epoll_create1 takes an integer and touches no memory of ours.
        let epfd = owned(unsafe { ffi::epoll_create1(ffi::EPOLL_CLOEXEC) })?;
        let close_fd = new_eventfd()?;
        let selector = Selector { epfd, close_fd };
        // The data value is never read: `Poll` learns of a close through its flag (see the
        // contract in mod.rs), so no token is reserved for it.
        selector.ctl(
            ffi::EPOLL_CTL_ADD,
            selector.close_fd.as_raw_fd(),
            ffi::EPOLLIN,
            u64::MAX,
        )?;
        Ok(selector)
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = ffi::epoll_event { events, u64: data };
        // SAFETY: `event` is a valid `epoll_event` for the duration of the call (the kernel
        // copies it), and `epfd` is an epoll descriptor we own.
        cvt(unsafe { ffi::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut event) })?;
        Ok(())
    }

    pub(crate) fn select(
        &self,
        raw: &mut Vec<RawEvent>,
        max: usize,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        raw.clear();
        let max = max.min(raw.capacity()).min(i32::MAX as usize) as i32;
        let timeout_ms = match timeout {
            None => -1,
            Some(t) => duration_to_ms_rounded_up(t),
        };
        // FIX(book) M1: we pass the buffer's real capacity; the book passed 1024 whatever
        // the buffer's size, so the kernel could write past a smaller one.
        // SAFETY: `raw` has room for `max` entries (`max <= raw.capacity()`); the kernel
        // writes at most `max` of them and returns how many.
        let n = cvt(unsafe {
            ffi::epoll_wait(self.epfd.as_raw_fd(), raw.as_mut_ptr(), max, timeout_ms)
        })?;
        // SAFETY: the kernel initialised the first `n` entries, and `n <= max <= capacity`.
        unsafe { raw.set_len(n as usize) };
        Ok(())
    }

    pub(crate) fn translate(&self, raw: &RawEvent) -> Option<Event> {
        // Copy out of the (possibly packed) struct before use: a reference to a packed
        // field would be unaligned.
        let bits = raw.events;
        let token = raw.u64;
        let mut flags = 0;
        // An error or hang-up means the next read and write return at once; see `Event`.
        if bits & (ffi::EPOLLIN | ffi::EPOLLPRI | ffi::EPOLLRDHUP | ffi::EPOLLHUP | ffi::EPOLLERR)
            != 0
        {
            flags |= Event::READABLE;
        }
        if bits & (ffi::EPOLLOUT | ffi::EPOLLHUP | ffi::EPOLLERR) != 0 {
            flags |= Event::WRITABLE;
        }
        if bits & (ffi::EPOLLRDHUP | ffi::EPOLLHUP) != 0 {
            flags |= Event::READ_CLOSED;
        }
        if bits & ffi::EPOLLHUP != 0 {
            flags |= Event::WRITE_CLOSED;
        }
        if bits & ffi::EPOLLERR != 0 {
            flags |= Event::ERROR;
        }
        Some(Event::new(Token::new(token as usize), flags))
    }

    pub(crate) fn register(
        &self,
        stream: &TcpStream,
        token: Token,
        interests: Interests,
    ) -> io::Result<()> {
        self.ctl(
            ffi::EPOLL_CTL_ADD,
            stream.inner.as_raw_fd(),
            socket_events(interests),
            token.value() as u64,
        )
    }

    pub(crate) fn reregister(
        &self,
        stream: &TcpStream,
        token: Token,
        interests: Interests,
    ) -> io::Result<()> {
        // EPOLL_CTL_MOD re-arms a one-shot entry that has fired: the kernel re-checks the
        // socket at once, so data that arrived in between is reported, not lost.
        self.ctl(
            ffi::EPOLL_CTL_MOD,
            stream.inner.as_raw_fd(),
            socket_events(interests),
            token.value() as u64,
        )
    }

    pub(crate) fn deregister(&self, stream: &TcpStream) -> io::Result<()> {
        // Since Linux 2.6.9 the event argument of EPOLL_CTL_DEL is ignored (but must be
        // non-null on older kernels, so `ctl` passes one anyway).
        self.ctl(ffi::EPOLL_CTL_DEL, stream.inner.as_raw_fd(), 0, 0)
    }

    pub(crate) fn wake_close(&self) -> io::Result<()> {
        signal(&self.close_fd)
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("epfd", &self.epfd.as_raw_fd())
            .finish()
    }
}

/// The epoll flags for a socket registration: always one-shot, and `EPOLLRDHUP` with
/// reading so a peer's close is reported as a hint (`Event::is_read_closed`).
fn socket_events(interests: Interests) -> u32 {
    let mut events = ffi::EPOLLONESHOT;
    if interests.is_readable() {
        events |= ffi::EPOLLIN | ffi::EPOLLRDHUP;
    }
    if interests.is_writable() {
        events |= ffi::EPOLLOUT;
    }
    events
}

/// epoll_wait's timeout: whole milliseconds rounded up (see `millis_rounded_up` for why),
/// at most `i32::MAX` (about 24.8 days).
fn duration_to_ms_rounded_up(t: Duration) -> i32 {
    // Cannot fail: the cap keeps the value within `i32`.
    super::millis_rounded_up(t, i32::MAX as u32) as i32
}

/// Per-socket state: none, the kernel keeps it all (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    // Private so that the type is built with `default()` on every backend alike.
    _private: (),
}

/// An eventfd registered edge-triggered with the waker's token.
pub(crate) struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub(crate) fn new(selector: &Selector, token: Token) -> io::Result<Waker> {
        let fd = new_eventfd()?;
        selector.ctl(
            ffi::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            ffi::EPOLLIN | ffi::EPOLLET,
            token.value() as u64,
        )?;
        Ok(Waker { fd })
    }

    pub(crate) fn wake(&self, _selector: &Selector) -> io::Result<()> {
        signal(&self.fd)
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("eventfd", &self.fd.as_raw_fd())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(duration_to_ms_rounded_up(Duration::ZERO), 0);
        assert_eq!(duration_to_ms_rounded_up(Duration::from_micros(400)), 1);
        assert_eq!(duration_to_ms_rounded_up(Duration::from_millis(5)), 5);
        assert_eq!(duration_to_ms_rounded_up(Duration::from_micros(5_001)), 6);
        assert_eq!(
            duration_to_ms_rounded_up(Duration::from_secs(u64::MAX)),
            i32::MAX
        );
    }

    #[test]
    fn socket_registrations_are_one_shot() {
        assert_ne!(socket_events(Interests::READABLE) & ffi::EPOLLONESHOT, 0);
        assert_ne!(socket_events(Interests::WRITABLE) & ffi::EPOLLOUT, 0);
        assert_eq!(socket_events(Interests::WRITABLE) & ffi::EPOLLIN, 0);
    }
}
