//! Hostile API input: each call below gets a clear error or a documented, tested
//! behaviour; never undefined behaviour, a panic on a library path, or a hang.
//!
//! Already proven elsewhere and not repeated here: `reregister`/`deregister` of a stream
//! never registered, or after `deregister` (so also deregistering twice), in
//! `minimio_registration.rs`; `poll` after `close_loop` and `close_loop` twice, in
//! `minimio_close_loop.rs`; a `Registrator` or `Waker` used after its `Poll` is dropped
//! (`NotConnected`), in `minimio_drop.rs` and `minimio_waker.rs`; `Events::with_capacity(0)`
//! (`InvalidInput`), in `minimio_capacity.rs`; `set_timeout(u64::MAX, ..)`, in
//! `runtime_timers.rs`; `Crypto::encrypt(MAX_FIBONACCI_N + 1, ..)`, in `runtime_errors.rs`.
//! This file adds the extremes, and the same calls raced from several threads.

mod util;

use std::cell::RefCell;
use std::io;
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use node_experiment::minimio::{Events, Interests, Poll, TcpStream, Waker};
use node_experiment::runtime::{
    Crypto, Fs, Io, Js, Runtime, clear_interval, clear_timeout, set_interval, set_timeout,
};
use util::reliability::{LIMIT, OnDrop, builder};
use util::{SLACK, kind, within};

/// A connected pair: a minimio end and a std peer.
fn pair(listener: &TcpListener) -> io::Result<(TcpStream, std::net::TcpStream)> {
    let ours = TcpStream::connect(listener.local_addr()?)?;
    let (theirs, _) = listener.accept()?;
    Ok((ours, theirs))
}

/// `i32::MAX` ms (about 24.8 days) is a valid timeout: `poll` waits for the event that
/// comes, or for `close_loop`, and neither overflows nor returns early.
#[test]
fn a_timeout_of_i32_max_waits_for_the_event_or_the_close() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let waker = Arc::new(Waker::new(&registrator, 7)?);
    let w = Arc::clone(&waker);
    let (poll, first, took) = within(LIMIT, "poll(i32::MAX) and a wake", move || {
        let start = Instant::now();
        let waking = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            w.wake()
        });
        let mut events = Events::with_capacity(4);
        let n = poll
            .poll(&mut events, Some(i32::MAX))
            .map(|_| events[0].id().value());
        waking.join().expect("waker thread").expect("wake");
        (poll, n.map_err(|e| e.kind()), start.elapsed())
    });
    assert_eq!(first, Ok(7));
    assert!(
        took >= Duration::from_millis(50) && took < SLACK * 2,
        "{took:?}"
    );

    let r = registrator.clone();
    let (second, took) = within(LIMIT, "poll(i32::MAX) and close_loop", move || {
        let mut poll = poll;
        let start = Instant::now();
        let closing = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            r.close_loop()
        });
        let mut events = Events::with_capacity(4);
        let got = kind(poll.poll(&mut events, Some(i32::MAX)));
        closing.join().expect("closer thread").expect("close_loop");
        (got, start.elapsed())
    });
    assert_eq!(second, Err(io::ErrorKind::Interrupted));
    assert!(took < SLACK * 2, "{took:?}");
    Ok(())
}

/// `i32::MIN` means "do not wait", like every negative timeout.
#[test]
fn a_timeout_of_i32_min_does_not_wait() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4);
    let start = Instant::now();
    assert_eq!(poll.poll(&mut events, Some(i32::MIN))?, 0);
    assert!(start.elapsed() < SLACK);
    Ok(())
}

/// Tokens at both ends of the range come back unchanged, and `close_loop` (which on epoll
/// registers its own wake-up with the data `u64::MAX`) is never mistaken for a user's
/// `usize::MAX` token.
#[test]
fn tokens_zero_and_usize_max_round_trip_and_are_not_the_close() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut poll = Poll::new()?;
    let registrator = poll.registrator();
    let (a, _pa) = pair(&listener)?;
    let (b, _pb) = pair(&listener)?;
    registrator.register(&a, 0, Interests::WRITABLE)?;
    registrator.register(&b, usize::MAX, Interests::WRITABLE)?;
    let waker = Waker::new(&registrator, usize::MAX - 1)?;
    waker.wake()?;
    let mut events = Events::with_capacity(8);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.len() < 3 && Instant::now() < deadline {
        poll.poll(&mut events, Some(500))?;
        seen.extend(events.iter().map(|e| e.id().value()));
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, usize::MAX - 1, usize::MAX]);

    // Armed again with usize::MAX and not ready: the close must not be reported as it.
    registrator.reregister(&b, usize::MAX, Interests::READABLE)?;
    registrator.close_loop()?;
    assert_eq!(
        kind(poll.poll(&mut events, Some(1_000))),
        Err(io::ErrorKind::Interrupted)
    );
    assert!(events.is_empty(), "{events:?}");
    Ok(())
}

/// A very large event buffer is only a buffer: `poll` returns what is ready.
#[test]
fn a_huge_events_buffer_is_fine() -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Waker::new(&poll.registrator(), 3)?;
    let mut events = Events::with_capacity(1 << 20);
    assert_eq!(poll.poll(&mut events, Some(0))?, 0);
    waker.wake()?;
    assert_eq!(poll.poll(&mut events, Some(1_000))?, 1);
    assert_eq!(
        events.capacity(),
        1 << 20,
        "poll must not shrink or grow the buffer"
    );
    Ok(())
}

/// Registrators and wakers used from several threads *while* their `Poll` is dropped:
/// every call either works or says `NotConnected`, and once one has said it, all later
/// calls do. Repeated, so that the drop lands at many points of the calls (run it under
/// AddressSanitizer to see that no call touches a freed queue).
#[test]
fn handles_racing_the_drop_of_their_poll_get_ok_or_not_connected() -> io::Result<()> {
    const ROUNDS: usize = 200;
    const THREADS: usize = 4;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    within(
        LIMIT,
        "handles racing a Poll's drop",
        move || -> io::Result<()> {
            for round in 0..ROUNDS {
                let poll = Poll::new()?;
                let start = Arc::new(Barrier::new(THREADS + 1));
                let mut workers = Vec::new();
                for t in 0..THREADS {
                    let registrator = poll.registrator();
                    let waker = Waker::new(&registrator, 100 + t)?;
                    let (stream, peer) = pair(&listener)?;
                    let start = Arc::clone(&start);
                    workers.push(thread::spawn(move || {
                        let _peer = peer;
                        start.wait();
                        // Each call either takes effect or says NotConnected before touching
                        // anything, so `registered` is always exact; and a Poll once gone
                        // stays gone.
                        let mut gone = false;
                        let mut check = |r: Result<(), io::ErrorKind>| match r {
                            Ok(()) => {
                                assert!(!gone, "a call worked after NotConnected");
                                true
                            }
                            Err(io::ErrorKind::NotConnected) => {
                                gone = true;
                                false
                            }
                            Err(other) => panic!("unexpected error {other:?}"),
                        };
                        let mut registered = false;
                        for i in 0..200 {
                            let armed = if registered {
                                registrator.reregister(&stream, i, Interests::READABLE)
                            } else {
                                registrator.register(&stream, i, Interests::READABLE)
                            };
                            if check(kind(armed)) {
                                registered = true;
                            }
                            check(kind(waker.wake()));
                            if i % 3 == 0
                                && registered
                                && check(kind(registrator.deregister(&stream)))
                            {
                                registered = false;
                            }
                        }
                        assert_eq!(kind(registrator.close_loop()), Ok(()));
                    }));
                }
                start.wait();
                // Let the workers get going for a varying while, then drop the Poll under them.
                for _ in 0..(round % 50) * 10 {
                    std::hint::spin_loop();
                }
                drop(poll);
                for w in workers {
                    w.join().expect("a worker panicked");
                }
            }
            Ok(())
        },
    )
}

/// `close_loop` from many threads at the same moment: every call is `Ok`, a blocked
/// `poll` ends once with `Interrupted`, and so does every later one.
#[test]
fn close_loop_from_many_threads_at_once_is_ok_for_all() -> io::Result<()> {
    const THREADS: usize = 8;
    let mut poll = Poll::new()?;
    let go = Arc::new(Barrier::new(THREADS + 1));
    let closers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (r, go) = (poll.registrator(), Arc::clone(&go));
            thread::spawn(move || {
                go.wait();
                r.close_loop().map_err(|e| e.kind())
            })
        })
        .collect();
    let polling = thread::spawn(move || {
        let mut events = Events::with_capacity(4);
        let first = kind(poll.poll(&mut events, None));
        let later = kind(poll.poll(&mut events, Some(0)));
        (first, later)
    });
    go.wait();
    for c in closers {
        assert_eq!(c.join().expect("closer"), Ok(()));
    }
    let (first, later) = within(SLACK * 5, "a poll ended by close_loop", move || {
        polling.join().expect("poll thread")
    });
    assert_eq!(first, Err(io::ErrorKind::Interrupted));
    assert_eq!(later, Err(io::ErrorKind::Interrupted));
    Ok(())
}

/// A callback that records the error's kind, or what came instead.
fn outcome(log: &Rc<RefCell<Vec<String>>>, label: &'static str) -> impl FnOnce(Js) + 'static {
    let log = Rc::clone(log);
    move |js| {
        log.borrow_mut().push(match js {
            Js::Error(e) => format!("{label}: error {:?}", e.kind()),
            other => format!("{label}: {other:?}"),
        })
    }
}

fn run_quiet(
    what: &str,
    program: impl FnOnce(&Rc<RefCell<Vec<String>>>) + Send + 'static,
) -> Vec<String> {
    within(LIMIT, what, move || {
        let log = Rc::default();
        builder().build().expect("build").run(|| program(&log));
        log.take()
    })
}

/// Absurd arguments to the runtime's functions are errors for their callback, once each,
/// and the loop goes on.
#[test]
fn absurd_arguments_are_errors_for_their_callback() {
    let mut got = run_quiet("absurd arguments", |log| {
        // The naive Fibonacci of a huge n would overflow (and never end): refused at once.
        Crypto::encrypt(usize::MAX, outcome(log, "encrypt(usize::MAX)"));
        // No file has an empty name; a NUL byte cannot be passed to the OS.
        Fs::read("", outcome(log, "read(\"\")"));
        Fs::read("nul\0byte", outcome(log, "read(NUL)"));
        // Port 0 is nobody's address.
        Io::http_get_slow_from(
            "127.0.0.1:0".parse().expect("an address"),
            "x",
            0,
            outcome(log, "http to port 0"),
        );
        set_timeout(5, outcome(log, "then a timer"));
    });
    // The loop went on: the timer fired. Not necessarily last: on Windows the refused
    // connect is learned from `ConnectEx`'s completion, which a loaded machine can delay
    // past the 5 ms.
    let Some(timer) = got.iter().position(|g| g == "then a timer: Undefined") else {
        panic!("the timer never fired: {got:?}");
    };
    got.remove(timer);
    got.sort();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0], "encrypt(usize::MAX): error InvalidInput");
    assert!(got[1].starts_with("http to port 0: error "), "{got:?}");
    assert_eq!(got[2], "read(\"\"): error NotFound");
    assert_eq!(got[3], "read(NUL): error InvalidInput");
}

/// `set_interval(u64::MAX)` neither panics nor fires, and clearing it ends the loop.
/// `set_interval(0)` fires until it is cleared (here after 1,000 firings), then the loop ends.
#[test]
fn intervals_of_zero_and_u64_max_behave() {
    let got = run_quiet("extreme intervals", |log| {
        let forever = set_interval(
            u64::MAX,
            outcome(log, "the u64::MAX interval fired").into_fn_mut(),
        );
        let count = Rc::new(RefCell::new(0));
        let me = Rc::new(RefCell::new(None));
        let (c, m, l) = (Rc::clone(&count), Rc::clone(&me), Rc::clone(log));
        let t = set_interval(0, move |_| {
            *c.borrow_mut() += 1;
            if *c.borrow() == 1_000 {
                clear_interval(m.borrow_mut().take().expect("the handle"));
                clear_timeout(forever);
                l.borrow_mut()
                    .push("zero interval: 1000 firings".to_string());
            }
        });
        *me.borrow_mut() = Some(t);
    });
    assert_eq!(got, ["zero interval: 1000 firings"]);
}

/// Turns a `FnOnce` callback into the `FnMut` an interval takes (it runs at most once).
trait IntoFnMut {
    fn into_fn_mut(self) -> Box<dyn FnMut(Js)>;
}

impl<F: FnOnce(Js) + 'static> IntoFnMut for F {
    fn into_fn_mut(self) -> Box<dyn FnMut(Js)> {
        let mut once = Some(self);
        Box::new(move |js| {
            if let Some(f) = once.take() {
                f(js);
            }
        })
    }
}

/// Clears a long timer (or interval) whose callback owns a guard that schedules a 0 ms
/// timer from its `Drop`, and returns what ran.
fn clear_a_callback_that_owns_a_scheduling_guard(interval: bool) -> Vec<String> {
    run_quiet("a guard that schedules from its Drop", move |log| {
        let l = Rc::clone(log);
        let guard = OnDrop(Some(Box::new(move || {
            set_timeout(0, outcome(&l, "the guard's clean-up"));
        })));
        let t = if interval {
            set_interval(10_000, move |_| {
                let _keep = &guard;
            })
        } else {
            set_timeout(10_000, move |_| {
                let _keep = &guard;
            })
        };
        set_timeout(0, move |_| clear_timeout(t));
    })
}

/// A callback may own anything, including a value whose `Drop` uses the runtime (an RAII
/// guard that schedules clean-up work, say). Clearing the timer drops that callback, and
/// its `Drop` must be able to call the runtime like any other code on the loop's thread.
/// (One guard per run: a second one, dropped while the first one's panic unwinds, would
/// abort the whole test binary.)
#[test]
fn clearing_a_timer_whose_callback_owns_a_guard_that_schedules_work_does_not_panic() {
    assert_eq!(
        clear_a_callback_that_owns_a_scheduling_guard(false),
        ["the guard's clean-up: Undefined"]
    );
}

#[test]
fn clearing_an_interval_whose_callback_owns_a_guard_that_schedules_work_does_not_panic() {
    assert_eq!(
        clear_a_callback_that_owns_a_scheduling_guard(true),
        ["the guard's clean-up: Undefined"]
    );
}

/// The same guard, owned by an interval that clears itself from its own callback: the
/// callback is dropped when the interval would be re-armed, and its `Drop` too must be able
/// to use the runtime.
#[test]
fn an_interval_that_clears_itself_may_own_a_guard_that_schedules_work() {
    let got = run_quiet("a self-clearing interval with a guard", |log| {
        let l = Rc::clone(log);
        let guard = OnDrop(Some(Box::new(move || {
            set_timeout(0, outcome(&l, "the guard's clean-up"));
        })));
        let me: Rc<RefCell<Option<node_experiment::runtime::Timeout>>> = Rc::default();
        let m = Rc::clone(&me);
        let t = set_interval(1, move |_| {
            let _keep = &guard;
            if let Some(t) = m.borrow_mut().take() {
                clear_interval(t);
            }
        });
        *me.borrow_mut() = Some(t);
    });
    assert_eq!(got, ["the guard's clean-up: Undefined"]);
}

/// `RuntimeBuilder::threads` with an absurd count is an error from `build`, not a panic
/// (or an abort) while reserving room for the threads.
#[test]
fn an_absurd_pool_size_is_an_error_not_a_panic() {
    let result = std::panic::catch_unwind(|| {
        Runtime::builder()
            .verbose(false)
            .threads(usize::MAX)
            .build()
            .map(drop)
            .map_err(|e| e.kind())
    });
    match result {
        Ok(r) => assert!(r.is_err(), "a pool of usize::MAX threads was built"),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            panic!("RuntimeBuilder::threads(usize::MAX).build() panicked: {msg}");
        }
    }
}
