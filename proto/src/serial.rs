//! AD CS serial numbers (certreq-scom.md §3.1, MS-WCCE 3.2.1.4.2.1.4.6):
//! 19 bytes, shown big-endian as
//! `[HighSerial][RequestID×4][random×8][CA cert index×2][RequestID×4]`.

/// Builds the serial for `request_id` issued under CA certificate `ca_index`.
/// The top byte never has its high bit set and is never zero, so the DER
/// INTEGER never needs a leading 0x00 pad byte.
pub fn adcs_serial(request_id: u32, ca_index: u16, random: [u8; 8], high_serial: u8) -> [u8; 19] {
    let mut s = [0u8; 19];
    s[0] = high_serial;
    s[1..5].copy_from_slice(&request_id.to_be_bytes());
    s[5..13].copy_from_slice(&random);
    s[13..15].copy_from_slice(&ca_index.to_be_bytes());
    s[15..19].copy_from_slice(&request_id.to_be_bytes());
    s[0] &= 0x7f;
    if s[0] == 0 {
        s[0] = 0x61;
    } else if s[0] & 0xf0 == 0 {
        s[0] ^= 0x10;
    }
    s
}

/// The request ID and CA index carried in a 19-byte AD CS serial.
pub fn parse_adcs_serial(serial: &[u8]) -> Option<(u32, u16)> {
    if serial.len() != 19 {
        return None;
    }
    let id = u32::from_be_bytes(serial[15..19].try_into().ok()?);
    let head = u32::from_be_bytes(serial[1..5].try_into().ok()?);
    (id == head).then(|| (id, u16::from_be_bytes([serial[13], serial[14]])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_documented_example() {
        // 1A 0001161C 06B5AAD20904890D 0002 0001161C (certreq-scom.md §3.1)
        let s = adcs_serial(
            0x0001161C,
            2,
            [0x06, 0xB5, 0xAA, 0xD2, 0x09, 0x04, 0x89, 0x0D],
            0x1A,
        );
        assert_eq!(
            crate::hex::hex(&s),
            "1a0001161c06b5aad20904890d00020001161c"
        );
        assert_eq!(parse_adcs_serial(&s), Some((0x0001161C, 2)));
    }

    #[test]
    fn top_byte_rules() {
        assert_eq!(
            adcs_serial(1, 0, [0; 8], 0x80)[0],
            0x61,
            "0x80 clears to 0 then becomes 0x61"
        );
        assert_eq!(
            adcs_serial(1, 0, [0; 8], 0x0a)[0],
            0x1a,
            "zero high nibble is XORed with 0x10"
        );
        assert_eq!(adcs_serial(1, 0, [0; 8], 0xe3)[0], 0x63, "top bit cleared");
        for hs in 0..=255u8 {
            let b = adcs_serial(7, 0, [0xff; 8], hs)[0];
            assert!(b & 0x80 == 0 && b & 0xf0 != 0, "{hs:#x} -> {b:#x}");
        }
    }
}
