//! MS-ICPR's one call, `CertServerRequest` (opnum 0 of ICertPassage), in
//! NDR 2.0: what the client sends and what the CA answers.

use super::ndr::{utf16_text, utf16z, Reader, Writer};
use super::RpcError;

/// The opnum of `CertServerRequest`.
pub const CERT_SERVER_REQUEST: u16 = 0;

/// `dwFlags` bits (MS-WCCE 2.2.2.8): how the request is encoded.
pub mod request_flags {
    /// The CA works out the encoding itself.
    pub const CR_IN_ENCODEANY: u32 = 0x0000_00ff;
    /// A retrieval by request ID (MS-WCCE 3.2.1.4.2.1: `pctbRequest` empty).
    pub const CR_IN_RETRIEVE: u32 = 0x0000_4000;
}

/// The call's `[in]` parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertServerRequest {
    pub flags: u32,
    /// The CA's name (`contoso-TEST-CA`); `None` when the pointer is NULL.
    pub authority: Option<String>,
    /// Nonzero to retrieve (or resubmit) that request.
    pub request_id: u32,
    /// `Name:Value` pairs, one per line (`CertificateTemplate:User`).
    pub attributes: String,
    /// The request (PKCS#10, PKCS#7 or CMC), DER; empty to retrieve.
    pub request: Vec<u8>,
}

/// The call's `[out]` parameters and its return value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertServerResponse {
    pub request_id: u32,
    /// A `CR_DISP_*` value; for a refused request, its HRESULT.
    pub disposition: u32,
    /// The chain as PKCS#7 (with the issued certificate), or empty.
    pub cert_chain: Vec<u8>,
    /// The issued certificate, DER, or empty.
    pub encoded_cert: Vec<u8>,
    /// The disposition message (`Issued`, `Taken Under Submission`, …).
    pub disposition_message: String,
    /// The call's HRESULT (0 unless the call itself failed).
    pub status: u32,
}

/// A CERTTRANSBLOB: `cb` then a unique pointer to `cb` bytes.
fn read_blob<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<&'a [u8], RpcError> {
    let cb = r.u32(what)?;
    if !r.pointer(what)? {
        return if cb == 0 {
            Ok(&[])
        } else {
            Err(RpcError::Malformed(what))
        };
    }
    let bytes = r.conformant_bytes(what)?;
    if bytes.len() != cb as usize {
        return Err(RpcError::Malformed(what));
    }
    Ok(bytes)
}

fn write_blob(w: &mut Writer, bytes: &[u8]) {
    w.u32(bytes.len() as u32);
    w.pointer(!bytes.is_empty());
    if !bytes.is_empty() {
        w.conformant_bytes(bytes);
    }
}

impl CertServerRequest {
    pub fn parse(stub: &[u8]) -> Result<CertServerRequest, RpcError> {
        let mut r = Reader::new(stub);
        let flags = r.u32("dwFlags")?;
        let authority = if r.pointer("pwszAuthority")? {
            Some(r.wide_string("pwszAuthority")?)
        } else {
            None
        };
        let request_id = r.u32("pdwRequestId")?;
        let attributes = utf16_text(read_blob(&mut r, "pctbAttribs")?);
        let request = read_blob(&mut r, "pctbRequest")?.to_vec();
        Ok(CertServerRequest {
            flags,
            authority,
            request_id,
            attributes,
            request,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.flags);
        w.pointer(self.authority.is_some());
        if let Some(a) = &self.authority {
            w.wide_string(a);
        }
        w.u32(self.request_id);
        let attributes = if self.attributes.is_empty() {
            Vec::new()
        } else {
            utf16z(&self.attributes)
        };
        write_blob(&mut w, &attributes);
        write_blob(&mut w, &self.request);
        w.finish()
    }

    /// A retrieval: no request bytes, a request ID.
    pub fn is_retrieval(&self) -> bool {
        self.request.is_empty() && self.request_id != 0
    }
}

impl CertServerResponse {
    pub fn parse(stub: &[u8]) -> Result<CertServerResponse, RpcError> {
        let mut r = Reader::new(stub);
        let request_id = r.u32("pdwRequestId")?;
        let disposition = r.u32("pdwDisposition")?;
        let cert_chain = read_blob(&mut r, "pctbCertChain")?.to_vec();
        let encoded_cert = read_blob(&mut r, "pctbEncodedCert")?.to_vec();
        let disposition_message = utf16_text(read_blob(&mut r, "pctbDispositionMessage")?);
        let status = r.u32("return value")?;
        Ok(CertServerResponse {
            request_id,
            disposition,
            cert_chain,
            encoded_cert,
            disposition_message,
            status,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.request_id);
        w.u32(self.disposition);
        write_blob(&mut w, &self.cert_chain);
        write_blob(&mut w, &self.encoded_cert);
        let message = if self.disposition_message.is_empty() {
            Vec::new()
        } else {
            utf16z(&self.disposition_message)
        };
        write_blob(&mut w, &message);
        w.u32(self.status);
        w.finish()
    }
}
