//! Control lists and crosswalks on the web (#22 part 1): a list in two versions, a crosswalk
//! and a licence published over gRPC, then browsed over HTTP as `comity list ls`, `comity list
//! show` and `comity code` show them: the lists held, a version's entries and changes, a code
//! in every list and through the crosswalk with the licence under it, and the JSON API.

use comity_proto::decision::fixtures::grant;
use comity_proto::pb;
use comity_proto::statement::{sign_statement, Envelope};
use comity_tests::{http_get, TestNode};

const BAFA: &str = "de.bafa";
const LICENCE: &str = "DE-2026-004211";
const DAY: i64 = 86_400;
/// Escaped on every page: a title is the publisher's text, not markup.
const TITLE: &str = "Annex I to Regulation (EU) 2021/821 <test extract> & review";
const NOTE: &str = "sunset review 2026: no longer controlled";

async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let path = path.to_string();
    let (status, body) = tokio::task::spawn_blocking(move || http_get(addr, &path)).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn entry(code: &str, parent: &str, title: &str, unit: &str) -> pb::ControlEntry {
    pb::ControlEntry { code: code.into(), parent: parent.into(), title: title.into(), unit: unit.into() }
}

/// The part of `page` from `start` to the next `end` (panics when `start` is missing).
fn part<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page.find(start).unwrap_or_else(|| panic!("`{start}` is not on the page:\n{page}"));
    let rest = &page[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_crosswalks_and_codes_are_shown_as_the_cli_shows_them() {
    let node = TestNode::start(&[BAFA]).await;
    let http = node.node().http_addr().expect("the HTTP port is on");
    let mut client = node.client().await;
    let signer = node.signer(BAFA);
    let sign = |kind: pb::statement::Kind| sign_statement(&pb::Statement { kind: Some(kind) }, &[&signer]);
    let now = node.clock().now();

    // BAFA's Annex I extract, then a review that removes 3A001.f, and a crosswalk.
    let v1 = pb::ControlList {
        authority: BAFA.into(),
        regime: pb::Regime::EuDualUse as i32,
        version: 1,
        previous: vec![],
        title: TITLE.into(),
        categories: vec!["3".into()],
        valid_from: now - 60 * DAY,
        entries: vec![
            entry("3A001", "", "Electronic items", ""),
            entry("3A001.a", "3A001", "General purpose integrated circuits", ""),
            entry("3A001.a.1", "3A001.a", "Radiation-hardened integrated circuits", "pcs"),
            entry("3A001.f", "3A001", "Rotary position encoders", ""),
        ],
        changes: vec![],
        issued_at: now - 60 * DAY,
    };
    let v1_id = client.publish(sign(pb::statement::Kind::ControlList(v1.clone()))).await.expect("v1 published").statement_id;
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.previous = v1_id.clone();
    v2.valid_from = now - 10 * DAY;
    v2.issued_at = v2.valid_from;
    v2.entries.retain(|e| e.code != "3A001.f");
    v2.changes = vec![pb::ControlChange { kind: pb::control_change::Kind::Removed as i32, code: "3A001.f".into(), note: NOTE.into() }];
    let v2_id = client.publish(sign(pb::statement::Kind::ControlList(v2))).await.expect("v2 published").statement_id;
    let crosswalk = pb::Crosswalk {
        authority: BAFA.into(),
        crosswalk_id: "wa-eu".into(),
        version: 1,
        title: "Wassenaar numbers against Annex I (test extract)".into(),
        equivalences: vec![pb::Equivalence { codes: vec!["WA:3.A.1.a.1".into(), "EU-DU:3A001.a.1".into()], note: "same scope".into() }],
        issued_at: now,
    };
    client.publish(sign(pb::statement::Kind::Crosswalk(crosswalk))).await.expect("crosswalk published");
    // A licence for EU-DU:3A001.a.1.
    let licence = grant(BAFA, LICENCE);
    assert_eq!((licence.items[0].regime, licence.items[0].control_code.as_str()), (pb::Regime::EuDualUse as i32, "3A001.a.1"));
    client.publish(node.sign(licence)).await.expect("licence published");

    // Every list and crosswalk held, linked from the navigation, with the lookup form.
    let (status, lists) = get(http, "/lists").await;
    assert!(status.contains("200"), "{status} {lists}");
    assert!(lists.contains("<a href=\"/lists\">Control lists</a>"), "in the navigation: {lists}");
    let row = part(&lists, "data-list=\"de.bafa/EU-DU\"", "</tr>");
    assert!(row.contains("href=\"/lists/de.bafa/EU-DU\"") && row.contains(">EU-DU</a>"), "{row}");
    assert!(row.contains("<td>2</td>") && row.contains("<td>3</td>"), "latest version 2, 3 entries: {row}");
    assert!(row.contains("&lt;test extract&gt; &amp; review") && !lists.contains("<test extract>"), "the title, escaped: {row}");
    let row = part(&lists, "data-crosswalk=\"de.bafa/wa-eu\"", "</tr>");
    assert!(row.contains("de.bafa/wa-eu") && row.contains("<td>1</td>") && row.contains("Wassenaar numbers against Annex I"), "{row}");
    assert!(lists.contains("action=\"/code\"") && lists.contains("name=\"code\""), "a lookup form: {lists}");

    // The latest version: its header, the REMOVED change with its note, the tree of entries.
    let (status, latest) = get(http, "/lists/de.bafa/EU-DU").await;
    assert!(status.contains("200"), "{status} {latest}");
    assert!(latest.contains("<h1>de.bafa's EU-DU list, version 2</h1>") && latest.contains("(the latest held)"), "{latest}");
    assert!(latest.contains(&hex::encode(&v2_id)) && latest.contains(&hex::encode(&v1_id)), "its statement id and the one it replaces: {latest}");
    let changes = part(&latest, "<table class=\"changes\">", "</table>");
    let removed = part(changes, "data-change=\"REMOVED\"", "</tr>");
    assert!(removed.contains("REMOVED") && removed.contains("3A001.f") && removed.contains(NOTE), "{changes}");
    assert!(removed.contains("href=\"/lists/de.bafa/EU-DU?version=1#entry-3A001.f\""), "the removed entry, in the version before: {removed}");
    let entries = part(&latest, "<table class=\"tree\">", "</table>");
    assert!(!entries.contains("3A001.f"), "3A001.f is no longer listed: {entries}");
    let order: Vec<&str> = entries.split("data-code=\"").skip(1).map(|r| &r[..r.find('"').unwrap()]).collect();
    assert_eq!(order, ["3A001", "3A001.a", "3A001.a.1"]);
    let leaf = part(entries, "id=\"entry-3A001.a.1\"", "</tr>");
    assert!(leaf.contains("data-depth=\"2\"") && leaf.contains("Radiation-hardened integrated circuits") && leaf.contains("<td>pcs</td>"), "{leaf}");
    assert!(leaf.contains("href=\"/code?code=EU-DU:3A001.a.1\""), "each entry looks its code up: {leaf}");
    assert!(latest.contains("href=\"/lists/de.bafa/EU-DU?version=1\""), "a link to the other version: {latest}");

    // Version 1: 3A001.f listed, no changes, replaced by version 2.
    let (status, first) = get(http, "/lists/de.bafa/EU-DU?version=1").await;
    assert!(status.contains("200"), "{status} {first}");
    assert!(first.contains("<h1>de.bafa's EU-DU list, version 1</h1>") && !first.contains("data-change="), "{first}");
    let encoders = part(&first, "id=\"entry-3A001.f\"", "</tr>");
    assert!(encoders.contains("data-depth=\"1\"") && encoders.contains("Rotary position encoders"), "{encoders}");
    assert!(first.contains("(replaced by <a href=\"/lists/de.bafa/EU-DU?version=2\">version 2</a>)"), "{first}");

    // A Wassenaar code: its Annex I equivalent listed under its enclosing entries, the
    // equivalence, and the licence found under the equivalent.
    let (status, wa) = get(http, "/code?code=WA:3.A.1.a.1").await;
    assert!(status.contains("200"), "{status} {wa}");
    let equivalent = part(&wa, "data-code=\"EU-DU:3A001.a.1\"", "</ol>");
    assert!(equivalent.contains("(equivalent)") && equivalent.contains("data-listed=\"yes\"") && equivalent.contains("LISTED"), "{equivalent}");
    for under in ["Electronic items", "General purpose integrated circuits", "Radiation-hardened integrated circuits"] {
        assert!(equivalent.contains(under), "{under}: {equivalent}");
    }
    assert!(equivalent.contains("href=\"/lists/de.bafa/EU-DU?part=3&amp;version=2\""), "the version in force: {equivalent}");
    let mapping = part(&wa, "<table class=\"equivalences\">", "</table>");
    assert!(mapping.contains("WA:3.A.1.a.1") && mapping.contains("EU-DU:3A001.a.1") && mapping.contains("de.bafa/wa-eu version 1"), "{mapping}");
    assert!(mapping.contains("same scope"), "{mapping}");
    let licences = part(&wa, "<table class=\"licences\">", "</table>");
    assert!(licences.contains(&format!("href=\"/licences/{BAFA}/{LICENCE}\"")) && licences.contains("EU-DU:3A001.a.1"), "{licences}");
    // No Wassenaar list is held: the page says so rather than NOT LISTED.
    let asked = part(&wa, "data-code=\"WA:3.A.1.a.1\"", "</div>");
    assert!(asked.contains("No list held here covers this code") && !asked.contains("NOT LISTED"), "{asked}");

    // A removed code: NOT LISTED with the reason now, listed in version 1 before the review.
    let (status, removed) = get(http, "/code?code=EU-DU:3A001.f").await;
    assert!(status.contains("200"), "{status} {removed}");
    let reason = part(&removed, "data-listed=\"no\"", "</div>");
    assert!(reason.contains("NOT LISTED") && reason.contains("removed in version 2") && reason.contains(NOTE), "{reason}");
    assert!(removed.contains("No licence held here names EU-DU:3A001.f"), "{removed}");
    let before = comity_proto::authoring::format_time(now - 30 * DAY);
    let (status, then) = get(http, &format!("/code?code=EU-DU:3A001.f&at={}", &before[..10])).await;
    assert!(status.contains("200"), "{status} {then}");
    assert!(then.contains("data-listed=\"yes\"") && then.contains("Rotary position encoders") && !then.contains("NOT LISTED"), "{then}");

    // Refusals: an unqualified code (the form kept as typed), a list or version not held.
    let (status, bare) = get(http, "/code?code=3A001").await;
    assert!(status.contains("400"), "{status} {bare}");
    assert!(bare.contains("Please check what you entered") && bare.contains("not a qualified code like EU-DU:3A001.a.1"), "{bare}");
    assert!(bare.contains("value=\"3A001\""), "{bare}");
    let (status, bad_date) = get(http, "/code?code=EU-DU:3A001&at=yesterday").await;
    assert!(status.contains("400") && bad_date.contains("not a YYYY-MM-DD date"), "{status} {bad_date}");
    for (path, says) in [
        ("/lists/de.bafa/EAR", "this node holds no EAR list published by de.bafa"),
        ("/lists/us.bis/EU-DU", "this node holds no EU-DU list published by us.bis"),
        ("/lists/de.bafa/EU-DU?version=3", "this node holds no version 3 of de.bafa's EU-DU list: it holds versions 1 to 2"),
        ("/lists/de.bafa/XYZ", "`XYZ` is not a regime prefix"),
    ] {
        let (status, page) = get(http, path).await;
        assert!(status.contains("404"), "{path}: {status} {page}");
        assert!(page.contains("Not found") && page.contains(&maud::html! { (says) }.into_string()), "{path}: {page}");
    }
    let (status, page) = get(http, "/lists/de.bafa/EU-DU?version=two").await;
    assert!(status.contains("400") && page.contains("is not a version number"), "{status} {page}");

    // JSON: LookupControlCode and ListControlLists as gRPC answers them, in proto3 JSON.
    let (status, body) = get(http, "/api/v1/code?code=EU-DU:3A001.a.1").await;
    assert!(status.contains("200"), "{status} {body}");
    let over_http: pb::LookupControlCodeResponse = serde_json::from_str(&body).expect("canonical JSON of LookupControlCodeResponse");
    assert_eq!(over_http, client.lookup_control_code("EU-DU:3A001.a.1", 0).await.unwrap());
    let mapping = &over_http.mappings[0];
    assert_eq!(
        (mapping.from.as_str(), mapping.to.as_str(), mapping.crosswalk.as_str(), mapping.crosswalk_version),
        ("EU-DU:3A001.a.1", "WA:3.A.1.a.1", "de.bafa/wa-eu", 1)
    );
    let path: Vec<&str> = over_http.listed[0].path.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(path, ["3A001", "3A001.a", "3A001.a.1"]);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["mappings"][0]["crosswalkVersion"], "1", "lowerCamelCase, 64-bit integers as strings: {json}");
    let (status, body) = get(http, "/api/v1/code?control_code=3A001").await;
    assert!(status.contains("400"), "{status} {body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "INVALID_ARGUMENT");
    assert!(error["error"]["message"].as_str().unwrap().contains("not a qualified code"), "{error}");
    let (status, body) = get(http, "/api/v1/code?code=EU-DU:3A001&colour=red").await;
    assert!(status.contains("400") && body.contains("colour"), "{status} {body}");
    let (status, body) = get(http, "/api/v1/lists?all_versions=true").await;
    assert!(status.contains("200"), "{status} {body}");
    let held: pb::ListControlListsResponse = serde_json::from_str(&body).expect("canonical JSON of ListControlListsResponse");
    let ids = |all: &[Vec<u8>]| all.iter().map(|e| Envelope::parse(e.clone()).unwrap().id().0.to_vec()).collect::<Vec<_>>();
    assert_eq!(ids(&held.lists), [v1_id.clone(), v2_id.clone()]);
    assert_eq!(held.crosswalks.len(), 1);
    let (_, body) = get(http, "/api/v1/lists").await;
    let latest: pb::ListControlListsResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(ids(&latest.lists), [v2_id]);
}
