//! Hex text as AD CS tools print it (serials, thumbprints, key IDs).

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Bytes of an even-length hex string (`None` for anything else).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_unhex_reverses_it() {
        let all: Vec<u8> = (0..=255).collect();
        let text = hex(&all);
        assert!(text.starts_with("000102"));
        assert!(text.ends_with("fdfeff"));
        assert_eq!(text, text.to_ascii_lowercase());
        assert_eq!(unhex(&text), Some(all));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
