//! Shared secrets and passwords: byte strings whose `Debug` never shows the bytes.

use std::fmt;
use std::sync::OnceLock;

use hmac::{Hmac, KeyInit};
use md5::Md5;

/// A RADIUS shared secret (per NAS) or a cleartext password. `Debug` prints `Secret(<redacted>)`
/// so it cannot leak through `tracing` fields or error chains.
#[derive(Clone)]
pub struct Secret {
    bytes: Vec<u8>,
    /// HMAC-MD5 keyed with the bytes, made on first use: a Message-Authenticator then costs a
    /// copy of this state instead of hashing the inner and outer key pads again (two of the
    /// five MD5 blocks of a typical request's HMAC).
    hmac: OnceLock<Hmac<Md5>>,
}

impl Secret {
    /// Wraps the given bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
            hmac: OnceLock::new(),
        }
    }

    /// The secret bytes, for the crypto that needs them.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// True when the secret has no bytes (a client with an empty secret is refused by
    /// [`Client::new`](crate::Client::new)).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// HMAC-MD5 keyed with the secret, ready for `update`.
    pub(crate) fn hmac_md5(&self) -> Hmac<Md5> {
        self.hmac
            .get_or_init(|| {
                // HMAC accepts keys of any length; this cannot fail.
                <Hmac<Md5> as KeyInit>::new_from_slice(&self.bytes)
                    .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
            })
            .clone()
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Mac;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::from("testing123");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), b"testing123");
    }

    #[test]
    fn the_kept_hmac_state_gives_the_rfc_2202_values_every_time() {
        // RFC 2202 test case 2 (key "Jefe") and 6 (an 80-byte key, hashed first).
        let cases: [(&[u8], &[u8], &str); 2] = [
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "750c783e6ab0b503eaa86e310a5db738",
            ),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
            ),
        ];
        for (key, data, expected) in cases {
            let secret = Secret::new(key);
            for _ in 0..2 {
                let mut mac = secret.hmac_md5();
                mac.update(data);
                let hex: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(hex, expected);
            }
        }
    }
}
