//! Cosignatures: keeping the verified cosignatures of a log's checkpoints, the latest cosigned
//! checkpoint of each log, and the last checkpoint this node's witness cosigned.

use comity_proto::witness::{cosigners, merge_cosignatures, note_body, note_size, WitnessVerifier};

use crate::chain::stored_corrupt;
use crate::error::Error;
use crate::store::{Store, WriteBatch};

/// Records `note` (verified, with its cosignatures verified) as the latest cosigned checkpoint
/// of `origin` if it carries a cosignature and is not older than the one held.
/// Returns whether it staged a write.
pub(super) fn stage_cosigned(store: &Store, batch: &mut WriteBatch, origin: &str, note: &str, witnesses: &[WitnessVerifier]) -> Result<bool, Error> {
    if cosigners(note, witnesses).is_empty() {
        return Ok(false);
    }
    let held = store.log(origin).cosigned()?;
    let merged = match &held {
        Some(h) if note_body(h) == note_body(note) => merge_cosignatures(note, &[h], witnesses).map_err(stored_corrupt)?,
        Some(h) if note_size(h) > note_size(note) => return Ok(false),
        _ => note.to_string(),
    };
    let changed = held.as_deref() != Some(merged.as_str());
    if changed {
        batch.put_cosigned(origin, &merged);
    }
    Ok(changed)
}

/// Adds verified cosignatures to the stored notes of checkpoint `note` of `origin`; when
/// `witnessed`, `note` carries this node's own new cosignature, recorded as the last checkpoint
/// it cosigned. Returns the stored latest checkpoint note if it changed (to announce it).
/// True when `note` signs the same tree as `held` (size and root) at a later time. Both notes'
/// log signatures were verified by whoever stored or passed them.
pub(super) fn is_newer_signing_of(held: &str, note: &str) -> bool {
    use comity_proto::log::stored_checkpoint_fields;
    match (stored_checkpoint_fields(held), stored_checkpoint_fields(note)) {
        (Some((size, root, time)), Some((new_size, new_root, new_time))) => size == new_size && root == new_root && new_time > time,
        _ => false,
    }
}

/// Merges `note`'s verified cosignatures into the stored checkpoint of `origin` (or holds `note`
/// instead when it is the same tree signed later). The caller verified `note`'s log signature.
///
/// For this node's own log (`own_origin`), a witness whose cosignature covers more of the log
/// than before is recorded as having received every entry below the checkpoint's size at
/// `now_ms` (delivery receipts).
pub(super) fn add_cosignatures(
    store: &Store,
    origin: &str,
    note: &str,
    witnessed: bool,
    witnesses: &[WitnessVerifier],
    own_origin: &str,
    now_ms: i64,
) -> Result<Option<String>, Error> {
    let log = store.log(origin);
    let mut batch = WriteBatch::default();
    let mut changed = None;
    if let Some(latest) = log.checkpoint()? {
        if note_body(&latest) == note_body(note) {
            let merged = merge_cosignatures(&latest, &[note], witnesses).map_err(stored_corrupt)?;
            if merged != latest {
                batch.put_checkpoint_note(origin, &merged);
                changed = Some(merged);
            }
        } else if is_newer_signing_of(&latest, note) {
            // The log re-signed the same tree (its heartbeat): hold the fresher note, so an idle
            // log does not look stale here.
            let fresh = merge_cosignatures(note, &[], witnesses).map_err(stored_corrupt)?;
            batch.put_checkpoint_note(origin, &fresh);
            changed = Some(fresh);
        }
    }
    let note = merge_cosignatures(note, &[], witnesses).map_err(stored_corrupt)?;
    let mut dirty = stage_cosigned(store, &mut batch, origin, &note, witnesses)? || changed.is_some();
    if origin == own_origin {
        let size = note_size(&note).unwrap_or(0);
        for (witness, _) in cosigners(&note, witnesses) {
            if store.latest_delivery(&witness)?.is_none_or(|(confirmed, _)| size > confirmed) {
                batch.put_delivery(&witness, size, now_ms);
                dirty = true;
            }
        }
    }
    if witnessed {
        batch.put_witnessed(origin, &note);
        dirty = true;
    }
    if dirty {
        store.commit(batch)?;
    }
    Ok(changed)
}
