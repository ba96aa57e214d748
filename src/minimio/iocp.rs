//! Work in progress (issue 4).
compile_error!("the iocp backend is being written");
