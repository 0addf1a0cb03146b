//! `siteboxd`: the Sitebox site daemon and its command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    sitebox::cli::main()
}
