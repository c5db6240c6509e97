//! The human authoring format for decisions (JSON or YAML), and its conversion to the wire type.
//!
//! Officers write decisions in this format; `comity sign` turns it into a signed envelope. Times
//! are RFC 3339 (`2026-10-28T14:00:00Z`) or plain dates (`2026-11-01`, meaning 00:00 UTC); money
//! is a decimal string in the item's currency. The schema is documented in `examples/README.md`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::codes::minor_unit_digits;
use crate::pb;

/// A decision as an officer writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionDoc {
    pub authority: String,
    pub licence_id: String,
    /// Omit to let `comity publish` take the next version from the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Hex statement id of the previous decision; omit for version 1 or to let `comity publish` fill it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    pub action: ActionName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence_type: Option<LicenceTypeName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applicant: Option<PartyDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub end_users: Vec<PartyDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consignees: Vec<PartyDoc>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub end_use: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transit_countries: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub re_export_terms: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_tier: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<ReasonDoc>,
    pub application_received: String,
    pub decided_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Registrations: the general licence registered under, `authority/licence_id`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub general_licence: String,
    /// General licences: the pre-approved end uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permitted_end_uses: Vec<String>,
    /// WRITE_OFF only: the authority whose customs key signs it, e.g. `jp.meti`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reported_by: String,
    /// WRITE_OFF only: the shipment written off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentDoc>,
    /// GRANT only: consultation ids of the deciding authority's answered consultations on
    /// partners' denials (docs/consultation.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consultations: Vec<String>,
    /// GRANT only: partners' denials overridden without consultation, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undercut_override: Option<OverrideDoc>,
    /// RE_EXPORT_CONSENT: the consent given; CONSENT_WITHDRAWN: only its `consent_id`
    /// (docs/re-export.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re_export_consent: Option<ConsentDoc>,
    /// Re-export licences: the licence re-exported under, `authority/licence_id` of another
    /// authority.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent_licence: String,
    /// Re-export licences: the consent on the parent's chain relied on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consent_id: String,
}

/// A consent to a re-export, as written in a RE_EXPORT_CONSENT document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentDoc {
    pub consent_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub re_export_authority: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re_exporter: Option<PartyDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub end_users: Vec<PartyDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

impl ConsentDoc {
    /// The wire consent; only format errors are reported here.
    pub fn to_wire(&self) -> Result<pb::ReExportConsent, DocError> {
        let items = self
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| item.to_wire().map_err(|e| doc_err(format!("re_export_consent.items[{i}].{}", e.field), e.message)))
            .collect::<Result<_, _>>()?;
        Ok(pb::ReExportConsent {
            consent_id: self.consent_id.clone(),
            re_export_authority: self.re_export_authority.clone(),
            re_exporter: self.re_exporter.as_ref().map(PartyDoc::to_wire),
            end_users: self.end_users.iter().map(PartyDoc::to_wire).collect(),
            destinations: self.destinations.clone(),
            items,
            valid_until: optional_time("re_export_consent.valid_until", self.valid_until.as_deref())?,
            conditions: self.conditions.clone(),
        })
    }

    /// The document form of a wire consent.
    pub fn from_wire(c: &pb::ReExportConsent) -> Self {
        Self {
            consent_id: c.consent_id.clone(),
            re_export_authority: c.re_export_authority.clone(),
            re_exporter: c.re_exporter.as_ref().map(PartyDoc::from_wire),
            end_users: c.end_users.iter().map(PartyDoc::from_wire).collect(),
            destinations: c.destinations.clone(),
            items: c.items.iter().map(ItemDoc::from_wire).collect(),
            valid_until: (c.valid_until != 0).then(|| format_time(c.valid_until)),
            conditions: c.conditions.clone(),
        }
    }
}

/// Partners' denials a grant overrides (`de.bafa/DE-2026-000481`) and the reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideDoc {
    pub denials: Vec<String>,
    pub reasons: Vec<ReasonDoc>,
}

/// A party: applicant, end user or consignee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyDoc {
    pub name: String,
    pub country: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<IdentifierDoc>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
}

/// A registry identifier such as `EORI: DE123456789012345`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierDoc {
    pub scheme: String,
    pub value: String,
}

/// One controlled item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDoc {
    pub regime: RegimeName,
    pub control_code: String,
    pub description: String,
    /// Quantity, unit, value and currency: required but on a general licence's items (which
    /// name what it covers, not a shipment).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub quantity: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// Decimal amount in `currency`, e.g. "48000.00".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub currency: String,
}

/// A structured reason for a denial, suspension, revocation or upheld appeal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonDoc {
    pub code: String,
    pub legal_basis: String,
    pub text: String,
}

impl ReasonDoc {
    fn to_wire(&self) -> pb::Reason {
        pb::Reason { code: self.code.clone(), legal_basis: self.legal_basis.clone(), text: self.text.clone() }
    }

    fn from_wire(r: &pb::Reason) -> Self {
        Self { code: r.code.clone(), legal_basis: r.legal_basis.clone(), text: r.text.clone() }
    }
}

/// A classification ruling as an officer writes it (`comity ruling publish`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulingDoc {
    pub authority: String,
    pub ruling_id: String,
    /// Omit to let `comity ruling publish` take the next version from the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Hex statement id of the version before; omit to let `comity ruling publish` fill it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applicant: Option<PartyDoc>,
    pub item_description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterDoc>,
    /// Qualified codes, e.g. `EU-DU:3A001.b.2.b`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub control_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_listed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_listed_in: Vec<RegimeName>,
    pub rationale: String,
    pub valid_from: String,
    pub valid_until: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withdrawn: bool,
    pub issued_at: String,
    /// Publish the result only: the applicant and parameters are committed to, and the opening
    /// is written for the applicant.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confidential: bool,
}

/// A technical parameter of a ruled item, e.g. `Saturated output power: 4.2 W`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterDoc {
    pub name: String,
    pub value: String,
}

impl RulingDoc {
    /// Converts to the wire ruling (public: a confidential one is sealed by the caller with
    /// [`crate::ruling::seal`]). Only format errors are reported here.
    pub fn to_wire(&self) -> Result<pb::ClassificationRuling, DocError> {
        let previous = match &self.previous {
            None => Vec::new(),
            Some(h) => hex::decode(h).map_err(|e| doc_err("previous", format!("not hex: {e}")))?,
        };
        let time = |field: &str, t: &str| parse_time(t).map_err(|m| doc_err(field, m.to_string()));
        Ok(pb::ClassificationRuling {
            authority: self.authority.clone(),
            ruling_id: self.ruling_id.clone(),
            version: self.version.unwrap_or(0),
            previous,
            applicant: self.applicant.as_ref().map(PartyDoc::to_wire),
            item_description: self.item_description.clone(),
            parameters: self.parameters.iter().map(|p| pb::TechnicalParameter { name: p.name.clone(), value: p.value.clone() }).collect(),
            control_codes: self.control_codes.clone(),
            not_listed: self.not_listed,
            not_listed_in: self.not_listed_in.iter().map(|r| pb::Regime::from(*r) as i32).collect(),
            rationale: self.rationale.clone(),
            valid_from: time("valid_from", &self.valid_from)?,
            valid_until: time("valid_until", &self.valid_until)?,
            withdrawn: self.withdrawn,
            issued_at: time("issued_at", &self.issued_at)?,
            commitment: Vec::new(),
        })
    }
}

/// Decision actions as written in documents (`grant`, `appeal_lodged`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Grant,
    Deny,
    Amend,
    Extend,
    Suspend,
    Reinstate,
    Revoke,
    AppealLodged,
    AppealUpheld,
    AppealOverturned,
    Surrender,
    Cancel,
    ApplicationLodged,
    InformationRequested,
    Referred,
    ApplicationWithdrawn,
    WriteOff,
    ReExportConsent,
    ConsentWithdrawn,
}

/// Licence types as written in documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenceTypeName {
    Individual,
    Global,
    GeneralAuthorisation,
    TechnologyTransfer,
    ResearchCollaboration,
    Registration,
}

/// A shipment written off against a licence (docs/usage-and-drawdown.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentDoc {
    pub declaration: String,
    pub shipped_on: String,
    pub customs_office: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transit_countries: Vec<String>,
    pub items: Vec<ShippedItemDoc>,
}

/// One licence item on a shipment: its number (from 1), quantity and value in minor units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippedItemDoc {
    pub item: u32,
    pub quantity: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value_minor: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl ShipmentDoc {
    fn to_wire(&self) -> Result<pb::Shipment, DocError> {
        Ok(pb::Shipment {
            declaration: self.declaration.clone(),
            shipped_on: parse_time(&self.shipped_on).map_err(|m| doc_err("shipment.shipped_on", m.to_string()))?,
            customs_office: self.customs_office.clone(),
            destination: self.destination.clone(),
            transit_countries: self.transit_countries.clone(),
            items: self.items.iter().map(|i| pb::ShippedItem { item: i.item, quantity: i.quantity.clone(), value_minor: i.value_minor }).collect(),
        })
    }

    fn from_wire(s: &pb::Shipment) -> Self {
        Self {
            declaration: s.declaration.clone(),
            shipped_on: format_time(s.shipped_on),
            customs_office: s.customs_office.clone(),
            destination: s.destination.clone(),
            transit_countries: s.transit_countries.clone(),
            items: s.items.iter().map(|i| ShippedItemDoc { item: i.item, quantity: i.quantity.clone(), value_minor: i.value_minor }).collect(),
        }
    }
}

/// Control regimes as written in documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegimeName {
    EuDualUse,
    Wassenaar,
    UsEar,
    Mtcr,
    Nsg,
    AustraliaGroup,
    National,
    UkStrategic,
}

impl From<ActionName> for pb::Action {
    fn from(a: ActionName) -> Self {
        use pb::Action as A;
        match a {
            ActionName::Grant => A::Grant,
            ActionName::Deny => A::Deny,
            ActionName::Amend => A::Amend,
            ActionName::Extend => A::Extend,
            ActionName::Suspend => A::Suspend,
            ActionName::Reinstate => A::Reinstate,
            ActionName::Revoke => A::Revoke,
            ActionName::AppealLodged => A::AppealLodged,
            ActionName::AppealUpheld => A::AppealUpheld,
            ActionName::AppealOverturned => A::AppealOverturned,
            ActionName::Surrender => A::Surrender,
            ActionName::Cancel => A::Cancel,
            ActionName::ApplicationLodged => A::ApplicationLodged,
            ActionName::InformationRequested => A::InformationRequested,
            ActionName::Referred => A::Referred,
            ActionName::ApplicationWithdrawn => A::ApplicationWithdrawn,
            ActionName::WriteOff => A::WriteOff,
            ActionName::ReExportConsent => A::ReExportConsent,
            ActionName::ConsentWithdrawn => A::ConsentWithdrawn,
        }
    }
}

impl From<LicenceTypeName> for pb::LicenceType {
    fn from(t: LicenceTypeName) -> Self {
        use pb::LicenceType as T;
        match t {
            LicenceTypeName::Individual => T::Individual,
            LicenceTypeName::Global => T::Global,
            LicenceTypeName::GeneralAuthorisation => T::GeneralAuthorisation,
            LicenceTypeName::TechnologyTransfer => T::TechnologyTransfer,
            LicenceTypeName::ResearchCollaboration => T::ResearchCollaboration,
            LicenceTypeName::Registration => T::Registration,
        }
    }
}

impl From<RegimeName> for pb::Regime {
    fn from(r: RegimeName) -> Self {
        use pb::Regime as R;
        match r {
            RegimeName::EuDualUse => R::EuDualUse,
            RegimeName::Wassenaar => R::Wassenaar,
            RegimeName::UsEar => R::UsEar,
            RegimeName::Mtcr => R::Mtcr,
            RegimeName::Nsg => R::Nsg,
            RegimeName::AustraliaGroup => R::AustraliaGroup,
            RegimeName::National => R::National,
            RegimeName::UkStrategic => R::UkStrategic,
        }
    }
}

/// A document that cannot be turned into a decision; the message names the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DocError {
    pub field: String,
    pub message: String,
}

fn doc_err(field: impl Into<String>, message: impl Into<String>) -> DocError {
    DocError { field: field.into(), message: message.into() }
}

impl DecisionDoc {
    /// Converts to the wire decision. Only format errors are reported here (bad times, amounts,
    /// hex); the decision rules are checked by [`crate::decision::CheckedDecision`].
    pub fn to_wire(&self) -> Result<pb::Decision, DocError> {
        let previous = match &self.previous {
            None => Vec::new(),
            Some(h) => hex::decode(h).map_err(|e| doc_err("previous", format!("not hex: {e}")))?,
        };
        let items = self
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| item.to_wire().map_err(|e| doc_err(format!("items[{i}].{}", e.field), e.message)))
            .collect::<Result<_, _>>()?;
        Ok(pb::Decision {
            authority: self.authority.clone(),
            licence_id: self.licence_id.clone(),
            version: self.version.unwrap_or(0),
            previous,
            action: pb::Action::from(self.action) as i32,
            licence_type: self.licence_type.map_or(0, |t| pb::LicenceType::from(t) as i32),
            applicant: self.applicant.as_ref().map(PartyDoc::to_wire),
            end_users: self.end_users.iter().map(PartyDoc::to_wire).collect(),
            consignees: self.consignees.iter().map(PartyDoc::to_wire).collect(),
            end_use: self.end_use.clone(),
            items,
            destinations: self.destinations.clone(),
            transit_countries: self.transit_countries.clone(),
            re_export_terms: self.re_export_terms.clone(),
            valid_from: optional_time("valid_from", self.valid_from.as_deref())?,
            valid_until: optional_time("valid_until", self.valid_until.as_deref())?,
            risk_tier: self.risk_tier.unwrap_or(0),
            conditions: self.conditions.clone(),
            reasons: self.reasons.iter().map(ReasonDoc::to_wire).collect(),
            application_received: parse_time(&self.application_received).map_err(|m| doc_err("application_received", m.to_string()))?,
            decided_at: parse_time(&self.decided_at).map_err(|m| doc_err("decided_at", m.to_string()))?,
            note: self.note.clone(),
            consultations: self.consultations.clone(),
            undercut_override: self
                .undercut_override
                .as_ref()
                .map(|o| pb::UndercutOverride { denials: o.denials.clone(), reasons: o.reasons.iter().map(ReasonDoc::to_wire).collect() }),
            general_licence: self.general_licence.clone(),
            shipment: self.shipment.as_ref().map(ShipmentDoc::to_wire).transpose()?,
            reported_by: self.reported_by.clone(),
            permitted_end_uses: self.permitted_end_uses.clone(),
            re_export_consent: self.re_export_consent.as_ref().map(ConsentDoc::to_wire).transpose()?,
            parent_licence: self.parent_licence.clone(),
            consent_id: self.consent_id.clone(),
        })
    }
}

impl DecisionDoc {
    /// The document form of a wire decision (for display and `--json` output).
    pub fn from_wire(d: &pb::Decision) -> Self {
        let party = PartyDoc::from_wire;
        let time = |t: i64| (t != 0).then(|| format_time(t));
        Self {
            authority: d.authority.clone(),
            licence_id: d.licence_id.clone(),
            version: Some(d.version),
            previous: (!d.previous.is_empty()).then(|| hex::encode(&d.previous)),
            action: pb::Action::try_from(d.action).ok().and_then(ActionName::from_wire).unwrap_or(ActionName::Grant),
            licence_type: pb::LicenceType::try_from(d.licence_type).ok().and_then(LicenceTypeName::from_wire),
            applicant: d.applicant.as_ref().map(party),
            end_users: d.end_users.iter().map(party).collect(),
            consignees: d.consignees.iter().map(party).collect(),
            end_use: d.end_use.clone(),
            items: d.items.iter().map(ItemDoc::from_wire).collect(),
            destinations: d.destinations.clone(),
            transit_countries: d.transit_countries.clone(),
            re_export_terms: d.re_export_terms.clone(),
            valid_from: time(d.valid_from),
            valid_until: time(d.valid_until),
            risk_tier: (d.risk_tier != 0).then_some(d.risk_tier),
            conditions: d.conditions.clone(),
            reasons: d.reasons.iter().map(ReasonDoc::from_wire).collect(),
            application_received: format_time(d.application_received),
            decided_at: format_time(d.decided_at),
            note: d.note.clone(),
            consultations: d.consultations.clone(),
            undercut_override: d
                .undercut_override
                .as_ref()
                .map(|o| OverrideDoc { denials: o.denials.clone(), reasons: o.reasons.iter().map(ReasonDoc::from_wire).collect() }),
            general_licence: d.general_licence.clone(),
            permitted_end_uses: d.permitted_end_uses.clone(),
            reported_by: d.reported_by.clone(),
            shipment: d.shipment.as_ref().map(ShipmentDoc::from_wire),
            re_export_consent: d.re_export_consent.as_ref().map(ConsentDoc::from_wire),
            parent_licence: d.parent_licence.clone(),
            consent_id: d.consent_id.clone(),
        }
    }
}

impl ItemDoc {
    /// The document form of a wire item.
    pub fn from_wire(i: &pb::Item) -> Self {
        Self {
            regime: pb::Regime::try_from(i.regime).ok().and_then(RegimeName::from_wire).unwrap_or(RegimeName::National),
            control_code: i.control_code.clone(),
            description: i.description.clone(),
            quantity: i.quantity.clone(),
            unit: i.unit.clone(),
            value: if i.currency.is_empty() && i.value_minor == 0 { String::new() } else { format_money(i.value_minor, &i.currency) },
            currency: i.currency.clone(),
        }
    }
}

impl ActionName {
    fn from_wire(a: pb::Action) -> Option<Self> {
        ALL_ACTIONS.iter().copied().find(|n| pb::Action::from(*n) == a)
    }
}

impl LicenceTypeName {
    fn from_wire(t: pb::LicenceType) -> Option<Self> {
        use LicenceTypeName::*;
        [Individual, Global, GeneralAuthorisation, TechnologyTransfer, ResearchCollaboration, Registration].into_iter().find(|n| pb::LicenceType::from(*n) == t)
    }
}

impl RegimeName {
    fn from_wire(r: pb::Regime) -> Option<Self> {
        use RegimeName::*;
        [EuDualUse, Wassenaar, UsEar, Mtcr, Nsg, AustraliaGroup, National, UkStrategic].into_iter().find(|n| pb::Regime::from(*n) == r)
    }
}

const ALL_ACTIONS: [ActionName; 19] = [
    ActionName::Grant,
    ActionName::Deny,
    ActionName::Amend,
    ActionName::Extend,
    ActionName::Suspend,
    ActionName::Reinstate,
    ActionName::Revoke,
    ActionName::AppealLodged,
    ActionName::AppealUpheld,
    ActionName::AppealOverturned,
    ActionName::Surrender,
    ActionName::Cancel,
    ActionName::ApplicationLodged,
    ActionName::InformationRequested,
    ActionName::Referred,
    ActionName::ApplicationWithdrawn,
    ActionName::WriteOff,
    ActionName::ReExportConsent,
    ActionName::ConsentWithdrawn,
];

impl PartyDoc {
    /// The document form of a wire party.
    pub fn from_wire(p: &pb::Party) -> Self {
        Self {
            name: p.name.clone(),
            country: p.country.clone(),
            identifiers: p.identifiers.iter().map(|i| IdentifierDoc { scheme: i.scheme.clone(), value: i.value.clone() }).collect(),
            address: p.address.clone(),
        }
    }

    /// The wire party.
    pub fn to_wire(&self) -> pb::Party {
        pb::Party {
            name: self.name.clone(),
            country: self.country.clone(),
            identifiers: self.identifiers.iter().map(|i| pb::Identifier { scheme: i.scheme.clone(), value: i.value.clone() }).collect(),
            address: self.address.clone(),
        }
    }
}

impl ItemDoc {
    fn to_wire(&self) -> Result<pb::Item, DocError> {
        Ok(pb::Item {
            regime: pb::Regime::from(self.regime) as i32,
            control_code: self.control_code.clone(),
            description: self.description.clone(),
            quantity: self.quantity.clone(),
            unit: self.unit.clone(),
            value_minor: match self.value.as_str() {
                "" => 0,
                value => parse_money(value, minor_unit_digits(&self.currency)).map_err(|m| doc_err("value", m.to_string()))?,
            },
            currency: self.currency.clone(),
        })
    }
}

fn optional_time(field: &str, text: Option<&str>) -> Result<i64, DocError> {
    text.map_or(Ok(0), |t| parse_time(t).map_err(|m| doc_err(field, m.to_string())))
}

/// A time or an amount that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("`{0}` is not an RFC 3339 time or a YYYY-MM-DD date")]
    Time(String),
    #[error("`{text}` is not an amount with at most {digits} decimals")]
    Money { text: String, digits: u32 },
}

/// Parses an RFC 3339 time or a plain `YYYY-MM-DD` date (00:00 UTC) to Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, ParseError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp()))
        .map_err(|_| ParseError::Time(text.to_string()))
}

/// Formats Unix seconds as RFC 3339 UTC (`2026-10-28T14:00:00Z`); 0 prints as `-`.
pub fn format_time(unix: i64) -> String {
    if unix == 0 {
        return "-".to_string();
    }
    DateTime::<Utc>::from_timestamp(unix, 0).map_or_else(|| unix.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Parses a non-negative decimal amount into minor units, refusing more decimals than the currency has.
pub fn parse_money(text: &str, digits: u32) -> Result<u64, ParseError> {
    let bad = || ParseError::Money { text: text.to_string(), digits };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > digits as usize
        || (text.contains('.') && frac.is_empty())
    {
        return Err(bad());
    }
    let scale = 10u64.pow(digits);
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let frac: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<width$}", width = digits as usize).parse().map_err(|_| bad())? };
    whole.checked_mul(scale).and_then(|w| w.checked_add(frac)).ok_or_else(bad)
}

/// Formats minor units as a decimal amount in `currency` (`4800000`, EUR → `48000.00`).
pub fn format_money(minor: u64, currency: &str) -> String {
    let digits = minor_unit_digits(currency);
    if digits == 0 {
        return minor.to_string();
    }
    let scale = 10u64.pow(digits);
    format!("{}.{:0width$}", minor / scale, minor % scale, width = digits as usize)
}

/// Short prefix used when a control code is written with its regime, e.g. `EU-DU:3A001.a.1`.
pub fn regime_prefix(regime: pb::Regime) -> &'static str {
    match regime {
        pb::Regime::Unspecified => "?",
        pb::Regime::EuDualUse => "EU-DU",
        pb::Regime::Wassenaar => "WA",
        pb::Regime::UsEar => "EAR",
        pb::Regime::Mtcr => "MTCR",
        pb::Regime::Nsg => "NSG",
        pb::Regime::AustraliaGroup => "AG",
        pb::Regime::National => "NAT",
        pb::Regime::UkStrategic => "UK",
    }
}

/// `REGIME:CODE` for an item, e.g. `EU-DU:3A001.a.1`.
pub fn qualified_control_code(item: &pb::Item) -> String {
    let regime = pb::Regime::try_from(item.regime).unwrap_or(pb::Regime::Unspecified);
    format!("{}:{}", regime_prefix(regime), item.control_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_date() {
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400);
        assert_eq!(parse_time("2026-10-28T14:00:00Z").unwrap(), 1_793_196_000);
        assert_eq!(parse_time("2026-10-28T16:00:00+02:00").unwrap(), 1_793_196_000);
        assert!(parse_time("28/10/2026").is_err());
        assert_eq!(format_time(1_793_196_000), "2026-10-28T14:00:00Z");
    }

    #[test]
    fn money_respects_currency_minor_units() {
        assert_eq!(parse_money("48000.00", 2).unwrap(), 4_800_000);
        assert_eq!(parse_money("48000.5", 2).unwrap(), 4_800_050);
        assert_eq!(parse_money("1200000", 0).unwrap(), 1_200_000);
        assert!(parse_money("1.5", 0).is_err());
        assert!(parse_money("1.234", 2).is_err());
        assert!(parse_money("-1", 2).is_err());
        assert!(parse_money("1.", 2).is_err());
        assert!(parse_money("", 2).is_err());
        assert!(parse_money("99999999999999999999", 2).is_err());
        assert_eq!(format_money(4_800_050, "EUR"), "48000.50");
        assert_eq!(format_money(1_200_000, "JPY"), "1200000");
    }

    #[test]
    fn wire_and_document_forms_round_trip() {
        let wire = crate::decision::fixtures::grant("de.bafa", "DE-2026-000123");
        let doc = DecisionDoc::from_wire(&wire);
        assert_eq!(doc.to_wire().unwrap(), wire);
        let json = serde_json::to_string(&doc).unwrap();
        let back: DecisionDoc = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn yaml_document_converts_and_names_bad_fields() {
        let doc: DecisionDoc = serde_json::from_value(serde_json::json!({
            "authority": "de.bafa", "licence_id": "DE-2026-000123", "action": "grant",
            "items": [{"regime": "eu_dual_use", "control_code": "3A001.a.1", "description": "rad-hard ICs",
                       "quantity": "200", "unit": "pcs", "value": "48000.0x", "currency": "EUR"}],
            "application_received": "2026-09-14", "decided_at": "2026-10-28T14:00:00Z"
        }))
        .unwrap();
        let err = doc.to_wire().unwrap_err();
        assert_eq!(err.field, "items[0].value");
    }
}
