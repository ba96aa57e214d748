//! Starting a TCP connection without waiting for it: `socket(2)` + non-blocking
//! `connect(2)`, by hand.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "The TcpStream" (the book
//! only connects synchronously).
//!
//! `std::net::TcpStream::connect` waits for the TCP handshake. Usually that is a few
//! microseconds on loopback, but not always: when the server's queue of finished
//! handshakes (its listen backlog) is full, the kernel drops the handshake and the
//! client's kernel retries it a full second later. A loop that connects on its own thread
//! would freeze for that second. A non-blocking `connect` returns at once with
//! `EINPROGRESS`; the socket becomes *writable* when the handshake ends, and `SO_ERROR`
//! then says whether it succeeded. That is how mio and libuv connect.
//!
//! This is the one place besides the backends that knows an OS's numbers: `sockaddr`
//! layouts differ (the BSDs start them with a length byte), and so do `AF_INET6` and
//! `EINPROGRESS`. It depends on the OS, not on the event backend, so the kqueue backend
//! running on Linux through libkqueue uses the Linux numbers here.
//!
//! Windows keeps the same contract another way, in the IOCP backend
//! (`iocp/connect.rs`): IOCP has no readiness to wait on, so the connect is an overlapped
//! `ConnectEx`, whose completion is the writable event. `ConnectEx` needs a socket that is
//! bound and associated with the `Poll`'s completion port, and a socket is associated only
//! when it is registered: so there [`start_connect`] creates and binds the socket, and the
//! first `register` starts the connect. A stream that is never registered never connects.

use std::io;
use std::net::SocketAddr;

use super::TcpStream;

/// Creates a non-blocking socket for `addr` and starts connecting it. The stream may
/// still be connecting: wait until it is writable, then check `take_error()`.
#[cfg(unix)]
pub(crate) fn start_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    TcpStream::from_std(unix::start_connect(addr)?)
}

/// Creates a non-blocking socket for `addr`, bound, which starts connecting at its first
/// `register` (see the module docs).
#[cfg(windows)]
pub(crate) fn start_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let (inner, state) = super::sys::start_connect(addr)?;
    Ok(TcpStream { state, inner })
}

#[cfg(unix)]
mod unix {
    use std::io;
    use std::net::{self, SocketAddr};
    use std::os::fd::{FromRawFd, OwnedFd};

    #[allow(non_camel_case_types)]
    mod ffi {
        // <sys/socket.h>, <netinet/in.h>, <errno.h>, <fcntl.h> of each OS.
        pub const AF_INET: i32 = 2;
        #[cfg(target_os = "linux")]
        pub const AF_INET6: i32 = 10;
        #[cfg(any(target_os = "macos", target_os = "ios"))]
        pub const AF_INET6: i32 = 30;
        #[cfg(target_os = "freebsd")]
        pub const AF_INET6: i32 = 28;
        pub const SOCK_STREAM: i32 = 1;

        #[cfg(target_os = "linux")]
        pub const EINPROGRESS: i32 = 115;
        #[cfg(not(target_os = "linux"))]
        pub const EINPROGRESS: i32 = 36;
        /// A signal during a non-blocking connect: the handshake goes on regardless.
        pub const EINTR: i32 = 4;

        pub const F_SETFD: i32 = 2;
        pub const FD_CLOEXEC: i32 = 1;

        /// `struct sockaddr_in`. On the BSDs it starts with its own length.
        #[repr(C)]
        pub struct sockaddr_in {
            #[cfg(not(target_os = "linux"))]
            pub sin_len: u8,
            #[cfg(not(target_os = "linux"))]
            pub sin_family: u8,
            #[cfg(target_os = "linux")]
            pub sin_family: u16,
            /// Network byte order.
            pub sin_port: u16,
            /// Network byte order.
            pub sin_addr: [u8; 4],
            pub sin_zero: [u8; 8],
        }

        /// `struct sockaddr_in6`, the same way.
        #[repr(C)]
        pub struct sockaddr_in6 {
            #[cfg(not(target_os = "linux"))]
            pub sin6_len: u8,
            #[cfg(not(target_os = "linux"))]
            pub sin6_family: u8,
            #[cfg(target_os = "linux")]
            pub sin6_family: u16,
            pub sin6_port: u16,
            pub sin6_flowinfo: u32,
            pub sin6_addr: [u8; 16],
            pub sin6_scope_id: u32,
        }

        const _: () = assert!(std::mem::size_of::<sockaddr_in>() == 16);
        const _: () = assert!(std::mem::size_of::<sockaddr_in6>() == 28);

        #[link(name = "c")]
        unsafe extern "C" {
            pub fn socket(domain: i32, ty: i32, protocol: i32) -> i32;
            /// `addr` points to a `sockaddr_in` or `sockaddr_in6`; `len` is its size.
            pub fn connect(fd: i32, addr: *const u8, len: u32) -> i32;
            pub fn fcntl(fd: i32, cmd: i32, ...) -> i32;
        }
    }

    /// Creates a socket for `addr`, makes it non-blocking and close-on-exec, and starts
    /// connecting it. The returned stream may still be connecting: wait until it is
    /// writable, then check `take_error()`.
    pub(crate) fn start_connect(addr: SocketAddr) -> io::Result<net::TcpStream> {
        let domain = match addr {
            SocketAddr::V4(_) => ffi::AF_INET,
            SocketAddr::V6(_) => ffi::AF_INET6,
        };
        // SAFETY: socket takes three integers and touches no memory of ours.
        let fd = unsafe { ffi::socket(domain, ffi::SOCK_STREAM, 0) };
        if fd == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by a successful `socket`: open and owned by
        // nobody else. From here on `OwnedFd` closes it on every path.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let fd_num = std::os::fd::AsRawFd::as_raw_fd(&fd);
        // Close-on-exec, so a child process does not inherit the connection. (Linux and
        // FreeBSD could ask for it in `socket`'s flags; macOS cannot, so all do it alike.)
        // SAFETY: fcntl(F_SETFD) takes one integer argument, which we pass, on a
        // descriptor we own.
        if unsafe { ffi::fcntl(fd_num, ffi::F_SETFD, ffi::FD_CLOEXEC) } == -1 {
            return Err(io::Error::last_os_error());
        }
        let stream = net::TcpStream::from(fd);
        stream.set_nonblocking(true)?;

        let ret = match addr {
            SocketAddr::V4(a) => {
                let raw = ffi::sockaddr_in {
                    #[cfg(not(target_os = "linux"))]
                    sin_len: std::mem::size_of::<ffi::sockaddr_in>() as u8,
                    sin_family: ffi::AF_INET as _,
                    sin_port: a.port().to_be(),
                    sin_addr: a.ip().octets(),
                    sin_zero: [0; 8],
                };
                // SAFETY: `raw` is a valid `sockaddr_in` that lives across the call, and
                // we pass its exact size; the kernel only reads it.
                unsafe {
                    ffi::connect(
                        fd_num,
                        (&raw as *const ffi::sockaddr_in).cast(),
                        std::mem::size_of_val(&raw) as u32,
                    )
                }
            }
            SocketAddr::V6(a) => {
                let raw = ffi::sockaddr_in6 {
                    #[cfg(not(target_os = "linux"))]
                    sin6_len: std::mem::size_of::<ffi::sockaddr_in6>() as u8,
                    sin6_family: ffi::AF_INET6 as _,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo().to_be(),
                    sin6_addr: a.ip().octets(),
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above, for a `sockaddr_in6`.
                unsafe {
                    ffi::connect(
                        fd_num,
                        (&raw as *const ffi::sockaddr_in6).cast(),
                        std::mem::size_of_val(&raw) as u32,
                    )
                }
            }
        };
        if ret == -1 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(ffi::EINPROGRESS) | Some(ffi::EINTR) => {}
                // Refused at once, or unreachable: the caller learns it now.
                _ => return Err(err),
            }
        }
        Ok(stream)
    }
}

// On Windows the connect starts at registration: see tests/minimio_connect.rs, which
// checks the same two behaviours through the public API on every platform.
#[cfg(all(test, unix))]
mod tests {
    use super::unix::start_connect;
    use std::io::{self, Read, Write};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    /// Waits (bounded) until a started connect has finished one way or the other.
    fn finish(stream: &std::net::TcpStream) -> io::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(e) = stream.take_error()? {
                return Err(e);
            }
            match stream.peer_addr() {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => return Err(e),
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "connect never finished"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_started_connect_finishes_and_carries_data() -> io::Result<()> {
        // IPv6 loopback is missing on some machines; IPv4 is always tested.
        let listeners = [
            TcpListener::bind("127.0.0.1:0"),
            TcpListener::bind("[::1]:0"),
        ];
        for (i, listener) in listeners.into_iter().enumerate() {
            let listener = match listener {
                Ok(l) => l,
                Err(_) if i == 1 => continue,
                Err(e) => return Err(e),
            };
            let mut stream = start_connect(listener.local_addr()?)?;
            let (mut peer, _) = listener.accept()?;
            finish(&stream)?;
            peer.write_all(b"hi")?;
            let mut buf = [0; 2];
            let start = Instant::now();
            loop {
                match stream.read(&mut buf) {
                    Ok(2) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        assert!(start.elapsed() < Duration::from_secs(5));
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    other => panic!("unexpected read result {other:?}"),
                }
            }
            assert_eq!(&buf, b"hi");
        }
        Ok(())
    }

    #[test]
    fn a_refused_connect_is_an_error_now_or_when_it_finishes() -> io::Result<()> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?; // closed at once
        let result = start_connect(addr).and_then(|s| finish(&s));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
        Ok(())
    }
}
