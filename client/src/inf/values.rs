//! The value forms INF keys share (booleans, numbers, `|`-joined flag
//! names, dotted OIDs), read the same way wherever a key takes one.

/// `TRUE`/`FALSE` as certreq spells them (also 1/0, yes/no).
pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// Decimal, or hex with `0x`.
pub(super) fn parse_number(v: &str) -> Option<u32> {
    let v = v.trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// `NAME | NAME | 0x10` with a table of names.
pub(super) fn parse_flags(v: &str, names: &[(&str, u32)]) -> Result<u32, String> {
    let mut total = 0;
    for part in v.split('|').map(str::trim).filter(|p| !p.is_empty()) {
        let bits = parse_number(part)
            .or_else(|| {
                names
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(part))
                    .map(|(_, b)| *b)
            })
            .ok_or_else(|| format!("unknown flag `{part}`"))?;
        total |= bits;
    }
    Ok(total)
}

/// A dotted OID such as `1.3.6.1.5.5.7.3.1`.
pub(super) fn is_oid(s: &str) -> bool {
    let mut parts = s.split('.');
    s.contains('.') && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}
