//! The macOS and FreeBSD backend: kqueue, with hand-written FFI.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "Kqueue" (the book's
//! `macos.rs`).
//!
//! # Readiness, not completion
//!
//! kqueue, like epoll, is a *readiness* API: it says "a read on this socket would not block
//! now", and the program then does the read itself. IOCP (Windows) is a *completion* API:
//! the program hands the OS a buffer and an operation, and is told when the operation is
//! done. With readiness the buffers stay in the program's hands until the moment of the
//! read; that is why the same `TcpStream` code works on top of epoll and kqueue unchanged.
//!
//! # How kqueue differs from epoll
//!
//! - **One call for everything.** `kevent()` takes a list of *changes* to apply and room for
//!   *events* to return: registering and waiting are the same syscall (epoll has
//!   `epoll_ctl` and `epoll_wait`). minimio still makes two kinds of call: changes with no
//!   room for events (register, wake), and waits with no changes (`select`).
//! - **Filters, not bit masks.** A registration (a "knote") is keyed by the pair
//!   *(ident, filter)*: a socket watched for reading and writing is two knotes,
//!   `(fd, EVFILT_READ)` and `(fd, EVFILT_WRITE)`, each with its own flags and its own
//!   `udata` (the value handed back in every event, like epoll's `data`), and each reported
//!   in its own event. epoll has one entry per descriptor with a mask of interests.
//! - **Not only descriptors.** The ident of `EVFILT_USER` is a number we choose, in a
//!   namespace of its own; triggering it is a change like any other. That gives wake-ups
//!   without a descriptor (epoll needs an `eventfd`).
//! - **Timeouts in nanoseconds.** `kevent` takes a `timespec`, so a 0.4 ms wait is a 0.4 ms
//!   wait: no rounding to whole milliseconds, and no risk of a 0 ms busy loop (the epoll
//!   backend must round up).
//!
//! # One-shot: `EV_DISPATCH`, and one event per arming
//!
//! Every socket filter is added with `EV_DISPATCH`: after one event the kernel *disables*
//! the knote and keeps it (the same as `EPOLLONESHOT`). `EV_ONESHOT` would *delete* it
//! instead. We choose `EV_DISPATCH` because then the kernel always holds exactly the
//! filters [`StreamState`] records, so every later change either succeeds or is a real
//! error; with `EV_ONESHOT` a filter that has fired is gone, and removing it would fail
//! with `ENOENT` for reasons that are not errors.
//!
//! SIMPLIFICATION: a re-arm deletes the knotes the stream had and adds fresh ones, in one
//! `kevent` call. A real kqueue could instead modify a knote in place (`EV_ADD` again, or
//! `EV_ENABLE`, with the new token as udata; mio does that), saving the kernel a free and
//! an allocation. Delete-and-add is one code path whether the token, the interests or
//! neither changed, and it is the only way that works on libkqueue (below), which cannot
//! modify a knote. The kernel checks a new knote at once, so data that arrived before the
//! re-arm is reported.
//!
//! Two filters mean that one registration for `READABLE | WRITABLE` could produce two
//! events, one per filter, at the same wait or at different ones. The contract is one
//! event per arming, so the backend keeps a small table of *armings*: each arming gets a
//! number that is never reused, and that number (not the caller's token) is the knotes'
//! `udata`. [`Selector::select`] folds what the kernel says about an arming into its table
//! entry; [`Selector::translate`] hands out the entry as one [`Event`] and removes it, so a
//! second filter's event (or an event from an arming that `reregister` or `deregister`
//! has since replaced) finds no entry and is dropped. A number that is never reused is
//! what makes this safe: with the token as key, a stale event for token 7 would be taken
//! for the new arming of token 7, and its real event would be lost.
//!
//! kqueue itself does not say "already registered" or "not registered": `EV_ADD` of a
//! knote that exists silently changes it. Per-socket state in [`StreamState`] (which
//! `Poll` the socket is registered with, its arming and its interests) gives the contract's
//! `AlreadyExists` and `NotFound`. It records one registration, so a stream is registered
//! with one `Poll` at a time, as in mio: registering it with a second one fails with
//! `AlreadyExists` until it is deregistered from the first (or that `Poll` is dropped).
//!
//! # Errors per change: `EV_RECEIPT`
//!
//! When a change fails, `kevent` either writes an `EV_ERROR` event for it or, with no room
//! for events, fails the whole call. With `EV_RECEIPT` on every change and the change list
//! itself as the event buffer (as mio does), the kernel writes one receipt per change, in
//! place, with `data` = 0 or the error number, and returns without collecting any real
//! events.
//!
//! # Wake-ups: `EVFILT_USER`
//!
//! - `close_loop`'s event is a user filter with ident 0, added *without* `EV_CLEAR`: once
//!   triggered it stays triggered, so every later wait returns at once.
//! - Each [`Waker`] gets its own ident (1, 2, ..., from the same counter as the arming
//!   numbers) and is added *with* `EV_CLEAR`: a trigger makes it ready, delivery resets
//!   it, so several wakes before a wait give one event. Its `udata` is the waker's token.
//!
//! User idents live apart from descriptors, so they never clash with a socket; `translate`
//! tells the kinds apart by filter.
//!
//! # Running it on Linux: libkqueue
//!
//! With `RUSTFLAGS='--cfg minimio_libkqueue'` this file is built on Linux against
//! libkqueue, a user-space emulation of kqueue on top of epoll, so CI can run the whole test
//! suite on this backend without a Mac. libkqueue 2.3.1 (the version in Debian
//! experimental) differs from a real kqueue in ways this file works around, each where it
//! matters: its `EV_RECEIPT` receipts (see [`Changes::apply`]), concurrent `kqueue()`
//! calls (see [`new_kqueue`]), knotes that outlive `close()` (see [`StreamState`]'s
//! `Drop`), knotes it cannot modify (see the SIMPLIFICATION above), and read and write
//! filters on one descriptor (see [`Target`]). The tests see no difference; one thing that
//! stays different is that libkqueue frees a closed kqueue's own descriptors a moment
//! later, on a thread of its own.
//!
//! # Differences from the book
//!
//! - FIX(book) M7: the book woke `close_loop` with an `EVFILT_TIMER` of ident 0 whose event
//!   carried token 0, so it could not be told from a user's token 0, and it declared
//!   macOS's `struct kevent` only, so FreeBSD (whose struct is twice as large) did not
//!   build. Here `close_loop` triggers an `EVFILT_USER` knote that `translate` drops
//!   (`Poll` learns of the close from its flag), and the struct has one layout per OS,
//!   each checked at compile time.
//! - FIX(book) M4: registrations can be re-armed with a new token and new interests, and
//!   removed; the book added `EV_ONESHOT` knotes and nothing else.
//! - FIX(book) M5: writable interest is an `EVFILT_WRITE` knote; the book had none.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use super::{Event, Interests, TcpStream, Token};

/// Hand-written bindings; names follow the C headers so they can be looked up.
#[allow(non_camel_case_types)]
mod ffi {
    // <sys/event.h> and kqueue(2) of macOS, FreeBSD, and libkqueue (which copies FreeBSD's
    // numbers). Only `EVFILT_USER` differs between them.
    pub const EVFILT_READ: i16 = -1;
    pub const EVFILT_WRITE: i16 = -2;
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    pub const EVFILT_USER: i16 = -10;
    #[cfg(any(target_os = "freebsd", minimio_libkqueue))]
    pub const EVFILT_USER: i16 = -11;

    // Actions and flags of a change; the same values on all three.
    pub const EV_ADD: u16 = 0x0001;
    pub const EV_DELETE: u16 = 0x0002;
    pub const EV_CLEAR: u16 = 0x0020;
    pub const EV_RECEIPT: u16 = 0x0040;
    pub const EV_DISPATCH: u16 = 0x0080;
    // Not sent by minimio, named in the module docs: `EV_ENABLE` re-arms a dispatched knote
    // in place, `EV_ONESHOT` deletes a knote after its event.
    #[allow(dead_code)]
    pub const EV_ENABLE: u16 = 0x0004;
    #[allow(dead_code)]
    pub const EV_ONESHOT: u16 = 0x0010;

    // Flags the kernel returns.
    pub const EV_ERROR: u16 = 0x4000;
    pub const EV_EOF: u16 = 0x8000;

    /// `fflags` of an `EVFILT_USER` change: make the knote ready.
    pub const NOTE_TRIGGER: u32 = 0x0100_0000;

    // fcntl(2): the same numbers on macOS, FreeBSD and Linux.
    pub const F_SETFD: i32 = 2;
    pub const FD_CLOEXEC: i32 = 1;

    /// `struct kevent` of macOS (x86_64 and aarch64) and of libkqueue: 32 bytes.
    ///
    /// `udata` is a `void *` in C. minimio only ever stores a number in it (an arming
    /// number or a waker's token), so it is declared as the pointer-sized integer: the same
    /// size and alignment, and no pointer that could be mistaken for one (it also keeps the
    /// struct `Send`, which `Poll`'s buffer of events needs).
    #[cfg(not(target_os = "freebsd"))]
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct kevent {
        pub ident: usize,
        pub filter: i16,
        pub flags: u16,
        pub fflags: u32,
        pub data: isize,
        pub udata: usize,
    }

    /// `struct kevent` of FreeBSD 12 and later: `data` is 64-bit everywhere and four
    /// extension words follow; 64 bytes. FreeBSD keeps the old 32-byte call for programs
    /// built before 12 as a versioned symbol (`kevent@FBSD_1.0`); linking the plain name
    /// gets the current one, which matches this struct.
    #[cfg(target_os = "freebsd")]
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct kevent {
        pub ident: usize,
        pub filter: i16,
        pub flags: u16,
        pub fflags: u32,
        pub data: i64,
        pub udata: usize,
        pub ext: [u64; 4],
    }

    // Checked at compile time: `cargo check --target x86_64-unknown-freebsd` (or a Mac
    // target) on Linux catches a wrong layout before anything runs. Every supported target
    // is 64-bit.
    #[cfg(not(target_os = "freebsd"))]
    const _: () = assert!(std::mem::size_of::<kevent>() == 32);
    #[cfg(target_os = "freebsd")]
    const _: () = assert!(std::mem::size_of::<kevent>() == 64);

    /// `struct timespec`: `time_t` and `long`, both 64-bit on every supported target.
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct timespec {
        pub tv_sec: i64,
        pub tv_nsec: i64,
    }
    const _: () = assert!(std::mem::size_of::<timespec>() == 16);

    #[cfg_attr(not(minimio_libkqueue), link(name = "c"))]
    #[cfg_attr(minimio_libkqueue, link(name = "kqueue"))]
    unsafe extern "C" {
        pub fn kqueue() -> i32;
        pub fn kevent(
            kq: i32,
            changelist: *const kevent,
            nchanges: i32,
            eventlist: *mut kevent,
            nevents: i32,
            timeout: *const timespec,
        ) -> i32;
    }

    #[link(name = "c")]
    unsafe extern "C" {
        pub fn fcntl(fd: i32, cmd: i32, ...) -> i32;
        // `close(2)` runs in `OwnedFd`'s `Drop`.
    }
}

pub(crate) type RawEvent = ffi::kevent;

/// The ident of `close_loop`'s user filter. Waker idents and arming numbers start at 1.
const CLOSE_IDENT: usize = 0;

/// Waits longer than this are cut short (`Poll` waits again for the rest). `Poll` never
/// asks for more than `i32::MAX` milliseconds, so this only guards the conversion.
const MAX_WAIT_SECS: u64 = i32::MAX as u64;

/// The one place a C return value becomes an `io::Error`: -1 means "look at errno".
fn cvt(ret: i32) -> io::Result<i32> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every update is a
/// single insert, remove or assignment), so `Drop` and `translate` never panic on poison.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A change record with every field we do not set zeroed.
fn change(ident: usize, filter: i16, flags: u16, fflags: u32, udata: usize) -> ffi::kevent {
    ffi::kevent {
        ident,
        filter,
        flags,
        fflags,
        data: 0,
        udata,
        #[cfg(target_os = "freebsd")]
        ext: [0; 4],
    }
}

/// Creates a kqueue descriptor, closed on `exec` like the epoll backend's.
fn new_kqueue() -> io::Result<OwnedFd> {
    // libkqueue 2.3.1 can hang for good when two threads are inside `kqueue()` at once;
    // parallel tests each create a `Poll`, and without this lock the test suite hung on
    // every run. Serialising only the *first* call is not enough (16 threads calling
    // `kqueue()` together after one call made alone: 19 of 20 runs hung; with every call
    // serialised, 0 of 200), so every call takes the lock. `kqueue()` runs once per
    // `Poll`: the lock costs nothing that matters.
    #[cfg(minimio_libkqueue)]
    let _serialised = {
        static KQUEUE_CALL: Mutex<()> = Mutex::new(());
        lock(&KQUEUE_CALL)
    };
    // SAFETY: kqueue takes no arguments and touches no memory of ours.
    let fd = cvt(unsafe { ffi::kqueue() })?;
    // SAFETY: `fd` was just returned by a successful kqueue(), so it is open and nothing
    // else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // kqueue() has no close-on-exec flag of its own (FreeBSD 13's kqueuex() has one,
    // macOS has none), so set it as mio does.
    // SAFETY: fcntl(F_SETFD) takes a descriptor we own and an integer; no memory of ours.
    cvt(unsafe { ffi::fcntl(fd.as_raw_fd(), ffi::F_SETFD, ffi::FD_CLOEXEC) })?;
    Ok(fd)
}

/// The kqueue and what must outlive a call: shared (through [`Weak`]) with every
/// [`StreamState`] and [`Waker`] that must undo its knotes when it is dropped.
struct Kqueue {
    fd: OwnedFd,
    /// Armings that have not delivered their event yet, by arming number. `select` folds
    /// readiness in; `translate` takes an entry out, which is what makes one event per
    /// arming (see the module docs).
    armings: Mutex<HashMap<usize, Arming>>,
    /// Hands out arming numbers and waker idents; never reused (a 64-bit counter does not
    /// wrap).
    next_id: AtomicUsize,
}

/// One arming that has not delivered its event yet.
#[derive(Debug)]
struct Arming {
    token: Token,
    /// `Event` flags gathered from this arming's kernel events in the current `select`.
    ready: u8,
}

impl Kqueue {
    fn next_id(&self) -> usize {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds fresh knotes for `interests` under a new arming number, after deleting those of
    /// `old` (a re-arm), in one `kevent` call.
    ///
    /// On error the stream is left with no knotes at all: some changes may have been
    /// applied, and a half-registered stream would be worse than an unregistered one.
    fn arm(
        &self,
        target: Target,
        token: Token,
        interests: Interests,
        old: Option<(usize, Interests)>,
    ) -> io::Result<(usize, Target)> {
        let arming = self.next_id();
        // In the table before the knotes exist: a `select` on another thread may see their
        // first event as soon as `kevent` has added them.
        lock(&self.armings).insert(arming, Arming { token, ready: 0 });
        let mut changes = Changes::new();
        if let Some((_, old_interests)) = old {
            changes.sockets(&target, old_interests, ffi::EV_DELETE, 0);
        }
        changes.sockets(&target, interests, ffi::EV_ADD | ffi::EV_DISPATCH, arming);
        let result = changes.apply(self);

        let mut armings = lock(&self.armings);
        if let Some((old_arming, _)) = old {
            armings.remove(&old_arming);
        }
        match result {
            Ok(()) => Ok((arming, target)),
            Err(e) => {
                armings.remove(&arming);
                drop(armings);
                // Best effort: with EV_RECEIPT every change is tried, and the delete of a
                // knote that is not there fails harmlessly (ENOENT).
                let both = Interests::READABLE | Interests::WRITABLE;
                let mut delete = Changes::new();
                delete.sockets(&target, both, ffi::EV_DELETE, 0);
                let _ = delete.apply(self);
                Err(e)
            }
        }
    }

    /// Deletes a registration's knotes and forgets its arming.
    fn disarm(&self, registration: Registration) -> io::Result<()> {
        let mut changes = Changes::new();
        changes.sockets(
            &registration.target,
            registration.interests,
            ffi::EV_DELETE,
            0,
        );
        let result = changes.apply(self);
        lock(&self.armings).remove(&registration.arming);
        // Only now may `registration.target` close a libkqueue duplicate: its knote is gone.
        drop(registration);
        result
    }
}

/// Up to four changes sent in one `kevent` call (delete two filters, add two).
struct Changes {
    list: [ffi::kevent; 4],
    len: usize,
}

impl Changes {
    fn new() -> Changes {
        Changes {
            list: [change(0, 0, 0, 0, 0); 4],
            len: 0,
        }
    }

    fn push(&mut self, ident: usize, filter: i16, flags: u16, fflags: u32, udata: usize) {
        self.list[self.len] = change(ident, filter, flags, fflags, udata);
        self.len += 1;
    }

    /// One change per filter that `interests` names, on the socket `target`.
    fn sockets(&mut self, target: &Target, interests: Interests, flags: u16, udata: usize) {
        if interests.is_readable() {
            let ident = target.ident(ffi::EVFILT_READ);
            self.push(ident, ffi::EVFILT_READ, flags, 0, udata);
        }
        if interests.is_writable() {
            let ident = target.ident(ffi::EVFILT_WRITE);
            self.push(ident, ffi::EVFILT_WRITE, flags, 0, udata);
        }
    }

    /// Applies the changes and returns the first one's error, if any.
    ///
    /// With `EV_RECEIPT` on every change and the list itself as the event buffer, the
    /// kernel overwrites each change with its receipt (`EV_ERROR` set, `data` = 0 or the
    /// error number) and collects no real events, so none is lost here. A change's `data`
    /// goes in as 0, so "`data` is not 0" means "this change failed", whether the receipt
    /// was written or not.
    ///
    /// libkqueue 2.3.1 writes the receipts but without `EV_ERROR`, and returns 0 instead
    /// of their number; the `data` test above reads its receipts the same way.
    fn apply(&mut self, kq: &Kqueue) -> io::Result<()> {
        let changes = &mut self.list[..self.len];
        for c in changes.iter_mut() {
            c.flags |= ffi::EV_RECEIPT;
        }
        let n = changes.len() as i32;
        let list = changes.as_mut_ptr();
        // No change makes the kernel wait (each one gets a receipt, and they fill the
        // buffer); a zero timeout says so anyway.
        let zero = ffi::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `list` points to `n` initialised records that the kernel reads as changes
        // and overwrites with at most `n` receipts (the same buffer, as kevent(2) allows);
        // `zero` lives for the whole call; `kq.fd` is a kqueue we own.
        let ret = unsafe { ffi::kevent(kq.fd.as_raw_fd(), list, n, list, n, &zero) };
        if let Err(e) = cvt(ret) {
            // kevent(2) on FreeBSD: "When kevent() call fails with EINTR error, all changes
            // in the changelist have been applied"; the receipts tell the rest.
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        match changes.iter().find(|c| c.data != 0) {
            Some(failed) => Err(io::Error::from_raw_os_error(failed.data as i32)),
            None => Ok(()),
        }
    }
}

pub(crate) struct Selector {
    kq: Arc<Kqueue>,
}

impl Selector {
    pub(crate) fn new() -> io::Result<Selector> {
        let kq = Arc::new(Kqueue {
            fd: new_kqueue()?,
            armings: Mutex::new(HashMap::new()),
            next_id: AtomicUsize::new(CLOSE_IDENT + 1),
        });
        // No EV_CLEAR: once triggered it stays ready (see the module docs). Its udata is
        // never read: `Poll` learns of a close through its flag, so no token is reserved.
        let mut changes = Changes::new();
        changes.push(CLOSE_IDENT, ffi::EVFILT_USER, ffi::EV_ADD, 0, 0);
        changes.apply(&kq)?;
        Ok(Selector { kq })
    }

    pub(crate) fn select(
        &self,
        raw: &mut Vec<RawEvent>,
        max: usize,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        raw.clear();
        let max = max.min(raw.capacity()).min(i32::MAX as usize) as i32;
        let timeout = timeout.map(to_timespec);
        let timeout_ptr = match &timeout {
            Some(t) => t as *const ffi::timespec,
            None => ptr::null(),
        };
        // FIX(book) M1: the buffer's real capacity, not a fixed 1024.
        // SAFETY: no changes are passed; `raw` has room for `max` records
        // (`max <= raw.capacity()`) and the kernel writes at most `max`; `timeout_ptr` is
        // null (wait forever) or points to `timeout`, alive for the whole call.
        let n = cvt(unsafe {
            ffi::kevent(
                self.kq.fd.as_raw_fd(),
                ptr::null(),
                0,
                raw.as_mut_ptr(),
                max,
                timeout_ptr,
            )
        })?;
        // SAFETY: the kernel initialised the first `n` records, and `n <= max <= capacity`.
        unsafe { raw.set_len(n as usize) };

        self.fold(raw);
        Ok(())
    }

    /// Folds every socket event into its arming's entry, so that `translate` can hand out
    /// one event per arming with the readiness of both filters (see the module docs).
    /// Events of armings no longer in the table change nothing.
    fn fold(&self, raw: &[RawEvent]) {
        if !raw.iter().any(is_socket_event) {
            return;
        }
        let mut armings = lock(&self.kq.armings);
        for ev in raw.iter().filter(|ev| is_socket_event(ev)) {
            if let Some(arming) = armings.get_mut(&ev.udata) {
                arming.ready |= readiness(ev);
            }
        }
    }

    pub(crate) fn translate(&self, raw: &RawEvent) -> Option<Event> {
        if raw.filter == ffi::EVFILT_USER {
            if raw.ident == CLOSE_IDENT {
                return None;
            }
            return Some(Event::new(Token::new(raw.udata), Event::READABLE));
        }
        // The first event of an arming takes its entry; a second one (the other filter),
        // or one from an arming since replaced, finds none.
        let arming = lock(&self.kq.armings).remove(&raw.udata)?;
        Some(Event::new(arming.token, arming.ready))
    }

    pub(crate) fn register(
        &self,
        stream: &TcpStream,
        token: Token,
        interests: Interests,
    ) -> io::Result<()> {
        let mut slot = lock(&stream.state.registration);
        if let Some(current) = slot.as_ref() {
            // A registration whose `Poll` is gone went with its kqueue; it does not count.
            if current.kq.strong_count() > 0 {
                let message = if self.owns(current) {
                    "the stream is already registered with this Poll; use reregister"
                } else {
                    "the stream is registered with another Poll; deregister it there first"
                };
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, message));
            }
        }
        // Drop a dead registration before making the new one (under libkqueue this closes
        // its duplicate, whose knote went with the old kqueue).
        *slot = None;
        let target = Target::new(stream)?;
        let (arming, target) = self.kq.arm(target, token, interests, None)?;
        *slot = Some(Registration {
            kq: Arc::downgrade(&self.kq),
            arming,
            interests,
            target,
        });
        Ok(())
    }

    pub(crate) fn reregister(
        &self,
        stream: &TcpStream,
        token: Token,
        interests: Interests,
    ) -> io::Result<()> {
        let mut slot = lock(&stream.state.registration);
        let current = self.take_own(&mut slot)?;
        let old = Some((current.arming, current.interests));
        // On error `slot` stays empty: `arm` has removed every knote of the stream.
        let (arming, target) = self.kq.arm(current.target, token, interests, old)?;
        *slot = Some(Registration {
            kq: current.kq,
            arming,
            interests,
            target,
        });
        Ok(())
    }

    pub(crate) fn deregister(&self, stream: &TcpStream) -> io::Result<()> {
        let mut slot = lock(&stream.state.registration);
        let current = self.take_own(&mut slot)?;
        self.kq.disarm(current)
    }

    pub(crate) fn wake_close(&self) -> io::Result<()> {
        let mut changes = Changes::new();
        changes.push(CLOSE_IDENT, ffi::EVFILT_USER, 0, ffi::NOTE_TRIGGER, 0);
        changes.apply(&self.kq)
    }

    /// Whether `registration` was made by this selector.
    ///
    /// Comparing addresses is sound even for a registration whose `Poll` is gone: its
    /// `Weak` keeps the allocation (not the value) alive, so no new `Kqueue` can be given
    /// the same address while the registration exists.
    fn owns(&self, registration: &Registration) -> bool {
        ptr::eq(registration.kq.as_ptr(), Arc::as_ptr(&self.kq))
    }

    /// Takes the stream's registration out of `slot` if it belongs to this selector.
    fn take_own(&self, slot: &mut Option<Registration>) -> io::Result<Registration> {
        match slot.take() {
            Some(current) if self.owns(&current) => Ok(current),
            other => {
                *slot = other;
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the stream is not registered with this Poll",
                ))
            }
        }
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("kq", &self.kq.fd.as_raw_fd())
            .finish()
    }
}

fn is_socket_event(ev: &RawEvent) -> bool {
    ev.filter == ffi::EVFILT_READ || ev.filter == ffi::EVFILT_WRITE
}

/// The `Event` flags one socket filter's event stands for.
fn readiness(ev: &RawEvent) -> u8 {
    let read = ev.filter == ffi::EVFILT_READ;
    let mut flags = if read {
        Event::READABLE
    } else {
        Event::WRITABLE
    };
    // kevent(2): the read filter sets EV_EOF when the peer has shut down its side (data may
    // still be left to read), the write filter when the socket can no longer send. Either
    // way `fflags` then holds the socket's pending error (ECONNRESET, ...), if any.
    let eof = ev.flags & ffi::EV_EOF != 0;
    if eof {
        flags |= if read {
            Event::READ_CLOSED
        } else {
            Event::WRITE_CLOSED
        };
    }
    // An error makes the next read and the next write return at once (see `Event`).
    if ev.flags & ffi::EV_ERROR != 0 || (eof && ev.fflags != 0) {
        flags |= Event::READABLE | Event::WRITABLE | Event::ERROR;
    }
    flags
}

/// kevent takes seconds and nanoseconds: the wait is exact, nothing is rounded.
fn to_timespec(t: Duration) -> ffi::timespec {
    ffi::timespec {
        tv_sec: t.as_secs().min(MAX_WAIT_SECS) as i64,
        tv_nsec: i64::from(t.subsec_nanos()),
    }
}

/// What the knotes of one socket are attached to.
///
/// On macOS and FreeBSD both filters watch the socket itself.
#[cfg(not(minimio_libkqueue))]
#[derive(Debug)]
struct Target {
    fd: RawFd,
}

#[cfg(not(minimio_libkqueue))]
impl Target {
    fn new(stream: &TcpStream) -> io::Result<Target> {
        Ok(Target {
            fd: stream.inner.as_raw_fd(),
        })
    }

    fn ident(&self, _filter: i16) -> usize {
        self.fd as usize
    }
}

/// What the knotes of one socket are attached to (libkqueue).
///
/// libkqueue 2.3.1 refuses a second filter on a descriptor that already has one: the
/// second `EV_ADD` fails with `EFAULT` (it watches a descriptor through a single epoll
/// entry), so `READABLE | WRITABLE` could not be registered at all. Under libkqueue the
/// write filter therefore watches a duplicate of the socket: the same socket under another
/// number, which libkqueue accepts. Real kqueue needs no such thing.
#[cfg(minimio_libkqueue)]
#[derive(Debug)]
struct Target {
    fd: RawFd,
    write_twin: OwnedFd,
}

#[cfg(minimio_libkqueue)]
impl Target {
    fn new(stream: &TcpStream) -> io::Result<Target> {
        use std::os::fd::AsFd;
        Ok(Target {
            fd: stream.inner.as_raw_fd(),
            write_twin: stream.inner.as_fd().try_clone_to_owned()?,
        })
    }

    fn ident(&self, filter: i16) -> usize {
        if filter == ffi::EVFILT_WRITE {
            self.write_twin.as_raw_fd() as usize
        } else {
            self.fd as usize
        }
    }
}

/// A live registration of one socket.
#[derive(Debug)]
struct Registration {
    /// The kqueue it lives in; weak, so that a stream does not keep a dropped `Poll`'s
    /// kqueue open, and so that a registration with a dropped `Poll` is seen to be dead.
    kq: Weak<Kqueue>,
    /// The number its knotes carry as udata, and its key in `Kqueue::armings`.
    arming: usize,
    /// Which filters the kernel holds for it: both, or one of `EVFILT_READ`/`EVFILT_WRITE`.
    interests: Interests,
    target: Target,
}

/// Per-socket state: whether and where the socket is registered (see the module docs for
/// why kqueue needs it).
///
/// A mutex, because `register` and friends take `&TcpStream` and may run on any thread;
/// it also makes changes to one stream's registration happen one at a time.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    registration: Mutex<Option<Registration>>,
}

impl Drop for StreamState {
    /// Deregisters the socket; `TcpStream` drops this state before it closes the socket.
    ///
    /// A real kqueue removes a descriptor's knotes when it is closed, but the arming would
    /// stay in the table; and libkqueue keeps the knotes of a closed descriptor, so a new
    /// socket that gets the same number could not be registered.
    fn drop(&mut self) {
        let slot = self
            .registration
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(registration) = slot.take() {
            if let Some(kq) = registration.kq.upgrade() {
                // Nobody to report an error to, and the socket is about to close anyway.
                let _ = kq.disarm(registration);
            }
        }
    }
}

/// A user filter with its own ident, added with `EV_CLEAR` and the waker's token as udata.
pub(crate) struct Waker {
    kq: Weak<Kqueue>,
    ident: usize,
    token: Token,
}

impl Waker {
    pub(crate) fn new(selector: &Selector, token: Token) -> io::Result<Waker> {
        let ident = selector.kq.next_id();
        let mut changes = Changes::new();
        changes.push(
            ident,
            ffi::EVFILT_USER,
            ffi::EV_ADD | ffi::EV_CLEAR,
            0,
            token.value(),
        );
        changes.apply(&selector.kq)?;
        Ok(Waker {
            kq: Arc::downgrade(&selector.kq),
            ident,
            token,
        })
    }

    pub(crate) fn wake(&self, selector: &Selector) -> io::Result<()> {
        // Every change to a knote also replaces its udata (FreeBSD has `EV_KEEPUDATA` to
        // prevent that; macOS and libkqueue have nothing), so the trigger carries the token
        // again. With 0 here, the event would come back with token 0.
        let mut changes = Changes::new();
        let token = self.token.value();
        changes.push(self.ident, ffi::EVFILT_USER, 0, ffi::NOTE_TRIGGER, token);
        changes.apply(&selector.kq)
    }
}

impl Drop for Waker {
    /// Deletes the knote; unlike an eventfd, a user filter is not removed by any `close`.
    fn drop(&mut self) {
        if let Some(kq) = self.kq.upgrade() {
            let mut changes = Changes::new();
            changes.push(self.ident, ffi::EVFILT_USER, ffi::EV_DELETE, 0, 0);
            let _ = changes.apply(&kq);
        }
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("ident", &self.ident)
            .field("token", &self.token)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(filter: i16, flags: u16, fflags: u32) -> RawEvent {
        change(5, filter, flags, fflags, 1)
    }

    #[test]
    fn timeouts_keep_their_nanoseconds() {
        let t = to_timespec(Duration::from_micros(400));
        assert_eq!((t.tv_sec, t.tv_nsec), (0, 400_000));
        let t = to_timespec(Duration::new(3, 5));
        assert_eq!((t.tv_sec, t.tv_nsec), (3, 5));
        let t = to_timespec(Duration::from_secs(u64::MAX));
        assert_eq!(t.tv_sec, i64::from(i32::MAX));
    }

    #[test]
    fn end_of_stream_is_readable_and_read_closed() {
        let flags = readiness(&event(ffi::EVFILT_READ, ffi::EV_EOF, 0));
        assert_eq!(flags, Event::READABLE | Event::READ_CLOSED);
        let flags = readiness(&event(ffi::EVFILT_WRITE, ffi::EV_EOF, 0));
        assert_eq!(flags, Event::WRITABLE | Event::WRITE_CLOSED);
    }

    #[test]
    fn a_socket_error_is_readable_writable_and_error() {
        // ECONNRESET is 54 on macOS and FreeBSD; any non-zero value is an error.
        let flags = readiness(&event(ffi::EVFILT_READ, ffi::EV_EOF, 54));
        let expected = Event::READABLE | Event::WRITABLE | Event::READ_CLOSED | Event::ERROR;
        assert_eq!(flags, expected);
        let flags = readiness(&event(ffi::EVFILT_WRITE, ffi::EV_ERROR, 0));
        assert_eq!(flags, Event::READABLE | Event::WRITABLE | Event::ERROR);
    }

    /// FIX(book) M7: the close event has no token, so it cannot pass for a user's token 0.
    #[test]
    fn close_event_is_internal_and_a_waker_event_carries_its_token() -> io::Result<()> {
        let selector = Selector::new()?;
        let close = change(CLOSE_IDENT, ffi::EVFILT_USER, 0, 0, 0);
        assert!(selector.translate(&close).is_none());
        let waker = change(7, ffi::EVFILT_USER, ffi::EV_CLEAR, 0, 0);
        let event = selector.translate(&waker).expect("a waker's event");
        assert_eq!(event.id(), Token::new(0));
        assert!(event.is_readable() && !event.is_writable());
        Ok(())
    }

    #[test]
    fn one_event_per_arming_with_the_readiness_of_both_filters() -> io::Result<()> {
        let selector = Selector::new()?;
        let arming = selector.kq.next_id();
        let token = Token::new(9);
        lock(&selector.kq.armings).insert(arming, Arming { token, ready: 0 });

        // A batch holding both filters of the arming, as `select` returns it.
        let read = change(5, ffi::EVFILT_READ, 0, 0, arming);
        let write = change(5, ffi::EVFILT_WRITE, 0, 0, arming);
        selector.fold(&[read, write]);
        let first = selector.translate(&read).expect("the arming's event");
        assert_eq!(first.id(), token);
        assert!(first.is_readable() && first.is_writable());
        assert!(selector.translate(&write).is_none(), "a second event");
        assert!(selector.translate(&read).is_none(), "a stale event");
        Ok(())
    }
}
