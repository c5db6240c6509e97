//! `comity stats`: a node's transparency report as a table, JSON or CSV.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};
use comity_client::stats::{authority_totals, rate_percent};
use comity_client::Client;
use comity_proto::authoring::{format_time, parse_time};
use comity_proto::pb;
use serde::Serialize;

use super::{print_json, table_capped, InputError};

/// Arguments of `comity stats`.
#[derive(Args)]
pub struct StatsArgs {
    /// Only this authority (exact id) [default: every authority with decisions at the node].
    #[arg(long)]
    authority: Option<String>,
    /// Decisions taken at or after this date (YYYY-MM-DD, midnight UTC) or RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Decisions taken before this date (YYYY-MM-DD, midnight UTC) or RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
    /// Output format; the global --json is the same as --format json.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

/// Asks `node` for the report and prints it.
pub async fn stats(node: &str, json: bool, args: StatsArgs) -> anyhow::Result<()> {
    let time =
        |flag: &str, t: Option<String>| -> anyhow::Result<i64> { t.map_or(Ok(0), |t| parse_time(&t).map_err(|m| InputError(format!("--{flag}: {m}")).into())) };
    let request =
        pb::StatsRequest { authority: args.authority.unwrap_or_default(), decided_from: time("since", args.since)?, decided_until: time("until", args.until)? };
    let report = Client::connect(node).await?.stats(request.clone()).await?;
    match if json { Format::Json } else { args.format } {
        Format::Json => print_json(&ReportJson::new(&request, &report)),
        Format::Csv => {
            print!("{}", csv_text(&report)?);
            Ok(())
        }
        Format::Table => {
            print!("{}", render_table(&report));
            Ok(())
        }
    }
}

/// Every action the wire knows, in its order: the CSV's columns and the table's order.
fn known_actions() -> Vec<pb::Action> {
    (1..).map_while(|n| pb::Action::try_from(n).ok()).collect()
}

fn regime_name(r: i32) -> &'static str {
    pb::Regime::try_from(r).map_or("?", |r| r.as_str_name())
}

fn type_name(t: i32) -> &'static str {
    pb::LicenceType::try_from(t).map_or("?", |t| t.as_str_name())
}

/// `GRANT 2, DENY 1`, in the wire's action order (names this client does not know last).
fn actions_cell(actions: &BTreeMap<String, u64>) -> String {
    let order = |name: &String| pb::Action::from_str_name(name).map_or(i32::MAX, |a| a as i32);
    let mut named: Vec<(&String, &u64)> = actions.iter().collect();
    named.sort_by_key(|(name, _)| order(name));
    named.iter().map(|(name, n)| format!("{name} {n}")).collect::<Vec<_>>().join(", ")
}

/// Seconds in the largest unit that keeps them readable: `40.0d`, `1.5h`, `12m`, `30s`.
fn duration(secs: i64) -> String {
    match secs {
        s if s >= 86_400 => format!("{:.1}d", s as f64 / 86_400.0),
        s if s >= 3_600 => format!("{:.1}h", s as f64 / 3_600.0),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `50.0% (2/4)`, or `—` when undefined.
fn rate_cell(numerator: u64, denominator: u64) -> String {
    rate_percent(numerator, denominator).map_or_else(|| "—".into(), |p| format!("{p:.1}% ({numerator}/{denominator})"))
}

fn reasons_text(g: &pb::StatsGroup, pair: &str, sep: &str) -> String {
    g.top_reasons.iter().map(|r| format!("{}{pair}{}", r.code, r.decisions)).collect::<Vec<_>>().join(sep)
}

/// One row per group, each authority's groups followed by its total, then the logs counted.
fn render_table(report: &pb::StatsResponse) -> String {
    let totals = authority_totals(report);
    let mut rows = Vec::new();
    for total in &totals {
        for g in report.groups.iter().filter(|g| g.authority == total.authority) {
            let p = g.processing.unwrap_or_default();
            let timed = |secs: i64| if p.count == 0 { "—".to_string() } else { duration(secs) };
            rows.push(vec![
                g.authority.clone(),
                regime_name(g.regime).into(),
                type_name(g.licence_type).into(),
                g.risk_tier.to_string(),
                g.decisions.to_string(),
                actions_cell(&g.actions),
                timed(p.median_secs),
                timed(p.p90_secs),
                timed(p.max_secs),
                rate_cell(g.denials, g.determinations),
                rate_cell(g.revocations, g.grants),
                reasons_text(g, " ", ", "),
            ]);
        }
        rows.push(vec![
            total.authority.clone(),
            "(total)".into(),
            String::new(),
            String::new(),
            total.decisions.to_string(),
            actions_cell(&total.actions),
            String::new(),
            String::new(),
            String::new(),
            rate_cell(total.denials, total.determinations),
            rate_cell(total.revocations, total.grants),
            String::new(),
        ]);
    }
    let headers = ["AUTHORITY", "REGIME", "TYPE", "TIER", "DECISIONS", "BY ACTION", "MEDIAN", "P90", "MAX", "DENIAL RATE", "REVOCATION RATE", "TOP REASONS"];
    let mut out = table_capped(&headers, &rows, usize::MAX);
    if report.groups.is_empty() {
        out.push_str("no decisions counted\n");
    }
    for c in &report.confidential {
        out.push_str(&format!("{}: {} confidential decision(s) left out (their content is not public)\n", c.authority, c.decisions));
    }
    for c in &report.end_use_checks {
        let destination = if c.destination.is_empty() { "?" } else { c.destination.as_str() };
        out.push_str(&format!(
            "{} to {destination}, tier {}: end-use checks {} confirmed, {} not found, {} diverted\n",
            c.authority, c.risk_tier, c.confirmed, c.not_found, c.diverted
        ));
    }
    for c in &report.consultations {
        out.push_str(&format!(
            "{}: no-undercut consultations: {} requested ({} answered), {} answered for partners ({} objecting); grants after consultation {}, overriding a denial {}\n",
            c.authority, c.requests, c.answered, c.answers_given, c.objections, c.consulted_grants, c.overrides
        ));
    }
    let logs: Vec<String> = report.as_of.iter().map(|l| format!("{} size {}", l.origin, l.size)).collect();
    out.push_str(&format!("as of: {}\n", if logs.is_empty() { "no log".into() } else { logs.join("; ") }));
    out.push_str(&format!("generated at {}\n", format_time(report.generated_at)));
    out
}

/// A header line, then one line per group; reason codes as `CODE:count;CODE:count`, rates as
/// percentages (empty when undefined), times in seconds.
fn csv_text(report: &pb::StatsResponse) -> anyhow::Result<String> {
    let actions = known_actions();
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["authority", "regime", "licence_type", "risk_tier", "decisions"].map(String::from).to_vec();
    header.extend(actions.iter().map(|a| a.as_str_name().to_ascii_lowercase()));
    header.extend(
        [
            "timed",
            "median_secs",
            "p90_secs",
            "max_secs",
            "denials",
            "determinations",
            "denial_rate_pct",
            "revocations",
            "grants",
            "revocation_rate_pct",
            "top_reasons",
        ]
        .map(String::from),
    );
    out.write_record(&header)?;
    let pct = |n: u64, d: u64| rate_percent(n, d).map_or_else(String::new, |p| format!("{p:.1}"));
    for g in &report.groups {
        let p = g.processing.unwrap_or_default();
        let mut record =
            vec![g.authority.clone(), regime_name(g.regime).into(), type_name(g.licence_type).into(), g.risk_tier.to_string(), g.decisions.to_string()];
        record.extend(actions.iter().map(|a| g.actions.get(a.as_str_name()).copied().unwrap_or(0).to_string()));
        record.extend([
            p.count.to_string(),
            p.median_secs.to_string(),
            p.p90_secs.to_string(),
            p.max_secs.to_string(),
            g.denials.to_string(),
            g.determinations.to_string(),
            pct(g.denials, g.determinations),
            g.revocations.to_string(),
            g.grants.to_string(),
            pct(g.revocations, g.grants),
            reasons_text(g, ":", ";"),
        ]);
        out.write_record(&record)?;
    }
    Ok(String::from_utf8(out.into_inner()?)?)
}

/// The whole answer for JSON output, with names for enums and times as RFC 3339.
#[derive(Serialize)]
struct ReportJson {
    authority: Option<String>,
    since: Option<String>,
    until: Option<String>,
    generated_at: String,
    groups: Vec<GroupJson>,
    confidential: Vec<ConfidentialJson>,
    /// No-undercut consultations per authority (docs/consultation.md).
    consultations: Vec<ConsultationJson>,
    /// Post-shipment verification outcomes by authority, destination and tier.
    end_use_checks: Vec<EndUseJson>,
    as_of: Vec<LogJson>,
}

#[derive(Serialize)]
struct EndUseJson {
    authority: String,
    destination: String,
    risk_tier: u32,
    confirmed: u64,
    not_found: u64,
    diverted: u64,
}

#[derive(Serialize)]
struct ConsultationJson {
    authority: String,
    requests: u64,
    answered: u64,
    answers_given: u64,
    objections: u64,
    consulted_grants: u64,
    overrides: u64,
}

#[derive(Serialize)]
struct GroupJson {
    authority: String,
    regime: &'static str,
    licence_type: &'static str,
    risk_tier: u32,
    decisions: u64,
    actions: BTreeMap<String, u64>,
    processing: ProcessingJson,
    denials: u64,
    determinations: u64,
    /// `null` when there are no determinations.
    denial_rate_percent: Option<f64>,
    revocations: u64,
    grants: u64,
    /// `null` when there are no grants.
    revocation_rate_percent: Option<f64>,
    top_reasons: Vec<ReasonJson>,
}

#[derive(Serialize)]
struct ProcessingJson {
    count: u64,
    median_secs: i64,
    p90_secs: i64,
    max_secs: i64,
}

#[derive(Serialize)]
struct ReasonJson {
    code: String,
    decisions: u64,
}

#[derive(Serialize)]
struct ConfidentialJson {
    authority: String,
    decisions: u64,
}

#[derive(Serialize)]
struct LogJson {
    origin: String,
    size: u64,
}

impl ReportJson {
    fn new(request: &pb::StatsRequest, r: &pb::StatsResponse) -> Self {
        let time = |t: i64| (t != 0).then(|| format_time(t));
        Self {
            authority: (!request.authority.is_empty()).then(|| request.authority.clone()),
            since: time(request.decided_from),
            until: time(request.decided_until),
            generated_at: format_time(r.generated_at),
            groups: r.groups.iter().map(GroupJson::from).collect(),
            confidential: r.confidential.iter().map(|c| ConfidentialJson { authority: c.authority.clone(), decisions: c.decisions }).collect(),
            consultations: r
                .consultations
                .iter()
                .map(|c| ConsultationJson {
                    authority: c.authority.clone(),
                    requests: c.requests,
                    answered: c.answered,
                    answers_given: c.answers_given,
                    objections: c.objections,
                    consulted_grants: c.consulted_grants,
                    overrides: c.overrides,
                })
                .collect(),
            end_use_checks: r
                .end_use_checks
                .iter()
                .map(|c| EndUseJson {
                    authority: c.authority.clone(),
                    destination: c.destination.clone(),
                    risk_tier: c.risk_tier,
                    confirmed: c.confirmed,
                    not_found: c.not_found,
                    diverted: c.diverted,
                })
                .collect(),
            as_of: r.as_of.iter().map(|l| LogJson { origin: l.origin.clone(), size: l.size }).collect(),
        }
    }
}

impl From<&pb::StatsGroup> for GroupJson {
    fn from(g: &pb::StatsGroup) -> Self {
        let p = g.processing.unwrap_or_default();
        Self {
            authority: g.authority.clone(),
            regime: regime_name(g.regime),
            licence_type: type_name(g.licence_type),
            risk_tier: g.risk_tier,
            decisions: g.decisions,
            actions: g.actions.clone(),
            processing: ProcessingJson { count: p.count, median_secs: p.median_secs, p90_secs: p.p90_secs, max_secs: p.max_secs },
            denials: g.denials,
            determinations: g.determinations,
            denial_rate_percent: rate_percent(g.denials, g.determinations),
            revocations: g.revocations,
            grants: g.grants,
            revocation_rate_percent: rate_percent(g.revocations, g.grants),
            top_reasons: g.top_reasons.iter().map(|r| ReasonJson { code: r.code.clone(), decisions: r.decisions }).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_sensible_unit() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(600), "10m");
        assert_eq!(duration(5_400), "1.5h");
        assert_eq!(duration(40 * 86_400), "40.0d");
    }

    #[test]
    fn actions_follow_the_wire_order() {
        let actions: BTreeMap<String, u64> = [("REVOKE", 1), ("AMEND", 2), ("GRANT", 3), ("NEWER_ACTION", 1)].map(|(a, n)| (a.to_string(), n)).into();
        assert_eq!(actions_cell(&actions), "GRANT 3, AMEND 2, REVOKE 1, NEWER_ACTION 1");
        assert_eq!(rate_cell(1, 3), "33.3% (1/3)");
        assert_eq!(rate_cell(0, 0), "—");
    }
}
