//! The named pipes' server ends: DCE/RPC over each open (a
//! [`PipeEnd`] for the message framing, an [`Association`] for binds,
//! NTLM and calls), and the calls answered per pipe: ICertPassage as over
//! TCP, the registry view, the share list and the service manager.

use std::collections::HashMap;
use std::sync::Arc;

use super::super::directory::Identity;
use super::super::rpc::{self, DirectoryAcceptor, Service};
use super::super::Shared;
use super::{services, winreg, PipeSettings};
use adcs_proto::rpc::assoc::{Association, Call, Step};
use adcs_proto::rpc::pipe::PipeEnd;
use adcs_proto::rpc::{rrp, status as fault, ICERT_PASSAGE};
use adcs_proto::smb::message::FileId;
use adcs_proto::smb::server::{PipeCall, PipeOp, PipeResult};
use adcs_proto::smb::status;

/// How the journal names ICertPassage calls over the pipe.
const OVER_SMB: &str = "SMB";

/// One open pipe's state.
struct Open {
    end: PipeEnd,
    assoc: Association,
    acceptor: DirectoryAcceptor,
    /// winreg's open keys.
    keys: winreg::Keys,
    /// After a protocol error the pipe answers nothing more.
    broken: bool,
}

/// The connection's open pipes.
#[derive(Default)]
pub(super) struct Pipes {
    open: HashMap<FileId, Open>,
    groups: u32,
}

impl Pipes {
    pub(super) fn close(&mut self, file: &FileId) {
        self.open.remove(file);
    }

    /// Does one read, write or transceive; `who` is the SMB session's
    /// account.
    pub(super) async fn call(
        &mut self,
        shared: &Arc<Shared>,
        call: &PipeCall,
        who: Option<&Identity>,
        settings: PipeSettings,
    ) -> PipeResult {
        let groups = &mut self.groups;
        let open = self.open.entry(call.file).or_insert_with(|| {
            *groups += 1;
            let interface = match call.pipe.as_str() {
                "cert" => ICERT_PASSAGE,
                "winreg" => rrp::WINREG,
                "srvsvc" => services::SRVSVC,
                _ => services::SVCCTL,
            };
            Open {
                end: PipeEnd::default(),
                assoc: Association::on_pipe(vec![interface], &call.pipe, 0x5000 + *groups),
                acceptor: DirectoryAcceptor::new(shared.clone()),
                keys: winreg::Keys::default(),
                broken: false,
            }
        });
        if open.broken {
            return PipeResult::Failed(status::PIPE_DISCONNECTED);
        }
        match &call.op {
            PipeOp::Write(data) => write(shared, open, call, who, data, settings).await,
            PipeOp::Read(max) => read(open, *max),
            PipeOp::Transceive(data, max) => {
                match write(shared, open, call, who, data, settings).await {
                    PipeResult::Written(_) => read(open, *max),
                    failed => failed,
                }
            }
        }
    }
}

fn read(open: &mut Open, max: u32) -> PipeResult {
    match open.end.read(max as usize) {
        Some(r) => PipeResult::Data {
            data: r.data,
            more: r.more,
        },
        None => PipeResult::Failed(status::PIPE_EMPTY),
    }
}

async fn write(
    shared: &Arc<Shared>,
    open: &mut Open,
    call: &PipeCall,
    who: Option<&Identity>,
    data: &[u8],
    settings: PipeSettings,
) -> PipeResult {
    let fragments = match open.end.write(data) {
        Ok(f) => f,
        Err(_) => {
            open.broken = true;
            return PipeResult::Failed(status::PIPE_DISCONNECTED);
        }
    };
    for frag in fragments {
        match open.assoc.feed(&frag, &mut open.acceptor) {
            Step::Nothing => {}
            Step::Send(bytes) => open.end.queue(&bytes),
            Step::Call(c) => {
                let Some(bytes) = answer(shared, open, &call.pipe, &c, who, settings).await else {
                    open.broken = true;
                    return PipeResult::Failed(status::PIPE_DISCONNECTED);
                };
                open.end.queue(&bytes);
            }
            Step::Close(bytes, _) => {
                open.end.queue(&bytes);
                open.broken = true;
            }
        }
    }
    PipeResult::Written(data.len() as u32)
}

/// The caller: RPC's own NTLM when the bind had it, else (a bind without
/// authentication) the SMB session's account, as Windows takes it.
fn caller(open: &Open, session: Option<&Identity>) -> Option<Identity> {
    match (open.assoc.authenticated(), open.assoc.auth_failure()) {
        (Some(_), _) => open.acceptor.identity.clone(),
        (None, Some(_)) => None,
        (None, None) => session.cloned(),
    }
}

/// The reply to one call; `None` drops the pipe (an injected reset).
async fn answer(
    shared: &Arc<Shared>,
    open: &mut Open,
    pipe: &str,
    call: &Call,
    session: Option<&Identity>,
    settings: PipeSettings,
) -> Option<Vec<u8>> {
    let who = caller(open, session);
    let why = open.assoc.auth_failure().map(str::to_string);
    let result = match pipe {
        "cert" => {
            let service = Service::Icpr {
                enforce: settings.enforce_encryption,
                method: OVER_SMB,
            };
            return rpc::answer(shared, service, &mut open.assoc, call, who, why).await;
        }
        _ if who.is_none() => Err(fault::ACCESS_DENIED),
        "winreg" => winreg::answer(shared, &mut open.keys, call, who.as_ref(), settings),
        "srvsvc" => services::srvsvc(shared, call, who.as_ref()),
        _ => services::svcctl(shared, call, who.as_ref()),
    };
    Some(match result {
        Ok(stub) => open.assoc.respond(call, &stub),
        Err(st) => open.assoc.fault(call.call_id, call.context_id, st),
    })
}
