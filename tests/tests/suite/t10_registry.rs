//! Registry service against a real node on port 0: publish, read, search, every status code.

use comity_client::{Client, ClientError};
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::pb::{self, Action, LicenceStatus};
use comity_proto::statement::{sign_statement, Signer, StatementId};
use comity_tests::TestNode;
use prost::Message;
use tonic::Code;

const BAFA: &str = "de.bafa";
const DAY: i64 = 86_400;

fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (Code, String) {
    match result {
        Err(ClientError::Status(s)) => (s.code(), s.message().to_string()),
        other => panic!("expected a status from the node, got {other:?}"),
    }
}

/// Publishes `decisions` in order as one chain, linking each to the previous; returns ids.
async fn publish_chain(node: &TestNode, client: &mut Client, decisions: Vec<pb::Decision>) -> Vec<StatementId> {
    let mut ids: Vec<StatementId> = Vec::new();
    for mut d in decisions {
        if let Some(prev) = ids.last() {
            d.previous = prev.0.to_vec();
        }
        let response = client.publish(node.sign(d)).await.expect("publish accepted");
        ids.push(StatementId::from_slice(&response.statement_id).unwrap());
    }
    ids
}

fn chain_of(actions: &[Action], licence_id: &str) -> Vec<pb::Decision> {
    let base = grant(BAFA, licence_id);
    actions.iter().enumerate().map(|(i, &a)| if i == 0 { base.clone() } else { follow_up(&base, a, i as u64 + 1, [0; 32]) }).collect()
}

#[tokio::test]
async fn publish_then_read_a_whole_licence_history() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    let actions = [Action::Grant, Action::Amend, Action::Suspend, Action::Reinstate, Action::Extend, Action::Revoke];
    let ids = publish_chain(&node, &mut client, chain_of(&actions, "DE-2026-000123")).await;

    let licence = client.licence(BAFA, "DE-2026-000123").await.unwrap();
    assert_eq!(licence.summary.status, LicenceStatus::Revoked as i32);
    assert_eq!(licence.summary.version, 6);
    assert_eq!(licence.chain.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
    let chain_actions: Vec<i32> = licence.chain.iter().map(|(_, d)| d.action).collect();
    assert_eq!(chain_actions, actions.iter().map(|a| *a as i32).collect::<Vec<_>>());

    // Every statement is retrievable by id, byte for byte.
    for id in &ids {
        assert_eq!(client.statement(*id).await.unwrap().id(), *id);
    }
}

#[tokio::test]
async fn republishing_the_same_envelope_is_idempotent() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    let envelope = node.sign(grant(BAFA, "DE-2026-000200"));
    let first = client.publish(envelope.clone()).await.unwrap();
    let again = client.publish(envelope).await.unwrap();
    assert!(!first.already_present);
    assert!(again.already_present);
    assert_eq!(first.statement_id, again.statement_id);
    assert_eq!(node.node().registry().store().statement_count(), 1);
}

#[tokio::test]
async fn malformed_input_is_invalid_argument_and_changes_nothing() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;

    let (c, m) = code(client.publish(b"not an envelope".to_vec()).await);
    assert_eq!(c, Code::InvalidArgument, "{m}");

    // One flipped bit in the signature.
    let mut tampered = node.sign(grant(BAFA, "DE-2026-000300"));
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let (c, m) = code(client.publish(tampered).await);
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.contains("does not verify"), "{m}");

    // A field error names the field.
    let mut bad = grant(BAFA, "DE-2026-000301");
    bad.destinations = vec!["UK".into()];
    let (c, m) = code(client.publish(node.sign(bad)).await);
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.contains("destinations[0]"), "{m}");

    let (c, _) = code(client.statement(StatementId([0; 32])).await);
    assert_eq!(c, Code::NotFound);
    let (c, m) = code(client.search(pb::SearchRequest { destination: "Japan".into(), ..Default::default() }).await);
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("destination"), "{m}");
    let (c, _) = code(client.search(pb::SearchRequest { page_size: 10_000, ..Default::default() }).await);
    assert_eq!(c, Code::InvalidArgument);
    let (c, _) = code(client.search(pb::SearchRequest { cursor: "zz".into(), ..Default::default() }).await);
    assert_eq!(c, Code::InvalidArgument);
    let (c, _) = code(client.licence("BAFA", "X").await);
    assert_eq!(c, Code::InvalidArgument);

    // A key set of an authority without root keys pinned in a trust file.
    let key_set = pb::Statement { kind: Some(pb::statement::Kind::KeySet(pb::KeySet { authority: BAFA.into(), version: 1, ..Default::default() })) };
    let (c, m) = code(client.publish(sign_statement(&key_set, &[&node.signer(BAFA)])).await);
    assert_eq!(c, Code::PermissionDenied);
    assert!(m.contains("no root keys"), "{m}");

    assert_eq!(node.node().registry().store().statement_count(), 0, "refused publishes must write nothing");
}

#[tokio::test]
async fn keys_and_authorities_not_accepted_here_are_permission_denied() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;

    let stranger = Signer::from_seed(&[42; 32]);
    let envelope = comity_proto::statement::sign_decision(grant(BAFA, "DE-2026-000400"), &stranger);
    let (c, m) = code(client.publish(envelope).await);
    assert_eq!(c, Code::PermissionDenied);
    assert!(m.contains(stranger.key_id()), "{m}");

    let meti = comity_proto::statement::sign_decision(grant("jp.meti", "JP-METI-2026-00001"), &stranger);
    let (c, m) = code(client.publish(meti).await);
    assert_eq!(c, Code::PermissionDenied);
    assert!(m.contains("jp.meti"), "{m}");
    assert_eq!(node.node().registry().store().statement_count(), 0);
}

#[tokio::test]
async fn licence_rule_violations_are_failed_precondition() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    let base = grant(BAFA, "DE-2026-000500");
    let ids = publish_chain(&node, &mut client, chain_of(&[Action::Grant, Action::Revoke], "DE-2026-000500")).await;

    // Amend after revoke.
    let (c, m) = code(client.publish(node.sign(follow_up(&base, Action::Amend, 3, ids[1].0))).await);
    assert_eq!(c, Code::FailedPrecondition);
    assert!(m.contains("AMEND is not allowed when the licence is REVOKED"), "{m}");
    // Version gap.
    let (c, m) = code(client.publish(node.sign(follow_up(&base, Action::AppealLodged, 5, ids[1].0))).await);
    assert_eq!(c, Code::FailedPrecondition);
    assert!(m.contains("expected 3"), "{m}");
    // Wrong previous.
    let (c, m) = code(client.publish(node.sign(follow_up(&base, Action::AppealLodged, 3, ids[0].0))).await);
    assert_eq!(c, Code::FailedPrecondition);
    assert!(m.contains("previous"), "{m}");
    // A licence must start with GRANT or DENY.
    let mut orphan = follow_up(&base, Action::Suspend, 1, [0; 32]);
    orphan.licence_id = "DE-2026-000501".into();
    orphan.previous.clear();
    let (c, _) = code(client.publish(node.sign(orphan)).await);
    assert_eq!(c, Code::FailedPrecondition);

    let (c, _) = code(client.licence(BAFA, "DE-2026-000501").await);
    assert_eq!(c, Code::NotFound);
    assert_eq!(node.node().registry().store().statement_count(), 2);
}

#[tokio::test]
async fn a_second_signed_decision_for_a_version_is_a_fork_kept_as_evidence() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    let base = grant(BAFA, "DE-2026-000600");
    let ids = publish_chain(&node, &mut client, chain_of(&[Action::Grant, Action::Amend], "DE-2026-000600")).await;

    let conflicting = node.sign(follow_up(&base, Action::Suspend, 2, ids[0].0));
    let (c, m) = code(client.publish(conflicting.clone()).await);
    assert_eq!(c, Code::FailedPrecondition);
    assert!(m.starts_with("fork"), "{m}");

    let evidence = node.node().registry().evidence().unwrap();
    assert_eq!(evidence.len(), 1);
    let first = client.statement(ids[1]).await.unwrap();
    match &evidence[0] {
        comity_node::store::Evidence::LicenceFork { version, first_envelope, second_envelope, .. } => {
            assert_eq!(*version, 2);
            assert_eq!(*second_envelope, hex::encode(&conflicting));
            assert_eq!(*first_envelope, hex::encode(first.bytes()));
        }
        other => panic!("expected a licence fork, got {other:?}"),
    }

    // The licence is untouched and the stored version 2 is still the amendment.
    let licence = client.licence(BAFA, "DE-2026-000600").await.unwrap();
    assert_eq!(licence.state.as_ref().unwrap().head, ids[1]);
    assert_eq!(licence.summary.status, LicenceStatus::Issued as i32);

    // Submitting the same conflicting decision again does not duplicate the evidence.
    let _ = client.publish(conflicting).await;
    assert_eq!(node.node().registry().evidence().unwrap().len(), 1);
}

#[tokio::test]
async fn search_filters_and_pages_without_repeats() {
    let node = TestNode::start(&[BAFA, "jp.meti"]).await;
    let mut client = node.client().await;

    let mut second_item = grant(BAFA, "DE-2026-000701");
    second_item.items.push(pb::Item { control_code: "3A001.b.2".into(), ..second_item.items[0].clone() });
    second_item.destinations = vec!["KR".into(), "JP".into()];
    second_item.applicant.as_mut().unwrap().name = "Nordwerk Präzisionstechnik GmbH".into();
    let mut expired = grant(BAFA, "DE-2024-000702");
    expired.valid_from = expired.decided_at - 800 * DAY;
    expired.valid_until = expired.decided_at - 70 * DAY;
    let mut meti = grant("jp.meti", "JP-METI-2026-01187");
    meti.items[0].regime = pb::Regime::UsEar as i32;
    meti.items[0].control_code = "5A992.c".into();
    meti.destinations = vec!["SG".into()];
    meti.end_users[0].name = "Straits Photonics Pte Ltd".into();

    publish_chain(&node, &mut client, vec![grant(BAFA, "DE-2026-000700")]).await;
    publish_chain(&node, &mut client, vec![second_item]).await;
    publish_chain(&node, &mut client, vec![expired]).await;
    publish_chain(&node, &mut client, vec![meti]).await;
    let base = grant(BAFA, "DE-2026-000703");
    publish_chain(&node, &mut client, vec![base.clone(), follow_up(&base, Action::Suspend, 2, [0; 32])]).await;

    let find = |req: pb::SearchRequest| {
        let mut client = client.clone();
        async move {
            let mut ids: Vec<String> = client.search_all(req, 100).await.unwrap().into_iter().map(|s| s.licence_id).collect();
            ids.sort();
            ids
        }
    };
    let all = find(pb::SearchRequest::default()).await;
    assert_eq!(all.len(), 5);
    assert_eq!(find(pb::SearchRequest { authority: "jp.meti".into(), ..Default::default() }).await, vec!["JP-METI-2026-01187"]);
    assert_eq!(find(pb::SearchRequest { destination: "KR".into(), ..Default::default() }).await, vec!["DE-2026-000701"]);
    assert_eq!(find(pb::SearchRequest { party: "nordwerk präzision".into(), ..Default::default() }).await, vec!["DE-2026-000701"]);
    assert_eq!(find(pb::SearchRequest { party: "straits".into(), ..Default::default() }).await, vec!["JP-METI-2026-01187"]);
    // Legal forms are not indexed, but still match (by a filtered scan), also as a prefix.
    assert_eq!(find(pb::SearchRequest { party: "gmbh".into(), ..Default::default() }).await.len(), 5);
    assert_eq!(find(pb::SearchRequest { party: "GmB".into(), ..Default::default() }).await.len(), 5);
    assert_eq!(find(pb::SearchRequest { party: "optronik gmbh".into(), ..Default::default() }).await.len(), 4);
    assert_eq!(find(pb::SearchRequest { control_code: "EAR:5A992".into(), ..Default::default() }).await, vec!["JP-METI-2026-01187"]);
    assert_eq!(find(pb::SearchRequest { control_code: "EU-DU:5A992".into(), ..Default::default() }).await, Vec::<String>::new());
    // Two matching items on one licence still give one result.
    assert_eq!(find(pb::SearchRequest { control_code: "3A001".into(), licence_id_prefix: "DE-2026-00070".into(), ..Default::default() }).await.len(), 3);
    assert_eq!(find(pb::SearchRequest { status: LicenceStatus::Expired as i32, ..Default::default() }).await, vec!["DE-2024-000702"]);
    assert_eq!(find(pb::SearchRequest { status: LicenceStatus::Suspended as i32, ..Default::default() }).await, vec!["DE-2026-000703"]);
    assert_eq!(find(pb::SearchRequest { authority: BAFA.into(), licence_id_prefix: "DE-2026".into(), ..Default::default() }).await.len(), 3);
    let suspended_at = grant(BAFA, "x").decided_at + 2 * DAY;
    assert_eq!(find(pb::SearchRequest { decided_from: suspended_at, ..Default::default() }).await, vec!["DE-2026-000703"]);
    assert_eq!(find(pb::SearchRequest { decided_until: suspended_at, ..Default::default() }).await.len(), 4);

    // Page by page with page size 2: every licence exactly once.
    let mut seen = Vec::new();
    let mut request = pb::SearchRequest { page_size: 2, ..Default::default() };
    loop {
        let page = client.search(request.clone()).await.unwrap();
        assert!(page.licences.len() <= 2);
        seen.extend(page.licences.into_iter().map(|s| s.licence_id));
        if page.next_cursor.is_empty() {
            break;
        }
        request.cursor = page.next_cursor;
    }
    seen.sort();
    assert_eq!(seen, all);

    // A cursor from one query cannot be used for another.
    let page = client.search(pb::SearchRequest { page_size: 1, ..Default::default() }).await.unwrap();
    let (c, m) = code(client.search(pb::SearchRequest { destination: "JP".into(), cursor: page.next_cursor, ..Default::default() }).await);
    assert_eq!(c, Code::InvalidArgument, "{m}");
}

#[tokio::test]
async fn concurrent_publishes_share_flushes_and_survive_restart() {
    let mut node = TestNode::start(&[BAFA]).await;
    // Eight connections of 25 in-flight publishes each: within the per-connection limit (64),
    // beyond which the node sheds load with RESOURCE_EXHAUSTED.
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(node.client().await);
    }
    let mut tasks = Vec::new();
    for i in 0..200 {
        let envelope = node.sign(grant(BAFA, &format!("DE-2026-{i:06}")));
        let mut client = clients[i % 8].clone();
        tasks.push(tokio::spawn(async move { client.publish(envelope).await }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(StatementId::from_slice(&t.await.unwrap().expect("acknowledged").statement_id).unwrap());
    }
    node.restart().await;
    let mut client = node.client().await;
    for id in &ids {
        client.statement(*id).await.expect("acknowledged statement survives restart");
    }
    let all = client.search_all(pb::SearchRequest::default(), 1000).await.unwrap();
    assert_eq!(all.len(), 200);
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    let node = TestNode::start(&[BAFA]).await;
    let channel = tonic::transport::Endpoint::from_shared(node.url()).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health.check(tonic_health::pb::HealthCheckRequest { service: "comity.v1.Registry".into() }).await.unwrap().into_inner().status;
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    let whole = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner().status;
    assert_eq!(whole, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
}

#[test]
fn descriptor_set_contains_the_registry_service() {
    let fds = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let services: Vec<&str> = fds.file.iter().flat_map(|f| f.service.iter().filter_map(|s| s.name.as_deref())).collect();
    assert!(services.contains(&"Registry"), "{services:?}");
}
