//! TLS between nodes (rustls): a consortium CA issues each node a certificate for its DNS name;
//! a node presents it as a server and, calling its peers, as a client (mutual TLS). A peer's
//! identity is the name its certificate is valid for, which must be the `tls_name` configured
//! for that peer. `comity-node ca` ([`crate::ops::ca`]) creates the CA, issues certificates and
//! revokes them: a node given the CA's revocation list refuses client certificates on it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// File names inside a CA directory and a node's TLS directory.
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const NODE_CERT: &str = "node.crt";
pub const NODE_KEY: &str = "node.key";
/// The CA's certificate revocation list (give it to every member).
pub const CA_CRL: &str = "crl.pem";

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

/// Why TLS could not be set up: each names the file or peer URL and the cause. (The causes
/// are in the message, not error sources, so a chain prints each once.)
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("read {}: {cause}", path.display())]
    Read { path: PathBuf, cause: std::io::Error },
    /// A PEM file that does not parse.
    #[error("{}: {cause}", path.display())]
    Pem { path: PathBuf, cause: rustls_pki_types::pem::Error },
    #[error("{}: no certificate revocation list in it", path.display())]
    NoRevocationList { path: PathBuf },
    /// rustls refused what a file holds; `what` says what it is ("CA certificate", "certificate").
    #[error("{what} {}: {cause}", path.display())]
    Refused { what: &'static str, path: PathBuf, cause: rustls::Error },
    #[error("client certificate checks from {}: {cause}", path.display())]
    ClientChecks { path: PathBuf, cause: rustls::server::VerifierBuilderError },
    #[error("peer URL {url}: {}", chain(cause))]
    PeerUrl { url: String, cause: tonic::transport::Error },
    #[error("peer URL {url} is https but this node has no [tls] configured")]
    NoTlsForPeer { url: String },
    #[error("TLS for peer URL {url}: {}", chain(cause))]
    PeerTls { url: String, cause: tonic::transport::Error },
}

/// `e` and its sources, as one line (tonic's transport errors say what happened only in their sources).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|cause| TlsError::Read { path: path.to_path_buf(), cause })
}

/// A PEM reading error, naming the file.
fn pem_error(path: &Path) -> impl Fn(rustls_pki_types::pem::Error) -> TlsError + '_ {
    move |cause| TlsError::Pem { path: path.to_path_buf(), cause }
}

impl TlsConfig {
    /// The server side: this node's identity, and client certificates checked against the CA
    /// and its revocation list. Speaks HTTP/2 only, as gRPC does.
    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        use rustls::server::WebPkiClientVerifier;
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(&self.ca_file).map_err(pem_error(&self.ca_file))? {
            roots.add(ca.map_err(pem_error(&self.ca_file))?).map_err(|cause| TlsError::Refused {
                what: "CA certificate",
                path: self.ca_file.clone(),
                cause,
            })?;
        }
        let mut verifier = WebPkiClientVerifier::builder(roots.into());
        if let Some(path) = &self.crl_file {
            let crls: Vec<_> =
                CertificateRevocationListDer::pem_file_iter(path).map_err(pem_error(path))?.collect::<Result<_, _>>().map_err(pem_error(path))?;
            if crls.is_empty() {
                return Err(TlsError::NoRevocationList { path: path.clone() });
            }
            // The CA's list covers the certificates it issued; the CA itself is the trust anchor.
            verifier = verifier.with_crls(crls).only_check_end_entity_revocation();
        }
        if !self.require_client_certs {
            verifier = verifier.allow_unauthenticated();
        }
        let verifier = verifier.build().map_err(|cause| TlsError::ClientChecks { path: self.ca_file.clone(), cause })?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert_file)
            .map_err(pem_error(&self.cert_file))?
            .collect::<Result<_, _>>()
            .map_err(pem_error(&self.cert_file))?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file).map_err(pem_error(&self.key_file))?;
        let mut config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|cause| TlsError::Refused { what: "certificate", path: self.cert_file.clone(), cause })?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
    }

    /// The client side for calling a peer that must present a certificate for `peer_name`.
    pub fn client(&self, peer_name: &str) -> Result<ClientTlsConfig, TlsError> {
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
    pub fn new(tls: &TlsConfig) -> Result<Self, TlsError> {
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
                    Err(e) => tracing::warn!(crl = %path.display(), error = %e, "revocation list unreadable; the previous one stays in force"),
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
pub fn peer_endpoint(url: &str, tls: Option<&TlsConfig>, peer_name: &str) -> Result<tonic::transport::Endpoint, TlsError> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string()).map_err(|cause| TlsError::PeerUrl { url: url.to_string(), cause })?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    let tls = tls.ok_or_else(|| TlsError::NoTlsForPeer { url: url.to_string() })?;
    endpoint.tls_config(tls.client(peer_name)?).map_err(|cause| TlsError::PeerTls { url: url.to_string(), cause })
}

/// True when the leaf certificate `der` (already chained to the CA by the TLS handshake) is
/// valid for DNS name `name`.
pub fn certificate_names(der: &[u8], name: &str) -> bool {
    let der = rustls_pki_types::CertificateDer::from(der);
    let Ok(cert) = webpki::EndEntityCert::try_from(&der) else { return false };
    let Ok(server_name) = rustls_pki_types::ServerName::try_from(name) else { return false };
    cert.verify_is_valid_for_subject_name(&server_name).is_ok()
}
