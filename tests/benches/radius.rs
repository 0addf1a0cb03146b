//! Sitebox's RADIUS server against FreeRADIUS 3.2 (users in `files`, then in SQLite), same
//! users, same load on loopback. See docs/BENCHMARKS.md, section "RADIUS".
//!
//! ```text
//! cargo bench -p sitebox-tests --bench radius                 # 10,000 users, 10 s phases
//! SITEBOX_BENCH_RUNS=3 cargo bench -p sitebox-tests --bench radius   # and the medians
//! SITEBOX_BENCH_QUICK=1 cargo bench -p sitebox-tests --bench radius  # 500 users, 1 s phases
//! SITEBOX_BENCH_ONLY=sitebox cargo bench -p sitebox-tests --bench radius # one server (profiling)
//! SITEBOX_BENCH_SITEBOXD=wrapper.sh …  # run siteboxd through a wrapper (e.g. valgrind's callgrind)
//! ```
//!
//! `cargo bench` builds in the bench profile (release settings), so the `siteboxd` it runs is
//! an optimised build of the current code.

use sitebox_tests::radius_bench::{self, Figures, Settings};

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

fn main() {
    let quick = std::env::var_os("SITEBOX_BENCH_QUICK").is_some()
        || std::env::args().any(|arg| arg == "--quick");
    let settings = if quick {
        Settings::quick()
    } else {
        Settings::full()
    };
    let mut settings = settings;
    if let Ok(only) = std::env::var("SITEBOX_BENCH_ONLY") {
        settings.only = only.split(',').map(str::to_string).collect();
    }
    let runs: usize = std::env::var("SITEBOX_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .max(1);
    println!(
        "RADIUS benchmark: {} users, {} closed-loop workers, {:?} phases, open loop {}/s, {} run(s)",
        settings.users, settings.concurrency, settings.phase, settings.open_rate, runs
    );
    let mut all: Vec<Vec<Figures>> = Vec::new();
    for run in 1..=runs {
        let siteboxd = std::env::var("SITEBOX_BENCH_SITEBOXD").unwrap_or_else(|_| SITEBOXD.into());
        let rows = radius_bench::run(siteboxd.as_ref(), &settings);
        for row in &rows {
            println!(
                "run {run} {}: auth {} sent {} ok {} refused {} bad {} lost; open {} sent {} ok \
                 {} lost; acct {} ok {} lost, {} records stored",
                row.server,
                row.auth.sent,
                row.auth.ok,
                row.auth.refused,
                row.auth.bad,
                row.auth.lost,
                row.open.sent,
                row.open.ok,
                row.open.lost,
                row.acct.ok,
                row.acct.lost,
                row.acct_stored,
            );
            for line in &row.log_errors {
                println!("run {run} {} log: {line}", row.server);
            }
        }
        let figures: Vec<Figures> = rows.iter().map(Figures::from).collect();
        println!("\nrun {run}\n{}", radius_bench::table(&figures));
        all.push(figures);
    }
    if runs > 1 {
        println!(
            "median of {runs} runs\n{}",
            radius_bench::table(&radius_bench::medians(&all))
        );
    }
    println!(
        "auth/s, acct/s: closed loop; open/s, p50, p99: open loop; ratio = Sitebox / server; \
         µs/auth, µs/acct: server CPU time per closed-loop reply"
    );
}
