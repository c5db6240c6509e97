//! The no-undercut check's cost at publish (docs/consultation.md): a node holding a partner's
//! denials to one destination publishes grants to that destination (the check compares each
//! with every denial there) and to another (no denial to compare), 64 in flight, next to the
//! comparison alone in process. Each grant's item is the denials' (worst case: the codes
//! compare, so the names are scored); no end user matches, so every grant is accepted.
//!
//! Run: `cargo bench -p comity-tests --bench undercut` (figures go into BENCHMARKS.md).
//! `COMITY_BENCH_UNDERCUT_DENIALS` sets how many denials (default 10000).

// The allocator comity-node runs with, so the node is measured as shipped.
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::time::Instant;

use comity_proto::consultation::GrantTerms;
use comity_proto::decision::fixtures::grant;
use comity_proto::pb;
use comity_proto::screening::STRONG_MATCH;
use comity_tests::{publish_concurrently, TestNode};

const BAFA: &str = "de.bafa";
const METI: &str = "jp.meti";
const GRANTS: usize = 4000;
const IN_FLIGHT: usize = 64;

/// A word coined from `n` (distinct for each n), as company names have one.
fn coined(mut n: usize) -> String {
    const SYLLABLES: &[&str] =
        &["ka", "ro", "vel", "tor", "mir", "za", "len", "dar", "shan", "qi", "hua", "nor", "bek", "ul", "tan", "sol", "var", "gor", "lin", "ma"];
    let mut word = String::new();
    for _ in 0..4 {
        word.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
    }
    let mut c = word.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

/// A distinct company name per `i`, as a registry of denials holds them.
fn company(i: usize) -> String {
    const A: &[&str] = &["Gulf", "Ural", "Caspian", "Pearl", "Desert", "Harbour", "Falcon", "Oasis", "Crescent", "Summit"];
    const B: &[&str] = &["Avionics", "Electronics", "Trading", "Systems", "Components", "Engineering", "Technologies", "Logistics"];
    format!("{} {} {} FZE", A[i % A.len()], coined(i), B[(i / A.len()) % B.len()])
}

fn decision(authority: &str, id: String, end_user: String, destination: &str) -> pb::Decision {
    let mut d = grant(authority, &id);
    d.end_users[0].name = end_user;
    d.end_users[0].country = destination.into();
    d.destinations = vec![destination.into()];
    d.items[0].control_code = "3A001.b.2".into();
    d
}

fn denial(i: usize) -> pb::Decision {
    let mut d = decision(BAFA, format!("DE-DENY-{i:06}"), company(i), "AE");
    d.action = pb::Action::Deny as i32;
    (d.valid_from, d.valid_until) = (0, 0);
    d.reasons =
        vec![pb::Reason { code: "DIVERSION_RISK".into(), legal_basis: "Art. 15(1)(d) Regulation (EU) 2021/821".into(), text: "Diversion risk.".into() }];
    d
}

/// Publishes `GRANTS` grants, each to an end user no denial names: grants/s.
/// An end user unlike any denied one: another vocabulary, as most grants' end users are.
fn unrelated(i: usize) -> String {
    const A: &[&str] = &["Hokuriku", "Setouchi", "Tohoku", "Kyushu", "Chubu", "Shikoku", "Kanto", "Kinki"];
    const B: &[&str] = &["Semiconductor", "Weather Service", "University Hospital", "Research Institute", "Railway", "Shipyard"];
    format!("{} {} No. {}", A[i % A.len()], B[(i / A.len()) % B.len()], i / 48 + 1)
}

/// An end user whose made-up word comes from the denied names' syllables: most such words are
/// close to many listed ones, so each grant scores hundreds of candidates (the worst case).
fn coined_like_denied(i: usize) -> String {
    format!("Kobe {} Denpa K.K.", coined(i + 7))
}

/// `run` names the run (the destination's code and a round number) so licence ids stay unique.
async fn grants_per_sec(node: &TestNode, run: &str, end_user: fn(usize) -> String) -> f64 {
    let destination = &run[..2];
    let envelopes: Vec<Vec<u8>> = (0..GRANTS).map(|i| node.sign(decision(METI, format!("JP-{run}-{i:06}"), end_user(i), destination))).collect();
    let started = Instant::now();
    publish_concurrently(node.client().await, envelopes, IN_FLIGHT).await;
    GRANTS as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let denials: usize = std::env::var("COMITY_BENCH_UNDERCUT_DENIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let node = TestNode::start(&[BAFA, METI]).await;
    let envelopes: Vec<Vec<u8>> = (0..denials).map(|i| node.sign(denial(i))).collect();
    publish_concurrently(node.client().await, envelopes, IN_FLIGHT).await;
    let held = node.node().registry().store().denials_to(&["AE".to_string()]).unwrap();
    assert_eq!(held.len(), denials, "every denial held in memory");

    // In process: the end-user index of the destination's denials (built on first use after
    // a change), then one grant's check through it, and the same grant compared with every
    // denial (what the index saves).
    let store = node.node().registry().store();
    let started = Instant::now();
    store.denials_naming("AE", &["Kobe Denpa Kogyo K.K."], STRONG_MATCH).unwrap();
    println!("end-user index of {denials} denials to one destination built in {:?}", started.elapsed());
    for (what, end_user) in [("unlike any denied", unrelated as fn(usize) -> String), ("coined like the denied", coined_like_denied)] {
        let rounds = 2000;
        let started = Instant::now();
        for i in 0..rounds {
            let probe = decision(METI, "JP-PROBE".into(), end_user(i), "AE");
            let terms = GrantTerms::of(&probe);
            let candidates = store.denials_naming("AE", &[probe.end_users[0].name.as_str()], STRONG_MATCH).unwrap();
            assert_eq!(candidates.iter().filter_map(|d| terms.undercut(d, &[])).count(), 0);
        }
        println!("undercut check in process, through the index, end users {what}: {:?} per grant", started.elapsed() / rounds as u32);
    }
    let probe = decision(METI, "JP-PROBE".into(), "Kobe Denpa Kogyo K.K.".into(), "AE");
    let terms = GrantTerms::of(&probe);
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(held.iter().filter_map(|d| terms.undercut(d, &[])).count(), 0);
    }
    println!("the same grant compared with every denial: {:?} per grant", started.elapsed() / 20);
    // A near-miss name: the index finds the denial, which the full check then refuses.
    let twin = decision(METI, "JP-TWIN".into(), company(4242).replace("FZE", "LLC"), "AE");
    let twin_terms = GrantTerms::of(&twin);
    let twin_names = [twin.end_users[0].name.as_str()];
    let candidates = store.denials_naming("AE", &twin_names, STRONG_MATCH).unwrap();
    assert!(candidates.iter().any(|d| twin_terms.undercut(d, &[]).is_some()), "the index finds a denial naming the same company");

    // Over gRPC: the same node, grants to a destination without denials and to AE, twice each
    // in turns (the log grows as the runs go).
    for round in 1..=2 {
        let baseline = grants_per_sec(&node, &format!("NZ{round}"), unrelated).await;
        let checked = grants_per_sec(&node, &format!("AE{round}"), unrelated).await;
        let worst = grants_per_sec(&node, &format!("AEW{round}"), coined_like_denied).await;
        println!(
            "round {round}: publish, {GRANTS} grants, {IN_FLIGHT} in flight: {baseline:.0}/s to NZ (no denial held); to AE ({denials} denials held) {checked:.0}/s ({:+.1}%) with end users unlike any denied, {worst:.0}/s ({:+.1}%) coined like the denied",
            (checked / baseline - 1.0) * 100.0,
            (worst / baseline - 1.0) * 100.0
        );
    }
}
