//! API-SSL for the simulator: a fresh self-signed certificate, so clients can test pinning.

use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::client::Fingerprint;

/// A self-signed certificate and the acceptor that serves it.
#[derive(Clone)]
pub struct SimTls {
    pub(crate) acceptor: TlsAcceptor,
    fingerprint: Fingerprint,
}

/// Why the simulator's certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SimTlsError {
    /// Generating the key or certificate failed.
    #[error("generating the certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl SimTls {
    /// A new certificate for `localhost` and `127.0.0.1`.
    pub fn generate() -> Result<Self, SimTlsError> {
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])?;
        let der = certified.cert.der().clone();
        let fingerprint = Fingerprint::of_der(&der);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = rustls::ServerConfig::builder_with_provider(crate::client::tls_provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![der], key)?;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            fingerprint,
        })
    }

    /// The SHA-256 fingerprint a client pins.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTls")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}
