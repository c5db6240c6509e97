//! The web interface over HTTP, against the demo federation: the JSON API answers exactly what
//! gRPC answers (same verdicts, reasons and errors), the pages show them, tokens are checked
//! from an upload or a paste, and every path of the OpenAPI file is served.

use comity_client::Client;
use comity_proto::pb;
use comity_tests::{demo_listeners, demo_suggestion, http_get, http_post};

fn query(r: &pb::VerifyRequest) -> String {
    format!("authority={}&licence_id={}&relying_authority={}&destination={}&control_code={}", r.authority, r.licence_id, r.relying_authority, r.destination, r.control_code)
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let path = path.to_string();
    let (status, body) = tokio::task::spawn_blocking(move || http_get(addr, &path)).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}

async fn post(addr: std::net::SocketAddr, path: &str, content_type: &str, body: Vec<u8>) -> (String, String) {
    let (path, content_type) = (path.to_string(), content_type.to_string());
    let (status, body) = tokio::task::spawn_blocking(move || http_post(addr, &path, &content_type, &body)).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn multipart(fields: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "comity-test-boundary-7MA4YWxk";
    let mut body = Vec::new();
    for (name, value) in fields {
        let filename = if *name == "token_file" { "; filename=\"licence.token\"" } else { "" };
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n").as_bytes());
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_api_and_pages_answer_as_grpc_does() {
    let tmp = tempfile::tempdir().unwrap();
    let http = vec![Some("127.0.0.1:0".parse().unwrap()); 3];
    let demo = comity_node::demo::start(&tmp.path().join("demo"), demo_listeners().await, http).await.expect("demo starts");
    let meti = demo.nodes.iter().find(|n| n.name == "meti").unwrap();
    let http = meti.node.http_addr().expect("the HTTP port is on");
    let mut grpc = Client::connect(&meti.node.url()).await.unwrap();

    // The JSON API's Verify is gRPC's Verify in canonical JSON, for a VALID and a REVOKED licence.
    for verdict in ["VALID", "REVOKED"] {
        let request = demo_suggestion(&demo, verdict);
        let over_grpc = grpc.verify(request.clone()).await.unwrap();
        let (status, body) = get(http, &format!("/api/v1/verify?{}", query(&request))).await;
        assert!(status.contains("200"), "{status} {body}");
        let over_http: pb::VerifyResponse = serde_json::from_str(&body).expect("canonical JSON of VerifyResponse");
        assert_eq!(over_http.verdict, pb::Verdict::from_str_name(&format!("VERDICT_{verdict}")).unwrap() as i32);
        assert_eq!((&over_http.reasons, &over_http.chain, &over_http.agreement), (&over_grpc.reasons, &over_grpc.chain, &over_grpc.agreement));
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["verdict"], format!("VERDICT_{verdict}"), "enums by name");

        // The page shows the verdict prominently, the reasons and the timeline.
        let page_query = format!("licence={}/{}&relying_authority={}&destination={}&item={}", request.authority, request.licence_id, request.relying_authority, request.destination, request.control_code);
        let (status, page) = get(http, &format!("/?{page_query}")).await;
        assert!(status.contains("200"), "{status}");
        assert!(page.contains(&format!("data-verdict=\"{verdict}\"")), "{page}");
        assert!(page.contains("Decision timeline") && page.contains("v1 GRANT"), "{page}");
        assert!(page.contains(&maud::html! { (over_grpc.reasons[0]) }.into_string()), "reasons shown, escaped");
        // And the licence has a stable link.
        let (status, licence) = get(http, &format!("/licences/{}/{}", request.authority, request.licence_id)).await;
        assert!(status.contains("200") && licence.contains("Decision timeline"), "{status}");
    }

    // Refusals are gRPC's, with the matching HTTP status.
    let bad = pb::VerifyRequest { destination: "Japan".into(), ..demo_suggestion(&demo, "VALID") };
    let grpc_error = match grpc.verify(bad.clone()).await {
        Err(comity_client::ClientError::Status(s)) => s,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let (status, body) = get(http, &format!("/api/v1/verify?{}", query(&bad))).await;
    assert!(status.contains("400"), "{status}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "INVALID_ARGUMENT");
    assert_eq!(error["error"]["message"], grpc_error.message());
    let (status, body) = get(http, "/api/v1/licences/de.bafa/DE-2099-999999").await;
    assert!(status.contains("404") && body.contains("NOT_FOUND"), "{status} {body}");
    let (status, body) = get(http, "/api/v1/search?colour=red").await;
    assert!(status.contains("400") && body.contains("INVALID_ARGUMENT") && body.contains("colour"), "{status} {body}");
    let (status, page) = get(http, "/?licence=no-slash").await;
    assert!(status.contains("400") && page.contains("AUTHORITY/REFERENCE"), "{status}");

    // Browse: search, an authority with its chart, the federation.
    let (_, revoked) = get(http, "/search?status=REVOKED").await;
    let revoked_licence = demo_suggestion(&demo, "REVOKED");
    assert!(revoked.contains(&format!("/licences/{}/{}", revoked_licence.authority, revoked_licence.licence_id)), "{revoked}");
    let (_, authority) = get(http, "/authorities/de.bafa").await;
    assert!(authority.contains("<svg") && authority.contains("Key set v1") && authority.contains("recognises de.bafa"), "{authority}");
    let (_, federation) = get(http, "/federation").await;
    for origin in ["registry.bafa.example/log", "registry.ecju.example/log", "registry.meti.example/log"] {
        assert!(federation.contains(origin), "{origin} missing");
    }

    // Tokens: checked against this node's trust file, uploaded, pasted or posted to the API.
    let valid = demo_suggestion(&demo, "VALID");
    let answer = grpc.verify(valid.clone()).await.unwrap();
    let token = comity_proto::token::token_from_answer(&valid.authority, &valid.licence_id, &answer).unwrap();
    let api = format!("/api/v1/tokens/verify?relying_authority={}&destination={}&control_code={}", valid.relying_authority, valid.destination, valid.control_code);
    let (status, body) = post(http, &api, "application/octet-stream", token.clone()).await;
    assert!(status.contains("200"), "{status} {body}");
    let checked: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(checked["verdict"], "VALID", "{body}");
    assert!(checked["caveat"].as_str().unwrap().contains("cannot be known"));
    // One bit of the first signed decision changed (a witness cosignature line in a checkpoint
    // note is not checked offline: the verifier pins log keys, and a note's signatures by other
    // keys are ignored, as C2SP signed notes specify).
    let mut tampered = token.clone();
    let at = tampered.windows(valid.licence_id.len()).position(|w| w == valid.licence_id.as_bytes()).unwrap();
    tampered[at + 3] ^= 0x01;
    let (status, body) = post(http, &api, "application/octet-stream", tampered).await;
    assert!(status.contains("400") && body.contains("INVALID_ARGUMENT"), "a tampered token is refused: {status} {body}");
    let (content_type, form) = multipart(&[("token_file", &token), ("relying_authority", valid.relying_authority.as_bytes()), ("destination", valid.destination.as_bytes())]);
    let (status, page) = post(http, "/token", &content_type, form).await;
    assert!(status.contains("200") && page.contains("data-verdict=\"VALID\""), "{status} {page}");
    use base64::Engine as _;
    let pasted = base64::engine::general_purpose::STANDARD.encode(&token);
    let (content_type, form) = multipart(&[("token_base64", pasted.as_bytes()), ("relying_authority", valid.relying_authority.as_bytes())]);
    let (_, page) = post(http, "/token", &content_type, form).await;
    assert!(page.contains("data-verdict=\"VALID\""), "{page}");
    let (content_type, form) = multipart(&[("token_base64", &pasted.as_bytes()[..200])]);
    let (status, page) = post(http, "/token", &content_type, form).await;
    assert!(status.contains("400") && page.contains("truncated or corrupted"), "{status} {page}");

    // Every path the OpenAPI file documents is served (parameters filled from the examples).
    let (status, openapi) = get(http, "/api/openapi.yaml").await;
    assert!(status.contains("200"));
    let spec: serde_json::Value = serde_norway::from_str(&openapi).expect("openapi.yaml parses");
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 9);
    for (path, ops) in paths {
        let filled = path.replace("{authority}", "de.bafa").replace("{licence_id}", &valid.licence_id);
        let (status, body) = if ops.get("post").is_some() { post(http, &filled, "application/octet-stream", token.clone()).await } else { get(http, &filled).await };
        assert!(!status.contains("404") || body.contains("NOT_FOUND"), "{path}: {status} {body}");
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok(), "{path}: answers JSON");
    }
    for n in demo.nodes {
        n.node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_requests_share_the_per_client_limits_of_grpc() {
    let node = comity_tests::TestNode::start_with(&["de.bafa"], |c| c.limits.requests_per_client_per_sec = 3).await;
    let http = node.node().http_addr().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(get(http, "/api/v1/federation").await);
    }
    let refused: Vec<_> = statuses.iter().filter(|(s, _)| s.contains("429")).collect();
    assert!(!refused.is_empty(), "{statuses:?}");
    assert!(refused.iter().all(|(_, body)| body.contains("RESOURCE_EXHAUSTED") && body.contains("requests per second")), "{refused:?}");
    assert!(statuses[0].0.contains("200"), "the first requests are served: {:?}", statuses[0]);
}
