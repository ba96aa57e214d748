//! One overlapped operation (a zero-byte read or write, or a `ConnectEx`): the [`Op`] the
//! kernel owns while it is in flight, and what its outcome means for the user.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "IOCP" (the book's
//! `windows.rs`).
//!
//! An `Op` starts with its `OVERLAPPED`, so the pointer a completion hands back is the `Op`
//! itself. `Selector::start` gives it to the kernel with `Box::into_raw` and
//! `Selector::settle` takes it back; in between, minimio only names it (to cancel it) or
//! reads its status atomically ([`PendingOp::peek`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::ffi;
use super::sock::SockState;
use crate::minimio::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpKind {
    /// A zero-byte `WSARecv`: readable.
    Read,
    /// A zero-byte `WSASend`: writable.
    Write,
    /// `ConnectEx` (see `connect.rs`): the handshake has ended, one way or the other.
    Connect,
}

/// One operation in flight. Owned by the kernel from `start` until `settle`.
#[repr(C)]
pub(super) struct Op {
    /// First, so that a pointer to the `OVERLAPPED` is a pointer to the `Op` (`repr(C)`
    /// keeps the order).
    pub(super) overlapped: ffi::OVERLAPPED,
    /// `WSARecv`'s in/out flags; kept with the operation rather than on the stack.
    pub(super) recv_flags: u32,
    /// A Winsock error if the operation failed when started (see `Selector::start`).
    pub(super) immediate_error: i32,
    pub(super) kind: OpKind,
    /// The socket's generation when this started; an older one means "cancelled".
    pub(super) generation: u64,
    pub(super) sock: Arc<SockState>,
}

impl Op {
    /// The event flags this operation's outcome stands for. Only once it is settled.
    pub(super) fn flags(&self) -> u8 {
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
///
/// [`SockInner`]: super::sock::SockInner
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PendingOp(pub(super) *mut Op);

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
    pub(super) unsafe fn peek(self) -> Option<u8> {
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
        OpKind::Write | OpKind::Connect => Event::WRITABLE,
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

/// The flags of a finished `ConnectEx`: writable, as a non-blocking `connect(2)` reports on
/// epoll and kqueue, or, if it failed (`error` is its Winsock error), everything an epoll
/// event for a refused connect says (`EPOLLERR | EPOLLHUP`): there is no connection to
/// read from or write to.
pub(super) fn connect_flags(error: i32) -> u8 {
    if error == 0 {
        Event::WRITABLE
    } else {
        error_flags(true)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
