//! Denied-party and end-user alert lists (docs/screening.md): their versions, what a list holds
//! at a time, and screening a name against it.
//!
//! Names are compared as the US Consolidated Screening List's fuzzy search compares them: each
//! is transliterated to ASCII (Cyrillic, Greek, accents), lower-cased, split into words and
//! stripped of legal forms (`OOO`, `GmbH`, `Ltd`), and two names score by how well each one's
//! words are found among the other's (Jaro-Winkler similarity per word, weighted by length; the
//! lesser of the two directions). An index of word trigrams picks the candidates, so a screen scores a few
//! hundred names of a 50,000-entry list, not all of them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::codes::is_country;
use crate::decision::{self, field_err, is_authority_id, FieldError};
use crate::pb;
use crate::statement::StatementId;

/// Most entries one version adds or removes (a statement holds at most 64 KB anyway).
pub const MAX_CHANGES: usize = 10_000;
/// Longest text field, in bytes of UTF-8 (at least 1,000 characters of any script).
pub const MAX_TEXT_BYTES: usize = 4000;
/// At or above this score (0-100) a match is strong: the verdict refuses on it.
pub const STRONG_MATCH: u32 = 93;
/// At or above this score a match is reported, as a warning below [`STRONG_MATCH`].
pub const WEAK_MATCH: u32 = 85;

/// A listed word counts as close to a query word at this Jaro-Winkler similarity: a name
/// scoring [`WEAK_MATCH`] has its words at least about this close.
const CLOSE_WORD: f64 = 0.88;
/// Candidates are the names holding a word close to the query's rarest word when at most this
/// many do; else only those also holding one close to the second rarest.
const RARE_ENOUGH: usize = 200;

static LIST_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9-]{0,63}$").expect("valid regex"));
static ENTRY_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9/_.:-]{0,63}$").expect("valid regex"));

fn check_text(field: &str, text: &str, required: bool) -> Result<(), FieldError> {
    decision::check_text(field, text, MAX_TEXT_BYTES, required)
}

/// A screening list version whose fields are all well formed.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreeningList {
    list: pb::ScreeningList,
}

impl TryFrom<pb::ScreeningList> for ScreeningList {
    type Error = FieldError;

    fn try_from(list: pb::ScreeningList) -> Result<Self, FieldError> {
        if !is_authority_id(&list.authority) {
            return Err(field_err("authority", format!("`{}` is not an authority id like `de.bafa`", list.authority)));
        }
        if !LIST_ID.is_match(&list.list_id) {
            return Err(field_err("list_id", format!("`{}` is not a short id like `end-user-alert`", list.list_id)));
        }
        match (list.version, list.previous.len()) {
            (0, _) => return Err(field_err("version", "starts at 1")),
            (1, 0) | (2.., 32) => {}
            (1, _) => return Err(field_err("previous", "must be empty for version 1")),
            _ => return Err(field_err("previous", "must be the 32-byte statement id of the version before")),
        }
        check_text("title", &list.title, true)?;
        if list.valid_from <= 0 || list.issued_at <= 0 {
            return Err(field_err(if list.valid_from <= 0 { "valid_from" } else { "issued_at" }, "must be set (Unix seconds)"));
        }
        if list.added.len() + list.removed.len() > MAX_CHANGES || list.added.len() + list.removed.len() == 0 {
            return Err(field_err("added", format!("a version adds or removes 1 to {MAX_CHANGES} entries")));
        }
        let mut ids = HashSet::new();
        for (i, p) in list.added.iter().enumerate() {
            let field = |name: &str| format!("added[{i}].{name}");
            if !ENTRY_ID.is_match(&p.entry_id) {
                return Err(field_err(field("entry_id"), format!("`{}` is not an entry id like EUA-2026-0042", p.entry_id)));
            }
            if !ids.insert(p.entry_id.as_str()) {
                return Err(field_err(field("entry_id"), format!("`{}` appears twice in this version", p.entry_id)));
            }
            check_text(&field("name"), &p.name, true)?;
            if words(&p.name).is_empty() {
                return Err(field_err(field("name"), format!("`{}` has no word to screen against", p.name)));
            }
            for (j, a) in p.aliases.iter().chain(&p.addresses).enumerate() {
                check_text(&format!("{}[{j}]", field("aliases")), a, true)?;
            }
            if let Some(c) = p.countries.iter().find(|c| !is_country(c)) {
                return Err(field_err(field("countries"), format!("`{c}` is not an ISO 3166-1 alpha-2 code")));
            }
            check_text(&field("reason"), &p.reason, true)?;
            check_text(&field("legal_basis"), &p.legal_basis, false)?;
        }
        for (i, r) in list.removed.iter().enumerate() {
            if !ids.insert(r.entry_id.as_str()) {
                return Err(field_err(format!("removed[{i}].entry_id"), format!("`{}` is added or removed twice in this version", r.entry_id)));
            }
            check_text(&format!("removed[{i}].reason"), &r.reason, true)?;
        }
        Ok(Self { list })
    }
}

impl ScreeningList {
    pub fn list(&self) -> &pb::ScreeningList {
        &self.list
    }

    /// `authority/list_id`, as relying parties name it.
    pub fn key(&self) -> String {
        format!("{}/{}", self.list.authority, self.list.list_id)
    }
}

impl fmt::Display for ScreeningList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "screening list {} version {}", self.key(), self.list.version)
    }
}

/// Why a version cannot follow the versions stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScreeningSequenceError {
    #[error("{list}: version {got} does not follow the stored version {stored}; the next is {next}", next = stored + 1)]
    NotNext { list: String, stored: u64, got: u64 },
    #[error("{list}: `previous` is not the statement id of the stored version {stored}")]
    WrongPrevious { list: String, stored: u64 },
    #[error("{list}: takes effect at {from}, before the version it follows")]
    Backdated { list: String, from: String },
    #[error("{list}: {detail}")]
    Entries { list: String, detail: String },
}

/// The versions of one list, oldest first, and what they hold.
#[derive(Debug, Clone, Default)]
pub struct ScreeningHistory {
    pub versions: Vec<(StatementId, std::sync::Arc<ScreeningList>)>,
}

impl ScreeningHistory {
    /// The entries in force at `at`: added and not removed by the versions in force then.
    pub fn entries_at(&self, at: i64) -> Vec<&pb::ScreenedParty> {
        let mut held: HashMap<&str, &pb::ScreenedParty> = HashMap::new();
        for (_, v) in self.versions.iter().filter(|(_, v)| v.list.valid_from <= at) {
            for r in &v.list.removed {
                held.remove(r.entry_id.as_str());
            }
            for p in &v.list.added {
                held.insert(&p.entry_id, p);
            }
        }
        let mut out: Vec<&pb::ScreenedParty> = held.into_values().collect();
        out.sort_by(|a, b| a.entry_id.cmp(&b.entry_id));
        out
    }

    /// Checks that `new` is the next version: the next number after the newest stored, naming
    /// it as `previous`, taking effect no earlier, adding only ids not held and removing only ids held.
    pub fn check_next(&self, new: &ScreeningList) -> Result<(), ScreeningSequenceError> {
        let list = new.to_string();
        let l = &new.list;
        let (stored, stored_id, stored_from) = self.versions.last().map_or((0, None, i64::MIN), |(id, v)| (v.list.version, Some(id), v.list.valid_from));
        if l.version != stored + 1 {
            return Err(ScreeningSequenceError::NotNext { list, stored, got: l.version });
        }
        if stored_id.is_some_and(|id| l.previous.as_slice() != id.0.as_slice()) {
            return Err(ScreeningSequenceError::WrongPrevious { list, stored });
        }
        if l.valid_from < stored_from {
            return Err(ScreeningSequenceError::Backdated { list, from: crate::authoring::format_time(l.valid_from) });
        }
        let held: HashSet<&str> = self.entries_at(i64::MAX).into_iter().map(|p| p.entry_id.as_str()).collect();
        let mut wrong: Vec<String> =
            l.added.iter().filter(|p| held.contains(p.entry_id.as_str())).map(|p| format!("{} is already listed", p.entry_id)).collect();
        wrong.extend(l.removed.iter().filter(|r| !held.contains(r.entry_id.as_str())).map(|r| format!("{} is not listed, so cannot be removed", r.entry_id)));
        match wrong.is_empty() {
            true => Ok(()),
            false => Err(ScreeningSequenceError::Entries { list, detail: wrong.join("; ") }),
        }
    }
}

/// Words dropped before comparing: legal forms and filler, in the lower-case ASCII the
/// normaliser produces (`ООО` becomes `ooo`).
const NOISE: &[&str] = &[
    "ltd",
    "limited",
    "llc",
    "llp",
    "lp",
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "mbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "kk",
    "pte",
    "sdn",
    "bhd",
    "plc",
    "ooo",
    "oao",
    "zao",
    "pao",
    "ao",
    "jsc",
    "ojsc",
    "cjsc",
    "pjsc",
    "fze",
    "fzco",
    "fzc",
    "the",
    "of",
    "and",
    "for",
];

/// A name as compared: its words, transliterated and lower-cased, legal forms left out.
pub fn words(name: &str) -> Vec<String> {
    // Apostrophes join: the soft sign transliterates to one (`Уральские` is `Ural'skie`).
    let ascii = deunicode::deunicode(name).to_ascii_lowercase().replace(['\'', '`'], "");
    ascii.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty() && !NOISE.contains(w)).map(str::to_string).collect()
}

/// How much of `a`'s words `b` has: for each word of `a` its best Jaro-Winkler similarity with a
/// word of `b`, weighted by the word's length.
fn coverage(a: &[String], b: &[String]) -> f64 {
    let (mut sum, mut weight) = (0.0, 0.0);
    for wa in a {
        let best = b.iter().map(|wb| strsim::jaro_winkler(wa, wb)).fold(0.0, f64::max);
        sum += best * wa.len() as f64;
        weight += wa.len() as f64;
    }
    if weight == 0.0 {
        0.0
    } else {
        sum / weight
    }
}

/// The score of a query's words against a listed name's, 0 to 100: the lesser of how much of
/// each the other has. A name that leaves out a distinctive word of the other (`Precision
/// Instruments` against `Tehran Precision Instruments`) is a weak match for an officer to
/// review, not a strong one.
pub fn score(query: &[String], listed: &[String]) -> u32 {
    if query.is_empty() || listed.is_empty() {
        return 0;
    }
    (coverage(query, listed).min(coverage(listed, query)) * 100.0).round() as u32
}

/// A hit: the entry, the name or alias that matched, and the score.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    pub entry: &'a pb::ScreenedParty,
    pub matched_name: &'a str,
    pub score: u32,
}

/// The entries of one list at one time, indexed for screening.
pub struct ScreeningIndex {
    entries: Vec<pb::ScreenedParty>,
    /// Each name and alias: (entry, the name as written, its words).
    names: Vec<(usize, String, Vec<u32>)>,
    /// Every distinct word, and the names holding it.
    words: Vec<String>,
    postings: Vec<Vec<u32>>,
    /// Trigram → the words holding it.
    trigrams: HashMap<[u8; 3], Vec<u32>>,
}

fn trigrams(word: &str) -> Vec<[u8; 3]> {
    let padded: Vec<u8> = [b' ', b' '].into_iter().chain(word.bytes()).chain([b' ']).collect();
    let mut out: Vec<[u8; 3]> = padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl ScreeningIndex {
    pub fn new(entries: Vec<pb::ScreenedParty>) -> Self {
        let mut names = Vec::new();
        let mut word_ids: HashMap<String, u32> = HashMap::new();
        let mut words_list: Vec<String> = Vec::new();
        let mut postings: Vec<Vec<u32>> = Vec::new();
        for (e, entry) in entries.iter().enumerate() {
            for name in std::iter::once(&entry.name).chain(&entry.aliases) {
                let ws = words(name);
                if ws.is_empty() {
                    continue;
                }
                let n = names.len() as u32;
                let mut ids = Vec::with_capacity(ws.len());
                for w in ws {
                    let id = *word_ids.entry(w.clone()).or_insert_with(|| {
                        words_list.push(w);
                        postings.push(Vec::new());
                        (words_list.len() - 1) as u32
                    });
                    let p = &mut postings[id as usize];
                    if p.last() != Some(&n) {
                        p.push(n);
                    }
                    ids.push(id);
                }
                names.push((e, name.clone(), ids));
            }
        }
        let mut tri: HashMap<[u8; 3], Vec<u32>> = HashMap::new();
        for (id, w) in words_list.iter().enumerate() {
            for t in trigrams(w) {
                tri.entry(t).or_default().push(id as u32);
            }
        }
        Self { entries, names, words: words_list, postings, trigrams: tri }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The words of the index close to `word`: sharing enough trigrams, then Jaro-Winkler at
    /// least [`CLOSE_WORD`].
    fn close_words(&self, word: &str) -> Vec<u32> {
        let grams = trigrams(word);
        let needed = (grams.len() as u16).div_ceil(2).max(1);
        let mut shared = vec![0u16; self.words.len()];
        let mut reached = Vec::new();
        for g in &grams {
            for id in self.trigrams.get(g).map(Vec::as_slice).unwrap_or_default() {
                let n = &mut shared[*id as usize];
                *n += 1;
                if *n == needed {
                    reached.push(*id);
                }
            }
        }
        reached.into_iter().filter(|id| strsim::jaro_winkler(word, &self.words[*id as usize]) >= CLOSE_WORD).collect()
    }

    /// The entries matching `name` with a score of at least `min`, best first, one hit per
    /// entry (its best-scoring name). With `country`, entries that name countries must name it.
    pub fn screen(&self, name: &str, country: Option<&str>, min: u32) -> Vec<Hit<'_>> {
        let query = words(name);
        // Candidates come from the query's two rarest words (by how many names hold a word close
        // to them): a name that scores high has words close to nearly all of the query's, so
        // common words (`trading`, `industrial`) add work but no matches.
        let mut by_rarity: Vec<(usize, Vec<u32>)> = query
            .iter()
            .map(|w| {
                let close = self.close_words(w);
                (close.iter().map(|id| self.postings[*id as usize].len()).sum(), close)
            })
            .filter(|(_, close)| !close.is_empty())
            .collect();
        by_rarity.sort_by_key(|(n, _)| *n);
        let holding = |close: &[u32]| close.iter().flat_map(|id| self.postings[*id as usize].iter().copied()).collect::<HashSet<u32>>();
        // The names holding a word close to the rarest query word; when that word is common,
        // those also holding one close to the second rarest (all of them if none does).
        let candidates: HashSet<u32> = match by_rarity.as_slice() {
            [] => HashSet::new(),
            [(_, rarest)] => holding(rarest),
            [(n, rarest), ..] if *n <= RARE_ENOUGH => holding(rarest),
            [(_, rarest), (_, second), ..] => {
                let (a, b) = (holding(rarest), holding(second));
                let both: HashSet<u32> = a.intersection(&b).copied().collect();
                if both.is_empty() {
                    a.union(&b).copied().collect()
                } else {
                    both
                }
            }
        };
        // Candidate names share their words: each (query word, listed word) similarity is
        // computed once.
        let mut similar: HashMap<(usize, u32), f64> = HashMap::new();
        let mut best: HashMap<usize, Hit<'_>> = HashMap::new();
        for n in candidates {
            let (e, written, ids) = &self.names[n as usize];
            let entry = &self.entries[*e];
            if country.is_some_and(|c| !entry.countries.is_empty() && !entry.countries.iter().any(|x| x == c)) {
                continue;
            }
            let mut pair = |q: usize, id: u32| *similar.entry((q, id)).or_insert_with(|| strsim::jaro_winkler(&query[q], &self.words[id as usize]));
            let (mut forward, mut forward_weight) = (0.0, 0.0);
            for (q, word) in query.iter().enumerate() {
                let best_pair = ids.iter().map(|id| pair(q, *id)).fold(0.0, f64::max);
                forward += best_pair * word.len() as f64;
                forward_weight += word.len() as f64;
            }
            let (mut backward, mut backward_weight) = (0.0, 0.0);
            for id in ids {
                let best_pair = (0..query.len()).map(|q| pair(q, *id)).fold(0.0, f64::max);
                let len = self.words[*id as usize].len() as f64;
                backward += best_pair * len;
                backward_weight += len;
            }
            // As [`score`]: the lesser direction.
            let s = ((forward / forward_weight).min(backward / backward_weight) * 100.0).round() as u32;
            if s >= min && best.get(e).is_none_or(|h| h.score < s) {
                best.insert(*e, Hit { entry, matched_name: written, score: s });
            }
        }
        let mut hits: Vec<Hit<'_>> = best.into_values().collect();
        hits.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.entry.entry_id.cmp(&b.entry.entry_id)));
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(id: &str, name: &str, aliases: &[&str], countries: &[&str]) -> pb::ScreenedParty {
        pb::ScreenedParty {
            entry_id: id.into(),
            name: name.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            countries: countries.iter().map(|c| c.to_string()).collect(),
            reason: "procurement for a missile programme".into(),
            legal_basis: "Art. 4(1) Regulation (EU) 2021/821".into(),
            ..Default::default()
        }
    }

    #[test]
    fn names_are_transliterated_and_legal_forms_dropped() {
        assert_eq!(words("ООО «Громов Трейдинг»"), ["gromov", "treiding"]);
        assert_eq!(words("Gromov Trading LLC"), ["gromov", "trading"]);
        assert_eq!(words("Société Générale d'Équipements S.A."), ["societe", "generale", "dequipements", "s", "a"]);
        assert_eq!(score(&words("Gromov Trading"), &words("Gromov Trading Ltd.")), 100);
        assert_eq!(score(&words(""), &words("x")), 0);
    }

    #[test]
    fn a_cyrillic_spelling_finds_the_latin_entry_and_unrelated_names_do_not() {
        let index = ScreeningIndex::new(vec![
            party("EUA-1", "Uralskie Elektronnye Sistemy LLC", &["Ural Electronic Systems"], &["RU"]),
            party("EUA-2", "Nagoya Aerospace KK", &[], &["JP"]),
            party("EUA-3", "Tehran Precision Instruments Co.", &["TPI"], &["IR"]),
            party("EUA-4", "Gromov Trading House", &[], &["RU"]),
        ]);
        // The Cyrillic name, and a Latin spelling variant of it: strong.
        for query in ["ООО «Уральские электронные системы»", "Uralskiye Elektronnyye Sistemy OOO", "URAL ELECTRONIC SYSTEMS"] {
            let hits = index.screen(query, None, WEAK_MATCH);
            assert_eq!(hits.first().map(|h| h.entry.entry_id.as_str()), Some("EUA-1"), "{query}: {hits:?}");
            assert!(hits[0].score >= STRONG_MATCH, "{query}: {hits:?}");
        }
        // English words written in Cyrillic are only a weak match: a warning, not a refusal.
        let hits = index.screen("Громов Трейдинг Хаус", None, WEAK_MATCH);
        assert_eq!(hits.first().map(|h| h.entry.entry_id.as_str()), Some("EUA-4"), "{hits:?}");
        assert!(hits[0].score < STRONG_MATCH, "{hits:?}");
        // A country filter applies; unrelated names do not match.
        assert!(index.screen("Uralskie Elektronnye Sistemy", Some("DE"), WEAK_MATCH).is_empty());
        assert!(index.screen("Nagoya Semiconductor Materials", None, WEAK_MATCH).is_empty());
        assert!(index.screen("Precision Instruments GmbH", None, STRONG_MATCH).is_empty());
    }

    fn version(n: u64, previous: Option<StatementId>, added: Vec<pb::ScreenedParty>, removed: &[&str]) -> ScreeningList {
        ScreeningList::try_from(wire(n, previous, added, removed)).unwrap()
    }

    fn wire(n: u64, previous: Option<StatementId>, added: Vec<pb::ScreenedParty>, removed: &[&str]) -> pb::ScreeningList {
        pb::ScreeningList {
            authority: "de.bafa".into(),
            list_id: "end-user-alert".into(),
            version: n,
            previous: previous.map(|p| p.0.to_vec()).unwrap_or_default(),
            title: "BAFA end-user alert list".into(),
            valid_from: 1_700_000_000 + n as i64 * 86_400,
            added,
            removed: removed.iter().map(|id| pb::ScreeningRemoval { entry_id: id.to_string(), reason: "delisted on review".into() }).collect(),
            issued_at: 1_700_000_000,
        }
    }

    #[test]
    fn versions_add_and_remove_entries_in_order() {
        let v1 = version(1, None, vec![party("EUA-1", "Gromov Trading House", &[], &["RU"]), party("EUA-2", "Nagoya Aerospace", &[], &["JP"])], &[]);
        let mut history = ScreeningHistory::default();
        assert_eq!(history.check_next(&v1), Ok(()));
        history.versions.push((StatementId([1; 32]), v1.into()));
        let v2 = version(2, Some(StatementId([1; 32])), vec![], &["EUA-2"]);
        assert_eq!(history.check_next(&v2), Ok(()));
        let again = version(2, Some(StatementId([1; 32])), vec![party("EUA-1", "X", &[], &[])], &["EUA-9"]);
        let err = history.check_next(&again).unwrap_err().to_string();
        assert!(err.contains("EUA-1 is already listed") && err.contains("EUA-9 is not listed"), "{err}");
        assert!(matches!(history.check_next(&version(2, Some(StatementId([2; 32])), vec![], &["EUA-2"])), Err(ScreeningSequenceError::WrongPrevious { .. })));
        history.versions.push((StatementId([2; 32]), v2.into()));
        let ids = |at: i64| history.entries_at(at).into_iter().map(|p| p.entry_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(1_700_000_000 + 86_400), ["EUA-1", "EUA-2"]);
        assert_eq!(ids(1_700_000_000 + 2 * 86_400), ["EUA-1"]);
        // Field checks.
        let mut bad = wire(1, None, vec![party("EUA-1", "Gromov", &[], &["XX"])], &[]);
        assert_eq!(ScreeningList::try_from(bad.clone()).unwrap_err().field, "added[0].countries");
        bad.added[0].countries.clear();
        bad.added[0].name = "ООО".into();
        assert_eq!(ScreeningList::try_from(bad).unwrap_err().field, "added[0].name");
    }
}
