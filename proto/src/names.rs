//! Distinguished names in the Windows string form (`CN=contoso-CA, DC=contoso,
//! DC=com`): parsed with repeated name parts kept, encoded as Windows encodes
//! them (PrintableString when the value allows it, IA5String for DC and E).

use der::asn1::{Any, ObjectIdentifier, SetOfVec};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RelativeDistinguishedName};

/// Why a name string could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid distinguished name `{input}`: {reason}")]
pub struct NameError {
    pub input: String,
    pub reason: String,
}

const CN: &str = "2.5.4.3";
const DC: &str = "0.9.2342.19200300.100.1.25";
const EMAIL: &str = "1.2.840.113549.1.9.1";
const COUNTRY: &str = "2.5.4.6";

/// Windows and RFC 4514 attribute names, with their OIDs.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("CN", CN),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("L", "2.5.4.7"),
    ("S", "2.5.4.8"),
    ("ST", "2.5.4.8"),
    ("C", COUNTRY),
    ("DC", DC),
    ("E", EMAIL),
    ("EMAIL", EMAIL),
    ("STREET", "2.5.4.9"),
    ("T", "2.5.4.12"),
    ("TITLE", "2.5.4.12"),
    ("G", "2.5.4.42"),
    ("GIVENNAME", "2.5.4.42"),
    ("SN", "2.5.4.4"),
    ("I", "2.5.4.43"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("POSTALCODE", "2.5.4.17"),
    ("DESCRIPTION", "2.5.4.13"),
    ("UID", "0.9.2342.19200300.100.1.1"),
];

fn short_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    let s = oid.to_string();
    // First match wins, so "S" is shown rather than "ST" — as certutil prints.
    ATTRIBUTES.iter().find(|(_, o)| *o == s).map(|(n, _)| *n)
}

/// Splits at separators that are not quoted or escaped.
fn split_components(s: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => return Err("ends with a lone backslash".into()),
                }
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' | ';' if !quoted => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if quoted {
        return Err("unbalanced quote".into());
    }
    parts.push(cur);
    Ok(parts)
}

fn unescape_value(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        return v[1..v.len() - 1].replace("\"\"", "\"");
    }
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_printable(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c))
}

/// One attribute, encoded the way Windows would.
pub fn attribute(oid: &str, value: &str) -> Result<AttributeTypeAndValue, NameError> {
    let err = |reason: String| NameError {
        input: format!("{oid}={value}"),
        reason,
    };
    let oid = ObjectIdentifier::new(oid).map_err(|e| err(e.to_string()))?;
    let tag = match oid.to_string().as_str() {
        DC | EMAIL => {
            if !value.is_ascii() {
                return Err(err("value must be ASCII".into()));
            }
            Tag::Ia5String
        }
        COUNTRY => {
            if value.len() != 2 || !is_printable(value) {
                return Err(err("country must be two letters".into()));
            }
            Tag::PrintableString
        }
        _ if is_printable(value) => Tag::PrintableString,
        _ => Tag::Utf8String,
    };
    let value = Any::new(tag, value.as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok(AttributeTypeAndValue { oid, value })
}

/// Builds a name from attributes given most-specific first (as Windows shows
/// them); the encoding puts them in reverse, root first.
pub fn name_from_parts(parts: &[(String, String)]) -> Result<Name, NameError> {
    let mut rdns = Vec::new();
    for (oid, value) in parts.iter().rev() {
        let atv = attribute(oid, value)?;
        let set = SetOfVec::try_from(vec![atv]).map_err(|e| NameError {
            input: value.clone(),
            reason: e.to_string(),
        })?;
        let rdn = RelativeDistinguishedName::try_from(set.into_vec()).map_err(|e| NameError {
            input: value.clone(),
            reason: e.to_string(),
        })?;
        rdns.push(rdn);
    }
    let der = rdns.to_der().map_err(|e| NameError {
        input: String::new(),
        reason: e.to_string(),
    })?;
    Name::from_der(&der).map_err(|e| NameError {
        input: String::new(),
        reason: e.to_string(),
    })
}

/// Parses `CN=contoso-CA, DC=contoso, DC=com` (commas or semicolons, optional
/// spaces, quoted values, Windows names such as `S` and `E`). An empty string
/// is the empty name.
pub fn parse_dn(input: &str) -> Result<Name, NameError> {
    let err = |reason: &str| NameError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    if input.trim().is_empty() {
        return name_from_parts(&[]);
    }
    let mut parts = Vec::new();
    for comp in split_components(input).map_err(|r| err(&r))? {
        let comp = comp.trim();
        if comp.is_empty() {
            return Err(err("empty component"));
        }
        let Some((key, value)) = comp.split_once('=') else {
            return Err(err(&format!("`{comp}` has no `=`")));
        };
        let key = key.trim();
        let oid = ATTRIBUTES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(key))
            .map(|(_, o)| o.to_string())
            .or_else(|| {
                key.strip_prefix("OID.")
                    .or(Some(key))
                    .filter(|k| ObjectIdentifier::new(k).is_ok())
                    .map(str::to_string)
            })
            .ok_or_else(|| err(&format!("unknown attribute `{key}`")))?;
        parts.push((oid, unescape_value(value)));
    }
    name_from_parts(&parts)
}

/// Windows display form: most-specific first, `, ` between parts.
pub fn format_dn(name: &Name) -> String {
    let mut parts: Vec<String> = Vec::new();
    for rdn in name.iter_rdn() {
        let inner: Vec<String> = rdn
            .iter()
            .map(|atv| {
                let key = short_name(&atv.oid)
                    .map(str::to_string)
                    .unwrap_or_else(|| atv.oid.to_string());
                format!("{key}={}", quote_if_needed(&attribute_text(atv)))
            })
            .collect();
        parts.push(inner.join(" + "));
    }
    parts.reverse();
    parts.join(", ")
}

fn quote_if_needed(v: &str) -> String {
    if v.contains([',', ';', '"', '+', '=']) || v.starts_with(' ') || v.ends_with(' ') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// The text of an attribute value (BMPString and others decoded when possible).
pub fn attribute_text(atv: &AttributeTypeAndValue) -> String {
    let v = &atv.value;
    match v.tag() {
        Tag::BmpString => der::asn1::BmpString::from_der(&v.to_der().unwrap_or_default())
            .map(|s| s.to_string())
            .unwrap_or_default(),
        _ => String::from_utf8_lossy(v.value()).into_owned(),
    }
}

/// The first common name, if any.
pub fn common_name(name: &Name) -> Option<String> {
    let cn = ObjectIdentifier::new_unwrap(CN);
    let mut found = None;
    for rdn in name.iter_rdn() {
        for atv in rdn.iter() {
            if atv.oid == cn {
                found = Some(attribute_text(atv));
            }
        }
    }
    // The most specific CN is the last one encoded.
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parts_are_kept_in_windows_order() {
        let n = parse_dn("CN=Jane Doe, OU=Eng, OU=Users, DC=contoso, DC=com").unwrap();
        assert_eq!(
            format_dn(&n),
            "CN=Jane Doe, OU=Eng, OU=Users, DC=contoso, DC=com"
        );
        // Encoded root first: DC=com is the first RDN.
        let first = n.iter_rdn().next().unwrap().iter().next().unwrap();
        assert_eq!(attribute_text(first), "com");
        assert_eq!(first.value.tag(), Tag::Ia5String);
        assert_eq!(common_name(&n).as_deref(), Some("Jane Doe"));
    }

    #[test]
    fn windows_aliases_and_quotes() {
        let n = parse_dn("CN=\"Smith, John\";S=Ohio;E=a@b.c;C=US").unwrap();
        assert_eq!(format_dn(&n), "CN=\"Smith, John\", S=Ohio, E=a@b.c, C=US");
        assert_eq!(format_dn(&parse_dn(&format_dn(&n)).unwrap()), format_dn(&n));
        assert_eq!(format_dn(&parse_dn("").unwrap()), "");
    }

    #[test]
    fn bad_names_are_errors() {
        assert!(parse_dn("CN").is_err());
        assert!(parse_dn("XX=1").is_err());
        assert!(parse_dn("CN=a,,DC=b").is_err());
        assert!(parse_dn("CN=\"open").is_err());
        assert!(parse_dn("C=USA").is_err());
    }

    #[test]
    fn non_ascii_becomes_utf8() {
        let n = parse_dn("CN=Zoë").unwrap();
        let atv = n.iter_rdn().next().unwrap().iter().next().unwrap();
        assert_eq!(atv.value.tag(), Tag::Utf8String);
    }
}
