//! Shared secrets and passwords: byte strings whose `Debug` never shows the bytes.

use std::fmt;

/// A RADIUS shared secret (per NAS) or a cleartext password. `Debug` prints `Secret(<redacted>)`
/// so it cannot leak through `tracing` fields or error chains.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps the given bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The secret bytes, for the crypto that needs them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// True when the secret has no bytes (a client with an empty secret is refused by
    /// [`Client::new`](crate::Client::new)).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::from("testing123");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), b"testing123");
    }
}
