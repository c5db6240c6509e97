//! Registry.Stats (transparency reports) through real nodes: a small data set whose every figure
//! was computed by hand, the same report at a mirror (any partner holding the logs computes it),
//! a random data set recounted by brute force in the test, time windows, refused arguments, and
//! `comity stats` as CSV, JSON and a table from the real binaries.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::cli::comity;
use assert_cmd::Command;
use comity_client::{Client, ClientError};
use comity_proto::decision::fixtures::{grant, DECIDED};
use comity_proto::decision::states_terms;
use comity_proto::keyfile::KeyFile;
use comity_proto::pb::{self, Action, LicenceType, Regime};
use comity_proto::restricted::seal;
use comity_proto::rules::{transition, Status};
use comity_proto::statement::{sign_decision, sign_statement, Signer, StatementId};
use comity_tests::{bin_path, eventually, publish_concurrently, NodeProcess, TestNode};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const BAFA: &str = "de.bafa";
const SBDU: &str = "fr.sbdu";
const DAY: i64 = 86_400;
const WAIT: Duration = Duration::from_secs(30);

/// A year before the fixtures' decision time: every decision here is dated in the past (a node
/// refuses one dated after it enters the log).
const BASE: i64 = DECIDED - YEAR;
const YEAR: i64 = 365 * DAY;

/// `days` days after [`BASE`].
fn t(days: i64) -> i64 {
    BASE + days * DAY
}

/// The terms of a licence: the fixture grant in `regime` (first and only item), type and tier.
fn terms(authority: &str, licence_id: &str, regime: Regime, licence_type: LicenceType, tier: u32) -> pb::Decision {
    let mut d = grant(authority, licence_id);
    (d.valid_from, d.valid_until) = (d.valid_from - YEAR, d.valid_until - YEAR);
    d.items[0].regime = regime as i32;
    d.items[0].control_code = match regime {
        Regime::Wassenaar => "3.A.1.a.1",
        Regime::UsEar => "5A002",
        _ => "3A001.a.1",
    }
    .into();
    d.licence_type = licence_type as i32;
    d.risk_tier = tier;
    // Each authority its own end user: a grant by one of the same item to the end user the
    // other denied would be refused as an undercut (docs/consultation.md).
    if authority == SBDU {
        d.end_users[0].name = "Institut d'optique spatiale de Toulouse".into();
    }
    d
}

/// A decision of `action` on the licence with `terms`, received and decided at the given times,
/// giving `reasons`. Actions that state terms restate `terms`; version and previous are set
/// when the chain is signed.
fn decide(terms: &pb::Decision, action: Action, received: i64, decided: i64, reasons: &[&str]) -> pb::Decision {
    let mut d = if states_terms(action) {
        terms.clone()
    } else {
        pb::Decision { authority: terms.authority.clone(), licence_id: terms.licence_id.clone(), ..Default::default() }
    };
    d.action = action as i32;
    if matches!(action, Action::Deny | Action::ApplicationLodged) {
        d.valid_from = 0;
        d.valid_until = 0;
    }
    d.application_received = received;
    d.decided_at = decided;
    d.reasons = reasons
        .iter()
        .map(|code| pb::Reason { code: code.to_string(), legal_basis: "Art. 12(1) Regulation (EU) 2021/821".into(), text: "Stated in the decision".into() })
        .collect();
    d
}

/// Numbers and links a licence's decisions and signs them with `signer`.
fn sign_chain(signer: &Signer, decisions: Vec<pb::Decision>) -> Vec<Vec<u8>> {
    let mut previous: Option<StatementId> = None;
    decisions
        .into_iter()
        .enumerate()
        .map(|(i, mut d)| {
            d.version = i as u64 + 1;
            d.previous = previous.map(|p| p.0.to_vec()).unwrap_or_default();
            let envelope = sign_decision(d, signer);
            previous = Some(StatementId::of(&envelope));
            envelope
        })
        .collect()
}

/// Publishes chains round by round (every licence's version 1, then every version 2, …), each
/// round concurrently.
async fn publish_chains(client: &Client, chains: &[Vec<Vec<u8>>]) {
    let longest = chains.iter().map(Vec::len).max().unwrap_or(0);
    for version in 0..longest {
        let round: Vec<Vec<u8>> = chains.iter().filter_map(|c| c.get(version).cloned()).collect();
        publish_concurrently(client.clone(), round, 16).await;
    }
}

fn processing(count: u64, median: i64, p90: i64, max: i64) -> Option<pb::ProcessingTime> {
    Some(pb::ProcessingTime { count, median_secs: median, p90_secs: p90, max_secs: max })
}

fn actions(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
}

fn reasons(pairs: &[(&str, u64)]) -> Vec<pb::ReasonCount> {
    pairs.iter().map(|(code, n)| pb::ReasonCount { code: code.to_string(), decisions: *n }).collect()
}

fn request(authority: &str, from: i64, until: i64) -> pb::StatsRequest {
    pb::StatsRequest { authority: authority.into(), decided_from: from, decided_until: until }
}

/// A report without the time it was computed, for comparing two nodes' reports.
fn timeless(mut r: pb::StatsResponse) -> pb::StatsResponse {
    r.generated_at = 0;
    r
}

/// The hand-computed data set, published at `node`: 8 public licences of two authorities and a
/// confidential one. Figures worked out in `hand_computed_groups`.
async fn publish_hand_set(node: &TestNode) {
    let (bafa, sbdu) = (node.signer(BAFA), node.signer(SBDU));
    let eu = |id: &str, tier| terms(BAFA, id, Regime::EuDualUse, LicenceType::Individual, tier);
    let (l1, l2, l3, l4) = (eu("DE-2026-000001", 2), eu("DE-2026-000002", 2), eu("DE-2026-000003", 2), eu("DE-2026-000004", 2));
    let (l5, l6, l7) = (eu("DE-2026-000005", 3), eu("DE-2026-000006", 3), eu("DE-2026-000007", 3));
    // L7 is amended into another regime and tier: its later decisions count there.
    let l7_amended = terms(BAFA, "DE-2026-000007", Regime::Wassenaar, LicenceType::Individual, 2);
    let l8 = terms(SBDU, "FR-2026-000001", Regime::EuDualUse, LicenceType::Global, 1);
    let mut l8_extend = decide(&l8, Action::Extend, t(100), t(101), &[]);
    l8_extend.valid_until = l8.valid_until + 365 * DAY;
    let chains = vec![
        sign_chain(
            &bafa,
            vec![
                decide(&l1, Action::Grant, t(-40), t(0), &[]),
                decide(&l1, Action::Amend, t(10), t(12), &[]),
                decide(&l1, Action::Revoke, t(20), t(21), &["DIVERSION_RISK"]),
            ],
        ),
        sign_chain(&bafa, vec![decide(&l2, Action::Grant, t(-10), t(0), &[])]),
        sign_chain(&bafa, vec![decide(&l3, Action::Deny, t(-30), t(0), &["DIVERSION_RISK", "END_USER_CONCERN"])]),
        // A code given twice by one decision counts once.
        sign_chain(&bafa, vec![decide(&l4, Action::Deny, t(-5), t(0), &["END_USER_CONCERN", "END_USER_CONCERN", "SANCTIONS"])]),
        sign_chain(&bafa, vec![decide(&l5, Action::Deny, t(-3), t(0), &["ZETA_RISK", "ALPHA_RISK", "BETA_RISK", "GAMMA_RISK", "DELTA_RISK", "EPSILON_RISK"])]),
        sign_chain(&bafa, vec![decide(&l6, Action::Deny, t(-7), t(0), &["ZETA_RISK"])]),
        sign_chain(
            &bafa,
            vec![
                decide(&l7, Action::Grant, t(-60), t(0), &[]),
                decide(&l7_amended, Action::Amend, t(5), t(6), &[]),
                decide(&l7_amended, Action::Suspend, t(30), t(30) + 3600, &["SANCTIONS"]),
            ],
        ),
        sign_chain(&sbdu, vec![decide(&l8, Action::Grant, t(-20), t(0), &[]), l8_extend, decide(&l8, Action::Surrender, t(200), t(200), &[])]),
    ];
    let client = node.client().await;
    publish_chains(&client, &chains).await;

    // A confidential licence of SBDU: granted, then suspended on day 3.
    let l9 = terms(SBDU, "FR-2026-C-000001", Regime::EuDualUse, LicenceType::Individual, 2);
    let mut previous: Option<StatementId> = None;
    for (version, mut d) in [decide(&l9, Action::Grant, t(-9), t(0), &[]), decide(&l9, Action::Suspend, t(2), t(3), &["SANCTIONS"])].into_iter().enumerate() {
        d.version = version as u64 + 1;
        d.previous = previous.map(|p| p.0.to_vec()).unwrap_or_default();
        let (restricted, body) = seal(&d, vec!["nobody.test/log".into()], [version as u8; 32]);
        let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::RestrictedDecision(restricted)) }, &[&sbdu]);
        previous = Some(StatementId::of(&envelope));
        client.clone().publish_with_body(envelope, Some(body)).await.unwrap();
    }
}

/// Every group of the hand set, worked out by hand (times in days unless said).
fn hand_computed_groups() -> Vec<pb::StatsGroup> {
    vec![
        // Processing times of determinations only: L1 GRANT 40 (its AMEND and REVOKE are not);
        // L2 GRANT 10; L3 DENY 30; L4 DENY 5. Sorted 5 10 30 40: median at rank ceil(2) = 2 → 10,
        // p90 at rank ceil(3.6) = 4 → 40.
        pb::StatsGroup {
            authority: BAFA.into(),
            regime: Regime::EuDualUse as i32,
            licence_type: LicenceType::Individual as i32,
            risk_tier: 2,
            decisions: 6,
            actions: actions(&[("AMEND", 1), ("DENY", 2), ("GRANT", 2), ("REVOKE", 1)]),
            processing: processing(4, 10 * DAY, 40 * DAY, 40 * DAY),
            denials: 2,
            determinations: 4,
            revocations: 1,
            grants: 2,
            top_reasons: reasons(&[("DIVERSION_RISK", 2), ("END_USER_CONCERN", 2), ("SANCTIONS", 1)]),
        },
        // L5 DENY 3, L6 DENY 7, L7 GRANT 60: median rank ceil(1.5) = 2 → 7, p90 rank ceil(2.7) = 3 → 60.
        // Six codes: ZETA_RISK twice, then four of the five given once, by code.
        pb::StatsGroup {
            authority: BAFA.into(),
            regime: Regime::EuDualUse as i32,
            licence_type: LicenceType::Individual as i32,
            risk_tier: 3,
            decisions: 3,
            actions: actions(&[("DENY", 2), ("GRANT", 1)]),
            processing: processing(3, 7 * DAY, 60 * DAY, 60 * DAY),
            denials: 2,
            determinations: 3,
            revocations: 0,
            grants: 1,
            top_reasons: reasons(&[("ZETA_RISK", 2), ("ALPHA_RISK", 1), ("BETA_RISK", 1), ("DELTA_RISK", 1), ("EPSILON_RISK", 1)]),
        },
        // L7 after its amendment: AMEND and SUSPEND, no determination, so no processing time.
        pb::StatsGroup {
            authority: BAFA.into(),
            regime: Regime::Wassenaar as i32,
            licence_type: LicenceType::Individual as i32,
            risk_tier: 2,
            decisions: 2,
            actions: actions(&[("AMEND", 1), ("SUSPEND", 1)]),
            processing: processing(0, 0, 0, 0),
            denials: 0,
            determinations: 0,
            revocations: 0,
            grants: 0,
            top_reasons: reasons(&[("SANCTIONS", 1)]),
        },
        // L8 GRANT 20; its EXTEND and SURRENDER are not determinations.
        pb::StatsGroup {
            authority: SBDU.into(),
            regime: Regime::EuDualUse as i32,
            licence_type: LicenceType::Global as i32,
            risk_tier: 1,
            decisions: 3,
            actions: actions(&[("EXTEND", 1), ("GRANT", 1), ("SURRENDER", 1)]),
            processing: processing(1, 20 * DAY, 20 * DAY, 20 * DAY),
            denials: 0,
            determinations: 1,
            revocations: 0,
            grants: 1,
            top_reasons: vec![],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_computed_report_and_the_same_report_at_a_mirror() {
    let a = TestNode::start_with(&[BAFA, SBDU], |c| c.origin = "registry.a.test/log".into()).await;
    let b = TestNode::start_mirror_of(&a, "a", &[], "registry.b.test/log", |_| {}).await;
    publish_hand_set(&a).await;
    let mut at_a = a.client().await;
    let size = a.node().registry().store().log("registry.a.test/log").size().unwrap();
    assert_eq!(size, 16, "14 public decisions and 2 confidential ones");

    let report = at_a.stats(request("", 0, 0)).await.unwrap();
    assert_eq!(report.groups, hand_computed_groups());
    assert_eq!(report.confidential, vec![pb::ConfidentialCount { authority: SBDU.into(), decisions: 2 }]);
    assert_eq!(report.as_of, vec![pb::LogExtent { origin: "registry.a.test/log".into(), size }]);
    assert!(report.generated_at >= comity_node::now() - 60);
    // Each authority's rows add up to its public decisions.
    let total = |authority: &str| report.groups.iter().filter(|g| g.authority == authority).map(|g| g.decisions).sum::<u64>();
    assert_eq!((total(BAFA), total(SBDU)), (11, 3));

    // One authority; an authority with no decisions here gets an empty report, not an error.
    let sbdu = at_a.stats(request(SBDU, 0, 0)).await.unwrap();
    assert_eq!(sbdu.groups, hand_computed_groups()[3..].to_vec());
    assert_eq!(sbdu.confidential.len(), 1);
    let nobody = at_a.stats(request("xx.nobody", 0, 0)).await.unwrap();
    assert!(nobody.groups.is_empty() && nobody.as_of.is_empty() && nobody.confidential.is_empty(), "{nobody:?}");

    // Days 1 to 101 (exclusive): L1's amendment and revocation count in L1's group though its
    // grant is outside the window; L7's two later decisions; not L8's extension on day 101.
    let window = at_a.stats(request("", t(1), t(101))).await.unwrap();
    let mut l1_later = hand_computed_groups()[0].clone();
    l1_later.decisions = 2;
    l1_later.actions = actions(&[("AMEND", 1), ("REVOKE", 1)]);
    l1_later.processing = processing(0, 0, 0, 0);
    (l1_later.denials, l1_later.determinations, l1_later.grants) = (0, 0, 0);
    l1_later.top_reasons = reasons(&[("DIVERSION_RISK", 1)]);
    assert_eq!(window.groups, vec![l1_later, hand_computed_groups()[2].clone()]);
    assert_eq!(window.confidential, vec![pb::ConfidentialCount { authority: SBDU.into(), decisions: 1 }]);
    assert_eq!(window.as_of, report.as_of);
    let from_day_101 = at_a.stats(request("", t(101), 0)).await.unwrap();
    let counted: Vec<(&str, &BTreeMap<String, u64>)> = from_day_101.groups.iter().map(|g| (g.authority.as_str(), &g.actions)).collect();
    assert_eq!(counted, vec![(SBDU, &actions(&[("EXTEND", 1), ("SURRENDER", 1)]))]);

    // The mirror holds the same log, so it computes the same reports, as of the same log size.
    eventually(WAIT, "the mirror to hold A's whole log", || async { (b.node().mirror_status("a")?.size == size).then_some(()) }).await;
    let mut at_b = b.client().await;
    for asked in [request("", 0, 0), request(SBDU, 0, 0), request("", t(1), t(101))] {
        let here = timeless(at_a.stats(asked.clone()).await.unwrap());
        let there = timeless(at_b.stats(asked.clone()).await.unwrap());
        assert_eq!(here, there, "{asked:?}");
    }
}

#[tokio::test]
async fn bad_arguments_are_refused_with_a_precise_message() {
    let node = TestNode::start(&[BAFA]).await;
    let mut client = node.client().await;
    let refused = |result: Result<pb::StatsResponse, ClientError>| match result {
        Err(ClientError::Status(s)) => (s.code(), s.message().to_string()),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        refused(client.stats(request("", t(5), t(5))).await),
        (
            tonic::Code::InvalidArgument,
            format!("decided_until ({}) must be after decided_from ({}): the window [decided_from, decided_until) is empty", t(5), t(5))
        )
    );
    assert_eq!(
        refused(client.stats(request("", t(5), t(4))).await).1,
        format!("decided_until ({}) must be after decided_from ({}): the window [decided_from, decided_until) is empty", t(4), t(5))
    );
    assert_eq!(
        refused(client.stats(request("DE.BAFA", 0, 0)).await),
        (tonic::Code::InvalidArgument, "authority: `DE.BAFA` is not a lowercase dotted id like de.bafa".into())
    );
    assert_eq!(refused(client.stats(request("", -1, 0)).await).1, "decided_from: -1 is not Unix seconds (0 = open)");
    // Only one bound set is a half-open window, not an error.
    assert!(client.stats(request("", 0, t(4))).await.unwrap().groups.is_empty());
}

/// One published decision as the test generated it, with the group its terms put it in.
struct Made {
    key: (String, i32, i32, u32),
    action: Action,
    received: i64,
    decided: i64,
    reasons: Vec<String>,
}

/// A random data set: licences of two authorities whose actions follow the licence rules, with
/// random terms (amendments and overturned appeals may change regime and tier), times and
/// reason codes. Returns the chains to publish and what each decision is.
fn random_set(node: &TestNode, rng: &mut StdRng, at_least: usize) -> (Vec<Vec<Vec<u8>>>, Vec<Made>) {
    const REGIMES: [Regime; 3] = [Regime::EuDualUse, Regime::Wassenaar, Regime::UsEar];
    const TYPES: [LicenceType; 3] = [LicenceType::Individual, LicenceType::Global, LicenceType::TechnologyTransfer];
    const CODES: [&str; 8] =
        ["DIVERSION_RISK", "END_USER_CONCERN", "SANCTIONS", "WMD_CONCERN", "HUMAN_RIGHTS", "REGIONAL_STABILITY", "INCOMPLETE_FILE", "LATE_REPORT"];
    const ACTIONS: [Action; 16] = [
        Action::Grant,
        Action::Deny,
        Action::Amend,
        Action::Extend,
        Action::Suspend,
        Action::Reinstate,
        Action::Revoke,
        Action::AppealLodged,
        Action::AppealUpheld,
        Action::AppealOverturned,
        Action::Surrender,
        Action::Cancel,
        Action::ApplicationLodged,
        Action::InformationRequested,
        Action::Referred,
        Action::ApplicationWithdrawn,
    ];
    let (mut chains, mut made) = (Vec::new(), Vec::new());
    let mut n = 0;
    while made.len() < at_least {
        n += 1;
        let authority = if n % 3 == 0 { SBDU } else { BAFA };
        let licence_id = format!("R-{n:04}");
        let licence_type = TYPES[rng.random_range(0..TYPES.len())];
        let random_terms = |rng: &mut StdRng| terms(authority, &licence_id, REGIMES[rng.random_range(0..REGIMES.len())], licence_type, rng.random_range(1..=4));
        let mut current = random_terms(rng);
        let mut status: Option<Status> = None;
        let mut valid_until = current.valid_until;
        let mut decided = t(rng.random_range(-200..0));
        let mut review_received: Option<i64> = None;
        let mut decisions = Vec::new();
        for _ in 0..rng.random_range(1..=8) {
            let legal: Vec<Action> = ACTIONS.iter().copied().filter(|a| transition(status, *a).is_some()).collect();
            if legal.is_empty() {
                break;
            }
            let action = legal[rng.random_range(0..legal.len())];
            if matches!(action, Action::Amend | Action::AppealOverturned) {
                current = random_terms(rng);
                valid_until = current.valid_until;
            }
            decided += rng.random_range(0..30 * DAY);
            // A review's steps all repeat the receipt time of the application lodged.
            let received = match review_received {
                Some(r) if status == Some(Status::UnderReview) => r,
                _ => decided - rng.random_range(0..90 * DAY),
            };
            if action == Action::ApplicationLodged {
                review_received = Some(received);
            }
            let required =
                matches!(action, Action::Deny | Action::Revoke | Action::Suspend | Action::AppealUpheld | Action::InformationRequested | Action::Referred);
            let count = if required { rng.random_range(1..=3) } else { rng.random_range(0..=1) };
            // Picks may repeat within a decision.
            let codes: Vec<&str> = (0..count).map(|_| CODES[rng.random_range(0..CODES.len())]).collect();
            let mut d = decide(&current, action, received, decided, &codes);
            if action == Action::Extend {
                valid_until += 30 * DAY;
                d.valid_until = valid_until;
            }
            let t = &current;
            made.push(Made {
                key: (authority.to_string(), t.items[0].regime, t.licence_type, t.risk_tier),
                action,
                received,
                decided,
                reasons: codes.iter().map(|c| c.to_string()).collect(),
            });
            decisions.push(d);
            status = transition(status, action);
        }
        chains.push(sign_chain(&node.signer(authority), decisions));
    }
    (chains, made)
}

/// The `percent`-th percentile by its definition: the smallest value with at least `percent`% of
/// the values at or below it.
fn percentile_by_definition(sorted: &[i64], percent: usize) -> i64 {
    let n = sorted.len();
    (1..=n).find(|rank| rank * 100 >= percent * n).map_or(0, |rank| sorted[rank - 1])
}

/// The expected rows, recounted from what the test published.
fn brute_force(made: &[Made], from: i64, until: i64) -> Vec<pb::StatsGroup> {
    let mut groups: BTreeMap<(String, i32, i32, u32), Vec<&Made>> = BTreeMap::new();
    for m in made.iter().filter(|m| m.decided >= from && (until == 0 || m.decided < until)) {
        groups.entry(m.key.clone()).or_default().push(m);
    }
    groups
        .into_iter()
        .map(|((authority, regime, licence_type, risk_tier), ms)| {
            let count = |a: Action| ms.iter().filter(|m| m.action == a).count() as u64;
            // Processing times are those of determinations: the decisions that end a review.
            let determination = |a: Action| matches!(a, Action::Grant | Action::Deny | Action::AppealUpheld | Action::AppealOverturned);
            let mut times: Vec<i64> = ms.iter().filter(|m| determination(m.action)).map(|m| m.decided - m.received).collect();
            times.sort();
            let mut by_code: BTreeMap<&str, u64> = BTreeMap::new();
            for m in &ms {
                for code in m.reasons.iter().map(String::as_str).collect::<HashSet<_>>() {
                    *by_code.entry(code).or_default() += 1;
                }
            }
            let mut top: Vec<(&str, u64)> = by_code.into_iter().collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            top.truncate(5);
            let mut actions = BTreeMap::new();
            for m in &ms {
                *actions.entry(m.action.as_str_name().to_string()).or_default() += 1;
            }
            pb::StatsGroup {
                authority,
                regime,
                licence_type,
                risk_tier,
                decisions: ms.len() as u64,
                actions,
                processing: processing(
                    times.len() as u64,
                    percentile_by_definition(&times, 50),
                    percentile_by_definition(&times, 90),
                    times.last().copied().unwrap_or(0),
                ),
                denials: count(Action::Deny),
                determinations: count(Action::Grant) + count(Action::Deny),
                revocations: count(Action::Revoke),
                grants: count(Action::Grant),
                top_reasons: reasons(&top),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_data_set_matches_a_brute_force_recount() {
    let node = TestNode::start(&[BAFA, SBDU]).await;
    let mut rng = StdRng::seed_from_u64(87);
    let (chains, made) = random_set(&node, &mut rng, 200);
    let client = node.client().await;
    publish_chains(&client, &chains).await;
    assert!(made.len() >= 200 && chains.len() > 30, "{} decisions over {} licences", made.len(), chains.len());
    // The set reaches the interesting cases: regrouping by amendment, appeals, every group size.
    assert!(made.iter().any(|m| m.action == Action::AppealOverturned) && made.iter().any(|m| m.action == Action::Revoke));
    // Milestones: counted by action, left out of processing times.
    assert!([Action::ApplicationLodged, Action::InformationRequested, Action::Referred, Action::ApplicationWithdrawn]
        .iter()
        .all(|a| made.iter().any(|m| m.action == *a)));

    let mut client = client;
    for (from, until) in [(0, 0), (t(-120), t(-20)), (t(-60), 0), (0, t(-100))] {
        let report = client.stats(request("", from, until)).await.unwrap();
        let expected = brute_force(&made, from, until);
        assert!(!expected.is_empty());
        for (got, want) in report.groups.iter().zip(&expected) {
            assert_eq!(got, want, "window [{from}, {until})");
        }
        assert_eq!(report.groups.len(), expected.len(), "window [{from}, {until})");
    }
    let bafa_only = client.stats(request(BAFA, 0, 0)).await.unwrap();
    assert_eq!(bafa_only.groups, brute_force(&made, 0, 0).into_iter().filter(|g| g.authority == BAFA).collect::<Vec<_>>());
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run comity");
    assert!(out.status.success(), "comity failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn comity_stats_prints_csv_json_and_a_table_from_a_node_process() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    Command::new(bin_path("comity-node")).args(["init", "--data-dir"]).arg(&data).args(["--authority", "de.bafa=BAFA"]).assert().success();
    let node = NodeProcess::spawn(&["--data-dir", data.to_str().unwrap()], &tmp.path().join("node.log"));
    let url = node.url().to_string();
    let signer = KeyFile::read(&data.join("keys/de.bafa.key")).unwrap().signer().unwrap();
    let l1 = terms(BAFA, "DE-2026-000001", Regime::EuDualUse, LicenceType::Individual, 2);
    let l2 = terms(BAFA, "DE-2026-000002", Regime::EuDualUse, LicenceType::Individual, 2);
    let chains = vec![
        sign_chain(&signer, vec![decide(&l1, Action::Grant, t(-40), t(0), &[]), decide(&l1, Action::Revoke, t(9), t(10), &["DIVERSION_RISK"])]),
        sign_chain(&signer, vec![decide(&l2, Action::Deny, t(-20), t(0), &["DIVERSION_RISK", "SANCTIONS"])]),
    ];
    let expected = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = Client::connect(&url).await.unwrap();
        publish_chains(&client, &chains).await;
        client.clone().stats(request("", 0, 0)).await.unwrap()
    });
    assert_eq!(expected.groups.len(), 1);

    // CSV: a header, then one line per group, reasons joined as CODE:count;CODE:count.
    let csv_out = stdout(comity(&url).args(["stats", "--format", "csv"]));
    let mut reader = csv::Reader::from_reader(csv_out.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<BTreeMap<String, String>> = reader.records().map(|r| header.iter().cloned().zip(r.unwrap().iter().map(String::from)).collect()).collect();
    assert_eq!(rows.len(), 1, "{csv_out}");
    let row = &rows[0];
    let field = |name: &str| row.get(name).unwrap_or_else(|| panic!("no column {name} in {header:?}")).as_str();
    assert_eq!((field("authority"), field("regime"), field("licence_type"), field("risk_tier")), (BAFA, "EU_DUAL_USE", "INDIVIDUAL", "2"));
    assert_eq!((field("decisions"), field("grant"), field("deny"), field("revoke"), field("amend")), ("3", "1", "1", "1", "0"));
    // Determinations' times 40 days and 20 days (the revocation is not one): median 20 days, p90
    // and max 40 days.
    assert_eq!((field("timed"), field("median_secs"), field("p90_secs"), field("max_secs")), ("2", "1728000", "3456000", "3456000"));
    assert_eq!((field("denials"), field("determinations"), field("denial_rate_pct")), ("1", "2", "50.0"));
    assert_eq!((field("revocations"), field("grants"), field("revocation_rate_pct")), ("1", "1", "100.0"));
    assert_eq!(field("top_reasons"), "DIVERSION_RISK:2;SANCTIONS:1");

    // JSON: the whole answer.
    let json: serde_json::Value = serde_json::from_str(&stdout(comity(&url).args(["stats", "--format", "json", "--authority", BAFA]))).unwrap();
    let group = &json["groups"][0];
    assert_eq!(json["authority"], BAFA);
    assert_eq!(group["actions"], serde_json::json!({"DENY": 1, "GRANT": 1, "REVOKE": 1}));
    assert_eq!(group["processing"], serde_json::json!({"count": 2, "median_secs": 20 * DAY, "p90_secs": 40 * DAY, "max_secs": 40 * DAY}));
    assert_eq!((group["denial_rate_percent"].as_f64(), group["revocation_rate_percent"].as_f64()), (Some(50.0), Some(100.0)));
    assert_eq!(group["top_reasons"][0], serde_json::json!({"code": "DIVERSION_RISK", "decisions": 2}));
    assert_eq!(json["as_of"], serde_json::json!([{"origin": expected.as_of[0].origin, "size": 3}]));

    // --since takes a date: only the revocation of day 10 is from 2025-11-01 on, and it has no
    // grant in the window, so its revocation rate is undefined.
    let json: serde_json::Value = serde_json::from_str(&stdout(comity(&url).args(["stats", "--json", "--since", "2025-11-01"]))).unwrap();
    assert_eq!(json["since"], "2025-11-01T00:00:00Z");
    assert_eq!(json["groups"][0]["actions"], serde_json::json!({"REVOKE": 1}));
    assert_eq!(json["groups"][0]["revocation_rate_percent"], serde_json::Value::Null);

    // The table: the group, the authority's total and the log it was computed from.
    let table = stdout(comity(&url).arg("stats"));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("AUTHORITY") && lines[0].contains("DENIAL RATE"), "{table}");
    assert!(lines[1].contains("EU_DUAL_USE") && lines[1].contains("GRANT 1, DENY 1, REVOKE 1") && lines[1].contains("50.0% (1/2)"), "{table}");
    assert!(lines[1].contains("20.0d") && lines[1].contains("DIVERSION_RISK 2, SANCTIONS 1"), "{table}");
    assert!(lines[2].contains("(total)") && lines[2].contains("100.0% (1/1)"), "{table}");
    assert!(table.contains(&format!("as of: {} size 3", expected.as_of[0].origin)), "{table}");

    // Bad dates are refused locally (exit 3); an empty window by the node (INVALID_ARGUMENT, exit 3).
    comity(&url).args(["stats", "--since", "2026-13-01"]).assert().code(3).stderr(predicates::str::contains("--since: `2026-13-01` is not"));
    comity(&url)
        .args(["stats", "--since", "2026-11-01", "--until", "2026-10-01"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("must be after decided_from"));
}

/// A report is kept until a log grows: asked again it is the same report, and once another
/// decision is logged the next one counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_report_gives_way_to_a_grown_log() {
    let node = TestNode::start(&[BAFA, SBDU]).await;
    publish_hand_set(&node).await;
    let mut client = node.client().await;
    let first = client.stats(request(BAFA, 0, 0)).await.unwrap();
    let again = client.stats(request(BAFA, 0, 0)).await.unwrap();
    assert_eq!(timeless(again), timeless(first.clone()));
    let l = terms(BAFA, "DE-2026-000099", Regime::EuDualUse, LicenceType::Individual, 2);
    publish_chains(&client, &[sign_chain(&node.signer(BAFA), vec![decide(&l, Action::Grant, t(-4), t(1), &[])])]).await;
    let grown = client.stats(request(BAFA, 0, 0)).await.unwrap();
    let decisions = |r: &pb::StatsResponse| r.groups.iter().map(|g| g.decisions).sum::<u64>();
    assert_eq!(decisions(&grown), decisions(&first) + 1);
    assert!(grown.as_of[0].size > first.as_of[0].size, "{:?} then {:?}", first.as_of, grown.as_of);
}
