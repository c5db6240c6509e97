//! The denied licences a store holds (DENIED, or under appeal against a denial), in memory by destination, for the no-undercut check at
//! publish (docs/consultation.md). Loaded from the status index on first use, then kept
//! current by every commit that moves a licence into or out of DENIED, so a check never scans
//! the store. The end users of each destination's denials are indexed as a screening list is
//! (a grant's end user finds the few denials naming a similar party without scoring them all);
//! a destination's index is built on first use and dropped when one of its denials changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use comity_proto::pb::{self, LicenceStatus};
use comity_proto::screening::ScreeningIndex;

use super::keys::{self, table, SEP};
use super::{Result, Store, StoreError};

type LicenceKey = (String, String);

/// A licence entering DENIED (its new summary) or leaving it (`None`).
pub(super) struct DenialChange(LicenceKey, Option<pb::LicenceSummary>);

impl DenialChange {
    /// The change a summary update makes, if it touches a denial.
    pub(super) fn of(old: Option<&pb::LicenceSummary>, new: &pb::LicenceSummary) -> Option<Self> {
        let denied = comity_proto::consultation::is_standing_denial;
        let key = (new.authority.clone(), new.licence_id.clone());
        match (old.is_some_and(denied), denied(new)) {
            (false, false) => None,
            (_, true) => Some(Self(key, Some(new.clone()))),
            (true, false) => Some(Self(key, None)),
        }
    }
}

/// A destination's denials with their end users indexed: entry ids are positions in `denials`.
struct NameIndex {
    index: ScreeningIndex,
    denials: Vec<Arc<pb::LicenceSummary>>,
}

#[derive(Default)]
struct Held {
    by_licence: HashMap<LicenceKey, Arc<pb::LicenceSummary>>,
    by_destination: HashMap<String, BTreeSet<LicenceKey>>,
    names: HashMap<String, Arc<NameIndex>>,
}

impl Held {
    fn apply(&mut self, DenialChange(key, summary): DenialChange) {
        if let Some(old) = self.by_licence.remove(&key) {
            for d in &old.destinations {
                if let Some(set) = self.by_destination.get_mut(d) {
                    set.remove(&key);
                }
                self.names.remove(d);
            }
        }
        if let Some(s) = summary {
            for d in &s.destinations {
                self.by_destination.entry(d.clone()).or_default().insert(key.clone());
                self.names.remove(d);
            }
            self.by_licence.insert(key, Arc::new(s));
        }
    }

    /// `destination`'s name index, built if a change dropped it.
    fn names_of(&mut self, destination: &str) -> Arc<NameIndex> {
        if let Some(index) = self.names.get(destination) {
            return index.clone();
        }
        let denials: Vec<Arc<pb::LicenceSummary>> =
            self.by_destination.get(destination).into_iter().flatten().filter_map(|k| self.by_licence.get(k).cloned()).collect();
        let entries = denials
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let (name, aliases) = s.end_users.split_first()?;
                Some(pb::ScreenedParty { entry_id: i.to_string(), name: name.clone(), aliases: aliases.to_vec(), ..Default::default() })
            })
            .collect();
        let index = Arc::new(NameIndex { index: ScreeningIndex::new(entries), denials });
        self.names.insert(destination.to_string(), index.clone());
        index
    }
}

/// The index; `None` until first used.
#[derive(Default)]
pub(super) struct Denials(Mutex<Option<Held>>);

impl Denials {
    /// Applies a commit's changes (after it is on disk). Changes are idempotent, so one that a
    /// load racing with the commit already saw does no harm.
    pub(super) fn apply(&self, changes: Vec<DenialChange>) {
        if changes.is_empty() {
            return;
        }
        if let Some(held) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            for c in changes {
                held.apply(c);
            }
        }
    }

    /// Drops the index (after a write outside the writer, e.g. a repair): the next use loads it again.
    pub(super) fn forget(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Store {
    /// Runs `f` on the denials held, loading them on first use.
    fn with_denials<T>(&self, f: impl FnOnce(&mut Held) -> T) -> Result<T> {
        let mut guard = self.denials.0.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.load_denials()?);
        }
        Ok(f(guard.as_mut().expect("loaded above")))
    }

    /// The denied licences held with a destination among `destinations`.
    pub fn denials_to(&self, destinations: &[String]) -> Result<Vec<Arc<pb::LicenceSummary>>> {
        self.with_denials(|held| {
            let keys: BTreeSet<&LicenceKey> = destinations.iter().filter_map(|d| held.by_destination.get(d)).flatten().collect();
            keys.into_iter().filter_map(|k| held.by_licence.get(k).cloned()).collect()
        })
    }

    /// The denied licences held to `destination` that name an end user scoring at least `min`
    /// against one of `names` (screening's score, docs/screening.md).
    pub fn denials_naming(&self, destination: &str, names: &[&str], min: u32) -> Result<Vec<Arc<pb::LicenceSummary>>> {
        // Screened outside the lock: the index is immutable once built.
        let index = self.with_denials(|held| held.names_of(destination))?;
        let mut positions: BTreeSet<usize> = BTreeSet::new();
        for name in names {
            positions.extend(index.index.screen(name, None, min).iter().filter_map(|hit| hit.entry.entry_id.parse::<usize>().ok()));
        }
        Ok(positions.into_iter().filter_map(|i| index.denials.get(i).cloned()).collect())
    }

    fn load_denials(&self) -> Result<Held> {
        let mut held = Held::default();
        let denied = [table::IDX_STATUS, LicenceStatus::Denied as u8, SEP];
        let appealed = [table::IDX_STATUS, LicenceStatus::UnderAppeal as u8, SEP];
        for kv in self.db.scan_prefix(denied).chain(self.db.scan_prefix(appealed)) {
            let (key, _) = kv?;
            let (authority, licence_id) = keys::licence_of_key(&key).ok_or(StoreError::Corrupt { table: "index", detail: "key without licence".into() })?;
            let summary = self
                .licence(&authority, &licence_id)?
                .ok_or_else(|| StoreError::Corrupt { table: "index", detail: format!("{authority}/{licence_id} has no summary") })?;
            if let Some(change) = DenialChange::of(None, &summary) {
                held.apply(change);
            }
        }
        Ok(held)
    }
}
