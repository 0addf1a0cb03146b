//! Who the daemon runs as when it is started outside systemd.
//!
//! Under systemd the unit sets `User=sitebox` and nothing here changes anything. Started as root
//! by hand or by another init, `siteboxd` switches to the service user named by `--user` or
//! `[daemon] user` before it creates or binds anything, so that every file it makes in the data
//! dir belongs to that user and no part of its life runs as root. Nothing Sitebox does needs
//! root: RADIUS (1812/1813, 3799), the web page and MQTT all use unprivileged ports.
//!
//! As root with no user named, `siteboxd run` refuses to start, unless `SITEBOX_ALLOW_ROOT=1`
//! says that is meant (containers and the test suite, which run everything as root).

use std::ffi::CString;

use anyhow::{Context as _, bail};
use nix::unistd::{Gid, Uid, User};

/// The umask every siteboxd process sets first (what the unit's `UMask=` says too): the
/// database holds subscribers' data, so nothing it makes is readable by others.
pub(crate) const UMASK: u32 = 0o027;

/// Sets [`UMASK`]. Call before anything creates a file.
pub(crate) fn set_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(UMASK));
}

/// The environment variable that lets `siteboxd run` run as root with no user to switch to.
pub(crate) const ALLOW_ROOT_ENV: &str = "SITEBOX_ALLOW_ROOT";

/// What the process may do about its user, decided before anything is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `siteboxd run`: must not stay root.
    Daemon,
    /// A CLI command that opens the store: switches when it can, may stay root otherwise.
    Tool,
}

/// The service user, resolved from the password database.
#[derive(Debug, Clone)]
pub(crate) struct ServiceUser {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: Uid,
    /// Primary group id.
    pub gid: Gid,
}

impl ServiceUser {
    /// Looks `name` up; it must exist and must not be root.
    pub(crate) fn lookup(name: &str) -> anyhow::Result<Self> {
        let user = User::from_name(name)
            .with_context(|| format!("looking up user `{name}`"))?
            .with_context(|| {
                format!(
                    "user `{name}` does not exist (the Debian package creates `sitebox`; \
                     or `adduser --system --group {name}`)"
                )
            })?;
        if user.uid.is_root() {
            bail!("user `{name}` is root; name an unprivileged user");
        }
        Ok(Self {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
        })
    }
}

/// Settles who the process runs as. Call before the runtime starts threads and before the
/// store or any socket is opened. `user` is `--user`, else `[daemon] user`.
pub(crate) fn settle(user: Option<&str>, role: Role) -> anyhow::Result<()> {
    let euid = Uid::effective();
    match (euid.is_root(), user) {
        (true, Some(name)) => {
            let target = ServiceUser::lookup(name)?;
            switch_to(&target)?;
            tracing::info!(user = %target.name, uid = %target.uid, gid = %target.gid, "switched from root to the service user");
            Ok(())
        }
        (true, None) if role == Role::Daemon && !root_allowed() => bail!(
            "refusing to run the daemon as root: set `[daemon] user` (or pass --user NAME) to \
             the service user it should switch to, or run it as that user (the systemd unit \
             does); {ALLOW_ROOT_ENV}=1 allows root on purpose"
        ),
        (true, None) => Ok(()),
        (false, Some(name)) if role == Role::Daemon => {
            let target = ServiceUser::lookup(name)?;
            if target.uid != euid {
                bail!(
                    "configured to run as `{name}` (uid {}), but started as uid {euid}; only \
                     root can switch users",
                    target.uid
                );
            }
            Ok(())
        }
        (false, _) => Ok(()),
    }
}

/// Whether `SITEBOX_ALLOW_ROOT` is set to a true value.
fn root_allowed() -> bool {
    std::env::var(ALLOW_ROOT_ENV)
        .map(|value| matches!(value.as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

/// Drops every group and both user ids to `target`, for good. glibc applies set*id to every
/// thread of the process, but this runs before any thread is started anyway.
fn switch_to(target: &ServiceUser) -> anyhow::Result<()> {
    let name = CString::new(target.name.as_str()).context("user name")?;
    nix::unistd::initgroups(&name, target.gid)
        .with_context(|| format!("setting the groups of `{}`", target.name))?;
    nix::unistd::setgid(target.gid).with_context(|| format!("setgid({})", target.gid))?;
    nix::unistd::setuid(target.uid).with_context(|| format!("setuid({})", target.uid))?;
    // setuid as root sets the real, effective and saved ids: getting root back must fail.
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        bail!(
            "still able to regain root after switching to `{}`",
            target.name
        );
    }
    Ok(())
}

/// Gives `path` to `user` (its primary group too). For files root made on the service user's
/// behalf, such as a restored database.
pub(crate) fn give_to(path: &std::path::Path, user: &ServiceUser) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        .with_context(|| format!("chown {} to {}", path.display(), user.name))
}
