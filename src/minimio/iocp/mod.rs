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
//! minimio promises *readiness* (see the contract in `minimio/mod.rs`), so this module
//! builds readiness out of completions, with the technique libuv uses for TCP reads:
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
//! # Connecting
//!
//! A stream from `TcpStream::connect_nonblocking` must report the end of its handshake as
//! a writable event, as a non-blocking `connect(2)` does on epoll and kqueue. A zero-byte
//! `WSASend` cannot say it: on a socket that is not connected yet it fails at once with
//! `WSAENOTCONN`. So the connect itself is the overlapped operation: `ConnectEx`, an
//! [`Op`] like the others (owned by the kernel until dequeued, cancelled when the stream
//! or the `Poll` is dropped, freed by the drain in `Drop`; not by `deregister`, though:
//! the handshake belongs to the socket, and on epoll it goes on too). It needs a bound socket
//! associated with the port, and association happens at the first `register`; so
//! `connect_nonblocking` only creates and binds the socket, and `register` starts the
//! connect. Until it ends, no zero-byte operation is started and reads and writes say
//! `WouldBlock`; its completion is the writable (or error) event. See `connect.rs`.
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
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::{Event, Interests, TcpStream, Token};

mod connect;
mod ffi;
mod op;
mod sock;
mod waker;

use op::{Op, OpKind, PendingOp};
use sock::{Connect, Registration, SockInner, SockState};
use waker::WakerShared;

pub(crate) use connect::start_connect;
pub(crate) use sock::StreamState;
pub(crate) use waker::Waker;

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
                match op.kind {
                    OpKind::Connect => self.connect_done(&op),
                    OpKind::Read | OpKind::Write => op.sock.complete(&op),
                }
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
            // KEY_CLOSE: `Poll` learns of it through its own flag (see minimio/mod.rs).
            // Nothing else is ever queued: a socket's non-overlapped `recv`/`send` (std's
            // reads and writes) queue no entry.
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

    /// Starts one zero-byte operation for every wanted direction that has none pending;
    /// or, for a stream from `connect_nonblocking` that has not connected yet, its
    /// `ConnectEx`, and nothing else until that has ended (see `connect.rs`).
    fn start_missing(&self, sock: &Arc<SockState>, st: &mut SockInner) -> io::Result<()> {
        let Some(reg) = st.registration else {
            return Ok(());
        };
        match st.connect {
            Connect::NotStarted => {
                st.connect = Connect::Pending(self.start(sock, st.generation, OpKind::Connect)?);
                return Ok(());
            }
            // Its completion decides what comes next (`connect_done`).
            Connect::Pending(_) => return Ok(()),
            // A failed connect leaves a socket that is not connected: the zero-byte
            // operations end at once (Windows fails them with `WSAENOTCONN`), and that is
            // the event a re-armed registration needs: nothing will ever come.
            Connect::Done | Connect::Failed(_) => {}
        }
        if reg.interests.is_readable() && st.read_op.is_none() {
            st.read_op = Some(self.start(sock, st.generation, OpKind::Read)?);
        }
        if reg.interests.is_writable() && st.write_op.is_none() {
            st.write_op = Some(self.start(sock, st.generation, OpKind::Write)?);
        }
        Ok(())
    }

    /// Starts a zero-byte `WSARecv` or `WSASend`, or a `ConnectEx`, whose completion comes
    /// to this port.
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
        let overlapped = op.cast::<ffi::OVERLAPPED>();
        // SAFETY: `sock.socket` is open (see above) and associated with our port. The
        // WSABUF array may live on the stack: Winsock copies it before returning (MSDN,
        // "WSARecv": "capture the WSABUF structures before returning"). `op` is a live heap
        // `Op` that the kernel owns from here until its entry is dequeued; `recv_flags`
        // lives inside it. The byte-count pointer is null, as MSDN asks for overlapped
        // calls. `connect_ex` needs the same of its caller; see there.
        let err = unsafe {
            let ret = match kind {
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
                OpKind::Connect => connect::connect_ex(sock, overlapped),
            };
            if ret == 0 { 0 } else { ffi::WSAGetLastError() }
        };
        // 0: finished already; WSA_IO_PENDING: will finish. Either way an entry is queued.
        if err == 0 || err == ffi::WSA_IO_PENDING {
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
            sock.cancel_all(&mut st);
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

#[cfg(test)]
mod tests;
