//! What an INF asks of `certreq -new`: the [`RequestSpec`] read from the
//! grammar's sections, [NewRequest] here and the extension sections in
//! `extensions`. Strict where certreq refuses (the message names line and
//! key), a warning where it ignores.

use adcs_proto::x509::SanEntry;

use super::extensions;
use super::values::{parse_bool, parse_flags, parse_number};
use super::{Entry, Inf, InfError, InfWarning, Section};

/// The key a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    Rsa(u32),
    /// NIST curve by bit size: 256, 384, 521.
    Ecdsa(u32),
    /// DSA by modulus size: 1024 (the Base DSS CSP), 2048 or 3072 (CNG).
    Dsa(u32),
}

/// `HashAlgorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashChoice {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// `RequestType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Pkcs10,
    /// A self-signed certificate (test roots).
    Cert,
}

/// Basic constraints asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BasicConstraints {
    pub ca: bool,
    pub path_length: Option<u32>,
}

/// An extension given as raw DER (`OID = <base64>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawExtension {
    pub oid: String,
    pub value: Vec<u8>,
}

/// Everything an INF asks of `certreq -new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    pub subject: String,
    pub key: KeyChoice,
    pub hash: HashChoice,
    /// AT_KEYEXCHANGE (1) unless the INF says otherwise; KSP keys report 0.
    pub key_spec: u32,
    pub key_usage: Option<u16>,
    pub key_usage_property: Option<u32>,
    pub exportable: bool,
    pub machine_key_set: bool,
    pub provider_name: Option<String>,
    pub provider_type: Option<u32>,
    pub request_type: RequestKind,
    pub friendly_name: Option<String>,
    pub smime: bool,
    pub silent: bool,
    pub use_existing_key_set: bool,
    pub suppress_defaults: bool,
    /// `ValidityPeriodUnits` × `ValidityPeriod` in days (RequestType = Cert).
    pub validity_days: Option<u32>,
    pub san: Vec<SanEntry>,
    pub ekus: Vec<String>,
    pub basic_constraints: Option<BasicConstraints>,
    pub raw_extensions: Vec<RawExtension>,
    /// OIDs marked `Critical`.
    pub critical: Vec<String>,
    /// [RequestAttributes] pairs, in order.
    pub attributes: Vec<(String, String)>,
    pub warnings: Vec<InfWarning>,
}

const KEY_USAGE_NAMES: &[(&str, u32)] = &[
    ("CERT_DIGITAL_SIGNATURE_KEY_USAGE", 0x80),
    ("CERT_NON_REPUDIATION_KEY_USAGE", 0x40),
    ("CERT_KEY_ENCIPHERMENT_KEY_USAGE", 0x20),
    ("CERT_DATA_ENCIPHERMENT_KEY_USAGE", 0x10),
    ("CERT_KEY_AGREEMENT_KEY_USAGE", 0x08),
    ("CERT_KEY_CERT_SIGN_KEY_USAGE", 0x04),
    ("CERT_OFFLINE_CRL_SIGN_KEY_USAGE", 0x02),
    ("CERT_CRL_SIGN_KEY_USAGE", 0x02),
    ("CERT_ENCIPHER_ONLY_KEY_USAGE", 0x01),
    ("CERT_DECIPHER_ONLY_KEY_USAGE", 0x8000),
];

const KEY_SPEC_NAMES: &[(&str, u32)] =
    &[("AT_NONE", 0), ("AT_KEYEXCHANGE", 1), ("AT_SIGNATURE", 2)];

const KEY_USAGE_PROPERTY_NAMES: &[(&str, u32)] = &[
    ("NCRYPT_ALLOW_DECRYPT_FLAG", 1),
    ("NCRYPT_ALLOW_SIGNING_FLAG", 2),
    ("NCRYPT_ALLOW_KEY_AGREEMENT_FLAG", 4),
    ("NCRYPT_ALLOW_ALL_USAGES", 0xff_ffff),
];

/// [NewRequest] keys this toolkit reads, and those it knows but ignores.
const NEW_REQUEST_KEYS: &[&str] = &[
    "Subject",
    "Exportable",
    "ExportableEncrypted",
    "HashAlgorithm",
    "KeyAlgorithm",
    "KeyLength",
    "KeySpec",
    "KeyUsage",
    "KeyUsageProperty",
    "MachineKeySet",
    "ProviderName",
    "ProviderType",
    "RequestType",
    "FriendlyName",
    "SMIME",
    "Silent",
    "UseExistingKeySet",
    "SuppressDefaults",
    "ValidityPeriod",
    "ValidityPeriodUnits",
];
const IGNORED_KEYS: &[&str] = &[
    "KeyContainer",
    "KeyProtection",
    "NotBefore",
    "NotAfter",
    "PrivateKeyArchive",
    "EncryptionAlgorithm",
    "EncryptionLength",
    "RenewalCert",
    "RequesterName",
    "SecurityDescriptor",
    "AlternateSignatureAlgorithm",
    "SubjectNameFlags",
    "X500NameFlags",
    "UserProtected",
];

impl RequestSpec {
    /// The request an INF describes, with the INF's warnings and the ones
    /// reading it adds.
    pub fn from_inf(inf: &Inf) -> Result<RequestSpec, InfError> {
        let mut warnings = inf.warnings.clone();
        let new_request = NewRequest::find(inf)?;
        new_request.warn_about_unknown_keys(&mut warnings);
        let mut spec = new_request.read()?;
        extensions::read_extensions(inf, &mut spec)?;
        extensions::read_eku_section(inf, &mut spec)?;
        extensions::read_basic_constraints_section(inf, &mut spec, &mut warnings)?;
        if let Some(attrs) = inf.section("RequestAttributes") {
            spec.attributes = attrs
                .entries
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect();
        }
        warn_about_unused_sections(inf, &mut warnings);
        spec.warnings = warnings;
        Ok(spec)
    }
}

/// Sections certreq -new ignores get a warning each.
fn warn_about_unused_sections(inf: &Inf, warnings: &mut Vec<InfWarning>) {
    for s in &inf.sections {
        let known = [
            "NewRequest",
            "Extensions",
            "EnhancedKeyUsageExtension",
            "BasicConstraintsExtension",
            "RequestAttributes",
            "Strings",
            "Version",
        ];
        if !known.iter().any(|k| k.eq_ignore_ascii_case(&s.name)) {
            inf.warn(
                warnings,
                s.line,
                format!("section [{}] is not used by certreq -new; ignored", s.name),
            );
        }
    }
}

/// The [NewRequest] section, read key by key; a bad value is refused with
/// its line and key. Keys are read in a fixed order, so of several bad
/// values the same one is always reported.
struct NewRequest<'a> {
    inf: &'a Inf,
    section: &'a Section,
}

impl<'a> NewRequest<'a> {
    /// The section, refused when missing or empty.
    fn find(inf: &'a Inf) -> Result<NewRequest<'a>, InfError> {
        let Some(nr) = inf.section("NewRequest") else {
            let looks_like_policy = inf.section("Extensions").is_some()
                || inf.section("EnhancedKeyUsageExtension").is_some();
            return Err(InfError {
                path: inf.path.clone(),
                line: None,
                key: None,
                message: if looks_like_policy {
                    "no [NewRequest] section: this is a `certreq -policy` INF (it adds extensions to an existing request), not one that makes a new request".into()
                } else {
                    "no [NewRequest] section: certreq -new needs one with at least one key".into()
                },
            });
        };
        if nr.entries.is_empty() {
            return Err(inf.error(
                nr.line,
                "[NewRequest]",
                "the section must contain at least one key with a value",
            ));
        }
        Ok(NewRequest { inf, section: nr })
    }

    /// Keys this toolkit ignores, or certreq does not know, are warnings.
    fn warn_about_unknown_keys(&self, warnings: &mut Vec<InfWarning>) {
        for e in &self.section.entries {
            let known = NEW_REQUEST_KEYS
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&e.key));
            if IGNORED_KEYS.iter().any(|k| k.eq_ignore_ascii_case(&e.key)) {
                self.inf.warn(
                    warnings,
                    e.line,
                    format!("`{}` is not used by this toolkit; ignored", e.key),
                );
            } else if !known {
                let hint = NEW_REQUEST_KEYS
                    .iter()
                    .find(|k| {
                        e.key
                            .replace(' ', "")
                            .to_ascii_lowercase()
                            .ends_with(&k.to_ascii_lowercase())
                    })
                    .map(|k| match *k {
                        "Exportable" | "ExportableEncrypted" if !self.exportable_given() => {
                            format!(": the key will NOT be exportable (so `store export` and a PFX for another machine will fail); write `{k} = TRUE` to make it exportable")
                        }
                        _ => format!(" (did you mean `{k}`? it was not applied)"),
                    })
                    .unwrap_or_default();
                self.inf.warn(
                    warnings,
                    e.line,
                    format!(
                        "unknown key `{}` in [NewRequest] ignored, as certreq ignores it{hint}",
                        e.key
                    ),
                );
            }
        }
    }

    /// Whether `Exportable` or `ExportableEncrypted` is set TRUE.
    fn exportable_given(&self) -> bool {
        ["Exportable", "ExportableEncrypted"]
            .iter()
            .any(|k| self.get(k).and_then(|e| parse_bool(&e.value)) == Some(true))
    }

    /// Everything [NewRequest] says; the other sections are read after.
    fn read(&self) -> Result<RequestSpec, InfError> {
        let request_type = self.request_type()?;
        let key = self.key()?;
        let hash = self.hash(key)?;
        let provider_name = self.get("ProviderName").map(|e| e.value.clone());
        let key_spec = self.key_spec(key, provider_name.as_deref())?;
        let key_usage = self.key_usage()?;
        let validity_days = self.validity_days()?;
        let spec = RequestSpec {
            subject: self
                .get("Subject")
                .map(|e| e.value.clone())
                .unwrap_or_default(),
            key,
            hash,
            key_spec,
            key_usage,
            key_usage_property: self.flags("KeyUsageProperty", KEY_USAGE_PROPERTY_NAMES)?,
            // ExportableEncrypted: exportable, with the PFX's password.
            exportable: self.boolean("Exportable", false)?
                | self.boolean("ExportableEncrypted", false)?,
            machine_key_set: self.boolean("MachineKeySet", false)?,
            provider_name,
            provider_type: self.number("ProviderType")?.map(|n| n.0),
            request_type,
            friendly_name: self.get("FriendlyName").map(|e| e.value.clone()),
            smime: self.boolean("SMIME", false)?,
            silent: self.boolean("Silent", false)?,
            use_existing_key_set: self.boolean("UseExistingKeySet", false)?,
            suppress_defaults: self.boolean("SuppressDefaults", false)?,
            validity_days,
            san: Vec::new(),
            ekus: Vec::new(),
            basic_constraints: None,
            raw_extensions: Vec::new(),
            critical: Vec::new(),
            attributes: Vec::new(),
            warnings: Vec::new(),
        };
        self.check_subject()?;
        if spec.use_existing_key_set {
            let e = self.get("UseExistingKeySet").expect("set");
            return Err(self.inf.error(e.line, &e.key, "reusing an existing key needs RenewalCert or KeyContainer, which this toolkit does not support"));
        }
        Ok(spec)
    }

    /// The last entry named `key` (case-insensitive).
    fn get(&self, key: &str) -> Option<&'a Entry> {
        self.section.get(key)
    }

    fn boolean(&self, k: &str, default: bool) -> Result<bool, InfError> {
        match self.get(k) {
            None => Ok(default),
            Some(e) => parse_bool(&e.value).ok_or_else(|| {
                self.inf.error(
                    e.line,
                    &e.key,
                    format!("`{}` is not true or false", e.value),
                )
            }),
        }
    }

    /// The number and its line.
    fn number(&self, k: &str) -> Result<Option<(u32, usize)>, InfError> {
        match self.get(k) {
            None => Ok(None),
            Some(e) => parse_number(&e.value)
                .map(|n| Some((n, e.line)))
                .ok_or_else(|| {
                    self.inf
                        .error(e.line, &e.key, format!("`{}` is not a number", e.value))
                }),
        }
    }

    fn flags(&self, k: &str, names: &[(&str, u32)]) -> Result<Option<u32>, InfError> {
        match self.get(k) {
            None => Ok(None),
            Some(e) => parse_flags(&e.value, names)
                .map(Some)
                .map_err(|m| self.inf.error(e.line, &e.key, m)),
        }
    }

    /// `RequestType`: PKCS10 or Cert; the CMC family is refused.
    fn request_type(&self) -> Result<RequestKind, InfError> {
        Ok(match self.get("RequestType") {
            None => RequestKind::Pkcs10,
            Some(e) => match e.value.to_ascii_lowercase().as_str() {
                "pkcs10" | "1" => RequestKind::Pkcs10,
                "cert" | "4" => RequestKind::Cert,
                "cmc" | "pkcs7" | "scep" | "2" | "3" => {
                    return Err(self.inf.error(e.line, &e.key, format!("RequestType {} is not supported; use PKCS10 (or Cert for a self-signed certificate)", e.value)))
                }
                _ => return Err(self.inf.error(e.line, &e.key, format!("unknown RequestType `{}`", e.value))),
            },
        })
    }

    /// `KeyAlgorithm` and `KeyLength`, with sizes this toolkit can make.
    fn key(&self) -> Result<KeyChoice, InfError> {
        let length = self.number("KeyLength")?;
        let key = match self
            .get("KeyAlgorithm")
            .map(|e| (e.value.to_ascii_uppercase(), e))
        {
            None => KeyChoice::Rsa(length.map_or(2048, |l| l.0)),
            Some((alg, e)) => match alg.as_str() {
                "RSA" => KeyChoice::Rsa(length.map_or(2048, |l| l.0)),
                "ECDSA_P256" | "ECDSA_P384" | "ECDSA_P521" => {
                    let bits: u32 = alg[7..].parse().expect("curve size");
                    if let Some((l, line)) = length {
                        if l != bits {
                            return Err(self.inf.error(line, "KeyLength", format!("KeyLength {l} does not match KeyAlgorithm {alg}")));
                        }
                    }
                    KeyChoice::Ecdsa(bits)
                }
                "ECDSA" => KeyChoice::Ecdsa(length.map_or(256, |l| l.0)),
                "DSA" => KeyChoice::Dsa(length.map_or(1024, |l| l.0)),
                _ => return Err(self.inf.error(e.line, &e.key, format!("KeyAlgorithm {} is not supported (RSA, ECDSA_P256, ECDSA_P384, ECDSA_P521, DSA are)", e.value))),
            },
        };
        // A bad size is reported on the KeyLength line, or the section's.
        let line = length.map_or(self.section.line, |l| l.1);
        let refused = match key {
            KeyChoice::Rsa(bits) if !(1024..=4096).contains(&bits) || bits % 8 != 0 => {
                format!("RSA keys of {bits} bits are not supported (1024 to 4096, a multiple of 8)")
            }
            KeyChoice::Ecdsa(bits) if ![256, 384, 521].contains(&bits) => {
                format!("no ECDSA curve of {bits} bits (256, 384, 521)")
            }
            KeyChoice::Dsa(bits) if ![1024, 2048, 3072].contains(&bits) => {
                format!("DSA keys of {bits} bits are not supported (1024, 2048, 3072)")
            }
            _ => return Ok(key),
        };
        Err(self.inf.error(line, "KeyLength", refused))
    }

    /// `HashAlgorithm`; SHA-256 unless the key is a DSS one.
    fn hash(&self, key: KeyChoice) -> Result<HashChoice, InfError> {
        Ok(match self.get("HashAlgorithm") {
            // The DSS CSPs sign with SHA-1 only.
            None if matches!(key, KeyChoice::Dsa(1024)) => HashChoice::Sha1,
            None => HashChoice::Sha256,
            Some(e) => match e.value.to_ascii_lowercase().replace('-', "").as_str() {
                "sha1" => HashChoice::Sha1,
                "sha256" => HashChoice::Sha256,
                "sha384" => HashChoice::Sha384,
                "sha512" => HashChoice::Sha512,
                _ => {
                    return Err(self.inf.error(
                        e.line,
                        &e.key,
                        format!(
                            "HashAlgorithm {} is not supported (sha1, sha256, sha384, sha512 are)",
                            e.value
                        ),
                    ))
                }
            },
        })
    }

    /// `KeySpec`, or what the provider and key type imply.
    fn key_spec(&self, key: KeyChoice, provider_name: Option<&str>) -> Result<u32, InfError> {
        let ksp = provider_name.is_some_and(|p| p.contains("Key Storage Provider"));
        Ok(self.flags("KeySpec", KEY_SPEC_NAMES)?.unwrap_or(match key {
            _ if ksp => 0,
            // DSS keys sign only (AT_SIGNATURE).
            KeyChoice::Dsa(_) => 2,
            _ => 1,
        }))
    }

    /// `KeyUsage` flags, which must fit the extension's 16 bits.
    fn key_usage(&self) -> Result<Option<u16>, InfError> {
        match self.flags("KeyUsage", KEY_USAGE_NAMES)? {
            Some(ku) if ku > 0xffff => {
                let e = self.get("KeyUsage").expect("present");
                Err(self
                    .inf
                    .error(e.line, &e.key, format!("0x{ku:x} is not a key usage")))
            }
            ku => Ok(ku.map(|k| k as u16)),
        }
    }

    /// `ValidityPeriodUnits` × `ValidityPeriod`, in days.
    fn validity_days(&self) -> Result<Option<u32>, InfError> {
        let (period, units) = match (
            self.get("ValidityPeriod"),
            self.number("ValidityPeriodUnits")?,
        ) {
            (None, None) => return Ok(None),
            pair => pair,
        };
        let n = units.map_or(1, |u| u.0);
        let per = match period.map(|e| (e.value.to_ascii_lowercase(), e)) {
            None => 365,
            Some((p, e)) => match p.trim_end_matches('s') {
                "year" => 365,
                "month" => 30,
                "week" => 7,
                "day" => 1,
                _ => {
                    return Err(self.inf.error(
                        e.line,
                        &e.key,
                        format!(
                            "ValidityPeriod `{}` is not Years, Months, Weeks or Days",
                            e.value
                        ),
                    ))
                }
            },
        };
        Ok(Some(n.saturating_mul(per)))
    }

    /// `Subject` must be a distinguished name.
    fn check_subject(&self) -> Result<(), InfError> {
        if let Some(e) = self.get("Subject") {
            adcs_proto::names::parse_dn(&e.value).map_err(|err| {
                self.inf.error(
                    e.line,
                    &e.key,
                    format!("`{}` is not a distinguished name: {}", e.value, err.reason),
                )
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<RequestSpec, InfError> {
        RequestSpec::from_inf(&Inf::parse("t.inf", text.as_bytes()).unwrap())
    }

    #[test]
    fn flags_numbers_and_booleans() {
        let s = spec("[NewRequest]\nKeyUsage = \"CERT_DIGITAL_SIGNATURE_KEY_USAGE | CERT_KEY_ENCIPHERMENT_KEY_USAGE\"\nKeySpec=AT_SIGNATURE\nExportable=True\nMachineKeySet=FALSE\nProviderType=0xc\nKeyUsageProperty=NCRYPT_ALLOW_SIGNING_FLAG|1").unwrap();
        assert_eq!(
            (s.key_usage, s.key_spec, s.exportable, s.machine_key_set),
            (Some(0xa0), 2, true, false)
        );
        assert_eq!((s.provider_type, s.key_usage_property), (Some(12), Some(3)));
        let e = spec("[NewRequest]\nSubject=CN=x\nExportable=maybe").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.inf: line 3: Exportable: `maybe` is not true or false"
        );
        let e = spec("[NewRequest]\nKeyUsage=CERT_BOGUS_USAGE").unwrap_err();
        assert!(e
            .to_string()
            .contains("line 2: KeyUsage: unknown flag `CERT_BOGUS_USAGE`"));
    }

    #[test]
    fn refusals_name_line_and_key() {
        let e = spec("[NewRequest]\nSubject=CN=x\n[Extensions]\nOID = 1.3.6.1.5.5.7.3.1\n")
            .unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e
            .to_string()
            .contains("0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)"));
        assert!(spec("[NewRequest]\nRequestType=CMC")
            .unwrap_err()
            .message
            .contains("not supported"));
        assert!(spec("[NewRequest]\nKeyAlgorithm=DSA\nKeyLength=1536")
            .unwrap_err()
            .message
            .contains("DSA keys of 1536 bits"));
        assert!(spec("[NewRequest]\nKeyAlgorithm=ECC")
            .unwrap_err()
            .message
            .contains("ECC is not supported"));
        let dsa = spec("[NewRequest]\nKeyAlgorithm=DSA").unwrap();
        assert_eq!(
            (dsa.key, dsa.hash),
            (KeyChoice::Dsa(1024), HashChoice::Sha1)
        );
        assert!(spec("[NewRequest]\nKeyLength=512")
            .unwrap_err()
            .message
            .contains("512 bits"));
        assert!(spec("[NewRequest]\nKeyAlgorithm=ECDSA_P384\nKeyLength=256")
            .unwrap_err()
            .message
            .contains("does not match"));
        assert!(spec("[Extensions]\n2.5.29.17={text}dns=x")
            .unwrap_err()
            .message
            .contains("certreq -policy"));
        assert!(spec("[NewRequest]\n")
            .unwrap_err()
            .message
            .contains("at least one key"));
        assert!(Inf::parse("t.inf", b"[NewRequest\nx=1").is_err());
        // A multi-byte character where `{text}` would end (found by the
        // inf fuzz target): an ordinary value, not a panic.
        for value in ["{text\u{fffd}}", "{te\u{e9}xt}"] {
            let e = spec(&format!(
                "[NewRequest]\nSubject=\"CN=a\"\n[Extensions]\n2.5.29.17 = \"{value}\""
            ))
            .unwrap_err();
            assert_eq!(e.line, Some(4));
            assert!(e.message.contains("neither {text} nor base64 DER"), "{e}");
        }
    }

    #[test]
    fn typographic_quotes_and_unknown_keys_are_warnings() {
        let s = spec("[NewRequest]\nSubject=\u{201d}CN=server.contoso.com\u{201d}\nKey Exportable = TRUE  ; comment\n").unwrap();
        assert_eq!(s.subject, "CN=server.contoso.com");
        assert!(!s.exportable);
        assert_eq!(s.warnings.len(), 2);
        assert!(s.warnings[0]
            .to_string()
            .starts_with("t.inf: line 2: warning: typographic quotes"));
        assert!(
            s.warnings[1].message.contains("`Key Exportable`")
                && s.warnings[1]
                    .message
                    .contains("the key will NOT be exportable")
                && s.warnings[1].message.contains("write `Exportable = TRUE`"),
            "{}",
            s.warnings[1]
        );
        // With `Exportable = TRUE` beside it, the slip changes nothing.
        let s = spec("[NewRequest]\nKey Exportable = TRUE\nExportable = TRUE\n").unwrap();
        assert!(s.exportable);
        assert!(s.warnings[0].message.contains("did you mean `Exportable`?"));
        let s = spec("[NewRequest]\nExportableEncrypted = TRUE\n").unwrap();
        assert!(s.exportable && s.warnings.is_empty());
    }
}
