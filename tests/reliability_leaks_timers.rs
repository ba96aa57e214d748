//! Cleared timers do not pile up: a program that keeps setting a long timer and clearing
//! the previous one (a debounce, a watchdog, a request timeout that is cancelled when the
//! answer comes) runs in bounded memory, however long it runs.
//!
//! Memory is counted exactly, by this binary's own global allocator (see
//! `util/counting.rs`), so the test is the same on every platform. The only
//! test in this file: the allocator counts the whole process.

#[path = "util/counting.rs"]
mod counting;
mod util;

use std::cell::Cell;
use std::rc::Rc;

use counting::live;
use node_experiment::runtime::{Timeout, clear_timeout, set_timeout};
use util::reliability::{LIMIT, builder};
use util::within;

/// Set-and-clear cycles in one go: with a cleared timer kept until its deadline, they
/// would hold this many heap entries (and as many entries of the set of cancelled ones).
const CYCLES: usize = 200_000;
/// After the warm-up, memory may grow by this much at most. Keeping every cleared
/// one-hour timer would cost at least 32 bytes each (6 MiB for all of them).
const MAX_GROWTH_BYTES: isize = 512 * 1024;

#[test]
fn a_debounce_that_sets_and_clears_a_long_timer_runs_in_bounded_memory() {
    let (warm, end, fired) = within(LIMIT, "a debounce", || {
        let fired = Rc::new(Cell::new(0));
        let measured = Rc::new(Cell::new(((0, 0), (0, 0))));
        let (f, m) = (Rc::clone(&fired), Rc::clone(&measured));
        builder().build().expect("build").run(move || {
            let mut last: Option<Timeout> = None;
            let mut warm = (0, 0);
            for i in 0..CYCLES {
                if let Some(t) = last.take() {
                    clear_timeout(t);
                }
                let f = Rc::clone(&f);
                // One hour: it never comes due during the test.
                last = Some(set_timeout(3_600_000, move |_| f.set(f.get() + 1)));
                if i == 1_000 {
                    warm = live();
                }
            }
            m.set((warm, live()));
            if let Some(t) = last {
                clear_timeout(t);
            }
        });
        let (warm, end) = measured.get();
        (warm, end, fired.get())
    });
    assert_eq!(fired, 0, "a cleared timer fired");
    let growth = end.1 - warm.1;
    println!(
        "{CYCLES} set-and-clear cycles: live blocks {} -> {}, bytes {} -> {} (growth {growth})",
        warm.0, end.0, warm.1, end.1
    );
    assert!(
        growth <= MAX_GROWTH_BYTES,
        "{CYCLES} cleared timers left {growth} bytes ({} blocks) behind: cancelled timers \
         stay in the heap until their deadline",
        end.0 - warm.0
    );
}
