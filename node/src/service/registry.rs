//! Thin tonic handlers for the `Registry` service: convert, call, return.

use comity_proto::decision::is_licence_id;
use comity_proto::pb::{self, registry_server};
use comity_proto::statement::StatementId;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::Error;
use crate::input::{all_bounded, shown, MAX_ID_BYTES};
use crate::service::catalogue;
use crate::service::stats::StatsQuery;
use crate::service::wire::{authority_id, invalid, search_query, withheld};
use crate::writer::Registry;

/// The gRPC `comity.v1.Registry` service.
pub struct RegistryService {
    registry: Registry,
    max_staleness_secs: u64,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// One permit per open Watch stream.
    watchers: std::sync::Arc<tokio::sync::Semaphore>,
    max_watchers: usize,
    /// Turns true when the node shuts down: Watch streams end.
    shutting_down: tokio::sync::watch::Receiver<bool>,
    /// Transparency reports already made, until a log grows.
    stats: std::sync::Arc<crate::service::stats::StatsCache>,
    /// What Verify and GetLicence keep of the store between writes.
    verify_cache: crate::service::verify::VerifyCache,
    /// Forwards partners' customs write-offs to the issuer's node.
    relay: crate::federation::relay::WriteOffRelay,
}

impl RegistryService {
    /// The node's wall clock.
    pub fn clock(&self) -> &crate::Clock {
        self.registry.clock()
    }

    /// Of the screening lists `named` (a trust file's), those this node holds: what the web
    /// verification page screens against, as `comity verify` does with the same trust file.
    pub fn screening_lists_held(&self, named: &[String]) -> Vec<String> {
        let held = self.registry.trust().catalogue().screening();
        named.iter().filter(|l| held.contains_key(l.as_str())).cloned().collect()
    }

    /// Serves `registry`; Verify treats an issuer's log older than `max_staleness_secs` as stale
    /// unless the agreement applied says otherwise, and keeps what it reads in `verify_cache`.
    /// At most `max_watchers` Watch streams are open at once; they end when `shutting_down`
    /// turns true.
    pub fn new(
        registry: Registry,
        max_staleness_secs: u64,
        verify_cache: crate::service::verify::VerifyCache,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        max_watchers: usize,
        shutting_down: tokio::sync::watch::Receiver<bool>,
        relay: crate::federation::relay::WriteOffRelay,
    ) -> Self {
        let watchers = std::sync::Arc::new(tokio::sync::Semaphore::new(max_watchers));
        Self { registry, max_staleness_secs, metrics, watchers, max_watchers, shutting_down, stats: Default::default(), verify_cache, relay }
    }
}

/// Publishes through `registry`, counted in `metrics` by result: what a Publish call does, and
/// how the demo loads its data (so its publishes show in the metrics too).
pub async fn publish_counted(
    registry: &Registry,
    metrics: &crate::metrics::Metrics,
    envelope: Vec<u8>,
    body: Option<pb::RestrictedBody>,
) -> Result<crate::writer::Published, Status> {
    let started = std::time::Instant::now();
    let published = registry.publish(envelope, body).await.map_err(Status::from);
    let result = match &published {
        Ok(_) => "ok",
        Err(status) => crate::metrics::publish_refusal(status.code()),
    };
    metrics.publish(result, started.elapsed());
    published
}

fn licence_ref(authority: &str, licence_id: &str) -> Result<(), Status> {
    all_bounded([("authority", authority, MAX_ID_BYTES), ("licence_id", licence_id, MAX_ID_BYTES)])?;
    authority_id("authority", authority)?;
    if !is_licence_id(licence_id) {
        return Err(invalid(format!("licence_id: `{}` is not a licence reference", shown(licence_id))));
    }
    Ok(())
}

#[tonic::async_trait]
impl registry_server::Registry for RegistryService {
    #[instrument(skip_all, fields(bytes = request.get_ref().envelope.len()))]
    async fn publish(&self, request: Request<pb::PublishRequest>) -> Result<Response<pb::PublishResponse>, Status> {
        let r = request.into_inner();
        // A partner's customs write-off goes to the issuer's node, which sequences it.
        if let Some(relayed) = self.relay.forward(&self.registry, &r).await {
            return relayed.map(Response::new);
        }
        let published = publish_counted(&self.registry, &self.metrics, r.envelope, r.restricted_body).await.inspect_err(|status| {
            // Inside the request's span, so the line names the client.
            tracing::info!(code = crate::metrics::publish_refusal(status.code()), reason = %status.message(), "publish refused");
        })?;
        Ok(Response::new(pb::PublishResponse {
            statement_id: published.id.0.to_vec(),
            already_present: published.already_present,
            licence: published.licence.map(|l| l.summary_at(self.registry.clock().now())),
            receipt: Some(published.receipt),
        }))
    }

    #[instrument(skip_all, fields(authority = %shown(&request.get_ref().authority), licence = %shown(&request.get_ref().licence_id)))]
    async fn get_licence(&self, request: Request<pb::GetLicenceRequest>) -> Result<Response<pb::GetLicenceResponse>, Status> {
        let r = request.into_inner();
        licence_ref(&r.authority, &r.licence_id)?;
        let view = self
            .registry
            .licence(&r.authority, &r.licence_id)?
            .ok_or_else(|| Error::NotFound(format!("licence {}/{} not found", r.authority, r.licence_id)))?;
        let audience = view.chain.first().and_then(|l| l.restricted.as_ref()).map(|r| r.audience.clone()).unwrap_or_default();
        let (licence, terms) = match &view.state {
            Some(state) => (state.summary_at(self.registry.clock().now()), state.terms.clone()),
            None => withheld(&view.chain),
        };
        let openings = view.chain.iter().filter_map(crate::chain::StoredLink::opening).collect();
        let deliveries = crate::service::delivery::of_chain(self.registry.store(), &view.chain)?;
        let end_use_checks = crate::service::end_use::of_licence(self.registry.store(), &r.authority, &r.licence_id)?;
        let re_export_children = re_export_children(&self.registry, &r.authority, &r.licence_id)?;
        // The proof is for relying parties with a trust file; a read that cannot build it (a
        // full disk) still answers, and such a client then refuses the answer as unproven.
        let proof = crate::service::verify::licence_proof(&self.registry, &self.verify_cache, &r.authority, &r.licence_id, self.registry.clock().now())
            .inspect_err(|e| tracing::warn!(error = %e, "GetLicence answered without its proof bundle"))
            .ok();
        Ok(Response::new(pb::GetLicenceResponse {
            proof,
            licence: Some(licence),
            terms: Some(terms),
            restricted: view.state.is_none(),
            audience,
            openings,
            chain: view
                .chain
                .into_iter()
                .map(|link| pb::ChainLink { statement_id: link.id.0.to_vec(), envelope: link.envelope, decision: Some(link.decision) })
                .collect(),
            deliveries,
            end_use_checks,
            re_export_children,
        }))
    }

    #[instrument(skip_all, fields(authority = %shown(&request.get_ref().authority), licence = %shown(&request.get_ref().licence_id), relying = %shown(&request.get_ref().relying_authority)))]
    async fn verify(&self, request: Request<pb::VerifyRequest>) -> Result<Response<pb::VerifyResponse>, Status> {
        let now = self.registry.clock().now();
        let mut r = request.into_inner();
        licence_ref(&r.authority, &r.licence_id)?;
        if r.screening_lists.len() > 64 {
            return Err(Error::InvalidArgument(format!("screening_lists: {} named, at most 64", r.screening_lists.len())).into());
        }
        let lists = std::mem::take(&mut r.screening_lists);
        let question = crate::service::wire::question(r, now)?;
        // A verdict is a few cached sled reads and no signature work (~10-50 µs, BENCHMARKS.md):
        // short enough to answer on the async worker, and a hop to the blocking pool costs more.
        let started = std::time::Instant::now();
        let (mut answer, cache) = crate::service::verify::verify_counted(&self.registry, &self.verify_cache, &question, self.max_staleness_secs, now)?;
        catalogue::screen_parties(self.registry.trust(), &lists, question.context.end_user.as_deref(), &mut answer)?;
        let verdict = pb::Verdict::try_from(answer.verdict).map_or("UNSPECIFIED", crate::metrics::verdict_label);
        self.metrics.verification(verdict, cache.as_str(), started.elapsed());
        Ok(Response::new(answer))
    }

    #[instrument(skip_all, fields(authority = %shown(&request.get_ref().authority)))]
    async fn get_key_set(&self, request: Request<pb::GetKeySetRequest>) -> Result<Response<pb::GetKeySetResponse>, Status> {
        let authority = request.into_inner().authority;
        authority_id("authority", &authority)?;
        let set = self.registry.trust().key_set(&authority).ok_or_else(|| Error::NotFound(format!("no key set of {authority} is held here")))?;
        let envelope = self.registry.statement(&set.id)?.ok_or_else(|| Error::NotFound(format!("key set {} of {authority} not found", set.id)))?;
        Ok(Response::new(pb::GetKeySetResponse { envelope }))
    }

    #[instrument(skip_all)]
    async fn list_agreements(&self, request: Request<pb::ListAgreementsRequest>) -> Result<Response<pb::ListAgreementsResponse>, Status> {
        let relying = request.into_inner().relying_authority;
        if !relying.is_empty() {
            authority_id("relying_authority", &relying)?;
        }
        let agreements = self.registry.trust().agreements();
        let envelopes =
            agreements.iter().filter(|a| relying.is_empty() || a.agreement.agreement().relying_authority == relying).map(|a| a.envelope.clone()).collect();
        Ok(Response::new(pb::ListAgreementsResponse { envelopes }))
    }

    async fn list_control_lists(&self, request: Request<pb::ListControlListsRequest>) -> Result<Response<pb::ListControlListsResponse>, Status> {
        let q = request.into_inner();
        if !q.authority.is_empty() {
            authority_id("authority", &q.authority)?;
        }
        Ok(Response::new(catalogue::list_envelopes(self.registry.store(), self.registry.trust(), &q)?))
    }

    #[instrument(skip_all, fields(code = %shown(&request.get_ref().control_code)))]
    async fn lookup_control_code(&self, request: Request<pb::LookupControlCodeRequest>) -> Result<Response<pb::LookupControlCodeResponse>, Status> {
        let q = request.into_inner();
        all_bounded([("control_code", q.control_code.as_str(), MAX_ID_BYTES)])?;
        let at = if q.at == 0 { self.registry.clock().now() } else { q.at };
        Ok(Response::new(catalogue::lookup(self.registry.trust(), &q.control_code, at)?))
    }

    async fn screen(&self, request: Request<pb::ScreenRequest>) -> Result<Response<pb::ScreenResponse>, Status> {
        let q = request.into_inner();
        all_bounded([("name", q.name.as_str(), MAX_ID_BYTES), ("country", q.country.as_str(), MAX_ID_BYTES)])?;
        if q.lists.len() > 64 {
            return Err(Error::InvalidArgument(format!("lists: {} named, at most 64", q.lists.len())).into());
        }
        Ok(Response::new(catalogue::screen(self.registry.trust(), &q)?))
    }

    async fn list_consultations(&self, request: Request<pb::ListConsultationsRequest>) -> Result<Response<pb::ListConsultationsResponse>, Status> {
        let q = request.into_inner();
        if !q.authority.is_empty() {
            authority_id("authority", &q.authority)?;
        }
        Ok(Response::new(crate::service::consultation::list(self.registry.store(), &q)?))
    }

    async fn check_undercut(&self, request: Request<pb::CheckUndercutRequest>) -> Result<Response<pb::CheckUndercutResponse>, Status> {
        Ok(Response::new(crate::service::consultation::check(self.registry.store(), self.registry.trust(), request.into_inner())?))
    }

    #[instrument(skip_all, fields(authority = %shown(&request.get_ref().authority)))]
    async fn list_rulings(&self, request: Request<pb::ListRulingsRequest>) -> Result<Response<pb::ListRulingsResponse>, Status> {
        let q = request.into_inner();
        Ok(Response::new(crate::service::rulings::list(&self.registry, &q, self.registry.clock().now())?))
    }

    #[instrument(skip_all, fields(authority = %shown(&request.get_ref().authority), ruling = %shown(&request.get_ref().ruling_id)))]
    async fn get_ruling(&self, request: Request<pb::GetRulingRequest>) -> Result<Response<pb::GetRulingResponse>, Status> {
        let q = request.into_inner();
        Ok(Response::new(crate::service::rulings::get(&self.registry, &q)?))
    }

    #[instrument(skip_all, fields(authority = %shown(&request.get_ref().authority)))]
    async fn stats(&self, request: Request<pb::StatsRequest>) -> Result<Response<pb::StatsResponse>, Status> {
        let query = StatsQuery::try_from(request.into_inner())?;
        let (store, reports, now) = (self.registry.store().clone(), self.stats.clone(), self.registry.clock().now());
        // A new report reads every decision of the authorities asked about: off the async workers.
        let report = tokio::task::spawn_blocking(move || reports.compute(&store, &query, now))
            .await
            .map_err(|e| Error::Internal(format!("stats task failed: {e}")))??;
        Ok(Response::new(report))
    }

    #[instrument(skip_all)]
    async fn get_statement(&self, request: Request<pb::GetStatementRequest>) -> Result<Response<pb::GetStatementResponse>, Status> {
        let raw = request.into_inner().statement_id;
        let id = StatementId::from_slice(&raw).ok_or_else(|| invalid(format!("statement_id: must be 32 bytes, got {}", raw.len())))?;
        let envelope = self.registry.statement(&id)?.ok_or_else(|| Error::NotFound(format!("statement {id} not found")))?;
        Ok(Response::new(pb::GetStatementResponse { statement_id: raw, envelope }))
    }

    type WatchStream = tokio_stream::wrappers::ReceiverStream<Result<pb::WatchEvent, Status>>;

    #[instrument(skip_all)]
    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let r = request.into_inner();
        let filter = crate::service::watch::Filter::from_wire(r.filter.unwrap_or_default(), search_query)?;
        let start = match (r.cursor.as_str(), r.from_start) {
            ("", true) => crate::service::watch::Start::Beginning,
            ("", false) => crate::service::watch::Start::Now,
            (text, _) => {
                let cursor = crate::service::watch::Cursor::parse(text)?;
                cursor.check_reachable(self.registry.store())?;
                crate::service::watch::Start::After(cursor)
            }
        };
        let permit = self.watchers.clone().try_acquire_owned().map_err(|_| {
            Error::ResourceExhausted(format!("this node serves at most {} Watch streams at once (limits.max_watch_streams); retry later", self.max_watchers))
        })?;
        let events = crate::service::watch::stream(self.registry.clone(), filter, start, self.shutting_down.clone(), permit);
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(events)))
    }

    #[instrument(skip_all)]
    async fn search(&self, request: Request<pb::SearchRequest>) -> Result<Response<pb::SearchResponse>, Status> {
        let query = search_query(request.into_inner())?;
        let page = self.registry.search(&query)?;
        Ok(Response::new(pb::SearchResponse { licences: page.licences, next_cursor: page.next.map(hex::encode).unwrap_or_default() }))
    }
}

/// The re-export licences held here under `authority/licence_id`, with their status now.
fn re_export_children(registry: &crate::writer::Registry, authority: &str, licence_id: &str) -> Result<Vec<pb::LicenceSummary>, Error> {
    let now = registry.clock().now();
    let store = registry.store();
    let mut children = Vec::new();
    for (child_authority, child_id, _) in store.re_export_children(authority, licence_id)? {
        if let Some(mut summary) = store.licence(&child_authority, &child_id)? {
            let decided = pb::LicenceStatus::try_from(summary.status).unwrap_or(pb::LicenceStatus::Unspecified);
            summary.status = comity_proto::rules::status_at(decided, summary.valid_from, summary.valid_until, now) as i32;
            children.push(summary);
        }
    }
    Ok(children)
}
