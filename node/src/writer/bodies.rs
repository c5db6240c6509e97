//! Confidential bodies received from a peer: each must open the commitment of a stored
//! restricted decision whose audience names this node, and follow the licence rules.

use std::collections::HashMap;

use comity_proto::decision::CheckedDecision;
use comity_proto::pb;
use comity_proto::restricted::CheckedRestricted;
use comity_proto::rules::LicenceState;
use comity_proto::statement::{Envelope, StatementId};

use super::BodiesStored;
use crate::chain::{fold_chain, load_chain, StoredLink};
use crate::error::Error;
use crate::store::{Store, WriteBatch};

/// Stores the restricted bodies a peer sent. Each must belong to a stored RestrictedDecision
/// whose audience names this node (or that this node's own log carries), open its commitment,
/// and follow the licence rules after the decisions before it; when an earlier body is still
/// missing, the rules are checked as soon as the chain is complete, on every read.
pub(super) fn store_bodies(store: &Store, own_origin: &str, openings: Vec<pb::RestrictedOpening>) -> Result<BodiesStored, Error> {
    let mut result = BodiesStored::default();
    let mut opened = Vec::new();
    for opening in openings {
        let Some(id) = StatementId::from_slice(&opening.statement_id) else {
            result.refused.push(format!("a body names no statement id ({} bytes)", opening.statement_id.len()));
            continue;
        };
        match open_body(store, own_origin, &id, opening.body) {
            Ok(Some(found)) => opened.push((id, found)),
            Ok(None) => {}
            Err(reason) => result.refused.push(format!("body of {id}: {reason}")),
        }
    }
    // In chain order, so each is checked after the ones before it.
    opened.sort_by(|(_, (a, _, _)), (_, (b, _, _))| (&a.authority, &a.licence_id, a.version).cmp(&(&b.authority, &b.licence_id, b.version)));
    let mut staged: HashMap<StatementId, pb::RestrictedBody> = HashMap::new();
    let mut batch = WriteBatch::default();
    for (id, (r, body, decision)) in opened {
        let chain = load_chain(store, &r.authority, &r.licence_id, &staged)?;
        let before: Vec<StoredLink> = chain.into_iter().take_while(|l| l.id != id).collect();
        if before.iter().all(StoredLink::readable) {
            let checked = match fold_chain(&before)? {
                None => LicenceState::start(id, &decision),
                Some(state) => state.apply(id, &decision),
            };
            if let Err(e) = checked {
                result.refused.push(format!("body of {id} ({}/{} v{}): breaks the licence rules: {e}", r.authority, r.licence_id, r.version));
                continue;
            }
        }
        batch.put_restricted_body(&id, &body);
        staged.insert(id, body);
        result.stored += 1;
    }
    if result.stored > 0 {
        store.commit(batch)?;
    }
    Ok(result)
}

/// Why a body sent by a peer is not stored (said back to the peer, after "body of ID: ").
#[derive(Debug, thiserror::Error)]
pub(super) enum BodyRefusal {
    #[error("no body sent")]
    NoBody,
    #[error("no such statement is held here")]
    NotHeld,
    #[error("not a restricted decision")]
    NotRestricted,
    #[error("its audience does not name this node ({0}); not stored")]
    NotInAudience(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Statement(#[from] comity_proto::statement::StatementError),
    #[error(transparent)]
    Restricted(#[from] comity_proto::restricted::RestrictedError),
}

/// The restricted decision `id` with its `body` and the decision it opens to, when this node
/// may hold it and the body opens its commitment; `None` when the body is already held.
pub(super) fn open_body(
    store: &Store,
    own_origin: &str,
    id: &StatementId,
    body: Option<pb::RestrictedBody>,
) -> Result<Option<(pb::RestrictedDecision, pb::RestrictedBody, CheckedDecision)>, BodyRefusal> {
    let body = body.ok_or(BodyRefusal::NoBody)?;
    if store.restricted_body(id)?.is_some() {
        return Ok(None);
    }
    let bytes = store.statement(id)?.ok_or(BodyRefusal::NotHeld)?;
    let envelope = Envelope::parse(bytes)?;
    let pb::statement::Kind::RestrictedDecision(r) = envelope.statement() else {
        return Err(BodyRefusal::NotRestricted);
    };
    let checked = CheckedRestricted::try_from(r.clone())?;
    let own_log = store.log_index_of(id)?.is_some();
    if !checked.may_receive(own_origin) && !own_log {
        return Err(BodyRefusal::NotInAudience(own_origin.to_string()));
    }
    let decision = checked.open(&body)?;
    Ok(Some((r.clone(), body, decision)))
}
