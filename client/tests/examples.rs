//! The authoring examples parse, convert and pass the decision checks, and chain as documented.

use std::path::PathBuf;

use comity_client::read_decision_doc;
use comity_proto::decision::CheckedDecision;
use comity_proto::rules::LicenceState;
use comity_proto::statement::StatementId;
use prost::Message;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

#[test]
fn examples_chain_grant_amend_suspend() {
    let mut state: Option<LicenceState> = None;
    for (version, name) in [(1, "grant.yaml"), (2, "amend.yaml"), (3, "suspend.yaml")] {
        let doc = read_decision_doc(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(doc.version, None, "{name} leaves version to `comity publish`");
        let mut wire = doc.to_wire().unwrap();
        wire.version = version;
        if let Some(s) = &state {
            wire.previous = s.head.0.to_vec();
        }
        let checked = CheckedDecision::try_from(wire.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let id = StatementId::of(&wire.encode_to_vec());
        state = Some(match &state {
            None => LicenceState::start(id, &checked).unwrap(),
            Some(s) => s.apply(id, &checked).unwrap_or_else(|e| panic!("{name}: {e}")),
        });
    }
    assert_eq!(state.unwrap().status, comity_proto::rules::Status::Suspended);
}

#[test]
fn deny_example_is_a_complete_denial() {
    let doc = read_decision_doc(&example("deny.json")).unwrap();
    let checked = CheckedDecision::try_from(doc.to_wire().unwrap()).unwrap();
    assert_eq!(checked.action(), comity_proto::pb::Action::Deny);
    assert!(!checked.decision().reasons.is_empty());
}
