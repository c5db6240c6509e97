//! The QR code of a licence token: a small, checkable pointer to the token and to the licence's
//! head decision, not the token itself (a token is kilobytes; a QR code a few hundred bytes).
//!
//! Text form: `comity:2:` followed by base64url (no padding) of a protobuf `TokenPointer`:
//! licence, head version and statement id, SHA-256 of the token file, the issuer log's signed
//! checkpoint the head's receipt is proven against (log signature only), and an optional
//! http(s) URL. Read back it is checked two ways:
//! - with the token file ([`check_pointer_against_token`]): the code belongs to exactly that
//!   token, its checkpoint is signed by a pinned log key, and that token's head is proven
//!   against that checkpoint;
//! - without it ([`check_pointer_checkpoint`]): the checkpoint is signed by a pinned log key,
//!   so the head it names was logged; a node's Verify then tells whether it is still the head.
//!
//! The checkpoint's signature is what makes a code more than a claim: anyone can print
//! `comity:2:` text, but not a checkpoint note signed by a log key the reader pins.

use std::collections::HashMap;

use base64::prelude::{Engine as _, BASE64_URL_SAFE_NO_PAD};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::decision::{is_authority_id, is_licence_id};
use crate::log::{stored_checkpoint_fields, verify_receipt, LogError, LogVerifier, SignedCheckpoint};
use crate::pb::{self, TokenPointer};
use crate::statement::Envelope;
use crate::token::{TokenError, MAX_TOKEN_BYTES, MAX_TOKEN_STATEMENTS};

/// The one form this code reads and writes.
pub const POINTER_PREFIX: &str = "comity:2:";
/// Longest QR text accepted (a demo pointer with a link is about 560 characters).
pub const MAX_POINTER_CHARS: usize = 2048;
/// Longest checkpoint note accepted in a pointer.
pub const MAX_CHECKPOINT_CHARS: usize = 1024;
/// Longest `fetch` URL accepted.
pub const MAX_FETCH_CHARS: usize = 512;
/// Largest QR image accepted, in bytes and in pixels per side.
pub const MAX_QR_IMAGE_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_QR_IMAGE_SIDE: u32 = 4096;

/// Why a QR code was refused. Each variant names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    #[error("QR text is {0} characters, more than the {MAX_POINTER_CHARS} allowed")]
    TooLong(usize),
    #[error("`{0}` is not a Comity token QR code (expected text starting with `{POINTER_PREFIX}`)")]
    NotPointer(String),
    #[error("QR code form `comity:{0}:` is not supported: this verifier reads `{POINTER_PREFIX}` codes (base64url of a TokenPointer){hint}", hint = if .0 == "1" { "; `comity:1:` codes were unsigned and cannot be checked: print a new code with `comity token qr`" } else { "" })]
    UnsupportedForm(String),
    #[error("QR code is not base64url without padding: {0}")]
    NotBase64(String),
    #[error("QR code does not decode as a token pointer: {0}")]
    Malformed(String),
    #[error("QR code field `{field}`: {problem}")]
    Field { field: &'static str, problem: String },
    #[error("the QR code belongs to another token: it names token SHA-256 {expected}, this token's is {got}")]
    TokenHash { expected: String, got: String },
    #[error("the QR code's checkpoint is for log `{0}`, whose key is not pinned")]
    UnpinnedLog(String),
    #[error("the QR code's checkpoint is refused: {0}")]
    Checkpoint(LogError),
    #[error("the QR code is for {expected}, the token for {got}")]
    Licence { expected: String, got: String },
    #[error("the token's head decision is {got}, the QR code names {expected}")]
    Head { expected: String, got: String },
    #[error("the token's receipt for its head is against {got}, the QR code's checkpoint is {expected}")]
    Receipt { expected: String, got: String },
    #[error("token: {0}")]
    Token(String),
    #[error("QR image: {0}")]
    Image(String),
}

impl From<PointerError> for TokenError {
    fn from(e: PointerError) -> Self {
        TokenError::Refused(e.to_string())
    }
}

/// A short form of a 32-byte id for messages: the first 12 hex digits.
pub fn short_id(id: &[u8]) -> String {
    let hex = hex::encode(id);
    format!("{}…", hex.get(..12).unwrap_or(&hex))
}

/// `v3 1a2b3c4d5e6f…`
fn head_label(version: u64, id: &[u8]) -> String {
    format!("v{version} {}", short_id(id))
}

/// `origin@size root 1a2b…`
fn checkpoint_label(origin: &str, size: u64, root: &[u8]) -> String {
    format!("{origin} size {size} root {}", short_id(root))
}

/// The head decision of a token: its version, statement id and the index of its statement.
struct Head {
    version: u64,
    id: [u8; 32],
    index: usize,
}

fn decode_token(token_bytes: &[u8]) -> Result<pb::LicenceToken, PointerError> {
    if token_bytes.len() > MAX_TOKEN_BYTES {
        return Err(PointerError::Token(format!("{} bytes, more than the {MAX_TOKEN_BYTES} allowed", token_bytes.len())));
    }
    let token = pb::LicenceToken::decode(token_bytes).map_err(|e| PointerError::Token(format!("not a licence token (truncated or corrupted): {e}")))?;
    if token.statements.is_empty() || token.statements.len() > MAX_TOKEN_STATEMENTS || token.statements.len() != token.receipts.len() {
        return Err(PointerError::Token(format!(
            "{} statements and {} receipts (1 to {MAX_TOKEN_STATEMENTS}, one receipt each)",
            token.statements.len(),
            token.receipts.len()
        )));
    }
    Ok(token)
}

/// The decision of highest version on the token's own licence.
fn token_head(token: &pb::LicenceToken) -> Result<Head, PointerError> {
    let mut head: Option<Head> = None;
    for (index, bytes) in token.statements.iter().enumerate() {
        let envelope = Envelope::parse(bytes.clone()).map_err(|e| PointerError::Token(format!("statement {index}: {e}")))?;
        if let Some(d) = envelope.decision() {
            if (d.authority.as_str(), d.licence_id.as_str()) == (token.authority.as_str(), token.licence_id.as_str())
                && head.as_ref().is_none_or(|h| d.version > h.version)
            {
                head = Some(Head { version: d.version, id: envelope.id().0, index });
            }
        }
    }
    head.ok_or_else(|| PointerError::Token(format!("it carries no decision on {}/{}", token.authority, token.licence_id)))
}

/// The QR text for token `token_bytes`, with an optional http(s) `fetch` URL.
pub fn pointer_for(token_bytes: &[u8], fetch: Option<&str>) -> Result<String, PointerError> {
    let token = decode_token(token_bytes)?;
    let head = token_head(&token)?;
    let receipt = &token.receipts[head.index];
    // Cosignatures are dropped to keep the code small; the log's own signature is what a reader checks.
    let checkpoint = crate::witness::merge_cosignatures(&receipt.checkpoint, &[], &[]).map_err(|e| PointerError::Token(format!("the head's receipt: {e}")))?;
    let pointer = TokenPointer {
        authority: token.authority.clone(),
        licence_id: token.licence_id.clone(),
        version: head.version,
        head_id: head.id.to_vec(),
        token_sha256: Sha256::digest(token_bytes).to_vec(),
        checkpoint,
        fetch: fetch.unwrap_or_default().to_string(),
    };
    let text = encode_pointer(&pointer);
    // Written only if it reads back: the same bounds apply on both sides.
    parse_pointer(&text)?;
    Ok(text)
}

/// The QR text of `pointer`, unchecked (see [`pointer_for`]).
pub fn encode_pointer(pointer: &TokenPointer) -> String {
    format!("{POINTER_PREFIX}{}", BASE64_URL_SAFE_NO_PAD.encode(pointer.encode_to_vec()))
}

/// Parses QR text strictly: the `comity:2:` form, base64url without padding, a canonical
/// encoding with no unknown fields, and every field well-formed. Signatures are not checked
/// here.
pub fn parse_pointer(text: &str) -> Result<TokenPointer, PointerError> {
    // Scanners often append a line break.
    let text = text.trim();
    if text.len() > MAX_POINTER_CHARS {
        return Err(PointerError::TooLong(text.len()));
    }
    let Some(encoded) = text.strip_prefix(POINTER_PREFIX) else {
        let shown: String = text.chars().take(24).collect();
        return match text.strip_prefix("comity:").and_then(|rest| rest.split_once(':')) {
            Some((form, _)) if !form.is_empty() && form.len() <= 8 => Err(PointerError::UnsupportedForm(form.to_string())),
            _ => Err(PointerError::NotPointer(shown)),
        };
    };
    let bytes = BASE64_URL_SAFE_NO_PAD.decode(encoded).map_err(|e| PointerError::NotBase64(e.to_string()))?;
    let pointer = TokenPointer::decode(bytes.as_slice()).map_err(|e| PointerError::Malformed(e.to_string()))?;
    // One encoding per pointer: nothing unknown rides along unchecked.
    if pointer.encode_to_vec() != bytes {
        return Err(PointerError::Malformed("not the canonical encoding (unknown or repeated fields)".into()));
    }
    let field = |field: &'static str, problem: String| PointerError::Field { field, problem };
    if !is_authority_id(&pointer.authority) {
        return Err(field("authority", format!("`{}` is not an authority id", pointer.authority)));
    }
    if !is_licence_id(&pointer.licence_id) {
        return Err(field("licence_id", format!("`{}` is not a licence id", pointer.licence_id)));
    }
    if pointer.version == 0 {
        return Err(field("version", "must be 1 or more".into()));
    }
    for (name, value) in [("head_id", &pointer.head_id), ("token_sha256", &pointer.token_sha256)] {
        if value.len() != 32 {
            return Err(field(name, format!("{} bytes, expected 32", value.len())));
        }
    }
    check_checkpoint_shape(&pointer.checkpoint)?;
    check_fetch(&pointer.fetch)?;
    Ok(pointer)
}

/// A checkpoint note with one signature line, by the log named in its first line.
fn check_checkpoint_shape(note: &str) -> Result<(), PointerError> {
    let bad = |problem: String| PointerError::Field { field: "checkpoint", problem };
    if note.is_empty() || note.len() > MAX_CHECKPOINT_CHARS {
        return Err(bad(format!("{} characters (1 to {MAX_CHECKPOINT_CHARS})", note.len())));
    }
    let (_, signatures) = note.rsplit_once("\n\n").ok_or_else(|| bad("not a signed note (no signature block)".into()))?;
    let origin = note.lines().next().unwrap_or_default();
    let lines: Vec<&str> = signatures.lines().collect();
    match lines[..] {
        [line] if line.strip_prefix("— ").and_then(|l| l.split_once(' ')).is_some_and(|(name, _)| name == origin) => Ok(()),
        [_] => Err(bad(format!("its signature line is not by the log `{origin}`"))),
        _ => Err(bad(format!("{} signature lines; a QR code carries the log's own signature only", lines.len()))),
    }
}

fn check_fetch(url: &str) -> Result<(), PointerError> {
    let bad = |problem: String| PointerError::Field { field: "fetch", problem };
    if url.is_empty() {
        return Ok(());
    }
    if url.len() > MAX_FETCH_CHARS {
        return Err(bad(format!("{} characters, more than the {MAX_FETCH_CHARS} allowed", url.len())));
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).ok_or_else(|| bad(format!("`{url}` is not an http(s) URL")))?;
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(format!("`{url}` is not an http(s) URL with a host")));
    }
    Ok(())
}

/// Checks the pointer's checkpoint signature with the log key pinned for its origin.
pub fn check_pointer_checkpoint(pointer: &TokenPointer, log_verifiers: &HashMap<String, LogVerifier>) -> Result<SignedCheckpoint, PointerError> {
    let origin = pointer.checkpoint.lines().next().unwrap_or_default();
    let verifier = log_verifiers.get(origin).ok_or_else(|| PointerError::UnpinnedLog(origin.to_string()))?;
    verifier.verify_checkpoint(&pointer.checkpoint).map_err(PointerError::Checkpoint)
}

/// Checks that `pointer` is the code of token `token_bytes`: the token's SHA-256, the
/// checkpoint's signature by a pinned log key, the licence, the head decision (version and
/// statement id), and the head's receipt against that same checkpoint. Returns the verified
/// checkpoint. The token itself is verified separately (`token::verify_token`).
pub fn check_pointer_against_token(
    pointer: &TokenPointer,
    token_bytes: &[u8],
    log_verifiers: &HashMap<String, LogVerifier>,
) -> Result<SignedCheckpoint, PointerError> {
    let digest = Sha256::digest(token_bytes);
    if digest.as_slice() != pointer.token_sha256.as_slice() {
        return Err(PointerError::TokenHash { expected: short_id(&pointer.token_sha256), got: short_id(&digest) });
    }
    let checkpoint = check_pointer_checkpoint(pointer, log_verifiers)?;
    let token = decode_token(token_bytes)?;
    if (token.authority.as_str(), token.licence_id.as_str()) != (pointer.authority.as_str(), pointer.licence_id.as_str()) {
        return Err(PointerError::Licence {
            expected: format!("{}/{}", pointer.authority, pointer.licence_id),
            got: format!("{}/{}", token.authority, token.licence_id),
        });
    }
    let head = token_head(&token)?;
    if head.version != pointer.version || head.id.as_slice() != pointer.head_id.as_slice() {
        return Err(PointerError::Head { expected: head_label(pointer.version, &pointer.head_id), got: head_label(head.version, &head.id) });
    }
    let receipt = &token.receipts[head.index];
    let expected = checkpoint_label(&checkpoint.origin, checkpoint.size, &checkpoint.root);
    let got = match stored_checkpoint_fields(&receipt.checkpoint) {
        Some((size, root, _)) => checkpoint_label(&receipt.origin, size, &root),
        None => format!("an unreadable checkpoint of {}", receipt.origin),
    };
    if receipt.origin != checkpoint.origin || got != expected {
        return Err(PointerError::Receipt { expected, got });
    }
    // The head really sits under that checkpoint (the pinned key signed the receipt's note too).
    let verifier = log_verifiers.get(&checkpoint.origin).ok_or_else(|| PointerError::UnpinnedLog(checkpoint.origin.clone()))?;
    let proven = verify_receipt(receipt, &token.statements[head.index], verifier)
        .map_err(|e| PointerError::Receipt { expected: expected.clone(), got: format!("a receipt that does not verify ({e})") })?;
    if (proven.size, proven.root) != (checkpoint.size, checkpoint.root) {
        return Err(PointerError::Receipt { expected, got: checkpoint_label(&proven.origin, proven.size, &proven.root) });
    }
    Ok(checkpoint)
}

/// Reads the QR code in a PNG (or other supported) image: the text of the first code found.
/// Bounded in bytes and pixels before decoding.
pub fn decode_qr_image(bytes: &[u8]) -> Result<String, PointerError> {
    let bad = |m: String| PointerError::Image(m);
    if bytes.len() > MAX_QR_IMAGE_BYTES {
        return Err(bad(format!("{} bytes, more than the {MAX_QR_IMAGE_BYTES} allowed", bytes.len())));
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| bad(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_QR_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_QR_IMAGE_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| bad(format!("not a readable PNG image: {e}")))?.to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(picture);
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(bad("no QR code found in the image".into()));
    }
    let mut last = String::new();
    for grid in grids {
        match grid.decode() {
            Ok((_, text)) => return Ok(text),
            Err(e) => last = e.to_string(),
        }
    }
    Err(bad(format!("the QR code could not be read: {last}")))
}

/// QR text from what a user gives: the text itself, or a file holding an image or the text.
pub fn pointer_text_from_upload(bytes: &[u8]) -> Result<String, PointerError> {
    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(PNG_MAGIC) {
        return decode_qr_image(bytes);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if text.trim_start().starts_with("comity:") => Ok(text.trim().to_string()),
        _ => Err(PointerError::Image("neither a PNG image nor `comity:2:` text".into())),
    }
}

/// Fuzzing entry point (called from `token::fuzz`): must never panic. Feature `fixtures`.
#[cfg(any(test, feature = "fixtures"))]
pub fn fuzz(data: &[u8]) {
    let _ = pointer_for(data, None);
    let _ = parse_pointer(&String::from_utf8_lossy(data));
    let _ = pointer_text_from_upload(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogKey;
    use crate::statement::{sign_decision, Signer};

    const ORIGIN: &str = "registry.bafa.example/log";

    fn log_key() -> LogKey {
        LogKey::from_seed(ORIGIN, &[7; 32]).unwrap()
    }

    fn verifiers() -> HashMap<String, LogVerifier> {
        HashMap::from([(ORIGIN.to_string(), log_key().verifier())])
    }

    /// A fixed token: a grant and (optionally) a revocation, both logged and proven against
    /// one checkpoint signed at a fixed time.
    fn token(versions: u64) -> Vec<u8> {
        use crate::decision::fixtures::{follow_up, grant};
        let signer = Signer::from_seed(&[3; 32]);
        let g = grant("de.bafa", "DE-2026-004211");
        let mut statements = vec![sign_decision(g.clone(), &signer)];
        if versions > 1 {
            let previous = Envelope::parse(statements[0].clone()).unwrap().id().0;
            statements.push(sign_decision(follow_up(&g, pb::Action::Revoke, 2, previous), &signer));
        }
        let mut hashes = crate::log::MemoryHashes::default();
        for s in &statements {
            hashes.append(&crate::log::entry_leaf_hash(1_793_000_000, s));
        }
        let size = hashes.size();
        let root = crate::log::tree_root(size, &hashes).unwrap();
        let mut map = crate::licence_map::MemoryMap::default();
        map.apply(&crate::licence_map::changes_of(statements.iter().map(Vec::as_slice)));
        let note = log_key().sign_checkpoint(size, &root, &map.root(), 1_793_000_000).unwrap();
        let head = crate::bundle::wire_head_proof(
            ORIGIN,
            &note,
            "de.bafa",
            "DE-2026-004211",
            &map.prove(&crate::licence_map::licence_key("de.bafa", "DE-2026-004211")),
        );
        let receipts = statements
            .iter()
            .enumerate()
            .map(|(i, s)| pb::Receipt {
                origin: ORIGIN.into(),
                index: i as u64,
                leaf_hash: crate::log::entry_leaf_hash(1_793_000_000, s).to_vec().into(),
                checkpoint: note.clone(),
                inclusion_proof: crate::log::wire_proof(&crate::log::prove_inclusion(size, i as u64, &hashes).unwrap()),
                logged_at: 1_793_000_000,
            })
            .collect();
        pb::LicenceToken {
            format: crate::token::OLDEST_TOKEN_FORMAT,
            authority: "de.bafa".into(),
            licence_id: "DE-2026-004211".into(),
            statements,
            receipts,
            head: Some(head),
            parent: None,
        }
        .encode_to_vec()
    }

    #[test]
    fn a_pointer_reads_back_and_checks_against_its_token() {
        let bytes = token(1);
        let text = pointer_for(&bytes, Some("https://registry.bafa.example/licences/de.bafa/DE-2026-004211")).unwrap();
        assert!(text.starts_with("comity:2:"), "{text}");
        let pointer = parse_pointer(&format!("{text}\n")).unwrap();
        assert_eq!(pointer.version, 1);
        assert_eq!(pointer.token_sha256, Sha256::digest(&bytes).to_vec());
        let checkpoint = check_pointer_against_token(&pointer, &bytes, &verifiers()).unwrap();
        assert_eq!((checkpoint.origin.as_str(), checkpoint.size, checkpoint.time), (ORIGIN, 1, 1_793_000_000));
    }

    /// Fixed test vectors: the encoding of a pointer is stable (printed codes outlive releases).
    #[test]
    fn encoding_test_vectors() {
        let pointer = TokenPointer {
            authority: "de.bafa".into(),
            licence_id: "DE-2026-004211".into(),
            version: 2,
            head_id: vec![0xab; 32],
            token_sha256: vec![0x01; 32],
            checkpoint: "o\n1\nAAAA\n\n— o AAAA\n".into(),
            fetch: String::new(),
        };
        let text = encode_pointer(&pointer);
        assert_eq!(
            text,
            "comity:2:CgdkZS5iYWZhEg5ERS0yMDI2LTAwNDIxMRgCIiCrq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urqyogAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEyFW8KMQpBQUFBCgrigJQgbyBBQUFBCg"
        );
        assert_eq!(parse_pointer(&text).unwrap(), pointer);
        // The token's pointer: a fixed token gives a fixed text (ed25519 signatures are deterministic).
        let text = pointer_for(&token(1), None).unwrap();
        assert_eq!(text, TOKEN_POINTER);
        assert_eq!(text.len(), 500);
    }
    /// The code of `token(1)`: a one-grant token in a one-entry log of `ORIGIN`.
    const TOKEN_POINTER: &str = "comity:2:CgdkZS5iYWZhEg5ERS0yMDI2LTAwNDIxMRgBIiDXYJT5_0c_yjFJ_1EOPUbctSHJkrZBhu3NFqJroyOIQCogs5LozslxLxgkbgmt4gPmBsfmo2gWidyBNsDmxBbOPH4yjgJyZWdpc3RyeS5iYWZhLmV4YW1wbGUvbG9nCjEKTGNNTFN6Z1lyRCtwaHRadXp1dUQ0ancrRm8valBQaFhhS3A4OE5CRFJoaz0KdGltZSAxNzkzMDAwMDAwCmxpY2VuY2UtbWFwIEk2TXd3TjhML1pydjU5K3E4OWRxRGtwUTQ1QU03LzU4dzVtQ2p2OVo1V0E9CgrigJQgcmVnaXN0cnkuYmFmYS5leGFtcGxlL2xvZyBVbStTUmNlMFBUem5IT2hST2xmNUNLbHhmN3dudFRMQzJoL2xVbUFqWCtZd0FuVWFvUmRtdkd4T0pSTkczN1RBYVdHdTQ0L2ZSVkU4dEp6ZUhiRTZtd3JzU0FJPQo";

    #[test]
    fn parsing_is_strict() {
        let text = pointer_for(&token(1), None).unwrap();
        let refuse = |t: &str| parse_pointer(t).unwrap_err().to_string();
        assert!(refuse("comity:1:de.bafa/DE-1:v1:ab:o:1:cd").contains("`comity:1:` codes were unsigned"));
        assert!(refuse(&text.replace("comity:2:", "comity:3:")).contains("this verifier reads `comity:2:`"));
        assert!(refuse("https://example.org").contains("not a Comity token QR code"));
        assert!(refuse(&format!("{text}=")).contains("base64url"));
        assert!(!text.contains('-') || refuse(&text.replace('-', "+")).contains("base64url"));
        assert!(refuse(&format!("comity:2:{}", "A".repeat(MAX_POINTER_CHARS))).contains("more than the 2048"));
        let mut pointer = parse_pointer(&text).unwrap();
        pointer.head_id.pop();
        assert!(refuse(&encode_pointer(&pointer)).contains("`head_id`: 31 bytes, expected 32"));
        let mut pointer = parse_pointer(&text).unwrap();
        pointer.fetch = "javascript:alert(1)".into();
        assert!(refuse(&encode_pointer(&pointer)).contains("not an http(s) URL"));
        // A cosigned note is refused: codes carry the log's signature only.
        let mut pointer = parse_pointer(&text).unwrap();
        pointer.checkpoint.push_str("— witness.example AAAA\n");
        assert!(refuse(&encode_pointer(&pointer)).contains("2 signature lines"));
        // Unknown fields are refused.
        let mut bytes = parse_pointer(&text).unwrap().encode_to_vec();
        bytes.extend_from_slice(&[0x40, 0x01]); // field 8, varint 1
        assert!(refuse(&format!("comity:2:{}", BASE64_URL_SAFE_NO_PAD.encode(bytes))).contains("canonical"));
    }

    #[test]
    fn each_check_against_a_token_names_what_failed() {
        let (one, two) = (token(1), token(2));
        let pointer = parse_pointer(&pointer_for(&one, None).unwrap()).unwrap();
        // Another token (the licence revoked since): the hash differs.
        let e = check_pointer_against_token(&pointer, &two, &verifiers()).unwrap_err();
        assert!(matches!(e, PointerError::TokenHash { .. }), "{e}");
        // A checkpoint with its size changed no longer verifies.
        let mut tampered = pointer.clone();
        tampered.checkpoint = tampered.checkpoint.replacen("\n1\n", "\n2\n", 1);
        let e = check_pointer_against_token(&tampered, &one, &verifiers()).unwrap_err();
        assert_eq!(e, PointerError::Checkpoint(LogError::BadCheckpointSignature(log_key().verifier().to_string())));
        // No pinned key for the log.
        let e = check_pointer_against_token(&pointer, &one, &HashMap::new()).unwrap_err();
        assert_eq!(e, PointerError::UnpinnedLog(ORIGIN.into()));
        // The head named is not the token's head (pointer of token 2, with token 2's hash
        // replaced by token 1's to reach the head check).
        let mut other = parse_pointer(&pointer_for(&two, None).unwrap()).unwrap();
        other.token_sha256 = Sha256::digest(&one).to_vec();
        other.checkpoint = pointer.checkpoint.clone();
        let e = check_pointer_against_token(&other, &one, &verifiers()).unwrap_err().to_string();
        assert!(e.contains("head decision is v1") && e.contains("names v2"), "{e}");
        // The head's receipt is against another checkpoint than the code's.
        let mut elsewhere = pointer.clone();
        elsewhere.checkpoint = parse_pointer(&pointer_for(&two, None).unwrap()).unwrap().checkpoint;
        let e = check_pointer_against_token(&elsewhere, &one, &verifiers()).unwrap_err().to_string();
        assert!(e.contains("receipt for its head is against") && e.contains("size 1") && e.contains("size 2"), "{e}");
    }

    /// The demo-sized code fits a QR code at error correction M, with a link too.
    #[test]
    fn the_code_fits_a_qr_code_at_level_m() {
        let text = pointer_for(&token(2), Some("https://registry.bafa.example/licences/de.bafa/DE-2026-004211")).unwrap();
        let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).unwrap();
        let qrcode::Version::Normal(version) = code.version() else { panic!("micro QR") };
        assert!(version <= 25, "version {version} for {} characters", text.len());
        // And the image reads back.
        let png = code.render::<image::Luma<u8>>().module_dimensions(4, 4).build();
        let mut bytes = Vec::new();
        png.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        assert_eq!(pointer_text_from_upload(&bytes).unwrap(), text);
        assert!(decode_qr_image(b"\x89PNG\r\n\x1a\nnot really").unwrap_err().to_string().contains("not a readable PNG"));
    }
}
