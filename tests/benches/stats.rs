//! Registry.Stats over a store of 10,000 decisions: the report computed in process (no gRPC)
//! and over loopback gRPC, for every authority and for the smaller of two.
//!
//! Run: `cargo bench -p comity-tests --bench stats` (figures go into BENCHMARKS.md).
//! `COMITY_BENCH_LICENCES` sets the number of licences (default 2500, four decisions each).

// The allocator comity-node runs with, so the node is measured as shipped.
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::time::{Duration, Instant};

use comity_node::service::stats::{compute, StatsQuery};
use comity_proto::decision::carries_terms;
use comity_proto::decision::fixtures::{follow_up, grant};
use comity_proto::pb::{self, Action, Regime};
use comity_proto::statement::StatementId;
use comity_tests::{publish_concurrently, TestNode};

const BAFA: &str = "de.bafa";
const SBDU: &str = "fr.sbdu";
const RUNS: usize = 7;

/// Licence `i`'s four decisions, signed and linked: most are granted, amended, suspended and
/// revoked; every fifth is denied, appealed, granted on appeal and suspended. Tiers, regimes and
/// types vary so that the report has many groups.
fn chain(node: &TestNode, i: usize) -> Vec<Vec<u8>> {
    let authority = if i.is_multiple_of(3) { SBDU } else { BAFA };
    let mut base = grant(authority, &format!("B-{i:06}"));
    base.risk_tier = 1 + (i % 4) as u32;
    base.licence_type = 1 + (i % 2) as i32;
    if i.is_multiple_of(7) {
        base.items[0].regime = Regime::Wassenaar as i32;
        base.items[0].control_code = "3.A.1.a.1".into();
    }
    let actions = if i.is_multiple_of(5) {
        [Action::Deny, Action::AppealLodged, Action::AppealOverturned, Action::Suspend]
    } else {
        [Action::Grant, Action::Amend, Action::Suspend, Action::Revoke]
    };
    let mut previous: Option<StatementId> = None;
    actions
        .iter()
        .enumerate()
        .map(|(v, &action)| {
            let mut d = if v == 0 { pb::Decision { action: action as i32, ..base.clone() } } else { follow_up(&base, action, v as u64 + 1, [0; 32]) };
            if v > 0 && carries_terms(action) {
                // Restates this licence's terms (its type stays), one risk tier up: the later
                // decisions count in another group.
                d = pb::Decision { action: action as i32, decided_at: d.decided_at, application_received: d.application_received, ..base.clone() };
                d.risk_tier = 1 + base.risk_tier % 4;
            }
            if action == Action::Deny {
                (d.valid_from, d.valid_until) = (0, 0);
                d.reasons = follow_up(&base, Action::Deny, 1, [0; 32]).reasons;
            }
            d.version = v as u64 + 1;
            d.previous = previous.map(|p| p.0.to_vec()).unwrap_or_default();
            let envelope = node.sign(d);
            previous = Some(StatementId::of(&envelope));
            envelope
        })
        .collect()
}

fn row(name: &str, counted: u64, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("| {name} | {counted} | {} | {:.1} ms | {:.1} ms |", times.len(), ms(times[0]), ms(times[times.len() / 2]));
}

fn counted(report: &pb::StatsResponse) -> u64 {
    report.groups.iter().map(|g| g.decisions).sum()
}

fn main() {
    let licences: usize = std::env::var("COMITY_BENCH_LICENCES").ok().and_then(|v| v.parse().ok()).unwrap_or(2500);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let node = TestNode::start(&[BAFA, SBDU]).await;
        let chains: Vec<Vec<Vec<u8>>> = (0..licences).map(|i| chain(&node, i)).collect();
        let client = node.client().await;
        let start = Instant::now();
        for version in 0..4 {
            publish_concurrently(client.clone(), chains.iter().map(|c| c[version].clone()).collect(), 64).await;
        }
        eprintln!("published {} decisions in {:.1} s", licences * 4, start.elapsed().as_secs_f64());

        println!("| measurement | decisions counted | runs | min | median |");
        println!("|---|---:|---:|---:|---:|");
        let store = node.node().registry().store().clone();
        for (name, authority) in [("every authority", None), ("one authority (fr.sbdu, a third)", Some(SBDU))] {
            let query = StatsQuery { authority: authority.map(String::from), ..Default::default() };
            let mut times = Vec::new();
            let mut report = pb::StatsResponse::default();
            for _ in 0..RUNS {
                let t = Instant::now();
                report = compute(&store, &query, 0).unwrap();
                times.push(t.elapsed());
            }
            row(&format!("Stats in process (no gRPC), {name}, {} groups", report.groups.len()), counted(&report), &mut times);

            let mut client = client.clone();
            // A window ending after every decision: the same report, but a request the node
            // has not answered before, so it is counted afresh.
            let fresh =
                |run: i64| pb::StatsRequest { authority: authority.unwrap_or_default().into(), decided_until: 4_000_000_000 + run, ..Default::default() };
            let mut times = Vec::new();
            for run in 0..RUNS {
                let t = Instant::now();
                report = client.stats(fresh(run as i64)).await.unwrap();
                times.push(t.elapsed());
            }
            row(&format!("Stats over loopback gRPC, {name}, a new report"), counted(&report), &mut times);
            let mut times = Vec::new();
            for _ in 0..RUNS {
                let t = Instant::now();
                report = client.stats(fresh(0)).await.unwrap();
                times.push(t.elapsed());
            }
            row(&format!("Stats over loopback gRPC, {name}, asked again with no log grown (kept)"), counted(&report), &mut times);
        }
    });
}
