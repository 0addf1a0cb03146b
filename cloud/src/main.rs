//! `sitebox-cloud`: the central cloud service and its operator commands.

use std::process::ExitCode;

fn main() -> ExitCode {
    sitebox_cloud::cli::main()
}
