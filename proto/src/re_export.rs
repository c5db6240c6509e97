//! Re-export chains with consent (docs/re-export.md): the original authority's consent to a
//! re-export, carried on the parent licence's own decision chain, and the re-export (child)
//! licence of another authority that cites it. Pure checks only: the fields of consents and
//! children, which consents a chain holds, and whether a consent covers a child's terms or a
//! question. No I/O.

use crate::authoring::qualified_control_code;
use crate::decision::{check_countries, check_item, check_list_len, check_party, check_text, field_err, split_licence_ref, FieldError, MAX_TEXT};
use crate::pb::{self, Action, LicenceType};
use crate::quantity::Quantity;
use crate::recognition::Context;
use crate::screening::{score, words, STRONG_MATCH};

/// The actions about a consent: they carry no licence terms and leave the status as it was.
pub fn is_consent_action(action: Action) -> bool {
    matches!(action, Action::ReExportConsent | Action::ConsentWithdrawn)
}

/// True when `id` is a well-formed consent id such as `DE-RXC-2026-0007` (as a licence id).
pub fn is_consent_id(id: &str) -> bool {
    crate::decision::is_licence_id(id)
}

/// The re-export fields of decision `d` (action `action`, licence type `licence_type`):
/// `re_export_consent` exactly on the consent actions (complete on a consent, its id only on a
/// withdrawal), and `parent_licence` with `consent_id` together, only on decisions stating the
/// terms of an ordinary licence of another authority than the parent's.
pub(crate) fn check_fields(d: &pb::Decision, action: Action, licence_type: LicenceType) -> Result<(), FieldError> {
    match (action, &d.re_export_consent) {
        (Action::ReExportConsent, Some(c)) => check_consent(c, &d.authority)?,
        (Action::ReExportConsent, None) => return Err(field_err("re_export_consent", "required for RE_EXPORT_CONSENT")),
        (Action::ConsentWithdrawn, Some(c)) => check_withdrawal(c)?,
        (Action::ConsentWithdrawn, None) => {
            return Err(field_err("re_export_consent", "required for CONSENT_WITHDRAWN (its consent_id names the consent withdrawn)"))
        }
        (_, Some(_)) => return Err(field_err("re_export_consent", "only RE_EXPORT_CONSENT and CONSENT_WITHDRAWN carry a consent")),
        (_, None) => {}
    }
    if d.parent_licence.is_empty() && d.consent_id.is_empty() {
        return Ok(());
    }
    if !crate::decision::states_terms(action) {
        let field = if d.parent_licence.is_empty() { "consent_id" } else { "parent_licence" };
        return Err(field_err(
            field,
            format!("must be empty for {}: only decisions stating a re-export licence's terms name its parent", action.as_str_name()),
        ));
    }
    if matches!(licence_type, LicenceType::GeneralAuthorisation | LicenceType::Registration) {
        return Err(field_err("parent_licence", format!("a {} cannot be a re-export licence", licence_type.as_str_name())));
    }
    match split_licence_ref(&d.parent_licence) {
        None => {
            return Err(field_err(
                "parent_licence",
                format!("`{}` must name the licence re-exported under, like de.bafa/DE-2026-000412", crate::shown(&d.parent_licence)),
            ))
        }
        Some((authority, _)) if authority == d.authority => {
            return Err(field_err("parent_licence", format!("must be a licence of another authority than {} (a re-export crosses authorities)", d.authority)))
        }
        Some(_) => {}
    }
    if !is_consent_id(&d.consent_id) {
        return Err(field_err("consent_id", format!("`{}` must name the parent's consent relied on, like DE-RXC-2026-0007", crate::shown(&d.consent_id))));
    }
    Ok(())
}

/// A consent given by `authority`: every field well formed, a re-export authority other than
/// itself, at least one end user, destination and item (each with a quantity), and an end date.
pub fn check_consent(c: &pb::ReExportConsent, authority: &str) -> Result<(), FieldError> {
    let field = |name: &str| format!("re_export_consent.{name}");
    if !is_consent_id(&c.consent_id) {
        return Err(field_err(field("consent_id"), format!("`{}` must be 1-64 characters of A-Z a-z 0-9 / _ . -", crate::shown(&c.consent_id))));
    }
    if !crate::decision::is_authority_id(&c.re_export_authority) {
        return Err(field_err(field("re_export_authority"), format!("`{}` is not an authority id like jp.meti", crate::shown(&c.re_export_authority))));
    }
    if c.re_export_authority == authority {
        return Err(field_err(field("re_export_authority"), "must be another authority than the consenting one"));
    }
    match &c.re_exporter {
        None => return Err(field_err(field("re_exporter"), "required")),
        Some(p) => check_party(&field("re_exporter"), p)?,
    }
    if c.end_users.is_empty() {
        return Err(field_err(field("end_users"), "at least one entry is required"));
    }
    check_list_len(&field("end_users"), &c.end_users)?;
    for (i, p) in c.end_users.iter().enumerate() {
        check_party(&field(&format!("end_users[{i}]")), p)?;
    }
    if c.destinations.is_empty() {
        return Err(field_err(field("destinations"), "at least one entry is required"));
    }
    check_countries(&field("destinations"), &c.destinations)?;
    if c.items.is_empty() {
        return Err(field_err(field("items"), "at least one entry is required"));
    }
    check_list_len(&field("items"), &c.items)?;
    for (i, item) in c.items.iter().enumerate() {
        // A consent counts what may be re-exported, so each item states a quantity and unit;
        // a value is optional (when given, with its currency).
        let mut probe = item.clone();
        if probe.currency.is_empty() && probe.value_minor == 0 {
            probe.currency = "EUR".into();
        }
        check_item(i, &probe, false).map_err(|e| field_err(field(&e.field), e.message))?;
        if c.items[..i].iter().any(|other| qualified_control_code(other) == qualified_control_code(item)) {
            return Err(field_err(field(&format!("items[{i}].control_code")), format!("`{}` is listed twice", qualified_control_code(item))));
        }
    }
    if c.valid_until <= 0 {
        return Err(field_err(field("valid_until"), "required (Unix seconds): a consent covers re-export licences decided before it"));
    }
    check_list_len(&field("conditions"), &c.conditions)?;
    for (i, text) in c.conditions.iter().enumerate() {
        check_text(&field(&format!("conditions[{i}]")), text, MAX_TEXT, true)?;
    }
    Ok(())
}

/// A withdrawal names its consent and nothing else.
fn check_withdrawal(c: &pb::ReExportConsent) -> Result<(), FieldError> {
    if !is_consent_id(&c.consent_id) {
        return Err(field_err("re_export_consent.consent_id", format!("`{}` must name the consent withdrawn", crate::shown(&c.consent_id))));
    }
    let withdrawal = pb::ReExportConsent { consent_id: c.consent_id.clone(), ..Default::default() };
    if *c != withdrawal {
        return Err(field_err("re_export_consent", "a withdrawal carries only the consent_id of the consent withdrawn"));
    }
    Ok(())
}

/// A consent found on a parent licence's chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    pub consent: pb::ReExportConsent,
    /// The parent's authority and licence, `authority/licence_id`.
    pub parent: String,
    /// The version and time of the RE_EXPORT_CONSENT decision.
    pub version: u64,
    pub given_at: i64,
    /// The version and time of its CONSENT_WITHDRAWN, if withdrawn.
    pub withdrawn: Option<(u64, i64)>,
}

impl Consent {
    /// In force at `at`: given by then, not withdrawn by then, and before its end date.
    pub fn in_force_at(&self, at: i64) -> bool {
        self.given_at <= at && self.withdrawn.is_none_or(|(_, w)| w > at) && at < self.consent.valid_until
    }

    /// `consent X of de.bafa`, as reasons name it.
    pub fn name(&self) -> String {
        let authority = self.parent.split('/').next().unwrap_or_default();
        format!("consent {} of {authority}", self.consent.consent_id)
    }
}

/// Every consent given on a chain (its decisions in version order), with its withdrawal.
pub fn consents<'a>(chain: impl IntoIterator<Item = &'a pb::Decision>) -> Vec<Consent> {
    let mut out: Vec<Consent> = Vec::new();
    for d in chain {
        let Some(c) = &d.re_export_consent else { continue };
        match Action::try_from(d.action) {
            Ok(Action::ReExportConsent) => out.push(Consent {
                consent: c.clone(),
                parent: format!("{}/{}", d.authority, d.licence_id),
                version: d.version,
                given_at: d.decided_at,
                withdrawn: None,
            }),
            Ok(Action::ConsentWithdrawn) => {
                if let Some(given) = out.iter_mut().find(|g| g.consent.consent_id == c.consent_id && g.withdrawn.is_none()) {
                    given.withdrawn = Some((d.version, d.decided_at));
                }
            }
            _ => {}
        }
    }
    out
}

/// Why a consent action cannot follow on a chain holding `held`: a consent id given twice, or a
/// withdrawal of a consent not given or already withdrawn.
pub fn check_sequence(held: &[Consent], d: &pb::Decision) -> Result<(), String> {
    let Some(c) = &d.re_export_consent else { return Ok(()) };
    let given = held.iter().find(|g| g.consent.consent_id == c.consent_id);
    match (Action::try_from(d.action), given) {
        (Ok(Action::ReExportConsent), Some(g)) => Err(format!("consent {} was already given (version {})", c.consent_id, g.version)),
        (Ok(Action::ConsentWithdrawn), None) => Err(format!("consent {} was never given on this licence", c.consent_id)),
        (Ok(Action::ConsentWithdrawn), Some(Consent { withdrawn: Some((v, _)), .. })) => {
            Err(format!("consent {} was already withdrawn (version {v})", c.consent_id))
        }
        _ => Ok(()),
    }
}

/// Why a consent's items are not the parent's: each must be an item of the parent licence's
/// terms (`parent`), in the same unit and at most the quantity licensed.
pub fn check_items(consent: &pb::ReExportConsent, parent: &pb::Decision) -> Result<(), String> {
    for item in &consent.items {
        let code = qualified_control_code(item);
        let Some(licensed) = parent.items.iter().find(|i| qualified_control_code(i) == code) else {
            let codes: Vec<String> = parent.items.iter().map(qualified_control_code).collect();
            return Err(format!("{code} is not among the licence's items ({})", codes.join(", ")));
        };
        if item.unit != licensed.unit {
            return Err(format!("{code} is counted in {} on the licence, not {}", licensed.unit, item.unit));
        }
        if let (Some(wanted), Some(held)) = (Quantity::parse(&item.quantity), Quantity::parse(&licensed.quantity)) {
            if wanted > held {
                return Err(format!("{} {} of {code} is more than the {} {} licensed", item.quantity, item.unit, licensed.quantity, licensed.unit));
            }
        }
    }
    Ok(())
}

/// Whether a party's name is one the consent names: the same words once legal forms, case,
/// spacing and script are set aside, or a strong match as screening scores it
/// (`screening::STRONG_MATCH`).
pub fn same_party(a: &str, b: &str) -> bool {
    let (wa, wb) = (words(a), words(b));
    (!wa.is_empty() && wa == wb) || score(&wa, &wb) >= STRONG_MATCH
}

/// What of a child's terms (`child`, a decision stating them) the consent does not cover: its
/// authority, end users, destinations, items (code, unit and quantity, with `used` the quantity
/// already licensed under the consent by other children, per qualified code) and its date.
pub fn uncovered_terms(consent: &Consent, child: &pb::Decision, used: &dyn Fn(&str) -> Quantity) -> Vec<String> {
    let c = &consent.consent;
    let mut out = Vec::new();
    if c.re_export_authority != child.authority {
        out.push(format!("it consents to a re-export licensed by {}, not {}", c.re_export_authority, child.authority));
    }
    if child.decided_at >= c.valid_until {
        out.push(format!("it covers re-export licences decided before {}", crate::authoring::format_time(c.valid_until)));
    }
    for user in &child.end_users {
        if !c.end_users.iter().any(|p| same_party(&p.name, &user.name)) {
            out.push(format!("end user {:?} is not among its end users ({})", user.name, names(&c.end_users)));
        }
    }
    for dest in &child.destinations {
        if !c.destinations.contains(dest) {
            out.push(format!("destination {dest} is not among its destinations ({})", c.destinations.join(", ")));
        }
    }
    for item in &child.items {
        let code = qualified_control_code(item);
        let Some(consented) = c.items.iter().find(|i| qualified_control_code(i) == code) else {
            let codes: Vec<String> = c.items.iter().map(qualified_control_code).collect();
            out.push(format!("control code {code} is not among its items ({})", codes.join(", ")));
            continue;
        };
        if consented.unit != item.unit {
            out.push(format!("{code} is consented in {}, the licence counts it in {}", consented.unit, item.unit));
            continue;
        }
        let (Some(allowed), Some(wanted)) = (Quantity::parse(&consented.quantity), Quantity::parse(&item.quantity)) else {
            out.push(format!("{code}: quantity is not a decimal number"));
            continue;
        };
        let total = used(&code).checked_add(wanted);
        if total.is_none_or(|total| total > allowed) {
            out.push(format!(
                "{code}: {} {} would bring the re-exports under it to {} {}, over the {} {} consented",
                item.quantity,
                item.unit,
                total.map_or_else(|| "too much".to_string(), |t| t.to_string()),
                item.unit,
                consented.quantity,
                consented.unit
            ));
        }
    }
    out
}

/// What of a question the consent does not cover: its destination, end user and control code
/// (a consent never widens the child licence, whose own terms are checked apart).
pub fn uncovered_question(consent: &Consent, ctx: &Context) -> Vec<String> {
    let c = &consent.consent;
    let name = consent.name();
    let mut out = Vec::new();
    if let Some(dest) = &ctx.destination {
        if !c.destinations.contains(dest) {
            out.push(format!("{name} does not cover destination {dest} (it names {})", c.destinations.join(", ")));
        }
    }
    if let Some(user) = &ctx.end_user {
        if !c.end_users.iter().any(|p| same_party(&p.name, user)) {
            out.push(format!("{name} does not cover end user {user:?} (it names {})", names(&c.end_users)));
        }
    }
    if let Some(code) = &ctx.control_code {
        let codes: Vec<String> = c.items.iter().map(qualified_control_code).collect();
        if !codes.iter().any(|item| crate::recognition::is_at_or_under(item, code)) {
            out.push(format!("{name} does not cover control code {code} (it names {})", codes.join(", ")));
        }
    }
    out
}

fn names(parties: &[pb::Party]) -> String {
    parties.iter().map(|p| format!("{:?}", p.name)).collect::<Vec<_>>().join(", ")
}

/// Consents and children for tests of this crate and its dependants (feature `fixtures`).
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use crate::decision::fixtures::{follow_up, grant, DECIDED};
    use crate::pb;

    const DAY: i64 = 86_400;

    /// A consent by `parent`'s issuer, at `version`, to a re-export by `jp.meti` of 50 of the
    /// parent's 200 pieces to an end user in TH.
    pub fn consent(parent: &pb::Decision, consent_id: &str, version: u64, previous: [u8; 32]) -> pb::Decision {
        let mut d = follow_up(parent, pb::Action::ReExportConsent, version, previous);
        let mut item = parent.items[0].clone();
        item.quantity = "50".into();
        d.re_export_consent = Some(pb::ReExportConsent {
            consent_id: consent_id.into(),
            re_export_authority: "jp.meti".into(),
            re_exporter: parent.end_users.first().cloned(),
            end_users: vec![pb::Party { name: "Siam Orbital Systems Co., Ltd.".into(), country: "TH".into(), ..Default::default() }],
            destinations: vec!["TH".into()],
            items: vec![item],
            valid_until: DECIDED + 365 * DAY,
            conditions: vec!["No further re-export without BAFA's consent".into()],
        });
        d
    }

    /// A withdrawal of `consent_id` at `version`.
    pub fn withdrawal(parent: &pb::Decision, consent_id: &str, version: u64, previous: [u8; 32]) -> pb::Decision {
        let mut d = follow_up(parent, pb::Action::ConsentWithdrawn, version, previous);
        d.re_export_consent = Some(pb::ReExportConsent { consent_id: consent_id.into(), ..Default::default() });
        d
    }

    /// A re-export licence of `jp.meti` under `parent` (`authority/licence_id`) and its consent:
    /// 20 pieces to the consent's end user in TH.
    pub fn child(licence_id: &str, parent: &str, consent_id: &str) -> pb::Decision {
        let mut d = grant("jp.meti", licence_id);
        d.applicant = Some(pb::Party { name: "Tohoku Institute of Space Optics".into(), country: "JP".into(), ..Default::default() });
        d.end_users = vec![pb::Party { name: "Siam Orbital Systems Co Ltd".into(), country: "TH".into(), ..Default::default() }];
        d.destinations = vec!["TH".into()];
        d.items[0].quantity = "20".into();
        d.decided_at = DECIDED + 10 * DAY;
        d.valid_from = d.decided_at;
        d.parent_licence = parent.into();
        d.consent_id = consent_id.into();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::decision::fixtures::{follow_up, grant, registration, DECIDED};
    use crate::decision::CheckedDecision;

    fn refused(d: pb::Decision) -> String {
        CheckedDecision::try_from(d).expect_err("decision should be refused").field
    }

    type Mutation = Box<dyn Fn(&mut pb::Decision)>;

    #[test]
    fn a_consent_and_its_withdrawal_are_accepted() {
        let parent = grant("de.bafa", "DE-2026-000412");
        CheckedDecision::try_from(consent(&parent, "DE-RXC-2026-0007", 2, [1; 32])).expect("a complete consent");
        CheckedDecision::try_from(withdrawal(&parent, "DE-RXC-2026-0007", 3, [2; 32])).expect("a withdrawal");
        CheckedDecision::try_from(child("JP-RX-2026-0001", "de.bafa/DE-2026-000412", "DE-RXC-2026-0007")).expect("a child");
    }

    fn rx(d: &mut pb::Decision) -> &mut pb::ReExportConsent {
        d.re_export_consent.as_mut().unwrap()
    }

    #[test]
    fn each_bad_consent_field_is_named() {
        let parent = grant("de.bafa", "DE-2026-000412");
        let c = || consent(&parent, "DE-RXC-2026-0007", 2, [1; 32]);
        let cases: Vec<(&str, Mutation)> = vec![
            ("re_export_consent", Box::new(|d| d.re_export_consent = None)),
            ("re_export_consent.consent_id", Box::new(|d| rx(d).consent_id = "no spaces".into())),
            ("re_export_consent.re_export_authority", Box::new(|d| rx(d).re_export_authority = "METI".into())),
            ("re_export_consent.re_export_authority", Box::new(|d| rx(d).re_export_authority = "de.bafa".into())),
            ("re_export_consent.re_exporter", Box::new(|d| rx(d).re_exporter = None)),
            ("re_export_consent.end_users", Box::new(|d| rx(d).end_users.clear())),
            ("re_export_consent.end_users[0].country", Box::new(|d| rx(d).end_users[0].country = "Thailand".into())),
            ("re_export_consent.destinations", Box::new(|d| rx(d).destinations.clear())),
            ("re_export_consent.destinations[0]", Box::new(|d| rx(d).destinations[0] = "th".into())),
            ("re_export_consent.items", Box::new(|d| rx(d).items.clear())),
            ("re_export_consent.items[0].quantity", Box::new(|d| rx(d).items[0].quantity = String::new())),
            (
                "re_export_consent.items[1].control_code",
                Box::new(|d| {
                    let again = rx(d).items[0].clone();
                    rx(d).items.push(again)
                }),
            ),
            ("re_export_consent.valid_until", Box::new(|d| rx(d).valid_until = 0)),
            ("re_export_consent.conditions[0]", Box::new(|d| rx(d).conditions[0] = " ".into())),
            ("items", Box::new(|d| d.items = grant("x.y", "A").items)),
            ("valid_until", Box::new(|d| d.valid_until = DECIDED)),
        ];
        for (field, mutate) in cases {
            let mut d = c();
            mutate(&mut d);
            assert_eq!(refused(d), field);
        }
        let mut with_terms = withdrawal(&parent, "DE-RXC-2026-0007", 3, [2; 32]);
        with_terms.re_export_consent.as_mut().unwrap().destinations = vec!["TH".into()];
        assert_eq!(refused(with_terms), "re_export_consent");
        let mut suspend = follow_up(&parent, Action::Suspend, 2, [1; 32]);
        suspend.re_export_consent = c().re_export_consent;
        assert_eq!(refused(suspend), "re_export_consent");
    }

    #[test]
    fn a_child_names_another_authoritys_licence_and_a_consent() {
        let ok = || child("JP-RX-2026-0001", "de.bafa/DE-2026-000412", "DE-RXC-2026-0007");
        let cases: Vec<(&str, Mutation)> = vec![
            ("parent_licence", Box::new(|d| d.parent_licence = "DE-2026-000412".into())),
            ("parent_licence", Box::new(|d| d.parent_licence = "jp.meti/JP-2026-1".into())),
            ("consent_id", Box::new(|d| d.consent_id.clear())),
            ("parent_licence", Box::new(|d| d.parent_licence.clear())),
            ("parent_licence", Box::new(|d| d.licence_type = pb::LicenceType::GeneralAuthorisation as i32)),
        ];
        for (field, mutate) in cases {
            let mut d = ok();
            mutate(&mut d);
            assert_eq!(refused(d), field);
        }
        let mut reg = registration("jp.meti", "JP-REG-1", "jp.meti/OGL-1");
        reg.parent_licence = "de.bafa/DE-2026-000412".into();
        reg.consent_id = "DE-RXC-2026-0007".into();
        assert_eq!(refused(reg), "parent_licence");
        let mut suspend = follow_up(&ok(), Action::Suspend, 2, [1; 32]);
        suspend.parent_licence = "de.bafa/DE-2026-000412".into();
        assert_eq!(refused(suspend), "parent_licence");
    }

    #[test]
    fn consents_on_a_chain_and_their_withdrawal() {
        let parent = grant("de.bafa", "DE-2026-000412");
        let given = consent(&parent, "RXC-1", 2, [1; 32]);
        let other = consent(&parent, "RXC-2", 3, [2; 32]);
        let withdrawn = withdrawal(&parent, "RXC-1", 4, [3; 32]);
        let held = consents([&parent, &given, &other, &withdrawn]);
        assert_eq!(held.len(), 2);
        assert_eq!(held[0].withdrawn, Some((4, withdrawn.decided_at)));
        assert!(held[0].in_force_at(given.decided_at) && !held[0].in_force_at(withdrawn.decided_at));
        assert!(held[1].in_force_at(withdrawn.decided_at));
        assert_eq!(held[0].name(), "consent RXC-1 of de.bafa");
        assert!(check_sequence(&held, &consent(&parent, "RXC-2", 5, [4; 32])).unwrap_err().contains("already given"));
        assert!(check_sequence(&held, &withdrawal(&parent, "RXC-1", 5, [4; 32])).unwrap_err().contains("already withdrawn"));
        assert!(check_sequence(&held, &withdrawal(&parent, "RXC-9", 5, [4; 32])).unwrap_err().contains("never given"));
        assert_eq!(check_sequence(&held, &withdrawal(&parent, "RXC-2", 5, [4; 32])), Ok(()));
    }

    #[test]
    fn a_consent_covers_a_childs_terms_up_to_its_quantity() {
        let parent = grant("de.bafa", "DE-2026-000412");
        let held = consents([&parent, &consent(&parent, "RXC-1", 2, [1; 32])]);
        let c = &held[0];
        let kid = child("JP-RX-1", "de.bafa/DE-2026-000412", "RXC-1");
        let none = |_: &str| Quantity::ZERO;
        assert_eq!(uncovered_terms(c, &kid, &none), Vec::<String>::new(), "legal forms and punctuation aside, the names match");
        let thirty = |_: &str| Quantity::parse("30").unwrap();
        assert_eq!(uncovered_terms(c, &kid, &thirty), Vec::<String>::new(), "20 more after 30 is the 50 consented");
        let over = uncovered_terms(c, &kid, &|_: &str| Quantity::parse("31").unwrap());
        assert_eq!(over, ["EU-DU:3A001.a.1: 20 pcs would bring the re-exports under it to 51 pcs, over the 50 pcs consented"]);
        let mut elsewhere = kid.clone();
        elsewhere.destinations = vec!["TH".into(), "VN".into()];
        assert_eq!(uncovered_terms(c, &elsewhere, &none), ["destination VN is not among its destinations (TH)"]);
        let mut someone = kid.clone();
        someone.end_users[0].name = "Bangkok Avionics".into();
        assert!(uncovered_terms(c, &someone, &none)[0].starts_with("end user \"Bangkok Avionics\""));
        let mut other_code = kid.clone();
        other_code.items[0].control_code = "3A001.a.2".into();
        assert!(uncovered_terms(c, &other_code, &none)[0].starts_with("control code EU-DU:3A001.a.2 is not among its items"));
        let mut by_ecju = kid.clone();
        by_ecju.authority = "uk.ecju".into();
        assert!(uncovered_terms(c, &by_ecju, &none)[0].contains("licensed by jp.meti, not uk.ecju"));
        let mut late = kid;
        late.decided_at = c.consent.valid_until;
        assert!(uncovered_terms(c, &late, &none)[0].starts_with("it covers re-export licences decided before"));
    }

    #[test]
    fn a_consent_covers_a_question() {
        let parent = grant("de.bafa", "DE-2026-000412");
        let held = consents([&parent, &consent(&parent, "RXC-1", 2, [1; 32])]);
        let ctx = |dest: &str, user: Option<&str>| Context {
            destination: Some(dest.into()),
            control_code: Some("EU-DU:3A001.a.1".into()),
            end_user: user.map(str::to_string),
            end_use: None,
            at: DECIDED,
            shipment: None,
        };
        assert!(uncovered_question(&held[0], &ctx("TH", Some("SIAM ORBITAL SYSTEMS"))).is_empty());
        assert_eq!(uncovered_question(&held[0], &ctx("VN", None)), ["consent RXC-1 of de.bafa does not cover destination VN (it names TH)"]);
        assert!(uncovered_question(&held[0], &ctx("TH", Some("Hanoi Space Works")))[0].contains("does not cover end user"));
    }

    #[test]
    fn a_consent_names_only_the_parents_items_within_its_quantity() {
        let parent = grant("de.bafa", "DE-2026-000412");
        let given = consent(&parent, "RXC-1", 2, [1; 32]).re_export_consent.unwrap();
        assert_eq!(check_items(&given, &parent), Ok(()));
        let mut all = given.clone();
        all.items[0].quantity = "200".into();
        assert_eq!(check_items(&all, &parent), Ok(()), "the whole quantity may be consented");
        let mut more = given.clone();
        more.items[0].quantity = "200.5".into();
        assert_eq!(check_items(&more, &parent), Err("200.5 pcs of EU-DU:3A001.a.1 is more than the 200 pcs licensed".into()));
        let mut other_unit = given.clone();
        other_unit.items[0].unit = "kg".into();
        assert!(check_items(&other_unit, &parent).unwrap_err().contains("counted in pcs on the licence, not kg"));
        let mut other_code = given;
        other_code.items[0].control_code = "3A001.a.2".into();
        assert!(check_items(&other_code, &parent).unwrap_err().starts_with("EU-DU:3A001.a.2 is not among the licence's items"));
    }
}
