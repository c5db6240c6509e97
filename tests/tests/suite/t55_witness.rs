//! Witnessing (C2SP tlog-cosignature): peers cosign each other's checkpoints after verifying
//! them, origins gather and serve the cosignatures, and a witness refuses anything it has not
//! verified itself or that contradicts what it cosigned.

use std::time::Duration;

use comity_proto::decision::fixtures::grant;
use comity_proto::log::{LogKey, LogVerifier};
use comity_proto::pb;
use comity_proto::witness::WitnessVerifier;
use comity_tests::{eventually, TestNode};

const WAIT: Duration = Duration::from_secs(30);
const SITES: [(&str, &str, &str); 3] =
    [("bafa", "de.bafa", "registry.bafa.example/log"), ("ecju", "uk.ecju", "registry.ecju.example/log"), ("meti", "jp.meti", "registry.meti.example/log")];

fn witness_of(node: &TestNode) -> WitnessVerifier {
    node.node().witness_verifier().clone()
}

fn log_key_of(node: &TestNode) -> LogKey {
    // The test reads the node's key file, as an attacker who stole it would.
    let text = std::fs::read_to_string(node.config().log_key_path()).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let seed: [u8; 32] = hex::decode(file["secret_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    LogKey::from_seed(&node.config().origin, &seed).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_shows_the_same_checkpoint_cosigned_by_the_others() {
    let nodes = comity_tests::mutual_federation(&SITES).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut at_a = a.client().await;
    for i in 0..5 {
        at_a.publish(a.sign(grant("de.bafa", &format!("DE-2026-WIT-{i}")))).await.unwrap();
    }
    let origin = SITES[0].2;
    let size = at_a.checkpoint().await.unwrap().size;
    assert_eq!(size, 5);

    // The origin gathers both witnesses' cosignatures on a checkpoint of its whole log.
    let served = eventually(WAIT, "A to serve its checkpoint cosigned by B and C", || {
        let mut client = at_a.clone();
        let (wb, wc) = (witness_of(b), witness_of(c));
        async move {
            let cp = client.checkpoint().await.ok()?;
            let note = cp.cosigned_checkpoint;
            (wb.cosigned_at(&note).is_some() && wc.cosigned_at(&note).is_some() && note.lines().nth(1) == Some("5")).then_some(note)
        }
    })
    .await;
    let verifier: LogVerifier = a.node().log_verifier().clone();
    assert_eq!(verifier.verify_checkpoint(&served).unwrap().size, 5, "cosignatures leave the log's signature valid");

    // Every node's Status shows that same cosigned checkpoint for A's log.
    for node in &nodes {
        let mut client = node.client().await;
        let view = eventually(WAIT, "each node to hold A's cosigned checkpoint", || {
            let mut client = client.clone();
            async move {
                let status = client.status().await.ok()?;
                let view = status.logs.into_iter().find(|l| l.origin == origin)?;
                (view.cosigned_size == 5 && view.cosigners.len() == 2).then_some(view)
            }
        })
        .await;
        let expected = verifier.verify_checkpoint(&served).unwrap().root.to_vec();
        assert_eq!(view.cosigned_root, expected);
        let mut names = view.cosigners.clone();
        names.sort();
        assert_eq!(names, vec![witness_of(b).name().to_string(), witness_of(c).name().to_string()]);
        let status = client.status().await.unwrap();
        assert_eq!(status.witness_key, witness_of(node).to_string());
    }
    // Each witness reports how far it has cosigned A's log.
    let mut at_b = b.client().await;
    let peer = at_b.status().await.unwrap().peers.into_iter().find(|p| p.origin == origin).unwrap();
    assert_eq!(peer.cosigned_up_to, 5);

    // The operator's view: `comity peers --wait` returns once caught up and lists the logs
    // with their cosigned checkpoints.
    let url = b.url();
    let output = tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(comity_tests::bin_path("comity")).args(["--node", &url, "--json", "peers", "--wait"]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    })
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output).unwrap();
    let log_a = report["logs"].as_array().unwrap().iter().find(|l| l["origin"] == origin).unwrap();
    assert_eq!(log_a["cosigned_size"], 5);
    let peer_a = report["peers"].as_array().unwrap().iter().find(|p| p["origin"] == origin).unwrap();
    assert_eq!((peer_a["lag_entries"].as_u64(), peer_a["cosigned_up_to"].as_u64()), (Some(0), Some(5)));
    let mut cosigners: Vec<&str> = log_a["cosigners"].as_array().unwrap().iter().filter_map(|n| n.as_str()).collect();
    cosigners.sort();
    assert_eq!(cosigners, vec![witness_of(b).name(), witness_of(c).name()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_only_what_it_verified_itself() {
    let nodes = comity_tests::mutual_federation(&SITES).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut at_a = a.client().await;
    let mut at_b = b.client().await;
    at_a.publish(a.sign(grant("de.bafa", "DE-2026-WIT-REF-1"))).await.unwrap();
    let latest = at_a.checkpoint().await.unwrap();
    let origin = SITES[0].2;
    eventually(WAIT, "B to mirror A", || {
        let s = b.node().mirror_status("bafa");
        async move { s.filter(|s| s.size == 1).map(|_| ()) }
    })
    .await;

    // A log it does not mirror.
    let stranger = LogKey::from_seed("registry.elsewhere.example/log", &[3; 32]).unwrap();
    let foreign = stranger.sign_checkpoint(1, &[0; 32], &[0; 32], 1).unwrap();
    assert_eq!(at_b.cosign(&foreign).await.unwrap_err().code(), Some(tonic::Code::NotFound));

    // A checkpoint whose signature does not verify.
    let forged = latest.checkpoint.replacen("\n1\n", "\n2\n", 1);
    assert_eq!(at_b.cosign(&forged).await.unwrap_err().code(), Some(tonic::Code::InvalidArgument));

    // A checkpoint beyond what B has verified: B waits for its mirror, then gives up.
    let key = log_key_of(a);
    let ahead = key.sign_checkpoint(50, &[7; 32], &[0; 32], now()).unwrap();
    assert_eq!(at_b.cosign(&ahead).await.unwrap_err().code(), Some(tonic::Code::Unavailable));

    // The genuine latest checkpoint is cosigned, with a line that verifies.
    let answer = at_b.cosign(&latest.checkpoint).await.unwrap();
    assert_eq!(answer.witness, witness_of(b).name());
    assert!(witness_of(b).cosigned_at(&format!("{}{}", latest.checkpoint, answer.cosignature)).is_some());

    // An older checkpoint than B's latest view is refused: a cosignature says "latest".
    at_a.publish(a.sign(grant("de.bafa", "DE-2026-WIT-REF-2"))).await.unwrap();
    eventually(WAIT, "B to mirror A's second entry", || {
        let s = b.node().mirror_status("bafa");
        async move { s.filter(|s| s.size == 2).map(|_| ()) }
    })
    .await;
    assert_eq!(at_b.cosign(&latest.checkpoint).await.unwrap_err().code(), Some(tonic::Code::FailedPrecondition));

    // A second root for the size B holds, signed with A's key: a split view, caught by the witness.
    let conflicting = key.sign_checkpoint(2, &[9; 32], &[0; 32], now()).unwrap();
    let refused = at_b.cosign(&conflicting).await.unwrap_err();
    assert_eq!(refused.code(), Some(tonic::Code::FailedPrecondition));
    let evidence = at_b.evidence().await.unwrap();
    assert_eq!(evidence.frozen.iter().map(|f| f.origin.as_str()).collect::<Vec<_>>(), vec![origin]);
    assert!(evidence.evidence.iter().any(|e| e.kind == "split_view" && e.checkpoints.contains(&conflicting)));
    // C, which was never shown the conflicting checkpoint, is unaffected.
    let mut at_c = c.client().await;
    assert!(at_c.evidence().await.unwrap().frozen.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_witness_cosigned_survives_a_restart() {
    let mut nodes = comity_tests::mutual_federation(&SITES).await;
    let mut at_a = nodes[0].client().await;
    at_a.publish(nodes[0].sign(grant("de.bafa", "DE-2026-WIT-RST-1"))).await.unwrap();
    let origin = SITES[0].2;
    let cosigned_up_to = |status: pb::StatusResponse| status.peers.into_iter().find(|p| p.origin == origin).map(|p| p.cosigned_up_to);
    let mut at_b = nodes[1].client().await;
    eventually(WAIT, "B to cosign A's checkpoint of size 1", || {
        let mut client = at_b.clone();
        async move { client.status().await.ok().and_then(cosigned_up_to).filter(|n| *n == 1) }
    })
    .await;
    nodes[1].restart().await;
    at_b = nodes[1].client().await;
    assert_eq!(cosigned_up_to(at_b.status().await.unwrap()), Some(1));
    // A checkpoint signed for size 1 with another root is refused after the restart too.
    let conflicting = log_key_of(&nodes[0]).sign_checkpoint(1, &[5; 32], &[0; 32], now()).unwrap();
    assert_eq!(at_b.cosign(&conflicting).await.unwrap_err().code(), Some(tonic::Code::FailedPrecondition));
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_asks_only_as_many_witnesses_as_configured_and_the_next_when_one_is_down() {
    let mut nodes = comity_tests::mutual_federation(&SITES).await;
    nodes[0].stop().await;
    nodes[0].reconfigure(|c| c.witnesses_per_checkpoint = 1);
    nodes[0].start_again().await.unwrap();
    let witnesses = [witness_of(&nodes[1]), witness_of(&nodes[2])];
    let cosigned_by = |note: &str| witnesses.iter().filter(|w| w.cosigned_at(note).is_some()).map(|w| w.name().to_string()).collect::<Vec<_>>();
    let mut at_a = nodes[0].client().await;
    at_a.publish(nodes[0].sign(grant("de.bafa", "DE-2026-ONE-1"))).await.unwrap();
    eventually(WAIT, "A's checkpoint of size 1 to be cosigned", || {
        let mut client = at_a.clone();
        async move { client.checkpoint().await.ok().map(|cp| cp.cosigned_checkpoint).filter(|n| n.lines().nth(1) == Some("1")) }
    })
    .await;
    // One witness asked, one cosignature; give the other time to (wrongly) answer too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let note = at_a.checkpoint().await.unwrap().cosigned_checkpoint;
    assert_eq!(note.lines().nth(1), Some("1"));
    let chosen = cosigned_by(&note);
    assert_eq!(chosen.len(), 1, "{note}");

    // The chosen witness goes down: the next in rank cosigns the next checkpoint.
    let down = if chosen[0] == witnesses[0].name() { 1 } else { 2 };
    nodes[down].stop().await;
    at_a.publish(nodes[0].sign(grant("de.bafa", "DE-2026-ONE-2"))).await.unwrap();
    let note = eventually(WAIT, "A's checkpoint of size 2 to be cosigned by the other witness", || {
        let mut client = at_a.clone();
        async move { client.checkpoint().await.ok().map(|cp| cp.cosigned_checkpoint).filter(|n| n.lines().nth(1) == Some("2")) }
    })
    .await;
    assert_eq!(cosigned_by(&note), vec![witnesses[2 - down].name().to_string()]);
}

/// Joining by consortium file: each member prints its entry with `comity-node member`, the
/// entries make one file, and a node that names the file (and nothing else about its peers)
/// mirrors, witnesses and trusts every other member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consortium_file_is_all_a_member_needs_to_join() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for (_, authority, origin) in SITES {
        nodes.push(TestNode::start_with(&[authority], |c| c.origin = origin.into()).await);
    }
    let mut file = String::from("name = \"EU-Japan-UK export-control registry consortium\"\n\n");
    for node in &nodes {
        let config = node.dir.path().join("member.toml");
        std::fs::write(&config, node.config().to_toml()).unwrap();
        let out = std::process::Command::new(comity_tests::bin_path("comity-node"))
            .args(["member", "--config", config.to_str().unwrap(), "--url", &node.url()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        file.push_str(&String::from_utf8(out.stdout).unwrap());
        file.push('\n');
    }
    let consortium = tmp.path().join("consortium.toml");
    std::fs::write(&consortium, &file).unwrap();
    assert!(file.contains("id = \"bafa\"") && file.contains("[[member.authority]]"), "{file}");
    for node in &mut nodes {
        node.stop().await;
        let path = consortium.clone();
        node.reconfigure(|c| {
            assert!(c.peers.is_empty() && c.trusted.is_empty());
            c.consortium_file = Some(path);
            c.mirror_interval_ms = 50;
        });
        node.start_again().await.unwrap();
    }
    for (node, (_, authority, _)) in nodes.iter().zip(SITES) {
        node.client().await.publish(node.sign(grant(authority, &format!("{}-2026-JOIN-1", authority.to_uppercase())))).await.unwrap();
    }
    // Every node holds every other member's log, cosigned by the other two.
    for (i, node) in nodes.iter().enumerate() {
        for (_, _, origin) in SITES.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, s)| s) {
            let client = node.client().await;
            eventually(WAIT, &format!("node {i} to hold {origin} cosigned"), || {
                let mut client = client.clone();
                async move {
                    let status = client.status().await.ok()?;
                    status.logs.into_iter().find(|l| l.origin == *origin && l.cosigned_size == 1 && l.cosigners.len() == 2).map(|_| ())
                }
            })
            .await;
        }
    }
}
