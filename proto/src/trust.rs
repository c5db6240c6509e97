//! Trust: the root keys each authority is pinned by (the trust file, exchanged out of band like
//! TUF's root), and the key sets a threshold of those roots signs. A key set lists an
//! authority's signing keys with their validity windows and compromise times. Everything here
//! is checked the same way by a node, a mirror and the offline verifier.

use std::collections::HashMap;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::decision::is_authority_id;
use crate::keyfile::parse_public_key;
use crate::pb;
use crate::statement::{key_id, Envelope, StatementError, StatementId};

/// Most root keys one authority may pin.
pub const MAX_ROOT_KEYS: usize = 16;
/// Most signing keys one key set may list.
pub const MAX_KEYS_PER_SET: usize = 64;

/// Why a trust file or a key set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("trust file: {0}")]
    File(String),
    #[error("authority `{0}` has no root keys in the trust file")]
    NotTrusted(String),
    #[error("not a key set")]
    NotKeySet,
    #[error("key set of {authority}: {detail}")]
    Invalid { authority: String, detail: String },
    #[error("key set of {authority}: signed by {signed} distinct root keys, {threshold} needed")]
    BelowThreshold { authority: String, signed: usize, threshold: usize },
    #[error("key set of {authority}: {0}", .source)]
    Signature { authority: String, source: StatementError },
    #[error("key set of {authority}: version {version} does not supersede version {current} (rollback refused)")]
    Rollback { authority: String, version: u64, current: u64 },
}

/// The trust file: `[[authority]]` tables with each authority's root keys and threshold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustFile {
    /// Witnesses (C2SP cosignature/v1 vkeys, `name+id+key`) whose cosignatures this relying
    /// party counts on a log's checkpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// How many distinct listed witnesses must have cosigned a checkpoint before an answer
    /// proven against it counts as verified; 0 = none needed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub witness_quorum: usize,
    /// Screening lists (`authority/list_id`) this relying party applies: `comity verify` asks the
    /// node to screen the licence's parties against them (docs/screening.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screening_lists: Vec<String>,
    #[serde(default, rename = "authority")]
    pub authorities: Vec<TrustedAuthority>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One pinned authority.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedAuthority {
    /// Lowercase dotted id, e.g. `de.bafa`.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Distinct root keys that must sign a key set (0 when none are pinned).
    #[serde(default)]
    pub threshold: usize,
    /// Hex ed25519 root public keys.
    #[serde(default)]
    pub root_keys: Vec<String>,
    /// Hex signing keys of an authority that signs without a key set (as a node's config lists
    /// them); ignored once a key set of the authority is at hand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Verifier keys (`origin+id+key`) of the logs that publish this authority's statements, so
    /// that checkpoints can be checked offline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
}

/// An authority's root keys, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Roots {
    pub threshold: usize,
    pub keys: Vec<VerifyingKey>,
}

impl TrustFile {
    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        toml::from_str(text).map_err(|e| TrustError::File(e.to_string()))
    }

    /// Reads and parses a trust file.
    pub fn read(path: &Path) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrustError::File(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| TrustError::File(format!("{}: {e}", path.display())))
    }

    /// The TOML text of this file.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a trust file always serialises")
    }

    /// Every authority's roots, after checking ids, keys (no weak keys, no duplicates) and
    /// thresholds (at least 1, at most the number of keys).
    pub fn roots(&self) -> Result<HashMap<String, Roots>, TrustError> {
        let mut out = HashMap::new();
        for a in &self.authorities {
            let bad = |m: String| TrustError::File(format!("authority `{}`: {m}", a.id));
            if !is_authority_id(&a.id) {
                return Err(bad("id is not a lowercase dotted id like de.bafa".into()));
            }
            if self.authorities.iter().filter(|b| b.id == a.id).count() > 1 {
                return Err(bad("listed twice".into()));
            }
            if a.root_keys.is_empty() && a.threshold == 0 && !a.keys.is_empty() {
                continue;
            }
            if a.root_keys.is_empty() || a.root_keys.len() > MAX_ROOT_KEYS {
                return Err(bad(format!("needs 1 to {MAX_ROOT_KEYS} root keys, has {}", a.root_keys.len())));
            }
            let mut keys: Vec<VerifyingKey> = Vec::new();
            for k in &a.root_keys {
                let key = parse_public_key(k).map_err(|e| bad(format!("root key {k}: {e}")))?;
                if keys.contains(&key) {
                    return Err(bad(format!("root key {k} is listed twice")));
                }
                keys.push(key);
            }
            if a.threshold == 0 || a.threshold > keys.len() {
                return Err(bad(format!("threshold {} must be between 1 and the {} root keys", a.threshold, keys.len())));
            }
            out.insert(a.id.clone(), Roots { threshold: a.threshold, keys });
        }
        Ok(out)
    }

    /// Signing keys listed for authorities that sign without a key set.
    pub fn configured_keys(&self) -> Result<HashMap<String, Vec<VerifyingKey>>, TrustError> {
        let mut out = HashMap::new();
        for a in self.authorities.iter().filter(|a| !a.keys.is_empty()) {
            let keys = a
                .keys
                .iter()
                .map(|k| parse_public_key(k).map_err(|e| TrustError::File(format!("authority `{}`: key {k}: {e}", a.id))))
                .collect::<Result<Vec<_>, _>>()?;
            out.insert(a.id.clone(), keys);
        }
        Ok(out)
    }

    /// The listed witnesses, checked (no weak keys, no duplicates), and the quorum, which must
    /// not exceed their number.
    pub fn witness_verifiers(&self) -> Result<(Vec<crate::witness::WitnessVerifier>, usize), TrustError> {
        let mut out: Vec<crate::witness::WitnessVerifier> = Vec::new();
        for w in &self.witnesses {
            let v: crate::witness::WitnessVerifier = w.parse().map_err(|e| TrustError::File(format!("witness {w}: {e}")))?;
            if out.iter().any(|o| o.name() == v.name()) {
                return Err(TrustError::File(format!("witness `{}` is listed twice", v.name())));
            }
            out.push(v);
        }
        if self.witness_quorum > out.len() {
            return Err(TrustError::File(format!("witness_quorum is {} but only {} witnesses are listed", self.witness_quorum, out.len())));
        }
        Ok((out, self.witness_quorum))
    }

    /// Origins of the logs pinned for `authority`.
    pub fn logs_of(&self, authority: &str) -> Vec<String> {
        self.authorities.iter().filter(|a| a.id == authority).flat_map(|a| a.logs.iter().filter_map(|l| l.split('+').next().map(str::to_string))).collect()
    }

    /// The pinned log verifier keys, by origin.
    pub fn log_verifiers(&self) -> Result<HashMap<String, crate::log::LogVerifier>, TrustError> {
        let mut out = HashMap::new();
        for a in &self.authorities {
            for l in &a.logs {
                let v: crate::log::LogVerifier = l.parse().map_err(|e| TrustError::File(format!("authority `{}`: log key {l}: {e}", a.id)))?;
                out.insert(v.name().to_string(), v);
            }
        }
        Ok(out)
    }
}

/// One signing key of a key set.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    pub key: VerifyingKey,
    pub valid_from: i64,
    /// Exclusive; 0 = open.
    pub valid_until: i64,
    pub compromised_since: Option<i64>,
    /// What the key may sign: the authority's own statements, or write-offs only (customs).
    pub role: pb::KeyRole,
    /// Who holds a delegated key, e.g. a customs office.
    pub holder: String,
}

impl KeyEntry {
    /// True when a decision dated `at` may be signed with this key.
    pub fn covers(&self, at: i64) -> bool {
        at >= self.valid_from && (self.valid_until == 0 || at < self.valid_until)
    }
}

/// How a statement's signing key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStanding {
    /// Listed, in its window, not compromised.
    Good,
    /// Compromised since `since`, but the statement entered the log before that: valid, flagged.
    CompromisedAfter { since: i64 },
    /// Compromised since `since`, and the statement entered the log at or after it: refused.
    Compromised { since: i64 },
    /// Listed, but the decision's date is outside the key's window.
    OutsideWindow,
    /// Not in the key set.
    Unknown,
}

/// A key set that verified against its authority's roots.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySetView {
    pub authority: String,
    pub version: u64,
    pub issued_at: i64,
    pub keys: Vec<KeyEntry>,
    /// The statement that carried it.
    pub id: StatementId,
}

impl KeySetView {
    /// The entry for `key`, if listed.
    pub fn entry(&self, key: &VerifyingKey) -> Option<&KeyEntry> {
        self.keys.iter().find(|e| e.key == *key)
    }

    /// The listed key with key id `id`.
    pub fn find(&self, id: &str) -> Option<VerifyingKey> {
        self.keys.iter().map(|e| e.key).find(|k| key_id(k) == id)
    }

    /// How `key` stands for a statement that entered the log at `logged_at`: windows and
    /// compromise are judged at the log time, never at the date the signer wrote (a retired
    /// key cannot sign backdated decisions; backfilled history signed by a current key can be
    /// logged).
    pub fn standing(&self, key: &VerifyingKey, logged_at: i64) -> KeyStanding {
        let Some(entry) = self.entry(key) else { return KeyStanding::Unknown };
        match entry.compromised_since {
            Some(since) if logged_at >= since => KeyStanding::Compromised { since },
            _ if !entry.covers(logged_at) => KeyStanding::OutsideWindow,
            Some(since) => KeyStanding::CompromisedAfter { since },
            None => KeyStanding::Good,
        }
    }

    /// Keys usable to sign a decision published at `now`: in their window, not compromised.
    pub fn current(&self, now: i64) -> impl Iterator<Item = &KeyEntry> {
        self.keys.iter().filter(move |e| e.covers(now) && e.compromised_since.is_none_or(|s| now < s))
    }
}

/// A key set statement with a well-formed authority id. Its signatures and then its contents
/// (version, keys, windows, compromise times) are checked by [`verify_key_set`]: a key set is
/// refused for who signed it before anything else it says is read.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedKeySet {
    set: pb::KeySet,
    id: StatementId,
}

impl CheckedKeySet {
    /// Checks `set`, carried by statement `id`.
    pub fn check(set: &pb::KeySet, id: StatementId) -> Result<Self, TrustError> {
        if !is_authority_id(&set.authority) {
            return Err(TrustError::Invalid { authority: set.authority.clone(), detail: "authority is not a lowercase dotted id like de.bafa".into() });
        }
        Ok(Self { set: set.clone(), id })
    }

    /// The authority whose roots must sign it.
    pub fn authority(&self) -> &str {
        &self.set.authority
    }

    /// The key set as signed, not yet verified.
    pub fn unverified(&self) -> &pb::KeySet {
        &self.set
    }
}

/// Checks a key set envelope: the statement, a threshold of distinct root keys of its authority
/// (every signature must verify with `verify_strict`), and that it supersedes `current`
/// without dropping keys or clearing or postponing a compromise.
pub fn check_key_set(envelope: &Envelope, roots: &HashMap<String, Roots>, current: Option<&KeySetView>) -> Result<KeySetView, TrustError> {
    let pb::statement::Kind::KeySet(set) = envelope.statement() else { return Err(TrustError::NotKeySet) };
    verify_key_set(envelope, CheckedKeySet::check(set, envelope.id())?, roots, current)
}

/// [`check_key_set`] for a key set already parsed from `envelope` ([`CheckedKeySet`]): a
/// threshold of its authority's root keys signed it, its contents are well formed, and it
/// supersedes `current`.
pub fn verify_key_set(envelope: &Envelope, set: CheckedKeySet, roots: &HashMap<String, Roots>, current: Option<&KeySetView>) -> Result<KeySetView, TrustError> {
    verify_roots(envelope, &set.set.authority, roots)?;
    let view = key_set_view(&set.set, set.id)?;
    check_supersedes(&view, current)?;
    Ok(view)
}

/// A threshold of distinct root keys of `authority` signed `envelope`, every signature verifying.
fn verify_roots(envelope: &Envelope, authority: &str, roots: &HashMap<String, Roots>) -> Result<(), TrustError> {
    let root = roots.get(authority).ok_or_else(|| TrustError::NotTrusted(authority.to_string()))?;
    let signed = envelope.verify_with(&root.keys).map_err(|source| TrustError::Signature { authority: authority.to_string(), source })?;
    // `verify` refuses a key signing twice, so this counts distinct public keys.
    if signed.len() < root.threshold {
        return Err(TrustError::BelowThreshold { authority: authority.to_string(), signed: signed.len(), threshold: root.threshold });
    }
    Ok(())
}

/// A verified key set `view` may follow `current` (the set in force, if any): a higher version,
/// no key dropped, no compromise cleared or postponed.
pub fn check_supersedes(view: &KeySetView, current: Option<&KeySetView>) -> Result<(), TrustError> {
    if let Some(current) = current {
        if view.version <= current.version {
            return Err(TrustError::Rollback { authority: view.authority.clone(), version: view.version, current: current.version });
        }
        supersedes(view, current)?;
    }
    Ok(())
}

/// The checked contents of a key set statement.
fn key_set_view(set: &pb::KeySet, id: StatementId) -> Result<KeySetView, TrustError> {
    let bad = |detail: String| TrustError::Invalid { authority: set.authority.clone(), detail };
    if set.version == 0 {
        return Err(bad("version must be 1 or more".into()));
    }
    if set.keys.is_empty() || set.keys.len() > MAX_KEYS_PER_SET {
        return Err(bad(format!("needs 1 to {MAX_KEYS_PER_SET} signing keys, has {}", set.keys.len())));
    }
    let mut keys: Vec<KeyEntry> = Vec::with_capacity(set.keys.len());
    for (i, k) in set.keys.iter().enumerate() {
        let bytes: [u8; 32] = k.public_key.as_slice().try_into().map_err(|_| bad(format!("keys[{i}]: public key must be 32 bytes")))?;
        let key = parse_public_key(&hex::encode(bytes)).map_err(|e| bad(format!("keys[{i}]: {e}")))?;
        if keys.iter().any(|e| e.key == key) {
            return Err(bad(format!("keys[{i}]: key {} is listed twice", key_id(&key))));
        }
        if k.valid_until != 0 && k.valid_until <= k.valid_from {
            return Err(bad(format!("keys[{i}]: valid_until must be after valid_from")));
        }
        if k.compromised_since < 0 {
            return Err(bad(format!("keys[{i}]: compromised_since must not be negative")));
        }
        let role = pb::KeyRole::try_from(k.role).map_err(|_| bad(format!("keys[{i}]: unknown role {}", k.role)))?;
        if role == pb::KeyRole::Customs && k.holder.trim().is_empty() {
            return Err(bad(format!("keys[{i}]: a CUSTOMS key names its holder (the customs office)")));
        }
        if k.holder.len() > 256 || k.holder.chars().any(char::is_control) {
            return Err(bad(format!("keys[{i}]: holder must be at most 256 bytes without control characters")));
        }
        keys.push(KeyEntry {
            key,
            valid_from: k.valid_from,
            valid_until: k.valid_until,
            compromised_since: (k.compromised_since != 0).then_some(k.compromised_since),
            role,
            holder: k.holder.clone(),
        });
    }
    Ok(KeySetView { authority: set.authority.clone(), version: set.version, issued_at: set.issued_at, keys, id })
}

/// Keys are never dropped (old decisions must stay checkable), and a declared compromise can
/// only move earlier: otherwise a stolen root quorum could quietly rehabilitate a stolen key.
fn supersedes(new: &KeySetView, old: &KeySetView) -> Result<(), TrustError> {
    let bad = |detail: String| TrustError::Invalid { authority: new.authority.clone(), detail };
    for o in &old.keys {
        let n = new
            .entry(&o.key)
            .ok_or_else(|| bad(format!("key {} of version {} is missing (retire keys by closing their window)", key_id(&o.key), old.version)))?;
        if n.role != o.role {
            return Err(bad(format!("key {} keeps its role {} (a key's role never changes: add a new key instead)", key_id(&o.key), o.role.as_str_name())));
        }
        if let Some(since) = o.compromised_since {
            if n.compromised_since.is_none_or(|s| s > since) {
                return Err(bad(format!("key {} was declared compromised since {since}; a later key set cannot clear or postpone that", key_id(&o.key))));
            }
        }
    }
    Ok(())
}

/// The key set statement for `set`, signed by `roots`.
pub fn sign_key_set(set: pb::KeySet, roots: &[&crate::statement::Signer]) -> Vec<u8> {
    crate::statement::sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::KeySet(set)) }, roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::Signer;

    const BAFA: &str = "de.bafa";

    fn signer(n: u8) -> Signer {
        Signer::from_seed(&[n; 32])
    }

    fn roots_of(threshold: usize, signers: &[&Signer]) -> HashMap<String, Roots> {
        HashMap::from([(BAFA.to_string(), Roots { threshold, keys: signers.iter().map(|s| s.verifying_key()).collect() })])
    }

    fn key(s: &Signer, from: i64, until: i64, compromised: i64) -> pb::SigningKey {
        pb::SigningKey {
            public_key: s.verifying_key().to_bytes().to_vec(),
            valid_from: from,
            valid_until: until,
            compromised_since: compromised,
            ..Default::default()
        }
    }

    fn set(version: u64, keys: Vec<pb::SigningKey>) -> pb::KeySet {
        pb::KeySet { authority: BAFA.into(), version, keys, issued_at: 1_767_225_600 }
    }

    fn envelope(set: pb::KeySet, signers: &[&Signer]) -> Envelope {
        Envelope::parse(sign_key_set(set, signers)).unwrap()
    }

    #[test]
    fn a_threshold_of_distinct_root_keys_must_sign() {
        let (r1, r2, r3, k) = (signer(1), signer(2), signer(3), signer(10));
        let roots = roots_of(2, &[&r1, &r2, &r3]);
        let v1 = set(1, vec![key(&k, 0, 0, 0)]);
        let view = check_key_set(&envelope(v1.clone(), &[&r1, &r3]), &roots, None).unwrap();
        assert_eq!(view.version, 1);
        assert_eq!(view.find(k.key_id()), Some(k.verifying_key()));

        let err = check_key_set(&envelope(v1.clone(), &[&r2]), &roots, None).unwrap_err();
        assert!(matches!(err, TrustError::BelowThreshold { signed: 1, threshold: 2, .. }), "{err}");
        // The same root key twice is one key, whatever the key ids say.
        let mut twice = <pb::SignedStatement as prost::Message>::decode(sign_key_set(v1.clone(), &[&r1]).as_slice()).unwrap();
        twice.signatures.push(twice.signatures[0].clone());
        let err = check_key_set(&Envelope::parse(prost::Message::encode_to_vec(&twice)).unwrap(), &roots, None).unwrap_err();
        assert!(matches!(err, TrustError::Signature { source: StatementError::DuplicateSigner(_), .. }), "{err}");
        // A signing key (not a root) does not count, and an unknown signature spoils the set.
        let err = check_key_set(&envelope(v1.clone(), &[&r1, &k]), &roots, None).unwrap_err();
        assert!(matches!(err, TrustError::Signature { source: StatementError::UnknownKey(_), .. }), "{err}");
        let other = HashMap::from([("jp.meti".to_string(), Roots { threshold: 1, keys: vec![r1.verifying_key()] })]);
        assert_eq!(check_key_set(&envelope(v1, &[&r1]), &other, None).unwrap_err(), TrustError::NotTrusted(BAFA.into()));
    }

    #[test]
    fn versions_only_rise_keys_stay_and_compromise_only_moves_earlier() {
        let (r1, k1, k2) = (signer(1), signer(10), signer(11));
        let roots = roots_of(1, &[&r1]);
        let v2 = check_key_set(&envelope(set(2, vec![key(&k1, 0, 0, 500)]), &[&r1]), &roots, None).unwrap();
        for version in [1, 2] {
            let err = check_key_set(&envelope(set(version, vec![key(&k1, 0, 0, 500)]), &[&r1]), &roots, Some(&v2)).unwrap_err();
            assert!(matches!(err, TrustError::Rollback { current: 2, .. }), "{err}");
        }
        let dropped = check_key_set(&envelope(set(3, vec![key(&k2, 0, 0, 0)]), &[&r1]), &roots, Some(&v2)).unwrap_err();
        assert!(dropped.to_string().contains("missing"), "{dropped}");
        for later in [0, 600] {
            let err = check_key_set(&envelope(set(3, vec![key(&k1, 0, 0, later)]), &[&r1]), &roots, Some(&v2)).unwrap_err();
            assert!(err.to_string().contains("cannot clear or postpone"), "{err}");
        }
        let v3 = check_key_set(&envelope(set(3, vec![key(&k1, 0, 0, 400), key(&k2, 0, 0, 0)]), &[&r1]), &roots, Some(&v2)).unwrap();
        assert_eq!(v3.entry(&k1.verifying_key()).unwrap().compromised_since, Some(400));
    }

    #[test]
    fn malformed_key_sets_are_refused_with_the_field() {
        let (r1, k) = (signer(1), signer(10));
        let roots = roots_of(1, &[&r1]);
        let weak = pb::SigningKey { public_key: curve25519_dalek::constants::EIGHT_TORSION[1].compress().to_bytes().to_vec(), ..key(&k, 0, 0, 0) };
        let cases: Vec<(pb::KeySet, &str)> = vec![
            (set(0, vec![key(&k, 0, 0, 0)]), "version"),
            (set(1, vec![]), "signing keys"),
            (set(1, vec![key(&k, 0, 0, 0), key(&k, 5, 0, 0)]), "listed twice"),
            (set(1, vec![key(&k, 100, 100, 0)]), "valid_until"),
            (set(1, vec![key(&k, 0, 0, -1)]), "compromised_since"),
            (set(1, vec![pb::SigningKey { public_key: vec![1; 31], ..key(&k, 0, 0, 0) }]), "32 bytes"),
            (set(1, vec![weak]), "weak"),
            (set(1, vec![pb::SigningKey { role: pb::KeyRole::Customs as i32, ..key(&k, 0, 0, 0) }]), "names its holder"),
            (set(1, vec![pb::SigningKey { role: 7, ..key(&k, 0, 0, 0) }]), "unknown role"),
        ];
        for (s, needle) in cases {
            let err = check_key_set(&envelope(s.clone(), &[&r1]), &roots, None).unwrap_err();
            assert!(err.to_string().contains(needle), "{s:?}: {err}");
        }
    }

    // A delegated customs key keeps its role: a later key set cannot turn it into a licensing
    // key (nor the other way round).
    #[test]
    fn a_key_keeps_its_role() {
        let (r1, k, c) = (signer(1), signer(10), signer(11));
        let roots = roots_of(1, &[&r1]);
        let customs = |role: pb::KeyRole| pb::SigningKey { role: role as i32, holder: "Zollamt Frankfurt am Main Flughafen".into(), ..key(&c, 0, 0, 0) };
        let v1 = check_key_set(&envelope(set(1, vec![key(&k, 0, 0, 0), customs(pb::KeyRole::Customs)]), &[&r1]), &roots, None).unwrap();
        assert_eq!(v1.entry(&c.verifying_key()).map(|e| e.role), Some(pb::KeyRole::Customs));
        let promoted = check_key_set(&envelope(set(2, vec![key(&k, 0, 0, 0), customs(pb::KeyRole::Licensing)]), &[&r1]), &roots, Some(&v1)).unwrap_err();
        assert!(promoted.to_string().contains("keeps its role CUSTOMS"), "{promoted}");
    }

    #[test]
    fn standing_follows_windows_and_compromise_time() {
        let (r1, k, other) = (signer(1), signer(10), signer(12));
        let view = check_key_set(&envelope(set(1, vec![key(&k, 100, 1000, 500)]), &[&r1]), &roots_of(1, &[&r1]), None).unwrap();
        let vk = k.verifying_key();
        assert_eq!(view.standing(&vk, 300), KeyStanding::CompromisedAfter { since: 500 });
        assert_eq!(view.standing(&vk, 500), KeyStanding::Compromised { since: 500 });
        assert_eq!(view.standing(&vk, 50), KeyStanding::OutsideWindow);
        assert_eq!(view.standing(&vk, 1000), KeyStanding::Compromised { since: 500 });
        let never_compromised = check_key_set(&envelope(set(1, vec![key(&k, 100, 1000, 0)]), &[&r1]), &roots_of(1, &[&r1]), None).unwrap();
        assert_eq!(never_compromised.standing(&vk, 1000), KeyStanding::OutsideWindow, "a retired key, whatever date the decision claims");
        assert_eq!(view.standing(&other.verifying_key(), 300), KeyStanding::Unknown);
        assert_eq!(view.current(300).count(), 1);
        assert_eq!(view.current(500).count(), 0);
    }

    #[test]
    fn trust_files_are_checked() {
        let (r1, r2) = (signer(1), signer(2));
        let hex_of = |s: &Signer| hex::encode(s.verifying_key().to_bytes());
        let good = TrustFile {
            witnesses: vec![],
            witness_quorum: 0,
            screening_lists: vec![],
            authorities: vec![TrustedAuthority {
                id: BAFA.into(),
                name: "BAFA".into(),
                threshold: 2,
                root_keys: vec![hex_of(&r1), hex_of(&r2)],
                keys: vec![],
                logs: vec![],
            }],
        };
        let parsed = TrustFile::parse(&good.to_toml()).unwrap();
        assert_eq!(parsed, good);
        assert_eq!(parsed.roots().unwrap()[BAFA].threshold, 2);
        let with = |f: &dyn Fn(&mut TrustedAuthority)| {
            let mut t = good.clone();
            f(&mut t.authorities[0]);
            t.roots().unwrap_err().to_string()
        };
        assert!(with(&|a| a.threshold = 3).contains("threshold"));
        assert!(with(&|a| a.threshold = 0).contains("threshold"));
        assert!(with(&|a| a.root_keys[1] = a.root_keys[0].clone()).contains("twice"));
        assert!(with(&|a| a.id = "BAFA".into()).contains("dotted"));
        assert!(with(&|a| a.root_keys[0] = "zz".into()).contains("root key"));
        assert!(TrustFile::parse("[[authority]]\nid = \"de.bafa\"\nthreshold = 1\nroot_keys = []\nextra = 1\n").is_err());
    }
}
