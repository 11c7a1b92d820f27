//! The keys and signatures of each dialect (MS-SMB2 3.1.4.1, 3.2.5.3.1):
//! HMAC-SHA256 under the session key for 2.x; AES-CMAC under a key
//! derived by SP800-108 for 3.x, whose context for 3.1.1 is the SHA-512
//! pre-authentication hash of the negotiate and session-setup messages.

use aws_lc_rs::{digest, hmac};
use cmac::{Cmac, KeyInit, Mac};

use super::dialect;

/// SP800-108 in counter mode with HMAC-SHA256, one 128-bit block, as
/// SMB 3 derives its keys.
pub fn kdf(key: &[u8], label: &[u8], context: &[u8]) -> [u8; 16] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut input = Vec::with_capacity(label.len() + context.len() + 9);
    input.extend(1u32.to_be_bytes());
    input.extend(label);
    input.push(0);
    input.extend(context);
    input.extend(128u32.to_be_bytes());
    let tag = hmac::sign(&k, &input);
    tag.as_ref()[..16].try_into().expect("32-byte tag")
}

/// A pre-authentication integrity hash folded over one more message.
pub fn preauth(hash: &[u8; 64], message: &[u8]) -> [u8; 64] {
    let mut ctx = digest::Context::new(&digest::SHA512);
    ctx.update(hash);
    ctx.update(message);
    ctx.finish().as_ref().try_into().expect("64-byte digest")
}

/// The key a session signs with under `dialect`.
pub fn signing_key(dialect: u16, session_key: &[u8], preauth: &[u8; 64]) -> Vec<u8> {
    match dialect {
        dialect::SMB_3_1_1 => kdf(session_key, b"SMBSigningKey\0", preauth).to_vec(),
        dialect::SMB_3_0 | dialect::SMB_3_0_2 => {
            kdf(session_key, b"SMB2AESCMAC\0", b"SmbSign\0").to_vec()
        }
        // 2.x signs under the session key itself, cut or padded to 16.
        _ => {
            let mut k = session_key.to_vec();
            k.resize(16, 0);
            k
        }
    }
}

/// The signature of one message (its signature field taken as zeros).
pub fn signature(dialect: u16, key: &[u8], message: &[u8]) -> [u8; 16] {
    let mut m = message.to_vec();
    if m.len() >= 64 {
        m[48..64].fill(0);
    }
    if dialect >= dialect::SMB_3_0 {
        let Ok(mut mac) = <Cmac<aes::Aes128> as KeyInit>::new_from_slice(key) else {
            return [0; 16];
        };
        mac.update(&m);
        mac.finalize().into_bytes().into()
    } else {
        let k = hmac::Key::new(hmac::HMAC_SHA256, key);
        hmac::sign(&k, &m).as_ref()[..16]
            .try_into()
            .expect("32-byte tag")
    }
}

/// Signs a message in place: sets the signed flag and the signature.
pub fn sign(dialect: u16, key: &[u8], message: &mut [u8]) {
    if message.len() < 64 {
        return;
    }
    let f = u32::from_le_bytes(message[16..20].try_into().expect("4 bytes")) | super::flags::SIGNED;
    message[16..20].copy_from_slice(&f.to_le_bytes());
    let sig = signature(dialect, key, message);
    message[48..64].copy_from_slice(&sig);
}

/// Whether a message's signature is the one `key` makes.
pub fn verifies(dialect: u16, key: &[u8], message: &[u8]) -> bool {
    message.len() >= 64 && {
        let sig = signature(dialect, key, message);
        aws_lc_rs::constant_time::verify_slices_are_equal(&sig, &message[48..64]).is_ok()
    }
}
