//! Mutual TLS between nodes: a consortium CA issues each node a certificate for its name; nodes
//! mirror each other over TLS; federation calls are accepted only from a configured peer's
//! certificate; a peer presenting a certificate for another name is refused; clients verify the
//! node against the CA.

use std::path::Path;
use std::time::Duration;

use comity_client::{Client, ClientTls};
use comity_node::config::{Config, PeerConfig};
use comity_node::net::tls::{TlsConfig, CA_CERT, NODE_CERT, NODE_KEY};
use comity_node::ops::ca::{ca_init, ca_issue};
use comity_proto::decision::fixtures::grant;
use comity_proto::pb;
use comity_proto::statement::{sign_statement, StatementId};
use comity_tests::{eventually, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const WAIT: Duration = Duration::from_secs(15);

fn tls_of(ca: &Path, dir: &Path) -> TlsConfig {
    TlsConfig { cert_file: dir.join(NODE_CERT), key_file: dir.join(NODE_KEY), ca_file: ca.join(CA_CERT), require_client_certs: false, crl_file: None }
}

/// A consortium CA in `dir/ca`, with a node certificate for each of `names` in `dir/NAME`.
fn consortium(dir: &Path, names: &[&str]) -> std::path::PathBuf {
    let ca = dir.join("ca");
    ca_init(&ca, "EU-Japan export-control registry consortium").unwrap();
    for name in names {
        ca_issue(&ca, name, &dir.join(name)).unwrap();
    }
    ca
}

fn https(node: &TestNode) -> String {
    format!("https://{}", node.node().addr())
}

/// `node` as a peer entry reached over TLS.
fn tls_peer(node: &TestNode, id: &str) -> PeerConfig {
    PeerConfig { url: https(node), ..node.as_peer(id) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_mirror_over_mutual_tls_and_only_configured_peers_make_federation_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = consortium(tmp.path(), &["registry.bafa.example", "registry.meti.example", "registry.evil.example"]);
    let (a_tls, b_tls) = (tls_of(&ca, &tmp.path().join("registry.bafa.example")), tls_of(&ca, &tmp.path().join("registry.meti.example")));

    let a_config = a_tls.clone();
    let mut a = TestNode::start_with(&[BAFA], move |c: &mut Config| {
        c.origin = "registry.bafa.example/log".into();
        c.tls = Some(a_config);
    })
    .await;
    let (a_peer, trusted, b_config) = (tls_peer(&a, "bafa"), vec![a.authority(BAFA)], b_tls.clone());
    let b = TestNode::start_with(&[METI], move |c: &mut Config| {
        c.origin = "registry.meti.example/log".into();
        c.tls = Some(b_config);
        c.peers = vec![a_peer];
        c.trusted = trusted;
        c.mirror_interval_ms = 50;
    })
    .await;
    // A learns B as its peer (and so accepts B's federation calls).
    a.stop().await;
    let b_peer = tls_peer(&b, "meti");
    a.reconfigure(|c| c.peers = vec![b_peer]);
    a.start_again().await.unwrap();

    // Clients verify the node against the CA; a plaintext client gets nowhere.
    let as_client = |cert: Option<&str>| ClientTls {
        ca: ca.join(CA_CERT),
        cert: cert.map(|n| tmp.path().join(n).join(NODE_CERT)),
        key: cert.map(|n| tmp.path().join(n).join(NODE_KEY)),
        domain: Some("registry.bafa.example".into()),
    };
    let mut at_a = Client::connect_with(&https(&a), Some(&as_client(None))).await.unwrap();
    at_a.publish(a.sign(grant(BAFA, "DE-2026-TLS-0001"))).await.unwrap();
    assert!(cannot_read(&a.url(), None).await, "plaintext to a TLS node");
    let wrong_name = ClientTls { domain: Some("registry.meti.example".into()), ..as_client(None) };
    assert!(cannot_read(&https(&a), Some(&wrong_name)).await, "a node whose certificate is not for the name expected");

    // B mirrors A over mutual TLS.
    eventually(WAIT, "B to mirror A over TLS", || async { b.node().mirror_status("bafa").filter(|s| s.size == 1).map(|_| ()) }).await;

    // Federation calls: refused without a certificate and with another member's certificate
    // for a name that is not a configured peer; accepted from B's.
    for cert in [None, Some("registry.evil.example")] {
        let mut client = Client::connect_with(&https(&a), Some(&as_client(cert))).await.unwrap();
        let err = client.cosign("not a checkpoint").await.unwrap_err();
        assert_eq!(err.code(), Some(tonic::Code::PermissionDenied), "{cert:?}: {err}");
        // Read APIs stay open to anyone who trusts the CA.
        client.licence(BAFA, "DE-2026-TLS-0001").await.unwrap();
    }
    let mut as_b = Client::connect_with(&https(&a), Some(&as_client(Some("registry.meti.example")))).await.unwrap();
    let err = as_b.cosign("not a checkpoint").await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::NotFound), "B is a peer, past the check; only its input is wrong: {err}");

    // A node expecting another name for A (an impostor's, say) refuses A's certificate.
    let (mut impostor, trusted, c_tls) = (tls_peer(&a, "bafa"), vec![a.authority(BAFA)], tls_of(&ca, &tmp.path().join("registry.evil.example")));
    impostor.tls_name = Some("registry.evil.example".into());
    let c = TestNode::start_with(&["uk.ecju"], move |c: &mut Config| {
        c.origin = "registry.evil.example/log".into();
        c.tls = Some(c_tls);
        c.peers = vec![impostor];
        c.trusted = trusted;
        c.mirror_interval_ms = 50;
    })
    .await;
    let status = eventually(WAIT, "C to fail to reach A under the wrong name", || async { c.node().mirror_status("bafa").filter(|s| s.failures > 0) }).await;
    assert_eq!(status.size, 0, "nothing was mirrored: {:?}", status.last_error);
}

#[test]
fn the_ca_refuses_to_overwrite_and_keys_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    ca_init(&ca, "test CA").unwrap();
    assert!(ca_init(&ca, "test CA").unwrap_err().to_string().contains("already holds a CA"));
    ca_issue(&ca, "registry.bafa.example", &tmp.path().join("bafa")).unwrap();
    assert!(ca_issue(&ca, "registry.bafa.example", &tmp.path().join("bafa")).is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [ca.join("ca.key"), tmp.path().join("bafa").join(NODE_KEY)] {
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o077, 0, "{}", key.display());
        }
    }
    // The certificate is valid for its name and no other.
    let pem = std::fs::read_to_string(tmp.path().join("bafa").join(NODE_CERT)).unwrap();
    let der = pem_body(&pem);
    assert!(comity_node::net::tls::certificate_names(&der, "registry.bafa.example"));
    assert!(!comity_node::net::tls::certificate_names(&der, "registry.meti.example"));
}

/// True when a client at `url` cannot read a licence (it cannot connect, or its call fails).
async fn cannot_read(url: &str, tls: Option<&ClientTls>) -> bool {
    match Client::connect_with(url, tls).await {
        Err(_) => true,
        Ok(mut client) => client.licence(BAFA, "DE-2026-TLS-0001").await.is_err(),
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

/// The operator's path through the real binaries: a consortium CA, a node initialised with a
/// certificate from it, and the CLI talking to it over TLS.
#[test]
fn ca_init_issue_and_a_tls_node_through_the_binaries() {
    use assert_cmd::Command;
    use predicates::str::contains;
    let tmp = tempfile::tempdir().unwrap();
    let (ca, data) = (tmp.path().join("ca"), tmp.path().join("node"));
    let node_bin = || Command::new(comity_tests::bin_path("comity-node"));
    node_bin().args(["ca", "init", "--dir"]).arg(&ca).args(["--name", "Test consortium"]).assert().success().stdout(contains("keep it offline"));
    node_bin()
        .args(["init", "--data-dir"])
        .arg(&data)
        .args(["--authority", "de.bafa=BAFA", "--origin", "registry.bafa.example/log", "--tls-ca"])
        .arg(&ca)
        .assert()
        .success()
        .stdout(contains("TLS: certificate for registry.bafa.example"))
        .stdout(contains("url = \"https://"));
    // Revoking a member's certificate writes the list every member then sets as crl_file.
    let leaked = tmp.path().join("leaked");
    node_bin().args(["ca", "issue", "--dir"]).arg(&ca).args(["--name", "registry.leaked.example", "--out"]).arg(&leaked).assert().success();
    node_bin()
        .args(["ca", "revoke", "--dir"])
        .arg(&ca)
        .arg("--cert")
        .arg(leaked.join(NODE_CERT))
        .assert()
        .success()
        .stdout(contains("(registry.leaked.example); 1 certificate(s) on the list"))
        .stdout(contains("crl.pem"));
    node_bin().args(["ca", "revoke", "--dir"]).arg(&ca).arg("--cert").arg(leaked.join(NODE_CERT)).assert().failure().stderr(contains("revoked already"));
    assert!(std::fs::read_to_string(ca.join(comity_node::net::tls::CA_CRL)).unwrap().starts_with("-----BEGIN X509 CRL-----"));
    let node = comity_tests::NodeProcess::spawn(&["--data-dir", data.to_str().unwrap()], &tmp.path().join("node.log"));
    let url = node.url().replace("http://", "https://");
    let comity = || {
        let mut cmd = Command::new(comity_tests::bin_path("comity"));
        cmd.env("COMITY_NODE", &url);
        cmd
    };
    // Without the CA the CLI says what is missing; with it, it works (the node's name is checked).
    comity().args(["search"]).assert().code(7).stderr(contains("--ca"));
    let key = data.join("keys/de.bafa.key");
    let tls = |cmd: &mut Command| {
        cmd.arg("--ca").arg(ca.join(CA_CERT));
    };
    // Reached by address, the node's certificate must still name the node expected.
    let mut wrong = comity();
    tls(&mut wrong);
    wrong.args(["search"]).assert().code(7);
    let mut publish = comity();
    tls(&mut publish);
    publish
        .args(["--tls-name", "registry.bafa.example", "publish"])
        .arg(comity_tests::examples_dir().join("grant.yaml"))
        .arg("--key")
        .arg(&key)
        .assert()
        .success()
        .stdout(contains("published de.bafa/DE-2026-009001"));
    let mut show = comity();
    tls(&mut show);
    show.env("COMITY_TLS_NAME", "registry.bafa.example").args(["licence", "show", "de.bafa/DE-2026-009001"]).assert().success().stdout(contains("ISSUED"));
}

/// A confidential decision's body goes to the node its audience names, known by its client
/// certificate: another member's certificate gets nothing, whatever origin it states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_bodies_go_only_to_the_certified_audience() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = consortium(tmp.path(), &["registry.bafa.example", "registry.meti.example", "registry.evil.example"]);
    let a_tls = tls_of(&ca, &tmp.path().join("registry.bafa.example"));
    let a = TestNode::start_with(&[BAFA], move |c: &mut Config| {
        c.origin = "registry.bafa.example/log".into();
        c.tls = Some(a_tls);
    })
    .await;
    let (a_peer, trusted, b_tls) = (tls_peer(&a, "bafa"), vec![a.authority(BAFA)], tls_of(&ca, &tmp.path().join("registry.meti.example")));
    let b = TestNode::start_with(&[METI], move |c: &mut Config| {
        c.origin = "registry.meti.example/log".into();
        c.tls = Some(b_tls);
        c.peers = vec![a_peer];
        c.trusted = trusted;
        c.mirror_interval_ms = 50;
    })
    .await;
    // A client presenting member `name`'s certificate (none: no certificate) to `server`.
    let as_member = |name: Option<&str>, server: &str| ClientTls {
        ca: ca.join(CA_CERT),
        cert: name.map(|n| tmp.path().join(n).join(NODE_CERT)),
        key: name.map(|n| tmp.path().join(n).join(NODE_KEY)),
        domain: Some(server.into()),
    };
    let bafa = "registry.bafa.example";

    let (restricted, body) = comity_proto::restricted::seal(&grant(BAFA, "DE-2026-TLS-C-01"), vec!["registry.meti.example/log".into()], rand::random());
    let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::RestrictedDecision(restricted)) }, &[&a.signer(BAFA)]);
    let mut at_a = Client::connect_with(&https(&a), Some(&as_member(None, bafa))).await.unwrap();
    let id = StatementId::from_slice(&at_a.publish_with_body(envelope, Some(body.clone())).await.unwrap().statement_id).unwrap();

    // B, in the audience, fetches the body over mutual TLS and reads the licence in full.
    let at_b = Client::connect_with(&https(&b), Some(&as_member(None, "registry.meti.example"))).await.unwrap();
    eventually(WAIT, "B to receive the confidential decision", || {
        let mut c = at_b.clone();
        async move { c.licence(BAFA, "DE-2026-TLS-C-01").await.ok().filter(|l| l.state.is_some()).map(|_| ()) }
    })
    .await;

    // Another member stating B's origin gets nothing: its certificate says who it is.
    let mut evil = Client::connect_with(&https(&a), Some(&as_member(Some("registry.evil.example"), bafa))).await.unwrap();
    let answer = evil.restricted_bodies(&[id], "registry.meti.example/log").await.unwrap();
    assert!(answer.bodies.is_empty());
    assert_eq!(answer.withheld[0].reason, "the caller is not in its audience");
    let mut as_b = Client::connect_with(&https(&a), Some(&as_member(Some("registry.meti.example"), bafa))).await.unwrap();
    assert_eq!(as_b.restricted_bodies(&[id], "").await.unwrap().bodies[0].body.as_ref(), Some(&body));
    // Without a client certificate: refused outright.
    let mut anonymous = Client::connect_with(&https(&a), Some(&as_member(None, bafa))).await.unwrap();
    assert_eq!(anonymous.restricted_bodies(&[id], "registry.meti.example/log").await.unwrap_err().code(), Some(tonic::Code::PermissionDenied));
}

/// The CA revokes a member's certificate (its key leaked): with the CA's revocation list, a node
/// refuses that certificate in the handshake, so it can no longer fetch confidential bodies,
/// while the other members' certificates and clients without one are served as before. A list
/// replaced while the node runs applies to the next connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_member_certificate_is_refused_in_the_handshake() {
    use comity_node::net::tls::CA_CRL;
    use comity_node::ops::ca::ca_revoke;
    let tmp = tempfile::tempdir().unwrap();
    let ca = consortium(tmp.path(), &["registry.bafa.example", "registry.meti.example", "registry.leaked.example"]);
    let leaked_cert = tmp.path().join("registry.leaked.example").join(NODE_CERT);
    let revoked = ca_revoke(&ca, &leaked_cert).unwrap();
    assert_eq!((revoked.names.as_slice(), revoked.listed), (&["registry.leaked.example".to_string()][..], 1));
    assert!(ca_revoke(&ca, &leaked_cert).unwrap_err().to_string().contains("revoked already"));
    // A certificate of another CA is not this CA's to revoke.
    let other = tmp.path().join("other-ca");
    ca_init(&other, "another CA").unwrap();
    ca_issue(&other, "registry.bafa.example", &tmp.path().join("foreign")).unwrap();
    assert!(ca_revoke(&ca, &tmp.path().join("foreign").join(NODE_CERT)).unwrap_err().to_string().contains("not issued by the CA"));

    let mut a_tls = tls_of(&ca, &tmp.path().join("registry.bafa.example"));
    a_tls.crl_file = Some(ca.join(CA_CRL));
    let a = TestNode::start_with(&[BAFA], move |c: &mut Config| {
        c.origin = "registry.bafa.example/log".into();
        c.tls = Some(a_tls);
    })
    .await;
    let bafa = "registry.bafa.example";
    let as_member = |name: Option<&str>| ClientTls {
        ca: ca.join(CA_CERT),
        cert: name.map(|n| tmp.path().join(n).join(NODE_CERT)),
        key: name.map(|n| tmp.path().join(n).join(NODE_KEY)),
        domain: Some(bafa.into()),
    };
    let (restricted, body) = comity_proto::restricted::seal(
        &grant(BAFA, "DE-2026-TLS-0001"),
        vec!["registry.leaked.example/log".into(), "registry.meti.example/log".into()],
        rand::random(),
    );
    let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::RestrictedDecision(restricted)) }, &[&a.signer(BAFA)]);
    let mut anonymous = Client::connect_with(&https(&a), Some(&as_member(None))).await.unwrap();
    let id = StatementId::from_slice(&anonymous.publish_with_body(envelope, Some(body.clone())).await.unwrap().statement_id).unwrap();

    // The revoked certificate cannot even connect, though the decision names its node.
    assert!(cannot_read(&https(&a), Some(&as_member(Some("registry.leaked.example")))).await);
    // The other member, in the audience too, still gets the body; a client without a
    // certificate still reads what is public.
    let mut meti = Client::connect_with(&https(&a), Some(&as_member(Some("registry.meti.example")))).await.unwrap();
    assert_eq!(meti.restricted_bodies(&[id], "").await.unwrap().bodies[0].body.as_ref(), Some(&body));
    assert!(anonymous.licence(BAFA, "DE-2026-TLS-0001").await.is_ok());

    // A later revocation takes effect for new connections while the node runs.
    assert_eq!(ca_revoke(&ca, &tmp.path().join("registry.meti.example").join(NODE_CERT)).unwrap().listed, 2);
    assert!(cannot_read(&https(&a), Some(&as_member(Some("registry.meti.example")))).await);
    assert!(!cannot_read(&https(&a), Some(&as_member(None))).await);
}

/// A connection that does not finish its TLS handshake within `limits.handshake_timeout_secs`
/// (silent, or half a ClientHello) is closed, while a member connecting meanwhile is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_is_closed_at_the_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let ca = consortium(tmp.path(), &["registry.bafa.example"]);
    let a_tls = tls_of(&ca, &tmp.path().join("registry.bafa.example"));
    let a = TestNode::start_with(&[BAFA], move |c: &mut Config| {
        c.origin = "registry.bafa.example/log".into();
        c.tls = Some(a_tls);
        c.limits.handshake_timeout_secs = 1;
    })
    .await;
    let started = std::time::Instant::now();
    let silent = tokio::net::TcpStream::connect(a.node().addr()).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(a.node().addr()).await.unwrap();
    // The first bytes of a TLS record carrying a ClientHello, and nothing more.
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap();
    let client_tls = ClientTls { ca: ca.join(CA_CERT), cert: None, key: None, domain: Some("registry.bafa.example".into()) };
    let mut member = Client::connect_with(&https(&a), Some(&client_tls)).await.unwrap();
    member.status().await.expect("served while two handshakes stall");
    for mut stream in [silent, half] {
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut [0u8; 64])).await.expect("closed within the deadline");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "closed before the deadline: {took:?}");
}
