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
    "ab", "ag", "and", "as", "bv", "co", "corp", "de", "der", "des", "die", "du", "et", "for", "gmbh", "inc", "kg", "kk", "la", "le", "limited", "llc", "ltd",
    "nv", "of", "oy", "plc", "pte", "pty", "sa", "sarl", "spa", "srl", "the", "und", "von",
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
pub fn index_keys(s: &pb::LicenceSummary) -> Vec<Vec<u8>> {
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

/// Whether a licence summary matches every filter of `q` (status evaluated at `now`).
pub fn matches(s: &pb::LicenceSummary, q: &SearchQuery, now: i64) -> bool {
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
                let (authority, licence_id) = keys::licence_of_key(&key).ok_or(StoreError::Corrupt { table: "index", detail: "key without licence".into() })?;
                match self.licence(&authority, &licence_id)? {
                    Some(s) => s,
                    None => return Err(StoreError::Corrupt { table: "index", detail: format!("{authority}/{licence_id} has no summary") }),
                }
            };
            let first_key_in_scan = is_licence_scan || index_keys(&summary).iter().find(|k| k.starts_with(&prefix)).is_some_and(|k| k[..] == key[..]);
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::store::WriteBatch;

    const NAMES: [&str; 5] =
        ["Kessler Optronik GmbH", "Nordwerk Präzisionstechnik GmbH", "Tohoku Institute of Space Optics", "Optics Valley Ltd", "K K Holdings"];
    const CODES: [&str; 4] = ["EU-DU:3A001.a.1", "EU-DU:3A001.b.2", "EAR:5A992.c", "WA:3.A.1.a.1"];
    const COUNTRIES: [&str; 4] = ["JP", "KR", "IN", "US"];
    const STATUSES: [LicenceStatus; 4] = [LicenceStatus::Issued, LicenceStatus::Denied, LicenceStatus::Suspended, LicenceStatus::Revoked];
    const NOW: i64 = 1_000_000;

    fn pick<T: Copy>(items: &[T], mask: u8) -> Vec<T> {
        items.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, t)| *t).collect()
    }

    fn summary(n: u8, seed: u32) -> pb::LicenceSummary {
        let b = seed.to_le_bytes();
        pb::LicenceSummary {
            authority: if n.is_multiple_of(3) { "jp.meti" } else { "de.bafa" }.into(),
            licence_id: format!("L-{:02}-{}", n, n % 4),
            status: STATUSES[b[0] as usize % 4] as i32,
            applicant: NAMES[b[1] as usize % 5].into(),
            end_users: pick(&NAMES, b[2] >> 3).iter().map(|s| s.to_string()).collect(),
            destinations: pick(&COUNTRIES, b[2] & 0xF).iter().map(|s| s.to_string()).collect(),
            control_codes: pick(&CODES, b[3] & 0xF).iter().map(|s| s.to_string()).collect(),
            valid_from: NOW - 500 + (b[3] as i64 >> 4) * 100,
            valid_until: NOW + 200 - (b[1] as i64 % 3) * 300,
            last_decided_at: (b[0] as i64) * 10,
            ..Default::default()
        }
    }

    /// The documented search rules, written out independently of the index code.
    fn brute_force(all: &[pb::LicenceSummary], q: &SearchQuery) -> Vec<String> {
        let mut out: Vec<String> = all
            .iter()
            .filter(|s| {
                let names: Vec<&String> = std::iter::once(&s.applicant).chain(&s.end_users).chain(&s.consignees).collect();
                let party = q.party_words.is_empty()
                    || names.iter().any(|n| {
                        let ws = words(n);
                        q.party_words.iter().all(|qw| ws.iter().any(|w| w.starts_with(qw.as_str())))
                    });
                let code = q.control_code.as_ref().is_none_or(|c| {
                    s.control_codes
                        .iter()
                        .any(|sc| if c.contains(':') { sc.starts_with(c.as_str()) } else { sc.split(':').nth(1).unwrap().starts_with(c.as_str()) })
                });
                let status = LicenceStatus::try_from(s.status).unwrap();
                let effective = if status == LicenceStatus::Issued && NOW >= s.valid_until {
                    LicenceStatus::Expired
                } else if status == LicenceStatus::Issued && NOW < s.valid_from {
                    LicenceStatus::NotYetValid
                } else {
                    status
                };
                party
                    && code
                    && q.authority.as_ref().is_none_or(|a| &s.authority == a)
                    && q.licence_id_prefix.as_ref().is_none_or(|p| s.licence_id.starts_with(p.as_str()))
                    && q.destination.as_ref().is_none_or(|d| s.destinations.contains(d))
                    && q.status.is_none_or(|w| w == effective)
                    && q.decided_from.is_none_or(|t| s.last_decided_at >= t)
                    && q.decided_until.is_none_or(|t| s.last_decided_at < t)
            })
            .map(|s| format!("{}/{}", s.authority, s.licence_id))
            .collect();
        out.sort();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Paged search through the indexes returns exactly what a full scan with the documented
        /// rules returns, each licence once, also after licences changed (index keys replaced).
        #[test]
        fn paged_index_search_equals_brute_force(
            seeds in proptest::collection::vec(any::<u32>(), 1..25),
            updates in proptest::collection::vec((any::<u8>(), any::<u32>()), 0..10),
            queries in proptest::collection::vec((any::<u8>(), any::<u32>(), 1usize..4), 6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let mut current: Vec<pb::LicenceSummary> = seeds.iter().enumerate().map(|(n, s)| summary(n as u8, *s)).collect();
            let mut batch = WriteBatch::default();
            for s in &current {
                batch.put_licence(None, s);
            }
            store.commit(batch).unwrap();
            for (which, seed) in updates {
                let n = which as usize % current.len();
                let new = summary(n as u8, seed);
                let mut batch = WriteBatch::default();
                batch.put_licence(Some(&current[n]), &new);
                store.commit(batch).unwrap();
                current[n] = new;
            }
            for (mask, seed, page_size) in queries {
                let b = seed.to_le_bytes();
                let party = ["kessler", "optics", "gmbh", "k", "tohoku institute", "präz"][b[0] as usize % 6];
                let status = [LicenceStatus::Issued, LicenceStatus::Expired, LicenceStatus::NotYetValid, LicenceStatus::Revoked][b[1] as usize % 4];
                let q = SearchQuery {
                    authority: (mask & 1 != 0).then(|| "de.bafa".to_string()),
                    licence_id_prefix: (mask & 2 != 0).then(|| format!("L-{}", b[2] % 3)),
                    party_words: if mask & 4 != 0 { words(party) } else { vec![] },
                    destination: (mask & 8 != 0).then(|| COUNTRIES[b[2] as usize % 4].to_string()),
                    control_code: (mask & 16 != 0).then(|| ["3A001", "EU-DU:3A001.b", "EAR:5A", "3.A.1", "EU-DU:5A"][b[3] as usize % 5].to_string()),
                    status: (mask & 32 != 0).then_some(status),
                    decided_from: (mask & 64 != 0).then_some(b[3] as i64 * 5),
                    decided_until: (mask & 128 != 0).then_some(b[1] as i64 * 10),
                    page_size,
                    after: None,
                };
                let mut found = Vec::new();
                let mut query = q.clone();
                loop {
                    let page = store.search(&query, NOW).unwrap();
                    prop_assert!(page.licences.len() <= page_size);
                    found.extend(page.licences.iter().map(|s| format!("{}/{}", s.authority, s.licence_id)));
                    match page.next {
                        Some(next) => {
                            prop_assert!(Store::cursor_fits(&q, &next));
                            query.after = Some(next);
                        }
                        None => break,
                    }
                }
                let mut sorted = found.clone();
                sorted.sort();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), found.len(), "a licence was returned twice for {:?}", q);
                prop_assert_eq!(sorted, brute_force(&current, &q), "query {:?}", q);
            }
        }
    }
}
