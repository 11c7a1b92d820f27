//! Searching the forest as AD does: the base must exist, a search stays in
//! its naming context, filters match as each attribute's syntax defines
//! (names without regard to case, integers as numbers, SIDs and GUIDs as
//! bytes or in their text forms), with AD's bitwise and in-chain rules,
//! and each entry answers with the attributes asked for.

use std::collections::HashMap;

use adcs_proto::ldap::{
    self, oid, Filter, Outcome, ResultCode, SearchRequestScope, SubstringChoice,
};
use adcs_proto::sd::{SecurityDescriptor, Sid};

use super::schema::{self, Matching};
use super::{normalize_dn, Entry, Naming};

/// The entries a search's base and scope reach, in directory order.
pub fn scope<'a>(
    entries: &'a [Entry],
    naming: &Naming,
    base: &str,
    scope: SearchRequestScope,
) -> Result<Vec<&'a Entry>, Outcome> {
    let b = normalize_dn(base);
    if !entries.iter().any(|e| normalize_dn(&e.dn) == b) {
        return Err(no_such_object(entries, base));
    }
    let partition = naming.partition_of(base);
    let suffix = format!(",{b}");
    Ok(entries
        .iter()
        .filter(|e| {
            let n = normalize_dn(&e.dn);
            match scope {
                SearchRequestScope::BaseObject => n == b,
                SearchRequestScope::SingleLevel => n
                    .strip_suffix(&suffix)
                    .is_some_and(|rdn| !rdn.contains(',')),
                _ => (n == b || n.ends_with(&suffix)) && naming.partition_of(&e.dn) == partition,
            }
        })
        .collect())
}

/// AD's answer for a base that does not exist: the best match as matchedDN.
fn no_such_object(entries: &[Entry], base: &str) -> Outcome {
    let n = normalize_dn(base);
    let best = entries
        .iter()
        .filter(|e| n.ends_with(&format!(",{}", normalize_dn(&e.dn))))
        .max_by_key(|e| e.dn.len())
        .map(|e| e.dn.clone())
        .unwrap_or_default();
    Outcome {
        code: ResultCode::NoSuchObject,
        matched_dn: best.clone(),
        diagnostic: format!(
            "0000208D: NameErr: DSID-03100289, problem 2001 (NO_OBJECT), data 0, best match of:\n\t'{best}'\n\0"
        ),
    }
}

/// Everything a filter may need beyond the entry: the other entries, for
/// the in-chain rule.
pub struct Index<'a> {
    by_dn: HashMap<String, &'a Entry>,
}

impl<'a> Index<'a> {
    pub fn new(entries: &'a [Entry]) -> Index<'a> {
        Index {
            by_dn: entries.iter().map(|e| (normalize_dn(&e.dn), e)).collect(),
        }
    }

    /// True when following `attribute` (a DN-valued link) from `from`
    /// reaches `target`, through any number of steps.
    fn chain_reaches(&self, from: &Entry, attribute: &str, target: &str) -> bool {
        let mut seen = std::collections::HashSet::new();
        let mut todo: Vec<&Entry> = vec![from];
        while let Some(e) = todo.pop() {
            for v in e.get(attribute).unwrap_or_default() {
                let dn = normalize_dn(&String::from_utf8_lossy(v));
                if dn == target {
                    return true;
                }
                if seen.insert(dn.clone()) {
                    if let Some(next) = self.by_dn.get(&dn) {
                        todo.push(next);
                    }
                }
            }
        }
        false
    }
}

/// Whether `entry` matches: `None` is LDAP's Undefined (an attribute the
/// schema does not know, a value that cannot be read).
pub fn matches(entry: &Entry, filter: &Filter, index: &Index) -> Option<bool> {
    match filter {
        Filter::And(fs) => combine(fs.iter().map(|f| matches(entry, f, index)), false),
        Filter::Or(fs) => combine(fs.iter().map(|f| matches(entry, f, index)), true),
        Filter::Not(f) => matches(entry, f, index).map(|b| !b),
        Filter::EqualityMatch(a) | Filter::ApproxMatch(a) => {
            compare(entry, &a.attribute_desc, &a.assertion_value, |o| {
                o == std::cmp::Ordering::Equal
            })
        }
        Filter::GreaterOrEqual(a) => compare(entry, &a.attribute_desc, &a.assertion_value, |o| {
            o != std::cmp::Ordering::Less
        }),
        Filter::LessOrEqual(a) => compare(entry, &a.attribute_desc, &a.assertion_value, |o| {
            o != std::cmp::Ordering::Greater
        }),
        Filter::Present(name) => {
            let known =
                name.eq_ignore_ascii_case("objectClass") || schema::attribute(name).is_some();
            known.then(|| name.eq_ignore_ascii_case("objectClass") || entry.get(name).is_some())
        }
        Filter::Substrings(s) => substrings(entry, &s.r#type, &s.substrings),
        Filter::ExtensibleMatch(m) => extensible(entry, m, index),
        _ => None,
    }
}

/// AND (`decisive` false) or OR (`decisive` true) in three-valued logic:
/// the decisive value wins, then Undefined, then the other.
fn combine(values: impl Iterator<Item = Option<bool>>, decisive: bool) -> Option<bool> {
    let mut undefined = false;
    for v in values {
        match v {
            Some(b) if b == decisive => return Some(decisive),
            None => undefined = true,
            Some(_) => {}
        }
    }
    (!undefined).then_some(!decisive)
}

/// The assertion in the attribute's own form: a SID's `S-1-…` text as its
/// bytes, a bare class name for objectCategory as the category's DN.
fn assertion(attr: &schema::AttributeType, value: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(value);
    if attr.name == "objectSid" && text.starts_with("S-1-") {
        if let Ok(sid) = Sid::parse(&text) {
            return sid.to_bytes();
        }
    }
    if attr.name == "objectCategory" && !text.contains('=') {
        if let Some(c) = schema::class(&text).filter(|c| !c.category.is_empty()) {
            return format!("CN={},", c.category).into_bytes();
        }
    }
    value.to_vec()
}

fn order(m: Matching, have: &[u8], want: &[u8]) -> Option<std::cmp::Ordering> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_lowercase();
    match m {
        Matching::Octets => Some(have.cmp(want)),
        Matching::Integer => {
            let n = |b: &[u8]| String::from_utf8_lossy(b).trim().parse::<i128>().ok();
            Some(n(have)?.cmp(&n(want)?))
        }
        Matching::Dn => Some(normalize_dn(&text(have)).cmp(&normalize_dn(&text(want)))),
        Matching::Text => Some(text(have).cmp(&text(want))),
    }
}

fn compare(
    entry: &Entry,
    name: &str,
    value: &[u8],
    ok: impl Fn(std::cmp::Ordering) -> bool,
) -> Option<bool> {
    let attr = schema::attribute(name)?;
    let want = assertion(attr, value);
    let values = entry.get(attr.name).unwrap_or_default();
    if attr.name == "objectCategory" && want.ends_with(b",") {
        // A class name: its category's CN, under any schema DN.
        let prefix = String::from_utf8_lossy(&want).to_lowercase();
        return Some(values.iter().any(|v| {
            String::from_utf8_lossy(v)
                .to_lowercase()
                .starts_with(&prefix)
        }));
    }
    let mut undefined = false;
    for v in values {
        match order(attr.matching(), v, &want) {
            Some(o) if ok(o) => return Some(true),
            Some(_) => {}
            None => undefined = true,
        }
    }
    (!undefined).then_some(false)
}

fn substrings(entry: &Entry, name: &str, parts: &[SubstringChoice]) -> Option<bool> {
    let attr = schema::attribute(name)?;
    let lower = |b: &[u8]| String::from_utf8_lossy(b).to_lowercase();
    let values = entry.get(attr.name).unwrap_or_default();
    Some(values.iter().any(|v| {
        let mut rest = lower(v);
        for p in parts {
            match p {
                SubstringChoice::Initial(s) => match rest.strip_prefix(&lower(s)) {
                    Some(r) => rest = r.to_string(),
                    None => return false,
                },
                SubstringChoice::Any(s) => match rest.find(&lower(s)) {
                    Some(i) => rest = rest[i + lower(s).len()..].to_string(),
                    None => return false,
                },
                SubstringChoice::Final(s) => return rest.ends_with(&lower(s)),
                _ => return false,
            }
        }
        true
    }))
}

fn extensible(entry: &Entry, m: &ldap::MatchingRuleAssertion, index: &Index) -> Option<bool> {
    let attr = schema::attribute(m.r#type.as_deref()?)?;
    let want = String::from_utf8_lossy(&m.match_value).to_string();
    match m.matching_rule.as_deref().map(String::as_str) {
        Some(oid::BIT_AND) | Some(oid::BIT_OR) => {
            let mask = want.trim().parse::<i64>().ok()? as u32;
            let and = m.matching_rule.as_deref().map(String::as_str) == Some(oid::BIT_AND);
            let values = entry.get(attr.name).unwrap_or_default();
            Some(values.iter().any(|v| {
                let n = String::from_utf8_lossy(v)
                    .trim()
                    .parse::<i64>()
                    .unwrap_or(0) as u32;
                if and {
                    n & mask == mask
                } else {
                    n & mask != 0
                }
            }))
        }
        Some(oid::IN_CHAIN) if attr.matching() == Matching::Dn => {
            Some(index.chain_reaches(entry, attr.name, &normalize_dn(&want)))
        }
        None => compare(entry, attr.name, want.as_bytes(), |o| {
            o == std::cmp::Ordering::Equal
        }),
        _ => None,
    }
}

/// The attributes of `entry` a search asked for: all for an empty list or
/// `*`, the operational timestamps too for `+`, none for `1.1`, named ones
/// otherwise (unknown names are ignored, as AD ignores them). The security
/// descriptor keeps only the parts the SD-flags control asks for.
pub fn project(
    entry: &Entry,
    asked: &[String],
    sd_parts: u32,
    types_only: bool,
) -> Vec<ldap::Attribute> {
    let all = asked.is_empty() || asked.iter().any(|a| a == "*");
    let operational = asked.iter().any(|a| a == "+");
    let mut out: Vec<ldap::Attribute> = entry
        .attributes
        .iter()
        .filter(|(a, _)| all || asked.iter().any(|n| n.eq_ignore_ascii_case(a.name)))
        .map(|(a, values)| {
            let values = if a.name == "nTSecurityDescriptor" {
                values
                    .iter()
                    .map(|v| match SecurityDescriptor::parse(v) {
                        Ok(sd) => sd.only(sd_parts).to_bytes(),
                        Err(_) => v.clone(),
                    })
                    .collect()
            } else {
                values.clone()
            };
            ldap::Attribute {
                name: a.name.to_string(),
                values,
            }
        })
        .collect();
    for (name, from) in [
        ("createTimeStamp", "whenCreated"),
        ("modifyTimeStamp", "whenChanged"),
    ] {
        let wanted = operational || asked.iter().any(|n| n.eq_ignore_ascii_case(name));
        if let (true, Some(v)) = (wanted, entry.get(from)) {
            if !out.iter().any(|a| a.name == name) {
                out.push(ldap::Attribute {
                    name: name.into(),
                    values: v.to_vec(),
                });
            }
        }
    }
    if types_only {
        for a in &mut out {
            a.values.clear();
        }
    }
    out
}
