//! `Crypto::encrypt`: CPU work on the thread pool.
//!
//! Book: "Implementing the Node Eventloop", section "Crypto".
//!
//! The book's stand-in for an expensive computation is a naive recursive Fibonacci. It
//! runs on the pool so the loop stays free while it computes, which is why Node runs
//! `crypto.pbkdf2` there too.

use std::io;

use super::threadpool::EventKind;
use super::{Js, register_work};

/// The largest `n` whose Fibonacci number fits in a 64-bit `usize`.
pub const MAX_FIBONACCI_N: usize = if usize::BITS >= 64 { 93 } else { 47 };

/// CPU-heavy functions, as Node's `crypto` module offers them.
#[derive(Debug)]
pub struct Crypto;

impl Crypto {
    /// Computes the `n`th Fibonacci number the slow way, on the thread pool, and calls
    /// `cb` on the loop's thread with [`Js::Int`].
    ///
    /// The cost grows about 1.6 times with each step of `n`: a debug build needs roughly a
    /// second for `n = 35` and minutes for `n = 45`, and the task cannot be interrupted
    /// (nor can a real `pbkdf2`). For `n > MAX_FIBONACCI_N` the result does not fit in a
    /// `usize`; `cb` then gets an `InvalidInput` error at once instead of an overflow.
    ///
    /// ```
    /// use node_experiment::runtime::{Crypto, Runtime};
    ///
    /// Runtime::builder().verbose(false).build().unwrap().run(|| {
    ///     Crypto::encrypt(20, |js| assert_eq!(js.into_int(), Some(6765)));
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside [`Runtime::run`](super::Runtime::run) or on another thread than the loop's.
    pub fn encrypt(n: usize, cb: impl FnOnce(Js) + 'static) {
        let work = move |_: &super::threadpool::Shutdown| {
            if n > MAX_FIBONACCI_N {
                return Js::Error(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "fibonacci({n}) does not fit in a usize (n must be <= {MAX_FIBONACCI_N})"
                    ),
                ));
            }
            Js::Int(fibonacci(n))
        };
        register_work("Crypto::encrypt", work, EventKind::Encrypt, cb);
    }
}

/// Deliberately exponential: the point is to keep a CPU busy.
fn fibonacci(n: usize) -> usize {
    match n {
        0 => 0,
        1 => 1,
        _ => fibonacci(n - 1) + fibonacci(n - 2),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fibonacci_matches_the_book() {
        assert_eq!(super::fibonacci(0), 0);
        assert_eq!(super::fibonacci(1), 1);
        assert_eq!(super::fibonacci(20), 6765);
    }
}
