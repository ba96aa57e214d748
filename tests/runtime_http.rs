//! `Io::http_get_slow`: the non-blocking HTTP client and the built-in delay server.
//!
//! Rules: the built-in server answers `slow response for http://<url>\n` after the delay,
//! offline (FIX(book) R11); the loop keeps running while a response is on its way, and
//! starting requests does not stall it (R10); responses arrive in delay order however the
//! requests were made; a large response arrives whole; a refused connection, a server that
//! hangs up and a server that answers garbage each reach the callback once, as
//! `Js::Error`, and the loop goes on; the URL reaches the server as given.

mod util;

use std::net::SocketAddr;
use std::time::Duration;

use node_experiment::runtime::{Io, Js, set_timeout};
use util::runtime::{FakeServer, Log, builder, run_logged};
use util::{SLACK, answer_and_close, dead_addr};

/// A callback that records the body (or the error kind) under `label`.
fn record(log: &Log, label: &str) -> impl FnOnce(Js) + 'static {
    let (log, label) = (log.clone(), label.to_string());
    move |js| match js {
        Js::String(body) => log.push(format!("{label}: {body}")),
        Js::Error(e) => log.push(format!("{label}: error {:?}", e.kind())),
        other => log.push(format!("{label}: unexpected {other:?}")),
    }
}

/// FIX(book) R11: the book's slow service is gone; the runtime starts its own on loopback.
#[test]
fn the_built_in_delay_server_answers_offline_after_the_delay() {
    const DELAY: u32 = 50;
    let trace = run_logged("one request to the built-in server", builder(), |log| {
        log.push("sent");
        Io::http_get_slow("www.example.com/a?b=c", DELAY, record(log, "response"));
    });
    let body = "response: slow response for http://www.example.com/a?b=c\n";
    assert_eq!(trace.labels(), ["sent", body]);
    let took = trace.at(body) - trace.at("sent");
    assert!(
        took >= Duration::from_millis(DELAY.into()),
        "answered after {took:?}"
    );
    assert!(
        took < Duration::from_millis(DELAY.into()) + SLACK,
        "answered after {took:?}"
    );
}

/// FIX(book) R10: the book read the response with a blocking `read_to_string` on the
/// loop's thread, so nothing else ran until it arrived. A 20 ms timer must fire on time
/// while a 400 ms response is on its way.
#[test]
fn a_slow_response_does_not_block_the_loop() {
    let trace = run_logged("a timer beside a slow response", builder(), |log| {
        log.push("sent");
        Io::http_get_slow("slow.example", 400, record(log, "response"));
        set_timeout(20, log.cb("timer"));
    });
    assert_eq!(
        trace.labels(),
        [
            "sent",
            "timer",
            "response: slow response for http://slow.example\n"
        ]
    );
    let timer = trace.at("timer") - trace.at("sent");
    assert!(
        timer < Duration::from_millis(400),
        "the 20 ms timer fired after {timer:?}, not before the 400 ms response"
    );
}

/// 100 requests in flight at once, made in a shuffled order: the responses arrive in the
/// order of their delays.
///
/// The delays are `GAP` apart. The delay server starts each delay when it reads the
/// request, so two requests can swap only if it read them further apart than their delays
/// differ. Natively, sending all hundred takes a few milliseconds and the order is exactly
/// the delays' order. Where sending is slow (Windows connects synchronously, and under
/// Wine a connect costs about a millisecond), neighbours closer than the time it took to
/// send everything may swap; every pair further apart than that must still keep its order.
#[test]
fn concurrent_requests_complete_in_delay_order() {
    const N: u32 = 100;
    const GAP: u32 = 15;
    /// How much later than the last send the server may read a request.
    const READ_SLACK: Duration = Duration::from_millis(20);
    let mut delays: Vec<u32> = (0..N).map(|i| i * GAP).collect();
    util::Rng::new(0x5eed).shuffle(&mut delays);
    let trace = run_logged("100 requests with shuffled delays", builder(), move |log| {
        log.push("sending");
        for d in delays {
            Io::http_get_slow(&format!("req{d}"), d, record(log, &format!("{d}")));
        }
        log.push("sent");
    });
    let spread = trace.at("sent") - trace.at("sending") + READ_SLACK;
    let arrived: Vec<u32> = trace
        .labels()
        .iter()
        .filter(|l| !l.starts_with("sen"))
        .map(|l| {
            let (d, body) = l.split_once(": ").expect("a response label");
            let d: u32 = d.parse().expect("a delay");
            assert_eq!(body, format!("slow response for http://req{d}\n"));
            d
        })
        .collect();
    let mut sorted = arrived.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..N).map(|i| i * GAP).collect::<Vec<_>>(),
        "each once"
    );
    for (i, a) in arrived.iter().enumerate() {
        for b in &arrived[i + 1..] {
            // `b` arrived after `a`: fine unless `b`'s delay is shorter by more than the
            // time the sends were spread over.
            assert!(
                Duration::from_millis(u64::from(a.saturating_sub(*b))) <= spread,
                "the {b} ms response arrived after the {a} ms one (sends spread over {spread:?}): {arrived:?}"
            );
        }
    }
}

/// FIX(book) R10 asks for a connect that does not stall the loop. A synchronous connect
/// is fast on loopback, but a thousand requests at once can overflow the delay server's
/// listen backlog (std listens with 128); a connect whose SYN was dropped then waits the
/// kernel's 1 s retransmission timeout, and the program's thread with it. The runtime
/// connects without blocking, so starting the requests takes no time at all.
///
/// Checked loosely: main, which only starts the requests, must be done within [`SLACK`],
/// and every callback must run once, with a body or an error (with a low descriptor limit
/// some connects fail at once, which is fine here).
///
/// On Windows (under Wine, where CI runs it) the bound is [`WINDOWS_BOUND`]: the connect
/// is a `ConnectEx` there and does not wait either, but every socket call goes through
/// Wine's server process, and creating, binding and registering 1,000 sockets took main
/// 0.70–0.89 s of the 1 s [`SLACK`] (a synchronous connect took 1.04–1.21 s).
/// Main's bound on Windows: three times [`SLACK`]. Still far below what a connect that
/// waits for a dropped handshake costs (a second each, and a full backlog drops many).
const WINDOWS_BOUND: Duration = Duration::from_secs(3);

#[test]
fn many_concurrent_requests_do_not_stall_the_program() {
    const N: usize = 1000;
    let trace = run_logged("a thousand requests at once", builder(), |log| {
        log.push("main start");
        for i in 0..N {
            Io::http_get_slow(&format!("r{i}"), 0, log.cb("callback"));
        }
        log.push("main end");
    });
    assert_eq!(trace.count("callback"), N);
    let main = trace.at("main end") - trace.at("main start");
    let bound = if cfg!(windows) { WINDOWS_BOUND } else { SLACK };
    assert!(
        main < bound,
        "starting {N} requests kept the program's thread busy for {main:?}"
    );
}

/// A response far larger than one read (and than the socket buffers) arrives whole: the
/// client reads until `WouldBlock`, re-arms, and goes on.
#[test]
fn a_response_of_one_mebibyte_arrives_whole() {
    const LEN: usize = 1 << 20;
    let body: String = (0..LEN)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {LEN}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    let server = FakeServer::start(1, move |s| answer_and_close(s, &response));
    let addr = server.addr;
    let trace = run_logged(
        "a 1 MiB response",
        builder().delay_server(addr),
        move |log| {
            let l = log.clone();
            Io::http_get_slow("big.example", 0, move |js| {
                let got = js.into_string().expect("the body as text");
                l.push(format!("{} bytes", got.len()));
                l.push(if got == body { "intact" } else { "corrupted" });
            });
        },
    );
    assert_eq!(trace.labels(), [format!("{LEN} bytes"), "intact".into()]);
    assert_eq!(
        server.request_lines(),
        ["GET /delay/0/url/http://big.example HTTP/1.1"],
        "the request follows the delay server's path format"
    );
}

/// The URL goes into the request line as it is. A space there ends the request target,
/// and a line break starts a header of the caller's choosing, so the server sees another
/// request than the one asked for. Node's `http.get` refuses such a path
/// (`ERR_UNESCAPED_CHARACTERS`). Either answer is right: an error, or the response for
/// exactly the URL given; a response for a shorter URL is not.
#[test]
fn a_url_is_never_cut_short_or_turned_into_headers() {
    let urls = ["two words", "line\r\nX-Injected: 1", "tab\there"];
    let trace = run_logged("URLs with blanks and line breaks", builder(), move |log| {
        for url in urls {
            Io::http_get_slow(url, 0, record(log, url));
        }
        set_timeout(50, log.cb("the loop goes on"));
    });
    let mut labels = trace.labels();
    assert_eq!(labels.pop().as_deref(), Some("the loop goes on"));
    for url in urls {
        let got: Vec<&String> = labels
            .iter()
            .filter(|l| l.starts_with(&format!("{url}: ")))
            .collect();
        assert_eq!(got.len(), 1, "{url:?}: {labels:?}");
        let exact = format!("{url}: slow response for http://{url}\n");
        assert!(
            *got[0] == exact || got[0].starts_with(&format!("{url}: error ")),
            "{url:?} got {:?}",
            got[0]
        );
    }
}

/// Makes a request to `addr` that must fail, then one to the built-in server that must
/// work: the error reaches its callback once, and the loop goes on. Returns the error's
/// kind, as `Debug` text.
fn fails_once_then_loop_goes_on(what: &str, addr: SocketAddr) -> String {
    let trace = run_logged(what, builder(), move |log| {
        let l = log.clone();
        Io::http_get_slow_from(addr, "bad.example", 0, move |js| {
            match js.into_error() {
                Some(e) => l.push(format!("{:?}", e.kind())),
                None => l.push("not an error"),
            }
            Io::http_get_slow("good.example", 10, record(&l, "then"));
        });
    });
    let labels = trace.labels();
    assert_eq!(labels.len(), 2, "{what}: {labels:?}");
    assert_eq!(
        labels[1], "then: slow response for http://good.example\n",
        "{what}"
    );
    labels[0].clone()
}

#[test]
fn a_refused_connection_reaches_the_callback_once_as_an_error() {
    let kind = fails_once_then_loop_goes_on("a refused connection", dead_addr());
    assert_eq!(kind, "ConnectionRefused");
}

#[test]
fn a_server_that_closes_without_answering_is_an_error() {
    let server = FakeServer::start(1, |_| {});
    let kind = fails_once_then_loop_goes_on("a server that hangs up", server.addr);
    assert!(
        kind == "UnexpectedEof" || kind == "ConnectionReset",
        "{kind}"
    );
    assert_eq!(server.request_lines().len(), 1);
}

#[test]
fn a_server_that_answers_garbage_is_an_error() {
    let server = FakeServer::start(1, |s| {
        answer_and_close(s, b"this is not HTTP\r\nat all\r\n\r\n");
    });
    let kind = fails_once_then_loop_goes_on("a server that answers garbage", server.addr);
    assert_eq!(kind, "InvalidData");
    assert_eq!(server.request_lines().len(), 1);
}

#[test]
fn an_error_status_is_an_error() {
    let server = FakeServer::start(1, |s| {
        answer_and_close(
            s,
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n",
        );
    });
    let kind = fails_once_then_loop_goes_on("a 503 answer", server.addr);
    assert_ne!(kind, "not an error");
    assert_eq!(server.request_lines().len(), 1);
}

/// A body cut short of its `Content-Length` is an error, not a short string.
#[test]
fn a_truncated_body_is_an_error() {
    let server = FakeServer::start(1, |s| {
        answer_and_close(
            s,
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly this",
        );
    });
    let kind = fails_once_then_loop_goes_on("a truncated body", server.addr);
    assert_eq!(kind, "UnexpectedEof");
    assert_eq!(server.request_lines().len(), 1);
}
