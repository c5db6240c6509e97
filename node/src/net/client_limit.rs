//! Per-client limits across all of a client's connections: requests in flight, and requests
//! per second (a token bucket). A client is the certificate it presented over mutual TLS (so
//! consortium members that share an address, behind one NAT or on one host, each get their
//! own limits), else its address. The per-connection limit alone lets a client open many
//! connections; with these, one flooding client is refused at once (`RESOURCE_EXHAUSTED`)
//! while everyone else is served.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::codegen::http;

use crate::error::Error;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// What one client address is using.
#[derive(Default)]
struct Usage {
    in_flight: usize,
    /// Requests it may still start now, refilled at `per_second`.
    tokens: f64,
    refilled: Option<Instant>,
}

/// Whom a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// SHA-256 of the client certificate presented on the connection.
    Certificate([u8; 32]),
    /// The address of a client without a certificate.
    Address(IpAddr),
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientKey::Certificate(hash) => write!(f, "with certificate {}", hex::encode(&hash[..8])),
            ClientKey::Address(ip) => write!(f, "{ip}"),
        }
    }
}

type Table = Arc<Mutex<HashMap<ClientKey, Usage>>>;

/// The layer: one shared table of usage per client address.
#[derive(Clone)]
pub struct PerClientLimitLayer {
    limit: usize,
    per_second: u32,
    table: Table,
}

impl PerClientLimitLayer {
    /// At most `limit` requests in flight and `per_second` started per second (0: no rate
    /// limit) per client address.
    pub fn new(limit: usize, per_second: u32) -> Self {
        Self { limit, per_second, table: Arc::default() }
    }
}

impl<S> tower::Layer<S> for PerClientLimitLayer {
    type Service = PerClientLimit<S>;

    fn layer(&self, inner: S) -> PerClientLimit<S> {
        PerClientLimit { inner, limits: self.clone() }
    }
}

/// The service the layer wraps around the gRPC services.
#[derive(Clone)]
pub struct PerClientLimit<S> {
    inner: S,
    limits: PerClientLimitLayer,
}

/// Gives a client's slot back when its request ends, however it ends.
pub struct Slot {
    client: ClientKey,
    table: Table,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut table) = self.table.lock() {
            if let Some(usage) = table.get_mut(&self.client) {
                usage.in_flight -= 1;
            }
        }
    }
}

impl PerClientLimitLayer {
    /// Takes a slot for a request from `client`, or says why not. Services outside tonic (the
    /// web pages and JSON API, by address) call it too, sharing the table.
    pub fn admit(&self, client: ClientKey) -> Result<Slot, Error> {
        let mut table = self.table.lock().expect("client table lock");
        // Forget idle clients now and then, so the table stays as small as the active set.
        if table.len() > 10_000 {
            table.retain(|_, u| u.in_flight > 0);
        }
        let usage = table.entry(client).or_default();
        if usage.in_flight >= self.limit {
            return Err(Error::ResourceExhausted(format!("client {client} already has {} requests in flight; retry later", self.limit)));
        }
        if self.per_second > 0 {
            let now = Instant::now();
            let rate = f64::from(self.per_second);
            usage.tokens = match usage.refilled {
                None => rate,
                Some(then) => (usage.tokens + now.duration_since(then).as_secs_f64() * rate).min(rate),
            };
            usage.refilled = Some(now);
            if usage.tokens < 1.0 {
                return Err(Error::ResourceExhausted(format!("client {client} is above {} requests per second; retry later", self.per_second)));
            }
            usage.tokens -= 1.0;
        }
        usage.in_flight += 1;
        Ok(Slot { client, table: self.table.clone() })
    }
}

/// Whom a request counts against: the client certificate presented on its TLS connection,
/// else its address.
pub fn client_key<B>(request: &http::Request<B>) -> Option<ClientKey> {
    use sha2::{Digest, Sha256};
    let certificate = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(|t| t.peer_certs())
        .and_then(|certs| certs.first().map(|c| Sha256::digest(c.as_ref()).into()));
    certificate.map(ClientKey::Certificate).or_else(|| client_ip(request).map(ClientKey::Address))
}

/// The address a request came from (plaintext or TLS connection).
pub fn client_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    remote_addr(request).map(|a| a.ip())
}

/// The address and port of the connection a request came on (plaintext or TLS).
pub fn remote_addr<B>(request: &http::Request<B>) -> Option<std::net::SocketAddr> {
    let ext = request.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| ext.get::<TlsConnectInfo<TcpConnectInfo>>().and_then(|t| t.get_ref().remote_addr()))
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
        let slot = match client_key(&request).map(|client| self.limits.admit(client)) {
            None => None,
            Some(Ok(slot)) => Some(slot),
            Some(Err(why)) => {
                // A tower layer answers outside the handlers, but through the same mapping.
                let refusal = tonic::Status::from(why);
                return Box::pin(async move { Ok(refusal.into_http()) });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sharing_an_address_each_get_their_own_limit() {
        let limits = PerClientLimitLayer::new(1, 0);
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let (a, b) = (ClientKey::Certificate([1; 32]), ClientKey::Certificate([2; 32]));
        let held_a = limits.admit(a).unwrap();
        let held_b = limits.admit(b).expect("another member behind the same address");
        let held_ip = limits.admit(ClientKey::Address(ip)).expect("a client without a certificate");
        assert!(limits.admit(a).err().expect("refused").to_string().contains("already has 1 requests in flight"));
        assert!(limits.admit(ClientKey::Address(ip)).is_err());
        drop((held_a, held_b, held_ip));
        limits.admit(a).expect("the slot came back");
    }
}
