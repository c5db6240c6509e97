//! `comity-node check`: re-derives the data the node keeps beside its logs (licence summaries,
//! search index entries, stored Merkle hashes) from the logged statements, offline, and reports
//! every difference. The node trusts that derived data when it answers, so a summary or hash
//! edited in the data dir would otherwise be served until someone happened to notice.

use std::collections::{BTreeMap, BTreeSet};

use comity_proto::log::{entry_leaf_hash, hashes_to_store, stored_checkpoint_fields, tree_root, MemoryHashes, StoredHashes};
use comity_proto::pb;

use crate::chain::derived_summary;
use crate::store::{search, Store};

/// What a check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub licences: usize,
    pub logs: usize,
    /// One line per difference.
    pub differences: Vec<String>,
    /// One line per licence rewritten by `--repair`.
    pub repaired: Vec<String>,
    /// Whether some difference is in a log's stored hashes, which only `recover` repairs.
    pub damaged_logs: bool,
}

/// Checks every licence and log in `store`; with `repair`, rewrites the licence summaries and
/// index entries that differ (never tree hashes: a wrong one means the store is damaged).
pub fn check_store(store: &Store, repair: bool) -> anyhow::Result<CheckReport> {
    let mut report = CheckReport::default();
    check_licences(store, repair, &mut report)?;
    check_logs(store, &mut report)?;
    Ok(report)
}

fn check_licences(store: &Store, repair: bool, report: &mut CheckReport) -> anyhow::Result<()> {
    let mut stored: BTreeMap<(String, String), pb::LicenceSummary> =
        store.summaries()?.into_iter().map(|s| ((s.authority.clone(), s.licence_id.clone()), s)).collect();
    let mut index = store.index_entries()?;
    // Every licence named anywhere: by a logged decision, a summary or an index entry.
    let mut licences: BTreeSet<(String, String)> = BTreeSet::new();
    for d in store.decisions(None) {
        let (authority, licence_id, _, _) = d?;
        licences.insert((authority, licence_id));
    }
    licences.extend(stored.keys().cloned());
    licences.extend(index.keys().cloned());
    report.licences = licences.len();

    for key in licences {
        let (authority, licence_id) = &key;
        let name = format!("{authority}/{licence_id}");
        let derived = match derived_summary(store, authority, licence_id) {
            Ok(d) => d,
            Err(e) => {
                // The chain itself is unreadable: nothing to re-derive from, so nothing to repair.
                report.differences.push(format!("{name}: its logged decisions cannot be read: {e}"));
                continue;
            }
        };
        let held_summary = stored.remove(&key);
        let held_index = index.remove(&key).unwrap_or_default();
        let mut found = Vec::new();
        match (&held_summary, &derived) {
            (Some(h), Some(d)) if h != d => found.push(summary_difference(h, d)),
            (None, Some(d)) => found.push(format!("no stored summary, the log says {} (version {})", status_name(d.status), d.version)),
            (Some(h), None) => found.push(format!("a stored summary says {}, but the log holds no public decision for it", status_name(h.status))),
            _ => {}
        }
        let wanted = derived.as_ref().map(search::index_keys).unwrap_or_default();
        let missing = wanted.iter().filter(|k| held_index.binary_search(k).is_err()).count();
        let extra = held_index.iter().filter(|k| wanted.binary_search(k).is_err()).count();
        if missing > 0 || extra > 0 {
            found.push(format!("{missing} search index entries missing and {extra} extra"));
        }
        if found.is_empty() {
            continue;
        }
        report.differences.push(format!("{name}: {}", found.join("; ")));
        if repair {
            store.repair_licence(authority, licence_id, &held_index, derived.as_ref())?;
            report.repaired.push(match &derived {
                Some(d) => format!("{name}: summary and search index rewritten from the log ({}, version {})", status_name(d.status), d.version),
                None => format!("{name}: summary and search index entries removed"),
            });
        }
    }
    Ok(())
}

/// How a stored summary differs from the derived one, naming the status when that differs.
fn summary_difference(held: &pb::LicenceSummary, derived: &pb::LicenceSummary) -> String {
    if held.status != derived.status || held.version != derived.version {
        format!(
            "stored summary says {} (version {}), the log says {} (version {})",
            status_name(held.status),
            held.version,
            status_name(derived.status),
            derived.version
        )
    } else {
        "stored summary differs from the one derived from the log (same status and version, other fields)".to_string()
    }
}

fn status_name(status: i32) -> &'static str {
    pb::LicenceStatus::try_from(status).map_or("UNKNOWN", |s| s.as_str_name()).trim_start_matches("LICENCE_STATUS_")
}

/// Recomputes every log's leaf and stored hashes from its entries (statement and log time) and
/// compares them, and the root at the stored checkpoint, with what the store holds.
fn check_logs(store: &Store, report: &mut CheckReport) -> anyhow::Result<()> {
    let logs = store.log_sizes()?;
    report.logs = logs.len();
    for (origin, size) in logs {
        let log = store.log(&origin);
        let before = report.differences.len();
        let mut recomputed = MemoryHashes::default();
        for index in 0..size {
            let leaf = match entry_leaf(store, &origin, index) {
                Ok(leaf) => leaf,
                Err(why) => {
                    // Later hashes depend on this leaf: stop this log here.
                    report.differences.push(format!("log {origin}: entry {index}: {why}"));
                    break;
                }
            };
            let expected = hashes_to_store(index, &leaf, &recomputed).map_err(anyhow::Error::msg)?;
            for (stored_index, hash) in &expected {
                match log.read(&[*stored_index]) {
                    Ok(held) if held[0] == *hash => {}
                    Ok(held) => report.differences.push(format!(
                        "log {origin}: stored hash {stored_index} (written with entry {index}) is {}, its entries give {}",
                        hex::encode(held[0]),
                        hex::encode(hash)
                    )),
                    Err(e) => report.differences.push(format!("log {origin}: entry {index}: {e}")),
                }
            }
            recomputed.append(&leaf);
        }
        if report.differences.len() > before || recomputed.size() != size {
            report.damaged_logs = true;
            continue;
        }
        if let Some(note) = log.checkpoint()? {
            let Some((cp_size, cp_root, _)) = stored_checkpoint_fields(&note) else {
                report.differences.push(format!("log {origin}: the stored checkpoint cannot be read"));
                report.damaged_logs = true;
                continue;
            };
            match tree_root(cp_size, &recomputed) {
                Ok(root) if root == cp_root => {}
                Ok(root) => {
                    report.differences.push(format!(
                        "log {origin}: its first {cp_size} entries hash to root {}, the stored checkpoint says {}",
                        hex::encode(root),
                        hex::encode(cp_root)
                    ));
                    report.damaged_logs = true;
                }
                Err(e) => {
                    report.differences.push(format!("log {origin}: root at the checkpoint's size {cp_size}: {e}"));
                    report.damaged_logs = true;
                }
            }
        }
    }
    Ok(())
}

/// Leaf hash of entry `index` of log `origin`, from its stored statement and log time.
fn entry_leaf(store: &Store, origin: &str, index: u64) -> Result<[u8; 32], String> {
    let log = store.log(origin);
    let id = log.entry(index).map_err(|e| e.to_string())?.ok_or("no statement id stored")?;
    let envelope = store.statement(&id).map_err(|e| e.to_string())?.ok_or_else(|| format!("statement {id} missing"))?;
    let logged_at = log.entered_at(index).map_err(|e| e.to_string())?.ok_or("no log time stored")?;
    Ok(entry_leaf_hash(logged_at, &envelope))
}
