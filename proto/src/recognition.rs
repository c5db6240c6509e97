//! Recognition agreements: their validation, and whether a licence and an agreement cover what a
//! verifier is asked about (a destination, a control code, an end user, a time).
//!
//! Pure rules: no I/O, no signatures (callers pass statements already verified). The reasons
//! returned become the OUT_OF_SCOPE reasons shown to customs officers, so each one names the value
//! and what it was compared with.

use std::collections::BTreeMap;
use std::fmt;
use std::slice;
use std::sync::LazyLock;

use regex::Regex;

use crate::authoring::{format_time, qualified_control_code, regime_prefix};
use crate::catalogue::Crosswalk;
use crate::codes::is_country;
use crate::decision::{is_authority_id, is_control_code, FieldError};
use crate::pb::{self, LicenceType, Regime};

/// Most entries in any list of an agreement.
pub const MAX_AGREEMENT_LIST: usize = 64;
/// Longest condition, in characters.
pub const MAX_CONDITION_CHARS: usize = 1000;

static AGREEMENT_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9-]{0,63}$").expect("valid regex"));

/// Every regime a control code can be qualified with (not `Unspecified`, whose prefix is `?`).
const REGIMES: [Regime; 8] =
    [Regime::EuDualUse, Regime::Wassenaar, Regime::UsEar, Regime::Mtcr, Regime::Nsg, Regime::AustraliaGroup, Regime::National, Regime::UkStrategic];

/// A recognition agreement whose fields are all well formed (a withdrawn one: its identifying
/// fields).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedAgreement {
    agreement: pb::RecognitionAgreement,
}

impl CheckedAgreement {
    /// The wire agreement.
    pub fn agreement(&self) -> &pb::RecognitionAgreement {
        &self.agreement
    }

    /// Consumes the wrapper.
    pub fn into_inner(self) -> pb::RecognitionAgreement {
        self.agreement
    }
}

/// `jp.meti recognises de.bafa (eu-du-2026 v3)`: how reasons name the agreement.
impl fmt::Display for CheckedAgreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.agreement;
        write!(f, "{} recognises {} ({} v{})", a.relying_authority, a.recognised_authority, a.agreement_id, a.version)
    }
}

impl TryFrom<pb::RecognitionAgreement> for CheckedAgreement {
    type Error = FieldError;

    fn try_from(a: pb::RecognitionAgreement) -> Result<Self, FieldError> {
        check_identity(&a)?;
        // A withdrawal only has to say which agreement it ends; its terms no longer apply.
        if !a.withdrawn {
            check_terms(&a)?;
        }
        Ok(Self { agreement: a })
    }
}

fn field_err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

fn check_identity(a: &pb::RecognitionAgreement) -> Result<(), FieldError> {
    for (field, id) in [("relying_authority", &a.relying_authority), ("recognised_authority", &a.recognised_authority)] {
        if !is_authority_id(id) {
            return Err(field_err(field, format!("`{id}` is not a lowercase dotted authority id like jp.meti")));
        }
    }
    if a.relying_authority == a.recognised_authority {
        return Err(field_err("recognised_authority", "must differ from relying_authority: an authority does not recognise itself"));
    }
    if !AGREEMENT_ID.is_match(&a.agreement_id) {
        let why = "must be 1-64 characters of a-z 0-9 - starting with a letter or digit, like eu-du-2026";
        return Err(field_err("agreement_id", format!("`{}` {why}", a.agreement_id)));
    }
    if a.version == 0 {
        return Err(field_err("version", "must be at least 1"));
    }
    Ok(())
}

fn check_terms(a: &pb::RecognitionAgreement) -> Result<(), FieldError> {
    check_len("regimes", a.regimes.len())?;
    for (i, r) in a.regimes.iter().enumerate() {
        if !matches!(Regime::try_from(*r), Ok(r) if r != Regime::Unspecified) {
            return Err(field_err(format!("regimes[{i}]"), format!("unspecified or unknown regime {r}")));
        }
    }
    check_len("control_code_patterns", a.control_code_patterns.len())?;
    for (i, p) in a.control_code_patterns.iter().enumerate() {
        check_pattern(p).map_err(|e| field_err(format!("control_code_patterns[{i}]"), e.to_string()))?;
    }
    for (field, codes) in [("destinations_allowed", &a.destinations_allowed), ("destinations_denied", &a.destinations_denied)] {
        check_len(field, codes.len())?;
        if let Some((i, c)) = codes.iter().enumerate().find(|(_, c)| !is_country(c)) {
            return Err(field_err(format!("{field}[{i}]"), format!("`{c}` is not an ISO 3166-1 alpha-2 code")));
        }
    }
    check_len("licence_types", a.licence_types.len())?;
    for (i, t) in a.licence_types.iter().enumerate() {
        if !matches!(LicenceType::try_from(*t), Ok(t) if t != LicenceType::Unspecified) {
            return Err(field_err(format!("licence_types[{i}]"), format!("unspecified or unknown licence type {t}")));
        }
    }
    if !a.crosswalk.is_empty() {
        let well_formed = a.crosswalk.split_once('/').is_some_and(|(authority, id)| is_authority_id(authority) && AGREEMENT_ID.is_match(id));
        if !well_formed {
            return Err(field_err("crosswalk", format!("`{}` is not `authority/crosswalk_id`, like int.wassenaar/wa-eu-uk-us", a.crosswalk)));
        }
    }
    if a.max_risk_tier > 4 {
        return Err(field_err("max_risk_tier", format!("must be 1 to 4, or 0 for any, got {}", a.max_risk_tier)));
    }
    if a.valid_until != 0 && a.valid_until <= a.valid_from {
        return Err(field_err("valid_until", "must be after valid_from, or 0 for open"));
    }
    check_len("conditions", a.conditions.len())?;
    for (i, c) in a.conditions.iter().enumerate() {
        let field = format!("conditions[{i}]");
        let chars = c.chars().count();
        if c.trim().is_empty() {
            return Err(field_err(field, "is empty"));
        }
        if chars > MAX_CONDITION_CHARS {
            return Err(field_err(field, format!("is {chars} characters, more than the {MAX_CONDITION_CHARS} allowed")));
        }
        // Conditions are printed in verdicts; control characters could rewrite what an officer sees.
        if c.chars().any(|ch| ch.is_control() && ch != '\n') {
            return Err(field_err(field, "contains control characters"));
        }
    }
    Ok(())
}

fn check_len(field: &str, len: usize) -> Result<(), FieldError> {
    if len > MAX_AGREEMENT_LIST {
        return Err(field_err(field, format!("has {len} entries, more than the {MAX_AGREEMENT_LIST} allowed")));
    }
    Ok(())
}

/// A control-code pattern that is not `PREFIX:CODE`, `PREFIX:CODE.*` or `PREFIX:*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(String);

/// Checks a control-code pattern: `EU-DU:3A001.a.1` (exactly that code), `EU-DU:3A001.*` (the code
/// and everything under it) or `EAR:*` (the whole regime). Prefixes are those of [`regime_prefix`].
pub fn check_pattern(pattern: &str) -> Result<(), PatternError> {
    let bad = |why: String| Err(PatternError(format!("`{pattern}` {why}")));
    let Some((prefix, code)) = pattern.split_once(':') else {
        return bad("must be PREFIX:CODE, PREFIX:CODE.* or PREFIX:*, like EU-DU:3A001.*".into());
    };
    let Some(regime) = regime_of_prefix(prefix) else {
        let known: Vec<&str> = REGIMES.iter().map(|r| regime_prefix(*r)).collect();
        return bad(format!("has unknown regime prefix `{prefix}` (known: {})", known.join(", ")));
    };
    if code == "*" {
        return Ok(());
    }
    let base = code.strip_suffix(".*").unwrap_or(code);
    // Only the two wildcard forms: `3A*` or a national `PL-*` would look like wildcards but match nothing.
    if base.contains('*') {
        return bad("may use `*` only as `PREFIX:*` or a trailing `.*`".into());
    }
    if !is_control_code(regime, base) {
        return bad(format!("has `{base}`, which is not a valid {} control code", regime.as_str_name()));
    }
    Ok(())
}

/// True when `pattern` matches the qualified control code (`EU-DU:3A001.a.1`). Case-sensitive, as
/// codes are written. An invalid pattern matches nothing.
pub fn pattern_matches(pattern: &str, qualified_code: &str) -> bool {
    if check_pattern(pattern).is_err() {
        return false;
    }
    if let Some(prefix) = pattern.strip_suffix('*').filter(|p| p.ends_with(':')) {
        return qualified_code.strip_prefix(prefix).is_some_and(|code| !code.is_empty());
    }
    match pattern.strip_suffix(".*") {
        Some(base) => is_at_or_under(base, qualified_code),
        None => pattern == qualified_code,
    }
}

/// True when `code` is `base` or a sub-item of it: `3A001.a.1` is under `3A001`, `3A0010` is not.
pub(crate) fn is_at_or_under(base: &str, code: &str) -> bool {
    code.strip_prefix(base).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// The regime written with `prefix` (as [`regime_prefix`] writes it), e.g. `EU-DU`.
pub fn regime_of_prefix(prefix: &str) -> Option<Regime> {
    REGIMES.into_iter().find(|r| regime_prefix(*r) == prefix)
}

/// The first of `agreements` by which `relying` recognises a licence of `recognised` with
/// `terms` for `ctx` (codes counted through the crosswalk an agreement names, as
/// `crosswalk_of` finds it): its index and the mappings used, or why none does. Withdrawn
/// agreements are not in force.
pub fn recognising<'c>(
    agreements: &[&CheckedAgreement],
    crosswalk_of: impl Fn(&str) -> Option<&'c Crosswalk>,
    relying: &str,
    recognised: &str,
    terms: &pb::Decision,
    ctx: &Context,
) -> Result<(usize, Vec<String>), Vec<String>> {
    let candidates = (0..agreements.len()).filter(|i| {
        let a = agreements[*i].agreement();
        a.relying_authority == relying && a.recognised_authority == recognised && !a.withdrawn
    });
    let mut why_not = Vec::new();
    let mut any = false;
    for i in candidates {
        any = true;
        let named = &agreements[i].agreement().crosswalk;
        let crosswalk = if named.is_empty() { None } else { crosswalk_of(named) };
        match agreement_covers(agreements[i], terms, ctx, crosswalk) {
            Ok(used) => return Ok((i, used)),
            Err(reasons) => why_not.extend(reasons),
        }
    }
    if !any {
        return Err(vec![format!("{relying} has no recognition agreement in force for licences of {recognised}")]);
    }
    Err(why_not)
}

/// What a verifier is asked about. Absent fields are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// ISO 3166-1 alpha-2 destination, e.g. `JP`.
    pub destination: Option<String>,
    /// Qualified control code, e.g. `EU-DU:3A001.a.1`.
    pub control_code: Option<String>,
    /// End user's name as declared.
    pub end_user: Option<String>,
    /// End use as declared; checked against a general licence's permitted end uses.
    pub end_use: Option<String>,
    /// When, Unix seconds.
    pub at: i64,
    /// A shipment asked about: checked against the licence's balance.
    pub shipment: Option<crate::usage::AskedShipment>,
}

/// Whether the licence's current terms cover the context: destination, control code and end user.
/// The licence's status and validity window are not checked here (see `rules::status_at`).
pub fn licence_covers(terms: &pb::Decision, ctx: &Context) -> Result<(), Vec<String>> {
    let mut reasons = Vec::new();
    if let Some(dest) = &ctx.destination {
        if !terms.destinations.contains(dest) {
            reasons.push(format!("destination {dest} is not among the licence's destinations ({})", listed(&terms.destinations)));
        }
    }
    if let Some(code) = &ctx.control_code {
        let items: Vec<String> = terms.items.iter().map(qualified_control_code).collect();
        if !items.iter().any(|item| is_at_or_under(item, code)) {
            reasons.push(format!("control code {code} is not covered by the licence's items ({})", listed(&items)));
        }
    }
    if let Some(user) = &ctx.end_user {
        let wanted = normalise_name(user);
        // Licences naming no end user (global licences, general authorisations) accept any.
        if !terms.end_users.is_empty() && !terms.end_users.iter().any(|p| normalise_name(&p.name) == wanted) {
            let names: Vec<String> = terms.end_users.iter().map(|p| format!("{:?}", p.name)).collect();
            reasons.push(format!("end user {user:?} is not among the licence's end users ({})", names.join(", ")));
        }
    }
    if let Some(end_use) = &ctx.end_use {
        // Only a general licence lists pre-approved end uses; an individual licence's end use is
        // the one its application stated, in free text.
        let wanted = normalise_name(end_use);
        if !terms.permitted_end_uses.is_empty() && !terms.permitted_end_uses.iter().any(|u| normalise_name(u) == wanted) {
            let uses: Vec<String> = terms.permitted_end_uses.iter().map(|u| format!("{u:?}")).collect();
            reasons.push(format!("end use {end_use:?} is not among the licence's permitted end uses ({})", uses.join(", ")));
        }
    }
    verdict(reasons)
}

/// Names as declared on customs forms vary in case and spacing, not in words.
fn normalise_name(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Whether the agreement covers this licence in this context. Without a control code or
/// destination in the context, every item or destination of the licence must be covered. Callers
/// check [`licence_covers`] separately: an agreement does not widen a licence.
///
/// `crosswalk` is the one the agreement names, if the caller holds it: a code its regimes and
/// patterns do not cover as written is covered when the crosswalk makes it equivalent to one
/// they do ([`Crosswalk::covering`]). Returns the mappings used, for the verdict to show.
pub fn agreement_covers(agreement: &CheckedAgreement, terms: &pb::Decision, ctx: &Context, crosswalk: Option<&Crosswalk>) -> Result<Vec<String>, Vec<String>> {
    let a = &agreement.agreement;
    if a.withdrawn {
        return Err(vec![format!("{agreement}: withdrawn")]);
    }
    let mut failed = Vec::new();
    if terms.authority != a.recognised_authority {
        failed.push(format!("licence is issued by {}, not {}", terms.authority, a.recognised_authority));
    }
    if a.valid_from != 0 && ctx.at < a.valid_from {
        failed.push(format!("not in force until {}", format_time(a.valid_from)));
    }
    if a.valid_until != 0 && ctx.at >= a.valid_until {
        failed.push(format!("ended at {}", format_time(a.valid_until)));
    }

    let item_codes: Vec<String> = terms.items.iter().map(qualified_control_code).collect();
    let codes = ctx.control_code.as_ref().map_or(item_codes.as_slice(), slice::from_ref);
    let crosswalk = crosswalk.filter(|c| !a.crosswalk.is_empty() && c.key() == a.crosswalk);
    let mut mappings = Vec::new();
    for code in codes {
        let in_regimes = |code: &str| {
            a.regimes.is_empty() || code.split_once(':').and_then(|(prefix, _)| regime_of_prefix(prefix)).is_some_and(|r| a.regimes.contains(&(r as i32)))
        };
        let matched = |code: &str| a.control_code_patterns.is_empty() || a.control_code_patterns.iter().any(|p| pattern_matches(p, code));
        if in_regimes(code) && matched(code) {
            continue;
        }
        // Through the crosswalk: a pattern (in the agreement's regimes) covering an equivalent code.
        let mapped = crosswalk.and_then(|c| match a.control_code_patterns.is_empty() {
            true => c.equivalents(code).into_iter().find(|(_, other)| in_regimes(other)).map(|(at, other)| format!("{at} ≡ {other} ({c})")),
            false => a.control_code_patterns.iter().filter(|p| in_regimes(p)).find_map(|p| c.covering(p, code)),
        });
        if let Some(how) = mapped {
            mappings.push(how);
            continue;
        }
        if !in_regimes(code) {
            let regimes: Vec<&str> = a.regimes.iter().map(|r| Regime::try_from(*r).map_or("?", regime_prefix)).collect();
            failed.push(format!("control code {code} is not in the agreement's regimes ({})", regimes.join(", ")));
        }
        if !matched(code) {
            failed.push(format!("control code {code} matches none of the agreement's patterns ({})", listed(&a.control_code_patterns)));
        }
        if !a.crosswalk.is_empty() && crosswalk.is_none() {
            failed.push(format!("the agreement counts codes through crosswalk {}, which is not held here", a.crosswalk));
        }
    }

    let destinations = ctx.destination.as_ref().map_or(terms.destinations.as_slice(), slice::from_ref);
    for dest in destinations {
        // A denial beats an allowance.
        if a.destinations_denied.contains(dest) {
            failed.push(format!("destination {dest} is excluded by the agreement"));
        } else if !a.destinations_allowed.is_empty() && !a.destinations_allowed.contains(dest) {
            failed.push(format!("destination {dest} is not among the agreement's destinations ({})", listed(&a.destinations_allowed)));
        }
    }

    if !a.licence_types.is_empty() && !a.licence_types.contains(&terms.licence_type) {
        let types: Vec<&str> = a.licence_types.iter().map(|t| type_name(*t)).collect();
        failed.push(format!("licence type {} is not among the agreement's licence types ({})", type_name(terms.licence_type), types.join(", ")));
    }
    if a.max_risk_tier != 0 && terms.risk_tier > a.max_risk_tier {
        failed.push(format!("risk tier {} is above the agreement's maximum of {}", terms.risk_tier, a.max_risk_tier));
    }

    match failed.is_empty() {
        true => Ok(mappings),
        false => Err(failed.into_iter().map(|why| format!("{agreement}: {why}")).collect()),
    }
}

fn verdict(reasons: Vec<String>) -> Result<(), Vec<String>> {
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons)
    }
}

fn type_name(t: i32) -> &'static str {
    LicenceType::try_from(t).map_or("?", |t| t.as_str_name())
}

fn listed(values: &[String]) -> String {
    if values.is_empty() {
        "none".into()
    } else {
        values.join(", ")
    }
}

/// The agreements in force: the highest version of each (relying, recognised, agreement_id), unless
/// that version withdraws it. Ordered by that key.
pub fn latest_agreements(agreements: impl IntoIterator<Item = CheckedAgreement>) -> Vec<CheckedAgreement> {
    let mut latest: BTreeMap<(String, String, String), CheckedAgreement> = BTreeMap::new();
    for checked in agreements {
        let a = &checked.agreement;
        let key = (a.relying_authority.clone(), a.recognised_authority.clone(), a.agreement_id.clone());
        // Of two different statements with the same version (an equivocation), the first is kept.
        if latest.get(&key).is_none_or(|kept| a.version > kept.agreement.version) {
            latest.insert(key, checked);
        }
    }
    latest.into_values().filter(|c| !c.agreement.withdrawn).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::decision::fixtures::{grant, DECIDED};

    const DAY: i64 = 86_400;

    /// METI recognises BAFA's licences for microwave amplifiers and one cryptography entry.
    fn meti_bafa() -> pb::RecognitionAgreement {
        pb::RecognitionAgreement {
            relying_authority: "jp.meti".into(),
            recognised_authority: "de.bafa".into(),
            version: 3,
            regimes: vec![Regime::EuDualUse as i32],
            control_code_patterns: vec!["EU-DU:3A001.*".into(), "EU-DU:5A002.a.1".into()],
            destinations_allowed: vec!["JP".into(), "KR".into(), "US".into()],
            destinations_denied: vec!["RU".into()],
            licence_types: vec![LicenceType::Individual as i32, LicenceType::Global as i32],
            max_risk_tier: 2,
            valid_from: DECIDED - 30 * DAY,
            valid_until: DECIDED + 365 * DAY,
            conditions: vec!["Re-export to third countries requires prior METI consent".into()],
            agreement_id: "eu-du-2026".into(),
            ..Default::default()
        }
    }

    fn checked(a: pb::RecognitionAgreement) -> CheckedAgreement {
        CheckedAgreement::try_from(a).expect("agreement should be accepted")
    }

    fn at_jp() -> Context {
        Context { destination: Some("JP".into()), control_code: Some("EU-DU:3A001.a.1".into()), end_user: None, end_use: None, at: DECIDED, shipment: None }
    }

    fn covers(a: pb::RecognitionAgreement, terms: &pb::Decision, ctx: &Context) -> Result<(), Vec<String>> {
        agreement_covers(&checked(a), terms, ctx, None).map(|_| ())
    }

    type Mutation = Box<dyn Fn(&mut pb::RecognitionAgreement)>;

    #[test]
    fn each_bad_field_is_named() {
        let many = |s: &str| vec![s.to_string(); MAX_AGREEMENT_LIST + 1];
        let cases: Vec<(&str, Mutation)> = vec![
            ("relying_authority", Box::new(|a| a.relying_authority = "METI".into())),
            ("recognised_authority", Box::new(|a| a.recognised_authority = "bafa".into())),
            ("recognised_authority", Box::new(|a| a.recognised_authority = "jp.meti".into())),
            ("agreement_id", Box::new(|a| a.agreement_id.clear())),
            ("agreement_id", Box::new(|a| a.agreement_id = "EU-DU-2026".into())),
            ("agreement_id", Box::new(|a| a.agreement_id = "-eu-du".into())),
            ("agreement_id", Box::new(|a| a.agreement_id = "a".repeat(65))),
            ("version", Box::new(|a| a.version = 0)),
            ("regimes[1]", Box::new(|a| a.regimes.push(Regime::Unspecified as i32))),
            ("regimes[0]", Box::new(|a| a.regimes[0] = 99)),
            ("regimes", Box::new(|a| a.regimes = vec![Regime::Mtcr as i32; MAX_AGREEMENT_LIST + 1])),
            ("control_code_patterns[1]", Box::new(|a| a.control_code_patterns[1] = "US-EAR:*".into())),
            ("control_code_patterns", Box::new(move |a| a.control_code_patterns = many("EAR:*"))),
            ("destinations_allowed[0]", Box::new(|a| a.destinations_allowed[0] = "jp".into())),
            ("destinations_allowed", Box::new(move |a| a.destinations_allowed = many("KR"))),
            ("destinations_denied[0]", Box::new(|a| a.destinations_denied[0] = "UK".into())),
            ("destinations_denied", Box::new(move |a| a.destinations_denied = many("CN"))),
            ("licence_types[0]", Box::new(|a| a.licence_types[0] = LicenceType::Unspecified as i32)),
            ("licence_types", Box::new(|a| a.licence_types = vec![1; MAX_AGREEMENT_LIST + 1])),
            ("max_risk_tier", Box::new(|a| a.max_risk_tier = 5)),
            ("valid_until", Box::new(|a| a.valid_until = a.valid_from)),
            ("valid_until", Box::new(|a| a.valid_until = a.valid_from - 1)),
            ("conditions", Box::new(move |a| a.conditions = many("End-use check on request"))),
            ("conditions[0]", Box::new(|a| a.conditions[0] = "x".repeat(MAX_CONDITION_CHARS + 1))),
            ("conditions[0]", Box::new(|a| a.conditions[0] = "  ".into())),
            ("conditions[0]", Box::new(|a| a.conditions[0] = "consent\u{1b}[2J".into())),
        ];
        for (field, mutate) in cases {
            let mut a = meti_bafa();
            mutate(&mut a);
            let err = CheckedAgreement::try_from(a).expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn limits_and_open_ends_are_accepted() {
        let mut a = meti_bafa();
        a.conditions = vec!["é".repeat(MAX_CONDITION_CHARS); MAX_AGREEMENT_LIST];
        a.max_risk_tier = 4;
        a.valid_until = 0;
        checked(a.clone());
        a.valid_from = 0;
        a.max_risk_tier = 0;
        a.regimes.clear();
        a.control_code_patterns.clear();
        checked(a);
    }

    #[test]
    fn a_withdrawal_needs_only_its_identity() {
        let mut a = meti_bafa();
        a.withdrawn = true;
        a.control_code_patterns = vec!["garbage".into()];
        a.max_risk_tier = 9;
        checked(a.clone());
        a.agreement_id = "EU DU".into();
        assert_eq!(CheckedAgreement::try_from(a).unwrap_err().field, "agreement_id");
    }

    #[test]
    fn patterns_are_checked() {
        for ok in ["EU-DU:3A001.a.1", "EU-DU:3A001.*", "EAR:*", "EAR:EAR99", "WA:3.A.1.*", "MTCR:1.A.1", "AG:2B350.*", "NAT:PL-ML-10", "NAT:*"] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
        for bad in [
            "*",
            "EU-DU:",
            "EU-DU:.*",
            "EU-DU:*.*",
            "3A001.a.1",
            "US-EAR:*",
            "?:*",
            "eu-du:3A001",
            "EU:3A001",
            "EU-DU:3A001*",
            "EU-DU:3A*",
            "EU-DU:3A001.a*",
            "EU-DU:3A001.*.a",
            "EU-DU:3a001",
            "WA:3A001",
            "NAT:PL-*",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_match_at_code_boundaries() {
        for (pattern, code, expected) in [
            ("EU-DU:3A001.*", "EU-DU:3A001", true),
            ("EU-DU:3A001.*", "EU-DU:3A001.a.1", true),
            ("EU-DU:3A001.*", "EU-DU:3A0010", false),
            ("EU-DU:3A001.*", "AG:3A001.a", false),
            ("EU-DU:3A001.*", "eu-du:3A001.a", false),
            ("EU-DU:3A001.a.1", "EU-DU:3A001.a.1", true),
            ("EU-DU:3A001.a.1", "EU-DU:3A001.a.10", false),
            ("EU-DU:3A001.a.1", "EU-DU:3A001.a", false),
            ("EU-DU:3A001.a.1", "EU-DU:3A001.a.1.b", false),
            ("WA:3.A.1.*", "WA:3.A.1.a.1", true),
            ("WA:3.A.1.*", "WA:3.A.10", false),
            ("EAR:*", "EAR:5A002", true),
            ("EAR:*", "EAR:", false),
            ("EAR:*", "EU-DU:5A002", false),
            ("EU-DU:*", "EU-DU:9A012", true),
            ("*", "EU-DU:9A012", false),
            // Invalid patterns match nothing, not even themselves.
            ("US-EAR:*", "US-EAR:5A002", false),
            ("EU-DU:3A*", "EU-DU:3A*", false),
        ] {
            assert_eq!(pattern_matches(pattern, code), expected, "{pattern} vs {code}");
        }
    }

    #[test]
    fn a_general_licence_covers_only_its_permitted_end_uses() {
        let terms = crate::decision::fixtures::general_licence("uk.ecju", "OGEL-DU-REPAIR");
        let ctx = |end_use: &str| Context { end_use: Some(end_use.into()), at: DECIDED, ..Default::default() };
        assert_eq!(licence_covers(&terms, &ctx("Repair under  warranty")), Ok(()));
        assert_eq!(
            licence_covers(&terms, &ctx("military end use")),
            Err(vec!["end use \"military end use\" is not among the licence's permitted end uses (\"repair under warranty\", \"replacement under warranty\")"
                .to_string()])
        );
        // An individual licence states its end use in free text: not checked against a question.
        assert_eq!(licence_covers(&grant("de.bafa", "DE-1"), &ctx("military end use")), Ok(()));
        // An item code covers the codes it encloses.
        let code = Context { control_code: Some("UK:3A001.b.2.b".into()), destination: Some("NZ".into()), at: DECIDED, ..Default::default() };
        assert_eq!(licence_covers(&terms, &code), Ok(()));
    }

    #[test]
    fn licence_covers_destination_item_and_end_user() {
        let mut terms = grant("de.bafa", "DE-2026-000123");
        terms.destinations = vec!["JP".into(), "KR".into()];
        terms.items[0].control_code = "3A001.a".into();
        let ctx = |dest: &str, code: &str, user: &str| Context {
            destination: Some(dest.into()),
            control_code: Some(code.into()),
            end_user: Some(user.into()),
            end_use: None,
            at: DECIDED,
            shipment: None,
        };
        let user = "Tohoku Institute of Space Optics";
        assert_eq!(licence_covers(&terms, &ctx("KR", "EU-DU:3A001.a.1", user)), Ok(()));
        assert_eq!(licence_covers(&terms, &ctx("JP", "EU-DU:3A001.a", "  tohoku   INSTITUTE of\tspace optics ")), Ok(()));
        assert_eq!(licence_covers(&terms, &Context::default()), Ok(()));

        let reasons = licence_covers(&terms, &ctx("RU", "EU-DU:3A001.b", "Tohoku Institute")).unwrap_err();
        assert_eq!(
            reasons,
            [
                "destination RU is not among the licence's destinations (JP, KR)",
                "control code EU-DU:3A001.b is not covered by the licence's items (EU-DU:3A001.a)",
                "end user \"Tohoku Institute\" is not among the licence's end users (\"Tohoku Institute of Space Optics\")",
            ]
        );
        for code in ["EU-DU:3A001", "EU-DU:3A001.a1", "AG:3A001.a.1"] {
            assert!(licence_covers(&terms, &ctx("JP", code, user)).is_err(), "{code}");
        }

        // A global licence naming no end user accepts any.
        terms.licence_type = LicenceType::Global as i32;
        terms.end_users.clear();
        assert_eq!(licence_covers(&terms, &ctx("JP", "EU-DU:3A001.a.1", "Nagoya Aerospace KK")), Ok(()));
    }

    #[test]
    fn reasons_name_the_agreement_and_every_failing_rule() {
        let mut terms = grant("uk.ecju", "GB-SIEL-2026-0042");
        terms.licence_type = LicenceType::GeneralAuthorisation as i32;
        terms.risk_tier = 3;
        let ctx = Context { destination: Some("CN".into()), control_code: Some("WA:3.A.1.a.1".into()), ..at_jp() };
        let name = "jp.meti recognises de.bafa (eu-du-2026 v3)";
        assert_eq!(
            covers(meti_bafa(), &terms, &ctx).unwrap_err(),
            [
                format!("{name}: licence is issued by uk.ecju, not de.bafa"),
                format!("{name}: control code WA:3.A.1.a.1 is not in the agreement's regimes (EU-DU)"),
                format!("{name}: control code WA:3.A.1.a.1 matches none of the agreement's patterns (EU-DU:3A001.*, EU-DU:5A002.a.1)"),
                format!("{name}: destination CN is not among the agreement's destinations (JP, KR, US)"),
                format!("{name}: licence type GENERAL_AUTHORISATION is not among the agreement's licence types (INDIVIDUAL, GLOBAL)"),
                format!("{name}: risk tier 3 is above the agreement's maximum of 2"),
            ]
        );
    }

    #[test]
    fn without_a_context_code_or_destination_every_item_and_destination_counts() {
        let mut terms = grant("de.bafa", "DE-2026-000123");
        let ctx = Context { at: DECIDED, ..Context::default() };
        assert_eq!(covers(meti_bafa(), &terms, &ctx), Ok(()));
        let mut crypto = terms.items[0].clone();
        crypto.control_code = "5A002".into();
        terms.items.push(crypto);
        terms.destinations.push("RU".into());
        let reasons = covers(meti_bafa(), &terms, &ctx).unwrap_err();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].ends_with("control code EU-DU:5A002 matches none of the agreement's patterns (EU-DU:3A001.*, EU-DU:5A002.a.1)"));
        assert!(reasons[1].ends_with("destination RU is excluded by the agreement"));
        // The context narrows the question to one item and one destination.
        assert_eq!(covers(meti_bafa(), &terms, &at_jp()), Ok(()));
    }

    #[test]
    fn a_denied_destination_beats_an_allowed_one() {
        let terms = grant("de.bafa", "DE-2026-000123");
        let mut a = meti_bafa();
        a.destinations_allowed.push("RU".into());
        let ctx = Context { destination: Some("RU".into()), ..at_jp() };
        assert!(covers(a.clone(), &terms, &ctx).unwrap_err()[0].ends_with("destination RU is excluded by the agreement"));
        a.destinations_allowed.clear();
        assert!(covers(a.clone(), &terms, &ctx).is_err());
        assert_eq!(covers(a, &terms, &Context { destination: Some("CN".into()), ..at_jp() }), Ok(()));
    }

    #[test]
    fn risk_tiers_up_to_the_maximum_are_covered() {
        for (max, tier, covered) in [(2, 2, true), (2, 1, true), (2, 3, false), (4, 4, true), (0, 4, true), (1, 2, false)] {
            let mut a = meti_bafa();
            a.max_risk_tier = max;
            let mut terms = grant("de.bafa", "DE-2026-000123");
            terms.risk_tier = tier;
            assert_eq!(covers(a, &terms, &at_jp()).is_ok(), covered, "max {max} tier {tier}");
        }
    }

    #[test]
    fn the_window_includes_valid_from_and_excludes_valid_until() {
        let terms = grant("de.bafa", "DE-2026-000123");
        let a = meti_bafa();
        let at = |at: i64| Context { at, ..at_jp() };
        assert_eq!(covers(a.clone(), &terms, &at(a.valid_from)), Ok(()));
        assert_eq!(covers(a.clone(), &terms, &at(a.valid_until - 1)), Ok(()));
        let before = covers(a.clone(), &terms, &at(a.valid_from - 1)).unwrap_err();
        assert!(before[0].ends_with("not in force until 2026-09-28T14:00:00Z"), "{before:?}");
        let after = covers(a.clone(), &terms, &at(a.valid_until)).unwrap_err();
        assert!(after[0].ends_with("ended at 2027-10-28T14:00:00Z"), "{after:?}");

        let open = pb::RecognitionAgreement { valid_from: 0, valid_until: 0, ..a };
        for t in [i64::MIN, 0, DECIDED + 100 * 365 * DAY] {
            assert_eq!(covers(open.clone(), &terms, &at(t)), Ok(()), "{t}");
        }
    }

    #[test]
    fn a_withdrawn_agreement_covers_nothing() {
        let terms = grant("de.bafa", "DE-2026-000123");
        let a = pb::RecognitionAgreement { version: 4, withdrawn: true, ..meti_bafa() };
        assert_eq!(covers(a, &terms, &at_jp()).unwrap_err(), ["jp.meti recognises de.bafa (eu-du-2026 v4): withdrawn"]);
    }

    #[test]
    fn the_latest_version_of_each_agreement_is_in_force() {
        let version = |id: &str, v: u64, withdrawn: bool| checked(pb::RecognitionAgreement { agreement_id: id.into(), version: v, withdrawn, ..meti_bafa() });
        let uk = checked(pb::RecognitionAgreement { recognised_authority: "uk.ecju".into(), version: 1, ..meti_bafa() });
        let in_force = latest_agreements([
            version("eu-du-2026", 1, false),
            version("eu-du-2026", 3, false),
            version("eu-du-2026", 2, false),
            // Withdrawn by its latest version; a withdrawn version since superseded.
            version("uav-2025", 1, false),
            version("uav-2025", 2, true),
            version("crypto-2026", 2, false),
            version("crypto-2026", 1, true),
            uk,
        ]);
        let keys: Vec<_> = in_force.iter().map(|c| c.agreement()).map(|a| (&*a.recognised_authority, &*a.agreement_id, a.version)).collect();
        assert_eq!(keys, [("de.bafa", "crypto-2026", 2), ("de.bafa", "eu-du-2026", 3), ("uk.ecju", "eu-du-2026", 1)]);
    }

    /// ECCN-style codes under EU, US and Australia Group prefixes; dotted ones under WA, MTCR, NSG.
    fn qualified_code() -> impl Strategy<Value = (String, String)> {
        prop_oneof![("EU-DU|EAR|AG", r"[0-9][A-E][0-9]{3}(\.[a-z0-9]{1,3}){0,3}"), ("WA|MTCR|NSG", r"[0-9]{1,2}\.[A-E]\.[0-9]{1,3}(\.[a-z0-9]{1,3}){0,3}"),]
    }

    proptest! {
        #[test]
        fn a_wildcard_covers_the_code_and_its_sub_items_only(
            (prefix, code) in qualified_code(),
            suffix in r"[a-z0-9]{1,3}(\.[a-z0-9]{1,3}){0,2}",
            digit in 0u8..10,
        ) {
            let p = format!("{prefix}:{code}");
            let wildcard = format!("{p}.*");
            let under = format!("{p}.{suffix}");
            let beside = format!("{p}{digit}");
            prop_assert!(pattern_matches(&wildcard, &p));
            prop_assert!(pattern_matches(&wildcard, &under), "{} should match {}", wildcard, under);
            prop_assert!(!pattern_matches(&wildcard, &beside), "{} should not match {}", wildcard, beside);
        }
    }
}
