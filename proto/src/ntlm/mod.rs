//! NTLM (MS-NLMP) messages and NTLMv2 verification, for both ends.
//!
//! The server side is a small acceptor: it answers a NEGOTIATE with a
//! CHALLENGE carrying the target info Certipy and go-ntlmssp expect, and
//! proves the password of an AUTHENTICATE by recomputing the NTLMv2
//! NTProofStr, then checks the MIC and channel bindings when present.
//! (sspi's acceptor never compares NTProofStr, so a client that drops the
//! MIC gets in with any password; see shared/docs/crates.md §6.)
//! The client side builds the same messages for our own client and tests.

use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use rc4::cipher::StreamCipher;

pub mod session;

pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// NegotiateFlags bits used here (MS-NLMP 2.2.2.5).
pub mod flags {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const OEM: u32 = 0x0000_0002;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const SIGN: u32 = 0x0000_0010;
    pub const SEAL: u32 = 0x0000_0020;
    pub const LM_KEY: u32 = 0x0000_0080;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ANONYMOUS: u32 = 0x0000_0800;
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const N128: u32 = 0x2000_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const N56: u32 = 0x8000_0000;
}

/// AV pair identifiers (MS-NLMP 2.2.2.1).
mod av {
    pub const EOL: u16 = 0;
    pub const NB_COMPUTER: u16 = 1;
    pub const NB_DOMAIN: u16 = 2;
    pub const DNS_COMPUTER: u16 = 3;
    pub const DNS_DOMAIN: u16 = 4;
    pub const DNS_TREE: u16 = 5;
    pub const FLAGS: u16 = 6;
    pub const TIMESTAMP: u16 = 7;
    pub const CHANNEL_BINDINGS: u16 = 10;
    /// MsvAvFlags bit: the AUTHENTICATE message carries a MIC.
    pub const FLAG_MIC_PRESENT: u32 = 0x2;
}

/// Why an NTLM message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    #[error("not an NTLM message: {0}")]
    Malformed(&'static str),
    #[error("expected NTLM message type {expected}, got {got}")]
    WrongType { expected: u32, got: u32 },
    #[error("NTLMv1 and anonymous logons are not accepted")]
    NotV2,
    #[error("unknown user")]
    UnknownUser,
    #[error("wrong password")]
    WrongPassword,
    #[error("message integrity code does not match")]
    BadMic,
    #[error("channel binding missing")]
    ChannelBindingMissing,
    #[error("channel binding does not match this TLS connection")]
    ChannelBindingMismatch,
    #[error("session security needs extended session security, which was not negotiated")]
    NoSessionSecurity,
    #[error("message signature does not match")]
    BadSignature,
}

/// The message type of an NTLMSSP token, if it is one.
pub fn message_type(msg: &[u8]) -> Option<u32> {
    if msg.len() >= 12 && &msg[..8] == SIGNATURE {
        Some(u32_at(msg, 8))
    } else {
        None
    }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// A (len, maxlen, offset) field's payload.
fn field(msg: &[u8], at: usize) -> Result<&[u8], NtlmError> {
    if msg.len() < at + 8 {
        return Err(NtlmError::Malformed("truncated header"));
    }
    let len = u16_at(msg, at) as usize;
    let off = u32_at(msg, at + 4) as usize;
    if len == 0 {
        return Ok(&[]);
    }
    msg.get(
        off..off
            .checked_add(len)
            .ok_or(NtlmError::Malformed("field overflow"))?,
    )
    .ok_or(NtlmError::Malformed("field points outside the message"))
}

fn check_type(msg: &[u8], expected: u32) -> Result<(), NtlmError> {
    match message_type(msg) {
        None => Err(NtlmError::Malformed("no NTLMSSP signature")),
        Some(t) if t != expected => Err(NtlmError::WrongType { expected, got: t }),
        Some(_) => Ok(()),
    }
}

/// The Version field both ends send: 10.0 build 17763 (Windows Server 2019),
/// NTLM revision 15.
const VERSION: [u8; 8] = [10, 0, 0x63, 0x45, 0, 0, 0, 15];

/// A string as the negotiated character set puts it on the wire.
fn wire_text(unicode: bool, s: &str) -> Vec<u8> {
    if unicode {
        utf16le(s)
    } else {
        s.as_bytes().to_vec()
    }
}

pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn from_utf16le(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

pub(crate) fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// NTOWFv2 (MS-NLMP 3.3.2): the key every NTLMv2 proof is made with.
pub fn ntowf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let nt_hash: [u8; 16] = Md4::digest(utf16le(password)).into();
    let mut who = utf16le(&user.to_uppercase());
    who.extend(utf16le(domain));
    hmac_md5(&nt_hash, &[&who])
}

/// RC4 over `data` with a fresh key schedule (a one-shot use: the
/// exchanged session key, one signature).
pub(crate) fn rc4(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    <rc4::Rc4 as rc4::KeyInit>::new_from_slice(key)
        .expect("RC4 keys here are 5 to 16 bytes")
        .apply_keystream(&mut out);
    out
}

/// The MD5 of a `gss_channel_bindings_struct` holding
/// `tls-server-end-point:<hash of the server certificate>` (RFC 5929), as
/// clients put it in MsvAvChannelBindings.
pub fn channel_binding_hash(server_cert_der: &[u8]) -> [u8; 16] {
    let app = crate::gss::tls_server_end_point(server_cert_der);
    let mut s = vec![0u8; 16];
    s.extend((app.len() as u32).to_le_bytes());
    s.extend(app);
    Md5::digest(&s).into()
}

/// Splits an account as clients write it, `DOMAIN\name` or `name@domain`,
/// into (domain, name); a bare name keeps `domain`. Both ends read
/// accounts this way.
pub fn split_account<'a>(user: &'a str, domain: &'a str) -> (&'a str, &'a str) {
    if let Some((d, n)) = user.split_once('\\') {
        (d, n)
    } else if let Some((n, d)) = user.split_once('@') {
        (d, n)
    } else {
        (domain, user)
    }
}

/// The names a server announces in its CHALLENGE target info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerNames {
    pub nb_domain: String,
    pub nb_computer: String,
    pub dns_domain: String,
    pub dns_computer: String,
}

/// A parsed NEGOTIATE message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiate {
    pub flags: u32,
}

pub fn parse_negotiate(msg: &[u8]) -> Result<Negotiate, NtlmError> {
    check_type(msg, 1)?;
    if msg.len() < 16 {
        return Err(NtlmError::Malformed("NEGOTIATE too short"));
    }
    Ok(Negotiate {
        flags: u32_at(msg, 12),
    })
}

/// The server's half of a handshake, kept on the connection until the
/// AUTHENTICATE arrives. Used once: a second AUTHENTICATE needs a new one.
#[derive(Clone, Debug)]
pub struct ChallengeState {
    pub negotiate: Vec<u8>,
    pub challenge: Vec<u8>,
    pub server_challenge: [u8; 8],
    pub flags: u32,
}

impl ChallengeState {
    /// Takes `bits` out of what the CHALLENGE grants (its NegotiateFlags
    /// field too), as a server that will not sign or seal answers.
    pub fn withhold(&mut self, bits: u32) {
        self.flags &= !bits;
        if let Some(field) = self.challenge.get_mut(20..24) {
            field.copy_from_slice(&self.flags.to_le_bytes());
        }
    }
}

/// Windows FILETIME (100 ns since 1601) of a Unix time.
pub fn filetime(unix: i64) -> u64 {
    ((unix + 11_644_473_600).max(0) as u64) * 10_000_000
}

/// Answers a NEGOTIATE. Flags echo what the client asked for; LM_KEY is never
/// set and KEY_EXCH only when asked (go-ntlmssp refuses both otherwise).
pub fn challenge(
    negotiate_msg: &[u8],
    names: &ServerNames,
    server_challenge: [u8; 8],
    now_filetime: u64,
) -> Result<ChallengeState, NtlmError> {
    let neg = parse_negotiate(negotiate_msg)?;
    let asked = neg.flags;
    let mut f = flags::REQUEST_TARGET
        | flags::NTLM
        | flags::ALWAYS_SIGN
        | flags::TARGET_TYPE_DOMAIN
        | flags::TARGET_INFO
        | flags::VERSION;
    f |= if asked & flags::UNICODE != 0 {
        flags::UNICODE
    } else {
        flags::OEM
    };
    for bit in [
        flags::EXTENDED_SESSIONSECURITY,
        flags::SIGN,
        flags::SEAL,
        flags::N128,
        flags::N56,
        flags::KEY_EXCH,
    ] {
        f |= asked & bit;
    }
    let unicode = f & flags::UNICODE != 0;
    let text = |s: &str| wire_text(unicode, s);
    let target_name = text(&names.nb_domain);
    let mut info = Vec::new();
    let mut pair = |id: u16, value: &[u8]| {
        info.extend(id.to_le_bytes());
        info.extend((value.len() as u16).to_le_bytes());
        info.extend(value);
    };
    pair(av::NB_DOMAIN, &utf16le(&names.nb_domain));
    pair(av::NB_COMPUTER, &utf16le(&names.nb_computer));
    pair(av::DNS_DOMAIN, &utf16le(&names.dns_domain));
    pair(av::DNS_COMPUTER, &utf16le(&names.dns_computer));
    pair(av::DNS_TREE, &utf16le(&names.dns_domain));
    pair(av::TIMESTAMP, &now_filetime.to_le_bytes());
    pair(av::EOL, &[]);

    let header_len = 56u32;
    let mut m = Vec::with_capacity(56 + target_name.len() + info.len());
    m.extend(SIGNATURE);
    m.extend(2u32.to_le_bytes());
    m.extend((target_name.len() as u16).to_le_bytes());
    m.extend((target_name.len() as u16).to_le_bytes());
    m.extend(header_len.to_le_bytes());
    m.extend(f.to_le_bytes());
    m.extend(server_challenge);
    m.extend([0u8; 8]);
    m.extend((info.len() as u16).to_le_bytes());
    m.extend((info.len() as u16).to_le_bytes());
    m.extend((header_len + target_name.len() as u32).to_le_bytes());
    m.extend(VERSION);
    m.extend(&target_name);
    m.extend(&info);
    Ok(ChallengeState {
        negotiate: negotiate_msg.to_vec(),
        challenge: m,
        server_challenge,
        flags: f,
    })
}

/// A parsed AUTHENTICATE message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticate {
    pub flags: u32,
    pub domain: String,
    pub user: String,
    pub workstation: String,
    pub nt_response: Vec<u8>,
    pub encrypted_session_key: Vec<u8>,
}

pub fn parse_authenticate(msg: &[u8]) -> Result<Authenticate, NtlmError> {
    check_type(msg, 3)?;
    if msg.len() < 64 {
        return Err(NtlmError::Malformed("AUTHENTICATE too short"));
    }
    let flags = u32_at(msg, 60);
    let text = |b: &[u8]| {
        if flags & flags::UNICODE != 0 {
            from_utf16le(b)
        } else {
            String::from_utf8_lossy(b).into_owned()
        }
    };
    Ok(Authenticate {
        flags,
        nt_response: field(msg, 20)?.to_vec(),
        domain: text(field(msg, 28)?),
        user: text(field(msg, 36)?),
        workstation: text(field(msg, 44)?),
        encrypted_session_key: field(msg, 52)?.to_vec(),
    })
}

/// What the acceptor requires of channel bindings (IIS Extended Protection).
/// Written `off`, `accept` or `require` in configuration and on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum ChannelBindingPolicy {
    Off,
    /// Checked when the client sends one; a client without bindings gets in.
    Accept,
    /// Every client must send bindings that match this TLS connection.
    Require,
}

impl From<ChannelBindingPolicy> for &'static str {
    fn from(p: ChannelBindingPolicy) -> &'static str {
        match p {
            ChannelBindingPolicy::Off => "off",
            ChannelBindingPolicy::Accept => "accept",
            ChannelBindingPolicy::Require => "require",
        }
    }
}

impl std::str::FromStr for ChannelBindingPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" | "none" => Ok(ChannelBindingPolicy::Off),
            "accept" | "allow" => Ok(ChannelBindingPolicy::Accept),
            "require" | "required" => Ok(ChannelBindingPolicy::Require),
            _ => Err(format!(
                "unknown channel binding `{s}` (expected off, accept or require)"
            )),
        }
    }
}

impl TryFrom<String> for ChannelBindingPolicy {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

fn av_pairs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let id = u16_at(b, 0);
        let len = u16_at(b, 2) as usize;
        if id == av::EOL || b.len() < 4 + len {
            break;
        }
        out.push((id, &b[4..4 + len]));
        b = &b[4 + len..];
    }
    out
}

/// What a proven AUTHENTICATE establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The key both ends now share (MS-NLMP 3.1.5.1.2), for signing.
    pub exported_session_key: [u8; 16],
    /// The AUTHENTICATE carried a MIC (so SPNEGO wants a mechListMIC).
    pub mic_present: bool,
}

/// Proves an AUTHENTICATE against `password` (the one the server holds for
/// `auth.user`). `binding` is this TLS connection's channel-binding hash, or
/// `None` over plain HTTP (where Extended Protection does not apply).
pub fn verify(
    state: &ChallengeState,
    auth_msg: &[u8],
    auth: &Authenticate,
    password: &str,
    policy: ChannelBindingPolicy,
    binding: Option<[u8; 16]>,
) -> Result<Verified, NtlmError> {
    let nt = &auth.nt_response;
    if nt.len() < 16 + 28 || auth.user.is_empty() {
        return Err(NtlmError::NotV2);
    }
    let (proof, blob) = nt.split_at(16);
    let key = ntowf_v2(password, &auth.user, &auth.domain);
    let expected = hmac_md5(&key, &[&state.server_challenge, blob]);
    if aws_lc_rs::constant_time::verify_slices_are_equal(&expected, proof).is_err() {
        return Err(NtlmError::WrongPassword);
    }
    let session_base_key = hmac_md5(&key, &[proof]);
    let exported: [u8; 16] =
        if auth.flags & flags::KEY_EXCH != 0 && auth.encrypted_session_key.len() == 16 {
            rc4(&session_base_key, &auth.encrypted_session_key)
                .try_into()
                .expect("16 bytes in, 16 out")
        } else {
            session_base_key
        };
    // The blob is covered by NTProofStr, so its AV pairs can be trusted now.
    let pairs = av_pairs(&blob[28..]);
    let mic_present = pairs.iter().any(|(id, v)| {
        *id == av::FLAGS && v.len() == 4 && u32_at(v, 0) & av::FLAG_MIC_PRESENT != 0
    });
    if mic_present {
        if auth_msg.len() < 88 {
            return Err(NtlmError::BadMic);
        }
        let mut zeroed = auth_msg.to_vec();
        zeroed[72..88].fill(0);
        let mic = hmac_md5(&exported, &[&state.negotiate, &state.challenge, &zeroed]);
        if aws_lc_rs::constant_time::verify_slices_are_equal(&mic, &auth_msg[72..88]).is_err() {
            return Err(NtlmError::BadMic);
        }
    }
    let sent = pairs
        .iter()
        .find(|(id, v)| *id == av::CHANNEL_BINDINGS && v.len() == 16 && v.iter().any(|b| *b != 0))
        .map(|(_, v)| *v);
    let verified = Verified {
        exported_session_key: exported,
        mic_present,
    };
    match (policy, binding, sent) {
        (ChannelBindingPolicy::Off, _, _) | (_, None, _) => Ok(verified),
        (_, Some(ours), Some(theirs)) if ours[..] == *theirs => Ok(verified),
        (_, Some(_), Some(_)) => Err(NtlmError::ChannelBindingMismatch),
        (ChannelBindingPolicy::Accept, Some(_), None) => Ok(verified),
        (ChannelBindingPolicy::Require, Some(_), None) => Err(NtlmError::ChannelBindingMissing),
    }
}

/// Which way a signed message goes: each has its own keys (MS-NLMP 3.4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

pub use session::{mech_list_mic, sign_first};

/// The key a client holds after its AUTHENTICATE (without key exchange,
/// as [`client_authenticate`] makes it): for the client side of signing.
pub fn client_session_key(auth_msg: &[u8], password: &str) -> Result<[u8; 16], NtlmError> {
    let auth = parse_authenticate(auth_msg)?;
    if auth.nt_response.len() < 16 {
        return Err(NtlmError::NotV2);
    }
    let key = ntowf_v2(password, &auth.user, &auth.domain);
    Ok(hmac_md5(&key, &[&auth.nt_response[..16]]))
}

/// Client side: a NEGOTIATE asking for Unicode, NTLM, extended session
/// security and target info (what requests-ntlm and Windows send).
pub fn client_negotiate() -> Vec<u8> {
    negotiate_with(0)
}

/// [`client_negotiate`] asking to sign and seal too, as an RPC client at
/// packet privacy does.
pub fn client_negotiate_sealing() -> Vec<u8> {
    negotiate_with(flags::SIGN | flags::SEAL)
}

fn negotiate_with(extra: u32) -> Vec<u8> {
    let f = extra
        | flags::UNICODE
        | flags::OEM
        | flags::REQUEST_TARGET
        | flags::NTLM
        | flags::ALWAYS_SIGN
        | flags::EXTENDED_SESSIONSECURITY
        | flags::VERSION
        | flags::N128
        | flags::N56;
    let mut m = Vec::with_capacity(40);
    m.extend(SIGNATURE);
    m.extend(1u32.to_le_bytes());
    m.extend(f.to_le_bytes());
    m.extend([0u8; 16]); // empty domain and workstation fields
    m.extend(VERSION);
    m
}

/// Client-side options for [`client_authenticate`].
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// MsvAvChannelBindings value (see [`channel_binding_hash`]).
    pub channel_binding: Option<[u8; 16]>,
    /// Add MsvAvFlags MIC-present and a MIC, as modern Windows clients do.
    pub mic: bool,
    /// The client challenge; fixed values make messages reproducible.
    pub client_challenge: [u8; 8],
}

/// Client side: answers a CHALLENGE with an NTLMv2 AUTHENTICATE.
pub fn client_authenticate(
    negotiate_msg: &[u8],
    challenge_msg: &[u8],
    user: &str,
    domain: &str,
    password: &str,
    opts: &ClientOptions,
) -> Result<Vec<u8>, NtlmError> {
    check_type(challenge_msg, 2)?;
    if challenge_msg.len() < 48 {
        return Err(NtlmError::Malformed("CHALLENGE too short"));
    }
    let server_flags = u32_at(challenge_msg, 20);
    let server_challenge: [u8; 8] = challenge_msg[24..32].try_into().expect("8 bytes");
    let info = field(challenge_msg, 40)?;
    let mut timestamp = [0u8; 8];
    let mut pairs: Vec<(u16, Vec<u8>)> = Vec::new();
    for (id, v) in av_pairs(info) {
        if id == av::TIMESTAMP && v.len() == 8 {
            timestamp.copy_from_slice(v);
        }
        pairs.push((id, v.to_vec()));
    }
    if opts.mic {
        pairs.push((av::FLAGS, av::FLAG_MIC_PRESENT.to_le_bytes().to_vec()));
    }
    if let Some(cb) = opts.channel_binding {
        pairs.push((av::CHANNEL_BINDINGS, cb.to_vec()));
    }
    let mut blob = vec![1u8, 1, 0, 0, 0, 0, 0, 0];
    blob.extend(timestamp);
    blob.extend(opts.client_challenge);
    blob.extend([0u8; 4]);
    for (id, v) in &pairs {
        blob.extend(id.to_le_bytes());
        blob.extend((v.len() as u16).to_le_bytes());
        blob.extend(v);
    }
    blob.extend([0u8; 4]); // EOL
    blob.extend([0u8; 4]);
    let key = ntowf_v2(password, user, domain);
    let proof = hmac_md5(&key, &[&server_challenge, &blob]);
    let mut nt = proof.to_vec();
    nt.extend(&blob);
    let lm = [0u8; 24];
    let unicode = server_flags & flags::UNICODE != 0;
    let text = |s: &str| wire_text(unicode, s);
    let (d, u, w) = (text(domain), text(user), text("WORKSTATION"));
    let flags = server_flags & !flags::KEY_EXCH;
    let header = 88usize;
    let mut payload: Vec<u8> = Vec::new();
    let mut fields = Vec::new();
    for part in [&lm[..], &nt[..], &d[..], &u[..], &w[..], &[][..]] {
        let off = header + payload.len();
        fields.extend((part.len() as u16).to_le_bytes());
        fields.extend((part.len() as u16).to_le_bytes());
        fields.extend((off as u32).to_le_bytes());
        payload.extend(part);
    }
    let mut m = Vec::with_capacity(header + payload.len());
    m.extend(SIGNATURE);
    m.extend(3u32.to_le_bytes());
    m.extend(fields);
    m.extend(flags.to_le_bytes());
    m.extend(VERSION);
    m.extend([0u8; 16]); // MIC, filled below
    m.extend(payload);
    if opts.mic {
        let session_base_key = hmac_md5(&key, &[&proof]);
        let mic = hmac_md5(&session_base_key, &[negotiate_msg, challenge_msg, &m]);
        m[72..88].copy_from_slice(&mic);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        crate::hex::unhex(s).unwrap()
    }

    /// MS-NLMP 4.2.4.1.1 test vector.
    #[test]
    fn ntowf_v2_matches_the_specification() {
        assert_eq!(
            ntowf_v2("Password", "User", "Domain").to_vec(),
            unhex("0c868a403bfd7a93a3001ef22ef02e3f")
        );
    }

    /// MS-NLMP 4.2.4.2.2: NTProofStr over the specification's temp blob.
    #[test]
    fn nt_proof_matches_the_specification() {
        let key = ntowf_v2("Password", "User", "Domain");
        let server_challenge = unhex("0123456789abcdef");
        let mut temp = unhex("0101000000000000");
        temp.extend([0u8; 8]);
        temp.extend(unhex("aaaaaaaaaaaaaaaa"));
        temp.extend([0u8; 4]);
        // AV pairs Domain and Server, EOL, then the 4 trailing zero bytes.
        temp.extend(unhex(
            "02000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000",
        ));
        let proof = hmac_md5(&key, &[&server_challenge, &temp]);
        assert_eq!(proof.to_vec(), unhex("68cd0ab851e51c96aabc927bebef6a1c"));
    }

    #[test]
    fn accounts_split_like_ntlm_clients() {
        assert_eq!(split_account("CONTOSO\\alice", "X"), ("CONTOSO", "alice"));
        assert_eq!(
            split_account("alice@contoso.test", "X"),
            ("contoso.test", "alice")
        );
        assert_eq!(split_account("alice", "X"), ("X", "alice"));
    }

    #[test]
    fn rc4_matches_a_known_vector() {
        // RFC 6229 key 0x0102030405, first keystream bytes.
        assert_eq!(
            rc4(&unhex("0102030405"), &[0; 8]),
            unhex("b2396305f03dc027")
        );
    }

    fn names() -> ServerNames {
        ServerNames {
            nb_domain: "CONTOSO".into(),
            nb_computer: "CA01".into(),
            dns_domain: "contoso.test".into(),
            dns_computer: "ca01.contoso.test".into(),
        }
    }

    fn handshake(password: &str, opts: &ClientOptions) -> (ChallengeState, Vec<u8>, Authenticate) {
        let neg = client_negotiate();
        let st = challenge(&neg, &names(), [7; 8], filetime(1_700_000_000)).unwrap();
        let auth =
            client_authenticate(&neg, &st.challenge, "alice", "CONTOSO", password, opts).unwrap();
        let parsed = parse_authenticate(&auth).unwrap();
        (st, auth, parsed)
    }

    #[test]
    fn right_password_passes_and_wrong_fails_with_or_without_mic() {
        for mic in [false, true] {
            let opts = ClientOptions {
                mic,
                ..Default::default()
            };
            let (st, raw, a) = handshake("Alice-Passw0rd", &opts);
            assert_eq!((a.user.as_str(), a.domain.as_str()), ("alice", "CONTOSO"));
            let off = ChannelBindingPolicy::Off;
            let v = verify(&st, &raw, &a, "Alice-Passw0rd", off, None).unwrap();
            // Both ends hold the same session key afterwards.
            let client_key = client_session_key(&raw, "Alice-Passw0rd").unwrap();
            assert_eq!((v.exported_session_key, v.mic_present), (client_key, mic));
            assert_eq!(
                verify(&st, &raw, &a, "wrong", off, None),
                Err(NtlmError::WrongPassword)
            );
        }
    }

    #[test]
    fn altered_messages_and_foreign_challenges_fail() {
        let opts = ClientOptions {
            mic: true,
            ..Default::default()
        };
        let (st, raw, a) = handshake("pw", &opts);
        let off = ChannelBindingPolicy::Off;
        // Flip a flag bit: the MIC no longer matches.
        let mut altered = raw.clone();
        altered[60] ^= flags::SIGN as u8;
        let pa = parse_authenticate(&altered).unwrap();
        assert_eq!(
            verify(&st, &altered, &pa, "pw", off, None),
            Err(NtlmError::BadMic)
        );
        // The same AUTHENTICATE replayed against another challenge fails.
        let other = challenge(&st.negotiate, &names(), [8; 8], 0).unwrap();
        assert_eq!(
            verify(&other, &raw, &a, "pw", off, None),
            Err(NtlmError::WrongPassword)
        );
    }

    #[test]
    fn channel_bindings_follow_the_policy() {
        let ours = channel_binding_hash(b"server cert");
        let theirs = channel_binding_hash(b"another cert");
        let check = |sent: Option<[u8; 16]>, policy| {
            let opts = ClientOptions {
                channel_binding: sent,
                mic: true,
                ..Default::default()
            };
            let (st, raw, a) = handshake("pw", &opts);
            verify(&st, &raw, &a, "pw", policy, Some(ours)).map(|_| ())
        };
        use ChannelBindingPolicy::*;
        assert_eq!(check(None, Off), Ok(()));
        assert_eq!(check(Some(theirs), Off), Ok(()));
        assert_eq!(check(None, Accept), Ok(()));
        assert_eq!(check(Some(ours), Accept), Ok(()));
        assert_eq!(
            check(Some(theirs), Accept),
            Err(NtlmError::ChannelBindingMismatch)
        );
        assert_eq!(check(None, Require), Err(NtlmError::ChannelBindingMissing));
        assert_eq!(check(Some(ours), Require), Ok(()));
    }

    #[test]
    fn challenge_never_offers_lm_key_and_echoes_key_exchange_only_when_asked() {
        let neg = client_negotiate();
        let st = challenge(&neg, &names(), [1; 8], 0).unwrap();
        assert_eq!(st.flags & (flags::LM_KEY | flags::KEY_EXCH), 0);
        assert_ne!(st.flags & flags::UNICODE, 0);
        // An OEM-only NEGOTIATE (curl) gets OEM back.
        let mut oem = neg.clone();
        oem[12..16].copy_from_slice(&(flags::OEM | flags::NTLM | flags::KEY_EXCH).to_le_bytes());
        let st = challenge(&oem, &names(), [1; 8], 0).unwrap();
        assert_eq!(st.flags & flags::UNICODE, 0);
        assert_ne!(st.flags & flags::KEY_EXCH, 0);
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for junk in [&b""[..], b"NTLMSSP\0", b"NTLMSSP\0\x03\0\0\0", &[0xff; 100]] {
            assert!(parse_authenticate(junk).is_err());
            assert!(parse_negotiate(junk).is_err() || junk.len() >= 16);
        }
        let mut bad: Vec<u8> = client_negotiate();
        bad[8] = 3;
        bad.extend([0xff; 60]);
        // Fields pointing outside the message are errors, not panics.
        assert!(parse_authenticate(&bad).is_err());
    }
}
