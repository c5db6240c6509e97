//! Hostile clients (#19): bytes that do not decode are INVALID_ARGUMENT (never INTERNAL, and
//! not counted as internal failures), a refusal never repeats a huge input back, a Watch
//! cursor far past the log is refused instead of waited for, Search refuses an empty decision
//! window as Stats does; and the real `comity-node demo` survives a few thousand random and
//! mutated requests to every RPC and to the JSON API.

use std::net::SocketAddr;
use std::time::Duration;

use comity_proto::pb;
use comity_tests::{http_get, http_post, start_demo, TestNode};
use prost::bytes::{Buf, BufMut};
use prost::Message;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Status};

const BAFA: &str = "de.bafa";
/// The longest error message a refusal may carry (a default gRPC client reads far more; the
/// point is that it is bounded).
const MAX_MESSAGE: usize = 1024;

/// A codec that sends and receives raw message bytes, so a test can send what no generated
/// client would.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

/// Sends `body` to RPC `path` (`/comity.v1.Registry/Verify`) and returns the first answer
/// message, or the status; a stream that sends nothing within a few seconds is Ok(None).
async fn call(channel: &Channel, path: &str, body: Vec<u8>) -> Result<Option<Vec<u8>>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone()).max_decoding_message_size(64 << 20);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let path: PathAndQuery = path.parse().unwrap();
    // Unary and server-streaming calls look alike on the wire: one request, answers, trailers.
    let mut stream = grpc.server_streaming(tonic::Request::new(body), path, Raw).await?.into_inner();
    match tokio::time::timeout(Duration::from_secs(3), stream.message()).await {
        Ok(answer) => answer,
        Err(_) => Ok(None),
    }
}

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_string()).unwrap().connect().await.unwrap()
}

/// Fails unless `result` is a refusal with `code` whose message is short and contains `says`.
fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, says: &str) -> Status {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{}", comity_proto::shown(status.message()));
    assert!(status.message().len() <= MAX_MESSAGE, "a {}-byte message: {}", status.message().len(), comity_proto::shown(status.message()));
    assert!(status.message().contains(says), "{}", status.message());
    status
}

/// The sum of the samples of `grpc_server_handled_total` with grpc_code="INTERNAL".
fn internal_failures(metrics: SocketAddr) -> f64 {
    let (_, body) = http_get(metrics, "/metrics");
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .filter(|l| l.starts_with("grpc_server_handled_total{") && l.contains("grpc_code=\"INTERNAL\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A message of `depth` nested groups of an unknown field.
fn nested_groups(depth: usize) -> Vec<u8> {
    // Field 15, wire type 3 (start group): prost recurses to skip each one.
    vec![(15 << 3) | 3; depth]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_requests_are_invalid_argument_not_internal() {
    let node = TestNode::start(&[BAFA]).await;
    let channel = channel(&node.url()).await;
    let invalid_utf8 = vec![0x0a, 0x03, b'd', 0xff, 0xfe]; // field 1 (authority), a string
    for (what, body) in [("garbage", vec![0xff; 64]), ("100k nested groups", nested_groups(100_000)), ("invalid UTF-8", invalid_utf8)] {
        for path in ["/comity.v1.Registry/Verify", "/comity.v1.Log/GetCheckpoint", "/comity.v1.Federation/Subscribe"] {
            let status = assert_refused(call(&channel, path, body.clone()).await, Code::InvalidArgument, "could not be decoded");
            assert!(status.message().len() < 400, "{what}: {}", status.message());
        }
    }
    // The node's own fault is what INTERNAL counts: none here.
    let metrics = node.node().metrics_addr().unwrap();
    assert_eq!(tokio::task::spawn_blocking(move || internal_failures(metrics)).await.unwrap(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_quote_huge_inputs_briefly() {
    let node = TestNode::start(&[BAFA]).await;
    let channel = channel(&node.url()).await;
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "/comity.v1.Registry/GetLicence",
            pb::GetLicenceRequest { authority: BAFA.into(), licence_id: long(3_000_000) }.encode_to_vec(),
            "licence_id: at most 256 bytes",
        ),
        (
            "/comity.v1.Registry/Search",
            pb::SearchRequest { destination: long(100_000), ..Default::default() }.encode_to_vec(),
            "destination: at most 128 bytes",
        ),
        ("/comity.v1.Registry/Search", pb::SearchRequest { authority: long(100_000), ..Default::default() }.encode_to_vec(), "authority: at most 256 bytes"),
        (
            "/comity.v1.Registry/Verify",
            pb::VerifyRequest {
                authority: BAFA.into(),
                licence_id: "DE-1".into(),
                relying_authority: BAFA.into(),
                control_code: format!("EU-DU:{}", long(100_000)),
                ..Default::default()
            }
            .encode_to_vec(),
            "control_code: at most 128 bytes",
        ),
        ("/comity.v1.Registry/Stats", pb::StatsRequest { authority: long(100_000), ..Default::default() }.encode_to_vec(), "authority: at most 256 bytes"),
        (
            "/comity.v1.Registry/Watch",
            pb::WatchRequest { filter: Some(pb::WatchFilter { licence_id: long(100_000), ..Default::default() }), ..Default::default() }.encode_to_vec(),
            "filter.licence_id: at most 256 bytes",
        ),
        ("/comity.v1.Log/GetCheckpoint", pb::GetCheckpointRequest { origin: long(3_900_000) }.encode_to_vec(), "origin: at most 256 bytes"),
        (
            "/comity.v1.Federation/GetRestrictedBodies",
            pb::GetRestrictedBodiesRequest { caller_origin: long(100_000), ..Default::default() }.encode_to_vec(),
            "caller_origin: at most 256 bytes",
        ),
    ];
    for (path, body, says) in cases {
        assert_refused(call(&channel, path, body).await, Code::InvalidArgument, says);
    }
    // A value under the limit that is still wrong is quoted, cut short.
    let status = assert_refused(
        call(&channel, "/comity.v1.Registry/GetKeySet", pb::GetKeySetRequest { authority: long(200) }.encode_to_vec()).await,
        Code::InvalidArgument,
        "…(200 bytes)",
    );
    assert!(!status.message().contains(&long(65)), "{}", status.message());

    // The JSON API answers from the same code.
    let web = node.node().http_addr().unwrap();
    let (line, body) = tokio::task::spawn_blocking(move || http_get(web, &format!("/api/v1/search?destination={}", long(8_000)))).await.unwrap();
    assert!(line.contains(" 400 "), "{line}");
    assert!(body.len() <= MAX_MESSAGE + 100 && String::from_utf8_lossy(&body).contains("destination: at most 128 bytes"), "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_cursor_far_past_the_log_is_refused() {
    let node = TestNode::start(&[BAFA]).await;
    let channel = channel(&node.url()).await;
    let origin = &node.config().origin;
    let watch = |cursor: String| pb::WatchRequest { cursor, ..Default::default() }.encode_to_vec();
    // Without the check this waits forever for entry 2^64 - 1.
    let far = tokio::time::timeout(Duration::from_secs(10), call(&channel, "/comity.v1.Registry/Watch", watch(format!("{origin}={},#evidence=0", u64::MAX))))
        .await
        .expect("answered at once, not waited on");
    assert_refused(far, Code::OutOfRange, "beyond the 0 this node holds");
    let evidence = call(&channel, "/comity.v1.Registry/Watch", watch(format!("#evidence={}", u64::MAX))).await;
    assert_refused(evidence, Code::OutOfRange, "of evidence");
    // A cursor a little ahead (a watcher moving to a mirror that lags) still waits.
    let near = call(&channel, "/comity.v1.Registry/Watch", watch(format!("{origin}=5,#evidence=0"))).await.expect("a near cursor is accepted");
    let event = pb::WatchEvent::decode(near.expect("an event").as_slice()).unwrap();
    assert_eq!(event.kind, pb::WatchEventKind::CaughtUp as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_refuses_an_empty_window_as_stats_does() {
    let node = TestNode::start(&[BAFA]).await;
    let channel = channel(&node.url()).await;
    let says = "decided_until (100) must be after decided_from (200)";
    let search = pb::SearchRequest { decided_from: 200, decided_until: 100, ..Default::default() }.encode_to_vec();
    assert_refused(call(&channel, "/comity.v1.Registry/Search", search).await, Code::InvalidArgument, says);
    let stats = pb::StatsRequest { decided_from: 200, decided_until: 100, ..Default::default() }.encode_to_vec();
    assert_refused(call(&channel, "/comity.v1.Registry/Stats", stats).await, Code::InvalidArgument, says);
    let web = node.node().http_addr().unwrap();
    let (line, body) = tokio::task::spawn_blocking(move || http_get(web, "/api/v1/search?decided_from=200&decided_until=100")).await.unwrap();
    assert!(line.contains(" 400 ") && String::from_utf8_lossy(&body).contains(says), "{line} {}", String::from_utf8_lossy(&body));
}

/// Every RPC of the node, by path.
const RPCS: [&str; 19] = [
    "/comity.v1.Registry/Publish",
    "/comity.v1.Registry/GetLicence",
    "/comity.v1.Registry/GetStatement",
    "/comity.v1.Registry/Search",
    "/comity.v1.Registry/Watch",
    "/comity.v1.Registry/Verify",
    "/comity.v1.Registry/GetKeySet",
    "/comity.v1.Registry/ListAgreements",
    "/comity.v1.Registry/Stats",
    "/comity.v1.Log/GetCheckpoint",
    "/comity.v1.Log/GetEntries",
    "/comity.v1.Log/GetInclusionProof",
    "/comity.v1.Log/GetConsistencyProof",
    "/comity.v1.Federation/GetEvidence",
    "/comity.v1.Federation/Status",
    "/comity.v1.Federation/Subscribe",
    "/comity.v1.Federation/Cosign",
    "/comity.v1.Federation/Backup",
    "/comity.v1.Federation/GetRestrictedBodies",
];

/// An odd string: empty, a plausible id, control characters and odd Unicode, or huge.
fn odd(rng: &mut StdRng) -> String {
    const PALETTE: [&str; 10] = ["de.bafa", "DE-2026-000123", "EU-DU:3A001.a.1", "JP", "\0", "\u{202e}", "é", "=", ",", "#evidence"];
    match rng.random_range(0..8) {
        0 => String::new(),
        1 => PALETTE[rng.random_range(0..PALETTE.len())].to_string(),
        2 => "x".repeat(rng.random_range(100..300_000)),
        3 => "é".repeat(rng.random_range(1..2_000)),
        _ => (0..rng.random_range(1..40)).map(|_| PALETTE[rng.random_range(0..PALETTE.len())]).collect(),
    }
}

fn odd_u64(rng: &mut StdRng) -> u64 {
    [0, 1, 5, u64::MAX, u64::MAX / 2, i64::MAX as u64 + 1, rng.random()][rng.random_range(0..7)]
}

fn odd_bytes(rng: &mut StdRng) -> Vec<u8> {
    (0..rng.random_range(0..80)).map(|_| rng.random()).collect()
}

/// A structurally valid request for `path` with odd field values. Backup gets only a relative
/// or huge directory: a valid one would write a snapshot.
fn odd_request(rng: &mut StdRng, path: &str) -> Vec<u8> {
    let s = |rng: &mut StdRng| odd(rng);
    let i = |rng: &mut StdRng| odd_u64(rng) as i64;
    match path.rsplit('/').next().unwrap() {
        "Publish" => pb::PublishRequest { envelope: odd_bytes(rng), ..Default::default() }.encode_to_vec(),
        "GetLicence" => pb::GetLicenceRequest { authority: s(rng), licence_id: s(rng) }.encode_to_vec(),
        "GetStatement" => pb::GetStatementRequest { statement_id: odd_bytes(rng) }.encode_to_vec(),
        "Search" => pb::SearchRequest {
            authority: s(rng),
            licence_id_prefix: s(rng),
            party: s(rng),
            destination: s(rng),
            control_code: s(rng),
            status: i(rng) as i32,
            decided_from: i(rng),
            decided_until: i(rng),
            page_size: odd_u64(rng) as u32,
            cursor: s(rng),
        }
        .encode_to_vec(),
        "Watch" => pb::WatchRequest {
            filter: Some(pb::WatchFilter {
                authority: s(rng),
                licence_id: s(rng),
                party: s(rng),
                destination: s(rng),
                control_code: s(rng),
                kinds: vec![i(rng) as i32],
            }),
            cursor: if rng.random_bool(0.5) { format!("{}={},#evidence={}", s(rng), odd_u64(rng), odd_u64(rng)) } else { s(rng) },
            from_start: rng.random_bool(0.5),
        }
        .encode_to_vec(),
        "Verify" => pb::VerifyRequest {
            authority: s(rng),
            licence_id: s(rng),
            relying_authority: s(rng),
            destination: s(rng),
            control_code: s(rng),
            end_user: s(rng),
            at: i(rng),
            screening_lists: Vec::new(),
            end_use: s(rng),
            item: odd_u64(rng) as u32,
            quantity: s(rng),
            value_minor: odd_u64(rng),
        }
        .encode_to_vec(),
        "GetKeySet" => pb::GetKeySetRequest { authority: s(rng) }.encode_to_vec(),
        "ListAgreements" => pb::ListAgreementsRequest { relying_authority: s(rng) }.encode_to_vec(),
        "Stats" => pb::StatsRequest { authority: s(rng), decided_from: i(rng), decided_until: i(rng) }.encode_to_vec(),
        "GetCheckpoint" => pb::GetCheckpointRequest { origin: s(rng) }.encode_to_vec(),
        "GetEntries" => pb::GetEntriesRequest { start: odd_u64(rng), end: odd_u64(rng), origin: s(rng) }.encode_to_vec(),
        "GetInclusionProof" => {
            use pb::get_inclusion_proof_request::Entry;
            let entry = if rng.random_bool(0.5) { Entry::StatementId(odd_bytes(rng)) } else { Entry::Index(odd_u64(rng)) };
            pb::GetInclusionProofRequest { entry: Some(entry), tree_size: odd_u64(rng), origin: s(rng) }.encode_to_vec()
        }
        "GetConsistencyProof" => pb::GetConsistencyProofRequest { old_size: odd_u64(rng), new_size: odd_u64(rng), origin: s(rng) }.encode_to_vec(),
        "Subscribe" => pb::SubscribeRequest { origin: s(rng) }.encode_to_vec(),
        "Cosign" => pb::CosignRequest { checkpoint: format!("{}\n{}\n{}\n\n— {}", s(rng), odd_u64(rng), s(rng), s(rng)) }.encode_to_vec(),
        "Backup" => pb::BackupRequest { directory: if rng.random_bool(0.5) { format!("relative/{}", s(rng)) } else { format!("/{}", "x".repeat(100_000)) } }
            .encode_to_vec(),
        "GetRestrictedBodies" => {
            pb::GetRestrictedBodiesRequest { statement_ids: (0..rng.random_range(0..3)).map(|_| odd_bytes(rng)).collect(), caller_origin: s(rng) }
                .encode_to_vec()
        }
        _ => Vec::new(), // GetEvidence, Status: no fields
    }
}

/// `body` with a few random bytes flipped, inserted or cut.
fn mutated(rng: &mut StdRng, mut body: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=body.len());
        match rng.random_range(0..3) {
            0 if at < body.len() => body[at] ^= 1 << rng.random_range(0..8),
            1 => body.insert(at, rng.random()),
            _ => body.truncate(at),
        }
    }
    body
}

/// A request for `path`: random bytes, a valid one with odd values, or a mutated one. Backup
/// gets bytes that cannot decode (a bad wire type first) or its odd valid request.
fn hostile_request(rng: &mut StdRng, path: &str) -> Vec<u8> {
    let backup = path.ends_with("/Backup");
    match rng.random_range(0..5) {
        0 if backup => [vec![0x0f], odd_bytes(rng)].concat(),
        0 => odd_bytes(rng),
        1 => nested_groups(rng.random_range(50..5_000)),
        2 if !backup => {
            let valid = odd_request(rng, path);
            mutated(rng, valid)
        }
        _ => odd_request(rng, path),
    }
}

/// `value` percent-encoded for a query string or path segment.
fn escaped(value: &str) -> String {
    value.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// A random hostile JSON API request: (method, path, body).
fn hostile_api_request(rng: &mut StdRng) -> (&'static str, String, Vec<u8>) {
    // Query strings stay within what an HTTP server reads (hyper's limits are not the point).
    let s = |rng: &mut StdRng| {
        let value = odd(rng);
        escaped(&value.chars().take(2_000).collect::<String>())
    };
    let path = match rng.random_range(0..8) {
        0 => format!(
            "/api/v1/verify?authority={}&licence_id={}&relying_authority={}&destination={}&control_code={}&end_user={}&at={}",
            s(rng),
            s(rng),
            s(rng),
            s(rng),
            s(rng),
            s(rng),
            s(rng)
        ),
        1 => format!(
            "/api/v1/search?authority={}&party={}&destination={}&decided_from={}&decided_until={}&page_size={}&status={}",
            s(rng),
            s(rng),
            s(rng),
            odd_u64(rng) as i64,
            odd_u64(rng) as i64,
            odd_u64(rng),
            s(rng)
        ),
        2 => format!("/api/v1/stats?authority={}&decided_from={}&decided_until={}", s(rng), s(rng), odd_u64(rng)),
        3 => format!("/api/v1/licences/{}/{}", s(rng), s(rng)),
        4 => format!("/api/v1/keysets/{}", s(rng)),
        5 => format!("/api/v1/agreements?relying_authority={}&{}={}", s(rng), s(rng), s(rng)),
        6 => return ("POST", format!("/api/v1/tokens/verify?relying_authority={}&destination={}", s(rng), s(rng)), odd_bytes(rng)),
        _ => format!("/api/{}", s(rng)),
    };
    ("GET", path, Vec::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_survives_thousands_of_hostile_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let (_demo, nodes) = tokio::task::spawn_blocking({
        let dir = tmp.path().to_path_buf();
        move || start_demo(&dir)
    })
    .await
    .unwrap();
    let node = &nodes[0];
    let channel = channel(&node.url).await;
    let mut rng = StdRng::seed_from_u64(19);
    let (mut calls, mut refused, mut longest) = (0, 0, 0);
    for round in 0..100 {
        for path in RPCS {
            let body = hostile_request(&mut rng, path);
            calls += 1;
            if let Err(status) = call(&channel, path, body).await {
                refused += 1;
                longest = longest.max(status.message().len());
                assert!(!matches!(status.code(), Code::Internal | Code::Unknown), "round {round}, {path}: {status:?}");
                assert!(
                    status.message().len() <= MAX_MESSAGE,
                    "round {round}, {path}: a {}-byte message: {}",
                    status.message().len(),
                    comity_proto::shown(status.message())
                );
            }
        }
    }
    let web: SocketAddr = node.web.parse().unwrap();
    let api = tokio::task::spawn_blocking(move || {
        let mut longest = 0;
        for _ in 0..500 {
            let (method, path, body) = hostile_api_request(&mut rng);
            let (line, answer) = if method == "POST" { http_post(web, &path, "application/octet-stream", &body) } else { http_get(web, &path) };
            assert!(!line.contains(" 500 "), "{method} {}: {line}", comity_proto::shown(&path));
            if !line.contains(" 200 ") {
                let error: serde_json::Value =
                    serde_json::from_slice(&answer).unwrap_or_else(|_| panic!("{method} {}: {line}: not JSON", comity_proto::shown(&path)));
                let message = error["error"]["message"].as_str().unwrap_or_default();
                longest = longest.max(message.len());
                assert!(message.len() <= MAX_MESSAGE, "{method} {}: {}", comity_proto::shown(&path), comity_proto::shown(message));
            }
        }
        longest
    })
    .await
    .unwrap();
    println!("{calls} gRPC calls ({refused} refused, longest message {longest} bytes), 500 JSON API requests (longest message {api} bytes)");

    // The node is still serving, nothing counted as its own fault, and an honest client's
    // Verify is answered as before.
    let metrics: SocketAddr = node.metrics.parse().unwrap();
    assert_eq!(tokio::task::spawn_blocking(move || internal_failures(metrics)).await.unwrap(), 0.0);
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone()).check(tonic_health::pb::HealthCheckRequest::default()).await.unwrap();
    assert_eq!(health.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    let mut client = comity_client::Client::connect(&node.url).await.unwrap();
    let found = client.search(pb::SearchRequest { authority: BAFA.into(), page_size: 1, ..Default::default() }).await.unwrap();
    let licence = found.licences.first().expect("the demo's bafa licences").clone();
    let request = pb::VerifyRequest { authority: licence.authority, licence_id: licence.licence_id, relying_authority: BAFA.into(), ..Default::default() };
    let answer = client.verify(request).await.expect("an honest Verify is answered");
    assert_ne!(answer.verdict, pb::Verdict::Unspecified as i32);
}
