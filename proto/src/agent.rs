//! Enrollment on behalf of another account, as Windows enrollment stations
//! and `certipy req -on-behalf-of` send it: a PKCS#10 inside PKCS#7
//! SignedData, signed by an enrollment agent's certificate, whose signed
//! attributes name the account in a `requestername` name-value pair
//! (1.3.6.1.4.1.311.13.2.1). Read for the CA, built for clients and tests.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::{Any, BmpString, SetOfVec};
use der::Decode;

use crate::protocol::oid;
use crate::scep::message::{attribute, octets, sign_data, signed_by};
use crate::signer::Signer;

/// An enrollment agent's signature on a request and whom it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnBehalfOf {
    /// The account the certificate is for (`CONTOSO\Administrator`).
    pub requester_name: String,
    /// The signer's certificate (DER): the agent's.
    pub agent_certificate: Vec<u8>,
    /// Whether the agent's signature over the request holds.
    pub signature_valid: bool,
}

#[derive(der::Sequence)]
struct NameValuePair {
    name: BmpString,
    value: BmpString,
}

/// The text of a BMPString, without the NUL Certipy and Windows append.
fn text(s: &BmpString) -> String {
    s.to_string().trim_end_matches('\0').trim().to_string()
}

/// What a PKCS#7 ContentInfo says of an agent: `None` unless it is
/// SignedData whose first signer's attributes name a `requestername` (a
/// renewal's PKCS#7 names none).
pub fn read(der: &[u8]) -> Option<OnBehalfOf> {
    let info = ContentInfo::from_der(der).ok()?;
    if info.content_type != oid::PKCS7_SIGNED_DATA {
        return None;
    }
    let sd: SignedData = info.content.decode_as().ok()?;
    let signed = signed_by(&sd)?;
    let requester_name = signed
        .attributes
        .iter()
        .filter(|a| a.oid == oid::ENROLLMENT_NAME_VALUE_PAIR)
        .flat_map(|a| a.values.iter())
        .filter_map(|v| v.decode_as::<NameValuePair>().ok())
        .find(|p| text(&p.name).eq_ignore_ascii_case("requestername"))
        .map(|p| text(&p.value))
        .filter(|n| !n.is_empty())?;
    Some(OnBehalfOf {
        requester_name,
        agent_certificate: signed.certificate,
        signature_valid: signed.valid,
    })
}

/// The request `csr` (PKCS#10 DER) signed by the agent (`agent_cert`,
/// `key`) on behalf of `requester_name`, as Certipy builds it: the
/// name-value pair and the messageDigest as signed attributes.
pub fn sign(
    csr: &[u8],
    requester_name: &str,
    agent_cert: &[u8],
    key: &dyn Signer,
) -> Result<Vec<u8>, crate::scep::ScepError> {
    let attributes = |digest: &[u8]| {
        let pair = NameValuePair {
            name: BmpString::from_utf8("requestername")?,
            value: BmpString::from_utf8(requester_name)?,
        };
        SetOfVec::try_from(vec![
            attribute(oid::ENROLLMENT_NAME_VALUE_PAIR, Any::encode_from(&pair)?)?,
            attribute(crate::scep::oid::MESSAGE_DIGEST, octets(digest)?)?,
        ])
    };
    sign_data(Some(csr), attributes, agent_cert, key, &[])
}
