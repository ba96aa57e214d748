//! The Node-style functions a program calls: timers, immediates and next-ticks.
//!
//! Book: "Implementing the Node Eventloop", `set_timeout` (the free function and
//! `Runtime::set_timeout`); `clear_timeout`, `set_interval`, `clear_interval`,
//! `set_immediate` and `next_tick` are not in the book and follow Node's `timers` module
//! and `process.nextTick`.
//!
//! Each free function reaches the running [`Runtime`] through its thread-local slot and
//! hands the work to a method in the `impl Runtime` below, or to a queue the loop drains:
//! timers go to the lists in `timers.rs`, immediates wait for the check phase, next-ticks
//! run between any two callbacks. A [`Timeout`] names its runtime, its timer entry and its
//! callback, so clearing a timer that already fired, or one from another runtime, does
//! nothing.

use std::time::{Duration, Instant};

use super::timers::TimerKey;
use super::trace::Kind;
use super::{Callback, Js, Runtime, callbacks, print::trace, with_runtime};

/// A handle to a timer set with [`set_timeout`].
///
/// It is `Copy`, so a callback can hold on to one; callers may also simply ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout {
    /// Which runtime made it: a handle kept past its `run` and cleared in a later one
    /// must not name that runtime's timers or callbacks, whose numbers start over.
    runtime: u64,
    /// The timer's place in the order timers fire.
    key: TimerKey,
    /// The callback it runs; unique while the timer is pending.
    callback_id: usize,
}

/// The state of a live interval.
pub(super) struct Interval {
    /// `None` while the callback runs.
    pub(super) cb: Option<Box<dyn FnMut(Js)>>,
    period: Duration,
    /// The timer entry of its current arming.
    key: TimerKey,
}

/// Runs `cb` once, at least `ms` milliseconds from now, on the loop's thread.
///
/// Timers with equal deadlines run in the order they were set; a timer set to 0 ms inside
/// a timer callback runs on the next tick, not in the same timers phase. A delay too long
/// for the clock (near `u64::MAX` ms) is clamped to about a century.
///
/// ```
/// use node_experiment::runtime::{print, set_timeout, Runtime};
///
/// Runtime::builder().verbose(false).build().unwrap().run(|| {
///     set_timeout(20, |_| print("later"));
///     set_timeout(0, |_| print("sooner"));
/// });
/// ```
///
/// # Panics
///
/// Outside [`Runtime::run`] or on another thread than the loop's.
pub fn set_timeout(ms: u64, cb: impl FnOnce(Js) + 'static) -> Timeout {
    with_runtime("set_timeout", |rt| rt.set_timeout(ms, cb))
}

/// Cancels a timer set with [`set_timeout`]: its callback never runs, even if the timer
/// is already due in the timers phase that is running, and it no longer keeps the loop
/// alive. Clearing a timer that already fired, or clearing twice, does nothing.
///
/// ```
/// use node_experiment::runtime::{clear_timeout, print, set_timeout, Runtime};
///
/// Runtime::builder().verbose(false).build().unwrap().run(|| {
///     let t = set_timeout(10, |_| panic!("cleared timers never fire"));
///     set_timeout(0, move |_| clear_timeout(t));
/// });
/// ```
///
/// # Panics
///
/// Outside [`Runtime::run`] or on another thread than the loop's.
pub fn clear_timeout(t: Timeout) {
    // Dropped here, after the runtime is released (see `Runtime::clear`).
    drop(with_runtime("clear_timeout", |rt| rt.clear(t)));
}

/// Runs `cb` every `ms` milliseconds, on the loop's thread, until [`clear_interval`].
///
/// Each firing is armed `ms` after the moment the previous one fired (its callback
/// started), as in Node: a callback that runs late (because the loop was busy) delays the
/// next one rather than causing a burst of catch-up calls, and a callback slower than the
/// period is called again on the next tick, once. A live interval keeps the loop alive; the callback may
/// clear its own interval with the `Timeout` it was given.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use node_experiment::runtime::{clear_interval, set_interval, Runtime, Timeout};
///
/// Runtime::builder().verbose(false).build().unwrap().run(|| {
///     let count = Rc::new(Cell::new(0));
///     let me: Rc<Cell<Option<Timeout>>> = Rc::new(Cell::new(None));
///     let (c, m) = (count.clone(), me.clone());
///     let t = set_interval(5, move |_| {
///         c.set(c.get() + 1);
///         if c.get() == 3 {
///             clear_interval(m.get().unwrap());
///         }
///     });
///     me.set(Some(t));
/// });
/// ```
///
/// # Panics
///
/// Outside [`Runtime::run`] or on another thread than the loop's.
pub fn set_interval(ms: u64, cb: impl FnMut(Js) + 'static) -> Timeout {
    with_runtime("set_interval", |rt| rt.set_interval(ms, cb))
}

/// Stops an interval set with [`set_interval`]; the same as [`clear_timeout`], which
/// accepts either kind of handle (as in Node).
///
/// # Panics
///
/// Outside [`Runtime::run`] or on another thread than the loop's.
pub fn clear_interval(t: Timeout) {
    // Dropped here, after the runtime is released (see `Runtime::clear`).
    drop(with_runtime("clear_interval", |rt| rt.clear(t)));
}

/// Runs `cb` in the check phase (phase 5) of this tick, or of the next one if the check
/// phase is already running.
///
/// Immediates run in the order they were created. Inside an I/O callback (which runs in
/// the poll phase) an immediate always runs before a `set_timeout(0, ..)` set at the same
/// moment, because the check phase comes before the next timers phase. While an
/// immediate is queued, the poll phase does not wait.
///
/// ```
/// use node_experiment::runtime::{print, set_immediate, Runtime};
///
/// Runtime::builder().verbose(false).build().unwrap().run(|| {
///     set_immediate(|_| print("check phase"));
/// });
/// ```
///
/// # Panics
///
/// Outside [`Runtime::run`] or on another thread than the loop's.
pub fn set_immediate(cb: impl FnOnce(Js) + 'static) {
    with_runtime("set_immediate", |rt| {
        let id = rt.add_callback(cb);
        rt.recording.registered(id, Kind::Immediate);
        rt.immediates.push_back(id);
    });
}

/// Runs `cb` as soon as the current callback (or the main program) returns, before any
/// other callback, timer or I/O.
///
/// The next-tick queue is drained completely before the loop moves on, including ticks
/// queued by ticks. So, exactly as in Node, a callback that keeps calling `next_tick`
/// starves everything else: timers do not fire and I/O is not read until it stops.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use node_experiment::runtime::{next_tick, set_timeout, Runtime};
///
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let o = order.clone();
/// Runtime::builder().verbose(false).build().unwrap().run(move || {
///     let (a, b) = (o.clone(), o.clone());
///     set_timeout(0, move |_| a.borrow_mut().push("timeout"));
///     next_tick(move |_| b.borrow_mut().push("tick"));
///     o.borrow_mut().push("main");
/// });
/// assert_eq!(*order.borrow(), ["main", "tick", "timeout"]);
/// ```
///
/// # Panics
///
/// Outside [`Runtime::run`] or on another thread than the loop's.
pub fn next_tick(cb: impl FnOnce(Js) + 'static) {
    with_runtime("next_tick", |rt| rt.next_ticks.push_back(Box::new(cb)));
}

// The loop's side of the functions above, run with the runtime borrowed from its slot.
impl Runtime {
    fn set_timeout(&mut self, ms: u64, cb: impl FnOnce(Js) + 'static) -> Timeout {
        let callback_id = self.add_callback(cb);
        let (now, delay) = (Instant::now(), Duration::from_millis(ms));
        let key = self.timers.insert(now, delay, callback_id);
        self.recording
            .timer_set(callback_id, Some(Kind::Timeout(ms)), now, delay);
        if self.verbose {
            let slot = callbacks::slot(callback_id);
            trace(format_args!("Registered timer event id: {slot}"));
        }
        Timeout {
            runtime: self.id,
            key,
            callback_id,
        }
    }

    fn set_interval(&mut self, ms: u64, cb: impl FnMut(Js) + 'static) -> Timeout {
        let (now, period) = (Instant::now(), Duration::from_millis(ms));
        // The timer needs the callback's id and the callback its timer's key: take the id
        // the table will hand out next.
        let callback_id = self.callback_queue.next_id();
        let key = self.timers.insert(now, period, callback_id);
        self.recording
            .timer_set(callback_id, Some(Kind::Interval(ms)), now, period);
        let id = self.generate_cb_identity(Callback::Interval(Box::new(Interval {
            cb: Some(Box::new(cb)),
            period,
            key,
        })));
        debug_assert_eq!(id, callback_id);
        // An interval is one pending operation for as long as it lives.
        self.pending_events += 1;
        Timeout {
            runtime: self.id,
            key,
            callback_id,
        }
    }

    /// Puts an interval's callback back after it ran and arms its next firing, counted
    /// from now: an interval that ran late does not fire twice to catch up.
    ///
    /// Returns `f` if the callback cleared its own interval: the caller drops it only after
    /// releasing the runtime, for the reason given at [`Runtime::clear`].
    pub(super) fn rearm_interval(
        &mut self,
        id: usize,
        f: Box<dyn FnMut(Js)>,
        fired: Instant,
    ) -> Option<Box<dyn FnMut(Js)>> {
        let Some(Callback::Interval(interval)) = self.callback_queue.get_mut(id) else {
            return Some(f);
        };
        // From the moment it fired, as Node does: a callback that took longer than the
        // period is due again at once, but only once (the new entry is not part of the
        // timers pass that is running), so there is never a burst. `fired` is no earlier
        // than that pass's `now`, which keeps the order invariant of `Timers::cancel`.
        interval.key = self.timers.insert(fired, interval.period, id);
        self.recording.timer_set(id, None, fired, interval.period);
        interval.cb = Some(f);
        None
    }

    /// Cancels a timer or an interval; see [`clear_timeout`]. Returns the cancelled
    /// callback, which the caller must drop only after releasing the runtime: dropping a
    /// closure runs the destructors of what it captured, and those may call back into the
    /// runtime (a guard that schedules work when dropped, say).
    fn clear(&mut self, t: Timeout) -> Option<Callback> {
        if t.runtime != self.id {
            return None; // a handle from another runtime names nothing here
        }
        // An id names one callback only, even after its slot is reused (`callbacks.rs`).
        let removed = self.callback_queue.remove(t.callback_id)?; // None: ran or cleared
        self.recording.timer_cleared(t.callback_id);
        let key = match &removed {
            Callback::Once(_) => Some(t.key),
            // A running interval has no timer entry; the others have their latest one.
            Callback::Interval(interval) => interval.cb.as_ref().map(|_| interval.key),
        };
        self.pending_events -= 1;
        // Still waiting: mark it, so it neither fires nor wakes the loop. If the
        // timers phase running now already took it out, it waits in
        // `callbacks_to_run`, where `run_callbacks` skips it: its callback is gone.
        if let Some(key) = key {
            self.timers.cancel(key);
        }
        Some(removed)
    }
}
