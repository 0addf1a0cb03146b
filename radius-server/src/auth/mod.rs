//! Credential checks for the authentication methods a MikroTik NAS uses: PAP and CHAP (hotspot),
//! MS-CHAPv1 and MS-CHAPv2 (PPP/PPPoE). Pure functions over the request's attributes.

pub mod chap;
pub mod mschap;
pub mod pap;
