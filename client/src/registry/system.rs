//! The real Windows registry behind the [`Registry`] trait, through
//! `winreg`; only built on Windows.

use super::{Change, RegValue, Registry, RegistryError};

/// The real registry (Windows only).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRegistry;

impl SystemRegistry {
    fn open(key: &str, write: bool) -> Result<Option<winreg::RegKey>, RegistryError> {
        use winreg::enums::*;
        let norm = key.trim().trim_matches('\\');
        let (hive, rest) = norm.split_once('\\').unwrap_or((norm, ""));
        let root = match hive.to_ascii_uppercase().as_str() {
            "HKLM" | "HKEY_LOCAL_MACHINE" => HKEY_LOCAL_MACHINE,
            "HKCU" | "HKEY_CURRENT_USER" => HKEY_CURRENT_USER,
            other => return Err(RegistryError::System(format!("unsupported hive `{other}`"))),
        };
        let root = winreg::RegKey::predef(root);
        if write {
            root.create_subkey(rest)
                .map(|(k, _)| Some(k))
                .map_err(|e| RegistryError::System(format!("{key}: {e}")))
        } else {
            match root.open_subkey(rest) {
                Ok(k) => Ok(Some(k)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(RegistryError::System(format!("{key}: {e}"))),
            }
        }
    }
}

impl Registry for SystemRegistry {
    fn describe(&self) -> String {
        "the Windows registry".into()
    }

    fn value(&self, key: &str, name: &str) -> Result<Option<RegValue>, RegistryError> {
        let Some(k) = SystemRegistry::open(key, false)? else {
            return Ok(None);
        };
        match k.get_raw_value(name) {
            Ok(v) => Ok(Some(RegValue::from_raw(v.vtype as u32, v.bytes.to_vec()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::System(format!("{key}\\{name}: {e}"))),
        }
    }

    fn apply(&mut self, key: &str, changes: &[Change]) -> Result<(), RegistryError> {
        let k = SystemRegistry::open(key, true)?.expect("created");
        for change in changes {
            match change {
                Change::Set { name, value } => {
                    let vtype = match value.kind() {
                        1 => winreg::enums::RegType::REG_SZ,
                        3 => winreg::enums::RegType::REG_BINARY,
                        4 => winreg::enums::RegType::REG_DWORD,
                        other => {
                            return Err(RegistryError::System(format!(
                                "value type {other} is not written by this tool"
                            )))
                        }
                    };
                    let raw = winreg::RegValue {
                        vtype,
                        bytes: value.raw_bytes().into(),
                    };
                    k.set_raw_value(name, &raw)
                        .map_err(|e| RegistryError::System(format!("{key}\\{name}: {e}")))?;
                }
                Change::Delete { name } => match k.delete_value(name) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(RegistryError::System(format!("{key}\\{name}: {e}"))),
                },
            }
        }
        Ok(())
    }
}
