//! The consultations page (docs/consultation.md): the no-undercut consultations this node holds,
//! each request with the transaction it states and every answer, from `ListConsultations`.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use comity_proto::authoring::{format_time, qualified_control_code};
use comity_proto::consultation::{position_name, split_licence_ref};
use comity_proto::pb::{self, registry_server::Registry as _};
use maud::html;
use serde::Deserialize;
use tonic::Request;

use super::pages::{error_page, page};
use super::Web;

pub fn routes() -> Router<Web> {
    Router::new().route("/consultations", get(consultations_page))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Filter {
    authority: String,
    open: bool,
}

async fn consultations_page(State(web): State<Web>, Query(f): Query<Filter>) -> Response {
    let title = "No-undercut consultations";
    let request = pb::ListConsultationsRequest { authority: f.authority.clone(), open_only: f.open };
    let answer = match web.registry.list_consultations(Request::new(request)).await {
        Ok(a) => a.into_inner(),
        Err(status) => return error_page(&web, title, &status),
    };
    let body = html! {
        p { "Before granting an essentially identical transaction (same end user, comparable item, same destination) that a partner denied in the last three years, an authority consults that partner. Each request below is logged by the consulting authority, each answer by the denying one; a grant cites the consultation, or carries an override with its reasons." }
        form.card method="get" action="/consultations" {
            div.row {
                label { "Authority (optional)" input name="authority" placeholder="e.g. de.bafa" value=(f.authority) autocomplete="off"; }
                label { input type="checkbox" name="open" value="true" checked[f.open]; " open only" }
            }
            button type="submit" { "Show" }
        }
        @if answer.consultations.is_empty() {
            p data-consultations="0" { "No consultation held here." }
        }
        @for c in &answer.consultations {
            @if let Some(r) = &c.request {
                @let denier = split_licence_ref(&r.denial).map(|(a, _)| a).unwrap_or_default();
                @let answers: Vec<&pb::ConsultationAnswer> = c.answers.iter().filter(|a| a.authority == denier).collect();
                section.card data-consultation={ (r.authority) "/" (r.consultation_id) } {
                    h2 { (r.authority) " consults " (denier) ": " code { (r.consultation_id) } }
                    p {
                        "On the denial " a href={ "/licences/" (r.denial) } { (r.denial) } ", issued " (format_time(r.issued_at))
                        @if r.respond_by != 0 { ", answer asked for by " (format_time(r.respond_by)) }
                        ". "
                        @match answers.last() {
                            Some(a) => { strong { "Answered: " (position_name(a.position)) } }
                            None => { strong.verdict-invalid { "Open" } }
                        }
                    }
                    dl {
                        dt { "End user" } dd { @for p in &r.end_users { (p.name) " (" (p.country) ")" br; } }
                        dt { "Items" } dd { @for i in &r.items { code { (qualified_control_code(i)) } " " (i.description) br; } }
                        dt { "Destinations" } dd { (r.destinations.join(", ")) }
                        @if !r.end_use.is_empty() { dt { "End use" } dd { (r.end_use) } }
                        dt { "Question" } dd { (r.question) }
                        @for a in &answers {
                            dt { "Answer of " (a.authority) ", " (format_time(a.issued_at)) } dd { strong { (position_name(a.position)) } ": " (a.text) }
                        }
                    }
                }
            }
        }
        p.freshness { "JSON: " a href="/api/v1/consultations" { "/api/v1/consultations" } }
    };
    page(&web, title, body).into_response()
}
