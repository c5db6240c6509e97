//! Test harness for Comity: in-process nodes on port 0 with temporary data directories, and
//! helpers to find and drive the real binaries.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use comity_client::Client;
use comity_node::config::{AuthorityConfig, Config};
use comity_node::RunningNode;
use comity_proto::keyfile::KeyFile;
use comity_proto::pb;
use comity_proto::statement::{sign_decision, Signer};
use tempfile::TempDir;
use tokio::net::TcpListener;

pub mod fault_proxy;

/// A node running in this process, with its own data directory and authority keys.
pub struct TestNode {
    node: Option<RunningNode>,
    config: Config,
    /// Keeps the data directory alive for the node's lifetime (and across restarts).
    pub dir: TempDir,
    keys: HashMap<String, KeyFile>,
    /// The node's wall clock: a test clock starting at the system time, kept across restarts.
    /// Advance it to make time pass for the node instead of sleeping.
    clock: comity_node::Clock,
}

impl TestNode {
    /// Starts a node hosting `authorities`, each with a fresh key.
    pub async fn start(authorities: &[&str]) -> Self {
        Self::start_with(authorities, |_| {}).await
    }

    /// Like [`TestNode::start`], with `adjust` applied to the config first.
    pub async fn start_with(authorities: &[&str], adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut keys = HashMap::new();
        // Tests run on loopback in plaintext unless they configure TLS (t95_tls).
        let mut config = Config { data_dir: dir.path().join("data"), insecure_plaintext: true, ..Config::default() };
        // Every test client comes from 127.0.0.1, and benchmarks run far above a single
        // client's rate: limits are tested where a test sets them (t96_limits).
        config.limits.requests_per_client_per_sec = 0;
        config.limits.concurrency_per_client = 4096;
        for a in authorities {
            let key = KeyFile::generate(a);
            config.authorities.push(AuthorityConfig { id: (*a).into(), name: String::new(), keys: vec![key.public_key.clone()] });
            keys.insert((*a).to_string(), key);
        }
        config.origin = "test.comity.example/log".into();
        config.http_listen = Some("127.0.0.1:0".parse().expect("address"));
        config.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
        adjust(&mut config);
        let mut node = Self { node: None, config, dir, keys, clock: comity_node::Clock::test() };
        node.boot().await;
        node
    }

    /// Starts a node hosting `authorities` with log `origin` that mirrors `peer` (as peer `id`,
    /// polled every 50 ms) and trusts every authority `peer` hosts; `adjust` runs last.
    pub async fn start_mirror_of(peer: &TestNode, id: &str, authorities: &[&str], origin: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        let entry = peer.as_peer(id);
        let mut trusted: Vec<AuthorityConfig> = peer.keys.keys().map(|a| peer.authority(a)).collect();
        trusted.sort_by(|a, b| a.id.cmp(&b.id));
        let origin = origin.to_string();
        Self::start_with(authorities, move |c| {
            c.origin = origin;
            c.peers = vec![entry];
            c.trusted = trusted;
            c.mirror_interval_ms = 50;
            adjust(c);
        })
        .await
    }

    async fn boot(&mut self) {
        log_to_file();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        self.config.listen = listener.local_addr().expect("local addr");
        self.node = Some(RunningNode::start_with_clock(self.config.clone(), listener, self.clock.clone()).await.expect("node starts"));
    }

    /// Shuts the node down and starts it again on the same data directory (new port).
    pub async fn restart(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await.expect("clean shutdown");
        }
        self.boot().await;
    }

    /// Stops the node (clean shutdown); it can be started again with [`TestNode::start_again`].
    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await.expect("clean shutdown");
        }
    }

    /// Starts a stopped node on its data directory, on the same port as before so that peers
    /// configured with its URL reach it; returns the start error, if any.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.config.listen).await?;
        self.config.listen = listener.local_addr()?;
        self.node = Some(RunningNode::start_with_clock(self.config.clone(), listener, self.clock.clone()).await?);
        Ok(())
    }

    /// Changes the config of a stopped node, for its next start.
    pub fn reconfigure(&mut self, adjust: impl FnOnce(&mut Config)) {
        assert!(self.node.is_none(), "stop the node before changing its config");
        adjust(&mut self.config);
    }

    /// The node's clock (a test clock): `node.clock().advance(secs)` makes time pass for the
    /// node at once (log times, checkpoint ages and the heartbeat's staleness, validity windows,
    /// Verify's receipts refresh); tokio timers still run in real time.
    pub fn clock(&self) -> &comity_node::Clock {
        &self.clock
    }

    /// The node's config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The running node.
    pub fn node(&self) -> &RunningNode {
        self.node.as_ref().expect("node is running")
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.node().url()
    }

    /// A connected client.
    pub async fn client(&self) -> Client {
        Client::connect(&self.url()).await.expect("client connects")
    }

    /// The signer of a hosted authority.
    pub fn signer(&self, authority: &str) -> Signer {
        self.keys[authority].signer().expect("valid key")
    }

    /// Writes a hosted authority's key file to `path`, for `comity ... --key`.
    pub fn write_key(&self, authority: &str, path: &std::path::Path) {
        self.keys[authority].write(path).expect("write key file");
    }

    /// A hosted authority as another node would trust it: id and public key.
    pub fn authority(&self, authority: &str) -> AuthorityConfig {
        AuthorityConfig { id: authority.into(), name: String::new(), keys: vec![self.keys[authority].public_key.clone()] }
    }

    /// This node as a peer entry for another node's config.
    pub fn as_peer(&self, id: &str) -> comity_node::config::PeerConfig {
        comity_node::config::PeerConfig {
            id: id.into(),
            url: self.url(),
            log_key: self.node().log_verifier().to_string(),
            witness_key: Some(self.node().witness_verifier().to_string()),
            tls_name: None,
            relay: false,
        }
    }

    /// A relying party's trust file in `dir`: `authority`'s signing key and this node's log key,
    /// with `witnesses` of which `witness_quorum` must cosign.
    pub fn relying_party_trust(&self, dir: &std::path::Path, authority: &str, witnesses: Vec<String>, witness_quorum: usize) -> PathBuf {
        use comity_proto::trust::{TrustFile, TrustedAuthority};
        let trust = TrustFile {
            authorities: vec![TrustedAuthority {
                id: authority.into(),
                keys: vec![hex::encode(self.signer(authority).verifying_key().to_bytes())],
                logs: vec![self.node().log_verifier().to_string()],
                ..Default::default()
            }],
            witnesses,
            witness_quorum,
            screening_lists: vec![],
        };
        let path = dir.join(format!("trust-{witness_quorum}.toml"));
        std::fs::write(&path, trust.to_toml()).unwrap();
        path
    }

    /// Signs `decision` with its authority's key.
    pub fn sign(&self, decision: pb::Decision) -> Vec<u8> {
        let signer = self.signer(&decision.authority);
        sign_decision(decision, &signer)
    }
}

/// Nodes that each mirror and witness all the others: one per `(peer id, authority, log
/// origin)` of `sites`. Nodes start one after the other, then each is restarted with the others
/// as peers (their URLs known by then).
pub async fn mutual_federation(sites: &[(&str, &str, &str)]) -> Vec<TestNode> {
    let mut nodes = Vec::new();
    for (_, authority, origin) in sites {
        let origin = origin.to_string();
        nodes.push(TestNode::start_with(&[authority], move |c| c.origin = origin).await);
    }
    for i in 0..nodes.len() {
        let peers: Vec<_> = (0..nodes.len()).filter(|j| *j != i).map(|j| nodes[j].as_peer(sites[j].0)).collect();
        let trusted: Vec<_> = (0..nodes.len()).filter(|j| *j != i).map(|j| nodes[j].authority(sites[j].1)).collect();
        let node = &mut nodes[i];
        node.stop().await;
        node.reconfigure(|c| {
            c.peers = peers;
            c.trusted = trusted;
            c.mirror_interval_ms = 50;
        });
        node.start_again().await.expect("restart with peers");
    }
    nodes
}

/// A trust file in a fresh temporary directory pinning `authority` with `roots` as its root
/// keys, all of which must sign its key sets. Keep the directory alive while it is used.
pub fn trust_file(authority: &str, roots: &[Signer]) -> (tempfile::TempDir, PathBuf) {
    use comity_proto::trust::{TrustFile, TrustedAuthority};
    let dir = tempfile::tempdir().unwrap();
    let root_keys = roots.iter().map(|r| hex::encode(r.verifying_key().to_bytes())).collect();
    let trust = TrustFile {
        authorities: vec![TrustedAuthority { id: authority.into(), threshold: roots.len(), root_keys, ..Default::default() }],
        ..Default::default()
    };
    let path = dir.path().join("trust.toml");
    std::fs::write(&path, trust.to_toml()).unwrap();
    (dir, path)
}

/// Path of a binary built by this workspace. `cargo test --workspace` builds a package's
/// binaries only for packages with integration tests: `node/tests/` and `client/tests/` exist
/// partly for that reason.
pub fn bin_path(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("test executable path");
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} not built; run the tests with `cargo test --workspace`", path.display());
    path
}

/// Publishes `envelopes` through `client`, `in_flight` at a time; every publish must succeed.
pub async fn publish_concurrently(client: Client, envelopes: Vec<Vec<u8>>, in_flight: usize) {
    let mut running = tokio::task::JoinSet::new();
    for envelope in envelopes {
        if running.len() >= in_flight {
            running.join_next().await.expect("a publish is running").expect("publish task");
        }
        let mut client = client.clone();
        running.spawn(async move {
            client.publish(envelope).await.expect("publish succeeds");
        });
    }
    while let Some(done) = running.join_next().await {
        done.expect("publish task");
    }
}

/// With `COMITY_TEST_LOG=FILE`, the in-process nodes' logs go to FILE (filtered by `RUST_LOG`,
/// default `info`), with thread names, for a flaky run's post-mortem. Off by default.
fn log_to_file() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Some(path) = std::env::var_os("COMITY_TEST_LOG") else { return };
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("COMITY_TEST_LOG {}: {e}", path.to_string_lossy()));
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::sync::Mutex::new(file)).with_ansi(false).with_thread_names(true).try_init();
    });
}

/// Polls the async `check` until it returns `Some`, or panics after `timeout` saying what was
/// awaited. Never blocks the runtime, so in-process nodes keep running meanwhile.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` saying what was awaited.
pub fn wait_until<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `comity-node run` process, killed (SIGKILL) on drop.
pub struct NodeProcess {
    child: std::process::Child,
    url: String,
    metrics: Option<std::net::SocketAddr>,
}

impl NodeProcess {
    /// Starts `comity-node run --listen 127.0.0.1:0 ARGS...` and waits for its "listening on"
    /// line. Its log goes to `log_file`.
    pub fn spawn(args: &[&str], log_file: &std::path::Path) -> Self {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let log = std::fs::File::create(log_file).expect("create node log");
        let mut child = Command::new(bin_path("comity-node"))
            .arg("run")
            .args(["--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn comity-node");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("comity-node did not report its address; log: {}", std::fs::read_to_string(log_file).unwrap_or_default())
        });
        let addr = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line `{line}`"));
        // "tiles on ..." and "metrics on http://ADDR/metrics" follow at once, when enabled.
        let metrics = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(2)).ok())
            .take(2)
            .find_map(|l| l.strip_prefix("metrics on http://").and_then(|a| a.strip_suffix("/metrics")).and_then(|a| a.parse().ok()));
        Self { child, url: format!("http://{addr}"), metrics }
    }

    /// The address of the node's metrics endpoint, when it serves one.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// (resident set, peak resident set) of the node process in KiB, from /proc.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("read the node's /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGKILL, no chance to flush or clean up.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill comity-node");
        self.child.wait().expect("reap comity-node");
    }

    /// SIGTERM, then waits for a clean exit; returns the exit status.
    #[cfg(unix)]
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("send SIGTERM");
        self.child.wait().expect("reap comity-node")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking `GET path` over HTTP/1.1 to `addr`: (status line, body). For the node's HTTP
/// views (tiles, metrics) in tests.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    (head.lines().next().unwrap_or_default().to_string(), response[split + 4..].to_vec())
}

/// A blocking `POST path` with `body` of `content_type` over HTTP/1.1 to `addr`: (status line,
/// body). For the node's web pages and JSON API.
pub fn http_post(addr: std::net::SocketAddr, path: &str, content_type: &str, body: &[u8]) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(stream, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
        .expect("send request");
    stream.write_all(body).expect("send body");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    (head.lines().next().unwrap_or_default().to_string(), response[split + 4..].to_vec())
}

/// Debian's Chromium and ChromeDriver, for the browser tests. Tests install nothing:
/// `scripts/install-test-tools` does (CI runs it before the suite).
pub fn chromium_and_driver() -> (PathBuf, PathBuf) {
    let (browser, driver) = (PathBuf::from("/usr/bin/chromium"), PathBuf::from("/usr/bin/chromedriver"));
    assert!(
        browser.exists() && driver.exists(),
        "the browser tests need Debian's chromium and chromium-driver: run scripts/install-test-tools (or apt-get install chromium chromium-driver)"
    );
    (browser, driver)
}

/// One gRPC listener on a free loopback port for each demo node.
pub async fn demo_listeners() -> Vec<TcpListener> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(TcpListener::bind("127.0.0.1:0").await.expect("bind port 0"));
    }
    out
}

/// The demo guide's suggested verification that ends in `(VERDICT)`, as a Verify request.
pub fn demo_suggestion(demo: &comity_node::ops::demo::Demo, verdict: &str) -> pb::VerifyRequest {
    let t = demo.verify_tries.iter().find(|t| t.ends_with(&format!("({verdict})"))).unwrap_or_else(|| panic!("no {verdict} suggestion"));
    let words: Vec<&str> = t.split_whitespace().collect();
    let (a, l) = words[4].split_once('/').expect("AUTHORITY/LICENCE");
    let flag = |name: &str| words.iter().position(|w| *w == name).map(|i| words[i + 1].to_string()).unwrap_or_default();
    pb::VerifyRequest {
        authority: a.into(),
        licence_id: l.into(),
        relying_authority: flag("--for"),
        destination: flag("--destination"),
        control_code: flag("--item"),
        ..Default::default()
    }
}

/// Where tests leave files for people to look at (screenshots): `target/test-artefacts/`.
pub fn artefacts_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artefacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artefacts");
    dir
}

/// The workspace's `examples/` directory.
pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// `comity-node demo` in `dir`, killed on drop.
pub struct DemoProcess(std::process::Child);

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A node of the demo: its gRPC URL, and its web and metrics addresses (`HOST:PORT`).
pub struct DemoNode {
    pub url: String,
    pub web: String,
    pub metrics: String,
}

/// Starts the demo in `cwd` on free ports and returns it with its nodes in the order bafa,
/// ecju, meti, read from the guide it prints.
pub fn start_demo(cwd: &std::path::Path) -> (DemoProcess, Vec<DemoNode>) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let log = std::fs::File::create(cwd.join("demo.log")).unwrap();
    let mut child = Command::new(bin_path("comity-node"))
        .args(["demo", "--dir", "comity-demo", "--listen", "127.0.0.1:0"])
        .current_dir(cwd)
        .env_remove("COMITY_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn comity-node demo");
    let stdout = child.stdout.take().unwrap();
    let demo = DemoProcess(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut guide = Vec::new();
    // A bound against a hung demo, not a performance check.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !guide.last().is_some_and(|l: &String| l.starts_with("Press Ctrl-C")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => guide.push(line),
            Err(_) => panic!("the demo printed no guide; its log: {}", std::fs::read_to_string(cwd.join("demo.log")).unwrap_or_default()),
        }
    }
    let mut nodes = Vec::new();
    for name in ["bafa", "ecju", "meti"] {
        let line = guide.iter().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("no {name} line in the guide: {guide:?}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((words[2], words[4]), ("web", "metrics"), "{line}");
        let address = |url: &str| url.trim_start_matches("http://").split('/').next().unwrap().to_string();
        nodes.push(DemoNode { url: words[1].to_string(), web: address(words[3]), metrics: address(words[5]) });
    }
    (demo, nodes)
}
