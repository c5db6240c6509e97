//! `comity-node ca`: the consortium CA that issues each node its TLS certificate (see
//! [`crate::net::tls`] for how nodes use them). `ca_init` creates the CA, `ca_issue` issues a
//! node certificate, `ca_revoke` revokes one and signs a new revocation list for every
//! member's `tls.crl_file`.

use std::path::Path;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde::{Deserialize, Serialize};

use crate::net::tls::{CA_CERT, CA_CRL, CA_KEY, NODE_CERT, NODE_KEY};

/// The CA's record of what it revoked, from which every new revocation list is made.
const CA_REVOKED: &str = "revoked.json";

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))
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
