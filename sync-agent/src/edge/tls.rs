//! rustls client configuration for the broker connection (ring provider, like the rest of the
//! workspace).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsSettings;

/// Why the TLS settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the client config: trust only the configured CA(s); present a client certificate
/// when one is configured.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let pem = |path: &std::path::Path, message: String| TlsError::Pem {
        path: path.display().to_string(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(&settings.ca_file)
        .map_err(|e| pem(&settings.ca_file, e.to_string()))?;
    for ca in cas {
        let ca = ca.map_err(|e| pem(&settings.ca_file, e.to_string()))?;
        roots
            .add(ca)
            .map_err(|e| pem(&settings.ca_file, e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(pem(&settings.ca_file, "no certificate in the file".into()));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    let config = match &settings.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| pem(cert, e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem(cert, e.to_string()))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem(key, e.to_string()))?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    Ok(Arc::new(config))
}
