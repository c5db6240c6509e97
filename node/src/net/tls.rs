//! TLS between nodes (rustls): a consortium CA issues each node a certificate for its DNS name;
//! a node presents it as a server and, calling its peers, as a client (mutual TLS). A peer's
//! identity is the name its certificate is valid for, which must be the `tls_name` configured
//! for that peer. `comity-node ca` creates the CA, issues certificates and revokes them: a
//! node given the CA's revocation list refuses client certificates on it.

use std::path::Path;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// File names inside a CA directory and a node's TLS directory.
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const NODE_CERT: &str = "node.crt";
pub const NODE_KEY: &str = "node.key";
/// The CA's certificate revocation list (give it to every member) and its record of what it revoked.
pub const CA_CRL: &str = "crl.pem";
const CA_REVOKED: &str = "revoked.json";

/// A node's TLS files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate of this node, issued by the consortium CA for its DNS name.
    pub cert_file: std::path::PathBuf,
    /// PEM private key of that certificate.
    pub key_file: std::path::PathBuf,
    /// PEM certificate of the consortium CA: peers' certificates (and clients', when they
    /// present one) must chain to it.
    pub ca_file: std::path::PathBuf,
    /// Refuse clients without a certificate from the CA (read APIs then serve only members);
    /// peers always need one for federation calls.
    #[serde(default)]
    pub require_client_certs: bool,
    /// PEM certificate revocation list of the consortium CA (`comity-node ca revoke`): client
    /// certificates on it are refused in the handshake. Read again whenever the file changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_file: Option<std::path::PathBuf>,
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))
}

/// A PEM reading error, naming the file.
fn pem_error(path: &Path) -> impl Fn(rustls_pki_types::pem::Error) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{}: {e}", path.display())
}

impl TlsConfig {
    /// The server side: this node's identity, and client certificates checked against the CA
    /// and its revocation list. Speaks HTTP/2 only, as gRPC does.
    pub fn acceptor(&self) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
        use rustls::server::WebPkiClientVerifier;
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(&self.ca_file).map_err(pem_error(&self.ca_file))? {
            roots.add(ca.map_err(pem_error(&self.ca_file))?).with_context(|| format!("CA certificate {}", self.ca_file.display()))?;
        }
        let mut verifier = WebPkiClientVerifier::builder(roots.into());
        if let Some(path) = &self.crl_file {
            let crls: Vec<_> =
                CertificateRevocationListDer::pem_file_iter(path).map_err(pem_error(path))?.collect::<Result<_, _>>().map_err(pem_error(path))?;
            anyhow::ensure!(!crls.is_empty(), "{}: no certificate revocation list in it", path.display());
            // The CA's list covers the certificates it issued; the CA itself is the trust anchor.
            verifier = verifier.with_crls(crls).only_check_end_entity_revocation();
        }
        if !self.require_client_certs {
            verifier = verifier.allow_unauthenticated();
        }
        let verifier = verifier.build().with_context(|| format!("client certificate checks from {}", self.ca_file.display()))?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert_file)
            .map_err(pem_error(&self.cert_file))?
            .collect::<Result<_, _>>()
            .map_err(pem_error(&self.cert_file))?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file).map_err(pem_error(&self.key_file))?;
        let mut config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .with_context(|| format!("certificate {}", self.cert_file.display()))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
    }

    /// The client side for calling a peer that must present a certificate for `peer_name`.
    pub fn client(&self, peer_name: &str) -> anyhow::Result<ClientTlsConfig> {
        Ok(ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.ca_file)?))
            .identity(Identity::from_pem(read(&self.cert_file)?, read(&self.key_file)?))
            .domain_name(peer_name))
    }
}

/// The server's TLS acceptor, made again when the revocation list file changes, so a
/// revocation takes effect for new connections without a restart.
pub struct Acceptor {
    tls: TlsConfig,
    /// The list file's (modification time, length) the acceptor was made with, and the acceptor.
    current: std::sync::Mutex<(Option<(std::time::SystemTime, u64)>, tokio_rustls::TlsAcceptor)>,
}

impl Acceptor {
    /// The acceptor of `tls`; fails on unreadable files, as a start must.
    pub fn new(tls: &TlsConfig) -> anyhow::Result<Self> {
        let seen = tls.crl_file.as_deref().and_then(file_stamp);
        Ok(Self { tls: tls.clone(), current: std::sync::Mutex::new((seen, tls.acceptor()?)) })
    }

    /// The acceptor for a new connection. A list that changed is read again; one that no
    /// longer reads (half written, say) leaves the previous list in force, with a warning.
    fn get(&self) -> tokio_rustls::TlsAcceptor {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = &self.tls.crl_file {
            let stamp = file_stamp(path);
            if stamp != current.0 {
                current.0 = stamp;
                match self.tls.acceptor() {
                    Ok(acceptor) => {
                        current.1 = acceptor;
                        tracing::info!(crl = %path.display(), "certificate revocation list read again");
                    }
                    Err(e) => tracing::warn!(crl = %path.display(), error = %format!("{e:#}"), "revocation list unreadable; the previous one stays in force"),
                }
            }
        }
        current.1.clone()
    }
}

/// (modification time, length) of a file, to notice that it changed.
fn file_stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The accepted connections of `tcp` after their TLS handshake, under the guards of
/// `connections` (see [`crate::net::connections::accept`]): each handshake runs in its own task
/// within the handshake timeout; a refused one (a revoked or foreign certificate) is logged
/// and dropped.
pub fn handshakes(
    tcp: tonic::transport::server::TcpIncoming,
    acceptor: Acceptor,
    connections: std::sync::Arc<crate::net::connections::Connections>,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<crate::net::connections::Guarded<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>>> {
    crate::net::connections::accept(tcp, connections, move |stream| {
        let acceptor = acceptor.get();
        async move {
            let client = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            acceptor.accept(stream).await.inspect_err(|e| tracing::info!(%client, error = %e, "TLS handshake refused")).ok()
        }
    })
}

/// An endpoint for calling a peer at `url`: over TLS, presenting this node's certificate and
/// expecting one for `peer_name`, when the URL is `https://`; in plaintext otherwise.
pub fn peer_endpoint(url: &str, tls: Option<&TlsConfig>, peer_name: &str) -> anyhow::Result<tonic::transport::Endpoint> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string()).with_context(|| format!("peer URL {url}"))?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    let tls = tls.with_context(|| format!("peer URL {url} is https but this node has no [tls] configured"))?;
    Ok(endpoint.tls_config(tls.client(peer_name)?)?)
}

/// True when the leaf certificate `der` (already chained to the CA by the TLS handshake) is
/// valid for DNS name `name`.
pub fn certificate_names(der: &[u8], name: &str) -> bool {
    let der = rustls_pki_types::CertificateDer::from(der);
    let Ok(cert) = webpki::EndEntityCert::try_from(&der) else { return false };
    let Ok(server_name) = rustls_pki_types::ServerName::try_from(name) else { return false };
    cert.verify_is_valid_for_subject_name(&server_name).is_ok()
}

/// Creates a consortium CA in `dir`: `ca.crt` (give it to every member) and `ca.key` (keep it
/// offline).
pub fn ca_init(dir: &Path, name: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    anyhow::ensure!(!cert_path.exists() && !key_path.exists(), "{} already holds a CA; not overwriting it", dir.display());
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key)?;
    std::fs::write(&cert_path, cert.pem())?;
    write_private(&key_path, &key.serialize_pem())?;
    Ok(())
}

/// Issues a node certificate for DNS name `name` from the CA in `ca_dir`, writing `node.crt`
/// and `node.key` to `out`. The certificate serves both as server and as client identity.
pub fn ca_issue(ca_dir: &Path, name: &str, out: &Path) -> anyhow::Result<()> {
    let ca_key = KeyPair::from_pem(&read(&ca_dir.join(CA_KEY))?).context("CA key")?;
    let issuer = Issuer::from_ca_cert_pem(&read(&ca_dir.join(CA_CERT))?, ca_key).context("CA certificate")?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let (cert_path, key_path) = (out.join(NODE_CERT), out.join(NODE_KEY));
    anyhow::ensure!(!cert_path.exists() && !key_path.exists(), "{} already holds a node certificate; not overwriting it", out.display());
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![name.to_string()]).context("certificate name")?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer)?;
    std::fs::write(&cert_path, cert.pem())?;
    write_private(&key_path, &key.serialize_pem())?;
    Ok(())
}

/// What `comity-node ca revoke` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    /// Serial number of the revoked certificate, hex.
    pub serial: String,
    /// The names the certificate was issued for.
    pub names: Vec<String>,
    /// Certificates on the list now.
    pub listed: usize,
}

/// One entry of the CA's record of revocations (`revoked.json`), from which every new list is made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokedEntry {
    serial: String,
    names: Vec<String>,
    /// UTC date, YYYY-MM-DD.
    revoked_on: String,
}

/// Revokes the node certificate `cert` issued by the CA in `ca_dir`: adds it to the CA's record
/// and writes a new signed revocation list, `crl.pem`, for every member's `tls.crl_file`.
pub fn ca_revoke(ca_dir: &Path, cert: &Path) -> anyhow::Result<Revocation> {
    let cert_pem = std::fs::read(cert).with_context(|| format!("read {}", cert.display()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&cert_pem).map_err(|e| anyhow::anyhow!("{}: not a PEM certificate: {e}", cert.display()))?;
    let parsed = pem.parse_x509().map_err(|e| anyhow::anyhow!("{}: not a certificate: {e}", cert.display()))?;
    let ca_pem = std::fs::read(ca_dir.join(CA_CERT)).with_context(|| format!("read {}", ca_dir.join(CA_CERT).display()))?;
    let (_, ca) = x509_parser::pem::parse_x509_pem(&ca_pem).map_err(|e| anyhow::anyhow!("CA certificate: {e}"))?;
    let ca = ca.parse_x509().map_err(|e| anyhow::anyhow!("CA certificate: {e}"))?;
    anyhow::ensure!(
        parsed.issuer() == ca.subject() && parsed.verify_signature(Some(ca.public_key())).is_ok(),
        "{} was not issued by the CA in {}",
        cert.display(),
        ca_dir.display()
    );
    let serial = hex::encode(parsed.raw_serial());
    let names = certificate_dns_names(&parsed);
    let record_path = ca_dir.join(CA_REVOKED);
    let mut record: Vec<RevokedEntry> = match std::fs::read_to_string(&record_path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("{}", record_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("read {}", record_path.display())),
    };
    anyhow::ensure!(!record.iter().any(|r| r.serial == serial), "certificate {serial} ({}) is revoked already", names.join(", "));
    record.push(RevokedEntry { serial: serial.clone(), names: names.clone(), revoked_on: chrono::Utc::now().format("%Y-%m-%d").to_string() });
    write_crl(ca_dir, &record)?;
    std::fs::write(&record_path, serde_json::to_string_pretty(&record)?).with_context(|| format!("write {}", record_path.display()))?;
    Ok(Revocation { serial, names, listed: record.len() })
}

/// Signs the revocation list of `record` with the CA's key; numbered by its length, valid a year.
fn write_crl(ca_dir: &Path, record: &[RevokedEntry]) -> anyhow::Result<()> {
    use chrono::Datelike;
    let ca_key = KeyPair::from_pem(&read(&ca_dir.join(CA_KEY))?).context("CA key")?;
    let issuer = Issuer::from_ca_cert_pem(&read(&ca_dir.join(CA_CERT))?, ca_key).context("CA certificate")?;
    let date = |d: chrono::NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    let day = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| format!("revocation date {text}"));
    let today = chrono::Utc::now().date_naive();
    let mut revoked_certs = Vec::with_capacity(record.len());
    for r in record {
        revoked_certs.push(rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&hex::decode(&r.serial).context("serial in the CA's record")?),
            revocation_time: date(day(&r.revoked_on)?),
            reason_code: Some(rcgen::RevocationReason::KeyCompromise),
            invalidity_date: None,
        });
    }
    let params = rcgen::CertificateRevocationListParams {
        this_update: date(today),
        next_update: date(today + chrono::Days::new(365)),
        crl_number: rcgen::SerialNumber::from(record.len() as u64),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer).context("sign the revocation list")?;
    std::fs::write(ca_dir.join(CA_CRL), crl.pem()?).with_context(|| format!("write {}", ca_dir.join(CA_CRL).display()))?;
    Ok(())
}

/// The DNS names a certificate is for (its subject alternative names, else its common name).
fn certificate_dns_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| san.value.general_names.iter().filter_map(|n| if let GeneralName::DNSName(d) = n { Some(d.to_string()) } else { None }).collect())
        .unwrap_or_default();
    if names.is_empty() {
        names.extend(cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_string));
    }
    names
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("create {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}
