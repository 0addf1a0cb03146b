//! CHAP (RFC 1994 as carried by RFC 2865 §5.3): CHAP-Password is the CHAP identifier followed by
//! MD5(identifier + password + challenge); the challenge is CHAP-Challenge when present, else the
//! Request Authenticator. The MikroTik hotspot's default login method.

use crate::crypto::{constant_time_eq, md5};

/// True when `chap_password` (17 bytes) answers `challenge` with `password`.
pub fn verify(chap_password: &[u8], challenge: &[u8], password: &[u8]) -> bool {
    let [ident, response @ ..] = chap_password else {
        return false;
    };
    response.len() == 16 && constant_time_eq(&md5(&[&[*ident], password, challenge]), response)
}

/// The CHAP-Password a NAS would send (used by tests and tools that play the NAS).
pub fn response(ident: u8, challenge: &[u8], password: &[u8]) -> [u8; 17] {
    let mut value = [0u8; 17];
    value[0] = ident;
    value[1..].copy_from_slice(&md5(&[&[ident], password, challenge]));
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::unhex;

    #[test]
    fn rfc2865_7_2_chap_password() {
        let challenge = unhex("2aee86f08d0d55969ca5978e0d3367a2");
        let chap_password = unhex("16e97557c316185895f293ff6344077275");
        assert!(verify(&chap_password, &challenge, b"arctangent"));
        assert!(!verify(&chap_password, &challenge, b"arctangenT"));
        assert_eq!(
            response(0x16, &challenge, b"arctangent").to_vec(),
            chap_password
        );
        assert!(!verify(&chap_password[..16], &challenge, b"arctangent"));
        assert!(!verify(&[], &challenge, b"arctangent"));
    }
}
