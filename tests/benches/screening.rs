//! Screening: a 50,000-entry list (#22's bench), screened in process and over loopback gRPC
//! with 64 calls in flight, next to the bare gRPC echo (a health check) measured in the same run.
//! The goal: the p99 of a screen under 5 ms.
//!
//! Run: `cargo bench -p comity-tests --bench screening` (figures go into BENCHMARKS.md).
//! `COMITY_BENCH_SCREENING_ENTRIES` sets the list's size (default 50000).

// The allocator comity-node runs with, so the node is measured as shipped.
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

use std::time::{Duration, Instant};

use comity_proto::pb;
use comity_proto::screening::{ScreeningIndex, WEAK_MATCH};
use comity_proto::statement::{sign_statement, StatementId, MAX_ENVELOPE_BYTES};
use comity_tests::TestNode;
use prost::Message;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const BAFA: &str = "de.bafa";
const IN_FLIGHT: usize = 64;
const CALLS: usize = 64 * 200;

const SYLLABLES: &[&str] = &[
    "ka", "ro", "vel", "tor", "mir", "za", "len", "dar", "shan", "qi", "hua", "nor", "bek", "ul", "tan", "sol", "var", "gor", "lin", "ma", "ri", "sho", "tek",
    "pro", "ne", "fa", "zi", "om", "ar", "vi",
];
const CORE_FIRST: &[&str] = &["Ural", "Volga", "Caspian", "Gulf", "Eastern", "Northern", "Pacific", "Golden", "Silk Road", "Baltic", "Persian", "Amur"];
const SECTORS: &[&str] = &[
    "Trading",
    "Electronics",
    "Machinery",
    "Logistics",
    "Engineering",
    "Systems",
    "Technologies",
    "Industrial",
    "Import Export",
    "Components",
    "Aviation",
    "Chemicals",
];
const FORMS: &[&str] = &["LLC", "Ltd", "OOO", "JSC", "FZE", "Co.", "GmbH", "Pte. Ltd.", ""];
const FIRST: &[&str] = &["Aleksandr", "Mohammad", "Wei", "Reza", "Dmitri", "Hassan", "Jun", "Sergei", "Ali", "Min-jun", "Olga", "Farid"];
const COUNTRIES: &[&str] = &["RU", "IR", "CN", "AE", "BY", "KP", "SY", "TR", "HK", "KZ"];

/// A coined word of two or three syllables: most listed names hold one, as real names do.
fn coined(rng: &mut StdRng) -> String {
    let n = rng.random_range(2..=3);
    let w: String = (0..n).map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())]).collect();
    let mut c = w.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

fn entries(n: usize) -> Vec<pb::ScreenedParty> {
    let mut rng = StdRng::seed_from_u64(22);
    (0..n)
        .map(|i| {
            let pick = |rng: &mut StdRng, from: &[&str]| from[rng.random_range(0..from.len())].to_string();
            let (name, aliases) = if i % 4 == 0 {
                let first = pick(&mut rng, FIRST);
                let last = coined(&mut rng) + ["ov", "i", "ian", "ko", ""][rng.random_range(0..5)];
                (format!("{first} {last}"), vec![format!("{last} {first}")])
            } else {
                let core = coined(&mut rng);
                let name = format!("{} {core} {} {}", pick(&mut rng, CORE_FIRST), pick(&mut rng, SECTORS), pick(&mut rng, FORMS)).trim().to_string();
                let aliases = if i % 3 == 0 { vec![format!("{core} {}", pick(&mut rng, SECTORS))] } else { vec![] };
                (name, aliases)
            };
            pb::ScreenedParty {
                entry_id: format!("EUA-{i:06}"),
                name,
                aliases,
                countries: vec![pick(&mut rng, COUNTRIES)],
                reason: "procurement for a WMD programme".into(),
                legal_basis: "Art. 4(1) Regulation (EU) 2021/821".into(),
                ..Default::default()
            }
        })
        .collect()
}

/// What is screened: listed names (every fourth with a typo), and names that are not listed.
fn queries(listed: &[pb::ScreenedParty], n: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..n)
        .map(|i| match i % 3 {
            0 => listed[rng.random_range(0..listed.len())].name.clone(),
            1 => {
                let mut name = listed[rng.random_range(0..listed.len())].name.clone();
                let at = rng.random_range(1..name.len().max(2));
                if name.is_char_boundary(at) && name.is_char_boundary(at + 1) {
                    name.replace_range(at..at + 1, "e");
                }
                name
            }
            _ => format!("{} {} {}", coined(&mut rng), SECTORS[rng.random_range(0..SECTORS.len())], FORMS[rng.random_range(0..FORMS.len())]),
        })
        .collect()
}

fn percentiles(mut d: Vec<Duration>) -> (f64, f64) {
    d.sort();
    let at = |q: f64| d[((d.len() as f64 * q) as usize).min(d.len() - 1)].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

/// `calls` calls, `in_flight` at a time on one connection: latencies and the elapsed time.
async fn load<F, Fut>(url: &str, in_flight: usize, calls: usize, call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(tonic::transport::Channel, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let channel = tonic::transport::Endpoint::from_shared(url.to_string()).unwrap().tcp_nodelay(true).connect().await.unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..in_flight {
        let (call, channel) = (call.clone(), channel.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..calls / in_flight {
                let t = Instant::now();
                call(channel.clone(), w + i * in_flight).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (all, start.elapsed())
}

fn main() {
    let n: usize = std::env::var("COMITY_BENCH_SCREENING_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let listed = entries(n);
    let asked = queries(&listed, 3000);
    println!("| measurement | n | value |");
    println!("|---|---:|---:|");

    let start = Instant::now();
    let index = ScreeningIndex::new(listed.clone());
    println!("| index a list of {n} entries (names and aliases, words, trigrams), one core | {n} | {:.0} ms |", start.elapsed().as_secs_f64() * 1e3);
    let mut took = Vec::new();
    let mut hits = 0;
    for q in &asked {
        let t = Instant::now();
        hits += usize::from(!index.screen(q, None, WEAK_MATCH).is_empty());
        took.push(t.elapsed());
    }
    let (p50, p99) = percentiles(took);
    println!("| screen in process, one thread (a third listed names, a third with a typo, a third not listed; {hits} found something) | {} | p50 {p50:.2} ms, p99 {p99:.2} ms |", asked.len());

    if std::env::var_os("COMITY_BENCH_SCREENING_IN_PROCESS_ONLY").is_some() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let node = TestNode::start(&[BAFA]).await;
        let mut client = node.client().await;
        // The list in as many versions as the statement size needs.
        let signer = node.signer(BAFA);
        let (mut previous, mut version, mut at) = (None::<StatementId>, 0u64, 0usize);
        let started = Instant::now();
        while at < listed.len() {
            let base = pb::ScreeningList {
                authority: BAFA.into(),
                list_id: "end-user-alert".into(),
                title: "BAFA end-user alert list (bench)".into(),
                valid_from: 1_700_000_000,
                issued_at: 1_700_000_000,
                version: version + 1,
                previous: previous.map(|p| p.0.to_vec()).unwrap_or_default(),
                ..Default::default()
            };
            let mut end = at;
            while end < listed.len() {
                let candidate = pb::ScreeningList { added: listed[at..=end].to_vec(), ..base.clone() };
                let statement = pb::Statement { kind: Some(pb::statement::Kind::ScreeningList(candidate)) };
                if statement.encoded_len() + 1024 > MAX_ENVELOPE_BYTES {
                    break;
                }
                end += 1;
            }
            let list = pb::ScreeningList { added: listed[at..end].to_vec(), ..base };
            let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::ScreeningList(list)) }, &[&signer]);
            previous = Some(StatementId::of(&envelope));
            client.publish(envelope).await.unwrap();
            version += 1;
            at = end;
        }
        eprintln!("published {n} entries in {version} versions in {:.1} s", started.elapsed().as_secs_f64());

        let url = node.url();
        let echo = |channel: tonic::transport::Channel, _| async move {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
        };
        let asked = std::sync::Arc::new(asked);
        let screen = {
            let asked = asked.clone();
            move |channel: tonic::transport::Channel, i: usize| {
                let name = asked[i % asked.len()].clone();
                async move {
                    let mut registry = pb::registry_client::RegistryClient::new(channel);
                    registry.screen(pb::ScreenRequest { name, ..Default::default() }).await.unwrap();
                }
            }
        };
        // One screen at a time (its latency), 8 at a time, and 64 (the two cores' throughput,
        // where latency is queueing): each next to the echo at the same concurrency.
        for (in_flight, calls) in [(1, 2000), (8, 8000), (IN_FLIGHT, CALLS)] {
            let (e, e_elapsed) = load(&url, in_flight, calls, echo).await;
            let (s, s_elapsed) = load(&url, in_flight, calls, screen.clone()).await;
            let ((e50, e99), (s50, s99)) = (percentiles(e), percentiles(s));
            println!(
                "| bare loopback gRPC (health check, the echo), {in_flight} in flight, one connection | {calls} | {:.0}/s, p50 {e50:.2} ms, p99 {e99:.2} ms |",
                calls as f64 / e_elapsed.as_secs_f64()
            );
            println!(
                "| comity Screen against the {n}-entry list, {in_flight} in flight, one connection | {calls} | {:.0}/s, p50 {s50:.2} ms, **p99 {s99:.2} ms** |",
                calls as f64 / s_elapsed.as_secs_f64()
            );
        }
    });
}
