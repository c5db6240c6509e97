//! A TCP proxy for fault-injection tests: put it between two nodes (point a peer entry's URL at
//! [`FaultProxy::url`]) and break the link at runtime.
//!
//! Modes, switchable at any time, applying to open connections as well as new ones:
//! - [`FaultProxy::pass`]: bytes are forwarded both ways.
//! - [`FaultProxy::cut`]: every open connection is dropped, and new ones are accepted and closed
//!   at once (the client sees a reset or EOF, like a node that went away).
//! - [`FaultProxy::blackhole`]: connections are accepted and read, but nothing is forwarded or
//!   answered, like a partition that drops packets: only the caller's own deadlines end its
//!   requests. Bytes swallowed meanwhile are lost, so a connection that lived through a
//!   blackhole is garbled afterwards (as after a real partition the peer must reconnect).
//! - [`FaultProxy::slow`]: each chunk read (up to 16 KiB) is forwarded after a delay.
//!
//! Only tokio's `net`, `sync`, `time` and `rt` features are used: reads and writes go through
//! `readable`/`try_read` and `writable`/`try_write`, so no extra dependency is needed.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

/// What the proxy does with the bytes it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Drop every connection; close new ones at once.
    Cut,
    /// Read and discard; never forward nor answer.
    Blackhole,
    /// Forward each chunk after this delay.
    Slow(Duration),
}

/// Bytes read at once; `Slow` delays each such chunk.
const CHUNK: usize = 16 * 1024;

/// A proxy listening on `127.0.0.1:0`, forwarding to a target address. Stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Where new connections go; `None` closes them (see [`FaultProxy::reserve`]).
    target: Arc<Mutex<Option<SocketAddr>>>,
    /// Open connections, so that `cut` (and drop) can kill them.
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    /// Bytes read and dropped in `Blackhole` mode.
    swallowed: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy to `target`, in `Pass` mode.
    pub async fn start(target: SocketAddr) -> Self {
        Self::listen(Some(target)).await
    }

    /// A proxy without a target yet: a stable address for a node that is not started yet (a
    /// node's port is chosen when it starts, but its peers need a URL in their config first).
    /// Connections are closed at once until [`FaultProxy::set_target`].
    pub async fn reserve() -> Self {
        Self::listen(None).await
    }

    async fn listen(target: Option<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy port 0");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Pass);
        let target = Arc::new(Mutex::new(target));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let swallowed = Arc::new(AtomicU64::new(0));
        let accept = tokio::spawn(accept_loop(listener, mode.subscribe(), target.clone(), connections.clone(), swallowed.clone()));
        Self { addr, mode, target, connections, swallowed, accept }
    }

    /// Sends new connections to `target` (open ones keep theirs).
    pub fn set_target(&self, target: SocketAddr) {
        *self.target.lock().expect("target lock") = Some(target);
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for a peer entry or a client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Bytes read and dropped by the blackhole so far: once it grows, a client is waiting for
    /// an answer that will never come.
    pub fn swallowed(&self) -> u64 {
        self.swallowed.load(Ordering::SeqCst)
    }

    /// Forwards everything again (connections garbled meanwhile stay garbled).
    pub fn pass(&self) {
        self.mode.send_replace(Mode::Pass);
    }

    /// Drops every open connection and closes new ones at once.
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
        self.kill_connections();
    }

    /// Accepts and reads, never forwards nor answers.
    pub fn blackhole(&self) {
        self.mode.send_replace(Mode::Blackhole);
    }

    /// Forwards each chunk read after `delay`.
    pub fn slow(&self, delay: Duration) {
        self.mode.send_replace(Mode::Slow(delay));
    }

    fn kill_connections(&self) {
        for connection in self.connections.lock().expect("connections lock").drain(..) {
            connection.abort();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.kill_connections();
    }
}

async fn accept_loop(
    listener: TcpListener,
    mode: watch::Receiver<Mode>,
    target: Arc<Mutex<Option<SocketAddr>>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    swallowed: Arc<AtomicU64>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        let current = *mode.borrow();
        let target = *target.lock().expect("target lock");
        let Some(target) = target.filter(|_| current != Mode::Cut) else {
            // Cut, or no target yet: close at once.
            drop(client);
            continue;
        };
        let task = tokio::spawn(connection(client, target, mode.clone(), swallowed.clone()));
        let mut open = connections.lock().expect("connections lock");
        open.retain(|c| !c.is_finished());
        open.push(task.abort_handle());
    }
}

/// One proxied connection: a pump each way; when either ends, both sockets are dropped.
async fn connection(client: TcpStream, target: SocketAddr, mode: watch::Receiver<Mode>, swallowed: Arc<AtomicU64>) {
    let Ok(upstream) = TcpStream::connect(target).await else { return };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    tokio::select! {
        _ = pump(client_read, upstream_write, mode.clone(), swallowed.clone()) => {}
        _ = pump(upstream_read, client_write, mode, swallowed) => {}
    }
}

/// Copies `from` to `to` as the mode says, until EOF, an error, or `Cut`.
async fn pump(from: OwnedReadHalf, to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>, swallowed: Arc<AtomicU64>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        tokio::select! {
            ready = from.readable() => if ready.is_err() { return },
            // Also covers a connection accepted just as `cut` killed the others.
            _ = mode.wait_for(|m| *m == Mode::Cut) => return,
        }
        let n = match from.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        };
        let current = *mode.borrow();
        match current {
            Mode::Pass => {}
            Mode::Slow(delay) => tokio::time::sleep(delay).await,
            Mode::Blackhole => {
                swallowed.fetch_add(n as u64, Ordering::SeqCst);
                continue;
            }
            Mode::Cut => return,
        }
        if write_all(&to, &buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Writes all of `data`.
pub async fn write_all(to: &OwnedWriteHalf, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what is available (waiting for at least one byte); an empty result is EOF.
pub async fn read_some(from: &OwnedReadHalf) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        from.readable().await?;
        match from.try_read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// An echo server on port 0.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (r, w) = stream.into_split();
                    while let Ok(bytes) = read_some(&r).await {
                        if bytes.is_empty() || write_all(&w, &bytes).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn connect(proxy: &FaultProxy) -> (OwnedReadHalf, OwnedWriteHalf) {
        TcpStream::connect(proxy.addr()).await.unwrap().into_split()
    }

    /// Sends `msg` and waits up to `wait` for its echo; `None` on timeout.
    async fn round_trip(conn: &(OwnedReadHalf, OwnedWriteHalf), msg: &[u8], wait: Duration) -> Option<io::Result<Vec<u8>>> {
        write_all(&conn.1, msg).await.ok()?;
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while got.len() < msg.len() {
            match tokio::time::timeout_at(deadline, read_some(&conn.0)).await {
                Err(_) => return None,
                Ok(Ok(b)) if b.is_empty() => return Some(Ok(got)),
                Ok(Ok(b)) => got.extend(b),
                Ok(Err(e)) => return Some(Err(e)),
            }
        }
        Some(Ok(got))
    }

    /// True when the connection is closed (EOF or reset) within 5 s.
    async fn closed(conn: &(OwnedReadHalf, OwnedWriteHalf)) -> bool {
        let _ = write_all(&conn.1, b"anyone?").await;
        match tokio::time::timeout(Duration::from_secs(5), read_some(&conn.0)).await {
            Ok(Ok(b)) => b.is_empty(),
            Ok(Err(_)) => true,
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn passes_bytes_through_and_cut_kills_open_and_new_connections() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let open = connect(&proxy).await;
        assert_eq!(round_trip(&open, b"hello", Duration::from_secs(5)).await.unwrap().unwrap(), b"hello");

        proxy.cut();
        assert!(closed(&open).await, "an open connection is dropped by cut");
        let new = connect(&proxy).await;
        assert!(closed(&new).await, "a new connection is closed while cut");

        proxy.pass();
        let again = connect(&proxy).await;
        assert_eq!(round_trip(&again, b"back", Duration::from_secs(5)).await.unwrap().unwrap(), b"back");
    }

    #[tokio::test]
    async fn blackhole_never_answers_and_slow_delays() {
        let proxy = FaultProxy::start(echo_server().await).await;
        proxy.blackhole();
        let conn = connect(&proxy).await;
        assert!(round_trip(&conn, b"ping", Duration::from_millis(500)).await.is_none(), "a blackhole answers nothing");
        assert_eq!(proxy.swallowed(), 4);

        proxy.slow(Duration::from_millis(200));
        let slow = connect(&proxy).await;
        let started = Instant::now();
        assert_eq!(round_trip(&slow, b"slow", Duration::from_secs(5)).await.unwrap().unwrap(), b"slow");
        // One chunk each way, each delayed.
        assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_reserved_proxy_closes_connections_until_it_has_a_target() {
        let proxy = FaultProxy::reserve().await;
        assert!(closed(&connect(&proxy).await).await);
        proxy.set_target(echo_server().await);
        let conn = connect(&proxy).await;
        assert_eq!(round_trip(&conn, b"late", Duration::from_secs(5)).await.unwrap().unwrap(), b"late");
    }
}
