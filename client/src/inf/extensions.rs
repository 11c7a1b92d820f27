//! The extension sections of a request INF: [Extensions] (`{text}` SAN,
//! EKU and basic constraints, or raw base64 DER), [EnhancedKeyUsageExtension]
//! and [BasicConstraintsExtension], each adding to the [`RequestSpec`] that
//! [NewRequest] started.

use std::net::IpAddr;

use adcs_proto::x509::SanEntry;

use super::values::{is_oid, parse_bool, parse_number};
use super::{BasicConstraints, Entry, Inf, InfError, InfWarning, RawExtension, RequestSpec};

/// [Extensions]: `Critical = OID, …`, `OID = {text}…` for SAN, EKU and
/// basic constraints, or `OID = <base64 DER>`.
pub(super) fn read_extensions(inf: &Inf, spec: &mut RequestSpec) -> Result<(), InfError> {
    let Some(ext) = inf.section("Extensions") else {
        return Ok(());
    };
    for e in &ext.entries {
        if e.key.eq_ignore_ascii_case("Critical") {
            for oid in e.value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !is_oid(oid) {
                    return Err(inf.error(e.line, "Critical", format!("`{oid}` is not an OID")));
                }
                spec.critical.push(oid.to_string());
            }
            continue;
        }
        if !is_oid(&e.key) {
            // certreq's own words for `[Extensions] OID = …` (windowsserverdocs#6297).
            return Err(inf.error(
                e.line,
                &format!("[Extensions] {} = {}", e.key, e.value),
                "Certificate Request Processor: The parameter is incorrect. 0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER); an [Extensions] key must be an extension OID (EKUs go in [EnhancedKeyUsageExtension] or a 2.5.29.37 = \"{text}…\" line)",
            ));
        }
        read_extension(inf, e, spec)?;
    }
    Ok(())
}

/// One `OID = value` line of [Extensions].
fn read_extension(inf: &Inf, e: &Entry, spec: &mut RequestSpec) -> Result<(), InfError> {
    let text = e.parts[0].trim_start();
    let is_text = text
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("{text}"));
    let prefix = e.parts[0].len() - text.len() + if is_text { 6 } else { 0 };
    match (e.key.as_str(), is_text) {
        ("2.5.29.17", true) => {
            for item in text_items(&e.parts, prefix, &['&']) {
                spec.san
                    .push(san_entry(&item).map_err(|m| inf.error(e.line, &e.key, m))?);
            }
        }
        ("2.5.29.37", true) => {
            for oid in text_items(&e.parts, prefix, &[',']) {
                if !is_oid(&oid) {
                    return Err(inf.error(e.line, &e.key, format!("EKU `{oid}` is not an OID")));
                }
                spec.ekus.push(oid);
            }
        }
        ("2.5.29.19", true) => {
            let bc = basic_constraints_text(&e.value[prefix.min(e.value.len())..])
                .map_err(|m| inf.error(e.line, &e.key, m))?;
            spec.basic_constraints = Some(bc);
        }
        (oid, true) => {
            return Err(inf.error(e.line, &e.key, format!("{{text}} is understood for 2.5.29.17, 2.5.29.37 and 2.5.29.19, not {oid}; give the value as base64 DER")))
        }
        (oid, false) => {
            use base64::Engine;
            let compact: String = e.value.chars().filter(|c| !c.is_whitespace()).collect();
            let value = base64::engine::general_purpose::STANDARD
                .decode(&compact)
                .map_err(|_| inf.error(e.line, &e.key, "the value is neither {text} nor base64 DER"))?;
            spec.raw_extensions.push(RawExtension {
                oid: oid.to_string(),
                value,
            });
        }
    }
    Ok(())
}

/// [EnhancedKeyUsageExtension]: `OID = …` lines, added after any EKUs
/// [Extensions] gave (without repeats).
pub(super) fn read_eku_section(inf: &Inf, spec: &mut RequestSpec) -> Result<(), InfError> {
    let Some(eku) = inf.section("EnhancedKeyUsageExtension") else {
        return Ok(());
    };
    for e in &eku.entries {
        if !e.key.eq_ignore_ascii_case("OID") || !is_oid(&e.value) {
            return Err(inf.error(
                e.line,
                &e.key,
                format!(
                    "expected `OID = <dotted OID>`, got `{} = {}`",
                    e.key, e.value
                ),
            ));
        }
        if !spec.ekus.contains(&e.value) {
            spec.ekus.push(e.value.clone());
        }
    }
    Ok(())
}

/// [BasicConstraintsExtension]. The section is how certreq INFs ask for a
/// CA certificate, so it means cA = TRUE unless it says otherwise (a path
/// length is only valid on a CA, RFC 5280 §4.2.1.9).
pub(super) fn read_basic_constraints_section(
    inf: &Inf,
    spec: &mut RequestSpec,
    warnings: &mut Vec<InfWarning>,
) -> Result<(), InfError> {
    let Some(bc) = inf.section("BasicConstraintsExtension") else {
        return Ok(());
    };
    for e in &bc.entries {
        let current = spec.basic_constraints.unwrap_or(BasicConstraints {
            ca: true,
            path_length: None,
        });
        match e.key.to_ascii_lowercase().as_str() {
            "pathlength" => {
                let n = parse_number(&e.value)
                    .ok_or_else(|| inf.error(e.line, &e.key, "PathLength needs a number"))?;
                spec.basic_constraints = Some(BasicConstraints {
                    path_length: Some(n),
                    ..current
                });
            }
            "ca" | "subjecttype" => {
                let ca = parse_bool(&e.value)
                    .unwrap_or(!e.value.replace(' ', "").eq_ignore_ascii_case("endentity"));
                spec.basic_constraints = Some(BasicConstraints { ca, ..current });
            }
            "critical" => {
                if parse_bool(&e.value) == Some(true)
                    && !spec.critical.iter().any(|c| c == "2.5.29.19")
                {
                    spec.critical.push("2.5.29.19".into());
                }
            }
            _ => inf.warn(
                warnings,
                e.line,
                format!(
                    "unknown key `{}` in [BasicConstraintsExtension] ignored",
                    e.key
                ),
            ),
        }
    }
    Ok(())
}

/// Splits `{text}` list payloads at `&`, `,` and `_continue_` boundaries.
fn text_items(parts: &[String], first_prefix_len: usize, separators: &[char]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let p = if i == 0 {
            &p[first_prefix_len.min(p.len())..]
        } else {
            p.as_str()
        };
        out.extend(
            p.split(separators)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    out
}

fn san_entry(item: &str) -> Result<SanEntry, String> {
    let (name, value) = item
        .split_once('=')
        .ok_or_else(|| format!("SAN entry `{item}` has no `=`"))?;
    let value = value.trim().to_string();
    match name.trim().to_ascii_lowercase().replace(' ', "").as_str() {
        "dns" => Ok(SanEntry::Dns(value)),
        "email" | "e-mail" | "rfc822name" => Ok(SanEntry::Email(value)),
        "upn" => Ok(SanEntry::Upn(value)),
        "url" => Ok(SanEntry::Url(value)),
        "ipaddress" | "ip" => value
            .parse::<IpAddr>()
            .map(SanEntry::Ip)
            .map_err(|_| format!("`{value}` is not an IP address")),
        other => Err(format!(
            "SAN entry type `{other}` is not supported (DNS, EMail, UPN, URL, IPAddress are)"
        )),
    }
}

fn basic_constraints_text(text: &str) -> Result<BasicConstraints, String> {
    let lower = text.to_ascii_lowercase().replace([' ', '&', ','], "");
    let mut bc = BasicConstraints {
        ca: false,
        path_length: None,
    };
    if let Some(i) = lower.find("ca=") {
        let v: String = lower[i + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let v = v.trim_end_matches("pathlength");
        bc.ca = parse_bool(v).ok_or_else(|| format!("`ca={v}` is not true or false"))?;
    }
    if let Some(i) = lower.find("pathlength=") {
        let v: String = lower[i + 11..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        bc.path_length = Some(
            v.parse()
                .map_err(|_| "pathlength needs a number".to_string())?,
        );
    }
    Ok(bc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inf::RequestKind;

    fn spec(text: &str) -> Result<RequestSpec, InfError> {
        RequestSpec::from_inf(&Inf::parse("t.inf", text.as_bytes()).unwrap())
    }

    #[test]
    fn eku_and_basic_constraints_forms() {
        let s = spec("[Strings]\nszOID_X=1.2.3.4\n[NewRequest]\nRequestType=Cert\nValidityPeriod=Years\nValidityPeriodUnits=2\n[Extensions]\n%szOID_ENHANCED_KEY_USAGE%={text}%szOID_PKIX_KP_SERVER_AUTH%,\n_continue_ = %szOID_X%\n2.5.29.19 = \"{text}\"\n_continue_ = \"ca=True&pathlength=0\"\nCritical=%szOID_BASIC_CONSTRAINTS2%\n1.2.3.5 = MAMCAQA=\n[EnhancedKeyUsageExtension]\nOID=1.3.6.1.5.5.7.3.2\n").unwrap();
        assert_eq!(
            s.ekus,
            vec!["1.3.6.1.5.5.7.3.1", "1.2.3.4", "1.3.6.1.5.5.7.3.2"]
        );
        assert_eq!(
            s.basic_constraints,
            Some(BasicConstraints {
                ca: true,
                path_length: Some(0)
            })
        );
        assert_eq!(s.critical, vec!["2.5.29.19"]);
        assert_eq!(
            s.raw_extensions,
            vec![RawExtension {
                oid: "1.2.3.5".into(),
                value: vec![0x30, 0x03, 0x02, 0x01, 0x00]
            }]
        );
        assert_eq!(
            (s.request_type, s.validity_days),
            (RequestKind::Cert, Some(730))
        );
    }
}
