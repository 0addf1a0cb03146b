//! The RADIUS test login: a real Access-Request (PAP, with Message-Authenticator) sent to the
//! daemon's own authentication socket, answered by the running server and policy like any
//! router's. The request comes from a client entry that exists only for the test: a random
//! secret, from a loopback address no router uses (or from the listen address itself when the
//! server is bound to one), removed again afterwards.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sitebox_radius::auth::pap;
use sitebox_radius::{Attribute, Client, Clients, Code, Packet, Secret, crypto};
use tokio::net::UdpSocket;

use super::response::ApiError;

/// The client table's name for the test's requests (it shows in the counters).
pub(crate) const CLIENT_NAME: &str = "sitebox-selftest";

/// Where the test sends from: an address of 127/8 that no router has.
const SELF_TEST_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 77);

/// The running RADIUS server, as the test needs it.
#[derive(Debug, Clone)]
pub(crate) struct RadiusTarget {
    /// The server's client table.
    pub clients: Arc<Clients>,
    /// The authentication socket's bound address.
    pub auth: SocketAddr,
}

/// (source address, destination) for a server bound to `auth`.
fn route(auth: SocketAddr) -> (IpAddr, SocketAddr) {
    match auth.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() || ip.is_loopback() => (
            IpAddr::V4(SELF_TEST_V4),
            SocketAddr::new(
                IpAddr::V4(if ip.is_unspecified() {
                    Ipv4Addr::LOCALHOST
                } else {
                    ip
                }),
                auth.port(),
            ),
        ),
        IpAddr::V6(ip) if ip.is_unspecified() => (
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), auth.port()),
        ),
        ip => (ip, auth),
    }
}

/// Logs `username` in with `password` against the local server; returns what it answered.
pub(super) async fn login(
    target: &RadiusTarget,
    username: &str,
    password: &str,
) -> Result<Value, ApiError> {
    let (source, destination) = route(target.auth);
    let socket = UdpSocket::bind(SocketAddr::new(source, 0))
        .await
        .map_err(|e| ApiError::internal(format!("binding {source} for the RADIUS test: {e}")))?;
    let mut random = [0u8; 33];
    getrandom::fill(&mut random).map_err(ApiError::internal)?;
    let secret = Secret::new(
        random[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
    );
    let mut authenticator = [0u8; 16];
    authenticator.copy_from_slice(&random[16..32]);
    let identifier = random[32];

    let mut request = Packet::new(Code::AccessRequest, identifier, authenticator);
    let text = |kind: u8, value: &str| {
        Attribute::text(kind, value)
            .map_err(|_| ApiError::bad_request("user name or password too long"))
    };
    request.push(text(1, username)?);
    request.push(
        Attribute::new(
            2,
            pap::encrypt(password.as_bytes(), &authenticator, &secret),
        )
        .map_err(|_| ApiError::bad_request("password too long"))?,
    );
    request.push(text(32, CLIENT_NAME)?);
    let bytes = crypto::sign_access_request(&request, &secret).map_err(ApiError::internal)?;

    if target.clients.get(source).is_some() {
        return Err(ApiError::bad_request(format!(
            "a router uses {source}, the address the test sends from"
        )));
    }
    let client = Client::new(CLIENT_NAME, secret.clone()).map_err(ApiError::internal)?;
    target.clients.insert(source, client);
    let started = Instant::now();
    let answer = exchange(&socket, destination, &bytes).await;
    target.clients.remove(source);
    let reply = match answer {
        Ok(reply) => reply,
        Err(why) => return Ok(json!({ "ok": false, "error": why })),
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if crypto::verify_reply(&reply, Code::AccessRequest, &authenticator, &secret).is_err() {
        return Ok(json!({ "ok": false, "error": "the reply's authenticator does not match" }));
    }
    let packet = Packet::decode(&reply).map_err(ApiError::internal)?;
    let message: Vec<&str> = packet.all(18).filter_map(Attribute::as_str).collect();
    Ok(json!({
        "ok": true,
        "answer": match packet.code {
            Code::AccessAccept => "Access-Accept",
            Code::AccessReject => "Access-Reject",
            Code::AccessChallenge => "Access-Challenge",
            _ => "unexpected reply",
        },
        "reply_message": message.join(" "),
        "session_timeout_s": packet.get(27).and_then(Attribute::as_u32),
        "elapsed_ms": elapsed_ms,
    }))
}

async fn exchange(socket: &UdpSocket, to: SocketAddr, request: &[u8]) -> Result<Vec<u8>, String> {
    let mut buffer = vec![0u8; 4096];
    // Two tries: a lost datagram on loopback is rare, but the server may be busy.
    for _ in 0..2 {
        socket
            .send_to(request, to)
            .await
            .map_err(|e| format!("sending to {to}: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut buffer)).await {
            Ok(Ok((n, from))) if from == to => return Ok(buffer[..n].to_vec()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("receiving: {e}")),
            Err(_) => {}
        }
    }
    Err(format!("no answer from the RADIUS server at {to}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_comes_from_an_address_no_router_has() {
        let any: SocketAddr = "0.0.0.0:1812".parse().expect("addr");
        assert_eq!(
            route(any),
            (
                IpAddr::V4(SELF_TEST_V4),
                "127.0.0.1:1812".parse().expect("addr")
            )
        );
        let lo: SocketAddr = "127.0.0.1:11812".parse().expect("addr");
        assert_eq!(route(lo).0, IpAddr::V4(SELF_TEST_V4));
        let lan: SocketAddr = "192.168.88.2:1812".parse().expect("addr");
        assert_eq!(route(lan), (lan.ip(), lan));
    }
}
