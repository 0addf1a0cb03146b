//! The SD-card-class disk (`tests/sdcard/fsync-delay.c`) and the power-cut storm on it, small:
//! the benchmark's harness keeps working, and the box acknowledges nothing before its fsync.

use std::time::Duration;

use sitebox_tests::sdcard::SlowDisk;
use sitebox_tests::storm::{self, Settings};

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

#[test]
fn the_slow_disk_delays_and_counts_every_sync_of_a_program() {
    let dir = tempfile::tempdir().expect("dir");
    let disk = SlowDisk::new(dir.path(), Duration::from_millis(20));
    let file = dir.path().join("file");
    let script = format!(
        "import os, time\n\
         f = os.open({file:?}, os.O_WRONLY | os.O_CREAT)\n\
         t = time.monotonic()\n\
         os.write(f, b'x'); os.fsync(f); os.fdatasync(f)\n\
         print(time.monotonic() - t)\n",
        file = file.display().to_string()
    );
    let output = std::process::Command::new("python3")
        .args(["-c", &script])
        .envs(disk.env())
        .output()
        .expect("python3");
    assert!(output.status.success(), "{output:?}");
    let took: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("seconds");
    let counts = disk.counts();
    assert_eq!(
        (counts.calls, counts.fsync, counts.fdatasync),
        (2, 1, 1),
        "{counts:?}"
    );
    assert!(took >= 0.040, "two syncs took {took} s, not >= 2 x 20 ms");
    assert!(counts.busy >= Duration::from_millis(40), "{counts:?}");
}

#[test]
fn a_power_cut_storm_on_a_slow_disk_is_answered_and_every_start_waits_for_its_sync() {
    let settings = Settings::quick();
    let outcome = storm::run(SITEBOXD.as_ref(), &settings).expect("storm");
    let text = outcome.text();
    let customers = settings.customers;
    assert_eq!(outcome.customers.len(), customers, "{text}");
    // Every customer has a plan: each is accepted, and each Start is acknowledged and stored.
    assert_eq!(
        (outcome.auth_unanswered(), outcome.rejected()),
        (0, 0),
        "{text}"
    );
    assert_eq!(outcome.starts_acked(), customers, "{text}");
    assert!(
        outcome.stored_starts >= customers as u64,
        "{} sessions stored for {customers} acknowledged Starts; {text}",
        outcome.stored_starts
    );
    // Nothing is acknowledged before its commit's sync, and the shim is in that path.
    let fastest = outcome
        .start_latencies()
        .into_iter()
        .min()
        .expect("latencies");
    assert!(
        fastest >= settings.fsync_delay,
        "an Accounting-Start acknowledged in {fastest:?}, before a {:?} sync; {text}",
        settings.fsync_delay
    );
    // Group commit: the Starts shared their syncs.
    assert!(
        outcome.fsyncs.calls > 0 && outcome.fsyncs.calls < customers as u64,
        "{text}"
    );
}
