//! HTML pages for verifiers who use no CLI: rendered on the server (maud escapes every value),
//! usable without JavaScript, readable on a phone.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use comity_proto::authoring::{format_money, format_time, parse_time, qualified_control_code};
use comity_proto::decision::split_licence_ref;
use comity_proto::log::SignedCheckpoint;
use comity_proto::pb::TokenPointer;
use comity_proto::pb::{self, federation_server::Federation as _, registry_server::Registry as _};
use comity_proto::statement::Envelope;
use comity_proto::token_qr::{check_pointer_against_token, check_pointer_checkpoint, parse_pointer, pointer_text_from_upload, short_id, PointerError};
use comity_proto::verdict::human_secs;
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use tonic::{Request, Status};

use comity_proto::code_name;

use super::api::{check_token, http_status, TokenQuestion};
use super::Web;
use crate::error::Error;
use crate::input::{brief, shown};

const STYLE: &str = include_str!("comity.css");

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/", get(verify_page))
        .route("/assets/comity.css", get(|| async { ([(header::CONTENT_TYPE, "text/css"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLE) }))
        .route("/licences/{authority}/{*licence_id}", get(licence_page))
        .route("/search", get(search_page))
        .route("/authorities/{authority}", get(authority_page))
        .route("/federation", get(federation_page))
        .route("/token", get(token_form_handler).post(token_result))
}

/// A page with the site's header and navigation.
pub(super) fn page(web: &Web, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Comity" }
                link rel="stylesheet" href="/assets/comity.css";
            }
            body {
                header {
                    a.brand href="/" { "Comity" }
                    span.origin { "registry node " code { (web.origin) } }
                    nav aria-label="Main" {
                        a href="/" { "Verify" } a href="/token" { "Check a token" } a href="/search" { "Licences" } a href="/lists" { "Control lists" } a href="/screen" { "Screen" } a href="/consultations" { "Consultations" } a href="/rulings" { "Rulings" } a href="/federation" { "Federation" }
                    }
                }
                main { h1 { (title) } (body) }
                footer { "Answers are computed from signed, logged decisions; " a href="/api/openapi.yaml" { "JSON API" } "." }
            }
        }
    }
}

/// A refusal shown as a page, with the HTTP status of the gRPC code.
pub(super) fn error_page(web: &Web, title: &str, status: &Status) -> Response {
    (http_status(status.code()), page(web, title, refusal(status))).into_response()
}

/// A refusal in words; the gRPC code stays as small print for whoever reports it.
pub(super) fn refusal(status: &Status) -> Markup {
    let lead = match status.code() {
        tonic::Code::InvalidArgument | tonic::Code::OutOfRange => "Please check what you entered",
        tonic::Code::NotFound => "Not found",
        tonic::Code::ResourceExhausted | tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => "The node is busy; try again shortly",
        _ => "The node could not answer",
    };
    html! { p.error role="alert" { strong { (lead) } ": " (status.message()) " " small.code { "(" (code_name(status.code())) ")" } } }
}

/// An authority as people know it: its configured name with its id, or the id alone.
pub(super) fn authority_label(web: &Web, id: &str) -> String {
    match web.authority_names.get(id) {
        Some(name) => format!("{name} ({id})"),
        None => id.to_string(),
    }
}

pub(super) fn date(t: i64) -> String {
    if t == 0 {
        "—".into()
    } else {
        format_time(t).get(..10).unwrap_or_default().to_string()
    }
}

fn enum_name<E: TryFrom<i32>>(v: i32, name: fn(&E) -> &'static str) -> &'static str {
    E::try_from(v).ok().as_ref().map_or("?", name)
}

pub(super) fn status_name(s: i32) -> &'static str {
    enum_name::<pb::LicenceStatus>(s, |s| s.as_str_name())
}

/// A decision's action for people: a confidential decision a node outside its audience holds
/// has no readable action, and says so rather than ACTION_UNSPECIFIED.
fn decision_label(d: &pb::Decision) -> String {
    match pb::Action::try_from(d.action) {
        Ok(pb::Action::Unspecified) | Err(_) => "confidential decision (details restricted)".into(),
        Ok(a) => a.as_str_name().into(),
    }
}

pub(super) fn licence_link(authority: &str, licence_id: &str) -> String {
    format!("/licences/{authority}/{licence_id}")
}

/// The verify form's fields, as typed by a person.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct VerifyForm {
    licence: String,
    relying_authority: String,
    destination: String,
    item: String,
    end_user: String,
    /// The declared end use, checked against a general licence's pre-approved end uses.
    end_use: String,
    /// The quantity about to ship, in the item's unit: checked against what customs have not
    /// yet written off.
    quantity: String,
    /// YYYY-MM-DD; empty = now.
    date: String,
}

fn verify_form(f: &VerifyForm) -> Markup {
    html! {
        form.card method="get" action="/" {
            p.hint { "Examples in grey are not filled in: only what you type is checked." }
            label { "Licence (authority/reference)" input name="licence" required placeholder="e.g. de.bafa/DE-2026-004211" value=(f.licence) autocomplete="off"; }
            label { "Relying authority (whose recognition applies)" input name="relying_authority" required placeholder="e.g. jp.meti" value=(f.relying_authority); }
            div.row {
                label { "Destination (optional)" input name="destination" placeholder="e.g. JP" maxlength="2" value=(f.destination); }
                label { "Item, regime:control code (optional)" input name="item" placeholder="e.g. EU-DU:3A001.a.1" value=(f.item); }
                label { "Quantity to ship (optional; in the item's unit)" input name="quantity" placeholder="e.g. 20" inputmode="decimal" value=(f.quantity); }
            }
            div.row {
                label { "End user (optional)" input name="end_user" placeholder="e.g. Tohoku Institute of Space Optics" value=(f.end_user); }
                label { "End use (optional; general licences)" input name="end_use" placeholder="e.g. return after repair under warranty" value=(f.end_use); }
                label { "Date" input type="date" name="date" value=(f.date); }
            }
            button type="submit" { "Verify" }
        }
    }
}

async fn verify_page(State(web): State<Web>, Query(f): Query<VerifyForm>) -> Response {
    let title = "Verify a licence";
    if f.licence.trim().is_empty() {
        return page(&web, title, html! { p { "Is a licence valid for this item, destination and end user, and does the relying authority recognise its issuer for that?" } (verify_form(&f)) }).into_response();
    }
    // A refusal keeps the form as typed, so the person corrects it rather than starting again.
    let refused = |status: Status| (http_status(status.code()), page(&web, title, html! { (refusal(&status)) (verify_form(&f)) })).into_response();
    let Some((authority, licence_id)) = f.licence.trim().split_once('/') else {
        return refused(Error::InvalidArgument(format!("licence: `{}` must be AUTHORITY/REFERENCE, e.g. de.bafa/DE-2026-004211", shown(&f.licence))).into());
    };
    if f.relying_authority.trim().is_empty() {
        return refused(
            Error::InvalidArgument(
                "enter the relying authority: the authority that relies on this licence (e.g. jp.meti), whose recognition agreements decide whether it is accepted"
                    .into(),
            )
            .into(),
        );
    }
    let at = match f.date.trim() {
        "" => 0,
        d => match parse_time(d) {
            Ok(t) => t,
            Err(_) => return refused(Error::InvalidArgument(format!("date: `{}` is not an RFC 3339 time or a YYYY-MM-DD date", shown(d))).into()),
        },
    };
    let request = pb::VerifyRequest {
        authority: authority.into(),
        licence_id: licence_id.into(),
        relying_authority: f.relying_authority.trim().into(),
        destination: f.destination.trim().to_uppercase(),
        control_code: f.item.trim().into(),
        end_user: f.end_user.trim().into(),
        at,
        screening_lists: trusted_screening_lists(&web),
        end_use: f.end_use.trim().into(),
        quantity: f.quantity.trim().into(),
        ..Default::default()
    };
    match web.registry.verify(Request::new(request.clone())).await {
        Ok(answer) => page(&web, title, html! { (verdict_card(&web, &answer.into_inner(), &request)) (verify_form(&f)) }).into_response(),
        Err(status) => refused(status),
    }
}

/// Which of item, destination and end user the question gave (and so were checked, for a
/// VALID answer) and which it left out: a VALID verdict says nothing about what was not given.
fn scope(valid: bool, item: &str, destination: &str, end_user: &str) -> Markup {
    let fields = [("item", "Item", item), ("destination", "Destination", destination), ("end-user", "End user", end_user)];
    let given_word = if valid { "checked against the licence" } else { "asked about" };
    html! {
        ul.scope {
            @for (key, label, value) in fields {
                @if value.trim().is_empty() {
                    li.not-given data-scope=(key) data-checked="no" { (label) ": " em { "not given, not checked" } }
                } @else {
                    li.given data-scope=(key) data-checked=(if valid { "yes" } else { "asked" }) { (label) " " code { (value) } ": " (given_word) }
                }
            }
        }
    }
}

/// The screening lists the node's trust file applies (`screening_lists`) that it holds: the
/// page screens as `comity verify` does with that trust file (docs/screening.md).
fn trusted_screening_lists(web: &Web) -> Vec<String> {
    web.trust.as_ref().map(|t| web.registry.screening_lists_held(&t.screening_lists)).unwrap_or_default()
}

/// Screening matches of a Verify answer: strong ones decide the verdict, weak ones are warnings.
fn screening_card(hits: &[pb::ScreeningHit]) -> Markup {
    html! {
        @if !hits.is_empty() {
            h2 { "Screening" }
            ul.screening {
                @for h in hits {
                    @if let Some(m) = &h.found {
                        @let e = m.entry.clone().unwrap_or_default();
                        li data-strong=(m.strong) {
                            @if m.strong { strong.verdict-invalid { "STRONG" } } @else { "weak" }
                            " match for the " (h.role) " " q { (h.party) } ": " (m.matched_name) " (score " (m.score) "), "
                            code { (m.list) " " (e.entry_id) } " — " (e.reason) " (" (e.legal_basis) ")"
                        }
                    }
                }
            }
        }
    }
}

/// When an answer was computed, in UTC (ISO 8601), and for which date when not now.
fn checked_at(checked_at: i64, asked_at: i64, now: i64) -> Markup {
    let checked_at = if checked_at == 0 { now } else { checked_at };
    html! {
        p.checked-at {
            "Checked at " time datetime=(format_time(checked_at)) { (format_time(checked_at)) } " (UTC)"
            @if asked_at != 0 && asked_at != checked_at { ", for the licence as of " time datetime=(format_time(asked_at)) { (format_time(asked_at)) } }
            "."
        }
    }
}

fn verdict_card(web: &Web, a: &pb::VerifyResponse, q: &pb::VerifyRequest) -> Markup {
    let (authority, licence_id) = (q.authority.as_str(), q.licence_id.as_str());
    let verdict = enum_name::<pb::Verdict>(a.verdict, |v| v.as_str_name()).trim_start_matches("VERDICT_");
    let class = if a.verdict == pb::Verdict::Valid as i32 { "verdict valid" } else { "verdict invalid" };
    let agreement = (!a.agreement.is_empty()).then(|| Envelope::parse(a.agreement.clone()).ok()).flatten();
    let agreement = agreement.as_ref().and_then(|e| match e.statement() {
        pb::statement::Kind::Agreement(g) => Some(g.clone()),
        _ => None,
    });
    let age = a.proof.as_ref().map(|p| p.checkpoint_age_secs);
    html! {
        section.card aria-live="polite" {
            p class=(class) data-verdict=(verdict) { (verdict) }
            p.subject { a href=(licence_link(authority, licence_id)) { (authority) "/" (licence_id) } }
            p.parties { "Issued by " a href={ "/authorities/" (authority) } { (authority_label(web, authority)) } "; relying authority " (authority_label(web, &q.relying_authority)) "." }
            (checked_at(a.checked_at, q.at, web.registry.clock().now()))
            (scope(a.verdict == pb::Verdict::Valid as i32, &q.control_code, &q.destination, &q.end_user))
            ul.reasons { @for r in &a.reasons { li { (r) } } }
            @if !a.warnings.is_empty() { ul.warnings { @for w in &a.warnings { li { "⚠ " (w) } } } }
            (screening_card(&a.screening))
            @if let Some(g) = &agreement {
                h2 { "Agreement applied" }
                p { (authority_label(web, &g.relying_authority)) " recognises " (authority_label(web, &g.recognised_authority)) " (" (g.agreement_id) " v" (g.version) ")" }
                @if !g.conditions.is_empty() { ul { @for c in &g.conditions { li { (c) } } } }
            }
            @if let Some(age) = age {
                p.freshness { "Evidence: signed log checkpoint " (human_secs(age)) " old; " (a.proof.as_ref().map_or(0, |p| p.statements.len())) " signed statements with inclusion proofs." }
            }
            @if !a.chain.is_empty() { h2 { "Decision timeline" } (timeline(&a.chain)) }
        }
    }
}

fn timeline(chain: &[pb::ChainLink]) -> Markup {
    html! {
        ol.timeline {
            @for link in chain {
                @if let Some(d) = &link.decision {
                    li {
                        strong { "v" (d.version) " " (decision_label(d)) }
                        " decided " time datetime=(format_time(d.decided_at)) { (date(d.decided_at)) }
                        @if d.application_received > 0 { ", received " (date(d.application_received)) " (" ((d.decided_at - d.application_received) / 86_400) " days)" }
                        @for r in &d.reasons { br; span.reason { (r.code) ": " (r.text) " (" (r.legal_basis) ")" } }
                        @if let Some((ga, gl)) = d.general_licence.split_once('/') {
                            br; span.general-licence { "Registered under general licence " a href=(licence_link(ga, gl)) { (d.general_licence) } }
                        }
                        @if !d.permitted_end_uses.is_empty() { br; span.end-uses { "Pre-approved end uses: " (d.permitted_end_uses.join("; ")) } }
                        @for c in &d.consultations { br; span.consulted { "Granted after consultation " a href={ "/consultations?authority=" (d.authority) } { (d.authority) "/" (c) } " on a partner's denial" } }
                        @if let Some(o) = &d.undercut_override {
                            br; strong.verdict-invalid.override { "Overrides the denial of " (o.denials.join(", ")) " without consultation" }
                            @for r in &o.reasons { br; span.reason { (r.code) ": " (r.text) " (" (r.legal_basis) ")" } }
                        }
                        @if !d.note.is_empty() { br; span.note { (d.note) } }
                    }
                }
            }
        }
    }
}

async fn licence_page(State(web): State<Web>, Path((authority, licence_id)): Path<(String, String)>) -> Response {
    let title = format!("{authority}/{licence_id}");
    let answer = match web.registry.get_licence(Request::new(pb::GetLicenceRequest { authority: authority.clone(), licence_id: licence_id.clone() })).await {
        Ok(a) => a.into_inner(),
        Err(status) => return error_page(&web, &title, &status),
    };
    let s = answer.licence.clone().unwrap_or_default();
    let t = answer.terms.clone().unwrap_or_default();
    let verify = format!("/?licence={authority}/{licence_id}");
    let chain = re_export_chain(&web, &t, &answer).await;
    let body = html! {
        section.card {
            @if answer.restricted {
                p.verdict.invalid { "CONFIDENTIAL" }
                p { "Issued by " a href={ "/authorities/" (authority) } { (authority_label(&web, &authority)) } "." }
                p { "This licence exists and was logged, but its content is shared only with: " (answer.audience.join(", ")) "." }
            } @else {
                p class={ "status status-" (status_name(s.status).to_lowercase()) } { (status_name(s.status)) }
                dl {
                    dt { "Issuing authority" } dd { a href={ "/authorities/" (authority) } { (authority_label(&web, &authority)) } }
                    dt { "Type, risk tier" } dd { (enum_name::<pb::LicenceType>(t.licence_type, |x| x.as_str_name())) ", tier " (t.risk_tier) }
                    @if t.valid_until != 0 { dt { "Valid" } dd { (date(t.valid_from)) " to " (date(t.valid_until)) } }
                    @if let Some(a) = &t.applicant { dt { "Applicant" } dd { (a.name) " (" (a.country) ")" } }
                    @for p in &t.end_users { dt { "End user" } dd { (p.name) " (" (p.country) ")" } }
                    @for p in &t.consignees { dt { "Consignee" } dd { (p.name) " (" (p.country) ")" } }
                    dt { "End use" } dd { (t.end_use) }
                    @for i in &t.items { dt { "Item" } dd { code { (qualified_control_code(i)) } " " (i.quantity) " " (i.unit) ", " (format_money(i.value_minor, &i.currency)) " " (i.currency) " — " (i.description) } }
                    dt { "Destinations" } dd { (t.destinations.join(", ")) }
                    @for c in &t.conditions { dt { "Condition" } dd { (c) } }
                }
                p { a.button href=(verify) { "Verify this licence for a shipment" } " " a href={ "/api/v1/licences/" (authority) "/" (licence_id) } { "JSON" } " " a href={ "/authorities/" (authority) } { "Issuing authority" } }
            }
            (usage(&s.balances, &answer.chain))
            h2 { "Decision timeline" }
            (timeline(&answer.chain))
            (chain)
            (deliveries(&answer.deliveries))
            (end_use_checks(&answer.end_use_checks))
        }
    };
    page(&web, &title, body).into_response()
}

/// What customs wrote off against the licence: each item's balance and each shipment
/// (docs/usage-and-drawdown.md).
fn usage(balances: &[pb::ItemBalance], chain: &[pb::ChainLink]) -> Markup {
    let shipments: Vec<&pb::Decision> = chain.iter().filter_map(|l| l.decision.as_ref()).filter(|d| d.shipment.is_some()).collect();
    html! {
        @if !balances.is_empty() {
            h2 { "Balance" }
            table.balances {
                thead { tr { th { "Item" } th { "Control code" } th { "Licensed" } th { "Written off" } th { "Remaining" } th { "Value remaining" } th { "Shipments" } } }
                tbody {
                    @for b in balances {
                        tr data-item=(b.item) data-remaining=(b.remaining) {
                            td { (b.item) } td { code { (b.control_code) } }
                            td { (b.licensed) " " (b.unit) } td { (b.used) " " (b.unit) }
                            td { @if b.licensed.is_empty() { "no limit" } @else { strong { (b.remaining) " " (b.unit) } } }
                            td { @if b.licensed_value_minor > 0 { (format_money(b.remaining_value_minor, &b.currency)) " of " (format_money(b.licensed_value_minor, &b.currency)) " " (b.currency) } @else { "-" } }
                            td { (b.shipments) }
                        }
                    }
                }
            }
            h2 { "Shipments written off" }
            table.shipments {
                thead { tr { th { "Version" } th { "Declaration" } th { "Released" } th { "Customs office" } th { "To" } th { "Items" } } }
                tbody {
                    @for d in &shipments {
                        @let sh = d.shipment.clone().unwrap_or_default();
                        tr data-declaration=(sh.declaration) {
                            td { "v" (d.version) } td { code { (sh.declaration) } } td { (date(sh.shipped_on)) }
                            td { (sh.customs_office) " (customs of " (d.reported_by) ")" }
                            td { (sh.destination) @if !sh.transit_countries.is_empty() { " via " (sh.transit_countries.join(", ")) } }
                            td { @for i in &sh.items { "item " (i.item) " × " (i.quantity) " " } }
                        }
                    }
                }
            }
        }
    }
}

/// The re-export chain across authorities (docs/re-export.md): for a re-export licence, its
/// parent (with its status here) and the consent relied on; for a parent, the consents on its
/// chain and the re-export licences held here that stand on it.
async fn re_export_chain(web: &Web, terms: &pb::Decision, answer: &pb::GetLicenceResponse) -> Markup {
    let decisions = || answer.chain.iter().filter_map(|l| l.decision.as_ref());
    let given = comity_proto::re_export::consents(decisions());
    let parent = match split_licence_ref(&terms.parent_licence) {
        Some((a, l)) => {
            let request = pb::GetLicenceRequest { authority: a.into(), licence_id: l.into() };
            Some(web.registry.get_licence(Request::new(request)).await.ok().map(|r| r.into_inner()))
        }
        None => None,
    };
    let parent_consent = parent.as_ref().and_then(|p| p.as_ref()).and_then(|p| {
        comity_proto::re_export::consents(p.chain.iter().filter_map(|l| l.decision.as_ref())).into_iter().find(|c| c.consent.consent_id == terms.consent_id)
    });
    html! {
        @if parent.is_some() || !given.is_empty() || !answer.re_export_children.is_empty() {
            h2 { "Re-export chain" }
            dl.re-export {
                @if let Some((a, l)) = split_licence_ref(&terms.parent_licence) {
                    dt { "Re-export under" }
                    dd {
                        a href=(licence_link(a, l)) { (terms.parent_licence) }
                        @match parent.as_ref().and_then(|p| p.as_ref()) {
                            Some(p) => { " — " (status_name(p.licence.as_ref().map_or(0, |s| s.status))) }
                            None => { " — not held here" }
                        }
                    }
                    dt { "Consent relied on" }
                    dd {
                        @match &parent_consent {
                            Some(c) => { (consent_text(c)) }
                            None => { (terms.consent_id) ": not on the parent's chain as held here" }
                        }
                    }
                }
                @for c in &given { dt { "Consent" } dd { (consent_text(c)) } }
                @for c in &answer.re_export_children {
                    dt { "Re-exported under it" }
                    dd { a href=(licence_link(&c.authority, &c.licence_id)) { (c.authority) "/" (c.licence_id) } " — " (status_name(c.status)) ", to " (c.destinations.join(", ")) }
                }
            }
        }
    }
}

/// A consent in one line: id, state, who may re-export what to whom.
fn consent_text(c: &comity_proto::re_export::Consent) -> String {
    let k = &c.consent;
    let state = match c.withdrawn {
        Some((v, at)) => format!("WITHDRAWN in v{v}, {}", date(at)),
        None => "in force".into(),
    };
    let users: Vec<String> = k.end_users.iter().map(|p| format!("{} ({})", p.name, p.country)).collect();
    let items: Vec<String> = k.items.iter().map(|i| format!("{} {} {}", qualified_control_code(i), i.quantity, i.unit)).collect();
    format!(
        "{} ({state}; given in v{}, {}): re-export licensed by {} to {} for {}: {}; licences decided before {}",
        k.consent_id,
        c.version,
        date(c.given_at),
        k.re_export_authority,
        k.destinations.join(", "),
        users.join("; "),
        items.join(", "),
        date(k.valid_until)
    )
}

/// Post-shipment verifications logged against the licence.
fn end_use_checks(checks: &[pb::EndUseCheck]) -> Markup {
    html! {
        @if !checks.is_empty() {
            h2 { "End-use checks" }
            ul.end-use-checks {
                @for c in checks {
                    li data-outcome=(comity_proto::end_use_check::outcome_name(c.outcome)) {
                        strong { (comity_proto::end_use_check::outcome_name(c.outcome)) } " — " (c.authority) "/" (c.check_id) ", " (date(c.checked_on))
                        @if !c.shipment.is_empty() { ", shipment " code { (c.shipment) } }
                        @if c.confidential { br; em { "Confidential: place, checker and findings withheld." } }
                        @else { br; (c.place) ", by " (c.checked_by) ": " (c.findings) }
                    }
                }
            }
        }
    }
}

/// Delivery receipts (at the issuer's node): which partners' witnesses confirmed each decision.
fn deliveries(deliveries: &[pb::Delivery]) -> Markup {
    html! {
        @if !deliveries.is_empty() {
            h2 { "Delivered to partners" }
            table.deliveries {
                thead { tr { th { "Version" } th { "Partner's witness" } th { "Confirmed" } } }
                tbody {
                    @for d in deliveries {
                        tr data-witness=(d.witness) data-version=(d.version) data-delivered=(d.delivered) {
                            td { "v" (d.version) }
                            td { code { (d.witness) } }
                            td {
                                @if d.delivered { (format!("{:.1}", d.delay_ms as f64 / 1000.0)) " s after it was logged" }
                                @else { strong.verdict-invalid { "not yet" } " (its last cosigned checkpoint has size " (d.confirmed_size) ", at " (format_time(d.confirmed_at_ms / 1000)) ")" }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct SearchForm {
    party: String,
    destination: String,
    control_code: String,
    status: String,
    authority: String,
    cursor: String,
}

async fn search_page(State(web): State<Web>, Query(f): Query<SearchForm>) -> Response {
    let title = "Licences";
    let status = match f.status.as_str() {
        "" => 0,
        s => match pb::LicenceStatus::from_str_name(s) {
            Some(s) => s as i32,
            None => return error_page(&web, title, &Error::InvalidArgument(format!("status: `{}` is not a licence status", shown(s))).into()),
        },
    };
    let request = pb::SearchRequest {
        party: f.party.clone(),
        destination: f.destination.trim().to_uppercase(),
        control_code: f.control_code.clone(),
        authority: f.authority.clone(),
        status,
        page_size: 50,
        cursor: f.cursor.clone(),
        ..Default::default()
    };
    let found = match web.registry.search(Request::new(request)).await {
        Ok(r) => r.into_inner(),
        Err(status) => return error_page(&web, title, &status),
    };
    const STATUSES: [&str; 11] =
        ["ISSUED", "DENIED", "SUSPENDED", "REVOKED", "SURRENDERED", "CANCELLED", "UNDER_APPEAL", "EXPIRED", "NOT_YET_VALID", "UNDER_REVIEW", "WITHDRAWN"];
    let next = (!found.next_cursor.is_empty()).then(|| {
        format!(
            "/search?party={}&destination={}&control_code={}&status={}&authority={}&cursor={}",
            f.party, f.destination, f.control_code, f.status, f.authority, found.next_cursor
        )
    });
    let body = html! {
        form.card method="get" action="/search" {
            div.row {
                label { "Party" input name="party" value=(f.party) placeholder="e.g. kessler"; }
                label { "Destination" input name="destination" value=(f.destination) maxlength="2" placeholder="e.g. JP"; }
            }
            div.row {
                label { "Control code" input name="control_code" value=(f.control_code) placeholder="e.g. 3A001"; }
                label { "Status" select name="status" { option value="" { "any" } @for s in STATUSES { option value=(s) selected[f.status == s] { (s) } } } }
            }
            button type="submit" { "Search" }
        }
        table {
            thead { tr { th { "Licence" } th { "Status" } th { "Applicant" } th { "Destinations" } th { "Control codes" } th { "Last decision" } } }
            tbody {
                @for s in &found.licences {
                    tr {
                        td { a href=(licence_link(&s.authority, &s.licence_id)) { (s.authority) "/" (s.licence_id) } }
                        td { (status_name(s.status)) } td { (s.applicant) } td { (s.destinations.join(", ")) } td { (s.control_codes.join(", ")) } td { (date(s.last_decided_at)) }
                    }
                }
            }
        }
        @if found.licences.is_empty() { p { "No licence matches." } }
        @if let Some(next) = next { p { a href=(next) { "Next page" } } }
    };
    page(&web, title, body).into_response()
}

async fn authority_page(State(web): State<Web>, Path(authority): Path<String>) -> Response {
    let title = format!("Authority {}", authority_label(&web, &authority));
    let stats = match web.registry.stats(Request::new(pb::StatsRequest { authority: authority.clone(), ..Default::default() })).await {
        Ok(s) => s.into_inner(),
        Err(status) => return error_page(&web, &title, &status),
    };
    let key_set = web
        .registry
        .get_key_set(Request::new(pb::GetKeySetRequest { authority: authority.clone() }))
        .await
        .ok()
        .and_then(|r| Envelope::parse(r.into_inner().envelope).ok());
    let key_set = key_set.as_ref().and_then(|e| match e.statement() {
        pb::statement::Kind::KeySet(k) => Some(k.clone()),
        _ => None,
    });
    let agreements: Vec<pb::RecognitionAgreement> = match web.registry.list_agreements(Request::new(pb::ListAgreementsRequest::default())).await {
        Ok(r) => r
            .into_inner()
            .envelopes
            .into_iter()
            .filter_map(|e| Envelope::parse(e).ok())
            .filter_map(|e| match e.statement() {
                pb::statement::Kind::Agreement(a) if a.relying_authority == authority || a.recognised_authority == authority => Some(a.clone()),
                _ => None,
            })
            .collect(),
        Err(status) => return error_page(&web, &title, &status),
    };
    let body = html! {
        section.card {
            h2 { "Signing keys" }
            @match &key_set {
                Some(k) => {
                    p { "Key set v" (k.version) ", issued " (date(k.issued_at)) ", signed by a threshold of the authority's root keys." }
                    ul { @for key in &k.keys { li { code { (hex::encode(&key.public_key[..8.min(key.public_key.len())])) "…" } " valid " (date(key.valid_from)) " to " (if key.valid_until == 0 { "open".to_string() } else { date(key.valid_until) }) @if key.compromised_since != 0 { strong { " compromised since " (date(key.compromised_since)) } } } } }
                }
                None => p { "No key set logged: this node knows the authority's keys from its configuration." },
            }
            h2 { "Recognition agreements" }
            @if agreements.is_empty() { p { "None in force." } }
            ul { @for a in &agreements { li { (authority_label(&web, &a.relying_authority)) " recognises " (authority_label(&web, &a.recognised_authority)) " (" (a.agreement_id) " v" (a.version) "): " (if a.control_code_patterns.is_empty() { "any item".to_string() } else { a.control_code_patterns.join(", ") }) } } }
            h2 { "Processing times" }
            (processing_chart(&stats))
            table {
                thead { tr { th { "Regime" } th { "Type" } th { "Tier" } th { "Decisions" } th { "Median" } th { "p90" } th { "Denials" } th { "Revocations" } } }
                tbody {
                    @for g in &stats.groups {
                        @let p = g.processing.unwrap_or_default();
                        tr {
                            td { (enum_name::<pb::Regime>(g.regime, |x| x.as_str_name())) } td { (enum_name::<pb::LicenceType>(g.licence_type, |x| x.as_str_name())) } td { (g.risk_tier) }
                            td { (g.decisions) } td { (days(p.median_secs)) } td { (days(p.p90_secs)) }
                            td { (g.denials) "/" (g.determinations) } td { (g.revocations) "/" (g.grants) }
                        }
                    }
                }
            }
            p.freshness { "As of " @for l in &stats.as_of { code { (l.origin) } " size " (l.size) " " } "— any partner holding these logs computes the same figures." }
        }
    };
    page(&web, &title, body).into_response()
}

fn days(secs: i64) -> String {
    format!("{:.1} d", secs as f64 / 86_400.0)
}

/// Median and p90 processing time per group as horizontal bars (inline SVG, no script).
fn processing_chart(stats: &pb::StatsResponse) -> Markup {
    let rows: Vec<(String, i64, i64)> = stats
        .groups
        .iter()
        .filter_map(|g| {
            let p = g.processing.as_ref().filter(|p| p.count > 0)?;
            let label = format!(
                "{} {} t{}",
                enum_name::<pb::Regime>(g.regime, |x| x.as_str_name()),
                enum_name::<pb::LicenceType>(g.licence_type, |x| x.as_str_name()),
                g.risk_tier
            );
            Some((label, p.median_secs, p.p90_secs))
        })
        .collect();
    let longest = rows.iter().map(|r| r.2).max().unwrap_or(1).max(1) as f64;
    let height = 24 * rows.len() + 24;
    html! {
        svg.chart role="img" aria-label="Median and 90th-percentile processing time per group, in days" viewBox={ "0 0 640 " (height) } width="100%" {
            @for (i, (label, median, p90)) in rows.iter().enumerate() {
                @let y = 24 * i + 4;
                text x="0" y=(y + 14) font-size="11" { (label) }
                rect.p90 x="260" y=(y) height="16" width=(format!("{:.0}", 360.0 * *p90 as f64 / longest)) {}
                rect.median x="260" y=(y) height="16" width=(format!("{:.0}", 360.0 * *median as f64 / longest)) {}
                text x="262" y=(y + 13) font-size="10" { (days(*median)) " / " (days(*p90)) }
            }
            text x="260" y=(height - 4) font-size="10" { "dark: median · light: p90 · full width " (days(longest as i64)) }
        }
    }
}

async fn federation_page(State(web): State<Web>) -> Response {
    let title = "Federation";
    let status = match web.federation.status(Request::new(pb::StatusRequest::default())).await {
        Ok(s) => s.into_inner(),
        Err(status) => return error_page(&web, title, &status),
    };
    let evidence = match web.federation.get_evidence(Request::new(pb::GetEvidenceRequest::default())).await {
        Ok(e) => e.into_inner(),
        Err(status) => return error_page(&web, title, &status),
    };
    let body = html! {
        section.card {
            h2 { "Logs held here" }
            table {
                thead { tr { th { "Log" } th { "Entries" } th { "Checkpoint signed" } th { "Cosigned up to" } th { "Witnesses" } } }
                tbody { @for l in &status.logs { tr { td { code { (l.origin) } @if l.own { " (this node)" } @if l.frozen { strong { " FROZEN" } } } td { (l.size) } td { (format_time(l.checkpoint_time)) } td { (l.cosigned_size) } td { (l.cosigners.join(", ")) } } } }
            }
            h2 { "Peers" }
            table {
                thead { tr { th { "Peer" } th { "Connected" } th { "Lag" } th { "Cosigned up to" } th { "Evidence" } } }
                tbody { @for p in &status.peers { tr { td { (p.id) " " code { (p.origin) } } td { (if p.connected { "yes" } else { "no" }) @if !p.last_error.is_empty() { br; small { (p.last_error) } } } td { (p.lag_entries) " entries, " (human_secs(p.lag_seconds)) } td { (p.cosigned_up_to) } td { (p.evidence_count) } } } }
            }
            h2 { "Evidence" }
            @if evidence.evidence.is_empty() { p { "None: no log has shown two histories, and no licence version was signed twice." } }
            ul { @for e in &evidence.evidence { li { strong { (e.kind) } " " (e.authority) "/" (e.licence_id) " " (e.origin) " " (e.reason) " (" (format_time(e.detected_at)) ")" } } }
        }
    };
    page(&web, title, body).into_response()
}

fn token_form(q: &TokenQuestion) -> Markup {
    html! {
        form.card method="post" action="/token" enctype="multipart/form-data" {
            label { "Token file (from " code { "comity token export" } ")" input type="file" name="token_file"; }
            label { "…or paste the token in base64" textarea name="token_base64" rows="4" {} }
            fieldset {
                legend { "The token's QR code (from " code { "comity token qr" } ")" }
                p.hint id="qr-hint" { "With a token: checked to belong to it. On its own: its signed checkpoint is checked and this node tells whether the code's decision is still the licence's latest." }
                label { "QR code image (PNG)" input type="file" name="qr_file" accept="image/png" aria-describedby="qr-hint"; }
                label { "…or paste the scanned text (" code { "comity:2:…" } ")" textarea name="qr_text" rows="3" aria-describedby="qr-hint" {} }
            }
            label { "Relying authority (whose recognition applies)" input name="relying_authority" placeholder="e.g. jp.meti" value=(q.relying_authority); }
            div.row {
                label { "Destination (optional)" input name="destination" placeholder="e.g. JP" maxlength="2" value=(q.destination); }
                label { "Item, regime:control code (optional)" input name="control_code" placeholder="e.g. EU-DU:3A001.a.1" value=(q.control_code); }
            }
            label { "End user (optional)" input name="end_user" placeholder="e.g. Tohoku Institute of Space Optics" value=(q.end_user); }
            button type="submit" { "Check token" }
        }
    }
}

async fn token_form_page(web: &Web, answer: Option<Result<pb::TokenCheckResponse, Status>>, q: &TokenQuestion) -> Response {
    token_page(web, answer.map(|a| a.map(|a| token_answer_card(web, q, &a))), q)
}

fn token_page(web: &Web, result: Option<Result<Markup, Status>>, q: &TokenQuestion) -> Response {
    let title = "Check an offline licence token";
    let result = match result {
        None => {
            html! { p { "A token carries a licence's signed decisions and their log proofs. It is checked here against the root keys and log keys this node pins, without looking the licence up." } }
        }
        // The form stays as typed under the refusal.
        Some(Err(status)) => return (http_status(status.code()), page(web, title, html! { (refusal(&status)) (token_form(q)) })).into_response(),
        Some(Ok(markup)) => markup,
    };
    page(web, title, html! { (result) (token_form(q)) }).into_response()
}

fn token_answer_card(web: &Web, q: &TokenQuestion, a: &pb::TokenCheckResponse) -> Markup {
    let verdict = enum_name::<pb::Verdict>(a.verdict, |v| v.as_str_name()).trim_start_matches("VERDICT_");
    let valid = a.verdict == pb::Verdict::Valid as i32;
    html! {
        section.card aria-live="polite" {
            p class=(if valid { "verdict valid" } else { "verdict invalid" }) data-verdict=(verdict) { (verdict) }
            p.subject { a href=(licence_link(&a.authority, &a.licence_id)) { (a.authority) "/" (a.licence_id) } @if a.status != 0 { " — " (status_name(a.status)) } }
            p.parties { "Issued by " (authority_label(web, &a.authority)) "; relying authority " (authority_label(web, if q.relying_authority.trim().is_empty() { &a.authority } else { q.relying_authority.trim() })) "." }
            (checked_at(a.checked_at, q.at, web.registry.clock().now()))
            (scope(valid, &q.control_code, &q.destination, &q.end_user))
            ul.reasons { @for r in &a.reasons { li { (r) } } }
            @if !a.warnings.is_empty() { ul.warnings { @for w in &a.warnings { li { "⚠ " (w) } } } }
            p.freshness { "Evidence signed " (format_time(a.evidence_time)) " (" (human_secs(a.evidence_age_secs)) " ago). " (a.caveat) }
        }
    }
}

/// A QR code's refusal as a status: a log this node does not pin is its limit, not the code's fault.
fn code_status(e: PointerError) -> Status {
    match e {
        PointerError::UnpinnedLog(_) => Error::FailedPrecondition(format!("{e}: this node cannot check it")).into(),
        other => Error::InvalidArgument(other.to_string()).into(),
    }
}

/// Where the code's head stands in this node's chain.
enum CodeHead {
    /// Checked against an uploaded token.
    Token,
    /// The node's chain: later decisions after the code's head (empty: still the head).
    Later(Vec<String>),
    /// The node's chain has no or another decision at the code's version.
    Problem(String),
}

fn code_card(pointer: &TokenPointer, checkpoint: &SignedCheckpoint, head: &CodeHead, now: i64) -> Markup {
    let licence = format!("{}/{}", pointer.authority, pointer.licence_id);
    let age = (now - checkpoint.time).max(0);
    html! {
        section.card aria-live="polite" data-code="checked" {
            h2 { "QR code" }
            p { "Licence " a href=(licence_link(&pointer.authority, &pointer.licence_id)) { (licence) } ", head decision v" (pointer.version) " (" code { (short_id(&pointer.head_id)) } ")." }
            p.freshness { "Its checkpoint of log " code { (checkpoint.origin) } " (size " (checkpoint.size) ") is signed by the log key this node pins, " (human_secs(age)) " ago (" (format_time(checkpoint.time)) ")." }
            @match head {
                CodeHead::Token => p data-code-head="token" { "The code belongs to this token: its SHA-256, head decision and receipt match." },
                CodeHead::Later(later) if later.is_empty() => p data-code-head="current" { "The code's head version " (pointer.version) " is still the head of the licence here." },
                CodeHead::Later(later) => div.error role="alert" data-code-head="outdated" {
                    p { strong { (later.len()) " later decision(s) after the code" } " (its head is v" (pointer.version) "):" }
                    ul { @for l in later { li { (l) } } }
                },
                CodeHead::Problem(m) => p.error role="alert" data-code-head="conflict" { (m) },
            }
            @if !pointer.fetch.is_empty() { p { "Online: " a href=(pointer.fetch) rel="nofollow noopener" { (pointer.fetch) } } }
        }
    }
}

/// Checks a QR code: against the token when one was given (then the token as usual), else
/// against this node's own Verify answer for the licence.
async fn check_code(web: &Web, token: Option<Vec<u8>>, pointer: TokenPointer, q: &TokenQuestion) -> Result<Markup, Status> {
    if let Some(bytes) = token {
        let checkpoint = check_pointer_against_token(&pointer, &bytes, &web.log_keys).map_err(code_status)?;
        let answer = check_token(web, &bytes, q)?;
        return Ok(html! { (code_card(&pointer, &checkpoint, &CodeHead::Token, web.registry.clock().now())) (token_answer_card(web, q, &answer)) });
    }
    let checkpoint = check_pointer_checkpoint(&pointer, &web.log_keys).map_err(code_status)?;
    let request = pb::VerifyRequest {
        authority: pointer.authority.clone(),
        licence_id: pointer.licence_id.clone(),
        // As `comity token verify`: the issuer itself unless a relying authority is named.
        relying_authority: match q.relying_authority.trim() {
            "" => pointer.authority.clone(),
            r => r.into(),
        },
        destination: q.destination.trim().to_uppercase(),
        control_code: q.control_code.trim().into(),
        end_user: q.end_user.trim().into(),
        at: q.at,
        screening_lists: trusted_screening_lists(web),
        quantity: q.quantity.trim().into(),
        item: q.item,
        ..Default::default()
    };
    let answer = web.registry.verify(Request::new(request.clone())).await?.into_inner();
    let decisions: Vec<(&pb::Decision, &[u8])> = answer.chain.iter().filter_map(|l| l.decision.as_ref().map(|d| (d, l.statement_id.as_ref()))).collect();
    let head = match decisions.iter().find(|(d, _)| d.version == pointer.version) {
        None => CodeHead::Problem(format!(
            "This node holds no decision v{} of the licence (its chain ends at v{}): it has not seen the code's log up to its checkpoint.",
            pointer.version,
            decisions.iter().map(|(d, _)| d.version).max().unwrap_or(0)
        )),
        Some((_, id)) if *id != pointer.head_id.as_slice() => CodeHead::Problem(format!(
            "Conflict: this node's v{} is {}, the code names {}. Two decisions for one version: do not rely on this licence.",
            pointer.version,
            short_id(id),
            short_id(&pointer.head_id)
        )),
        Some(_) => CodeHead::Later(
            decisions
                .iter()
                .filter(|(d, _)| d.version > pointer.version)
                .map(|(d, _)| format!("v{} {} decided {}", d.version, decision_label(d), date(d.decided_at)))
                .collect(),
        ),
    };
    Ok(html! { (code_card(&pointer, &checkpoint, &head, web.registry.clock().now())) (verdict_card(web, &answer, &request)) })
}

async fn token_result(State(web): State<Web>, mut form: Multipart) -> Response {
    let mut q = TokenQuestion::default();
    let (mut file, mut pasted, mut qr_file, mut qr_text) = (Vec::new(), String::new(), Vec::new(), String::new());
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return token_form_page(&web, Some(Err(Error::InvalidArgument(format!("form: {}", brief(&e.to_string()))).into())), &q).await,
        };
        let name = field.name().unwrap_or_default().to_string();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return token_form_page(&web, Some(Err(Error::InvalidArgument(format!("form field {}: {}", shown(&name), brief(&e.to_string()))).into())), &q)
                    .await
            }
        };
        let text = || String::from_utf8_lossy(&bytes).trim().to_string();
        match name.as_str() {
            "token_file" => file = bytes.to_vec(),
            "token_base64" => pasted = text(),
            "qr_file" => qr_file = bytes.to_vec(),
            "qr_text" => qr_text = text(),
            "relying_authority" => q.relying_authority = text(),
            "destination" => q.destination = text().to_uppercase(),
            "control_code" => q.control_code = text(),
            "end_user" => q.end_user = text(),
            _ => {}
        }
    }
    let token = if !file.is_empty() {
        Some(Ok(file))
    } else if !pasted.is_empty() {
        let compact: String = pasted.split_whitespace().collect();
        Some(base64::engine::general_purpose::STANDARD.decode(compact).map_err(|e| Error::InvalidArgument(format!("token_base64: not base64: {e}")).into()))
    } else {
        None
    };
    let code = if !qr_file.is_empty() {
        Some(pointer_text_from_upload(&qr_file).and_then(|t| parse_pointer(&t)))
    } else if !qr_text.is_empty() {
        Some(parse_pointer(&qr_text))
    } else {
        None
    };
    let result = match (token, code) {
        (None, None) => Err(Error::InvalidArgument("token: choose a token file, paste one, or give its QR code".into()).into()),
        (Some(token), None) => token.and_then(|t| check_token(&web, &t, &q)).map(|a| token_answer_card(&web, &q, &a)),
        (token, Some(code)) => match (token.transpose(), code.map_err(|e| Status::from(Error::InvalidArgument(format!("QR code: {e}"))))) {
            (Ok(token), Ok(pointer)) => check_code(&web, token, pointer, &q).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
    };
    token_page(&web, Some(result), &q)
}

async fn token_form_handler(State(web): State<Web>) -> Response {
    token_form_page(&web, None, &TokenQuestion::default()).await
}
