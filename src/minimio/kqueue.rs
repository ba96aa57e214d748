//! Work in progress (issue 4).
compile_error!("the kqueue backend is being written");
