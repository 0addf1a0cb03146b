//! One datagram, start to finish: decode, authenticate, duplicate check, policy, reply. The
//! packet work is sans-IO; the only awaits are the policy's answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::debug;

use super::{Port, Shared};
use crate::accounting::AccountingRecord;
use crate::attribute::Attribute;
use crate::auth::mschap;
use crate::cache::{CacheKey, Lookup, ReplyCache};
use crate::clients::Client;
use crate::code::Code;
use crate::counters::DropCause;
use crate::crypto::{self, AuthError, MessageAuthenticator};
use crate::numbers::{attr, microsoft, vendor};
use crate::packet::Packet;
use crate::policy::{Check, Decision, Policy, PolicyError, Rejection, Verification};
use crate::request::{AccessRequest, AuthMethod};
use crate::verify::Verified;

/// Handles one datagram from a known client; returns the reply to send, if any.
pub(super) async fn handle<P: Policy>(
    shared: &Shared<P>,
    port: Port,
    client: &Arc<Client>,
    source: SocketAddr,
    bytes: &[u8],
) -> Option<Arc<[u8]>> {
    let nas = client.name();
    let dropped = |cause: DropCause, detail: &dyn std::fmt::Display| {
        debug!(nas, %source, cause = cause.as_str(), %detail, "RADIUS packet dropped");
        shared.counters.dropped(nas, cause);
        None
    };
    let packet = match Packet::decode(bytes) {
        Ok(packet) => packet,
        Err(error) => return dropped(DropCause::Malformed, &error),
    };
    let served = match port {
        Port::Auth => matches!(packet.code, Code::AccessRequest | Code::StatusServer),
        Port::Acct => matches!(packet.code, Code::AccountingRequest | Code::StatusServer),
    };
    if !served {
        return dropped(DropCause::UnexpectedCode, &packet.code);
    }
    match crypto::verify_request(bytes, &packet, client.secret()) {
        Err(error @ AuthError::BadAuthenticator) => {
            return dropped(DropCause::BadAuthenticator, &error);
        }
        Err(error) => return dropped(DropCause::BadMessageAuthenticator, &error),
        Ok(MessageAuthenticator::Absent) if needs_message_authenticator(&packet, client) => {
            return dropped(
                DropCause::MissingMessageAuthenticator,
                &AuthError::MissingMessageAuthenticator,
            );
        }
        Ok(_) => {}
    }

    let key = CacheKey {
        source,
        identifier: packet.identifier,
        authenticator: packet.authenticator,
    };
    let lookup = lock(&shared.cache).begin(key, Instant::now());
    match lookup {
        Lookup::New => {}
        Lookup::Replay(reply) => {
            debug!(nas, %source, id = packet.identifier, "retransmit answered from the reply cache");
            shared.counters.duplicate(nas);
            return Some(reply);
        }
        Lookup::InProgress => {
            return dropped(DropCause::InProgress, &"retransmit while in progress");
        }
        Lookup::Full => return dropped(DropCause::Overloaded, &"reply cache full"),
    }
    // Forgets the key unless a reply is stored, also when this future is dropped.
    let mut in_flight = InFlight {
        cache: &shared.cache,
        key,
        done: false,
    };

    let reply = match tokio::time::timeout(
        shared.config.request_timeout,
        respond(shared, port, client, source, &packet),
    )
    .await
    {
        Ok(Ok(reply)) => reply,
        Ok(Err(Dropped::Malformed(detail))) => return dropped(DropCause::Malformed, &detail),
        Ok(Err(Dropped::ReplyTooLong(detail))) => return dropped(DropCause::ReplyTooLong, &detail),
        Ok(Err(Dropped::Policy(error))) => return dropped(DropCause::PolicyFailed, &error),
        Err(_) => return dropped(DropCause::PolicyFailed, &"policy timed out"),
    };
    let bytes: Arc<[u8]> = match crypto::sign_reply(&reply, &packet, client.secret()) {
        Ok(bytes) => bytes.into(),
        Err(error) => return dropped(DropCause::ReplyTooLong, &error),
    };
    lock(&shared.cache).complete(key, bytes.clone(), Instant::now());
    in_flight.done = true;
    Some(bytes)
}

enum Dropped {
    /// The request cannot be read (e.g. accounting without Acct-Status-Type).
    Malformed(String),
    /// The reply does not fit (a policy attribute over 253 bytes).
    ReplyTooLong(String),
    Policy(PolicyError),
}

/// Builds the reply packet (unsigned) and counts the outcome.
async fn respond<P: Policy>(
    shared: &Shared<P>,
    port: Port,
    client: &Arc<Client>,
    source: SocketAddr,
    packet: &Packet,
) -> Result<Packet, Dropped> {
    let nas = client.name();
    let mut reply = match packet.code {
        Code::StatusServer => {
            shared.counters.status_server(nas);
            let code = match port {
                Port::Auth => Code::AccessAccept,
                Port::Acct => Code::AccountingResponse,
            };
            Packet::new(code, packet.identifier, [0; 16])
        }
        Code::AccountingRequest => {
            let record = AccountingRecord::from_packet(packet, nas, source)
                .map_err(|e| Dropped::Malformed(e.to_string()))?;
            shared
                .policy
                .account(&record)
                .await
                .map_err(Dropped::Policy)?;
            debug!(nas, session = %record.session_id.escape_ascii(), status = ?record.status, "accounting stored");
            shared.counters.acct_write(nas);
            Packet::new(Code::AccountingResponse, packet.identifier, [0; 16])
        }
        _ => access(shared, client, source, packet).await?,
    };
    // RFC 2865 §5.33: Proxy-State is copied unmodified and in order into the reply.
    reply
        .attributes
        .extend(packet.all(attr::PROXY_STATE).cloned());
    Ok(reply)
}

async fn access<P: Policy>(
    shared: &Shared<P>,
    client: &Arc<Client>,
    source: SocketAddr,
    packet: &Packet,
) -> Result<Packet, Dropped> {
    let nas = client.name();
    let (request, proof) = AccessRequest::from_packet(packet, nas, source);
    let check = Check::new(request, proof, Arc::clone(client), packet.authenticator);
    let decision = shared
        .policy
        .login(check.clone())
        .await
        .map_err(Dropped::Policy)?;
    let Verified {
        verification,
        mschap_v2,
    } = check.outcome().unwrap_or(Verified {
        verification: Verification::NoProof,
        mschap_v2: None,
    });
    let decision = match decision {
        // Invariant: nothing unverified is ever accepted, whatever the policy says.
        Decision::Accept(_) if verification != Verification::Verified => {
            Decision::Reject(Rejection::for_verification(verification))
        }
        other => other,
    };
    let request = check.request();
    let reply = match decision {
        Decision::Accept(attributes) => {
            let mut reply = Packet::new(Code::AccessAccept, packet.identifier, [0; 16]);
            reply.attributes = attributes
                .to_attributes()
                .map_err(|e| Dropped::ReplyTooLong(e.to_string()))?;
            if let (Some(success), Some(ident)) = (mschap_v2, mschap_v2_ident(packet)) {
                push_mschap_v2_success(&mut reply, ident, &success, client, packet)?;
            }
            debug!(nas, user = %request.user_name, method = ?request.method, "Access-Accept");
            shared.counters.accept(nas);
            reply
        }
        Decision::Reject(rejection) => {
            let mut reply = Packet::new(Code::AccessReject, packet.identifier, [0; 16]);
            if !rejection.message.is_empty() {
                reply.push(text(attr::REPLY_MESSAGE, &rejection.message)?);
            }
            if request.method == AuthMethod::MsChapV2
                && let Some(ident) = mschap_v2_ident(packet)
            {
                reply.push(vsa(microsoft::MS_CHAP_ERROR, &mschap::error_value(ident))?);
            }
            debug!(nas, user = %request.user_name, reason = rejection.reason.as_str(), "Access-Reject");
            shared.counters.reject(nas, rejection.reason);
            reply
        }
    };
    Ok(reply)
}

/// The MS-CHAP2-Success, MPPE keys and encryption policy of an MS-CHAPv2 Access-Accept.
fn push_mschap_v2_success(
    reply: &mut Packet,
    ident: u8,
    success: &mschap::MsChapV2Success,
    client: &Client,
    packet: &Packet,
) -> Result<(), Dropped> {
    reply.push(vsa(
        microsoft::MS_CHAP2_SUCCESS,
        &mschap::success_value(ident, success),
    )?);
    for (kind, key) in [
        (microsoft::MS_MPPE_SEND_KEY, &success.send_key),
        (microsoft::MS_MPPE_RECV_KEY, &success.recv_key),
    ] {
        let value = mschap::encrypt_mppe_key(key, client.secret(), &packet.authenticator, salt());
        reply.push(vsa(kind, &value)?);
    }
    // Encryption allowed (1), RC4 40 or 128 bit (6): the FreeRADIUS defaults.
    reply.push(vsa(
        microsoft::MS_MPPE_ENCRYPTION_POLICY,
        &1u32.to_be_bytes(),
    )?);
    reply.push(vsa(
        microsoft::MS_MPPE_ENCRYPTION_TYPES,
        &6u32.to_be_bytes(),
    )?);
    Ok(())
}

/// The PPP identifier of an MS-CHAP2-Response, echoed in MS-CHAP2-Success and MS-CHAP-Error.
fn mschap_v2_ident(packet: &Packet) -> Option<u8> {
    packet
        .vendor_attribute(vendor::MICROSOFT, microsoft::MS_CHAP2_RESPONSE)
        .and_then(|v| v.value.first().copied())
}

/// A fresh salt per key (RFC 2548 requires them to differ within a packet and over time).
fn salt() -> [u8; 2] {
    let mut salt = [0u8; 2];
    if getrandom::fill(&mut salt).is_err() {
        // No OS randomness: fall back to the clock, which still varies per call (only its
        // nanoseconds are used, as noise, never as a time).
        #[allow(clippy::disallowed_methods)]
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        salt = [(nanos >> 8) as u8, nanos as u8];
    }
    salt
}

fn vsa(kind: u8, value: &[u8]) -> Result<Attribute, Dropped> {
    Attribute::vendor(vendor::MICROSOFT, kind, value)
        .map_err(|e| Dropped::ReplyTooLong(e.to_string()))
}

fn text(kind: u8, value: &str) -> Result<Attribute, Dropped> {
    // Reply-Message longer than an attribute: cut at a character boundary.
    let mut end = value.len().min(crate::attribute::MAX_VALUE_LEN);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Attribute::text(kind, &value[..end]).map_err(|e| Dropped::ReplyTooLong(e.to_string()))
}

/// Message-Authenticator is required on Status-Server always (RFC 5997) and on Access-Requests
/// unless the client is explicitly relaxed. Even then an EAP-Message (RFC 3579) or a Proxy-State
/// needs one: a Proxy-State is where a Blast-RADIUS forgery hides its collision blocks
/// (FreeRADIUS `limit_proxy_state`).
fn needs_message_authenticator(packet: &Packet, client: &Client) -> bool {
    match packet.code {
        Code::StatusServer => true,
        Code::AccessRequest => {
            client.requires_message_authenticator()
                || packet.get(attr::EAP_MESSAGE).is_some()
                || packet.get(attr::PROXY_STATE).is_some()
        }
        _ => false,
    }
}

struct InFlight<'a> {
    cache: &'a Mutex<ReplyCache>,
    key: CacheKey,
    done: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            lock(self.cache).abandon(self.key);
        }
    }
}

fn lock(cache: &Mutex<ReplyCache>) -> std::sync::MutexGuard<'_, ReplyCache> {
    cache.lock().unwrap_or_else(|e| e.into_inner())
}
