//! Usage and drawdown (docs/usage-and-drawdown.md): customs offices write shipments off against
//! a licence's items in WRITE_OFF decisions, and what remains of each item is part of the
//! licence's state. A licence whose limited items are all used up is EXHAUSTED.

use crate::authoring::{format_money, format_time, qualified_control_code};
use crate::decision::{check_countries, check_list_len, check_text, field_err, is_authority_id, FieldError, MAX_SHORT};
use crate::pb::{self, Action, LicenceType};
use crate::quantity::Quantity;

/// The authority whose keys sign `d`: for a write-off, the authority delegating the customs
/// key (`reported_by`); for any other decision, the licence's issuer.
pub fn signing_authority(d: &pb::Decision) -> &str {
    if d.action == Action::WriteOff as i32 {
        &d.reported_by
    } else {
        &d.authority
    }
}

/// The role the keys signing `d` must have in their key set.
pub fn signing_role(d: &pb::Decision) -> pb::KeyRole {
    if d.action == Action::WriteOff as i32 {
        pb::KeyRole::Customs
    } else {
        pb::KeyRole::Licensing
    }
}

/// Most licence items one shipment may write off.
pub const MAX_SHIPPED_ITEMS: usize = 64;

/// The fields only a WRITE_OFF carries (its shipment and reporting authority), checked on every
/// decision: present and well formed on a write-off, absent on anything else.
pub(crate) fn check_write_off_fields(d: &pb::Decision, action: Action) -> Result<(), FieldError> {
    if action != Action::WriteOff {
        if d.shipment.is_some() {
            return Err(field_err("shipment", "only a WRITE_OFF carries a shipment"));
        }
        if !d.reported_by.is_empty() {
            return Err(field_err("reported_by", "only a WRITE_OFF names the authority whose customs reported it"));
        }
        return Ok(());
    }
    if !is_authority_id(&d.reported_by) {
        return Err(field_err("reported_by", format!("`{}` must name the authority delegating the customs key, like jp.meti", crate::shown(&d.reported_by))));
    }
    let s = d.shipment.as_ref().ok_or_else(|| field_err("shipment", "required for WRITE_OFF"))?;
    check_text("shipment.declaration", &s.declaration, 64, true)?;
    if s.declaration.chars().any(char::is_whitespace) {
        return Err(field_err("shipment.declaration", "must not contain spaces (a declaration reference like 26DE004852000123E4)"));
    }
    if s.shipped_on <= 0 {
        return Err(field_err("shipment.shipped_on", "required (Unix seconds)"));
    }
    if s.shipped_on > d.decided_at {
        return Err(field_err("shipment.shipped_on", "is after decided_at: a write-off reports a shipment customs already released"));
    }
    check_text("shipment.customs_office", &s.customs_office, MAX_SHORT, true)?;
    if !crate::codes::is_country(&s.destination) {
        return Err(field_err("shipment.destination", format!("`{}` is not an ISO 3166-1 alpha-2 code", crate::shown(&s.destination))));
    }
    check_countries("shipment.transit_countries", &s.transit_countries)?;
    if s.items.is_empty() {
        return Err(field_err("shipment.items", "at least one item is required"));
    }
    if s.items.len() > MAX_SHIPPED_ITEMS {
        return Err(field_err("shipment.items", format!("has {} entries, more than the {MAX_SHIPPED_ITEMS} allowed", s.items.len())));
    }
    for (i, item) in s.items.iter().enumerate() {
        let field = |name: &str| format!("shipment.items[{i}].{name}");
        if item.item == 0 {
            return Err(field_err(field("item"), "licence items are numbered from 1"));
        }
        if s.items[..i].iter().any(|o| o.item == item.item) {
            return Err(field_err(field("item"), format!("item {} is listed twice", item.item)));
        }
        if Quantity::parse(&item.quantity).is_none_or(Quantity::is_zero) {
            return Err(field_err(field("quantity"), format!("`{}` must be a positive decimal number", crate::shown(&item.quantity))));
        }
    }
    check_list_len("reasons", &d.reasons)?;
    Ok(())
}

/// What customs wrote off against one licence item so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ItemUse {
    quantity: Quantity,
    value_minor: u64,
    shipments: u32,
}

/// What was written off against a licence so far, per item (by its number, from 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    items: Vec<ItemUse>,
    /// Declarations written off, in order (each once).
    declarations: Vec<String>,
}

/// A shipment a relying party asks about: "may 20 pcs of item 1 ship?".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AskedShipment {
    /// The licence item, from 1; 0 = the item the question's control code names, or the only one.
    pub item: u32,
    pub quantity: Option<Quantity>,
    /// Minor units of the item's currency; 0 = not asked.
    pub value_minor: u64,
}

/// The shipment a Verify request asks about (`item`, `quantity`, `value_minor`), `None` when it
/// asks none, or why the quantity is malformed.
pub fn asked_shipment(request: &pb::VerifyRequest) -> Result<Option<AskedShipment>, String> {
    if request.item == 0 && request.quantity.is_empty() && request.value_minor == 0 {
        return Ok(None);
    }
    let quantity = match request.quantity.as_str() {
        "" => None,
        text => Some(Quantity::parse(text).ok_or_else(|| format!("quantity: `{}` is not a decimal quantity like 20 or 2.5", crate::shown(text)))?),
    };
    Ok(Some(AskedShipment { item: request.item, quantity, value_minor: request.value_minor }))
}

/// What remains of one item: `None` where the item sets no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    pub quantity: Option<Quantity>,
    pub value_minor: Option<u64>,
}

impl Usage {
    /// Shipments written off.
    pub fn shipments(&self) -> usize {
        self.declarations.len()
    }

    fn used(&self, item: u32) -> ItemUse {
        self.items.get(item as usize - 1).copied().unwrap_or_default()
    }

    /// What remains of licence item `item` (from 1) under `terms`, or `None` when the licence
    /// has no such item.
    pub fn remaining(&self, terms: &pb::Decision, item: u32) -> Option<Remaining> {
        let licensed = terms.items.get((item as usize).checked_sub(1)?)?;
        let used = self.used(item);
        Some(Remaining {
            quantity: Quantity::parse(&licensed.quantity).map(|q| q.saturating_sub(used.quantity)),
            value_minor: (licensed.value_minor > 0).then(|| licensed.value_minor.saturating_sub(used.value_minor)),
        })
    }

    /// The usage after writing `shipment` off against the licence whose terms in force are
    /// `terms`, or why customs may not write it off: the licence must have been valid on the
    /// shipping day, the destination and every transit country licensed, the declaration new,
    /// and each item's quantity and value within what remains.
    pub fn write_off(&self, terms: &pb::Decision, shipment: &pb::Shipment) -> Result<Usage, String> {
        let licence_type = LicenceType::try_from(terms.licence_type).unwrap_or_default();
        if matches!(licence_type, LicenceType::GeneralAuthorisation | LicenceType::Registration) {
            return Err(format!("a {} states no quantities to write off", licence_type.as_str_name()));
        }
        if !(terms.valid_from..terms.valid_until).contains(&shipment.shipped_on) {
            return Err(format!(
                "the licence was not valid on the shipping day {} (valid {} to {})",
                format_time(shipment.shipped_on),
                format_time(terms.valid_from),
                format_time(terms.valid_until)
            ));
        }
        if !terms.destinations.contains(&shipment.destination) {
            return Err(format!("destination {} is not among the licence's destinations ({})", shipment.destination, terms.destinations.join(", ")));
        }
        if let Some(transit) = shipment.transit_countries.iter().find(|c| !terms.transit_countries.contains(c)) {
            let permitted =
                if terms.transit_countries.is_empty() { "none: it permits direct shipment only".to_string() } else { terms.transit_countries.join(", ") };
            return Err(format!("transit through {transit} is not permitted by the licence (transit countries: {permitted})"));
        }
        if let Some(n) = self.declarations.iter().position(|d| *d == shipment.declaration) {
            return Err(format!("declaration {} was already written off (shipment {} of this licence)", shipment.declaration, n + 1));
        }
        let mut next = self.clone();
        next.items.resize(next.items.len().max(terms.items.len()), ItemUse::default());
        for shipped in &shipment.items {
            let n = shipped.item;
            let Some(licensed) = terms.items.get(n as usize - 1) else {
                return Err(format!("the licence has no item {n} (it has {})", terms.items.len()));
            };
            let quantity = Quantity::parse(&shipped.quantity).ok_or_else(|| format!("item {n}: `{}` is not a quantity", shipped.quantity))?;
            let remaining = self.remaining(terms, n).expect("the item exists");
            let code = qualified_control_code(licensed);
            if let Some(left) = remaining.quantity.filter(|left| quantity > *left) {
                return Err(format!(
                    "item {n} ({code}) has {left} {unit} left of {licensed_quantity} {unit}; the shipment writes off {quantity} {unit}",
                    unit = licensed.unit,
                    licensed_quantity = licensed.quantity
                ));
            }
            if let Some(left) = remaining.value_minor.filter(|left| shipped.value_minor > *left) {
                return Err(format!(
                    "item {n} ({code}) has {} {currency} of its value left; the shipment writes off {} {currency}",
                    format_money(left, &licensed.currency),
                    format_money(shipped.value_minor, &licensed.currency),
                    currency = licensed.currency
                ));
            }
            let used = &mut next.items[n as usize - 1];
            used.quantity = used.quantity.checked_add(quantity).ok_or_else(|| format!("item {n}: quantity overflows"))?;
            used.value_minor = used.value_minor.saturating_add(shipped.value_minor);
            used.shipments += 1;
        }
        next.declarations.push(shipment.declaration.clone());
        Ok(next)
    }

    /// Whether the licence is used up: it has at least one limited item and none of its
    /// limited items has quantity (or, where limited, value) left.
    pub fn exhausts(&self, terms: &pb::Decision) -> bool {
        if self.declarations.is_empty() {
            return false;
        }
        let mut limited = 0;
        for n in 1..=terms.items.len() as u32 {
            let Some(left) = self.remaining(terms, n) else { continue };
            if left.quantity.is_none() && left.value_minor.is_none() {
                continue;
            }
            limited += 1;
            let used_up = left.quantity.is_some_and(Quantity::is_zero) || left.value_minor == Some(0);
            if !used_up {
                return false;
            }
        }
        limited > 0
    }

    /// Amended terms must still cover what was written off: each item used keeps a quantity
    /// (and value) at least what customs wrote off.
    pub fn check_amendment(&self, terms: &pb::Decision) -> Result<(), String> {
        for (i, used) in self.items.iter().enumerate().filter(|(_, u)| u.shipments > 0) {
            let n = i + 1;
            let Some(item) = terms.items.get(i) else {
                return Err(format!("item {n} was written off ({} shipments), so the amended licence must keep an item {n}", used.shipments));
            };
            if Quantity::parse(&item.quantity).is_some_and(|q| q < used.quantity) {
                return Err(format!(
                    "item {n} would license {} {}, less than the {} {} already written off",
                    item.quantity, item.unit, used.quantity, item.unit
                ));
            }
            if item.value_minor > 0 && item.value_minor < used.value_minor {
                return Err(format!("item {n}'s value would be less than the value already written off"));
            }
        }
        Ok(())
    }

    /// Each item's licensed, used and remaining quantity and value; empty while nothing was
    /// written off.
    pub fn balances(&self, terms: &pb::Decision) -> Vec<pb::ItemBalance> {
        if self.declarations.is_empty() {
            return Vec::new();
        }
        (1..=terms.items.len() as u32)
            .map(|n| {
                let item = &terms.items[n as usize - 1];
                let used = self.used(n);
                let left = self.remaining(terms, n).expect("the item exists");
                pb::ItemBalance {
                    item: n,
                    control_code: qualified_control_code(item),
                    unit: item.unit.clone(),
                    licensed: item.quantity.clone(),
                    used: used.quantity.to_string(),
                    remaining: left.quantity.map(|q| q.to_string()).unwrap_or_default(),
                    currency: item.currency.clone(),
                    licensed_value_minor: item.value_minor,
                    used_value_minor: used.value_minor,
                    remaining_value_minor: left.value_minor.unwrap_or_default(),
                    shipments: used.shipments,
                }
            })
            .collect()
    }
}

/// One line per item: `item 1 EU-DU:3A001.b.2: 30 of 50 pcs left (2 shipments)`.
pub fn describe_balance(b: &pb::ItemBalance) -> String {
    let quantity = if b.licensed.is_empty() {
        format!("{} {} written off, no quantity limit", b.used, b.unit)
    } else {
        format!("{} of {} {} left", b.remaining, b.licensed, b.unit)
    };
    let value = if b.licensed_value_minor > 0 {
        format!(", {} of {} {} value left", format_money(b.remaining_value_minor, &b.currency), format_money(b.licensed_value_minor, &b.currency), b.currency)
    } else {
        String::new()
    };
    let shipments = match b.shipments {
        1 => "1 shipment".to_string(),
        n => format!("{n} shipments"),
    };
    format!("item {} {}: {quantity}{value} ({shipments})", b.item, b.control_code)
}
