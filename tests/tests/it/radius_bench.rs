//! The RADIUS benchmark harness in quick mode, so that it keeps working: the real `siteboxd`
//! and FreeRADIUS (files and SQLite) under a short load, every reply checked.

use sitebox_tests::radius_bench::{self, Figures, Settings};

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

#[test]
fn the_radius_benchmark_runs_sitebox_and_freeradius_side_by_side() {
    let rows = radius_bench::run(SITEBOXD.as_ref(), &Settings::quick());
    let servers: Vec<&str> = rows.iter().map(|row| row.server.as_str()).collect();
    assert_eq!(
        servers,
        ["sitebox", "freeradius-files", "freeradius-sqlite"]
    );
    for row in &rows {
        let context = format!("{}: {row:?}", row.server);
        for phase in [&row.auth, &row.open, &row.acct] {
            assert!(phase.ok > 0, "no successful reply; {context}");
            // Every user exists with the right password: nothing is refused, every reply
            // carries valid authenticators.
            assert_eq!((phase.refused, phase.bad), (0, 0), "{context}");
            assert_eq!(phase.latencies.len() as u64, phase.ok, "{context}");
        }
        for phase in [&row.auth, &row.open] {
            assert!(phase.lost * 100 <= phase.sent, "over 1% lost; {context}");
        }
        // FreeRADIUS's SQLite accounting drops requests whose write waited past the driver's
        // busy timeout (the NAS would resend them); the others answer every one.
        if row.server != "freeradius-sqlite" {
            assert!(
                row.acct.lost * 100 <= row.acct.sent,
                "over 1% lost; {context}"
            );
        }
        // Each acknowledged Start was stored (a Start or Stop is acknowledged only once written).
        assert!(
            row.acct_stored >= row.acct.ok / 2,
            "{} accounting records stored for {} acknowledged requests; {context}",
            row.acct_stored,
            row.acct.ok
        );
    }
    let table = radius_bench::table(&rows.iter().map(Figures::from).collect::<Vec<_>>());
    assert_eq!(table.lines().count(), 4, "{table}");
}
