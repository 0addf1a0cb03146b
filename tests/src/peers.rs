//! Locating the real programs the tests talk to.

use std::path::{Path, PathBuf};

/// The Python interpreter of the virtualenv made by `tests/run.sh` (pyrad, librouteros,
/// routeros-api). Panics with instructions when it is missing.
pub fn python() -> PathBuf {
    let from_env = std::env::var_os("SITEBOX_PYTHON").map(PathBuf::from);
    let default = workspace_root().join("target/peers/venv/bin/python");
    let path = from_env.unwrap_or(default);
    assert!(
        path.exists(),
        "{} is missing: run the tests through tests/run.sh, which makes the virtualenv \
         with pyrad, librouteros and routeros-api",
        path.display()
    );
    path
}

/// The absolute path of a program that a Debian package provides. Panics naming the package.
pub fn program(name: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/lib/postgresql/15/bin"];
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run the tests through tests/run.sh, or \
                 `apt-get install {debian_package}`"
            )
        })
}

/// The workspace's top folder (the one holding `Cargo.lock`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// libfaketime (Debian package `faketime`), preloaded into a process to fake its wall clock:
/// the multi-threaded variant. Panics naming the package when it is missing.
pub fn libfaketime() -> PathBuf {
    let candidates = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("faketime/libfaketimeMT.so.1"));
    ["/usr/lib/faketime/libfaketimeMT.so.1".into()]
        .into_iter()
        .chain(candidates)
        .find(|path: &PathBuf| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "libfaketime is not installed: run the tests through tests/run.sh, or \
                 `apt-get install faketime`"
            )
        })
}
