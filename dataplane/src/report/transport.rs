//! Opening the control channel: a Unix socket, or TCP wrapped in a rustls
//! client session that presents the gateway's certificate.

use super::config::Endpoint;
use super::ReportError;
use mailgate_protocol::channel::tls_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long connecting and the TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one write may block before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// An endpoint with its TLS settings loaded (certificates are read once, at start).
pub(crate) enum Connector {
    Unix(std::path::PathBuf),
    Tls { addr: String, server_name: ServerName<'static>, config: Arc<ClientConfig> },
}

impl Connector {
    /// Reads the certificate files an endpoint names.
    pub(crate) fn new(endpoint: &Endpoint) -> Result<Self, ReportError> {
        match endpoint {
            Endpoint::Unix { path } => Ok(Connector::Unix(path.clone())),
            Endpoint::Tls { addr, server_name, ca_file, cert_file, key_file } => {
                let server_name = ServerName::try_from(server_name.clone())
                    .map_err(|e| ReportError::Tls(format!("server_name {server_name:?}: {e}")))?;
                let mut roots = RootCertStore::empty();
                for cert in read_certs(ca_file)? {
                    roots.add(cert).map_err(|e| ReportError::Tls(format!("{}: {e}", ca_file.display())))?;
                }
                let chain = read_certs(cert_file)?;
                let key = PrivateKeyDer::from_pem_file(key_file)
                    .map_err(|e| ReportError::Tls(format!("{}: {e}", key_file.display())))?;
                let config = ClientConfig::builder_with_provider(tls_provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| ReportError::Tls(e.to_string()))?
                    .with_root_certificates(roots)
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ReportError::Tls(format!("{}: {e}", cert_file.display())))?;
                Ok(Connector::Tls { addr: addr.clone(), server_name, config: Arc::new(config) })
            }
        }
    }

    /// Connects (and completes the TLS handshake); reads then time out after `poll`.
    pub(crate) fn connect(&self, poll: Duration) -> io::Result<Stream> {
        match self {
            Connector::Unix(path) => {
                let sock = UnixStream::connect(path)?;
                sock.set_read_timeout(Some(poll))?;
                sock.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Ok(Stream::Unix(sock))
            }
            Connector::Tls { addr, server_name, config } => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address"));
                for sockaddr in addr.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&sockaddr, CONNECT_TIMEOUT) {
                        Ok(mut sock) => {
                            sock.set_nodelay(true)?;
                            sock.set_read_timeout(Some(CONNECT_TIMEOUT))?;
                            sock.set_write_timeout(Some(WRITE_TIMEOUT))?;
                            let mut tls = ClientConnection::new(Arc::clone(config), server_name.clone())
                                .map_err(io::Error::other)?;
                            while tls.is_handshaking() {
                                tls.complete_io(&mut sock)?;
                            }
                            sock.set_read_timeout(Some(poll))?;
                            return Ok(Stream::Tls(Box::new(StreamOwned::new(tls, sock))));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ReportError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ReportError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ReportError::Tls(format!("{}: no certificate", path.display())));
    }
    Ok(certs)
}

/// An open control channel, plain or TLS.
pub(crate) enum Stream {
    Unix(UnixStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}
