//! Thin tonic handlers for the `Log` service.

use std::collections::HashMap;
use std::pin::Pin;

use comity_proto::log::{entry_leaf_hash, prove_consistency, prove_inclusion, LogVerifier};
use comity_proto::pb::{self, get_inclusion_proof_request::Entry, log_server};
use comity_proto::statement::StatementId;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::Error;
use crate::store::Store;

/// Most entries one `GetEntries` call may ask for.
pub const MAX_ENTRIES_PER_CALL: u64 = 10_000;
/// Most entries in one streamed message.
const ENTRIES_PER_MESSAGE: usize = 256;
/// Most envelope bytes in one streamed message (well under the message-size limit).
const BYTES_PER_MESSAGE: usize = 1024 * 1024;

/// The gRPC `comity.v1.Log` service: the node's own log and, as a relay, the peers' logs it
/// mirrors.
pub struct LogService {
    store: Store,
    own: LogVerifier,
    mirrored: HashMap<String, LogVerifier>,
}

impl LogService {
    /// Serves the node's own log (signed with `own`'s key) and the mirrored logs of `mirrored`.
    pub fn new(store: Store, own: LogVerifier, mirrored: Vec<LogVerifier>) -> Self {
        let mirrored = mirrored.into_iter().map(|v| (v.name().to_string(), v)).collect();
        Self { store, own, mirrored }
    }

    /// The log a request names: empty is the node's own.
    fn key_of(&self, origin: &str) -> Result<&LogVerifier, Status> {
        crate::input::bounded("origin", origin, crate::input::MAX_ID_BYTES)?;
        if origin.is_empty() || origin == self.own.name() {
            return Ok(&self.own);
        }
        self.mirrored.get(origin).ok_or_else(|| Error::NotFound(format!("this node neither runs nor mirrors log `{}`", crate::input::shown(origin))).into())
    }

    /// The latest committed checkpoint of a log, verified.
    fn latest(&self, key: &LogVerifier) -> Result<comity_proto::log::SignedCheckpoint, Status> {
        let note = self
            .store
            .log(key.name())
            .checkpoint()
            .map_err(Error::from)?
            .ok_or_else(|| Error::Unavailable(format!("no checkpoint of {} here yet", key.name())))?;
        key.verify_checkpoint(&note).map_err(|e| Error::damaged("stored checkpoint does not verify", format_args!("{}: {e}", key.name())).into())
    }

    /// `requested` or, when 0, the latest size; refuses sizes beyond the latest checkpoint.
    fn tree_size(&self, requested: u64, latest: u64, field: &str) -> Result<u64, Status> {
        match requested {
            0 => Ok(latest),
            n if n > latest => Err(Error::OutOfRange(format!("{field}: {n} is beyond the log size {latest}")).into()),
            n => Ok(n),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Status {
    Error::damaged("stored log is incomplete", e).into()
}

type EntryStream = Pin<Box<dyn Stream<Item = Result<pb::GetEntriesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl log_server::Log for LogService {
    #[instrument(skip_all)]
    async fn get_checkpoint(&self, request: Request<pb::GetCheckpointRequest>) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        let key = self.key_of(&request.get_ref().origin)?;
        let cp = self.latest(key)?;
        let cosigned = self.store.log(key.name()).cosigned().map_err(Error::from)?.unwrap_or_default();
        let frozen = self.store.log(key.name()).frozen().map_err(Error::from)?.unwrap_or_default();
        Ok(Response::new(pb::GetCheckpointResponse {
            frozen,
            cosigned_checkpoint: cosigned,
            checkpoint: cp.note,
            origin: cp.origin,
            size: cp.size,
            root: cp.root.to_vec(),
            time: cp.time,
            verifier_key: key.to_string(),
        }))
    }

    type GetEntriesStream = EntryStream;

    #[instrument(skip_all, fields(start = request.get_ref().start, end = request.get_ref().end))]
    async fn get_entries(&self, request: Request<pb::GetEntriesRequest>) -> Result<Response<EntryStream>, Status> {
        let pb::GetEntriesRequest { start, end, origin } = request.into_inner();
        let key = self.key_of(&origin)?;
        let size = self.latest(key)?.size;
        if start >= end {
            return Err(Error::InvalidArgument(format!("start {start} must be less than end {end}")).into());
        }
        if end > size {
            return Err(Error::OutOfRange(format!("end {end} is beyond the log size {size}")).into());
        }
        if end - start > MAX_ENTRIES_PER_CALL {
            return Err(Error::InvalidArgument(format!("at most {MAX_ENTRIES_PER_CALL} entries per call, asked for {}", end - start)).into());
        }
        let (tx, rx) = mpsc::channel(4);
        let store = self.store.clone();
        let origin = key.name().to_string();
        // Reads run off the async threads; the bounded channel makes a slow reader slow the
        // reading down instead of buffering the whole range.
        tokio::task::spawn_blocking(move || {
            let mut message = pb::GetEntriesResponse::default();
            let mut bytes = 0;
            for index in start..end {
                let entry = read_entry(&store, &origin, index);
                let entry = match entry {
                    Ok(e) => e,
                    Err(status) => {
                        let _ = tx.blocking_send(Err(status));
                        return;
                    }
                };
                bytes += entry.envelope.len();
                message.entries.push(entry);
                if message.entries.len() >= ENTRIES_PER_MESSAGE || bytes >= BYTES_PER_MESSAGE {
                    if tx.blocking_send(Ok(std::mem::take(&mut message))).is_err() {
                        return;
                    }
                    bytes = 0;
                }
            }
            if !message.entries.is_empty() {
                let _ = tx.blocking_send(Ok(message));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    #[instrument(skip_all)]
    async fn get_inclusion_proof(&self, request: Request<pb::GetInclusionProofRequest>) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        let r = request.into_inner();
        let key = self.key_of(&r.origin)?;
        let latest = self.latest(key)?.size;
        let tree_size = self.tree_size(r.tree_size, latest, "tree_size")?;
        let index = match r.entry {
            Some(Entry::Index(i)) => i,
            Some(Entry::StatementId(_)) if key.name() != self.own.name() => {
                return Err(Error::InvalidArgument("a mirrored log's entries are proven by index, not by statement id".into()).into())
            }
            Some(Entry::StatementId(raw)) => {
                let id = StatementId::from_slice(&raw).ok_or_else(|| Error::InvalidArgument(format!("statement_id: must be 32 bytes, got {}", raw.len())))?;
                self.store.log_index_of(&id).map_err(Error::from)?.ok_or_else(|| Error::NotFound(format!("statement {id} is not in this log")))?
            }
            None => return Err(Error::InvalidArgument("give statement_id or index".into()).into()),
        };
        if index >= tree_size {
            return Err(Error::OutOfRange(format!("index {index} is not in a tree of size {tree_size}")).into());
        }
        let entry = read_entry(&self.store, key.name(), index)?;
        let hashes = prove_inclusion(tree_size, index, &self.store.log(key.name())).map_err(internal)?;
        Ok(Response::new(pb::GetInclusionProofResponse {
            index,
            tree_size,
            leaf_hash: entry_leaf_hash(entry.logged_at, &entry.envelope).to_vec(),
            logged_at: entry.logged_at,
            hashes: hashes.into_iter().map(|h| h.to_vec()).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn get_consistency_proof(&self, request: Request<pb::GetConsistencyProofRequest>) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        let r = request.into_inner();
        let key = self.key_of(&r.origin)?;
        let latest = self.latest(key)?.size;
        let new_size = self.tree_size(r.new_size, latest, "new_size")?;
        if r.old_size > new_size {
            return Err(Error::InvalidArgument(format!("old_size {} is larger than new_size {new_size}", r.old_size)).into());
        }
        let hashes = if r.old_size == 0 || r.old_size == new_size {
            Vec::new()
        } else {
            prove_consistency(r.old_size, new_size, &self.store.log(key.name())).map_err(internal)?
        };
        Ok(Response::new(pb::GetConsistencyProofResponse { old_size: r.old_size, new_size, hashes: hashes.into_iter().map(|h| h.to_vec()).collect() }))
    }
}

fn read_entry(store: &Store, origin: &str, index: u64) -> Result<pb::LogEntry, Status> {
    let id = store.log(origin).entry(index).map_err(Error::from)?.ok_or_else(|| internal(format!("log entry {index} missing")))?;
    let envelope = store.statement(&id).map_err(Error::from)?.ok_or_else(|| internal(format!("statement {id} of log entry {index} missing")))?;
    let logged_at = store.log(origin).entered_at(index).map_err(Error::from)?.ok_or_else(|| internal(format!("log time of entry {index} missing")))?;
    Ok(pb::LogEntry { index, envelope, logged_at })
}
