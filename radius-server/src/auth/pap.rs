//! PAP: the User-Password attribute hidden with the shared secret and the Request Authenticator
//! (RFC 2865 §5.2).

use crate::crypto::{constant_time_eq, md5};
use crate::secret::Secret;

/// Recovers the password from a User-Password value. `None` when the value's length is not a
/// multiple of 16 in 16..=128. Trailing NUL padding is removed.
pub fn decrypt(hidden: &[u8], authenticator: &[u8; 16], secret: &Secret) -> Option<Secret> {
    if hidden.is_empty() || hidden.len() > 128 || !hidden.len().is_multiple_of(16) {
        return None;
    }
    let mut plain = Vec::with_capacity(hidden.len());
    let mut previous: &[u8] = authenticator;
    for chunk in hidden.chunks(16) {
        let pad = md5(&[secret.expose(), previous]);
        plain.extend(chunk.iter().zip(pad).map(|(c, p)| c ^ p));
        previous = chunk;
    }
    while plain.last() == Some(&0) {
        plain.pop();
    }
    Some(Secret::new(plain))
}

/// Hides a password as a NAS does (used by tests and tools that play the NAS). Passwords longer
/// than 128 bytes are cut to 128.
pub fn encrypt(password: &[u8], authenticator: &[u8; 16], secret: &Secret) -> Vec<u8> {
    let password = &password[..password.len().min(128)];
    let padded_len = password.len().div_ceil(16).max(1) * 16;
    let mut plain = password.to_vec();
    plain.resize(padded_len, 0);
    let mut hidden: Vec<u8> = Vec::with_capacity(padded_len);
    for (index, chunk) in plain.chunks(16).enumerate() {
        let previous: &[u8] = if index == 0 {
            authenticator
        } else {
            &hidden[(index - 1) * 16..index * 16]
        };
        let pad = md5(&[secret.expose(), previous]);
        let block: Vec<u8> = chunk.iter().zip(pad).map(|(c, p)| c ^ p).collect();
        hidden.extend(block);
    }
    hidden
}

/// True when the hidden User-Password is `password`.
pub fn verify(hidden: &[u8], authenticator: &[u8; 16], secret: &Secret, password: &[u8]) -> bool {
    decrypt(hidden, authenticator, secret)
        .is_some_and(|plain| constant_time_eq(plain.expose(), password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{unhex, unhex_array};

    #[test]
    fn rfc2865_7_1_user_password() {
        let authenticator = unhex_array("0f403f9473978057bd83d5cb98f4227a");
        let hidden = unhex("0dbe708d93d413ce3196e43f782a0aee");
        let secret = Secret::from("xyzzy5461");
        let plain = decrypt(&hidden, &authenticator, &secret).unwrap();
        assert_eq!(plain.expose(), b"arctangent");
        assert!(verify(&hidden, &authenticator, &secret, b"arctangent"));
        assert!(!verify(&hidden, &authenticator, &secret, b"arctangent2"));
        assert_eq!(encrypt(b"arctangent", &authenticator, &secret), hidden);
    }

    #[test]
    fn long_passwords_round_trip_and_bad_lengths_fail() {
        let authenticator = [7; 16];
        let secret = Secret::from("s");
        let password = b"a password longer than sixteen bytes, two blocks and more";
        let hidden = encrypt(password, &authenticator, &secret);
        assert_eq!(hidden.len(), 64);
        assert_eq!(
            decrypt(&hidden, &authenticator, &secret).unwrap().expose(),
            password
        );
        assert!(decrypt(&hidden[..15], &authenticator, &secret).is_none());
        assert!(decrypt(&[], &authenticator, &secret).is_none());
        assert!(decrypt(&[0; 144], &authenticator, &secret).is_none());
    }
}
