//! Transparency reports on the client side: the checks an answer must pass, and the
//! per-authority totals its rows add up to.
//!
//! A single node's report cannot be checked against the logs here (that takes the logs: any
//! partner holding them computes the same report). What is checked is that the answer holds
//! together, so a damaged or careless one is not printed as if it were a report.

use comity_proto::pb;

/// Most reason codes a group lists (as the node computes them).
pub const TOP_REASONS: usize = 5;

/// Checks that a `Stats` answer holds together: each group's counts agree with its actions, its
/// percentiles are ordered, its reasons are at most five, most first; groups and logs come once
/// each, in order. Says what is wrong otherwise.
pub fn check_stats(report: &pb::StatsResponse) -> Result<(), String> {
    for pair in report.groups.windows(2) {
        if group_key(&pair[0]) >= group_key(&pair[1]) {
            return Err(format!("groups out of order or repeated at {}", describe(&pair[1])));
        }
    }
    for g in &report.groups {
        check_group(g).map_err(|e| format!("group {}: {e}", describe(g)))?;
    }
    for pair in report.as_of.windows(2) {
        if pair[0].origin >= pair[1].origin {
            return Err(format!("as_of lists log {} out of order or twice", pair[1].origin));
        }
    }
    Ok(())
}

fn check_group(g: &pb::StatsGroup) -> Result<(), String> {
    let count = |action: pb::Action| g.actions.get(action.as_str_name()).copied().unwrap_or(0);
    if g.decisions == 0 {
        return Err("no decisions (a group is listed only when it has some)".into());
    }
    let total: u64 = g.actions.values().sum();
    if total != g.decisions {
        return Err(format!("{} decisions, but its actions add up to {total}", g.decisions));
    }
    if let Some(name) = g.actions.keys().find(|name| pb::Action::from_str_name(name).is_none_or(|a| a == pb::Action::Unspecified)) {
        return Err(format!("unknown action `{name}`"));
    }
    let (grants, denials, revocations) = (count(pb::Action::Grant), count(pb::Action::Deny), count(pb::Action::Revoke));
    if (g.grants, g.denials, g.revocations, g.determinations) != (grants, denials, revocations, grants + denials) {
        return Err("grants, denials, revocations or determinations disagree with the actions".into());
    }
    let p = g.processing.unwrap_or_default();
    if p.count > g.decisions || p.median_secs < 0 || p.median_secs > p.p90_secs || p.p90_secs > p.max_secs {
        return Err(format!(
            "processing times do not hold together ({} timed, median {} s, p90 {} s, max {} s)",
            p.count, p.median_secs, p.p90_secs, p.max_secs
        ));
    }
    if g.top_reasons.len() > TOP_REASONS {
        return Err(format!("{} top reasons, more than {TOP_REASONS}", g.top_reasons.len()));
    }
    for r in &g.top_reasons {
        if r.decisions == 0 || r.decisions > g.decisions {
            return Err(format!("reason {} given by {} of {} decisions", r.code, r.decisions, g.decisions));
        }
    }
    if g.top_reasons.windows(2).any(|w| (std::cmp::Reverse(w[0].decisions), &w[0].code) >= (std::cmp::Reverse(w[1].decisions), &w[1].code)) {
        return Err("top reasons are not most first, ties by code".into());
    }
    Ok(())
}

fn group_key(g: &pb::StatsGroup) -> (&str, i32, i32, u32) {
    (&g.authority, g.regime, g.licence_type, g.risk_tier)
}

/// `de.bafa EU_DUAL_USE INDIVIDUAL tier 2`
pub fn describe(g: &pb::StatsGroup) -> String {
    let regime = pb::Regime::try_from(g.regime).map_or("?", |r| r.as_str_name());
    let licence_type = pb::LicenceType::try_from(g.licence_type).map_or("?", |t| t.as_str_name());
    format!("{} {regime} {licence_type} tier {}", g.authority, g.risk_tier)
}

/// Per authority, the sums of its groups' counts, as a group with regime, licence type and tier
/// unspecified. Processing times and top reasons are left empty: a median or a top five of the
/// whole cannot be computed from those of its parts.
pub fn authority_totals(report: &pb::StatsResponse) -> Vec<pb::StatsGroup> {
    let mut totals: Vec<pb::StatsGroup> = Vec::new();
    for g in &report.groups {
        if totals.last().is_none_or(|t| t.authority != g.authority) {
            totals.push(pb::StatsGroup { authority: g.authority.clone(), ..Default::default() });
        }
        let Some(t) = totals.last_mut() else { continue };
        t.decisions += g.decisions;
        for (action, n) in &g.actions {
            *t.actions.entry(action.clone()).or_default() += n;
        }
        t.denials += g.denials;
        t.determinations += g.determinations;
        t.revocations += g.revocations;
        t.grants += g.grants;
    }
    totals
}

/// `numerator / denominator` as a percentage with one decimal, or `None` when undefined (no
/// denominator).
pub fn rate_percent(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| (numerator as f64 * 1000.0 / denominator as f64).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(authority: &str, tier: u32, actions: &[(&str, u64)]) -> pb::StatsGroup {
        let count = |name: &str| actions.iter().find(|(a, _)| *a == name).map_or(0, |(_, n)| *n);
        pb::StatsGroup {
            authority: authority.into(),
            regime: 1,
            licence_type: 1,
            risk_tier: tier,
            decisions: actions.iter().map(|(_, n)| n).sum(),
            actions: actions.iter().map(|(a, n)| (a.to_string(), *n)).collect(),
            processing: Some(pb::ProcessingTime { count: 1, median_secs: 5, p90_secs: 9, max_secs: 9 }),
            denials: count("DENY"),
            determinations: count("GRANT") + count("DENY"),
            revocations: count("REVOKE"),
            grants: count("GRANT"),
            top_reasons: vec![pb::ReasonCount { code: "B".into(), decisions: 1 }, pb::ReasonCount { code: "C".into(), decisions: 1 }],
        }
    }

    fn report(groups: Vec<pb::StatsGroup>) -> pb::StatsResponse {
        pb::StatsResponse { groups, ..Default::default() }
    }

    #[test]
    fn a_consistent_report_passes_and_each_inconsistency_is_named() {
        let good = || vec![group("de.bafa", 1, &[("GRANT", 2), ("DENY", 1)]), group("de.bafa", 2, &[("REVOKE", 1)]), group("fr.sbdu", 1, &[("GRANT", 1)])];
        assert_eq!(check_stats(&report(good())), Ok(()));

        let mut g = good();
        g.swap(0, 1);
        assert!(check_stats(&report(g)).unwrap_err().contains("out of order"));
        let mut g = good();
        g[0].decisions = 4;
        assert!(check_stats(&report(g)).unwrap_err().contains("actions add up to 3"));
        let mut g = good();
        g[0].determinations = 2;
        assert!(check_stats(&report(g)).unwrap_err().contains("disagree"));
        let mut g = good();
        g[0].processing.as_mut().unwrap().median_secs = 10;
        assert!(check_stats(&report(g)).unwrap_err().contains("processing times"));
        let mut g = good();
        g[0].top_reasons.reverse();
        assert!(check_stats(&report(g)).unwrap_err().contains("most first"));
        let mut g = good();
        g[0].actions.insert("FLY".into(), 0);
        assert!(check_stats(&report(g)).unwrap_err().contains("unknown action `FLY`"));
    }

    #[test]
    fn totals_add_up_per_authority() {
        let totals = authority_totals(&report(vec![
            group("de.bafa", 1, &[("GRANT", 2), ("DENY", 1)]),
            group("de.bafa", 2, &[("GRANT", 1), ("REVOKE", 1)]),
            group("fr.sbdu", 1, &[("DENY", 3)]),
        ]));
        assert_eq!(totals.len(), 2);
        assert_eq!((totals[0].decisions, totals[0].grants, totals[0].denials, totals[0].determinations, totals[0].revocations), (5, 3, 1, 4, 1));
        assert_eq!(totals[0].actions.get("GRANT"), Some(&3));
        assert_eq!((totals[1].authority.as_str(), totals[1].denials, totals[1].determinations), ("fr.sbdu", 3, 3));
        assert!(totals[0].processing.is_none() && totals[0].top_reasons.is_empty());
    }

    #[test]
    fn rates_are_percentages_with_one_decimal_and_undefined_without_a_denominator() {
        assert_eq!(rate_percent(2, 3), Some(66.7));
        assert_eq!(rate_percent(1, 2), Some(50.0));
        assert_eq!(rate_percent(0, 5), Some(0.0));
        assert_eq!(rate_percent(0, 0), None);
    }
}
