//! The `siteboxd` entry point, built inside the test crate so that end-to-end tests always run
//! the current code (`CARGO_BIN_EXE_siteboxd-under-test`). It is the real binary's `main`.

use std::process::ExitCode;

fn main() -> ExitCode {
    sitebox::cli::main()
}
