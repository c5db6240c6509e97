//! A read-only HTTP view of the node's log as C2SP tlog-tiles (c2sp.org/tlog-tiles), so stock
//! transparency tooling can fetch the checkpoint, the Merkle tree and the entries with no Comity
//! code.
//!
//! - `GET /checkpoint`: the latest signed checkpoint note.
//! - `GET /tile/<L>/<N>[.p/<W>]`: hash tiles of height 8.
//! - `GET /tile/entries/<N>[.p/<W>]`: entry bundles, each entry a big-endian `u16` length then
//!   the log entry: its log time (i64 big-endian Unix seconds) and the envelope bytes; its leaf
//!   hash is SHA-256(0x00 ‖ entry) as the spec says.
//!
//! Only tiles inside the committed log are served. Sizes and hashes are committed together, so
//! reading the size first and then the data never sees a half-written tile.

use axum::body::Body;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use comity_proto::log::{stored_hash_index, StoredHashes as _};

use crate::store::{LogRef, Store};

/// Tile height fixed by the spec: a full tile holds 2^8 hashes or entries.
const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile, entries in a full bundle.
const TILE_WIDTH: u16 = 1 << TILE_HEIGHT;
/// Highest level a path may name (spec: 0 to 63).
const MAX_LEVEL: u8 = 63;
/// Longest request path accepted; a valid one is under 60 bytes.
const MAX_PATH_BYTES: usize = 256;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_STORE: &str = "no-store";

/// What the handlers read: the store and which of its logs to serve.
#[derive(Clone)]
struct Served {
    store: Store,
    origin: std::sync::Arc<str>,
}

/// The tiles router over log `origin` in `store`.
pub fn router(store: Store, origin: &str) -> Router {
    Router::new().route("/checkpoint", get(checkpoint)).route("/tile/{*rest}", get(tile)).with_state(Served { store, origin: origin.into() })
}

/// Serves `router(store, origin)`, and `also` next to it (the web pages), on `listener` until
/// `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    origin: String,
    also: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(store, &origin).merge(also);
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(shutdown).await
}

/// Which resource a `/tile/...` path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TileId {
    /// `None` for an entry bundle, else the hash tile level.
    level: Option<u8>,
    /// Index of the tile within its level.
    index: u64,
    /// Hashes or entries in the tile; `TILE_WIDTH` for a full tile.
    width: u16,
}

impl TileId {
    fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// True when a tree of `size` entries holds every hash or entry of this tile. A partial tile
    /// narrower than the current one is a prefix of it and is served too: the spec requires
    /// partial tiles of every checkpointed size while the full tile is not yet available.
    fn is_within(&self, size: u64) -> bool {
        // Number of hashes at this tile's tree level: size / 256^level.
        let shift = u32::from(self.level.unwrap_or(0)) * TILE_HEIGHT;
        let available = size.checked_shr(shift).unwrap_or(0);
        let end = u128::from(self.index) * u128::from(TILE_WIDTH) + u128::from(self.width);
        end <= u128::from(available)
    }

    /// Position of the tile's first hash or entry at its level. Only called on tiles within the
    /// log, so it cannot overflow.
    fn first(&self) -> u64 {
        self.index * u64::from(TILE_WIDTH)
    }
}

/// Parses the part of a path after `/tile/`, accepting only the canonical encoding so that each
/// tile has exactly one URL (immutable responses are cached by URL).
fn parse_tile_path(path: &str) -> Result<TileId, &'static str> {
    let (head, rest) = path.split_once('/').ok_or("expected tile/<L>/<N> or tile/entries/<N>")?;
    let level = match head {
        "entries" => None,
        l => {
            let level = parse_decimal(l).ok_or("level must be a decimal number without leading zeros")?;
            Some(u8::try_from(level).ok().filter(|l| *l <= MAX_LEVEL).ok_or("level must be between 0 and 63")?)
        }
    };
    let (index_part, width) = match rest.split_once(".p/") {
        None => (rest, TILE_WIDTH),
        Some((index_part, w)) => {
            let w = parse_decimal(w).ok_or("width must be a decimal number without leading zeros")?;
            let w = u16::try_from(w).ok().filter(|w| (1..TILE_WIDTH).contains(w)).ok_or("partial width must be between 1 and 255")?;
            (index_part, w)
        }
    };
    let index = parse_index(index_part).ok_or("tile index must be 3-digit groups like x001/x234/067")?;
    Ok(TileId { level, index, width })
}

/// A decimal number with no sign and no leading zeros.
fn parse_decimal(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let canonical = text == "0" || !text.starts_with('0');
    if digits && canonical {
        text.parse().ok()
    } else {
        None
    }
}

/// A tile index as `xNNN/.../NNN`, in its canonical form (no leading `x000` group).
fn parse_index(text: &str) -> Option<u64> {
    let groups: Vec<&str> = text.split('/').collect();
    let (last, leading) = groups.split_last()?;
    let mut index: u64 = 0;
    for group in leading.iter().map(|g| g.strip_prefix('x')).chain([Some(*last)]) {
        let group = group.filter(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))?;
        let value: u64 = group.parse().ok()?;
        index = index.checked_mul(1000)?.checked_add(value)?;
    }
    (encode_index(index) == text).then_some(index)
}

/// The canonical path encoding of a tile index: 1234067 → `x001/x234/067`.
fn encode_index(mut index: u64) -> String {
    let mut text = format!("{:03}", index % 1000);
    while index >= 1000 {
        index /= 1000;
        text = format!("x{:03}/{text}", index % 1000);
    }
    text
}

/// Why a request could not be answered.
enum Failure {
    BadRequest(&'static str),
    NotFound(&'static str),
    /// A storage fault; the detail is logged, never sent.
    Internal(String),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Failure::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Failure::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Failure::Internal(detail) => {
                tracing::error!(error = %detail, "tiles: cannot read the log");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error reading the log")
            }
        };
        // A missing tile may exist later: never let a cache keep the refusal.
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, NO_STORE)], message).into_response()
    }
}

/// Runs a blocking sled read off the async threads.
async fn blocking<T: Send + 'static>(read: impl FnOnce() -> Result<T, Failure> + Send + 'static) -> Result<T, Failure> {
    tokio::task::spawn_blocking(read).await.map_err(|e| Failure::Internal(format!("read task failed: {e}")))?
}

async fn checkpoint(axum::extract::State(served): axum::extract::State<Served>) -> Result<Response, Failure> {
    let note = blocking(move || served.store.log(&served.origin).checkpoint().map_err(|e| Failure::Internal(e.to_string()))).await?;
    let note = note.ok_or(Failure::NotFound("the log has no checkpoint yet"))?;
    // The checkpoint changes with every append.
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, NO_STORE)], note).into_response())
}

async fn tile(axum::extract::State(served): axum::extract::State<Served>, uri: Uri) -> Result<Response, Failure> {
    // The raw path, not the percent-decoded route parameter: `%30` must not alias `0`.
    let path = uri.path();
    if path.len() > MAX_PATH_BYTES {
        return Err(Failure::BadRequest("path too long"));
    }
    let rest = path.strip_prefix("/tile/").ok_or(Failure::BadRequest("expected a /tile/ path"))?;
    let id = parse_tile_path(rest).map_err(Failure::BadRequest)?;
    let data = blocking(move || read_tile(&served.store, served.store.log(&served.origin), id)).await?;
    let cache = if id.is_full() { IMMUTABLE } else { NO_STORE };
    Ok(([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, cache)], Body::from(data)).into_response())
}

/// The bytes of tile `id`, if the committed log holds all of it.
fn read_tile(store: &Store, log: LogRef<'_>, id: TileId) -> Result<Vec<u8>, Failure> {
    let size = log.size().map_err(|e| Failure::Internal(e.to_string()))?;
    if !id.is_within(size) {
        return Err(Failure::NotFound("tile is not in the log yet"));
    }
    match id.level {
        Some(level) => read_hashes(log, level, id),
        None => read_entries(store, log, id),
    }
}

/// A hash tile: `width` consecutive stored hashes at tree level `8 * level`.
fn read_hashes(log: LogRef<'_>, level: u8, id: TileId) -> Result<Vec<u8>, Failure> {
    // `is_within` passed, so the level is at most 7 and the tree level at most 56.
    let tree_level = u8::try_from(u32::from(level) * TILE_HEIGHT).map_err(|_| Failure::Internal(format!("tile level {level} out of range")))?;
    let indexes: Vec<u64> = (0..u64::from(id.width)).map(|i| stored_hash_index(tree_level, id.first() + i)).collect();
    let hashes = log.read(&indexes).map_err(|e| Failure::Internal(e.to_string()))?;
    if hashes.len() != indexes.len() {
        return Err(Failure::Internal(format!("asked for {} stored hashes, got {}", indexes.len(), hashes.len())));
    }
    Ok(hashes.concat())
}

/// An entry bundle: each log entry (its log time then its envelope,
/// `comity_proto::log::entry_bytes`) as a big-endian `u16` length then its bytes.
fn read_entries(store: &Store, log: LogRef<'_>, id: TileId) -> Result<Vec<u8>, Failure> {
    let mut bundle = Vec::new();
    for index in id.first()..id.first() + u64::from(id.width) {
        let entry_id =
            log.entry(index).map_err(|e| Failure::Internal(e.to_string()))?.ok_or_else(|| Failure::Internal(format!("log entry {index} missing")))?;
        let envelope = store
            .statement(&entry_id)
            .map_err(|e| Failure::Internal(e.to_string()))?
            .ok_or_else(|| Failure::Internal(format!("statement {entry_id} of log entry {index} missing")))?;
        let logged_at = log
            .entered_at(index)
            .map_err(|e| Failure::Internal(e.to_string()))?
            .ok_or_else(|| Failure::Internal(format!("log time of entry {index} missing")))?;
        let entry = comity_proto::log::entry_bytes(logged_at, &envelope);
        let len =
            u16::try_from(entry.len()).map_err(|_| Failure::Internal(format!("log entry {index} is {} bytes, too long for an entry bundle", entry.len())))?;
        bundle.extend_from_slice(&len.to_be_bytes());
        bundle.extend_from_slice(&entry);
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::http::Request;
    use comity_proto::log::{hashes_to_store, leaf_hash, tree_root, LogKey, StoredHashes, TreeHash};
    use comity_proto::statement::StatementId;
    use sha2::{Digest, Sha256};
    use tlog_tiles::{Hash, HashReader, Tile, TileHashReader, TileReader};
    use tower::ServiceExt as _;

    use super::*;
    use crate::store::WriteBatch;

    const ORIGIN: &str = "test.example/log";

    /// Stored hashes staged in the batch being built, over those already committed.
    struct Overlay<'a> {
        store: &'a Store,
        staged: HashMap<u64, TreeHash>,
    }

    impl StoredHashes for Overlay<'_> {
        fn read(&self, indexes: &[u64]) -> Result<Vec<TreeHash>, comity_proto::log::HashReadError> {
            indexes
                .iter()
                .map(|i| match self.staged.get(i) {
                    Some(h) => Ok(*h),
                    None => self.store.log(ORIGIN).read(&[*i]).map(|v| v[0]),
                })
                .collect()
        }
    }

    /// Entry `i`: pseudo-random bytes of varying length (the tiles layer does not parse them).
    fn envelope(i: u64) -> Vec<u8> {
        let len = 1 + (i * 97 % 700) as usize;
        let mut out = Vec::with_capacity(len + 32);
        let mut block = Sha256::digest(i.to_be_bytes());
        while out.len() < len {
            out.extend_from_slice(&block);
            block = Sha256::digest(block);
        }
        out.truncate(len);
        out
    }

    /// Entry `i`'s log time.
    fn logged_at(i: u64) -> i64 {
        1_700_000_000 + i as i64
    }

    /// Log entry `i` as the tiles serve it: its log time, then its envelope.
    fn entry(i: u64) -> Vec<u8> {
        comity_proto::log::entry_bytes(logged_at(i), &envelope(i))
    }

    /// Appends entries `from..to` the way the node does and commits them with a signed checkpoint.
    fn append(store: &Store, from: u64, to: u64) -> String {
        let mut overlay = Overlay { store, staged: HashMap::new() };
        let mut batch = WriteBatch::default();
        for i in from..to {
            let env = envelope(i);
            let id = StatementId(Sha256::digest(&env).into());
            let hashes = hashes_to_store(i, &leaf_hash(&entry(i)), &overlay).unwrap();
            overlay.staged.extend(hashes.iter().copied());
            batch.put_statement(&id, &env, Some(i));
            batch.append_log(ORIGIN, i, &id, logged_at(i), &hashes);
        }
        let root = tree_root(to, &overlay).unwrap();
        let note = LogKey::from_seed(ORIGIN, &[1; 32]).unwrap().sign_checkpoint(to, &root, &[0; 32], 1_800_000_000).unwrap();
        batch.put_checkpoint(ORIGIN, to, &note);
        store.commit(batch).unwrap();
        note
    }

    fn log_of(n: u64) -> (tempfile::TempDir, Store, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let note = append(&store, 0, n);
        (dir, store, note)
    }

    /// Status, Cache-Control and body of `GET path`.
    async fn get(store: &Store, path: &str) -> (StatusCode, String, Vec<u8>) {
        let response = router(store.clone(), ORIGIN).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let cache = response.headers().get(header::CACHE_CONTROL).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap().to_vec();
        (status, cache, body)
    }

    /// Splits an entry bundle into its entries.
    fn unbundle(mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut entries = Vec::new();
        while !bytes.is_empty() {
            let len = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
            entries.push(bytes[2..2 + len].to_vec());
            bytes = &bytes[2 + len..];
        }
        entries
    }

    /// Tiles fetched over HTTP, served to `tlog_tiles` as a stock client would read them.
    struct FetchedTiles(HashMap<Tile, Vec<u8>>);

    impl TileReader for FetchedTiles {
        fn height(&self) -> u8 {
            TILE_HEIGHT as u8
        }
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
            tiles.iter().map(|t| self.0.get(t).cloned().ok_or(tlog_tiles::Error::InvalidTile)).collect()
        }
        fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
    }

    /// The C2SP URL of a `tlog_tiles` tile (whose own paths carry the height: `tile/8/L/N`).
    fn c2sp_path(tile: &Tile) -> String {
        format!("/tile/{}", tile.path().strip_prefix("tile/8/").unwrap())
    }

    #[tokio::test]
    async fn checkpoint_is_the_latest_note_and_never_cached() {
        let (_dir, store, note) = log_of(300);
        let response = router(store.clone(), ORIGIN).oneshot(Request::get("/checkpoint").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        let (status, cache, body) = get(&store, "/checkpoint").await;
        assert_eq!((status, cache.as_str()), (StatusCode::OK, NO_STORE));
        assert_eq!(String::from_utf8(body).unwrap(), note);
    }

    #[tokio::test]
    async fn a_stock_client_verifies_the_root_and_entries_from_tiles_alone() {
        let n = 300;
        let (_dir, store, note) = log_of(n);
        let checkpoint = LogKey::from_seed(ORIGIN, &[1; 32]).unwrap().verifier().verify_checkpoint(&note).unwrap();
        assert_eq!(checkpoint.size, n);

        // Exactly the tiles the spec lists for this size: full 0/000, partial 0/001.p/44, partial 1/000.p/1.
        let needed = Tile::new_tiles(TILE_HEIGHT as u8, 0, n);
        let paths: Vec<String> = needed.iter().map(c2sp_path).collect();
        assert_eq!(paths, ["/tile/0/000", "/tile/0/001.p/44", "/tile/1/000.p/1"]);
        let mut fetched = HashMap::new();
        for tile in &needed {
            let (status, cache, body) = get(&store, &c2sp_path(tile)).await;
            assert_eq!(status, StatusCode::OK, "{}", c2sp_path(tile));
            assert_eq!(cache, if tile.width() == 256 { IMMUTABLE } else { NO_STORE });
            assert_eq!(body.len(), tile.width() as usize * 32);
            fetched.insert(*tile, body);
        }

        // TileHashReader authenticates every tile against the signed root before answering.
        let tiles = FetchedTiles(fetched);
        let reader = TileHashReader::new(n, Hash(checkpoint.root), &tiles);
        assert_eq!(tlog_tiles::tree_hash(n, &reader).unwrap().0, checkpoint.root);
        let leaves = reader.read_hashes(&(0..n).map(|i| stored_hash_index(0, i)).collect::<Vec<_>>()).unwrap();

        // The entry bundles hash to those authenticated leaves.
        let (_, _, full) = get(&store, "/tile/entries/000").await;
        let (_, _, partial) = get(&store, "/tile/entries/001.p/44").await;
        let entries: Vec<Vec<u8>> = unbundle(&full).into_iter().chain(unbundle(&partial)).collect();
        assert_eq!(entries.len() as u64, n);
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(entry, &self::entry(i as u64));
            assert_eq!(leaf_hash(entry), leaves[i].0, "leaf {i}");
        }
    }

    #[tokio::test]
    async fn entry_bundles_hold_length_prefixed_envelopes() {
        let (_dir, store, _) = log_of(300);
        let (status, cache, body) = get(&store, "/tile/entries/000").await;
        assert_eq!((status, cache.as_str()), (StatusCode::OK, IMMUTABLE));
        let entries = unbundle(&body);
        assert_eq!(entries.len(), 256);
        assert!(entries.iter().enumerate().all(|(i, e)| *e == entry(i as u64)));

        let (status, cache, body) = get(&store, "/tile/entries/001.p/44").await;
        assert_eq!((status, cache.as_str()), (StatusCode::OK, NO_STORE));
        let entries = unbundle(&body);
        assert_eq!(entries.len(), 44);
        assert!(entries.iter().enumerate().all(|(i, e)| *e == entry(256 + i as u64)));
    }

    #[tokio::test]
    async fn tiles_outside_the_log_are_not_found() {
        let (_dir, store, _) = log_of(300);
        for path in [
            "/tile/entries/001.p/45", // wider than the log
            "/tile/entries/001",      // full tile not complete yet
            "/tile/entries/002",
            "/tile/0/001.p/45",
            "/tile/0/001",
            "/tile/0/002",
            "/tile/1/000", // level 1 has one hash
            "/tile/1/000.p/2",
            "/tile/2/000.p/1", // level 2 is empty
            "/tile/63/x018/x446/x744/x073/x709/x551/615",
        ] {
            let (status, cache, _) = get(&store, path).await;
            assert_eq!((status, cache.as_str()), (StatusCode::NOT_FOUND, NO_STORE), "{path}");
        }
    }

    #[tokio::test]
    async fn narrower_partial_tiles_of_earlier_sizes_are_still_served() {
        let (_dir, store, _) = log_of(300);
        // A client holding the checkpoint of size 299 asks for these.
        let (status, _, body) = get(&store, "/tile/entries/001.p/43").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(unbundle(&body).len(), 43);
        let (status, _, narrow) = get(&store, "/tile/0/001.p/43").await;
        let (_, _, wide) = get(&store, "/tile/0/001.p/44").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(narrow, wide[..43 * 32]);
    }

    #[tokio::test]
    async fn malformed_paths_are_bad_requests() {
        let (_dir, store, _) = log_of(3);
        let long = format!("/tile/0/{}000", "x000/".repeat(60));
        for path in [
            "/tile/entries/x",
            "/tile/entries/",
            "/tile/entries",
            "/tile/0/0",
            "/tile/0/0000",
            "/tile/0/x000/000", // not canonical: leading zero group
            "/tile/0/x1/000",
            "/tile/00/000", // leading zero in level
            "/tile/+0/000",
            "/tile/64/000",    // level out of range
            "/tile/0/000.p/0", // empty tile
            "/tile/0/000.p/256",
            "/tile/0/000.p/044",
            "/tile/0/000.p/+3",
            "/tile/0/000.p/",
            "/tile/0/%30%30%30", // percent-encoding does not alias a tile
            "/tile/data/000",
            long.as_str(),
        ] {
            let (status, _, body) = get(&store, path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {}", String::from_utf8_lossy(&body));
        }
        assert_eq!(get(&store, "/tile/0/000.p/3").await.0, StatusCode::OK);
    }

    #[test]
    fn index_encoding_matches_the_spec_example() {
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(parse_index("x001/x234/067"), Some(1_234_067));
        assert_eq!(parse_index(&encode_index(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_index("x018/x446/x744/x073/x709/x551/616"), None, "overflow");
    }

    #[tokio::test]
    async fn appended_entries_complete_the_tile() {
        let (_dir, store, _) = log_of(300);
        assert_eq!(get(&store, "/tile/entries/001").await.0, StatusCode::NOT_FOUND);
        append(&store, 300, 512);
        let (status, cache, body) = get(&store, "/tile/entries/001").await;
        assert_eq!((status, cache.as_str()), (StatusCode::OK, IMMUTABLE));
        assert_eq!(unbundle(&body).len(), 256);
        assert_eq!(get(&store, "/tile/1/000.p/2").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn serve_answers_over_tcp_and_stops_on_shutdown() {
        let (_dir, store, note) = log_of(5);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, store, ORIGIN.to_string(), Router::new(), async {
            let _ = stopped.await;
        }));
        let reply = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut conn = std::net::TcpStream::connect(addr).unwrap();
            conn.write_all(b"GET /checkpoint HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
            let mut reply = String::new();
            conn.read_to_string(&mut reply).unwrap();
            reply
        })
        .await
        .unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.ends_with(&note), "{reply}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
