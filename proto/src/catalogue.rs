//! Control lists and crosswalks (docs/control-lists.md): the signed, versioned lists an
//! authority checks its decisions' control codes against, and the equivalences between the
//! codes of different regimes that recognition agreements may count through.
//!
//! Pure rules, as in [`crate::recognition`]: the fields of a list or crosswalk are checked here,
//! a new list version against the version before it with [`check_follows`], a decision's codes
//! against the version in force at its date with [`check_codes`], and an item's code against an
//! agreement's patterns through a crosswalk with [`Crosswalk::covering`]. The node keeps the
//! stored versions; signatures are checked before any of this.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::authoring::{format_time, regime_prefix};
use crate::decision::{self, field_err, is_authority_id, is_control_code, FieldError};
use crate::pb::{self, control_change::Kind as ChangeKind, Regime};
use crate::recognition::{pattern_matches, regime_of_prefix};
use crate::statement::StatementId;

/// Most entries in one list version (Annex I holds about 2,000).
pub const MAX_ENTRIES: usize = 20_000;
/// Most equivalences in one crosswalk.
pub const MAX_EQUIVALENCES: usize = 20_000;
/// Most codes in one equivalence: one per regime.
pub const MAX_CODES_PER_EQUIVALENCE: usize = 8;
/// Longest title or note, in bytes of UTF-8 (at least 1,000 characters of any script).
pub const MAX_TEXT_BYTES: usize = 4000;
/// Most categories a list names.
const MAX_CATEGORIES: usize = 16;

static CROSSWALK_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9-]{0,63}$").expect("valid regex"));

fn check_text(field: &str, text: &str, required: bool) -> Result<(), FieldError> {
    decision::check_text(field, text, MAX_TEXT_BYTES, required)
}

/// The category of a code: its leading digit (`3` for `3A001.a.1` and `3.A.1.a.1`); codes
/// outside the numbered categories (`EAR99`, national codes) have none.
pub fn category_of(code: &str) -> Option<char> {
    code.chars().next().filter(char::is_ascii_digit)
}

/// The category and product group of a code (`3A` for `3A001.a.1` and `3.A.1.a.1`), if it has both.
pub fn group_of(code: &str) -> Option<String> {
    let mut chars = code.chars().filter(|c| *c != '.');
    match (chars.next(), chars.next()) {
        (Some(c), Some(g)) if c.is_ascii_digit() && ('A'..='E').contains(&g) => Some(format!("{c}{g}")),
        _ => None,
    }
}

/// Whether `code` falls in `category`: a category (`3`) or a category and product group (`3A`).
fn in_category(code: &str, category: &str) -> bool {
    match category.len() {
        1 => category_of(code).is_some_and(|c| category.starts_with(c)),
        _ => group_of(code).is_some_and(|g| g == category),
    }
}

/// The part of a list that statements with `categories` hold: the categories joined (`3,5`), or
/// `*` for the whole list. One history of versions per part ([`ControlList::scope`]).
pub fn scope_of(categories: &[String]) -> String {
    if categories.is_empty() {
        "*".into()
    } else {
        categories.join(",")
    }
}

/// Two statements' categories overlap (an empty list is the whole list).
pub fn categories_overlap(a: &[String], b: &[String]) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|x| b.iter().any(|y| x.starts_with(y.as_str()) || y.starts_with(x.as_str())))
}

/// A control list version whose fields are all well formed.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlList {
    list: pb::ControlList,
    /// Entry index by code.
    by_code: HashMap<String, usize>,
}

impl TryFrom<pb::ControlList> for ControlList {
    type Error = FieldError;

    fn try_from(list: pb::ControlList) -> Result<Self, FieldError> {
        if !is_authority_id(&list.authority) {
            return Err(field_err("authority", format!("`{}` is not an authority id like `de.bafa`", list.authority)));
        }
        let regime = Regime::try_from(list.regime).unwrap_or(Regime::Unspecified);
        if regime == Regime::Unspecified {
            return Err(field_err("regime", "must name the regime whose codes the list holds"));
        }
        if list.version == 0 {
            return Err(field_err("version", "starts at 1"));
        }
        match (list.version, list.previous.len()) {
            (1, 0) | (2.., 32) => {}
            (1, _) => return Err(field_err("previous", "must be empty for version 1")),
            _ => return Err(field_err("previous", "must be the 32-byte statement id of the version before")),
        }
        check_text("title", &list.title, true)?;
        if list.valid_from <= 0 {
            return Err(field_err("valid_from", "must be set (Unix seconds)"));
        }
        if list.issued_at <= 0 {
            return Err(field_err("issued_at", "must be set (Unix seconds)"));
        }
        if list.categories.len() > MAX_CATEGORIES {
            return Err(field_err("categories", format!("names more than {MAX_CATEGORIES}")));
        }
        for (i, c) in list.categories.iter().enumerate() {
            let well_formed = (c.len() == 1 && category_of(c).is_some()) || (c.len() == 2 && group_of(c).as_deref() == Some(c.as_str()));
            if !well_formed {
                return Err(field_err(format!("categories[{i}]"), format!("`{c}` is not a category like `3` or a product group like `1C`")));
            }
            if list.categories[..i].iter().any(|o| categories_overlap(std::slice::from_ref(o), std::slice::from_ref(c))) {
                return Err(field_err(format!("categories[{i}]"), format!("`{c}` overlaps a category named before it")));
            }
        }
        if list.entries.is_empty() || list.entries.len() > MAX_ENTRIES {
            return Err(field_err("entries", format!("must hold 1 to {MAX_ENTRIES} entries")));
        }
        let mut by_code = HashMap::with_capacity(list.entries.len());
        for (i, e) in list.entries.iter().enumerate() {
            let field = |name: &str| format!("entries[{i}].{name}");
            if !is_control_code(regime, &e.code) {
                return Err(field_err(field("code"), format!("`{}` is not a valid {} control code", e.code, regime.as_str_name())));
            }
            if by_code.insert(e.code.clone(), i).is_some() {
                return Err(field_err(field("code"), format!("`{}` is listed twice", e.code)));
            }
            if !e.parent.is_empty() && (!by_code.contains_key(&e.parent) || e.parent == e.code) {
                return Err(field_err(field("parent"), format!("`{}` is not an entry listed before `{}`", e.parent, e.code)));
            }
            check_text(&field("title"), &e.title, true)?;
            check_text(&field("unit"), &e.unit, false)?;
            if category_of(&e.code).is_some() && !list.categories.is_empty() && !list.categories.iter().any(|c| in_category(&e.code, c)) {
                return Err(field_err(field("code"), format!("`{}` is outside the list's categories ({})", e.code, list.categories.join(", "))));
            }
        }
        let mut changed = HashSet::new();
        for (i, c) in list.changes.iter().enumerate() {
            let field = |name: &str| format!("changes[{i}].{name}");
            if list.version == 1 {
                return Err(field_err("changes", "must be empty for version 1"));
            }
            let kind = ChangeKind::try_from(c.kind).unwrap_or(ChangeKind::Unspecified);
            if kind == ChangeKind::Unspecified {
                return Err(field_err(field("kind"), "must be ADDED, AMENDED or REMOVED"));
            }
            if !changed.insert(c.code.as_str()) {
                return Err(field_err(field("code"), format!("`{}` is changed twice", c.code)));
            }
            let listed = by_code.contains_key(&c.code);
            if (kind == ChangeKind::Removed) == listed {
                let why = if listed { "is still listed in this version" } else { "is not listed in this version" };
                return Err(field_err(field("code"), format!("`{}` is {} but {why}", c.code, kind.as_str_name())));
            }
            check_text(&field("note"), &c.note, false)?;
        }
        Ok(Self { list, by_code })
    }
}

impl ControlList {
    pub fn list(&self) -> &pb::ControlList {
        &self.list
    }

    pub fn regime(&self) -> Regime {
        Regime::try_from(self.list.regime).unwrap_or(Regime::Unspecified)
    }

    pub fn entry(&self, code: &str) -> Option<&pb::ControlEntry> {
        self.by_code.get(code).map(|i| &self.list.entries[*i])
    }

    /// Whether this statement holds `code`'s category completely, so a code of it that is not
    /// an entry is not on the list.
    pub fn covers(&self, code: &str) -> bool {
        self.list.categories.is_empty() || self.list.categories.iter().any(|c| in_category(code, c))
    }

    /// Which part of its regime's list the statement holds: its categories, or `*` for all.
    /// An authority keeps one history per part (a whole Annex I is published a category per
    /// statement, each under the statement size limit).
    pub fn scope(&self) -> String {
        scope_of(&self.list.categories)
    }

    /// The entry and its enclosing entries, outermost first.
    pub fn path(&self, code: &str) -> Vec<&pb::ControlEntry> {
        let mut path = Vec::new();
        let mut at = self.entry(code);
        while let Some(e) = at {
            path.push(e);
            at = if e.parent.is_empty() { None } else { self.entry(&e.parent) };
        }
        path.reverse();
        path
    }
}

impl fmt::Display for ControlList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}'s {} list", self.list.authority, regime_prefix(self.regime()))?;
        if !self.list.categories.is_empty() {
            write!(f, " (categories {})", self.list.categories.join(", "))?;
        }
        write!(f, " version {}", self.list.version)
    }
}

/// Why a list version cannot follow the versions stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("{list}: version {stored} is already stored; the next is {next}", next = stored + 1)]
    VersionTaken { list: String, stored: u64 },
    #[error("{list}: version {got} does not follow the stored version {stored}; the next is {next}", next = stored + 1)]
    VersionGap { list: String, stored: u64, got: u64 },
    #[error("{list}: `previous` is not the statement id of the stored version {stored}")]
    WrongPrevious { list: String, stored: u64 },
    #[error("{list}: in force from {from}, before the version it replaces ({before})")]
    Backdated { list: String, from: String, before: String },
    #[error("{list}: its changes do not match the entries: {0}", .detail)]
    ChangesDisagree { list: String, detail: String },
}

/// Checks that `new` is the next version after `stored` (the newest stored version of the same
/// authority's list of the same regime, with its statement id), and that its changes are
/// exactly the codes it adds and removes, and amends only codes whose entry changed.
pub fn check_follows(new: &ControlList, stored: Option<(&StatementId, &ControlList)>) -> Result<(), SequenceError> {
    let list = new.to_string();
    let l = &new.list;
    let Some((stored_id, stored)) = stored else {
        return match l.version {
            1 => Ok(()),
            got => Err(SequenceError::VersionGap { list, stored: 0, got }),
        };
    };
    let s = &stored.list;
    if l.version <= s.version {
        return Err(SequenceError::VersionTaken { list, stored: s.version });
    }
    if l.version != s.version + 1 {
        return Err(SequenceError::VersionGap { list, stored: s.version, got: l.version });
    }
    if l.previous.as_slice() != stored_id.0.as_slice() {
        return Err(SequenceError::WrongPrevious { list, stored: s.version });
    }
    if l.valid_from < s.valid_from {
        return Err(SequenceError::Backdated { list, from: format_time(l.valid_from), before: format_time(s.valid_from) });
    }
    let declared: BTreeMap<&str, ChangeKind> =
        l.changes.iter().map(|c| (c.code.as_str(), ChangeKind::try_from(c.kind).unwrap_or(ChangeKind::Unspecified))).collect();
    let mut wrong = Vec::new();
    for e in &l.entries {
        match (stored.entry(&e.code), declared.get(e.code.as_str())) {
            (None, Some(ChangeKind::Added)) => {}
            (None, _) => wrong.push(format!("{} is new but not declared ADDED", e.code)),
            (Some(_), Some(ChangeKind::Added)) => wrong.push(format!("{} is declared ADDED but was listed before", e.code)),
            (Some(old), Some(ChangeKind::Amended)) if old == e => wrong.push(format!("{} is declared AMENDED but its entry is unchanged", e.code)),
            (Some(old), None) if old != e => wrong.push(format!("{} changed but is not declared AMENDED", e.code)),
            _ => {}
        }
    }
    for e in &s.entries {
        if new.entry(&e.code).is_none() && declared.get(e.code.as_str()) != Some(&ChangeKind::Removed) {
            wrong.push(format!("{} is no longer listed but not declared REMOVED", e.code));
        }
    }
    for (code, kind) in &declared {
        if *kind == ChangeKind::Removed && stored.entry(code).is_none() {
            wrong.push(format!("{code} is declared REMOVED but was not listed"));
        }
    }
    match wrong.is_empty() {
        true => Ok(()),
        false => Err(SequenceError::ChangesDisagree { list, detail: wrong.join("; ") }),
    }
}

/// The stored versions of one authority's list of one regime, oldest first.
#[derive(Debug, Clone, Default)]
pub struct ListHistory {
    pub versions: Vec<(StatementId, std::sync::Arc<ControlList>)>,
}

impl ListHistory {
    /// The version in force at `at`: the newest whose `valid_from` is not after it.
    pub fn in_force(&self, at: i64) -> Option<&ControlList> {
        self.versions.iter().rev().map(|(_, l)| l.as_ref()).find(|l| l.list.valid_from <= at)
    }

    /// The newest version, with its statement id.
    pub fn latest(&self) -> Option<(&StatementId, &ControlList)> {
        self.versions.last().map(|(id, l)| (id, l.as_ref()))
    }

    /// The version that removed `code` (the last removal at or before `version`), if any did.
    pub fn removal_of(&self, code: &str, version: u64) -> Option<(&ControlList, &pb::ControlChange)> {
        self.versions
            .iter()
            .rev()
            .map(|(_, l)| l.as_ref())
            .filter(|l| l.list.version <= version)
            .find_map(|l| l.list.changes.iter().find(|c| c.code == code && c.kind == ChangeKind::Removed as i32).map(|c| (l, c)))
    }
}

/// Checks every item of `decision` against the list of its regime that `lists` has in force at
/// the decision's date (`lists(regime)`: the issuing authority's histories of that regime's
/// list, one per part; the one whose version in force covers the code's category applies).
/// Items of a regime without a list, or outside every list's categories, are not checked.
pub fn check_codes<'a>(decision: &pb::Decision, lists: impl Fn(Regime) -> Vec<&'a ListHistory>) -> Result<(), String> {
    let codes: Vec<(String, Regime, &str)> = decision
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| (format!("items[{i}]"), Regime::try_from(item.regime).unwrap_or(Regime::Unspecified), item.control_code.as_str()))
        .collect();
    check_listed(&codes, decision.decided_at, lists)
}

/// Checks codes (each with the field it is in, its regime and the bare code) against the
/// lists in force at `at`, as [`check_codes`] does for a decision's items.
pub fn check_listed<'a>(codes: &[(String, Regime, &str)], at: i64, lists: impl Fn(Regime) -> Vec<&'a ListHistory>) -> Result<(), String> {
    let mut refused = Vec::new();
    for (field, regime, bare) in codes {
        let found = lists(*regime).into_iter().find_map(|h| h.in_force(at).filter(|l| l.covers(bare)).map(|l| (h, l)));
        let Some((history, list)) = found else { continue };
        if list.entry(bare).is_some() {
            continue;
        }
        let code = format!("{}:{bare}", regime_prefix(*regime));
        let since = format_time(list.list.valid_from);
        refused.push(match history.removal_of(bare, list.list.version) {
            Some((removed_in, change)) => {
                let note = if change.note.is_empty() { String::new() } else { format!(" ({})", change.note) };
                format!(
                    "{field}: control code {code} was removed from the list in version {} (in force from {}){note}; {list} is in force since {since}",
                    removed_in.list.version,
                    format_time(removed_in.list.valid_from)
                )
            }
            None => format!("{field}: control code {code} is not on {list} (in force since {since})"),
        });
    }
    match refused.is_empty() {
        true => Ok(()),
        false => Err(refused.join("; ")),
    }
}

/// A crosswalk whose fields are all well formed.
#[derive(Debug, Clone, PartialEq)]
pub struct Crosswalk {
    crosswalk: pb::Crosswalk,
    /// Equivalence index by qualified code.
    by_code: HashMap<String, usize>,
}

impl TryFrom<pb::Crosswalk> for Crosswalk {
    type Error = FieldError;

    fn try_from(crosswalk: pb::Crosswalk) -> Result<Self, FieldError> {
        if !is_authority_id(&crosswalk.authority) {
            return Err(field_err("authority", format!("`{}` is not an authority id like `de.bafa`", crosswalk.authority)));
        }
        if !CROSSWALK_ID.is_match(&crosswalk.crosswalk_id) {
            return Err(field_err("crosswalk_id", format!("`{}` is not a short id like `wa-eu-uk-us`", crosswalk.crosswalk_id)));
        }
        if crosswalk.version == 0 {
            return Err(field_err("version", "starts at 1"));
        }
        check_text("title", &crosswalk.title, true)?;
        if crosswalk.issued_at <= 0 {
            return Err(field_err("issued_at", "must be set (Unix seconds)"));
        }
        if crosswalk.equivalences.is_empty() || crosswalk.equivalences.len() > MAX_EQUIVALENCES {
            return Err(field_err("equivalences", format!("must hold 1 to {MAX_EQUIVALENCES}")));
        }
        let mut by_code = HashMap::new();
        for (i, e) in crosswalk.equivalences.iter().enumerate() {
            if e.codes.is_empty() || e.codes.len() > MAX_CODES_PER_EQUIVALENCE {
                return Err(field_err(format!("equivalences[{i}].codes"), format!("must hold 1 to {MAX_CODES_PER_EQUIVALENCE} codes")));
            }
            let mut regimes = HashSet::new();
            for (j, code) in e.codes.iter().enumerate() {
                let field = format!("equivalences[{i}].codes[{j}]");
                let regime =
                    qualified_regime(code).ok_or_else(|| field_err(&field, format!("`{code}` is not a qualified control code like `WA:3.A.1.a.1`")))?;
                if !regimes.insert(regime) {
                    return Err(field_err(&field, format!("`{code}`: one code per regime in an equivalence")));
                }
                if by_code.insert(code.clone(), i).is_some() {
                    return Err(field_err(&field, format!("`{code}` is in two equivalences")));
                }
            }
            check_text(&format!("equivalences[{i}].note"), &e.note, false)?;
        }
        Ok(Self { crosswalk, by_code })
    }
}

/// The regime of a qualified code (`WA:3.A.1.a.1`), if the code is valid for it.
pub fn qualified_regime(code: &str) -> Option<Regime> {
    let (prefix, bare) = code.split_once(':')?;
    regime_of_prefix(prefix).filter(|r| is_control_code(*r, bare))
}

/// A qualified code and the codes enclosing it, innermost first: `EU-DU:3A001.a.1`,
/// `EU-DU:3A001.a`, `EU-DU:3A001`.
pub fn self_and_enclosing(code: &str) -> Vec<&str> {
    let mut out = vec![code];
    let mut at = code;
    while let Some((outer, _)) = at.rsplit_once('.') {
        if qualified_regime(outer).is_none() {
            break;
        }
        out.push(outer);
        at = outer;
    }
    out
}

impl Crosswalk {
    pub fn crosswalk(&self) -> &pb::Crosswalk {
        &self.crosswalk
    }

    /// `authority/crosswalk_id`, as agreements name it.
    pub fn key(&self) -> String {
        format!("{}/{}", self.crosswalk.authority, self.crosswalk.crosswalk_id)
    }

    /// The equivalence holding the qualified `code`, if any.
    pub fn equivalence(&self, code: &str) -> Option<&pb::Equivalence> {
        self.by_code.get(code).map(|i| &self.crosswalk.equivalences[*i])
    }

    /// The innermost of `code` and the codes enclosing it that the crosswalk maps, with its
    /// equivalence and how many levels up it is. Only that one counts: a code mapped to
    /// nothing (a one-code equivalence, e.g. the CCL's US-only `3B001.c`) is not mapped
    /// through its parent.
    fn innermost(&self, code: &str) -> Option<(usize, String, &pb::Equivalence)> {
        self_and_enclosing(code).into_iter().enumerate().find_map(|(depth, at)| self.equivalence(at).map(|e| (depth, at.to_string(), e)))
    }

    /// The codes of other regimes equivalent to `code` or, when only an enclosing code is mapped,
    /// to that code, each with the code it was found for: what a search by `code` should also find.
    pub fn equivalents(&self, code: &str) -> Vec<(String, String)> {
        let Some((_, at, e)) = self.innermost(code) else { return Vec::new() };
        e.codes.iter().filter(|o| **o != at).map(|o| (at.clone(), o.clone())).collect()
    }

    /// How `pattern` covers the qualified `code` through this crosswalk, if it does: the code
    /// itself equivalent to one the pattern matches, or (when only an enclosing code is mapped)
    /// that code equivalent to one the pattern matches with everything under it (a wildcard).
    /// The text names the mapping.
    pub fn covering(&self, pattern: &str, code: &str) -> Option<String> {
        let (depth, at, e) = self.innermost(code)?;
        let other = e.codes.iter().filter(|o| **o != at).find(|o| pattern_matches(pattern, o) && (depth == 0 || pattern.ends_with('*')))?;
        let via = if depth == 0 { format!("{code} ≡ {other}") } else { format!("{code} is under {at} ≡ {other}") };
        Some(format!("{via} (crosswalk {} version {})", self.key(), self.crosswalk.version))
    }
}

impl fmt::Display for Crosswalk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "crosswalk {} version {}", self.key(), self.crosswalk.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A named edit of a statement, for the field-by-field tests.
    type Edit<T> = Box<dyn Fn(&mut T)>;

    fn entry(code: &str, parent: &str, title: &str) -> pb::ControlEntry {
        pb::ControlEntry { code: code.into(), parent: parent.into(), title: title.into(), unit: String::new() }
    }

    pub(crate) fn annex_i_v1() -> pb::ControlList {
        pb::ControlList {
            authority: "de.bafa".into(),
            regime: Regime::EuDualUse as i32,
            version: 1,
            previous: vec![],
            title: "Annex I to Regulation (EU) 2021/821, categories 3 and 5".into(),
            categories: vec!["3".into(), "5".into()],
            valid_from: 1_700_000_000,
            entries: vec![
                entry("3A001", "", "Electronic items"),
                entry("3A001.a", "3A001", "General purpose integrated circuits"),
                entry("3A001.a.1", "3A001.a", "Radiation-hardened integrated circuits"),
                entry("3A001.b", "3A001", "Microwave or millimetre wave items"),
                entry("5A002", "", "Information security systems"),
            ],
            changes: vec![],
            issued_at: 1_700_000_000,
        }
    }

    fn change(kind: ChangeKind, code: &str) -> pb::ControlChange {
        pb::ControlChange { kind: kind as i32, code: code.into(), note: "review".into() }
    }

    fn v2_of(v1: &pb::ControlList, id: &StatementId) -> pb::ControlList {
        let mut v2 = v1.clone();
        v2.version = 2;
        v2.previous = id.0.to_vec();
        v2.valid_from += 86_400 * 30;
        v2.entries.retain(|e| e.code != "3A001.b");
        v2.entries.push(entry("3A001.a.2", "3A001.a", "Microprocessor microcircuits rated for 125 °C"));
        v2.changes = vec![change(ChangeKind::Removed, "3A001.b"), change(ChangeKind::Added, "3A001.a.2")];
        v2
    }

    #[test]
    fn a_list_is_checked_field_by_field() {
        assert!(ControlList::try_from(annex_i_v1()).is_ok());
        let cases: Vec<(&str, Edit<pb::ControlList>)> = vec![
            ("authority", Box::new(|l| l.authority = "BAFA".into())),
            ("regime", Box::new(|l| l.regime = 0)),
            ("version", Box::new(|l| l.version = 0)),
            ("previous", Box::new(|l| l.previous = vec![1; 32])),
            ("entries[1].code", Box::new(|l| l.entries[1].code = "3A001".into())),
            ("entries[2].parent", Box::new(|l| l.entries[2].parent = "3A009".into())),
            ("entries[0].code", Box::new(|l| l.entries[0].code = "3.A.1".into())),
            ("entries[3].code", Box::new(|l| l.entries[3].code = "1C010".into())),
            ("changes", Box::new(|l| l.changes = vec![change(ChangeKind::Added, "3A001")])),
            ("categories[0]", Box::new(|l| l.categories[0] = "Cat 3".into())),
            ("categories[1]", Box::new(|l| l.categories = vec!["3".into(), "3A".into()])),
            ("entries[0].title", Box::new(|l| l.entries[0].title = " ".into())),
        ];
        for (field, edit) in cases {
            let mut l = annex_i_v1();
            edit(&mut l);
            let err = ControlList::try_from(l).unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn a_new_version_must_declare_exactly_what_it_changes() {
        let v1 = ControlList::try_from(annex_i_v1()).unwrap();
        let id = StatementId([7; 32]);
        let v2 = ControlList::try_from(v2_of(&annex_i_v1(), &id)).unwrap();
        assert_eq!(check_follows(&v2, Some((&id, &v1))), Ok(()));
        assert_eq!(check_follows(&v1, None), Ok(()));
        assert!(matches!(check_follows(&v2, None), Err(SequenceError::VersionGap { stored: 0, got: 2, .. })));
        assert!(matches!(check_follows(&v1, Some((&id, &v1))), Err(SequenceError::VersionTaken { stored: 1, .. })));
        assert!(matches!(check_follows(&v2, Some((&StatementId([8; 32]), &v1))), Err(SequenceError::WrongPrevious { .. })));
        // An undeclared amendment, and a removal left out of the changes.
        let mut amended = v2_of(&annex_i_v1(), &id);
        amended.entries[0].title = "Electronic components".into();
        let err = check_follows(&ControlList::try_from(amended).unwrap(), Some((&id, &v1))).unwrap_err().to_string();
        assert!(err.contains("3A001 changed but is not declared AMENDED"), "{err}");
        let mut silent = v2_of(&annex_i_v1(), &id);
        silent.changes.retain(|c| c.code != "3A001.b");
        let err = check_follows(&ControlList::try_from(silent).unwrap(), Some((&id, &v1))).unwrap_err().to_string();
        assert!(err.contains("3A001.b is no longer listed but not declared REMOVED"), "{err}");
        let mut backdated = v2_of(&annex_i_v1(), &id);
        backdated.valid_from = 1;
        assert!(matches!(check_follows(&ControlList::try_from(backdated).unwrap(), Some((&id, &v1))), Err(SequenceError::Backdated { .. })));
    }

    #[test]
    fn decisions_are_checked_against_the_version_in_force_at_their_date() {
        let id = StatementId([7; 32]);
        let v1 = ControlList::try_from(annex_i_v1()).unwrap();
        let v2 = ControlList::try_from(v2_of(&annex_i_v1(), &id)).unwrap();
        let history = ListHistory { versions: vec![(id, v1.clone().into()), (StatementId([9; 32]), v2.clone().into())] };
        let mut d = crate::decision::fixtures::grant("de.bafa", "DE-2026-0001");
        d.items[0].regime = Regime::EuDualUse as i32;
        d.items[0].control_code = "3A001.b".into();
        let lists = |r: Regime| if r == Regime::EuDualUse { vec![&history] } else { Vec::new() };
        d.decided_at = v1.list().valid_from + 10;
        assert_eq!(check_codes(&d, lists), Ok(()));
        d.decided_at = v2.list().valid_from + 10;
        let err = check_codes(&d, lists).unwrap_err();
        assert!(err.contains("EU-DU:3A001.b was removed from the list in version 2"), "{err}");
        assert!(err.contains("de.bafa's EU-DU list (categories 3, 5) version 2"), "{err}");
        d.items[0].control_code = "3A001.z".into();
        let err = check_codes(&d, lists).unwrap_err();
        assert!(err.contains("control code EU-DU:3A001.z is not on de.bafa's EU-DU list (categories 3, 5) version 2"), "{err}");
        // Outside the list's categories, and before any version: not checked.
        d.items[0].control_code = "1C010.b".into();
        assert_eq!(check_codes(&d, lists), Ok(()));
        d.items[0].control_code = "3A001.z".into();
        d.decided_at = 1;
        assert_eq!(check_codes(&d, lists), Ok(()));
    }

    fn crosswalk() -> pb::Crosswalk {
        let eq = |codes: &[&str], note: &str| pb::Equivalence { codes: codes.iter().map(|c| c.to_string()).collect(), note: note.into() };
        pb::Crosswalk {
            authority: "int.wassenaar".into(),
            crosswalk_id: "wa-eu-us".into(),
            version: 1,
            title: "Wassenaar, EU Annex I and CCL, categories 3 and 5".into(),
            equivalences: vec![
                eq(&["WA:3.A.1", "EU-DU:3A001", "EAR:3A001"], ""),
                eq(&["WA:3.A.1.a.1", "EU-DU:3A001.a.1", "EAR:3A001.a.1"], ""),
                eq(&["WA:5.A.2", "EU-DU:5A002", "EAR:5A002"], ""),
                eq(&["EAR:5A992.c"], "mass market: US-only"),
                eq(&["WA:5.A.992", "EAR:5A992"], "illustrative: a parent mapped while a child is US-only"),
            ],
            issued_at: 1_700_000_000,
        }
    }

    #[test]
    fn a_crosswalk_is_checked() {
        assert!(Crosswalk::try_from(crosswalk()).is_ok());
        let cases: Vec<(&str, Edit<pb::Crosswalk>)> = vec![
            ("crosswalk_id", Box::new(|c| c.crosswalk_id = "WA EU".into())),
            ("equivalences[0].codes[1]", Box::new(|c| c.equivalences[0].codes[1] = "WA:3.A.2".into())),
            ("equivalences[1].codes[0]", Box::new(|c| c.equivalences[1].codes[0] = "WA:3.A.1".into())),
            ("equivalences[0].codes[0]", Box::new(|c| c.equivalences[0].codes[0] = "3.A.1".into())),
            ("equivalences[2].codes", Box::new(|c| c.equivalences[2].codes.clear())),
        ];
        for (field, edit) in cases {
            let mut c = crosswalk();
            edit(&mut c);
            assert_eq!(Crosswalk::try_from(c).unwrap_err().field, field);
        }
    }

    #[test]
    fn patterns_cover_codes_through_the_crosswalk() {
        let c = Crosswalk::try_from(crosswalk()).unwrap();
        // The code itself maps.
        let how = c.covering("WA:3.A.1.*", "EU-DU:3A001.a.1").unwrap();
        assert!(how.starts_with("EU-DU:3A001.a.1 ≡ WA:3.A.1.a.1 (crosswalk int.wassenaar/wa-eu-us version 1)"), "{how}");
        assert!(c.covering("WA:3.A.1.a.1", "EU-DU:3A001.a.1").is_some());
        // Only an enclosing code maps: a wildcard over it covers, an exact pattern does not.
        let how = c.covering("WA:3.A.1.*", "EU-DU:3A001.b.2").unwrap();
        assert!(how.starts_with("EU-DU:3A001.b.2 is under EU-DU:3A001 ≡ WA:3.A.1"), "{how}");
        assert_eq!(c.covering("WA:3.A.1", "EU-DU:3A001.b.2"), None);
        assert_eq!(c.covering("WA:3.A.1.a.*", "EU-DU:3A001.b.2"), None);
        // Other items, and codes that map to nothing.
        assert_eq!(c.covering("WA:3.A.1.*", "EU-DU:5A002.a"), None);
        assert_eq!(c.covering("WA:*", "EAR:5A992.c"), None);
        assert_eq!(c.covering("WA:*", "EAR:EAR99"), None);
        let found: Vec<String> = c.equivalents("EU-DU:3A001.a.1").into_iter().map(|(_, o)| o).collect();
        assert_eq!(found, ["WA:3.A.1.a.1", "EAR:3A001.a.1"]);
        let found: Vec<(String, String)> = c.equivalents("EU-DU:3A001.b.2");
        assert_eq!(found, [("EU-DU:3A001".to_string(), "WA:3.A.1".to_string()), ("EU-DU:3A001".to_string(), "EAR:3A001".to_string())]);
        // A code mapped to nothing is not mapped through its parent.
        assert_eq!(c.covering("WA:5.A.992.*", "EAR:5A992.c.1"), None);
        assert!(c.equivalents("EAR:5A992.c.1").is_empty());
        assert!(c.covering("WA:5.A.992.*", "EAR:5A992.b").is_some());
    }
}
