//! The node's web interface, on its HTTP port next to the tiles view: pages for partner
//! institutions (verify a licence, check an offline token, browse licences, authorities, control
//! lists and the federation) and the JSON API they are built on (`docs/openapi.yaml`).
//!
//! Every answer comes from the same code as the gRPC services (the handlers call them), so the
//! web gives the same verdicts, limits and errors. Pages are rendered on the server and work
//! without JavaScript; the stylesheet is compiled into the binary.

use std::sync::Arc;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use comity_proto::trust::TrustFile;

use crate::federation::service::FederationService;
use crate::net::client_limit::PerClientLimitLayer;
use crate::service::registry::RegistryService;

pub mod api;
pub mod consultations;
pub mod health;
pub mod lists;
pub mod pages;
pub mod rulings;
pub mod screening;

/// What the web handlers call.
#[derive(Clone)]
pub struct Web {
    pub registry: Arc<RegistryService>,
    pub federation: Arc<FederationService>,
    /// The trust file pinned here, against which uploaded tokens are checked (`None`: this node
    /// pins no trust file, and says so).
    pub trust: Option<Arc<TrustFile>>,
    /// Log keys pinned here, by origin (this node's own, its peers', the trust file's): a token
    /// QR code's checkpoint must be signed by one of them.
    pub log_keys: Arc<std::collections::HashMap<String, comity_proto::log::LogVerifier>>,
    /// The default maximum staleness of an issuer's log, seconds.
    pub max_staleness_secs: u64,
    /// Display names of the authorities this node knows, by id (hosted, trusted, trust file).
    pub authority_names: Arc<std::collections::HashMap<String, String>>,
    /// The node's log origin, shown in page headers.
    pub origin: Arc<str>,
    /// The statuses `grpc.health.v1` serves, answered again at `/healthz`.
    pub health: Arc<tonic_health::server::HealthService>,
}

/// The limits gRPC requests have, applied to web requests too.
#[derive(Clone)]
pub struct WebLimits {
    /// Shared with the gRPC server: a client's requests count together on both ports.
    pub per_client: PerClientLimitLayer,
    pub timeout: Duration,
    /// Largest request body (an uploaded token), bytes.
    pub max_body_bytes: usize,
}

/// The pages and the JSON API. Serve it with connect info (`into_make_service_with_connect_info`),
/// which the per-client limit needs.
pub fn router(web: Web, limits: WebLimits) -> Router {
    let max_body = limits.max_body_bytes;
    let health = health::routes(web.health.clone());
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .merge(lists::routes())
        .merge(screening::routes())
        .merge(consultations::routes())
        .merge(rulings::routes())
        .with_state(web)
        .layer(middleware::from_fn_with_state(limits, limited))
        .layer(DefaultBodyLimit::max(max_body))
        // After the limits, so they do not apply: a probe is never refused for what other
        // clients at its address (a kubelet, a load balancer) asked.
        .merge(health)
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
}

/// Refuses a client over its limits (RESOURCE_EXHAUSTED, 429) and bounds the request's time
/// (DEADLINE_EXCEEDED, 504), as the gRPC server does.
async fn limited(State(limits): State<WebLimits>, ConnectInfo(client): ConnectInfo<SocketAddr>, request: Request, next: Next) -> Response {
    let _slot = match limits.per_client.admit(crate::net::client_limit::ClientKey::Address(client.ip())) {
        Ok(slot) => slot,
        Err(why) => return api::ApiError::from(why).into_response(),
    };
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            api::ApiError::from(crate::error::Error::DeadlineExceeded(format!("no answer within {} s (limits.request_timeout_secs)", limits.timeout.as_secs())))
                .into_response()
        }
    }
}
