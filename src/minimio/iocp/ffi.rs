//! Hand-written bindings; names follow the Windows SDK headers so they can be looked up.
//!
//! Book: "Epoll, Kqueue and IOCP Explained with Rust", chapter "IOCP" (the book's
//! `windows.rs`).
//!
//! Only what the backend calls: the completion port and its entries, `CancelIoEx`, the
//! zero-byte overlapped `WSARecv` / `WSASend`, and the status codes their completions
//! carry. Each struct is `#[repr(C)]` and its size is checked at compile time, so a wrong
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

// Checked at compile time against the SDK's sizes, so `cargo check` for a 32-bit
// Windows target catches a wrong layout too.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<OVERLAPPED>() == 32);
    assert!(size_of::<OVERLAPPED_ENTRY>() == 32);
    assert!(size_of::<WSABUF>() == 16);
};
#[cfg(target_pointer_width = "32")]
const _: () = {
    assert!(size_of::<OVERLAPPED>() == 20);
    assert!(size_of::<OVERLAPPED_ENTRY>() == 16);
    assert!(size_of::<WSABUF>() == 8);
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
}
