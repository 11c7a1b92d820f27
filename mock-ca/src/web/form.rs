//! Lenient `application/x-www-form-urlencoded` and query parsing, as ASP's
//! `Request.Form`/`Request.QueryString` behave: keys are case-insensitive,
//! `+` is a space, and a `%` that starts no valid escape is kept as it is
//! (JPW sends `%!s(int=0)`). Bytes that are not UTF-8 become U+FFFD, so a
//! broken form reaches the CA as a broken request, never as a panic.

/// Decoded name/value pairs in their original order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(input: &[u8]) -> Params {
        Params(
            form_urlencoded::parse(input)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// CertAttrib text as `Name:Value` pairs: lines split on CRLF or LF, names
/// and values trimmed, empty lines and lines without `:` skipped.
pub fn cert_attributes(text: &str) -> Vec<(String, String)> {
    text.split('\n')
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            let (name, value) = line.split_once(':')?;
            let name = name.trim();
            (!name.is_empty()).then(|| (name.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// The value of cookie `name` from a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_plus_is_space() {
        let p = Params::parse(b"ENC=b64&ReqID=5&a=x+y%2Bz");
        assert_eq!(p.get("enc"), Some("b64"));
        assert_eq!(p.get("reqid"), Some("5"));
        assert_eq!(p.get("A"), Some("x y+z"));
        assert_eq!(p.get("missing"), None);
    }

    #[test]
    fn malformed_escapes_and_bad_utf8_do_not_fail() {
        let p = Params::parse(b"TargetStoreFlags=%!s(int=0)&Mode=newreq&x=%ff%fe&%zz");
        assert_eq!(p.get("TargetStoreFlags"), Some("%!s(int=0)"));
        assert_eq!(p.get("mode"), Some("newreq"));
        assert!(p.get("x").unwrap().contains('\u{fffd}'));
    }

    #[test]
    fn cert_attributes_accept_crlf_lf_and_trailing_lines() {
        let a = cert_attributes("CertificateTemplate:WebServer(PrivateKeyExportable)\r\nsan:dns=a&dns=b\n\nUserAgent:GoTLS/0.2\r\n");
        assert_eq!(
            a,
            vec![
                (
                    "CertificateTemplate".into(),
                    "WebServer(PrivateKeyExportable)".into()
                ),
                ("san".into(), "dns=a&dns=b".into()),
                ("UserAgent".into(), "GoTLS/0.2".into()),
            ]
        );
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = "ASPSESSIONIDX=1; Requests=5=5%2C0; other=2";
        assert_eq!(cookie(h, "Requests"), Some("5=5%2C0"));
        assert_eq!(cookie(h, "requests"), None);
    }
}
