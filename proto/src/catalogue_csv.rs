//! Control lists and crosswalks as people prepare them: CSV files (docs/control-lists.md,
//! docs/control-lists-data.md). A whole list (`code,parent,title,unit`), a review of the
//! version before (`change,code,parent,title,note`), and a crosswalk whose columns are
//! regimes by prefix (`wa,eu-du,uk,ear,note`).

use std::collections::BTreeMap;

use crate::catalogue::category_of;
use crate::pb::{self, control_change::Kind as ChangeKind, Regime};
use crate::recognition::regime_of_prefix;

/// A CSV file that cannot be read as a list, review or crosswalk; names the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CsvError(String);

/// The lower-cased headers, and each record with its line number.
type Records = (Vec<String>, Vec<(u64, csv::StringRecord)>);

fn records(text: &str, expected: &[&str]) -> Result<Records, CsvError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().map_err(|e| CsvError(format!("header: {e}")))?.iter().map(|h| h.to_ascii_lowercase()).collect();
    for want in expected {
        if !headers.iter().any(|h| h == want) {
            return Err(CsvError(format!("header: column `{want}` is missing (expected {})", expected.join(","))));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| CsvError(format!("line {}: {e}", e.position().map_or(0, |p| p.line()))))?;
        let line = record.position().map_or(0, |p| p.line());
        rows.push((line, record));
    }
    Ok((headers, rows))
}

fn column<'r>(headers: &[String], record: &'r csv::StringRecord, name: &str) -> &'r str {
    headers.iter().position(|h| h == name).and_then(|i| record.get(i)).unwrap_or("")
}

/// The entries of a whole list: columns `code,parent,title` and optionally `unit`.
pub fn read_entries(text: &str) -> Result<Vec<pb::ControlEntry>, CsvError> {
    let (headers, rows) = records(text, &["code", "parent", "title"])?;
    Ok(rows
        .iter()
        .map(|(_, r)| pb::ControlEntry {
            code: column(&headers, r, "code").to_string(),
            parent: column(&headers, r, "parent").to_string(),
            title: column(&headers, r, "title").to_string(),
            unit: column(&headers, r, "unit").to_string(),
        })
        .collect())
}

/// The categories a list's entries fall in, in order (`["3", "5"]`).
pub fn categories_of(entries: &[pb::ControlEntry]) -> Vec<String> {
    let mut categories: Vec<String> = entries.iter().filter_map(|e| category_of(&e.code)).map(String::from).collect();
    categories.sort();
    categories.dedup();
    categories
}

/// What changed from `before` to `after`, each change with `note`.
pub fn diff(before: &[pb::ControlEntry], after: &[pb::ControlEntry], note: &str) -> Vec<pb::ControlChange> {
    let old: BTreeMap<&str, &pb::ControlEntry> = before.iter().map(|e| (e.code.as_str(), e)).collect();
    let new: BTreeMap<&str, &pb::ControlEntry> = after.iter().map(|e| (e.code.as_str(), e)).collect();
    let change = |kind: ChangeKind, code: &str| pb::ControlChange { kind: kind as i32, code: code.to_string(), note: note.to_string() };
    let mut changes = Vec::new();
    for (code, entry) in &new {
        match old.get(code) {
            None => changes.push(change(ChangeKind::Added, code)),
            Some(o) if o != entry => changes.push(change(ChangeKind::Amended, code)),
            Some(_) => {}
        }
    }
    changes.extend(old.keys().filter(|c| !new.contains_key(*c)).map(|c| change(ChangeKind::Removed, c)));
    changes
}

/// The codes a review (`change,code,parent,title,note`) names, in order.
pub fn apply_review_codes(text: &str) -> Result<Vec<String>, CsvError> {
    let (headers, rows) = records(text, &["change", "code", "parent", "title", "note"])?;
    Ok(rows.iter().map(|(_, r)| column(&headers, r, "code").to_string()).collect())
}

/// Applies a review (`change,code,parent,title,note`; `unit` optional) to the entries of the
/// version before: the new version's entries, parents before children, and its changes.
pub fn apply_review(before: &[pb::ControlEntry], text: &str) -> Result<(Vec<pb::ControlEntry>, Vec<pb::ControlChange>), CsvError> {
    let (headers, rows) = records(text, &["change", "code", "parent", "title", "note"])?;
    let mut entries: Vec<pb::ControlEntry> = before.to_vec();
    let mut changes = Vec::new();
    for (line, r) in &rows {
        let code = column(&headers, r, "code");
        let kind = match column(&headers, r, "change").to_ascii_uppercase().as_str() {
            "ADDED" => ChangeKind::Added,
            "AMENDED" => ChangeKind::Amended,
            "REMOVED" => ChangeKind::Removed,
            other => return Err(CsvError(format!("line {line}: change `{other}` is not ADDED, AMENDED or REMOVED"))),
        };
        let entry = pb::ControlEntry {
            code: code.to_string(),
            parent: column(&headers, r, "parent").to_string(),
            title: column(&headers, r, "title").to_string(),
            unit: column(&headers, r, "unit").to_string(),
        };
        let at = entries.iter().position(|e| e.code == code);
        match (kind, at) {
            (ChangeKind::Added, None) => match entries.iter().rposition(|e| e.code == entry.parent || e.parent == entry.parent && !entry.parent.is_empty()) {
                // After its parent's last listed child, so the list stays in reading order.
                Some(i) => entries.insert(i + 1, entry),
                None => entries.push(entry),
            },
            (ChangeKind::Amended, Some(i)) => entries[i] = entry,
            (ChangeKind::Removed, Some(i)) => {
                if let Some(child) = entries.iter().find(|e| e.parent == code) {
                    return Err(CsvError(format!("line {line}: {code} cannot be removed while {} is listed under it", child.code)));
                }
                entries.remove(i);
            }
            (ChangeKind::Added, Some(_)) => return Err(CsvError(format!("line {line}: {code} is ADDED but already listed"))),
            (_, None) => return Err(CsvError(format!("line {line}: {code} is {} but not listed in the version before", kind.as_str_name()))),
            (ChangeKind::Unspecified, _) => unreachable!("parsed above"),
        }
        changes.push(pb::ControlChange { kind: kind as i32, code: code.to_string(), note: column(&headers, r, "note").to_string() });
    }
    Ok((entries, changes))
}

/// The entries of a screening list: columns `entry_id,name,reason` and optionally `aliases`,
/// `countries`, `addresses` (several separated by `;`) and `legal_basis`.
pub fn read_screened_parties(text: &str) -> Result<Vec<pb::ScreenedParty>, CsvError> {
    let (headers, rows) = records(text, &["entry_id", "name", "reason"])?;
    let many = |cell: &str| cell.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
    Ok(rows
        .iter()
        .map(|(_, r)| pb::ScreenedParty {
            entry_id: column(&headers, r, "entry_id").to_string(),
            name: column(&headers, r, "name").to_string(),
            aliases: many(column(&headers, r, "aliases")),
            addresses: many(column(&headers, r, "addresses")),
            countries: many(column(&headers, r, "countries")),
            identifiers: Vec::new(),
            reason: column(&headers, r, "reason").to_string(),
            legal_basis: column(&headers, r, "legal_basis").to_string(),
        })
        .collect())
}

/// The equivalences of a crosswalk: one column per regime, headed by its prefix in any case
/// (`wa`, `eu-du`, `uk`, `ear`, ...), and a `note` column. Empty cells are no code.
pub fn read_equivalences(text: &str) -> Result<Vec<pb::Equivalence>, CsvError> {
    let (headers, rows) = records(text, &["note"])?;
    let mut regimes: Vec<(usize, Regime)> = Vec::new();
    for (i, h) in headers.iter().enumerate().filter(|(_, h)| *h != "note") {
        let regime =
            regime_of_prefix(&h.to_ascii_uppercase()).ok_or_else(|| CsvError(format!("header: `{h}` is not a regime prefix like wa, eu-du, uk or ear")))?;
        regimes.push((i, regime));
    }
    Ok(rows
        .iter()
        .map(|(_, r)| pb::Equivalence {
            codes: regimes
                .iter()
                .filter_map(|(i, regime)| r.get(*i).filter(|c| !c.is_empty()).map(|c| format!("{}:{c}", crate::authoring::regime_prefix(*regime))))
                .collect(),
            note: column(&headers, r, "note").to_string(),
        })
        .filter(|e| !e.codes.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "code,parent,title,unit\n3A001,,Electronic items,Number\n3A001.a,3A001,\"General purpose integrated circuits, as follows\",\n3A001.b,3A001,Microwave items,\n";

    #[test]
    fn a_list_review_and_crosswalk_read_from_csv() {
        let entries = read_entries(LIST).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].title, "General purpose integrated circuits, as follows");
        assert_eq!(entries[0].unit, "Number");
        assert_eq!(categories_of(&entries), ["3"]);

        let review = "change,code,parent,title,note\nADDED,3A001.a.1,3A001.a,Radiation hardened,WA 2025\nREMOVED,3A001.b,,,sunset\nAMENDED,3A001,,Electronic items and components,\n";
        let (after, changes) = apply_review(&entries, review).unwrap();
        let codes: Vec<&str> = after.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["3A001", "3A001.a", "3A001.a.1"]);
        assert_eq!(changes.len(), 3);
        // The same changes as comparing the two lists, notes aside.
        let mut computed: Vec<(i32, String)> = diff(&entries, &after, "").into_iter().map(|c| (c.kind, c.code)).collect();
        let mut declared: Vec<(i32, String)> = changes.into_iter().map(|c| (c.kind, c.code)).collect();
        computed.sort();
        declared.sort();
        assert_eq!(computed, declared);

        let err = apply_review(&entries, "change,code,parent,title,note\nREMOVED,3A001,,,\n").unwrap_err();
        assert!(err.to_string().contains("cannot be removed while 3A001.a is listed under it"), "{err}");
        let err = apply_review(&entries, "change,code,parent,title,note\nRENAMED,3A001,,,\n").unwrap_err();
        assert!(err.to_string().contains("line 2: change `RENAMED`"), "{err}");

        let crosswalk = "wa,eu-du,ear,note\n3.A.1,3A001,3A001,\n,,EAR99,not on any list\n";
        let eqs = read_equivalences(crosswalk).unwrap();
        assert_eq!(eqs[0].codes, ["WA:3.A.1", "EU-DU:3A001", "EAR:3A001"]);
        assert_eq!((eqs[1].codes.as_slice(), eqs[1].note.as_str()), (&["EAR:EAR99".to_string()][..], "not on any list"));
        assert!(read_equivalences("wassenaar,note\n3.A.1,\n").unwrap_err().to_string().contains("`wassenaar` is not a regime prefix"));
    }
}
