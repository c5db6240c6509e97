//! Field validation of a single decision, independent of the licence it belongs to.
//!
//! [`CheckedDecision`] can only be built from a decision whose every field is well formed, so code
//! holding one never re-checks. Errors name the offending field (`items[2].control_code: ...`).

use std::sync::LazyLock;

use regex::Regex;

use crate::codes::{is_country, is_currency};
use crate::pb::{self, Action, LicenceType, Regime};

/// Longest free-text field (end use, re-export terms, notes, reason texts).
pub const MAX_TEXT: usize = 4096;
/// Longest name, identifier, code or short string.
pub const MAX_SHORT: usize = 256;
/// Most entries in any repeated field.
pub const MAX_LIST: usize = 200;

/// A field of a decision that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Path of the field, e.g. `end_users[1].country`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

pub(crate) fn field_err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

static AUTHORITY_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$").expect("valid regex"));
static LICENCE_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9/_.-]{0,63}$").expect("valid regex"));
/// EU Annex I / CCL style: category digit, product group A–E, three digits, optional sub-items.
static ECCN_STYLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9][A-E][0-9]{3}(\.[a-z0-9]+)*$").expect("valid regex"));
/// Wassenaar / MTCR / NSG style: `3.A.1.a.1`, `2.A.1`.
static DOTTED_STYLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9]{1,2}\.[A-E]\.[0-9]{1,3}(\.[a-z0-9]+)*$").expect("valid regex"));
/// The UK list's military and national entries: `ML10.a`, `PL5017`, `PL9009.a`.
static UK_OTHER_STYLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(ML[0-9]{1,2}|PL[0-9]{4})(\.[a-z0-9]+)*$").expect("valid regex"));
static REASON_CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9_]{1,63}$").expect("valid regex"));
static DECIMAL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9]{1,15}(\.[0-9]{1,6})?$").expect("valid regex"));

/// True when `id` is a well-formed authority id such as `de.bafa`.
pub fn is_authority_id(id: &str) -> bool {
    id.len() <= 64 && AUTHORITY_ID.is_match(id)
}

/// True when `id` is a well-formed licence reference such as `DE-2026-000123`.
pub fn is_licence_id(id: &str) -> bool {
    LICENCE_ID.is_match(id)
}

/// True when `code` is a well-formed control code for `regime`.
pub fn is_control_code(regime: Regime, code: &str) -> bool {
    match regime {
        Regime::EuDualUse | Regime::AustraliaGroup => ECCN_STYLE.is_match(code),
        Regime::UsEar => code == "EAR99" || ECCN_STYLE.is_match(code),
        Regime::Wassenaar | Regime::Mtcr | Regime::Nsg => DOTTED_STYLE.is_match(code),
        Regime::National => !code.is_empty() && code.len() <= 64 && !code.contains(char::is_whitespace),
        Regime::UkStrategic => ECCN_STYLE.is_match(code) || UK_OTHER_STYLE.is_match(code),
        Regime::Unspecified => false,
    }
}

/// Actions that state (or restate) the licence's full terms.
pub fn carries_terms(action: Action) -> bool {
    matches!(action, Action::Grant | Action::Amend | Action::AppealOverturned)
}

/// Actions that state the full terms of a licence or of an application: the terms-carrying
/// actions, a denial (what was refused) and a lodged application (what is applied for).
pub fn states_terms(action: Action) -> bool {
    carries_terms(action) || matches!(action, Action::Deny | Action::ApplicationLodged)
}

/// Milestones of an application's review: they record its timeline and never make a licence
/// usable, so transparency reports leave them out of processing times.
pub fn is_milestone(action: Action) -> bool {
    matches!(action, Action::ApplicationLodged | Action::InformationRequested | Action::Referred | Action::ApplicationWithdrawn)
}

/// Determinations: the decisions that end an application's or an appeal's review (grant,
/// denial, appeal outcomes). Processing times are counted for these only, from the
/// application's receipt.
pub fn is_determination(action: Action) -> bool {
    matches!(action, Action::Grant | Action::Deny | Action::AppealUpheld | Action::AppealOverturned)
}

/// Actions that must give structured reasons.
pub fn requires_reasons(action: Action) -> bool {
    matches!(action, Action::Deny | Action::Revoke | Action::Suspend | Action::AppealUpheld | Action::InformationRequested | Action::Referred)
}

/// A decision whose fields are all well formed.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedDecision {
    decision: pb::Decision,
    action: Action,
    licence_type: LicenceType,
}

impl CheckedDecision {
    /// The wire decision.
    pub fn decision(&self) -> &pb::Decision {
        &self.decision
    }

    /// The decision's action.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The licence type (unspecified on actions that carry no terms).
    pub fn licence_type(&self) -> LicenceType {
        self.licence_type
    }

    /// Consumes the wrapper.
    pub fn into_inner(self) -> pb::Decision {
        self.decision
    }
}

impl TryFrom<pb::Decision> for CheckedDecision {
    type Error = FieldError;

    fn try_from(d: pb::Decision) -> Result<Self, FieldError> {
        if !is_authority_id(&d.authority) {
            return Err(field_err("authority", format!("`{}` is not a lowercase dotted authority id like de.bafa", crate::shown(&d.authority))));
        }
        if !is_licence_id(&d.licence_id) {
            return Err(field_err(
                "licence_id",
                format!("`{}` must be 1-64 characters of A-Z a-z 0-9 / _ . - starting with a letter or digit", crate::shown(&d.licence_id)),
            ));
        }
        if d.version == 0 {
            return Err(field_err("version", "must be at least 1"));
        }
        match (d.version, d.previous.len()) {
            (1, 0) => {}
            (1, _) => return Err(field_err("previous", "must be empty for version 1")),
            (_, 32) => {}
            (_, n) => return Err(field_err("previous", format!("must be the 32-byte id of version {}, got {n} bytes", d.version - 1))),
        }
        let action = match Action::try_from(d.action) {
            Ok(Action::Unspecified) | Err(_) => return Err(field_err("action", "missing or unknown action")),
            Ok(a) => a,
        };
        let licence_type = LicenceType::try_from(d.licence_type).map_err(|_| field_err("licence_type", format!("unknown licence type {}", d.licence_type)))?;

        if states_terms(action) {
            check_terms(&d, licence_type)?;
        } else {
            check_no_terms(&d, action)?;
        }
        check_validity(&d, action)?;
        check_reasons(&d, action)?;
        crate::re_export::check_fields(&d, action, licence_type)?;
        crate::consultation::check_grant_fields(&d, action)?;
        crate::usage::check_write_off_fields(&d, action)?;
        check_list_len("conditions", &d.conditions)?;
        for (i, c) in d.conditions.iter().enumerate() {
            check_text(&format!("conditions[{i}]"), c, MAX_TEXT, true)?;
        }
        check_text("note", &d.note, MAX_TEXT, false)?;
        if d.application_received <= 0 {
            return Err(field_err("application_received", "required (Unix seconds, after 1970)"));
        }
        if d.decided_at < d.application_received {
            return Err(field_err("decided_at", "is before application_received"));
        }
        Ok(Self { decision: d, action, licence_type })
    }
}

/// A licence reference `authority/licence_id` (a general licence, a denial consulted on, a
/// licence checked after shipment), split, when both parts are well formed.
pub fn split_licence_ref(reference: &str) -> Option<(&str, &str)> {
    let (authority, licence_id) = reference.split_once('/')?;
    (is_authority_id(authority) && is_licence_id(licence_id)).then_some((authority, licence_id))
}

fn check_terms(d: &pb::Decision, licence_type: LicenceType) -> Result<(), FieldError> {
    if licence_type == LicenceType::Unspecified {
        return Err(field_err("licence_type", "required"));
    }
    // A general licence names no applicant or end user: exporters register under it. A
    // registration names only its exporter: what, where and for what are the general licence's.
    let general = licence_type == LicenceType::GeneralAuthorisation;
    let registration = licence_type == LicenceType::Registration;
    match &d.applicant {
        None if general => {}
        None => return Err(field_err("applicant", "required")),
        Some(p) => check_party("applicant", p)?,
    }
    if registration {
        let present = [
            ("end_users", !d.end_users.is_empty()),
            ("consignees", !d.consignees.is_empty()),
            ("end_use", !d.end_use.is_empty()),
            ("items", !d.items.is_empty()),
            ("destinations", !d.destinations.is_empty()),
            ("transit_countries", !d.transit_countries.is_empty()),
        ];
        if let Some((field, _)) = present.iter().find(|(_, set)| *set) {
            return Err(field_err(*field, "must be empty for a REGISTRATION: what, where and for what are those of its general licence"));
        }
        match split_licence_ref(&d.general_licence) {
            None => {
                return Err(field_err(
                    "general_licence",
                    format!("`{}` must name the general licence registered under, like uk.ecju/OGEL-DU-REPAIR", crate::shown(&d.general_licence)),
                ))
            }
            Some((authority, _)) if authority != d.authority => {
                return Err(field_err(
                    "general_licence",
                    format!("must be a general licence of {} (registrations under another authority's general licence are not supported)", d.authority),
                ))
            }
            Some(_) => {}
        }
    } else {
        if !d.general_licence.is_empty() {
            return Err(field_err("general_licence", "only a REGISTRATION names a general licence"));
        }
        if general {
            check_list_len("end_users", &d.end_users)?;
        } else {
            check_nonempty_list("end_users", &d.end_users)?;
        }
        for (i, p) in d.end_users.iter().enumerate() {
            check_party(&format!("end_users[{i}]"), p)?;
        }
        check_list_len("consignees", &d.consignees)?;
        for (i, p) in d.consignees.iter().enumerate() {
            check_party(&format!("consignees[{i}]"), p)?;
        }
        check_text("end_use", &d.end_use, MAX_TEXT, !general)?;
        check_nonempty_list("items", &d.items)?;
        for (i, item) in d.items.iter().enumerate() {
            check_item(i, item, general)?;
        }
        check_nonempty_list("destinations", &d.destinations)?;
        check_countries("destinations", &d.destinations)?;
        check_countries("transit_countries", &d.transit_countries)?;
    }
    if !general && !d.permitted_end_uses.is_empty() {
        return Err(field_err("permitted_end_uses", "only a GENERAL_AUTHORISATION lists permitted end uses"));
    }
    check_list_len("permitted_end_uses", &d.permitted_end_uses)?;
    for (i, use_) in d.permitted_end_uses.iter().enumerate() {
        check_text(&format!("permitted_end_uses[{i}]"), use_, MAX_SHORT, true)?;
    }
    check_text("re_export_terms", &d.re_export_terms, MAX_TEXT, false)?;
    if !(1..=4).contains(&d.risk_tier) {
        return Err(field_err("risk_tier", format!("must be 1 to 4, got {}", d.risk_tier)));
    }
    Ok(())
}

/// Actions without terms must not carry them: a suspension that lists items would read as if it
/// changed what the licence covers.
fn check_no_terms(d: &pb::Decision, action: Action) -> Result<(), FieldError> {
    let name = action.as_str_name();
    let present = [
        ("licence_type", d.licence_type != 0),
        ("applicant", d.applicant.is_some()),
        ("end_users", !d.end_users.is_empty()),
        ("consignees", !d.consignees.is_empty()),
        ("end_use", !d.end_use.is_empty()),
        ("items", !d.items.is_empty()),
        ("destinations", !d.destinations.is_empty()),
        ("transit_countries", !d.transit_countries.is_empty()),
        ("re_export_terms", !d.re_export_terms.is_empty()),
        ("risk_tier", d.risk_tier != 0),
        ("general_licence", !d.general_licence.is_empty()),
        ("permitted_end_uses", !d.permitted_end_uses.is_empty()),
        ("parent_licence", !d.parent_licence.is_empty()),
        ("consent_id", !d.consent_id.is_empty()),
    ];
    match present.iter().find(|(_, set)| *set) {
        Some((field, _)) => {
            Err(field_err(*field, format!("must be empty for {name}: only GRANT, DENY, AMEND, APPEAL_OVERTURNED and APPLICATION_LODGED state licence terms")))
        }
        None => Ok(()),
    }
}

fn check_validity(d: &pb::Decision, action: Action) -> Result<(), FieldError> {
    if carries_terms(action) {
        if d.valid_from <= 0 {
            return Err(field_err("valid_from", "required"));
        }
        if d.valid_until <= d.valid_from {
            return Err(field_err("valid_until", "must be after valid_from"));
        }
    } else if action == Action::Extend {
        if d.valid_from != 0 {
            return Err(field_err("valid_from", "must be empty for EXTEND (only valid_until changes)"));
        }
        if d.valid_until <= 0 {
            return Err(field_err("valid_until", "required for EXTEND"));
        }
    } else if d.valid_from != 0 || d.valid_until != 0 {
        let field = if d.valid_from != 0 { "valid_from" } else { "valid_until" };
        return Err(field_err(field, format!("must be empty for {}", action.as_str_name())));
    }
    Ok(())
}

fn check_reasons(d: &pb::Decision, action: Action) -> Result<(), FieldError> {
    if requires_reasons(action) && d.reasons.is_empty() {
        return Err(field_err("reasons", format!("at least one reason is required for {}", action.as_str_name())));
    }
    check_reasons_of("reasons", &d.reasons)
}

/// Reasons' codes, legal bases and texts, in list `field`.
pub(crate) fn check_reasons_of(field: &str, reasons: &[pb::Reason]) -> Result<(), FieldError> {
    check_list_len(field, reasons)?;
    for (i, r) in reasons.iter().enumerate() {
        if !REASON_CODE.is_match(&r.code) {
            return Err(field_err(format!("{field}[{i}].code"), format!("`{}` must be UPPER_SNAKE_CASE like DIVERSION_RISK", crate::shown(&r.code))));
        }
        check_text(&format!("{field}[{i}].legal_basis"), &r.legal_basis, MAX_SHORT, true)?;
        check_text(&format!("{field}[{i}].text"), &r.text, MAX_TEXT, true)?;
    }
    Ok(())
}

pub(crate) fn check_party(field: &str, p: &pb::Party) -> Result<(), FieldError> {
    check_text(&format!("{field}.name"), &p.name, MAX_SHORT, true)?;
    if !is_country(&p.country) {
        return Err(field_err(format!("{field}.country"), format!("`{}` is not an ISO 3166-1 alpha-2 code", crate::shown(&p.country))));
    }
    check_text(&format!("{field}.address"), &p.address, MAX_TEXT, false)?;
    check_list_len(&format!("{field}.identifiers"), &p.identifiers)?;
    for (i, id) in p.identifiers.iter().enumerate() {
        check_text(&format!("{field}.identifiers[{i}].scheme"), &id.scheme, MAX_SHORT, true)?;
        check_text(&format!("{field}.identifiers[{i}].value"), &id.value, MAX_SHORT, true)?;
    }
    Ok(())
}

/// An item; a general licence's items name what it covers, so quantity, unit and value are
/// optional there.
pub(crate) fn check_item(i: usize, item: &pb::Item, general: bool) -> Result<(), FieldError> {
    let field = |name: &str| format!("items[{i}].{name}");
    let regime = match Regime::try_from(item.regime) {
        Ok(Regime::Unspecified) | Err(_) => return Err(field_err(field("regime"), "missing or unknown regime")),
        Ok(r) => r,
    };
    if !is_control_code(regime, &item.control_code) {
        return Err(field_err(field("control_code"), format!("`{}` is not a valid {} control code", crate::shown(&item.control_code), regime.as_str_name())));
    }
    check_text(&field("description"), &item.description, MAX_TEXT, true)?;
    if general && item.quantity.is_empty() && item.unit.is_empty() && item.currency.is_empty() && item.value_minor == 0 {
        return Ok(());
    }
    if !DECIMAL.is_match(&item.quantity) || item.quantity.trim_start_matches(['0', '.']).is_empty() {
        return Err(field_err(field("quantity"), format!("`{}` must be a positive decimal number", crate::shown(&item.quantity))));
    }
    check_text(&field("unit"), &item.unit, 32, true)?;
    if !is_currency(&item.currency) {
        return Err(field_err(field("currency"), format!("`{}` is not an ISO 4217 currency code", crate::shown(&item.currency))));
    }
    Ok(())
}

pub(crate) fn check_countries(field: &str, codes: &[String]) -> Result<(), FieldError> {
    check_list_len(field, codes)?;
    for (i, c) in codes.iter().enumerate() {
        if !is_country(c) {
            return Err(field_err(format!("{field}[{i}]"), format!("`{}` is not an ISO 3166-1 alpha-2 code", crate::shown(c))));
        }
        if codes[..i].contains(c) {
            return Err(field_err(format!("{field}[{i}]"), format!("`{}` is listed twice", crate::shown(c))));
        }
    }
    Ok(())
}

/// A text field: present when `required`, at most `max` bytes, no control characters but line
/// breaks (texts are shown to officers in verdicts and pages).
pub(crate) fn check_text(field: &str, text: &str, max: usize, required: bool) -> Result<(), FieldError> {
    if required && text.trim().is_empty() {
        return Err(field_err(field, "required"));
    }
    if text.len() > max {
        return Err(field_err(field, format!("is {} bytes, more than the {max} allowed", text.len())));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(field_err(field, "contains control characters"));
    }
    Ok(())
}

fn check_nonempty_list<T>(field: &str, list: &[T]) -> Result<(), FieldError> {
    if list.is_empty() {
        return Err(field_err(field, "at least one entry is required"));
    }
    check_list_len(field, list)
}

pub(crate) fn check_list_len<T>(field: &str, list: &[T]) -> Result<(), FieldError> {
    if list.len() > MAX_LIST {
        return Err(field_err(field, format!("has {} entries, more than the {MAX_LIST} allowed", list.len())));
    }
    Ok(())
}

/// Sample decisions for tests of this crate and its dependants (feature `fixtures`).
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use crate::pb;

    /// 2026-10-28T14:00:00Z
    pub const DECIDED: i64 = 1_793_196_000;
    const DAY: i64 = 86_400;

    fn party(name: &str, country: &str) -> pb::Party {
        pb::Party { name: name.into(), country: country.into(), ..Default::default() }
    }

    /// A complete, valid GRANT (version 1) of an individual licence.
    pub fn grant(authority: &str, licence_id: &str) -> pb::Decision {
        pb::Decision {
            authority: authority.into(),
            licence_id: licence_id.into(),
            version: 1,
            action: pb::Action::Grant as i32,
            licence_type: pb::LicenceType::Individual as i32,
            applicant: Some(party("Kessler Optronik GmbH", "DE")),
            end_users: vec![party("Tohoku Institute of Space Optics", "JP")],
            end_use: "Integration into the payload of a civil Earth-observation satellite".into(),
            items: vec![pb::Item {
                regime: pb::Regime::EuDualUse as i32,
                control_code: "3A001.a.1".into(),
                description: "Radiation-hardened microcircuits, total dose > 5x10^3 Gy(Si)".into(),
                quantity: "200".into(),
                unit: "pcs".into(),
                value_minor: 4_800_000,
                currency: "EUR".into(),
            }],
            destinations: vec!["JP".into()],
            valid_from: DECIDED,
            valid_until: DECIDED + 730 * DAY,
            risk_tier: 2,
            application_received: DECIDED - 40 * DAY,
            decided_at: DECIDED,
            ..Default::default()
        }
    }

    /// A complete, valid GRANT (version 1) of a general licence: UK dual-use items of
    /// categories 3 and 5 to two destinations, for two end uses.
    pub fn general_licence(authority: &str, licence_id: &str) -> pb::Decision {
        let mut d = grant(authority, licence_id);
        d.licence_type = pb::LicenceType::GeneralAuthorisation as i32;
        d.applicant = None;
        d.end_users.clear();
        d.end_use.clear();
        d.items = vec![pb::Item {
            regime: pb::Regime::UkStrategic as i32,
            control_code: "3A001".into(),
            description: "Electronic components specified in 3A001".into(),
            ..Default::default()
        }];
        d.destinations = vec!["JP".into(), "NZ".into()];
        d.permitted_end_uses = vec!["repair under warranty".into(), "replacement under warranty".into()];
        d.conditions = vec!["The items were originally exported under a licence".into()];
        d
    }

    /// A complete, valid GRANT (version 1) of a registration under `general`.
    pub fn registration(authority: &str, licence_id: &str, general: &str) -> pb::Decision {
        let mut d = grant(authority, licence_id);
        d.licence_type = pb::LicenceType::Registration as i32;
        d.end_users.clear();
        d.end_use.clear();
        d.items.clear();
        d.destinations.clear();
        d.general_licence = general.into();
        d
    }

    /// A shipment of `quantity` of item 1 to JP, released at `shipped_on`.
    pub fn shipment(declaration: &str, shipped_on: i64, quantity: &str) -> pb::Shipment {
        pb::Shipment {
            declaration: declaration.into(),
            shipped_on,
            customs_office: "DE004852 Zollamt Frankfurt am Main Flughafen".into(),
            destination: "JP".into(),
            items: vec![pb::ShippedItem { item: 1, quantity: quantity.into(), value_minor: 0 }],
            ..Default::default()
        }
    }

    /// A follow-up decision of `action` at `version`, linked to `previous`, with the fields that
    /// action requires (terms copied from [`grant`] where needed).
    pub fn follow_up(base: &pb::Decision, action: pb::Action, version: u64, previous: [u8; 32]) -> pb::Decision {
        let mut d = if crate::decision::states_terms(action) {
            grant(&base.authority, &base.licence_id)
        } else {
            pb::Decision {
                authority: base.authority.clone(),
                licence_id: base.licence_id.clone(),
                // The same application throughout, as a review requires.
                application_received: base.application_received,
                ..Default::default()
            }
        };
        d.version = version;
        d.previous = previous.to_vec();
        d.action = action as i32;
        d.decided_at = DECIDED + version as i64 * DAY;
        if action == pb::Action::Extend {
            d.valid_until = DECIDED + (730 + 365 * version as i64) * DAY;
        }
        if matches!(action, pb::Action::Deny | pb::Action::ApplicationLodged) {
            d.valid_from = 0;
            d.valid_until = 0;
        }
        if action == pb::Action::WriteOff {
            d.reported_by = base.authority.clone();
            d.shipment = Some(shipment(&format!("26DE004852{version:08}E4"), d.decided_at, "1"));
        }
        if action == pb::Action::ReExportConsent {
            let mut item = base.items.first().cloned().unwrap_or_default();
            item.quantity = "10".into();
            d.re_export_consent = Some(pb::ReExportConsent {
                consent_id: format!("RXC-{version}"),
                re_export_authority: if base.authority == "jp.meti" { "uk.ecju" } else { "jp.meti" }.into(),
                re_exporter: base.end_users.first().cloned(),
                end_users: vec![party("Siam Orbital Systems Co., Ltd.", "TH")],
                destinations: vec!["TH".into()],
                items: vec![item],
                valid_until: DECIDED + 365 * DAY,
                conditions: Vec::new(),
            });
        }
        if action == pb::Action::ConsentWithdrawn {
            d.re_export_consent = Some(pb::ReExportConsent { consent_id: "RXC-2".into(), ..Default::default() });
        }
        if crate::decision::requires_reasons(action) {
            d.reasons = vec![pb::Reason {
                code: "DIVERSION_RISK".into(),
                legal_basis: "Art. 15(1)(c) Regulation (EU) 2021/821".into(),
                text: "Information indicates a risk of diversion to a military end user".into(),
            }];
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    fn refused(d: pb::Decision) -> String {
        CheckedDecision::try_from(d).expect_err("decision should be refused").field
    }

    #[test]
    fn a_complete_grant_is_accepted() {
        let checked = CheckedDecision::try_from(grant("de.bafa", "DE-2026-000123")).unwrap();
        assert_eq!(checked.action(), Action::Grant);
        assert_eq!(checked.licence_type(), LicenceType::Individual);
    }

    type Mutation = Box<dyn Fn(&mut pb::Decision)>;

    #[test]
    fn each_bad_field_is_named() {
        let g = || grant("de.bafa", "DE-2026-000123");
        let cases: Vec<(&str, Mutation)> = vec![
            ("authority", Box::new(|d| d.authority = "BAFA".into())),
            ("licence_id", Box::new(|d| d.licence_id = "DE 2026".into())),
            ("version", Box::new(|d| d.version = 0)),
            ("previous", Box::new(|d| d.previous = vec![1; 32])),
            ("action", Box::new(|d| d.action = 99)),
            ("licence_type", Box::new(|d| d.licence_type = 0)),
            ("applicant", Box::new(|d| d.applicant = None)),
            ("applicant.country", Box::new(|d| d.applicant.as_mut().unwrap().country = "UK".into())),
            ("end_users", Box::new(|d| d.end_users.clear())),
            ("end_users[0].name", Box::new(|d| d.end_users[0].name = " ".into())),
            ("end_use", Box::new(|d| d.end_use.clear())),
            ("items", Box::new(|d| d.items.clear())),
            ("items[0].regime", Box::new(|d| d.items[0].regime = 0)),
            ("items[0].control_code", Box::new(|d| d.items[0].control_code = "3.A.1".into())),
            ("items[0].quantity", Box::new(|d| d.items[0].quantity = "0".into())),
            ("items[0].quantity", Box::new(|d| d.items[0].quantity = "1e3".into())),
            ("items[0].currency", Box::new(|d| d.items[0].currency = "EURO".into())),
            ("destinations", Box::new(|d| d.destinations.clear())),
            ("destinations[0]", Box::new(|d| d.destinations[0] = "jp".into())),
            ("destinations[1]", Box::new(|d| d.destinations.push("JP".into()))),
            ("transit_countries[0]", Box::new(|d| d.transit_countries.push("XX".into()))),
            ("risk_tier", Box::new(|d| d.risk_tier = 5)),
            ("risk_tier", Box::new(|d| d.risk_tier = 0)),
            ("valid_from", Box::new(|d| d.valid_from = 0)),
            ("valid_until", Box::new(|d| d.valid_until = d.valid_from)),
            ("application_received", Box::new(|d| d.application_received = 0)),
            ("decided_at", Box::new(|d| d.decided_at = d.application_received - 1)),
            ("end_use", Box::new(|d| d.end_use = "x".repeat(MAX_TEXT + 1))),
            ("conditions[0]", Box::new(|d| d.conditions.push("bell\u{7}".into()))),
            ("reasons[0].code", Box::new(|d| d.reasons.push(pb::Reason { code: "diversion".into(), legal_basis: "x".into(), text: "y".into() }))),
        ];
        for (field, mutate) in cases {
            let mut d = g();
            mutate(&mut d);
            assert_eq!(refused(d), field);
        }
    }

    #[test]
    fn a_general_licence_names_no_parties_and_a_registration_only_its_exporter() {
        let gl = general_licence("uk.ecju", "OGEL-DU-REPAIR");
        let checked = CheckedDecision::try_from(gl.clone()).expect("a general licence without applicant or end users");
        assert_eq!(checked.licence_type(), LicenceType::GeneralAuthorisation);
        let mut no_items = gl.clone();
        no_items.items.clear();
        assert_eq!(refused(no_items), "items");
        let mut half_quantity = gl.clone();
        half_quantity.items[0].quantity = "2".into();
        assert_eq!(refused(half_quantity), "items[0].unit");
        let mut individual = grant("uk.ecju", "GBSIEL/2026/1");
        individual.permitted_end_uses = vec!["repair".into()];
        assert_eq!(refused(individual), "permitted_end_uses");

        let reg = registration("uk.ecju", "GBOGE2026/01234", "uk.ecju/OGEL-DU-REPAIR");
        CheckedDecision::try_from(reg.clone()).expect("a registration");
        let cases: Vec<(&str, Mutation)> = vec![
            ("applicant", Box::new(|d| d.applicant = None)),
            ("items", Box::new(|d| d.items = grant("x.y", "A").items)),
            ("destinations", Box::new(|d| d.destinations = vec!["JP".into()])),
            ("end_users", Box::new(|d| d.end_users = grant("x.y", "A").end_users)),
            ("general_licence", Box::new(|d| d.general_licence.clear())),
            ("general_licence", Box::new(|d| d.general_licence = "OGEL-DU-REPAIR".into())),
            ("general_licence", Box::new(|d| d.general_licence = "de.bafa/AGG-12".into())),
            ("permitted_end_uses", Box::new(|d| d.permitted_end_uses = vec!["repair".into()])),
        ];
        for (field, mutate) in cases {
            let mut d = reg.clone();
            mutate(&mut d);
            assert_eq!(refused(d), field);
        }
        let mut not_registration = gl.clone();
        not_registration.general_licence = "uk.ecju/OGEL-X".into();
        assert_eq!(refused(not_registration), "general_licence");
        let mut suspend = follow_up(&reg, Action::Suspend, 2, [1; 32]);
        suspend.general_licence = "uk.ecju/OGEL-DU-REPAIR".into();
        assert_eq!(refused(suspend), "general_licence");
    }

    #[test]
    fn reasons_are_required_where_the_action_needs_them() {
        let base = grant("de.bafa", "DE-2026-000123");
        for action in [Action::Deny, Action::Suspend, Action::Revoke, Action::AppealUpheld, Action::InformationRequested, Action::Referred] {
            let mut d = follow_up(&base, action, 2, [1; 32]);
            if action == Action::Deny {
                d.version = 1;
                d.previous.clear();
            }
            CheckedDecision::try_from(d.clone()).unwrap();
            d.reasons.clear();
            assert_eq!(refused(d), "reasons", "{action:?}");
        }
    }

    #[test]
    fn actions_without_terms_must_not_carry_them() {
        let base = grant("de.bafa", "DE-2026-000123");
        let mut d = follow_up(&base, Action::Suspend, 2, [1; 32]);
        d.items = base.items.clone();
        assert_eq!(refused(d), "items");
        let mut d = follow_up(&base, Action::Extend, 2, [1; 32]);
        d.valid_from = 1;
        assert_eq!(refused(d), "valid_from");
        let mut d = follow_up(&base, Action::Reinstate, 2, [1; 32]);
        d.valid_until = DECIDED;
        assert_eq!(refused(d), "valid_until");
        let mut d = follow_up(&base, Action::Referred, 2, [1; 32]);
        d.destinations = vec!["JP".into()];
        assert_eq!(refused(d), "destinations");
    }

    #[test]
    fn a_lodged_application_states_its_terms_without_a_window() {
        let base = grant("de.bafa", "DE-2026-000123");
        let mut lodged = follow_up(&base, Action::ApplicationLodged, 1, [0; 32]);
        lodged.previous.clear();
        CheckedDecision::try_from(lodged.clone()).unwrap();
        let mut windowed = lodged.clone();
        windowed.valid_from = DECIDED;
        assert_eq!(refused(windowed), "valid_from");
        let mut no_items = lodged.clone();
        no_items.items.clear();
        assert_eq!(refused(no_items), "items");
        let withdrawn = follow_up(&base, Action::ApplicationWithdrawn, 2, [1; 32]);
        CheckedDecision::try_from(withdrawn).expect("a withdrawal needs no reasons");
    }

    #[test]
    fn control_codes_follow_their_regime() {
        for (regime, ok, bad) in [
            (Regime::EuDualUse, "3A001.a.1", "3A01"),
            (Regime::EuDualUse, "5A002", "5a002"),
            (Regime::UsEar, "EAR99", "EAR 99"),
            (Regime::UsEar, "3A090.a", "3A090.A"),
            (Regime::Wassenaar, "3.A.1.a.1", "3A001"),
            (Regime::Mtcr, "2.A.1", "2A1"),
            (Regime::Nsg, "2.A.1", ""),
            (Regime::AustraliaGroup, "2B350.c", "2.B.350"),
            (Regime::National, "PL-ML-10", "has space"),
        ] {
            assert!(is_control_code(regime, ok), "{regime:?} {ok}");
            assert!(!is_control_code(regime, bad), "{regime:?} {bad}");
        }
    }
}
