//! Bounds on the strings a client sends, checked before anything else reads them, and the one
//! way an error message quotes them back ([`comity_proto::shown`]).

use crate::error::Error;

pub use comity_proto::shown;

/// Longest id a request may carry: an authority, licence id, log origin (real ones are well
/// under 100 bytes).
pub const MAX_ID_BYTES: usize = 256;
/// Longest search term (party, control code, licence id prefix, destination).
pub const MAX_TERM_BYTES: usize = 128;
/// Longest file-system path (Backup's directory).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest checkpoint note sent to be cosigned (a real one is a few hundred bytes).
pub const MAX_NOTE_BYTES: usize = 16 * 1024;

/// Bytes of a reason derived from client bytes (a decode error naming nested fields) an error
/// message carries at most.
const REASON_BYTES: usize = 512;

/// `reason` cut to at most [`REASON_BYTES`] (on a character boundary): for messages made from
/// what a client sent rather than quoting it.
pub fn brief(reason: &str) -> String {
    if reason.len() <= REASON_BYTES {
        return reason.to_string();
    }
    let cut = (0..=REASON_BYTES).rev().find(|&i| reason.is_char_boundary(i)).unwrap_or(0);
    format!("{}…", &reason[..cut])
}

/// Refuses `value` of `field` when longer than `max` bytes, naming the field and its limit.
pub fn bounded(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.len() > max {
        return Err(Error::InvalidArgument(format!("{field}: at most {max} bytes, got {}", value.len())));
    }
    Ok(())
}

/// [`bounded`] for several fields at once.
pub fn all_bounded<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str, usize)>) -> Result<(), Error> {
    fields.into_iter().try_for_each(|(field, value, max)| bounded(field, value, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_refused_by_name_and_limit() {
        assert!(bounded("origin", &"o".repeat(MAX_ID_BYTES), MAX_ID_BYTES).is_ok());
        let err = bounded("origin", &"o".repeat(3_000_000), MAX_ID_BYTES).unwrap_err();
        assert_eq!(err.to_string(), "origin: at most 256 bytes, got 3000000");
    }

    #[test]
    fn a_brief_reason_is_bounded_in_bytes() {
        assert_eq!(brief("bad"), "bad");
        let cut = brief(&"é".repeat(10_000));
        assert!(cut.len() <= REASON_BYTES + '…'.len_utf8() && cut.ends_with('…'), "{}", cut.len());
    }
}
