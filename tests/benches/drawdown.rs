//! Usage and drawdown (docs/usage-and-drawdown.md): what a customs write-off costs next to a
//! grant published the same way in the same run, how fast one licence's write-offs are
//! sequenced when customs offices race for it, and what a long chain of write-offs costs a
//! relying party (Verify answer size, the node's answer time, the client's check of the proof).
//!
//! Run: `cargo bench -p comity-tests --bench drawdown` (figures go into BENCHMARKS.md).
//! Set `COMITY_BENCH_N` to change the number of publishes per measurement (default 2000).

#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use comity_client::ClientError;
use comity_node::config::{AuthorityConfig, Config};
use comity_proto::decision::fixtures::{grant, shipment};
use comity_proto::pb;
use comity_proto::statement::{sign_decision, Signer, StatementId};
use comity_proto::trust::{sign_key_set, TrustFile, TrustedAuthority};
use comity_tests::{publish_concurrently, TestNode};
use prost::Message;

const BAFA: &str = "de.bafa";

fn write_off(licence_id: &str, version: u64, previous: [u8; 32], declaration: &str, quantity: &str) -> pb::Decision {
    let base = grant(BAFA, licence_id);
    let decided = comity_node::now();
    pb::Decision {
        authority: BAFA.into(),
        licence_id: licence_id.into(),
        version,
        previous: previous.to_vec(),
        action: pb::Action::WriteOff as i32,
        application_received: base.application_received,
        decided_at: decided,
        reported_by: BAFA.into(),
        shipment: Some(shipment(declaration, decided, quantity)),
        ..Default::default()
    }
}

/// A licence of `quantity` pcs, valid now.
fn grant_now(licence_id: &str, quantity: &str) -> pb::Decision {
    let mut g = grant(BAFA, licence_id);
    let now = comity_node::now();
    (g.valid_from, g.valid_until, g.decided_at, g.application_received) = (now - 86_400, now + 365 * 86_400, now - 86_400, now - 90 * 86_400);
    g.items[0].quantity = quantity.into();
    g
}

fn row(name: &str, ops: usize, elapsed: Duration, extra: &str) {
    println!("| {name:<64} | {ops:>6} | {:>9.0} | {extra} |", ops as f64 / elapsed.as_secs_f64());
}

/// `tasks` customs clients writing off 1 pcs each against one licence until `total` succeeded,
/// each reading the head and signing again when another took the version (ABORTED).
async fn race(node: &TestNode, customs_seed: [u8; 32], licence_id: &str, tasks: usize, total: usize) -> (Duration, usize) {
    let mut client = node.client().await;
    client.publish(sign_decision(grant_now(licence_id, "1000000"), &Signer::from_seed(&[10; 32]))).await.unwrap();
    let (done, attempts) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let start = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let (mut client, customs, licence_id) = (node.client().await, Signer::from_seed(&customs_seed), licence_id.to_string());
        let (done, attempts) = (done.clone(), attempts.clone());
        running.spawn(async move {
            let mut n = 0;
            while done.load(Ordering::Relaxed) < total {
                let (version, head) = client.summary_head(BAFA, &licence_id).await.unwrap().unwrap();
                attempts.fetch_add(1, Ordering::Relaxed);
                let d = write_off(&licence_id, version + 1, head.0, &format!("26DE{task:04}{n:08}E1"), "1");
                match client.publish(sign_decision(d, &customs)).await {
                    Ok(_) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                    }
                    Err(ClientError::Status(s)) if s.code() == tonic::Code::Aborted => {}
                    Err(e) => panic!("write-off: {e}"),
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
    (start.elapsed(), attempts.load(Ordering::Relaxed))
}

fn main() {
    let n: usize = std::env::var("COMITY_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let roots = [Signer::from_seed(&[1; 32]), Signer::from_seed(&[2; 32])];
        let (licensing, customs) = (Signer::from_seed(&[10; 32]), Signer::from_seed(&[11; 32]));
        let (trust_dir, trust_path) = comity_tests::trust_file(BAFA, &roots);
        let node = TestNode::start_with(&[], move |c: &mut Config| {
            c.trust_file = Some(trust_path);
            c.authorities = vec![AuthorityConfig { id: BAFA.into(), name: "BAFA".into(), keys: vec![] }];
        })
        .await;
        let mut client = node.client().await;
        let key = |s: &Signer, role: pb::KeyRole, holder: &str| pb::SigningKey {
            public_key: s.verifying_key().to_bytes().to_vec(),
            role: role as i32,
            holder: holder.into(),
            ..Default::default()
        };
        let set = pb::KeySet {
            authority: BAFA.into(),
            version: 1,
            keys: vec![key(&licensing, pb::KeyRole::Licensing, ""), key(&customs, pb::KeyRole::Customs, "Zollamt Frankfurt am Main Flughafen")],
            issued_at: comity_node::now() - 86_400,
        };
        client.publish(sign_key_set(set, &[&roots[0], &roots[1]])).await.unwrap();
        let sign = |d: pb::Decision, s: &Signer| sign_decision(d, s);

        println!("| measurement (n = {n}) | ops | ops/s | notes |");
        println!("|---|---:|---:|---|");
        // Grants and write-offs published the same way (64 in flight over gRPC).
        let grants: Vec<pb::Decision> = (0..n).map(|i| grant_now(&format!("DE-2026-G{i:06}"), "200")).collect();
        let envelopes: Vec<Vec<u8>> = grants.iter().map(|g| sign(g.clone(), &licensing)).collect();
        let heads: Vec<[u8; 32]> = envelopes.iter().map(|e| StatementId::of(e).0).collect();
        let start = Instant::now();
        publish_concurrently(client.clone(), envelopes, 64).await;
        row("GRANT, one per licence, 64 in flight (gRPC)", n, start.elapsed(), "the baseline of this run");
        let write_offs: Vec<Vec<u8>> = grants
            .iter()
            .zip(&heads)
            .enumerate()
            .map(|(i, (g, head))| sign(write_off(&g.licence_id, 2, *head, &format!("26DE{i:012}E1"), "5"), &customs))
            .collect();
        let start = Instant::now();
        publish_concurrently(client.clone(), write_offs, 64).await;
        row("WRITE_OFF, one per licence, 64 in flight (gRPC)", n, start.elapsed(), "balance, role and recognition checked");

        // One licence, customs offices racing for its next version.
        for tasks in [1, 2, 8] {
            let total = n / 4;
            let (elapsed, attempts) = race(&node, [11; 32], &format!("DE-2026-RACE{tasks}"), tasks, total).await;
            row(
                &format!("WRITE_OFF on one licence, {tasks} customs offices racing"),
                total,
                elapsed,
                &format!("{:.2} signatures per write-off (read head, sign, publish)", attempts as f64 / total as f64),
            );
        }

        // A relying party's cost of a long chain of write-offs.
        let trust = TrustFile {
            authorities: vec![TrustedAuthority {
                id: BAFA.into(),
                threshold: 2,
                root_keys: roots.iter().map(|r| hex::encode(r.verifying_key().to_bytes())).collect(),
                logs: vec![node.node().log_verifier().to_string()],
                ..Default::default()
            }],
            ..Default::default()
        };
        println!();
        println!("| write-offs in the chain | Verify answer | node answers (gRPC, p50) | client checks the proof (p50) |");
        println!("|---:|---:|---:|---:|");
        for chain in [1usize, 10, 100, 250, 1000] {
            let licence_id = format!("DE-2026-CHAIN{chain}");
            let granted = client.publish(sign(grant_now(&licence_id, "1000000"), &licensing)).await.unwrap();
            let (mut version, mut previous) = (1, StatementId::from_slice(&granted.statement_id).unwrap().0);
            for i in 0..chain {
                version += 1;
                let published =
                    client.publish(sign(write_off(&licence_id, version, previous, &format!("26DE{chain:04}{i:08}E1"), "1"), &customs)).await.unwrap();
                previous = StatementId::from_slice(&published.statement_id).unwrap().0;
            }
            let request = pb::VerifyRequest {
                authority: BAFA.into(),
                licence_id: licence_id.clone(),
                relying_authority: BAFA.into(),
                destination: "JP".into(),
                quantity: "1".into(),
                ..Default::default()
            };
            let mut node_times = Vec::new();
            let mut client_times = Vec::new();
            let mut size = 0;
            for _ in 0..20 {
                let t = Instant::now();
                let answer = client.verify(request.clone()).await.unwrap();
                node_times.push(t.elapsed());
                size = answer.encoded_len();
                let now = comity_node::now();
                let t = Instant::now();
                let checked = comity_client::verified::check_verify_answer(&trust, &request, &answer, now);
                client_times.push(t.elapsed());
                match checked {
                    Ok(v) => assert_eq!(v.judgement.verdict, pb::Verdict::Valid, "{:?}", v.judgement.reasons),
                    Err(e) => panic!("chain of {chain}: {e}"),
                }
            }
            node_times.sort();
            client_times.sort();
            println!(
                "| {chain} | {:.0} KB | {:.2} ms | {:.2} ms |",
                size as f64 / 1024.0,
                node_times[10].as_secs_f64() * 1e3,
                client_times[10].as_secs_f64() * 1e3
            );
        }
        drop(trust_dir);
    });
}
