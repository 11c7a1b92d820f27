//! RFC 4515's text form of a search filter, read into the message type
//! (`(&(objectClass=user)(cn=a*))`), so a client, a scenario or a command
//! line can write filters as every LDAP tool does.

use rasn_ldap::{
    AttributeValueAssertion, Filter, MatchingRuleAssertion, SubstringChoice, SubstringFilter,
};

/// Reads a filter; the error names what is wrong and where.
pub fn parse_filter(text: &str) -> Result<Filter, String> {
    let t = text.trim();
    let wrapped;
    let t = if t.starts_with('(') {
        t
    } else {
        wrapped = format!("({t})");
        &wrapped
    };
    let mut p = Parser {
        s: t.as_bytes(),
        at: 0,
    };
    let f = p.filter()?;
    if p.at != p.s.len() {
        return Err(format!("`{text}`: unexpected text at {}", p.at));
    }
    Ok(f)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at {}", self.at))
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            self.err(&format!("expected `{}`", b as char))
        }
    }

    fn filter(&mut self) -> Result<Filter, String> {
        self.eat(b'(')?;
        let f = match self.s.get(self.at) {
            Some(b'&') => {
                self.at += 1;
                Filter::And(self.list()?.into())
            }
            Some(b'|') => {
                self.at += 1;
                Filter::Or(self.list()?.into())
            }
            Some(b'!') => {
                self.at += 1;
                Filter::Not(Box::new(self.filter()?))
            }
            _ => self.item()?,
        };
        self.eat(b')')?;
        Ok(f)
    }

    fn list(&mut self) -> Result<Vec<Filter>, String> {
        let mut out = Vec::new();
        while self.s.get(self.at) == Some(&b'(') {
            out.push(self.filter()?);
        }
        if out.is_empty() {
            return self.err("an empty filter list");
        }
        Ok(out)
    }

    /// `attr=value`, `attr>=`, `attr<=`, `attr~=`, `attr=*`, substrings,
    /// or `attr:rule:=value` / `attr:dn:rule:=value`.
    fn item(&mut self) -> Result<Filter, String> {
        let start = self.at;
        while let Some(&c) = self.s.get(self.at) {
            if matches!(c, b'=' | b'~' | b'>' | b'<' | b')' | b'(') {
                break;
            }
            self.at += 1;
        }
        let left = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
        if left.is_empty() {
            return self.err("an attribute name is missing");
        }
        let op = match self.s.get(self.at..self.at + 2) {
            Some(b">=") | Some(b"<=") | Some(b"~=") => {
                let op = self.s[self.at];
                self.at += 2;
                op
            }
            _ => {
                self.eat(b'=')?;
                b'='
            }
        };
        let raw_start = self.at;
        while let Some(&c) = self.s.get(self.at) {
            if c == b')' || c == b'(' {
                break;
            }
            self.at += 1;
        }
        let raw = &self.s[raw_start..self.at];
        if left.contains(':') {
            return extensible(&left, raw);
        }
        let ava = |v: Vec<u8>| AttributeValueAssertion::new(left.clone().into(), v.into());
        Ok(match op {
            b'>' => Filter::GreaterOrEqual(ava(unescape(raw)?)),
            b'<' => Filter::LessOrEqual(ava(unescape(raw)?)),
            b'~' => Filter::ApproxMatch(ava(unescape(raw)?)),
            _ if raw == b"*" => Filter::Present(left.clone().into()),
            _ if raw.contains(&b'*') => substrings(&left, raw)?,
            _ => Filter::EqualityMatch(ava(unescape(raw)?)),
        })
    }
}

fn extensible(left: &str, raw: &[u8]) -> Result<Filter, String> {
    let parts: Vec<&str> = left.split(':').collect();
    let (attribute, rest) = parts.split_first().ok_or("an empty extensible match")?;
    let dn = rest.iter().any(|p| p.eq_ignore_ascii_case("dn"));
    let rule = rest
        .iter()
        .find(|p| !p.is_empty() && !p.eq_ignore_ascii_case("dn"));
    Ok(Filter::ExtensibleMatch(MatchingRuleAssertion::new(
        rule.map(|r| (*r).into()),
        (!attribute.is_empty()).then(|| (*attribute).into()),
        unescape(raw)?.into(),
        dn,
    )))
}

fn substrings(attribute: &str, raw: &[u8]) -> Result<Filter, String> {
    let pieces: Vec<&[u8]> = raw.split(|b| *b == b'*').collect();
    let last = pieces.len() - 1;
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        let v = unescape(p)?.into();
        out.push(match i {
            0 => SubstringChoice::Initial(v),
            i if i == last => SubstringChoice::Final(v),
            _ => SubstringChoice::Any(v),
        });
    }
    Ok(Filter::Substrings(SubstringFilter::new(
        attribute.into(),
        out,
    )))
}

/// `\xx` escapes to bytes.
fn unescape(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            let hex = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a `\\` not followed by two hex digits".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldap::filter_text;

    #[test]
    fn filters_read_back_as_they_print() {
        for text in [
            "(&(objectClass=user)(cn=a*b*c))",
            "(|(sAMAccountName=ALICE)(!(cn=*)))",
            "(objectSid=\\01\\05\\2a)",
            "(member:1.2.840.113556.1.4.1941:=CN=alice,CN=Users,DC=contoso,DC=test)",
            "(userAccountControl:1.2.840.113556.1.4.803:=2)",
            "(uSNChanged>=100)",
            "(cn=*x)",
        ] {
            let f = parse_filter(text).unwrap();
            assert_eq!(filter_text(&f), text);
        }
        assert_eq!(
            filter_text(&parse_filter("cn=alice").unwrap()),
            "(cn=alice)"
        );
        for bad in ["(cn=a", "(&)", "(=x)", "(cn=\\zz)", "(cn=a))"] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }
}
