//! Store key encoding, all in one place.
//!
//! One sled tree holds every table; the first key byte names the table so that a publish and all
//! the index entries it implies can be written in one atomic batch. Strings are separated by
//! `0xFF` (never valid UTF-8, so never inside a string); integers are fixed-width big-endian so
//! byte order is numeric order.

use comity_proto::statement::StatementId;

/// Table tags. An incompatible layout gets a new tag, never a reused one.
pub mod table {
    pub const META: u8 = 0x01;
    pub const STATEMENT: u8 = 0x02;
    pub const DECISION: u8 = 0x03;
    pub const LICENCE: u8 = 0x04;
    pub const IDX_PARTY: u8 = 0x05;
    pub const IDX_DESTINATION: u8 = 0x06;
    pub const IDX_CONTROL_CODE: u8 = 0x07;
    pub const IDX_STATUS: u8 = 0x08;
    pub const EVIDENCE: u8 = 0x09;
    pub const LOG_ENTRY: u8 = 0x0A;
    pub const LOG_HASH: u8 = 0x0B;
    // 0x0C was a statement-id → log-index table; the index now prefixes the statement record.
    pub const LOG_META: u8 = 0x0D;
    pub const KEY_SET: u8 = 0x0E;
    pub const AGREEMENT: u8 = 0x0F;
    pub const LOG_TIME: u8 = 0x10;
    pub const MIRRORED_AT: u8 = 0x11;
    pub const RESTRICTED_BODY: u8 = 0x12;
    pub const BODY_WANTED: u8 = 0x13;
    /// Retired: one record per map node per version (schema 1, refused since schema 3).
    pub const MAP_NODE: u8 = 0x14;
    pub const MAP_TILE: u8 = 0x15;
    pub const MAP_UNDO: u8 = 0x16;
    pub const CONTROL_LIST: u8 = 0x17;
    pub const CROSSWALK: u8 = 0x18;
    pub const SCREENING_LIST: u8 = 0x19;
    pub const CONSULTATION: u8 = 0x1A;
    pub const RULING: u8 = 0x1C;
    pub const DELIVERY: u8 = 0x1D;
    pub const DELIVERY_LATEST: u8 = 0x1E;
    pub const END_USE_CHECK: u8 = 0x1F;
    pub const RE_EXPORT_CHILD: u8 = 0x24;
}

/// Separator between string parts.
pub const SEP: u8 = 0xFF;

/// `META ‖ name`
pub fn meta(name: &str) -> Vec<u8> {
    tagged(table::META, &[name.as_bytes()])
}

/// `STATEMENT ‖ id` → log index (u64 BE) ‖ envelope bytes.
pub fn statement(id: &StatementId) -> Vec<u8> {
    let mut k = vec![table::STATEMENT];
    k.extend_from_slice(&id.0);
    k
}

/// `DECISION ‖ authority ‖ SEP ‖ licence ‖ SEP` : prefix of one licence's decisions.
pub fn decision_prefix(authority: &str, licence_id: &str) -> Vec<u8> {
    let mut k = tagged(table::DECISION, &[authority.as_bytes(), licence_id.as_bytes()]);
    k.push(SEP);
    k
}

/// `DECISION ‖ authority ‖ SEP` : prefix of every decision of one authority; `DECISION` alone
/// (authority `None`) covers every authority's.
pub fn authority_decisions_prefix(authority: Option<&str>) -> Vec<u8> {
    match authority {
        Some(a) => tagged(table::DECISION, &[a.as_bytes(), &[]]),
        None => vec![table::DECISION],
    }
}

/// Splits a decision key into (authority, licence, version). The version is the fixed-width
/// tail: its bytes may be `0xFF`, so it is cut off before the strings are split.
pub fn decision_of_key(key: &[u8]) -> Option<(String, String, u64)> {
    let (rest, version) = key.strip_prefix(&[table::DECISION])?.split_last_chunk::<8>()?;
    let mut parts = rest.strip_suffix(&[SEP])?.splitn(2, |b| *b == SEP);
    let authority = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let licence = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((authority, licence, u64::from_be_bytes(*version)))
}

/// `DECISION ‖ authority ‖ SEP ‖ licence ‖ SEP ‖ version (u64 BE)` → statement id.
pub fn decision(authority: &str, licence_id: &str, version: u64) -> Vec<u8> {
    let mut k = decision_prefix(authority, licence_id);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// `LICENCE ‖ authority ‖ SEP ‖ licence` → licence summary.
pub fn licence(authority: &str, licence_id: &str) -> Vec<u8> {
    tagged(table::LICENCE, &[authority.as_bytes(), licence_id.as_bytes()])
}

/// Index key `tag ‖ term ‖ SEP ‖ authority ‖ SEP ‖ licence`.
pub fn index(tag: u8, term: &[u8], authority: &str, licence_id: &str) -> Vec<u8> {
    tagged(tag, &[term, authority.as_bytes(), licence_id.as_bytes()])
}

/// `EVIDENCE ‖ sequence (u64 BE)`
pub fn evidence(seq: u64) -> Vec<u8> {
    let mut k = vec![table::EVIDENCE];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number of an `EVIDENCE` key.
pub fn evidence_seq(key: &[u8]) -> Option<u64> {
    key.strip_prefix(&[table::EVIDENCE])?.try_into().ok().map(u64::from_be_bytes)
}

/// Items per log chunk: entry ids and stored hashes are kept 256 to a value, because sled's
/// cost is per key and these are only ever appended.
pub const CHUNK: u64 = 256;

/// `LOG_ENTRY ‖ origin ‖ SEP ‖ chunk (u64 BE)` → up to 256 statement ids (32 bytes each) of
/// entries `chunk * 256 ..` of the log `origin` (the node's own or a mirrored one).
pub fn log_entry_chunk(origin: &str, chunk: u64) -> Vec<u8> {
    [&tagged(table::LOG_ENTRY, &[origin.as_bytes(), &[]])[..], &chunk.to_be_bytes()].concat()
}

/// `LOG_HASH ‖ origin ‖ SEP ‖ chunk (u64 BE)` → up to 256 stored hashes (32 bytes each) with
/// stored-hash indexes `chunk * 256 ..`.
pub fn log_hash_chunk(origin: &str, chunk: u64) -> Vec<u8> {
    [&tagged(table::LOG_HASH, &[origin.as_bytes(), &[]])[..], &chunk.to_be_bytes()].concat()
}

/// `MAP_TILE ‖ origin ‖ SEP ‖ depth (u16 BE) ‖ path bytes` → the current nodes of one tile of
/// a log's licence-state map (`tile` is the path of the tile's top node). The path's length
/// follows from its depth, so no tile's key is a prefix of another's.
pub fn map_tile(origin: &str, tile: &comity_proto::licence_map::Path) -> Vec<u8> {
    let mut k = tagged(table::MAP_TILE, &[origin.as_bytes(), &[]]);
    k.extend_from_slice(&(tile.depth() as u16).to_be_bytes());
    k.extend_from_slice(tile.prefix_bytes());
    k
}

/// `MAP_TILE ‖ origin ‖ SEP` : prefix of every tile of one log's map.
#[cfg(test)]
pub fn map_tile_prefix(origin: &str) -> Vec<u8> {
    tagged(table::MAP_TILE, &[origin.as_bytes(), &[]])
}

/// `MAP_UNDO ‖ origin ‖ SEP ‖ version (u64 BE)` → the map nodes the commit at log size
/// `version` changed, each with its value before that commit.
pub fn map_undo(origin: &str, version: u64) -> Vec<u8> {
    [&map_undo_prefix(origin)[..], &version.to_be_bytes()].concat()
}

/// `MAP_UNDO ‖ origin ‖ SEP` : prefix of every undo record of one log's map.
pub fn map_undo_prefix(origin: &str) -> Vec<u8> {
    tagged(table::MAP_UNDO, &[origin.as_bytes(), &[]])
}

/// The version (log size) of a `MAP_UNDO` key.
pub fn map_undo_version(key: &[u8]) -> Option<u64> {
    key.last_chunk::<8>().map(|v| u64::from_be_bytes(*v))
}

/// `LOG_META ‖ origin ‖ SEP ‖ name` → per-log values (`size`, `checkpoint`).
pub fn log_meta(origin: &str, name: &str) -> Vec<u8> {
    tagged(table::LOG_META, &[origin.as_bytes(), name.as_bytes()])
}

/// `KEY_SET ‖ authority` → statement id of the authority's key set in force.
pub fn key_set(authority: &str) -> Vec<u8> {
    tagged(table::KEY_SET, &[authority.as_bytes()])
}

/// `AGREEMENT ‖ relying ‖ SEP ‖ recognised ‖ SEP ‖ agreement id` → statement id of the
/// agreement's latest version.
pub fn agreement(relying: &str, recognised: &str, agreement_id: &str) -> Vec<u8> {
    tagged(table::AGREEMENT, &[relying.as_bytes(), recognised.as_bytes(), agreement_id.as_bytes()])
}

/// `CONTROL_LIST ‖ authority ‖ SEP ‖ regime (i32 BE) ‖ scope ‖ SEP ‖ version (u64 BE)` →
/// statement id of that version of the part `scope` (its categories, or `*`) of the
/// authority's list of the regime. Key order is version order within each part.
pub fn control_list(authority: &str, regime: i32, scope: &str, version: u64) -> Vec<u8> {
    [&tagged(table::CONTROL_LIST, &[authority.as_bytes(), &[]])[..], &regime.to_be_bytes(), scope.as_bytes(), &[SEP], &version.to_be_bytes()].concat()
}

/// `SCREENING_LIST ‖ authority ‖ SEP ‖ list id ‖ SEP ‖ version (u64 BE)` → statement id of that
/// version of the screening list. Key order is version order within each list.
pub fn screening_list(authority: &str, list_id: &str, version: u64) -> Vec<u8> {
    [&tagged(table::SCREENING_LIST, &[authority.as_bytes(), list_id.as_bytes(), &[]])[..], &version.to_be_bytes()].concat()
}

/// `CONSULTATION ‖ consulting authority ‖ SEP ‖ consultation id ‖ SEP`: prefix of one
/// consultation's request and answers; `CONSULTATION` alone covers every one.
pub fn consultation_prefix(consulting: &str, consultation_id: &str) -> Vec<u8> {
    tagged(table::CONSULTATION, &[consulting.as_bytes(), consultation_id.as_bytes(), &[]])
}

/// `consultation_prefix ‖ 0` → statement id of the request, and `consultation_prefix ‖ 1 ‖
/// answer id` → statement id of an answer.
pub fn consultation(consulting: &str, consultation_id: &str, answer: Option<&StatementId>) -> Vec<u8> {
    let mut k = consultation_prefix(consulting, consultation_id);
    match answer {
        None => k.push(0),
        Some(id) => {
            k.push(1);
            k.extend_from_slice(&id.0);
        }
    }
    k
}

/// A consultation key's prefix (up to its second separator) and whether it is an answer's.
/// Strings never hold `SEP` (0xFF is not UTF-8), so the separators are found by position.
pub fn consultation_kind(key: &[u8]) -> Option<(&[u8], bool)> {
    let first = key.iter().position(|b| *b == SEP)?;
    let second = first + 1 + key[first + 1..].iter().position(|b| *b == SEP)?;
    let (prefix, rest) = key.split_at(second + 1);
    match rest {
        [0] => Some((prefix, false)),
        [1, id @ ..] if id.len() == 32 => Some((prefix, true)),
        _ => None,
    }
}

/// `RULING ‖ authority ‖ SEP ‖ ruling id ‖ SEP ‖ version (u64 BE)` → statement id of that
/// version of the classification ruling. Key order is version order within each ruling.
pub fn ruling(authority: &str, ruling_id: &str, version: u64) -> Vec<u8> {
    [&ruling_prefix(Some(authority), Some(ruling_id))[..], &version.to_be_bytes()].concat()
}

/// Prefix of the rulings of `authority` (every authority when `None`), or of one ruling's
/// versions when `ruling_id` is given too.
pub fn ruling_prefix(authority: Option<&str>, ruling_id: Option<&str>) -> Vec<u8> {
    match (authority, ruling_id) {
        (None, _) => vec![table::RULING],
        (Some(a), None) => tagged(table::RULING, &[a.as_bytes(), &[]]),
        (Some(a), Some(r)) => tagged(table::RULING, &[a.as_bytes(), r.as_bytes(), &[]]),
    }
}

/// `DELIVERY ‖ witness ‖ SEP ‖ size (u64 BE)` → when (Unix ms) the witness first cosigned a
/// checkpoint of this node's log at least that large: it held and had verified every entry
/// below `size` by then. One row per growth of what the witness confirmed.
pub fn delivery(witness: &str, size: u64) -> Vec<u8> {
    [&tagged(table::DELIVERY, &[witness.as_bytes(), &[]])[..], &size.to_be_bytes()].concat()
}

/// `DELIVERY_LATEST ‖ witness` → size (u64 BE) ‖ Unix ms (i64 BE) of its latest `delivery` row.
pub fn delivery_latest(witness: &str) -> Vec<u8> {
    tagged(table::DELIVERY_LATEST, &[witness.as_bytes()])
}

/// `END_USE_CHECK ‖ licence authority ‖ SEP ‖ licence id ‖ SEP ‖ checking authority ‖ SEP ‖ check
/// id` → statement id of the post-shipment verification; `end_use_check_prefix` covers a licence's.
pub fn end_use_check(licence_authority: &str, licence_id: &str, authority: &str, check_id: &str) -> Vec<u8> {
    tagged(table::END_USE_CHECK, &[licence_authority.as_bytes(), licence_id.as_bytes(), authority.as_bytes(), check_id.as_bytes()])
}

/// Prefix of the end-use checks of one licence (`None`: of every licence).
pub fn end_use_check_prefix(licence: Option<(&str, &str)>) -> Vec<u8> {
    match licence {
        Some((a, l)) => tagged(table::END_USE_CHECK, &[a.as_bytes(), l.as_bytes(), &[]]),
        None => vec![table::END_USE_CHECK],
    }
}

/// `RE_EXPORT_CHILD ‖ parent authority ‖ SEP ‖ parent licence ‖ SEP ‖ child authority ‖ SEP ‖
/// child licence` → the consent id the re-export (child) licence relies on.
pub fn re_export_child(parent_authority: &str, parent_id: &str, child_authority: &str, child_id: &str) -> Vec<u8> {
    tagged(table::RE_EXPORT_CHILD, &[parent_authority.as_bytes(), parent_id.as_bytes(), child_authority.as_bytes(), child_id.as_bytes()])
}

/// Prefix of the re-export licences held under one parent licence.
pub fn re_export_child_prefix(parent_authority: &str, parent_id: &str) -> Vec<u8> {
    tagged(table::RE_EXPORT_CHILD, &[parent_authority.as_bytes(), parent_id.as_bytes(), &[]])
}

/// Splits a `re_export_child` key into the child's (authority, licence).
pub fn re_export_child_of_key(key: &[u8]) -> Option<(String, String)> {
    let [_, _, authority, licence] = re_export_child_parts(key)?;
    Some((authority, licence))
}

/// Splits a `re_export_child` key into the parent's authority and licence and the child's.
pub fn re_export_child_parts(key: &[u8]) -> Option<[String; 4]> {
    let rest = key.strip_prefix(&[table::RE_EXPORT_CHILD])?;
    let parts: Vec<String> = rest.split(|b| *b == SEP).map(|p| String::from_utf8(p.to_vec())).collect::<Result<_, _>>().ok()?;
    parts.try_into().ok()
}

/// Prefix of every re-export index entry.
pub fn re_export_children_prefix() -> Vec<u8> {
    vec![table::RE_EXPORT_CHILD]
}

/// `CROSSWALK ‖ authority ‖ SEP ‖ crosswalk id` → statement id of the crosswalk's latest version.
pub fn crosswalk(authority: &str, crosswalk_id: &str) -> Vec<u8> {
    tagged(table::CROSSWALK, &[authority.as_bytes(), crosswalk_id.as_bytes()])
}

/// `LOG_TIME ‖ origin ‖ SEP ‖ size (u64 BE)` → Unix time (i64 BE) of the first checkpoint held
/// here with that size: entries below `size` had entered the log by then.
pub fn log_time(origin: &str, size: u64) -> Vec<u8> {
    [&tagged(table::LOG_TIME, &[origin.as_bytes(), &[]])[..], &size.to_be_bytes()].concat()
}

/// `MIRRORED_AT ‖ id` → origin ‖ SEP ‖ index (u64 BE): where a statement that is not in the
/// node's own log sits in the mirrored log that brought it.
pub fn mirrored_at(id: &StatementId) -> Vec<u8> {
    let mut k = vec![table::MIRRORED_AT];
    k.extend_from_slice(&id.0);
    k
}

/// `RESTRICTED_BODY ‖ id` → encoded `RestrictedBody` of the RestrictedDecision `id`.
pub fn restricted_body(id: &StatementId) -> Vec<u8> {
    let mut k = vec![table::RESTRICTED_BODY];
    k.extend_from_slice(&id.0);
    k
}

/// `BODY_WANTED ‖ id` → empty: a restricted decision whose audience names this node and whose
/// body it has not received yet.
pub fn body_wanted(id: &StatementId) -> Vec<u8> {
    let mut k = vec![table::BODY_WANTED];
    k.extend_from_slice(&id.0);
    k
}

/// Splits the trailing `authority ‖ SEP ‖ licence` off an index or licence key.
pub fn licence_of_key(key: &[u8]) -> Option<(String, String)> {
    let mut parts = key[1..].rsplitn(3, |b| *b == SEP);
    let licence = std::str::from_utf8(parts.next()?).ok()?;
    let authority = std::str::from_utf8(parts.next()?).ok()?;
    Some((authority.to_string(), licence.to_string()))
}

fn tagged(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(tag);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(SEP);
        }
        k.extend_from_slice(p);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_byte_exact() {
        assert_eq!(decision("de.bafa", "L1", 258), [&[3u8][..], b"de.bafa", &[0xFF], b"L1", &[0xFF], &[0, 0, 0, 0, 0, 0, 1, 2]].concat());
        assert_eq!(licence("de.bafa", "L1"), [&[4u8][..], b"de.bafa", &[0xFF], b"L1"].concat());
        assert_eq!(evidence(1), vec![9, 0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn versions_sort_numerically_within_a_licence() {
        let mut keys: Vec<Vec<u8>> = [300u64, 2, 1, 10, 256].iter().map(|v| decision("de.bafa", "L1", *v)).collect();
        keys.sort();
        let versions: Vec<u64> = keys.iter().map(|k| u64::from_be_bytes(k[k.len() - 8..].try_into().unwrap())).collect();
        assert_eq!(versions, vec![1, 2, 10, 256, 300]);
    }

    #[test]
    fn one_licence_prefix_never_covers_another() {
        // `L1` must not see the decisions of `L10`, nor `de.bafa` those of `de.bafa2`.
        assert!(!decision("de.bafa", "L10", 1).starts_with(&decision_prefix("de.bafa", "L1")));
        assert!(!decision("de.bafa2", "L1", 1).starts_with(&decision_prefix("de.bafa", "L1")));
    }

    #[test]
    fn decision_keys_split_back_even_when_the_version_holds_the_separator() {
        for version in [1u64, 255, 0xFFFF_FFFF_FFFF_FFFF, 0x01FF] {
            let k = decision("de.bafa", "DE-2026/1", version);
            assert_eq!(decision_of_key(&k), Some(("de.bafa".into(), "DE-2026/1".into(), version)));
        }
        assert_eq!(decision_of_key(&licence("de.bafa", "L1")), None);
        // One authority's prefix covers its own decisions and no other authority's.
        assert!(decision("de.bafa", "L1", 1).starts_with(&authority_decisions_prefix(Some("de.bafa"))));
        assert!(!decision("de.bafa2", "L1", 1).starts_with(&authority_decisions_prefix(Some("de.bafa"))));
        assert!(decision("de.bafa2", "L1", 1).starts_with(&authority_decisions_prefix(None)));
    }

    #[test]
    fn log_chunks_of_one_origin_never_mix_with_another() {
        assert_eq!(log_entry_chunk("a.example/log", 1), [&[0x0Au8][..], b"a.example/log", &[0xFF], &[0, 0, 0, 0, 0, 0, 0, 1]].concat());
        // An origin that is a prefix of another stays separate: the separator ends it.
        assert!(!log_hash_chunk("a.example/log2", 0).starts_with(&log_hash_chunk("a.example/log", 0)[..15]));
        let mut chunks: Vec<Vec<u8>> = [3u64, 1, 256, 2].iter().map(|c| log_hash_chunk("o", *c)).collect();
        chunks.sort();
        assert_eq!(chunks, [1u64, 2, 3, 256].iter().map(|c| log_hash_chunk("o", *c)).collect::<Vec<_>>());
    }

    #[test]
    fn map_keys_are_byte_exact_and_undo_versions_sort_numerically() {
        let tile = comity_proto::licence_map::Path::ROOT.child(true).child(false).child(true).child(true);
        assert_eq!(map_tile("o", &tile), [&[0x15u8][..], b"o", &[0xFF], &[0, 4], &[0b1011_0000]].concat());
        assert_eq!(map_tile("o", &comity_proto::licence_map::Path::ROOT), [&[0x15u8][..], b"o", &[0xFF], &[0, 0]].concat());
        assert!(map_tile("o", &tile).starts_with(&map_tile_prefix("o")));
        assert!(!map_tile("o2", &tile).starts_with(&map_tile_prefix("o")));
        let mut undo: Vec<Vec<u8>> = [300u64, 2, 256, 10].iter().map(|v| map_undo("o", *v)).collect();
        undo.sort();
        assert_eq!(undo.iter().map(|k| map_undo_version(k).unwrap()).collect::<Vec<_>>(), vec![2, 10, 256, 300]);
        assert!(undo.iter().all(|k| k.starts_with(&map_undo_prefix("o"))));
    }

    #[test]
    fn ruling_versions_sort_numerically_and_prefixes_do_not_spill() {
        assert_eq!(ruling("de.bafa", "CR-1", 2), [&[0x1Cu8][..], b"de.bafa", &[0xFF], b"CR-1", &[0xFF], &[0, 0, 0, 0, 0, 0, 0, 2]].concat());
        let mut keys: Vec<Vec<u8>> = [256u64, 2, 1].iter().map(|v| ruling("de.bafa", "CR-1", *v)).collect();
        keys.sort();
        assert_eq!(keys, [1u64, 2, 256].iter().map(|v| ruling("de.bafa", "CR-1", *v)).collect::<Vec<_>>());
        assert!(ruling("de.bafa", "CR-1", 1).starts_with(&ruling_prefix(Some("de.bafa"), Some("CR-1"))));
        assert!(!ruling("de.bafa", "CR-10", 1).starts_with(&ruling_prefix(Some("de.bafa"), Some("CR-1"))));
        assert!(!ruling("de.bafa2", "CR-1", 1).starts_with(&ruling_prefix(Some("de.bafa"), None)));
        assert!(ruling("de.bafa2", "CR-1", 1).starts_with(&ruling_prefix(None, None)));
    }

    #[test]
    fn licence_is_recovered_from_index_keys() {
        let k = index(table::IDX_PARTY, b"kessler", "de.bafa", "DE-2026/1");
        assert_eq!(licence_of_key(&k), Some(("de.bafa".into(), "DE-2026/1".into())));
        let k = licence("jp.meti", "JP-1");
        assert_eq!(licence_of_key(&k), Some(("jp.meti".into(), "JP-1".into())));
    }

    #[test]
    fn re_export_children_are_listed_under_their_parent() {
        let key = re_export_child("de.bafa", "DE-1", "jp.meti", "JP-RX/1");
        assert_eq!(key, [&[0x24u8][..], b"de.bafa", &[0xFF], b"DE-1", &[0xFF], b"jp.meti", &[0xFF], b"JP-RX/1"].concat());
        assert!(key.starts_with(&re_export_child_prefix("de.bafa", "DE-1")));
        assert!(!re_export_child("de.bafa", "DE-10", "jp.meti", "X").starts_with(&re_export_child_prefix("de.bafa", "DE-1")));
        assert_eq!(re_export_child_of_key(&key), Some(("jp.meti".into(), "JP-RX/1".into())));
        assert_eq!(re_export_child_parts(&key), Some(["de.bafa", "DE-1", "jp.meti", "JP-RX/1"].map(String::from)));
        assert!(key.starts_with(&re_export_children_prefix()));
    }
}
