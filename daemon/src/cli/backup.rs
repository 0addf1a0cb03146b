//! `siteboxd backup FILE` and `siteboxd restore FILE`.
//!
//! A backup runs beside the daemon, as whoever invokes it (it only reads the database and
//! writes the file the operator names). A restore refuses while the daemon runs; run as root,
//! it gives the restored file to the service user (`[daemon] user`).

use std::path::Path;

use anyhow::Context as _;

use crate::config::Config;
use crate::privileges::{self, ServiceUser};
use crate::store::backup;

pub(super) fn backup(config: &Config, target: &Path) -> anyhow::Result<()> {
    let report = backup::backup(&config.store, target).with_context(|| {
        format!(
            "backing up {} to {}",
            config.store.database_path().display(),
            target.display()
        )
    })?;
    println!(
        "{}: {} bytes, schema version {}, integrity ok",
        report.path.display(),
        report.bytes,
        report.schema_version
    );
    Ok(())
}

pub(super) fn restore(config: &Config, source: &Path) -> anyhow::Result<()> {
    // Resolve the owner first: a restore that would leave a root-owned file behind is refused
    // before it touches anything.
    let owner = match (&config.daemon.user, nix::unistd::Uid::effective().is_root()) {
        (Some(name), true) => Some(ServiceUser::lookup(name)?),
        _ => None,
    };
    let report = backup::restore(&config.store, source).with_context(|| {
        format!(
            "restoring {} from {}",
            config.store.database_path().display(),
            source.display()
        )
    })?;
    if let Some(owner) = &owner {
        // The lock file too: restore may have made it, and the daemon opens it for writing.
        let lock = report.database.with_extension("lock");
        for path in [&report.database, &lock] {
            if path.exists() {
                privileges::give_to(path, owner)?;
            }
        }
    }
    if let Some(previous) = &report.previous {
        println!("the database it replaced is kept as {}", previous.display());
    }
    println!(
        "{}: restored (schema version {}); start siteboxd",
        report.database.display(),
        report.schema_version
    );
    Ok(())
}
