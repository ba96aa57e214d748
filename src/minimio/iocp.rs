//! The Windows backend: I/O completion ports (IOCP), with hand-written FFI.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "IOCP" (the book's
//! `windows.rs`).
//!
//! # Completion, not readiness
//!
//! epoll and kqueue answer "which sockets *could* I read now?", and the program then reads
//! by itself. IOCP answers another question: "which of the operations I *started* have
//! *finished*?". The program starts a read with a buffer and an `OVERLAPPED` record; the
//! kernel fills the buffer whenever data comes and then queues an entry on the completion
//! port that names the `OVERLAPPED`. Until that entry is taken off the queue, the buffer
//! and the `OVERLAPPED` belong to the kernel: freeing or moving them earlier lets the
//! kernel write into memory that is no longer ours.
//!
//! minimio promises *readiness* (see the contract in `mod.rs`), so this file builds
//! readiness out of completions, with the technique libuv uses for TCP reads:
//!
//! - **Readable**: start a *zero-byte* overlapped `WSARecv`. It has no room to copy data
//!   into, so it consumes nothing and finishes as soon as there is something to read: data,
//!   the end of the stream, or an error. Its completion is the readable event; the user then
//!   reads through the ordinary non-blocking [`TcpStream`] until `WouldBlock`, as on Linux.
//! - **Writable**: start a zero-byte overlapped `WSASend`. It sends nothing; it completes
//!   when the socket *accepts a send now*. Measured under Wine 8: at once on a connected
//!   socket with room in its send buffer, and, with the buffer full, only once the peer
//!   has read enough, which is what epoll's `EPOLLOUT` says too. Windows itself is not
//!   measured here; were it to complete zero-byte sends at once even with a full buffer,
//!   a write after the event could return `WouldBlock` and a re-armed `WRITABLE` fire
//!   again at once (a busy wait, not a hang). Either way a connected stream reports
//!   writable, as on epoll.
//!
//! mio and smol's `polling` get true readiness on Windows another way: they send the
//! socket driver (AFD) the undocumented `IOCTL_AFD_POLL` request, which completes when the
//! socket's state matches a mask, much like one `poll(2)` call. That matches epoll more
//! closely but rests on an interface Microsoft does not document; the zero-byte trick uses
//! documented Winsock calls only.
//!
//! # Who owns an operation
//!
//! Every started operation is one heap allocation, an [`Op`], whose first field is its
//! `OVERLAPPED`, so the pointer the kernel hands back is a pointer to the `Op`.
//! `Box::into_raw` gives the `Op` to the kernel when the operation starts, and `select`
//! takes it back with `Box::from_raw` when its entry comes off the queue; nothing else ever
//! frees an `Op`. The kernel can write to an `OVERLAPPED` until it queues the entry, so
//! this one rule is what keeps `deregister`, or a [`TcpStream`] dropped on another thread,
//! from freeing memory the kernel still uses.
//!
//! For the rule to hold, every started operation must come back exactly once:
//! - We do not call `SetFileCompletionNotificationModes(FILE_SKIP_COMPLETION_PORT_ON_SUCCESS)`,
//!   so an operation that finishes at once still queues its entry (MSDN, "WSARecv",
//!   Remarks). libuv sets that mode where the socket allows it, to save a trip through the
//!   queue; we keep one path.
//! - An operation that *fails* at once queues nothing. We post its entry ourselves with
//!   `PostQueuedCompletionStatus`, so the failure reaches the user as an event (the next
//!   read or write returns the error) and comes back like any other. libuv does the same
//!   with its own queue of pending requests.
//!
//! An `Op` holds an `Arc` of its socket's [`SockState`], which holds the registration
//! (token, interests, whether it is armed). The same `Arc` lives in the [`TcpStream`]
//! ([`StreamState`]), so the state outlives whichever of the two goes first.
//!
//! # One-shot, re-arming and cancelling
//!
//! - `register` starts one zero-byte operation per interest. The first to complete delivers
//!   the registration's one event and disarms it; any other completes silently.
//! - `reregister` replaces token and interests, re-arms, and starts the operations that are
//!   missing; one still pending from before is kept, since it waits for the same thing.
//! - `deregister` (and dropping the stream) bumps the socket's *generation* and cancels its
//!   operations with `CancelIoEx`. A cancelled operation still comes back, with
//!   `STATUS_CANCELLED`, and is freed then; its generation is old, so it yields no event.
//!   An entry that was already queued when `deregister` ran is old the same way.
//! - With both interests, two operations race for the one event. The first to be settled
//!   also looks at the other's `OVERLAPPED` (the check of `HasOverlappedIoCompleted`): if
//!   that one has finished too, the event carries both directions, as an epoll event would.
//!
//! `select` itself settles each entry it dequeues (takes the `Op` back, updates the
//! socket's state) and leaves in the entry only what `translate` needs. `Poll` does not
//! call `translate` once the loop is closed; settling in `select` means no entry, and no
//! `Op`, can be lost that way.
//!
//! # A socket belongs to one port, forever
//!
//! `CreateIoCompletionPort` associates a socket with a port, and no Win32 call undoes it
//! (Windows 8.1 added a native `NtSetInformationFile` class that can; minimio stays with
//! Win32). We associate at the first `register` and remember which `Poll` it was for.
//! Consequences: after `deregister`, registering with the *same* `Poll` works again, but
//! registering with a *second* `Poll` (even after the first is dropped) fails with
//! `ErrorKind::Unsupported`. (Windows itself would refuse with `ERROR_INVALID_PARAMETER`;
//! we check first and say why.) epoll and kqueue allow it.
//!
//! # Wake-ups
//!
//! `PostQueuedCompletionStatus` queues an entry that no I/O produced; its completion key
//! and pointer are ours to choose, and the kernel never looks behind the pointer.
//! - `close_loop` posts key [`KEY_CLOSE`] with a null pointer: nothing to free, nothing
//!   that can dangle.
//! - A [`Waker`] posts key [`KEY_WAKER`] with a pointer from `Arc::into_raw`, so its shared
//!   state lives until the entry is dequeued, even if the `Waker` is dropped. A flag set
//!   by the first `wake` and cleared when the entry is dequeued makes several wakes before
//!   a poll one event.
//!
//! # Dropping the `Poll`
//!
//! The selector's `Drop` cancels the operations of every socket still registered, then
//! dequeues entries until every operation it started has come back, and frees them. If
//! none comes back for [`DRAIN_STALL`], or the whole wait reaches [`DRAIN_LIMIT`] (safety
//! nets: Windows returns a cancelled socket operation at once), it leaks the rest on
//! purpose: a leak wastes memory, while freeing memory the kernel may still write is
//! undefined behaviour.
//!
//! The wait is judged by progress, not by a fixed deadline, because a backlog can be long
//! and slow and still healthy. Wine returns cancelled operations one by one, tens of
//! microseconds each, and a loop that registers and deregisters fast can leave thousands
//! queued: tests/reliability_leaks_alloc.rs dropped a `Poll` with about 15,000 of them,
//! which took 0.4–1 s here. A fixed one-second deadline leaked 1,704 operations of that
//! backlog on a slower machine.
//!
//! SIMPLIFICATION: a zero-byte read cannot tell data from the end of the stream, so
//! [`Event::is_read_closed`](super::Event::is_read_closed) is set only when the connection
//! failed; `read` returning 0 is the authority, as on every backend. (mio's AFD poll does
//! see a graceful close.)
//!
//! # Differences from the book
//!
//! - FIX(book) M8: the book's `close_loop` posted a pointer to an `OVERLAPPED` on its own
//!   stack, which was gone by the time the poll thread read it. Wake-ups here use
//!   completion keys and a null or reference-counted pointer.
//! - FIX(book) M9: the book posted one 1024-byte read per stream, never posted it again,
//!   and ignored the byte count, so longer responses were cut or padded with zeros. Here a
//!   zero-byte read only signals readiness; the data is read by the user, all of it.
//! - FIX(book) M10: the book never cancelled pending operations, so the kernel could write
//!   into a dropped stream's buffers. Here operations are cancelled and their memory is
//!   freed only when their completion comes back.
//! - FIX(book) M11: the book declared Win32 `BOOL` as Rust `bool` (one byte); it is a
//!   32-bit `int`.
//!

use std::fmt;
use std::io;
use std::os::windows::io::AsRawSocket;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::{Event, Interests, TcpStream, Token};

/// Hand-written bindings; names follow the Windows SDK headers so they can be looked up.
#[allow(non_camel_case_types, non_snake_case, clippy::upper_case_acronyms)]
mod ffi {
    use std::ffi::c_void;

    /// FIX(book) M11: `BOOL` is a C `int` (`minwindef.h`); a Rust `bool` is one byte and
    /// may only hold 0 or 1, so reading a `BOOL` as `bool` is undefined behaviour.
    pub type BOOL = i32;
    pub type HANDLE = *mut c_void;
    /// `winsock2.h`: `typedef UINT_PTR SOCKET`.
    pub type SOCKET = usize;

    pub const INVALID_HANDLE_VALUE: HANDLE = std::ptr::without_provenance_mut(usize::MAX);
    pub const INFINITE: u32 = 0xFFFF_FFFF;
    pub const WAIT_TIMEOUT: i32 = 258;
    pub const WSA_IO_PENDING: i32 = 997;

    // Winsock errors that mean the connection is gone (`winerror.h`).
    pub const WSAENETRESET: i32 = 10052;
    pub const WSAECONNABORTED: i32 = 10053;
    pub const WSAECONNRESET: i32 = 10054;
    pub const WSAENOTCONN: i32 = 10057;
    pub const WSAESHUTDOWN: i32 = 10058;

    // The NTSTATUS a finished operation leaves in `OVERLAPPED::Internal` (`ntstatus.h`).
    pub const STATUS_SUCCESS: u32 = 0;
    pub const STATUS_PENDING: u32 = 0x0000_0103;
    pub const STATUS_CANCELLED: u32 = 0xC000_0120;
    pub const STATUS_PIPE_DISCONNECTED: u32 = 0xC000_00B0;
    pub const STATUS_LOCAL_DISCONNECT: u32 = 0xC000_013B;
    pub const STATUS_REMOTE_DISCONNECT: u32 = 0xC000_013C;
    pub const STATUS_CONNECTION_RESET: u32 = 0xC000_020D;
    pub const STATUS_CONNECTION_ABORTED: u32 = 0xC000_0241;

    /// `minwinbase.h`. The middle is a union of two `DWORD`s (`Offset`, `OffsetHigh`) and
    /// a `PVOID`; sockets never use it, and two `u32`s give it the same size and offset.
    #[repr(C)]
    pub struct OVERLAPPED {
        /// The operation's status (an NTSTATUS) once it has finished.
        pub Internal: usize,
        /// The number of bytes transferred once it has finished.
        pub InternalHigh: usize,
        pub Offset: u32,
        pub OffsetHigh: u32,
        pub hEvent: HANDLE,
    }

    /// `minwinbase.h`: one entry `GetQueuedCompletionStatusEx` dequeues.
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct OVERLAPPED_ENTRY {
        pub lpCompletionKey: usize,
        pub lpOverlapped: *mut OVERLAPPED,
        pub Internal: usize,
        pub dwNumberOfBytesTransferred: u32,
    }

    /// `ws2def.h`.
    #[repr(C)]
    pub struct WSABUF {
        pub len: u32,
        pub buf: *mut u8,
    }

    // Checked at compile time against the SDK's sizes, so `cargo check` for a 32-bit
    // Windows target catches a wrong layout too.
    #[cfg(target_pointer_width = "64")]
    const _: () = {
        assert!(size_of::<OVERLAPPED>() == 32);
        assert!(size_of::<OVERLAPPED_ENTRY>() == 32);
        assert!(size_of::<WSABUF>() == 16);
    };
    #[cfg(target_pointer_width = "32")]
    const _: () = {
        assert!(size_of::<OVERLAPPED>() == 20);
        assert!(size_of::<OVERLAPPED_ENTRY>() == 16);
        assert!(size_of::<WSABUF>() == 8);
    };

    /// `LPWSAOVERLAPPED_COMPLETION_ROUTINE`; we always pass `None` and use the port.
    pub type CompletionRoutine = Option<unsafe extern "system" fn(u32, u32, *mut OVERLAPPED, u32)>;

    #[link(name = "kernel32")]
    unsafe extern "system" {
        pub fn CreateIoCompletionPort(
            FileHandle: HANDLE,
            ExistingCompletionPort: HANDLE,
            CompletionKey: usize,
            NumberOfConcurrentThreads: u32,
        ) -> HANDLE;
        pub fn GetQueuedCompletionStatusEx(
            CompletionPort: HANDLE,
            lpCompletionPortEntries: *mut OVERLAPPED_ENTRY,
            ulCount: u32,
            ulNumEntriesRemoved: *mut u32,
            dwMilliseconds: u32,
            fAlertable: BOOL,
        ) -> BOOL;
        pub fn PostQueuedCompletionStatus(
            CompletionPort: HANDLE,
            dwNumberOfBytesTransferred: u32,
            dwCompletionKey: usize,
            lpOverlapped: *mut OVERLAPPED,
        ) -> BOOL;
        pub fn CancelIoEx(hFile: HANDLE, lpOverlapped: *mut OVERLAPPED) -> BOOL;
        pub fn CloseHandle(hObject: HANDLE) -> BOOL;
    }

    #[link(name = "ws2_32")]
    unsafe extern "system" {
        pub fn WSARecv(
            s: SOCKET,
            lpBuffers: *mut WSABUF,
            dwBufferCount: u32,
            lpNumberOfBytesRecvd: *mut u32,
            lpFlags: *mut u32,
            lpOverlapped: *mut OVERLAPPED,
            lpCompletionRoutine: CompletionRoutine,
        ) -> i32;
        pub fn WSASend(
            s: SOCKET,
            lpBuffers: *mut WSABUF,
            dwBufferCount: u32,
            lpNumberOfBytesSent: *mut u32,
            dwFlags: u32,
            lpOverlapped: *mut OVERLAPPED,
            lpCompletionRoutine: CompletionRoutine,
        ) -> i32;
        pub fn WSAGetLastError() -> i32;
    }
}

/// The completion key of every socket: the entry's pointer is then an [`Op`].
const KEY_SOCKET: usize = 1;
/// The key `close_loop` posts, with a null pointer.
const KEY_CLOSE: usize = 2;
/// The key a [`Waker`] posts; the pointer comes from `Arc::<WakerShared>::into_raw`.
const KEY_WAKER: usize = 3;

/// How long the selector's `Drop` waits with no operation coming back before it leaks
/// those still out (see "Dropping the `Poll`" in the module docs).
const DRAIN_STALL: Duration = Duration::from_secs(1);
/// The longest the selector's `Drop` waits in all, however steadily operations come back:
/// a `Waker` on another thread that keeps waking must not keep a drop going forever.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// The one place a Win32 `BOOL` becomes an `io::Error`: FALSE means "look at
/// `GetLastError`".
fn cvt(ok: ffi::BOOL) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Gives every selector a number, so a socket can remember which one it belongs to. A
/// port's handle value would not do: a later port may get the same value.
static NEXT_SELECTOR_ID: AtomicUsize = AtomicUsize::new(1);

/// One entry of `GetQueuedCompletionStatusEx`, *after* `select` has settled it:
/// `lpCompletionKey` is the token, `dwNumberOfBytesTransferred` the event's flags (0: no
/// event for the user), and `lpOverlapped` is null.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub(crate) struct RawEvent(ffi::OVERLAPPED_ENTRY);

// SAFETY: the raw pointer inside is what stops these from being `Send`/`Sync`. A `RawEvent`
// holds an ownership-carrying pointer only inside `select`, between the kernel writing it
// and `settle` taking the pointer back (and nulling it), on the thread in `select`. What
// `Poll` keeps between calls is plain data.
unsafe impl Send for RawEvent {}
// SAFETY: as above.
unsafe impl Sync for RawEvent {}

/// The completion port's handle, closed on drop.
struct Port(ffi::HANDLE);

// SAFETY: a completion port handle may be used by any thread at once: queuing, dequeuing
// and posting are thread-safe kernel calls (MSDN, "I/O Completion Ports").
unsafe impl Send for Port {}
// SAFETY: as above.
unsafe impl Sync for Port {}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: we own the handle and close it once. Nothing to do if it fails.
        unsafe { ffi::CloseHandle(self.0) };
    }
}

pub(crate) struct Selector {
    /// The selector's `Drop` runs before the fields', so the port is closed last.
    port: Port,
    id: usize,
    /// Operations and waker entries handed to the kernel and not yet dequeued.
    in_flight: AtomicUsize,
    /// Every socket ever associated with this port, so `Drop` can cancel what is pending.
    sockets: Mutex<Vec<Weak<SockState>>>,
}

impl Selector {
    pub(crate) fn new() -> io::Result<Selector> {
        // One thread waits on a port (`Poll::poll` takes `&mut self`), hence a concurrency
        // of 1.
        // SAFETY: with INVALID_HANDLE_VALUE and no existing port this only creates a port.
        let port = unsafe {
            ffi::CreateIoCompletionPort(ffi::INVALID_HANDLE_VALUE, ptr::null_mut(), 0, 1)
        };
        if port.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Selector {
            port: Port(port),
            id: NEXT_SELECTOR_ID.fetch_add(1, Ordering::Relaxed),
            in_flight: AtomicUsize::new(0),
            sockets: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn select(
        &self,
        raw: &mut Vec<RawEvent>,
        max: usize,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        raw.clear();
        let max = max.min(raw.capacity()).min(u32::MAX as usize) as u32;
        let timeout_ms = match timeout {
            None => ffi::INFINITE,
            Some(t) => duration_to_ms_rounded_up(t),
        };
        let mut n = 0u32;
        // SAFETY: `raw` has room for `max` entries (`RawEvent` is a transparent
        // `OVERLAPPED_ENTRY`), the kernel writes at most `max` and stores how many in `n`.
        let ok = unsafe {
            ffi::GetQueuedCompletionStatusEx(
                self.port.0,
                raw.as_mut_ptr().cast(),
                max,
                &raw mut n,
                timeout_ms,
                0, // not alertable: no APCs here, and so no early WAIT_IO_COMPLETION
            )
        };
        if let Err(e) = cvt(ok) {
            // Nothing arrived within the timeout.
            if e.raw_os_error() == Some(ffi::WAIT_TIMEOUT) {
                return Ok(());
            }
            return Err(e);
        }
        // SAFETY: the kernel initialised the first `n` entries, and `n <= max <= capacity`.
        unsafe { raw.set_len(n as usize) };
        for entry in raw.iter_mut() {
            *entry = settled(self.settle(&entry.0));
        }
        Ok(())
    }

    /// Takes back what a dequeued entry owns and decides whether it is an event for the
    /// user. Called exactly once per dequeued entry.
    fn settle(&self, entry: &ffi::OVERLAPPED_ENTRY) -> Option<(Token, u8)> {
        match entry.lpCompletionKey {
            KEY_SOCKET if !entry.lpOverlapped.is_null() => {
                // SAFETY: with KEY_SOCKET the pointer is an `Op` that `start` gave away with
                // `Box::into_raw` (only we start overlapped operations on our sockets), and
                // its entry comes off the queue once, now: the kernel is done with it.
                let op = unsafe { Box::from_raw(entry.lpOverlapped.cast::<Op>()) };
                self.in_flight.fetch_sub(1, Ordering::Relaxed);
                op.sock.complete(&op)
            }
            KEY_WAKER => {
                // SAFETY: `Waker::wake` posted this pointer from `Arc::into_raw`, once per
                // entry; this takes that reference back.
                let waker = unsafe { Arc::from_raw(entry.lpOverlapped.cast::<WakerShared>()) };
                self.in_flight.fetch_sub(1, Ordering::Relaxed);
                // From here on, a `wake` posts a new entry, which is a new event.
                waker.posted.store(false, Ordering::Release);
                if waker.dropped.load(Ordering::Acquire) {
                    return None;
                }
                Some((waker.token, Event::READABLE))
            }
            // KEY_CLOSE: `Poll` learns of it through its own flag (see mod.rs). Nothing else
            // is ever queued: a socket's non-overlapped `recv`/`send` (std's reads and
            // writes) queue no entry.
            _ => None,
        }
    }

    pub(crate) fn translate(&self, raw: &RawEvent) -> Option<Event> {
        match raw.0.dwNumberOfBytesTransferred {
            0 => None,
            flags => Some(Event::new(Token::new(raw.0.lpCompletionKey), flags as u8)),
        }
    }

    pub(crate) fn register(
        &self,
        stream: &TcpStream,
        token: Token,
        interests: Interests,
    ) -> io::Result<()> {
        let sock = stream.state.get_or_init(stream);
        let mut st = sock.lock();
        if st.registration.is_some() && st.port_owner == Some(self.id) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "this stream is already registered: use Registrator::reregister",
            ));
        }
        match st.port_owner {
            None => {
                // SAFETY: the socket is open (we borrow its stream) and the port is ours;
                // the association lasts as long as the socket.
                let port = unsafe {
                    ffi::CreateIoCompletionPort(
                        sock.socket as ffi::HANDLE,
                        self.port.0,
                        KEY_SOCKET,
                        0,
                    )
                };
                if port.is_null() {
                    return Err(io::Error::last_os_error());
                }
                st.port_owner = Some(self.id);
                let mut sockets = lock(&self.sockets);
                // Forget sockets that are gone, so the list does not grow without end.
                sockets.retain(|s| s.strong_count() > 0);
                sockets.push(Arc::downgrade(sock));
            }
            Some(id) if id == self.id => {}
            Some(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "on Windows a socket can be registered with one Poll only, ever: \
                     it is bound to that Poll's completion port for the socket's life",
                ));
            }
        }
        st.registration = Some(Registration {
            token,
            interests,
            armed: true,
        });
        let started = self.start_missing(sock, &mut st);
        if started.is_err() {
            // Only if the port cannot queue an entry (out of memory). Leave the stream
            // unregistered, as the error says, rather than half armed.
            sock.cancel(&mut st);
        }
        started
    }

    pub(crate) fn reregister(
        &self,
        stream: &TcpStream,
        token: Token,
        interests: Interests,
    ) -> io::Result<()> {
        let sock = registered(stream)?;
        let mut st = sock.lock();
        if st.registration.is_none() || st.port_owner != Some(self.id) {
            return Err(not_registered());
        }
        st.registration = Some(Registration {
            token,
            interests,
            armed: true,
        });
        // An operation still pending is kept: it waits for what the new arming wants,
        // and its completion will read the new token. If the socket became ready since the
        // last event, the new operation completes at once: nothing is lost. (Should
        // starting one fail, calling `reregister` again starts what is missing.)
        self.start_missing(sock, &mut st)
    }

    pub(crate) fn deregister(&self, stream: &TcpStream) -> io::Result<()> {
        let sock = registered(stream)?;
        let mut st = sock.lock();
        if st.registration.is_none() || st.port_owner != Some(self.id) {
            return Err(not_registered());
        }
        sock.cancel(&mut st);
        Ok(())
    }

    pub(crate) fn wake_close(&self) -> io::Result<()> {
        // FIX(book) M8: nothing on the stack. A null pointer is never dereferenced, and
        // the key alone says what the entry is.
        // SAFETY: a valid port; a null OVERLAPPED pointer is allowed and only handed back.
        cvt(unsafe { ffi::PostQueuedCompletionStatus(self.port.0, 0, KEY_CLOSE, ptr::null_mut()) })
    }

    /// Starts one zero-byte operation for every wanted direction that has none pending.
    fn start_missing(&self, sock: &Arc<SockState>, st: &mut SockInner) -> io::Result<()> {
        let Some(reg) = st.registration else {
            return Ok(());
        };
        if reg.interests.is_readable() && st.read_op.is_none() {
            st.read_op = Some(self.start(sock, st.generation, OpKind::Read)?);
        }
        if reg.interests.is_writable() && st.write_op.is_none() {
            st.write_op = Some(self.start(sock, st.generation, OpKind::Write)?);
        }
        Ok(())
    }

    /// Starts a zero-byte `WSARecv` or `WSASend` whose completion comes to this port.
    ///
    /// Called with the socket's lock held, so the socket is open (its owner is borrowed,
    /// or `close` has not run) and the completion, however soon it comes, is settled only
    /// after the caller has recorded the operation as pending.
    fn start(&self, sock: &Arc<SockState>, generation: u64, kind: OpKind) -> io::Result<PendingOp> {
        let op = Box::into_raw(Box::new(Op {
            overlapped: ffi::OVERLAPPED {
                // What `HasOverlappedIoCompleted` looks for; set here too so that `peek`
                // never mistakes an operation the kernel has not touched for a finished one.
                Internal: ffi::STATUS_PENDING as usize,
                InternalHigh: 0,
                Offset: 0,
                OffsetHigh: 0,
                hEvent: ptr::null_mut(),
            },
            recv_flags: 0,
            immediate_error: 0,
            kind,
            generation,
            sock: Arc::clone(sock),
        }));
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        // FIX(book) M9: no buffer to fill, so nothing is cut short or padded: the
        // completion only says "ready", and the user reads the data itself. Zero bytes: the
        // pointer is never read or written, but must not be null.
        let mut buf = ffi::WSABUF {
            len: 0,
            buf: ptr::NonNull::dangling().as_ptr(),
        };
        // SAFETY: `sock.socket` is open (see above) and associated with our port. The
        // WSABUF array may live on the stack: Winsock copies it before returning (MSDN,
        // "WSARecv": "capture the WSABUF structures before returning"). `op` is a live heap
        // `Op` that the kernel owns from here until its entry is dequeued; `recv_flags`
        // lives inside it. The byte-count pointer is null, as MSDN asks for overlapped
        // calls.
        let ret = unsafe {
            let overlapped = op.cast::<ffi::OVERLAPPED>();
            match kind {
                OpKind::Read => ffi::WSARecv(
                    sock.socket,
                    &raw mut buf,
                    1,
                    ptr::null_mut(),
                    &raw mut (*op).recv_flags,
                    overlapped,
                    None,
                ),
                OpKind::Write => ffi::WSASend(
                    sock.socket,
                    &raw mut buf,
                    1,
                    ptr::null_mut(),
                    0,
                    overlapped,
                    None,
                ),
            }
        };
        // 0: finished already; WSA_IO_PENDING: will finish. Either way an entry is queued.
        if ret == 0 {
            return Ok(PendingOp(op));
        }
        // SAFETY: no memory of ours is involved.
        let err = unsafe { ffi::WSAGetLastError() };
        if err == ffi::WSA_IO_PENDING {
            return Ok(PendingOp(op));
        }
        // Failed at once: no entry will come, so the kernel holds no reference to `op`. We
        // queue one ourselves; the failure becomes the event (see the module docs).
        // SAFETY: `op` is ours again (see above) and nobody else has a reference to it.
        unsafe { (*op).immediate_error = err };
        // SAFETY: a valid port; `op` is handed to the port as if the kernel had queued it.
        let posted =
            cvt(unsafe { ffi::PostQueuedCompletionStatus(self.port.0, 0, KEY_SOCKET, op.cast()) });
        if let Err(e) = posted {
            // SAFETY: nothing was queued, so `op` is still ours alone.
            drop(unsafe { Box::from_raw(op) });
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(e);
        }
        Ok(PendingOp(op))
    }
}

impl Drop for Selector {
    fn drop(&mut self) {
        // `false`: some operations are leaked on purpose; see the module docs.
        let _ = self.cancel_and_drain();
    }
}

impl Selector {
    /// Cancels every operation this port still waits for and frees each one as it comes
    /// back. Returns whether all came back before a stall ([`DRAIN_STALL`]) or the overall
    /// limit ([`DRAIN_LIMIT`]).
    fn cancel_and_drain(&self) -> bool {
        // A socket whose stream was dropped cancelled its own operations then; these are
        // the ones still registered.
        let sockets = std::mem::take(&mut *lock(&self.sockets));
        for sock in sockets.iter().filter_map(Weak::upgrade) {
            let mut st = sock.lock();
            sock.cancel(&mut st);
        }
        let limit = Instant::now() + DRAIN_LIMIT;
        let mut stall = Instant::now() + DRAIN_STALL;
        let mut entries = Vec::with_capacity(64);
        while self.in_flight.load(Ordering::Relaxed) > 0 {
            let left = stall.min(limit).saturating_duration_since(Instant::now());
            if left.is_zero() || self.select(&mut entries, 64, Some(left)).is_err() {
                return false;
            }
            // Any entry dequeued is progress and restarts the stall clock: a long backlog
            // that is still coming back is waited for (see the module docs).
            if !entries.is_empty() {
                stall = Instant::now() + DRAIN_STALL;
            }
        }
        true
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("id", &self.id)
            .field("port", &self.port.0)
            .field("in_flight", &self.in_flight.load(Ordering::Relaxed))
            .finish()
    }
}

/// Writes the outcome of `settle` into the entry; see [`RawEvent`].
fn settled(event: Option<(Token, u8)>) -> RawEvent {
    let (token, flags) = event.map_or((0, 0), |(t, f)| (t.value(), f));
    RawEvent(ffi::OVERLAPPED_ENTRY {
        lpCompletionKey: token,
        lpOverlapped: ptr::null_mut(),
        Internal: 0,
        dwNumberOfBytesTransferred: u32::from(flags),
    })
}

/// The stream's state, if it was ever registered (with any `Poll`).
fn registered(stream: &TcpStream) -> io::Result<&Arc<SockState>> {
    stream.state.sock.get().ok_or_else(not_registered)
}

fn not_registered() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "this stream is not registered with this Poll",
    )
}

/// Locks, ignoring poisoning: no code here panics while holding a lock, and a `Drop` that
/// locks must not panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `GetQueuedCompletionStatusEx`'s timeout: whole milliseconds rounded up (see
/// `millis_rounded_up` for why). `INFINITE` (`u32::MAX`) means "forever", so a finite
/// wait stops one short of it (about 49.7 days).
fn duration_to_ms_rounded_up(t: Duration) -> u32 {
    super::millis_rounded_up(t, ffi::INFINITE - 1)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Read,
    Write,
}

/// One zero-byte operation in flight. Owned by the kernel from `start` until `settle`.
#[repr(C)]
struct Op {
    /// First, so that a pointer to the `OVERLAPPED` is a pointer to the `Op` (`repr(C)`
    /// keeps the order).
    overlapped: ffi::OVERLAPPED,
    /// `WSARecv`'s in/out flags; kept with the operation rather than on the stack.
    recv_flags: u32,
    /// A Winsock error if the operation failed when started (see `Selector::start`).
    immediate_error: i32,
    kind: OpKind,
    /// The socket's generation when this started; an older one means "cancelled".
    generation: u64,
    sock: Arc<SockState>,
}

impl Op {
    /// The event flags this operation's outcome stands for. Only once it is settled.
    fn flags(&self) -> u8 {
        // The status sits in the low 32 bits; the kernel wrote it before queuing the entry.
        outcome(
            self.kind,
            self.immediate_error,
            self.overlapped.Internal as u32,
        )
    }
}

/// A pointer to an [`Op`] the kernel owns, kept in [`SockInner`] while the operation is
/// pending, so that `cancel` can name it and the other direction can `peek` at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingOp(*mut Op);

// SAFETY: a `PendingOp` is dereferenced only under its socket's lock and only while it is
// stored in `SockInner`; `complete` removes it under that lock before the `Op` is freed
// (on the one thread that settles entries). Which thread does that does not matter.
unsafe impl Send for PendingOp {}

impl PendingOp {
    /// The outcome of an operation the kernel may still own, if it has finished: the
    /// check of `HasOverlappedIoCompleted` (`minwinbase.h`), `Internal != STATUS_PENDING`.
    ///
    /// # Safety
    ///
    /// The caller holds the socket's lock and `self` is stored in its `SockInner`, so the
    /// `Op` has not been settled and is alive.
    unsafe fn peek(self) -> Option<u8> {
        let op = self.0;
        // SAFETY: alive (see above). `kind` and `immediate_error` are written only before
        // the `Op` is stored (under the same lock); `Internal` may be written by the kernel
        // at any moment, so it is read atomically, never through a reference.
        let (kind, immediate_error, status) = unsafe {
            let internal = AtomicUsize::from_ptr(&raw mut (*op).overlapped.Internal);
            (
                (*op).kind,
                (*op).immediate_error,
                internal.load(Ordering::Acquire) as u32,
            )
        };
        if immediate_error == 0 && status == ffi::STATUS_PENDING {
            return None;
        }
        Some(outcome(kind, immediate_error, status))
    }
}

/// What a finished operation means for the user: readiness in its direction, or an error.
fn outcome(kind: OpKind, immediate_error: i32, status: u32) -> u8 {
    let ready = match kind {
        OpKind::Read => Event::READABLE,
        OpKind::Write => Event::WRITABLE,
    };
    if immediate_error != 0 {
        return error_flags(connection_gone_wsa(immediate_error));
    }
    match status {
        // STATUS_CANCELLED with a current generation: somebody else cancelled it (not
        // minimio). Report readiness: a spurious event costs one `WouldBlock`, a
        // swallowed one would leave the registration armed with nothing pending.
        ffi::STATUS_SUCCESS | ffi::STATUS_CANCELLED => ready,
        status => error_flags(connection_gone_nt(status)),
    }
}

/// An error makes the next read and write return at once; see [`Event`].
fn error_flags(connection_gone: bool) -> u8 {
    let mut flags = Event::READABLE | Event::WRITABLE | Event::ERROR;
    if connection_gone {
        flags |= Event::READ_CLOSED | Event::WRITE_CLOSED;
    }
    flags
}

fn connection_gone_wsa(err: i32) -> bool {
    matches!(
        err,
        ffi::WSAENETRESET
            | ffi::WSAECONNABORTED
            | ffi::WSAECONNRESET
            | ffi::WSAENOTCONN
            | ffi::WSAESHUTDOWN
    )
}

fn connection_gone_nt(status: u32) -> bool {
    matches!(
        status,
        ffi::STATUS_PIPE_DISCONNECTED
            | ffi::STATUS_LOCAL_DISCONNECT
            | ffi::STATUS_REMOTE_DISCONNECT
            | ffi::STATUS_CONNECTION_RESET
            | ffi::STATUS_CONNECTION_ABORTED
    )
}

/// Per-socket state shared by the [`TcpStream`] and its operations in flight.
struct SockState {
    socket: ffi::SOCKET,
    inner: Mutex<SockInner>,
}

#[derive(Clone, Copy, Debug)]
struct Registration {
    token: Token,
    interests: Interests,
    /// One-shot: true until the registration's one event has been delivered.
    armed: bool,
}

#[derive(Debug)]
struct SockInner {
    /// The id of the selector whose port the socket is associated with, forever.
    port_owner: Option<usize>,
    /// False once the stream is being dropped: the socket must not be used after that.
    socket_open: bool,
    registration: Option<Registration>,
    /// Bumped by every cancel; operations started before it yield no event.
    generation: u64,
    /// The operation of the current generation in flight, per direction.
    read_op: Option<PendingOp>,
    write_op: Option<PendingOp>,
}

impl SockState {
    fn lock(&self) -> MutexGuard<'_, SockInner> {
        lock(&self.inner)
    }

    /// Settles one of this socket's operations; `Some` if it is the registration's event.
    fn complete(&self, op: &Op) -> Option<(Token, u8)> {
        let mut st = self.lock();
        if op.generation != st.generation {
            return None; // cancelled by deregister or by dropping the stream
        }
        let other = match op.kind {
            OpKind::Read => {
                st.read_op = None;
                st.write_op
            }
            OpKind::Write => {
                st.write_op = None;
                st.read_op
            }
        };
        let reg = st.registration.as_mut()?;
        if !reg.armed || !wants(reg.interests, op.kind) {
            // The one event was delivered already, or this direction is no longer asked
            // for. The readiness is not lost: the next arming starts a new operation, which
            // completes at once if the socket is still ready.
            return None;
        }
        reg.armed = false;
        let mut flags = op.flags();
        // With both directions asked for, the other operation may have finished too; its
        // entry, queued behind this one, would find the registration disarmed. Report both
        // now, as epoll does.
        let both = reg.interests.is_readable() && reg.interests.is_writable();
        if let (true, Some(other)) = (both, other) {
            // SAFETY: we hold the lock and `other` is stored in `st`.
            flags |= unsafe { other.peek() }.unwrap_or(0);
        }
        Some((reg.token, flags))
    }

    /// Ends the registration and cancels its operations; they come back cancelled.
    ///
    /// FIX(book) M10: the book left operations pending on a dropped stream. Cancelling
    /// frees nothing: each `Op` is freed by `settle` when its (cancelled) entry arrives.
    fn cancel(&self, st: &mut SockInner) {
        st.registration = None;
        st.generation += 1;
        for op in [st.read_op.take(), st.write_op.take()]
            .into_iter()
            .flatten()
        {
            if st.socket_open {
                // FALSE with ERROR_NOT_FOUND means the operation has finished already: its
                // entry is queued and will be settled as old. No other failure is possible
                // for an open socket and a pending operation, so the result is not checked.
                // SAFETY: the socket is open (`socket_open`, checked under the lock that
                // `StreamState::drop` takes before the socket is closed), and `op` is
                // alive: it was stored in `st` until just now, under this lock.
                unsafe { ffi::CancelIoEx(self.socket as ffi::HANDLE, op.0.cast()) };
            }
        }
    }
}

/// Whether `interests` ask for the direction of an operation of `kind`.
fn wants(interests: Interests, kind: OpKind) -> bool {
    match kind {
        OpKind::Read => interests.is_readable(),
        OpKind::Write => interests.is_writable(),
    }
}

/// What a [`TcpStream`] keeps for this backend: its socket's shared state, created at the
/// first `register`.
#[derive(Default)]
pub(crate) struct StreamState {
    sock: OnceLock<Arc<SockState>>,
}

impl StreamState {
    fn get_or_init(&self, stream: &TcpStream) -> &Arc<SockState> {
        self.sock.get_or_init(|| {
            Arc::new(SockState {
                socket: stream.inner.as_raw_socket() as ffi::SOCKET,
                inner: Mutex::new(SockInner {
                    port_owner: None,
                    socket_open: true,
                    registration: None,
                    generation: 0,
                    read_op: None,
                    write_op: None,
                }),
            })
        })
    }
}

impl Drop for StreamState {
    /// Runs before the socket is closed (see the field order of `TcpStream`).
    fn drop(&mut self) {
        if let Some(sock) = self.sock.get() {
            let mut st = sock.lock();
            sock.cancel(&mut st);
            // Operations in flight keep `sock` alive, but none may touch the socket now.
            st.socket_open = false;
        }
    }
}

impl fmt::Debug for StreamState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sock.get() {
            None => f.write_str("StreamState(never registered)"),
            Some(sock) => f.debug_tuple("StreamState").field(&*sock.lock()).finish(),
        }
    }
}

/// Shared between a [`Waker`] and the entry it posted, if one is queued.
struct WakerShared {
    token: Token,
    /// True while an entry for this waker is queued: further wakes add nothing.
    posted: AtomicBool,
    /// Set when the `Waker` is dropped: a wake still queued then is not delivered, as on
    /// epoll, where closing the waker's eventfd takes its pending event with it.
    dropped: AtomicBool,
}

/// Posts a [`KEY_WAKER`] entry; needs no OS object of its own.
pub(crate) struct Waker {
    shared: Arc<WakerShared>,
}

impl Waker {
    pub(crate) fn new(_selector: &Selector, token: Token) -> io::Result<Waker> {
        Ok(Waker {
            shared: Arc::new(WakerShared {
                token,
                posted: AtomicBool::new(false),
                dropped: AtomicBool::new(false),
            }),
        })
    }

    pub(crate) fn wake(&self, selector: &Selector) -> io::Result<()> {
        if self.shared.posted.swap(true, Ordering::AcqRel) {
            return Ok(()); // an entry is queued and not yet dequeued: this wake is in it
        }
        let ptr = Arc::into_raw(Arc::clone(&self.shared));
        selector.in_flight.fetch_add(1, Ordering::Relaxed);
        // SAFETY: a valid port. The pointer is not an OVERLAPPED, but the kernel only hands
        // it back; `settle` recognises it by KEY_WAKER and takes the `Arc` back.
        let posted = cvt(unsafe {
            ffi::PostQueuedCompletionStatus(selector.port.0, 0, KEY_WAKER, ptr.cast_mut().cast())
        });
        if let Err(e) = posted {
            // SAFETY: nothing was queued, so this is the reference `into_raw` gave away.
            drop(unsafe { Arc::from_raw(ptr) });
            selector.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.shared.posted.store(false, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        self.shared.dropped.store(true, Ordering::Release);
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("token", &self.shared.token)
            .field("posted", &self.shared.posted.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(duration_to_ms_rounded_up(Duration::ZERO), 0);
        assert_eq!(duration_to_ms_rounded_up(Duration::from_nanos(1)), 1);
        assert_eq!(duration_to_ms_rounded_up(Duration::from_micros(400)), 1);
        assert_eq!(duration_to_ms_rounded_up(Duration::from_millis(5)), 5);
        assert_eq!(duration_to_ms_rounded_up(Duration::from_micros(5_001)), 6);
        // Never INFINITE: a finite timeout must not become "wait forever".
        assert_eq!(
            duration_to_ms_rounded_up(Duration::from_secs(u64::MAX)),
            ffi::INFINITE - 1
        );
    }

    #[test]
    fn a_settled_entry_carries_the_event_or_nothing() {
        let flags = Event::READABLE | Event::ERROR;
        let raw = settled(Some((Token::new(usize::MAX), flags)));
        assert!(raw.0.lpOverlapped.is_null());
        let selector = Selector::new().unwrap();
        let event = selector.translate(&raw).unwrap();
        assert_eq!(event.id(), Token::new(usize::MAX));
        assert!(event.is_readable() && event.is_error() && !event.is_writable());
        assert_eq!(selector.translate(&settled(None)), None);
    }

    #[test]
    fn errors_are_readable_and_writable_and_only_lost_connections_closed() {
        let reset = error_flags(connection_gone_nt(ffi::STATUS_CONNECTION_RESET));
        assert_eq!(
            reset,
            Event::READABLE
                | Event::WRITABLE
                | Event::ERROR
                | Event::READ_CLOSED
                | Event::WRITE_CLOSED
        );
        let other = error_flags(connection_gone_wsa(10055)); // WSAENOBUFS
        assert_eq!(other, Event::READABLE | Event::WRITABLE | Event::ERROR);
    }

    #[test]
    fn an_operation_that_finished_or_was_cancelled_by_others_means_ready() {
        use ffi::{STATUS_CANCELLED, STATUS_SUCCESS};
        assert_eq!(outcome(OpKind::Read, 0, STATUS_SUCCESS), Event::READABLE);
        assert_eq!(outcome(OpKind::Write, 0, STATUS_SUCCESS), Event::WRITABLE);
        // Not cancelled by minimio (its own cancels make the operation old): a spurious
        // event, never a registration left armed with nothing pending.
        assert_eq!(outcome(OpKind::Read, 0, STATUS_CANCELLED), Event::READABLE);
        // A failure when started wins over whatever `Internal` holds.
        let shutdown = outcome(OpKind::Write, ffi::WSAESHUTDOWN, STATUS_SUCCESS);
        assert_ne!(shutdown & Event::ERROR, 0);
    }

    /// A connected loopback pair: our stream and the std peer.
    fn pair() -> io::Result<(TcpStream, std::net::TcpStream)> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let stream = TcpStream::connect(listener.local_addr()?)?;
        let (peer, _) = listener.accept()?;
        Ok((stream, peer))
    }

    /// Selects until every operation the selector started has come back; returns the
    /// events seen on the way. Bounded: fails after about two seconds.
    fn settle_all(selector: &Selector) -> Vec<Event> {
        let mut raw = Vec::with_capacity(8);
        let mut events = Vec::new();
        for _ in 0..20 {
            selector
                .select(&mut raw, 8, Some(Duration::from_millis(100)))
                .unwrap();
            events.extend(raw.iter().filter_map(|r| selector.translate(r)));
            if selector.in_flight.load(Ordering::Relaxed) == 0 {
                return events;
            }
        }
        panic!("operations still in flight after 2 s: {selector:?}");
    }

    #[test]
    fn a_socket_belongs_to_the_first_poll_forever() -> io::Result<()> {
        let (stream, _peer) = pair()?;
        let first = Selector::new()?;
        let second = Selector::new()?;
        first.register(&stream, Token::new(1), Interests::READABLE)?;
        first.deregister(&stream)?;
        let err = second
            .register(&stream, Token::new(2), Interests::READABLE)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        // Not registered with `second`, so it cannot change or remove it either.
        assert_eq!(
            second.deregister(&stream).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // The first one can take it back.
        first.register(&stream, Token::new(3), Interests::READABLE)?;
        Ok(())
    }

    #[test]
    fn a_dropped_streams_pending_read_comes_back_cancelled_and_silent() -> io::Result<()> {
        let (stream, _peer) = pair()?;
        let selector = Selector::new()?;
        // No data: the zero-byte read stays pending in the kernel.
        selector.register(&stream, Token::new(1), Interests::READABLE)?;
        assert_eq!(selector.in_flight.load(Ordering::Relaxed), 1);
        drop(stream);
        assert_eq!(settle_all(&selector), []);
        Ok(())
    }

    #[test]
    fn a_deregistered_streams_finished_write_yields_no_event() -> io::Result<()> {
        let (stream, _peer) = pair()?;
        let selector = Selector::new()?;
        // The zero-byte send finishes at once; its entry is queued before `deregister`.
        selector.register(&stream, Token::new(1), Interests::WRITABLE)?;
        selector.deregister(&stream)?;
        assert_eq!(settle_all(&selector), []);
        Ok(())
    }

    #[test]
    fn a_pending_read_is_kept_across_reregister_and_reports_the_new_token() -> io::Result<()> {
        use std::io::Write;
        let (stream, mut peer) = pair()?;
        let selector = Selector::new()?;
        selector.register(&stream, Token::new(1), Interests::READABLE)?;
        selector.reregister(&stream, Token::new(2), Interests::READABLE)?;
        assert_eq!(selector.in_flight.load(Ordering::Relaxed), 1);
        peer.write_all(b"x")?;
        let events = settle_all(&selector);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].id(), Token::new(2));
        assert!(events[0].is_readable());
        Ok(())
    }

    #[test]
    fn dropping_the_poll_cancels_and_frees_what_registered_streams_have_pending() -> io::Result<()>
    {
        let (stream, _peer) = pair()?;
        let selector = Selector::new()?;
        selector.register(&stream, Token::new(1), Interests::READABLE)?;
        // What `Drop` does, with a result to check.
        assert!(selector.cancel_and_drain(), "{selector:?}");
        assert_eq!(selector.in_flight.load(Ordering::Relaxed), 0);
        // The stream is still open, and knows it is no longer registered.
        assert_eq!(
            selector.deregister(&stream).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        Ok(())
    }

    #[test]
    fn an_operation_outlives_the_thread_that_started_it() -> io::Result<()> {
        use std::io::Write;
        // Windows cancels a thread's pending I/O when the thread exits, except for a handle
        // bound to a completion port: its requests belong to the handle ("thread-agnostic
        // I/O", Windows Internals). Were it cancelled, the registration would not hang (a
        // cancelled current operation is reported as readiness), but an event would come
        // before any data.
        let (stream, mut peer) = pair()?;
        let selector = Arc::new(Selector::new()?);
        let stream = Arc::new(stream);
        let (s, st) = (Arc::clone(&selector), Arc::clone(&stream));
        std::thread::spawn(move || s.register(&st, Token::new(4), Interests::READABLE))
            .join()
            .unwrap()?;
        let mut raw = Vec::with_capacity(8);
        selector.select(&mut raw, 8, Some(Duration::from_millis(100)))?;
        assert!(raw.is_empty(), "an entry before any data was sent");
        assert_eq!(selector.in_flight.load(Ordering::Relaxed), 1);
        peer.write_all(b"x")?;
        let events = settle_all(&selector);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            events[0].is_readable() && !events[0].is_error(),
            "{events:?}"
        );
        Ok(())
    }

    #[test]
    fn a_wake_still_queued_when_its_waker_is_dropped_is_not_delivered() -> io::Result<()> {
        let selector = Selector::new()?;
        let waker = Waker::new(&selector, Token::new(9))?;
        waker.wake(&selector)?;
        waker.wake(&selector)?; // coalesced: one entry
        assert_eq!(selector.in_flight.load(Ordering::Relaxed), 1);
        drop(waker);
        // The entry still comes back, and its `Arc` is freed, but it is no event.
        assert_eq!(settle_all(&selector), []);
        Ok(())
    }
}
