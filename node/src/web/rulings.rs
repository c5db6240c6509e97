//! The classification rulings pages (docs/rulings-and-general-licences.md): the rulings this
//! node holds, filtered as `comity ruling ls` filters them, and one ruling with every version,
//! from the same gRPC methods.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use comity_proto::authoring::format_time;
use comity_proto::pb::{self, registry_server::Registry as _};
use comity_proto::ruling::Ruling;
use comity_proto::statement::Envelope;
use maud::{html, Markup};
use serde::Deserialize;
use tonic::Request;

use super::pages::{error_page, page};
use super::Web;

pub fn routes() -> Router<Web> {
    Router::new().route("/rulings", get(rulings_page)).route("/rulings/{authority}/{*ruling_id}", get(ruling_page))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Filter {
    authority: String,
    control_code: String,
    word: String,
    all: bool,
}

/// A stored ruling envelope, checked (a node only stores checked rulings).
fn ruling_of(envelope: Vec<u8>) -> Option<Ruling> {
    match Envelope::parse(envelope).ok()?.statement() {
        pb::statement::Kind::ClassificationRuling(r) => Ruling::try_from(r.clone()).ok(),
        _ => None,
    }
}

fn applicant(r: &pb::ClassificationRuling) -> Markup {
    html! {
        @match &r.applicant {
            Some(p) => { (p.name) " (" (p.country) ")" }
            None => { em { "confidential" } }
        }
    }
}

async fn rulings_page(State(web): State<Web>, Query(f): Query<Filter>) -> Response {
    let title = "Classification rulings";
    let request = pb::ListRulingsRequest { authority: f.authority.clone(), control_code: f.control_code.clone(), word: f.word.clone(), all: f.all, limit: 0 };
    let answer = match web.registry.list_rulings(Request::new(request)).await {
        Ok(a) => a.into_inner(),
        Err(status) => return error_page(&web, title, &status),
    };
    let now = web.registry.clock().now();
    let rulings: Vec<Ruling> = answer.rulings.into_iter().filter_map(ruling_of).collect();
    let body = html! {
        p { "An authority's binding answer to \"is this item listed, and under which code?\": the item and its technical parameters, the control codes it falls under or that it is not listed, and why. A confidential ruling shows its result only; its applicant holds the opening of the rest." }
        form.card method="get" action="/rulings" {
            div.row {
                label { "Authority" input name="authority" placeholder="e.g. de.bafa" value=(f.authority) autocomplete="off"; }
                label { "Control code" input name="control_code" placeholder="e.g. EU-DU:3A001.b" value=(f.control_code) autocomplete="off"; }
                label { "Word" input name="word" placeholder="e.g. amplifier" value=(f.word) autocomplete="off"; }
                label { input type="checkbox" name="all" value="true" checked[f.all]; " withdrawn and expired too" }
            }
            button type="submit" { "Show" }
        }
        @if rulings.is_empty() {
            p data-rulings="0" { "No ruling held here matches." }
        } @else {
            table.rulings data-rulings=(rulings.len()) {
                thead { tr { th { "Ruling" } th { "Status" } th { "Result" } th { "Item" } th { "Applicant" } th { "Valid until" } } }
                tbody {
                    @for ruling in &rulings {
                        @let r = ruling.ruling();
                        tr data-ruling=(ruling.key()) {
                            td { a href={ "/rulings/" (r.authority) "/" (r.ruling_id) } { (r.authority) "/" (r.ruling_id) } " v" (r.version) }
                            td { (ruling.status_at(now).as_str()) }
                            td { (ruling.result()) }
                            td { (r.item_description) }
                            td { (applicant(r)) }
                            td { (format_time(r.valid_until)) }
                        }
                    }
                }
            }
            @if answer.truncated { p { "More rulings match: narrow the filter." } }
        }
        p.freshness { "JSON: " a href="/api/v1/rulings" { "/api/v1/rulings" } }
    };
    page(&web, title, body).into_response()
}

async fn ruling_page(State(web): State<Web>, Path((authority, ruling_id)): Path<(String, String)>) -> Response {
    let title = format!("Ruling {authority}/{ruling_id}");
    let request = pb::GetRulingRequest { authority, ruling_id };
    let answer = match web.registry.get_ruling(Request::new(request)).await {
        Ok(a) => a.into_inner(),
        Err(status) => return error_page(&web, &title, &status),
    };
    let now = web.registry.clock().now();
    let versions: Vec<Ruling> = answer.versions.into_iter().filter_map(ruling_of).collect();
    let body = html! {
        @for ruling in versions.iter().rev() {
            @let r = ruling.ruling();
            section.card data-version=(r.version) {
                h2 { "Version " (r.version) @if r.withdrawn { " (withdrawn)" } }
                dl {
                    dt { "Status" } dd { (ruling.status_at(now).as_str()) }
                    dt { "Result" } dd { strong { (ruling.result()) } }
                    dt { "Item" } dd { (r.item_description) }
                    @for p in &r.parameters { dt { (p.name) } dd { (p.value) } }
                    dt { "Applicant" } dd { (applicant(r)) }
                    dt { "Rationale" } dd { (r.rationale) }
                    dt { "Valid" } dd { (format_time(r.valid_from)) " to " (format_time(r.valid_until)) }
                    dt { "Issued" } dd { (format_time(r.issued_at)) }
                    @if ruling.is_confidential() { dt { "Commitment" } dd { code { (hex::encode(&r.commitment)) } } }
                }
            }
        }
        @if let Some(receipt) = &answer.receipt {
            p.freshness { "Latest version logged at " (receipt.origin) " #" (receipt.index) "." }
        }
    };
    page(&web, &title, body).into_response()
}
