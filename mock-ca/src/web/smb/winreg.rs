//! MS-RRP over `\pipe\winreg`: opening keys of the CA's registry view
//! ([`crate::registry`]), reading and listing their values and subkeys.
//! Read-only, as the view is: any signed-in account may read these keys,
//! as on Windows. One journal entry per call.

use std::collections::HashMap;

use super::super::directory::Identity;
use super::super::Shared;
use super::PipeSettings;
use crate::registry::{self, Key};
use adcs_proto::rpc::assoc::Call;
use adcs_proto::rpc::rrp::{self, error, Handle, KeyInfo};

/// The keys a pipe has open: handle → path below HKLM.
#[derive(Default)]
pub(super) struct Keys {
    open: HashMap<Handle, String>,
    next: u32,
}

impl Keys {
    fn open(&mut self, path: String) -> Handle {
        self.next += 1;
        let mut h = [0u8; 20];
        h[4..8].copy_from_slice(&self.next.to_le_bytes());
        h[8..12].copy_from_slice(b"hkey");
        self.open.insert(h, path);
        h
    }
}

/// The stub of one call's answer, or a fault status.
pub(super) fn answer(
    shared: &Shared,
    keys: &mut Keys,
    call: &Call,
    who: Option<&Identity>,
    settings: PipeSettings,
) -> Result<Vec<u8>, u32> {
    let parsed = rrp::Call::parse(call.opnum, &call.stub).map_err(|e| e.call_fault())?;
    let view = registry::view(&shared.ca, settings.enforce_encryption);
    let (stub, what) = run(&view, keys, &parsed);
    super::journal_call(shared, format!("winreg.{}", name(&parsed)), who, what);
    Ok(stub)
}

fn name(c: &rrp::Call) -> &'static str {
    match c {
        rrp::Call::OpenLocalMachine => "OpenLocalMachine",
        rrp::Call::CloseKey(_) => "BaseRegCloseKey",
        rrp::Call::OpenKey { .. } => "BaseRegOpenKey",
        rrp::Call::QueryValue { .. } => "BaseRegQueryValue",
        rrp::Call::QueryInfoKey(_) => "BaseRegQueryInfoKey",
        rrp::Call::EnumKey { .. } => "BaseRegEnumKey",
        rrp::Call::EnumValue { .. } => "BaseRegEnumValue",
        rrp::Call::GetVersion(_) => "BaseRegGetVersion",
    }
}

/// A Win32 error's name in the journal.
fn outcome(code: u32) -> &'static str {
    match code {
        error::SUCCESS => "ok",
        error::FILE_NOT_FOUND => "ERROR_FILE_NOT_FOUND",
        error::INVALID_HANDLE => "ERROR_INVALID_HANDLE",
        error::MORE_DATA => "ERROR_MORE_DATA",
        error::NO_MORE_ITEMS => "ERROR_NO_MORE_ITEMS",
        _ => "error",
    }
}

/// Does one call against the view: the answer's stub and a line for the
/// journal.
fn run(view: &Key, keys: &mut Keys, call: &rrp::Call) -> (Vec<u8>, String) {
    let key_of = |keys: &Keys, h: &Handle| keys.open.get(h).cloned();
    match call {
        rrp::Call::OpenLocalMachine => {
            let h = keys.open(String::new());
            (rrp::handle_response(&h, 0), "HKLM".into())
        }
        rrp::Call::OpenKey { key, sub_key } => {
            let Some(base) = key_of(keys, key) else {
                return (
                    rrp::handle_response(&[0; 20], error::INVALID_HANDLE),
                    sub_key.clone(),
                );
            };
            let path = join(&base, sub_key);
            let what = format!(r"HKLM\{path}");
            if view.find(&path).is_none() {
                let code = error::FILE_NOT_FOUND;
                return (
                    rrp::handle_response(&[0; 20], code),
                    format!("{what}: {}", outcome(code)),
                );
            }
            let h = keys.open(path);
            (rrp::handle_response(&h, 0), what)
        }
        rrp::Call::CloseKey(h) => {
            let code = match keys.open.remove(h) {
                Some(_) => 0,
                None => error::INVALID_HANDLE,
            };
            (rrp::handle_response(&[0; 20], code), outcome(code).into())
        }
        rrp::Call::GetVersion(_) => (rrp::version_response(5), "5".into()),
        rrp::Call::QueryValue { key, name, buffer } => {
            let found = key_of(keys, key).and_then(|p| view.find(&p).map(|k| (p, k)));
            let Some((path, k)) = found else {
                return (rrp::value_error(error::INVALID_HANDLE, false), name.clone());
            };
            let what = format!(r"HKLM\{path}\{name}");
            match k.get(name) {
                Some(v) => {
                    let data = v.data();
                    let code = if data.len() > *buffer as usize {
                        error::MORE_DATA
                    } else {
                        0
                    };
                    let stub = rrp::query_value_response(v.kind(), &data, *buffer);
                    (stub, format!("{what}: {}", outcome(code)))
                }
                None => {
                    let code = error::FILE_NOT_FOUND;
                    (
                        rrp::value_error(code, false),
                        format!("{what}: {}", outcome(code)),
                    )
                }
            }
        }
        rrp::Call::QueryInfoKey(h)
        | rrp::Call::EnumKey { key: h, .. }
        | rrp::Call::EnumValue { key: h, .. } => {
            let Some(k) = key_of(keys, h).and_then(|p| view.find(&p).cloned()) else {
                let code = error::INVALID_HANDLE;
                let stub = match call {
                    rrp::Call::EnumKey { .. } => rrp::enum_key_error(code),
                    rrp::Call::EnumValue { .. } => rrp::value_error(code, true),
                    _ => rrp::query_info_key_response(&KeyInfo::default(), code),
                };
                return (stub, outcome(code).into());
            };
            listing(&k, call)
        }
    }
}

/// QueryInfoKey, EnumKey and EnumValue on an open key.
fn listing(k: &Key, call: &rrp::Call) -> (Vec<u8>, String) {
    match call {
        rrp::Call::EnumKey { index, .. } => match k.keys.get(*index as usize) {
            Some(sub) => (rrp::enum_key_response(&sub.name, 0), sub.name.clone()),
            None => (
                rrp::enum_key_error(error::NO_MORE_ITEMS),
                outcome(error::NO_MORE_ITEMS).into(),
            ),
        },
        rrp::Call::EnumValue { index, buffer, .. } => match k.values.get(*index as usize) {
            Some((name, v)) => (
                rrp::enum_value_response(name, v.kind(), &v.data(), *buffer),
                name.clone(),
            ),
            None => (
                rrp::value_error(error::NO_MORE_ITEMS, true),
                outcome(error::NO_MORE_ITEMS).into(),
            ),
        },
        _ => {
            let chars = |s: &str| s.encode_utf16().count() as u32;
            let info = KeyInfo {
                sub_keys: k.keys.len() as u32,
                max_sub_key_len: k.keys.iter().map(|s| chars(&s.name)).max().unwrap_or(0),
                values: k.values.len() as u32,
                max_value_name_len: k.values.iter().map(|(n, _)| chars(n)).max().unwrap_or(0),
                max_value_len: k
                    .values
                    .iter()
                    .map(|(_, v)| v.data().len() as u32)
                    .max()
                    .unwrap_or(0),
                written: 0,
            };
            (rrp::query_info_key_response(&info, 0), k.name.clone())
        }
    }
}

/// A subkey's path below a key's.
fn join(base: &str, sub: &str) -> String {
    let sub = sub.trim_matches('\\');
    match (base.is_empty(), sub.is_empty()) {
        (true, _) => sub.to_string(),
        (false, true) => base.to_string(),
        (false, false) => format!(r"{base}\{sub}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::Ca;
    use adcs_proto::rpc::rrp::{kind, parse_handle_response, parse_query_value};
    use adcs_proto::sd::SecurityDescriptor;

    fn view(san2: bool, enforce: bool) -> (Key, String) {
        let mut config = crate::CaConfig::default();
        config.edit_flags.attribute_subject_alt_name2 = san2;
        config.disable_extensions = vec!["1.3.6.1.4.1.311.25.2".into()];
        let clock = crate::Clock::frozen_at(1_767_225_600);
        let ca = Ca::new(config, adcs_proto::seed::Seed(7), clock).unwrap();
        (registry::view(&ca, enforce), ca.ca_cn())
    }

    /// Opens HKLM, then `path`; the handle.
    fn open(view: &Key, keys: &mut Keys, path: &str) -> Result<Handle, u32> {
        let (stub, _) = run(view, keys, &rrp::Call::OpenLocalMachine);
        let hklm = parse_handle_response(&stub).unwrap().unwrap();
        let call = rrp::Call::OpenKey {
            key: hklm,
            sub_key: path.into(),
        };
        parse_handle_response(&run(view, keys, &call).0).unwrap()
    }

    fn query(view: &Key, keys: &mut Keys, key: Handle, name: &str) -> Result<(u32, Vec<u8>), u32> {
        let call = rrp::Call::QueryValue {
            key,
            name: name.into(),
            buffer: 512,
        };
        parse_query_value(&run(view, keys, &call).0).unwrap()
    }

    #[test]
    fn certipy_reads_the_settings_as_the_engine_has_them() {
        let (v, name) = view(true, false);
        let mut keys = Keys::default();
        let here = format!(r"{}\{name}", registry::CONFIGURATION);
        let ca = open(&v, &mut keys, &here).unwrap();
        let flags = query(&v, &mut keys, ca, "InterfaceFlags").unwrap();
        assert_eq!(flags, (kind::DWORD, 0x441u32.to_le_bytes().to_vec()));
        let (k, sd) = query(&v, &mut keys, ca, "Security").unwrap();
        assert_eq!(k, kind::BINARY);
        let sd = SecurityDescriptor::parse(&sd).unwrap();
        assert_eq!(sd.dacl.map(|d| d.len()), Some(4));
        let policy = format!(r"{here}\PolicyModules\{}", registry::POLICY_MODULE);
        let p = open(&v, &mut keys, &policy).unwrap();
        let edit = query(&v, &mut keys, p, "EditFlags").unwrap().1;
        assert_eq!(edit, 0x0015_014eu32.to_le_bytes());
        let (k, list) = query(&v, &mut keys, p, "DisableExtensionList").unwrap();
        assert_eq!(k, kind::MULTI_SZ);
        let text: Vec<u16> = list
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16_lossy(&text), "1.3.6.1.4.1.311.25.2\0\0");
        assert_eq!(
            query(&v, &mut keys, p, "Nothing"),
            Err(error::FILE_NOT_FOUND)
        );
    }

    #[test]
    fn a_hardened_ca_reads_as_one() {
        let (v, name) = view(false, true);
        let mut keys = Keys::default();
        let here = format!(
            r"{}\{name}\PolicyModules\{}",
            registry::CONFIGURATION,
            registry::POLICY_MODULE
        );
        let p = open(&v, &mut keys, &here.to_ascii_uppercase()).unwrap();
        assert_eq!(
            query(&v, &mut keys, p, "editflags").unwrap().1,
            0x0011_014eu32.to_le_bytes()
        );
        assert_eq!(
            open(&v, &mut keys, r"SYSTEM\Nowhere"),
            Err(error::FILE_NOT_FOUND)
        );
        let closed = rrp::Call::CloseKey(p);
        assert_eq!(
            parse_handle_response(&run(&v, &mut keys, &closed).0).unwrap(),
            Ok([0; 20])
        );
        assert_eq!(
            query(&v, &mut keys, p, "EditFlags"),
            Err(error::INVALID_HANDLE)
        );
    }

    #[test]
    fn keys_list_their_subkeys_and_values() {
        let (v, name) = view(false, true);
        let mut keys = Keys::default();
        let ca = open(
            &v,
            &mut keys,
            &format!(r"{}\{name}", registry::CONFIGURATION),
        )
        .unwrap();
        let (first, what) = run(&v, &mut keys, &rrp::Call::EnumKey { key: ca, index: 0 });
        assert_eq!(what, "PolicyModules");
        assert_eq!(*first.last().unwrap(), 0, "ERROR_SUCCESS");
        let (_, what) = run(&v, &mut keys, &rrp::Call::EnumKey { key: ca, index: 9 });
        assert_eq!(what, "ERROR_NO_MORE_ITEMS");
        let (_, what) = run(
            &v,
            &mut keys,
            &rrp::Call::EnumValue {
                key: ca,
                index: 2,
                buffer: 64,
            },
        );
        assert_eq!(what, "InterfaceFlags");
    }
}
