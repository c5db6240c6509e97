//! Limits: one client flooding a node from many connections is refused beyond its share
//! (RESOURCE_EXHAUSTED) while another client is served without a single refusal.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use comity_proto::decision::fixtures::grant;
use comity_proto::pb::{self, registry_client::RegistryClient};
use comity_tests::{publish_concurrently, TestNode};

const BAFA: &str = "de.bafa";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_flooding_from_many_connections_does_not_crowd_out_another() {
    let node = TestNode::start_with(&[BAFA], |c| c.limits.concurrency_per_client = 8).await;
    let envelopes = (0..50).map(|i| node.sign(grant(BAFA, &format!("DE-2026-FLOOD-{i:03}")))).collect();
    publish_concurrently(node.client().await, envelopes, 8).await;

    // The flooder: 128 requests in flight over 8 connections, all from 127.0.0.2.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut flood = Vec::new();
    for _ in 0..8 {
        let channel = tonic::transport::Endpoint::from_shared(node.url()).unwrap().local_address(Some("127.0.0.2".parse().unwrap())).connect().await.unwrap();
        for w in 0..16 {
            let (stop, served, refused, channel) = (stop.clone(), served.clone(), refused.clone(), channel.clone());
            flood.push(tokio::spawn(async move {
                let mut registry = RegistryClient::new(channel);
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let request = pb::VerifyRequest {
                        authority: BAFA.into(),
                        licence_id: format!("DE-2026-FLOOD-{:03}", i % 50),
                        relying_authority: BAFA.into(),
                        ..Default::default()
                    };
                    match registry.verify(request).await {
                        Ok(_) => served.fetch_add(1, Ordering::Relaxed),
                        Err(s) if s.code() == tonic::Code::ResourceExhausted => refused.fetch_add(1, Ordering::Relaxed),
                        Err(s) => panic!("flooder got {s}"),
                    };
                    i += 16;
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Meanwhile an honest client (127.0.0.1) is served every time.
    let mut honest = node.client().await;
    let started = Instant::now();
    for i in 0..100 {
        honest.licence(BAFA, &format!("DE-2026-FLOOD-{:03}", i % 50)).await.unwrap_or_else(|e| panic!("honest request {i} refused during the flood: {e}"));
    }
    let honest_time = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.await.unwrap();
    }
    let (served, refused) = (served.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    eprintln!("flooder: {served} served, {refused} refused; honest: 100 served in {honest_time:?}");
    assert!(refused > 0, "the flooder was never refused ({served} served)");
    assert!(served > 0, "the flooder still gets its share");
}

/// Slow-loris: many connections that send half a preface and then nothing hold no request slot
/// and do not stop the node serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_do_not_stop_the_node_serving_others() {
    use tokio::io::AsyncWriteExt;
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    client.publish(node.sign(grant(BAFA, "DE-2026-LORIS-001"))).await.unwrap();
    let mut lorises = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(node.node().addr()).await.unwrap();
        stream.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        lorises.push(stream);
    }
    for _ in 0..50 {
        client.licence(BAFA, "DE-2026-LORIS-001").await.unwrap();
    }
    let mut fresh = node.client().await;
    fresh.publish(node.sign(grant(BAFA, "DE-2026-LORIS-002"))).await.unwrap();
    drop(lorises);
}

/// A client above its rate is refused at once; another client is not affected, and the first
/// is served again once its bucket refills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_above_its_rate_is_refused_and_others_are_not() {
    let node = TestNode::start_with(&[BAFA], |c| c.limits.requests_per_client_per_sec = 20).await;
    node.client().await.publish(node.sign(grant(BAFA, "DE-2026-RATE-001"))).await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(node.url()).unwrap().local_address(Some("127.0.0.2".parse().unwrap())).connect().await.unwrap();
    let mut greedy = RegistryClient::new(channel);
    let request = || pb::GetLicenceRequest { authority: BAFA.into(), licence_id: "DE-2026-RATE-001".into() };
    // 100 requests at once: about the one-second burst of 20 is served, the rest refused.
    let started = Instant::now();
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let mut greedy = greedy.clone();
        burst.spawn(async move { greedy.get_licence(request()).await });
    }
    let (mut served, mut refused) = (0u64, 0u64);
    while let Some(answer) = burst.join_next().await {
        match answer.unwrap() {
            Ok(_) => served += 1,
            Err(s) if s.code() == tonic::Code::ResourceExhausted && s.message().contains("per second") => refused += 1,
            Err(s) => panic!("{s}"),
        }
    }
    // The bucket refills at 20/s while the burst runs, so a slow machine serves a few more.
    let most = 20 + (started.elapsed().as_secs_f64() * 20.0).ceil() as u64 + 1;
    assert!(served >= 20 && served <= most, "{served} served (at most {most}), {refused} refused");
    assert_eq!(served + refused, 100);
    // Another address is served while the greedy one is throttled.
    let mut other = node.client().await;
    for _ in 0..10 {
        other.licence(BAFA, "DE-2026-RATE-001").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    greedy.get_licence(request()).await.expect("served again after its bucket refilled");
}

/// A per-peer ingest quota spreads a long catch-up: 600 entries at 300 per second take at least
/// a second and a half (the first part goes at once), and all of them arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_peer_ingest_quota_spreads_a_long_catch_up() {
    const TOTAL: u64 = 600;
    let a = TestNode::start_with(&[BAFA], |c| c.origin = "registry.bafa.example/log".into()).await;
    let envelopes = (0..TOTAL).map(|i| a.sign(grant(BAFA, &format!("DE-2026-QUOTA-{i:04}")))).collect();
    publish_concurrently(a.client().await, envelopes, 32).await;
    let started = Instant::now();
    let b = TestNode::start_mirror_of(&a, "bafa", &["jp.meti"], "registry.meti.example/log", |c| {
        c.limits.mirror_entries_per_part = 100;
        c.limits.peer_entries_per_sec = 300;
    })
    .await;
    comity_tests::eventually(Duration::from_secs(30), "B to catch up with A", || async {
        b.node().mirror_status("bafa").filter(|s| s.size == TOTAL).map(|_| ())
    })
    .await;
    // Parts start at 0, 1/3, 2/3, ... s: the sixth (entries 500..600) no earlier than 5/3 s.
    assert!(started.elapsed() >= Duration::from_millis(1600), "caught up in {:?}, faster than the quota allows", started.elapsed());
}

/// Memory stays bounded under a flood: a node process taking 256 requests in flight from one
/// client, half of them 256 KiB each, grows no further after the flood's first seconds, whatever
/// its length, and honest requests are served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_a_flood_of_large_requests() {
    use assert_cmd::Command;
    use comity_tests::{bin_path, NodeProcess};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    Command::new(bin_path("comity-node")).args(["init", "--data-dir"]).arg(&data).args(["--authority", BAFA]).assert().success();
    let node = NodeProcess::spawn(&["--data-dir", data.to_str().unwrap()], &tmp.path().join("node.log"));
    let url = node.url().to_string();
    let (idle, _) = node.memory_kib();

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut flood = Vec::new();
    for c in 0..8 {
        // The flooder comes from 127.0.0.2, the honest client from 127.0.0.1.
        let channel = tonic::transport::Endpoint::from_shared(url.clone()).unwrap().local_address(Some("127.0.0.2".parse().unwrap())).connect().await.unwrap();
        for w in 0..32 {
            let (stop, answered, channel) = (stop.clone(), answered.clone(), channel.clone());
            flood.push(tokio::spawn(async move {
                let mut registry = RegistryClient::new(channel);
                // Every other flooder sends a 256 KiB end user: read, decoded, refused.
                let end_user = if (c + w) % 2 == 0 { "x".repeat(256 * 1024) } else { String::new() };
                while !stop.load(Ordering::Relaxed) {
                    let request = pb::VerifyRequest {
                        authority: BAFA.into(),
                        licence_id: "DE-2026-000001".into(),
                        relying_authority: BAFA.into(),
                        end_user: end_user.clone(),
                        ..Default::default()
                    };
                    // Served, refused as too long, or refused as over the client's share: all
                    // answers. A node that is gone ends the flood.
                    match registry.verify(request).await {
                        Err(s) if s.code() == tonic::Code::Unavailable || s.code() == tonic::Code::Unknown => break,
                        _ => answered.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
    }
    let mut honest = comity_client::Client::connect(&url).await.unwrap();
    let mut after = Vec::new();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        honest.checkpoint().await.expect("an honest request is served during the flood");
        after.push(node.memory_kib().0);
    }
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.await.unwrap();
    }
    let (_, peak) = node.memory_kib();
    let answered = answered.load(Ordering::Relaxed);
    eprintln!("idle {idle} KiB; during the flood {after:?} KiB; peak {peak} KiB; {answered} flood requests answered");
    assert!(answered > 1000, "the flood ran ({answered} answered)");
    // The flood's later seconds add nothing beyond its first (allowance: allocator noise).
    assert!(after[3] <= after[0] + 32 * 1024, "memory grew with the flood's length: {after:?} KiB");
    // Bounded in size too: requests in flight × message size, not the flood's volume.
    assert!(peak < idle + 512 * 1024, "peak {peak} KiB from {idle} KiB idle");
}
