//! One log time per statement: the origin binds the time it integrated each entry into the
//! entry's leaf, so the same compromise case gets the same verdict from the origin, a mirror
//! that caught up late, a node that imported an export file, the origin recovered from a peer,
//! and an offline token; each checked by the real `comity` binary against a trust file.
//!
//! The case: de.bafa's signing key k1 is declared compromised since time S. Licence
//! DE-2026-LT-0001 was signed with k1 and logged before S (it stays valid, with a warning);
//! DE-2026-LT-0002 was signed with k1 and logged after S (its signature cannot be relied on).
//! Before log times were bound into the log, a late mirror dated both by when it first held
//! them, and judged the first one compromised too.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use comity_node::config::AuthorityConfig;
use comity_proto::decision::fixtures::{grant, DECIDED};
use comity_proto::pb;
use comity_proto::statement::{sign_decision, Signer};
use comity_proto::trust::{sign_key_set, TrustFile, TrustedAuthority};
use comity_tests::{bin_path, eventually, TestNode};

const BAFA: &str = "de.bafa";
const ORIGIN: &str = "registry.bafa.example/log";
const BEFORE: &str = "de.bafa/DE-2026-LT-0001";
const AFTER: &str = "de.bafa/DE-2026-LT-0002";
const WAIT: Duration = Duration::from_secs(20);

struct Keys {
    roots: [Signer; 2],
    k1: Signer,
    k2: Signer,
}

impl Keys {
    fn trust(&self, logs: Vec<String>) -> TrustFile {
        TrustFile {
            authorities: vec![TrustedAuthority {
                id: BAFA.into(),
                threshold: 2,
                root_keys: self.roots.iter().map(|r| hex::encode(r.verifying_key().to_bytes())).collect(),
                logs,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn key_set(&self, version: u64, keys: Vec<pb::SigningKey>) -> Vec<u8> {
        sign_key_set(pb::KeySet { authority: BAFA.into(), version, keys, issued_at: DECIDED }, &[&self.roots[0], &self.roots[1]])
    }
}

fn key(s: &Signer, compromised_since: i64) -> pb::SigningKey {
    pb::SigningKey { public_key: s.verifying_key().to_bytes().to_vec(), valid_from: 0, valid_until: 0, compromised_since, ..Default::default() }
}

fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(bin_path(bin));
    cmd.args(args).env_remove("COMITY_TRUST").env_remove("COMITY_NODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("run {bin}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The verdict `comity verify` prints for `licence` at `url`, checked against `trust`, with its
/// exit code: (code, first word of the verdict line).
fn verified(url: &str, trust: &Path, licence: &str) -> (i32, String) {
    let out = run("comity", &["verify", licence], &[("COMITY_NODE", url), ("COMITY_TRUST", trust.to_str().unwrap())]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("verified:"), "{licence} at {url} not verified: {stdout}{}", text(&out.stderr));
    (out.status.code().unwrap(), verdict_word(&stdout))
}

/// The verdict `comity token verify` prints for a token of `licence` exported from `url`.
fn token_verdict(url: &str, trust: &Path, licence: &str, dir: &Path) -> (i32, String) {
    let file = dir.join(format!("{}.token", licence.replace('/', "_")));
    let out = run("comity", &["token", "export", licence, "-o", file.to_str().unwrap()], &[("COMITY_NODE", url)]);
    assert!(out.status.success(), "token export: {}", text(&out.stderr));
    let out = run("comity", &["token", "verify", file.to_str().unwrap()], &[("COMITY_TRUST", trust.to_str().unwrap())]);
    (out.status.code().unwrap(), verdict_word(&text(&out.stdout)))
}

/// The first verdict name (VALID, BAD_SIGNATURE, ...) in `output`.
fn verdict_word(output: &str) -> String {
    let names = ["VALID", "BAD_SIGNATURE", "REVOKED", "NOT_FOUND", "STALE"];
    output.split(|c: char| !(c.is_ascii_uppercase() || c == '_')).find(|w| names.contains(w)).unwrap_or_else(|| panic!("no verdict in: {output}")).to_string()
}

fn node_config(trust: &Path, origin: &str, hosts_bafa: bool) -> impl FnOnce(&mut comity_node::Config) {
    let (trust, origin) = (trust.to_path_buf(), origin.to_string());
    move |c| {
        c.origin = origin;
        c.trust_file = Some(trust);
        c.authorities.clear();
        c.trusted.clear();
        if hosts_bafa {
            c.authorities.push(AuthorityConfig { id: BAFA.into(), name: String::new(), keys: vec![] });
        }
    }
}

fn write(path: PathBuf, trust: &TrustFile) -> PathBuf {
    std::fs::write(&path, trust.to_toml()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compromise_gets_the_same_verdict_from_origin_late_mirror_import_recovered_node_and_token() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = Keys { roots: [Signer::from_seed(&[1; 32]), Signer::from_seed(&[2; 32])], k1: Signer::from_seed(&[10; 32]), k2: Signer::from_seed(&[11; 32]) };
    let node_trust = write(tmp.path().join("node-trust.toml"), &keys.trust(vec![]));
    let mut a = TestNode::start_with(&[], node_config(&node_trust, ORIGIN, true)).await;
    let client_trust = write(tmp.path().join("trust.toml"), &keys.trust(vec![a.node().log_verifier().to_string()]));
    let mut at_a = a.client().await;

    // k1 signs; the first licence is logged, then S passes, then the second is logged.
    at_a.publish(keys.key_set(1, vec![key(&keys.k1, 0)])).await.unwrap();
    let first = at_a.publish(sign_decision(grant(BAFA, "DE-2026-LT-0001"), &keys.k1)).await.unwrap();
    let since = a.clock().now() + 1;
    a.clock().advance(2);
    let second = at_a.publish(sign_decision(grant(BAFA, "DE-2026-LT-0002"), &keys.k1)).await.unwrap();
    let logged = |p: &pb::PublishResponse| p.receipt.as_ref().unwrap().logged_at;
    assert!(logged(&first) < since && logged(&second) >= since, "log times {} and {} around {since}", logged(&first), logged(&second));
    // Then k1 is declared compromised since S (k2 takes over).
    at_a.publish(keys.key_set(2, vec![key(&keys.k1, since), key(&keys.k2, 0)])).await.unwrap();
    let size = at_a.checkpoint().await.unwrap().size;

    let expected = [(BEFORE, (0, "VALID".to_string())), (AFTER, (20 + pb::Verdict::BadSignature as i32, "BAD_SIGNATURE".to_string()))];
    let check = |url: &str, copy: &str| {
        for (licence, want) in &expected {
            assert_eq!(&verified(url, &client_trust, licence), want, "{licence} at {copy}");
        }
    };
    check(&a.url(), "the origin");

    // A mirror that starts only now holds both entries since after S, and still reads the
    // origin's log times.
    let b = TestNode::start_mirror_of(&a, "bafa", &[], "registry.meti.example/log", node_config(&node_trust, "registry.meti.example/log", false)).await;
    eventually(WAIT, "the late mirror to hold A's log", || async { b.node().mirror_status("bafa").filter(|s| s.size == size).map(|_| ()) }).await;
    check(&b.url(), "the late mirror");

    // A node that imports A's export file (its link to A is down).
    let export = tmp.path().join("bafa.log");
    let out = run("comity-node", &["export", "--from", &a.url(), "--origin", ORIGIN, "-o", export.to_str().unwrap()], &[]);
    assert!(out.status.success(), "export: {}", text(&out.stderr));
    let mut c = TestNode::start_with(&[], node_config(&node_trust, "registry.sbdu.example/log", false)).await;
    let mut peer = a.as_peer("bafa");
    peer.url = "http://127.0.0.1:9".into();
    c.stop().await;
    c.reconfigure(|cfg| cfg.peers = vec![peer]);
    let config = c.dir.path().join("import.toml");
    std::fs::write(&config, c.config().to_toml()).unwrap();
    let out = run("comity-node", &["import", "--file", export.to_str().unwrap(), "--config", config.to_str().unwrap()], &[]);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    c.start_again().await.unwrap();
    check(&c.url(), "the importing node");

    // A loses its store and recovers its own log from the mirror.
    a.stop().await;
    std::fs::remove_dir_all(a.config().store_dir()).unwrap();
    let config = a.dir.path().join("recover.toml");
    std::fs::write(&config, a.config().to_toml()).unwrap();
    let out = run("comity-node", &["recover", "--config", config.to_str().unwrap(), "--from", &b.url()], &[]);
    assert!(out.status.success(), "recover: {}", text(&out.stderr));
    a.start_again().await.unwrap();
    assert_eq!(a.client().await.checkpoint().await.unwrap().size, size);
    check(&a.url(), "the recovered origin");

    // Offline tokens.
    for (licence, want) in &expected {
        assert_eq!(&token_verdict(&a.url(), &client_trust, licence, tmp.path()), want, "{licence} as a token");
    }
}
