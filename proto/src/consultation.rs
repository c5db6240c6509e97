//! No-undercut consultation (docs/consultation.md): the regimes' rule that an authority about to
//! grant an essentially identical transaction that a partner denied in the last three years
//! consults that partner first.
//!
//! This module holds the consultation statements' checks and the comparison of a grant with a
//! denial: the same end user (by name, as screening compares names), a comparable item (the
//! same code, one enclosing the other, or equivalent through a crosswalk) and a shared
//! destination. What a node holds (the denials, the requests and answers) is the node's.

use std::fmt;

use crate::catalogue::{self_and_enclosing, Crosswalk};
pub use crate::decision::split_licence_ref;
use crate::decision::{self, check_countries, check_item, check_party, field_err, is_authority_id, is_licence_id, FieldError, MAX_TEXT};
use crate::pb::{self, ConsultationPosition, LicenceStatus};
use crate::screening::{self, STRONG_MATCH};

/// How far back a partner's denial counts: three years (and a day for a leap year).
pub const WINDOW_SECS: i64 = 3 * 365 * 86_400 + 86_400;

/// Whether a licence summary is a denial that stands: DENIED, or under appeal against a denial
/// (an appeal of a licence never issued: a denial sets no validity window, and a revoked or
/// suspended licence had one).
pub fn is_standing_denial(s: &pb::LicenceSummary) -> bool {
    s.status == LicenceStatus::Denied as i32 || (s.status == LicenceStatus::UnderAppeal as i32 && s.valid_from == 0)
}

fn check_licence_ref(field: &str, reference: &str) -> Result<(), FieldError> {
    match split_licence_ref(reference) {
        Some(_) => Ok(()),
        None => Err(field_err(field, format!("`{}` is not a licence reference like de.bafa/DE-2026-000481", crate::shown(reference)))),
    }
}

fn check_statement_id(field: &str, id: &[u8]) -> Result<(), FieldError> {
    if id.len() != 32 {
        return Err(field_err(field, format!("must be a 32-byte statement id, got {} bytes", id.len())));
    }
    Ok(())
}

fn check_consultation_id(field: &str, id: &str) -> Result<(), FieldError> {
    if !is_licence_id(id) {
        return Err(field_err(field, format!("`{}` must be 1-64 characters of A-Z a-z 0-9 / _ . - like JP-CONS-2026-0007", crate::shown(id))));
    }
    Ok(())
}

/// A consultation request or answer whose fields are all well formed.
#[derive(Debug, Clone, PartialEq)]
pub enum Consultation {
    Request(pb::ConsultationRequest),
    Answer(pb::ConsultationAnswer),
}

impl TryFrom<pb::ConsultationRequest> for Consultation {
    type Error = FieldError;

    fn try_from(r: pb::ConsultationRequest) -> Result<Self, FieldError> {
        if !is_authority_id(&r.authority) {
            return Err(field_err("authority", format!("`{}` is not an authority id like jp.meti", crate::shown(&r.authority))));
        }
        check_consultation_id("consultation_id", &r.consultation_id)?;
        check_licence_ref("denial", &r.denial)?;
        if split_licence_ref(&r.denial).is_some_and(|(a, _)| a == r.authority) {
            return Err(field_err("denial", "is the consulting authority's own licence: consultation is with a partner that denied"));
        }
        check_statement_id("denial_statement", &r.denial_statement)?;
        if r.end_users.is_empty() {
            return Err(field_err("end_users", "at least one is required: the end user the grant would be for"));
        }
        decision::check_list_len("end_users", &r.end_users)?;
        for (i, p) in r.end_users.iter().enumerate() {
            check_party(&format!("end_users[{i}]"), p)?;
        }
        if r.items.is_empty() {
            return Err(field_err("items", "at least one is required"));
        }
        decision::check_list_len("items", &r.items)?;
        for (i, item) in r.items.iter().enumerate() {
            check_item(i, item, false)?;
        }
        if r.destinations.is_empty() {
            return Err(field_err("destinations", "at least one is required"));
        }
        check_countries("destinations", &r.destinations)?;
        decision::check_text("end_use", &r.end_use, MAX_TEXT, false)?;
        decision::check_text("question", &r.question, MAX_TEXT, true)?;
        if r.respond_by < 0 {
            return Err(field_err("respond_by", "must be Unix seconds (0 = no date)"));
        }
        if r.issued_at <= 0 {
            return Err(field_err("issued_at", "required (Unix seconds)"));
        }
        if r.respond_by != 0 && r.respond_by <= r.issued_at {
            return Err(field_err("respond_by", "must be after issued_at"));
        }
        Ok(Self::Request(r))
    }
}

impl TryFrom<pb::ConsultationAnswer> for Consultation {
    type Error = FieldError;

    fn try_from(a: pb::ConsultationAnswer) -> Result<Self, FieldError> {
        if !is_authority_id(&a.authority) {
            return Err(field_err("authority", format!("`{}` is not an authority id like de.bafa", crate::shown(&a.authority))));
        }
        if !is_authority_id(&a.consulting_authority) {
            return Err(field_err("consulting_authority", format!("`{}` is not an authority id like jp.meti", crate::shown(&a.consulting_authority))));
        }
        if a.consulting_authority == a.authority {
            return Err(field_err("consulting_authority", "an authority does not answer its own consultation"));
        }
        check_consultation_id("consultation_id", &a.consultation_id)?;
        check_statement_id("request", &a.request)?;
        match ConsultationPosition::try_from(a.position) {
            Ok(ConsultationPosition::Unspecified) | Err(_) => return Err(field_err("position", "missing or unknown position")),
            Ok(_) => {}
        }
        decision::check_text("text", &a.text, MAX_TEXT, true)?;
        if a.issued_at <= 0 {
            return Err(field_err("issued_at", "required (Unix seconds)"));
        }
        Ok(Self::Answer(a))
    }
}

impl Consultation {
    /// The signing authority: the consulting one for a request, the denying one for an answer.
    pub fn authority(&self) -> &str {
        match self {
            Self::Request(r) => &r.authority,
            Self::Answer(a) => &a.authority,
        }
    }

    pub fn issued_at(&self) -> i64 {
        match self {
            Self::Request(r) => r.issued_at,
            Self::Answer(a) => a.issued_at,
        }
    }

    /// (consulting authority, consultation id): what a request and its answers share.
    pub fn key(&self) -> (&str, &str) {
        match self {
            Self::Request(r) => (&r.authority, &r.consultation_id),
            Self::Answer(a) => (&a.consulting_authority, &a.consultation_id),
        }
    }

    pub fn statement(&self) -> pb::Statement {
        let kind = match self {
            Self::Request(r) => pb::statement::Kind::ConsultationRequest(r.clone()),
            Self::Answer(a) => pb::statement::Kind::ConsultationAnswer(a.clone()),
        };
        pb::Statement { kind: Some(kind) }
    }
}

impl fmt::Display for Consultation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request(r) => write!(f, "consultation {}/{} on {}", r.authority, r.consultation_id, r.denial),
            Self::Answer(a) => write!(f, "answer of {} to consultation {}/{}", a.authority, a.consulting_authority, a.consultation_id),
        }
    }
}

/// A grant's consultations and override, checked with the decision (GRANT only).
pub(crate) fn check_grant_fields(d: &pb::Decision, action: pb::Action) -> Result<(), FieldError> {
    let is_grant = action == pb::Action::Grant;
    if !is_grant && (!d.consultations.is_empty() || d.undercut_override.is_some()) {
        return Err(field_err("consultations", format!("consultations and undercut_override belong to a GRANT, not {}", action.as_str_name())));
    }
    decision::check_list_len("consultations", &d.consultations)?;
    for (i, id) in d.consultations.iter().enumerate() {
        check_consultation_id(&format!("consultations[{i}]"), id)?;
    }
    if let Some(o) = &d.undercut_override {
        if o.denials.is_empty() {
            return Err(field_err("undercut_override.denials", "at least one denial overridden is required"));
        }
        decision::check_list_len("undercut_override.denials", &o.denials)?;
        for (i, denial) in o.denials.iter().enumerate() {
            check_licence_ref(&format!("undercut_override.denials[{i}]"), denial)?;
        }
        if o.reasons.is_empty() {
            return Err(field_err("undercut_override.reasons", "at least one reason is required: partners see why their denial was overridden"));
        }
        decision::check_reasons_of("undercut_override.reasons", &o.reasons)?;
    }
    Ok(())
}

/// A grant's terms as compared with denials: its end users' names as words, its codes and
/// destinations.
pub struct GrantTerms<'a> {
    decision: &'a pb::Decision,
    end_users: Vec<(&'a str, Vec<String>)>,
    codes: Vec<String>,
}

impl<'a> GrantTerms<'a> {
    pub fn of(decision: &'a pb::Decision) -> Self {
        let end_users = decision.end_users.iter().map(|p| (p.name.as_str(), screening::words(&p.name))).collect();
        let codes = decision.items.iter().map(crate::authoring::qualified_control_code).collect();
        Self { decision, end_users, codes }
    }

    pub fn destinations(&self) -> &[String] {
        &self.decision.destinations
    }

    /// Whether `denial` (a licence summary) is a partner's denial of an essentially identical
    /// transaction within the window before this grant: the undercut, if so.
    pub fn undercut(&self, denial: &pb::LicenceSummary, crosswalks: &[&Crosswalk]) -> Option<pb::Undercut> {
        let d = self.decision;
        if denial.authority == d.authority || !is_standing_denial(denial) {
            return None;
        }
        if denial.last_decided_at <= d.decided_at - WINDOW_SECS {
            return None;
        }
        let destination = d.destinations.iter().find(|c| denial.destinations.contains(c))?;
        let (control_code, denied_control_code, comparison) = self
            .codes
            .iter()
            .find_map(|c| denial.control_codes.iter().find_map(|dc| compare_codes(c, dc, crosswalks).map(|how| (c.clone(), dc.clone(), how))))?;
        let (end_user, denied_end_user, score) = self
            .end_users
            .iter()
            .flat_map(|(name, words)| denial.end_users.iter().map(move |denied| (name, denied, screening::score(words, &screening::words(denied)))))
            .filter(|(_, _, score)| *score >= STRONG_MATCH)
            .max_by_key(|(_, _, score)| *score)?;
        Some(pb::Undercut {
            denial: format!("{}/{}", denial.authority, denial.licence_id),
            denial_statement: denial.head_id.clone(),
            denied_at: denial.last_decided_at,
            end_user: end_user.to_string(),
            denied_end_user: denied_end_user.clone(),
            score,
            control_code,
            denied_control_code,
            comparison,
            destination: destination.clone(),
            covered_by: String::new(),
        })
    }
}

/// Whether `outer` is `inner` or encloses it (`EU-DU:3A001` encloses `EU-DU:3A001.b.2`).
fn encloses(outer: &str, inner: &str) -> bool {
    self_and_enclosing(inner).contains(&outer)
}

/// How a grant's qualified code compares with a denied one, if they are comparable: the same
/// code, one enclosing the other, or equivalent through a crosswalk (at the innermost code it
/// maps).
pub fn compare_codes(code: &str, denied: &str, crosswalks: &[&Crosswalk]) -> Option<String> {
    if code == denied {
        return Some("the same code".into());
    }
    if encloses(denied, code) {
        return Some(format!("{code} is under {denied}"));
    }
    if encloses(code, denied) {
        return Some(format!("{denied} is under {code}"));
    }
    crosswalks.iter().find_map(|crosswalk| {
        crosswalk.equivalents(code).into_iter().find_map(|(at, other)| {
            let how = if other == denied {
                format!("{at} ≡ {other}")
            } else if encloses(&other, denied) {
                format!("{at} ≡ {other}, which encloses {denied}")
            } else if encloses(denied, &other) {
                format!("{at} ≡ {other}, under {denied}")
            } else {
                return None;
            };
            Some(format!("{how} ({crosswalk})"))
        })
    })
}

/// One line for an officer: the denial, what matched, and (when uncovered) what to do.
pub fn describe(u: &pb::Undercut) -> String {
    let date = crate::authoring::format_time(u.denied_at);
    let mut line = format!(
        "{} (denied {date}): end user `{}` matches `{}` (score {}), {} against {} ({}), destination {}",
        u.denial, u.end_user, u.denied_end_user, u.score, u.control_code, u.denied_control_code, u.comparison, u.destination
    );
    if !u.covered_by.is_empty() {
        line.push_str(&format!("; covered by {}", u.covered_by));
    }
    line
}

/// Short form of an answer's position, for officers.
pub fn position_name(position: i32) -> &'static str {
    match ConsultationPosition::try_from(position) {
        Ok(ConsultationPosition::NoObjection) => "no objection",
        Ok(ConsultationPosition::Objection) => "objection",
        Ok(ConsultationPosition::InformationOnly) => "information only",
        _ => "unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::fixtures::grant;

    fn crosswalk() -> Crosswalk {
        Crosswalk::try_from(pb::Crosswalk {
            authority: "jp.meti".into(),
            crosswalk_id: "wa-eu".into(),
            version: 1,
            title: "Wassenaar and Annex I".into(),
            equivalences: vec![pb::Equivalence { codes: vec!["WA:3.A.1.b.2".into(), "EU-DU:3A001.b.2".into()], note: String::new() }],
            issued_at: 1,
        })
        .expect("valid crosswalk")
    }

    fn denial(end_user: &str, code: &str, destination: &str, at: i64) -> pb::LicenceSummary {
        pb::LicenceSummary {
            authority: "de.bafa".into(),
            licence_id: "DE-2026-000481".into(),
            status: LicenceStatus::Denied as i32,
            end_users: vec![end_user.into()],
            destinations: vec![destination.into()],
            control_codes: vec![code.into()],
            last_decided_at: at,
            head_id: vec![7; 32],
            ..Default::default()
        }
    }

    fn meti_grant(end_user: &str, code: &str) -> pb::Decision {
        let mut d = grant("de.bafa", "DE-2026-000100");
        d.authority = "jp.meti".into();
        d.end_users[0].name = end_user.into();
        d.items[0].regime = pb::Regime::Wassenaar as i32;
        d.items[0].control_code = code.into();
        d.destinations = vec!["CN".into()];
        d
    }

    #[test]
    fn a_grant_matching_end_user_item_and_destination_undercuts() {
        let cw = crosswalk();
        let d = meti_grant("Uralskie Elektronnye Sistemy LLC", "3.A.1.b.2");
        let terms = GrantTerms::of(&d);
        let denied = denial("OOO Uralskiye Elektronnyye Sistemy", "EU-DU:3A001.b.2", "CN", d.decided_at - 86_400);
        let u = terms.undercut(&denied, &[&cw]).expect("undercut");
        assert_eq!(u.denial, "de.bafa/DE-2026-000481");
        assert!(u.comparison.contains("WA:3.A.1.b.2 ≡ EU-DU:3A001.b.2"), "{}", u.comparison);
        assert!(u.score >= STRONG_MATCH);
        assert_eq!(u.destination, "CN");
        // Without the crosswalk the codes of two regimes do not compare.
        assert!(terms.undercut(&denied, &[]).is_none());
    }

    #[test]
    fn a_different_end_user_destination_item_age_or_own_denial_does_not_undercut() {
        let cw = crosswalk();
        let d = meti_grant("Uralskie Elektronnye Sistemy LLC", "3.A.1.b.2");
        let terms = GrantTerms::of(&d);
        let at = d.decided_at - 86_400;
        assert!(terms.undercut(&denial("Baltic Photonics Trading", "EU-DU:3A001.b.2", "CN", at), &[&cw]).is_none());
        assert!(terms.undercut(&denial("Uralskie Elektronnye Sistemy", "EU-DU:3A001.b.2", "RU", at), &[&cw]).is_none());
        assert!(terms.undercut(&denial("Uralskie Elektronnye Sistemy", "EU-DU:5A002.a", "CN", at), &[&cw]).is_none());
        let old = d.decided_at - WINDOW_SECS;
        assert!(terms.undercut(&denial("Uralskie Elektronnye Sistemy", "EU-DU:3A001.b.2", "CN", old), &[&cw]).is_none());
        let mut own = denial("Uralskie Elektronnye Sistemy", "EU-DU:3A001.b.2", "CN", at);
        own.authority = "jp.meti".into();
        assert!(terms.undercut(&own, &[&cw]).is_none());
        let mut overturned = denial("Uralskie Elektronnye Sistemy", "EU-DU:3A001.b.2", "CN", at);
        overturned.status = LicenceStatus::Issued as i32;
        assert!(terms.undercut(&overturned, &[&cw]).is_none());
        // A denial under appeal still stands; an appeal against a revocation (of a licence once
        // issued, so with a validity window) is no denial.
        let mut appealed = denial("Uralskie Elektronnye Sistemy", "EU-DU:3A001.b.2", "CN", at);
        appealed.status = LicenceStatus::UnderAppeal as i32;
        assert!(terms.undercut(&appealed, &[&cw]).is_some());
        appealed.valid_from = at - 86_400;
        assert!(terms.undercut(&appealed, &[&cw]).is_none());
    }

    #[test]
    fn codes_compare_by_enclosure_and_through_the_crosswalk() {
        let cw = crosswalk();
        assert_eq!(compare_codes("EU-DU:3A001.b.2", "EU-DU:3A001.b.2", &[]).as_deref(), Some("the same code"));
        assert_eq!(compare_codes("EU-DU:3A001.b.2", "EU-DU:3A001", &[]).as_deref(), Some("EU-DU:3A001.b.2 is under EU-DU:3A001"));
        assert_eq!(compare_codes("EU-DU:3A001", "EU-DU:3A001.b.2", &[]).as_deref(), Some("EU-DU:3A001.b.2 is under EU-DU:3A001"));
        assert!(compare_codes("EU-DU:3A001.a.1", "EU-DU:3A001.b.2", &[]).is_none());
        let via = compare_codes("WA:3.A.1.b.2.a", "EU-DU:3A001.b.2", &[&cw]).expect("through the crosswalk");
        assert!(via.starts_with("WA:3.A.1.b.2 ≡ EU-DU:3A001.b.2"), "{via}");
        let via = compare_codes("WA:3.A.1.b.2", "EU-DU:3A001", &[&cw]).expect("under the denied heading");
        assert!(via.contains("under EU-DU:3A001"), "{via}");
    }

    #[test]
    fn requests_and_answers_are_checked() {
        let d = meti_grant("Uralskie Elektronnye Sistemy LLC", "3.A.1.b.2");
        let request = pb::ConsultationRequest {
            authority: "jp.meti".into(),
            consultation_id: "JP-CONS-2026-0007".into(),
            denial: "de.bafa/DE-2026-000481".into(),
            denial_statement: vec![7; 32],
            end_users: d.end_users.clone(),
            items: d.items.clone(),
            destinations: d.destinations.clone(),
            end_use: String::new(),
            question: "The end user's parent company changed; do you maintain the denial?".into(),
            respond_by: 0,
            issued_at: 100,
        };
        assert!(Consultation::try_from(request.clone()).is_ok());
        let own = pb::ConsultationRequest { denial: "jp.meti/JP-2026-1".into(), ..request.clone() };
        assert_eq!(Consultation::try_from(own).unwrap_err().field, "denial");
        let no_user = pb::ConsultationRequest { end_users: vec![], ..request.clone() };
        assert_eq!(Consultation::try_from(no_user).unwrap_err().field, "end_users");
        let answer = pb::ConsultationAnswer {
            authority: "de.bafa".into(),
            consulting_authority: "jp.meti".into(),
            consultation_id: "JP-CONS-2026-0007".into(),
            request: vec![9; 32],
            position: ConsultationPosition::Objection as i32,
            text: "We maintain the denial.".into(),
            issued_at: 200,
        };
        let checked = Consultation::try_from(answer.clone()).expect("valid answer");
        assert_eq!(checked.key(), ("jp.meti", "JP-CONS-2026-0007"));
        let unspecified = pb::ConsultationAnswer { position: 0, ..answer.clone() };
        assert_eq!(Consultation::try_from(unspecified).unwrap_err().field, "position");
        let own = pb::ConsultationAnswer { consulting_authority: "de.bafa".into(), ..answer };
        assert_eq!(Consultation::try_from(own).unwrap_err().field, "consulting_authority");
    }

    #[test]
    fn only_a_grant_carries_consultations_and_an_override_needs_reasons() {
        let mut d = grant("de.bafa", "DE-2026-000100");
        d.consultations = vec!["JP-CONS-2026-0007".into()];
        assert!(check_grant_fields(&d, pb::Action::Grant).is_ok());
        assert!(check_grant_fields(&d, pb::Action::Amend).is_err());
        d.undercut_override = Some(pb::UndercutOverride { denials: vec!["de.bafa/DE-2026-000481".into()], reasons: vec![] });
        assert_eq!(check_grant_fields(&d, pb::Action::Grant).unwrap_err().field, "undercut_override.reasons");
    }
}
