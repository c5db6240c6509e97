//! The read side of the registry: a licence's decision chain as stored here, with restricted
//! decisions opened where this node holds their bodies, and its folded state. Every record is
//! re-checked against its id (and a body against its commitment) as it is read, so damaged
//! data is never answered from. Used by the writer (to stage against), Verify, Watch, Stats,
//! the web pages and `comity-node check`.

use std::collections::HashMap;

use comity_proto::decision::CheckedDecision;
use comity_proto::pb;
use comity_proto::restricted::CheckedRestricted;
use comity_proto::rules::LicenceState;
use comity_proto::statement::{Envelope, StatementId};

use crate::error::Error;
use crate::store::Store;

/// A licence with its decision chain.
#[derive(Debug, Clone)]
pub struct LicenceView {
    /// `None` when the licence is confidential and this node cannot read every decision.
    pub state: Option<LicenceState>,
    /// The decisions in version order.
    pub chain: Vec<StoredLink>,
}

/// One decision of a licence's chain as stored here.
#[derive(Debug, Clone)]
pub struct StoredLink {
    pub id: StatementId,
    pub envelope: Vec<u8>,
    /// The decision: in full, or for a restricted one whose body is not held here, its public
    /// face (authority, licence id, version, previous, decided_at).
    pub decision: pb::Decision,
    /// Key ids of its signatures (verified when stored).
    pub key_ids: Vec<String>,
    /// For a restricted (confidential) decision: its audience and, when held here, its body.
    pub restricted: Option<RestrictedPart>,
}

/// What a node holds of a restricted decision beyond its signed commitment.
#[derive(Debug, Clone)]
pub struct RestrictedPart {
    /// Log origins of the nodes that may read it.
    pub audience: Vec<String>,
    /// The opening of its commitment, when this node holds it.
    pub body: Option<pb::RestrictedBody>,
}

impl StoredLink {
    /// Whether this node can read the decision in full.
    pub fn readable(&self) -> bool {
        self.restricted.as_ref().is_none_or(|r| r.body.is_some())
    }

    /// The opening of a restricted decision's commitment, when this node holds its body.
    pub fn opening(&self) -> Option<pb::RestrictedOpening> {
        let body = self.restricted.as_ref()?.body.clone()?;
        Some(pb::RestrictedOpening { statement_id: self.id.0.to_vec(), body: Some(body) })
    }
}

/// Stored data that no longer passes the checks it passed on the way in.
pub(crate) fn stored_corrupt(e: impl std::fmt::Display) -> Error {
    Error::Store(crate::store::StoreError::Corrupt { table: "statement", detail: e.to_string() })
}

/// A statement's bytes must still hash to its id: a record damaged in the data dir is never
/// answered from (the log itself serves it as stored, for auditors and mirrors to catch).
pub(crate) fn check_stored_hash(id: &StatementId, bytes: &[u8]) -> Result<(), Error> {
    if StatementId::of(bytes) != *id {
        return Err(stored_corrupt(format!("statement {id} no longer hashes to its id: the data dir is damaged")));
    }
    Ok(())
}

/// A licence's stored chain; restricted decisions are opened with the bodies held here or in
/// `staged_bodies` (received in the current batch).
pub(crate) fn load_chain(
    store: &Store,
    authority: &str,
    licence_id: &str,
    staged_bodies: &HashMap<StatementId, pb::RestrictedBody>,
) -> Result<Vec<StoredLink>, Error> {
    store
        .chain_ids(authority, licence_id)?
        .into_iter()
        .map(|id| {
            let bytes = store.statement(&id)?.ok_or_else(|| stored_corrupt(format!("statement {id} missing")))?;
            check_stored_hash(&id, &bytes)?;
            let env = Envelope::parse(bytes).map_err(stored_corrupt)?;
            let key_ids = env.key_ids().map(str::to_string).collect();
            let (decision, restricted) = match env.statement() {
                pb::statement::Kind::Decision(d) => (d.clone(), None),
                pb::statement::Kind::RestrictedDecision(r) => {
                    let checked = CheckedRestricted::try_from(r.clone()).map_err(stored_corrupt)?;
                    let body = match staged_bodies.get(&id) {
                        Some(b) => Some(b.clone()),
                        None => store.restricted_body(&id)?,
                    };
                    // Re-opened on every read: a damaged body is never answered from.
                    let decision = match &body {
                        Some(b) => checked.open(b).map_err(|e| stored_corrupt(format!("body of {id}: {e}")))?.into_inner(),
                        None => checked.public_face(),
                    };
                    (decision, Some(RestrictedPart { audience: r.audience.clone(), body }))
                }
                _ => return Err(stored_corrupt(format!("statement {id} is not a decision"))),
            };
            Ok(StoredLink { id, envelope: env.into_bytes(), decision, key_ids, restricted })
        })
        .collect()
}

/// The summary the writer stores for a licence, re-derived from its logged chain: `None` when
/// it has no decisions and for a confidential licence (those get no summary). For the offline
/// `comity-node check`.
pub fn derived_summary(store: &Store, authority: &str, licence_id: &str) -> Result<Option<pb::LicenceSummary>, Error> {
    let chain = load_chain(store, authority, licence_id, &HashMap::new())?;
    if chain.first().is_none_or(|l| l.restricted.is_some()) {
        return Ok(None);
    }
    Ok(fold_readable(&chain)?.map(|s| s.decided_summary()))
}

/// The state of a stored chain, or `None` when it is empty or holds a decision not readable
/// here (a confidential licence outside its audience, or a body not received yet).
pub(crate) fn fold_readable(chain: &[StoredLink]) -> Result<Option<LicenceState>, Error> {
    if chain.iter().all(StoredLink::readable) {
        fold_chain(chain)
    } else {
        Ok(None)
    }
}

/// Folds a stored chain whose decisions are all readable here. Stored decisions passed these
/// checks on the way in, so a failure here means the store was damaged.
pub(crate) fn fold_chain(chain: &[StoredLink]) -> Result<Option<LicenceState>, Error> {
    let checked: Vec<(StatementId, CheckedDecision)> =
        chain.iter().map(|link| CheckedDecision::try_from(link.decision.clone()).map(|c| (link.id, c)).map_err(stored_corrupt)).collect::<Result<_, _>>()?;
    comity_proto::rules::fold(checked.iter().map(|(id, c)| (*id, c))).map_err(stored_corrupt)
}
