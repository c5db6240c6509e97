//! Guards on the gRPC server's accepted connections, which tonic does not have: a connection
//! that has not sent the HTTP/2 preface (and, over TLS, finished its handshake) within
//! `limits.handshake_timeout_secs` is closed; so is one with no open request for
//! `limits.idle_connection_secs`; and one address holds at most
//! `limits.connections_per_address` connections. Without them silent sockets pile up until the
//! node runs out of file descriptors and honest connects fail. Every refusal is counted
//! (`comity_connections_refused_total{reason}`) and logged, at most one line a second.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::codegen::http;
use tonic::transport::server::{Connected, TcpIncoming};

use crate::config::Limits;
use crate::metrics::Metrics;

/// The `reason` label values of `comity_connections_refused_total`.
pub const REFUSALS: [&str; 4] = ["preface_timeout", "tls_handshake", "idle", "per_address"];

/// What a client sends first on an HTTP/2 connection (RFC 9113 §3.4).
const PREFACE_LEN: usize = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".len();

/// The node's connections: per address, and per connection whether a request is open.
pub struct Connections {
    handshake_timeout: Duration,
    idle: Option<Duration>,
    per_address: usize,
    addresses: Mutex<HashMap<IpAddr, usize>>,
    /// By remote address, which is unique among a listener's open connections.
    activity: Mutex<HashMap<SocketAddr, Arc<Activity>>>,
    metrics: Arc<Metrics>,
    /// Refusals not logged yet, by reason, and the last address refused.
    unlogged: Mutex<(BTreeMap<&'static str, u64>, Option<IpAddr>)>,
}

impl Connections {
    /// The guards of `limits`, counting into `metrics`. Starts the task that logs refusals.
    pub fn new(limits: &Limits, metrics: Arc<Metrics>) -> Arc<Self> {
        let connections = Arc::new(Self {
            handshake_timeout: Duration::from_secs(limits.handshake_timeout_secs),
            idle: (limits.idle_connection_secs > 0).then(|| Duration::from_secs(limits.idle_connection_secs)),
            per_address: limits.connections_per_address,
            addresses: Mutex::default(),
            activity: Mutex::default(),
            metrics,
            unlogged: Mutex::default(),
        });
        let weak = Arc::downgrade(&connections);
        tokio::spawn(log_refusals(weak));
        connections
    }

    /// Counts a refusal; [`log_refusals`] logs it within a second.
    fn refuse(&self, reason: &'static str, ip: IpAddr) {
        self.metrics.connection_refused(reason);
        let mut unlogged = self.unlogged.lock().unwrap_or_else(|e| e.into_inner());
        *unlogged.0.entry(reason).or_default() += 1;
        unlogged.1 = Some(ip);
    }

    /// A ticket for a new connection from `remote`, or `None` when its address holds its share.
    fn admit(self: &Arc<Self>, remote: SocketAddr) -> Option<Ticket> {
        {
            let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
            let held = addresses.entry(remote.ip()).or_default();
            if self.per_address > 0 && *held >= self.per_address {
                drop(addresses);
                self.refuse("per_address", remote.ip());
                return None;
            }
            *held += 1;
        }
        let activity = Arc::new(Activity { open: AtomicUsize::new(0), last: Mutex::new(Instant::now()) });
        self.activity.lock().unwrap_or_else(|e| e.into_inner()).insert(remote, activity.clone());
        Some(Ticket { connections: self.clone(), remote, activity })
    }
}

/// Logs the refusals of the last second, if any, in one line.
async fn log_refusals(connections: Weak<Connections>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(connections) = connections.upgrade() else { return };
        let (counts, last) = std::mem::take(&mut *connections.unlogged.lock().unwrap_or_else(|e| e.into_inner()));
        if counts.is_empty() {
            continue;
        }
        let total: u64 = counts.values().sum();
        let reasons = counts.iter().map(|(r, n)| format!("{r} {n}")).collect::<Vec<_>>().join(", ");
        let last = last.map(|ip| ip.to_string()).unwrap_or_default();
        tracing::warn!(%reasons, last_client = %last, "closed or refused {total} connection(s) in the last second");
    }
}

/// Whether a connection has a request open, and since when it has had none.
struct Activity {
    open: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    /// When the connection last had an open request; `None` while one is open.
    fn idle_since(&self) -> Option<Instant> {
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        (self.open.load(Ordering::SeqCst) == 0).then_some(last)
    }
}

/// Holds an open request's place on its connection until its response body is done with.
struct OpenRequest(Arc<Activity>);

impl OpenRequest {
    fn new(activity: Arc<Activity>) -> Self {
        activity.open.fetch_add(1, Ordering::SeqCst);
        Self(activity)
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An admitted connection's place; given back when the connection is dropped.
struct Ticket {
    connections: Arc<Connections>,
    remote: SocketAddr,
    activity: Arc<Activity>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let c = &self.connections;
        let mut addresses = c.addresses.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = addresses.get_mut(&self.remote.ip()) {
            *held -= 1;
            if *held == 0 {
                addresses.remove(&self.remote.ip());
            }
        }
        drop(addresses);
        let mut activity = c.activity.lock().unwrap_or_else(|e| e.into_inner());
        // Only this connection's entry (a later one from the same port may have replaced it).
        if activity.get(&self.remote).is_some_and(|a| Arc::ptr_eq(a, &self.activity)) {
            activity.remove(&self.remote);
        }
    }
}

/// The accepted connections of `tcp`, each admitted per address and set up by `setup` (a TLS
/// handshake, say; `None` when it refused, having logged why) in its own task within the
/// handshake timeout, so a slow client never holds up the others. Ends when the server stops
/// taking connections, which releases the listener.
pub fn accept<IO, F, Fut>(mut tcp: TcpIncoming, connections: Arc<Connections>, setup: F) -> tokio_stream::wrappers::ReceiverStream<io::Result<Guarded<IO>>>
where
    IO: Send + 'static,
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = Option<IO>> + Send + 'static,
{
    use tokio_stream::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => return,
                next = tcp.next() => next,
            };
            let stream = match accepted {
                Some(Ok(stream)) => stream,
                Some(Err(e)) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                None => return,
            };
            let Ok(remote) = stream.peer_addr() else { continue };
            // Refused: dropping the stream closes it at once.
            let Some(ticket) = connections.admit(remote) else { continue };
            let (tx, connections) = (tx.clone(), connections.clone());
            let set_up = setup(stream);
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + connections.handshake_timeout;
                match tokio::time::timeout_at(deadline, set_up).await {
                    Ok(Some(io)) => {
                        let idle = connections.idle;
                        let _ = tx
                            .send(Ok(Guarded { io, ticket, idle, preface_left: PREFACE_LEN, deadline: Some(Box::pin(tokio::time::sleep_until(deadline))) }))
                            .await;
                    }
                    Ok(None) => connections.refuse("tls_handshake", remote.ip()),
                    Err(_) => connections.refuse("preface_timeout", remote.ip()),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// A connection that fails its next read once it is past its deadline: the preface's until
/// it has been read, then, with no request open, the idle timeout's. Failing the read makes
/// the server drop the connection.
pub struct Guarded<IO> {
    io: IO,
    ticket: Ticket,
    idle: Option<Duration>,
    /// Bytes of the HTTP/2 preface not read yet.
    preface_left: usize,
    /// `None`: no deadline (preface read, no idle timeout).
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<IO> Guarded<IO> {
    /// `Poll::Ready` with the reason once the connection is to be closed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<&'static str> {
        loop {
            let Some(deadline) = self.deadline.as_mut() else { return Poll::Pending };
            if deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.preface_left > 0 {
                return Poll::Ready("preface_timeout");
            }
            let Some(idle) = self.idle else { return Poll::Pending };
            // Not idle, or not for long enough: look again when it could be.
            let until = match self.ticket.activity.idle_since() {
                Some(since) if since.elapsed() >= idle => return Poll::Ready("idle"),
                Some(since) => since + idle,
                None => Instant::now() + idle,
            };
            deadline.as_mut().reset(until.into());
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if let Poll::Ready(read) = Pin::new(&mut this.io).poll_read(cx, buf) {
            if this.preface_left > 0 {
                this.preface_left = this.preface_left.saturating_sub(buf.filled().len() - before);
                if this.preface_left == 0 {
                    this.deadline = this.idle.map(|idle| Box::pin(tokio::time::sleep(idle)));
                }
            }
            return Poll::Ready(read);
        }
        match this.poll_deadline(cx) {
            Poll::Ready(reason) => {
                this.ticket.connections.refuse(reason, this.ticket.remote.ip());
                this.deadline = None;
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, reason)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Requests see the connection as the stream under the guard did (address, certificates).
impl<IO: Connected> Connected for Guarded<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// The layer that marks a connection busy while one of its requests is open (until its
/// response body, a stream's included, is done with), so only idle connections time out.
#[derive(Clone)]
pub struct ActivityLayer(pub Arc<Connections>);

impl<S> tower::Layer<S> for ActivityLayer {
    type Service = ActivityService<S>;

    fn layer(&self, inner: S) -> ActivityService<S> {
        ActivityService { inner, connections: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct ActivityService<S> {
    inner: S,
    connections: Arc<Connections>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for ActivityService<S>
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let remote = crate::net::client_limit::remote_addr(&request);
        // None for connections that are not guarded (the simulations' in-memory pipes).
        let open = remote.and_then(|r| self.connections.activity.lock().unwrap_or_else(|e| e.into_inner()).get(&r).cloned()).map(OpenRequest::new);
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(match open {
                Some(open) => response.map(|body| tonic::body::Body::new(HeldBody { body, _open: open })),
                None => response,
            })
        })
    }
}

/// A response body that keeps its request open until it is dropped.
struct HeldBody {
    body: tonic::body::Body,
    _open: OpenRequest,
}

impl http_body::Body for HeldBody {
    type Data = <tonic::body::Body as http_body::Body>::Data;
    type Error = <tonic::body::Body as http_body::Body>::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Raises the soft limit on open files to the hard limit (each connection holds one), and
/// logs both: a node left at a distribution's default of 1024 runs out under load.
pub fn raise_open_file_limit() {
    let before = rlimit::Resource::NOFILE.get().map(|(soft, _)| soft);
    match (before, rlimit::increase_nofile_limit(u64::MAX)) {
        (Ok(before), Ok(after)) if after > before => tracing::info!("open file limit {before} → {after}"),
        (Ok(before), Ok(_)) => tracing::info!("open file limit {before} (the hard limit)"),
        (_, Err(e)) | (Err(e), _) => tracing::warn!(error = %e, "open file limit unknown; could not raise it"),
    }
}
