//! Reading the control lists and crosswalks (docs/control-lists.md): the lists held, and one
//! code looked up in every list and through every crosswalk; and screening a name against the
//! screening lists held (docs/screening.md).

use comity_proto::authoring::{format_time, regime_prefix};
use comity_proto::catalogue::ControlList;
use comity_proto::decision::is_control_code;
use comity_proto::pb;
use comity_proto::recognition::regime_of_prefix;
use comity_proto::screening::{self, STRONG_MATCH, WEAK_MATCH};

use crate::error::Error;
use crate::store::Store;
use crate::trust::Trust;

/// Most codes a lookup reports on (the code and its equivalents).
const MAX_LOOKUP_CODES: usize = 64;

/// The envelopes of the lists (and the latest crosswalks) of `authority` (all when empty) and
/// `regime` (all when unspecified): every version, or the latest of each list.
pub fn list_envelopes(store: &Store, trust: &Trust, q: &pb::ListControlListsRequest) -> Result<pb::ListControlListsResponse, Error> {
    let envelope = |id: &comity_proto::statement::StatementId| {
        store.statement(id)?.ok_or_else(|| Error::Internal(format!("catalogue statement {id} is missing from the store")))
    };
    let mut lists = trust
        .catalogue()
        .lists()
        .iter()
        .filter(|((a, r, _), _)| (q.authority.is_empty() || *a == q.authority) && (q.regime == 0 || *r == q.regime))
        .map(|(k, h)| (k.clone(), h.clone()))
        .collect::<Vec<_>>();
    lists.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = pb::ListControlListsResponse::default();
    for (_, history) in lists {
        let versions: Vec<_> = match q.all_versions {
            true => history.versions.iter().collect(),
            false => history.versions.last().into_iter().collect(),
        };
        for (id, _) in versions {
            out.lists.push(envelope(id)?);
        }
    }
    for (id, crosswalk) in trust.catalogue().crosswalks() {
        if q.authority.is_empty() || crosswalk.crosswalk().authority == q.authority {
            out.crosswalks.push(envelope(&id)?);
        }
    }
    let screening = trust.catalogue().screening();
    let mut keys: Vec<&String> = screening.keys().collect();
    keys.sort();
    for key in keys {
        if let Some((id, latest)) = screening[key].history.versions.last() {
            if q.authority.is_empty() || latest.list().authority == q.authority {
                out.screening_lists.push(envelope(id)?);
            }
        }
    }
    Ok(out)
}

/// `code` (qualified) and its equivalents through every crosswalk, each in every list in force
/// at `at` whose categories hold it.
pub fn lookup(trust: &Trust, code: &str, at: i64) -> Result<pb::LookupControlCodeResponse, Error> {
    let regime = code.split_once(':').and_then(|(prefix, bare)| regime_of_prefix(prefix).filter(|r| is_control_code(*r, bare)));
    if regime.is_none() {
        return Err(Error::InvalidArgument(format!("control_code `{code}` is not a qualified code like EU-DU:3A001.a.1 or WA:3.A.1.a.1")));
    }
    let mut out = pb::LookupControlCodeResponse::default();
    let mut codes = vec![code.to_string()];
    for (_, crosswalk) in trust.catalogue().crosswalks() {
        let equivalence_note = |c: &str| crosswalk.equivalence(c).map(|e| e.note.clone()).unwrap_or_default();
        for (from, to) in crosswalk.equivalents(code) {
            if !codes.contains(&to) && codes.len() < MAX_LOOKUP_CODES {
                codes.push(to.clone());
            }
            let note = equivalence_note(&from);
            out.mappings.push(pb::CodeMapping { from, to, crosswalk: crosswalk.key(), crosswalk_version: crosswalk.crosswalk().version, note });
        }
    }
    let lists = trust.catalogue().lists();
    let mut keys: Vec<_> = lists.keys().collect();
    keys.sort();
    for qualified in &codes {
        let Some((prefix, bare)) = qualified.split_once(':') else { continue };
        let Some(regime) = regime_of_prefix(prefix) else { continue };
        for key in keys.iter().filter(|(_, r, _)| *r == regime as i32) {
            let history = &lists[*key];
            let Some(list) = history.in_force(at) else { continue };
            if !list.covers(bare) {
                continue;
            }
            out.listed.push(listed(history, list, qualified, bare));
        }
    }
    Ok(out)
}

fn listed(history: &comity_proto::catalogue::ListHistory, list: &ControlList, qualified: &str, bare: &str) -> pb::ListedCode {
    let l = list.list();
    let path: Vec<pb::ControlEntry> = list.path(bare).into_iter().cloned().collect();
    let not_listed = match (path.is_empty(), history.removal_of(bare, l.version)) {
        (false, _) => String::new(),
        (true, Some((removed_in, change))) => {
            let note = if change.note.is_empty() { String::new() } else { format!(": {}", change.note) };
            format!("removed in version {} (in force from {}){note}", removed_in.list().version, format_time(removed_in.list().valid_from))
        }
        (true, None) => format!("not on {}'s {} list", l.authority, pb::Regime::try_from(l.regime).map_or("?", regime_prefix)),
    };
    pb::ListedCode {
        control_code: qualified.to_string(),
        authority: l.authority.clone(),
        list_version: l.version,
        list_title: l.title.clone(),
        list_valid_from: l.valid_from,
        path,
        not_listed,
        list_categories: l.categories.clone(),
    }
}

/// Most matches a screen returns.
const MAX_SCREEN_MATCHES: u32 = 100;

/// Screens `q.name` against the lists asked for (every list held when none is named).
pub fn screen(trust: &Trust, q: &pb::ScreenRequest) -> Result<pb::ScreenResponse, Error> {
    if screening::words(&q.name).is_empty() {
        return Err(Error::InvalidArgument(
            "name: give a name with at least one word to screen (legal forms such as LLC or GmbH alone are not screened)".into(),
        ));
    }
    if !q.country.is_empty() && !comity_proto::codes::is_country(&q.country) {
        return Err(Error::InvalidArgument(format!("country: `{}` is not an ISO 3166-1 alpha-2 code", q.country)));
    }
    let min = match q.min_score {
        0 => WEAK_MATCH,
        s @ 50..=100 => s,
        s => return Err(Error::InvalidArgument(format!("min_score: {s} is not between 50 and 100"))),
    };
    let limit = match q.limit {
        0 => 20,
        n => n.min(MAX_SCREEN_MATCHES),
    } as usize;
    let held = trust.catalogue().screening();
    let mut keys: Vec<&String> = held.keys().collect();
    if !q.lists.is_empty() {
        if let Some(missing) = q.lists.iter().find(|l| !held.contains_key(*l)) {
            return Err(Error::NotFound(format!("screening list `{missing}` is not held here (`comity screening ls` lists those held)")));
        }
        keys.retain(|k| q.lists.contains(k));
    }
    keys.sort();
    let mut out = pb::ScreenResponse::default();
    let country = (!q.country.is_empty()).then_some(q.country.as_str());
    for key in keys {
        let list = &held[key];
        let Some((_, latest)) = list.history.versions.last() else { continue };
        out.lists_screened += 1;
        out.entries_screened += list.index.len() as u64;
        for hit in list.index.screen(&q.name, country, min) {
            out.matches.push(pb::ScreeningMatch {
                list: key.clone(),
                list_version: latest.list().version,
                list_title: latest.list().title.clone(),
                entry: Some(hit.entry.clone()),
                matched_name: hit.matched_name.to_string(),
                score: hit.score,
                strong: hit.score >= STRONG_MATCH,
            });
        }
    }
    out.matches.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.list.cmp(&b.list)));
    out.matches.truncate(limit);
    Ok(out)
}

/// Screens the licence's parties (from `answer`'s licence) and the end user asked about against
/// `lists`, the screening lists the relying party applies, and records what matched in
/// `answer.screening`. A strong match turns a VALID answer into SCREENED, with the matches as
/// its reasons; otherwise matches are warnings.
pub fn screen_parties(trust: &Trust, lists: &[String], end_user: Option<&str>, answer: &mut pb::VerifyResponse) -> Result<(), Error> {
    if lists.is_empty() {
        return Ok(());
    }
    let held = trust.catalogue().screening();
    if let Some(missing) = lists.iter().find(|l| !held.contains_key(*l)) {
        return Err(Error::FailedPrecondition(format!("screening list `{missing}` is not held here, so parties cannot be screened against it")));
    }
    let mut parties: Vec<(&str, String)> = Vec::new();
    if let Some(user) = end_user {
        parties.push(("end user asked about", user.to_string()));
    }
    if let Some(l) = &answer.licence {
        parties.push(("applicant", l.applicant.clone()));
        parties.extend(l.end_users.iter().map(|n| ("end user", n.clone())));
        parties.extend(l.consignees.iter().map(|n| ("consignee", n.clone())));
    }
    for (role, party) in parties.into_iter().filter(|(_, p)| !screening::words(p).is_empty()) {
        let request = pb::ScreenRequest { name: party.clone(), lists: lists.to_vec(), ..Default::default() };
        for found in screen(trust, &request)?.matches {
            answer.screening.push(pb::ScreeningHit { party: party.clone(), role: role.to_string(), found: Some(found) });
        }
    }
    let describe = |h: &pb::ScreeningHit| {
        let f = h.found.clone().unwrap_or_default();
        let e = f.entry.unwrap_or_default();
        let basis = if e.legal_basis.is_empty() { String::new() } else { format!(" ({})", e.legal_basis) };
        format!("{} {:?} matches {} entry {} {:?} (score {}): {}{basis}", h.role, h.party, f.list, e.entry_id, f.matched_name, f.score, e.reason)
    };
    let strong: Vec<String> = answer.screening.iter().filter(|h| h.found.as_ref().is_some_and(|f| f.strong)).map(describe).collect();
    let weak = answer.screening.iter().filter(|h| h.found.as_ref().is_some_and(|f| !f.strong)).map(|h| format!("{}; review it", describe(h)));
    answer.warnings.extend(weak);
    if !strong.is_empty() {
        if answer.verdict == pb::Verdict::Valid as i32 {
            answer.verdict = pb::Verdict::Screened as i32;
            let licence = std::mem::take(&mut answer.reasons);
            answer.reasons = strong;
            answer.reasons.extend(licence.into_iter().map(|r| format!("otherwise: {r}")));
        } else {
            answer.warnings.extend(strong);
        }
    }
    Ok(())
}
