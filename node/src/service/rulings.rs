//! `ListRulings` and `GetRuling` (docs/rulings-and-general-licences.md): the classification
//! rulings held here, own and mirrored, read through [`crate::rulings`].

use comity_proto::pb;
use comity_proto::recognition::regime_of_prefix;
use comity_proto::ruling::RulingStatus;

use crate::error::Error;
use crate::input::{all_bounded, shown, MAX_ID_BYTES, MAX_TERM_BYTES};
use crate::rulings;
use crate::writer::Registry;

/// Most rulings one answer lists.
pub const MAX_RULINGS: u32 = 500;
/// Rulings listed when the request names no limit.
pub const DEFAULT_RULINGS: u32 = 100;

/// The latest version of each ruling matching `q`, at time `now` (withdrawn and expired ones
/// only with `all`).
pub fn list(registry: &Registry, q: &pb::ListRulingsRequest, now: i64) -> Result<pb::ListRulingsResponse, Error> {
    all_bounded([("authority", q.authority.as_str(), MAX_ID_BYTES), ("control_code", &q.control_code, MAX_TERM_BYTES), ("word", &q.word, MAX_TERM_BYTES)])?;
    if !q.authority.is_empty() && !comity_proto::decision::is_authority_id(&q.authority) {
        return Err(Error::InvalidArgument(format!("authority: `{}` is not a lowercase dotted id like de.bafa", shown(&q.authority))));
    }
    if !q.control_code.is_empty() && q.control_code.split_once(':').and_then(|(prefix, _)| regime_of_prefix(prefix)).is_none() {
        return Err(Error::InvalidArgument(format!("control_code: `{}` needs its regime, like EU-DU:3A001.b", shown(&q.control_code))));
    }
    if q.limit > MAX_RULINGS {
        return Err(Error::InvalidArgument(format!("limit: {} is more than the {MAX_RULINGS} allowed", q.limit)));
    }
    let limit = if q.limit == 0 { DEFAULT_RULINGS } else { q.limit } as usize;
    let word = q.word.trim();
    let keep = |r: &comity_proto::ruling::Ruling| {
        (q.all || r.status_at(now) == RulingStatus::InForce)
            && (q.control_code.is_empty() || r.has_code_under(&q.control_code))
            && (word.is_empty() || r.mentions(word))
    };
    let authority = (!q.authority.is_empty()).then_some(q.authority.as_str());
    let (found, truncated) = rulings::latest(registry.store(), authority, limit, keep)?;
    Ok(pb::ListRulingsResponse { rulings: found.into_iter().map(|r| r.envelope).collect(), truncated })
}

/// Every version of one ruling, with a receipt for the latest.
pub fn get(registry: &Registry, q: &pb::GetRulingRequest) -> Result<pb::GetRulingResponse, Error> {
    all_bounded([("authority", q.authority.as_str(), MAX_ID_BYTES), ("ruling_id", &q.ruling_id, MAX_ID_BYTES)])?;
    if !comity_proto::decision::is_authority_id(&q.authority) {
        return Err(Error::InvalidArgument(format!("authority: `{}` is not a lowercase dotted id like de.bafa", shown(&q.authority))));
    }
    if q.ruling_id.is_empty() {
        return Err(Error::InvalidArgument("ruling_id: required, e.g. DE-CR-2026-0115".into()));
    }
    let versions = rulings::versions(registry.store(), &q.authority, &q.ruling_id)?;
    let Some(latest) = versions.last() else {
        return Err(Error::NotFound(format!("no classification ruling {}/{} is held here", q.authority, shown(&q.ruling_id))));
    };
    let receipt = crate::service::verify::receipt_of(registry, &latest.id)?;
    Ok(pb::GetRulingResponse { receipt, versions: versions.into_iter().map(|r| r.envelope).collect() })
}
