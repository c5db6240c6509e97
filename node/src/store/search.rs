//! Licence search over the index tables.
//!
//! A query scans the one index that its most selective filter names, then checks every filter
//! on the licence summary. A licence can sit under several keys of one scan (two items under
//! `3A001`); it is returned only at its smallest such key, so pages never repeat a licence.

use comity_proto::pb::{self, LicenceStatus};
use comity_proto::rules::status_at;

use super::keys::{self, table, SEP};
use super::{decode_summary, Result, Store, StoreError};

/// Largest page a search returns.
pub const MAX_PAGE_SIZE: usize = 500;
/// Most index entries one page may examine, so a query with rare matches cannot pin a thread.
const MAX_SCAN: usize = 20_000;

/// A validated search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    pub authority: Option<String>,
    pub licence_id_prefix: Option<String>,
    /// Lowercase words; each must start a word of one party's name.
    pub party_words: Vec<String>,
    pub destination: Option<String>,
    /// `REGIME:CODE` prefix or bare code prefix.
    pub control_code: Option<String>,
    pub status: Option<LicenceStatus>,
    pub decided_from: Option<i64>,
    pub decided_until: Option<i64>,
    pub page_size: usize,
    /// Last key examined by the previous page.
    pub after: Option<Vec<u8>>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub licences: Vec<pb::LicenceSummary>,
    /// Continue from here; `None` when the scan is complete.
    pub next: Option<Vec<u8>>,
}

/// Lowercase alphanumeric words of a name.
pub fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Legal forms and filler words: in nearly every name, so useless to search by, and each
/// index key costs a write.
const UNINDEXED_WORDS: &[&str] = &[
    "ab", "ag", "and", "as", "bv", "co", "corp", "de", "der", "des", "die", "du", "et", "for", "gmbh", "inc", "kg", "kk", "la",
    "le", "limited", "llc", "ltd", "nv", "of", "oy", "plc", "pte", "pty", "sa", "sarl", "spa", "srl", "the", "und", "von",
];

/// True when `word` gets a party-index entry.
fn is_indexed_word(word: &str) -> bool {
    word.chars().count() >= 2 && !UNINDEXED_WORDS.contains(&word)
}

/// True when every name word that `word` is a prefix of is indexed, so a prefix scan of the
/// party index finds all matches ("gmb" could mean "gmbh", which is not indexed).
fn can_scan_by(word: &str) -> bool {
    word.chars().count() >= 2 && !UNINDEXED_WORDS.iter().any(|u| u.starts_with(word))
}

fn bare_code(qualified: &str) -> &str {
    qualified.split_once(':').map_or(qualified, |(_, code)| code)
}

/// Every index key of a licence summary.
pub(super) fn index_keys(s: &pb::LicenceSummary) -> Vec<Vec<u8>> {
    let key = |tag: u8, term: &[u8]| keys::index(tag, term, &s.authority, &s.licence_id);
    let mut out = Vec::new();
    let parties = std::iter::once(&s.applicant).chain(&s.end_users).chain(&s.consignees);
    for name in parties {
        for w in words(name).into_iter().filter(|w| is_indexed_word(w)) {
            out.push(key(table::IDX_PARTY, w.as_bytes()));
        }
    }
    for d in &s.destinations {
        out.push(key(table::IDX_DESTINATION, d.as_bytes()));
    }
    for c in &s.control_codes {
        out.push(key(table::IDX_CONTROL_CODE, bare_code(c).as_bytes()));
    }
    out.push(key(table::IDX_STATUS, &[s.status as u8]));
    out.sort();
    out.dedup();
    out
}

/// Which keys a query walks: the index of its most selective filter, or the licence table.
fn scan_prefix(q: &SearchQuery) -> Vec<u8> {
    let exact = |tag: u8, term: &[u8]| [&[tag][..], term, &[SEP]].concat();
    // Scan by the longest indexed query word; a query of only unindexed words ("gmbh") falls
    // through to the other scans, and the party filter still applies to every result.
    if let Some(longest) = q.party_words.iter().filter(|w| can_scan_by(w)).max_by_key(|w| w.len()) {
        return [&[table::IDX_PARTY][..], longest.as_bytes()].concat();
    }
    if let Some(code) = &q.control_code {
        return [&[table::IDX_CONTROL_CODE][..], bare_code(code).as_bytes()].concat();
    }
    if let Some(dest) = &q.destination {
        return exact(table::IDX_DESTINATION, dest.as_bytes());
    }
    if let Some(status) = q.status {
        // Expiry is evaluated at query time over licences whose decisions left them issued.
        let stored = match status {
            LicenceStatus::Expired | LicenceStatus::NotYetValid => LicenceStatus::Issued,
            s => s,
        };
        return exact(table::IDX_STATUS, &[stored as u8]);
    }
    match (&q.authority, &q.licence_id_prefix) {
        (Some(a), Some(p)) => [&[table::LICENCE][..], a.as_bytes(), &[SEP], p.as_bytes()].concat(),
        (Some(a), None) => exact(table::LICENCE, a.as_bytes()),
        (None, _) => vec![table::LICENCE],
    }
}

fn matches(s: &pb::LicenceSummary, q: &SearchQuery, now: i64) -> bool {
    let party_ok = q.party_words.is_empty()
        || std::iter::once(&s.applicant).chain(&s.end_users).chain(&s.consignees).any(|name| {
            let ws = words(name);
            q.party_words.iter().all(|qw| ws.iter().any(|w| w.starts_with(qw.as_str())))
        });
    let code_ok = q.control_code.as_ref().is_none_or(|want| {
        s.control_codes.iter().any(|c| if want.contains(':') { c.starts_with(want.as_str()) } else { bare_code(c).starts_with(want.as_str()) })
    });
    let status = LicenceStatus::try_from(s.status).unwrap_or(LicenceStatus::Unspecified);
    party_ok
        && code_ok
        && q.authority.as_ref().is_none_or(|a| &s.authority == a)
        && q.licence_id_prefix.as_ref().is_none_or(|p| s.licence_id.starts_with(p.as_str()))
        && q.destination.as_ref().is_none_or(|d| s.destinations.contains(d))
        && q.status.is_none_or(|want| status_at(status, s.valid_from, s.valid_until, now) == want)
        && q.decided_from.is_none_or(|t| s.last_decided_at >= t)
        && q.decided_until.is_none_or(|t| s.last_decided_at < t)
}

impl Store {
    /// One page of licences matching `q`, with statuses evaluated at `now`.
    pub fn search(&self, q: &SearchQuery, now: i64) -> Result<SearchPage> {
        let prefix = scan_prefix(q);
        let is_licence_scan = prefix[0] == table::LICENCE;
        let mut licences = Vec::new();
        let mut last_key: Option<Vec<u8>> = None;
        for (scanned, entry) in self.scan_from(&prefix, q.after.as_deref()).enumerate() {
            if scanned >= MAX_SCAN || licences.len() >= q.page_size {
                return Ok(SearchPage { licences, next: last_key });
            }
            let (key, value) = entry?;
            last_key = Some(key.to_vec());
            let summary = if is_licence_scan {
                decode_summary(&value)?
            } else {
                let (authority, licence_id) = keys::licence_of_key(&key)
                    .ok_or(StoreError::Corrupt { table: "index", detail: "key without licence".into() })?;
                match self.licence(&authority, &licence_id)? {
                    Some(s) => s,
                    None => return Err(StoreError::Corrupt { table: "index", detail: format!("{authority}/{licence_id} has no summary") }),
                }
            };
            let first_key_in_scan =
                is_licence_scan || index_keys(&summary).iter().find(|k| k.starts_with(&prefix)).is_some_and(|k| k[..] == key[..]);
            if first_key_in_scan && matches(&summary, q, now) {
                let mut shown = summary;
                let stored = LicenceStatus::try_from(shown.status).unwrap_or(LicenceStatus::Unspecified);
                shown.status = status_at(stored, shown.valid_from, shown.valid_until, now) as i32;
                licences.push(shown);
            }
        }
        Ok(SearchPage { licences, next: None })
    }

    /// True when `cursor` can continue a search for `q` (it lies in that query's scan).
    pub fn cursor_fits(q: &SearchQuery, cursor: &[u8]) -> bool {
        cursor.starts_with(&scan_prefix(q))
    }
}
