//! A cap on the requests one client address has in flight, across all its connections. The
//! per-connection limit alone lets a client open many connections; with this, one flooding
//! client is refused at once (`RESOURCE_EXHAUSTED`) while everyone else is served.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The layer: one shared table of in-flight counts per client address.
#[derive(Clone)]
pub struct PerClientLimitLayer {
    limit: usize,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerClientLimitLayer {
    /// At most `limit` requests in flight per client address.
    pub fn new(limit: usize) -> Self {
        Self { limit, in_flight: Arc::default() }
    }
}

impl<S> tower::Layer<S> for PerClientLimitLayer {
    type Service = PerClientLimit<S>;

    fn layer(&self, inner: S) -> PerClientLimit<S> {
        PerClientLimit { inner, limit: self.limit, in_flight: self.in_flight.clone() }
    }
}

/// The service the layer wraps around the gRPC services.
#[derive(Clone)]
pub struct PerClientLimit<S> {
    inner: S,
    limit: usize,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Gives a client's slot back when its request ends, however it ends.
struct Slot {
    ip: IpAddr,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut table) = self.in_flight.lock() {
            if let Some(n) = table.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    table.remove(&self.ip);
                }
            }
        }
    }
}

fn client_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    let ext = request.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| ext.get::<TlsConnectInfo<TcpConnectInfo>>().and_then(|t| t.get_ref().remote_addr()))
        .map(|a| a.ip())
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for PerClientLimit<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> BoxFuture<Result<S::Response, S::Error>> {
        let slot = match client_ip(&request) {
            None => None,
            Some(ip) => {
                let mut table = self.in_flight.lock().expect("client table lock");
                let n = table.entry(ip).or_default();
                if *n >= self.limit {
                    let refusal = tonic::Status::resource_exhausted(format!("client {ip} already has {} requests in flight; retry later", self.limit));
                    return Box::pin(async move { Ok(refusal.into_http()) });
                }
                *n += 1;
                Some(Slot { ip, in_flight: self.in_flight.clone() })
            }
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            // Streams (Subscribe, GetEntries) hold their slot only until their answer starts.
            drop(slot);
            response
        })
    }
}
