//! The node's web interface, on its HTTP port next to the tiles view: pages for partner
//! institutions (verify a licence, check an offline token, browse licences, authorities and the
//! federation) and the JSON API they are built on (`docs/openapi.yaml`).
//!
//! Every answer comes from the same code as the gRPC services (the handlers call them), so the
//! web gives the same verdicts, limits and errors. Pages are rendered on the server and work
//! without JavaScript; the stylesheet is compiled into the binary.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use comity_proto::trust::TrustFile;

use crate::federation_service::FederationService;
use crate::service::RegistryService;

pub mod api;
pub mod pages;

/// What the web handlers call.
#[derive(Clone)]
pub struct Web {
    pub registry: Arc<RegistryService>,
    pub federation: Arc<FederationService>,
    /// The trust file pinned here, against which uploaded tokens are checked (`None`: this node
    /// pins no trust file, and says so).
    pub trust: Option<Arc<TrustFile>>,
    /// The default maximum staleness of an issuer's log, seconds.
    pub max_staleness_secs: u64,
    /// The node's log origin, shown in page headers.
    pub origin: Arc<str>,
}

/// The pages and the JSON API; request bodies (uploaded tokens) are bounded by `max_body_bytes`.
pub fn router(web: Web, max_body_bytes: usize) -> Router {
    Router::new().merge(api::routes()).merge(pages::routes()).layer(DefaultBodyLimit::max(max_body_bytes)).with_state(web)
}
