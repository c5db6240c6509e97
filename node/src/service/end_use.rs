//! Post-shipment verification records (#23): the end-use checks logged against a licence, and
//! their counts for transparency reports.

use std::collections::BTreeMap;

use comity_proto::pb;
use comity_proto::statement::{Envelope, StatementId};

use crate::chain::stored_corrupt;
use crate::error::Error;
use crate::store::Store;

fn load(store: &Store, id: &StatementId) -> Result<pb::EndUseCheck, Error> {
    let bytes = store.statement(id)?.ok_or_else(|| stored_corrupt(format!("end-use check {id} missing")))?;
    match Envelope::parse(bytes).map_err(stored_corrupt)?.statement() {
        pb::statement::Kind::EndUseCheck(c) => Ok(c.clone()),
        _ => Err(stored_corrupt(format!("statement {id} is not an end-use check"))),
    }
}

/// The end-use checks of `authority/licence_id` held here, oldest check first.
pub fn of_licence(store: &Store, authority: &str, licence_id: &str) -> Result<Vec<pb::EndUseCheck>, Error> {
    let mut checks = store.end_use_check_ids(Some((authority, licence_id)))?.iter().map(|id| load(store, id)).collect::<Result<Vec<_>, _>>()?;
    checks.sort_by_key(|c| c.checked_on);
    Ok(checks)
}

/// Outcomes of the checks done in [`from`, `until`) (`None` = open) of the licences of
/// `authority` (all when `None`), by the licence's authority, destination and risk tier; only
/// the checks `counted` accepts (those logged below the report's log sizes).
pub fn counts(
    store: &Store,
    authority: Option<&str>,
    from: Option<i64>,
    until: Option<i64>,
    counted: impl Fn(&StatementId) -> Result<bool, Error>,
) -> Result<Vec<pb::EndUseCheckCount>, Error> {
    let mut groups: BTreeMap<(String, String, u32), pb::EndUseCheckCount> = BTreeMap::new();
    for id in store.end_use_check_ids(None)? {
        if !counted(&id)? {
            continue;
        }
        let c = load(store, &id)?;
        if from.is_some_and(|f| c.checked_on < f) || until.is_some_and(|u| c.checked_on >= u) {
            continue;
        }
        let Some((licence_authority, licence_id)) = c.licence.split_once('/') else { continue };
        if authority.is_some_and(|a| a != licence_authority) {
            continue;
        }
        // A check of a licence whose summary is not held (confidential) counts under no destination.
        let summary = store.licence(licence_authority, licence_id)?.unwrap_or_default();
        let destinations = if summary.destinations.is_empty() { vec![String::new()] } else { summary.destinations.clone() };
        for destination in destinations {
            let key = (licence_authority.to_string(), destination.clone(), summary.risk_tier);
            let row = groups.entry(key).or_insert_with(|| pb::EndUseCheckCount {
                authority: licence_authority.to_string(),
                destination,
                risk_tier: summary.risk_tier,
                ..Default::default()
            });
            match pb::EndUseOutcome::try_from(c.outcome) {
                Ok(pb::EndUseOutcome::Confirmed) => row.confirmed += 1,
                Ok(pb::EndUseOutcome::NotFound) => row.not_found += 1,
                Ok(pb::EndUseOutcome::Diverted) => row.diverted += 1,
                _ => {}
            }
        }
    }
    Ok(groups.into_values().collect())
}
