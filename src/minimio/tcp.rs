//! A non-blocking TCP stream that can be registered with a [`Poll`](super::Poll).
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "The TcpStream"; used by
//! `Io::http_get_slow` in "Implementing the Node Eventloop".
//!
//! It wraps `std::net::TcpStream` and keeps it non-blocking for its whole life: a read with
//! nothing to read returns `ErrorKind::WouldBlock` at once. The pattern every user follows
//! is: wait for a readable event, read until `WouldBlock`, re-arm, wait again.
//!
//! FIX(book) M3: the book switched the socket back to blocking mode before reading, so a
//! second read (or a peer that keeps the connection open) blocked the thread forever.
//! Nothing here ever makes the socket blocking again.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};

use super::sys;

/// A TCP connection whose reads and writes never block.
///
/// Register it with [`Registrator::register`](super::Registrator::register). Dropping it
/// closes the socket, which also removes any registration it had, so a new socket that the
/// OS gives the same number starts clean.
pub struct TcpStream {
    // Field order matters: fields drop in declaration order, and a backend's per-socket
    // state (IOCP's pending operations) must be released while the socket is still open.
    pub(crate) state: sys::StreamState,
    pub(crate) inner: net::TcpStream,
}

impl TcpStream {
    /// Connects to `addr` and returns a non-blocking stream.
    ///
    /// SIMPLIFICATION: the TCP handshake (and any DNS lookup `addr` needs) happens here,
    /// synchronously, as in the book; only later reads and writes are non-blocking. On
    /// loopback that usually takes microseconds, but a server with a full listen backlog
    /// makes it wait a second or more. [`TcpStream::connect_nonblocking`] does it the way
    /// mio does: it starts the handshake and reports its end as a writable event.
    ///
    /// # Errors
    ///
    /// Whatever the connect fails with (for example `ConnectionRefused`).
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        TcpStream::from_std(net::TcpStream::connect(addr)?)
    }

    /// Starts connecting to `addr` and returns at once, while the TCP handshake goes on.
    ///
    /// Register the stream for [`Interests::WRITABLE`](super::Interests::WRITABLE): the
    /// event comes when the handshake has ended, and then [`TcpStream::take_error`] says
    /// whether it failed (`Ok(None)`: connected). This is how mio and libuv connect, and
    /// it never blocks the caller, not even when the server's backlog is full and the
    /// kernel has to retry the handshake a second later.
    ///
    /// Until then, reads and writes do not block either (they fail, with `WouldBlock` on
    /// Linux and Windows), and `peer_addr` fails with `NotConnected`.
    ///
    /// On Windows the stream must be registered for the connect to happen at all: IOCP
    /// reports the end of a connect only as the completion of `ConnectEx`, which needs the
    /// socket associated with the `Poll`'s completion port, and that happens at the first
    /// `register`. So there this only creates and binds the socket, `register` starts the
    /// handshake, and **a stream that is never registered never connects** (mio 0.6,
    /// built on IOCP too, deferred its Windows connect to registration in the same way).
    /// Dropping the stream, or its `Poll`, aborts a connect in progress; `deregister`
    /// does not, as on the other platforms.
    ///
    /// # Errors
    ///
    /// An error the OS reports at once (for example `ConnectionRefused` on loopback, on
    /// Linux); later errors arrive through `take_error` after the writable event. On
    /// Windows every connect error arrives that way.
    pub fn connect_nonblocking(addr: SocketAddr) -> io::Result<TcpStream> {
        super::net::start_connect(addr)
    }

    /// Takes over a connected std stream and makes it non-blocking.
    ///
    /// # Errors
    ///
    /// If the OS refuses to make the socket non-blocking.
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            state: sys::StreamState::default(),
            inner: stream,
        })
    }

    /// The address of the peer.
    ///
    /// # Errors
    ///
    /// If the socket is not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address of this end.
    ///
    /// # Errors
    ///
    /// What the OS reports.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// # Errors
    ///
    /// What the OS reports.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    ///
    /// # Errors
    ///
    /// What the OS reports.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any; on Windows also the error
    /// a [`connect_nonblocking`](TcpStream::connect_nonblocking) failed with.
    ///
    /// # Errors
    ///
    /// If the error could not be read.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        // `ConnectEx` reports its failure in its completion, not (reliably) in `SO_ERROR`;
        // the IOCP backend keeps it until it is taken here, once, as on Unix. After that
        // a socket that never connected has nothing more to report, whatever `SO_ERROR`
        // says (Wine 8 keeps the failure there, and reading it does not clear it).
        #[cfg(windows)]
        if let Some(connect_error) = self.state.take_connect_error() {
            return Ok(connect_error);
        }
        self.inner.take_error()
    }

    /// `Err(WouldBlock)` while a [`connect_nonblocking`](TcpStream::connect_nonblocking)
    /// has not ended. On Windows the IOCP backend knows (its `ConnectEx` has not come back),
    /// and answers before Winsock is asked; see `iocp/sock.rs` for why. On Unix the OS
    /// answers by itself (Linux: `WouldBlock`).
    #[cfg(windows)]
    fn connecting_would_block(&self) -> io::Result<()> {
        if self.state.is_connecting() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    }

    #[cfg(not(windows))]
    fn connecting_would_block(&self) -> io::Result<()> {
        Ok(())
    }
}

impl From<net::TcpStream> for TcpStream {
    /// Takes over a std stream and makes it non-blocking.
    ///
    /// Prefer [`TcpStream::from_std`], which reports an error. Making an open socket
    /// non-blocking fails only for an invalid descriptor, which an owned `std` stream
    /// cannot be; should it fail anyway, the failure reappears at the first read or write.
    fn from(stream: net::TcpStream) -> TcpStream {
        // Cannot fail for a valid, owned socket (see above); `from_std` is the checked way.
        let _ = stream.set_nonblocking(true);
        TcpStream {
            state: sys::StreamState::default(),
            inner: stream,
        }
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.connecting_would_block()?;
        (&self.inner).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.connecting_would_block()?;
        (&self.inner).read_vectored(bufs)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.connecting_would_block()?;
        (&self.inner).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.connecting_would_block()?;
        (&self.inner).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.connecting_would_block()?;
        (&self.inner).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.connecting_would_block()?;
        (&self.inner).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&self.inner).flush()
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.connecting_would_block()?;
        (&self.inner).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.connecting_would_block()?;
        (&self.inner).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&self.inner).flush()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for TcpStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for TcpStream {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        self.inner.as_raw_socket()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for TcpStream {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.inner.as_socket()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("inner", &self.inner)
            .field("state", &self.state)
            .finish()
    }
}
