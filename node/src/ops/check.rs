//! `comity-node check`: re-derives the data the node keeps beside its logs (licence summaries,
//! search index entries, stored Merkle hashes) from the logged statements, offline, and reports
//! every difference. The node trusts that derived data when it answers, so a summary or hash
//! edited in the data dir would otherwise be served until someone happened to notice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use comity_proto::licence_map;
use comity_proto::log::{entry_leaf_hash, hashes_to_store, stored_checkpoint_fields, stored_map_root, tree_root, StoredHashes};
use comity_proto::pb;
use comity_proto::statement::Envelope;

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

/// How a check runs.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Rewrite the licence summaries and index entries that differ (offline only: the node's
    /// writer would race the rewrite).
    pub repair: bool,
    /// The node is running and writing: a difference counts only if a second, fresh read a
    /// moment later still shows it (a publish commits its decision, summary and index entries
    /// in one batch, but the check reads them one after another).
    pub confirm: bool,
    /// Sleep this long after each licence and each 256 summaries, index entries and log entries, so a background check
    /// leaves the disk and the cores to the node's requests.
    pub pause: Duration,
    /// Set to stop a check before it ends (the node is shutting down).
    pub stop: Option<Arc<AtomicBool>>,
}

/// Checks every licence and log in `store`; with `repair`, rewrites the licence summaries and
/// index entries that differ (never tree hashes: a wrong one means the store is damaged).
pub fn check_store(store: &Store, repair: bool) -> anyhow::Result<CheckReport> {
    check_with(store, &CheckOptions { repair, ..CheckOptions::default() })
}

/// [`check_store`] with every option. Reads as it goes: memory does not grow with the number of
/// licences (only with the differences found).
pub fn check_with(store: &Store, options: &CheckOptions) -> anyhow::Result<CheckReport> {
    let mut report = CheckReport::default();
    check_licences(store, options, &mut report)?;
    check_re_export_index(store, options, &mut report)?;
    check_logs(store, options, &mut report)?;
    Ok(report)
}

type Licence = (String, String);

/// Three passes, each streaming one table: the licences the log holds decisions for, the stored
/// summaries with no logged decision, and index entries that no summary accounts for.
fn check_licences(store: &Store, options: &CheckOptions, report: &mut CheckReport) -> anyhow::Result<()> {
    let mut reported: BTreeSet<Licence> = BTreeSet::new();
    let mut last: Option<Licence> = None;
    for d in store.decisions(None) {
        let (authority, licence_id, _, _) = d?;
        if last.as_ref().is_some_and(|(a, l)| *a == authority && *l == licence_id) {
            continue;
        }
        let licence = (authority, licence_id);
        report.licences += 1;
        if check_licence(store, &licence, &[], options, report)? {
            reported.insert(licence.clone());
        }
        last = Some(licence);
        pause(options)?;
    }
    for (n, summary) in store.summaries().enumerate() {
        if n % 256 == 255 {
            pause(options)?;
        }
        let summary = summary?;
        if !store.chain_ids(&summary.authority, &summary.licence_id)?.is_empty() {
            continue;
        }
        let licence = (summary.authority, summary.licence_id);
        report.licences += 1;
        if check_licence(store, &licence, &[], options, report)? {
            reported.insert(licence);
        }
    }
    // An entry outside the keys of its licence's summary (or, with no summary, of what the log
    // derives) is a stray: a search would return a licence that does not match.
    let mut strays: BTreeMap<Licence, Vec<Vec<u8>>> = BTreeMap::new();
    for (n, entry) in store.index_entries().enumerate() {
        if n % 256 == 255 {
            pause(options)?;
        }
        let (key, licence) = entry?;
        if reported.contains(&licence) && !options.repair {
            continue;
        }
        let expected = match store.licence(&licence.0, &licence.1)? {
            Some(summary) => Some(summary),
            None => derived_summary(store, &licence.0, &licence.1).ok().flatten(),
        };
        if expected.is_none_or(|s| search::index_keys(&s).binary_search(&key).is_err()) {
            strays.entry(licence).or_default().push(key);
        }
    }
    for (licence, extra) in strays {
        if !reported.contains(&licence) && store.chain_ids(&licence.0, &licence.1)?.is_empty() && store.licence(&licence.0, &licence.1)?.is_none() {
            report.licences += 1;
        }
        check_licence(store, &licence, &extra, options, report)?;
    }
    Ok(())
}

/// The index of re-export licences under their parents (docs/re-export.md) against the logs:
/// an entry for every public licence whose first decision names a parent (the licence rules keep
/// the parent and consent along the chain, and a first decision always states them), and no
/// other. Publish sums a consent's quantity over this index, so a lost entry would let a
/// re-export exceed its consent.
fn check_re_export_index(store: &Store, options: &CheckOptions, report: &mut CheckReport) -> anyhow::Result<()> {
    let mut expected: BTreeMap<[String; 4], String> = BTreeMap::new();
    for (n, d) in store.decisions(None).enumerate() {
        if n % 256 == 255 {
            pause(options)?;
        }
        let (authority, licence_id, version, id) = d?;
        if version != 1 {
            continue;
        }
        if let Some(((pa, pl), consent)) = first_names_parent(store, &id)? {
            expected.insert([pa, pl, authority, licence_id], consent);
        }
    }
    let mut fixes: Vec<([String; 4], Option<String>)> = Vec::new();
    for entry in store.re_export_index() {
        let (key, consent) = entry?;
        let listed = match expected.remove(&key) {
            Some(logged) => Some(logged),
            // Published since the decisions were read (a decision and its entry are committed
            // together): read the child's first decision again.
            None => match store.decision_id(&key[2], &key[3], 1)? {
                Some(id) => first_names_parent(store, &id)?.filter(|((pa, pl), _)| *pa == key[0] && *pl == key[1]).map(|(_, c)| c),
                None => None,
            },
        };
        match listed {
            Some(logged) if logged == consent => {}
            logged => {
                let [pa, pl, ca, cl] = &key;
                let text = match &logged {
                    Some(logged) => format!("{ca}/{cl}: the re-export index says it relies on consent {consent} of {pa}/{pl}, its log says {logged}"),
                    None => format!("{ca}/{cl}: the re-export index lists it under {pa}/{pl}, but its log names no such parent"),
                };
                report.differences.push(text);
                fixes.push((key, logged));
            }
        }
    }
    for (key, consent) in expected {
        let [pa, pl, ca, cl] = &key;
        report.differences.push(format!("{ca}/{cl}: a re-export licence under {pa}/{pl} (consent {consent}) missing from the re-export index"));
        fixes.push((key, Some(consent)));
    }
    if options.repair {
        for (key, consent) in fixes {
            store.repair_re_export_child(&key, consent.as_deref())?;
            let [pa, pl, ca, cl] = &key;
            report.repaired.push(format!("{ca}/{cl}: re-export index entry under {pa}/{pl} rewritten from the log"));
        }
    }
    Ok(())
}

/// The parent (`authority`, `licence_id`) and consent a public first decision `id` names, if any.
fn first_names_parent(store: &Store, id: &comity_proto::statement::StatementId) -> anyhow::Result<Option<((String, String), String)>> {
    let Some(bytes) = store.statement(id)? else { return Ok(None) };
    let Ok(envelope) = Envelope::parse(bytes) else { return Ok(None) };
    let pb::statement::Kind::Decision(first) = envelope.statement() else { return Ok(None) };
    Ok(comity_proto::decision::split_licence_ref(&first.parent_licence).map(|(a, l)| ((a.to_string(), l.to_string()), first.consent_id.clone())))
}

/// Compares one licence's stored summary and index entries (those its derived and stored
/// summaries name, plus `extra`) with what its logged decisions give. Returns whether it
/// reported a difference.
fn check_licence(store: &Store, licence: &Licence, extra: &[Vec<u8>], options: &CheckOptions, report: &mut CheckReport) -> anyhow::Result<bool> {
    let (authority, licence_id) = licence;
    let name = format!("{authority}/{licence_id}");
    let mut finding = licence_finding(store, licence, extra)?;
    if finding.is_some() && options.confirm {
        std::thread::sleep(Duration::from_millis(200));
        finding = licence_finding(store, licence, extra)?;
    }
    let Some(finding) = finding else { return Ok(false) };
    let (text, held_index, derived) = match finding {
        LicenceFinding::Unreadable(e) => {
            // The chain itself is unreadable: nothing to re-derive from, so nothing to repair.
            report.differences.push(format!("{name}: its logged decisions cannot be read: {e}"));
            return Ok(true);
        }
        LicenceFinding::Differs { text, held_index, derived } => (text, held_index, derived),
    };
    report.differences.push(format!("{name}: {text}"));
    if options.repair {
        store.repair_licence(authority, licence_id, &held_index, derived.as_deref())?;
        report.repaired.push(match &derived {
            Some(d) => format!("{name}: summary and search index rewritten from the log ({}, version {})", status_name(d.status), d.version),
            None => format!("{name}: summary and search index entries removed"),
        });
    }
    Ok(true)
}

enum LicenceFinding {
    Unreadable(crate::error::Error),
    Differs { text: String, held_index: Vec<Vec<u8>>, derived: Option<Box<pb::LicenceSummary>> },
}

/// One fresh read of a licence: `None` when its summary and index match its log.
fn licence_finding(store: &Store, (authority, licence_id): &Licence, extra: &[Vec<u8>]) -> anyhow::Result<Option<LicenceFinding>> {
    let derived = match derived_summary(store, authority, licence_id) {
        Ok(d) => d,
        Err(e) => return Ok(Some(LicenceFinding::Unreadable(e))),
    };
    let held_summary = store.licence(authority, licence_id)?;
    let wanted = derived.as_ref().map(search::index_keys).unwrap_or_default();
    // The entries held: of those either summary names or the caller found, the ones present.
    let mut candidates: Vec<Vec<u8>> = wanted.iter().chain(held_summary.as_ref().map(search::index_keys).iter().flatten()).chain(extra).cloned().collect();
    candidates.sort();
    candidates.dedup();
    let mut held_index = Vec::new();
    for key in candidates {
        if store.holds_index_entry(&key)? {
            held_index.push(key);
        }
    }
    let mut found = Vec::new();
    match (&held_summary, &derived) {
        (Some(h), Some(d)) if h != d => found.push(summary_difference(h, d)),
        (None, Some(d)) => found.push(format!("no stored summary, the log says {} (version {})", status_name(d.status), d.version)),
        (Some(h), None) => found.push(format!("a stored summary says {}, but the log holds no public decision for it", status_name(h.status))),
        _ => {}
    }
    let missing = wanted.iter().filter(|k| held_index.binary_search(k).is_err()).count();
    let extra = held_index.iter().filter(|k| wanted.binary_search(k).is_err()).count();
    if missing > 0 || extra > 0 {
        found.push(format!("{missing} search index entries missing and {extra} extra"));
    }
    Ok((!found.is_empty()).then(|| LicenceFinding::Differs { text: found.join("; "), held_index, derived: derived.map(Box::new) }))
}

/// Pauses as asked, and ends the check when asked to stop.
fn pause(options: &CheckOptions) -> anyhow::Result<()> {
    if !options.pause.is_zero() {
        std::thread::sleep(options.pause);
    }
    if options.stop.as_ref().is_some_and(|stop| stop.load(Ordering::Relaxed)) {
        anyhow::bail!("stopped");
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
fn check_logs(store: &Store, options: &CheckOptions, report: &mut CheckReport) -> anyhow::Result<()> {
    let logs = store.log_sizes()?;
    report.logs = logs.len();
    for (origin, _) in logs {
        let log = store.log(&origin);
        // The checkpoint first, then the size: on a running node the log may grow in between,
        // and the checkpoint's root is checked at its own size.
        let checkpoint = log.checkpoint()?;
        let size = log.size()?;
        let before = report.differences.len();
        // Entries whose stored hashes all equal the ones their leaves give. Each entry's hashes
        // are computed from stored hashes before it, which were all compared so: they stand in
        // for recomputed ones, so memory does not grow with the log, and the first difference
        // stops the log (later hashes would be computed from it).
        let mut checked = 0u64;
        // Each licence's head at the checkpoint's size: its licence-state map.
        let map_size = checkpoint.as_deref().and_then(stored_checkpoint_fields).map_or(0, |(cp_size, _, _)| cp_size);
        // Every licence head change up to that size, in a vector (a hash map of a million
        // heads took twice the memory): sorted and cut to each licence's latest below.
        let mut heads: Vec<(licence_map::MapKey, licence_map::Head)> = Vec::new();
        for index in 0..size {
            if index % 256 == 255 {
                pause(options)?;
            }
            let leaf = match entry(store, &origin, index) {
                Ok((leaf, envelope)) => {
                    if index < map_size {
                        if let Some((key, head)) = Envelope::parse(envelope).ok().as_ref().and_then(licence_map::change_of) {
                            heads.push((key, head));
                        }
                    }
                    leaf
                }
                Err(why) => {
                    // Later hashes depend on this leaf: stop this log here.
                    report.differences.push(format!("log {origin}: entry {index}: {why}"));
                    break;
                }
            };
            let expected = match hashes_to_store(index, &leaf, &log) {
                Ok(expected) => expected,
                Err(e) => {
                    report.differences.push(format!("log {origin}: entry {index}: {e}"));
                    break;
                }
            };
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
            if report.differences.len() > before {
                break;
            }
            checked += 1;
        }
        if report.differences.len() > before || checked != size {
            report.damaged_logs = true;
            continue;
        }
        if let Some(note) = checkpoint {
            let Some((cp_size, cp_root, _)) = stored_checkpoint_fields(&note) else {
                report.differences.push(format!("log {origin}: the stored checkpoint cannot be read"));
                report.damaged_logs = true;
                continue;
            };
            // A licence's versions only rise along its chain: its latest head has the highest.
            heads.sort_unstable_by_key(|(key, head)| (*key, head.version));
            heads.dedup_by(|later, earlier| {
                let same = later.0 == earlier.0;
                if same {
                    *earlier = *later;
                }
                same
            });
            check_map(&log, &note, cp_size, &heads, report);
            match tree_root(cp_size, &log) {
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

/// Compares the licence-state map the entries give (`heads`, at `size`) with the root the
/// checkpoint signs and with the stored map's root.
fn check_map(log: &crate::store::LogRef<'_>, note: &str, size: u64, heads: &[(licence_map::MapKey, licence_map::Head)], report: &mut CheckReport) {
    let origin = log.origin();
    let derived = licence_map::root_of_sorted(heads);
    if let Some(signed) = stored_map_root(note) {
        if signed != derived {
            report.differences.push(format!(
                "log {origin}: its first {size} entries give licence-state map root {}, the stored checkpoint says {}",
                hex::encode(derived),
                hex::encode(signed)
            ));
            report.damaged_logs = true;
        }
    }
    match held_map_root(log, size) {
        // No longer held at that size: nothing to compare (the next check reads a newer size).
        None => {}
        Some(Ok(stored)) if stored == derived => {}
        Some(Ok(stored)) => {
            report.differences.push(format!(
                "log {origin}: the stored licence-state map's root at size {size} is {}, its entries give {}",
                hex::encode(stored),
                hex::encode(derived)
            ));
            report.damaged_logs = true;
        }
        Some(Err(e)) => {
            report.differences.push(format!("log {origin}: the stored licence-state map at size {size} cannot be read: {e}"));
            report.damaged_logs = true;
        }
    }
}

/// The stored licence-state map's root at log size `size`, or `None` when the store no longer
/// holds the map at that size. That map is the current one with the undo records of the commits
/// after `size`, which a running node prunes (up to its cosigned checkpoint, and beyond
/// [`crate::store::MAX_UNDO`] commits) while the check reads the log; and a commit between
/// reading the undo records and the tiles gives the root of neither map, so such a read is
/// repeated.
fn held_map_root(log: &crate::store::LogRef<'_>, size: u64) -> Option<Result<comity_proto::log::TreeHash, crate::store::MapStoreError>> {
    for _ in 0..3 {
        let before = log.size().ok()?;
        let root = crate::log::map_root(log, size);
        if log.size().ok()? != before {
            continue;
        }
        let served = log.cosigned().ok()?.as_deref().and_then(stored_checkpoint_fields).map_or(before, |(cosigned, _, _)| cosigned);
        let pruned = served > size || before.saturating_sub(size) >= crate::store::MAX_UNDO as u64;
        return (!pruned).then_some(root);
    }
    None
}

/// Why a log entry could not be read back for the check.
#[derive(Debug, thiserror::Error)]
enum EntryReadError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("no statement id stored")]
    NoId,
    #[error("statement {0} missing")]
    NoStatement(comity_proto::statement::StatementId),
    #[error("no log time stored")]
    NoLogTime,
}

/// Leaf hash of entry `index` of log `origin`, from its stored statement and log time.
fn entry_leaf(store: &Store, origin: &str, index: u64) -> Result<[u8; 32], EntryReadError> {
    entry(store, origin, index).map(|(leaf, _)| leaf)
}

/// Leaf hash and envelope bytes of entry `index` of log `origin`.
fn entry(store: &Store, origin: &str, index: u64) -> Result<([u8; 32], Vec<u8>), EntryReadError> {
    let log = store.log(origin);
    let id = log.entry(index)?.ok_or(EntryReadError::NoId)?;
    let envelope = store.statement(&id)?.ok_or(EntryReadError::NoStatement(id))?;
    let logged_at = log.entered_at(index)?.ok_or(EntryReadError::NoLogTime)?;
    Ok((entry_leaf_hash(logged_at, &envelope), envelope))
}

/// Why the start-up check could not read what it checks (a difference it finds is an answer,
/// not an error). Typed, as the server's start reports it.
#[derive(Debug, thiserror::Error)]
pub enum QuickCheckError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Hashes(#[from] comity_proto::log::HashReadError),
}

impl crate::store::NameDamage for QuickCheckError {
    fn name_damage(self, dir: &std::path::Path) -> Self {
        match self {
            QuickCheckError::Store(e) => QuickCheckError::Store(e.name_damage(dir)),
            other => other,
        }
    }
}

/// The start-up check: what can be checked without reading whole logs. For every log held,
/// the newest entry's leaf (from its stored statement and log time) and the hashes it closed
/// are the stored ones, and the stored hashes give the stored checkpoint's root at its size
/// (O(log n) reads each). Returns (origin, what differs) per difference; the background check
/// reads the rest.
pub fn quick_check(store: &Store) -> Result<Vec<(String, String)>, QuickCheckError> {
    let mut differences = Vec::new();
    for (origin, size) in store.log_sizes()? {
        differences.extend(quick_check_log(store, &origin, size)?.into_iter().map(|d| (origin.clone(), d)));
    }
    Ok(differences)
}

/// [`quick_check`] of one log of `size` entries.
fn quick_check_log(store: &Store, origin: &str, size: u64) -> Result<Vec<String>, QuickCheckError> {
    let mut differences = Vec::new();
    let log = store.log(origin);
    if size > 0 {
        let index = size - 1;
        match entry_leaf(store, origin, index) {
            Err(why) => differences.push(format!("log {origin}: newest entry {index}: {why}")),
            Ok(leaf) => {
                let expected = hashes_to_store(index, &leaf, &log)?;
                let stored: Vec<u64> = expected.iter().map(|(i, _)| *i).collect();
                let held = log.read(&stored)?;
                if expected.iter().zip(&held).any(|((_, want), have)| want != have) {
                    differences.push(format!("log {origin}: the stored hashes of newest entry {index} are not those of its statement"));
                }
            }
        }
    }
    let Some(note) = log.checkpoint()? else { return Ok(differences) };
    match stored_checkpoint_fields(&note) {
        None => differences.push(format!("log {origin}: the stored checkpoint cannot be read")),
        Some((cp_size, cp_root, _)) => match tree_root(cp_size, &log) {
            Ok(root) if root == cp_root => {}
            Ok(root) => differences.push(format!(
                "log {origin}: the stored hashes give root {} at size {cp_size}, the stored checkpoint says {}",
                hex::encode(root),
                hex::encode(cp_root)
            )),
            Err(e) => differences.push(format!("log {origin}: root at the checkpoint's size {cp_size}: {e}")),
        },
    }
    Ok(differences)
}
