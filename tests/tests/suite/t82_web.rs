//! The web interface over HTTP, against the demo federation: the JSON API answers exactly what
//! gRPC answers (same verdicts, reasons and errors), the pages show them, tokens are checked
//! from an upload or a paste, and every path of the OpenAPI file is served.

use comity_client::Client;
use comity_proto::pb;
use comity_tests::{demo_listeners, demo_suggestion, http_get, http_post};

/// The demo's partly written-off licence asked about 20 more pcs than remain (15).
const OVER_BALANCE: &str =
    "/api/v1/verify?authority=de.bafa&licence_id=DE-2026-007315&relying_authority=jp.meti&destination=JP&control_code=EU-DU:3A001.b.2&quantity=20";

fn query(r: &pb::VerifyRequest) -> String {
    format!(
        "authority={}&licence_id={}&relying_authority={}&destination={}&control_code={}",
        r.authority, r.licence_id, r.relying_authority, r.destination, r.control_code
    )
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
    let demo = comity_node::ops::demo::start(&tmp.path().join("demo"), demo_listeners().await, http).await.expect("demo starts");
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
        let page_query = format!(
            "licence={}/{}&relying_authority={}&destination={}&item={}",
            request.authority, request.licence_id, request.relying_authority, request.destination, request.control_code
        );
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
    assert!(
        authority.contains("<svg") && authority.contains("Key set v1") && authority.contains(&format!("recognises {}", authority_label("de.bafa"))),
        "{authority}"
    );
    let (_, federation) = get(http, "/federation").await;
    for origin in ["registry.bafa.example/log", "registry.ecju.example/log", "registry.meti.example/log"] {
        assert!(federation.contains(origin), "{origin} missing");
    }

    // Tokens: checked against this node's trust file, uploaded, pasted or posted to the API.
    let valid = demo_suggestion(&demo, "VALID");
    let answer = grpc.verify(valid.clone()).await.unwrap();
    let token = comity_proto::token::token_from_answer(&valid.authority, &valid.licence_id, &answer).unwrap();
    let api =
        format!("/api/v1/tokens/verify?relying_authority={}&destination={}&control_code={}", valid.relying_authority, valid.destination, valid.control_code);
    let (status, body) = post(http, &api, "application/octet-stream", token.clone()).await;
    assert!(status.contains("200"), "{status} {body}");
    let checked: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(checked["verdict"], "VERDICT_VALID", "{body}");
    assert!(checked["caveat"].as_str().unwrap().contains("cannot be known"));
    // One bit of the first signed decision changed (a witness cosignature line in a checkpoint
    // note is not checked offline: the verifier pins log keys, and a note's signatures by other
    // keys are ignored, as C2SP signed notes specify).
    let mut tampered = token.clone();
    let at = tampered.windows(valid.licence_id.len()).position(|w| w == valid.licence_id.as_bytes()).unwrap();
    tampered[at + 3] ^= 0x01;
    let (status, body) = post(http, &api, "application/octet-stream", tampered).await;
    assert!(status.contains("400") && body.contains("INVALID_ARGUMENT"), "a tampered token is refused: {status} {body}");
    let (content_type, form) =
        multipart(&[("token_file", &token), ("relying_authority", valid.relying_authority.as_bytes()), ("destination", valid.destination.as_bytes())]);
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
        let (status, body) =
            if ops.get("post").is_some() { post(http, &filled, "application/octet-stream", token.clone()).await } else { get(http, &filled).await };
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

/// The OpenAPI schemas of the API's answers, generated from the `comity.v1` descriptors as the
/// proto3 JSON mapping (pbjson) writes each message, so the document cannot drift from the wire.
mod schemas {
    use std::collections::{BTreeMap, VecDeque};
    use std::fmt::Write as _;

    use prost::Message as _;
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

    /// The messages the API answers with.
    const ROOTS: &[&str] = &[
        "GetLicenceResponse",
        "VerifyResponse",
        "SearchResponse",
        "StatsResponse",
        "GetKeySetResponse",
        "ListAgreementsResponse",
        "ListControlListsResponse",
        "LookupControlCodeResponse",
        "ScreenResponse",
        "ListConsultationsResponse",
        "ListRulingsResponse",
        "StatusResponse",
        "GetEvidenceResponse",
        "TokenCheckResponse",
        // A search filter (query parameter `status`).
        "LicenceStatus",
    ];
    const PACKAGE: &str = ".comity.v1.";

    enum Def<'a> {
        Message(&'a DescriptorProto, Vec<i32>),
        Enum(&'a EnumDescriptorProto, Vec<i32>),
    }

    /// Every message and enum by fully qualified name, with its source-info path (for comments).
    #[allow(clippy::too_many_arguments)] // one recursion over descriptor parts; a struct would only rename them
    fn index<'a>(
        prefix: &str,
        path: Vec<i32>,
        messages: &'a [DescriptorProto],
        enums: &'a [EnumDescriptorProto],
        message_tag: i32,
        enum_tag: i32,
        out: &mut BTreeMap<String, (usize, Def<'a>)>,
        file: usize,
    ) {
        for (i, e) in enums.iter().enumerate() {
            out.insert(format!("{prefix}{}", e.name()), (file, Def::Enum(e, [path.clone(), vec![enum_tag, i as i32]].concat())));
        }
        for (i, m) in messages.iter().enumerate() {
            let p = [path.clone(), vec![message_tag, i as i32]].concat();
            let name = format!("{prefix}{}", m.name());
            // Nested types: DescriptorProto field 3 (nested_type) and 4 (enum_type).
            index(&format!("{name}."), p.clone(), &m.nested_type, &m.enum_type, 3, 4, out, file);
            out.insert(name, (file, Def::Message(m, p)));
        }
    }

    /// protoc's json_name: each `_x` becomes `X`.
    fn json_name(field: &str) -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in field.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.extend(c.to_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    }

    fn schema_name(full: &str) -> String {
        full.strip_prefix(PACKAGE).unwrap_or(full).to_string()
    }

    fn quote(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    /// The YAML `components.schemas` entries (indented four spaces), sorted by name.
    pub fn generate() -> String {
        let set = FileDescriptorSet::decode(comity_proto::pb::FILE_DESCRIPTOR_SET).unwrap();
        let mut defs = BTreeMap::new();
        for (i, f) in set.file.iter().enumerate() {
            // FileDescriptorProto field 4 (message_type) and 5 (enum_type).
            index(&format!(".{}.", f.package()), vec![], &f.message_type, &f.enum_type, 4, 5, &mut defs, i);
        }
        let comment = |file: usize, path: &[i32]| -> String {
            let info = set.file[file].source_code_info.as_ref();
            let text = info.and_then(|i| i.location.iter().find(|l| l.path == path)).map(|l| l.leading_comments().to_string()).unwrap_or_default();
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        let mut wanted: VecDeque<String> = ROOTS.iter().map(|r| format!("{PACKAGE}{r}")).collect();
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        while let Some(full) = wanted.pop_front() {
            let name = schema_name(&full);
            if out.contains_key(&name) {
                continue;
            }
            let (file, def) = defs.get(&full).unwrap_or_else(|| panic!("{full} is not in the descriptors"));
            let mut y = format!("    {name}:\n");
            match def {
                Def::Enum(e, path) => {
                    let about = comment(*file, path);
                    let _ = writeln!(y, "      description: {}", quote(format!("enum comity.v1.{name}, by value name. {about}").trim()));
                    let values: Vec<&str> = e.value.iter().map(|v| v.name()).collect();
                    let _ = writeln!(y, "      type: string\n      enum: [{}]", values.join(", "));
                }
                Def::Message(m, path) => {
                    let about = comment(*file, path);
                    let _ = writeln!(y, "      description: {}", quote(format!("comity.v1.{name}. {about}").trim()));
                    y.push_str("      type: object\n      additionalProperties: false\n");
                    if m.field.is_empty() {
                        y.push_str("      properties: {}\n");
                    } else {
                        y.push_str("      properties:\n");
                    }
                    for (i, f) in m.field.iter().enumerate() {
                        let mut field_path = path.clone();
                        field_path.extend([2, i as i32]);
                        let about = comment(*file, &field_path);
                        let (mut schema, referenced) = field_schema(f, &defs);
                        wanted.extend(referenced);
                        if !about.is_empty() {
                            schema = format!("{{ description: {}, {} }}", quote(&about), &schema[2..schema.len() - 2]);
                        }
                        let _ = writeln!(y, "        {}: {schema}", json_name(f.name()));
                    }
                }
            }
            out.insert(name, y);
        }
        out.into_values().collect()
    }

    /// A field's schema in flow style, and the message or enum types it refers to.
    fn field_schema(f: &prost_types::FieldDescriptorProto, defs: &BTreeMap<String, (usize, Def<'_>)>) -> (String, Vec<String>) {
        let mut referenced = Vec::new();
        let mut single = |f: &prost_types::FieldDescriptorProto| -> String {
            match f.r#type() {
                Type::String => "{ type: string }".into(),
                // Standard base64 with padding, as pbjson writes bytes.
                Type::Bytes => r#"{ type: string, contentEncoding: base64, pattern: "^[A-Za-z0-9+/]*={0,2}$" }"#.into(),
                Type::Bool => "{ type: boolean }".into(),
                Type::Double | Type::Float => "{ type: number }".into(),
                Type::Int32 | Type::Sint32 | Type::Sfixed32 => "{ type: integer, format: int32 }".into(),
                Type::Uint32 | Type::Fixed32 => "{ type: integer, minimum: 0 }".into(),
                // 64-bit integers are decimal strings in proto3 JSON.
                Type::Int64 | Type::Sint64 | Type::Sfixed64 => r#"{ type: string, format: int64, pattern: "^-?[0-9]+$" }"#.into(),
                Type::Uint64 | Type::Fixed64 => r#"{ type: string, format: uint64, pattern: "^[0-9]+$" }"#.into(),
                Type::Message | Type::Enum => {
                    referenced.push(f.type_name().to_string());
                    format!("{{ $ref: \"#/components/schemas/{}\" }}", schema_name(f.type_name()))
                }
                Type::Group => panic!("groups are not proto3"),
            }
        };
        let map_entry = match defs.get(f.type_name()) {
            Some((_, Def::Message(m, _))) if m.options.as_ref().is_some_and(|o| o.map_entry()) => Some(m),
            _ => None,
        };
        let schema = match (f.label(), map_entry) {
            // Map keys are strings in JSON whatever their type.
            (_, Some(entry)) => format!("{{ type: object, additionalProperties: {} }}", single(&entry.field[1])),
            (Label::Repeated, None) => format!("{{ type: array, items: {} }}", single(f)),
            _ => single(f),
        };
        (schema, referenced)
    }
}

/// The schemas in docs/openapi.yaml are those generated from the protos (`COMITY_BLESS=1`
/// writes them when a message changed).
#[test]
fn openapi_schemas_are_the_proto_messages() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let document = std::fs::read_to_string(&path).unwrap();
    let marker = "    # Generated from proto/comity/v1 by tests/tests/suite/t82_web.rs (COMITY_BLESS=1 rewrites it): do not edit below.\n";
    let at = document.find(marker).expect("docs/openapi.yaml keeps the marker line before the generated schemas") + marker.len();
    let generated = schemas::generate();
    if std::env::var_os("COMITY_BLESS").is_some() {
        std::fs::write(&path, format!("{}{generated}", &document[..at])).unwrap();
    }
    assert!(
        document[at..] == generated,
        "docs/openapi.yaml's generated schemas differ from proto/comity/v1: run COMITY_BLESS=1 cargo test -p comity-tests --test suite t82_web::openapi_schemas"
    );
}

/// One request over HTTP/1.1: (status, content type, body).
fn exchange(addr: std::net::SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_default();
    (status, content_type, String::from_utf8_lossy(&response[split + 4..]).to_string())
}

/// The venv's Python with the OpenAPI validators.
fn openapi_python() -> std::path::PathBuf {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python");
    let ok = std::process::Command::new(&python).args(["-c", "import jsonschema, openapi_spec_validator"]).status().is_ok_and(|s| s.success());
    assert!(ok, "no jsonschema/openapi-spec-validator in target/test-venv: run scripts/install-test-tools (or scripts/test-tools/60-openapi.sh)");
    python
}

/// Every endpoint of the API, answering and refusing, against the demo: each answer is valid
/// JSON of the schema docs/openapi.yaml gives for its status (checked by the stock Python
/// validators), paths nothing serves answer the same JSON error, and the one dialect holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_answer_matches_the_openapi_document() {
    let python = openapi_python();
    let tmp = tempfile::tempdir().unwrap();
    let demo = comity_node::ops::demo::start(&tmp.path().join("demo"), demo_listeners().await, vec![Some("127.0.0.1:0".parse().unwrap()); 3])
        .await
        .expect("demo starts");
    let node = |name: &str| demo.nodes.iter().find(|n| n.name == name).unwrap();
    let (meti, ecju) = (node("meti").node.http_addr().unwrap(), node("ecju").node.http_addr().unwrap());
    let valid = demo_suggestion(&demo, "VALID");
    let revoked = demo_suggestion(&demo, "REVOKED");
    let (secret_authority, secret_id) = demo.confidential.clone();
    let answer = Client::connect(&node("meti").node.url()).await.unwrap().verify(valid.clone()).await.unwrap();
    let token = comity_proto::token::token_from_answer(&valid.authority, &valid.licence_id, &answer).unwrap();
    let mut tampered = token.clone();
    let at = tampered.windows(valid.licence_id.len()).position(|w| w == valid.licence_id.as_bytes()).unwrap();
    tampered[at + 3] ^= 0x01;

    // (node, method, the document's path, the request, body, expected status).
    let licence = "/api/v1/licences/{authority}/{licence_id}";
    type Call<'a> = (std::net::SocketAddr, &'a str, &'a str, String, Vec<u8>, u16);
    let calls: Vec<Call> = vec![
        (meti, "GET", licence, format!("/api/v1/licences/{}/{}", valid.authority, valid.licence_id), vec![], 200),
        (meti, "GET", licence, format!("/api/v1/licences/{}/{}", revoked.authority, revoked.licence_id), vec![], 200),
        (meti, "GET", licence, format!("/api/v1/licences/{secret_authority}/{secret_id}"), vec![], 200),
        (ecju, "GET", licence, format!("/api/v1/licences/{secret_authority}/{secret_id}"), vec![], 200),
        (meti, "GET", licence, "/api/v1/licences/de.bafa/DE-2099-999999".into(), vec![], 404),
        (meti, "GET", licence, "/api/v1/licences/Not%20An%20Id/x".into(), vec![], 400),
        (meti, "GET", "/api/v1/verify", format!("/api/v1/verify?{}", query(&valid)), vec![], 200),
        (meti, "GET", "/api/v1/verify", format!("/api/v1/verify?{}", query(&revoked)), vec![], 200),
        // A shipment asked about: the answer carries the licence's balances after write-offs.
        (meti, "GET", "/api/v1/verify", OVER_BALANCE.into(), vec![], 200),
        (ecju, "GET", "/api/v1/verify", format!("/api/v1/verify?authority={secret_authority}&licence_id={secret_id}&relying_authority=uk.ecju"), vec![], 200),
        (
            meti,
            "GET",
            "/api/v1/verify",
            format!("/api/v1/verify?authority={}&licenceId={}&relyingAuthority=jp.meti", valid.authority, valid.licence_id),
            vec![],
            200,
        ),
        (meti, "GET", "/api/v1/verify", format!("/api/v1/verify?authority={}&licence_id={}", valid.authority, valid.licence_id), vec![], 400),
        (meti, "GET", "/api/v1/verify", format!("/api/v1/verify?{}&destination=Japan", query(&valid)), vec![], 400),
        (meti, "GET", "/api/v1/search", "/api/v1/search".into(), vec![], 200),
        (meti, "GET", "/api/v1/search", "/api/v1/search?status=REVOKED&page_size=2".into(), vec![], 200),
        (meti, "GET", "/api/v1/search", "/api/v1/search?licenceIdPrefix=DE-&authority=de.bafa".into(), vec![], 200),
        (meti, "GET", "/api/v1/search", "/api/v1/search?colour=red".into(), vec![], 400),
        (meti, "GET", "/api/v1/stats", "/api/v1/stats".into(), vec![], 200),
        (meti, "GET", "/api/v1/stats", "/api/v1/stats?authority=de.bafa".into(), vec![], 200),
        (meti, "GET", "/api/v1/stats", "/api/v1/stats?decided_from=200&decided_until=100".into(), vec![], 400),
        (meti, "GET", "/api/v1/keysets/{authority}", "/api/v1/keysets/de.bafa".into(), vec![], 200),
        (meti, "GET", "/api/v1/keysets/{authority}", "/api/v1/keysets/xx.nobody".into(), vec![], 404),
        (meti, "GET", "/api/v1/agreements", "/api/v1/agreements".into(), vec![], 200),
        (meti, "GET", "/api/v1/agreements", "/api/v1/agreements?relying_authority=jp.meti".into(), vec![], 200),
        (meti, "GET", "/api/v1/lists", "/api/v1/lists".into(), vec![], 200),
        (meti, "GET", "/api/v1/lists", "/api/v1/lists?authority=de.bafa&all_versions=true".into(), vec![], 200),
        (meti, "GET", "/api/v1/lists", "/api/v1/lists?authority=NOT%20AN%20ID".into(), vec![], 400),
        (meti, "GET", "/api/v1/code", "/api/v1/code?code=EU-DU:3A001.b.2".into(), vec![], 200),
        (meti, "GET", "/api/v1/code", "/api/v1/code?code=3A001".into(), vec![], 400),
        (meti, "GET", "/api/v1/screen", "/api/v1/screen?name=Ural+Electronic+Systems".into(), vec![], 200),
        (meti, "GET", "/api/v1/screen", "/api/v1/screen?name=GmbH".into(), vec![], 400),
        (meti, "GET", "/api/v1/consultations", "/api/v1/consultations".into(), vec![], 200),
        (meti, "GET", "/api/v1/consultations", "/api/v1/consultations?authority=de.bafa&open_only=true".into(), vec![], 200),
        (meti, "GET", "/api/v1/consultations", "/api/v1/consultations?authority=NOT%20AN%20ID".into(), vec![], 400),
        (meti, "GET", "/api/v1/rulings", "/api/v1/rulings".into(), vec![], 200),
        (meti, "GET", "/api/v1/rulings", "/api/v1/rulings?authority=de.bafa&control_code=EU-DU:3A001.b&all=true".into(), vec![], 200),
        (meti, "GET", "/api/v1/rulings", "/api/v1/rulings?control_code=3A001".into(), vec![], 400),
        (meti, "GET", "/api/v1/federation", "/api/v1/federation".into(), vec![], 200),
        (meti, "GET", "/api/v1/evidence", "/api/v1/evidence".into(), vec![], 200),
        (
            meti,
            "POST",
            "/api/v1/tokens/verify",
            format!(
                "/api/v1/tokens/verify?relying_authority={}&destination={}&control_code={}",
                valid.relying_authority, valid.destination, valid.control_code
            ),
            token.clone(),
            200,
        ),
        (meti, "POST", "/api/v1/tokens/verify", "/api/v1/tokens/verify".into(), token.clone(), 200),
        (meti, "POST", "/api/v1/tokens/verify", "/api/v1/tokens/verify?relying_authority=jp.meti".into(), tampered, 400),
        (meti, "GET", "/healthz", "/healthz".into(), vec![], 200),
        (meti, "GET", "/healthz", "/healthz?service=comity.v1.Registry".into(), vec![], 200),
        (meti, "GET", "/healthz", "/healthz?service=comity.v1.Nothing".into(), vec![], 404),
        // Paths and methods nothing serves.
        (meti, "GET", "*", "/api/v1/nothing-here".into(), vec![], 404),
        (meti, "GET", "*", "/no/such/page".into(), vec![], 404),
        (meti, "GET", "*", "/api/v1/tokens/verify".into(), vec![], 405),
    ];
    let mut exchanges = Vec::new();
    let mut answers = std::collections::HashMap::new();
    for (addr, method, template, path, body, expected) in calls {
        let (status, content_type, text) = {
            let (m, p) = (method.to_string(), path.clone());
            tokio::task::spawn_blocking(move || exchange(addr, &m, &p, &body)).await.unwrap()
        };
        assert_eq!(status, expected, "{method} {path}: {text}");
        answers.insert(format!("{method} {path}"), text.clone());
        exchanges.push(serde_json::json!({ "method": method, "path": template, "url": path, "status": status, "content_type": content_type, "body": text }));
    }

    // The stock validators: the document, then every answer against it.
    let spec: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml")).unwrap()).unwrap();
    std::fs::write(tmp.path().join("spec.json"), spec.to_string()).unwrap();
    std::fs::write(tmp.path().join("exchanges.json"), serde_json::Value::Array(exchanges).to_string()).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_openapi.py");
    let out = std::process::Command::new(&python).arg(script).arg(tmp.path().join("spec.json")).arg(tmp.path().join("exchanges.json")).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "answers that do not match docs/openapi.yaml:\n{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("48 answers checked, 0 problems"), "{report}");
    let over: serde_json::Value = serde_json::from_str(&answers[&format!("GET {OVER_BALANCE}")]).unwrap();
    assert_eq!(over["verdict"].as_str(), Some("VERDICT_OVER_BALANCE"), "{over}");
    assert_eq!((over["licence"]["balances"][0]["remaining"].as_str(), over["licence"]["balances"][0]["shipments"].as_u64()), (Some("15"), Some(1)), "{over}");

    // One dialect: the token check is proto3 JSON like the rest (camelCase, enums by name,
    // 64-bit integers as strings), and an unknown path says what it is in the error shape.
    let tokens =
        format!("/api/v1/tokens/verify?relying_authority={}&destination={}&control_code={}", valid.relying_authority, valid.destination, valid.control_code);
    let checked: serde_json::Value = serde_json::from_str(&answers[&format!("POST {tokens}")]).unwrap();
    assert_eq!(
        (checked["verdict"].as_str(), checked["licenceId"].as_str(), checked["status"].as_str()),
        (Some("VERDICT_VALID"), Some(valid.licence_id.as_str()), Some("ISSUED")),
        "{checked}"
    );
    assert!(checked["evidenceTime"].as_str().is_some_and(|t| t.parse::<i64>().unwrap() > 0) && checked.get("evidence_time").is_none(), "{checked}");
    let verified: serde_json::Value = serde_json::from_str(&answers[&format!("GET /api/v1/verify?{}", query(&valid))]).unwrap();
    assert!(
        verified["checkedAt"].is_string()
            && verified["chain"][0]["statementId"]
                .as_str()
                .is_some_and(|id| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, id).is_ok_and(|b| b.len() == 32)),
        "{verified}"
    );
    let missing: serde_json::Value =
        serde_json::from_str(&answers[&format!("GET /api/v1/verify?authority={}&licence_id={}", valid.authority, valid.licence_id)]).unwrap();
    assert_eq!(missing["error"]["code"], "INVALID_ARGUMENT");
    assert!(missing["error"]["message"].as_str().unwrap().contains("relying_authority: required"), "{missing}");
    for path in ["/api/v1/nothing-here", "/no/such/page"] {
        let error: serde_json::Value = serde_json::from_str(&answers[&format!("GET {path}")]).unwrap();
        assert_eq!(error["error"]["code"], "NOT_FOUND", "{path}");
        assert!(error["error"]["message"].as_str().unwrap().contains(path), "{error}");
    }
    let wrong_method: serde_json::Value = serde_json::from_str(&answers["GET /api/v1/tokens/verify"]).unwrap();
    assert!(wrong_method["error"]["message"].as_str().unwrap().contains("GET"), "{wrong_method}");
    for n in demo.nodes {
        n.node.shutdown().await.unwrap();
    }
}

/// What a person reads on the verify page: examples that look like examples, what was and was
/// not checked, when, by whom the licence was issued (by name), a confidential entry for what it
/// is, and a blank relying authority explained with the form kept as typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verify_page_says_what_was_checked_when_and_by_whom() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = comity_node::ops::demo::start(&tmp.path().join("demo"), demo_listeners().await, vec![Some("127.0.0.1:0".parse().unwrap()); 3])
        .await
        .expect("demo starts");
    let node = |name: &str| demo.nodes.iter().find(|n| n.name == name).unwrap().node.http_addr().unwrap();
    let (meti, ecju) = (node("meti"), node("ecju"));

    // The empty form: every example is marked as one, and greyed by the stylesheet.
    let (_, form) = get(meti, "/").await;
    let placeholders: Vec<&str> = form.split("placeholder=\"").skip(1).map(|p| &p[..p.find('"').unwrap()]).collect();
    assert!(placeholders.len() >= 5 && placeholders.iter().all(|p| p.starts_with("e.g. ")), "{placeholders:?}");
    let (_, css) = get(meti, "/assets/comity.css").await;
    assert!(css.contains("::placeholder") && css.contains("font-style: italic"), "placeholders are styled apart from values");

    // A VALID verdict for item and destination, no end user: the page says exactly that.
    let valid = demo_suggestion(&demo, "VALID");
    assert!(!valid.control_code.is_empty() && !valid.destination.is_empty());
    let (status, page) = get(
        meti,
        &format!(
            "/?licence={}/{}&relying_authority={}&destination={}&item={}",
            valid.authority, valid.licence_id, valid.relying_authority, valid.destination, valid.control_code
        ),
    )
    .await;
    assert!(status.contains("200") && page.contains("data-verdict=\"VALID\""), "{status}");
    for checked in ["item", "destination"] {
        assert!(page.contains(&format!("data-scope=\"{checked}\" data-checked=\"yes\"")), "{checked} checked: {page}");
    }
    assert!(page.contains("data-scope=\"end-user\" data-checked=\"no\"") && page.contains("not given, not checked"), "{page}");
    // Checked at an absolute time, UTC, ISO 8601, and close to now.
    let at = page.split("Checked at <time datetime=\"").nth(1).map(|r| &r[..r.find('"').unwrap()]).expect("a checked-at time");
    let at = comity_proto::authoring::parse_time(at).expect("ISO 8601");
    assert!(page.contains("(UTC)") && at.abs_diff(comity_node::now()) < 600, "{at}");
    // Authorities by name, with their ids.
    assert!(page.contains(&maud::html! { (authority_label(&valid.authority)) }.into_string()), "issuer by name: {page}");
    assert!(page.contains(&maud::html! { (authority_label(&valid.relying_authority)) }.into_string()), "relying authority by name");
    let (_, authority) = get(meti, "/authorities/de.bafa").await;
    assert!(authority.contains(&format!("<h1>Authority {}</h1>", authority_label("de.bafa"))), "{authority}");

    // A REVOKED verdict does not claim to have checked what it was asked about.
    let revoked = demo_suggestion(&demo, "REVOKED");
    let (_, page) = get(
        meti,
        &format!("/?licence={}/{}&relying_authority={}&destination={}", revoked.authority, revoked.licence_id, revoked.relying_authority, revoked.destination),
    )
    .await;
    assert!(
        page.contains("data-verdict=\"REVOKED\"")
            && page.contains("data-scope=\"destination\" data-checked=\"asked\"")
            && !page.contains("data-checked=\"yes\""),
        "{page}"
    );

    // A blank relying authority: a sentence a person can act on, and the form as typed.
    let (status, page) = get(meti, &format!("/?licence={}/{}&relying_authority=&destination=JP", valid.authority, valid.licence_id)).await;
    assert!(status.contains("400"), "{status}");
    assert!(page.contains("Please check what you entered") && page.contains("enter the relying authority"), "{page}");
    assert!(
        page.contains(&format!("value=\"{}/{}\"", valid.authority, valid.licence_id)) && page.contains("value=\"JP\""),
        "the form keeps what was typed: {page}"
    );
    assert!(!page.contains("<strong>INVALID_ARGUMENT</strong>"), "no raw gRPC code as the message");

    // A confidential licence on a node outside its audience: the entry says what it is.
    let (authority, id) = &demo.confidential;
    let (status, page) = get(ecju, &format!("/licences/{authority}/{id}")).await;
    assert!(status.contains("200") && page.contains("CONFIDENTIAL"), "{status}");
    assert!(page.contains("v1 confidential decision (details restricted)") && !page.contains("ACTION_UNSPECIFIED"), "{page}");
    // Inside the audience the decision reads as usual.
    let (_, page) = get(meti, &format!("/licences/{authority}/{id}")).await;
    assert!(page.contains("v1 GRANT"), "{page}");
    for n in demo.nodes {
        n.node.shutdown().await.unwrap();
    }
}

/// How the pages name a demo authority: its configured name, then its id.
fn authority_label(id: &str) -> String {
    let name = comity_node::ops::demo::data::authorities().into_iter().find(|a| a.id == id).unwrap_or_else(|| panic!("{id} is not a demo authority")).name;
    format!("{name} ({id})")
}
