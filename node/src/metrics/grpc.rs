//! Per-RPC metrics, named and labelled as go-grpc-prometheus names them so that stock dashboards
//! and alerts work: `grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}` and
//! the histogram `grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}`. A tower layer
//! around the gRPC routes records each call when its status is known: in the response headers
//! (a refusal), in the trailers (the end of a unary answer or a stream), or, if the client went
//! away first, as `Canceled`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::Body as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use prost::Message;
use tonic::body::Body;
use tonic::codegen::http;

/// One RPC a server serves.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Rpc {
    /// `unary`, `client_stream`, `server_stream` or `bidi_stream`.
    pub grpc_type: &'static str,
    /// The full service name, `comity.v1.Registry`.
    pub grpc_service: String,
    pub grpc_method: String,
}

impl Rpc {
    /// The label set of calls to paths no served service has: tonic answers them UNIMPLEMENTED,
    /// and one label set for all keeps clients from inventing new series.
    fn unknown() -> Self {
        Self { grpc_type: "unknown", grpc_service: "unknown".into(), grpc_method: "unknown".into() }
    }
}

/// Every RPC of the services in the encoded `FileDescriptorSet`s `sets`.
pub fn rpcs(sets: &[&[u8]]) -> Vec<Rpc> {
    let mut out = Vec::new();
    for set in sets {
        let set = prost_types::FileDescriptorSet::decode(*set).expect("a compiled-in descriptor set decodes");
        for file in &set.file {
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                for method in &service.method {
                    let grpc_type = match (method.client_streaming(), method.server_streaming()) {
                        (false, false) => "unary",
                        (true, false) => "client_stream",
                        (false, true) => "server_stream",
                        (true, true) => "bidi_stream",
                    };
                    out.push(Rpc { grpc_type, grpc_service: name.clone(), grpc_method: method.name().into() });
                }
            }
        }
    }
    out
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Handled {
    #[prometheus(flatten)]
    rpc: Rpc,
    grpc_code: &'static str,
}

/// The per-RPC metric families.
#[derive(Clone)]
pub struct GrpcMetrics {
    handled: Family<Handled, Counter>,
    seconds: Family<Rpc, Histogram>,
}

impl GrpcMetrics {
    /// Registers the families in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let seconds = Family::<Rpc, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        let m = Self { handled: Family::default(), seconds };
        registry.register("grpc_server_handled", "RPCs completed on the server, by gRPC status code", m.handled.clone());
        registry.register(
            "grpc_server_handling_seconds",
            "Time from an RPC's arrival until its status was sent (streams: the whole stream)",
            m.seconds.clone(),
        );
        m
    }

    /// The layer recording calls to `rpcs` (other paths count as `unknown`). Every RPC's
    /// series start at 0 (code OK), so rates and alerts work before its first call.
    pub fn layer(&self, rpcs: &[Rpc]) -> GrpcMetricsLayer {
        let mut paths = HashMap::new();
        for rpc in rpcs {
            let _ = self.handled.get_or_create(&Handled { rpc: rpc.clone(), grpc_code: code_label(tonic::Code::Ok) });
            let _ = self.seconds.get_or_create(rpc);
            paths.insert(format!("/{}/{}", rpc.grpc_service, rpc.grpc_method), rpc.clone());
        }
        GrpcMetricsLayer { metrics: self.clone(), paths: Arc::new(paths) }
    }
}

/// The name go-grpc-prometheus gives a code (Go's `codes.Code.String()`).
pub fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// The `grpc-status` of a header map, if it has one.
fn status_in(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers.get("grpc-status").map(|v| tonic::Code::from_bytes(v.as_bytes()))
}

/// A call whose status is not known yet; recorded as `Canceled` if dropped unfinished.
struct Pending(Option<(GrpcMetrics, Rpc, Instant)>);

impl Pending {
    fn finish(&mut self, code: tonic::Code) {
        if let Some((metrics, rpc, started)) = self.0.take() {
            metrics.seconds.get_or_create(&rpc).observe(started.elapsed().as_secs_f64());
            metrics.handled.get_or_create(&Handled { rpc, grpc_code: code_label(code) }).inc();
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish(tonic::Code::Cancelled);
    }
}

/// See [`GrpcMetrics::layer`].
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    metrics: GrpcMetrics,
    paths: Arc<HashMap<String, Rpc>>,
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService { inner, layer: self.clone() }
    }
}

#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    layer: GrpcMetricsLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for GrpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let rpc = self.layer.paths.get(request.uri().path()).cloned().unwrap_or_else(Rpc::unknown);
        let mut pending = Pending(Some((self.layer.metrics.clone(), rpc, Instant::now())));
        // The clone that was made ready serves this call; the fresh one waits for the next.
        let mut inner = self.inner.clone();
        std::mem::swap(&mut inner, &mut self.inner);
        Box::pin(async move {
            let response = match inner.call(request).await {
                Ok(response) => response,
                Err(e) => {
                    pending.finish(tonic::Code::Unknown);
                    return Err(e);
                }
            };
            if let Some(code) = status_in(response.headers()) {
                // Trailers-only: a refusal or an error before any message.
                pending.finish(code);
                return Ok(response);
            }
            if response.body().is_end_stream() {
                pending.finish(tonic::Code::Unknown);
                return Ok(response);
            }
            Ok(response.map(|inner| Body::new(CountedBody { inner, pending })))
        })
    }
}

/// A response body that records its call when the trailers with the status go out.
struct CountedBody {
    inner: Body,
    pending: Pending,
}

impl http_body::Body for CountedBody {
    type Data = <Body as http_body::Body>::Data;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    self.pending.finish(status_in(trailers).unwrap_or(tonic::Code::Unknown));
                }
            }
            Poll::Ready(Some(Err(status))) => self.pending.finish(status.code()),
            Poll::Ready(None) => self.pending.finish(tonic::Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_go_name() {
        // Go's names differ from tonic's only in OK and Canceled.
        for i in 0..=16 {
            let code = tonic::Code::from_i32(i);
            let go = code_label(code);
            let tonic_name = format!("{code:?}").replace("Cancelled", "Canceled").replace("Ok", "OK");
            assert_eq!(go, tonic_name);
        }
    }

    #[test]
    fn rpcs_are_read_from_descriptors_with_their_type() {
        let rpcs = rpcs(&[comity_proto::pb::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET]);
        let find = |service: &str, method: &str| rpcs.iter().find(|r| r.grpc_service == service && r.grpc_method == method).map(|r| r.grpc_type);
        assert_eq!(find("comity.v1.Registry", "Publish"), Some("unary"));
        assert_eq!(find("comity.v1.Registry", "Watch"), Some("server_stream"));
        assert_eq!(find("comity.v1.Log", "GetEntries"), Some("server_stream"));
        assert_eq!(find("grpc.health.v1.Health", "Check"), Some("unary"));
        assert_eq!(find("grpc.health.v1.Health", "Watch"), Some("server_stream"));
    }
}
