//! Hand-written bindings; names follow the Windows SDK headers so they can be looked up.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "IOCP" (the book's
//! `windows.rs`).
//!
//! Only what the backend calls: the completion port and its entries, `CancelIoEx`, the
//! zero-byte overlapped `WSARecv` / `WSASend`, the status codes their completions carry,
//! and what `connect.rs` needs to start a connect without blocking (`WSAStartup`,
//! `WSASocketW`, `bind`, `ConnectEx` found through `WSAIoctl`, `setsockopt`). Each struct is `#[repr(C)]` and its size is checked at compile time, so a wrong
//! layout fails `cargo check`.
#![allow(non_camel_case_types, non_snake_case, clippy::upper_case_acronyms)]

use std::ffi::c_void;

/// FIX(book) M11: `BOOL` is a C `int` (`minwindef.h`); a Rust `bool` is one byte and
/// may only hold 0 or 1, so reading a `BOOL` as `bool` is undefined behaviour.
pub type BOOL = i32;
pub type HANDLE = *mut c_void;
/// `winsock2.h`: `typedef UINT_PTR SOCKET`.
pub type SOCKET = usize;

pub const INVALID_HANDLE_VALUE: HANDLE = std::ptr::without_provenance_mut(usize::MAX);
pub const INFINITE: u32 = 0xFFFF_FFFF;
pub const WAIT_TIMEOUT: i32 = 258;
pub const WSA_IO_PENDING: i32 = 997;
/// `winsock2.h`: what `WSASocketW` returns when it fails (`~0`).
pub const INVALID_SOCKET: SOCKET = !0;
/// `winsock2.h`: Winsock 2.2, the version std asks `WSAStartup` for too.
pub const WINSOCK_VERSION_2_2: u16 = 0x0202;
// `ws2def.h` / `winsock2.h`.
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 23;
pub const SOCK_STREAM: i32 = 1;
pub const IPPROTO_TCP: i32 = 6;
pub const WSA_FLAG_OVERLAPPED: u32 = 0x01;
pub const WSA_FLAG_NO_HANDLE_INHERIT: u32 = 0x80;
pub const SOL_SOCKET: i32 = 0xFFFF;
/// `mswsock.h`: makes a socket connected by `ConnectEx` a fully connected socket.
pub const SO_UPDATE_CONNECT_CONTEXT: i32 = 0x7010;
/// `mswsock.h`: `_WSAIORW(IOC_WS2, 6)`.
pub const SIO_GET_EXTENSION_FUNCTION_POINTER: u32 = 0xC800_0006;
/// `mswsock.h`: the GUID that names `ConnectEx` for `SIO_GET_EXTENSION_FUNCTION_POINTER`.
pub const WSAID_CONNECTEX: GUID = GUID {
    Data1: 0x25a2_07b9,
    Data2: 0xddf3,
    Data3: 0x4660,
    Data4: [0x8e, 0xe9, 0x76, 0xe5, 0x8c, 0x74, 0x06, 0x3e],
};

/// `winerror.h`: an invalid argument (here: an operation that cannot be started).
pub const WSAEINVAL: i32 = 10022;

// Winsock errors that mean the connection is gone (`winerror.h`).
pub const WSAENETRESET: i32 = 10052;
pub const WSAECONNABORTED: i32 = 10053;
pub const WSAECONNRESET: i32 = 10054;
pub const WSAENOTCONN: i32 = 10057;
pub const WSAESHUTDOWN: i32 = 10058;

// The NTSTATUS a finished operation leaves in `OVERLAPPED::Internal` (`ntstatus.h`).
pub const STATUS_SUCCESS: u32 = 0;
pub const STATUS_PENDING: u32 = 0x0000_0103;
pub const STATUS_CANCELLED: u32 = 0xC000_0120;
pub const STATUS_PIPE_DISCONNECTED: u32 = 0xC000_00B0;
pub const STATUS_LOCAL_DISCONNECT: u32 = 0xC000_013B;
pub const STATUS_REMOTE_DISCONNECT: u32 = 0xC000_013C;
pub const STATUS_CONNECTION_RESET: u32 = 0xC000_020D;
pub const STATUS_CONNECTION_ABORTED: u32 = 0xC000_0241;

/// `minwinbase.h`. The middle is a union of two `DWORD`s (`Offset`, `OffsetHigh`) and
/// a `PVOID`; sockets never use it, and two `u32`s give it the same size and offset.
#[repr(C)]
pub struct OVERLAPPED {
    /// The operation's status (an NTSTATUS) once it has finished.
    pub Internal: usize,
    /// The number of bytes transferred once it has finished.
    pub InternalHigh: usize,
    pub Offset: u32,
    pub OffsetHigh: u32,
    pub hEvent: HANDLE,
}

/// `minwinbase.h`: one entry `GetQueuedCompletionStatusEx` dequeues.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OVERLAPPED_ENTRY {
    pub lpCompletionKey: usize,
    pub lpOverlapped: *mut OVERLAPPED,
    pub Internal: usize,
    pub dwNumberOfBytesTransferred: u32,
}

/// `ws2def.h`.
#[repr(C)]
pub struct WSABUF {
    pub len: u32,
    pub buf: *mut u8,
}

/// `guiddef.h`.
#[repr(C)]
pub struct GUID {
    pub Data1: u32,
    pub Data2: u16,
    pub Data3: u16,
    pub Data4: [u8; 8],
}

/// `ws2def.h`: the generic address `bind` and `ConnectEx` take a pointer to.
#[repr(C)]
pub struct SOCKADDR {
    pub sa_family: u16,
    pub sa_data: [u8; 14],
}

/// `ws2def.h`. `sin_addr` (an `IN_ADDR`) is four bytes in network order.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SOCKADDR_IN {
    pub sin_family: u16,
    /// Network byte order.
    pub sin_port: u16,
    pub sin_addr: [u8; 4],
    pub sin_zero: [u8; 8],
}

/// `ws2ipdef.h`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SOCKADDR_IN6 {
    pub sin6_family: u16,
    /// Network byte order.
    pub sin6_port: u16,
    pub sin6_flowinfo: u32,
    pub sin6_addr: [u8; 16],
    pub sin6_scope_id: u32,
}

/// `ws2ipdef.h`: room for either address family; `si_family` says which it holds.
#[repr(C)]
#[derive(Clone, Copy)]
pub union SOCKADDR_INET {
    pub Ipv4: SOCKADDR_IN,
    pub Ipv6: SOCKADDR_IN6,
    pub si_family: u16,
}

/// `winsock2.h`. The fields come in another order on 64-bit Windows.
#[repr(C)]
pub struct WSADATA {
    pub wVersion: u16,
    pub wHighVersion: u16,
    #[cfg(target_pointer_width = "64")]
    pub iMaxSockets: u16,
    #[cfg(target_pointer_width = "64")]
    pub iMaxUdpDg: u16,
    #[cfg(target_pointer_width = "64")]
    pub lpVendorInfo: *mut u8,
    pub szDescription: [u8; 257],
    pub szSystemStatus: [u8; 129],
    #[cfg(target_pointer_width = "32")]
    pub iMaxSockets: u16,
    #[cfg(target_pointer_width = "32")]
    pub iMaxUdpDg: u16,
    #[cfg(target_pointer_width = "32")]
    pub lpVendorInfo: *mut u8,
}

/// `mswsock.h`: `LPFN_CONNECTEX`, the function `WSAIoctl` hands out for
/// [`WSAID_CONNECTEX`]. A Rust function pointer is never null: `WSAIoctl` writes into an
/// `Option<LPFN_CONNECTEX>`, which has the layout of a nullable C pointer.
pub type LPFN_CONNECTEX = unsafe extern "system" fn(
    s: SOCKET,
    name: *const SOCKADDR,
    namelen: i32,
    lpSendBuffer: *const c_void,
    dwSendDataLength: u32,
    lpdwBytesSent: *mut u32,
    lpOverlapped: *mut OVERLAPPED,
) -> BOOL;

// Checked at compile time against the SDK's sizes, so `cargo check` for a 32-bit
// Windows target catches a wrong layout too.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<OVERLAPPED>() == 32);
    assert!(size_of::<OVERLAPPED_ENTRY>() == 32);
    assert!(size_of::<WSABUF>() == 16);
    assert!(size_of::<WSADATA>() == 408);
};
const _: () = {
    assert!(size_of::<GUID>() == 16);
    assert!(size_of::<SOCKADDR>() == 16);
    assert!(size_of::<SOCKADDR_IN>() == 16);
    assert!(size_of::<SOCKADDR_IN6>() == 28);
    assert!(size_of::<SOCKADDR_INET>() == 28);
};
#[cfg(target_pointer_width = "32")]
const _: () = {
    assert!(size_of::<OVERLAPPED>() == 20);
    assert!(size_of::<OVERLAPPED_ENTRY>() == 16);
    assert!(size_of::<WSABUF>() == 8);
    assert!(size_of::<WSADATA>() == 400);
};

/// `LPWSAOVERLAPPED_COMPLETION_ROUTINE`; we always pass `None` and use the port.
pub type CompletionRoutine = Option<unsafe extern "system" fn(u32, u32, *mut OVERLAPPED, u32)>;

#[link(name = "kernel32")]
unsafe extern "system" {
    pub fn CreateIoCompletionPort(
        FileHandle: HANDLE,
        ExistingCompletionPort: HANDLE,
        CompletionKey: usize,
        NumberOfConcurrentThreads: u32,
    ) -> HANDLE;
    pub fn GetQueuedCompletionStatusEx(
        CompletionPort: HANDLE,
        lpCompletionPortEntries: *mut OVERLAPPED_ENTRY,
        ulCount: u32,
        ulNumEntriesRemoved: *mut u32,
        dwMilliseconds: u32,
        fAlertable: BOOL,
    ) -> BOOL;
    pub fn PostQueuedCompletionStatus(
        CompletionPort: HANDLE,
        dwNumberOfBytesTransferred: u32,
        dwCompletionKey: usize,
        lpOverlapped: *mut OVERLAPPED,
    ) -> BOOL;
    pub fn CancelIoEx(hFile: HANDLE, lpOverlapped: *mut OVERLAPPED) -> BOOL;
    pub fn CloseHandle(hObject: HANDLE) -> BOOL;
}

#[link(name = "ws2_32")]
unsafe extern "system" {
    pub fn WSARecv(
        s: SOCKET,
        lpBuffers: *mut WSABUF,
        dwBufferCount: u32,
        lpNumberOfBytesRecvd: *mut u32,
        lpFlags: *mut u32,
        lpOverlapped: *mut OVERLAPPED,
        lpCompletionRoutine: CompletionRoutine,
    ) -> i32;
    pub fn WSASend(
        s: SOCKET,
        lpBuffers: *mut WSABUF,
        dwBufferCount: u32,
        lpNumberOfBytesSent: *mut u32,
        dwFlags: u32,
        lpOverlapped: *mut OVERLAPPED,
        lpCompletionRoutine: CompletionRoutine,
    ) -> i32;
    pub fn WSAGetLastError() -> i32;
    pub fn WSASetLastError(iError: i32);
    pub fn WSAStartup(wVersionRequested: u16, lpWSAData: *mut WSADATA) -> i32;
    pub fn WSASocketW(
        af: i32,
        r#type: i32,
        protocol: i32,
        lpProtocolInfo: *mut c_void,
        g: u32,
        dwFlags: u32,
    ) -> SOCKET;
    pub fn bind(s: SOCKET, name: *const SOCKADDR, namelen: i32) -> i32;
    pub fn WSAIoctl(
        s: SOCKET,
        dwIoControlCode: u32,
        lpvInBuffer: *mut c_void,
        cbInBuffer: u32,
        lpvOutBuffer: *mut c_void,
        cbOutBuffer: u32,
        lpcbBytesReturned: *mut u32,
        lpOverlapped: *mut OVERLAPPED,
        lpCompletionRoutine: CompletionRoutine,
    ) -> i32;
    pub fn WSAGetOverlappedResult(
        s: SOCKET,
        lpOverlapped: *mut OVERLAPPED,
        lpcbTransfer: *mut u32,
        fWait: BOOL,
        lpdwFlags: *mut u32,
    ) -> BOOL;
    pub fn setsockopt(s: SOCKET, level: i32, optname: i32, optval: *const u8, optlen: i32) -> i32;
}
