//! Registry.Watch: events from every log a node holds, filtered, resumable exactly (no event
//! missed, none repeated) across disconnects and node restarts; a slow watcher holds no one up.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cli::comity;
use assert_cmd::Command;
use comity_client::{Client, Events};
use comity_proto::decision::fixtures::{follow_up, grant, DECIDED};
use comity_proto::pb::{self, Action, LicenceStatus, WatchEventKind as K};
use comity_proto::statement::{sign_statement, StatementId};
use comity_tests::{bin_path, eventually, NodeProcess, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const WAIT: Duration = Duration::from_secs(20);

/// Events up to the next CAUGHT_UP marker, and the marker's cursor.
async fn until_caught_up(events: &mut Events) -> (Vec<pb::WatchEvent>, String) {
    let mut out = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, events.next()).await.expect("an event in time").expect("stream ok").expect("stream open");
        if event.kind == K::CaughtUp as i32 {
            return (out, event.cursor);
        }
        out.push(event);
    }
}

/// The next `n` events (markers skipped).
async fn take(events: &mut Events, n: usize) -> Vec<pb::WatchEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        let event = tokio::time::timeout(WAIT, events.next()).await.expect("an event in time").expect("stream ok").expect("stream open");
        if event.kind != K::CaughtUp as i32 {
            out.push(event);
        }
    }
    out
}

fn watch_from(cursor: &str) -> pb::WatchRequest {
    pb::WatchRequest { cursor: cursor.into(), from_start: cursor.is_empty(), ..Default::default() }
}

fn places(events: &[pb::WatchEvent]) -> Vec<(String, u64)> {
    events.iter().map(|e| (e.origin.clone(), e.index)).collect()
}

/// Every entry of every log exactly once, each log in index order.
fn assert_each_entry_once(events: &[pb::WatchEvent], sizes: &BTreeMap<String, u64>) {
    let mut per_log: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in events {
        per_log.entry(e.origin.clone()).or_default().push(e.index);
    }
    for (origin, size) in sizes {
        let expected: Vec<u64> = (0..*size).collect();
        assert_eq!(per_log.remove(origin).unwrap_or_default(), expected, "entries of {origin}");
    }
    assert!(per_log.is_empty(), "events of unknown logs: {per_log:?}");
}

/// A BAFA licence, suspended or revoked after its grant when `then` says so.
async fn publish_licence(node: &TestNode, at: &mut Client, licence: &str, then: Option<Action>) -> StatementId {
    let g = grant(BAFA, licence);
    let first = StatementId::from_slice(&at.publish(node.sign(g.clone())).await.unwrap().statement_id).unwrap();
    match then {
        None => first,
        Some(action) => StatementId::from_slice(&at.publish(node.sign(follow_up(&g, action, 2, first.0))).await.unwrap().statement_id).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_exactly_across_disconnects_and_restarts() {
    // Streams outlive the per-request deadline (1 s here): a watch lasts as long as the watcher.
    let a = TestNode::start_with(&[BAFA], |c| {
        c.origin = "registry.bafa.example/log".into();
        c.limits.request_timeout_secs = 1;
    })
    .await;
    let mut b = TestNode::start_mirror_of(&a, "bafa", &[METI], "registry.meti.example/log", |c| c.limits.request_timeout_secs = 1).await;
    let (mut at_a, mut at_b) = (a.client().await, b.client().await);
    for i in 0..6 {
        let then = [None, Some(Action::Suspend), Some(Action::Revoke)][i % 3];
        publish_licence(&a, &mut at_a, &format!("DE-2026-W{i:04}"), then).await;
    }
    at_b.publish(b.sign(grant(METI, "JP-METI-2026-W0001"))).await.unwrap();
    let a_size = a.node().registry().store().log("registry.bafa.example/log").size().unwrap();
    eventually(WAIT, "B mirrors A", || async { (b.node().mirror_status("bafa")?.size == a_size).then_some(()) }).await;
    let sizes = |b: &TestNode| -> BTreeMap<String, u64> {
        let store = b.node().registry().store();
        store.log_sizes().unwrap().into_iter().collect()
    };

    // The whole history, uninterrupted.
    let mut full_stream = at_b.watch(watch_from("")).await.unwrap();
    let (full, end) = until_caught_up(&mut full_stream).await;
    assert_each_entry_once(&full, &sizes(&b));
    // Each decision says what it did to its licence.
    let revoke = full.iter().find(|e| e.licence_id == "DE-2026-W0002" && e.version == 2).unwrap();
    assert_eq!((K::try_from(revoke.kind).unwrap(), revoke.action), (K::Revocation, Action::Revoke as i32));
    assert_eq!((revoke.status_before, revoke.status_after), (LicenceStatus::Issued as i32, LicenceStatus::Revoked as i32));
    let suspend = full.iter().find(|e| e.licence_id == "DE-2026-W0001" && e.version == 2).unwrap();
    assert_eq!(K::try_from(suspend.kind).unwrap(), K::StateChange);
    let first = full.iter().find(|e| e.licence_id == "DE-2026-W0000").unwrap();
    assert_eq!((K::try_from(first.kind).unwrap(), first.status_before, first.status_after), (K::StateChange, 0, LicenceStatus::Issued as i32));
    assert!(first.logged_at > 0 && first.origin == "registry.bafa.example/log");

    // Disconnect after 4 events and come back with the 4th's cursor: the rest, exactly.
    let mut broken = at_b.watch(watch_from("")).await.unwrap();
    let head = take(&mut broken, 4).await;
    drop(broken);
    let mut resumed = at_b.watch(watch_from(&head[3].cursor)).await.unwrap();
    let (tail, tail_end) = until_caught_up(&mut resumed).await;
    let joined: Vec<_> = head.iter().chain(&tail).cloned().collect();
    assert_eq!(places(&joined), places(&full), "resumed stream = uninterrupted stream");
    assert_eq!(tail_end, end);

    // Live: a decision published at A reaches B's watcher through the mirror.
    let live_id = publish_licence(&a, &mut at_a, "DE-2026-W0100", None).await;
    let live = take(&mut full_stream, 1).await.remove(0);
    assert_eq!((live.licence_id.as_str(), live.statement_id.as_slice()), ("DE-2026-W0100", live_id.0.as_slice()));

    // Restart B, with more published at A while it is down: the cursor resumes exactly.
    drop(full_stream);
    let before_restart = live.cursor.clone();
    b.stop().await;
    for i in 101..104 {
        publish_licence(&a, &mut at_a, &format!("DE-2026-W{i:04}"), None).await;
    }
    b.start_again().await.unwrap();
    let a_size = a.node().registry().store().log("registry.bafa.example/log").size().unwrap();
    eventually(WAIT, "B catches up after its restart", || async { (b.node().mirror_status("bafa")?.size == a_size).then_some(()) }).await;
    let mut after = b.client().await.watch(watch_from(&before_restart)).await.unwrap();
    let (rest, _) = until_caught_up(&mut after).await;
    let all: Vec<_> = full.iter().chain(std::iter::once(&live)).chain(&rest).cloned().collect();
    assert_each_entry_once(&all, &sizes(&b));
    assert_eq!(rest.iter().map(|e| e.licence_id.as_str()).collect::<Vec<_>>(), ["DE-2026-W0101", "DE-2026-W0102", "DE-2026-W0103"]);

    // A live-only watch starts at the end and says where that is.
    let mut live_only = b.client().await.watch(pb::WatchRequest::default()).await.unwrap();
    let (nothing, now_cursor) = until_caught_up(&mut live_only).await;
    assert!(nothing.is_empty());
    assert_eq!(now_cursor, rest.last().unwrap().cursor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_by_authority_licence_party_destination_code_and_kind() {
    let node = TestNode::start(&[BAFA, METI]).await;
    let mut at = node.client().await;
    publish_licence(&node, &mut at, "DE-2026-F0001", Some(Action::Suspend)).await;
    let mut other = grant(METI, "JP-METI-2026-F0001");
    other.applicant.as_mut().unwrap().name = "Nagoya Precision K.K.".into();
    other.destinations = vec!["KR".into()];
    other.items[0].control_code = "5A002.a".into();
    let first = StatementId::from_slice(&at.publish(node.sign(other.clone())).await.unwrap().statement_id).unwrap();
    at.publish(node.sign(follow_up(&other, Action::Revoke, 2, first.0))).await.unwrap();
    let agreement = pb::Statement {
        kind: Some(pb::statement::Kind::Agreement(pb::RecognitionAgreement {
            relying_authority: METI.into(),
            recognised_authority: BAFA.into(),
            version: 1,
            agreement_id: "eu-du-2026".into(),
            control_code_patterns: vec!["EU-DU:3A001.*".into()],
            issued_at: DECIDED,
            ..Default::default()
        })),
    };
    at.publish(sign_statement(&agreement, &[&node.signer(METI)])).await.unwrap();
    // A fork: a second, different version 1 of a licence becomes evidence.
    let fork = grant(BAFA, "DE-2026-F0002");
    at.publish(node.sign(fork.clone())).await.unwrap();
    let mut twin = fork;
    twin.note = "issued twice".into();
    assert!(at.publish(node.sign(twin)).await.is_err());

    let seen = |filter: pb::WatchFilter| {
        let mut c = at.clone();
        async move {
            let mut events = c.watch(pb::WatchRequest { filter: Some(filter), from_start: true, ..Default::default() }).await.unwrap();
            let (events, _) = until_caught_up(&mut events).await;
            events
                .iter()
                .map(|e| {
                    format!(
                        "{} {}/{} v{}",
                        K::try_from(e.kind).unwrap().as_str_name().trim_start_matches("WATCH_EVENT_KIND_"),
                        e.authority,
                        e.licence_id,
                        e.version
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let f = |edit: fn(&mut pb::WatchFilter)| {
        let mut filter = pb::WatchFilter::default();
        edit(&mut filter);
        filter
    };
    assert_eq!(
        seen(f(|f| f.authority = BAFA.into())).await,
        [
            "STATE_CHANGE de.bafa/DE-2026-F0001 v1",
            "STATE_CHANGE de.bafa/DE-2026-F0001 v2",
            "AGREEMENT jp.meti/ v0",
            "STATE_CHANGE de.bafa/DE-2026-F0002 v1",
            "EVIDENCE de.bafa/DE-2026-F0002 v1",
        ],
        "the recognised authority sees the agreement"
    );
    assert_eq!(
        seen(f(|f| {
            f.authority = BAFA.into();
            f.licence_id = "DE-2026-F0002".into();
        }))
        .await,
        ["STATE_CHANGE de.bafa/DE-2026-F0002 v1", "EVIDENCE de.bafa/DE-2026-F0002 v1"]
    );
    assert_eq!(seen(f(|f| f.party = "nagoya".into())).await, ["STATE_CHANGE jp.meti/JP-METI-2026-F0001 v1", "REVOCATION jp.meti/JP-METI-2026-F0001 v2"]);
    assert_eq!(seen(f(|f| f.destination = "KR".into())).await, seen(f(|f| f.control_code = "5A002".into())).await);
    assert_eq!(
        seen(f(|f| f.control_code = "EU-DU:3A001".into())).await,
        ["STATE_CHANGE de.bafa/DE-2026-F0001 v1", "STATE_CHANGE de.bafa/DE-2026-F0001 v2", "STATE_CHANGE de.bafa/DE-2026-F0002 v1"]
    );
    assert_eq!(seen(f(|f| f.kinds = vec![K::Revocation as i32])).await, ["REVOCATION jp.meti/JP-METI-2026-F0001 v2"]);
    assert_eq!(seen(f(|f| f.kinds = vec![K::Evidence as i32, K::Agreement as i32])).await, ["AGREEMENT jp.meti/ v0", "EVIDENCE de.bafa/DE-2026-F0002 v1"]);

    // Bad filters and cursors are refused with the field named, before anything is streamed.
    for (request, why) in [
        (pb::WatchRequest { filter: Some(f(|f| f.destination = "Japan".into())), ..Default::default() }, "filter.destination"),
        (pb::WatchRequest { filter: Some(f(|f| f.licence_id = "DE-2026-F0001".into())), ..Default::default() }, "needs filter.authority"),
        (pb::WatchRequest { filter: Some(f(|f| f.kinds = vec![K::CaughtUp as i32])), ..Default::default() }, "filter.kinds"),
        (pb::WatchRequest { cursor: "registry.bafa.example/log".into(), ..Default::default() }, "cursor"),
    ] {
        let err = match at.watch(request).await {
            Err(comity_client::ClientError::Status(s)) => s,
            other => panic!("{why}: expected a refusal, got {:?}", other.map(|_| ())),
        };
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{why}");
        assert!(err.message().contains(why), "{why}: {}", err.message());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_stops_reading_holds_up_no_one_and_then_catches_up() {
    let node = TestNode::start_with(&[BAFA], |c| c.limits.max_watch_streams = 2).await;
    let at = node.client().await;
    let mut stalled = at.clone().watch(watch_from("")).await.unwrap();
    // 600 publishes complete while the watcher reads nothing (its buffer holds 32 events).
    let envelopes: Vec<Vec<u8>> = (0..600).map(|i| node.sign(grant(BAFA, &format!("DE-2026-S{i:05}")))).collect();
    comity_tests::publish_concurrently(at.clone(), envelopes, 64).await;
    // Beyond the configured number of streams, a Watch is refused at once.
    let _second = at.clone().watch(watch_from("")).await.unwrap();
    match at.clone().watch(watch_from("")).await {
        Err(comity_client::ClientError::Status(s)) => assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{}", s.message()),
        other => panic!("third stream should be refused, got {:?}", other.map(|_| ())),
    }
    // Reading again, it gets every entry once, in log order, and then nothing more.
    let events = take(&mut stalled, 600).await;
    assert!(events.iter().enumerate().all(|(i, e)| e.index == i as u64));
    let (more, _) = until_caught_up(&mut stalled).await;
    assert!(more.is_empty(), "{} events after the last entry", more.len());
}

fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn the_cli_follows_and_resumes_with_a_cursor_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    Command::new(bin_path("comity-node")).args(["init", "--data-dir"]).arg(&data).args(["--authority", "de.bafa=BAFA"]).assert().success();
    let node = NodeProcess::spawn(&["--data-dir", data.to_str().unwrap()], &tmp.path().join("node.log"));
    let url = node.url().to_string();
    let key = comity_proto::keyfile::KeyFile::read(&data.join("keys/de.bafa.key")).unwrap().signer().unwrap();
    let publish = |licence: &str| {
        let envelope = comity_proto::statement::sign_decision(grant(BAFA, licence), &key);
        tokio::runtime::Runtime::new().unwrap().block_on(async { Client::connect(&url).await.unwrap().publish(envelope).await.unwrap() });
    };
    for i in 0..5 {
        publish(&format!("DE-2026-C{i:04}"));
    }
    let cursor_file = tmp.path().join("watch.cursor");
    let run = |extra: &[&str]| -> Vec<serde_json::Value> {
        let out = comity(&url).args(["--json", "watch", "--cursor-file"]).arg(&cursor_file).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        json_lines(&out.stdout)
    };
    let first = run(&["--count", "2"]);
    assert_eq!(first.len(), 2);
    publish("DE-2026-C0005");
    let second = run(&["--until-caught-up"]);
    assert_eq!(second.last().unwrap()["kind"], "CAUGHT_UP");
    let licences: Vec<&str> = first.iter().chain(&second).filter_map(|e| e["licence"].as_str()).collect();
    let expected: Vec<String> = (0..6).map(|i| format!("de.bafa/DE-2026-C{i:04}")).collect();
    assert_eq!(licences, expected, "each event once, across two runs");
    assert_eq!(std::fs::read_to_string(&cursor_file).unwrap(), second.last().unwrap()["cursor"].as_str().unwrap());

    // Human output names the licence, the action and the change of state.
    let out = comity(&url).args(["watch", "--from-start", "--until-caught-up", "--licence", "de.bafa/DE-2026-C0003"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("STATE_CHANGE  de.bafa/DE-2026-C0003 v1 GRANT  - -> ISSUED"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    // Bad input is refused with the reason, exit code 3 (INVALID_ARGUMENT).
    comity(&url).args(["watch", "--from", "not-a-cursor"]).assert().code(3).stderr(predicates::str::contains("cursor"));
}
