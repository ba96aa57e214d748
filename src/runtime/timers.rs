//! Timers: which callbacks are due, and how long the loop may sleep before the next one.
//!
//! Book: "Implementing the Node Eventloop", sections "Timers" and `process_expired_timers`.
//!
//! A timer is a deadline and a callback id. The loop asks two questions of this module on
//! every tick: "which timers are due now?" (the timers phase) and "when is the next one
//! due?" (how long the poll phase may block). A binary heap answers both in O(log n) per
//! timer: the earliest deadline is always on top.
//!
//! # Why the key is `(deadline, sequence)`
//!
//! FIX(book) R1: the book keyed timers by `Instant` alone in a `BTreeMap<Instant, usize>`.
//! Two timers with the same deadline share one key, so the second insert overwrote the
//! first: its callback never ran, `pending_events` never reached zero, and `run` hung. Two
//! equal `Instant`s are not a theoretical worry: a coarse clock, or a program that computes
//! both deadlines from one `now`, makes them common. Here each timer also gets a sequence
//! number that only grows, so keys are unique and equal deadlines fire in the order they
//! were set (libuv orders its timer heap by `(timeout, start_id)` for the same reason).
//!
//! # Why a heap and not a `BTreeMap`
//!
//! Both give the earliest deadline cheaply; a heap keeps its entries in one `Vec` with no
//! per-entry allocation, which matters when a program sets a million timers.
//!
//! # Cancelling
//!
//! A cancelled timer is not dug out of the heap (that would cost O(n)); it is marked in
//! `cancelled` and skipped when it reaches the top ("lazy deletion", as in Node's timer
//! lists). `len` counts only live timers, so a cancelled timer does not keep the loop
//! alive.
//!
//! Whether a timer is still in the heap is answered in O(1) too, from the order of the
//! heap itself: entries leave it smallest key first, so every key up to the last one the
//! timers phase popped is gone, and every key above it is still there. A timer set later
//! cannot sneak in below that line: its deadline is at least the `now` of that timers
//! phase, which is at least the popped deadline, and its sequence number is larger.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::time::{Duration, Instant};

/// What a timer runs when it fires: the id of a callback in the runtime's callback table.
pub(crate) type CallbackId = usize;

/// A timer's place in the heap's order: deadline first, then sequence number. It is also
/// the handle that cancels the timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerKey {
    deadline: Instant,
    seq: u64,
}

/// One timer in the heap.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    key: TimerKey,
    callback_id: CallbackId,
}

/// The longest delay we honour exactly: about 100 years. A longer one (up to
/// `u64::MAX` ms) would overflow `Instant`; it is clamped here, which for any program that
/// runs today means "never fires" while still keeping the loop alive, as a real timer of
/// that length would.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Below this many cancelled timers the heap is never swept (see `Timers::cancel`).
const COMPACT_AT: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    /// Sequence numbers of cancelled timers that are still in the heap.
    cancelled: HashSet<u64>,
    /// The largest key taken out of the heap by `drain_expired`.
    last_popped: Option<TimerKey>,
}

impl Timers {
    /// Adds a timer due `delay` after `now`; returns its key, the handle for cancelling it.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        delay: Duration,
        callback_id: CallbackId,
    ) -> TimerKey {
        let delay = delay.min(MAX_DELAY);
        // Cannot fail for `delay <= MAX_DELAY` on any real clock; if it did, "as late as we
        // can represent" is the honest answer.
        let deadline = now.checked_add(delay).unwrap_or(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = TimerKey { deadline, seq };
        self.heap.push(Reverse(Entry { key, callback_id }));
        key
    }

    /// Marks a timer as cancelled, in O(1). Returns `false` if it had already left the
    /// heap (it fired, or it is due in the timers phase running now).
    ///
    /// Call it at most once per timer: the runtime guarantees that by removing the
    /// timer's callback first and cancelling only when there was one.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> bool {
        let gone = self.last_popped.is_some_and(|popped| key <= popped);
        if gone || key.seq >= self.next_seq {
            return false;
        }
        let inserted = self.cancelled.insert(key.seq);
        // Lazy deletion keeps a cancelled timer until its deadline, which may be hours
        // away: a program that keeps setting and clearing a long timer (a debounce) would
        // grow the heap without bound. Once cancelled entries are half of it, sweep them
        // out: O(n) for at least n/2 cancels, so O(1) per cancel amortised, and never more
        // than twice the live timers in memory.
        if self.cancelled.len() >= COMPACT_AT && 2 * self.cancelled.len() >= self.heap.len() {
            let cancelled = &mut self.cancelled;
            self.heap.retain(|Reverse(e)| !cancelled.remove(&e.key.seq));
            // Every cancelled timer was still in the heap (see above): none is left.
            debug_assert!(self.cancelled.is_empty());
            self.cancelled.clear();
        }
        inserted
    }

    /// Moves every timer due at `now` into `out`, earliest first, equal deadlines in the
    /// order they were set. Timers added later (by the callbacks about to run) are not
    /// included even if they are due, so a 0 ms timer set inside a timer callback runs on
    /// the next tick, as in Node.
    pub(crate) fn drain_expired(&mut self, now: Instant, out: &mut Vec<CallbackId>) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.key.deadline > now {
                break;
            }
            // Cannot fail: `peek` just returned an entry.
            let Some(Reverse(entry)) = self.heap.pop() else {
                break;
            };
            self.last_popped = Some(entry.key);
            if !self.cancelled.remove(&entry.key.seq) {
                out.push(entry.callback_id);
            }
        }
    }

    /// The earliest live deadline, if any timer is pending.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        // Drop cancelled entries from the top so they cannot make the loop wake for nothing.
        while let Some(Reverse(top)) = self.heap.peek() {
            if self.cancelled.contains(&top.key.seq) {
                let seq = top.key.seq;
                self.heap.pop();
                self.cancelled.remove(&seq);
            } else {
                return Some(top.key.deadline);
            }
        }
        None
    }

    /// How many timers will still fire.
    pub(crate) fn len(&self) -> usize {
        self.heap.len() - self.cancelled.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_timers_are_swept_out_long_before_their_deadline() {
        let now = Instant::now();
        let mut t = Timers::default();
        let mut last = t.insert(now, Duration::from_secs(3600), 0);
        for id in 1..10_000 {
            assert!(t.cancel(last));
            last = t.insert(now, Duration::from_secs(3600), id);
        }
        assert_eq!(t.len(), 1);
        assert!(
            t.heap.len() <= 2 * COMPACT_AT,
            "{} entries kept",
            t.heap.len()
        );
        assert!(t.cancel(last));
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
    }

    fn drain(t: &mut Timers, now: Instant) -> Vec<CallbackId> {
        let mut out = Vec::new();
        t.drain_expired(now, &mut out);
        out
    }

    #[test]
    fn two_timers_at_the_same_instant_both_fire_in_registration_order() {
        let now = Instant::now();
        let mut t = Timers::default();
        for id in [10, 11, 12] {
            t.insert(now, Duration::from_millis(5), id);
        }
        assert_eq!(t.len(), 3);
        assert_eq!(
            drain(&mut t, now + Duration::from_millis(5)),
            vec![10, 11, 12]
        );
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn deadlines_fire_in_deadline_order_and_never_early() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.insert(now, Duration::from_millis(30), 3);
        t.insert(now, Duration::from_millis(10), 1);
        t.insert(now, Duration::from_millis(20), 2);
        assert!(drain(&mut t, now + Duration::from_millis(9)).is_empty());
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
        assert_eq!(drain(&mut t, now + Duration::from_millis(20)), vec![1, 2]);
        assert_eq!(drain(&mut t, now + Duration::from_secs(1)), vec![3]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn a_cancelled_timer_never_fires_and_does_not_count() {
        let now = Instant::now();
        let mut t = Timers::default();
        let a = t.insert(now, Duration::ZERO, 1);
        let b = t.insert(now, Duration::ZERO, 2);
        let later = t.insert(now, Duration::from_secs(1), 3);
        assert!(t.cancel(a));
        assert_eq!(t.len(), 2);
        assert_eq!(drain(&mut t, now), vec![2]);
        assert!(!t.cancel(b), "a timer that already left the heap is gone");
        let unknown = TimerKey {
            deadline: now,
            seq: 999,
        };
        assert!(!t.cancel(unknown), "an unknown handle is ignored");
        // Set after the drain, even with a deadline equal to the popped one: still in the heap.
        let same_deadline = t.insert(now, Duration::ZERO, 4);
        assert!(t.cancel(same_deadline));
        assert!(t.cancel(later));
        assert_eq!(t.len(), 0);
        assert!(drain(&mut t, now + Duration::from_secs(2)).is_empty());
    }

    #[test]
    fn cancelled_timers_do_not_decide_the_next_deadline() {
        let now = Instant::now();
        let mut t = Timers::default();
        let early = t.insert(now, Duration::from_millis(1), 1);
        t.insert(now, Duration::from_millis(50), 2);
        assert!(t.cancel(early));
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(50)));
    }

    #[test]
    fn huge_delays_do_not_overflow() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.insert(now, Duration::from_millis(u64::MAX), 1);
        assert!(t.next_deadline().is_some_and(|d| d > now));
        assert!(drain(&mut t, now + Duration::from_secs(3600)).is_empty());
    }
}
