//! Verify throughput and latency with 64 requests in flight, at a mirror node, next to the
//! in-process limits measured in the same run: the verdict computed without gRPC, a bare
//! loopback gRPC call, and raw ed25519 verification (which the Verify hot path never does).
//!
//! Run: `cargo bench -p comity-tests --bench verify` (figures go into BENCHMARKS.md).
//! `COMITY_BENCH_N` sets the number of Verify calls (default 20000) over 1,000 licences.

// The allocator comity-node runs with, so the node is measured as shipped.
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use comity_node::config::{AuthorityConfig, Config};
use comity_proto::decision::fixtures::{grant, DECIDED};
use comity_proto::pb::{self, Verdict};
use comity_proto::recognition::Context;
use comity_proto::statement::{pae, sign_decision, sign_statement, Signer, STATEMENT_PAYLOAD_TYPE};
use comity_proto::trust::sign_key_set;
use comity_proto::verdict::Question;
use comity_tests::TestNode;

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const LICENCES: usize = 1000;
const IN_FLIGHT: usize = 64;
/// Publishes per second at the issuer during the round that measures Verify under writes.
const WRITES_PER_SEC: u64 = 50;

fn row(name: &str, latencies: &mut [Duration], elapsed: Duration) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!("| {name} | {} | {rate:.0} | {:.2} ms | {:.2} ms |", latencies.len(), at(0.5), at(0.99));
}

fn request(i: usize) -> pb::VerifyRequest {
    pb::VerifyRequest {
        authority: BAFA.into(),
        licence_id: format!("DE-2026-{:06}", i % LICENCES),
        relying_authority: METI.into(),
        destination: "JP".into(),
        control_code: "EU-DU:3A001.a.1".into(),
        end_user: "Tohoku Institute of Space Optics".into(),
        at: 0,
        screening_lists: Vec::new(),
        end_use: String::new(),
        ..Default::default()
    }
}

/// Alternating rounds of echo and Verify on one connection.
const ROUNDS: usize = 3;

/// The round of median throughput (every round makes the same number of calls).
fn median_round(mut rounds: Vec<(Vec<Duration>, Duration)>) -> (Vec<Duration>, Duration) {
    rounds.sort_by_key(|(_, elapsed)| *elapsed);
    rounds.swap_remove(rounds.len() / 2)
}

/// Connections the load is spread over in the second round (IN_FLIGHT / CONNECTIONS requests in
/// flight on each), as when many partners' clients call one node.
const CONNECTIONS: usize = 8;

/// Calls `call(channel, i)` n times, IN_FLIGHT at a time over `connections` connections to
/// `url`; returns all latencies and the elapsed time.
async fn load_on<F, Fut>(url: &str, connections: usize, n: usize, call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(tonic::transport::Channel, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(tonic::transport::Endpoint::from_shared(url.to_string()).unwrap().tcp_nodelay(true).connect().await.unwrap());
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..IN_FLIGHT {
        let (call, channel) = (call.clone(), channels[w % connections].clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n / IN_FLIGHT);
            for i in 0..n / IN_FLIGHT {
                let t = Instant::now();
                call(channel.clone(), w + i * IN_FLIGHT).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (all, start.elapsed())
}

fn main() {
    let n: usize = std::env::var("COMITY_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("| measurement | calls | calls/s | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");

    // Raw ed25519 verify_strict on one core: what Verify would cost if it checked signatures.
    let signer = Signer::from_seed(&[9; 32]);
    let message = pae(STATEMENT_PAYLOAD_TYPE, &[7u8; 600]);
    let sig = signer.sign_raw(&message);
    let key = signer.verifying_key();
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        key.verify_strict(&message, &sig).unwrap();
        latencies.push(t.elapsed());
    }
    row("raw ed25519 verify_strict, one core (reference)", &mut latencies, start.elapsed());

    runtime.block_on(async {
        let roots = [Signer::from_seed(&[1; 32]), Signer::from_seed(&[2; 32])];
        let k1 = Signer::from_seed(&[10; 32]);
        let (_trust_dir, trust_path) = comity_tests::trust_file(BAFA, &roots);
        let ta = trust_path.clone();
        let a = TestNode::start_with(&[], move |c: &mut Config| {
            c.origin = "registry.bafa.example/log".into();
            c.trust_file = Some(ta);
            c.authorities = vec![AuthorityConfig { id: BAFA.into(), name: String::new(), keys: vec![] }];
        })
        .await;
        let a_peer = a.as_peer("bafa");
        // B keeps Verify's reads between writes (the default); C, the same mirror, reads
        // the store for every answer.
        let mirror = |cache: usize| {
            let (trust, peer) = (trust_path.clone(), a_peer.clone());
            TestNode::start_with(&[METI], move |c: &mut Config| {
                c.origin = "registry.meti.example/log".into();
                c.trust_file = Some(trust);
                c.peers = vec![peer];
                c.mirror_interval_ms = 50;
                c.limits.verify_cache_licences = cache;
            })
        };
        let b = mirror(Config::default().limits.verify_cache_licences).await;
        let c = mirror(0).await;
        let mut at_a = a.client().await;
        let key_set = pb::KeySet {
            authority: BAFA.into(),
            version: 1,
            keys: vec![pb::SigningKey { public_key: k1.verifying_key().to_bytes().to_vec(), ..Default::default() }],
            issued_at: DECIDED,
        };
        at_a.publish(sign_key_set(key_set, &[&roots[0], &roots[1]])).await.unwrap();
        let envelopes: Vec<Vec<u8>> = (0..LICENCES).map(|i| sign_decision(grant(BAFA, &format!("DE-2026-{i:06}")), &k1)).collect();
        comity_tests::publish_concurrently(at_a.clone(), envelopes, 64).await;
        let agreement = pb::RecognitionAgreement {
            relying_authority: METI.into(),
            recognised_authority: BAFA.into(),
            version: 1,
            agreement_id: "eu-du-2026".into(),
            control_code_patterns: vec!["EU-DU:3A001.*".into()],
            destinations_denied: vec!["RU".into()],
            max_risk_tier: 3,
            ..Default::default()
        };
        let size = a.node().registry().store().log("registry.bafa.example/log").size().unwrap();
        for node in [&b, &c] {
            let statement = pb::Statement { kind: Some(pb::statement::Kind::Agreement(agreement.clone())) };
            node.client().await.publish(sign_statement(&statement, &[&node.signer(METI)])).await.unwrap();
            while node.node().mirror_status("bafa").is_none_or(|s| s.size < size) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        // The verdict in process: store reads (or the copy kept of them), the pure judgement
        // and the proof bundle.
        for (node, what) in [(&b, "answers kept between writes"), (&c, "every answer read from the store")] {
            let registry = node.node().registry().clone();
            let cache = comity_node::service::verify::VerifyCache::new(node.config().limits.verify_cache_licences);
            let mut latencies = Vec::with_capacity(n);
            let start = Instant::now();
            for i in 0..n {
                let r = request(i);
                let q = Question {
                    authority: r.authority,
                    licence_id: r.licence_id,
                    relying_authority: r.relying_authority,
                    context: Context {
                        destination: Some(r.destination),
                        control_code: Some(r.control_code),
                        end_user: Some(r.end_user),
                        end_use: None,
                        at: comity_node::now(),
                        shipment: None,
                    },
                };
                let t = Instant::now();
                let answer = comity_node::service::verify::verify(&registry, &cache, &q, 86_400, comity_node::now()).unwrap();
                latencies.push(t.elapsed());
                assert_eq!(answer.verdict, Verdict::Valid as i32, "{:?}", answer.reasons);
            }
            row(&format!("Verify in process (no gRPC), one thread, {what}"), &mut latencies, start.elapsed());
        }
        let registry = b.node().registry().clone();
        let sample = comity_node::service::verify::verify(
            &registry,
            &comity_node::service::verify::VerifyCache::new(0),
            &Question {
                authority: BAFA.into(),
                licence_id: "DE-2026-000001".into(),
                relying_authority: METI.into(),
                context: Context { at: comity_node::now(), ..Default::default() },
            },
            86_400,
            comity_node::now(),
        )
        .unwrap();
        eprintln!(
            "a Verify answer is {} bytes encoded (proof: {} bytes)",
            prost::Message::encoded_len(&sample),
            sample.proof.as_ref().map_or(0, prost::Message::encoded_len)
        );

        let echo = |channel: tonic::transport::Channel, _| async move {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
        };
        let verify = |channel: tonic::transport::Channel, i| async move {
            let answer = pb::registry_client::RegistryClient::new(channel).verify(request(i)).await.unwrap().into_inner();
            assert_eq!(answer.verdict, Verdict::Valid as i32);
        };
        // One connection: echo and Verify in alternating rounds, the median round of each
        // reported, so a burst of noise on the shared machine does not decide the comparison.
        let mut echo_rounds = Vec::new();
        let mut verify_rounds = Vec::new();
        for _ in 0..ROUNDS {
            echo_rounds.push(load_on(&b.url(), 1, n, echo).await);
            verify_rounds.push(load_on(&b.url(), 1, n, verify).await);
        }
        let (mut e, e_elapsed) = median_round(echo_rounds);
        let (mut v, v_elapsed) = median_round(verify_rounds);
        let ratio = e_elapsed.as_secs_f64() / v_elapsed.as_secs_f64();
        row(&format!("bare loopback gRPC (health check, the echo), {IN_FLIGHT} in flight, one connection, median of {ROUNDS}"), &mut e, e_elapsed);
        row(&format!("comity Verify, answers kept, {IN_FLIGHT} in flight, one connection, median of {ROUNDS}"), &mut v, v_elapsed);
        eprintln!("Verify / echo throughput: {:.0}%", ratio * 100.0);
        let (mut latencies, elapsed) = load_on(&c.url(), 1, n, verify).await;
        row(&format!("comity Verify, every answer read from the store, {IN_FLIGHT} in flight, one connection"), &mut latencies, elapsed);

        // The issuer keeps deciding meanwhile: every publish at A is a new checkpoint of the
        // log B mirrors, which B ingests while it answers. Echo and Verify each get a round
        // under the same load, long enough (several seconds) that kept receipts are refreshed
        // (verify::RECEIPTS_REFRESH) during it.
        for (what, call) in [("bare loopback gRPC (health check, the echo)", 0), ("comity Verify, answers kept", 1)] {
            let publishing = Arc::new(AtomicBool::new(true));
            let publisher = {
                let (publishing, mut at_a, k1) = (publishing.clone(), at_a.clone(), Signer::from_seed(&[10; 32]));
                tokio::spawn(async move {
                    let mut published = 0u64;
                    let mut tick = tokio::time::interval(Duration::from_millis(1000 / WRITES_PER_SEC));
                    while publishing.load(Ordering::Relaxed) {
                        tick.tick().await;
                        at_a.publish(sign_decision(grant(BAFA, &format!("DE-2026-W{call}{published:06}")), &k1)).await.unwrap();
                        published += 1;
                    }
                    published
                })
            };
            let before = b.node().mirror_status("bafa").unwrap().size;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (mut latencies, elapsed) = if call == 0 { load_on(&b.url(), 1, 12 * n, echo).await } else { load_on(&b.url(), 1, 12 * n, verify).await };
            publishing.store(false, Ordering::Relaxed);
            let published = publisher.await.unwrap();
            let mirrored = b.node().mirror_status("bafa").unwrap().size - before;
            row(
                &format!(
                    "{what}, {IN_FLIGHT} in flight, one connection, while the issuer publishes {WRITES_PER_SEC}/s ({published} published, {mirrored} mirrored)"
                ),
                &mut latencies,
                elapsed,
            );
        }
        let (mut latencies, elapsed) = load_on(&b.url(), CONNECTIONS, n, echo).await;
        row(&format!("bare loopback gRPC (health check), {IN_FLIGHT} in flight, {CONNECTIONS} connections"), &mut latencies, elapsed);
        let (mut latencies, elapsed) = load_on(&b.url(), CONNECTIONS, n, verify).await;
        row(&format!("comity Verify, answers kept, {IN_FLIGHT} in flight, {CONNECTIONS} connections"), &mut latencies, elapsed);
    });
}
