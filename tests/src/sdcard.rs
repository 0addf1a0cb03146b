//! An SD-card-class disk for tests and benchmarks: `tests/sdcard/fsync-delay.c`, an
//! `LD_PRELOAD` library that makes every fsync, fdatasync, syncfs, sync, `msync(MS_SYNC)` and
//! waiting `sync_file_range` take at least a chosen latency (one call at a time, as a card
//! serves them) and counts them into a file that can be read while the program runs.
//!
//! The library is built here with the system C compiler on first use, into
//! `target/sdcard/libfsync-delay.so`. A program runs on the slow disk with the environment of
//! [`SlowDisk::env`]:
//!
//! ```text
//! LD_PRELOAD=target/sdcard/libfsync-delay.so SITEBOX_FSYNC_DELAY_US=10000 \
//!   SITEBOX_FSYNC_COUNTS=/tmp/counts siteboxd run
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::peers::{program, workspace_root};

/// The shim's source, in the repository.
pub fn source() -> PathBuf {
    workspace_root().join("tests/sdcard/fsync-delay.c")
}

/// The built library: compiled on first use (and again when the source is newer).
pub fn library() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build).clone()
}

fn build() -> PathBuf {
    let dir = workspace_root().join("target/sdcard");
    std::fs::create_dir_all(&dir).expect("target/sdcard");
    let library = dir.join("libfsync-delay.so");
    let source = source();
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if modified(&library).is_some() && modified(&library) >= modified(&source) {
        return library;
    }
    // Built under a name of its own, then renamed: tests in parallel processes may race here.
    let partial = dir.join(format!("libfsync-delay.so.{}", std::process::id()));
    let output = Command::new(program("cc", "gcc"))
        .args([
            "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
        ])
        .arg(&partial)
        .arg(&source)
        .args(["-ldl", "-lpthread"])
        .output()
        .expect("run cc");
    assert!(
        output.status.success(),
        "cc {}: {}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&partial, &library).expect("rename the shim into place");
    library
}

/// What the shim counted (see `struct counts` in the source).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every call that waited for the disk.
    pub calls: u64,
    /// fsync calls.
    pub fsync: u64,
    /// fdatasync calls.
    pub fdatasync: u64,
    /// syncfs, sync, msync, sync_file_range calls.
    pub other: u64,
    /// Time the shim added to them.
    pub slept: Duration,
    /// Time spent in them, the added time included.
    pub busy: Duration,
}

impl std::ops::Sub for Counts {
    type Output = Counts;

    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            calls: self.calls - earlier.calls,
            fsync: self.fsync - earlier.fsync,
            fdatasync: self.fdatasync - earlier.fdatasync,
            other: self.other - earlier.other,
            slept: self.slept.saturating_sub(earlier.slept),
            busy: self.busy.saturating_sub(earlier.busy),
        }
    }
}

/// A slow disk for the programs started with its environment.
#[derive(Debug, Clone)]
pub struct SlowDisk {
    delay: Duration,
    counts: PathBuf,
}

impl SlowDisk {
    /// Every sync takes at least `delay`; counts go to `dir/fsync-counts`.
    pub fn new(dir: &Path, delay: Duration) -> Self {
        let counts = dir.join("fsync-counts");
        // The file exists from the start, so that reading it before the program's first sync
        // gives zeros.
        std::fs::write(&counts, [0u8; 64]).expect("write the counts file");
        Self { delay, counts }
    }

    /// The latency of every sync.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The environment that puts a program on this disk.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), library().display().to_string()),
            (
                "SITEBOX_FSYNC_DELAY_US".into(),
                self.delay.as_micros().to_string(),
            ),
            (
                "SITEBOX_FSYNC_COUNTS".into(),
                self.counts.display().to_string(),
            ),
        ]
    }

    /// The counts so far, over every process started with [`SlowDisk::env`].
    pub fn counts(&self) -> Counts {
        let bytes = std::fs::read(&self.counts).unwrap_or_default();
        let field = |i: usize| {
            bytes
                .get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        Counts {
            calls: field(0),
            fsync: field(1),
            fdatasync: field(2),
            other: field(3),
            slept: Duration::from_nanos(field(4)),
            busy: Duration::from_nanos(field(5)),
        }
    }
}
