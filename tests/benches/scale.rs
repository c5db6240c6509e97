//! Process-level scale: the release `comity-node` binary as a child process, loaded over
//! loopback gRPC with N new-licence decisions (64 publishes in flight on one channel), with
//! publish rate, the node's RSS, disk bytes per decision, GetLicence and Verify latency at each
//! checkpoint (10k, 100k, 1M that are <= N, and N), then restart time to SERVING after SIGTERM
//! and after kill -9, next to the in-process limits measured in the same run (raw batched sled
//! inserts, raw ed25519 verify_strict, bare loopback gRPC health checks at the node).
//!
//! Run: `cargo build --release -p comity-node && cargo bench -p comity-tests --bench scale`
//! `COMITY_BENCH_SCALE_N` sets N (default 100000; the documented figure is 1000000, which needs
//! several GB of free disk under the temp dir, `COMITY_BENCH_DIR` to put it elsewhere).
//! `COMITY_NODE_BIN` names the binary when it is not next to this bench (`target/release/`).
//! `COMITY_BENCH_ENGINE=fjall` creates the node's store with fjall instead of sled
//! (`store_engine`; BENCHMARKS.md, Storage engines).
//! `COMITY_BENCH_READS` sets the reads per phase (default 2000), e.g. to profile the read path.
//!
//! Envelopes are signed in chunks between timed publish windows, so signing (on the same two
//! cores in CI) neither limits nor slows the publish rate; the node is idle while a chunk is
//! signed, which the rate does not count.

// The allocator comity-node runs with, for the in-process limits (raw sled).
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use comity_client::Client;
use comity_node::config::{AuthorityConfig, Config};
use comity_proto::decision::fixtures::grant;
use comity_proto::keyfile::KeyFile;
use comity_proto::pb;
use comity_proto::statement::{pae, sign_decision, Signer, STATEMENT_PAYLOAD_TYPE};
use ed25519_dalek::Signature;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const BAFA: &str = "de.bafa";
const IN_FLIGHT: usize = 64;
/// Envelopes signed per untimed chunk (about 1 KB each).
const SIGN_CHUNK: usize = 20_000;
/// Reads per latency measurement, and how many are in flight.
/// Reads per phase; `COMITY_BENCH_READS` sets more, e.g. to profile the read path.
fn reads_per_phase() -> usize {
    std::env::var("COMITY_BENCH_READS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}
const READS_IN_FLIGHT: usize = 16;
const REGISTRY_SERVICE: &str = "comity.v1.Registry";

/// splitmix64: reproducible choices without a dependency on rand's API.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn licence_id(i: usize) -> String {
    format!("DE-2026-{i:07}")
}

const DESTINATIONS: [&str; 12] = ["JP", "KR", "US", "SG", "IN", "BR", "CH", "NO", "AU", "CA", "TW", "MX"];
const CODES: [(&str, &str); 8] = [
    ("3A001.a.1", "Radiation-hardened microcircuits, total dose > 5x10^3 Gy(Si)"),
    ("5A002.a", "Information security systems with cryptographic functionality"),
    ("6A003.b.4", "Thermal imaging cameras with focal plane arrays"),
    ("9A004.u", "Spacecraft bus subsystems and structural components"),
    ("1C010.b", "Carbon fibrous preforms with specific modulus above limits"),
    ("2B001.a", "Turning machines with positioning accuracy better than 6 um"),
    ("3B001.f.1", "Lithography equipment for semiconductor wafer processing"),
    ("6A005.d.1", "Continuous-wave semiconductor lasers, output power above limits"),
];
const END_USERS: [&str; 6] = [
    "Tohoku Institute of Space Optics",
    "Korea Advanced Semiconductor Foundry",
    "Pacific Aerospace Integration Ltd",
    "Instituto Nacional de Pesquisas Espaciais",
    "Nordic Satellite Components AS",
    "Bangalore Precision Instruments Pvt Ltd",
];

/// The i-th decision: a grant like the fixture's, with 1-3 destinations, 1-3 items and an end
/// user per destination varied by i (about 1 KB signed).
fn decision(i: usize) -> pb::Decision {
    let mut rng = Rng(i as u64);
    let mut d = grant(BAFA, &licence_id(i));
    let first = rng.below(DESTINATIONS.len());
    let destinations: Vec<&str> = (0..1 + rng.below(3)).map(|k| DESTINATIONS[(first + k) % DESTINATIONS.len()]).collect();
    d.end_users = destinations
        .iter()
        .map(|c| pb::Party {
            name: END_USERS[rng.below(END_USERS.len())].into(),
            country: (*c).into(),
            address: format!("{} Technology Park Road, Building {}, Science City {:05}", 1 + rng.below(999), 1 + rng.below(40), rng.below(100_000)),
            ..Default::default()
        })
        .collect();
    if let Some(applicant) = d.applicant.as_mut() {
        applicant.address = format!("Industriestrasse {}, {:05} Oberkochen, Baden-Wuerttemberg", 1 + rng.below(200), 10_000 + rng.below(89_999));
        applicant.identifiers = vec![
            pb::Identifier { scheme: "EORI".into(), value: format!("DE{:012}", rng.next() % 1_000_000_000_000) },
            pb::Identifier { scheme: "LEI".into(), value: format!("5299{:016}", rng.next() % 10_000_000_000_000_000) },
        ];
    }
    d.destinations = destinations.iter().map(|c| (*c).to_string()).collect();
    let template = d.items[0].clone();
    let first = rng.below(CODES.len());
    d.items = (0..1 + rng.below(3))
        .map(|k| {
            let (code, description) = CODES[(first + k) % CODES.len()];
            pb::Item {
                control_code: code.into(),
                description: description.into(),
                quantity: (1 + rng.below(500)).to_string(),
                value_minor: 10_000 + rng.below(10_000_000) as u64,
                ..template.clone()
            }
        })
        .collect();
    d.end_use = format!(
        "{} under contract {:08}; the items are installed by the end user's own staff at its premises and are not re-exported, transferred or used for military end uses",
        d.end_use,
        rng.next() % 100_000_000
    );
    d
}

/// Signs decisions `range` on two threads (untimed).
fn sign_range(signer: &Signer, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    let mid = range.start + range.len() / 2;
    std::thread::scope(|s| {
        let first = s.spawn(|| (range.start..mid).map(|i| sign_decision(decision(i), signer)).collect::<Vec<_>>());
        let second: Vec<_> = (mid..range.end).map(|i| sign_decision(decision(i), signer)).collect();
        let mut all = first.join().expect("signing thread");
        all.extend(second);
        all
    })
}

/// Where the release `comity-node` binary is: `COMITY_NODE_BIN`, else next to this bench.
fn node_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("COMITY_NODE_BIN") {
        return PathBuf::from(path);
    }
    let mut dir = std::env::current_exe().expect("bench executable path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(format!("comity-node{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        eprintln!(
            "error: {} is missing. `cargo bench` builds only this package's targets: build the node first with\n    cargo build --release -p comity-node\n(or set COMITY_NODE_BIN to a comity-node binary).",
            path.display()
        );
        std::process::exit(2);
    }
    path
}

/// A `comity-node run` child process, killed (SIGKILL) on drop.
struct NodeProcess {
    child: Option<Child>,
    url: String,
    /// host:port of its Prometheus endpoint.
    metrics: String,
}

impl NodeProcess {
    /// Starts the node with `config` (its stderr appended to `log`) and waits for its
    /// "listening on" line; returns it and the time that took.
    fn spawn(binary: &Path, config: &Path, log: &Path) -> (Self, Duration) {
        let start = Instant::now();
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("node log");
        let mut child = Command::new(binary)
            .arg("run")
            .arg("--config")
            .arg(config)
            .env_remove("COMITY_LISTEN")
            .env_remove("COMITY_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut process = Self { child: Some(child), url: String::new(), metrics: String::new() };
        // Lines before the address are a wrapper's (COMITY_NODE_BIN may run the node under a
        // profiler that announces itself).
        let addr = loop {
            let line = rx.recv_timeout(Duration::from_secs(300)).unwrap_or_else(|_| {
                panic!("comity-node did not report its address; log {}:\n{}", log.display(), std::fs::read_to_string(log).unwrap_or_default())
            });
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.to_string();
            }
        };
        let elapsed = start.elapsed();
        process.url = format!("http://{addr}");
        // Printed right after the address (the bench's config always has a metrics listener).
        process.metrics = loop {
            let line = rx.recv_timeout(Duration::from_secs(30)).expect("comity-node did not report its metrics address");
            if let Some(url) = line.strip_prefix("metrics on http://") {
                break url.trim_end_matches("/metrics").to_string();
            }
        };
        (process, elapsed)
    }

    /// The store engine's memory as the node reports it (`comity_store_memory_bytes`,
    /// `comity_store_segments`): memtable and bloom-filter bytes and the segment count.
    fn engine_memory(&self) -> (f64, f64, f64) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.metrics).expect("connect to the metrics endpoint");
        write!(stream, "GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n", self.metrics).expect("send the metrics request");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read the metrics");
        let value = |prefix: &str| text.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(f64::NAN);
        (value("comity_store_memory_bytes{part=\"memtables\"} "), value("comity_store_memory_bytes{part=\"bloom_filters\"} "), value("comity_store_segments "))
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// (VmRSS, VmHWM) of the node in KiB.
    fn memory_kib(&self) -> (u64, u64) {
        (self.status_kib("VmRSS:"), self.status_kib("VmHWM:"))
    }

    /// A field of the node's `/proc/PID/status`, in KiB.
    fn status_kib(&self, name: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read the node's /proc status");
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
    }

    /// SIGTERM and wait for the exit; returns how long the shutdown took.
    fn terminate(&mut self) -> Duration {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("send SIGTERM");
        assert!(status.success(), "kill -TERM failed");
        let exit = child.wait().expect("reap comity-node");
        assert!(exit.success(), "comity-node exited with {exit} after SIGTERM");
        start.elapsed()
    }

    /// SIGKILL: no chance to flush.
    fn kill_9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9 comity-node");
        child.wait().expect("reap comity-node");
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// (apparent bytes, allocated bytes) of the files under `dir`.
fn disk_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else { return total };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let (a, b) = disk_bytes(&entry.path());
            total = (total.0 + a, total.1 + b);
        } else {
            total = (total.0 + meta.len(), total.1 + meta.blocks() * 512);
        }
    }
    total
}

/// Every file under `dir` (path relative to `dir`, allocated bytes).
fn files(dir: &Path) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                let path = entry.path().strip_prefix(dir).map(|p| p.display().to_string()).unwrap_or_default();
                out.push((path, meta.blocks() * 512));
            }
        }
    }
    out
}

async fn channel(url: &str) -> Channel {
    Endpoint::from_shared(url.to_string()).expect("url").tcp_nodelay(true).connect().await.expect("connect")
}

/// (p50, p99) in ms.
fn percentiles(latencies: &mut [Duration]) -> (f64, f64) {
    if latencies.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

/// Publishes `envelopes`, IN_FLIGHT at a time on `client`'s channel; returns the latencies.
async fn publish_all(client: &Client, envelopes: Vec<Vec<u8>>) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(envelopes.len());
    let mut running = tokio::task::JoinSet::new();
    for envelope in envelopes {
        if running.len() >= IN_FLIGHT {
            latencies.push(running.join_next().await.expect("a publish is running").expect("publish task"));
        }
        let mut client = client.clone();
        running.spawn(async move {
            let t = Instant::now();
            client.publish(envelope).await.expect("publish succeeds");
            t.elapsed()
        });
    }
    while let Some(done) = running.join_next().await {
        latencies.push(done.expect("publish task"));
    }
    latencies
}

/// READS calls of `call(channel, licence index)` over random licences below `stored`,
/// READS_IN_FLIGHT at a time on one channel; returns (latencies, elapsed).
async fn reads<F, Fut>(url: &str, stored: usize, seed: u64, call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(Channel, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let channel = channel(url).await;
    let mut rng = Rng(seed);
    let picks: Arc<Vec<usize>> = Arc::new((0..reads_per_phase()).map(|_| rng.below(stored)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..READS_IN_FLIGHT {
        let (call, channel, picks, next) = (call.clone(), channel.clone(), picks.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= picks.len() {
                    return latencies;
                }
                let t = Instant::now();
                call(channel.clone(), picks[k]).await;
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(picks.len());
    for t in tasks {
        all.extend(t.await.expect("read task"));
    }
    (all, start.elapsed())
}

async fn get_licence(channel: Channel, i: usize) {
    let answer = pb::registry_client::RegistryClient::new(channel)
        .max_decoding_message_size(16 << 20)
        .get_licence(pb::GetLicenceRequest { authority: BAFA.into(), licence_id: licence_id(i) })
        .await
        .expect("GetLicence");
    assert!(answer.into_inner().licence.is_some(), "licence {} is found", licence_id(i));
}

async fn verify(channel: Channel, i: usize) {
    let d = decision(i);
    let request = pb::VerifyRequest {
        authority: BAFA.into(),
        licence_id: licence_id(i),
        relying_authority: "jp.meti".into(),
        destination: d.destinations[0].clone(),
        control_code: format!("EU-DU:{}", d.items[0].control_code),
        end_user: d.end_users[0].name.clone(),
        at: 0,
        screening_lists: Vec::new(),
        end_use: String::new(),
        ..Default::default()
    };
    pb::registry_client::RegistryClient::new(channel).max_decoding_message_size(16 << 20).verify(request).await.expect("Verify");
}

/// Time from `since` until the node at `url` reports comity.v1.Registry SERVING, and then until
/// it answers GetLicence for licence 0.
async fn until_serving(url: &str, since: Instant) -> (Duration, Duration) {
    let deadline = since + Duration::from_secs(600);
    let channel = loop {
        if let Ok(endpoint) = Endpoint::from_shared(url.to_string()) {
            if let Ok(c) = endpoint.tcp_nodelay(true).connect().await {
                break c;
            }
        }
        assert!(Instant::now() < deadline, "node at {url} never accepted a connection");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let mut health = HealthClient::new(channel.clone());
    loop {
        let answer = health.check(HealthCheckRequest { service: REGISTRY_SERVICE.into() }).await;
        if answer.is_ok_and(|a| a.into_inner().status == ServingStatus::Serving as i32) {
            break;
        }
        assert!(Instant::now() < deadline, "node at {url} never reported SERVING");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let serving = since.elapsed();
    let mut registry = pb::registry_client::RegistryClient::new(channel).max_decoding_message_size(16 << 20);
    loop {
        if registry.get_licence(pb::GetLicenceRequest { authority: BAFA.into(), licence_id: licence_id(0) }).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "node at {url} never answered GetLicence");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (serving, since.elapsed())
}

/// Bare loopback gRPC at the node: `n` health checks, IN_FLIGHT at a time on one channel.
async fn health_rate(url: &str, n: usize) -> (f64, f64, f64) {
    let channel = channel(url).await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let mut health = HealthClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n / IN_FLIGHT);
            for _ in 0..n / IN_FLIGHT {
                let t = Instant::now();
                health.check(HealthCheckRequest { service: String::new() }).await.expect("health check");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("health task"));
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(&mut all);
    (rate, p50, p99)
}

/// Raw sled: `n` inserts of `values` (cycled), in batches of `batch`, flushed after each batch.
fn raw_sled(dir: &Path, values: &[Vec<u8>], n: usize, batch: usize) -> f64 {
    let db = sled::open(dir.join("raw-sled")).expect("open sled");
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let mut b = sled::Batch::default();
        for k in i..(i + batch).min(n) {
            b.insert(&(k as u64).to_be_bytes(), values[k % values.len()].as_slice());
        }
        db.apply_batch(b).expect("apply batch");
        db.flush().expect("flush");
        i += batch;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(db);
    let _ = std::fs::remove_dir_all(dir.join("raw-sled"));
    rate
}

fn raw_verify(n: usize, body: usize) -> f64 {
    let signer = Signer::from_seed(&[1; 32]);
    let key = signer.verifying_key();
    let message = pae(STATEMENT_PAYLOAD_TYPE, &vec![7u8; body]);
    let sig: Signature = signer.sign_raw(&message);
    let start = Instant::now();
    for _ in 0..n {
        key.verify_strict(&message, &sig).expect("verifies");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let n: usize = std::env::var("COMITY_BENCH_SCALE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    assert!(n > 0, "COMITY_BENCH_SCALE_N must be positive");
    let mut checkpoints: Vec<usize> = [10_000, 100_000, 1_000_000].into_iter().filter(|c| *c <= n).collect();
    if checkpoints.last() != Some(&n) {
        checkpoints.push(n);
    }
    let binary = node_binary();
    let tmp = match std::env::var_os("COMITY_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let data_dir = tmp.path().join("data");
    let log = tmp.path().join("node.log");

    // The node's config: one hosted authority whose key this bench holds, plaintext loopback,
    // metrics (for the engine's memory) but no web listener, and no per-client rate limit (one
    // client sends everything).
    let key = KeyFile::generate(BAFA);
    let signer = key.signer().expect("valid key");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        http_listen: None,
        metrics_listen: Some("127.0.0.1:0".parse().expect("address")),
        data_dir: data_dir.clone(),
        origin: "bench.comity.example/log".into(),
        insecure_plaintext: true,
        ..Config::default()
    };
    config.authorities.push(AuthorityConfig { id: BAFA.into(), name: String::new(), keys: vec![key.public_key.clone()] });
    config.limits.requests_per_client_per_sec = 0;
    config.limits.concurrency_per_client = 4096;
    if let Ok(engine) = std::env::var("COMITY_BENCH_ENGINE") {
        config.store_engine = toml::Value::String(engine.clone()).try_into().unwrap_or_else(|_| panic!("COMITY_BENCH_ENGINE={engine}: sled or fjall"));
    }
    eprintln!("store engine: {:?}", config.store_engine);
    let config_path = tmp.path().join("comity.toml");
    std::fs::write(&config_path, toml::to_string(&config).expect("config as TOML")).expect("write config");

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (mut node, first_start) = NodeProcess::spawn(&binary, &config_path, &log);
    eprintln!(
        "comity-node {} (pid {}) at {}, first start {:.0} ms; data in {}",
        binary.display(),
        node.pid(),
        node.url,
        first_start.as_secs_f64() * 1e3,
        data_dir.display()
    );

    println!("### comity-node scale, N = {n}, {IN_FLIGHT} publishes in flight on one loopback gRPC channel");
    println!();
    println!(
        "| stored | publish/s (segment) | publish p50 / p99 | node RSS (peak) | data dir (allocated) | disk B / decision | envelope bytes (avg) | disk / envelopes | GetLicence p50 / p99 | Verify p50 / p99 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

    let mut stored = 0;
    let mut envelope_bytes: u64 = 0;
    let mut total_publish = Duration::ZERO;
    let mut samples: Vec<Vec<u8>> = Vec::new();
    let mut segment_rates = Vec::new();
    let mut engine_rows = Vec::new();
    runtime.block_on(async {
        let client = Client::connect(&node.url).await.expect("client connects");
        for (c, &checkpoint) in checkpoints.iter().enumerate() {
            let segment_start = stored;
            let mut segment_time = Duration::ZERO;
            let mut latencies = Vec::new();
            while stored < checkpoint {
                let end = (stored + SIGN_CHUNK).min(checkpoint);
                let envelopes = sign_range(&signer, stored..end);
                envelope_bytes += envelopes.iter().map(|e| e.len() as u64).sum::<u64>();
                if samples.len() < 1000 {
                    samples.extend(envelopes.iter().take(1000 - samples.len()).cloned());
                }
                let t = Instant::now();
                latencies.extend(publish_all(&client, envelopes).await);
                segment_time += t.elapsed();
                stored = end;
            }
            total_publish += segment_time;
            let rate = (stored - segment_start) as f64 / segment_time.as_secs_f64();
            segment_rates.push(rate);
            let (pp50, pp99) = percentiles(&mut latencies);
            let (rss, hwm) = node.memory_kib();
            let (memtables, blooms, segments) = node.engine_memory();
            engine_rows.push(format!(
                "| {stored} | {:.0} MB | {:.0} MB | {:.0} MB | {:.1} MB | {:.1} MB | {segments} |",
                rss as f64 / 1024.0,
                node.status_kib("RssAnon:") as f64 / 1024.0,
                node.status_kib("RssFile:") as f64 / 1024.0,
                memtables / 1e6,
                blooms / 1e6
            ));
            let (apparent, allocated) = disk_bytes(&data_dir);
            let (mut gl, _) = reads(&node.url, stored, 1 + c as u64, get_licence).await;
            let (mut vl, _) = reads(&node.url, stored, 100 + c as u64, verify).await;
            let (g50, g99) = percentiles(&mut gl);
            let (v50, v99) = percentiles(&mut vl);
            println!(
                "| {stored} | {rate:.0} | {pp50:.1} / {pp99:.1} ms | {:.0} MB ({:.0} MB) | {:.0} MB ({:.0} MB) | {:.0} ({:.0}) | {:.0} MB ({:.0}) | {:.2} ({:.2}) | {g50:.2} / {g99:.2} ms | {v50:.2} / {v99:.2} ms |",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0,
                mb(apparent),
                mb(allocated),
                apparent as f64 / stored as f64,
                allocated as f64 / stored as f64,
                mb(envelope_bytes),
                envelope_bytes as f64 / stored as f64,
                apparent as f64 / envelope_bytes as f64,
                allocated as f64 / envelope_bytes as f64,
            );
        }
    });
    println!();
    println!("Columns: publish/s counts only the timed publish windows of the segment since the previous row (envelopes are signed between windows); RSS is VmRSS (VmHWM) of the node process; the data dir is the sum of file sizes (allocated blocks); envelope bytes are the signed envelopes published; reads are {} random stored licences, {READS_IN_FLIGHT} in flight.", reads_per_phase());
    println!();
    println!(
        "The store engine's memory at the same moments, as the node reports it (`comity_store_memory_bytes`, `comity_store_segments`; fjall stores only):"
    );
    println!();
    println!(
        "| stored | node RSS | of it anonymous (heap) | of it files (the binary, libraries) | engine memtables | engine bloom filters | engine segments |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for row in &engine_rows {
        println!("{row}");
    }
    println!();

    // Limits measured in the same run: the node's own gRPC floor, then in-process ceilings.
    let (health, h50, h99) = runtime.block_on(health_rate(&node.url, 20_000));
    let overall = stored as f64 / total_publish.as_secs_f64();

    // Restart: SIGTERM, start again on the same data dir, until SERVING and a GetLicence answer.
    let shutdown = node.terminate();
    let since = Instant::now();
    let (mut again, _) = NodeProcess::spawn(&binary, &config_path, &log);
    let (term_serving, term_answered) = runtime.block_on(until_serving(&again.url, since));
    let (rss_after, _) = again.memory_kib();
    again.kill_9();
    let since = Instant::now();
    let (mut third, _) = NodeProcess::spawn(&binary, &config_path, &log);
    let (kill_serving, kill_answered) = runtime.block_on(until_serving(&third.url, since));
    // SIGTERM once more: the first restart after the load may pay for work later ones do not.
    third.terminate();
    let since = Instant::now();
    let (fourth, _) = NodeProcess::spawn(&binary, &config_path, &log);
    let (again_serving, again_answered) = runtime.block_on(until_serving(&fourth.url, since));
    drop(fourth);
    let mut largest = files(&data_dir);
    largest.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    let largest: Vec<String> = largest.iter().take(6).map(|(path, size)| format!("{path} {:.0} MB", mb(*size))).collect();

    let avg = (envelope_bytes / stored as u64) as usize;
    let sled_n = n.clamp(10_000, 200_000);
    let sled_rate = raw_sled(tmp.path(), &samples, sled_n, 1000);
    let verify_rate = raw_verify(50_000, avg.saturating_sub(120).max(1));

    println!("| restart and limits (same run) | figure |");
    println!("|---|---:|");
    println!("| clean shutdown after SIGTERM at {stored} decisions | {:.0} ms |", shutdown.as_secs_f64() * 1e3);
    println!(
        "| start after SIGTERM: comity.v1.Registry SERVING / first GetLicence answered | {:.0} / {:.0} ms |",
        term_serving.as_secs_f64() * 1e3,
        term_answered.as_secs_f64() * 1e3
    );
    println!("| node RSS just after that restart | {:.0} MB |", rss_after as f64 / 1024.0);
    println!(
        "| then start after kill -9: SERVING / first GetLicence answered | {:.0} / {:.0} ms |",
        kill_serving.as_secs_f64() * 1e3,
        kill_answered.as_secs_f64() * 1e3
    );
    println!(
        "| then start after SIGTERM again: SERVING / first GetLicence answered | {:.0} / {:.0} ms |",
        again_serving.as_secs_f64() * 1e3,
        again_answered.as_secs_f64() * 1e3
    );
    println!("| largest files in the data dir at the end (allocated) | {} |", largest.join(", "));
    println!("| comity publish, loopback gRPC, {IN_FLIGHT} in flight, all {stored} | {overall:.0} /s |");
    println!("| raw sled: {sled_n} inserts of the same envelopes ({avg} B avg), batches of 1000, flush per batch | {sled_rate:.0} /s |");
    println!("| publish / raw sled | {:.0}% (last segment {:.0}%) |", 100.0 * overall / sled_rate, 100.0 * segment_rates.last().unwrap_or(&0.0) / sled_rate);
    println!("| raw ed25519 verify_strict ({avg}-byte envelope body), one core | {verify_rate:.0} /s |");
    println!("| bare loopback gRPC at the node (health check), {IN_FLIGHT} in flight, one channel | {health:.0} /s (p50 {h50:.2} ms, p99 {h99:.2} ms) |");
    // Client, server and signature checks share the same cores: a bare round trip takes all of
    // them for 1/health s, a signature check one core for 1/verify_rate s.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let ceiling = cores / (cores / health + 1.0 / verify_rate);
    println!(
        "| ceiling with no storage at all: one round trip and one signature check per publish on {cores:.0} cores | {ceiling:.0} /s (publish at {:.0}% of it) |",
        100.0 * overall / ceiling
    );
}
