//! A token's QR code through the real binaries and the web page: `comity token qr` writes a
//! `comity:2:` code, read back here from the PNG with rqrr; `comity token verify --qr` checks
//! it against its token (and refuses another token or a tampered checkpoint), or, without the
//! token, against a node after the licence was revoked; the node's token page does the same
//! from an uploaded PNG.

use std::path::Path;

use crate::cli::{comity, path};
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::pb;
use comity_proto::statement::StatementId;
use comity_proto::token_qr::{encode_pointer, parse_pointer};
use comity_proto::trust::{TrustFile, TrustedAuthority};
use comity_tests::{http_post, TestNode};
use predicates::str::contains;

const LICENCE: &str = "de.bafa/DE-2026-004211";

/// The text of the QR code in a PNG file, read with the decoder crate directly.
fn decode_png(file: &Path) -> String {
    let image = image::open(file).expect("a PNG image").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("a readable QR code").1
}

fn multipart(fields: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "comity-test-boundary-qr4Zt8";
    let mut body = Vec::new();
    for (name, value) in fields {
        let filename = match *name {
            "token_file" => "; filename=\"licence.token\"",
            "qr_file" => "; filename=\"code.png\"\r\nContent-Type: image/png",
            _ => "",
        };
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n").as_bytes());
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_form(addr: std::net::SocketAddr, fields: &[(&str, &[u8])]) -> (String, String) {
    let (content_type, body) = multipart(fields);
    let (status, page) = tokio::task::spawn_blocking(move || http_post(addr, "/token", &content_type, &body)).await.unwrap();
    (status, String::from_utf8(page).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_qr_code_is_checked_against_its_token_a_node_and_the_web_page() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&["de.bafa"]).await;
    let url = node.url();
    let http = node.node().http_addr().expect("the HTTP port is on");
    let g = grant("de.bafa", "DE-2026-004211");
    let grant_envelope = node.sign(g.clone());
    node.client().await.publish(grant_envelope.clone()).await.unwrap();

    // The verifier pins the authority's key and the node's log key.
    let trust = TrustFile {
        authorities: vec![TrustedAuthority {
            id: "de.bafa".into(),
            keys: vec![hex::encode(node.signer("de.bafa").verifying_key().to_bytes())],
            logs: vec![node.node().log_verifier().to_string()],
            ..Default::default()
        }],
        ..Default::default()
    };
    let trust_path = tmp.path().join("trust.toml");
    std::fs::write(&trust_path, trust.to_toml()).unwrap();

    // (a) Export, print the code as a PNG, read it back, verify token and code together.
    let token = tmp.path().join("v1.token");
    comity(&url).args(["token", "export", LICENCE, "-o", path(&token)]).assert().success();
    let png = tmp.path().join("code.png");
    let link = format!("http://{http}/licences/{LICENCE}");
    let out = comity("http://127.0.0.1:1")
        .args(["token", "qr", path(&token), "--output", path(&png), "--link", &link])
        .assert()
        .success()
        .stdout(contains("error correction M"));
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let text = decode_png(&png);
    assert!(text.starts_with("comity:2:") && stdout.lines().any(|l| l == text), "the PNG holds the printed text: {stdout}");
    println!("{}", stdout.lines().find(|l| l.starts_with("QR code version")).unwrap());
    let pointer = parse_pointer(&text).unwrap();
    assert_eq!((pointer.version, pointer.head_id.as_slice(), pointer.fetch.as_str()), (1, StatementId::of(&grant_envelope).0.as_slice(), link.as_str()));
    let verify = |args: &[&str]| {
        let mut cmd = comity(&url);
        cmd.args(["token", "verify"]).args(args).args(["--trust", path(&trust_path)]);
        cmd
    };
    verify(&["--qr", path(&png), path(&token)])
        .assert()
        .success()
        .stdout(contains("QR code: de.bafa/DE-2026-004211 head v1"))
        .stdout(contains("VALID"))
        .stdout(contains("signed by its pinned log key"));
    verify(&["--qr", &text, path(&token)]).assert().success();
    // Without the token, against the node: the code's head is still the head.
    verify(&["--qr", path(&png)]).assert().success().stdout(contains("is still the head")).stdout(contains("VALID"));
    let (status, page) = post_form(http, &[("qr_file", &std::fs::read(&png).unwrap())]).await;
    assert!(status.contains("200") && page.contains("data-code-head=\"current\"") && page.contains("data-verdict=\"VALID\""), "{status} {page}");

    // (b) The code of another token is refused, naming the hash check.
    let revoke = node.sign(follow_up(&g, pb::Action::Revoke, 2, StatementId::of(&grant_envelope).0));
    node.client().await.publish(revoke).await.unwrap();
    let token_2 = tmp.path().join("v2.token");
    comity(&url).args(["token", "export", LICENCE, "-o", path(&token_2)]).assert().success();
    verify(&["--qr", path(&png), path(&token_2)]).assert().code(8).stderr(contains("the QR code belongs to another token"));
    // A checkpoint whose size was changed no longer carries a valid log signature.
    let mut tampered = pointer.clone();
    let mut lines: Vec<String> = tampered.checkpoint.lines().map(str::to_string).collect();
    lines[1] = (lines[1].parse::<u64>().unwrap() + 1).to_string();
    tampered.checkpoint = lines.join("\n") + "\n";
    verify(&["--qr", &encode_pointer(&tampered), path(&token)]).assert().code(8).stderr(contains("checkpoint signature does not verify"));
    // The old unsigned form is refused with the supported form named.
    verify(&["--qr", "comity:1:de.bafa/DE-2026-004211:v1:ab:o:1:cd", path(&token)]).assert().code(3).stderr(contains("this verifier reads `comity:2:`"));

    // (c) Against the node after the revocation: the later decision, loudly, and exit 20 + REVOKED.
    verify(&["--qr", path(&png)])
        .assert()
        .code(20 + pb::Verdict::Revoked as i32)
        .stdout(contains("1 LATER DECISION(S) after the code's head v1"))
        .stdout(contains("v2 REVOKE"))
        .stdout(contains("REVOKED"));

    // (d) The web page: the uploaded PNG alone, the pasted text, and the PNG with another token.
    let png_bytes = std::fs::read(&png).unwrap();
    let (status, page) = post_form(http, &[("qr_file", &png_bytes)]).await;
    assert!(status.contains("200"), "{status} {page}");
    assert!(page.contains("data-code-head=\"outdated\"") && page.contains("1 later decision(s) after the code") && page.contains("v2 REVOKE"), "{page}");
    assert!(page.contains("data-verdict=\"REVOKED\""), "{page}");
    let (_, page) = post_form(http, &[("qr_text", text.as_bytes())]).await;
    assert!(page.contains("data-code-head=\"outdated\""), "{page}");
    let (status, page) = post_form(http, &[("qr_file", &png_bytes), ("token_file", &std::fs::read(&token_2).unwrap())]).await;
    assert!(status.contains("400") && page.contains("belongs to another token"), "{status} {page}");
    let (status, page) = post_form(http, &[("qr_text", encode_pointer(&tampered).as_bytes())]).await;
    assert!(status.contains("400") && page.contains("checkpoint signature does not verify"), "{status} {page}");
    let (status, page) = post_form(http, &[("qr_file", b"not an image")]).await;
    assert!(status.contains("400") && page.contains("neither a PNG image"), "{status} {page}");
}
