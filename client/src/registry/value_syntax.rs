//! One value line of a `.reg` file, read (`"name"=dword:…`, `hex:`,
//! `hex(N):`, strings with escapes, `=-` for a deletion) and written the
//! way regedit writes it.

use super::RegValue;

/// `s`, cut to 60 characters for a message.
pub(super) fn clip(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Whether a (partial) value line holds `hex…` data, which may continue
/// on the next line.
pub(super) fn is_hex_data(logical: &str) -> bool {
    let rest = match logical.strip_prefix('@') {
        Some(r) => Some(r),
        None => logical
            .strip_prefix('"')
            .and_then(|s| unquote(s))
            .map(|(_, r)| r),
    };
    rest.and_then(|r| r.trim_start().strip_prefix('='))
        .is_some_and(|d| d.trim_start().to_ascii_lowercase().starts_with("hex"))
}

/// Reads a quoted string starting after its opening quote; returns the text
/// and the rest after the closing quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => return None,
            },
            '"' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// A value line: its name (empty for `@`) and data (`None` for `=-`).
pub(super) fn parse_value(line: &str) -> Result<(String, Option<RegValue>), String> {
    let (name, rest) = if let Some(r) = line.strip_prefix('@') {
        (String::new(), r)
    } else {
        let inner = &line[1..];
        unquote(inner)
            .ok_or_else(|| format!("value name in `{}` has no closing quote", clip(line)))?
    };
    let shown = if name.is_empty() {
        "@".to_string()
    } else {
        name.clone()
    };
    let data = rest
        .trim_start()
        .strip_prefix('=')
        .ok_or_else(|| format!("value `{shown}` has no `=`"))?
        .trim();
    if data == "-" {
        return Ok((name, None));
    }
    if let Some(s) = data.strip_prefix('"') {
        let (text, tail) = unquote(s)
            .ok_or_else(|| format!("the string of value `{shown}` has no closing quote"))?;
        if !tail.trim().is_empty() && !tail.trim().starts_with(';') {
            return Err(format!(
                "value `{shown}` has `{}` after its closing quote",
                clip(tail.trim())
            ));
        }
        return Ok((name, Some(RegValue::String(text))));
    }
    let lower = data.to_ascii_lowercase();
    if let Some(d) = lower.strip_prefix("dword:") {
        let d = d.trim();
        if d.is_empty() || d.len() > 8 {
            return Err(format!(
                "value `{shown}`: dword `{d}` is not 1 to 8 hex digits"
            ));
        }
        let v = u32::from_str_radix(d, 16)
            .map_err(|_| format!("value `{shown}`: dword `{d}` is not hex"))?;
        return Ok((name, Some(RegValue::Dword(v))));
    }
    let (kind, hex) = if let Some(h) = lower.strip_prefix("hex:") {
        (3, h)
    } else if let Some(h) = lower.strip_prefix("hex(") {
        let (k, h) = h
            .split_once("):")
            .ok_or_else(|| format!("value `{shown}`: `hex(` needs `N):`"))?;
        let k = u32::from_str_radix(k.trim(), 16)
            .map_err(|_| format!("value `{shown}`: type `hex({k})` is not a hex number"))?;
        (k, h)
    } else {
        return Err(format!(
            "value `{shown}` has data `{}` that is none of \"string\", dword:, hex: or hex(N):",
            clip(data)
        ));
    };
    let mut bytes = Vec::new();
    for part in hex.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let b = (part.len() <= 2)
            .then(|| u8::from_str_radix(part, 16).ok())
            .flatten()
            .ok_or_else(|| format!("value `{shown}`: `{part}` is not a hex byte"))?;
        bytes.push(b);
    }
    let value = if kind == 3 {
        RegValue::Binary(bytes)
    } else {
        RegValue::Typed { kind, data: bytes }
    };
    Ok((name, Some(value)))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The lines regedit writes for a value: hex data wrapped below 80 columns
/// with a trailing backslash and two spaces of indent.
pub(super) fn value_lines(name: &str, value: &RegValue) -> Vec<String> {
    let name = if name.is_empty() {
        "@".to_string()
    } else {
        quote(name)
    };
    let (prefix, bytes) = match value {
        RegValue::String(s) => return vec![format!("{name}={}", quote(s))],
        RegValue::Dword(d) => return vec![format!("{name}=dword:{d:08x}")],
        RegValue::Binary(b) => (format!("{name}=hex:"), b),
        RegValue::Typed { kind, data } => (format!("{name}=hex({kind:x}):"), data),
    };
    let mut lines = Vec::new();
    let mut current = prefix;
    for (i, b) in bytes.iter().enumerate() {
        let piece = if i + 1 < bytes.len() {
            format!("{b:02x},")
        } else {
            format!("{b:02x}")
        };
        if current.len() + piece.len() > 78 {
            current.push('\\');
            lines.push(std::mem::replace(&mut current, "  ".into()));
        }
        current.push_str(&piece);
    }
    lines.push(current);
    lines
}
