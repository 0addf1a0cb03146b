//! The process's and the data disk's figures, shared by `/metrics` and the page's status.

use std::path::Path;

/// This process's resident set size, from `/proc/self/statm`.
pub(super) fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Total and free (for unprivileged users) bytes of the filesystem holding `dir`.
pub(super) fn disk(dir: &Path) -> Option<(u64, u64)> {
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    let block = stat.fragment_size() as u64;
    Some((
        stat.blocks() as u64 * block,
        stat.blocks_available() as u64 * block,
    ))
}
