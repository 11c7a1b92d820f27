//! Messages both ways: a client's PKCSReq read by NDES, a CertRep read by
//! the client, tampering and garbage.

use super::envelope::{self, EnvelopeError};
use super::*;
use crate::names::parse_dn;
use crate::x509::{build_certificate, CertificateSpec};
use crate::Signer;
use rand_core::SeedableRng;
use spki::AlgorithmIdentifierOwned;

/// An RSA key that signs with SHA-256, and its self-signed certificate.
struct TestKey {
    private: rsa::PrivateKey,
    spki: Vec<u8>,
    cert: Vec<u8>,
}

impl Signer for TestKey {
    fn spki_der(&self) -> &[u8] {
        &self.spki
    }
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: crate::protocol::oid::SHA256_WITH_RSA,
            parameters: Some(der::asn1::Any::null()),
        }
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let scheme = rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha256>();
        let hashed = Digest::Sha256.hash(msg);
        self.private.sign(scheme, &hashed).expect("RSA signature")
    }
}

impl TestKey {
    /// The key as an envelope's recipient opens with it.
    fn recipient(&self) -> envelope::RecipientKey {
        envelope::RecipientKey::from(self.private.clone())
    }
}

fn key(label: &str) -> TestKey {
    key_of(label, 1024)
}

fn key_of(label: &str, bits: usize) -> TestKey {
    use rsa::pkcs8::EncodePublicKey;
    let mut rng = crate::Seed(7).rng(label);
    let private = rsa::PrivateKey::new(&mut rng, bits).unwrap();
    let spki = private
        .to_public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let mut k = TestKey {
        private,
        spki,
        cert: Vec::new(),
    };
    let name = parse_dn(&format!("CN={label}")).unwrap();
    let spec = CertificateSpec {
        serial: &[0x01, label.len() as u8],
        issuer: &name,
        subject: &name,
        not_before: 1_767_225_600,
        not_after: 1_798_761_600,
        spki_der: &k.spki,
        extensions: Vec::new(),
    };
    k.cert = build_certificate(&spec, &k).unwrap();
    k
}

fn request(envelope: Vec<u8>) -> Outgoing {
    Outgoing {
        message_type: MessageType::PkcsReq,
        transaction_id: "4D2A9C".into(),
        sender_nonce: vec![7; 16],
        recipient_nonce: None,
        status: None,
        fail_info: None,
        envelope: Some(envelope),
    }
}

#[test]
fn a_request_reads_back_and_opens_with_every_cipher() {
    let (client, ra) = (key("client"), key("ra-encrypt"));
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
    for cipher in [
        Cipher::Des,
        Cipher::TripleDes,
        Cipher::Aes128,
        Cipher::Aes192,
        Cipher::Aes256,
    ] {
        let env =
            envelope::seal(b"the PKCS#10", &[&client.cert, &ra.cert], cipher, &mut rng).unwrap();
        let wire = request(env).sign(&client.cert, &client, &[]).unwrap();
        let m = PkiMessage::parse(&wire).unwrap();
        assert!(m.signature_valid, "{cipher:?}");
        assert_eq!(m.message_type, MessageType::PkcsReq);
        assert_eq!(m.transaction_id, "4D2A9C");
        assert_eq!(m.sender_nonce, vec![7; 16]);
        assert_eq!((m.status, m.recipient_nonce.clone()), (None, None));
        assert_eq!(m.digest, Digest::Sha256);
        assert_eq!(m.signer, client.cert);
        let env = m.envelope.unwrap();
        let opened = envelope::open(&env, &ra.cert, &ra.recipient()).unwrap();
        assert_eq!(opened, (b"the PKCS#10".to_vec(), cipher));
    }
}

#[test]
fn a_failure_reply_carries_status_fail_info_and_no_content() {
    let ra = key("ra-sign");
    let reply = Outgoing {
        message_type: MessageType::CertRep,
        transaction_id: "T1".into(),
        sender_nonce: vec![1; 16],
        recipient_nonce: Some(vec![2; 16]),
        status: Some(PkiStatus::Failure),
        fail_info: Some(FailInfo::BadRequest),
        envelope: None,
    };
    let m = PkiMessage::parse(&reply.sign(&ra.cert, &ra, &[]).unwrap()).unwrap();
    assert!(m.signature_valid);
    assert_eq!(m.status, Some(PkiStatus::Failure));
    assert_eq!(m.fail_info, Some(FailInfo::BadRequest));
    assert_eq!(m.recipient_nonce, Some(vec![2; 16]));
    assert!(m.envelope.is_none());
}

#[test]
fn tampering_and_wrong_recipients_are_caught() {
    let (client, ra, other) = (key("client"), key("ra-encrypt"), key("someone-else"));
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([2; 32]);
    let env = envelope::seal(b"csr", &[&ra.cert], Cipher::TripleDes, &mut rng).unwrap();
    // Encrypted to the RA only: another certificate is not a recipient.
    assert_eq!(
        envelope::open(&env, &other.cert, &other.recipient()),
        Err(EnvelopeError::NotForUs)
    );
    let wire = request(env.clone())
        .sign(&client.cert, &client, &[])
        .unwrap();
    // Flip one byte inside the encrypted content: the digest no longer matches.
    let at = wire
        .windows(env.len())
        .position(|w| w == env.as_slice())
        .unwrap()
        + env.len()
        - 3;
    let mut bad = wire.clone();
    bad[at] ^= 1;
    let m = PkiMessage::parse(&bad).unwrap();
    assert!(!m.signature_valid);
    // Signed by one key but carrying another's certificate.
    let mut forged = request(env).sign(&client.cert, &other, &[]).unwrap();
    assert!(!PkiMessage::parse(&forged).unwrap().signature_valid);
    forged.truncate(forged.len() / 2);
    assert!(PkiMessage::parse(&forged).is_err());
}

#[test]
fn garbage_is_malformed_never_a_panic() {
    let client = key("client");
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
    let env = envelope::seal(b"x", &[&client.cert], Cipher::Aes128, &mut rng).unwrap();
    let wire = request(env.clone())
        .sign(&client.cert, &client, &[])
        .unwrap();
    for n in (0..wire.len()).step_by(5) {
        assert!(PkiMessage::parse(&wire[..n]).is_err(), "prefix {n}");
    }
    for n in 0..env.len() {
        let _ = envelope::open(&env[..n], &client.cert, &client.recipient());
    }
    for junk in [&b""[..], b"\x30\x00", b"\x30\x80\x00\x00", &[0xff; 40]] {
        assert!(matches!(
            PkiMessage::parse(junk),
            Err(ScepError::Malformed(_))
        ));
        assert!(envelope::open(junk, &client.cert, &client.recipient()).is_err());
    }
}

/// Go's pkcs7 (micromdm's scepclient) sends the encrypted content as a
/// constructed `[0]` of OCTET STRING chunks; it opens like the DER form.
#[test]
fn constructed_encrypted_content_opens() {
    use cms::content_info::ContentInfo;
    use der::asn1::{Any, OctetString};
    use der::{Decode, Encode, Tag, TagNumber};
    let device = key("device");
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([4; 32]);
    let sealed = envelope::seal(b"a PKCS#10", &[&device.cert], Cipher::Aes128, &mut rng).unwrap();
    let info = ContentInfo::from_der(&sealed).unwrap();
    let mut data: envelope::LenientEnvelopedData = info.content.decode_as().unwrap();
    let body = data.encrypted_content.encrypted_content.as_ref().unwrap();
    let octets = envelope::encrypted_octets(body).unwrap();
    let (a, b) = octets.split_at(5);
    let mut chunks = OctetString::new(a).unwrap().to_der().unwrap();
    chunks.extend(OctetString::new(b).unwrap().to_der().unwrap());
    let tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    data.encrypted_content.encrypted_content = Some(Any::new(tag, chunks).unwrap());
    let go_style = ContentInfo {
        content_type: info.content_type,
        content: Any::encode_from(&data).unwrap(),
    }
    .to_der()
    .unwrap();
    assert_ne!(go_style, sealed);
    let opened = envelope::open(&go_style, &device.cert, &device.recipient()).unwrap();
    assert_eq!(opened, (b"a PKCS#10".to_vec(), Cipher::Aes128));
}

#[test]
fn a_recipient_key_opens_in_aws_lc_from_2048_bits_and_in_the_rsa_crate_below() {
    use rsa::pkcs8::EncodePrivateKey;
    let mut rng = crate::Seed(7).rng("recipient");
    for (bits, in_aws_lc) in [(2048, true), (1024, false)] {
        let k = key_of(&format!("recipient-{bits}"), bits);
        let pkcs8 = k.private.to_pkcs8_der().unwrap();
        let r = envelope::RecipientKey::from_pkcs8(pkcs8.as_bytes()).unwrap();
        assert_eq!(
            matches!(r, envelope::RecipientKey::AwsLc(_)),
            in_aws_lc,
            "{bits}"
        );
        let env = envelope::seal(b"the PKCS#10", &[&k.cert], Cipher::Aes128, &mut rng).unwrap();
        let opened = envelope::open(&env, &k.cert, &r).unwrap();
        assert_eq!(opened, (b"the PKCS#10".to_vec(), Cipher::Aes128), "{bits}");
    }
    assert!(matches!(
        envelope::RecipientKey::from_pkcs8(b"not a key"),
        Err(EnvelopeError::Key(_))
    ));
}
