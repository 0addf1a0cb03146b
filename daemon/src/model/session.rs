//! Accounting sessions (RFC 2866) as stored, and the page's view of the open ones.

use serde::Serialize;

use super::stored::stored_enum;
use super::{RouterId, SubscriberId, SubscriptionId};
use crate::clock::Timestamp;

stored_enum! {
    /// Whether the router still has a session.
    pub enum SessionState {
        /// Online.
        Open = "open",
        /// Stopped (by the router, a NAS reboot or a kick).
        Closed = "closed",
    }
}

/// The stored form of an Acct-Session-Id: the key a router's session is recorded under.
///
/// RFC 2866 says the attribute SHOULD be UTF-8, not MUST; routers send what they like and
/// FreeRADIUS keeps it as octets. The form is lossless and one-to-one:
/// - UTF-8 text is kept as is, with `\` doubled;
/// - a byte that is not part of UTF-8 text is written `\xNN` (two lower-case hex digits);
/// - an empty Acct-Session-Id (which cannot tell sessions apart) is recorded as
///   `\empty:` followed by the User-Name and Calling-Station-Id in the same escaping, the way
///   FreeRADIUS' Acct-Unique-Session-Id falls back on the user and port.
///
/// Escaped text never contains `\e`, so no form can be mistaken for another.
pub fn acct_session_key(
    octets: &[u8],
    user_name: &str,
    calling_station_id: Option<&str>,
) -> String {
    if octets.is_empty() {
        let mut key = String::from("\\empty:");
        escape_into(&mut key, user_name.as_bytes());
        key.push(':');
        escape_into(&mut key, calling_station_id.unwrap_or("").as_bytes());
        return key;
    }
    let mut key = String::with_capacity(octets.len());
    escape_into(&mut key, octets);
    key
}

/// The octets to send back as Acct-Session-Id (Disconnect-Request, CoA) for a stored key;
/// `None` for a session the router sent no usable id for (the request then names the session
/// by User-Name and Framed-IP-Address only).
pub fn acct_session_octets(key: &str) -> Option<Vec<u8>> {
    if key.starts_with("\\empty:") {
        return None;
    }
    let mut out = Vec::with_capacity(key.len());
    let mut bytes = key.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        match bytes.next() {
            Some(b'x') => {
                let high = bytes.next().and_then(|b| char::from(b).to_digit(16))?;
                let low = bytes.next().and_then(|b| char::from(b).to_digit(16))?;
                out.push(u8::try_from(high * 16 + low).ok()?);
            }
            Some(other) => out.push(other),
            None => return None,
        }
    }
    Some(out)
}

fn escape_into(out: &mut String, octets: &[u8]) {
    for chunk in octets.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// The NAS.
    pub router_id: RouterId,
    /// Acct-Session-Id (unique per router), in its stored form ([`acct_session_key`]).
    pub acct_session_id: String,
    /// Whose, when known.
    pub subscriber_id: Option<SubscriberId>,
    /// The subscription it is charged to.
    pub subscription_id: Option<SubscriptionId>,
    /// User-Name.
    pub username: String,
    /// Calling-Station-Id.
    pub mac: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<String>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<String>,
    /// Online or stopped.
    pub state: SessionState,
    /// First seen.
    pub started_at: Timestamp,
    /// Last accounting packet.
    pub updated_at: Timestamp,
    /// Stop time.
    pub stopped_at: Option<Timestamp>,
    /// Acct-Session-Time.
    pub session_time_s: i64,
    /// Bytes from the client.
    pub input_octets: i64,
    /// Bytes to the client.
    pub output_octets: i64,
    /// Acct-Terminate-Cause.
    pub terminate_cause: Option<u32>,
}

/// An open accounting session with what its subscription has left.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LiveSession {
    /// The sessions table's id (what the kick button sends).
    pub id: i64,
    /// The router's name.
    pub router: String,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// Calling-Station-Id.
    pub mac: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<String>,
    /// Accounting Start.
    pub started_at: Timestamp,
    /// Last accounting record.
    pub updated_at: Timestamp,
    /// Seconds online in this session.
    pub session_time_s: i64,
    /// Octets in + out in this session.
    pub octets: i64,
    /// When the subscription ends.
    pub expires_at: Option<Timestamp>,
    /// Online seconds left on the subscription (None: no time limit).
    pub time_left_s: Option<i64>,
    /// Bytes left on the subscription (None: no data limit).
    pub data_left: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acct_session_keys_are_lossless_and_never_collide() {
        let cases: [(&[u8], &str); 6] = [
            (b"81000001", "81000001"),
            (b"a\\b", "a\\\\b"),
            (&[0xff, b'a', 0x00], "\\xffa\u{0}"),
            (b"\\xff", "\\\\xff"),
            ("caf\u{e9}".as_bytes(), "caf\u{e9}"),
            (&[0xc3], "\\xc3"),
        ];
        for (octets, key) in cases {
            assert_eq!(acct_session_key(octets, "u", None), key, "{octets:?}");
            assert_eq!(acct_session_octets(key).as_deref(), Some(octets), "{key}");
        }
        // The one byte 0xff and the four characters `\xff` are different sessions.
        assert_ne!(
            acct_session_key(&[0xff], "u", None),
            acct_session_key(b"\\xff", "u", None)
        );
        let empty = acct_session_key(b"", "bob", Some("AA:BB:CC:00:00:01"));
        assert_eq!(empty, "\\empty:bob:AA:BB:CC:00:00:01");
        assert_eq!(acct_session_octets(&empty), None);
        assert_ne!(
            empty,
            acct_session_key(b"", "eve", Some("AA:BB:CC:00:00:01"))
        );
    }
}
