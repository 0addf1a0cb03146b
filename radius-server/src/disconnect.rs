//! Disconnect-Request and CoA-Request (RFC 5176) to a NAS's dynamic-authorization port (3799 on
//! RouterOS): the sans-IO request builder and reply check, and an async sender with retries.
//! Requests carry a Message-Authenticator and the Request Authenticator of RFC 5176 §2.3;
//! retries resend the same bytes (same identifier) so that the NAS can spot duplicates.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tracing::debug;

use crate::attribute::{Attribute, ValueTooLong};
use crate::code::Code;
use crate::crypto::{self, AuthError};
use crate::numbers::attr;
use crate::packet::{DecodeError, EncodeError, MAX_PACKET_LEN, Packet};
use crate::secret::Secret;

/// The default dynamic-authorization port (RFC 5176 §3.1; RouterOS `/radius incoming`).
pub const DEFAULT_PORT: u16 = 3799;

/// Which request to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamicKind {
    /// End the session.
    Disconnect,
    /// Change the session's authorization (e.g. a new Mikrotik-Rate-Limit).
    Coa,
}

/// Which session on the NAS: RouterOS matches on User-Name, Acct-Session-Id and/or
/// Framed-IP-Address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSelector {
    /// User-Name.
    pub user_name: Option<String>,
    /// Acct-Session-Id, the octets the NAS sent in accounting.
    pub acct_session_id: Option<Vec<u8>>,
    /// Framed-IP-Address.
    pub framed_ip: Option<Ipv4Addr>,
    /// Calling-Station-Id (the client MAC).
    pub calling_station_id: Option<String>,
}

impl SessionSelector {
    /// The identifying attributes.
    pub fn to_attributes(&self) -> Result<Vec<Attribute>, ValueTooLong> {
        let mut out = Vec::new();
        if let Some(user) = &self.user_name {
            out.push(Attribute::text(attr::USER_NAME, user)?);
        }
        if let Some(session) = &self.acct_session_id {
            out.push(Attribute::new(attr::ACCT_SESSION_ID, session.as_slice())?);
        }
        if let Some(ip) = self.framed_ip {
            out.push(Attribute::ipv4(attr::FRAMED_IP_ADDRESS, ip));
        }
        if let Some(mac) = &self.calling_station_id {
            out.push(Attribute::text(attr::CALLING_STATION_ID, mac)?);
        }
        Ok(out)
    }
}

/// The NAS's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamicOutcome {
    /// Disconnect-ACK or CoA-ACK.
    Ack,
    /// Disconnect-NAK or CoA-NAK, with Error-Cause if sent (503 Session-Context-Not-Found…).
    Nak {
        /// The Error-Cause value.
        error_cause: Option<u32>,
    },
}

/// A request encoded and signed, ready to send (and resend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRequest {
    kind: DynamicKind,
    identifier: u8,
    code: Code,
    authenticator: [u8; 16],
    bytes: Vec<u8>,
}

/// A datagram that is not a valid answer to the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("identifier {got} does not match the request's {expected}")]
    OtherIdentifier { got: u8, expected: u8 },
    #[error("{0} is not an answer to this request")]
    UnexpectedCode(Code),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl PreparedRequest {
    /// Encodes and signs a request with the given identifier.
    pub fn new(
        kind: DynamicKind,
        identifier: u8,
        attributes: Vec<Attribute>,
        secret: &Secret,
    ) -> Result<Self, EncodeError> {
        let code = match kind {
            DynamicKind::Disconnect => Code::DisconnectRequest,
            DynamicKind::Coa => Code::CoaRequest,
        };
        let mut packet = Packet::new(code, identifier, [0; 16]);
        packet.attributes = attributes;
        let bytes = crypto::sign_request(&packet, secret)?;
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&bytes[4..20]);
        Ok(Self {
            kind,
            identifier,
            code,
            authenticator,
            bytes,
        })
    }

    /// The datagram to send.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Checks a received datagram: identifier, code, Response Authenticator and (if present)
    /// Message-Authenticator, then reads the outcome.
    pub fn check_reply(&self, bytes: &[u8], secret: &Secret) -> Result<DynamicOutcome, ReplyError> {
        let packet = Packet::decode(bytes)?;
        if packet.identifier != self.identifier {
            return Err(ReplyError::OtherIdentifier {
                got: packet.identifier,
                expected: self.identifier,
            });
        }
        let outcome =
            match (self.kind, packet.code) {
                (DynamicKind::Disconnect, Code::DisconnectAck)
                | (DynamicKind::Coa, Code::CoaAck) => DynamicOutcome::Ack,
                (DynamicKind::Disconnect, Code::DisconnectNak)
                | (DynamicKind::Coa, Code::CoaNak) => DynamicOutcome::Nak {
                    error_cause: packet.get(attr::ERROR_CAUSE).and_then(Attribute::as_u32),
                },
                (_, code) => return Err(ReplyError::UnexpectedCode(code)),
            };
        crypto::verify_reply(bytes, self.code, &self.authenticator, secret)?;
        Ok(outcome)
    }
}

/// How long to wait and how often to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait for an answer after each send.
    pub timeout: Duration,
    /// Sends in total.
    pub attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            attempts: 3,
        }
    }
}

/// Why no answer was had.
#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    #[error("no valid answer from {target} after {attempts} attempts")]
    Timeout { target: SocketAddr, attempts: u32 },
    #[error("request cannot be encoded: {0}")]
    Encode(#[from] EncodeError),
    #[error("request attribute too long: {0}")]
    Attribute(#[from] ValueTooLong),
    #[error("socket error talking to {target}: {source}")]
    Io {
        target: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Sends a Disconnect-Request for the session.
pub async fn disconnect(
    socket: &UdpSocket,
    target: SocketAddr,
    secret: &Secret,
    session: &SessionSelector,
    retry: RetryPolicy,
) -> Result<DynamicOutcome, DynamicError> {
    send(
        socket,
        target,
        secret,
        DynamicKind::Disconnect,
        session.to_attributes()?,
        retry,
    )
    .await
}

/// Sends a request on `socket` (which the caller does not use for anything else meanwhile) and
/// waits for the matching, authenticated answer, resending on timeout. Datagrams from elsewhere
/// or that fail the checks are ignored.
pub async fn send(
    socket: &UdpSocket,
    target: SocketAddr,
    secret: &Secret,
    kind: DynamicKind,
    attributes: Vec<Attribute>,
    retry: RetryPolicy,
) -> Result<DynamicOutcome, DynamicError> {
    let request = PreparedRequest::new(kind, random_identifier(), attributes, secret)?;
    let io = |source| DynamicError::Io { target, source };
    let attempts = retry.attempts.max(1);
    let mut buffer = vec![0u8; MAX_PACKET_LEN];
    for attempt in 1..=attempts {
        socket.send_to(request.bytes(), target).await.map_err(io)?;
        let deadline = tokio::time::Instant::now() + retry.timeout;
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await;
            let Ok(received) = received else {
                debug!(%target, attempt, "no answer to dynamic-authorization request");
                break;
            };
            let (len, from) = received.map_err(io)?;
            if from != target {
                continue;
            }
            match request.check_reply(&buffer[..len], secret) {
                Ok(outcome) => return Ok(outcome),
                Err(error) => debug!(%target, %error, "ignored datagram"),
            }
        }
    }
    Err(DynamicError::Timeout { target, attempts })
}

fn random_identifier() -> u8 {
    let mut byte = [0u8; 1];
    // Without OS randomness any identifier still works: replies are matched by authenticator.
    let _ = getrandom::fill(&mut byte);
    byte[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{MessageAuthenticator, sign_reply, verify_request};

    fn secret() -> Secret {
        Secret::from("testing123")
    }

    fn nak(request: &Packet, cause: u32) -> Vec<u8> {
        let mut nak = Packet::new(Code::DisconnectNak, request.identifier, [0; 16]);
        nak.push(Attribute::integer(attr::ERROR_CAUSE, cause));
        sign_reply(&nak, request, &secret()).unwrap()
    }

    #[test]
    fn prepared_request_is_signed_and_checks_replies() {
        let session = SessionSelector {
            user_name: Some("nemo".into()),
            acct_session_id: Some(b"81000001".to_vec()),
            ..SessionSelector::default()
        };
        let prepared = PreparedRequest::new(
            DynamicKind::Disconnect,
            2,
            session.to_attributes().unwrap(),
            &secret(),
        )
        .unwrap();
        let packet = Packet::decode(prepared.bytes()).unwrap();
        assert_eq!(packet.code, Code::DisconnectRequest);
        assert_eq!(packet.attributes[0].kind(), attr::MESSAGE_AUTHENTICATOR);
        assert_eq!(
            verify_request(prepared.bytes(), &packet, &secret()),
            Ok(MessageAuthenticator::Valid)
        );

        let ack = Packet::new(Code::DisconnectAck, 2, [0; 16]);
        let ack = sign_reply(&ack, &packet, &secret()).unwrap();
        assert_eq!(
            prepared.check_reply(&ack, &secret()),
            Ok(DynamicOutcome::Ack)
        );
        assert_eq!(
            prepared.check_reply(&nak(&packet, 503), &secret()),
            Ok(DynamicOutcome::Nak {
                error_cause: Some(503)
            })
        );
        assert_eq!(
            prepared.check_reply(&ack, &Secret::from("wrong")),
            Err(ReplyError::Auth(AuthError::BadAuthenticator))
        );
        let coa_ack =
            sign_reply(&Packet::new(Code::CoaAck, 2, [0; 16]), &packet, &secret()).unwrap();
        assert_eq!(
            prepared.check_reply(&coa_ack, &secret()),
            Err(ReplyError::UnexpectedCode(Code::CoaAck))
        );
    }

    #[tokio::test]
    async fn retries_until_the_nas_answers() {
        let nas = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = nas.local_addr().unwrap();
        let fake_nas = tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            // Ignore the first send; answer the retransmit, which must be identical.
            let (first, _) = nas.recv_from(&mut buffer).await.unwrap();
            let first = buffer[..first].to_vec();
            let (len, from) = nas.recv_from(&mut buffer).await.unwrap();
            assert_eq!(buffer[..len], first[..]);
            let request = Packet::decode(&first).unwrap();
            nas.send_to(&nak(&request, 503), from).await.unwrap();
        });
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let retry = RetryPolicy {
            timeout: Duration::from_millis(200),
            attempts: 3,
        };
        let session = SessionSelector {
            user_name: Some("nemo".into()),
            ..SessionSelector::default()
        };
        let outcome = disconnect(&socket, target, &secret(), &session, retry)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            DynamicOutcome::Nak {
                error_cause: Some(503)
            }
        );
        fake_nas.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_when_nobody_answers() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let result = send(
            &socket,
            silent.local_addr().unwrap(),
            &secret(),
            DynamicKind::Coa,
            Vec::new(),
            RetryPolicy::default(),
        )
        .await;
        assert!(
            matches!(result, Err(DynamicError::Timeout { attempts: 3, .. })),
            "{result:?}"
        );
    }
}
