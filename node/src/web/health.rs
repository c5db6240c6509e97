//! `GET /healthz[?service=NAME]`: the node's `grpc.health.v1` answer over plain HTTP, for probes
//! that cannot speak gRPC over TLS (Kubernetes' `grpc` probes have no TLS; load balancers and
//! Docker health checks speak HTTP). 200 `{"status":"SERVING"}` when the service is serving,
//! 503 with its status otherwise, 404 for a service the node does not have. `service` as in
//! gRPC health: empty for the whole server, `comity.v1.Registry` for the registry, which turns
//! NOT_SERVING after a failed write.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::Health as _;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::server::HealthService;

use super::api::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Question {
    #[serde(default)]
    service: String,
}

/// The route, answered from `health` (the statuses the gRPC health service serves).
pub fn routes(health: Arc<HealthService>) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(health)
}

async fn healthz(State(health): State<Arc<HealthService>>, query: Result<Query<Question>, QueryRejection>) -> Response {
    let service = match query {
        Ok(Query(q)) => q.service,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match health.check(tonic::Request::new(HealthCheckRequest { service })).await {
        Ok(answer) => {
            let status = answer.into_inner().status();
            let code = if status == ServingStatus::Serving { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            // The gRPC message in canonical proto3 JSON, as the rest of the API answers.
            (code, Json(serde_json::json!({ "status": status.as_str_name() }))).into_response()
        }
        Err(refused) => ApiError(refused).into_response(),
    }
}
