//! Control-list commands (docs/control-lists.md): `comity list` loads a list version from CSV
//! and shows the lists a node holds, `comity crosswalk` loads a crosswalk, and `comity code`
//! looks a code up in every list and under every regime, with the licences that name it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use comity_client::Client;
use comity_proto::authoring::{format_time, parse_time, regime_prefix};
use comity_proto::catalogue::{group_of, scope_of, ControlList, Crosswalk};
use comity_proto::catalogue_csv::{apply_review, apply_review_codes, categories_of, diff, read_entries, read_equivalences};
use comity_proto::pb;
use comity_proto::recognition::regime_of_prefix;
use comity_proto::statement::{sign_statement, Envelope, MAX_ENVELOPE_BYTES};
use prost::Message;
use serde::Serialize;

use super::trust::read_key;
use super::{print_json, table, InputError};

#[derive(Subcommand)]
pub enum ListCommand {
    /// Sign and publish the next version of an authority's control list, from a whole list
    /// (`--file`, columns code,parent,title,unit) or from a review of the version before
    /// (`--review`, columns change,code,parent,title,note).
    Load {
        /// Publishing authority, e.g. de.bafa.
        #[arg(long)]
        authority: String,
        /// The regime's prefix: EU-DU, WA, EAR, UK, MTCR, NSG, AG.
        #[arg(long)]
        regime: String,
        /// The list's name and legal source.
        #[arg(long)]
        title: String,
        /// In force from (date or RFC 3339 time).
        #[arg(long)]
        valid_from: String,
        /// The whole list.
        #[arg(long, conflicts_with = "review", required_unless_present = "review")]
        file: Option<PathBuf>,
        /// A review of the version before: what it adds, amends and removes.
        #[arg(long)]
        review: Option<PathBuf>,
        /// With --file: the note every change is published with (e.g. the amending act).
        #[arg(long, default_value = "")]
        note: String,
        /// Signing key of the authority.
        #[arg(long)]
        key: PathBuf,
    },
    /// The lists and crosswalks the node holds.
    Ls,
    /// One list version: its entries and what it changed.
    Show {
        /// Publishing authority.
        authority: String,
        /// Regime prefix, e.g. EU-DU.
        regime: String,
        /// Version [default: the latest].
        #[arg(long)]
        version: Option<u64>,
        /// For a list published in parts, the part's categories, e.g. `1` or `3,5`.
        #[arg(long)]
        part: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum CrosswalkCommand {
    /// Sign and publish the next version of a crosswalk from CSV: one column per regime, headed
    /// by its prefix (wa, eu-du, uk, ear, ...), and a note column.
    Load {
        /// Publishing authority or secretariat, e.g. int.wassenaar.
        #[arg(long)]
        authority: String,
        /// Short id agreements name it by, e.g. wa-eu-uk-us.
        #[arg(long)]
        id: String,
        /// What the crosswalk maps, e.g. "Wassenaar numbers against EU Annex I and the CCL".
        #[arg(long)]
        title: String,
        /// The CSV file.
        #[arg(long)]
        file: PathBuf,
        /// Signing key of the authority.
        #[arg(long)]
        key: PathBuf,
    },
}

fn regime_arg(prefix: &str) -> Result<pb::Regime, InputError> {
    regime_of_prefix(&prefix.to_ascii_uppercase())
        .ok_or_else(|| InputError(format!("`{prefix}` is not a regime prefix (EU-DU, WA, EAR, UK, MTCR, NSG, AG, NAT)")))
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))
}

/// The versions of `authority`'s list of `regime` held by the node, oldest first.
async fn versions(client: &mut Client, authority: &str, regime: pb::Regime) -> anyhow::Result<Vec<(Envelope, pb::ControlList)>> {
    let request = pb::ListControlListsRequest { authority: authority.into(), regime: regime as i32, all_versions: true };
    let (lists, _) = client.control_lists(request).await?;
    Ok(statements_of(lists, |k| match k {
        pb::statement::Kind::ControlList(l) => Some(l),
        _ => None,
    }))
}

/// Each envelope whose statement `pick` takes, with that statement.
pub(super) fn statements_of<T: Clone>(envelopes: Vec<Envelope>, pick: impl Fn(&pb::statement::Kind) -> Option<&T>) -> Vec<(Envelope, T)> {
    envelopes
        .into_iter()
        .filter_map(|e| {
            let statement = pick(e.statement()).cloned()?;
            Some((e, statement))
        })
        .collect()
}

pub async fn list(node: &str, json: bool, command: ListCommand) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    match command {
        ListCommand::Load { authority, regime, title, valid_from, file, review, note, key } => {
            let regime = regime_arg(&regime)?;
            let signer = read_key(&key)?;
            let valid_from = parse_time(&valid_from).map_err(|e| InputError(format!("--valid-from: {e}")))?;
            let held = versions(&mut client, &authority, regime).await?;
            // The newest version of each part (scope) of the authority's list held by the node.
            let mut latest: Vec<(&Envelope, &pb::ControlList)> = Vec::new();
            for (e, l) in &held {
                match latest.iter_mut().find(|(_, o)| o.categories == l.categories) {
                    Some(slot) if slot.1.version < l.version => *slot = (e, l),
                    Some(_) => {}
                    None => latest.push((e, l)),
                }
            }
            // Each part to publish, with the changes against its version held.
            let parts: Vec<(Vec<String>, Vec<pb::ControlEntry>, Vec<pb::ControlChange>)> = match (&file, &review) {
                (Some(file), _) => {
                    let entries = read_entries(&read_text(file)?).map_err(|e| InputError(format!("{}: {e}", file.display())))?;
                    split_into_parts(&entries, &authority, regime, &title)?
                        .into_iter()
                        .map(|(categories, entries)| {
                            let changes =
                                latest.iter().find(|(_, l)| l.categories == categories).map(|(_, l)| diff(&l.entries, &entries, &note)).unwrap_or_default();
                            (categories, entries, changes)
                        })
                        .collect()
                }
                (None, Some(review)) => {
                    let text = read_text(review)?;
                    // The review applies to the part that holds its codes.
                    let codes = apply_review_codes(&text).map_err(|e| InputError(format!("{}: {e}", review.display())))?;
                    let holding: Vec<&(&Envelope, &pb::ControlList)> =
                        latest.iter().filter(|(_, l)| codes.iter().any(|c| ControlList::try_from((*l).clone()).is_ok_and(|l| l.covers(c)))).collect();
                    let [(_, part)] = holding.as_slice() else {
                        return Err(InputError(match holding.len() {
                            0 => format!(
                                "{authority} has no {} list holding these codes on this node: load the whole list with --file first",
                                regime_prefix(regime)
                            ),
                            n => format!("the review touches {n} parts of {authority}'s {} list: split it, one file per part", regime_prefix(regime)),
                        })
                        .into());
                    };
                    let (entries, changes) = apply_review(&part.entries, &text).map_err(|e| InputError(format!("{}: {e}", review.display())))?;
                    vec![(part.categories.clone(), entries, changes)]
                }
                (None, None) => unreachable!("clap requires --file or --review"),
            };
            for (categories, entries, changes) in parts {
                let before = latest.iter().find(|(_, l)| l.categories == categories);
                let list = pb::ControlList {
                    authority: authority.clone(),
                    regime: regime as i32,
                    version: before.map_or(1, |(_, p)| p.version + 1),
                    previous: before.map(|(e, _)| e.id().0.to_vec()).unwrap_or_default(),
                    title: title.clone(),
                    categories,
                    valid_from,
                    entries,
                    changes,
                    issued_at: chrono::Utc::now().timestamp(),
                };
                let checked = ControlList::try_from(list.clone()).map_err(|e| InputError(e.to_string()))?;
                let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::ControlList(list.clone())) }, &[&signer]);
                let response = client.publish(envelope).await?;
                let changes = match list.changes.len() {
                    1 => "1 change".to_string(),
                    n => format!("{n} changes"),
                };
                println!("published {checked} ({} entries, {changes}) as statement {}", list.entries.len(), hex::encode(&response.statement_id));
            }
            Ok(())
        }
        ListCommand::Ls => {
            let (lists, crosswalks) = client.control_lists(pb::ListControlListsRequest::default()).await?;
            let lists: Vec<ListRow> = lists.iter().filter_map(ListRow::of).collect();
            let crosswalks: Vec<CrosswalkRow> = crosswalks.iter().filter_map(CrosswalkRow::of).collect();
            if json {
                return print_json(&serde_json::json!({ "lists": lists, "crosswalks": crosswalks }));
            }
            let rows: Vec<Vec<String>> = lists
                .iter()
                .map(|l| vec![l.authority.clone(), l.regime.clone(), l.version.to_string(), l.valid_from.clone(), l.entries.to_string(), l.title.clone()])
                .collect();
            print!("{}", table(&["AUTHORITY", "LIST", "VERSION", "IN FORCE FROM", "ENTRIES", "TITLE"], &rows));
            let rows: Vec<Vec<String>> =
                crosswalks.iter().map(|c| vec![c.crosswalk.clone(), c.version.to_string(), c.equivalences.to_string(), c.title.clone()]).collect();
            println!();
            print!("{}", table(&["CROSSWALK", "VERSION", "EQUIVALENCES", "TITLE"], &rows));
            Ok(())
        }
        ListCommand::Show { authority, regime, version, part } => {
            let regime = regime_arg(&regime)?;
            let mut held = versions(&mut client, &authority, regime).await?;
            let part_of = |l: &pb::ControlList| scope_of(&l.categories);
            let mut parts: Vec<String> = held.iter().map(|(_, l)| part_of(l)).collect();
            parts.sort();
            parts.dedup();
            match (&part, parts.len()) {
                (Some(p), _) => held.retain(|(_, l)| part_of(l) == *p),
                (None, 0 | 1) => {}
                (None, _) => {
                    return Err(InputError(format!(
                        "{authority}'s {} list is published in parts ({}): choose one with --part",
                        regime_prefix(regime),
                        parts.join("; ")
                    ))
                    .into())
                }
            }
            let found = match version {
                Some(v) => held.iter().find(|(_, l)| l.version == v),
                None => held.last(),
            };
            let Some((envelope, list)) = found else {
                let which = version.map_or("any version of".to_string(), |v| format!("version {v} of"));
                return Err(InputError(format!("this node holds {which} {authority}'s {} list", regime_prefix(regime))).into());
            };
            if json {
                return print_json(&serde_json::json!({
                    "statement_id": envelope.id().to_string(),
                    "list": ListRow::of(envelope),
                    "entries": list.entries.iter().map(|e| serde_json::json!({"code": e.code, "parent": e.parent, "title": e.title, "unit": e.unit})).collect::<Vec<_>>(),
                    "changes": list.changes.iter().map(|c| serde_json::json!({"change": change_name(c.kind), "code": c.code, "note": c.note})).collect::<Vec<_>>(),
                }));
            }
            println!(
                "{}'s {} list version {} ({}), in force from {}",
                authority,
                regime_prefix(regime),
                list.version,
                list.title,
                format_time(list.valid_from)
            );
            println!("statement {}", envelope.id());
            if !list.categories.is_empty() {
                println!("categories held: {}", list.categories.join(", "));
            }
            let depth = |code: &str| {
                let mut d = 0;
                let mut at = list.entries.iter().find(|e| e.code == code);
                while let Some(e) = at.filter(|e| !e.parent.is_empty()) {
                    d += 1;
                    at = list.entries.iter().find(|p| p.code == e.parent);
                }
                d
            };
            let rows: Vec<Vec<String>> =
                list.entries.iter().map(|e| vec![format!("{}{}", "  ".repeat(depth(&e.code)), e.code), e.title.clone(), e.unit.clone()]).collect();
            print!("{}", table(&["CODE", "TITLE", "UNIT"], &rows));
            if !list.changes.is_empty() {
                println!("\nchanges against version {}:", list.version - 1);
                let rows: Vec<Vec<String>> = list.changes.iter().map(|c| vec![change_name(c.kind).into(), c.code.clone(), c.note.clone()]).collect();
                print!("{}", table(&["CHANGE", "CODE", "NOTE"], &rows));
            }
            Ok(())
        }
    }
}

/// One statement's share of a whole list: its categories and entries.
type Part = (Vec<String>, Vec<pb::ControlEntry>);

/// A whole list as statements: one for all its categories if it fits in a statement, else one
/// per category, and a category too large for one statement one per product group (`1C`).
fn split_into_parts(entries: &[pb::ControlEntry], authority: &str, regime: pb::Regime, title: &str) -> Result<Vec<Part>, InputError> {
    let fits = |categories: &[String], part: &[pb::ControlEntry]| {
        let list = pb::ControlList {
            authority: authority.into(),
            regime: regime as i32,
            version: 1,
            previous: vec![0; 32],
            title: title.into(),
            categories: categories.to_vec(),
            valid_from: 1,
            entries: part.to_vec(),
            changes: Vec::new(),
            issued_at: 1,
        };
        // Room for the signature and changes a later version declares.
        pb::Statement { kind: Some(pb::statement::Kind::ControlList(list)) }.encoded_len() + 4096 <= MAX_ENVELOPE_BYTES
    };
    let all = categories_of(entries);
    if fits(&all, entries) {
        return Ok(vec![(all, entries.to_vec())]);
    }
    let mut parts = Vec::new();
    for category in all {
        let in_category: Vec<pb::ControlEntry> = entries.iter().filter(|e| e.code.starts_with(category.as_str())).cloned().collect();
        if fits(std::slice::from_ref(&category), &in_category) {
            parts.push((vec![category], in_category));
            continue;
        }
        let mut groups: Vec<String> = in_category.iter().filter_map(|e| group_of(&e.code)).collect();
        groups.sort();
        groups.dedup();
        for group in groups {
            let in_group: Vec<pb::ControlEntry> = in_category.iter().filter(|e| group_of(&e.code).as_deref() == Some(group.as_str())).cloned().collect();
            if !fits(std::slice::from_ref(&group), &in_group) {
                return Err(InputError(format!("product group {group} alone is more than a statement holds ({MAX_ENVELOPE_BYTES} bytes); shorten its titles")));
            }
            parts.push((vec![group], in_group));
        }
    }
    Ok(parts)
}

fn change_name(kind: i32) -> &'static str {
    pb::control_change::Kind::try_from(kind).map_or("?", |k| k.as_str_name())
}

#[derive(Serialize)]
struct ListRow {
    authority: String,
    regime: String,
    version: u64,
    valid_from: String,
    entries: usize,
    changes: usize,
    title: String,
    statement_id: String,
}

impl ListRow {
    fn of(envelope: &Envelope) -> Option<Self> {
        let pb::statement::Kind::ControlList(l) = envelope.statement() else { return None };
        Some(Self {
            authority: l.authority.clone(),
            regime: pb::Regime::try_from(l.regime).map_or("?", regime_prefix).to_string(),
            version: l.version,
            valid_from: format_time(l.valid_from),
            entries: l.entries.len(),
            changes: l.changes.len(),
            title: l.title.clone(),
            statement_id: envelope.id().to_string(),
        })
    }
}

#[derive(Serialize)]
struct CrosswalkRow {
    crosswalk: String,
    version: u64,
    equivalences: usize,
    title: String,
    statement_id: String,
}

impl CrosswalkRow {
    fn of(envelope: &Envelope) -> Option<Self> {
        let pb::statement::Kind::Crosswalk(c) = envelope.statement() else { return None };
        Some(Self {
            crosswalk: format!("{}/{}", c.authority, c.crosswalk_id),
            version: c.version,
            equivalences: c.equivalences.len(),
            title: c.title.clone(),
            statement_id: envelope.id().to_string(),
        })
    }
}

pub async fn crosswalk(node: &str, command: CrosswalkCommand) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    let CrosswalkCommand::Load { authority, id, title, file, key } = command;
    let equivalences = read_equivalences(&read_text(&file)?).map_err(|e| InputError(format!("{}: {e}", file.display())))?;
    let (_, held) = client.control_lists(pb::ListControlListsRequest { authority: authority.clone(), ..Default::default() }).await?;
    let version = held
        .iter()
        .filter_map(|e| match e.statement() {
            pb::statement::Kind::Crosswalk(c) if c.crosswalk_id == id => Some(c.version),
            _ => None,
        })
        .max()
        .map_or(1, |v| v + 1);
    let wire = pb::Crosswalk { authority, crosswalk_id: id, version, title, equivalences, issued_at: chrono::Utc::now().timestamp() };
    let checked = Crosswalk::try_from(wire.clone()).map_err(|e| InputError(format!("{}: {e}", file.display())))?;
    let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::Crosswalk(wire.clone())) }, &[&read_key(&key)?]);
    let response = client.publish(envelope).await?;
    println!("published {checked} ({} equivalences) as statement {}", wire.equivalences.len(), hex::encode(&response.statement_id));
    Ok(())
}

/// `comity code CODE`: the code in every list held, its equivalents, and the licences that
/// name it or an equivalent.
pub async fn code(node: &str, json: bool, code: &str, at: Option<&str>) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    let at = at.map(parse_time).transpose().map_err(|e| InputError(format!("--at: {e}")))?.unwrap_or(0);
    let answer = client.lookup_control_code(code, at).await?;
    let mut codes = vec![code.to_string()];
    codes.extend(answer.mappings.iter().map(|m| m.to.clone()).filter(|c| c != code));
    codes.dedup();
    let mut licences = Vec::new();
    for c in &codes {
        let request = pb::SearchRequest { control_code: c.clone(), page_size: 100, ..Default::default() };
        for s in client.search(request).await?.licences {
            if !licences.iter().any(|(_, l): &(String, pb::LicenceSummary)| l.authority == s.authority && l.licence_id == s.licence_id) {
                licences.push((c.clone(), s));
            }
        }
    }
    if json {
        return print_json(&serde_json::json!({
            "listed": answer.listed.iter().map(|l| serde_json::json!({
                "control_code": l.control_code, "authority": l.authority, "list_version": l.list_version, "list_title": l.list_title,
                "path": l.path.iter().map(|e| serde_json::json!({"code": e.code, "title": e.title})).collect::<Vec<_>>(),
                "not_listed": l.not_listed,
            })).collect::<Vec<_>>(),
            "mappings": answer.mappings.iter().map(|m| serde_json::json!({"from": m.from, "to": m.to, "crosswalk": m.crosswalk, "crosswalk_version": m.crosswalk_version, "note": m.note})).collect::<Vec<_>>(),
            "licences": licences.iter().map(|(c, s)| serde_json::json!({"found_under": c, "authority": s.authority, "licence_id": s.licence_id})).collect::<Vec<_>>(),
        }));
    }
    if answer.listed.is_empty() && answer.mappings.is_empty() {
        println!("{code}: no list or crosswalk held here covers it");
    }
    for l in &answer.listed {
        let list = format!("{}'s list v{} ({})", l.authority, l.list_version, l.list_title);
        match l.path.last() {
            Some(entry) => {
                println!("{}  {}  — {list}", l.control_code, entry.title);
                for outer in l.path.iter().rev().skip(1) {
                    println!("    under {}  {}", outer.code, outer.title);
                }
            }
            None => println!("{}  NOT LISTED: {}  — {list}", l.control_code, l.not_listed),
        }
    }
    if !answer.mappings.is_empty() {
        println!();
        let rows: Vec<Vec<String>> =
            answer.mappings.iter().map(|m| vec![m.from.clone(), m.to.clone(), format!("{} v{}", m.crosswalk, m.crosswalk_version), m.note.clone()]).collect();
        print!("{}", table(&["CODE", "EQUIVALENT", "CROSSWALK", "NOTE"], &rows));
    }
    println!();
    if licences.is_empty() {
        println!("no licence held here names {}", codes.join(", "));
    } else {
        let rows: Vec<Vec<String>> = licences.iter().map(|(c, s)| vec![format!("{}/{}", s.authority, s.licence_id), c.clone()]).collect();
        print!("{}", table(&["LICENCE", "FOUND UNDER"], &rows));
    }
    Ok(())
}
