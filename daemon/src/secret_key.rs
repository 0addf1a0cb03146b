//! The key that encrypts credentials at rest (subscriber passwords for CHAP, NT hashes for
//! MS-CHAPv2, router API passwords).
//!
//! Where it comes from, first found wins:
//! 1. the systemd credential `sitebox.key` (`LoadCredential=sitebox.key:/etc/sitebox/secret.key`
//!    in the unit): systemd reads the root-only file and hands the service a private copy in
//!    `$CREDENTIALS_DIRECTORY`, so the service user never needs read access to /etc;
//! 2. the file `[daemon] key_file` (default `/etc/sitebox/secret.key`), read before the process
//!    switches away from root.
//!
//! The file holds 32 random bytes as 64 hex digits (the Debian package's postinst writes it:
//! `od -An -tx1 -N32 /dev/urandom | tr -d ' \n'`). It is never logged, and `Debug` hides it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The systemd credential's name.
pub const CREDENTIAL: &str = "sitebox.key";

/// The key's length in bytes.
pub const KEY_LEN: usize = 32;

/// A loaded key and where it came from.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; KEY_LEN],
    source: PathBuf,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Finds and reads the key: the systemd credential, else `key_file`. `Ok(None)` when there
    /// is neither; an error when one exists but cannot be read or is malformed.
    pub fn load(key_file: &Path) -> anyhow::Result<Option<Self>> {
        let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join(CREDENTIAL))
            .filter(|path| path.exists());
        let Some(path) = credential.or_else(|| key_file.exists().then(|| key_file.to_path_buf()))
        else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the secret key {}", path.display()))?;
        let bytes = parse(text.trim()).with_context(|| format!("{}", path.display()))?;
        warn_if_readable_by_others(&path);
        Ok(Some(Self {
            bytes,
            source: path,
        }))
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The file it was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }
}

fn parse(hex: &str) -> anyhow::Result<[u8; KEY_LEN]> {
    if hex.len() != KEY_LEN * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "the secret key must be {} hex digits ({KEY_LEN} bytes)",
            KEY_LEN * 2
        );
    }
    let mut bytes = [0u8; KEY_LEN];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16)?;
    }
    Ok(bytes)
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(file = %path.display(), "the secret key file is readable by group or others; chmod 0600 it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_64_hex_digits_and_refuses_anything_else() {
        let good = "00ff".repeat(16);
        let key = parse(&good).expect("good key");
        assert_eq!(key[0], 0x00);
        assert_eq!(key[1], 0xff);
        for bad in [
            "",
            "abc",
            &"zz".repeat(32),
            &"00".repeat(31),
            &"00".repeat(33),
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let key = SecretKey {
            bytes: [0xab; KEY_LEN],
            source: PathBuf::from("/etc/sitebox/secret.key"),
        };
        let shown = format!("{key:?}");
        assert!(!shown.contains("ab, ") && !shown.contains("171"), "{shown}");
    }
}
