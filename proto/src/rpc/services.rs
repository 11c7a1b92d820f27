//! The two small interfaces clients of a CA's named pipes also touch:
//! srvsvc's NetrShareEnum (MS-SRVS, the share list `smbclient.py shares`
//! asks) and svcctl's service-status calls (MS-SCMR, which `reg.py` makes
//! to see that the remote registry service runs), in NDR 2.0.

use super::ndr::{Reader, Writer};
use super::{RpcError, SyntaxId};

/// srvsvc v3.0.
pub const SRVSVC: SyntaxId = SyntaxId::new("4b324fc8-1670-01d3-1278-5a47bf6ee188", 3, 0);
/// svcctl v2.0.
pub const SVCCTL: SyntaxId = SyntaxId::new("367abb81-9844-35f1-ad32-98f038001003", 2, 0);

/// NetrShareEnum's opnum.
pub const NETR_SHARE_ENUM: u16 = 15;
/// ERROR_INVALID_LEVEL.
pub const ERROR_INVALID_LEVEL: u32 = 124;

/// A share as level 1 lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub name: String,
    /// STYPE_* (`0x80000003`: IPC, special).
    pub kind: u32,
    pub remark: String,
}

/// STYPE_IPC | STYPE_SPECIAL.
pub const STYPE_IPC_SPECIAL: u32 = 0x8000_0003;

/// The level a NetrShareEnum asks for.
pub fn share_enum_level(stub: &[u8]) -> Result<u32, RpcError> {
    let mut r = Reader::new(stub);
    if r.pointer("ServerName")? {
        r.wide_string("ServerName")?;
    }
    r.u32("Level")
}

/// The client's NetrShareEnum at level 1.
pub fn share_enum_request(server: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.pointer(true);
    w.wide_string(server);
    w.u32(1);
    w.u32(1);
    w.pointer(true);
    w.u32(0);
    w.pointer(false);
    w.u32(u32::MAX);
    w.pointer(false);
    w.finish()
}

/// NetrShareEnum's answer at level 1.
pub fn share_enum_response(shares: &[Share]) -> Vec<u8> {
    let n = shares.len() as u32;
    let mut w = Writer::new();
    w.u32(1);
    w.u32(1);
    w.pointer(true);
    w.u32(n);
    w.pointer(true);
    w.u32(n);
    for s in shares {
        w.pointer(true);
        w.u32(s.kind);
        w.pointer(true);
    }
    for s in shares {
        w.wide_string(&s.name);
        w.wide_string(&s.remark);
    }
    w.u32(n);
    w.pointer(true);
    w.u32(0);
    w.u32(0);
    w.finish()
}

/// A refused NetrShareEnum.
pub fn share_enum_error(level: u32, code: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(level);
    w.u32(level);
    w.pointer(false);
    w.u32(0);
    w.pointer(false);
    w.u32(code);
    w.finish()
}

/// The share names of a level-1 answer, client side.
pub fn parse_share_names(stub: &[u8]) -> Result<Vec<String>, RpcError> {
    let mut r = Reader::new(stub);
    r.u32("Level")?;
    r.u32("switch")?;
    if !r.pointer("container")? {
        return Ok(Vec::new());
    }
    let n = r.u32("EntriesRead")?;
    if !r.pointer("Buffer")? {
        return Ok(Vec::new());
    }
    let count = r.u32("count")?;
    if count != n || count as usize > r.remaining() / 12 {
        return Err(RpcError::Malformed("SHARE_INFO_1 array"));
    }
    for _ in 0..count {
        r.u32("netname")?;
        r.u32("type")?;
        r.u32("remark")?;
    }
    let mut names = Vec::new();
    for _ in 0..count {
        names.push(r.wide_string("netname")?);
        r.wide_string("remark")?;
    }
    Ok(names)
}

/// svcctl's opnums served.
pub mod scm {
    pub const CLOSE_SERVICE_HANDLE: u16 = 0;
    pub const QUERY_SERVICE_STATUS: u16 = 6;
    pub const OPEN_SC_MANAGER: u16 = 15;
    pub const OPEN_SERVICE: u16 = 16;
    /// ERROR_SERVICE_DOES_NOT_EXIST.
    pub const ERROR_SERVICE_DOES_NOT_EXIST: u32 = 1060;
    /// SERVICE_WIN32_SHARE_PROCESS and SERVICE_RUNNING.
    pub const WIN32_SHARE_PROCESS: u32 = 0x20;
    pub const RUNNING: u32 = 4;
    /// What every authenticated user may ask of the manager
    /// (SC_MANAGER_CONNECT, ENUMERATE_SERVICE, QUERY_LOCK_STATUS, READ_CONTROL).
    pub const MANAGER_USER_RIGHTS: u32 = 0x0002_0015;
    /// And of a service (QUERY_CONFIG, QUERY_STATUS, ENUMERATE_DEPENDENTS,
    /// INTERROGATE, USER_DEFINED_CONTROL, READ_CONTROL).
    pub const SERVICE_USER_RIGHTS: u32 = 0x0002_018d;
}

/// A call to the service manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScmCall {
    OpenManager {
        access: u32,
    },
    OpenService {
        manager: [u8; 20],
        name: String,
        access: u32,
    },
    QueryStatus([u8; 20]),
    Close([u8; 20]),
}

fn handle(r: &mut Reader) -> Result<[u8; 20], RpcError> {
    Ok(r.bytes(20, "a handle")?.try_into().expect("20 bytes"))
}

impl ScmCall {
    pub fn parse(opnum: u16, stub: &[u8]) -> Result<ScmCall, RpcError> {
        let mut r = Reader::new(stub);
        Ok(match opnum {
            scm::OPEN_SC_MANAGER => {
                for what in ["lpMachineName", "lpDatabaseName"] {
                    if r.pointer(what)? {
                        r.wide_string(what)?;
                    }
                }
                ScmCall::OpenManager {
                    access: r.u32("dwDesiredAccess")?,
                }
            }
            scm::OPEN_SERVICE => ScmCall::OpenService {
                manager: handle(&mut r)?,
                name: r.wide_string("lpServiceName")?,
                access: r.u32("dwDesiredAccess")?,
            },
            scm::QUERY_SERVICE_STATUS => ScmCall::QueryStatus(handle(&mut r)?),
            scm::CLOSE_SERVICE_HANDLE => ScmCall::Close(handle(&mut r)?),
            other => return Err(RpcError::Opnum(other)),
        })
    }
}

/// A handle and a status.
pub fn scm_handle_response(h: &[u8; 20], code: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(h);
    w.u32(code);
    w.finish()
}

/// RQueryServiceStatus's answer: the SERVICE_STATUS and a status.
pub fn scm_status_response(kind: u32, state: u32, code: u32) -> Vec<u8> {
    let mut w = Writer::new();
    for v in [kind, state, 0, 0, 0, 0, 0, code] {
        w.u32(v);
    }
    w.finish()
}
