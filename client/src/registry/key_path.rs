//! Registry key paths as `.reg` files and callers write them: compared
//! case-insensitively with short hive names (`HKLM`) expanded, so two
//! spellings of one key are one key.

/// Key paths compare case-insensitively, with `HKLM\` for `HKEY_LOCAL_MACHINE\`.
pub(super) fn normalise_key(key: &str) -> String {
    let key = key.trim().trim_matches('\\');
    let (hive, rest) = key.split_once('\\').unwrap_or((key, ""));
    let hive = match hive.to_ascii_uppercase().as_str() {
        "HKLM" => "HKEY_LOCAL_MACHINE".to_string(),
        "HKCU" => "HKEY_CURRENT_USER".to_string(),
        "HKCR" => "HKEY_CLASSES_ROOT".to_string(),
        "HKU" => "HKEY_USERS".to_string(),
        "HKCC" => "HKEY_CURRENT_CONFIG".to_string(),
        other => other.to_string(),
    };
    if rest.is_empty() {
        hive
    } else {
        format!("{hive}\\{}", rest.to_lowercase())
    }
}

/// Whether `key` is `ancestor` or below it.
pub(super) fn is_within(key: &str, ancestor: &str) -> bool {
    key == ancestor
        || key
            .strip_prefix(ancestor)
            .is_some_and(|r| r.starts_with('\\'))
}

/// A key path as written in a new `[KEY]` line: the full hive name.
pub(super) fn display_key(key: &str) -> String {
    let key = key.trim().trim_matches('\\');
    let (hive, rest) = key.split_once('\\').unwrap_or((key, ""));
    let full = normalise_key(hive);
    if rest.is_empty() {
        full
    } else {
        format!("{full}\\{rest}")
    }
}
