//! TLS between nodes (rustls through tonic): a consortium CA issues each node a certificate for
//! its DNS name; a node presents it as a server and, calling its peers, as a client (mutual
//! TLS). A peer's identity is the name its certificate is valid for, which must be the
//! `tls_name` configured for that peer. `comity-node ca` creates the CA and issues certificates.

use std::path::Path;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// File names inside a CA directory and a node's TLS directory.
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const NODE_CERT: &str = "node.crt";
pub const NODE_KEY: &str = "node.key";

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
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))
}

impl TlsConfig {
    /// The server side: this node's identity, and client certificates checked against the CA.
    pub fn server(&self) -> anyhow::Result<ServerTlsConfig> {
        let identity = Identity::from_pem(read(&self.cert_file)?, read(&self.key_file)?);
        Ok(ServerTlsConfig::new()
            .identity(identity)
            .client_ca_root(Certificate::from_pem(read(&self.ca_file)?))
            .client_auth_optional(!self.require_client_certs))
    }

    /// The client side for calling a peer that must present a certificate for `peer_name`.
    pub fn client(&self, peer_name: &str) -> anyhow::Result<ClientTlsConfig> {
        Ok(ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.ca_file)?))
            .identity(Identity::from_pem(read(&self.cert_file)?, read(&self.key_file)?))
            .domain_name(peer_name))
    }
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
