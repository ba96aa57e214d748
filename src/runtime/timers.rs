//! Timers: which callbacks are due, and how long the loop may sleep before the next one.
//!
//! Book: "Implementing the Node Eventloop", sections "Timers" and `process_expired_timers`.
//!
//! A timer is a deadline and a callback id. The loop asks two questions of this module on
//! every tick: "which timers are due now?" (the timers phase) and "when is the next one
//! due?" (how long the poll phase may block).
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
//! # One list per delay, and a heap of lists
//!
//! Timers leave smallest key first. A binary heap of every timer would do that in
//! O(log n), and did here at first; but with a million timers each pop sifts a hole down
//! twenty levels of a 32 MiB array, and nearly every level is a cache miss, so firing a
//! timer cost three to four times as much at a million timers as at ten thousand.
//!
//! Node.js keeps its timers another way (`lib/internal/timers.js`), and so do we: one list
//! per *delay*. Two timers set with the same delay are due in the order they were set,
//! because the clock only moves forward; so each list is already sorted, setting a timer
//! is a push at the back of its list, and only the *first* timer of each list needs to be
//! compared with the others. A small binary heap holds one entry per non-empty list, keyed
//! by that list's first timer. Taking the next timer pops the front of one list and moves
//! that list down the small heap: O(log d) for d distinct delays, whatever the number of
//! timers, in memory that stays in cache. Keys are still `(deadline, sequence)`, so the
//! order is exactly the one a heap of every timer gives.
//!
//! The trade-off: the cost now follows the number of distinct delays, not of timers. A
//! program whose every timer has its own delay gets one list per timer, which costs more
//! memory than one heap (a list is an allocation of its own). Programs use a handful of
//! delays (a 100 ms debounce, a 30 s timeout), which is the case Node optimises for too.
//!
//! # Cancelling
//!
//! A cancelled timer is not dug out of its list (that would cost O(n)); it is marked in
//! `cancelled` and skipped when it comes first ("lazy deletion", as in Node's timer
//! lists). `len` counts only live timers, so a cancelled timer does not keep the loop
//! alive.
//!
//! Whether a timer is still waiting is answered in O(1) too, from the order in which
//! timers leave: smallest key first, so every key up to the last one the timers phase
//! took is gone, and every key above it is still there. A timer set later cannot sneak in
//! below that line: its deadline is at least the `now` of that timers phase, which is at
//! least the taken deadline, and its sequence number is larger.

use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// What a timer runs when it fires: the id of a callback in the runtime's callback table.
pub(crate) type CallbackId = usize;

/// A timer's place in the order timers leave: deadline first, then sequence number. It is
/// also the handle that cancels the timer.
///
/// The deadline is kept as nanoseconds after the first timer's `now` (`Timers::base`)
/// rather than as an `Instant`: 8 bytes instead of 16, so an entry is 24 bytes, and a
/// million timers take 8 MiB less, in lists the cache reads a quarter less of. 2^64 ns is
/// 584 years, far past [`MAX_DELAY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerKey {
    deadline: u64,
    seq: u64,
}

/// One timer in a list.
#[derive(Debug)]
struct Entry {
    key: TimerKey,
    callback_id: CallbackId,
}

/// The timers set with one delay, in the order they were set, which is also the order of
/// their keys (see the module docs). A `VecDeque`: pushed at the back, taken from the front.
#[derive(Debug, Default)]
struct List {
    delay: Duration,
    entries: VecDeque<Entry>,
}

/// The longest delay we honour exactly: about 100 years. A longer one (up to
/// `u64::MAX` ms) would overflow `Instant`; it is clamped here, which for any program that
/// runs today means "never fires" while still keeping the loop alive, as a real timer of
/// that length would.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Below this many cancelled timers the lists are never swept (see `Timers::cancel`).
const COMPACT_AT: usize = 64;

/// An emptied list keeps its buffer for the next timers of its delay only up to this many
/// entries; a larger one is given back, so that a burst does not pin its memory forever.
const KEEP_CAPACITY: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Timers {
    /// What the deadlines count from: the `now` of the first timer ever set.
    base: Option<Instant>,
    /// Every list, by index; the empty ones are unused slots, named in `free`.
    lists: Vec<List>,
    /// Indexes of the empty lists in `lists`, to be reused before `lists` grows.
    free: Vec<usize>,
    /// Which list holds the timers of a delay. Only non-empty lists are here, so the map
    /// is as large as the number of delays pending, not of all the delays ever used.
    by_delay: HashMap<Duration, usize>,
    /// One entry per non-empty list, keyed by its first timer: the smallest key of all is
    /// on top. Kept up to date whenever a list's first timer changes.
    heads: BinaryHeap<Reverse<(TimerKey, usize)>>,
    /// How many timers the lists hold, cancelled ones included.
    entries: usize,
    next_seq: u64,
    /// Sequence numbers of cancelled timers that are still in a list.
    cancelled: HashSet<u64>,
    /// The largest key taken out by `drain_expired`. (Not by `next_deadline`: a cancelled
    /// timer it drops may lie in the future, and a timer set later may come before it.)
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
        let base = *self.base.get_or_insert(now);
        // Cannot saturate for `delay <= MAX_DELAY` (see `TimerKey`); if it did, "as late as
        // we can represent" is the honest answer.
        let since_base = now.saturating_duration_since(base).saturating_add(delay);
        let mut deadline = u64::try_from(since_base.as_nanos()).unwrap_or(u64::MAX);
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = self.list_for(delay);
        let list = &mut self.lists[id];
        // The runtime passes `Instant::now()`, which never goes back, so this changes
        // nothing; it keeps the list sorted (and so the order right) even for a caller
        // whose `now` did go back, at the price of a timer that fires later, never earlier.
        if let Some(last) = list.entries.back() {
            deadline = deadline.max(last.key.deadline);
        }
        let key = TimerKey { deadline, seq };
        if list.entries.is_empty() {
            self.heads.push(Reverse((key, id)));
        }
        list.entries.push_back(Entry { key, callback_id });
        self.entries += 1;
        key
    }

    /// The index of the list for `delay`, made (or a free one reused) if there is none.
    fn list_for(&mut self, delay: Duration) -> usize {
        if let Some(&id) = self.by_delay.get(&delay) {
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.lists.push(List::default());
                self.lists.len() - 1
            }
        };
        self.lists[id].delay = delay;
        self.by_delay.insert(delay, id);
        id
    }

    /// Marks list `id`, now empty, as free for another delay.
    fn release(&mut self, id: usize) {
        let list = &mut self.lists[id];
        self.by_delay.remove(&list.delay);
        if list.entries.capacity() > KEEP_CAPACITY {
            list.entries = VecDeque::new();
        }
        self.free.push(id);
    }

    /// The smallest key of all, if any timer (live or cancelled) is in a list.
    fn first_key(&self) -> Option<TimerKey> {
        self.heads.peek().map(|Reverse((key, _))| *key)
    }

    /// Takes the timer with the smallest key out of its list and moves that list to its
    /// new place among the others.
    fn pop_first(&mut self) -> Option<Entry> {
        let mut top = self.heads.peek_mut()?;
        let Reverse((_, id)) = *top;
        let list = &mut self.lists[id];
        // Cannot fail: a list is in `heads` only while it has entries. Were it empty, its
        // stale head is dropped and the caller sees "no timer", never a wrong one.
        let Some(entry) = list.entries.pop_front() else {
            PeekMut::pop(top);
            return None;
        };
        self.entries -= 1;
        match list.entries.front() {
            // Writing through `PeekMut` sifts the list down to its new place when `top`
            // is dropped: O(log d) for d lists.
            Some(next) => *top = Reverse((next.key, id)),
            None => {
                PeekMut::pop(top);
                self.release(id);
            }
        }
        Some(entry)
    }

    /// Marks a timer as cancelled, in O(1). Returns `false` if it had already left its
    /// list (it fired, or it is due in the timers phase running now).
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
        // grow its list without bound. Once cancelled timers are half of all, sweep them
        // out: O(n) for at least n/2 cancels, so O(1) per cancel amortised, and never more
        // than twice the live timers in memory.
        if self.cancelled.len() >= COMPACT_AT && 2 * self.cancelled.len() >= self.entries {
            self.sweep();
        }
        inserted
    }

    /// Removes every cancelled timer from the lists, frees the lists left empty and
    /// rebuilds `heads`.
    fn sweep(&mut self) {
        let mut heads = Vec::with_capacity(self.heads.len());
        let mut emptied = Vec::new();
        for Reverse((_, id)) in self.heads.drain() {
            let list = &mut self.lists[id];
            list.entries.retain(|e| !self.cancelled.remove(&e.key.seq));
            match list.entries.front() {
                Some(first) => heads.push(Reverse((first.key, id))),
                None => emptied.push(id),
            }
        }
        // Every cancelled timer was still in a list (see the module docs): none is left.
        debug_assert!(self.cancelled.is_empty());
        self.cancelled.clear();
        self.heads = BinaryHeap::from(heads);
        for id in emptied {
            self.release(id);
        }
        self.entries = self
            .heads
            .iter()
            .map(|Reverse((_, id))| self.lists[*id].entries.len())
            .sum();
    }

    /// Moves every timer due at `now` into `out`, earliest first, equal deadlines in the
    /// order they were set. Timers added later (by the callbacks about to run) are not
    /// included even if they are due, so a 0 ms timer set inside a timer callback runs on
    /// the next tick, as in Node.
    pub(crate) fn drain_expired(&mut self, now: Instant, out: &mut Vec<CallbackId>) {
        let Some(now) = self.since_base(now) else {
            return; // no timer was ever set
        };
        while self.first_key().is_some_and(|key| key.deadline <= now) {
            let Some(entry) = self.pop_first() else {
                break;
            };
            self.last_popped = Some(entry.key);
            // The emptiness check first: most programs cancel little, and it saves
            // hashing every timer that fires.
            let cancelled = !self.cancelled.is_empty() && self.cancelled.remove(&entry.key.seq);
            if !cancelled {
                out.push(entry.callback_id);
            }
        }
    }

    /// The earliest live deadline, if any timer is pending.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        // Drop cancelled timers from the front so they cannot make the loop wake for
        // nothing.
        while let Some(key) = self.first_key() {
            if self.cancelled.is_empty() || !self.cancelled.contains(&key.seq) {
                return self.instant(key.deadline);
            }
            self.pop_first();
            self.cancelled.remove(&key.seq);
        }
        None
    }

    /// `t` as nanoseconds after `base` (0 if earlier); `None` before any timer was set.
    fn since_base(&self, t: Instant) -> Option<u64> {
        let since = t.saturating_duration_since(self.base?);
        Some(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    /// The `Instant` of a deadline. `None` only for one past what an `Instant` can hold,
    /// which never comes: the loop then waits for other events, as it should.
    fn instant(&self, deadline: u64) -> Option<Instant> {
        self.base?.checked_add(Duration::from_nanos(deadline))
    }

    /// How many timers will still fire.
    pub(crate) fn len(&self) -> usize {
        self.entries - self.cancelled.len()
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
        assert!(t.entries <= 2 * COMPACT_AT, "{} entries kept", t.entries);
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
            deadline: 0,
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

    #[test]
    fn equal_deadlines_from_different_delays_fire_in_the_order_they_were_set() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Timers::default();
        // Three lists (10, 5 and 1 ms), all due at t0 + 10 ms, set in the order a, b, c.
        t.insert(t0, ms(10), 1);
        t.insert(t0 + ms(5), ms(5), 2);
        t.insert(t0 + ms(9), ms(1), 3);
        // And one set last but due first, in a fourth list: 2 ms from t0 + 7.
        t.insert(t0 + ms(7), ms(2), 4);
        assert_eq!(drain(&mut t, t0 + ms(10)), vec![4, 1, 2, 3]);
    }

    #[test]
    fn an_emptied_list_is_given_back_so_many_delays_do_not_pile_up() {
        let now = Instant::now();
        let mut t = Timers::default();
        for ms in 0..1_000 {
            t.insert(now, Duration::from_millis(ms), ms as usize);
        }
        assert_eq!(t.lists.len(), 1_000);
        let fired = drain(&mut t, now + Duration::from_secs(1));
        assert_eq!(fired, (0..1_000).collect::<Vec<_>>());
        assert!(t.by_delay.is_empty() && t.heads.is_empty());
        assert_eq!(t.free.len(), 1_000);
        // New delays reuse the free lists rather than growing `lists`.
        for ms in 5_000..5_010 {
            t.insert(now, Duration::from_millis(ms), 0);
        }
        assert_eq!(t.lists.len(), 1_000);
        assert_eq!(t.by_delay.len(), 10);
    }

    #[test]
    fn a_clock_that_goes_back_never_makes_a_timer_early_or_out_of_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Timers::default();
        t.insert(t0 + ms(50), ms(10), 1);
        // `now` went back: the timer waits for the one before it in its list.
        let key = t.insert(t0, ms(10), 2);
        assert_eq!(t.instant(key.deadline), Some(t0 + ms(60)));
        assert!(drain(&mut t, t0 + ms(59)).is_empty());
        assert_eq!(drain(&mut t, t0 + ms(60)), vec![1, 2]);
    }

    /// A tiny seeded generator (xorshift64*), so the randomized test below is repeatable.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    /// The lists against the simplest model that is obviously right: every live timer in
    /// one `BTreeMap` by `(deadline, seq)`. Random sets (few delays, so lists grow long),
    /// cancels (some after their timer fired), sweeps, drains at a clock that moves
    /// forward, and `next_deadline` checks, over many seeds.
    #[test]
    fn the_lists_fire_exactly_what_a_sorted_map_of_every_timer_fires() {
        use std::collections::BTreeMap;
        for seed in 1..=40u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let t0 = Instant::now();
            let mut clock = t0;
            let mut t = Timers::default();
            let mut model: BTreeMap<TimerKey, CallbackId> = BTreeMap::new();
            let mut keys = Vec::new();
            // Odd seeds set long timers and cancel many, so that sweeps happen too.
            let (scale, sets) = if seed % 2 == 1 { (500, 3) } else { (5, 4) };
            for step in 0..3_000usize {
                match rng.below(10) {
                    n if n <= sets => {
                        let delay = Duration::from_millis(rng.below(8) * scale);
                        let key = t.insert(clock, delay, step);
                        assert_eq!(t.instant(key.deadline), Some(clock + delay));
                        model.insert(key, step);
                        keys.push(key);
                    }
                    n if n <= 6 && !keys.is_empty() => {
                        let key = keys.swap_remove(rng.below(keys.len() as u64) as usize);
                        let live = model.remove(&key).is_some();
                        assert_eq!(t.cancel(key), live, "seed {seed} step {step}");
                    }
                    7 => {
                        let expect = model.keys().next().and_then(|k| t.instant(k.deadline));
                        assert_eq!(t.next_deadline(), expect, "seed {seed} step {step}");
                    }
                    _ => {
                        clock += Duration::from_millis(rng.below(12));
                        let mut due = Vec::new();
                        while let Some(entry) = model.first_entry() {
                            if t.instant(entry.key().deadline) > Some(clock) {
                                break;
                            }
                            due.push(entry.remove());
                        }
                        assert_eq!(drain(&mut t, clock), due, "seed {seed} step {step}");
                    }
                }
                assert_eq!(t.len(), model.len(), "seed {seed} step {step}");
            }
        }
    }
}
