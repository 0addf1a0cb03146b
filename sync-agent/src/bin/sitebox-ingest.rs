//! `sitebox-ingest`: the reference cloud ingest and the site registry tools.

use std::process::ExitCode;

fn main() -> ExitCode {
    sitebox_sync::ingest::cli::main()
}
