//! Idle sockets (#19): the real `comity-node` closes connections that send no HTTP/2 preface
//! (or half of one) within `limits.handshake_timeout_secs`, connections with no request open
//! for `limits.idle_connection_secs` (an open Watch stream is not idle), and connections beyond
//! `limits.connections_per_address`; it counts every refusal in
//! `comity_connections_refused_total{reason}`, logs them, serves an honest client meanwhile,
//! and logs the open file limit it asked for at start.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use comity_client::Client;
use comity_proto::decision::fixtures::grant;
use comity_proto::keyfile::KeyFile;
use comity_proto::pb;
use comity_proto::statement::sign_decision;
use comity_tests::{bin_path, http_get, NodeProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HANDSHAKE_SECS: u64 = 2;
const IDLE_SECS: u64 = 3;
const PER_ADDRESS: usize = 40;

/// `comity_connections_refused_total{reason="REASON"}` on the node's metrics endpoint.
fn refused(metrics: SocketAddr, reason: &str) -> u64 {
    let (_, body) = http_get(metrics, "/metrics");
    let text = String::from_utf8(body).unwrap();
    let series = format!("comity_connections_refused_total{{reason=\"{reason}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&series)).unwrap_or_else(|| panic!("no {series} in the metrics")).trim().parse().unwrap()
}

/// A connection from `source` to `node`.
async fn connect_from(source: &str, node: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(node).await.unwrap()
}

/// Reads (and discards what the node sends, its SETTINGS say) until the node closes the
/// connection; how long that took. Panics after `limit`.
async fn closed_after(mut stream: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => panic!("connection still open after {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

fn configure(data: &Path) {
    Command::new(bin_path("comity-node")).args(["init", "--data-dir"]).arg(data).args(["--authority", "de.bafa=BAFA"]).assert().success();
    let path = data.join("comity.toml");
    let mut config: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let limits = config.entry("limits").or_insert_with(|| toml::Table::new().into()).as_table_mut().unwrap();
    limits.insert("handshake_timeout_secs".into(), (HANDSHAKE_SECS as i64).into());
    limits.insert("idle_connection_secs".into(), (IDLE_SECS as i64).into());
    limits.insert("connections_per_address".into(), (PER_ADDRESS as i64).into());
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
}

#[test]
fn silent_half_open_idle_and_excess_connections_are_closed_and_an_honest_client_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    configure(&data);
    let log = tmp.path().join("node.log");
    let node = NodeProcess::spawn(&["--data-dir", data.to_str().unwrap()], &log);
    let url = node.url().to_string();
    let addr: SocketAddr = url.strip_prefix("http://").unwrap().parse().unwrap();
    let metrics = node.metrics_addr().expect("metrics endpoint");
    let key = KeyFile::read(&data.join("keys/de.bafa.key")).unwrap().signer().unwrap();

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("open file limit"), "the open file limit is logged at start:\n{logged}");

    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
        let mut honest = Client::connect(&url).await.unwrap();
        honest.publish(sign_decision(grant("de.bafa", "DE-2026-IDLE-001"), &key)).await.unwrap();
        // A Watch stream, on its own connection, open for longer than the idle timeout.
        let mut watcher = Client::connect(&url).await.unwrap();
        let mut events = watcher.watch(pb::WatchRequest { from_start: false, ..Default::default() }).await.unwrap();

        // From 127.0.0.2: silent connections and half prefaces, the address's whole share.
        let started = Instant::now();
        let mut hostile = Vec::new();
        for i in 0..PER_ADDRESS {
            let mut stream = connect_from("127.0.0.2", addr).await;
            if i % 2 == 1 {
                stream.write_all(&PREFACE[..12]).await.unwrap();
            }
            hostile.push(stream);
        }
        // Beyond the share: closed at once.
        let excess = connect_from("127.0.0.2", addr).await;
        let took = closed_after(excess, Duration::from_secs(1)).await;
        eprintln!("connection {} from one address closed after {took:?}", PER_ADDRESS + 1);
        assert!(refused(metrics, "per_address") >= 1);

        // A full preface, SETTINGS, and then no request: idle.
        let mut quiet = TcpStream::connect(addr).await.unwrap();
        quiet.write_all(PREFACE).await.unwrap();
        quiet.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
        let quiet = tokio::spawn(closed_after(quiet, Duration::from_secs(IDLE_SECS + 3)));

        // The honest client is served meanwhile.
        let mut slowest = Duration::ZERO;
        for _ in 0..20 {
            let asked = Instant::now();
            honest.licence("de.bafa", "DE-2026-IDLE-001").await.unwrap();
            slowest = slowest.max(asked.elapsed());
        }

        for stream in hostile {
            closed_after(stream, Duration::from_secs(HANDSHAKE_SECS + 2).saturating_sub(started.elapsed())).await;
        }
        let all_closed = started.elapsed();
        eprintln!(
            "{PER_ADDRESS} silent or half-preface connections all closed {all_closed:?} after they opened; honest requests meanwhile took at most {slowest:?}"
        );
        assert!(all_closed >= Duration::from_millis(HANDSHAKE_SECS * 1000 - 200), "closed before the deadline: {all_closed:?}");
        assert!(refused(metrics, "preface_timeout") >= PER_ADDRESS as u64);

        let quiet_for = quiet.await.unwrap();
        eprintln!("a connection with no request closed after {quiet_for:?}");
        assert!(quiet_for >= Duration::from_secs(IDLE_SECS - 1), "closed as idle too early: {quiet_for:?}");
        assert!(refused(metrics, "idle") >= 1);

        // The Watch stream outlived the idle timeout and still delivers. (The honest client's
        // connection has been idle as long: a new one publishes.)
        Client::connect(&url).await.unwrap().publish(sign_decision(grant("de.bafa", "DE-2026-IDLE-002"), &key)).await.unwrap();
        let event = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("an event").expect("the stream is open");
        assert!(event.is_some(), "the watch stream ended");

        // The address may connect again now that its connections are gone, and is served.
        let channel = tonic::transport::Endpoint::from_shared(url.clone()).unwrap().local_address(Some("127.0.0.2".parse().unwrap())).connect().await.unwrap();
        let request = pb::GetLicenceRequest { authority: "de.bafa".into(), licence_id: "DE-2026-IDLE-001".into() };
        pb::registry_client::RegistryClient::new(channel).get_licence(request).await.unwrap();
    });

    // The refusals are logged (at most a line a second).
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("preface_timeout") && logged.contains("per_address"), "refusals logged:\n{logged}");
}
