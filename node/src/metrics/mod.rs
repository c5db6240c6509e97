//! Prometheus metrics on their own HTTP port: publishes and verifications as they happen, every
//! RPC by method and code ([`grpc`]), the process ([`process`]), and at each scrape the state of
//! the logs, the peers, the evidence and the store. Served in the Prometheus text format 0.0.4,
//! or in OpenMetrics to a scraper that asks for it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry as MetricRegistry;

use crate::federation::mirror::MirrorStatus;
use crate::store::Store;

pub mod grpc;
pub mod process;

type Labels = Vec<(&'static str, String)>;

/// Every metric of a node.
pub struct Metrics {
    registry: MetricRegistry,
    publishes: Family<Labels, Counter>,
    publish_seconds: Histogram,
    verifications: Family<Labels, Counter>,
    verify_seconds: Histogram,
    verify_cache: Family<Labels, Counter>,
    log_entries: Family<Labels, Gauge>,
    log_cosigners: Family<Labels, Gauge>,
    peer_lag_entries: Family<Labels, Gauge>,
    peer_lag_seconds: Family<Labels, Gauge>,
    peer_failures: Family<Labels, Gauge>,
    evidence: Gauge,
    store_bytes: Gauge,
    store_memory_bytes: Family<Labels, Gauge>,
    store_segments: Gauge,
    connections_refused: Family<Labels, Counter>,
    scrub_runs: Counter,
    scrub_differences: Gauge,
    scrub_completed: Gauge,
    grpc: grpc::GrpcMetrics,
}

/// What a scrape reads besides the counters: the store and the mirror of each path.
pub struct Sources {
    pub store: Store,
    /// The node's clock (checkpoint ages).
    pub clock: crate::Clock,
    pub mirrors: Vec<(String, String, Arc<Mutex<MirrorStatus>>)>,
}

impl Metrics {
    /// A fresh set of metrics, with `comity_build_info` set and every label value the node
    /// knows in advance at 0, so that each family shows (and rates work) before its first event.
    pub fn new() -> Self {
        // The node's own metrics are `comity_*`; the gRPC and process ones keep their standard names.
        let mut root = MetricRegistry::default();
        let grpc = grpc::GrpcMetrics::register(&mut root);
        root.register_collector(Box::new(process::ProcessCollector));
        let registry = root.sub_registry_with_prefix("comity");
        let latency = || Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let m = Self {
            publishes: Family::default(),
            publish_seconds: latency(),
            verifications: Family::default(),
            verify_seconds: latency(),
            verify_cache: Family::default(),
            log_entries: Family::default(),
            log_cosigners: Family::default(),
            peer_lag_entries: Family::default(),
            peer_lag_seconds: Family::default(),
            peer_failures: Family::default(),
            evidence: Gauge::default(),
            store_bytes: Gauge::default(),
            store_memory_bytes: Family::default(),
            store_segments: Gauge::default(),
            connections_refused: Family::default(),
            scrub_runs: Counter::default(),
            scrub_differences: Gauge::default(),
            scrub_completed: Gauge::default(),
            grpc,
            registry: MetricRegistry::default(),
        };
        registry.register("publishes", "Publish requests by result (ok, or the gRPC code of the refusal)", m.publishes.clone());
        registry.register("publish_seconds", "Publish latency, acknowledged publishes", m.publish_seconds.clone());
        registry.register("verifications", "Verify answers by verdict", m.verifications.clone());
        registry.register("verify_seconds", "Verify latency", m.verify_seconds.clone());
        registry.register(
            "verify_cache",
            "Where Verify answers read their licence: kept from an earlier answer, read from the store, refreshed receipts, or cache off",
            m.verify_cache.clone(),
        );
        registry.register("log_entries", "Entries held per log (own and mirrored)", m.log_entries.clone());
        registry.register("log_cosigners", "Witnesses on the latest cosigned checkpoint held per log", m.log_cosigners.clone());
        registry.register("peer_lag_entries", "Entries a mirror path is behind its peer's checkpoint", m.peer_lag_entries.clone());
        registry.register("peer_lag_seconds", "Age of the last checkpoint verified on a mirror path", m.peer_lag_seconds.clone());
        registry.register("peer_failures", "Failed rounds of a mirror path since its last success", m.peer_failures.clone());
        registry.register("evidence", "Pieces of evidence held (licence forks, split views)", m.evidence.clone());
        registry.register("store_bytes", "Size of the store on disk", m.store_bytes.clone());
        registry.register(
            "store_memory_bytes",
            "The store engine's memory that grows with the store, by part: memtables (writes not yet flushed to a segment), bloom_filters (of every segment); fjall stores only",
            m.store_memory_bytes.clone(),
        );
        registry.register("store_segments", "Segment files of the store engine (fjall stores only)", m.store_segments.clone());
        registry.register(
            "connections_refused",
            "gRPC connections closed or refused by reason: preface_timeout (no TLS handshake and HTTP/2 preface in time), tls_handshake (refused), idle, per_address (its address holds its share)",
            m.connections_refused.clone(),
        );
        for reason in crate::net::connections::REFUSALS {
            let _ = m.connections_refused.get_or_create(&vec![("reason", reason.to_string())]);
        }
        registry.register("scrub_runs", "Background checks completed (summaries, search index and tree hashes re-derived from the log)", m.scrub_runs.clone());
        registry.register(
            "scrub_differences",
            "Differences between derived data and the log found by the last background check; repair offline with `comity-node check --repair`",
            m.scrub_differences.clone(),
        );
        registry.register("scrub_completed_timestamp_seconds", "Unix time the last background check completed (0: none yet)", m.scrub_completed.clone());
        let build = Family::<Labels, Gauge>::default();
        build.get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_string())]).set(1);
        registry.register("build_info", "The running build", build);
        // get_or_create makes each series, at 0.
        for result in PUBLISH_RESULTS {
            let _ = m.publishes.get_or_create(&vec![("result", result.to_string())]);
        }
        for verdict in (0..).map_while(|v| comity_proto::pb::Verdict::try_from(v).ok()) {
            let _ = m.verifications.get_or_create(&vec![("verdict", verdict_label(verdict).to_string())]);
        }
        for outcome in crate::service::verify::CacheOutcome::ALL {
            let _ = m.verify_cache.get_or_create(&vec![("result", outcome.as_str().to_string())]);
        }
        Self { registry: root, ..m }
    }

    /// The per-RPC metrics, for the gRPC server's layer.
    pub fn grpc(&self) -> &grpc::GrpcMetrics {
        &self.grpc
    }

    /// Counts a publish answered with `result` ("ok" or a gRPC code name) after `took`.
    pub fn publish(&self, result: &str, took: Duration) {
        self.publishes.get_or_create(&vec![("result", result.to_string())]).inc();
        if result == "ok" {
            self.publish_seconds.observe(took.as_secs_f64());
        }
    }

    /// Counts a Verify answer with `verdict` after `took`, its licence's reads coming from
    /// `cache` (a `verify::CacheOutcome` label).
    pub fn verification(&self, verdict: &str, cache: &str, took: Duration) {
        self.verifications.get_or_create(&vec![("verdict", verdict.to_string())]).inc();
        self.verify_cache.get_or_create(&vec![("result", cache.to_string())]).inc();
        self.verify_seconds.observe(took.as_secs_f64());
    }

    /// Counts a gRPC connection closed or refused for `reason` (one of `connections::REFUSALS`).
    pub fn connection_refused(&self, reason: &'static str) {
        self.connections_refused.get_or_create(&vec![("reason", reason.to_string())]).inc();
    }

    /// Records a completed background check that found `differences`, at Unix time `at`.
    pub fn scrubbed(&self, differences: usize, at: i64) {
        self.scrub_runs.inc();
        self.scrub_differences.set(differences as i64);
        self.scrub_completed.set(at);
    }

    /// Records the differences the start-up check found, until the first background check.
    pub fn checked_at_start(&self, differences: usize) {
        self.scrub_differences.set(differences as i64);
    }

    /// The exposition in `format`, with the scrape-time gauges read from `sources`.
    pub fn render(&self, sources: &Sources, format: Format) -> String {
        let store = &sources.store;
        let now = sources.clock.now();
        let mut origins: Vec<String> = sources.mirrors.iter().map(|(_, origin, _)| origin.clone()).collect();
        if let Ok(Some(own)) = store.own_log_origin() {
            origins.push(own);
        }
        origins.sort();
        origins.dedup();
        for origin in &origins {
            let log = store.log(origin);
            let labels = vec![("origin", origin.clone())];
            self.log_entries.get_or_create(&labels).set(log.size().unwrap_or(0) as i64);
            let cosigners = log.cosigned().ok().flatten().map_or(0, |note| note.lines().filter(|l| l.starts_with('\u{2014}')).count().saturating_sub(1));
            self.log_cosigners.get_or_create(&labels).set(cosigners as i64);
        }
        for (path, _, status) in &sources.mirrors {
            let Ok(s) = status.lock() else { continue };
            let labels = vec![("path", path.clone())];
            self.peer_lag_entries.get_or_create(&labels).set(s.peer_size.saturating_sub(s.size) as i64);
            self.peer_lag_seconds.get_or_create(&labels).set(if s.checkpoint_time > 0 { now - s.checkpoint_time } else { 0 });
            self.peer_failures.get_or_create(&labels).set(i64::from(s.failures));
        }
        self.evidence.set(store.evidence().map_or(0, |e| e.len() as i64));
        self.store_bytes.set(store.size_on_disk().unwrap_or(0) as i64);
        if let Some(memory) = store.engine_memory() {
            self.store_memory_bytes.get_or_create(&vec![("part", "memtables".to_string())]).set(memory.memtable_bytes as i64);
            self.store_memory_bytes.get_or_create(&vec![("part", "bloom_filters".to_string())]).set(memory.bloom_filter_bytes as i64);
            self.store_segments.set(memory.segments as i64);
        }
        let mut text = String::new();
        match format {
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &self.registry),
            Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry),
        }
        .expect("encoding to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The `result` label values of `comity_publishes_total`: "ok", or the refusal's code as
/// [`publish_refusal`] names it.
pub const PUBLISH_RESULTS: [&str; 9] =
    ["ok", "INVALID_ARGUMENT", "PERMISSION_DENIED", "FAILED_PRECONDITION", "NOT_FOUND", "UNAVAILABLE", "UNIMPLEMENTED", "INTERNAL", "OTHER"];

/// The `result` label of a publish refused with `code`.
pub fn publish_refusal(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        _ => "OTHER",
    }
}

/// The `verdict` label of a Verify answer: `VALID`, `NOT_FOUND`, ...
pub fn verdict_label(verdict: comity_proto::pb::Verdict) -> &'static str {
    verdict.as_str_name().trim_start_matches("VERDICT_")
}

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4, which promtool and most scrapers read.
    Text,
    /// OpenMetrics 1.0.0.
    OpenMetrics,
}

impl Format {
    /// What to answer a request with this `Accept` header: OpenMetrics only when asked for.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let wants_openmetrics = accept.is_some_and(|a| {
            a.split(',').any(|range| {
                let mut params = range.split(';').map(str::trim);
                let media = params.next().unwrap_or_default();
                // A quality of 0 means "not this one".
                let q = params.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.parse::<f64>().ok()).unwrap_or(1.0);
                media.eq_ignore_ascii_case("application/openmetrics-text") && q > 0.0
            })
        });
        if wants_openmetrics {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    sources: Arc<Sources>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let (metrics, sources) = (metrics.clone(), sources.clone());
            async move {
                let format = Format::negotiate(headers.get(axum::http::header::ACCEPT).and_then(|a| a.to_str().ok()));
                let text = tokio::task::spawn_blocking(move || metrics.render(&sources, format)).await.unwrap_or_default();
                ([(axum::http::header::CONTENT_TYPE, format.content_type())], text)
            }
        }),
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_asked_for() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain;version=0.0.4")), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        // What Prometheus itself sends.
        let prometheus = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("Application/OpenMetrics-Text; version=1.0.0")), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;q=0, text/plain")), Format::Text);
    }

    #[test]
    fn every_publish_refusal_is_a_known_result() {
        for i in 0..=16 {
            assert!(PUBLISH_RESULTS.contains(&publish_refusal(tonic::Code::from_i32(i))));
        }
    }
}
