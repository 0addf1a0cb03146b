//! `scenario`: the site scenario from the command line.
//!
//! `cargo run --release -p sitebox-tests --bin scenario -- [--long] [--seed N] [--out DIR]`
//!
//! The short form (three simulated hours, about a minute) is also the `scenario` test of the
//! `it` suite; `--long` plays a whole simulated day in a few minutes. The report is printed and
//! written to `DIR/scenario.{json,html}` (default `target/scenario`). The exit status is 1 when
//! the oracle found a breach.
//!
//! The daemon and the cloud service are this same program under another name (a symlink in the run's
//! temp dir), so the one command builds and runs everything.

use std::path::PathBuf;
use std::process::ExitCode;

use sitebox_tests::scenario::{self, Binaries, Options};

fn main() -> ExitCode {
    let name = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    match name.as_str() {
        "siteboxd" => return sitebox::cli::main(),
        "sitebox-cloud" => return sitebox_cloud::cli::main(),
        _ => {}
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("scenario: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let mut long = false;
    let mut seed = None;
    let mut out = sitebox_tests::peers::workspace_root().join("target/scenario");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--long" => long = true,
            "--seed" => seed = Some(args.next().unwrap_or_default().parse()?),
            "--out" => out = PathBuf::from(args.next().unwrap_or_default()),
            other => anyhow::bail!(
                "unknown argument {other:?}; usage: scenario [--long] [--seed N] [--out DIR]"
            ),
        }
    }
    let seed = seed.unwrap_or_else(|| fastrand::u64(..));
    let options = if long {
        Options::long(seed)
    } else {
        Options::short(seed)
    };
    let links = tempfile::tempdir()?;
    let me = std::env::current_exe()?;
    let binaries = Binaries {
        siteboxd: links.path().join("siteboxd"),
        cloud: links.path().join("sitebox-cloud"),
    };
    std::os::unix::fs::symlink(&me, &binaries.siteboxd)?;
    std::os::unix::fs::symlink(&me, &binaries.cloud)?;
    let outcome = scenario::run(&options, &binaries, Some(&out))?;
    print!("{}", scenario::report::text(&outcome.report));
    println!("report: {}", out.join("scenario.html").display());
    Ok(outcome.breaches.is_empty())
}
