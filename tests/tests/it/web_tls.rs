//! The page over HTTPS (`[web] tls_cert` + `tls_key`): a client that trusts only the box's
//! certificate logs in and gets a cookie marked Secure; plain HTTP on that port gets nothing.

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use sitebox_tests::siteboxd::Siteboxd;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::web_site::SITEBOXD;

#[test]
fn over_tls_the_session_cookie_is_secure() {
    let dir = tempfile::tempdir().expect("dir");
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let (cert, key) = (
        dir.path().join("web-cert.pem"),
        dir.path().join("web-key.pem"),
    );
    std::fs::write(&cert, certified.cert.pem()).expect("cert file");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key file");
    let config = Siteboxd::base_config(dir.path()).replacen(
        "[web]\n",
        &format!(
            "[web]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        1,
    );
    let daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    daemon.wait_for_log("https://", Duration::from_secs(1));
    let addr = daemon.web_addr();
    let output = daemon.cli_with_stdin(&["technicians", "add", "tess"], "tess-password-1\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(certified.cert.der().clone())
        .expect("trust the box");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let response = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
        let body = r#"{"name":"tess","password":"tess-password-1"}"#;
        let request = format!(
            "POST /api/v1/login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(request.as_bytes()).await.expect("send");
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    });
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let cookie = response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {response}"));
    for flag in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }

    // Plain HTTP to the TLS port: no page.
    let mut plain = std::net::TcpStream::connect(addr).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("<html"),
        "served over plain HTTP"
    );
}
