//! The JSON API (`/api/v1/...`): the gRPC messages in canonical proto3 JSON. Query parameters
//! are the request message's fields; the answer is the response message; a refusal is the
//! gRPC status as `{"error": {"code": "INVALID_ARGUMENT", "message": "..."}}` with the matching
//! HTTP status. Described in `docs/openapi.yaml`, which is served at `/api/openapi.yaml`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use comity_proto::code_name;
use comity_proto::pb::{self, federation_server::Federation as _, registry_server::Registry as _};
use comity_proto::recognition::Context;
use comity_proto::token::{verify_token, TokenError};
use comity_proto::verdict::Question;
use serde::Deserialize;
use tonic::{Code, Request, Status};

use super::Web;
use crate::error::Error;

/// The OpenAPI description of this API.
const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/api/openapi.yaml", get(|| async { ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI) }))
        .route("/api/v1/licences/{authority}/{*licence_id}", get(licence))
        .route("/api/v1/verify", get(verify))
        .route("/api/v1/search", get(search))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/keysets/{authority}", get(key_set))
        .route("/api/v1/agreements", get(agreements))
        .route("/api/v1/lists", get(control_lists))
        .route("/api/v1/code", get(control_code))
        .route("/api/v1/screen", get(screen))
        .route("/api/v1/consultations", get(consultations))
        .route("/api/v1/rulings", get(rulings))
        .route("/api/v1/federation", get(federation))
        .route("/api/v1/evidence", get(evidence))
        .route("/api/v1/tokens/verify", post(token))
}

/// Any path nothing serves, under /api or elsewhere: the API's error shape, so a client or
/// probe gets a reason it can parse instead of an empty body.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::from(Error::NotFound(format!("no such path: {} (the API is described at /api/openapi.yaml)", crate::input::shown(uri.path()))))
}

/// A known path asked with a method it does not answer.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let body =
        serde_json::json!({ "error": { "code": "UNIMPLEMENTED", "message": format!("{} is not answered at {}", method, crate::input::shown(uri.path())) } });
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// A refusal: the gRPC status, as JSON with the matching HTTP status.
#[derive(Debug)]
pub struct ApiError(pub Status);

impl From<Status> for ApiError {
    fn from(s: Status) -> Self {
        Self(s)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e.into())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Error::InvalidArgument(format!("query: {}", crate::input::brief(&r.body_text()))).into()
    }
}

/// The HTTP status for a gRPC code (as in Google's HTTP mapping of gRPC codes).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": code_name(self.0.code()), "message": self.0.message() } });
        (http_status(self.0.code()), Json(body)).into_response()
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

async fn licence(State(web): State<Web>, Path((authority, licence_id)): Path<(String, String)>) -> Answer<pb::GetLicenceResponse> {
    Ok(Json(web.registry.get_licence(Request::new(pb::GetLicenceRequest { authority, licence_id })).await?.into_inner()))
}

async fn verify(State(web): State<Web>, query: Result<Query<pb::VerifyRequest>, QueryRejection>) -> Answer<pb::VerifyResponse> {
    Ok(Json(web.registry.verify(Request::new(query?.0)).await?.into_inner()))
}

async fn search(State(web): State<Web>, query: Result<Query<pb::SearchRequest>, QueryRejection>) -> Answer<pb::SearchResponse> {
    Ok(Json(web.registry.search(Request::new(query?.0)).await?.into_inner()))
}

async fn stats(State(web): State<Web>, query: Result<Query<pb::StatsRequest>, QueryRejection>) -> Answer<pb::StatsResponse> {
    Ok(Json(web.registry.stats(Request::new(query?.0)).await?.into_inner()))
}

async fn key_set(State(web): State<Web>, Path(authority): Path<String>) -> Answer<pb::GetKeySetResponse> {
    Ok(Json(web.registry.get_key_set(Request::new(pb::GetKeySetRequest { authority })).await?.into_inner()))
}

async fn agreements(State(web): State<Web>, query: Result<Query<pb::ListAgreementsRequest>, QueryRejection>) -> Answer<pb::ListAgreementsResponse> {
    Ok(Json(web.registry.list_agreements(Request::new(query?.0)).await?.into_inner()))
}

async fn control_lists(State(web): State<Web>, query: Result<Query<pb::ListControlListsRequest>, QueryRejection>) -> Answer<pb::ListControlListsResponse> {
    Ok(Json(web.registry.list_control_lists(Request::new(query?.0)).await?.into_inner()))
}

/// LookupControlCode's question: `code` as the pages' form names it, or the request message's
/// `control_code` (snake_case or lowerCamelCase).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeQuestion {
    #[serde(alias = "control_code", alias = "controlCode")]
    pub code: String,
    /// Unix seconds; 0 = now.
    pub at: i64,
}

async fn control_code(State(web): State<Web>, query: Result<Query<CodeQuestion>, QueryRejection>) -> Answer<pb::LookupControlCodeResponse> {
    let q = query?.0;
    Ok(Json(web.registry.lookup_control_code(Request::new(pb::LookupControlCodeRequest { control_code: q.code, at: q.at })).await?.into_inner()))
}

/// Screen's question: the request message's fields (`lists` once per list).
async fn screen(State(web): State<Web>, query: Result<Query<ScreenQuestion>, QueryRejection>) -> Answer<pb::ScreenResponse> {
    let q = query?.0;
    let request = pb::ScreenRequest { name: q.name, country: q.country, lists: q.list.into_iter().collect(), min_score: q.min_score, limit: q.limit };
    Ok(Json(web.registry.screen(Request::new(request)).await?.into_inner()))
}

/// The query of `/api/v1/screen`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScreenQuestion {
    pub name: String,
    pub country: String,
    /// One list, `authority/list_id`; absent = every list held.
    pub list: Option<String>,
    #[serde(alias = "minScore")]
    pub min_score: u32,
    pub limit: u32,
}

async fn consultations(State(web): State<Web>, query: Result<Query<pb::ListConsultationsRequest>, QueryRejection>) -> Answer<pb::ListConsultationsResponse> {
    Ok(Json(web.registry.list_consultations(Request::new(query?.0)).await?.into_inner()))
}

async fn rulings(State(web): State<Web>, query: Result<Query<pb::ListRulingsRequest>, QueryRejection>) -> Answer<pb::ListRulingsResponse> {
    Ok(Json(web.registry.list_rulings(Request::new(query?.0)).await?.into_inner()))
}

async fn federation(State(web): State<Web>) -> Answer<pb::StatusResponse> {
    Ok(Json(web.federation.status(Request::new(pb::StatusRequest::default())).await?.into_inner()))
}

async fn evidence(State(web): State<Web>) -> Answer<pb::GetEvidenceResponse> {
    Ok(Json(web.federation.get_evidence(Request::new(pb::GetEvidenceRequest::default())).await?.into_inner()))
}

/// The question asked of an uploaded token (the licence is the token's own). Field names as
/// in every request of the API: snake_case or lowerCamelCase.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenQuestion {
    #[serde(alias = "relyingAuthority")]
    pub relying_authority: String,
    pub destination: String,
    #[serde(alias = "controlCode")]
    pub control_code: String,
    #[serde(alias = "endUser")]
    pub end_user: String,
    /// Unix seconds; 0 = now.
    pub at: i64,
    /// A shipment asked about: the licence item (from 1; 0 = the one `control_code` names, or
    /// the only one) and the quantity about to ship, checked against the token's balance.
    pub item: u32,
    pub quantity: String,
}

/// Checks token `bytes` with this node's trust file.
pub fn check_token(web: &Web, bytes: &[u8], q: &TokenQuestion) -> Result<pb::TokenCheckResponse, Status> {
    let trust = web
        .trust
        .as_deref()
        .ok_or_else(|| Error::FailedPrecondition("this node pins no trust file (trust_file), so it cannot check tokens on its own".into()))?;
    use crate::input::{all_bounded, brief, shown, MAX_ID_BYTES, MAX_TERM_BYTES};
    all_bounded([
        ("relying_authority", q.relying_authority.as_str(), MAX_ID_BYTES),
        ("destination", &q.destination, MAX_TERM_BYTES),
        ("control_code", &q.control_code, MAX_TERM_BYTES),
        ("end_user", &q.end_user, 4 * 300),
        ("quantity", &q.quantity, MAX_TERM_BYTES),
    ])?;
    let token = <pb::LicenceToken as prost::Message>::decode(bytes)
        .map_err(|e| Error::InvalidArgument(format!("token: not a licence token (truncated or corrupted): {}", brief(&e.to_string()))))?;
    // As `comity token verify`: the issuer itself unless a relying authority is named.
    let relying_authority = match q.relying_authority.trim() {
        "" => token.authority.as_str(),
        r => r,
    };
    if !comity_proto::decision::is_authority_id(relying_authority) {
        return Err(Error::InvalidArgument(format!("relying_authority: `{}` is not a lowercase dotted id like jp.meti", shown(relying_authority))).into());
    }
    let none_if_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let now = web.registry.clock().now();
    let question = Question {
        authority: token.authority.clone(),
        licence_id: token.licence_id.clone(),
        relying_authority: relying_authority.to_string(),
        context: Context {
            destination: none_if_empty(&q.destination),
            control_code: none_if_empty(&q.control_code),
            end_user: none_if_empty(&q.end_user),
            end_use: None,
            at: if q.at == 0 { now } else { q.at },
            shipment: comity_proto::usage::asked_shipment(&pb::VerifyRequest { item: q.item, quantity: q.quantity.trim().into(), ..Default::default() })
                .map_err(Error::InvalidArgument)?,
        },
    };
    let report = verify_token(bytes, trust, &question, now, web.max_staleness_secs).map_err(|e| match e {
        TokenError::Trust(m) => Error::FailedPrecondition(format!("trust file: {}", brief(&m))),
        other => Error::InvalidArgument(format!("token: {}", brief(&other.to_string()))),
    })?;
    let j = report.judgement;
    Ok(pb::TokenCheckResponse {
        authority: token.authority,
        licence_id: token.licence_id,
        verdict: j.verdict as i32,
        reasons: j.reasons,
        warnings: j.warnings,
        status: j.state.as_ref().map_or(0, |s| s.status_at(question.context.at) as i32),
        balances: j.state.as_ref().map(|s| s.usage.balances(&s.terms)).unwrap_or_default(),
        evidence_time: report.evidence_time,
        evidence_age_secs: now - report.evidence_time,
        caveat: "A token proves what was logged up to its checkpoints; a revocation or suspension logged later cannot be known from it. Verify the licence online for its current state.".into(),
        checked_at: now,
    })
}

async fn token(State(web): State<Web>, query: Result<Query<TokenQuestion>, QueryRejection>, body: Bytes) -> Answer<pb::TokenCheckResponse> {
    let q = query.map_err(ApiError::from)?.0;
    Ok(Json(check_token(&web, &body, &q)?))
}
