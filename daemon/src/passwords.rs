//! Technicians' passwords: argon2id hashes (PHC strings), checked on one thread of their own.
//! Below the domain (which makes and changes logins) and the page (which checks them).

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The length a technician's password must have, in characters.
pub(crate) const LENGTH: std::ops::RangeInclusive<usize> = 8..=1024;

/// Hashes `password` with argon2id and a random salt (PHC string).
pub(crate) fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// argon2id with 7 MiB and 5 passes (one of OWASP's equivalent settings, the one lightest on
/// memory): the allocator keeps what a check used, and a 512 MB box should not hold the
/// default's 19 MiB per login for nothing. Stored hashes carry their own parameters.
fn hasher() -> anyhow::Result<Argon2<'static>> {
    let params =
        Params::new(7 * 1024, 5, 1, None).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Whether `password` matches the PHC string `hash`, with argon2's own allocation: the
/// reference the tests hold [`verify_with_memory`] to (the daemon checks on the password
/// thread, [`verify_on_password_thread`]).
#[cfg(test)]
fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier as _;
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// [`verify_password`] with argon2's blocks in `memory`, grown to the hash's size and kept
/// for the next check: a fresh 7 MiB per check is what the allocator holds on to.
fn verify_with_memory(password: &str, hash: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .unwrap_or(Version::V0x13);
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        && expected.as_bytes().len() == out.len()
        && expected
            .as_bytes()
            .iter()
            .zip(&out)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// A check waiting for the password thread.
type Check = (String, String, tokio::sync::oneshot::Sender<bool>);

/// [`verify_password`] on the one thread that checks passwords: argon2's memory is then
/// allocated from that thread's arena alone and reused, where the blocking pool's changing
/// threads would each keep their own copy. `None` when too many checks are waiting.
pub(crate) async fn verify_on_password_thread(password: String, hash: String) -> Option<bool> {
    static CHECKS: std::sync::OnceLock<Option<std::sync::mpsc::SyncSender<Check>>> =
        std::sync::OnceLock::new();
    let checks = CHECKS.get_or_init(|| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Check>(32);
        std::thread::Builder::new()
            .name("password-check".into())
            .spawn(move || {
                let mut memory = Vec::new();
                for (password, hash, reply) in receive {
                    // An empty hash: an unknown name, checked against the decoy.
                    let hash = if hash.is_empty() { decoy_hash() } else { &hash };
                    let _ = reply.send(verify_with_memory(&password, hash, &mut memory));
                }
            })
            .ok()
            .map(|_| send)
    });
    let (reply, answer) = tokio::sync::oneshot::channel();
    checks.as_ref()?.try_send((password, hash, reply)).ok()?;
    answer.await.ok()
}

/// A hash that matches no password, checked for unknown names so that a wrong name takes as
/// long as a wrong password.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("no technician has this password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(
            hash,
            hash_password("correct horse").expect("hash"),
            "salted"
        );
        assert!(!verify_password("", decoy_hash()));
        let mut memory = Vec::new();
        assert!(verify_with_memory("correct horse", &hash, &mut memory));
        assert!(!verify_with_memory("correct horsE", &hash, &mut memory));
        assert!(!verify_with_memory(
            "correct horse",
            "not a hash",
            &mut memory
        ));
        assert_eq!(memory.len(), 7 * 1024, "one block per KiB, kept");
        let default = Argon2::default()
            .hash_password(b"other", &SaltString::encode_b64(&[7; 16]).expect("salt"))
            .expect("hash")
            .to_string();
        assert!(verify_with_memory("other", &default, &mut memory));
    }
}
