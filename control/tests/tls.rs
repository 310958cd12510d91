//! The mutual-TLS listener: a dataplane with a certificate from the
//! configured CA, valid for its gateway name, is accepted; anything else is refused.

mod common;

use common::*;
use mailgate_dataplane::report::Endpoint;
use mailgate_protocol::channel::tls_provider;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
        Ca { cert, key }
    }

    /// Issues a certificate for `dns`, writes `<stem>.pem` and `<stem>.key`.
    fn issue(&self, dir: &Path, stem: &str, dns: &str, usage: ExtendedKeyUsagePurpose) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut params = CertificateParams::new(vec![dns.to_string()]).unwrap_or_else(|e| panic!("{e}"));
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap_or_else(|e| panic!("{e}"));
        let (cert_path, key_path) = (dir.join(format!("{stem}.pem")), dir.join(format!("{stem}.key")));
        std::fs::write(&cert_path, cert.pem()).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&key_path, key.serialize_pem()).unwrap_or_else(|e| panic!("{e}"));
        (cert_path, key_path)
    }

    fn write(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn only_dataplanes_with_a_valid_client_certificate_get_in() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let ca = Ca::new("mailgate test CA");
    let rogue = Ca::new("someone else's CA");
    ca.write(&d.join("ca.pem"));
    let (server_cert, server_key) = ca.issue(d, "control", "control.test", ExtendedKeyUsagePurpose::ServerAuth);
    let good = ca.issue(d, "good", "gw-tls.example", ExtendedKeyUsagePurpose::ClientAuth);
    let other_name = ca.issue(d, "other", "other.example", ExtendedKeyUsagePurpose::ClientAuth);
    let forged = rogue.issue(d, "forged", "gw-rogue.example", ExtendedKeyUsagePurpose::ClientAuth);

    let mut setup = ControlSetup::new(d);
    setup.extra = format!(
        "[channel.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\n",
        server_cert.display(),
        server_key.display(),
        d.join("ca.pem").display()
    );
    let control = InProcess::start(&setup);
    let addr = control.tls_addr().to_string();
    let reporter = |gateway: &str, (cert_file, key_file): &(PathBuf, PathBuf)| {
        let endpoint = Endpoint::Tls {
            addr: addr.clone(),
            server_name: "control.test".into(),
            ca_file: d.join("ca.pem"),
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
        };
        let mut config = Gateway::unix(gateway, Path::new("/unused"));
        config.endpoint = endpoint;
        Gateway::start(config, 64)
    };

    // The rightful gateway reports over TLS.
    let mut gw = reporter("gw-tls.example", &good);
    gw.push(1..=5);
    let items = wait_for("sessions over TLS", 15, || {
        let items = get(&control.api, "/api/v1/sessions");
        items.as_array().filter(|a| a.len() == 5).cloned()
    });
    assert!(items.iter().all(|v| v.get("gateway").and_then(Value::as_str) == Some("gw-tls.example")));
    for item in &items {
        let id = item.get("flow_id").and_then(Value::as_u64).unwrap_or_default();
        assert_eq!(item, &expected(id, "gw-tls.example"));
    }

    // A certificate from another CA, and a valid certificate used under another name.
    let mut forger = reporter("gw-rogue.example", &forged);
    forger.push(100..=104);
    let mut impostor = reporter("gw-victim.example", &other_name);
    impostor.push(200..=204);
    let text = wait_for("both refusals", 15, || {
        let text = metrics(&control.api);
        (metric(&text, "mailgate_channel_errors_total{kind=\"tls_handshake\"}") >= 1.0
            && metric(&text, "mailgate_channel_errors_total{kind=\"refused\"}") >= 1.0)
            .then_some(text)
    });
    assert!(text.contains("mailgate_channel_errors_total"));

    // A client presenting no certificate at all.
    let mut roots = rustls::RootCertStore::empty();
    let ca_der = rustls::pki_types::CertificateDer::from(ca.cert.der().to_vec());
    roots.add(ca_der).unwrap_or_else(|e| panic!("{e}"));
    let client = rustls::ClientConfig::builder_with_provider(tls_provider())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("control.test").unwrap_or_else(|e| panic!("{e}"));
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(client), name).unwrap_or_else(|e| panic!("{e}"));
    let mut sock = std::net::TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{e}"));
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap_or_else(|e| panic!("{e}"));
    let mut stream = rustls::Stream::new(&mut conn, &mut sock);
    use std::io::Read;
    let mut buf = [0u8; 64];
    let refused = match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut,
    };
    assert!(refused, "a client without a certificate must be refused");

    std::thread::sleep(std::time::Duration::from_millis(500));
    let gateways = get(&control.api, "/api/v1/gateways");
    let names: Vec<&str> =
        gateways.as_array().into_iter().flatten().filter_map(|g| g.get("name").and_then(Value::as_str)).collect();
    assert_eq!(names, vec!["gw-tls.example"], "only the rightful gateway is known");
    assert_eq!(
        get(&control.api, "/api/v1/sessions?limit=100").as_array().map(Vec::len),
        Some(5),
        "nothing stored from the others"
    );
    assert_eq!(forger.counter("records_acked") + impostor.counter("records_acked"), 0);

    // The rightful gateway's handshake, with the channel's crypto as the
    // reporter has it, agrees on the post-quantum hybrid key exchange.
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&good.0).and_then(|certs| certs.collect()).unwrap_or_else(|e| panic!("{e}"));
    let key = PrivateKeyDer::from_pem_file(&good.1).unwrap_or_else(|e| panic!("{e}"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.cert.der().to_vec())).unwrap_or_else(|e| panic!("{e}"));
    let client = rustls::ClientConfig::builder_with_provider(tls_provider())
        .with_safe_default_protocol_versions()
        .and_then(|c| c.with_root_certificates(roots).with_client_auth_cert(chain, key))
        .unwrap_or_else(|e| panic!("{e}"));
    let name = rustls::pki_types::ServerName::try_from("control.test").unwrap_or_else(|e| panic!("{e}"));
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(client), name).unwrap_or_else(|e| panic!("{e}"));
    let mut sock = std::net::TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{e}"));
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap_or_else(|e| panic!("{e}"));
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap_or_else(|e| panic!("handshake: {e}"));
    }
    assert_eq!(
        conn.negotiated_key_exchange_group().map(|group| group.name()),
        Some(rustls::NamedGroup::X25519MLKEM768),
        "the control channel's key exchange"
    );
}
