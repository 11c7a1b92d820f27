//! Byte formats certsrv hands out: PEM as CryptBinaryToString writes it
//! (CRLF, 64 columns, trailing CRLF) and the certs-only PKCS#7 of
//! `certnew.p7b` (certsrv-protocol.md §2.3–§2.4).

use base64::Engine;

use crate::protocol::oid;

/// PEM with CRLF line endings and 64-column lines, ending in CRLF.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::with_capacity(b64.len() + b64.len() / 32 + 64);
    s.push_str("-----BEGIN ");
    s.push_str(label);
    s.push_str("-----\r\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        s.push_str("\r\n");
    }
    s.push_str("-----END ");
    s.push_str(label);
    s.push_str("-----\r\n");
    s
}

/// Every PEM block with `label` in `text`, decoded; other blocks are skipped.
pub fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(b) = rest.find(&begin) {
        let after = &rest[b + begin.len()..];
        let Some(e) = after.find(&end) else { break };
        let body: String = after[..e].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) {
            out.push(der);
        }
        rest = &after[e + end.len()..];
    }
    out
}

/// One DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = (n as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend(&bytes[skip..]);
    }
    out.extend(content);
    out
}

fn oid_tlv(o: &der::asn1::ObjectIdentifier) -> Vec<u8> {
    tlv(0x06, o.as_bytes())
}

/// A degenerate SignedData (version 1, no digest algorithms, no signers)
/// carrying `certs` in the order given, leaf first as certsrv sends them.
/// `content` is the id-data payload: the leaf's DER for `ReqID=N`, none for
/// CA certificates. The order is kept on purpose (a DER SET OF would sort).
pub fn pkcs7_certs_only(certs: &[Vec<u8>], content: Option<&[u8]>) -> Vec<u8> {
    let mut encap = oid_tlv(&oid::PKCS7_DATA);
    if let Some(c) = content {
        encap.extend(tlv(0xa0, &tlv(0x04, c)));
    }
    let mut signed = tlv(0x02, &[1]);
    signed.extend(tlv(0x31, &[]));
    signed.extend(tlv(0x30, &encap));
    signed.extend(tlv(0xa0, &certs.concat()));
    signed.extend(tlv(0x31, &[]));
    let mut ci = oid_tlv(&oid::PKCS7_SIGNED_DATA);
    ci.extend(tlv(0xa0, &tlv(0x30, &signed)));
    tlv(0x30, &ci)
}

/// Splits one DER TLV off `b`: (tag, content, rest).
fn read_tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8]), &'static str> {
    let (&tag, b) = b.split_first().ok_or("truncated")?;
    let (&first, mut b) = b.split_first().ok_or("truncated")?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || b.len() < n {
            return Err("bad length");
        }
        let len = b[..n].iter().fold(0usize, |a, x| (a << 8) | *x as usize);
        b = &b[n..];
        len
    };
    if b.len() < len {
        return Err("truncated");
    }
    Ok((tag, &b[..len], &b[len..]))
}

/// What a certs-only PKCS#7 holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs7 {
    pub version: u8,
    pub digest_algorithms: usize,
    /// The id-data payload, if any (certsrv puts the leaf there for `ReqID=N`).
    pub content: Option<Vec<u8>>,
    /// In the order they appear (certsrv: leaf first, then up to the root).
    pub certificates: Vec<Vec<u8>>,
    pub signer_infos: usize,
}

fn count(mut set: &[u8]) -> Result<usize, &'static str> {
    let mut n = 0;
    while !set.is_empty() {
        set = read_tlv(set)?.2;
        n += 1;
    }
    Ok(n)
}

/// A PKCS#7 that could not be read: what was wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Pkcs7Error(pub &'static str);

/// Parses a certs-only PKCS#7 (DER or BER-ordered sets, as AD CS writes them).
pub fn parse_pkcs7(p7: &[u8]) -> Result<Pkcs7, Pkcs7Error> {
    read_pkcs7(p7).map_err(Pkcs7Error)
}

fn read_pkcs7(p7: &[u8]) -> Result<Pkcs7, &'static str> {
    let (tag, ci, rest) = read_tlv(p7)?;
    if tag != 0x30 || !rest.is_empty() {
        return Err("not a ContentInfo");
    }
    let (tag, content_type, ci) = read_tlv(ci)?;
    if tag != 0x06 || content_type != oid::PKCS7_SIGNED_DATA.as_bytes() {
        return Err("not SignedData");
    }
    let (_, explicit, _) = read_tlv(ci)?;
    let (_, sd, _) = read_tlv(explicit)?;
    let (_, version, sd) = read_tlv(sd)?;
    let (_, digests, sd) = read_tlv(sd)?;
    let (_, encap, mut sd) = read_tlv(sd)?;
    let (_, _data_oid, encap) = read_tlv(encap)?;
    let content = if encap.is_empty() {
        None
    } else {
        let (_, explicit, _) = read_tlv(encap)?;
        Some(read_tlv(explicit)?.1.to_vec())
    };
    let mut certificates = Vec::new();
    let mut signer_infos = 0;
    while !sd.is_empty() {
        let (tag, body, rest) = read_tlv(sd)?;
        match tag {
            0xa0 => {
                let mut set = body;
                while !set.is_empty() {
                    let rest = read_tlv(set)?.2;
                    certificates.push(set[..set.len() - rest.len()].to_vec());
                    set = rest;
                }
            }
            0xa1 => {}
            0x31 => signer_infos = count(body)?,
            _ => return Err("unexpected SignedData field"),
        }
        sd = rest;
    }
    Ok(Pkcs7 {
        version: version.first().copied().unwrap_or(0),
        digest_algorithms: count(digests)?,
        content,
        certificates,
        signer_infos,
    })
}

/// The certificates of a certs-only PKCS#7 (DER), in order.
pub fn pkcs7_certificates(p7: &[u8]) -> Result<Vec<Vec<u8>>, Pkcs7Error> {
    parse_pkcs7(p7).map(|p| p.certificates)
}

/// How a PFX is protected: AES-256 (Windows 10 1709+, Server 2019+) or the
/// 3DES/SHA-1 form older Windows needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PfxFormat {
    #[default]
    Aes256,
    Legacy3Des,
}

/// A PFX that could not be built (a certificate or key p12-keystore refused).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PfxError(pub String);

/// A PFX (PKCS#12) holding a private key (PKCS#8) with its certificate
/// chain (leaf first), under `alias` as friendly name.
pub fn pfx(
    key_pkcs8: &[u8],
    local_key_id: Vec<u8>,
    chain: &[Vec<u8>],
    alias: &str,
    password: &str,
    format: PfxFormat,
) -> Result<Vec<u8>, PfxError> {
    use p12_keystore::{
        Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
        PrivateKeyChain,
    };
    let err = |e: p12_keystore::error::Error| PfxError(e.to_string());
    let certs = chain
        .iter()
        .map(|d| Certificate::from_der(d).map_err(err))
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKey::from_der(key_pkcs8).map_err(err)?;
    let mut ks = KeyStore::new();
    ks.add_entry(
        alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, certs)),
    );
    let writer = ks.writer(password);
    let writer = match format {
        PfxFormat::Aes256 => writer,
        PfxFormat::Legacy3Des => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1),
    };
    writer.write().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_uses_crlf_and_64_columns() {
        let der: Vec<u8> = (0..=255u8).collect();
        let p = pem("CERTIFICATE", &der);
        assert!(p.starts_with("-----BEGIN CERTIFICATE-----\r\n"));
        assert!(p.ends_with("-----END CERTIFICATE-----\r\n"));
        let lines: Vec<&str> = p.split("\r\n").collect();
        assert!(lines[1..lines.len() - 3].iter().all(|l| l.len() == 64));
        assert!(!p.replace("\r\n", "").contains('\n'));
        assert_eq!(pem_blocks(&p, "CERTIFICATE"), vec![der]);
    }

    #[test]
    fn pkcs7_keeps_order_and_round_trips() {
        // Long enough to need multi-byte lengths; order deliberately unsorted.
        let a = tlv(0x30, &vec![0xbb; 300]);
        let b = tlv(0x30, &[0xaa; 3]);
        let p7 = pkcs7_certs_only(&[a.clone(), b.clone()], Some(&a));
        assert_eq!(pkcs7_certificates(&p7).unwrap(), vec![a.clone(), b.clone()]);
        let shape = parse_pkcs7(&p7).unwrap();
        assert_eq!(
            (shape.version, shape.digest_algorithms, shape.signer_infos),
            (1, 0, 0)
        );
        assert_eq!(shape.content.as_deref(), Some(&a[..]));
        let empty = pkcs7_certs_only(std::slice::from_ref(&b), None);
        assert_eq!(pkcs7_certificates(&empty).unwrap(), vec![b]);
        assert_eq!(parse_pkcs7(&empty).unwrap().content, None);
        assert!(pkcs7_certificates(&p7[..p7.len() - 1]).is_err());
    }
}
