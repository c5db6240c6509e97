//! Supply chain: the workspace's Cargo.lock against a snapshot of the whole RustSec advisory
//! database vendored in `supply-chain/advisory-db` (this machine cannot reach the live one;
//! `scripts/refresh-advisory-db` refreshes it). The check uses the `rustsec` library that
//! `cargo audit` is built on and counts informational advisories (unmaintained, unsound) too.
//! Every advisory that applies must be accepted, with a reason, in
//! `supply-chain/accepted-advisories.toml`, and every accepted one must still apply.

use std::collections::BTreeSet;
use std::path::PathBuf;

use rustsec::database::Query;
use rustsec::{Collection, Database, Lockfile};
use serde::Deserialize;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn database() -> Database {
    Database::open(&repo_root().join("supply-chain/advisory-db")).expect("the vendored advisory database loads")
}

/// An advisory that applies to a lock file: (id, crate, locked version, kind).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    id: String,
    krate: String,
    version: String,
    kind: String,
}

/// Every advisory of the crates collection that applies to `lockfile`, withdrawn ones aside:
/// vulnerabilities and informational ones alike, sorted.
fn advisories_for(db: &Database, lockfile: &Lockfile) -> Vec<Finding> {
    let query = Query::new().collection(Collection::Crates).withdrawn(false);
    let mut found: Vec<Finding> = db
        .query_vulnerabilities(lockfile, &query)
        .into_iter()
        .map(|v| Finding {
            id: v.advisory.id.to_string(),
            krate: v.package.name.to_string(),
            version: v.package.version.to_string(),
            kind: v.advisory.informational.as_ref().map_or_else(|| "vulnerability".to_string(), |i| i.to_string()),
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Accepted {
    accepted: Vec<Acceptance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Acceptance {
    id: String,
    #[serde(rename = "crate")]
    krate: String,
    kind: String,
    via: String,
    reason: String,
    revisit: String,
}

fn accepted() -> Vec<Acceptance> {
    let path = repo_root().join("supply-chain/accepted-advisories.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    toml::from_str::<Accepted>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())).accepted
}

/// What is wrong with `found` given `accepted`: advisories not accepted, then acceptances that
/// match nothing found (stale). Both empty when the lock file passes.
fn judge(found: &[Finding], accepted: &[Acceptance]) -> (Vec<String>, Vec<String>) {
    let matches = |f: &Finding, a: &Acceptance| f.id == a.id && f.krate == a.krate && f.kind == a.kind;
    let unaccepted =
        found.iter().filter(|f| !accepted.iter().any(|a| matches(f, a))).map(|f| format!("{} ({}) in {} {}", f.id, f.kind, f.krate, f.version)).collect();
    let stale = accepted.iter().filter(|a| !found.iter().any(|f| matches(f, a))).map(|a| format!("{} ({}) in {}", a.id, a.kind, a.krate)).collect();
    (unaccepted, stale)
}

fn lockfile(packages: &[(&str, &str)]) -> Lockfile {
    let mut text = String::from("version = 3\n\n");
    for (name, version) in packages {
        text.push_str(&format!(
            "[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n"
        ));
    }
    text.parse().expect("lock file parses")
}

fn ids(found: &[Finding]) -> Vec<&str> {
    found.iter().map(|f| f.id.as_str()).collect::<BTreeSet<_>>().into_iter().collect()
}

#[test]
fn the_snapshot_is_the_whole_database() {
    let db = database();
    let crates: BTreeSet<String> = db.iter().filter(|a| a.metadata.collection == Some(Collection::Crates)).map(|a| a.metadata.package.to_string()).collect();
    // The upstream database held 1,205 crate advisories on over 700 crates in August 2026.
    assert!(db.iter().count() > 1000 && crates.len() > 700, "{} advisories on {} crates: not a full snapshot", db.iter().count(), crates.len());
    let snapshot = std::fs::read_to_string(repo_root().join("supply-chain/advisory-db/SNAPSHOT")).expect("advisory-db/SNAPSHOT records the upstream commit");
    assert!(snapshot.lines().any(|l| l.starts_with("commit = \"") && l.len() == "commit = \"\"".len() + 40), "{snapshot}");
}

#[test]
fn the_lock_file_has_no_advisory_that_is_not_accepted_and_every_acceptance_still_applies() {
    let lockfile = Lockfile::load(repo_root().join("Cargo.lock")).expect("Cargo.lock parses");
    assert!(lockfile.packages.iter().any(|p| p.name.as_str() == "h2"), "the lock file carries the HTTP/2 stack the advisories are about");
    let accepted = accepted();
    for a in &accepted {
        assert!(
            !a.reason.trim().is_empty() && !a.via.trim().is_empty() && !a.revisit.trim().is_empty(),
            "{}: say why, through what, and when to revisit",
            a.id
        );
    }
    let (unaccepted, stale) = judge(&advisories_for(&database(), &lockfile), &accepted);
    assert!(
        unaccepted.is_empty(),
        "Cargo.lock depends on crate versions with RustSec advisories: {unaccepted:?}; update them (cargo update -p CRATE), \
         or accept each with its reason in supply-chain/accepted-advisories.toml"
    );
    assert!(stale.is_empty(), "supply-chain/accepted-advisories.toml accepts advisories that no longer apply to Cargo.lock: {stale:?}; delete those entries");
}

#[test]
fn a_lock_file_with_the_h2_reset_flood_and_the_tonic_accept_loop_fails() {
    let db = database();
    let old = lockfile(&[("h2", "0.4.1"), ("tonic", "0.12.2"), ("rustls-webpki", "0.103.11")]);
    let found = advisories_for(&db, &old);
    assert_eq!(
        ids(&found),
        ["RUSTSEC-2024-0003", "RUSTSEC-2024-0332", "RUSTSEC-2024-0376", "RUSTSEC-2026-0098", "RUSTSEC-2026-0099", "RUSTSEC-2026-0104", "RUSTSEC-2026-0258"]
    );
    let (unaccepted, stale) = judge(&found, &accepted());
    assert_eq!(unaccepted.len(), found.len(), "{unaccepted:?}");
    assert!(stale.iter().any(|s| s.contains("fxhash")) && stale.iter().any(|s| s.contains("instant")), "no sled here, so its acceptances are stale: {stale:?}");
    // Patched versions pass.
    assert!(advisories_for(&db, &lockfile(&[("h2", "0.4.16"), ("tonic", "0.12.3"), ("rustls-webpki", "0.103.13")])).is_empty());
}

#[test]
fn unmaintained_crates_count_and_only_the_accepted_ones_pass() {
    let db = database();
    // sled 0.34.7's unmaintained dependencies are accepted; indicatif 0.17's number_prefix is not.
    let sled = lockfile(&[("sled", "0.34.7"), ("instant", "0.1.13"), ("fxhash", "0.2.1"), ("number_prefix", "0.4.0")]);
    let found = advisories_for(&db, &sled);
    assert_eq!(ids(&found), ["RUSTSEC-2024-0384", "RUSTSEC-2025-0057", "RUSTSEC-2025-0119"]);
    assert!(found.iter().all(|f| f.kind == "unmaintained"), "{found:?}");
    let (unaccepted, stale) = judge(&found, &accepted());
    assert_eq!(unaccepted, ["RUSTSEC-2025-0119 (unmaintained) in number_prefix 0.4.0"]);
    assert!(!stale.iter().any(|s| s.contains("fxhash") || s.contains("instant")), "{stale:?}");
    // Without fxhash, its acceptance is stale; instant's is not.
    let (_, stale) = judge(&advisories_for(&db, &lockfile(&[("instant", "0.1.13")])), &accepted());
    assert!(stale.contains(&"RUSTSEC-2025-0057 (unmaintained) in fxhash".to_string()) && !stale.iter().any(|s| s.contains("instant")), "{stale:?}");
}
