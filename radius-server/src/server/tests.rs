//! The server end to end over loopback UDP with an in-memory policy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{Server, ServerConfig};
use crate::auth::{chap, mschap, pap};
use crate::counters::{CountersSnapshot, DropCause};
use crate::crypto::{sign_access_request, sign_request, verify_reply};
use crate::numbers::{attr, microsoft, mikrotik, vendor};
use crate::policy::{
    Check, Credential, Decision, NtHash, Policy, PolicyError, RejectReason, Rejection, Verification,
};
use crate::testutil::unhex;
use crate::{
    AcceptAttributes, AccountingRecord, Attribute, Client, Clients, Code, Counters, Packet, Secret,
};

const SECRET: &str = "testing123";

#[derive(Default)]
struct TestPolicy {
    users: HashMap<String, Credential>,
    logins: AtomicUsize,
    records: std::sync::Mutex<Vec<AccountingRecord>>,
    /// When set, accounting waits for a permit (to hold a request in progress).
    acct_gate: Option<Arc<Semaphore>>,
    /// Accept even when verification failed (the server must still reject).
    careless: bool,
    /// Accept without ever calling `Check::verify` (the server must still reject).
    skips_check: bool,
}

impl Policy for TestPolicy {
    async fn login(&self, check: Check) -> Result<Decision, PolicyError> {
        let name = &check.request().user_name;
        if name == "broken" {
            return Err(PolicyError::new("store unavailable"));
        }
        self.logins.fetch_add(1, Ordering::SeqCst);
        let verification = if self.skips_check {
            Verification::Verified
        } else {
            check.verify(self.users.get(name).unwrap_or(&Credential::UnknownUser))
        };
        if verification == Verification::Verified || self.careless {
            Ok(Decision::Accept(AcceptAttributes {
                session_timeout: Some(3600),
                rate_limit: Some("2M/4M".into()),
                ..AcceptAttributes::default()
            }))
        } else {
            Ok(Decision::Reject(Rejection::new(
                RejectReason::BadCredentials,
                "Wrong password",
            )))
        }
    }

    async fn account(&self, record: &AccountingRecord) -> Result<(), PolicyError> {
        if let Some(gate) = &self.acct_gate {
            let _permit = gate.acquire().await.map_err(PolicyError::new)?;
        }
        self.records.lock().unwrap().push(record.clone());
        Ok(())
    }
}

struct Harness {
    auth: SocketAddr,
    acct: SocketAddr,
    nas: UdpSocket,
    counters: Arc<Counters>,
    policy: Arc<TestPolicy>,
    clients: Arc<Clients>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn start(policy: TestPolicy) -> Self {
        Self::start_with(policy, ServerConfig::default()).await
    }

    async fn start_with(policy: TestPolicy, config: ServerConfig) -> Self {
        let policy = Arc::new(policy);
        let clients = Arc::new(Clients::new());
        clients.insert(
            "127.0.0.1".parse().unwrap(),
            Client::new("nas1", Secret::from(SECRET)).unwrap(),
        );
        let auth = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let acct = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (auth_addr, acct_addr) = (auth.local_addr().unwrap(), acct.local_addr().unwrap());
        let server = Server::new(policy.clone(), clients.clone(), config);
        let counters = server.counters();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let server = tokio::spawn(async move { server.run(auth, acct, token).await.unwrap() });
        Self {
            auth: auth_addr,
            acct: acct_addr,
            nas: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            counters,
            policy,
            clients,
            shutdown,
            server,
        }
    }

    /// Sends and waits briefly for a reply.
    async fn exchange(&self, bytes: &[u8], to: SocketAddr) -> Option<Vec<u8>> {
        self.nas.send_to(bytes, to).await.unwrap();
        let mut buffer = vec![0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(500), self.nas.recv_from(&mut buffer))
            .await
        {
            Ok(Ok((len, _))) => Some(buffer[..len].to_vec()),
            _ => None,
        }
    }

    fn snapshot(&self) -> CountersSnapshot {
        self.counters.snapshot()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.unwrap();
    }
}

fn access_request(id: u8, user: &str) -> Packet {
    let mut packet = Packet::new(Code::AccessRequest, id, [id.wrapping_add(1); 16]);
    packet.push(Attribute::text(attr::USER_NAME, user).unwrap());
    packet.push(Attribute::text(attr::CALLING_STATION_ID, "AA:BB:CC:00:11:22").unwrap());
    packet
}

fn pap_request(id: u8, user: &str, password: &str) -> Vec<u8> {
    let mut packet = access_request(id, user);
    let hidden = pap::encrypt(
        password.as_bytes(),
        &packet.authenticator,
        &Secret::from(SECRET),
    );
    packet.push(Attribute::new(attr::USER_PASSWORD, hidden).unwrap());
    sign_access_request(&packet, &Secret::from(SECRET)).unwrap()
}

fn reply_of(request: &[u8], reply: &[u8]) -> Packet {
    let authenticator: [u8; 16] = request[4..20].try_into().unwrap();
    let code = Code::from_u8(request[0]).unwrap();
    verify_reply(reply, code, &authenticator, &Secret::from(SECRET)).expect("reply authenticates");
    Packet::decode(reply).unwrap()
}

fn policy_with(user: &str, credential: Credential) -> TestPolicy {
    TestPolicy {
        users: HashMap::from([(user.to_owned(), credential)]),
        ..TestPolicy::default()
    }
}

fn password(text: &str) -> Credential {
    Credential::Password(Secret::from(text))
}

#[tokio::test]
async fn pap_accept_reject_and_retransmit() {
    let harness = Harness::start(policy_with("alice", password("secret1"))).await;
    let request = pap_request(1, "alice", "secret1");
    let reply = harness.exchange(&request, harness.auth).await.unwrap();
    let accept = reply_of(&request, &reply);
    assert_eq!(accept.code, Code::AccessAccept);
    assert_eq!(accept.attributes[0].kind(), attr::MESSAGE_AUTHENTICATOR);
    assert_eq!(
        accept.get(attr::SESSION_TIMEOUT).unwrap().as_u32(),
        Some(3600)
    );
    assert_eq!(
        accept
            .vendor_attribute(vendor::MIKROTIK, mikrotik::RATE_LIMIT)
            .unwrap()
            .value,
        b"2M/4M"
    );
    // Retransmit: byte-identical, policy not asked again.
    let again = harness.exchange(&request, harness.auth).await.unwrap();
    assert_eq!(again, reply);
    assert_eq!(harness.policy.logins.load(Ordering::SeqCst), 1);

    let wrong = pap_request(2, "alice", "secret2");
    let reply = harness.exchange(&wrong, harness.auth).await.unwrap();
    let reject = reply_of(&wrong, &reply);
    assert_eq!(reject.code, Code::AccessReject);
    assert_eq!(
        reject.get(attr::REPLY_MESSAGE).unwrap().as_str(),
        Some("Wrong password")
    );

    let snapshot = harness.snapshot();
    let nas = &snapshot.nas["nas1"];
    assert_eq!(nas.accepts, 1);
    assert_eq!(nas.duplicates, 1);
    assert_eq!(nas.rejects[&RejectReason::BadCredentials], 1);
    harness.stop().await;
}

#[tokio::test]
async fn chap_with_and_without_chap_challenge() {
    let harness = Harness::start(policy_with("bob", password("pw"))).await;
    // Challenge in the Request Authenticator (RFC 2865 §2.2).
    let mut packet = access_request(3, "bob");
    let response = chap::response(7, &packet.authenticator, b"pw");
    packet.push(Attribute::new(attr::CHAP_PASSWORD, response).unwrap());
    let bytes = sign_access_request(&packet, &Secret::from(SECRET)).unwrap();
    let reply = harness.exchange(&bytes, harness.auth).await.unwrap();
    assert_eq!(reply_of(&bytes, &reply).code, Code::AccessAccept);
    // Challenge in CHAP-Challenge (what MikroTik sends).
    let mut packet = access_request(4, "bob");
    let challenge = [0x42; 16];
    packet.push(Attribute::new(attr::CHAP_CHALLENGE, challenge).unwrap());
    packet.push(Attribute::new(attr::CHAP_PASSWORD, chap::response(8, &challenge, b"pw")).unwrap());
    let bytes = sign_access_request(&packet, &Secret::from(SECRET)).unwrap();
    let reply = harness.exchange(&bytes, harness.auth).await.unwrap();
    assert_eq!(reply_of(&bytes, &reply).code, Code::AccessAccept);
    harness.stop().await;
}

#[tokio::test]
async fn mschap_v2_success_and_mppe_keys() {
    let hash = mschap::nt_password_hash("clientPass");
    let harness = Harness::start(policy_with("User", Credential::NtHash(NtHash(hash)))).await;
    let mut packet = access_request(5, "User");
    packet.push(
        Attribute::vendor(
            vendor::MICROSOFT,
            microsoft::MS_CHAP_CHALLENGE,
            &unhex("5B5D7C7D7B3F2F3E3C2C602132262628"),
        )
        .unwrap(),
    );
    let mut response = vec![9, 0];
    response.extend(unhex("21402324255E262A28295F2B3A337C7E"));
    response.extend([0; 8]);
    response.extend(unhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"));
    packet.push(
        Attribute::vendor(vendor::MICROSOFT, microsoft::MS_CHAP2_RESPONSE, &response).unwrap(),
    );
    let bytes = sign_access_request(&packet, &Secret::from(SECRET)).unwrap();
    let reply = harness.exchange(&bytes, harness.auth).await.unwrap();
    let accept = reply_of(&bytes, &reply);
    assert_eq!(accept.code, Code::AccessAccept);
    let success = accept
        .vendor_attribute(vendor::MICROSOFT, microsoft::MS_CHAP2_SUCCESS)
        .unwrap();
    assert_eq!(
        success.value,
        b"\x09S=407A5589115FD0D6209F510FE9C04566932CDA56"
    );
    let send = accept
        .vendor_attribute(vendor::MICROSOFT, microsoft::MS_MPPE_SEND_KEY)
        .unwrap();
    let key = mschap::decrypt_mppe_key(send.value, &Secret::from(SECRET), &packet.authenticator);
    assert_eq!(key.unwrap(), unhex("8b7cdc149b993a1ba118cb153f56dccb"));
    let recv = accept
        .vendor_attribute(vendor::MICROSOFT, microsoft::MS_MPPE_RECV_KEY)
        .unwrap();
    let key = mschap::decrypt_mppe_key(recv.value, &Secret::from(SECRET), &packet.authenticator);
    assert_eq!(key.unwrap(), unhex("d5f0e9521e3ea9589645e86051c82226"));
    harness.stop().await;
}

#[tokio::test]
async fn mac_auth_and_careless_policy() {
    let mut policy = policy_with("AA:BB:CC:00:11:22", Credential::MacAuth);
    policy
        .users
        .insert("AA:BB:CC:00:11:99".into(), Credential::MacAuth);
    policy.careless = true;
    let harness = Harness::start(policy).await;
    let ok = pap_request(6, "AA:BB:CC:00:11:22", "");
    let reply = harness.exchange(&ok, harness.auth).await.unwrap();
    assert_eq!(reply_of(&ok, &reply).code, Code::AccessAccept);
    // The User-Name MAC is not the Calling-Station-Id: rejected even though the policy accepts.
    let spoof = pap_request(7, "AA:BB:CC:00:11:99", "");
    let reply = harness.exchange(&spoof, harness.auth).await.unwrap();
    assert_eq!(reply_of(&spoof, &reply).code, Code::AccessReject);
    assert_eq!(
        harness.snapshot().nas["nas1"].rejects[&RejectReason::MacMismatch],
        1
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_policy_that_never_verifies_cannot_accept() {
    let mut policy = policy_with("alice", password("secret1"));
    policy.skips_check = true;
    let harness = Harness::start(policy).await;
    let request = pap_request(8, "alice", "secret1");
    let reply = harness.exchange(&request, harness.auth).await.unwrap();
    assert_eq!(reply_of(&request, &reply).code, Code::AccessReject);
    assert_eq!(
        harness.snapshot().nas["nas1"].rejects[&RejectReason::BadCredentials],
        1
    );
    harness.stop().await;
}

#[tokio::test]
async fn drops_unsigned_forged_unknown_and_malformed() {
    let harness = Harness::start(policy_with("alice", password("secret1"))).await;
    // No Message-Authenticator.
    let mut packet = access_request(10, "alice");
    let hidden = pap::encrypt(b"secret1", &packet.authenticator, &Secret::from(SECRET));
    packet.push(Attribute::new(attr::USER_PASSWORD, hidden).unwrap());
    let unsigned = packet.encode().unwrap();
    assert!(harness.exchange(&unsigned, harness.auth).await.is_none());
    // Wrong secret.
    let forged = sign_access_request(&packet, &Secret::from("guess")).unwrap();
    assert!(harness.exchange(&forged, harness.auth).await.is_none());
    // Garbage, and an Access-Request on the accounting port.
    assert!(
        harness
            .exchange(b"\x01\x02\x00", harness.auth)
            .await
            .is_none()
    );
    let good = pap_request(11, "alice", "secret1");
    assert!(harness.exchange(&good, harness.acct).await.is_none());
    // A policy failure: no reply, the NAS will retry.
    let broken = pap_request(12, "broken", "x");
    assert!(harness.exchange(&broken, harness.auth).await.is_none());
    // Unknown client.
    harness.clients.remove("127.0.0.1".parse().unwrap());
    assert!(harness.exchange(&good, harness.auth).await.is_none());

    let snapshot = harness.snapshot();
    let drops = &snapshot.nas["nas1"].drops;
    assert_eq!(drops[&DropCause::MissingMessageAuthenticator], 1);
    assert_eq!(drops[&DropCause::BadMessageAuthenticator], 1);
    assert_eq!(drops[&DropCause::Malformed], 1);
    assert_eq!(drops[&DropCause::UnexpectedCode], 1);
    assert_eq!(drops[&DropCause::PolicyFailed], 1);
    assert_eq!(snapshot.unknown_client_drops, 1);

    // A client explicitly relaxed accepts the unsigned request, and still signs its reply.
    harness.clients.insert(
        "127.0.0.1".parse().unwrap(),
        Client::new("nas1", Secret::from(SECRET))
            .unwrap()
            .allow_missing_message_authenticator(),
    );
    let reply = harness.exchange(&unsigned, harness.auth).await.unwrap();
    let accept = reply_of(&unsigned, &reply);
    assert_eq!(accept.code, Code::AccessAccept);
    assert_eq!(accept.attributes[0].kind(), attr::MESSAGE_AUTHENTICATOR);
    // But not with a Proxy-State (the Blast-RADIUS carrier).
    packet.identifier = 13;
    packet.push(Attribute::new(attr::PROXY_STATE, b"x".to_vec()).unwrap());
    let unsigned = packet.encode().unwrap();
    assert!(harness.exchange(&unsigned, harness.auth).await.is_none());
    assert_eq!(
        harness.snapshot().nas["nas1"].drops[&DropCause::MissingMessageAuthenticator],
        2
    );
    harness.stop().await;
}

#[tokio::test]
async fn proxy_state_is_echoed_in_order() {
    let harness = Harness::start(policy_with("alice", password("secret1"))).await;
    let mut packet = access_request(20, "alice");
    packet.push(Attribute::new(attr::PROXY_STATE, b"first".to_vec()).unwrap());
    let hidden = pap::encrypt(b"secret1", &packet.authenticator, &Secret::from(SECRET));
    packet.push(Attribute::new(attr::USER_PASSWORD, hidden).unwrap());
    packet.push(Attribute::new(attr::PROXY_STATE, b"second".to_vec()).unwrap());
    let bytes = sign_access_request(&packet, &Secret::from(SECRET)).unwrap();
    let reply = harness.exchange(&bytes, harness.auth).await.unwrap();
    let reply = reply_of(&bytes, &reply);
    let states: Vec<&[u8]> = reply.all(attr::PROXY_STATE).map(Attribute::value).collect();
    assert_eq!(states, vec![&b"first"[..], &b"second"[..]]);
    harness.stop().await;
}

#[tokio::test]
async fn status_server_on_both_ports() {
    let harness = Harness::start(TestPolicy::default()).await;
    let packet = Packet::new(Code::StatusServer, 30, [5; 16]);
    let bytes = sign_access_request(&packet, &Secret::from(SECRET)).unwrap();
    let reply = harness.exchange(&bytes, harness.auth).await.unwrap();
    assert_eq!(reply_of(&bytes, &reply).code, Code::AccessAccept);
    let packet = Packet::new(Code::StatusServer, 31, [6; 16]);
    let bytes = sign_access_request(&packet, &Secret::from(SECRET)).unwrap();
    let reply = harness.exchange(&bytes, harness.acct).await.unwrap();
    assert_eq!(reply_of(&bytes, &reply).code, Code::AccountingResponse);
    // Unsigned Status-Server is dropped.
    let unsigned = Packet::new(Code::StatusServer, 32, [7; 16])
        .encode()
        .unwrap();
    assert!(harness.exchange(&unsigned, harness.auth).await.is_none());
    assert_eq!(harness.snapshot().nas["nas1"].status_server, 2);
    harness.stop().await;
}

fn accounting_request(id: u8, status: u32, session: &str) -> Vec<u8> {
    let mut packet = Packet::new(Code::AccountingRequest, id, [0; 16]);
    packet.push(Attribute::integer(attr::ACCT_STATUS_TYPE, status));
    packet.push(Attribute::text(attr::ACCT_SESSION_ID, session).unwrap());
    packet.push(Attribute::text(attr::USER_NAME, "alice").unwrap());
    packet.push(Attribute::integer(attr::ACCT_INPUT_OCTETS, 10));
    packet.push(Attribute::integer(attr::ACCT_INPUT_GIGAWORDS, 1));
    sign_request(&packet, &Secret::from(SECRET)).unwrap()
}

#[tokio::test]
async fn accounting_waits_for_the_store_and_drops_in_progress_retransmits() {
    let gate = Arc::new(Semaphore::new(0));
    let policy = TestPolicy {
        acct_gate: Some(gate.clone()),
        ..TestPolicy::default()
    };
    let harness = Harness::start(policy).await;
    let request = accounting_request(40, 1, "81000001");
    // Held in the store: no response yet, and the retransmit is dropped, not processed.
    assert!(harness.exchange(&request, harness.acct).await.is_none());
    assert!(harness.exchange(&request, harness.acct).await.is_none());
    assert_eq!(
        harness.snapshot().nas["nas1"].drops[&DropCause::InProgress],
        1
    );
    gate.add_permits(10);
    let mut buffer = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(2), harness.nas.recv_from(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    let response = reply_of(&request, &buffer[..len]);
    assert_eq!(response.code, Code::AccountingResponse);
    // A later retransmit is answered from the cache: still one record.
    let again = harness.exchange(&request, harness.acct).await.unwrap();
    assert_eq!(again, buffer[..len]);
    let records = harness.policy.records.lock().unwrap().clone();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].session_id, b"81000001");
    assert_eq!(records[0].input_octets, (1 << 32) + 10);
    assert_eq!(harness.snapshot().nas["nas1"].acct_writes, 1);

    // A forged accounting request is dropped.
    let mut forged = accounting_request(41, 3, "81000001");
    forged[25] ^= 1;
    assert!(harness.exchange(&forged, harness.acct).await.is_none());
    assert_eq!(
        harness.snapshot().nas["nas1"].drops[&DropCause::BadAuthenticator],
        1
    );
    harness.stop().await;
}

#[tokio::test]
async fn accounting_held_by_the_store_leaves_logins_their_own_budget() {
    let gate = Arc::new(Semaphore::new(0));
    let mut policy = policy_with("alice", password("secret1"));
    policy.acct_gate = Some(gate.clone());
    let config = ServerConfig {
        max_in_flight: 4,
        ..ServerConfig::default()
    };
    let harness = Harness::start_with(policy, config).await;
    // More accounting than its budget, all held by a stalled store: every slot is taken.
    for id in 0..8u8 {
        let request = accounting_request(id, 1, &format!("8200000{id}"));
        harness.nas.send_to(&request, harness.acct).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Logins are still answered, each within the exchange's 500 ms.
    for id in 100..110u8 {
        let request = pap_request(id, "alice", "secret1");
        let reply = harness
            .exchange(&request, harness.auth)
            .await
            .unwrap_or_else(|| panic!("login {id} unanswered while accounting waits"));
        assert_eq!(reply_of(&request, &reply).code, Code::AccessAccept);
    }
    assert!(harness.policy.records.lock().unwrap().is_empty());
    // The held accounting completes once the store moves again.
    gate.add_permits(100);
    let mut buffer = vec![0u8; 4096];
    for _ in 0..8 {
        tokio::time::timeout(Duration::from_secs(2), harness.nas.recv_from(&mut buffer))
            .await
            .expect("accounting answered after the stall")
            .unwrap();
    }
    assert_eq!(harness.policy.records.lock().unwrap().len(), 8);
    harness.stop().await;
}
