//! The poll thread: waits in minimio's [`Poll::poll`] so that the loop's thread never does.
//!
//! Book: "Implementing the Node Eventloop", the "EPOLL THREAD" part of `Runtime::new`.
//!
//! One thread owns the [`Poll`] and only waits on it, sending each ready token to the loop
//! as a `PollEvent::Epoll` on the channel the pool uses too. The loop's thread then waits
//! on that one channel for both kinds of work, with its own timeout for the next timer.
//! The cost is a thread and a channel hop per event; libuv instead waits in `epoll_wait`
//! on the loop's own thread, with the next timer as the timeout. [`RuntimeBuilder::build`]
//! starts this thread, and `Runtime::shutdown` ends it with `close_loop` and joins it.
//!
//! [`RuntimeBuilder::build`]: super::RuntimeBuilder::build

use std::io;
use std::sync::mpsc::Sender;

use crate::minimio::{Events, Poll};

use super::print::trace;
use super::{PollEvent, Recording, callbacks};

/// The poll thread: waits on minimio's `Poll` and forwards every event to the loop.
///
/// The book gave this thread a timeout through an `Arc<Mutex<Option<i32>>>`, read before
/// each wait (R5). It needs none: the loop's thread keeps time itself, so this thread
/// waits until a socket is ready or `close_loop` ends it.
pub(super) fn epoll_thread(
    mut poll: Poll,
    events_out: &Sender<PollEvent>,
    verbose: bool,
    recording: &Recording,
) {
    let mut events = Events::with_capacity(1024);
    loop {
        recording.epoll_wait_begin();
        let polled = poll.poll(&mut events, None);
        recording.epoll_wait_end();
        match polled {
            Ok(_) => {
                for event in &events {
                    let token = event.id().value();
                    if verbose {
                        let slot = callbacks::slot(token);
                        trace(format_args!("epoll event {slot} is ready"));
                    }
                    recording.epoll_ready(token);
                    if events_out.send(PollEvent::Epoll(token)).is_err() {
                        return;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if verbose {
                    trace(format_args!("received event of type: Close"));
                }
                recording.epoll_closed();
                return;
            }
            Err(e) => {
                let _ = events_out.send(PollEvent::EpollFailed(e));
                return;
            }
        }
    }
}
