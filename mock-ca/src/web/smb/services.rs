//! srvsvc's share list and svcctl's view of the one service clients ask
//! about (RemoteRegistry, running), with Windows' rights: every account
//! may list shares and query a service's state; only administrators may
//! ask the service manager for more.

use super::super::directory::Identity;
use super::super::Shared;
use adcs_proto::rpc::assoc::Call;
use adcs_proto::rpc::services::{self, scm, ScmCall, Share};
use adcs_proto::rpc::status;

pub(super) use adcs_proto::rpc::services::{SRVSVC, SVCCTL};

/// ERROR_ACCESS_DENIED.
const ACCESS_DENIED: u32 = 5;

/// NetrShareEnum: `IPC$`, the one share served.
pub(super) fn srvsvc(shared: &Shared, call: &Call, who: Option<&Identity>) -> Result<Vec<u8>, u32> {
    if call.opnum != services::NETR_SHARE_ENUM {
        return Err(status::NCA_S_OP_RNG_ERROR);
    }
    let level = services::share_enum_level(&call.stub).map_err(|_| status::RPC_X_BAD_STUB_DATA)?;
    let path = "srvsvc.NetrShareEnum".to_string();
    super::journal_call(shared, path, who, format!("level {level}"));
    if level != 1 {
        return Ok(services::share_enum_error(
            level,
            services::ERROR_INVALID_LEVEL,
        ));
    }
    Ok(services::share_enum_response(&[Share {
        name: "IPC$".into(),
        kind: services::STYPE_IPC_SPECIAL,
        remark: "Remote IPC".into(),
    }]))
}

/// The manager's and RemoteRegistry's handles (no state to keep: each
/// names what it is).
const MANAGER: [u8; 20] = *b"\0\0\0\0scmanager\0\0\0\0\0\0\0";
const REMOTE_REGISTRY: [u8; 20] = *b"\0\0\0\0remoteregistry\0\0";

/// The service-manager calls `reg.py` makes; an administrator may ask
/// more of them than other accounts.
pub(super) fn svcctl(shared: &Shared, call: &Call, who: Option<&Identity>) -> Result<Vec<u8>, u32> {
    let admin = who.is_some_and(|w| w.admin);
    let c = ScmCall::parse(call.opnum, &call.stub).map_err(|e| e.call_fault())?;
    let name = match &c {
        ScmCall::OpenManager { .. } => "ROpenSCManagerW".to_string(),
        ScmCall::OpenService { name, .. } => format!("ROpenServiceW {name}"),
        ScmCall::QueryStatus(_) => "RQueryServiceStatus".to_string(),
        ScmCall::Close(_) => "RCloseServiceHandle".to_string(),
    };
    super::journal_call(shared, "svcctl".into(), who, name);
    let allowed = |access: u32, user: u32| admin || access & !user == 0;
    Ok(match c {
        ScmCall::OpenManager { access } if allowed(access, scm::MANAGER_USER_RIGHTS) => {
            services::scm_handle_response(&MANAGER, 0)
        }
        ScmCall::OpenService {
            manager,
            name,
            access,
        } if manager == MANAGER => {
            if !name.eq_ignore_ascii_case("RemoteRegistry") {
                services::scm_handle_response(&[0; 20], scm::ERROR_SERVICE_DOES_NOT_EXIST)
            } else if allowed(access, scm::SERVICE_USER_RIGHTS) {
                services::scm_handle_response(&REMOTE_REGISTRY, 0)
            } else {
                services::scm_handle_response(&[0; 20], ACCESS_DENIED)
            }
        }
        ScmCall::QueryStatus(h) if h == REMOTE_REGISTRY => {
            services::scm_status_response(scm::WIN32_SHARE_PROCESS, scm::RUNNING, 0)
        }
        ScmCall::Close(h) if h == MANAGER || h == REMOTE_REGISTRY => {
            services::scm_handle_response(&[0; 20], 0)
        }
        ScmCall::OpenManager { .. } => services::scm_handle_response(&[0; 20], ACCESS_DENIED),
        ScmCall::QueryStatus(_) => services::scm_status_response(0, 0, 6),
        ScmCall::OpenService { .. } | ScmCall::Close(_) => {
            services::scm_handle_response(&[0; 20], 6)
        }
    })
}
