//! Secrets at rest: subscriber passwords (CHAP needs the cleartext), NT hashes (MS-CHAPv2),
//! RADIUS secrets and router API passwords are stored sealed with XChaCha20-Poly1305 under a
//! 32-byte key read from a key file or the systemd credential `sitebox.key`.
//!
//! Each sealed value is bound to what it is (`subscriber.password`, `router.radius_secret`…) as
//! associated data, so one column's ciphertext cannot be passed off as another's.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// The systemd credential name (`LoadCredential=sitebox.key:/etc/sitebox/secret.key`).
pub const CREDENTIAL_NAME: &str = "sitebox.key";

const NONCE_LEN: usize = 24;

/// What a sealed value is; used as associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A subscriber's cleartext password.
    SubscriberPassword,
    /// A subscriber's NT hash.
    SubscriberNtHash,
    /// A router's RADIUS shared secret.
    RadiusSecret,
    /// A router's API password.
    RouterApiPassword,
}

impl Field {
    fn label(self) -> &'static [u8] {
        match self {
            Field::SubscriberPassword => b"subscriber.password",
            Field::SubscriberNtHash => b"subscriber.nt_hash",
            Field::RadiusSecret => b"router.radius_secret",
            Field::RouterApiPassword => b"router.api_password",
        }
    }
}

/// Why secrets could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The key file could not be read or created.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The key file does not hold 32 bytes (raw, or 64 hex digits).
    #[error("key file {0}: must hold 32 bytes, raw or as 64 hex digits")]
    BadKey(PathBuf),
    /// A sealed value failed authentication (wrong key, or tampered).
    #[error("a stored secret could not be opened: wrong key file or damaged value")]
    Open,
    /// The OS random source failed.
    #[error("no randomness: {0}")]
    Random(String),
}

/// The key, able to seal and open. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Secrets {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<key>)")
    }
}

impl Secrets {
    /// From a 32-byte key.
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// Reads the key from the systemd credential when present, else from `key_file`; creates
    /// `key_file` (mode 0600) with a new random key when it is missing and `create` is set.
    pub fn load(key_file: &Path, create: bool) -> Result<Self, SecretsError> {
        let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join(CREDENTIAL_NAME))
            .filter(|path| path.exists());
        let path = credential.unwrap_or_else(|| key_file.to_path_buf());
        if !path.exists() && create {
            return Self::create(&path);
        }
        let bytes = std::fs::read(&path).map_err(|source| SecretsError::KeyFile {
            path: path.clone(),
            source,
        })?;
        parse_key(&bytes)
            .map(Self::from_key)
            .ok_or(SecretsError::BadKey(path))
    }

    fn create(path: &Path) -> Result<Self, SecretsError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| SecretsError::Random(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| SecretsError::KeyFile {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|source| SecretsError::KeyFile {
            path: path.to_path_buf(),
            source,
        })?;
        writeln!(file, "{hex}").map_err(|source| SecretsError::KeyFile {
            path: path.to_path_buf(),
            source,
        })?;
        tracing::info!(path = %path.display(), "created a new secrets key file");
        Ok(Self::from_key(key))
    }

    /// Seals `plain` as `field`: a random nonce followed by the ciphertext and tag.
    pub fn seal(&self, field: Field, plain: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SecretsError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: field.label(),
                },
            )
            .map_err(|_| SecretsError::Open)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed as `field`.
    pub fn open(&self, field: Field, sealed: &[u8]) -> Result<Vec<u8>, SecretsError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretsError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: field.label(),
                },
            )
            .map_err(|_| SecretsError::Open)
    }

    /// Opens a value sealed as `field` and reads it as UTF-8 text.
    pub fn open_text(&self, field: Field, sealed: &[u8]) -> Result<String, SecretsError> {
        String::from_utf8(self.open(field, sealed)?).map_err(|_| SecretsError::Open)
    }
}

fn parse_key(bytes: &[u8]) -> Option<[u8; 32]> {
    if bytes.len() == 32 {
        return bytes.try_into().ok();
    }
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if text.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

/// The NT hash of `password`: MD4 of its UTF-16LE encoding (for MS-CHAP).
pub fn nt_hash(password: &str) -> [u8; 16] {
    use md4::{Digest, Md4};
    let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    Md4::digest(&utf16).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_as_their_field_and_with_their_key() {
        let secrets = Secrets::from_key([7; 32]);
        let sealed = secrets
            .seal(Field::SubscriberPassword, b"arctangent")
            .expect("seal");
        assert!(
            !sealed.windows(10).any(|w| w == b"arctangent"),
            "cleartext must not show"
        );
        assert_eq!(
            secrets
                .open(Field::SubscriberPassword, &sealed)
                .expect("open"),
            b"arctangent"
        );
        assert!(
            secrets.open(Field::RadiusSecret, &sealed).is_err(),
            "bound to its field"
        );
        assert!(
            Secrets::from_key([8; 32])
                .open(Field::SubscriberPassword, &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().expect("byte") ^= 1;
        assert!(secrets.open(Field::SubscriberPassword, &tampered).is_err());
        assert_ne!(
            sealed,
            secrets
                .seal(Field::SubscriberPassword, b"arctangent")
                .expect("seal"),
            "fresh nonce"
        );
    }

    #[test]
    fn a_missing_key_file_is_created_once_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys/secret.key");
        assert!(matches!(
            Secrets::load(&path, false),
            Err(SecretsError::KeyFile { .. })
        ));
        let first = Secrets::load(&path, true).expect("create");
        let sealed = first
            .seal(Field::RadiusSecret, b"testing123")
            .expect("seal");
        let again = Secrets::load(&path, true).expect("reuse");
        assert_eq!(
            again.open(Field::RadiusSecret, &sealed).expect("open"),
            b"testing123"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").expect("write");
        assert!(matches!(
            Secrets::load(&path, false),
            Err(SecretsError::BadKey(_))
        ));
    }

    #[test]
    fn nt_hash_matches_rfc_2759() {
        // RFC 2759 §9.2: password "clientPass".
        let hex: String = nt_hash("clientPass")
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(hex, "44EBBA8D5312B8D611474411F56989AE");
    }
}
