//! Supply chain: the workspace's Cargo.lock against the RustSec advisories vendored in
//! `supply-chain/advisory-db` (this machine cannot reach the live database; see
//! supply-chain/README.md to refresh it). The check uses the `rustsec` library that
//! `cargo audit` is built on, and must fail on a lock file with a known advisory.

use std::path::PathBuf;

use rustsec::{Database, Lockfile};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn database() -> Database {
    Database::open(&repo_root().join("supply-chain/advisory-db")).expect("the vendored advisory database loads")
}

/// Advisory ids that apply to `lockfile`, sorted.
fn advisories_for(lockfile: &Lockfile) -> Vec<String> {
    let mut ids: Vec<String> = database().vulnerabilities(lockfile).iter().map(|v| v.advisory.id.to_string()).collect();
    ids.sort();
    ids
}

#[test]
fn the_lock_file_has_no_known_advisory() {
    let lockfile = Lockfile::load(repo_root().join("Cargo.lock")).expect("Cargo.lock parses");
    assert!(lockfile.packages.iter().any(|p| p.name.as_str() == "h2"), "the lock file carries the HTTP/2 stack the advisories are about");
    let found = advisories_for(&lockfile);
    assert!(found.is_empty(), "Cargo.lock depends on crate versions with known advisories: {found:?}; update them (cargo update -p CRATE)");
}

#[test]
fn a_lock_file_with_the_h2_reset_flood_and_the_tonic_accept_loop_fails() {
    let package = |name: &str, version: &str| {
        format!("[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n")
    };
    let old = format!("version = 3\n\n{}{}{}", package("h2", "0.4.1"), package("tonic", "0.12.2"), package("rustls-webpki", "0.103.11"));
    let lockfile: Lockfile = old.parse().expect("lock file parses");
    assert_eq!(
        advisories_for(&lockfile),
        ["RUSTSEC-2024-0003", "RUSTSEC-2024-0332", "RUSTSEC-2024-0376", "RUSTSEC-2026-0098", "RUSTSEC-2026-0104", "RUSTSEC-2026-0258"]
    );
    // Patched versions pass.
    let new = format!("version = 3\n\n{}{}", package("h2", "0.4.16"), package("tonic", "0.12.3"));
    assert!(advisories_for(&new.parse().expect("lock file parses")).is_empty());
}
