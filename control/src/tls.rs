//! The TLS listener's rustls configuration: the control plane's certificate,
//! and client certificates required and verified against the configured CA.

use crate::config::TlsListenerConfig;
use mailgate_protocol::channel::tls_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(certs)
}

/// Builds the listener's configuration from its PEM files.
pub fn server_config(config: &TlsListenerConfig) -> Result<Arc<ServerConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(&config.client_ca_file)? {
        roots.add(cert).map_err(|e| format!("{}: {e}", config.client_ca_file.display()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), tls_provider())
        .build()
        .map_err(|e| format!("{}: {e}", config.client_ca_file.display()))?;
    let chain = read_certs(&config.cert_file)?;
    let key =
        PrivateKeyDer::from_pem_file(&config.key_file).map_err(|e| format!("{}: {e}", config.key_file.display()))?;
    let server = ServerConfig::builder_with_provider(tls_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", config.cert_file.display()))?;
    Ok(Arc::new(server))
}

/// Whether the (already chain-verified) client certificate is valid for
/// the gateway name the dataplane announced: a gateway cannot report under
/// another gateway's name.
pub fn check_certificate_name(cert: &CertificateDer<'_>, gateway: &str) -> Result<(), String> {
    let name = ServerName::try_from(gateway).map_err(|_| format!("gateway name {gateway:?} is not a DNS name"))?;
    let cert = webpki::EndEntityCert::try_from(cert).map_err(|e| format!("client certificate: {e}"))?;
    cert.verify_is_valid_for_subject_name(&name)
        .map_err(|_| format!("the client certificate is not valid for gateway name {gateway:?}"))
}
