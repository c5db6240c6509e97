//! Delivery receipts (#23 part 3): for each decision in this node's own log, which partners'
//! witnesses have confirmed holding and having verified it, and when. A witness confirms by
//! cosigning a checkpoint of the log; the writer records each growth of what a witness
//! confirmed (`Store::put_delivery`), so a decision at index `i` was delivered to a witness when
//! it first cosigned a checkpoint larger than `i`.

use comity_proto::pb;

use crate::chain::StoredLink;
use crate::error::Error;
use crate::store::Store;

/// The delivery receipts of the decisions of `chain` that are in this node's own log (none for
/// a mirrored licence: its issuer's node holds them).
pub fn of_chain(store: &Store, chain: &[StoredLink]) -> Result<Vec<pb::Delivery>, Error> {
    let witnesses = store.deliveries_latest()?;
    if witnesses.is_empty() {
        return Ok(Vec::new());
    }
    let Some(origin) = store.own_log_origin()? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for link in chain {
        let Some(index) = store.log_index_of(&link.id)? else { continue };
        let logged_at_ms = store.log(&origin).entered_at(index)?.unwrap_or(0) * 1000;
        for (witness, confirmed_size, confirmed_at_ms) in &witnesses {
            let mut d = pb::Delivery { version: link.decision.version, witness: witness.clone(), ..Default::default() };
            match store.delivered(witness, index)? {
                Some((_, at)) => {
                    d.delivered = true;
                    d.delivered_at_ms = at;
                    d.delay_ms = (at - logged_at_ms).max(0);
                }
                None => (d.confirmed_size, d.confirmed_at_ms) = (*confirmed_size, *confirmed_at_ms),
            }
            out.push(d);
        }
    }
    Ok(out)
}
