//! Trust: key sets signed by a threshold of pinned root keys, rotation, compromise and
//! rollback, at the authority's node and at a mirror.

use std::time::Duration;

use comity_node::config::Config;
use comity_proto::decision::fixtures::{grant, DECIDED};
use comity_proto::pb;
use comity_proto::statement::{sign_decision, Signer};
use comity_proto::trust::{sign_key_set, TrustFile, TrustedAuthority};
use comity_tests::{eventually, TestNode};
use tonic::Code;

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const WAIT: Duration = Duration::from_secs(15);

/// BAFA's three root keys (threshold 2) and two signing keys, and a trust file pinning them.
struct Keys {
    roots: [Signer; 3],
    k1: Signer,
    k2: Signer,
    trust_dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Self {
        let roots = [Signer::from_seed(&[1; 32]), Signer::from_seed(&[2; 32]), Signer::from_seed(&[3; 32])];
        let trust = TrustFile {
            authorities: vec![TrustedAuthority {
                id: BAFA.into(),
                name: "Bundesamt für Wirtschaft und Ausfuhrkontrolle".into(),
                threshold: 2,
                root_keys: roots.iter().map(|r| hex::encode(r.verifying_key().to_bytes())).collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let trust_dir = tempfile::tempdir().unwrap();
        std::fs::write(trust_dir.path().join("trust.toml"), trust.to_toml()).unwrap();
        Self { roots, k1: Signer::from_seed(&[10; 32]), k2: Signer::from_seed(&[11; 32]), trust_dir }
    }

    /// A config with log `origin` that trusts BAFA by its roots alone, with no configured keys.
    fn apply(&self, c: &mut Config, origin: &str) {
        c.origin = origin.into();
        c.trust_file = Some(self.trust_dir.path().join("trust.toml"));
        c.authorities.retain(|a| a.id != BAFA);
        c.trusted.retain(|a| a.id != BAFA);
    }

    fn key_set(&self, version: u64, keys: Vec<pb::SigningKey>, roots: &[usize]) -> Vec<u8> {
        let signers: Vec<&Signer> = roots.iter().map(|i| &self.roots[*i]).collect();
        sign_key_set(pb::KeySet { authority: BAFA.into(), version, keys, issued_at: DECIDED }, &signers)
    }
}

fn key(s: &Signer, from: i64, until: i64, compromised: i64) -> pb::SigningKey {
    pb::SigningKey {
        public_key: s.verifying_key().to_bytes().to_vec(),
        valid_from: from,
        valid_until: until,
        compromised_since: compromised,
        ..Default::default()
    }
}

fn decided(licence: &str, at: i64) -> pb::Decision {
    let mut d = grant(BAFA, licence);
    d.decided_at = at;
    d
}

async fn refused(client: &mut comity_client::Client, envelope: Vec<u8>) -> (Code, String) {
    match client.publish(envelope).await {
        Ok(r) => panic!("accepted: {r:?}"),
        Err(e) => (e.code().expect("a gRPC status"), e.to_string()),
    }
}

#[tokio::test]
async fn key_sets_rotate_and_compromise_keys_at_the_origin_and_its_mirror() {
    let keys = Keys::new();
    // BAFA's node hosts BAFA by root keys only; a METI node mirrors it, trusting the same roots.
    let mut a = TestNode::start_with(&[BAFA], |c| {
        keys.apply(c, "registry.bafa.example/log");
        c.authorities.push(comity_node::config::AuthorityConfig { id: BAFA.into(), name: String::new(), keys: vec![] });
    })
    .await;
    let b = TestNode::start_with(&[METI], |c| {
        keys.apply(c, "registry.meti.example/log");
        c.peers = vec![a.as_peer("bafa")];
        c.mirror_interval_ms = 50;
    })
    .await;
    let mut client = a.client().await;

    // No key set yet: no key can sign.
    let (code, m) = refused(&mut client, sign_decision(decided("DE-2026-000901", DECIDED), &keys.k1)).await;
    assert_eq!(code, Code::PermissionDenied, "{m}");

    // One root is below the threshold; a signing key is not a root at all.
    let v1_keys = vec![key(&keys.k1, 0, 0, 0)];
    let (code, m) = refused(&mut client, keys.key_set(1, v1_keys.clone(), &[0])).await;
    assert_eq!(code, Code::PermissionDenied, "{m}");
    assert!(m.contains("1 distinct root keys, 2 needed"), "{m}");
    let forged = comity_proto::statement::sign_statement(
        &pb::Statement {
            kind: Some(pb::statement::Kind::KeySet(pb::KeySet { authority: BAFA.into(), version: 1, keys: v1_keys.clone(), issued_at: DECIDED })),
        },
        &[&keys.roots[0], &keys.k1],
    );
    let (code, m) = refused(&mut client, forged).await;
    assert_eq!(code, Code::PermissionDenied, "{m}");

    // v1 signed by roots 0 and 2: k1 signs.
    client.publish(keys.key_set(1, v1_keys.clone(), &[0, 2])).await.unwrap();
    client.publish(sign_decision(decided("DE-2026-000901", DECIDED), &keys.k1)).await.unwrap();
    // Publishing the same key set again is idempotent; another v1 is a rollback.
    assert!(client.publish(keys.key_set(1, v1_keys.clone(), &[0, 2])).await.unwrap().already_present);
    let (code, m) = refused(&mut client, keys.key_set(1, vec![key(&keys.k1, 0, 0, 0), key(&keys.k2, 0, 0, 0)], &[0, 1])).await;
    assert_eq!(code, Code::FailedPrecondition, "{m}");
    assert!(m.contains("rollback"), "{m}");

    // Rotation: k1 retired for decisions dated from DECIDED + 1000, k2 valid from then.
    let rotated = DECIDED + 1000;
    client.publish(keys.key_set(2, vec![key(&keys.k1, 0, rotated, 0), key(&keys.k2, rotated, 0, 0)], &[1, 2])).await.unwrap();
    client.publish(sign_decision(decided("DE-2026-000902", rotated + 5), &keys.k2)).await.unwrap();
    let (code, m) = refused(&mut client, sign_decision(decided("DE-2026-000903", rotated + 5), &keys.k1)).await;
    assert_eq!(code, Code::PermissionDenied, "{m}");
    assert!(m.contains("not valid at the statement's log time"), "{m}");
    // Keys are judged when the log takes the decision, not by the date the signer wrote: the
    // retired k1 cannot get a decision backdated into its window logged...
    let (code, m) = refused(&mut client, sign_decision(decided("DE-2026-000906", rotated - 500), &keys.k1)).await;
    assert_eq!(code, Code::PermissionDenied, "{m}");
    assert!(m.contains("key ") && m.contains("not valid at the statement's log time"), "{m}");
    // ...while history decided before k2's window, backfilled now, is signed by a key valid now.
    client.publish(sign_decision(decided("DE-2026-000907", rotated - 86_400 * 30), &keys.k2)).await.unwrap();
    // A decision dated after the time the log takes it (beyond the 600 s clock allowance) is
    // refused whatever key signs it.
    let ahead = comity_node::now() + 3_600;
    let (code, m) = refused(&mut client, sign_decision(decided("DE-2026-000908", ahead), &keys.k2)).await;
    assert_eq!(code, Code::InvalidArgument, "{m}");
    assert!(m.contains("entered the log at") && m.contains("more than 600 s earlier"), "{m}");
    // A key dropped from a later set, or a compromise cleared, is refused.
    let (code, m) = refused(&mut client, keys.key_set(3, vec![key(&keys.k2, rotated, 0, 0)], &[0, 1])).await;
    assert_eq!(code, Code::InvalidArgument, "{m}");
    assert!(m.contains("missing"), "{m}");

    // Compromise of k2 since a minute ago: k2 can no longer publish.
    let since = comity_node::now() - 60;
    client.publish(keys.key_set(3, vec![key(&keys.k1, 0, rotated, 0), key(&keys.k2, rotated, 0, since)], &[0, 1])).await.unwrap();
    let (code, m) = refused(&mut client, sign_decision(decided("DE-2026-000904", rotated + 5), &keys.k2)).await;
    assert_eq!(code, Code::PermissionDenied, "{m}");
    assert!(m.contains("compromised since"), "{m}");
    let (code, m) = refused(&mut client, keys.key_set(4, vec![key(&keys.k1, 0, rotated, 0), key(&keys.k2, rotated, 0, 0)], &[0, 1])).await;
    assert_eq!(code, Code::InvalidArgument, "{m}");
    assert!(m.contains("cannot clear or postpone"), "{m}");

    // The mirror verified the key sets in log order and holds v3 and both licences.
    eventually(WAIT, "mirror holds key set v3", || async { b.node().registry().trust().key_set(BAFA).filter(|s| s.version == 3).map(|_| ()) }).await;
    let mut at_b = b.client().await;
    for licence in ["DE-2026-000901", "DE-2026-000902"] {
        at_b.licence(BAFA, licence).await.unwrap();
    }

    // The key set in force survives a restart: k1 stays retired, k2 compromised.
    a.restart().await;
    assert_eq!(a.node().registry().trust().key_set(BAFA).unwrap().version, 3);
    let mut client = a.client().await;
    let (code, _) = refused(&mut client, sign_decision(decided("DE-2026-000905", rotated + 5), &keys.k2)).await;
    assert_eq!(code, Code::PermissionDenied);
}

/// A catch-up in parts checks the next part while the writer stores the one before: entries
/// signed by a key that a key set in the part being stored puts in force must not fail the round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_in_parts_crosses_a_key_rotation_without_a_failed_round() {
    let keys = Keys::new();
    let a = TestNode::start_with(&[BAFA], |c| {
        keys.apply(c, "registry.bafa.example/log");
        c.authorities.push(comity_node::config::AuthorityConfig { id: BAFA.into(), name: String::new(), keys: vec![] });
    })
    .await;
    let mut client = a.client().await;
    // Entries 0..10 (the first part): key set v1 with k1, eight decisions by k1, key set v2 adding
    // k2. Entries 10..20 (the second part): decisions by k2 alone.
    client.publish(keys.key_set(1, vec![key(&keys.k1, 0, 0, 0)], &[0, 2])).await.unwrap();
    for i in 1..9 {
        client.publish(sign_decision(decided(&format!("DE-2026-ROT-{i}"), DECIDED), &keys.k1)).await.unwrap();
    }
    client.publish(keys.key_set(2, vec![key(&keys.k1, 0, 0, 0), key(&keys.k2, 0, 0, 0)], &[0, 1])).await.unwrap();
    for i in 10..20 {
        client.publish(sign_decision(decided(&format!("DE-2026-ROT-{i}"), DECIDED), &keys.k2)).await.unwrap();
    }

    let b = TestNode::start_with(&[METI], |c| {
        keys.apply(c, "registry.meti.example/log");
        c.peers = vec![a.as_peer("bafa")];
        c.mirror_interval_ms = 50;
        c.limits.mirror_entries_per_part = 10;
    })
    .await;
    // Watched closely: a failed round stays on the status until the next round, 50 ms later.
    let mut failed = None;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = b.node().mirror_status("bafa");
        if let Some(s) = &status {
            if s.failures > 0 || s.last_error.is_some() {
                failed.get_or_insert(format!("{:?}", s.last_error));
            }
            if s.size == 20 {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "B did not catch up: {status:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(failed, None, "a round of the catch-up failed");
    assert_eq!(b.node().registry().trust().key_set(BAFA).unwrap().version, 2);
    b.client().await.licence(BAFA, "DE-2026-ROT-19").await.unwrap();
}

#[tokio::test]
async fn a_mirror_refuses_a_log_whose_key_set_is_below_threshold() {
    // The origin pins BAFA with threshold 1; the mirror pins the same roots with threshold 2,
    // so the origin's key set signed by one root is not enough for the mirror.
    let keys = Keys::new();
    let lax_dir = tempfile::tempdir().unwrap();
    let mut lax = TrustFile::read(&keys.trust_dir.path().join("trust.toml")).unwrap();
    lax.authorities[0].threshold = 1;
    std::fs::write(lax_dir.path().join("trust.toml"), lax.to_toml()).unwrap();
    let a = TestNode::start_with(&[BAFA], |c| {
        keys.apply(c, "registry.bafa.example/log");
        c.trust_file = Some(lax_dir.path().join("trust.toml"));
        c.authorities.push(comity_node::config::AuthorityConfig { id: BAFA.into(), name: String::new(), keys: vec![] });
    })
    .await;
    let mut client = a.client().await;
    client.publish(keys.key_set(1, vec![key(&keys.k1, 0, 0, 0)], &[0])).await.unwrap();
    client.publish(sign_decision(decided("DE-2026-000911", DECIDED), &keys.k1)).await.unwrap();

    let b = TestNode::start_with(&[METI], |c| {
        keys.apply(c, "registry.meti.example/log");
        c.peers = vec![a.as_peer("bafa")];
        c.mirror_interval_ms = 50;
    })
    .await;
    let error = eventually(WAIT, "the mirror to refuse the log", || async { b.node().mirror_status("bafa").and_then(|s| s.last_error) }).await;
    assert!(error.contains("2 needed"), "{error}");
    assert_eq!(b.node().mirror_status("bafa").unwrap().size, 0, "nothing of the refused log is stored");
    assert!(b.node().registry().trust().key_set(BAFA).is_none());
}
