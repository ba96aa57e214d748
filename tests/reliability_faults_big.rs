//! A peer that sends far too much: 100 MiB, with a valid head or as one endless line of
//! garbage. Memory stays bounded by [`MAX_RESPONSE`] (64 MiB) per request: past it, the
//! callback gets one `Js::Error` of kind `InvalidData`, the socket is closed (the sender
//! sees its connection reset) and the loop goes on. A response of exactly the limit still
//! arrives whole.
//!
//! On Linux the peak resident memory of the process is measured (`VmHWM`, reset through
//! `/proc/self/clear_refs`); this file holds only these tests, run one after another, so
//! that nothing else runs in the process while it is measured. Under a sanitizer the
//! memory figures are printed but not checked: AddressSanitizer keeps freed memory in
//! quarantine on purpose.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Instant;

use node_experiment::runtime::{Io, Js, MAX_RESPONSE};
use util::reliability::{
    HostileServer, LIMIT, builder, consume_request, delay_server_body, response_head,
};
use util::within;

const MIB: usize = 1024 * 1024;

/// The tests of this file measure the whole process's memory: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Sends `head`, then `body_len` bytes of `fill` in 1 MiB writes, stopping at the first
/// failed write (the client hung up). Returns how many body bytes were accepted.
fn send_big(stream: &mut TcpStream, head: &[u8], body_len: usize, fill: u8) -> usize {
    let chunk = vec![fill; MIB];
    if stream.write_all(head).is_err() {
        return 0;
    }
    let mut sent = 0;
    while sent < body_len {
        let n = chunk.len().min(body_len - sent);
        if stream.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    sent
}

/// What one big request ended with, and the process's peak memory growth while it ran.
struct Outcome {
    /// `Ok(body length)` or `Err(error kind and message)`.
    result: Result<usize, String>,
    /// Whether a request to the built-in server after it worked.
    then_ok: bool,
    /// Peak RSS growth during the run, in MiB (Linux only).
    peak_growth_mib: Option<f64>,
}

fn big_request(
    what: &str,
    server: std::net::SocketAddr,
    expect_body: Option<(usize, u8)>,
) -> Outcome {
    within(LIMIT, what, move || {
        #[cfg(target_os = "linux")]
        let before = {
            util::linux::reset_peak_rss();
            util::linux::rss_kib()
        };
        let result = std::rc::Rc::new(std::cell::RefCell::new(None));
        let then_ok = std::rc::Rc::new(std::cell::Cell::new(false));
        let (r, t) = (result.clone(), then_ok.clone());
        builder().build().expect("build").run(move || {
            Io::http_get_slow_from(server, "big.example", 0, move |js| {
                let got = match js {
                    Js::String(s) => {
                        if let Some((len, fill)) = expect_body {
                            assert_eq!(s.len(), len, "the body's length");
                            assert!(s.bytes().all(|b| b == fill), "the body was corrupted");
                        }
                        Ok(s.len())
                    }
                    Js::Error(e) => Err(format!("{:?}: {e}", e.kind())),
                    other => Err(format!("not a body or an error: {other:?}")),
                };
                *r.borrow_mut() = Some(got);
                Io::http_get_slow("after.example", 0, move |js| {
                    t.set(
                        js.into_string().as_deref() == Some(&*delay_server_body("after.example")),
                    );
                });
            });
        });
        #[cfg(target_os = "linux")]
        let peak_growth_mib =
            Some(util::linux::peak_rss_kib().saturating_sub(before) as f64 / 1024.0);
        #[cfg(not(target_os = "linux"))]
        let peak_growth_mib = None;
        let result = result.take().expect("the callback never ran");
        Outcome {
            result,
            then_ok: then_ok.get(),
            peak_growth_mib,
        }
    })
}

/// Checks the memory bound: one response buffer of at most `MAX_RESPONSE` (plus, for a
/// response that completes, the body's copy into a `String`), and some slack for the
/// runtime's threads and the server's 1 MiB chunk.
fn check_memory(what: &str, growth: Option<f64>, bound_mib: f64) {
    let Some(growth) = growth else { return };
    println!("{what}: peak RSS grew by {growth:.1} MiB (bound {bound_mib} MiB)");
    if util::reliability::under_sanitizer() {
        println!("{what}: under a sanitizer: memory bound not checked");
        return;
    }
    assert!(
        growth <= bound_mib,
        "{what}: peak RSS grew by {growth:.1} MiB, more than the {bound_mib} MiB bound"
    );
}

/// 100 MiB after a valid head that announces them: the client stops at `MAX_RESPONSE`.
#[test]
fn a_hundred_mebibyte_response_is_one_invalid_data_error_with_bounded_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const BODY: usize = 100 * MIB;
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = accepted.clone();
    let server = HostileServer::start(1, move |mut s| {
        consume_request(&mut s);
        let sent = send_big(&mut s, &response_head(BODY), BODY, b'x');
        a.store(sent, std::sync::atomic::Ordering::Relaxed);
    });
    let start = Instant::now();
    let out = big_request("a 100 MiB response", server.addr, None);
    let took = start.elapsed();
    server.served();
    let err = out
        .result
        .expect_err("a 100 MiB response must not be accepted");
    assert!(err.starts_with("InvalidData: "), "{err}");
    assert!(
        err.contains(&MAX_RESPONSE.to_string()),
        "the error does not name the limit: {err}"
    );
    assert!(out.then_ok, "the loop did not go on after the error");
    let accepted = accepted.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        accepted < BODY,
        "the server could send all 100 MiB: the client kept reading"
    );
    println!(
        "100 MiB response: error after the server sent {} MiB, in {took:?}",
        accepted / MIB
    );
    // One buffer of at most 64 MiB, plus slack; reading all 100 MiB would exceed it.
    check_memory(
        "100 MiB response",
        out.peak_growth_mib,
        (MAX_RESPONSE / MIB) as f64 + 16.0,
    );
}

/// 100 MiB of garbage with no end of headers: the same bound, the same error.
#[test]
fn a_hundred_mebibytes_of_garbage_is_one_invalid_data_error_with_bounded_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const BODY: usize = 100 * MIB;
    let server = HostileServer::start(1, move |mut s| {
        consume_request(&mut s);
        send_big(&mut s, b"", BODY, b'\xff');
    });
    let out = big_request("100 MiB of garbage", server.addr, None);
    server.served();
    let err = out
        .result
        .expect_err("100 MiB of garbage must not be accepted");
    assert!(err.starts_with("InvalidData: "), "{err}");
    assert!(out.then_ok, "the loop did not go on after the error");
    check_memory(
        "100 MiB of garbage",
        out.peak_growth_mib,
        (MAX_RESPONSE / MIB) as f64 + 16.0,
    );
}

/// A response of exactly `MAX_RESPONSE` bytes, head included, is the largest accepted:
/// it arrives whole. One byte more is an error.
#[test]
fn a_response_of_exactly_the_limit_arrives_whole_and_one_byte_more_does_not() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // The head's length depends on the body's number of digits; both bodies have 8.
    let head_len = response_head(MAX_RESPONSE - 100).len();
    let body = MAX_RESPONSE - head_len;
    for (len, ok) in [(body, true), (body + 1, false)] {
        let server = HostileServer::start(1, move |mut s| {
            consume_request(&mut s);
            send_big(&mut s, &response_head(len), len, b'a');
        });
        let out = big_request("a response at the limit", server.addr, Some((len, b'a')));
        server.served();
        assert!(out.then_ok, "the loop did not go on");
        if ok {
            assert_eq!(
                out.result,
                Ok(body),
                "exactly MAX_RESPONSE bytes must arrive"
            );
            // The 64 MiB buffer, and the body's copy into the `String` the callback gets.
            check_memory(
                "a response of exactly 64 MiB",
                out.peak_growth_mib,
                2.0 * (MAX_RESPONSE / MIB) as f64 + 16.0,
            );
        } else {
            let err = out
                .result
                .expect_err("one byte over MAX_RESPONSE must be an error");
            assert!(err.starts_with("InvalidData: "), "{err}");
        }
    }
}
