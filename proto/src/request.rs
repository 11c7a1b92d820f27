//! Submitted requests: every shape clients send (PEM with any label, CRLF, LF
//! or no line breaks, header glued to the body, bare base64, DER), PKCS#10
//! with the Microsoft attributes certreq adds, and the PKCS#7 wrapper of a
//! certreq renewal. Anything else becomes a typed error carrying the HRESULT
//! the CA records; nothing here panics on input.

use base64::Engine;
use der::asn1::{Any, BmpString, Ia5String, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::CertReq;

use crate::protocol::{disposition_message, oid, HResult};
use crate::public_key::PublicKeyKind;
use crate::x509::{parse_san, SanEntry, TemplateV2};

/// Larger submissions are refused before parsing.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Why a request was refused, with what the CA records for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub hresult: HResult,
    /// The disposition message stored in the row and shown on the page.
    pub message: String,
}

impl RequestError {
    fn parsing(hresult: HResult) -> Self {
        RequestError {
            hresult,
            message: format!(
                "{} {}",
                disposition_message::ERROR_PARSING,
                hresult.status_text()
            ),
        }
    }
}

/// How the request reached the CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RequestFormat {
    Pkcs10,
    /// A PKCS#10 inside PKCS#7 SignedData, as `certreq -renew` sends it.
    Pkcs7Renewal,
}

/// szOID_ENROLLMENT_CSP_PROVIDER contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CspInfo {
    pub key_spec: i64,
    pub provider: String,
}

/// szOID_REQUEST_CLIENT_INFO contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub client_id: i64,
    pub machine: String,
    pub user: String,
    pub process: String,
}

/// How a request names its template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateRef {
    Name(String),
    Oid { oid: String, major: u32, minor: u32 },
}

/// A parsed, signature-checked request.
#[derive(Clone, Debug)]
pub struct ParsedRequest {
    /// The PKCS#10 DER (unwrapped when it came inside PKCS#7).
    pub der: Vec<u8>,
    pub format: RequestFormat,
    pub subject: Name,
    pub spki_der: Vec<u8>,
    pub key: PublicKeyKind,
    pub extensions: Vec<Extension>,
    pub name_value_pairs: Vec<(String, String)>,
    pub os_version: Option<String>,
    pub csp: Option<CspInfo>,
    pub client_info: Option<ClientInfo>,
    /// The PKCS#9 challengePassword (what NDES checks).
    pub challenge_password: Option<String>,
    /// An enrollment agent's signature naming the account the request is
    /// for, when it came signed on another's behalf.
    pub on_behalf_of: Option<crate::agent::OnBehalfOf>,
}

impl ParsedRequest {
    /// A requested extension by OID.
    pub fn extension(&self, id: ObjectIdentifier) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.extn_id == id)
    }

    /// The template named by the request's extensions, if any.
    pub fn template_ref(&self) -> Option<TemplateRef> {
        if let Some(e) = self.extension(oid::TEMPLATE_V2) {
            if let Ok(t) = TemplateV2::from_der(e.extn_value.as_bytes()) {
                return Some(TemplateRef::Oid {
                    oid: t.oid.to_string(),
                    major: t.major,
                    minor: t.minor,
                });
            }
        }
        let e = self.extension(oid::TEMPLATE_NAME)?;
        let name = BmpString::from_der(e.extn_value.as_bytes()).ok()?;
        Some(TemplateRef::Name(name.to_string()))
    }

    /// The requested subject alternative names.
    pub fn san(&self) -> Vec<SanEntry> {
        self.extension(oid::SUBJECT_ALT_NAME)
            .and_then(|e| parse_san(e.extn_value.as_bytes()).ok())
            .unwrap_or_default()
    }

    /// The value of a `[RequestAttributes]` pair (names are case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.name_value_pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Turns submitted bytes into DER: DER as is; otherwise PEM with any label or
/// bare base64, with any line breaks, a header glued to the body, and a `+`
/// that form decoding turned into a space put back.
pub fn decode_request_bytes(input: &[u8]) -> Result<Vec<u8>, RequestError> {
    if input.len() > MAX_REQUEST_BYTES {
        return Err(RequestError {
            hresult: HResult::INVALID_DATA,
            message: format!(
                "{} The request is {} bytes; the limit is {MAX_REQUEST_BYTES}. {}",
                disposition_message::ERROR_PARSING,
                input.len(),
                HResult::INVALID_DATA.status_text()
            ),
        });
    }
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let text =
        std::str::from_utf8(input).map_err(|_| RequestError::parsing(HResult::INVALID_DATA))?;
    let mut body = text.trim();
    if let Some(start) = body.find("-----BEGIN") {
        let after = &body[start + "-----BEGIN".len()..];
        let header_end = after
            .find("-----")
            .ok_or_else(|| RequestError::parsing(HResult::INVALID_DATA))?;
        body = &after[header_end + 5..];
        if let Some(end) = body.find("-----END") {
            body = &body[..end];
        }
    }
    let cleaned: String = body
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\t'))
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    if cleaned.is_empty() {
        return Err(RequestError::parsing(HResult::ASN1_EOD));
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    engine
        .decode(&cleaned)
        .map_err(|_| RequestError::parsing(HResult::INVALID_DATA))
}

fn der_error(e: der::Error) -> RequestError {
    match e.kind() {
        der::ErrorKind::Incomplete { .. } | der::ErrorKind::Length { .. } => {
            RequestError::parsing(HResult::ASN1_EOD)
        }
        _ => RequestError::parsing(HResult::ASN1_BADTAG),
    }
}

#[derive(der::Sequence)]
struct EncapContentInfo {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    content: Option<OctetString>,
}

/// Unwraps a PKCS#7 `ContentInfo`: a PKCS#10 carried as id-data (certreq
/// renewal) comes back; CMC is refused clearly.
fn unwrap_pkcs7(der: &[u8]) -> Result<Option<Vec<u8>>, RequestError> {
    let Ok(outer) = Vec::<Any>::from_der(der) else {
        return Ok(None);
    };
    let Some(first) = outer.first() else {
        return Ok(None);
    };
    let Ok(content_type) = first.decode_as::<ObjectIdentifier>() else {
        return Ok(None);
    };
    if content_type != oid::PKCS7_SIGNED_DATA || outer.len() != 2 {
        return Err(RequestError::parsing(HResult::ASN1_BADTAG));
    }
    let signed = Vec::<Any>::from_der(outer[1].value()).map_err(der_error)?;
    let encap = signed
        .get(2)
        .ok_or_else(|| RequestError::parsing(HResult::ASN1_BADTAG))
        .and_then(|a| a.decode_as::<EncapContentInfo>().map_err(der_error))?;
    if encap.content_type == oid::CMC_PKI_DATA {
        return Err(RequestError {
            hresult: HResult::NOT_SUPPORTED,
            message: format!(
                "{} CMC requests are not supported by this CA; submit a PKCS#10 request. {}",
                disposition_message::ERROR_PARSING,
                HResult::NOT_SUPPORTED.status_text()
            ),
        });
    }
    if encap.content_type != oid::PKCS7_DATA {
        return Err(RequestError::parsing(HResult::ASN1_BADTAG));
    }
    let inner = encap
        .content
        .ok_or_else(|| RequestError::parsing(HResult::ASN1_EOD))?;
    Ok(Some(inner.as_bytes().to_vec()))
}

#[derive(der::Sequence)]
struct NameValuePair {
    name: BmpString,
    value: BmpString,
}

#[derive(der::Sequence)]
struct CspProvider {
    key_spec: i64,
    provider: BmpString,
    signature: der::asn1::BitString,
}

/// Encoders for the Windows request attributes, the inverse of the parser
/// above (shapes in certreq-scom.md §2.2), for clients that build requests.
pub mod attribute_value {
    use super::*;

    fn bmp(s: &str) -> Result<BmpString, der::Error> {
        BmpString::from_utf8(s)
    }

    /// szOID_OS_VERSION: IA5String `major.minor.build.platform`.
    pub fn os_version(version: &str) -> Result<Any, der::Error> {
        Any::encode_from(&Ia5String::new(version)?)
    }

    /// One `[RequestAttributes]` pair.
    pub fn name_value_pair(name: &str, value: &str) -> Result<Any, der::Error> {
        Any::encode_from(&NameValuePair {
            name: bmp(name)?,
            value: bmp(value)?,
        })
    }

    /// szOID_ENROLLMENT_CSP_PROVIDER with the empty signature Windows sends.
    pub fn csp_provider(key_spec: i64, provider: &str) -> Result<Any, der::Error> {
        Any::encode_from(&CspProvider {
            key_spec,
            provider: bmp(provider)?,
            signature: der::asn1::BitString::from_bytes(&[])?,
        })
    }

    /// szOID_REQUEST_CLIENT_INFO.
    pub fn client_info(info: &ClientInfo) -> Result<Any, der::Error> {
        let parts: Vec<Any> = vec![
            Any::encode_from(&info.client_id)?,
            Any::encode_from(&der::asn1::Utf8StringRef::new(&info.machine)?)?,
            Any::encode_from(&der::asn1::Utf8StringRef::new(&info.user)?)?,
            Any::encode_from(&der::asn1::Utf8StringRef::new(&info.process)?)?,
        ];
        Any::from_der(&parts.to_der()?)
    }
}

fn decode_client_info(any: &Any) -> Option<ClientInfo> {
    let parts = Vec::<Any>::from_der(&any.to_der().ok()?).ok()?;
    let client_id = parts.first()?.decode_as::<i64>().ok()?;
    let text = |i: usize| -> String {
        parts
            .get(i)
            .map(|a| String::from_utf8_lossy(a.value()).into_owned())
            .unwrap_or_default()
    };
    Some(ClientInfo {
        client_id,
        machine: text(1),
        user: text(2),
        process: text(3),
    })
}

/// Parses a submission (any accepted encoding) into a verified request.
pub fn parse_request(input: &[u8]) -> Result<ParsedRequest, RequestError> {
    let mut der = decode_request_bytes(input)?;
    let mut format = RequestFormat::Pkcs10;
    let mut on_behalf_of = None;
    if let Some(inner) = unwrap_pkcs7(&der)? {
        on_behalf_of = crate::agent::read(&der);
        der = inner;
        format = RequestFormat::Pkcs7Renewal;
    }
    let req = CertReq::from_der(&der).map_err(der_error)?;
    let info = &req.info;
    let spki_der = info.public_key.to_der().map_err(der_error)?;
    let key = PublicKeyKind::of_spki(&spki_der).map_err(der_error)?;

    let mut extensions = Vec::new();
    let mut name_value_pairs = Vec::new();
    let mut os_version = None;
    let mut csp = None;
    let mut client_info = None;
    let mut challenge_password = None;
    for attr in info.attributes.iter() {
        let values = attr.values.iter();
        if attr.oid == oid::EXTENSION_REQUEST || attr.oid == oid::MS_CERT_EXTENSIONS {
            for v in values {
                let list = v.decode_as::<Vec<Extension>>().map_err(der_error)?;
                extensions.extend(list);
            }
        } else if attr.oid == oid::ENROLLMENT_NAME_VALUE_PAIR {
            for v in values {
                if let Ok(p) = v.decode_as::<NameValuePair>() {
                    name_value_pairs.push((p.name.to_string(), p.value.to_string()));
                }
            }
        } else if attr.oid == oid::OS_VERSION {
            os_version = attr
                .values
                .iter()
                .next()
                .and_then(|v| v.decode_as::<Ia5String>().ok())
                .map(|s| s.to_string());
        } else if attr.oid == oid::ENROLLMENT_CSP_PROVIDER {
            csp = attr
                .values
                .iter()
                .next()
                .and_then(|v| v.decode_as::<CspProvider>().ok())
                .map(|c| CspInfo {
                    key_spec: c.key_spec,
                    provider: c.provider.to_string(),
                });
        } else if attr.oid == oid::REQUEST_CLIENT_INFO {
            client_info = attr.values.iter().next().and_then(decode_client_info);
        } else if attr.oid == oid::CHALLENGE_PASSWORD {
            challenge_password = attr.values.iter().next().and_then(directory_string);
        }
    }

    match key {
        PublicKeyKind::Rsa { .. } | PublicKeyKind::Ec { .. } => {}
        PublicKeyKind::Dsa { .. } | PublicKeyKind::Other { .. } => {
            return Err(RequestError {
                hresult: HResult::NTE_BAD_ALGID,
                message: format!(
                    "{}  0x{:x}, The request's public key algorithm is not supported by this CA ({}).",
                    disposition_message::DENIED_BY_POLICY,
                    HResult::NTE_BAD_ALGID.0,
                    match &key {
                        PublicKeyKind::Dsa { .. } => "DSA".to_string(),
                        other => format!("{other:?}"),
                    }
                ),
            });
        }
    }
    if !crate::x509::verify_signed(&der, &spki_der) {
        return Err(RequestError {
            hresult: HResult::NTE_BAD_SIGNATURE,
            message: format!(
                "Error Verifying Request Signature {}",
                HResult::NTE_BAD_SIGNATURE.status_text()
            ),
        });
    }
    // Nothing may follow the request.
    if der.len() != req.to_der().map(|d| d.len()).unwrap_or(0) {
        return Err(RequestError::parsing(HResult::ASN1_BADTAG));
    }
    Ok(ParsedRequest {
        der,
        format,
        subject: info.subject.clone(),
        spki_der,
        key,
        extensions,
        name_value_pairs,
        os_version,
        csp,
        client_info,
        challenge_password,
        on_behalf_of,
    })
}

/// A DirectoryString (Printable, UTF-8, IA5, Teletex as Latin-1, or BMP) as text.
fn directory_string(v: &Any) -> Option<String> {
    use der::Tagged;
    let bytes = v.value();
    match v.tag() {
        der::Tag::PrintableString | der::Tag::Utf8String | der::Tag::Ia5String => {
            String::from_utf8(bytes.to_vec()).ok()
        }
        der::Tag::TeletexString => Some(bytes.iter().map(|b| char::from(*b)).collect()),
        der::Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_parsing_error_not_a_panic() {
        for input in [
            &b""[..],
            b"hello",
            b"\x30\x82\x10\x00",
            b"\x30\x03\x02\x01\x05",
            b"-----BEGIN X-----",
            &[0xff; 10],
        ] {
            let e = parse_request(input).unwrap_err();
            assert!(!e.hresult.is_success());
            assert!(e.message.starts_with("Error Parsing Request"), "{e:?}");
        }
    }

    #[test]
    fn oversized_is_refused_before_parsing() {
        let e = parse_request(&vec![b'A'; MAX_REQUEST_BYTES + 1]).unwrap_err();
        assert_eq!(e.hresult, HResult::INVALID_DATA);
    }

    #[test]
    fn pem_shapes_decode_alike() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0xfb];
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let shapes = [
            format!("-----BEGIN NEW CERTIFICATE REQUEST-----\r\n{b64}\r\n-----END NEW CERTIFICATE REQUEST-----\r\n"),
            format!("-----BEGIN CERTIFICATE REQUEST-----{b64}-----END CERTIFICATE REQUEST-----"),
            b64.clone(),
            format!("{b64}\n"),
        ];
        for s in shapes {
            assert_eq!(decode_request_bytes(s.as_bytes()).unwrap(), der, "{s}");
        }
        // A '+' turned into a space by form decoding is put back.
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode([0xfb, 0xef, 0xbe]),
            "++++"
        );
        assert_eq!(
            decode_request_bytes(b"MA++++AA").unwrap(),
            decode_request_bytes(b"MA    AA").unwrap()
        );
    }
}
