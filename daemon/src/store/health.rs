//! Whether writes reach the disk, told truthfully: the writer thread's commit outcomes, a probe
//! that really writes (a file in the data directory, synced, and a row through the writer), and
//! the free space left there.
//!
//! A fault is logged once when writes start failing (the path, SQLite's or the OS's cause, and
//! what to do) and once when they reach the disk again, never per failed commit. `/healthz`,
//! `/metrics` and the watchdog read the state kept here.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::ErrorCode;

/// The probe file in the data directory: rewritten and synced by every probe.
const PROBE_FILE: &str = ".write-probe";

/// How long writes must have gone without a failure before a probe declares them recovered: a
/// disk with a little room left takes a small write and refuses the next large one, and that
/// must not be told as a recovery and a new fault every few seconds.
const RECOVERY_QUIET: Duration = Duration::from_secs(10);

/// Free space under which a warning is logged: 10 % of the file system, at most 64 MiB (a
/// large card warns at 64 MiB, a small one earlier than that would be useful).
const LOW_SPACE_MAX: u64 = 64 << 20;

/// Why writes fail, in the operator's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// ENOSPC / SQLITE_FULL.
    DiskFull,
    /// EROFS / SQLITE_READONLY: the file system was remounted read-only, or mounted so.
    ReadOnly,
    /// EIO / SQLITE_IOERR: the card itself fails.
    Io,
    /// Anything else (permissions changed under the daemon, say).
    Other,
}

impl FaultKind {
    /// The label in `/metrics`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::DiskFull => "disk_full",
            Self::ReadOnly => "read_only",
            Self::Io => "io_error",
            Self::Other => "other",
        }
    }

    fn advice(self, dir: &Path) -> String {
        let dir = dir.display();
        match self {
            Self::DiskFull => format!(
                "the file system of {dir} is full: free space on it (`df -h {dir}`; old backups, \
                 logs); accounting is refused and first voucher logins are rejected until then, \
                 nothing acknowledged is lost, and writes resume by themselves"
            ),
            Self::ReadOnly => format!(
                "the file system of {dir} is read-only (the kernel remounts it so after I/O \
                 errors): see `dmesg`, check the card, remount it read-write \
                 (`mount -o remount,rw`) or reboot"
            ),
            Self::Io => format!(
                "the disk under {dir} returns I/O errors: see `dmesg`, take a backup \
                 (`siteboxd backup FILE`) and replace the card"
            ),
            Self::Other => format!("check {dir} (owner, permissions, mount)"),
        }
    }

    /// The kind of a SQLite error, if it is about the disk.
    pub(crate) fn of_sqlite(err: &rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Self::DiskFull,
            Some(ErrorCode::ReadOnly) => Self::ReadOnly,
            Some(ErrorCode::SystemIoFailure) => Self::Io,
            _ => Self::Other,
        }
    }

    /// The kind of a failure known only by its text (SQLite's messages for its codes).
    pub(crate) fn of_message(text: &str) -> Self {
        if text.contains("database or disk is full") {
            Self::DiskFull
        } else if text.contains("readonly database") || text.contains("Read-only file system") {
            Self::ReadOnly
        } else if text.contains("disk I/O error") {
            Self::Io
        } else {
            Self::Other
        }
    }

    /// The kind of an OS error.
    pub(crate) fn of_io(err: &std::io::Error) -> Self {
        match err.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => Self::DiskFull,
            std::io::ErrorKind::ReadOnlyFilesystem => Self::ReadOnly,
            _ if err.raw_os_error() == Some(nix::libc::EIO) => Self::Io,
            _ => Self::Other,
        }
    }
}

/// Writes are failing: since when, why.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    /// What failed, as SQLite or the OS said it.
    pub(crate) cause: String,
    pub(crate) kind: FaultKind,
    since: Instant,
}

impl Fault {
    /// How long writes have been failing.
    pub(crate) fn failing_for(&self) -> Duration {
        self.since.elapsed()
    }
}

/// The shared state; one per store.
#[derive(Debug)]
pub(crate) struct WriteHealth {
    database: PathBuf,
    dir: PathBuf,
    base: Instant,
    quiet: Duration,
    /// When the writer thread began its current group, in ms after `base` plus one; 0 = idle.
    busy_since: AtomicU64,
    failures: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    fault: Option<Fault>,
    /// Set by every failure, cleared by a probe that started after it: a recovery is declared
    /// only after a probe saw the disk take writes again.
    failed_at: Option<Instant>,
    failures_at_fault: u64,
    low_space: bool,
}

impl WriteHealth {
    pub(crate) fn new(database: &Path, dir: &Path) -> Self {
        Self {
            database: database.to_path_buf(),
            dir: dir.to_path_buf(),
            base: Instant::now(),
            quiet: RECOVERY_QUIET,
            busy_since: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The writer thread starts a group of writes.
    pub(crate) fn writer_busy(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.busy_since.store(ms + 1, Ordering::Relaxed);
    }

    /// The writer thread is done with its group (committed or not) and waits for more.
    pub(crate) fn writer_idle(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    /// How long the writer thread has been in its current group (a stalled disk holds it in
    /// its sync); `None` while it waits for work.
    pub(crate) fn writer_busy_for(&self) -> Option<Duration> {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(
                self.base
                    .elapsed()
                    .saturating_sub(Duration::from_millis(since - 1)),
            ),
        }
    }

    /// Writes that failed on the disk since start (commits and probes).
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The current fault, if writes are failing.
    pub(crate) fn fault(&self) -> Option<Fault> {
        self.state().fault.clone()
    }

    /// Whether free space is under the warning threshold.
    pub(crate) fn low_space(&self) -> bool {
        self.state().low_space
    }

    /// A COMMIT (or a probe) failed: the first failure starts a fault and logs it once.
    pub(crate) fn failed(&self, kind: FaultKind, cause: &str) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let mut state = self.state();
        let now = Instant::now();
        state.failed_at = Some(now);
        if state.fault.is_none() {
            tracing::error!(
                path = %self.database.display(),
                cause,
                kind = kind.as_str(),
                "writes to {} are failing ({cause}): {}",
                self.database.display(),
                kind.advice(&self.dir)
            );
            state.failures_at_fault = failures - 1;
            state.fault = Some(Fault {
                cause: cause.to_string(),
                kind,
                since: now,
            });
        }
    }

    /// A probe that began at `started` wrote through to the disk: a fault with no failure
    /// since then, nor in the quiet period before, is over, and that is logged once.
    pub(crate) fn probe_succeeded(&self, started: Instant) {
        let mut state = self.state();
        if state
            .failed_at
            .is_some_and(|at| at >= started || at.elapsed() < self.quiet)
        {
            return;
        }
        if let Some(fault) = state.fault.take() {
            let failed = self.failures().saturating_sub(state.failures_at_fault);
            tracing::info!(
                path = %self.database.display(),
                failed,
                "writes to {} reach the disk again after {}s ({failed} failed writes)",
                self.database.display(),
                fault.since.elapsed().as_secs()
            );
        }
        state.failed_at = None;
    }

    /// What to say when SQLite rolled a whole write transaction back after a failed statement
    /// (it does so on some disk-full and I/O errors; the statement's error went to its caller):
    /// a full disk when the file system has no room left, else the rollback itself.
    pub(crate) fn rolled_back(&self) -> (FaultKind, String) {
        match self.disk() {
            Some((_, free)) if free < 64 << 10 => (
                FaultKind::DiskFull,
                format!("no space left on {}", self.dir.display()),
            ),
            _ => (
                FaultKind::Other,
                "SQLite rolled a write transaction back after a failed write".to_string(),
            ),
        }
    }

    /// Writes and syncs the probe file (blocking: call on a blocking thread), records the
    /// outcome, and checks the free space.
    pub(crate) fn probe_file(&self) -> Result<(), String> {
        let path = self.dir.join(PROBE_FILE);
        let fresh = self.dir.join(format!("{PROBE_FILE}.new"));
        let written = (|| {
            // A new file, then renamed over the last one: the file system must find room for
            // it while the old one still holds its own (a rewrite in place could reuse them).
            let mut file = std::fs::File::create(&fresh)?;
            let stamp = self.base.elapsed().as_nanos().to_le_bytes();
            let page: Vec<u8> = stamp.iter().copied().cycle().take(4096).collect();
            file.write_all(&page)?;
            file.sync_all()?;
            std::fs::rename(&fresh, &path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&fresh);
        }
        self.check_space();
        match written {
            Ok(()) => Ok(()),
            Err(err) => {
                let cause = format!("{}: {err}", path.display());
                self.failed(FaultKind::of_io(&err), &cause);
                Err(cause)
            }
        }
    }

    /// Total and free bytes of the data directory's file system (for the unprivileged).
    // The figures are u32 on 32-bit ARM boards, u64 here.
    #[allow(clippy::useless_conversion)]
    pub(crate) fn disk(&self) -> Option<(u64, u64)> {
        let stat = nix::sys::statvfs::statvfs(&self.dir).ok()?;
        let block = u64::from(stat.fragment_size());
        Some((
            u64::from(stat.blocks()).saturating_mul(block),
            u64::from(stat.blocks_available()).saturating_mul(block),
        ))
    }

    fn check_space(&self) {
        let Some((total, free)) = self.disk() else {
            return;
        };
        let threshold = low_space_threshold(total);
        let low = free < threshold;
        let mut state = self.state();
        if low == state.low_space {
            return;
        }
        state.low_space = low;
        let dir = self.dir.display();
        if low {
            tracing::warn!(
                path = %dir,
                free,
                total,
                "low disk space: {} free of {} on {dir} (warning under {}); free space there \
                 before the database can no longer grow (`df -h {dir}`)",
                mib(free),
                mib(total),
                mib(threshold)
            );
        } else {
            tracing::info!(path = %dir, free, "disk space on {dir} is back to {} free", mib(free));
        }
    }
}

/// The free space under which [`WriteHealth`] warns, for a file system of `total` bytes.
pub(crate) fn low_space_threshold(total: u64) -> u64 {
    (total / 10).min(LOW_SPACE_MAX)
}

fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // a figure for people
    let mib = bytes as f64 / f64::from(1u32 << 20);
    format!("{mib:.1} MiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_logged_once_and_ends_only_with_a_probe_after_the_last_failure() {
        let dir = tempfile::tempdir().expect("dir");
        let mut health = WriteHealth::new(&dir.path().join("db"), dir.path());
        health.quiet = Duration::from_millis(50);
        let before = Instant::now();
        health.failed(FaultKind::DiskFull, "database or disk is full");
        health.failed(FaultKind::DiskFull, "database or disk is full");
        assert_eq!(health.failures(), 2);
        assert_eq!(
            health.fault().map(|f| f.kind),
            Some(FaultKind::DiskFull),
            "a fault"
        );
        // A probe that began before the last failure proves nothing.
        health.probe_succeeded(before);
        assert!(health.fault().is_some());
        let after = Instant::now();
        // Nor one too soon after it.
        health.probe_succeeded(after);
        assert!(health.fault().is_some());
        std::thread::sleep(Duration::from_millis(60));
        health.probe_succeeded(after);
        assert!(health.fault().is_none());
    }

    #[test]
    fn the_probe_file_is_written_and_the_busy_writer_is_timed() {
        let dir = tempfile::tempdir().expect("dir");
        let health = WriteHealth::new(&dir.path().join("db"), dir.path());
        health.probe_file().expect("probe");
        assert_eq!(
            std::fs::metadata(dir.path().join(PROBE_FILE))
                .expect("probe file")
                .len(),
            4096
        );
        assert_eq!(health.writer_busy_for(), None);
        health.writer_busy();
        std::thread::sleep(Duration::from_millis(20));
        assert!(health.writer_busy_for().expect("busy") >= Duration::from_millis(20));
        health.writer_idle();
        assert_eq!(health.writer_busy_for(), None);
    }

    #[test]
    fn low_space_is_a_tenth_at_most_64_mib() {
        assert_eq!(low_space_threshold(8 << 20), (8 << 20) / 10);
        assert_eq!(low_space_threshold(32 << 30), 64 << 20);
    }
}
