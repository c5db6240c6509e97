//! Thin tonic handlers for the `Registry` service: convert, call, return.

use comity_proto::decision::{is_authority_id, is_licence_id};
use comity_proto::pb::{self, registry_server, LicenceStatus};
use comity_proto::statement::StatementId;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::Error;
use crate::input::{all_bounded, bounded, shown, MAX_ID_BYTES, MAX_TERM_BYTES};
use crate::registry::{now, Registry};
use crate::stats::StatsQuery;
use crate::store::{search::words, SearchQuery, Store, MAX_PAGE_SIZE};

/// Default search page size.
const DEFAULT_PAGE_SIZE: usize = 50;
/// Longest Search cursor: the hex of a stored key, which holds the query's terms.
const MAX_CURSOR_BYTES: usize = 4096;

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
    stats: std::sync::Arc<crate::stats::StatsCache>,
}

impl RegistryService {
    /// Serves `registry`; Verify treats an issuer's log older than `max_staleness_secs` as stale
    /// unless the agreement applied says otherwise. At most `max_watchers` Watch streams are
    /// open at once; they end when `shutting_down` turns true.
    pub fn new(
        registry: Registry,
        max_staleness_secs: u64,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        max_watchers: usize,
        shutting_down: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let watchers = std::sync::Arc::new(tokio::sync::Semaphore::new(max_watchers));
        Self { registry, max_staleness_secs, metrics, watchers, max_watchers, shutting_down, stats: Default::default() }
    }
}

/// Publishes through `registry`, counted in `metrics` by result: what a Publish call does, and
/// how the demo loads its data (so its publishes show in the metrics too).
pub async fn publish_counted(
    registry: &Registry,
    metrics: &crate::metrics::Metrics,
    envelope: Vec<u8>,
    body: Option<pb::RestrictedBody>,
) -> Result<crate::registry::Published, Status> {
    let started = std::time::Instant::now();
    let published = registry.publish(envelope, body).await.map_err(Status::from);
    let result = match &published {
        Ok(_) => "ok",
        Err(status) => crate::metrics::publish_refusal(status.code()),
    };
    metrics.publish(result, started.elapsed());
    published
}

fn invalid(message: impl Into<String>) -> Status {
    Status::invalid_argument(message.into())
}

fn licence_ref(authority: &str, licence_id: &str) -> Result<(), Status> {
    all_bounded([("authority", authority, MAX_ID_BYTES), ("licence_id", licence_id, MAX_ID_BYTES)])?;
    authority_id("authority", authority)?;
    if !is_licence_id(licence_id) {
        return Err(invalid(format!("licence_id: `{}` is not a licence reference", shown(licence_id))));
    }
    Ok(())
}

/// Refuses `value` of `field` unless it is an authority id (bounded first, quoted short).
fn authority_id(field: &str, value: &str) -> Result<(), Status> {
    bounded(field, value, MAX_ID_BYTES)?;
    if !is_authority_id(value) {
        return Err(invalid(format!("{field}: `{}` is not a lowercase dotted id like de.bafa", shown(value))));
    }
    Ok(())
}

#[tonic::async_trait]
impl registry_server::Registry for RegistryService {
    #[instrument(skip_all, fields(bytes = request.get_ref().envelope.len()))]
    async fn publish(&self, request: Request<pb::PublishRequest>) -> Result<Response<pb::PublishResponse>, Status> {
        let r = request.into_inner();
        let published = publish_counted(&self.registry, &self.metrics, r.envelope, r.restricted_body).await.inspect_err(|status| {
            // Inside the request's span, so the line names the client.
            tracing::info!(code = crate::metrics::publish_refusal(status.code()), reason = %status.message(), "publish refused");
        })?;
        Ok(Response::new(pb::PublishResponse {
            statement_id: published.id.0.to_vec(),
            already_present: published.already_present,
            licence: published.licence.map(|l| l.summary_at(now())),
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
            Some(state) => (state.summary_at(now()), state.terms.clone()),
            None => withheld(&view.chain),
        };
        let openings = view.chain.iter().filter_map(crate::registry::StoredLink::opening).collect();
        // The proof is for relying parties with a trust file; a read that cannot build it (a
        // full disk) still answers, and such a client then refuses the answer as unproven.
        let proof = crate::verify::licence_proof(&self.registry, &r.authority, &r.licence_id, now())
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
        }))
    }

    #[instrument(skip_all, fields(authority = %shown(&request.get_ref().authority), licence = %shown(&request.get_ref().licence_id), relying = %shown(&request.get_ref().relying_authority)))]
    async fn verify(&self, request: Request<pb::VerifyRequest>) -> Result<Response<pb::VerifyResponse>, Status> {
        let now = now();
        let r = request.into_inner();
        licence_ref(&r.authority, &r.licence_id)?;
        let question = crate::verify::question(r, now)?;
        // A verdict is a few cached sled reads and no signature work (~10-50 µs, BENCHMARKS.md):
        // short enough to answer on the async worker, and a hop to the blocking pool costs more.
        let started = std::time::Instant::now();
        let (answer, cache) = crate::verify::verify_counted(&self.registry, &question, self.max_staleness_secs, now)?;
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

    #[instrument(skip_all, fields(authority = %shown(&request.get_ref().authority)))]
    async fn stats(&self, request: Request<pb::StatsRequest>) -> Result<Response<pb::StatsResponse>, Status> {
        let query = StatsQuery::try_from(request.into_inner())?;
        let (store, reports) = (self.registry.store().clone(), self.stats.clone());
        // A new report reads every decision of the authorities asked about: off the async workers.
        let report = tokio::task::spawn_blocking(move || reports.compute(&store, &query, now()))
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
        let filter = crate::watch::Filter::from_wire(r.filter.unwrap_or_default(), search_query)?;
        let start = match (r.cursor.as_str(), r.from_start) {
            ("", true) => crate::watch::Start::Beginning,
            ("", false) => crate::watch::Start::Now,
            (text, _) => {
                let cursor = crate::watch::Cursor::parse(text).map_err(invalid)?;
                cursor.check_reachable(self.registry.store())?;
                crate::watch::Start::After(cursor)
            }
        };
        let permit = self.watchers.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!("this node serves at most {} Watch streams at once (limits.max_watch_streams); retry later", self.max_watchers))
        })?;
        let events = crate::watch::stream(self.registry.clone(), filter, start, self.shutting_down.clone(), permit);
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(events)))
    }

    #[instrument(skip_all)]
    async fn search(&self, request: Request<pb::SearchRequest>) -> Result<Response<pb::SearchResponse>, Status> {
        let query = search_query(request.into_inner())?;
        let page = self.registry.search(&query)?;
        Ok(Response::new(pb::SearchResponse { licences: page.licences, next_cursor: page.next.map(hex::encode).unwrap_or_default() }))
    }
}

/// What may be said of a confidential licence this node cannot read: its place in the log
/// (summary with authority, reference, version, head and last decision time; status
/// unspecified) and the public face of its latest decision as the terms.
fn withheld(chain: &[crate::registry::StoredLink]) -> (pb::LicenceSummary, pb::Decision) {
    let head = chain.last().map(|l| (l.id, l.decision.clone())).unwrap_or_else(|| (StatementId([0; 32]), pb::Decision::default()));
    let summary = pb::LicenceSummary {
        authority: head.1.authority.clone(),
        licence_id: head.1.licence_id.clone(),
        version: head.1.version,
        head_id: head.0 .0.to_vec(),
        last_decided_at: head.1.decided_at,
        ..Default::default()
    };
    (summary, head.1)
}

/// Validates a wire search request.
fn search_query(r: pb::SearchRequest) -> Result<SearchQuery, Status> {
    let nonempty = |s: String| (!s.trim().is_empty()).then_some(s);
    all_bounded([
        ("party", r.party.as_str(), MAX_TERM_BYTES),
        ("control_code", &r.control_code, MAX_TERM_BYTES),
        ("licence_id_prefix", &r.licence_id_prefix, MAX_TERM_BYTES),
        ("destination", &r.destination, MAX_TERM_BYTES),
        ("cursor", &r.cursor, MAX_CURSOR_BYTES),
    ])?;
    if !r.authority.is_empty() {
        authority_id("authority", &r.authority)?;
    }
    if !r.destination.is_empty() && !comity_proto::codes::is_country(&r.destination) {
        return Err(invalid(format!("destination: `{}` is not an ISO 3166-1 alpha-2 code", shown(&r.destination))));
    }
    for (field, value) in [("decided_from", r.decided_from), ("decided_until", r.decided_until)] {
        if value < 0 {
            return Err(invalid(format!("{field}: {value} is not Unix seconds (0 = open)")));
        }
    }
    crate::stats::window(r.decided_from, r.decided_until)?;
    let status = match LicenceStatus::try_from(r.status) {
        Ok(LicenceStatus::Unspecified) => None,
        Ok(s) => Some(s),
        Err(_) => return Err(invalid(format!("status: unknown value {}", r.status))),
    };
    let page_size = match r.page_size as usize {
        0 => DEFAULT_PAGE_SIZE,
        n if n > MAX_PAGE_SIZE => return Err(invalid(format!("page_size: at most {MAX_PAGE_SIZE}, got {n}"))),
        n => n,
    };
    let party_words = words(&r.party);
    if !r.party.trim().is_empty() && party_words.is_empty() {
        return Err(invalid("party: must contain letters or digits"));
    }
    let mut query = SearchQuery {
        authority: nonempty(r.authority),
        licence_id_prefix: nonempty(r.licence_id_prefix),
        party_words,
        destination: nonempty(r.destination),
        control_code: nonempty(r.control_code),
        status,
        decided_from: (r.decided_from != 0).then_some(r.decided_from),
        decided_until: (r.decided_until != 0).then_some(r.decided_until),
        page_size,
        after: None,
    };
    if !r.cursor.is_empty() {
        let cursor = hex::decode(&r.cursor).map_err(|_| invalid("cursor: not a cursor returned by Search"))?;
        if !Store::cursor_fits(&query, &cursor) {
            return Err(invalid("cursor: belongs to a different query"));
        }
        query.after = Some(cursor);
    }
    Ok(query)
}
