//! Post-shipment verification records (#23): the checks of an `EndUseCheck` statement.

use std::fmt;

use crate::consultation::split_licence_ref;
use crate::decision::{check_text, field_err, is_authority_id, is_licence_id, FieldError, MAX_SHORT, MAX_TEXT};
use crate::pb::{self, EndUseOutcome};

/// An end-use check whose fields are all well formed.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedEndUseCheck {
    check: pb::EndUseCheck,
}

impl TryFrom<pb::EndUseCheck> for CheckedEndUseCheck {
    type Error = FieldError;

    fn try_from(c: pb::EndUseCheck) -> Result<Self, FieldError> {
        if !is_authority_id(&c.authority) {
            return Err(field_err("authority", format!("`{}` is not an authority id like jp.meti", crate::shown(&c.authority))));
        }
        if !is_licence_id(&c.check_id) {
            return Err(field_err("check_id", format!("`{}` must be 1-64 characters of A-Z a-z 0-9 / _ . - like JP-PSV-2026-0012", crate::shown(&c.check_id))));
        }
        if split_licence_ref(&c.licence).is_none() {
            return Err(field_err("licence", format!("`{}` is not a licence reference like de.bafa/DE-2026-004211", crate::shown(&c.licence))));
        }
        check_text("shipment", &c.shipment, MAX_SHORT, false)?;
        match EndUseOutcome::try_from(c.outcome) {
            Ok(EndUseOutcome::Unspecified) | Err(_) => return Err(field_err("outcome", "missing or unknown outcome")),
            Ok(_) => {}
        }
        if c.checked_on <= 0 {
            return Err(field_err("checked_on", "required (Unix seconds)"));
        }
        if c.issued_at < c.checked_on {
            return Err(field_err("issued_at", "is before checked_on: a check is logged after it took place"));
        }
        if c.confidential {
            if let Some((field, _)) = [("place", &c.place), ("checked_by", &c.checked_by), ("findings", &c.findings)].into_iter().find(|(_, v)| !v.is_empty()) {
                return Err(field_err(field, "must be empty for a confidential check: partners see its outcome only"));
            }
        } else {
            check_text("place", &c.place, MAX_SHORT, true)?;
            check_text("checked_by", &c.checked_by, MAX_SHORT, true)?;
            check_text("findings", &c.findings, MAX_TEXT, true)?;
        }
        Ok(Self { check: c })
    }
}

impl CheckedEndUseCheck {
    pub fn check(&self) -> &pb::EndUseCheck {
        &self.check
    }

    /// (licence authority, licence id).
    pub fn licence(&self) -> (&str, &str) {
        split_licence_ref(&self.check.licence).expect("checked")
    }
}

/// Short form of an outcome, for officers.
pub fn outcome_name(outcome: i32) -> &'static str {
    match EndUseOutcome::try_from(outcome) {
        Ok(EndUseOutcome::Confirmed) => "CONFIRMED",
        Ok(EndUseOutcome::NotFound) => "NOT_FOUND",
        Ok(EndUseOutcome::Diverted) => "DIVERTED",
        _ => "UNSPECIFIED",
    }
}

impl fmt::Display for CheckedEndUseCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.check;
        write!(f, "end-use check {}/{} of {}: {}", c.authority, c.check_id, c.licence, outcome_name(c.outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> pb::EndUseCheck {
        pb::EndUseCheck {
            authority: "jp.meti".into(),
            check_id: "JP-PSV-2026-0012".into(),
            licence: "jp.meti/JP-METI-2026-02406".into(),
            shipment: "MRN 26JP000123456".into(),
            outcome: EndUseOutcome::Confirmed as i32,
            checked_on: 1_000,
            place: "Jebel Ali Free Zone, Dubai, AE".into(),
            checked_by: "Embassy of Japan in Abu Dhabi".into(),
            findings: "All 250 amplifiers found installed in weather-radar transmitters.".into(),
            confidential: false,
            issued_at: 2_000,
        }
    }

    #[test]
    fn a_check_needs_its_outcome_place_and_findings_unless_confidential() {
        assert!(CheckedEndUseCheck::try_from(check()).is_ok());
        assert_eq!(CheckedEndUseCheck::try_from(pb::EndUseCheck { outcome: 0, ..check() }).unwrap_err().field, "outcome");
        assert_eq!(CheckedEndUseCheck::try_from(pb::EndUseCheck { findings: String::new(), ..check() }).unwrap_err().field, "findings");
        assert_eq!(CheckedEndUseCheck::try_from(pb::EndUseCheck { licence: "JP-METI-2026-02406".into(), ..check() }).unwrap_err().field, "licence");
        // Confidential: the outcome only.
        let confidential = pb::EndUseCheck { confidential: true, ..check() };
        assert_eq!(CheckedEndUseCheck::try_from(confidential.clone()).unwrap_err().field, "place");
        let withheld = pb::EndUseCheck { place: String::new(), checked_by: String::new(), findings: String::new(), ..confidential };
        assert!(CheckedEndUseCheck::try_from(withheld).is_ok());
        assert_eq!(CheckedEndUseCheck::try_from(pb::EndUseCheck { issued_at: 10, ..check() }).unwrap_err().field, "issued_at");
    }
}
