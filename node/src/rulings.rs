//! The read side of classification rulings: the versions stored here (own and mirrored), each
//! re-parsed and re-checked against its id as it is read. Used by the writer (the next version
//! follows the latest), `ListRulings` / `GetRuling` and the web pages.

use comity_proto::checked::CheckedStatement;
use comity_proto::ruling::Ruling;
use comity_proto::statement::{Envelope, StatementId};

use crate::error::Error;
use crate::store::{Store, StoreError};

/// One stored ruling version.
#[derive(Debug, Clone)]
pub struct StoredRuling {
    pub id: StatementId,
    /// The envelope exactly as logged.
    pub envelope: Vec<u8>,
    pub ruling: Ruling,
}

/// Every stored version of `authority/ruling_id`, oldest first.
pub fn versions(store: &Store, authority: &str, ruling_id: &str) -> Result<Vec<StoredRuling>, Error> {
    store.ruling_ids(Some(authority), Some(ruling_id))?.into_iter().map(|id| read(store, id)).collect()
}

/// The latest version of each stored ruling (of `authority`, or of every authority), in
/// (authority, ruling id) order, filtered by `keep`; at most `limit`, and whether more matched.
pub fn latest(store: &Store, authority: Option<&str>, limit: usize, keep: impl Fn(&Ruling) -> bool) -> Result<(Vec<StoredRuling>, bool), Error> {
    let mut out: Vec<StoredRuling> = Vec::new();
    let mut current: Option<StoredRuling> = None;
    let mut more = false;
    // Key order puts each ruling's versions together, oldest first: the last one read of a
    // ruling is its latest.
    for id in store.ruling_ids(authority, None)? {
        let next = read(store, id)?;
        if let Some(held) = current.take() {
            if held.ruling.key() != next.ruling.key() && keep(&held.ruling) {
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(held);
            }
        }
        current = Some(next);
    }
    if let Some(held) = current.filter(|h| !more && keep(&h.ruling)) {
        if out.len() == limit {
            more = true;
        } else {
            out.push(held);
        }
    }
    Ok((out, more))
}

fn read(store: &Store, id: StatementId) -> Result<StoredRuling, Error> {
    let corrupt = |detail: String| Error::Store(StoreError::Corrupt { table: "ruling", detail });
    let envelope = store.statement(&id)?.ok_or_else(|| corrupt(format!("statement {id} is missing")))?;
    if StatementId::of(&envelope) != id {
        return Err(corrupt(format!("statement {id} does not hash to its id")));
    }
    let parsed = Envelope::parse(envelope.clone()).map_err(|e| corrupt(format!("statement {id}: {e}")))?;
    match CheckedStatement::try_from(&parsed) {
        Ok(CheckedStatement::Ruling(ruling)) => Ok(StoredRuling { id, envelope, ruling }),
        _ => Err(corrupt(format!("statement {id} is not a classification ruling"))),
    }
}
