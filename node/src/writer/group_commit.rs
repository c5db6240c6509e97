//! The writer thread: takes every piece of work waiting in its queue, stages the publishes in
//! order against the stored licences plus the earlier ones of the same batch, signs one
//! checkpoint over the new log, commits everything in one atomic batch with one flush, and only
//! then answers them all (group commit: many publishes share one fsync). Mirrored parts,
//! evidence, cosignatures, bodies and backups are handled between batches.

use std::collections::HashMap;
use std::sync::Arc;

use comity_proto::log::{prove_inclusion, tree_root, SignedCheckpoint, TreeHash};
use comity_proto::pb;
use comity_proto::witness::WitnessVerifier;
use tokio::sync::mpsc;

use super::bodies::store_bodies;
use super::cosign::add_cosignatures;
use super::mirrored::{ingest_mirror, record_split_view};
use super::stage::{stage, BatchState, Staged, StagedCatalogue};
use super::{Announce, CommittedCheckpoint, Job, Published, Work};
use crate::chain::stored_corrupt;
use crate::clock::Clock;
use crate::error::{write_refused, Error};
use crate::log::{NodeLog, Overlay};
use crate::store::{Store, WriteBatch};
use crate::trust::Trust;

#[allow(clippy::too_many_arguments)]
pub(super) fn writer_loop(
    store: Store,
    mut rx: mpsc::Receiver<Work>,
    max_batch: usize,
    mut log: NodeLog,
    announce: Announce,
    witnesses: Vec<WitnessVerifier>,
    trust: Arc<Trust>,
    clock: Clock,
) {
    // No subscribers is fine: the send result is ignored.
    let publish = |origin: &str, note: &str| {
        let _ = announce.checkpoints.send(CommittedCheckpoint { origin: origin.to_string(), note: note.into() });
    };
    let origin = log.origin().to_string();
    let mut map_cache = crate::store::MapCache::default();
    while let Some(first) = rx.blocking_recv() {
        let mut work = vec![first];
        while work.len() < max_batch {
            match rx.try_recv() {
                Ok(w) => work.push(w),
                Err(_) => break,
            }
        }
        let mut heartbeat: Option<i64> = None;
        let mut jobs = Vec::with_capacity(work.len());
        for w in work {
            match w {
                Work::Publish(job) => jobs.push(*job),
                // A mirrored checkpoint is its own transaction: all of it or nothing.
                Work::Mirror(m, reply) => {
                    let result = ingest_mirror(&store, &m, &witnesses, &trust, &origin, clock.now());
                    if result.is_ok() {
                        tracing::info!(origin = %m.checkpoint.origin, size = m.checkpoint.size, entries = m.entries.len(), "mirrored");
                        publish(&m.checkpoint.origin, &m.checkpoint.note);
                    }
                    let _ = reply.send(result);
                }
                Work::SplitView(evidence, reply) => {
                    let _ = reply.send(record_split_view(&store, &evidence));
                }
                Work::Cosignatures { origin: cosigned, note, witnessed, reply } => {
                    let result = add_cosignatures(&store, &cosigned, &note, witnessed, &witnesses, &origin, clock.now_millis());
                    if let Ok(Some(latest)) = &result {
                        publish(&cosigned, latest);
                    }
                    let _ = reply.send(result.map(|_| ()));
                }
                Work::Heartbeat { max_age } => heartbeat = Some(heartbeat.map_or(max_age, |h: i64| h.min(max_age))),
                Work::Bodies { openings, reply } => {
                    let _ = reply.send(store_bodies(&store, &origin, openings));
                }
                Work::Backup { dir, reply } => {
                    let result = store.copy_to(&dir).map_err(Error::from);
                    if let Ok(records) = &result {
                        tracing::info!(dir = %dir.display(), records, "backup written");
                    }
                    let _ = reply.send(result.map(|records| (records, log.latest().note.clone())));
                }
            }
        }

        // After a failed commit sled's memory may hold writes that never reached the disk:
        // staging against it could answer "already present" for a decision that is not stored.
        if let Some(reason) = store.failed() {
            let reason = crate::store::StoreError::Failed(reason.to_string());
            for job in jobs {
                let _ = job.reply.send(Err(write_refused(&reason)));
            }
            continue;
        }
        let old_size = log.latest().size;
        let last_time = match old_size.checked_sub(1).map(|last| store.log(&origin).entered_at(last)) {
            Some(Ok(Some(t))) => t,
            None => i64::MIN,
            Some(Ok(None)) => {
                tracing::error!(size = old_size, "the log time of the last entry is missing; nothing in this batch is committed");
                fail_jobs(jobs, "the log time of the last entry is missing from the store");
                continue;
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot read the log time of the last entry; nothing in this batch is committed");
                fail_jobs(jobs, &e.to_string());
                continue;
            }
        };
        // Log times never fall, even if the clock does.
        let now = clock.now();
        let time = now.max(log.latest().time).max(last_time);
        let mut state = BatchState {
            batch: WriteBatch::default(),
            licences: HashMap::new(),
            overlay: Overlay::new(store.log(&origin)),
            origin: &origin,
            log_size: old_size,
            staged_index: HashMap::new(),
            time,
            now,
            last_time,
            key_sets: HashMap::new(),
            staged_agreements: HashMap::new(),
            new_agreements: Vec::new(),
            catalogue: StagedCatalogue::default(),
            map_changes: Vec::new(),
            map_cache: &mut map_cache,
            trust: &trust,
        };
        let mut writes = false;
        let results: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let result = stage(&store, &mut state, &job);
                writes |= matches!(&result, Ok(p) if !p.already_present) || matches!(&result, Err(Error::Fork(_)));
                (job.reply, result)
            })
            .collect();

        let stale = heartbeat.is_some_and(|max_age| now - log.latest().time >= max_age);
        let mut note = None;
        if state.log_size > old_size || stale {
            match tree_root(state.log_size, &state.overlay)
                .map_err(|e| e.to_string())
                .and_then(|root| Ok((root, stage_map(&store, &mut state, log.latest().map_root).map_err(|e| e.to_string())?)))
            {
                Ok((root, map_root)) => {
                    // Never before the log time of an entry it covers.
                    let signed = log.sign(state.log_size, &root, &map_root, state.time.max(state.last_time));
                    state.batch.put_checkpoint(&origin, state.log_size, &signed);
                    note = Some(signed);
                    writes = true;
                }
                Err(e) => tracing::error!(error = %e, "cannot compute the log root; nothing in this batch is committed"),
            }
        }
        let mut committed = if !writes {
            Ok(())
        } else if state.log_size > old_size && note.is_none() {
            // A store that failed a write can fail the root's reads too: its reason says more.
            Err(store.failed().map_or_else(|| "log root unavailable".to_string(), |reason| crate::store::StoreError::Failed(reason.to_string()).to_string()))
        } else {
            store.commit(state.batch).map_err(|e| e.to_string())
        };
        if committed.is_ok() {
            for (_, set) in state.key_sets.drain() {
                tracing::info!(authority = %set.authority, version = set.version, "key set in force");
                trust.install(set);
            }
            for agreement in state.new_agreements.drain(..) {
                trust.install_agreement(agreement);
            }
            state.catalogue.install(&trust);
        }
        match (&committed, &note) {
            (Ok(()), Some(n)) => match log.committed(n) {
                Ok(()) => publish(&origin, n),
                // Not recorded next to the key: neither announced nor acknowledged.
                Err(e) => {
                    tracing::error!(error = %e, "commit failed");
                    committed = Err(e.to_string());
                }
            },
            (Err(e), _) => tracing::error!(error = %e, "commit failed"),
            _ => {}
        }
        state.map_cache.settle(committed.is_ok());
        let count = results.len();
        let checkpoint = Arc::new(log.latest().clone());
        for (reply, result) in results {
            let answer = match (&committed, result) {
                // Even one found already present: it may have been staged by this very batch.
                (Err(e), Ok(_)) => Err(write_refused(e)),
                (_, Ok(staged)) => Ok((staged, checkpoint.clone())),
                (_, Err(e)) => Err(e),
            };
            // The client may have gone; the data is stored either way.
            let _ = reply.send(answer);
        }
        if writes && committed.is_ok() {
            tracing::debug!(batch = count, log_size = log.latest().size, "committed publish batch");
        }
        announce.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Answers every job of a batch that cannot be staged with `reason`.
pub(super) fn fail_jobs(jobs: Vec<Job>, reason: &str) {
    for job in jobs {
        let _ = job.reply.send(Err(Error::Unavailable(format!(
            "the store cannot be read, the decision is not acknowledged (publishing the same envelope again is safe): {reason}"
        ))));
    }
}

/// Applies the batch's licence heads to the own log's licence-state map, staging the changed
/// nodes at the batch's log size. Returns the map root to sign (`current` when nothing changed).
pub(super) fn stage_map(store: &Store, state: &mut BatchState<'_>, current: TreeHash) -> Result<TreeHash, crate::store::MapStoreError> {
    if state.map_changes.is_empty() {
        return Ok(current);
    }
    let staged = store.stage_map(&mut state.batch, state.origin, state.log_size, &state.map_changes, Some(&mut *state.map_cache))?;
    state.map_changes.clear();
    Ok(staged.root)
}

/// Completes a staged publish with its receipt against the checkpoint of its batch.
pub(super) fn receipt_for(store: &Store, cp: &SignedCheckpoint, staged: Staged) -> Result<Published, Error> {
    let proof = prove_inclusion(cp.size, staged.index, &store.log(&cp.origin)).map_err(stored_corrupt)?;
    Ok(Published {
        id: staged.id,
        already_present: staged.already_present,
        licence: staged.licence,
        receipt: pb::Receipt {
            origin: cp.origin.clone(),
            index: staged.index,
            leaf_hash: staged.leaf.to_vec().into(),
            checkpoint: cp.note.clone(),
            inclusion_proof: comity_proto::log::wire_proof(&proof),
            logged_at: staged.logged_at,
        },
    })
}
