//! The screening page (docs/screening.md): a name screened against the denied-party and
//! end-user alert lists this node holds, as `comity screen` prints it, from the same gRPC method.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use comity_proto::pb::{self, registry_server::Registry as _};
use maud::html;
use serde::Deserialize;
use tonic::Request;

use super::pages::{error_page, page};
use super::Web;

pub fn routes() -> Router<Web> {
    Router::new().route("/screen", get(screen_page))
}

/// The form's fields, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ScreenForm {
    name: String,
    /// ISO 3166-1 alpha-2; empty = any.
    country: String,
}

async fn screen_page(State(web): State<Web>, Query(f): Query<ScreenForm>) -> Response {
    let title = "Screen a party";
    let form = html! {
        form.card method="get" action="/screen" {
            div.row {
                label { "Name, in any script" input name="name" required placeholder="e.g. ООО «Уральские электронные системы»" value=(f.name) autocomplete="off"; }
                label { "Country (optional)" input name="country" maxlength="2" placeholder="e.g. RU" value=(f.country) autocomplete="off"; }
            }
            button type="submit" { "Screen" }
        }
    };
    if f.name.trim().is_empty() {
        let body = html! {
            p { "Screens a name against every denied-party and end-user alert list this node holds: transliterated (Cyrillic, Greek, accents), legal forms left out, words compared one by one. A strong match (score 93 or more) is one an officer must act on; a weak one (85-92) one to review." }
            (form)
        };
        return page(&web, title, body).into_response();
    }
    let request = pb::ScreenRequest { name: f.name.clone(), country: f.country.trim().to_ascii_uppercase(), ..Default::default() };
    let answer = match web.registry.screen(Request::new(request)).await {
        Ok(a) => a.into_inner(),
        Err(status) => return error_page(&web, title, &status),
    };
    let body = html! {
        (form)
        section.card {
            @if answer.matches.is_empty() {
                p.verdict-valid data-matches="0" { "No match for " q { (f.name) } " in " (answer.lists_screened) " list(s), " (answer.entries_screened) " entries screened." }
            } @else {
                table.screening data-matches=(answer.matches.len()) {
                    thead { tr { th { "Match" } th { "Score" } th { "List" } th { "Entry" } th { "Listed name" } th { "Countries" } th { "Reason" } th { "Legal basis" } } }
                    tbody {
                        @for m in &answer.matches {
                            @let e = m.entry.clone().unwrap_or_default();
                            tr data-entry=(e.entry_id) data-strong=(m.strong) {
                                td { @if m.strong { strong.verdict-invalid { "STRONG" } } @else { "weak" } }
                                td { (m.score) }
                                td { code { (m.list) } " v" (m.list_version) }
                                td { code { (e.entry_id) } }
                                td { (m.matched_name) @if m.matched_name != e.name { br; small { "listed as " (e.name) } } }
                                td { (e.countries.join(" ")) }
                                td { (e.reason) }
                                td { (e.legal_basis) }
                            }
                        }
                    }
                }
                p { (answer.lists_screened) " list(s), " (answer.entries_screened) " entries screened." }
            }
            p.freshness { "JSON: " a href={ "/api/v1/screen?name=" (urlencode(&f.name)) } { "/api/v1/screen" } }
        }
    };
    page(&web, title, body).into_response()
}

/// `value` percent-encoded for a URL's query.
fn urlencode(value: &str) -> String {
    value.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
