//! A full disk: writes fail cleanly (UNAVAILABLE, nothing acknowledged), reads keep being served,
//! and once space is freed nothing acknowledged is missing. With the disk reserve
//! (`limits.min_free_disk_bytes`) writes are refused before the engine starts one, so reads and
//! `comity log audit` keep working and writes resume as soon as space is freed; without it, a
//! write that runs out of space mid-way leaves writes refused until restart. Runs the node's
//! data dir on a small tmpfs, which needs root (as on the project's machines; elsewhere the
//! test says it skipped). Runs on the default engine (fjall); the comments on sled say why the
//! backstop allows the odd refused read on a sled store.

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
async fn without_a_reserve_a_full_disk_fails_writes_cleanly_keeps_reads_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    if !mount_tmpfs(&disk, 24) {
        // Only where mounting is not permitted (not root, or no CAP_SYS_ADMIN): say so loudly.
        eprintln!("SKIPPED without_a_reserve_a_full_disk_fails_writes_cleanly_keeps_reads_and_loses_nothing: cannot mount a tmpfs here");
        return;
    }
    let _unmount = Unmount(&disk);
    let data = disk.join("data");
    // No reserve: sled itself runs out of space (the backstop the reserve normally spares).
    let mut node = TestNode::start_with(&[BAFA], |c| {
        c.data_dir = data.clone();
        c.limits.min_free_disk_bytes = 0;
    })
    .await;
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
    // Reads are served, except (the backstop's known gap) one that reaches a sled node the
    // failed write left oversized: sled's reads finish node splits, which write. That one gets
    // the same retry-safe UNAVAILABLE, never INTERNAL.
    let mut served = 0;
    for id in acknowledged.iter().step_by(7) {
        match client.licence(BAFA, id).await {
            Ok(_) => served += 1,
            Err(e) => assert_eq!(e.code(), Some(tonic::Code::Unavailable), "{id} on a full disk: {e}"),
        }
    }
    assert!(served > 0, "no read served on a full disk");
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
    // Without the reserve, `comity log audit` may fail here: sled's reads finish node splits,
    // which write, and after a failed write sled refuses every write. The reserve (the next
    // test) keeps sled from getting here.
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

/// Runs `comity log audit` against `url`: (success, stdout and stderr).
fn audit(url: &str, trust: &Path, state: &Path) -> (bool, String) {
    let out = std::process::Command::new(comity_tests::bin_path("comity"))
        .env("COMITY_NODE", url)
        .env("COMITY_TRUST", trust)
        .args(["log", "audit", "--state"])
        .arg(state)
        .output()
        .expect("comity runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_disk_reserve_writes_are_refused_reads_and_audit_work_and_writes_resume_when_freed() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    if !mount_tmpfs(&disk, 24) {
        eprintln!("SKIPPED below_the_disk_reserve_writes_are_refused_reads_and_audit_work_and_writes_resume_when_freed: cannot mount a tmpfs here");
        return;
    }
    let _unmount = Unmount(&disk);
    let data = disk.join("data");
    let mut node = TestNode::start_with(&[BAFA], |c| {
        c.data_dir = data.clone();
        c.limits.min_free_disk_bytes = 4 * 1024 * 1024;
    })
    .await;
    let mut client = node.client().await;
    let mut acknowledged = Vec::new();
    for i in 0..200 {
        let id = format!("DE-2026-RESERVE-{i:05}");
        client.publish(node.sign(grant(BAFA, &id))).await.unwrap();
        acknowledged.push(id);
    }
    let trust = node.relying_party_trust(tmp.path(), BAFA, vec![], 0);
    let (ok, out) = audit(&node.url(), &trust, &tmp.path().join("audit.json"));
    assert!(ok, "audit of a healthy node: {out}");

    // Other files take most of the disk, then the node's own writes fill it to the reserve:
    // from then on every write is refused before sled starts it, retry-safe and naming the
    // reserve, and nothing is acknowledged.
    let ballast = disk.join("ballast");
    let _ = std::process::Command::new("dd").args(["if=/dev/zero", "bs=1M", "count=12"]).arg(format!("of={}", ballast.display())).status();
    let mut first_refusal = None;
    for i in 200..50_000 {
        let id = format!("DE-2026-RESERVE-{i:05}");
        match client.publish(node.sign(grant(BAFA, &id))).await {
            Ok(_) => acknowledged.push(id),
            Err(e) => {
                first_refusal = Some(e);
                break;
            }
        }
    }
    let first_refusal = first_refusal.expect("the reserve was never reached");
    assert!(first_refusal.to_string().contains("limits.min_free_disk_bytes"), "{first_refusal}");
    let mut wave = tokio::task::JoinSet::new();
    for i in 0..64 {
        let mut client = client.clone();
        let envelope = node.sign(grant(BAFA, &format!("DE-2026-REFUSED-{i:05}")));
        wave.spawn(async move { client.publish(envelope).await });
    }
    while let Some(done) = wave.join_next().await {
        let refusal = done.unwrap().expect_err("acknowledged below the reserve");
        assert_eq!(refusal.code(), Some(tonic::Code::Unavailable), "{refusal}");
        let text = refusal.to_string();
        assert!(text.contains("not acknowledged") && text.contains("publishing the same envelope again is safe"), "{text}");
        assert!(text.contains("limits.min_free_disk_bytes") && text.contains("writes resume once space is freed"), "{text}");
    }
    // Reads, proofs and a full audit (checkpoint, every entry, consistency) are all served.
    for id in acknowledged.iter().step_by(11) {
        client.licence(BAFA, id).await.unwrap_or_else(|e| panic!("{id} unreadable below the reserve: {e}"));
    }
    assert_eq!(client.checkpoint().await.unwrap().size, acknowledged.len() as u64);
    let (ok, out) = audit(&node.url(), &trust, &tmp.path().join("audit.json"));
    assert!(ok, "audit on a full disk: {out}");
    // Readiness says no writes; liveness stays SERVING (a restart would not free the disk).
    let channel = tonic::transport::Endpoint::from_shared(node.url()).unwrap().connect().await.unwrap();
    let health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = |service: &'static str| {
        let mut health = health.clone();
        async move { health.check(tonic_health::pb::HealthCheckRequest { service: service.into() }).await.ok().map(|r| r.into_inner().status) }
    };
    use tonic_health::pb::health_check_response::ServingStatus;
    comity_tests::eventually(std::time::Duration::from_secs(10), "the Registry to report NOT_SERVING", || async {
        (status("comity.v1.Registry").await? == ServingStatus::NotServing as i32).then_some(())
    })
    .await;
    assert_eq!(status("").await, Some(ServingStatus::Serving as i32));

    // Space freed: writes resume without a restart, and readiness returns.
    std::fs::remove_file(&ballast).unwrap();
    comity_tests::eventually(std::time::Duration::from_secs(10), "the Registry to report SERVING again", || async {
        (status("comity.v1.Registry").await? == ServingStatus::Serving as i32).then_some(())
    })
    .await;
    client.publish(node.sign(grant(BAFA, "DE-2026-RESERVE-FREED"))).await.expect("a write after space is freed");
    acknowledged.push("DE-2026-RESERVE-FREED".into());
    node.restart().await;
    let mut client = node.client().await;
    for id in &acknowledged {
        client.licence(BAFA, id).await.unwrap_or_else(|e| panic!("acknowledged {id} lost: {e}"));
    }
    assert_eq!(client.checkpoint().await.unwrap().size, acknowledged.len() as u64);
}
