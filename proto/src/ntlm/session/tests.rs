//! Vectors made with impacket 0.13.1's `ntlm.SEAL`/`ntlm.SIGN` (the code
//! Certipy's RPC client signs and seals with), key 00..0f, flags e0080030.

use super::*;
fn unhex(s: &str) -> Vec<u8> {
    crate::hex::unhex(s).expect("hex")
}

const FLAGS: u32 = 0xe008_0030;

fn key() -> [u8; 16] {
    std::array::from_fn(|i| i as u8)
}

#[test]
fn client_seals_then_signs_as_impacket_does() {
    let mut client = Session::new(&key(), FLAGS, Role::Client).unwrap();
    let mut m = b"header+stub one".to_vec();
    let sig = client.seal(&mut m, 7..15);
    assert_eq!(&m[..7], b"header+");
    assert_eq!(m[7..].to_vec(), unhex("0776ee31512e3367"));
    assert_eq!(sig.to_vec(), unhex("01000000d58b51c6f0a434e000000000"));
    // The same RC4 stream and the next sequence number sign the next one.
    let sig = client.sign(b"second message to sign");
    assert_eq!(sig.to_vec(), unhex("01000000b574c467c76fae7101000000"));
}

#[test]
fn server_unseals_and_checks_what_the_client_sent() {
    let mut server = Session::new(&key(), FLAGS, Role::Server).unwrap();
    let mut m = b"header+".to_vec();
    m.extend(unhex("0776ee31512e3367"));
    server
        .unseal(&mut m, 7..15, &unhex("01000000d58b51c6f0a434e000000000"))
        .unwrap();
    assert_eq!(m, b"header+stub one");
    server
        .verify(
            b"second message to sign",
            &unhex("01000000b574c467c76fae7101000000"),
        )
        .unwrap();
}

#[test]
fn server_seals_its_reply_as_impacket_expects() {
    let mut server = Session::new(&key(), FLAGS, Role::Server).unwrap();
    let mut m = b"server reply".to_vec();
    let sig = server.seal(&mut m, 7..12);
    assert_eq!(m[7..].to_vec(), unhex("230aafe1c8"));
    assert_eq!(sig.to_vec(), unhex("010000009b74990b21214a6700000000"));
    let mut client = Session::new(&key(), FLAGS, Role::Client).unwrap();
    client.unseal(&mut m, 7..12, &sig).unwrap();
    assert_eq!(m, b"server reply");
}

#[test]
fn a_changed_byte_or_a_replayed_signature_is_refused() {
    let mut server = Session::new(&key(), FLAGS, Role::Server).unwrap();
    let mut m = b"Header+".to_vec();
    m.extend(unhex("0776ee31512e3367"));
    let sig = unhex("01000000d58b51c6f0a434e000000000");
    assert_eq!(
        server.unseal(&mut m, 7..15, &sig),
        Err(NtlmError::BadSignature)
    );
    // Sequence number 0 was used up: the same signature again fails.
    let mut server = Session::new(&key(), FLAGS, Role::Server).unwrap();
    let mut client = Session::new(&key(), FLAGS, Role::Client).unwrap();
    let sig = client.sign(b"once");
    server.verify(b"once", &sig).unwrap();
    assert_eq!(server.verify(b"once", &sig), Err(NtlmError::BadSignature));
}

#[test]
fn without_extended_session_security_there_is_no_session() {
    assert_eq!(
        Session::new(
            &key(),
            FLAGS & !flags::EXTENDED_SESSIONSECURITY,
            Role::Server
        )
        .err(),
        Some(NtlmError::NoSessionSecurity)
    );
}
