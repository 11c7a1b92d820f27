//! The SMB target: a stream of direct-TCP frames through one server
//! connection, and the named pipes' call parsers.

/// A fixed account for the SMB target's sign-ins.
struct FuzzAcceptor;

impl adcs_proto::rpc::assoc::Acceptor for FuzzAcceptor {
    fn challenge(&mut self, negotiate: &[u8]) -> Result<adcs_proto::ntlm::ChallengeState, String> {
        let names = adcs_proto::ntlm::ServerNames {
            nb_domain: "CONTOSO".into(),
            nb_computer: "CA01".into(),
            dns_domain: "contoso.test".into(),
            dns_computer: "ca01.contoso.test".into(),
        };
        adcs_proto::ntlm::challenge(negotiate, &names, [7; 8], 0).map_err(|e| e.to_string())
    }

    fn authenticate(
        &mut self,
        state: &adcs_proto::ntlm::ChallengeState,
        msg: &[u8],
    ) -> Result<(String, adcs_proto::ntlm::Verified, u32), String> {
        use adcs_proto::ntlm;
        let auth = ntlm::parse_authenticate(msg).map_err(|e| e.to_string())?;
        let off = ntlm::ChannelBindingPolicy::Off;
        let v = ntlm::verify(state, msg, &auth, "pw", off, None).map_err(|e| e.to_string())?;
        Ok((auth.user, v, auth.flags))
    }
}

impl adcs_proto::smb::server::Authenticator for FuzzAcceptor {
    fn ntlm(&mut self) -> &mut dyn adcs_proto::rpc::assoc::Acceptor {
        self
    }
}

/// A stream of direct-TCP frames as the SMB server reads them: each
/// message through one connection (pipe calls answered with canned data),
/// and every pipe interface's call parsers over the bytes.
pub fn smb(data: &[u8]) {
    use adcs_proto::rpc::{rrp, services};
    use adcs_proto::smb::server::{Answer, Config, Connection, PipeResult};
    use adcs_proto::smb::{frame_len, MAX_MESSAGE};
    let mut conn = Connection::new(Config {
        server_guid: [1; 16],
        pipes: vec!["cert".into(), "winreg".into()],
        now_filetime: 0,
    });
    let mut rest = data;
    while let Some(n) = frame_len(rest) {
        if n > rest.len() || n - 4 > MAX_MESSAGE {
            break;
        }
        let (frame, tail) = rest.split_at(n);
        rest = tail;
        let Ok(mut received) = conn.receive(&frame[4..], &mut FuzzAcceptor) else {
            break;
        };
        for c in &mut received.commands {
            if let Answer::Pipe(call) = &c.answer {
                let result = PipeResult::Data {
                    data: frame.to_vec(),
                    more: frame.len() % 2 == 0,
                };
                c.answer = Answer::Done(call.answer(result));
            }
        }
        let _ = conn.reply(received);
    }
    for op in [2, 5, 9, 10, 15, 16, 17, 26] {
        if let Ok(c) = rrp::Call::parse(op, data) {
            let (again, stub) = c.encode();
            assert_eq!(rrp::Call::parse(again, &stub).as_ref(), Ok(&c));
        }
    }
    let _ = rrp::parse_query_value(data);
    let _ = services::share_enum_level(data);
    let _ = services::parse_share_names(data);
    for op in [0, 6, 15, 16] {
        let _ = services::ScmCall::parse(op, data);
    }
}

/// SMB's seeds: SMB1's negotiate then SMB2's, and a sign-in's first leg.
pub(super) fn seeds(add: &mut impl FnMut(&'static str, &str, Vec<u8>)) {
    use adcs_proto::smb::{command, dialect, frame, message, Header};
    let request = |cmd: u16, id: u64, body: Vec<u8>| {
        let h = Header {
            command: cmd,
            credits: 1,
            message_id: id,
            ..Header::default()
        };
        let mut m = h.encode().to_vec();
        m.extend(body);
        frame(&m)
    };
    let mut smb1 = b"\xffSMB\x72".to_vec();
    smb1.resize(32, 0);
    smb1.extend([0, 34, 0]);
    smb1.extend(b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0");
    let mut stream = frame(&smb1);
    let mut preauth = vec![1, 0, 32, 0, 1, 0];
    preauth.extend([5; 32]);
    let negotiate = message::Negotiate {
        security_mode: 1,
        capabilities: 0,
        client_guid: [3; 16],
        dialects: dialect::SERVED.to_vec(),
        contexts: vec![
            (message::context::PREAUTH_INTEGRITY, preauth),
            (message::context::ENCRYPTION, vec![1, 0, 1, 0]),
        ],
    };
    stream.extend(request(command::NEGOTIATE, 0, negotiate.encode()));
    let (init, _) =
        adcs_proto::gss::spnego::client_ntlm_init(&adcs_proto::ntlm::client_negotiate());
    let setup = message::SessionSetup {
        flags: 0,
        security_mode: 1,
        token: init,
        previous_session: 0,
    };
    stream.extend(request(command::SESSION_SETUP, 1, setup.encode()));
    add("smb", "negotiate-and-sign-in.bin", stream);
    let (op, stub) = adcs_proto::rpc::rrp::Call::QueryValue {
        key: [1; 20],
        name: "EditFlags".into(),
        buffer: 512,
    }
    .encode();
    add("smb", &format!("rrp-{op}.ndr"), stub);
}
