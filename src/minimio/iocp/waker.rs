//! Wake-ups from other threads: a [`Waker`] posts a [`KEY_WAKER`] entry to the port.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "IOCP" (the book's
//! `windows.rs`).
//!
//! No OS object is needed: the entry's pointer is an `Arc` of the waker's shared state,
//! which therefore lives until `Selector::settle` takes it back, and a flag coalesces
//! several wakes before a poll into one entry.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{KEY_WAKER, Selector, cvt, ffi};
use crate::minimio::Token;

/// Shared between a [`Waker`] and the entry it posted, if one is queued.
pub(super) struct WakerShared {
    pub(super) token: Token,
    /// True while an entry for this waker is queued: further wakes add nothing.
    pub(super) posted: AtomicBool,
    /// Set when the `Waker` is dropped: a wake still queued then is not delivered, as on
    /// epoll, where closing the waker's eventfd takes its pending event with it.
    pub(super) dropped: AtomicBool,
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
