//! An in-process network, for simulating consortia larger than the machine's file limit allows
//! over TCP (a 100-member mesh needs ~20,000 sockets): nodes started after [`enable`] also serve
//! gRPC inside the process, and a peer URL whose host ends in `.memnet` is dialled through an
//! in-memory pipe instead of a socket. Everything above the transport — HTTP/2, the services,
//! mirrors, witnesses — is the real code.
//!
//! A `.memnet` host is a name ([`host`]) pointed at a node's gRPC address ([`point`]), and can be
//! cut ([`cut`]): new connections are refused and open ones fail, as with a pulled cable.
//! Nothing in the `comity-node` binary enables it.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;

/// Bytes buffered in each direction of a pipe.
const PIPE_BUFFER: usize = 256 * 1024;

#[derive(Default)]
struct Net {
    /// Nodes serving in memory, by their gRPC address.
    servers: HashMap<SocketAddr, mpsc::UnboundedSender<DuplexStream>>,
    /// Names, each pointed at a server address (or not yet), with its cut switch.
    hosts: HashMap<String, Host>,
}

struct Host {
    target: Option<SocketAddr>,
    cut: Arc<AtomicBool>,
}

static NET: OnceLock<Mutex<Net>> = OnceLock::new();

fn net() -> std::sync::MutexGuard<'static, Net> {
    NET.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Nodes started from now on also serve in memory at their gRPC address.
pub fn enable() {
    NET.get_or_init(Default::default);
}

/// A new host name for a node-to-be: peers dial `http://NAME` once it is [`point`]ed.
pub fn host(label: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("{label}-{}.memnet", NEXT.fetch_add(1, Ordering::Relaxed));
    net().hosts.insert(name.clone(), Host { target: None, cut: Arc::new(AtomicBool::new(false)) });
    name
}

/// Connections to `host` go to the node serving at `target`.
pub fn point(host: &str, target: SocketAddr) {
    if let Some(h) = net().hosts.get_mut(host) {
        h.target = Some(target);
    }
}

/// Cuts `host`: new connections are refused, open ones fail on their next read or write.
pub fn cut(host: &str) {
    if let Some(h) = net().hosts.get(host) {
        h.cut.store(true, Ordering::SeqCst);
    }
}

/// True when `url` names a memnet host.
pub fn is_memnet(url: &str) -> bool {
    url.split("://").nth(1).and_then(|rest| rest.split(['/', ':']).next()).is_some_and(|h| h.ends_with(".memnet"))
}

/// The in-memory connections to a node serving at `addr`, when the network is enabled.
pub(crate) fn serve(addr: SocketAddr) -> Option<tokio_stream::wrappers::UnboundedReceiverStream<io::Result<DuplexStream>>> {
    NET.get()?;
    let (tx, rx) = mpsc::unbounded_channel::<DuplexStream>();
    net().servers.insert(addr, tx);
    let (ok_tx, ok_rx) = mpsc::unbounded_channel();
    // Adapts the stream to the `Result` items tonic's server takes.
    tokio::spawn(async move {
        let mut rx = rx;
        while let Some(pipe) = rx.recv().await {
            if ok_tx.send(Ok(pipe)).is_err() {
                break;
            }
        }
    });
    Some(tokio_stream::wrappers::UnboundedReceiverStream::new(ok_rx))
}

/// Opens a pipe to the node behind memnet host `host`.
fn connect(host: &str) -> io::Result<Pipe> {
    let refused = |why: &str| io::Error::new(io::ErrorKind::ConnectionRefused, format!("memnet host {host}: {why}"));
    let mut net = net();
    let h = net.hosts.get(host).ok_or_else(|| refused("no such host"))?;
    let cut = h.cut.clone();
    if cut.load(Ordering::SeqCst) {
        return Err(refused("link cut"));
    }
    let target = h.target.ok_or_else(|| refused("not pointed at a node yet"))?;
    let (near, far) = tokio::io::duplex(PIPE_BUFFER);
    let server = net.servers.get(&target).ok_or_else(|| refused("no node serves there"))?;
    if server.send(far).is_err() {
        net.servers.remove(&target);
        return Err(refused("the node has stopped"));
    }
    Ok(Pipe { inner: near, cut })
}

/// A tower connector for tonic's `Endpoint::connect_with_connector_lazy`.
pub fn connector() -> impl tower::Service<
    tonic::codegen::http::Uri,
    Response = hyper_util::rt::TokioIo<Pipe>,
    Error = io::Error,
    Future = std::future::Ready<io::Result<hyper_util::rt::TokioIo<Pipe>>>,
> + Clone
       + Send
       + 'static {
    tower::service_fn(|uri: tonic::codegen::http::Uri| std::future::ready(connect(uri.host().unwrap_or_default()).map(hyper_util::rt::TokioIo::new)))
}

/// One end of an in-memory connection, failing once its host is cut.
pub struct Pipe {
    inner: DuplexStream,
    cut: Arc<AtomicBool>,
}

impl Pipe {
    fn check(&self) -> io::Result<()> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "memnet link cut"));
        }
        Ok(())
    }
}

impl AsyncRead for Pipe {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memnet_urls_are_told_apart_from_socket_urls() {
        assert!(is_memnet("http://m3-7.memnet"));
        assert!(is_memnet("http://m3-7.memnet:7700/"));
        assert!(!is_memnet("http://127.0.0.1:7700"));
        assert!(!is_memnet("https://registry.bafa.example"));
    }

    #[test]
    fn a_cut_or_unpointed_host_refuses_connections() {
        let h = host("t");
        assert_eq!(connect(&h).err().unwrap().kind(), io::ErrorKind::ConnectionRefused);
        point(&h, "127.0.0.1:1".parse().unwrap());
        let e = connect(&h).err().unwrap();
        assert!(e.to_string().contains("no node serves there"), "{e}");
        cut(&h);
        assert!(connect(&h).err().unwrap().to_string().contains("link cut"));
    }
}
