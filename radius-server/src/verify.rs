//! Checks the proof in an Access-Request against the policy's credential. Pure: a policy calls
//! it between the policy's two answers. The credential and the outcome are defined here, below
//! the policy trait that hands them over (and re-exports them).

use crate::auth::mschap::{self, MsChapV2Success};
use crate::auth::{chap, pap};
use crate::mac::MacAddress;
use crate::request::{AccessRequest, Proof};
use crate::secret::Secret;

/// The user's secret, as the store has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The cleartext password: verifies PAP, CHAP, MS-CHAPv1 and MS-CHAPv2.
    Password(Secret),
    /// The NT hash (MD4 of the UTF-16LE password): verifies MS-CHAPv1/v2 and PAP (by hashing the
    /// PAP password), not CHAP.
    NtHash(NtHash),
    /// A MAC-auth login: verified when User-Name and Calling-Station-Id are the same MAC.
    MacAuth,
    /// No such user.
    UnknownUser,
}

/// An NT password hash. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct NtHash(pub [u8; 16]);

impl std::fmt::Debug for NtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NtHash(<redacted>)")
    }
}

/// The outcome of checking the request's proof against the [`Credential`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verification {
    /// The proof matches.
    Verified,
    /// The policy does not know the user.
    UnknownUser,
    /// The proof does not match (wrong password).
    WrongPassword,
    /// A MAC-auth user whose User-Name is not the Calling-Station-Id MAC.
    MacMismatch,
    /// The request carries no usable proof (no password attribute, or a malformed one).
    NoProof,
    /// The stored credential cannot check this method (CHAP against an NT hash).
    MethodUnavailable,
}

/// The verification outcome, and for a good MS-CHAPv2 login what the Access-Accept must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub verification: Verification,
    pub mschap_v2: Option<MsChapV2Success>,
}

pub(crate) fn verify(
    request: &AccessRequest,
    proof: &Proof,
    credential: &Credential,
    secret: &Secret,
    authenticator: &[u8; 16],
) -> Verified {
    let plain = |verification| Verified {
        verification,
        mschap_v2: None,
    };
    let check = |ok: bool| {
        plain(if ok {
            Verification::Verified
        } else {
            Verification::WrongPassword
        })
    };
    match credential {
        Credential::UnknownUser => plain(Verification::UnknownUser),
        Credential::MacAuth => {
            let user: Option<MacAddress> = request.user_name.parse().ok();
            plain(match (user, request.mac) {
                (Some(user), Some(mac)) if user == mac => Verification::Verified,
                _ => Verification::MacMismatch,
            })
        }
        Credential::Password(password) => match proof {
            Proof::Pap { hidden } => check(pap::verify(
                hidden,
                authenticator,
                secret,
                password.expose(),
            )),
            Proof::Chap {
                password: response,
                challenge,
            } => check(chap::verify(response, challenge, password.expose())),
            Proof::MsChapV1 { .. } | Proof::MsChapV2(_) => {
                let Ok(text) = std::str::from_utf8(password.expose()) else {
                    return plain(Verification::MethodUnavailable);
                };
                verify_mschap(request, proof, &NtHash(mschap::nt_password_hash(text)))
            }
            Proof::Malformed | Proof::None => plain(Verification::NoProof),
        },
        Credential::NtHash(hash) => match proof {
            Proof::Pap { hidden } => {
                let ok = pap::decrypt(hidden, authenticator, secret)
                    .and_then(|p| String::from_utf8(p.expose().to_vec()).ok())
                    .is_some_and(|p| {
                        crate::crypto::constant_time_eq(&mschap::nt_password_hash(&p), &hash.0)
                    });
                check(ok)
            }
            Proof::Chap { .. } => plain(Verification::MethodUnavailable),
            Proof::MsChapV1 { .. } | Proof::MsChapV2(_) => verify_mschap(request, proof, hash),
            Proof::Malformed | Proof::None => plain(Verification::NoProof),
        },
    }
}

fn verify_mschap(request: &AccessRequest, proof: &Proof, hash: &NtHash) -> Verified {
    match proof {
        Proof::MsChapV2(response) => match response.verify(&request.user_name, &hash.0) {
            Some(success) => Verified {
                verification: Verification::Verified,
                mschap_v2: Some(success),
            },
            None => Verified {
                verification: Verification::WrongPassword,
                mschap_v2: None,
            },
        },
        Proof::MsChapV1 {
            challenge,
            response,
        } => Verified {
            verification: if mschap::verify_v1(challenge, response, &hash.0) {
                Verification::Verified
            } else {
                Verification::WrongPassword
            },
            mschap_v2: None,
        },
        _ => Verified {
            verification: Verification::NoProof,
            mschap_v2: None,
        },
    }
}
