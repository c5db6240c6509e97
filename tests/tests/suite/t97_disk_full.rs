//! A full disk: writes fail cleanly (UNAVAILABLE, nothing acknowledged), reads keep being served,
//! and once space is freed nothing acknowledged is missing. Runs the node's data dir on a small
//! tmpfs, which needs root (as on the project's machines; elsewhere the test says it skipped).

use std::path::Path;

use comity_proto::decision::fixtures::grant;
use comity_tests::TestNode;

const BAFA: &str = "de.bafa";

/// Mounts a tmpfs of `mib` MiB at `dir`; `false` when this process may not mount.
fn mount_tmpfs(dir: &Path, mib: u32) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"]).arg(dir).status().is_ok_and(|s| s.success())
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_cleanly_keeps_reads_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    if !mount_tmpfs(&disk, 24) {
        // Only where mounting is not permitted (not root, or no CAP_SYS_ADMIN): say so loudly.
        eprintln!("SKIPPED a_full_disk_fails_writes_cleanly_keeps_reads_and_loses_nothing: cannot mount a tmpfs here");
        return;
    }
    let _unmount = Unmount(&disk);
    let data = disk.join("data");
    let mut node = TestNode::start_with(&[BAFA], |c| c.data_dir = data.clone()).await;
    let mut client = node.client().await;
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let id = format!("DE-2026-DISK-{i:05}");
        client.publish(node.sign(grant(BAFA, &id))).await.unwrap();
        acknowledged.push(id);
    }
    // Fill the disk with ballast, then publish until the disk refuses.
    let ballast = disk.join("ballast");
    let _ = std::process::Command::new("dd").args(["if=/dev/zero", "bs=1M", "count=64"]).arg(format!("of={}", ballast.display())).status();
    let mut refused = Vec::new();
    for i in 20..5000 {
        let id = format!("DE-2026-DISK-{i:05}");
        let envelope = node.sign(grant(BAFA, &id));
        match client.publish(envelope.clone()).await {
            Ok(_) => acknowledged.push(id),
            Err(e) => {
                refused.push((id, envelope, e));
                break;
            }
        }
    }
    assert!(!refused.is_empty(), "the disk never filled up");
    // Reads are still served.
    for id in acknowledged.iter().step_by(7) {
        client.licence(BAFA, id).await.unwrap_or_else(|e| panic!("{id} unreadable on a full disk: {e}"));
    }
    // Then many at a time: every refusal, whichever stage it hits, is the one retry-safe answer.
    let mut wave = tokio::task::JoinSet::new();
    for i in 5000..5064 {
        let id = format!("DE-2026-DISK-{i:05}");
        let envelope = node.sign(grant(BAFA, &id));
        let mut client = client.clone();
        wave.spawn(async move { (id, envelope.clone(), client.publish(envelope).await) });
    }
    while let Some(done) = wave.join_next().await {
        match done.unwrap() {
            (id, _, Ok(_)) => panic!("{id} acknowledged on a full disk"),
            (id, envelope, Err(e)) => refused.push((id, envelope, e)),
        }
    }
    // The checkpoint served is the last one on disk, not one of a batch that failed to flush
    // (which sled's memory holds, and which a restart may not bring back).
    let served = client.checkpoint().await.unwrap().size;
    assert_eq!(served, acknowledged.len() as u64, "{} refused", refused.len());
    for (id, _, refusal) in &refused {
        assert_eq!(refusal.code(), Some(tonic::Code::Unavailable), "{id}: {refusal}");
        assert!(
            refusal.to_string().contains("not acknowledged") && refusal.to_string().contains("publishing the same envelope again is safe"),
            "{id}: {refusal}"
        );
    }
    // Retried as the answer invites, a refused envelope is refused the same way again: never
    // acknowledged from what only sled's memory holds.
    for (id, envelope, _) in refused.iter().take(20) {
        let again = client.publish(envelope.clone()).await.unwrap_err();
        assert_eq!(again.code(), Some(tonic::Code::Unavailable), "{id} retried: {again}");
        assert!(again.to_string().contains("publishing the same envelope again is safe"), "{id} retried: {again}");
    }
    // Known gap (#19): `comity log audit` while the disk is full fails in some runs with the
    // UNAVAILABLE answer: sled's reads finish node splits, which write, and after a failed
    // write sled refuses every write until restart. Not asserted until that is fixed.
    // Readiness says so: the Registry is NOT_SERVING until the node restarts.
    let channel = tonic::transport::Endpoint::from_shared(node.url()).unwrap().connect().await.unwrap();
    let health = tonic_health::pb::health_client::HealthClient::new(channel);
    comity_tests::eventually(std::time::Duration::from_secs(10), "the Registry and the server to report NOT_SERVING", || {
        let mut health = health.clone();
        async move {
            let status = health.check(tonic_health::pb::HealthCheckRequest { service: "comity.v1.Registry".into() }).await.ok()?.into_inner().status;
            // The whole server ("") says so too.
            let whole = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.ok()?.into_inner().status;
            let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
            (status == not_serving && whole == not_serving).then_some(())
        }
    })
    .await;
    // And so do their plain-HTTP twins the Kubernetes probes ask: the pod leaves the Service,
    // and the liveness probe restarts it, which recovers from what is on disk.
    let http = node.node().http_addr().unwrap();
    let (ready, live) =
        tokio::task::spawn_blocking(move || (comity_tests::http_get(http, "/healthz?service=comity.v1.Registry"), comity_tests::http_get(http, "/healthz")))
            .await
            .unwrap();
    assert!(ready.0.contains(" 503 ") && String::from_utf8_lossy(&ready.1).contains("NOT_SERVING"), "{ready:?}");
    assert!(live.0.contains(" 503 "), "{live:?}");
    // Space freed: sled's memory may still hold the failed batch, so writes stay refused, with
    // the reason, until a restart recovers from what is on disk.
    std::fs::remove_file(&ballast).unwrap();
    let err = client.publish(node.sign(grant(BAFA, "DE-2026-DISK-FREED"))).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::Unavailable), "{err}");
    assert!(err.to_string().contains("until the node restarts"), "{err}");
    node.restart().await;
    let mut client = node.client().await;
    for id in &acknowledged {
        client.licence(BAFA, id).await.unwrap_or_else(|e| panic!("acknowledged {id} lost: {e}"));
    }
    // The refused decisions can be published again (each may or may not have reached the disk).
    for (id, envelope, _) in &refused {
        client.publish(envelope.clone()).await.unwrap_or_else(|e| panic!("refused {id} published again: {e}"));
    }
    client.publish(node.sign(grant(BAFA, "DE-2026-DISK-AFTER"))).await.unwrap();
    let size = client.checkpoint().await.unwrap().size;
    assert_eq!(size, (acknowledged.len() + refused.len()) as u64 + 1, "the log holds every acknowledged decision, each refused one once, and the new one");
}
