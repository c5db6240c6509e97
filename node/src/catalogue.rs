//! The control lists and crosswalks this node holds (docs/control-lists.md): every stored
//! version of each authority's list of each regime, and the latest version of each crosswalk,
//! from its own log and the logs it mirrors. Publishing checks decisions' codes against them;
//! Verify counts codes through the crosswalk an agreement names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use comity_proto::catalogue::{ControlList, Crosswalk, ListHistory};
use comity_proto::checked::CheckedStatement;
use comity_proto::screening::{ScreeningHistory, ScreeningIndex, ScreeningList};
use comity_proto::statement::{Envelope, StatementId};

use crate::store::{Store, StoreError};

/// Which list: its publisher, its regime and the part of the list it holds
/// ([`ControlList::scope`]: its categories, or `*`).
pub type ListKey = (String, i32, String);
/// Lists by [`ListKey`].
type Lists = HashMap<ListKey, ListHistory>;
/// Crosswalks by `authority/crosswalk_id`, with the statement id of the version held.
type Crosswalks = HashMap<String, (StatementId, Arc<Crosswalk>)>;

/// A screening list: its versions, and its entries as the latest version leaves them, indexed.
pub struct Screening {
    pub history: ScreeningHistory,
    pub index: ScreeningIndex,
}

/// What the catalogue holds, shared by the writer and the readers.
#[derive(Default)]
pub struct Catalogue {
    lists: RwLock<Arc<Lists>>,
    /// Screening lists by `authority/list_id`.
    screening: RwLock<Arc<HashMap<String, Arc<Screening>>>>,
    crosswalks: RwLock<Arc<Crosswalks>>,
    /// Bumped whenever a list version or a crosswalk is put in force.
    version: AtomicU64,
}

/// Why the stored catalogue could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueLoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("catalogue statement {0} is listed but missing or not a control list or crosswalk")]
    Missing(StatementId),
}

impl Catalogue {
    /// The catalogue stored in `store`.
    pub fn load(store: &Store) -> Result<Self, CatalogueLoadError> {
        let catalogue = Self::default();
        let (lists, crosswalks) = store.catalogue_ids()?;
        for id in lists.into_iter().chain(crosswalks) {
            let bytes = store.statement(&id)?.ok_or(CatalogueLoadError::Missing(id))?;
            match Envelope::parse(bytes).ok().and_then(|e| CheckedStatement::try_from(&e).ok()) {
                Some(CheckedStatement::ControlList(list)) => catalogue.install_list(id, list),
                Some(CheckedStatement::Crosswalk(crosswalk)) => catalogue.install_crosswalk(id, crosswalk),
                _ => return Err(CatalogueLoadError::Missing(id)),
            }
        }
        // Versions in order; each list indexed once, after its last version.
        let mut histories: HashMap<String, ScreeningHistory> = HashMap::new();
        for id in store.screening_list_ids()? {
            let bytes = store.statement(&id)?.ok_or(CatalogueLoadError::Missing(id))?;
            match Envelope::parse(bytes).ok().and_then(|e| CheckedStatement::try_from(&e).ok()) {
                Some(CheckedStatement::ScreeningList(list)) => histories.entry(list.key()).or_default().versions.push((id, Arc::new(list))),
                _ => return Err(CatalogueLoadError::Missing(id)),
            }
        }
        let screening = histories.into_iter().map(|(key, history)| (key, Arc::new(Screening::of(history)))).collect();
        *catalogue.screening.write().expect("catalogue lock") = Arc::new(screening);
        Ok(catalogue)
    }

    /// Every screening list, by `authority/list_id`.
    pub fn screening(&self) -> Arc<HashMap<String, Arc<Screening>>> {
        self.screening.read().expect("catalogue lock").clone()
    }

    /// Puts stored screening-list versions in force (in version order), indexing each list once.
    pub fn install_screening(&self, versions: Vec<(StatementId, ScreeningList)>) {
        if versions.is_empty() {
            return;
        }
        let mut lock = self.screening.write().expect("catalogue lock");
        let mut next = (**lock).clone();
        let mut touched: Vec<String> = Vec::new();
        let mut histories: HashMap<String, ScreeningHistory> = HashMap::new();
        for (id, list) in versions {
            let key = list.key();
            let history = histories.entry(key.clone()).or_insert_with(|| next.get(&key).map(|s| s.history.clone()).unwrap_or_default());
            if history.versions.last().is_some_and(|(_, l)| l.list().version >= list.list().version) {
                continue;
            }
            history.versions.push((id, Arc::new(list)));
            touched.push(key);
        }
        for key in touched {
            if let Some(history) = histories.remove(&key) {
                next.insert(key, Arc::new(Screening::of(history)));
            }
        }
        *lock = Arc::new(next);
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Every list, by [`ListKey`].
    pub fn lists(&self) -> Arc<Lists> {
        self.lists.read().expect("catalogue lock").clone()
    }

    /// The histories of `authority`'s lists of `regime`, one per part, with their keys.
    pub fn histories(&self, authority: &str, regime: i32) -> Vec<(ListKey, ListHistory)> {
        let mut out: Vec<(ListKey, ListHistory)> =
            self.lists().iter().filter(|((a, r, _), _)| a == authority && *r == regime).map(|(k, h)| (k.clone(), h.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Every crosswalk (latest versions), with its statement id.
    pub fn crosswalks(&self) -> Vec<(StatementId, Arc<Crosswalk>)> {
        let mut all: Vec<(StatementId, Arc<Crosswalk>)> = self.crosswalks.read().expect("catalogue lock").values().cloned().collect();
        all.sort_by_key(|(_, c)| c.key());
        all
    }

    /// The crosswalk `authority/crosswalk_id`, with its statement id.
    pub fn crosswalk(&self, key: &str) -> Option<(StatementId, Arc<Crosswalk>)> {
        self.crosswalks.read().expect("catalogue lock").get(key).cloned()
    }

    /// The crosswalks held that `agreements` name (an agreement counts codes through its own).
    pub fn crosswalks_named_by(&self, agreements: &[&comity_proto::recognition::CheckedAgreement]) -> Vec<(StatementId, Arc<Crosswalk>)> {
        agreements.iter().filter(|a| !a.agreement().crosswalk.is_empty()).filter_map(|a| self.crosswalk(&a.agreement().crosswalk)).collect()
    }

    /// Puts a stored list version in force (versions arrive in order; a repeat is ignored).
    pub fn install_list(&self, id: StatementId, list: ControlList) {
        let mut lock = self.lists.write().expect("catalogue lock");
        let key = (list.list().authority.clone(), list.list().regime, list.scope());
        let history = lock.get(&key);
        if history.and_then(ListHistory::latest).is_some_and(|(_, l)| l.list().version >= list.list().version) {
            return;
        }
        let mut next = (**lock).clone();
        next.entry(key).or_default().versions.push((id, Arc::new(list)));
        *lock = Arc::new(next);
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Puts a stored crosswalk version in force, if it is newer than the one held.
    pub fn install_crosswalk(&self, id: StatementId, crosswalk: Crosswalk) {
        let mut lock = self.crosswalks.write().expect("catalogue lock");
        let key = crosswalk.key();
        if lock.get(&key).is_some_and(|(_, c)| c.crosswalk().version >= crosswalk.crosswalk().version) {
            return;
        }
        let mut next = (**lock).clone();
        next.insert(key, (id, Arc::new(crosswalk)));
        *lock = Arc::new(next);
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// A number that changes whenever a list version or crosswalk is put in force.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

impl Screening {
    fn of(history: ScreeningHistory) -> Self {
        let entries = history.entries_at(i64::MAX).into_iter().cloned().collect();
        Self { index: ScreeningIndex::new(entries), history }
    }
}
