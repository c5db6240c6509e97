//! Usage and drawdown (docs/usage-and-drawdown.md): `comity write-off` is how a customs office
//! writes a shipment off against a licence. It signs a WRITE_OFF with a key its authority's key
//! set delegates the CUSTOMS role, at the licence's head, and publishes it at the issuer's node,
//! which sequences write-offs; when another write-off took that version meanwhile (ABORTED), it
//! reads the head again and signs again.

use std::path::PathBuf;

use clap::Args;
use comity_client::{Client, ClientError};
use comity_proto::authoring::{format_time, parse_money, parse_time};
use comity_proto::codes::minor_unit_digits;
use comity_proto::decision::{split_licence_ref, CheckedDecision};
use comity_proto::keyfile::KeyFile;
use comity_proto::pb;
use comity_proto::statement::sign_decision;
use comity_proto::usage::describe_balance;

use super::trust::read_key;
use super::InputError;

/// Times a write-off is signed again after losing a race for the licence's next version.
const ATTEMPTS: usize = 50;

#[derive(Args)]
pub struct WriteOffArgs {
    /// The licence, AUTHORITY/LICENCE, e.g. de.bafa/DE-2026-004211.
    licence: String,
    /// The customs declaration released, e.g. the MRN 26DE004852000123E4.
    #[arg(long)]
    declaration: String,
    /// The licence item and quantity shipped, N=QUANTITY in the item's unit (repeatable), e.g.
    /// `--item 1=20`.
    #[arg(long = "item", value_name = "N=QUANTITY", required = true)]
    items: Vec<String>,
    /// The value shipped of an item, N=AMOUNT in the item's currency (repeatable), e.g.
    /// `--value 1=12000.00`.
    #[arg(long = "value", value_name = "N=AMOUNT")]
    values: Vec<String>,
    /// Country of destination, ISO 3166-1 alpha-2.
    #[arg(long)]
    destination: String,
    /// A country the goods transit (repeatable).
    #[arg(long = "transit", value_name = "COUNTRY")]
    transit: Vec<String>,
    /// The customs office releasing the goods, e.g. "DE004852 Zollamt Frankfurt am Main Flughafen".
    #[arg(long)]
    customs_office: String,
    /// When the goods were released (date or RFC 3339 time) [default: now].
    #[arg(long)]
    shipped_on: Option<String>,
    /// The customs key file (a CUSTOMS key of its authority's key set, `comity keys delegate`).
    #[arg(long)]
    key: PathBuf,
}

/// Signs and publishes the write-off at the issuer's node, signing again at the new head when a
/// concurrent write-off took the version; prints the new balance with the receipt.
pub async fn write_off(node: &str, json: bool, args: WriteOffArgs) -> anyhow::Result<()> {
    let (authority, licence_id) =
        split_licence_ref(&args.licence).ok_or_else(|| InputError(format!("`{}` is not a licence like de.bafa/DE-2026-004211", args.licence)))?;
    let signer = read_key(&args.key)?;
    let reporter = KeyFile::read(&args.key)?.authority;
    let now = chrono::Utc::now().timestamp();
    let shipped_on = args.shipped_on.as_deref().map(parse_time).transpose().map_err(|e| InputError(format!("--shipped-on: {e}")))?.unwrap_or(now);
    let mut client = Client::connect(node).await?;
    let licence = client.licence(authority, licence_id).await?;
    let (Some(state), Some((head, _))) = (&licence.state, licence.chain.last()) else {
        return Err(InputError(format!("the terms of {} are not readable at {node}", args.licence)).into());
    };
    let items = shipped_items(&args.items, &args.values, &state.terms.items)?;
    let (mut version, mut head) = (state.version, *head);
    for attempt in 1..=ATTEMPTS {
        let decision = pb::Decision {
            authority: authority.into(),
            licence_id: licence_id.into(),
            version: version + 1,
            previous: head.0.to_vec(),
            action: pb::Action::WriteOff as i32,
            application_received: state.terms.application_received,
            decided_at: chrono::Utc::now().timestamp().max(state.last_decided_at),
            reported_by: reporter.clone(),
            shipment: Some(pb::Shipment {
                declaration: args.declaration.clone(),
                shipped_on,
                customs_office: args.customs_office.clone(),
                destination: args.destination.to_uppercase(),
                transit_countries: args.transit.iter().map(|c| c.to_uppercase()).collect(),
                items: items.clone(),
            }),
            ..Default::default()
        };
        let checked = CheckedDecision::try_from(decision).map_err(|e| InputError(format!("invalid write-off: {e}")))?;
        match client.publish(sign_decision(checked.into_inner(), &signer)).await {
            Ok(published) => return report(json, &args, &published, attempt),
            // Another decision took the version: sign again at the new head (the node checks
            // the balance and the terms again).
            Err(ClientError::Status(s)) if s.code() == tonic::Code::Aborted && attempt < ATTEMPTS => {
                (version, head) = client.summary_head(authority, licence_id).await?.ok_or_else(|| InputError(format!("{} has no decision", args.licence)))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the last attempt returns")
}

/// `--item N=QUANTITY` and `--value N=AMOUNT` as shipped items (amounts in the licence item's currency).
fn shipped_items(items: &[String], values: &[String], licensed: &[pb::Item]) -> Result<Vec<pb::ShippedItem>, InputError> {
    let pair = |flag: &str, text: &str| -> Result<(u32, String), InputError> {
        let (n, rest) = text.split_once('=').ok_or_else(|| InputError(format!("--{flag} `{text}` must be N=VALUE, e.g. 1=20")))?;
        let n: u32 = n.trim().parse().map_err(|_| InputError(format!("--{flag} `{text}`: `{n}` is not an item number")))?;
        Ok((n, rest.trim().to_string()))
    };
    let mut shipped: Vec<pb::ShippedItem> = Vec::new();
    for text in items {
        let (item, quantity) = pair("item", text)?;
        shipped.push(pb::ShippedItem { item, quantity, value_minor: 0 });
    }
    for text in values {
        let (n, amount) = pair("value", text)?;
        let item = shipped.iter_mut().find(|i| i.item == n).ok_or_else(|| InputError(format!("--value {text}: give --item {n}=QUANTITY too")))?;
        let currency = licensed.get((n as usize).saturating_sub(1)).map(|i| i.currency.as_str()).unwrap_or_default();
        item.value_minor = parse_money(&amount, minor_unit_digits(currency)).map_err(|e| InputError(format!("--value {text}: {e} ({currency})")))?;
    }
    Ok(shipped)
}

fn report(json: bool, args: &WriteOffArgs, published: &pb::PublishResponse, attempts: usize) -> anyhow::Result<()> {
    let summary = published.licence.clone().unwrap_or_default();
    let receipt = published.receipt.clone().unwrap_or_default();
    let status = pb::LicenceStatus::try_from(summary.status).map_or("?", |s| s.as_str_name());
    if json {
        let value = serde_json::json!({
            "licence": args.licence,
            "declaration": args.declaration,
            "version": summary.version,
            "statement_id": hex::encode(&published.statement_id),
            "status": status,
            "balances": summary.balances.iter().map(|b| serde_json::json!({
                "item": b.item, "control_code": b.control_code, "unit": b.unit, "licensed": b.licensed, "used": b.used, "remaining": b.remaining,
                "currency": b.currency, "licensed_value_minor": b.licensed_value_minor, "used_value_minor": b.used_value_minor,
                "remaining_value_minor": b.remaining_value_minor, "shipments": b.shipments,
            })).collect::<Vec<_>>(),
            "receipt": {"origin": receipt.origin, "index": receipt.index, "logged_at": format_time(receipt.logged_at)},
            "attempts": attempts,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "wrote off declaration {} against {} as version {} (statement {}), logged at {}#{} {}",
        args.declaration,
        args.licence,
        summary.version,
        hex::encode(&published.statement_id),
        receipt.origin,
        receipt.index,
        format_time(receipt.logged_at)
    );
    if attempts > 1 {
        println!("  signed {attempts} times: other write-offs took the licence's next version meanwhile");
    }
    for b in &summary.balances {
        println!("  {}", describe_balance(b));
    }
    if summary.status == pb::LicenceStatus::Exhausted as i32 {
        println!("  licence {} is now EXHAUSTED: nothing more may ship under it", args.licence);
    }
    Ok(())
}
