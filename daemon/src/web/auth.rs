//! Technician logins on the page: session tokens (only their SHA-256 is stored), CSRF tokens,
//! the session cookie, and the lockout rule. Password hashes are `crate::passwords`'.

use sha2::{Digest, Sha256};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "sitebox_session";

/// The header that carries the CSRF token on every action.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The time logins, sessions and the lockout go by: real time, even when the daemon's clock
/// runs fast for a scenario (a 12 h login must not end in a minute).
pub(crate) fn now() -> crate::clock::Timestamp {
    use crate::clock::Clock as _;
    crate::clock::SystemClock.now()
}

/// A new random token: 32 bytes as 64 hex digits.
pub(crate) fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What the store keeps of a session token.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares two secrets in time that depends only on their lengths.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// The session token in a `Cookie:` header value, if any.
pub(crate) fn cookie_token(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie:` value that logs in with `token` for `max_age_s` seconds.
pub(crate) fn set_cookie(token: &str, max_age_s: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}")
}

/// The `Set-Cookie:` value that logs out.
pub(crate) fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

/// Whether a login must be refused without looking at the password: too many recent failures
/// for the name, or four times as many from the address.
pub(crate) fn locked_out(failures_by_name: u32, failures_by_peer: u32, limit: u32) -> bool {
    failures_by_name >= limit || failures_by_peer >= limit.saturating_mul(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_carries_its_flags() {
        assert_eq!(cookie_token("a=1; sitebox_session=abc; b=2"), Some("abc"));
        assert_eq!(cookie_token("sitebox_session=; b=2"), None);
        assert_eq!(cookie_token("other_sitebox_session=x"), None);
        let cookie = set_cookie("t", 60, false);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(!cookie.contains("Secure"));
        assert!(set_cookie("t", 60, true).ends_with("; Secure"));
    }

    #[test]
    fn lockout_counts_the_name_and_four_times_as_many_from_an_address() {
        assert!(!locked_out(4, 4, 5));
        assert!(locked_out(5, 5, 5));
        assert!(!locked_out(0, 19, 5));
        assert!(locked_out(0, 20, 5));
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (new_token().expect("a"), new_token().expect("b"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
        assert!(!same_secret(&a, &a[..63]));
        assert_eq!(token_hash(&a).len(), 32);
    }
}
