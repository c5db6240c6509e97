//! Classification rulings (docs/rulings-and-general-licences.md): an authority's signed answer to
//! "is this item listed, and under which code?", for an applicant, valid for a window, public or
//! confidential.
//!
//! Pure rules, as in [`crate::catalogue`]: a ruling's fields are checked by
//! [`Ruling::try_from`], a new version against the one before with [`check_next`], and a
//! confidential ruling's withheld details (applicant and technical parameters) against its
//! commitment with [`Ruling::open`]. The node checks the codes against the authority's control
//! list in force at `issued_at` ([`crate::catalogue::check_listed`]).

use std::fmt;
use std::sync::LazyLock;

use prost::Message;
use regex::Regex;
use sha2::{Digest, Sha256};

use crate::authoring::{format_time, regime_prefix};
use crate::catalogue::qualified_regime;
use crate::decision::{self, field_err, is_authority_id, FieldError, MAX_SHORT, MAX_TEXT};
use crate::pb::{self, Regime};
use crate::statement::{pae, StatementId};

/// Payload type bound into every commitment, so it can never be taken for another hash.
pub const DETAILS_PAYLOAD_TYPE: &str = "comity.v1.ruling-details";
/// Length of the salt of a confidential ruling's details.
pub const SALT_BYTES: usize = 32;
/// Most technical parameters, control codes or regimes in one ruling.
pub const MAX_RULING_LIST: usize = 64;

static RULING_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9/_.-]{0,63}$").expect("valid regex"));

/// A ruling version whose fields are all well formed.
#[derive(Debug, Clone, PartialEq)]
pub struct Ruling {
    ruling: pb::ClassificationRuling,
}

/// Where a ruling stands at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulingStatus {
    InForce,
    Withdrawn,
    Expired,
    NotYetValid,
}

impl RulingStatus {
    /// Upper-case name as shown by the CLI and the web pages.
    pub fn as_str(self) -> &'static str {
        match self {
            RulingStatus::InForce => "IN_FORCE",
            RulingStatus::Withdrawn => "WITHDRAWN",
            RulingStatus::Expired => "EXPIRED",
            RulingStatus::NotYetValid => "NOT_YET_VALID",
        }
    }
}

impl TryFrom<pb::ClassificationRuling> for Ruling {
    type Error = FieldError;

    fn try_from(r: pb::ClassificationRuling) -> Result<Self, FieldError> {
        if !is_authority_id(&r.authority) {
            return Err(field_err("authority", format!("`{}` is not an authority id like `de.bafa`", crate::shown(&r.authority))));
        }
        if !RULING_ID.is_match(&r.ruling_id) {
            return Err(field_err("ruling_id", format!("`{}` is not a reference like DE-CR-2026-0115", crate::shown(&r.ruling_id))));
        }
        match (r.version, r.previous.len()) {
            (0, _) => return Err(field_err("version", "starts at 1")),
            (1, 0) | (2.., 32) => {}
            (1, _) => return Err(field_err("previous", "must be empty for version 1")),
            _ => return Err(field_err("previous", "must be the 32-byte statement id of the version before")),
        }
        let confidential = !r.commitment.is_empty();
        if confidential {
            if r.commitment.len() != 32 {
                return Err(field_err("commitment", format!("must be 32 bytes, got {}", r.commitment.len())));
            }
            if r.applicant.is_some() {
                return Err(field_err("applicant", "must be empty for a confidential ruling (it is committed to, not published)"));
            }
            if !r.parameters.is_empty() {
                return Err(field_err("parameters", "must be empty for a confidential ruling (they are committed to, not published)"));
            }
        } else {
            match &r.applicant {
                None => return Err(field_err("applicant", "required (or a commitment, for a confidential ruling)")),
                Some(p) => check_party("applicant", p)?,
            }
        }
        check_parameters(&r.parameters)?;
        decision::check_text("item_description", &r.item_description, MAX_TEXT, true)?;
        if r.not_listed {
            if !r.control_codes.is_empty() {
                return Err(field_err("control_codes", "must be empty when the item is not listed"));
            }
            if r.not_listed_in.is_empty() || r.not_listed_in.len() > MAX_RULING_LIST {
                return Err(field_err("not_listed_in", format!("name 1 to {MAX_RULING_LIST} regimes whose lists the item is not on")));
            }
            for (i, regime) in r.not_listed_in.iter().enumerate() {
                match Regime::try_from(*regime) {
                    Ok(Regime::Unspecified) | Err(_) => return Err(field_err(format!("not_listed_in[{i}]"), "missing or unknown regime")),
                    Ok(_) if r.not_listed_in[..i].contains(regime) => return Err(field_err(format!("not_listed_in[{i}]"), "named twice")),
                    Ok(_) => {}
                }
            }
        } else {
            if !r.not_listed_in.is_empty() {
                return Err(field_err("not_listed_in", "only with not_listed"));
            }
            if r.control_codes.is_empty() || r.control_codes.len() > MAX_RULING_LIST {
                return Err(field_err("control_codes", format!("name 1 to {MAX_RULING_LIST} codes, or set not_listed")));
            }
            for (i, code) in r.control_codes.iter().enumerate() {
                if qualified_regime(code).is_none() {
                    return Err(field_err(
                        format!("control_codes[{i}]"),
                        format!("`{}` is not a qualified control code like EU-DU:3A001.b.2.b", crate::shown(code)),
                    ));
                }
                if r.control_codes[..i].contains(code) {
                    return Err(field_err(format!("control_codes[{i}]"), format!("`{code}` is named twice")));
                }
            }
        }
        decision::check_text("rationale", &r.rationale, MAX_TEXT, true)?;
        if r.valid_from <= 0 {
            return Err(field_err("valid_from", "required (Unix seconds)"));
        }
        if r.valid_until <= r.valid_from {
            return Err(field_err("valid_until", "must be after valid_from"));
        }
        if r.issued_at <= 0 {
            return Err(field_err("issued_at", "required (Unix seconds)"));
        }
        Ok(Self { ruling: r })
    }
}

fn check_party(field: &str, p: &pb::Party) -> Result<(), FieldError> {
    decision::check_text(&format!("{field}.name"), &p.name, MAX_SHORT, true)?;
    if !crate::codes::is_country(&p.country) {
        return Err(field_err(format!("{field}.country"), format!("`{}` is not an ISO 3166-1 alpha-2 code", crate::shown(&p.country))));
    }
    decision::check_text(&format!("{field}.address"), &p.address, MAX_TEXT, false)?;
    if p.identifiers.len() > MAX_RULING_LIST {
        return Err(field_err(format!("{field}.identifiers"), format!("at most {MAX_RULING_LIST}")));
    }
    for (i, id) in p.identifiers.iter().enumerate() {
        decision::check_text(&format!("{field}.identifiers[{i}].scheme"), &id.scheme, MAX_SHORT, true)?;
        decision::check_text(&format!("{field}.identifiers[{i}].value"), &id.value, MAX_SHORT, true)?;
    }
    Ok(())
}

fn check_parameters(parameters: &[pb::TechnicalParameter]) -> Result<(), FieldError> {
    if parameters.len() > MAX_RULING_LIST {
        return Err(field_err("parameters", format!("has {} entries, at most {MAX_RULING_LIST}", parameters.len())));
    }
    for (i, p) in parameters.iter().enumerate() {
        decision::check_text(&format!("parameters[{i}].name"), &p.name, MAX_SHORT, true)?;
        decision::check_text(&format!("parameters[{i}].value"), &p.value, MAX_SHORT, true)?;
    }
    Ok(())
}

impl Ruling {
    /// The wire ruling.
    pub fn ruling(&self) -> &pb::ClassificationRuling {
        &self.ruling
    }

    /// `authority/ruling_id`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.ruling.authority, self.ruling.ruling_id)
    }

    /// Whether the applicant and parameters are withheld behind a commitment.
    pub fn is_confidential(&self) -> bool {
        !self.ruling.commitment.is_empty()
    }

    /// The ruling's standing at `at`.
    pub fn status_at(&self, at: i64) -> RulingStatus {
        let r = &self.ruling;
        if r.withdrawn {
            RulingStatus::Withdrawn
        } else if at < r.valid_from {
            RulingStatus::NotYetValid
        } else if at >= r.valid_until {
            RulingStatus::Expired
        } else {
            RulingStatus::InForce
        }
    }

    /// The result's codes as (regime, bare code), for checking against control lists.
    pub fn codes(&self) -> Vec<(Regime, &str)> {
        self.ruling.control_codes.iter().filter_map(|c| Some((qualified_regime(c)?, c.split_once(':')?.1))).collect()
    }

    /// The result in words: `EU-DU:3A001.b.2.b` or `not listed (EU-DU, WA)`.
    pub fn result(&self) -> String {
        let r = &self.ruling;
        if r.not_listed {
            let regimes: Vec<&str> = r.not_listed_in.iter().map(|g| regime_prefix(Regime::try_from(*g).unwrap_or(Regime::Unspecified))).collect();
            format!("not listed ({})", regimes.join(", "))
        } else {
            r.control_codes.join(", ")
        }
    }

    /// Whether one of the result's codes is `code` or lies under it (`EU-DU:3A001.b` holds
    /// `EU-DU:3A001.b.2.b`).
    pub fn has_code_under(&self, code: &str) -> bool {
        self.ruling.control_codes.iter().any(|c| c.strip_prefix(code).is_some_and(|rest| rest.is_empty() || rest.starts_with('.')))
    }

    /// Whether a word of the applicant's name or of the item description starts with `word`
    /// (case-insensitive).
    pub fn mentions(&self, word: &str) -> bool {
        let word = word.to_lowercase();
        let applicant = self.ruling.applicant.as_ref().map_or("", |p| p.name.as_str());
        [applicant, self.ruling.item_description.as_str()]
            .iter()
            .flat_map(|t| t.split(|c: char| !c.is_alphanumeric()))
            .any(|w| !w.is_empty() && w.to_lowercase().starts_with(&word))
    }

    /// Checks `details` against this confidential ruling's commitment: the applicant and
    /// parameters in them are the ones the authority signed for.
    pub fn open(&self, details: &pb::RulingDetails) -> Result<(), RulingError> {
        if !self.is_confidential() {
            return Err(RulingError::NotConfidential(self.key()));
        }
        if details.salt.len() != SALT_BYTES {
            return Err(RulingError::BadSalt);
        }
        if commitment(details).as_slice() != self.ruling.commitment.as_slice() {
            return Err(RulingError::CommitmentMismatch(self.key()));
        }
        match &details.applicant {
            None => return Err(RulingError::Details(field_err("applicant", "required"))),
            Some(p) => check_party("applicant", p).map_err(RulingError::Details)?,
        }
        check_parameters(&details.parameters).map_err(RulingError::Details)
    }
}

impl fmt::Display for Ruling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ruling {} v{}", self.key(), self.ruling.version)
    }
}

/// Why a ruling version cannot follow the one held, or its details cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulingError {
    #[error("{ruling} v{got} does not follow the version held: expected v{expected}")]
    Version { ruling: String, expected: u64, got: u64 },
    #[error("{ruling} v{version}: previous must be {expected}, the id of the version before")]
    Previous { ruling: String, version: u64, expected: StatementId },
    #[error("{0} is withdrawn: a withdrawn ruling has no later version (issue a new ruling)")]
    AfterWithdrawal(String),
    #[error("{0}: a ruling cannot change between public and confidential")]
    Confidentiality(String),
    #[error("{ruling}: issued_at {got} is before the version before ({previous})")]
    IssuedEarlier { ruling: String, previous: String, got: String },
    #[error("{0} is public: it has no commitment to open")]
    NotConfidential(String),
    #[error("the details' salt must be {SALT_BYTES} bytes")]
    BadSalt,
    #[error("the details do not open the commitment of {0}: they are not what the authority signed for")]
    CommitmentMismatch(String),
    #[error("the details are invalid: {0}")]
    Details(FieldError),
}

/// Checks that `new` (its statement id aside) follows `held`, the latest version held of the
/// same ruling with its statement id (`None`: none held).
pub fn check_next(new: &Ruling, held: Option<(&StatementId, &Ruling)>) -> Result<(), RulingError> {
    let r = new.ruling();
    let Some((held_id, held)) = held else {
        return match r.version {
            1 => Ok(()),
            got => Err(RulingError::Version { ruling: new.key(), expected: 1, got }),
        };
    };
    let h = held.ruling();
    if r.version != h.version + 1 {
        return Err(RulingError::Version { ruling: new.key(), expected: h.version + 1, got: r.version });
    }
    if r.previous.as_slice() != held_id.0.as_slice() {
        return Err(RulingError::Previous { ruling: new.key(), version: r.version, expected: *held_id });
    }
    if h.withdrawn {
        return Err(RulingError::AfterWithdrawal(held.key()));
    }
    if new.is_confidential() != held.is_confidential() {
        return Err(RulingError::Confidentiality(new.key()));
    }
    if r.issued_at < h.issued_at {
        return Err(RulingError::IssuedEarlier { ruling: new.key(), previous: format_time(h.issued_at), got: format_time(r.issued_at) });
    }
    Ok(())
}

/// The commitment to `details` (salt, applicant, parameters).
pub fn commitment(details: &pb::RulingDetails) -> [u8; 32] {
    let withheld = pb::RulingDetails { salt: Vec::new(), ..details.clone() };
    let mut message = details.salt.clone();
    message.extend_from_slice(&withheld.encode_to_vec());
    Sha256::digest(pae(DETAILS_PAYLOAD_TYPE, &message)).into()
}

/// Makes `ruling` confidential under `salt` (fresh random bytes for every ruling): moves its
/// applicant and parameters into the details the applicant keeps, and commits to them.
pub fn seal(mut ruling: pb::ClassificationRuling, salt: [u8; SALT_BYTES]) -> (pb::ClassificationRuling, pb::RulingDetails) {
    let details = pb::RulingDetails { salt: salt.to_vec(), applicant: ruling.applicant.take(), parameters: std::mem::take(&mut ruling.parameters) };
    ruling.commitment = commitment(&details).to_vec();
    (ruling, details)
}

/// Sample rulings for tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::pb;

    /// 2026-10-28T14:00:00Z
    pub const ISSUED: i64 = 1_793_196_000;

    /// A public ruling, version 1: a GaN MMIC power amplifier under 3A001.b.2.b.
    pub fn ruling() -> pb::ClassificationRuling {
        pb::ClassificationRuling {
            authority: "de.bafa".into(),
            ruling_id: "DE-CR-2026-0115".into(),
            version: 1,
            applicant: Some(pb::Party { name: "Hochfrequenz Systeme Ulm GmbH".into(), country: "DE".into(), ..Default::default() }),
            item_description: "GaN-on-SiC MMIC power amplifier, 8.5-10.5 GHz, packaged".into(),
            parameters: vec![
                pb::TechnicalParameter { name: "Frequency range".into(), value: "8.5-10.5 GHz".into() },
                pb::TechnicalParameter { name: "Saturated output power".into(), value: "4.2 W (36.2 dBm)".into() },
                pb::TechnicalParameter { name: "Power-added efficiency".into(), value: "38 %".into() },
            ],
            control_codes: vec!["EU-DU:3A001.b.2.b".into()],
            rationale: "MMIC amplifier rated for 8.5-10.5 GHz with Psat above 4 W (36 dBm) and fractional bandwidth above 15 %".into(),
            valid_from: ISSUED,
            valid_until: ISSUED + 3 * 365 * 86_400,
            issued_at: ISSUED,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    fn refused(r: pb::ClassificationRuling) -> String {
        Ruling::try_from(r).expect_err("ruling should be refused").field
    }

    type Mutation = Box<dyn Fn(&mut pb::ClassificationRuling)>;

    #[test]
    fn each_bad_field_is_named() {
        Ruling::try_from(ruling()).expect("the sample ruling is valid");
        let cases: Vec<(&str, Mutation)> = vec![
            ("authority", Box::new(|r| r.authority = "BAFA".into())),
            ("ruling_id", Box::new(|r| r.ruling_id = "DE CR".into())),
            ("version", Box::new(|r| r.version = 0)),
            ("previous", Box::new(|r| r.previous = vec![1; 32])),
            ("previous", Box::new(|r| (r.version, r.previous) = (2, vec![1; 31]))),
            ("applicant", Box::new(|r| r.applicant = None)),
            ("applicant.country", Box::new(|r| r.applicant.as_mut().unwrap().country = "UK".into())),
            ("parameters[0].value", Box::new(|r| r.parameters[0].value.clear())),
            ("item_description", Box::new(|r| r.item_description = " ".into())),
            ("control_codes", Box::new(|r| r.control_codes.clear())),
            ("control_codes[0]", Box::new(|r| r.control_codes[0] = "3A001.b.2.b".into())),
            ("control_codes[0]", Box::new(|r| r.control_codes[0] = "EU-DU:3.A.1".into())),
            ("control_codes[1]", Box::new(|r| r.control_codes.push("EU-DU:3A001.b.2.b".into()))),
            ("control_codes", Box::new(|r| r.not_listed = true)),
            ("not_listed_in", Box::new(|r| r.not_listed_in = vec![pb::Regime::EuDualUse as i32])),
            ("rationale", Box::new(|r| r.rationale.clear())),
            ("valid_from", Box::new(|r| r.valid_from = 0)),
            ("valid_until", Box::new(|r| r.valid_until = r.valid_from)),
            ("issued_at", Box::new(|r| r.issued_at = 0)),
            ("commitment", Box::new(|r| r.commitment = vec![1; 31])),
            ("applicant", Box::new(|r| r.commitment = vec![1; 32])),
        ];
        for (field, mutate) in cases {
            let mut r = ruling();
            mutate(&mut r);
            assert_eq!(refused(r), field);
        }
    }

    #[test]
    fn a_not_listed_ruling_names_its_regimes() {
        let mut r = ruling();
        r.control_codes.clear();
        r.not_listed = true;
        assert_eq!(refused(r.clone()), "not_listed_in");
        r.not_listed_in = vec![pb::Regime::EuDualUse as i32, pb::Regime::EuDualUse as i32];
        assert_eq!(refused(r.clone()), "not_listed_in[1]");
        r.not_listed_in = vec![pb::Regime::EuDualUse as i32, pb::Regime::Wassenaar as i32];
        let checked = Ruling::try_from(r).unwrap();
        assert_eq!(checked.result(), "not listed (EU-DU, WA)");
        assert!(checked.codes().is_empty());
    }

    #[test]
    fn versions_follow_one_another() {
        let first = Ruling::try_from(ruling()).unwrap();
        let first_id = StatementId([7; 32]);
        check_next(&first, None).unwrap();
        let mut second = ruling();
        (second.version, second.previous) = (2, first_id.0.to_vec());
        second.control_codes = vec!["EU-DU:3A001.b.2.c".into()];
        let second = Ruling::try_from(second).unwrap();
        assert!(matches!(check_next(&second, None), Err(RulingError::Version { expected: 1, got: 2, .. })));
        check_next(&second, Some((&first_id, &first))).unwrap();
        assert!(matches!(check_next(&second, Some((&StatementId([8; 32]), &first))), Err(RulingError::Previous { .. })));
        assert!(matches!(check_next(&first, Some((&first_id, &first))), Err(RulingError::Version { expected: 2, got: 1, .. })));

        let mut withdrawn = ruling();
        withdrawn.withdrawn = true;
        let withdrawn = Ruling::try_from(withdrawn).unwrap();
        assert_eq!(withdrawn.status_at(ISSUED + 1), RulingStatus::Withdrawn);
        assert!(matches!(check_next(&second, Some((&first_id, &withdrawn))), Err(RulingError::AfterWithdrawal(_))));

        let (sealed, _) = seal(ruling(), [5; 32]);
        let mut sealed_next = sealed.clone();
        (sealed_next.version, sealed_next.previous) = (2, first_id.0.to_vec());
        let sealed_next = Ruling::try_from(sealed_next).unwrap();
        assert!(matches!(check_next(&sealed_next, Some((&first_id, &first))), Err(RulingError::Confidentiality(_))));
    }

    #[test]
    fn a_confidential_ruling_opens_only_with_its_details() {
        let (sealed, details) = seal(ruling(), [9; 32]);
        assert!(sealed.applicant.is_none() && sealed.parameters.is_empty());
        let checked = Ruling::try_from(sealed).expect("a sealed ruling is valid");
        assert!(checked.is_confidential());
        checked.open(&details).expect("its own details open it");
        assert_eq!(details.applicant.as_ref().unwrap().name, "Hochfrequenz Systeme Ulm GmbH");

        let mut other_applicant = details.clone();
        other_applicant.applicant.as_mut().unwrap().name = "Someone Else GmbH".into();
        assert!(matches!(checked.open(&other_applicant), Err(RulingError::CommitmentMismatch(_))));
        let mut other_parameter = details.clone();
        other_parameter.parameters[1].value = "3.9 W".into();
        assert!(matches!(checked.open(&other_parameter), Err(RulingError::CommitmentMismatch(_))));
        let mut other_salt = details.clone();
        other_salt.salt = vec![8; 32];
        assert!(matches!(checked.open(&other_salt), Err(RulingError::CommitmentMismatch(_))));
        other_salt.salt = vec![9; 16];
        assert_eq!(checked.open(&other_salt), Err(RulingError::BadSalt));

        let public = Ruling::try_from(ruling()).unwrap();
        assert!(matches!(public.open(&details), Err(RulingError::NotConfidential(_))));
    }

    #[test]
    fn status_codes_and_words() {
        let r = Ruling::try_from(ruling()).unwrap();
        assert_eq!(r.status_at(ISSUED - 1), RulingStatus::NotYetValid);
        assert_eq!(r.status_at(ISSUED), RulingStatus::InForce);
        assert_eq!(r.status_at(r.ruling().valid_until), RulingStatus::Expired);
        assert_eq!(r.codes(), vec![(Regime::EuDualUse, "3A001.b.2.b")]);
        assert!(r.has_code_under("EU-DU:3A001.b") && r.has_code_under("EU-DU:3A001.b.2.b"));
        assert!(!r.has_code_under("EU-DU:3A001.b.2.bb") && !r.has_code_under("EU-DU:3A00"));
        assert!(r.mentions("hochfreq") && r.mentions("MMIC") && !r.mentions("laser"));
        assert_eq!(r.to_string(), "ruling de.bafa/DE-CR-2026-0115 v1");
    }
}
