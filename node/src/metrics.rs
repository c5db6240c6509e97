//! Prometheus metrics (OpenMetrics text) on their own HTTP port: publishes and verifications as
//! they happen, and at each scrape the state of the logs, the peers, the evidence and the store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry as MetricRegistry;

use crate::mirror::MirrorStatus;
use crate::store::Store;

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
}

/// What a scrape reads besides the counters: the store and the mirror of each path.
pub struct Sources {
    pub store: Store,
    pub mirrors: Vec<(String, String, Arc<Mutex<MirrorStatus>>)>,
}

impl Metrics {
    /// A fresh set of metrics, with `comity_build_info` set.
    pub fn new() -> Self {
        let mut registry = MetricRegistry::with_prefix("comity");
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
        let build = Family::<Labels, Gauge>::default();
        build.get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_string())]).set(1);
        registry.register("build_info", "The running build", build);
        Self { registry, ..m }
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

    /// The text exposition, with the scrape-time gauges read from `sources`.
    pub fn render(&self, sources: &Sources) -> String {
        let store = &sources.store;
        let now = crate::registry::now();
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
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("encoding to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, sources: Arc<Sources>, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (metrics, sources) = (metrics.clone(), sources.clone());
            async move {
                let text = tokio::task::spawn_blocking(move || metrics.render(&sources)).await.unwrap_or_default();
                ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            }
        }),
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
