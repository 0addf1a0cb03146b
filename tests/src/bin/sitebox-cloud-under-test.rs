//! The `sitebox-cloud` entry point, built inside the test crate so that end-to-end tests run
//! the current code (`CARGO_BIN_EXE_sitebox-cloud-under-test`). It is the real binary's `main`.

use std::process::ExitCode;

fn main() -> ExitCode {
    sitebox_cloud::cli::main()
}
