//! NTLM session security under extended session security (MS-NLMP 3.4):
//! the signatures and the sealing a DCE/RPC connection at packet
//! integrity or privacy puts on every PDU, and SPNEGO's mechListMIC.
//!
//! Each direction has its own signing key, its own RC4 stream (kept
//! across messages, as the connection-oriented mode requires) and its own
//! sequence number. A sealed message is encrypted first and its checksum
//! after, from the same stream.

use std::ops::Range;

use md5::{Digest, Md5};
use rc4::cipher::{KeyInit, StreamCipher};
use rc4::Rc4;

use super::{flags, hmac_md5, Direction, NtlmError};

/// Which end of the connection this session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// One direction's keys and state.
struct Half {
    sign_key: [u8; 16],
    rc4: Rc4,
    seq: u32,
}

impl Half {
    fn new(exported: &[u8; 16], negotiated: u32, way: Direction) -> Half {
        let (sign, seal): (&[u8], &[u8]) = match way {
            Direction::ClientToServer => (
                b"session key to client-to-server signing key magic constant\0",
                b"session key to client-to-server sealing key magic constant\0",
            ),
            Direction::ServerToClient => (
                b"session key to server-to-client signing key magic constant\0",
                b"session key to server-to-client sealing key magic constant\0",
            ),
        };
        let seal_len = if negotiated & flags::N128 != 0 {
            16
        } else if negotiated & flags::N56 != 0 {
            7
        } else {
            5
        };
        let md5 = |a: &[u8], b: &[u8]| -> [u8; 16] {
            Md5::new().chain_update(a).chain_update(b).finalize().into()
        };
        let seal_key = md5(&exported[..seal_len], seal);
        Half {
            sign_key: md5(exported, sign),
            rc4: Rc4::new_from_slice(&seal_key).expect("a 16-byte RC4 key"),
            seq: 0,
        }
    }

    /// The signature of `message` at this half's next sequence number.
    fn signature(&mut self, message: &[u8], key_exch: bool) -> [u8; 16] {
        let seq = self.seq.to_le_bytes();
        self.seq = self.seq.wrapping_add(1);
        let mac = hmac_md5(&self.sign_key, &[&seq, message]);
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&mac[..8]);
        if key_exch {
            self.rc4.apply_keystream(&mut checksum);
        }
        let mut sig = [0u8; 16];
        sig[0] = 1;
        sig[4..12].copy_from_slice(&checksum);
        sig[12..].copy_from_slice(&seq);
        sig
    }
}

/// Session security for one authenticated NTLM context.
pub struct Session {
    key_exch: bool,
    send: Half,
    recv: Half,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("send_seq", &self.send.seq)
            .field("recv_seq", &self.recv.seq)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session on the exported session key and the negotiated flags.
    /// Only extended session security is supported (every NTLMv2 client
    /// asks for it); without it the caller gets `NtlmError::NoSessionSecurity`.
    pub fn new(exported: &[u8; 16], negotiated: u32, role: Role) -> Result<Session, NtlmError> {
        if negotiated & flags::EXTENDED_SESSIONSECURITY == 0 {
            return Err(NtlmError::NoSessionSecurity);
        }
        let out = Half::new(exported, negotiated, Direction::ClientToServer);
        let back = Half::new(exported, negotiated, Direction::ServerToClient);
        let (send, recv) = match role {
            Role::Client => (out, back),
            Role::Server => (back, out),
        };
        Ok(Session {
            key_exch: negotiated & flags::KEY_EXCH != 0,
            send,
            recv,
        })
    }

    /// Signs an outgoing message (packet integrity).
    pub fn sign(&mut self, message: &[u8]) -> [u8; 16] {
        self.send.signature(message, self.key_exch)
    }

    /// Checks an incoming message's signature (packet integrity).
    pub fn verify(&mut self, message: &[u8], signature: &[u8]) -> Result<(), NtlmError> {
        let ours = self.recv.signature(message, self.key_exch);
        if signature.len() == 16
            && aws_lc_rs::constant_time::verify_slices_are_equal(&ours, signature).is_ok()
        {
            Ok(())
        } else {
            Err(NtlmError::BadSignature)
        }
    }

    /// Seals an outgoing message (packet privacy): the signature covers
    /// all of `message` in the clear, then `message[sealed]` is encrypted
    /// in place. Returns the signature.
    pub fn seal(&mut self, message: &mut [u8], sealed: Range<usize>) -> [u8; 16] {
        let seq = self.send.seq.to_le_bytes();
        let mac = hmac_md5(&self.send.sign_key, &[&seq, message]);
        self.send.rc4.apply_keystream(&mut message[sealed]);
        self.send.seq = self.send.seq.wrapping_add(1);
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&mac[..8]);
        if self.key_exch {
            self.send.rc4.apply_keystream(&mut checksum);
        }
        let mut sig = [0u8; 16];
        sig[0] = 1;
        sig[4..12].copy_from_slice(&checksum);
        sig[12..].copy_from_slice(&seq);
        sig
    }

    /// Unseals an incoming message in place and checks its signature over
    /// the clear text. On `Err` the session's streams have moved on, as
    /// they have at the peer: the connection must be dropped.
    pub fn unseal(
        &mut self,
        message: &mut [u8],
        sealed: Range<usize>,
        signature: &[u8],
    ) -> Result<(), NtlmError> {
        self.recv.rc4.apply_keystream(&mut message[sealed]);
        self.verify(message, signature)
    }
}

/// The signature of the first message one way (sequence number 0).
/// SPNEGO's mechListMIC over NTLM is this over the mechTypes.
pub fn sign_first(
    exported: &[u8; 16],
    negotiated: u32,
    way: Direction,
    message: &[u8],
) -> [u8; 16] {
    let mut half = Half::new(exported, negotiated, way);
    half.signature(message, negotiated & flags::KEY_EXCH != 0)
}

/// Checks the client's mechListMIC over the mechanism list it offered and
/// makes the server's (MS-SPNG 3.1.5.1): none when the client sent none.
/// `types` is the DER of that list, as `gss::spnego::ntlm_in_init` gives it.
pub fn mech_list_mic(
    exported_session_key: &[u8; 16],
    negotiated: u32,
    types: Option<Vec<u8>>,
    mic: Option<Vec<u8>>,
) -> Result<Option<[u8; 16]>, String> {
    let Some(mic) = mic else {
        return Ok(None);
    };
    let Some(types) = types else {
        return Err("SPNEGO: a mechListMIC with no NegTokenInit on this connection".into());
    };
    let key = exported_session_key;
    let theirs = sign_first(key, negotiated, Direction::ClientToServer, &types);
    if aws_lc_rs::constant_time::verify_slices_are_equal(&theirs, &mic).is_err() {
        return Err("SPNEGO: the client's mechListMIC does not verify".into());
    }
    Ok(Some(sign_first(
        key,
        negotiated,
        Direction::ServerToClient,
        &types,
    )))
}

#[cfg(test)]
mod tests;
