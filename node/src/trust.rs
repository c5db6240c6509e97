//! What this node trusts: the root keys pinned in its trust file, the signing keys configured
//! for authorities that have not logged a key set yet, and the latest key set of each
//! authority seen in any log it holds. Shared by publishing, mirroring and verification.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use comity_proto::pb;
use comity_proto::recognition::CheckedAgreement;
use comity_proto::statement::{Envelope, StatementId};
use comity_proto::trust::{check_key_set, verify_key_set, CheckedKeySet, KeySetView, KeyStanding, Roots, TrustError};
use ed25519_dalek::VerifyingKey;

use crate::catalogue::Catalogue;
use crate::config::Config;
use crate::store::Store;

/// Trusted authorities and their keys.
pub struct Trust {
    roots: HashMap<String, Roots>,
    /// Signing keys from the config: an authority's keys until its first key set is logged.
    configured: HashMap<String, Vec<VerifyingKey>>,
    hosted: HashSet<String>,
    key_sets: RwLock<HashMap<String, Arc<KeySetView>>>,
    /// Recognition agreements in force (latest version of each, not withdrawn), as stored.
    agreements: RwLock<Arc<Vec<StoredAgreement>>>,
    /// Bumped whenever a key set or agreement is put in force (see [`Trust::version`]).
    version: AtomicU64,
    /// Control lists and crosswalks in force.
    catalogue: Catalogue,
}

/// A stored recognition agreement.
#[derive(Debug, Clone)]
pub struct StoredAgreement {
    pub id: StatementId,
    pub envelope: Vec<u8>,
    pub agreement: CheckedAgreement,
}

/// Why a stored statement is not an agreement.
#[derive(Debug, thiserror::Error)]
pub enum AgreementError {
    #[error(transparent)]
    Envelope(#[from] comity_proto::statement::StatementError),
    #[error("statement {0} is not an agreement")]
    NotAgreement(StatementId),
    #[error(transparent)]
    Field(#[from] comity_proto::decision::FieldError),
}

impl StoredAgreement {
    /// The stored agreement `id` with envelope `bytes`, or why it is not one.
    pub fn parse(id: StatementId, bytes: Vec<u8>) -> Result<Self, AgreementError> {
        let envelope = Envelope::parse(bytes.clone())?;
        let pb::statement::Kind::Agreement(a) = envelope.statement() else { return Err(AgreementError::NotAgreement(id)) };
        let agreement = CheckedAgreement::try_from(a.clone())?;
        Ok(Self { id, envelope: bytes, agreement })
    }

    fn key(&self) -> (&str, &str, &str) {
        let a = self.agreement.agreement();
        (&a.relying_authority, &a.recognised_authority, &a.agreement_id)
    }
}

/// Why the trust stored with a node could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustLoadError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("agreement {0} is missing from the store")]
    MissingAgreement(StatementId),
    #[error("key set {id} of {authority} is missing from the store")]
    MissingKeySet { id: StatementId, authority: String },
    #[error(transparent)]
    Agreement(#[from] AgreementError),
    #[error(transparent)]
    Catalogue(#[from] crate::catalogue::CatalogueLoadError),
}

/// Who signed a statement, as [`Trust::admit`] judges it.
pub struct Signed<'a> {
    /// The authority whose key set must list the keys (for a write-off, the reporting one).
    pub authority: &'a str,
    pub signers: &'a [VerifyingKey],
    /// The role the keys must have: CUSTOMS for a write-off, else LICENSING.
    pub role: pb::KeyRole,
    /// The date the signer wrote on it.
    pub dated: i64,
}

/// Why a statement may not enter a log at its log time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Inadmissible {
    /// It is dated after its log time (beyond the clock allowance).
    #[error("the statement's date: {0}")]
    Dated(comity_proto::log::EntryError),
    /// A signing key does not stand at the log time.
    #[error("{0}")]
    Signers(String),
}

/// How a decision's signers stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signers {
    /// Every signer is listed and in its window.
    Good,
    /// A signer was compromised later than the statement entered the log: valid, but flagged.
    Flagged(String),
    /// Refused, with the reason.
    Refused(String),
}

impl Trust {
    /// The trust of a node with `config`, whose trust file holds `roots`, with the key sets
    /// stored in `store` (each re-checked against today's roots; one that no longer checks is
    /// ignored with an error in the log).
    pub fn load(config: &Config, roots: HashMap<String, Roots>, store: &Store) -> Result<Self, TrustLoadError> {
        let configured = config.known_keys();
        let hosted = config.authorities.iter().map(|a| a.id.clone()).collect();
        let mut agreements = Vec::new();
        for id in store.agreement_ids(None)? {
            let bytes = store.statement(&id)?.ok_or(TrustLoadError::MissingAgreement(id))?;
            let stored = StoredAgreement::parse(id, bytes)?;
            if !stored.agreement.agreement().withdrawn {
                agreements.push(stored);
            }
        }
        let trust = Self {
            roots,
            configured,
            hosted,
            key_sets: RwLock::new(HashMap::new()),
            agreements: RwLock::new(Arc::new(agreements)),
            version: AtomicU64::new(0),
            catalogue: Catalogue::load(store)?,
        };
        for (authority, id) in store.key_set_ids()? {
            let bytes = store.statement(&id)?.ok_or_else(|| TrustLoadError::MissingKeySet { id, authority: authority.clone() })?;
            match Envelope::parse(bytes).map_err(|e| e.to_string()).and_then(|e| check_key_set(&e, &trust.roots, None).map_err(|e| e.to_string())) {
                Ok(view) => trust.install(view),
                Err(e) => tracing::error!(%authority, error = %e, "stored key set no longer verifies against the trust file; ignored"),
            }
        }
        Ok(trust)
    }

    /// True when this node hosts `authority` (publishes its statements).
    pub fn hosts(&self, authority: &str) -> bool {
        self.hosted.contains(authority)
    }

    /// True when decisions of `authority` are accepted here at all.
    pub fn knows(&self, authority: &str) -> bool {
        self.roots.contains_key(authority) || self.configured.contains_key(authority)
    }

    /// The pinned roots, by authority.
    pub fn roots(&self) -> &HashMap<String, Roots> {
        &self.roots
    }

    /// The key set in force for `authority`.
    pub fn key_set(&self, authority: &str) -> Option<Arc<KeySetView>> {
        self.key_sets.read().expect("key set lock").get(authority).cloned()
    }

    /// Makes `view` the key set in force (after it is stored).
    pub fn install(&self, view: KeySetView) {
        let mut sets = self.key_sets.write().expect("key set lock");
        // Only forward: a concurrent install of an older set never wins.
        if sets.get(&view.authority).is_none_or(|s| s.version < view.version) {
            sets.insert(view.authority.clone(), Arc::new(view));
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The agreements in force.
    pub fn agreements(&self) -> Arc<Vec<StoredAgreement>> {
        self.agreements.read().expect("agreement lock").clone()
    }

    /// Puts a newly stored agreement version in force (or ends the agreement it withdraws).
    pub fn install_agreement(&self, stored: StoredAgreement) {
        let mut lock = self.agreements.write().expect("agreement lock");
        let current = lock.iter().find(|a| a.key() == stored.key()).map(|a| a.agreement.agreement().version);
        if current.is_some_and(|v| v >= stored.agreement.agreement().version) {
            return;
        }
        let mut next: Vec<StoredAgreement> = lock.iter().filter(|a| a.key() != stored.key()).cloned().collect();
        if !stored.agreement.agreement().withdrawn {
            next.push(stored);
        }
        next.sort_by(|a, b| a.key().cmp(&b.key()));
        *lock = Arc::new(next);
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// A number that changes whenever a key set, an agreement, a control list or a crosswalk is
    /// put in force: caches of answers that depend on them (Verify's) read it first, like
    /// [`crate::store::Store::generation`].
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire).wrapping_add(self.catalogue.version())
    }

    /// The control lists and crosswalks in force.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Checks a key set against the roots and `current` (the set in force at that point).
    pub fn check_key_set(&self, envelope: &Envelope, current: Option<&KeySetView>) -> Result<KeySetView, TrustError> {
        check_key_set(envelope, &self.roots, current)
    }

    /// [`Trust::check_key_set`] for a key set whose contents are already checked.
    pub fn verify_key_set(&self, envelope: &Envelope, set: CheckedKeySet, current: Option<&KeySetView>) -> Result<KeySetView, TrustError> {
        verify_key_set(envelope, set, &self.roots, current)
    }

    /// Whether `signed` may enter a log at `logged_at`: not dated after it, and every signer
    /// standing at that time, with the role the statement needs, in `set` (the key set in force
    /// at that point of the log; `None`: the configured keys). For `history` (a mirrored entry,
    /// or the node's own re-logged in recovery) a key compromised since is not a refusal. The
    /// one key-standing check of publishing, re-logging and mirroring.
    pub fn admit(&self, signed: &Signed<'_>, set: Option<&KeySetView>, logged_at: i64, history: bool) -> Result<(), Inadmissible> {
        comity_proto::log::check_dated_by_log_time(signed.dated, logged_at).map_err(Inadmissible::Dated)?;
        match self.judge_signers(signed.authority, set, signed.signers, signed.role, logged_at, !history) {
            Signers::Refused(reason) => Err(Inadmissible::Signers(reason)),
            Signers::Good | Signers::Flagged(_) => Ok(()),
        }
    }

    /// Every key that may have signed a decision of `authority`: the key set's keys (whatever
    /// their standing, which [`Trust::admit`] judges), or the configured keys before the
    /// first key set.
    pub fn candidate_keys(&self, authority: &str) -> Vec<VerifyingKey> {
        match self.key_set(authority) {
            Some(set) => set.keys.iter().map(|k| k.key).collect(),
            None => self.configured.get(authority).cloned().unwrap_or_default(),
        }
    }

    /// How `signers` of a statement of `authority` stand, for a statement that enters the log
    /// at `logged_at` (now, when publishing), judged against `set` (the key set in force at
    /// that point; `None`: the configured keys). Keys are judged at the log time, never at the
    /// date the signer wrote (see `comity_proto::log::check_dated_by_log_time` for that date).
    /// With `refuse_compromised` false (history already logged: a mirrored entry, or the node's
    /// own entry re-logged in recovery) a key compromised since is not a refusal, as the entry is
    /// history either way; verification flags or refuses it by its log time and the compromise
    /// time.
    fn judge_signers(
        &self,
        authority: &str,
        set: Option<&KeySetView>,
        signers: &[VerifyingKey],
        role: pb::KeyRole,
        logged_at: i64,
        refuse_compromised: bool,
    ) -> Signers {
        let Some(set) = set else {
            if role == pb::KeyRole::Customs {
                return Signers::Refused(format!("{authority} has no key set here, and customs keys are delegated in key sets"));
            }
            let configured = self.configured.get(authority).map(Vec::as_slice).unwrap_or_default();
            return match signers.iter().find(|k| !configured.contains(k)) {
                Some(k) => Signers::Refused(format!("key {} is not a configured key of {authority}", comity_proto::statement::key_id(k))),
                None => Signers::Good,
            };
        };
        let mut flagged = None;
        for key in signers {
            let id = comity_proto::statement::key_id(key);
            if let Some(held) = set.entry(key).map(|e| e.role).filter(|held| *held != role) {
                return Signers::Refused(format!("key {id} is a {} key of {authority}; this statement needs a {} key", held.as_str_name(), role.as_str_name()));
            }
            let time = comity_proto::authoring::format_time;
            match set.standing(key, logged_at) {
                KeyStanding::Good => {}
                KeyStanding::CompromisedAfter { since } => {
                    flagged = Some(format!("signed with key {id}, declared compromised since {}, before that compromise", time(since)))
                }
                KeyStanding::Compromised { since } if refuse_compromised => {
                    return Signers::Refused(format!("signed with key {id}, compromised since {}", time(since)))
                }
                KeyStanding::Compromised { since } => {
                    flagged = Some(format!("signed with key {id}, compromised since {}, logged at {}", time(since), time(logged_at)))
                }
                KeyStanding::OutsideWindow => {
                    return Signers::Refused(format!("key {id} of {authority} is not valid at the statement's log time {}", time(logged_at)))
                }
                KeyStanding::Unknown => return Signers::Refused(format!("key {id} is not in key set v{} of {authority}", set.version)),
            }
        }
        flagged.map_or(Signers::Good, Signers::Flagged)
    }
}
