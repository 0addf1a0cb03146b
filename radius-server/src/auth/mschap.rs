//! MS-CHAP for PPP/PPPoE: MS-CHAPv2 (RFC 2759) with the authenticator response and the MPPE keys
//! (RFC 3079) sent encrypted in MS-MPPE-Send-Key/Recv-Key (RFC 2548 §2.4.2), and MS-CHAPv1
//! (RFC 2433) NT-Response checks. The RADIUS attributes are those of RFC 2548.

use des::Des;
use des::cipher::{Block, BlockCipherEncrypt, KeyInit};
use md4::Md4;
use sha1::{Digest, Sha1};

use crate::crypto::{constant_time_eq, md5};
use crate::secret::Secret;

/// MD4 of the password in UTF-16LE: what the store keeps for MS-CHAP users.
pub fn nt_password_hash(password: &str) -> [u8; 16] {
    let unicode: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    Md4::digest(&unicode).into()
}

/// An MS-CHAPv2 exchange as carried in MS-CHAP-Challenge (16 bytes) and MS-CHAP2-Response
/// (50 bytes: ident, flags, peer challenge, 8 reserved, NT-Response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsChapV2Response {
    /// The PPP CHAP identifier, echoed in MS-CHAP2-Success and MS-CHAP-Error.
    pub ident: u8,
    /// The authenticator challenge (MS-CHAP-Challenge).
    pub auth_challenge: [u8; 16],
    /// The peer challenge.
    pub peer_challenge: [u8; 16],
    /// The peer's NT-Response.
    pub nt_response: [u8; 24],
}

/// What a good MS-CHAPv2 response yields for the Access-Accept.
#[derive(Clone, PartialEq, Eq)]
pub struct MsChapV2Success {
    /// `S=` and 40 upper-case hex digits (RFC 2759 §8.7).
    pub authenticator_response: String,
    /// The server's send key (RFC 3079 §3.4, MasterSendKey seen from the server).
    pub send_key: [u8; 16],
    /// The server's receive key.
    pub recv_key: [u8; 16],
}

impl std::fmt::Debug for MsChapV2Success {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsChapV2Success")
            .field("authenticator_response", &self.authenticator_response)
            .field("send_key", &"<redacted>")
            .field("recv_key", &"<redacted>")
            .finish()
    }
}

impl MsChapV2Response {
    /// Reads the two attribute values; `None` when their lengths are wrong.
    pub fn parse(challenge: &[u8], response: &[u8]) -> Option<Self> {
        if response.len() != 50 {
            return None;
        }
        Some(Self {
            ident: response[0],
            auth_challenge: challenge.try_into().ok()?,
            peer_challenge: response[2..18].try_into().ok()?,
            nt_response: response[26..50].try_into().ok()?,
        })
    }

    /// What a PPP peer that knows the password sends (RFC 2759 §8.1 GenerateNTResponse), for
    /// tools and simulators that play the client side of an MS-CHAPv2 login.
    pub fn from_password(
        ident: u8,
        auth_challenge: [u8; 16],
        peer_challenge: [u8; 16],
        user_name: &str,
        password: &str,
    ) -> Self {
        let challenge = challenge_hash(&peer_challenge, &auth_challenge, user_name);
        Self {
            ident,
            auth_challenge,
            peer_challenge,
            nt_response: challenge_response(&challenge, &nt_password_hash(password)),
        }
    }

    /// The MS-CHAP2-Response value (50 bytes: ident, flags 0, peer challenge, 8 reserved zero
    /// bytes, NT-Response); [`MsChapV2Response::parse`] reads it back.
    pub fn to_value(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(50);
        value.extend_from_slice(&[self.ident, 0]);
        value.extend_from_slice(&self.peer_challenge);
        value.extend_from_slice(&[0; 8]);
        value.extend_from_slice(&self.nt_response);
        value
    }

    /// Checks the NT-Response against the user's NT hash; on success returns the authenticator
    /// response and MPPE keys. `user_name` is the RADIUS User-Name; a `DOMAIN\` prefix is
    /// removed as Windows peers hash the bare name.
    pub fn verify(&self, user_name: &str, nt_hash: &[u8; 16]) -> Option<MsChapV2Success> {
        let challenge = challenge_hash(&self.peer_challenge, &self.auth_challenge, user_name);
        let expected = challenge_response(&challenge, nt_hash);
        if !constant_time_eq(&expected, &self.nt_response) {
            return None;
        }
        let hash_hash: [u8; 16] = Md4::digest(nt_hash).into();
        let authenticator_response =
            authenticator_response(&hash_hash, &self.nt_response, &challenge);
        let master = master_key(&hash_hash, &self.nt_response);
        Some(MsChapV2Success {
            authenticator_response,
            send_key: asymmetric_start_key(&master, MAGIC_SERVER_SEND),
            recv_key: asymmetric_start_key(&master, MAGIC_SERVER_RECEIVE),
        })
    }
}

/// The MS-CHAP2-Success value: ident then the authenticator response.
pub fn success_value(ident: u8, success: &MsChapV2Success) -> Vec<u8> {
    let mut value = vec![ident];
    value.extend_from_slice(success.authenticator_response.as_bytes());
    value
}

/// The MS-CHAP-Error value for a failed MS-CHAPv2 login (RFC 2759 §6: E=691 authentication
/// failure, no retry).
pub fn error_value(ident: u8) -> Vec<u8> {
    let mut value = vec![ident];
    value.extend_from_slice(b"E=691 R=0 V=3");
    value
}

/// Checks an MS-CHAPv1 exchange (RFC 2433): MS-CHAP-Challenge of 8 bytes and MS-CHAP-Response of
/// 50 bytes (ident, flags, LM-Response, NT-Response). Only the NT-Response is accepted (flags = 1).
pub fn verify_v1(challenge: &[u8], response: &[u8], nt_hash: &[u8; 16]) -> bool {
    let Ok(challenge) = <[u8; 8]>::try_from(challenge) else {
        return false;
    };
    if response.len() != 50 || response[1] != 1 {
        return false;
    }
    constant_time_eq(&challenge_response(&challenge, nt_hash), &response[26..50])
}

/// Encrypts an MPPE key for MS-MPPE-Send-Key/Recv-Key (RFC 2548 §2.4.2): the salt (high bit set)
/// then the length-prefixed, zero-padded key XORed with MD5(secret + Request Authenticator +
/// salt) and then MD5(secret + previous block).
pub fn encrypt_mppe_key(
    key: &[u8; 16],
    secret: &Secret,
    request_authenticator: &[u8; 16],
    salt: [u8; 2],
) -> Vec<u8> {
    let salt = [salt[0] | 0x80, salt[1]];
    let mut plain = vec![16u8];
    plain.extend_from_slice(key);
    plain.resize(32, 0);
    let mut value = salt.to_vec();
    let mut pad = md5(&[secret.expose(), request_authenticator, &salt]);
    for chunk in plain.chunks(16) {
        let cipher: Vec<u8> = chunk.iter().zip(pad).map(|(p, b)| p ^ b).collect();
        pad = md5(&[secret.expose(), &cipher]);
        value.extend(cipher);
    }
    value
}

/// Decrypts an MS-MPPE-Send-Key/Recv-Key value (the NAS side; used in tests).
pub fn decrypt_mppe_key(
    value: &[u8],
    secret: &Secret,
    request_authenticator: &[u8; 16],
) -> Option<Vec<u8>> {
    let (salt, cipher) = value.split_at_checked(2)?;
    if cipher.is_empty() || !cipher.len().is_multiple_of(16) {
        return None;
    }
    let mut plain = Vec::with_capacity(cipher.len());
    let mut pad = md5(&[secret.expose(), request_authenticator, salt]);
    for chunk in cipher.chunks(16) {
        plain.extend(chunk.iter().zip(pad).map(|(c, b)| c ^ b));
        pad = md5(&[secret.expose(), chunk]);
    }
    let len = usize::from(*plain.first()?);
    plain.get(1..=len).map(<[u8]>::to_vec)
}

const MAGIC_SIGNING: &[u8] = b"Magic server to client signing constant";
const MAGIC_PAD: &[u8] = b"Pad to make it do more than one iteration";
const MAGIC_MASTER: &[u8] = b"This is the MPPE Master Key";
/// RFC 3079 Magic3: the client's receive key, the server's send key.
const MAGIC_SERVER_SEND: &[u8] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";
/// RFC 3079 Magic2: the client's send key, the server's receive key.
const MAGIC_SERVER_RECEIVE: &[u8] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";

/// RFC 2759 §8.2 ChallengeHash.
fn challenge_hash(peer: &[u8; 16], auth: &[u8; 16], user_name: &str) -> [u8; 8] {
    let bare = user_name.rsplit('\\').next().unwrap_or(user_name);
    let digest = Sha1::new()
        .chain_update(peer)
        .chain_update(auth)
        .chain_update(bare.as_bytes())
        .finalize();
    let mut challenge = [0u8; 8];
    challenge.copy_from_slice(&digest[..8]);
    challenge
}

/// RFC 2759 §8.5 ChallengeResponse: three DES encryptions keyed by the zero-padded hash.
fn challenge_response(challenge: &[u8; 8], hash: &[u8; 16]) -> [u8; 24] {
    let mut padded = [0u8; 21];
    padded[..16].copy_from_slice(hash);
    let mut response = [0u8; 24];
    for (key, out) in padded.chunks(7).zip(response.chunks_mut(8)) {
        let cipher = Des::new(&des_key(key).into());
        let mut block = Block::<Des>::from(*challenge);
        cipher.encrypt_block(&mut block);
        out.copy_from_slice(&block);
    }
    response
}

/// Spreads 56 key bits over 8 bytes (the low bit of each byte is DES parity, ignored).
fn des_key(seven: &[u8]) -> [u8; 8] {
    let bits = seven.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut key = [0u8; 8];
    for (i, byte) in key.iter_mut().enumerate() {
        let shift = 49 - 7 * i;
        // Seven bits at a time, placed in the high bits of each byte.
        *byte = u8::try_from((bits >> shift) & 0x7f).unwrap_or_default() << 1;
    }
    key
}

/// RFC 2759 §8.7 GenerateAuthenticatorResponse.
fn authenticator_response(
    hash_hash: &[u8; 16],
    nt_response: &[u8; 24],
    challenge: &[u8; 8],
) -> String {
    let digest = Sha1::new()
        .chain_update(hash_hash)
        .chain_update(nt_response)
        .chain_update(MAGIC_SIGNING)
        .finalize();
    let digest = Sha1::new()
        .chain_update(digest)
        .chain_update(challenge)
        .chain_update(MAGIC_PAD)
        .finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("S={hex}")
}

/// RFC 3079 §3.4 GetMasterKey.
fn master_key(hash_hash: &[u8; 16], nt_response: &[u8; 24]) -> [u8; 16] {
    let digest = Sha1::new()
        .chain_update(hash_hash)
        .chain_update(nt_response)
        .chain_update(MAGIC_MASTER)
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// RFC 3079 §3.4 GetAsymmetricStartKey for a 128-bit key.
fn asymmetric_start_key(master: &[u8; 16], magic: &[u8]) -> [u8; 16] {
    let digest = Sha1::new()
        .chain_update(master)
        .chain_update([0u8; 40])
        .chain_update(magic)
        .chain_update([0xf2u8; 40])
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{hex, unhex, unhex_array};

    // RFC 2759 §9.2 and RFC 3079 §3.5.3.
    const AUTH_CHALLENGE: &str = "5B5D7C7D7B3F2F3E3C2C602132262628";
    const PEER_CHALLENGE: &str = "21402324255E262A28295F2B3A337C7E";
    const NT_RESPONSE: &str = "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF";

    fn rfc_response() -> MsChapV2Response {
        let mut value = vec![1, 0];
        value.extend(unhex(PEER_CHALLENGE));
        value.extend([0; 8]);
        value.extend(unhex(NT_RESPONSE));
        MsChapV2Response::parse(&unhex(AUTH_CHALLENGE), &value).unwrap()
    }

    #[test]
    fn rfc2759_intermediate_values() {
        let hash = nt_password_hash("clientPass");
        assert_eq!(hex(&hash), "44ebba8d5312b8d611474411f56989ae");
        let hash_hash: [u8; 16] = Md4::digest(hash).into();
        assert_eq!(hex(&hash_hash), "41c00c584bd2d91c4017a2a12fa59f3f");
        let challenge = challenge_hash(
            &unhex_array(PEER_CHALLENGE),
            &unhex_array(AUTH_CHALLENGE),
            "User",
        );
        assert_eq!(hex(&challenge), "d02e4386bce91226");
        assert_eq!(
            hex(&challenge_response(&challenge, &hash)),
            NT_RESPONSE.to_ascii_lowercase()
        );
    }

    #[test]
    fn a_peer_with_the_password_sends_the_rfc2759_response() {
        let peer = MsChapV2Response::from_password(
            1,
            unhex_array(AUTH_CHALLENGE),
            unhex_array(PEER_CHALLENGE),
            "User",
            "clientPass",
        );
        assert_eq!(peer, rfc_response());
        assert_eq!(
            MsChapV2Response::parse(&unhex(AUTH_CHALLENGE), &peer.to_value()),
            Some(peer)
        );
    }

    #[test]
    fn rfc2759_authenticator_response_and_rfc3079_keys() {
        let success = rfc_response()
            .verify("User", &nt_password_hash("clientPass"))
            .unwrap();
        assert_eq!(
            success.authenticator_response,
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
        // RFC 3079 §3.5.3: MasterKey fdece371…, SendStartKey128 8b7cdc14… (Magic3, the
        // server's send key); the receive key uses Magic2.
        let master = master_key(
            &unhex_array("41C00C584BD2D91C4017A2A12FA59F3F"),
            &unhex_array(NT_RESPONSE),
        );
        assert_eq!(hex(&master), "fdece3717a8c838cb388e527ae3cdd31");
        assert_eq!(hex(&success.send_key), "8b7cdc149b993a1ba118cb153f56dccb");
        assert_eq!(hex(&success.recv_key), "d5f0e9521e3ea9589645e86051c82226");
        assert_eq!(
            success_value(1, &success)[1..],
            *b"S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
        assert!(!format!("{success:?}").contains("8b7c"));
    }

    #[test]
    fn wrong_password_or_user_fails() {
        let response = rfc_response();
        assert!(
            response
                .verify("User", &nt_password_hash("clientpass"))
                .is_none()
        );
        assert!(
            response
                .verify("Other", &nt_password_hash("clientPass"))
                .is_none()
        );
        // A Windows domain prefix is not part of the hashed name.
        assert!(
            response
                .verify("CORP\\User", &nt_password_hash("clientPass"))
                .is_some()
        );
        assert!(MsChapV2Response::parse(&[0; 15], &[0; 50]).is_none());
        assert!(MsChapV2Response::parse(&[0; 16], &[0; 49]).is_none());
    }

    #[test]
    fn mschap_v1_nt_response() {
        // RFC 2433 Appendix B: challenge 102DB5DF085D3041, password "MyPw".
        let hash = nt_password_hash("MyPw");
        assert_eq!(hex(&hash), "fc156af7edcd6c0edde3337d427f4eac");
        let challenge = unhex("102DB5DF085D3041");
        let nt = challenge_response(&unhex_array("102DB5DF085D3041"), &hash);
        assert_eq!(hex(&nt), "4e9d3c8f9cfd385d5bf4d3246791956ca4c351ab409a3d61");
        let mut response = vec![1, 1];
        response.extend([0; 24]);
        response.extend(nt);
        assert!(verify_v1(&challenge, &response, &hash));
        assert!(!verify_v1(&challenge, &response, &nt_password_hash("MyPW")));
        response[1] = 0;
        assert!(!verify_v1(&challenge, &response, &hash));
    }

    #[test]
    fn mppe_key_encryption_round_trips() {
        let secret = Secret::from("xyzzy5461");
        let authenticator = [3; 16];
        let key = [0x5a; 16];
        let value = encrypt_mppe_key(&key, &secret, &authenticator, [0x01, 0x02]);
        assert_eq!(value.len(), 34);
        assert_eq!(value[0], 0x81, "salt high bit set");
        assert_eq!(
            decrypt_mppe_key(&value, &secret, &authenticator).unwrap(),
            key.to_vec()
        );
    }
}
