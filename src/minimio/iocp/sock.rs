//! A socket's state shared by its [`TcpStream`] and its operations in flight: the
//! one-shot registration, the generation that tells old completions from current ones,
//! the pending operation of each direction, and, for a stream from
//! `TcpStream::connect_nonblocking`, where its `ConnectEx` stands.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "IOCP" (the book's
//! `windows.rs`).
//!
//! Everything here sits behind one lock per socket, taken by `register` and friends, by
//! the thread that settles completions, and by a stream dropped on any thread; that lock
//! is what makes cancelling safe while the kernel may still complete an operation.

use std::fmt;
use std::io;
use std::os::windows::io::AsRawSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::ffi;
use super::lock;
use super::op::{Op, OpKind, PendingOp};
use crate::minimio::{Interests, TcpStream, Token};

/// Per-socket state shared by the [`TcpStream`] and its operations in flight.
pub(super) struct SockState {
    pub(super) socket: ffi::SOCKET,
    /// Where `ConnectEx` connects to, for a stream from `connect_nonblocking`. Never
    /// changed after creation, so the kernel may read it without the lock; it lives as long
    /// as the `Connect` operation, which holds an `Arc` of this state.
    pub(super) connect_to: Option<ffi::SOCKADDR_INET>,
    /// True while `inner.connect` is `NotStarted` or `Pending`; a copy that reads and
    /// writes can check without taking the lock. Cleared by `Selector::connect_done`.
    pub(super) connecting: AtomicBool,
    inner: Mutex<SockInner>,
}

/// Where a stream's own connect stands (see `connect.rs`).
#[derive(Debug)]
pub(super) enum Connect {
    /// Connected when it was made (`TcpStream::connect`, `from_std`), or `ConnectEx`
    /// succeeded.
    Done,
    /// From `connect_nonblocking`, bound, not registered yet: the first `register` starts
    /// `ConnectEx`, because only then is the socket associated with a port.
    NotStarted,
    /// `ConnectEx` is in flight. No zero-byte operation may start meanwhile: on a socket
    /// that is not connected they fail at once with `WSAENOTCONN`.
    Pending(PendingOp),
    /// `ConnectEx` failed with this Winsock error, kept for `take_error` (which takes it,
    /// as reading `SO_ERROR` clears it on Unix); `None` once taken.
    Failed(Option<i32>),
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Registration {
    pub(super) token: Token,
    pub(super) interests: Interests,
    /// One-shot: true until the registration's one event has been delivered.
    pub(super) armed: bool,
}

#[derive(Debug)]
pub(super) struct SockInner {
    /// The id of the selector whose port the socket is associated with, forever.
    pub(super) port_owner: Option<usize>,
    /// False once the stream is being dropped: the socket must not be used after that.
    pub(super) socket_open: bool,
    pub(super) registration: Option<Registration>,
    /// Bumped by every cancel; operations started before it yield no event.
    pub(super) generation: u64,
    /// The operation of the current generation in flight, per direction.
    pub(super) read_op: Option<PendingOp>,
    pub(super) write_op: Option<PendingOp>,
    /// The socket's own connect: `Done` for every stream but one from
    /// `connect_nonblocking`.
    pub(super) connect: Connect,
}

impl SockState {
    pub(super) fn lock(&self) -> MutexGuard<'_, SockInner> {
        lock(&self.inner)
    }

    /// Settles one of this socket's operations; `Some` if it is the registration's event.
    pub(super) fn complete(&self, op: &Op) -> Option<(Token, u8)> {
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
            // Settled by `Selector::connect_done` instead; never routed here.
            OpKind::Connect => return None,
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
    pub(super) fn cancel(&self, st: &mut SockInner) {
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

    /// [`cancel`](SockState::cancel), and aborts a `ConnectEx` in flight too: for a
    /// stream being dropped, or a `Poll` being dropped (whose port the socket can never
    /// leave).
    ///
    /// `deregister` does not abort the connect: the handshake belongs to the socket, not
    /// to the registration, and on epoll and kqueue it goes on after `deregister` too. A
    /// later `register` then hears how it ended.
    pub(super) fn cancel_all(&self, st: &mut SockInner) {
        self.cancel(st);
        if let (Connect::Pending(op), true) = (&st.connect, st.socket_open) {
            // The connect comes back with `STATUS_CANCELLED` (or has finished already, as
            // above) and is freed then, like any operation.
            // SAFETY: as in `cancel`: the socket is open, and `op` is alive while it is
            // stored in `st.connect`, under this lock.
            unsafe { ffi::CancelIoEx(self.socket as ffi::HANDLE, op.0.cast()) };
        }
    }
}

/// Whether `interests` ask for the direction of an operation of `kind`.
fn wants(interests: Interests, kind: OpKind) -> bool {
    match kind {
        OpKind::Read => interests.is_readable(),
        OpKind::Write | OpKind::Connect => interests.is_writable(),
    }
}

/// What a [`TcpStream`] keeps for this backend: its socket's shared state, created at the
/// first `register`.
#[derive(Default)]
pub(crate) struct StreamState {
    pub(super) sock: OnceLock<Arc<SockState>>,
}

impl StreamState {
    pub(super) fn get_or_init(&self, stream: &TcpStream) -> &Arc<SockState> {
        self.sock
            .get_or_init(|| SockState::new(stream.inner.as_raw_socket() as ffi::SOCKET, None))
    }

    /// The state of a bound, unconnected socket that is to connect to `target` once
    /// registered. Created at once, not at the first `register`, so that reads, writes
    /// and `take_error` know the stream is still connecting.
    pub(super) fn connecting(socket: ffi::SOCKET, target: ffi::SOCKADDR_INET) -> StreamState {
        let state = StreamState::default();
        // Cannot fail: the cell is new and empty.
        let _ = state.sock.set(SockState::new(socket, Some(target)));
        state
    }

    /// Whether the stream's own connect has not ended yet: not started (not registered)
    /// or in flight. Reads and writes then say `WouldBlock` without asking Winsock, whose
    /// answer for a socket that is not connected yet varies (`WSAENOTCONN` from Windows;
    /// Wine 8 answers a send with `WSAECONNRESET`). On Unix the same calls say
    /// `WouldBlock` until the handshake is done, which is what the caller expects.
    pub(crate) fn is_connecting(&self) -> bool {
        self.sock
            .get()
            .is_some_and(|sock| sock.connecting.load(Ordering::Acquire))
    }

    /// `Some` if the stream's own connect failed: then the error it failed with, taken
    /// (as reading `SO_ERROR` takes it on Unix), or `None` once taken. `None` for any other
    /// stream, whose `SO_ERROR` is the authority.
    pub(crate) fn take_connect_error(&self) -> Option<Option<io::Error>> {
        let sock = self.sock.get()?;
        let mut st = sock.lock();
        match &mut st.connect {
            Connect::Failed(code) => Some(code.take().map(io::Error::from_raw_os_error)),
            _ => None,
        }
    }
}

impl SockState {
    fn new(socket: ffi::SOCKET, connect_to: Option<ffi::SOCKADDR_INET>) -> Arc<SockState> {
        Arc::new(SockState {
            socket,
            connect_to,
            connecting: AtomicBool::new(connect_to.is_some()),
            inner: Mutex::new(SockInner {
                port_owner: None,
                socket_open: true,
                registration: None,
                generation: 0,
                read_op: None,
                write_op: None,
                connect: match connect_to {
                    Some(_) => Connect::NotStarted,
                    None => Connect::Done,
                },
            }),
        })
    }
}

impl Drop for StreamState {
    /// Runs before the socket is closed (see the field order of `TcpStream`).
    fn drop(&mut self) {
        if let Some(sock) = self.sock.get() {
            let mut st = sock.lock();
            sock.cancel_all(&mut st);
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
