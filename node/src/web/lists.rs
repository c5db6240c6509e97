//! Pages for the control lists and crosswalks this node holds (docs/control-lists.md): every
//! list and crosswalk, one list version with what it changed, and one code looked up in every
//! list and through every crosswalk with the licences that name it. They show what `comity list
//! ls`, `comity list show` and `comity code` print, from the same gRPC methods.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use comity_proto::authoring::{format_time, parse_time, regime_prefix};
use comity_proto::pb::{self, registry_server::Registry as _};
use comity_proto::recognition::regime_of_prefix;
use comity_proto::statement::Envelope;
use maud::{html, Markup};
use serde::Deserialize;
use tonic::{Request, Status};

use super::api::http_status;
use super::pages::{authority_label, date, error_page, licence_link, page, refusal, status_name};
use super::Web;
use crate::error::Error;
use crate::input::shown;

/// Licences shown per code on a code's page; more are a search away.
const LICENCES_PER_CODE: u32 = 50;

/// The regime prefixes, as a person types them.
const PREFIXES: &str = "EU-DU, WA, EAR, UK, MTCR, NSG, AG, NAT";

pub fn routes() -> Router<Web> {
    Router::new().route("/lists", get(lists_page)).route("/lists/{authority}/{regime}", get(list_page)).route("/code", get(code_page))
}

/// `value` for a URL's query: everything but unreserved characters (and `:`, as in
/// `EU-DU:3A001`) percent-encoded, since national codes may hold `&`, `#` or `%`.
fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn regime_name(regime: i32) -> &'static str {
    pb::Regime::try_from(regime).map_or("?", regime_prefix)
}

/// The page of `authority`'s list of the regime with `prefix`, at `version` (the latest: `None`),
/// and of its part `part` (its categories, `3,5`) when the list is published in several parts.
fn list_href(authority: &str, prefix: &str, part: Option<&str>, version: Option<u64>) -> String {
    let mut query = Vec::new();
    if let Some(p) = part {
        query.push(format!("part={}", query_value(p)));
    }
    if let Some(v) = version {
        query.push(format!("version={v}"));
    }
    let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
    format!("/lists/{}/{}{query}", query_value(authority), query_value(prefix))
}

/// A list statement's part: its categories, or `*` for the whole list.
fn part_of(list: &pb::ControlList) -> String {
    comity_proto::catalogue::scope_of(&list.categories)
}

/// The page of a qualified code.
fn code_href(qualified: &str) -> String {
    format!("/code?code={}", query_value(qualified))
}

fn entry_anchor(code: &str) -> String {
    format!("entry-{code}")
}

fn time(t: i64) -> Markup {
    html! { time datetime=(format_time(t)) { (date(t)) } }
}

fn change_name(kind: i32) -> &'static str {
    pb::control_change::Kind::try_from(kind).map_or("?", |k| k.as_str_name())
}

/// The envelopes a ListControlLists answer carries.
fn parse_all(envelopes: Vec<Vec<u8>>) -> Result<Vec<Envelope>, Status> {
    envelopes
        .into_iter()
        .map(|e| Envelope::parse(e).map_err(|e| Error::Internal(format!("a catalogue statement held here does not parse: {e}")).into()))
        .collect()
}

fn as_list(envelope: &Envelope) -> Option<&pb::ControlList> {
    match envelope.statement() {
        pb::statement::Kind::ControlList(l) => Some(l),
        _ => None,
    }
}

fn as_crosswalk(envelope: &Envelope) -> Option<&pb::Crosswalk> {
    match envelope.statement() {
        pb::statement::Kind::Crosswalk(c) => Some(c),
        _ => None,
    }
}

/// The code lookup form's fields, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct CodeForm {
    /// Qualified code, e.g. `EU-DU:3A001.a.1`.
    code: String,
    /// YYYY-MM-DD (or an RFC 3339 time); empty = now.
    at: String,
}

fn code_form(f: &CodeForm) -> Markup {
    html! {
        form.card method="get" action="/code" {
            div.row {
                label { "Control code, regime:code" input name="code" required placeholder="e.g. EU-DU:3A001.a.1" value=(f.code) autocomplete="off" aria-describedby="code-hint"; }
                label { "Lists in force on (optional)" input type="date" name="at" value=(f.at); }
            }
            p.hint id="code-hint" { "A code with its regime's prefix (" (PREFIXES) "), e.g. EU-DU:3A001.a.1 or WA:3.A.1.a.1." }
            button type="submit" { "Look up" }
        }
    }
}

async fn lists_page(State(web): State<Web>) -> Response {
    let title = "Control lists";
    let held = match web.registry.list_control_lists(Request::new(pb::ListControlListsRequest::default())).await {
        Ok(r) => r.into_inner(),
        Err(status) => return error_page(&web, title, &status),
    };
    let (lists, crosswalks) = match (parse_all(held.lists), parse_all(held.crosswalks)) {
        (Ok(l), Ok(c)) => (l, c),
        (Err(status), _) | (_, Err(status)) => return error_page(&web, title, &status),
    };
    let lists: Vec<(&Envelope, &pb::ControlList)> = lists.iter().filter_map(|e| as_list(e).map(|l| (e, l))).collect();
    let crosswalks: Vec<&pb::Crosswalk> = crosswalks.iter().filter_map(as_crosswalk).collect();
    let body = html! {
        p { "Each authority's signed control list of each regime, version by version (its decisions' control codes are checked against the version in force at their date), and the crosswalks that map codes between regimes." }
        (code_form(&CodeForm::default()))
        section.card {
            h2 { "Lists" }
            @if lists.is_empty() {
                p { "No control list is held here." }
            } @else {
                table.lists {
                    thead { tr { th { "Publisher" } th { "List" } th { "Latest version" } th { "In force from" } th { "Entries" } th { "Title" } } }
                    tbody {
                        @for (envelope, l) in &lists {
                            @let prefix = regime_name(l.regime);
                            @let parts = lists.iter().filter(|(_, o)| o.authority == l.authority && o.regime == l.regime).count();
                            @let part = (parts > 1).then(|| part_of(l));
                            tr data-list={ (l.authority) "/" (prefix) } {
                                td { a href={ "/authorities/" (l.authority) } { (authority_label(&web, &l.authority)) } }
                                td.nowrap { a href=(list_href(&l.authority, prefix, part.as_deref(), None)) title={ "statement " (envelope.id()) } { (prefix) @if let Some(p) = &part { " (" (p) ")" } } }
                                td { (l.version) }
                                td { (time(l.valid_from)) }
                                td { (l.entries.len()) }
                                td { (l.title) }
                            }
                        }
                    }
                }
            }
            h2 { "Crosswalks" }
            @if crosswalks.is_empty() {
                p { "No crosswalk is held here." }
            } @else {
                table.crosswalks {
                    thead { tr { th { "Crosswalk" } th { "Version" } th { "Equivalences" } th { "Title" } } }
                    tbody {
                        @for c in &crosswalks {
                            tr data-crosswalk={ (c.authority) "/" (c.crosswalk_id) } {
                                td { code { (c.authority) "/" (c.crosswalk_id) } }
                                td { (c.version) }
                                td { (c.equivalences.len()) }
                                td { (c.title) }
                            }
                        }
                    }
                }
            }
            p.freshness { a href="/api/v1/lists" { "JSON" } " (the signed statements, each version checkable on its own)." }
        }
    };
    page(&web, title, body).into_response()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct VersionForm {
    /// Empty: the latest held.
    version: String,
    /// The part (categories, `3,5`) of a list published in several; empty: the first.
    part: String,
}

/// The entries in tree order (each after its enclosing entry), with their depth.
fn tree(entries: &[pb::ControlEntry]) -> Vec<(usize, &pb::ControlEntry)> {
    let known: HashSet<&str> = entries.iter().map(|e| e.code.as_str()).collect();
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.parent.is_empty() || e.parent == e.code || !known.contains(e.parent.as_str()) {
            roots.push(i);
        } else {
            children.entry(e.parent.as_str()).or_default().push(i);
        }
    }
    // Depth first without recursion: a list may nest as deep as it has entries.
    let mut out = Vec::with_capacity(entries.len());
    let mut seen = vec![false; entries.len()];
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&i| (0, i)).collect();
    while let Some((depth, i)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        out.push((depth, &entries[i]));
        if let Some(under) = children.get(entries[i].code.as_str()) {
            stack.extend(under.iter().rev().map(|&j| (depth + 1, j)));
        }
    }
    // Whatever no root reaches (never in a checked list) is still shown.
    out.extend(entries.iter().enumerate().filter(|(i, _)| !seen[*i]).map(|(_, e)| (0, e)));
    out
}

async fn list_page(State(web): State<Web>, Path((authority, prefix)): Path<(String, String)>, Query(f): Query<VersionForm>) -> Response {
    let title = format!("{authority}'s {prefix} list");
    let Some(regime) = regime_of_prefix(&prefix.to_ascii_uppercase()) else {
        return error_page(&web, &title, &Error::NotFound(format!("`{}` is not a regime prefix ({PREFIXES})", shown(&prefix))).into());
    };
    let prefix = regime_prefix(regime);
    let title = format!("{authority}'s {prefix} list");
    let version = match f.version.trim() {
        "" => None,
        v => match v.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => return error_page(&web, &title, &Error::InvalidArgument(format!("version: `{}` is not a version number", shown(v))).into()),
        },
    };
    let request = pb::ListControlListsRequest { authority: authority.clone(), regime: regime as i32, all_versions: true };
    let held = match web.registry.list_control_lists(Request::new(request)).await.map(|r| parse_all(r.into_inner().lists)) {
        Ok(Ok(held)) => held,
        Ok(Err(status)) | Err(status) => return error_page(&web, &title, &status),
    };
    // Oldest first, of the part asked for (a list published in parts has one history each).
    let all: Vec<(&Envelope, &pb::ControlList)> = held.iter().filter_map(|e| as_list(e).map(|l| (e, l))).collect();
    let mut parts: Vec<String> = all.iter().map(|(_, l)| part_of(l)).collect();
    parts.sort();
    parts.dedup();
    let selected = match f.part.trim() {
        "" => parts.first().cloned().unwrap_or_default(),
        p => p.to_string(),
    };
    let versions: Vec<(&Envelope, &pb::ControlList)> = all.iter().copied().filter(|(_, l)| part_of(l) == selected).collect();
    let part = (parts.len() > 1).then_some(selected.as_str());
    let Some(&(_, latest)) = versions.last() else {
        return error_page(
            &web,
            &title,
            &Error::NotFound(format!("this node holds no {prefix} list published by {authority} (the lists held are at /lists)")).into(),
        );
    };
    let found = match version {
        Some(v) => versions.iter().position(|(_, l)| l.version == v),
        None => Some(versions.len() - 1),
    };
    let Some(at) = found else {
        let first = versions[0].1.version;
        return error_page(
            &web,
            &title,
            &Error::NotFound(format!(
                "this node holds no version {} of {authority}'s {prefix} list: it holds versions {first} to {}",
                version.unwrap_or_default(),
                latest.version
            ))
            .into(),
        );
    };
    let (envelope, list) = versions[at];
    let next = versions.get(at + 1).map(|(_, l)| *l);
    let now = web.registry.clock().now();
    let title = format!("{authority}'s {prefix} list, version {}", list.version);
    let body = html! {
        section.card {
            p.subject { (list.title) }
            dl {
                dt { "Publisher" } dd { a href={ "/authorities/" (list.authority) } { (authority_label(&web, &list.authority)) } }
                dt { "Version" } dd { (list.version) @if next.is_none() { " (the latest held)" } }
                dt { "In force" } dd {
                    "from " (time(list.valid_from))
                    @if let Some(n) = next { " until " (time(n.valid_from)) " (replaced by " a href=(list_href(&authority, prefix, part, Some(n.version))) { "version " (n.version) } ")" }
                    @else if list.valid_from > now { " (not yet in force)" }
                }
                dt { "Categories" } dd { @if list.categories.is_empty() { "the whole list" } @else { (list.categories.join(", ")) } }
                dt { "Statement" } dd { code.statement-id { (envelope.id()) } }
                @if list.version > 1 { dt { "Replaces" } dd { a href=(list_href(&authority, prefix, part, Some(list.version - 1))) { "version " (list.version - 1) } " (statement " code { (hex::encode(&list.previous)) } ")" } }
                dt { "Signed" } dd { (format_time(list.issued_at)) }
                dt { "Entries" } dd { (list.entries.len()) }
            }
            @if parts.len() > 1 {
                p.parts {
                    "Published in parts: "
                    @for (i, p) in parts.iter().enumerate() {
                        @if i > 0 { " · " }
                        @if *p == selected { strong aria-current="page" { "categories " (p) } }
                        @else { a href=(list_href(&authority, prefix, Some(p), None)) { "categories " (p) } }
                    }
                }
            }
            p.versions {
                "Versions held: "
                @for (i, (_, l)) in versions.iter().enumerate() {
                    @if i > 0 { " · " }
                    @if i == at { strong aria-current="page" { "version " (l.version) } }
                    @else { a href=(list_href(&authority, prefix, part, Some(l.version))) { "version " (l.version) } }
                    " (" (date(l.valid_from)) ")"
                }
            }
            @if list.version > 1 {
                h2 { "Changes against version " (list.version - 1) }
                @if list.changes.is_empty() { p { "None." } }
                @else {
                    table.changes {
                        thead { tr { th { "Change" } th { "Code" } th { "Note" } } }
                        tbody {
                            @for c in &list.changes {
                                @let removed = c.kind == pb::control_change::Kind::Removed as i32;
                                tr data-change=(change_name(c.kind)) {
                                    td { strong { (change_name(c.kind)) } }
                                    td {
                                        @if removed { a href={ (list_href(&authority, prefix, part, Some(list.version - 1))) "#" (entry_anchor(&c.code)) } { code { (c.code) } } }
                                        @else { a href={ "#" (entry_anchor(&c.code)) } { code { (c.code) } } }
                                    }
                                    td { (c.note) }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Entries" }
            table.tree {
                thead { tr { th { "Code" } th { "Title" } th { "Unit" } } }
                tbody {
                    @for (depth, e) in tree(&list.entries) {
                        tr id=(entry_anchor(&e.code)) data-code=(e.code) data-depth=(depth) {
                            td.code style={ "--depth: " (depth) } { a href=(code_href(&format!("{prefix}:{}", e.code))) { code { (e.code) } } }
                            td { (e.title) }
                            td { (e.unit) }
                        }
                    }
                }
            }
        }
    };
    page(&web, &title, body).into_response()
}

/// One code's place in one list: its entry under the entries enclosing it, or why it is not
/// listed.
fn listed_card(l: &pb::ListedCode) -> Markup {
    let prefix = l.control_code.split_once(':').map_or("?", |(p, _)| p);
    let list = html! {
        a href=(list_href(&l.authority, prefix, (!l.list_categories.is_empty()).then(|| l.list_categories.join(",")).as_deref(), Some(l.list_version))) { (l.authority) "'s " (prefix) " list version " (l.list_version) }
        " (" (l.list_title) "), in force from " (time(l.list_valid_from))
    };
    let entry_href = |code: &str| {
        format!(
            "{}#{}",
            list_href(&l.authority, prefix, (!l.list_categories.is_empty()).then(|| l.list_categories.join(",")).as_deref(), Some(l.list_version)),
            entry_anchor(code)
        )
    };
    html! {
        @match l.path.last() {
            Some(_) => div.listed data-listed="yes" data-authority=(l.authority) {
                p { strong { "LISTED" } " in " (list) }
                ol.path {
                    @for (depth, e) in l.path.iter().enumerate() {
                        li style={ "--depth: " (depth) } {
                            @if depth + 1 == l.path.len() {
                                strong { a href=(entry_href(&e.code)) { code { (e.code) } } " " (e.title) }
                            } @else {
                                a href=(entry_href(&e.code)) { code { (e.code) } } " " (e.title)
                            }
                            @if !e.unit.is_empty() { " — unit: " (e.unit) }
                        }
                    }
                }
            },
            None => div.not-listed data-listed="no" data-authority=(l.authority) {
                p { strong { "NOT LISTED" } ": " span.reason { (l.not_listed) } }
                p.hint { "Checked against " (list) "." }
            },
        }
    }
}

async fn code_page(State(web): State<Web>, Query(f): Query<CodeForm>) -> Response {
    let ask = "Look up a control code";
    if f.code.trim().is_empty() {
        let body = html! {
            p { "A control code in every list held here, the same item's codes under other regimes through every crosswalk, and the licences that name any of them." }
            (code_form(&f))
        };
        return page(&web, ask, body).into_response();
    }
    // A refusal keeps the form as typed.
    let refused = |status: Status| (http_status(status.code()), page(&web, ask, html! { (refusal(&status)) (code_form(&f)) })).into_response();
    let at = match f.at.trim() {
        "" => 0,
        d => match parse_time(d) {
            Ok(t) => t,
            Err(_) => return refused(Error::InvalidArgument(format!("date: `{}` is not a YYYY-MM-DD date or an RFC 3339 time", shown(d))).into()),
        },
    };
    let code = f.code.trim();
    let answer = match web.registry.lookup_control_code(Request::new(pb::LookupControlCodeRequest { control_code: code.into(), at })).await {
        Ok(a) => a.into_inner(),
        Err(status) => return refused(status),
    };
    // The code and its equivalents, as `comity code` searches them.
    let mut codes = vec![code.to_string()];
    for m in &answer.mappings {
        if !codes.contains(&m.to) {
            codes.push(m.to.clone());
        }
    }
    let mut licences: Vec<(&str, pb::LicenceSummary)> = Vec::new();
    let mut more = Vec::new();
    for c in &codes {
        let request = pb::SearchRequest { control_code: c.clone(), page_size: LICENCES_PER_CODE, ..Default::default() };
        let found = match web.registry.search(Request::new(request)).await {
            Ok(r) => r.into_inner(),
            Err(status) => return refused(status),
        };
        if !found.next_cursor.is_empty() {
            more.push(c.as_str());
        }
        for s in found.licences {
            if !licences.iter().any(|(_, l)| l.authority == s.authority && l.licence_id == s.licence_id) {
                licences.push((c.as_str(), s));
            }
        }
    }
    let at_query = if f.at.trim().is_empty() { String::new() } else { format!("&at={}", query_value(f.at.trim())) };
    let now = web.registry.clock().now();
    let body = html! {
        section.card {
            p.checked-at {
                "Lists in force "
                @if at == 0 { "now (" (format_time(now)) ", UTC)" } @else { "on " (format_time(at)) " (UTC)" }
                "."
            }
            @for c in &codes {
                @let listed: Vec<&pb::ListedCode> = answer.listed.iter().filter(|l| l.control_code == *c).collect();
                div.lookup data-code=(c) {
                    h2 { code { (c) } @if c != code { " (equivalent)" } }
                    @if listed.is_empty() { p.hint { "No list held here covers this code: none of its regime is in force at that date, or none holds its category." } }
                    @for l in listed { (listed_card(l)) }
                }
            }
            h2 { "Equivalences" }
            @if answer.mappings.is_empty() {
                p { "No crosswalk held here maps this code or a code enclosing it." }
            } @else {
                table.equivalences {
                    thead { tr { th { "Code" } th { "Equivalent" } th { "Crosswalk" } th { "Note" } } }
                    tbody {
                        @for m in &answer.mappings {
                            tr {
                                td { code { (m.from) } }
                                td { a href={ (code_href(&m.to)) (at_query) } { code { (m.to) } } }
                                td { (m.crosswalk) " version " (m.crosswalk_version) }
                                td { (m.note) }
                            }
                        }
                    }
                }
            }
            h2 { "Licences held that name it" }
            @if licences.is_empty() {
                p { "No licence held here names " (codes.join(", ")) "." }
            } @else {
                table.licences {
                    thead { tr { th { "Licence" } th { "Status" } th { "Applicant" } th { "Destinations" } th { "Control codes" } th { "Found under" } } }
                    tbody {
                        @for (under, s) in &licences {
                            tr {
                                td { a href=(licence_link(&s.authority, &s.licence_id)) { (s.authority) "/" (s.licence_id) } }
                                td { (status_name(s.status)) } td { (s.applicant) } td { (s.destinations.join(", ")) } td { (s.control_codes.join(", ")) } td { code { (under) } }
                            }
                        }
                    }
                }
            }
            @for c in &more { p { a href={ "/search?control_code=" (query_value(c)) } { "More licences under " (c) } } }
            p.freshness { a href={ "/api/v1/code?code=" (query_value(code)) } { "JSON" } }
        }
        (code_form(&f))
    };
    page(&web, &format!("Control code {code}"), body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: &str, parent: &str) -> pb::ControlEntry {
        pb::ControlEntry { code: code.into(), parent: parent.into(), title: code.into(), unit: String::new() }
    }

    #[test]
    fn entries_are_shown_under_their_parents_in_list_order() {
        let entries = [entry("3A001", ""), entry("3A001.a", "3A001"), entry("3A002", ""), entry("3A001.a.1", "3A001.a"), entry("3A001.b", "3A001")];
        let shown: Vec<(usize, &str)> = tree(&entries).into_iter().map(|(d, e)| (d, e.code.as_str())).collect();
        assert_eq!(shown, [(0, "3A001"), (1, "3A001.a"), (2, "3A001.a.1"), (1, "3A001.b"), (0, "3A002")]);
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(query_value("EU-DU:3A001.a.1"), "EU-DU:3A001.a.1");
        assert_eq!(query_value("NAT:A&B#1%"), "NAT:A%26B%231%25");
    }
}
