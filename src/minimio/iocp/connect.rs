//! Connecting without blocking: a bound socket, and `ConnectEx` started at registration.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "IOCP" (the book only
//! connects synchronously, with `std::net::TcpStream::connect`).
//!
//! On epoll and kqueue a non-blocking `connect(2)` returns at once and the socket becomes
//! *writable* when the handshake ends (`src/minimio/net.rs`). Winsock's `connect` can be
//! non-blocking too, but IOCP has no readiness to wait on: the zero-byte `WSASend` that
//! stands for "writable" fails at once with `WSAENOTCONN` on a socket that is not
//! connected yet. So the connect itself must be an overlapped operation whose completion
//! is the writable event, and that is `ConnectEx` (MSDN, "LPFN_CONNECTEX callback
//! function"). libuv connects TCP on Windows the same way.
//!
//! `ConnectEx` asks three things of its socket, and each decides where code sits:
//! - It is a Microsoft extension, not an export of `ws2_32.dll`: the function's address is
//!   asked of the socket's provider with `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)`
//!   and `WSAID_CONNECTEX`. We ask once per process, as libuv does; every TCP socket here
//!   comes from the same provider.
//! - The socket must be *bound* (MSDN lists `WSAEINVAL` for an unbound socket), so
//!   [`start_connect`] binds it to the unspecified address of the target's family, port 0,
//!   which is what a plain `connect` does implicitly.
//! - Its completion goes to the socket's completion port, and a socket is associated with
//!   a port only at its first `register` (see "A socket belongs to one port, forever" in
//!   the module docs). So [`start_connect`] only creates and binds the socket and records
//!   the target; the first `register` starts `ConnectEx`, with the ownership rules of any
//!   other [`Op`]. A stream that is never registered never connects (mio 0.6, built on
//!   IOCP too, had the same rule).
//!
//! When it comes back, [`Selector::connect_done`] finishes the connect the way MSDN asks
//! (`SO_UPDATE_CONNECT_CONTEXT`, without which `getpeername`, `shutdown` and friends fail
//! on the socket), then reports it like epoll would: writable if it succeeded, error
//! flags if not, with the Winsock error kept for `TcpStream::take_error`. Until then no
//! zero-byte operation is started, and reads and writes say `WouldBlock`. After a failed
//! connect the socket is simply not connected: reads and writes fail (or read 0) as
//! Winsock decides, and `take_error` says why.

use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::windows::io::{FromRawSocket, RawSocket};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use super::ffi;
use super::op::{Op, connect_flags};
use super::sock::{Connect, SockState, StreamState};
use super::{Selector, Token};

/// Creates a non-blocking, overlapped TCP socket for `addr`'s family, binds it to the
/// unspecified address (port 0), and returns it with the backend state that makes the
/// first `register` start `ConnectEx` to `addr`.
pub(crate) fn start_connect(addr: SocketAddr) -> io::Result<(net::TcpStream, StreamState)> {
    startup()?;
    let (target, _) = sockaddr(addr);
    // SAFETY: `si_family` is the first field of both variants, always written.
    let family = unsafe { target.si_family };
    // Overlapped, so it can be used with a completion port; not inherited by child
    // processes. std creates its sockets with the same two flags.
    // SAFETY: plain integers and a null protocol info (allowed: MSDN "WSASocketW").
    let socket = unsafe {
        ffi::WSASocketW(
            i32::from(family),
            ffi::SOCK_STREAM,
            ffi::IPPROTO_TCP,
            ptr::null_mut(),
            0,
            ffi::WSA_FLAG_OVERLAPPED | ffi::WSA_FLAG_NO_HANDLE_INHERIT,
        )
    };
    if socket == ffi::INVALID_SOCKET {
        return Err(last_wsa_error());
    }
    // SAFETY: `socket` was just created and is owned by nobody else; from here on the std
    // stream closes it on every path.
    let stream = unsafe { net::TcpStream::from_raw_socket(socket as RawSocket) };
    stream.set_nonblocking(true)?;
    let unspecified = match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let (local, len) = sockaddr(unspecified);
    // SAFETY: `local` is a valid address of `len` bytes that lives across the call; the
    // socket is open.
    if unsafe { ffi::bind(socket, (&raw const local).cast(), len) } != 0 {
        return Err(last_wsa_error());
    }
    // Asked now, so that a provider without `ConnectEx` fails here and not at `register`.
    connect_ex_fn(socket)?;
    Ok((stream, StreamState::connecting(socket, target)))
}

/// Starts `ConnectEx` on `sock` to its `connect_to`. Returns 0 if it has started (or
/// finished already: an entry is queued either way), and otherwise nonzero with the
/// error in `WSAGetLastError`, like `WSARecv`.
///
/// # Safety
///
/// As for `WSARecv` in `Selector::start`: the socket is open and associated with the
/// port, and `overlapped` is an `Op` that the kernel owns until its entry is dequeued.
pub(super) unsafe fn connect_ex(sock: &SockState, overlapped: *mut ffi::OVERLAPPED) -> i32 {
    // No target: not a stream from `start_connect`, which `start_missing` never asks
    // for. No `ConnectEx`: `start_connect` has looked it up already, so this cannot fail.
    let found = match (sock.connect_to.as_ref(), connect_ex_fn(sock.socket)) {
        (Some(target), Ok(connect_ex)) => Ok((target, connect_ex)),
        (None, _) => Err(ffi::WSAEINVAL),
        (_, Err(e)) => Err(e.raw_os_error().unwrap_or(ffi::WSAEINVAL)),
    };
    let (target, connect_ex) = match found {
        Ok(found) => found,
        Err(code) => {
            // SAFETY: sets a thread-local integer.
            unsafe { ffi::WSASetLastError(code) };
            return -1;
        }
    };
    // SAFETY: `target` lives in `sock`, which the `Op` keeps alive (it holds an `Arc`)
    // until its entry is dequeued, and is never changed: MSDN does not say when `ConnectEx`
    // has read the address, so it must outlive the operation. No data is sent with the
    // connect, so the send buffer and its byte count are null (MSDN: "ignored if the
    // lpSendBuffer parameter is NULL"). The rest is the caller's promise.
    let ok = unsafe {
        connect_ex(
            sock.socket,
            (target as *const ffi::SOCKADDR_INET).cast(),
            sockaddr_len(target),
            ptr::null(),
            0,
            ptr::null_mut(),
            overlapped,
        )
    };
    if ok != 0 { 0 } else { -1 }
}

impl Selector {
    /// Settles a `ConnectEx` that came back: records how it ended and, if the current
    /// registration is armed, reports it.
    ///
    /// The generation is not checked: `deregister` does not abort a connect (see
    /// `SockState::cancel_all`), so its completion is judged against whatever
    /// registration is current when it arrives. A stream or `Poll` that was dropped has no
    /// registration left, so an aborted connect is silent.
    pub(super) fn connect_done(&self, op: &Op) -> Option<(Token, u8)> {
        let sock = &op.sock;
        let mut st = sock.lock();
        let error = if op.immediate_error != 0 {
            op.immediate_error
        } else if !st.socket_open {
            // The stream is gone (it aborted the connect); nobody will ask.
            return None;
        } else {
            // SAFETY: the socket is open (checked under the lock its stream's drop takes)
            // and the `Op` is ours again: its entry has been dequeued.
            unsafe { finish(sock.socket, op) }
        };
        st.connect = match error {
            0 => Connect::Done,
            e => Connect::Failed(Some(e)),
        };
        sock.connecting.store(false, Ordering::Release);
        let reg = st.registration?;
        if !reg.armed {
            return None;
        }
        if error == 0 && !reg.interests.is_writable() {
            // Armed for READABLE only: a finished handshake is no data. Wait for some, as
            // on any connected socket. (Only if the port cannot queue an entry does this
            // fail; then an event, spurious but harmless, is better than a hang.)
            if self.start_missing(sock, &mut st).is_ok() {
                return None;
            }
        }
        if let Some(reg) = st.registration.as_mut() {
            reg.armed = false;
        }
        Some((reg.token, connect_flags(error)))
    }
}

/// The Winsock error a finished `ConnectEx` ended with (0: connected), and, if it
/// connected, the socket made a fully connected one.
///
/// # Safety
///
/// `socket` is open and `op` has been dequeued (the kernel no longer writes it).
unsafe fn finish(socket: ffi::SOCKET, op: &Op) -> i32 {
    let (mut bytes, mut flags) = (0u32, 0u32);
    // `WSAGetOverlappedResult` turns the NTSTATUS the kernel left in `Internal` into the
    // Winsock error a synchronous call would have set (`STATUS_CONNECTION_REFUSED` into
    // `WSAECONNREFUSED`, ...), so no table of ours can miss one.
    // SAFETY: the caller's promise; the function only reads the `OVERLAPPED` (not
    // waiting: the operation has finished) and writes the two locals.
    let ok = unsafe {
        ffi::WSAGetOverlappedResult(
            socket,
            (&raw const op.overlapped).cast_mut(),
            &raw mut bytes,
            0,
            &raw mut flags,
        )
    };
    if ok == 0 {
        // SAFETY: reads a thread-local integer.
        return unsafe { ffi::WSAGetLastError() };
    }
    // MSDN, "ConnectEx", Remarks: the socket "is in the default state for a connected
    // socket" only after SO_UPDATE_CONNECT_CONTEXT; without it `getpeername`, `shutdown`
    // and others fail, and the runtime's HTTP client asks `peer_addr` first thing.
    // SAFETY: the socket is open; the option takes no value (null, length 0).
    let set = unsafe {
        ffi::setsockopt(
            socket,
            ffi::SOL_SOCKET,
            ffi::SO_UPDATE_CONNECT_CONTEXT,
            ptr::null(),
            0,
        )
    };
    if set != 0 {
        // SAFETY: reads a thread-local integer.
        return unsafe { ffi::WSAGetLastError() };
    }
    0
}

/// `ConnectEx`'s address, looked up once per process (see the module docs).
static CONNECT_EX: OnceLock<ffi::LPFN_CONNECTEX> = OnceLock::new();

fn connect_ex_fn(socket: ffi::SOCKET) -> io::Result<ffi::LPFN_CONNECTEX> {
    if let Some(f) = CONNECT_EX.get() {
        return Ok(*f);
    }
    let mut guid = ffi::WSAID_CONNECTEX;
    let mut f: Option<ffi::LPFN_CONNECTEX> = None;
    let mut bytes = 0u32;
    // SAFETY: a synchronous call (no OVERLAPPED) with an input and an output buffer that
    // live across it and whose sizes we pass; `Option<fn>` has the layout of the nullable
    // pointer Winsock writes (MSDN, "WSAIoctl", SIO_GET_EXTENSION_FUNCTION_POINTER).
    let ret = unsafe {
        ffi::WSAIoctl(
            socket,
            ffi::SIO_GET_EXTENSION_FUNCTION_POINTER,
            (&raw mut guid).cast(),
            size_of::<ffi::GUID>() as u32,
            (&raw mut f).cast(),
            size_of::<Option<ffi::LPFN_CONNECTEX>>() as u32,
            &raw mut bytes,
            ptr::null_mut(),
            None,
        )
    };
    if ret != 0 {
        return Err(last_wsa_error());
    }
    let f = f.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "this Winsock provider has no ConnectEx",
        )
    })?;
    Ok(*CONNECT_EX.get_or_init(|| f))
}

/// Initialises Winsock once per process. Every socket std creates does this too, but a
/// program's first socket may be ours. Never undone: `WSACleanup` only counts down, and
/// std leaves its own reference to the end of the process as well.
fn startup() -> io::Result<()> {
    static STARTED: OnceLock<i32> = OnceLock::new();
    let code = *STARTED.get_or_init(|| {
        // SAFETY: `zeroed` is a valid WSADATA (integers, byte arrays, a null pointer),
        // which `WSAStartup` fills in.
        let mut data = unsafe { std::mem::zeroed::<ffi::WSADATA>() };
        // SAFETY: a valid out-pointer to a WSADATA that lives across the call. The
        // return value is the error itself (MSDN, "WSAStartup").
        unsafe { ffi::WSAStartup(ffi::WINSOCK_VERSION_2_2, &raw mut data) }
    });
    match code {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// `addr` as Winsock's `SOCKADDR_INET`, and the length of the variant it holds.
fn sockaddr(addr: SocketAddr) -> (ffi::SOCKADDR_INET, i32) {
    let raw = match addr {
        SocketAddr::V4(a) => ffi::SOCKADDR_INET {
            Ipv4: ffi::SOCKADDR_IN {
                sin_family: ffi::AF_INET,
                sin_port: a.port().to_be(),
                sin_addr: a.ip().octets(),
                sin_zero: [0; 8],
            },
        },
        SocketAddr::V6(a) => ffi::SOCKADDR_INET {
            Ipv6: ffi::SOCKADDR_IN6 {
                sin6_family: ffi::AF_INET6,
                sin6_port: a.port().to_be(),
                // As std's own connect passes it (and it is 0 unless the caller set it).
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: a.ip().octets(),
                sin6_scope_id: a.scope_id(),
            },
        },
    };
    let len = sockaddr_len(&raw);
    (raw, len)
}

fn sockaddr_len(raw: &ffi::SOCKADDR_INET) -> i32 {
    // SAFETY: `si_family` overlays the first field of both variants, always written.
    match unsafe { raw.si_family } {
        ffi::AF_INET6 => size_of::<ffi::SOCKADDR_IN6>() as i32,
        _ => size_of::<ffi::SOCKADDR_IN>() as i32,
    }
}

fn last_wsa_error() -> io::Error {
    // SAFETY: reads a thread-local integer.
    io::Error::from_raw_os_error(unsafe { ffi::WSAGetLastError() })
}
