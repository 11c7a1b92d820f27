//! SMB2 against a client written here from the same message codecs:
//! every dialect's keys and signatures (checked against values impacket's
//! implementation computes), the negotiate and NTLM sign-in legs, pipes
//! and the refusals Windows gives.

use super::message::{self, FileId};
use super::server::{Answer, Config, Connection, PipeOp, PipeResult, Received};
use super::*;
use crate::gss::spnego;
use crate::ntlm;
use crate::rpc::assoc::Acceptor;
use crate::rpc::assoc_tests::Password;

/// An acceptor for alice's password, the only account's.
fn alice() -> Password {
    Password("Alice-Passw0rd")
}

impl super::server::Authenticator for Password {
    fn ntlm(&mut self) -> &mut dyn Acceptor {
        self
    }
}

fn server() -> Connection {
    Connection::new(Config {
        server_guid: [7; 16],
        pipes: vec!["cert".into(), "winreg".into()],
        now_filetime: ntlm::filetime(1_700_000_000),
    })
}

/// A client of one dialect: message IDs, the session, its key.
struct Client {
    dialect: u16,
    next_id: u64,
    session: u64,
    tree: u32,
    key: Option<Vec<u8>>,
    preauth: [u8; 64],
}

impl Client {
    fn new(dialect: u16) -> Client {
        Client {
            dialect,
            next_id: 0,
            session: 0,
            tree: 0,
            key: None,
            preauth: [0; 64],
        }
    }

    /// A request: header, body, signed once there is a key.
    fn request(&mut self, command: u16, body: Vec<u8>) -> Vec<u8> {
        let h = Header {
            command,
            credits: 1,
            message_id: self.next_id,
            tree_id: self.tree,
            session_id: self.session,
            ..Header::default()
        };
        self.next_id += 1;
        let mut m = h.encode().to_vec();
        m.extend(body);
        if let Some(k) = &self.key {
            signing::sign(self.dialect, k, &mut m);
        }
        m
    }

    /// Sends a message through the server with no pipe calls expected.
    fn send(&mut self, s: &mut Connection, msg: &[u8]) -> (Header, Vec<u8>) {
        let r = s.receive(msg, &mut alice()).expect("a well-formed message");
        let reply = s.reply(r);
        let h = Header::parse(&reply).expect("a response header");
        (h, reply)
    }

    fn negotiate(&mut self, s: &mut Connection, dialects: &[u16]) -> message::NegotiateResponse {
        let mut contexts = Vec::new();
        if dialects.contains(&dialect::SMB_3_1_1) {
            let mut preauth = vec![1, 0, 32, 0, 1, 0];
            preauth.extend([5; 32]);
            contexts.push((message::context::PREAUTH_INTEGRITY, preauth));
            contexts.push((message::context::ENCRYPTION, vec![1, 0, 1, 0]));
        }
        let body = message::Negotiate {
            security_mode: 1,
            capabilities: 0,
            client_guid: [3; 16],
            dialects: dialects.to_vec(),
            contexts,
        }
        .encode();
        let req = self.request(command::NEGOTIATE, body);
        let (h, reply) = self.send(s, &req);
        assert_eq!(h.status, status::SUCCESS);
        let resp = message::NegotiateResponse::parse(&reply[HEADER_LEN..]).unwrap();
        if resp.dialect == dialect::SMB_3_1_1 {
            self.preauth = signing::preauth(&signing::preauth(&[0; 64], &req), &reply);
        }
        self.dialect = resp.dialect;
        resp
    }

    /// NTLM inside SPNEGO, both legs; the final status.
    fn sign_in(&mut self, s: &mut Connection, password: &str) -> u32 {
        let negotiate = ntlm::client_negotiate();
        let (init, _) = spnego::client_ntlm_init(&negotiate);
        let setup = |token: Vec<u8>| {
            message::SessionSetup {
                flags: 0,
                security_mode: 1,
                token,
                previous_session: 0,
            }
            .encode()
        };
        let req = self.request(command::SESSION_SETUP, setup(init));
        let mut hash = signing::preauth(&self.preauth, &req);
        let (h, reply) = self.send(s, &req);
        assert_eq!(h.status, status::MORE_PROCESSING_REQUIRED);
        assert_eq!(h.flags & flags::SIGNED, 0, "the challenge is not signed");
        hash = signing::preauth(&hash, &reply);
        self.session = h.session_id;
        let token = message::session_setup_token(&reply[HEADER_LEN..]).unwrap();
        let challenge = spnego::read_resp(&token).unwrap().response_token.unwrap();
        let opts = ntlm::ClientOptions::default();
        let auth =
            ntlm::client_authenticate(&negotiate, &challenge, "alice", "CONTOSO", password, &opts)
                .unwrap();
        let req = self.request(
            command::SESSION_SETUP,
            setup(spnego::client_ntlm_answer(&auth, None)),
        );
        hash = signing::preauth(&hash, &req);
        let (h, reply) = self.send(s, &req);
        if h.status == status::SUCCESS {
            let session_key = ntlm::client_session_key(&auth, password).unwrap();
            let key = signing::signing_key(self.dialect, &session_key, &hash);
            assert!(
                signing::verifies(self.dialect, &key, &reply),
                "the last SESSION_SETUP response is signed with the session's key"
            );
            self.key = Some(key);
        }
        h.status
    }

    fn tree_connect(&mut self, s: &mut Connection, share: &str) -> u32 {
        let req = self.request(command::TREE_CONNECT, message::tree_connect(share));
        let (h, reply) = self.send(s, &req);
        self.check_signed(&reply);
        self.tree = h.tree_id;
        h.status
    }

    fn check_signed(&self, reply: &[u8]) {
        let key = self.key.as_ref().expect("signed in");
        assert!(signing::verifies(self.dialect, key, reply));
    }

    fn create(&mut self, s: &mut Connection, name: &str) -> (u32, Option<FileId>) {
        let body = message::Create {
            desired_access: 0x0012_019f,
            create_disposition: 1,
            create_options: 0,
            name: name.into(),
        }
        .encode();
        let req = self.request(command::CREATE, body);
        let (h, reply) = self.send(s, &req);
        let file = (h.status == status::SUCCESS)
            .then(|| message::created_file(&reply[HEADER_LEN..]).unwrap());
        (h.status, file)
    }
}

#[test]
fn keys_and_signatures_are_those_impacket_computes() {
    let k = signing::kdf(&[1; 16], b"SMBSigningKey\0", &[2; 64]);
    assert_eq!(crate::hex::hex(&k), "5c7f95b542c35e62407feafae150355e");
    let k30 = signing::signing_key(dialect::SMB_3_0, &[1; 16], &[0; 64]);
    assert_eq!(crate::hex::hex(&k30), "30d9dbfcf1c1ca9d80913807f8ba881d");
    let m: Vec<u8> = (0..100).collect();
    let cmac = signing::signature(dialect::SMB_3_1_1, &k, &m);
    assert_eq!(crate::hex::hex(&cmac), "f46272ee1c6752e313ecccdc3ba7cae2");
    let hmac = signing::signature(dialect::SMB_2_1, &[1; 16], &m);
    assert_eq!(crate::hex::hex(&hmac), "c92aeaeb2a04987ce4ff2420c88463c9");
}

#[test]
fn frames_and_headers_round_trip() {
    let framed = frame(b"\xfeSMB");
    assert_eq!(framed[..4], [0, 0, 0, 4]);
    assert_eq!(frame_len(&framed), Some(8));
    assert_eq!(frame_len(&[0x85, 0, 0, 0]), None);
    let h = Header {
        command: command::WRITE,
        message_id: 9,
        session_id: 0x1234,
        tree_id: 5,
        flags: flags::SIGNED,
        signature: [4; 16],
        ..Header::default()
    };
    assert_eq!(Header::parse(&h.encode()), Ok(h));
    assert_eq!(
        Header::parse(b"\xfeSMBrest"),
        Err(SmbError::Truncated("the SMB2 header"))
    );
    assert_eq!(Header::parse(b"\xffSMBrest"), Err(SmbError::NotSmb2));
    assert_eq!(Header::parse(&[b'x'; 64]), Err(SmbError::NotSmb2));
}

#[test]
fn every_dialect_signs_in_and_signs_what_follows() {
    for d in dialect::SERVED {
        let mut s = server();
        let mut c = Client::new(d);
        let resp = c.negotiate(&mut s, &[d]);
        assert_eq!(resp.dialect, d);
        assert_eq!(resp.security_mode & 2, 2, "signing is required");
        assert_eq!(
            c.sign_in(&mut s, "Alice-Passw0rd"),
            status::SUCCESS,
            "{d:x}"
        );
        assert_eq!(c.tree_connect(&mut s, r"\\ca\IPC$"), status::SUCCESS);
        assert_eq!(c.create(&mut s, "cert").0, status::SUCCESS);
    }
}

#[test]
fn the_best_dialect_offered_is_chosen_with_its_contexts() {
    let mut s = server();
    let mut c = Client::new(0);
    let all = [
        dialect::SMB_2_0_2,
        dialect::SMB_2_1,
        dialect::SMB_3_0,
        dialect::SMB_3_0_2,
        dialect::SMB_3_1_1,
    ];
    let resp = c.negotiate(&mut s, &all);
    assert_eq!(resp.dialect, dialect::SMB_3_1_1);
    assert!(spnego::ntlm_in_init(&resp.security_buffer).is_none());
    let mut s = server();
    let resp = Client::new(0).negotiate(&mut s, &all[..3]);
    assert_eq!(resp.dialect, dialect::SMB_3_0);
}

#[test]
fn smb1_negotiate_gets_the_smb2_wildcard() {
    let mut msg = b"\xffSMB\x72".to_vec();
    msg.resize(32, 0);
    msg.extend([0, 34, 0]);
    msg.extend(b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0");
    let mut s = server();
    let r = s.receive(&msg, &mut alice()).unwrap();
    let reply = s.reply(r);
    let resp = message::NegotiateResponse::parse(&reply[HEADER_LEN..]).unwrap();
    assert_eq!(resp.dialect, dialect::WILDCARD);
    assert_eq!(s.dialect(), None, "the SMB2 NEGOTIATE follows");
    let mut c = Client::new(0);
    assert_eq!(
        c.negotiate(&mut s, &[dialect::SMB_2_1]).dialect,
        dialect::SMB_2_1
    );
    let mut only_smb1 = msg[..35].to_vec();
    only_smb1.extend(b"\x02NT LM 0.12\0");
    assert!(server().receive(&only_smb1, &mut alice()).is_err());
}

#[test]
fn a_wrong_password_is_a_logon_failure() {
    let mut s = server();
    let mut c = Client::new(0);
    c.negotiate(&mut s, &[dialect::SMB_3_1_1]);
    assert_eq!(c.sign_in(&mut s, "wrong"), status::LOGON_FAILURE);
    c.key = None;
    let req = c.request(command::TREE_CONNECT, message::tree_connect(r"\\ca\IPC$"));
    let (h, _) = c.send(&mut s, &req);
    assert_eq!(h.status, status::USER_SESSION_DELETED);
}

#[test]
fn unsigned_or_tampered_requests_are_refused() {
    let mut s = server();
    let mut c = Client::new(0);
    c.negotiate(&mut s, &[dialect::SMB_3_1_1]);
    c.sign_in(&mut s, "Alice-Passw0rd");
    let key = c.key.take();
    let req = c.request(command::TREE_CONNECT, message::tree_connect(r"\\ca\IPC$"));
    assert_eq!(c.send(&mut s, &req).0.status, status::ACCESS_DENIED);
    c.key = key;
    let mut req = c.request(command::TREE_CONNECT, message::tree_connect(r"\\ca\IPC$"));
    let last = req.len() - 1;
    req[last] ^= 1;
    assert_eq!(c.send(&mut s, &req).0.status, status::ACCESS_DENIED);
}

#[test]
fn only_ipc_and_its_pipes_are_there() {
    let mut s = server();
    let mut c = Client::new(0);
    c.negotiate(&mut s, &[dialect::SMB_3_0_2]);
    c.sign_in(&mut s, "Alice-Passw0rd");
    assert_eq!(c.tree_connect(&mut s, r"\\ca\C$"), status::BAD_NETWORK_NAME);
    assert_eq!(c.tree_connect(&mut s, r"\\ca\ipc$"), status::SUCCESS);
    assert_eq!(c.create(&mut s, "lsarpc").0, status::OBJECT_NAME_NOT_FOUND);
    assert_eq!(c.create(&mut s, r"\PIPE\winreg").0, status::SUCCESS);
    let req = c.request(command::QUERY_DIRECTORY, vec![33, 0]);
    assert_eq!(c.send(&mut s, &req).0.status, status::NOT_SUPPORTED);
}

/// The pipe calls a received message asks.
fn pipe_calls(r: &Received) -> Vec<(String, PipeOp)> {
    r.commands
        .iter()
        .filter_map(|c| match &c.answer {
            Answer::Pipe(p) => Some((p.pipe.clone(), p.op.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn pipe_reads_writes_and_transceives_go_to_the_caller() {
    let mut s = server();
    let mut c = Client::new(0);
    c.negotiate(&mut s, &[dialect::SMB_3_1_1]);
    c.sign_in(&mut s, "Alice-Passw0rd");
    c.tree_connect(&mut s, r"\\ca\IPC$");
    let file = c.create(&mut s, "cert").1.unwrap();
    let write = message::Write {
        file,
        data: b"bind".to_vec(),
    };
    let req = c.request(command::WRITE, write.encode());
    let mut r = s.receive(&req, &mut alice()).unwrap();
    assert_eq!(
        pipe_calls(&r),
        [("cert".into(), PipeOp::Write(b"bind".to_vec()))]
    );
    let Answer::Pipe(call) = &r.commands[0].answer else {
        unreachable!()
    };
    assert_eq!(call.account, "alice");
    r.commands[0].answer = Answer::Done(call.answer(PipeResult::Written(4)));
    let reply = s.reply(r);
    c.check_signed(&reply);

    let read = message::Read { length: 2, file };
    let req = c.request(command::READ, read.encode());
    let mut r = s.receive(&req, &mut alice()).unwrap();
    assert_eq!(pipe_calls(&r), [("cert".into(), PipeOp::Read(2))]);
    let Answer::Pipe(call) = &r.commands[0].answer else {
        unreachable!()
    };
    let data = PipeResult::Data {
        data: b"ac".to_vec(),
        more: true,
    };
    r.commands[0].answer = Answer::Done(call.answer(data));
    let reply = s.reply(r);
    assert_eq!(
        Header::parse(&reply).unwrap().status,
        status::BUFFER_OVERFLOW
    );
    assert_eq!(message::read_data(&reply[HEADER_LEN..]).unwrap(), b"ac");

    let io = message::Ioctl {
        ctl_code: message::fsctl::PIPE_TRANSCEIVE,
        file,
        input: b"call".to_vec(),
        max_output: 1024,
    };
    let req = c.request(command::IOCTL, io.encode());
    let r = s.receive(&req, &mut alice()).unwrap();
    assert_eq!(
        pipe_calls(&r),
        [("cert".into(), PipeOp::Transceive(b"call".to_vec(), 1024))]
    );

    let req = c.request(command::CLOSE, message::close(&file));
    let r = s.receive(&req, &mut alice()).unwrap();
    assert_eq!(r.closed, [file]);
    s.reply(r);
    let req = c.request(command::READ, read.encode());
    assert_eq!(c.send(&mut s, &req).0.status, status::FILE_CLOSED);
}

#[test]
fn a_compound_answers_each_command_in_turn() {
    let mut s = server();
    let mut c = Client::new(0);
    c.negotiate(&mut s, &[dialect::SMB_2_1]);
    c.sign_in(&mut s, "Alice-Passw0rd");
    c.tree_connect(&mut s, r"\\ca\IPC$");
    let mut first = c.request(command::ECHO, message::empty());
    first.resize(first.len().next_multiple_of(8), 0);
    let next = first.len() as u32;
    first[20..24].copy_from_slice(&next.to_le_bytes());
    if let Some(k) = &c.key {
        signing::sign(c.dialect, k, &mut first);
    }
    let second = c.request(command::ECHO, message::empty());
    first.extend(second);
    let r = s.receive(&first, &mut alice()).unwrap();
    assert_eq!(r.commands.len(), 2);
    let reply = s.reply(r);
    let h = Header::parse(&reply).unwrap();
    assert_ne!(h.next_command, 0);
    let second = Header::parse(&reply[h.next_command as usize..]).unwrap();
    assert_eq!(
        (h.message_id + 1, second.next_command),
        (second.message_id, 0)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    #[test]
    fn no_bytes_make_the_server_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let mut s = server();
        let mut c = Client::new(0);
        c.negotiate(&mut s, &[dialect::SMB_3_1_1]);
        let mut msg = b"\xfeSMB".to_vec();
        msg.extend(&bytes);
        if let Ok(r) = s.receive(&msg, &mut alice()) {
            s.reply(r);
        }
        let _ = s.receive(&bytes, &mut alice());
    }
}

/// A realm that takes two tokens: `one` continues, `two` signs bob in
/// under a 32-byte key (an AES-256 ticket's; SMB signs with 16 of it).
struct Realm;

impl super::server::Authenticator for Realm {
    fn ntlm(&mut self) -> &mut dyn Acceptor {
        unreachable!("no NTLM in this test")
    }

    fn kerberos(
        &mut self,
        _session: u64,
        token: &[u8],
    ) -> Option<Result<super::server::KerberosStep, String>> {
        use super::server::KerberosStep;
        Some(match token {
            b"one" => Ok(KerberosStep::Continue(b"more".to_vec())),
            b"two" => Ok(KerberosStep::Done {
                account: "bob".into(),
                session_key: vec![6; 32],
                reply: b"ap-rep".to_vec(),
            }),
            _ => Err("a forged ticket".into()),
        })
    }
}

#[test]
fn kerberos_signs_in_with_the_contexts_key() {
    let mut s = server();
    let mut c = Client::new(0);
    c.negotiate(&mut s, &[dialect::SMB_3_1_1]);
    let setup = |token: &[u8]| {
        message::SessionSetup {
            flags: 0,
            security_mode: 1,
            token: token.to_vec(),
            previous_session: 0,
        }
        .encode()
    };
    let req = c.request(command::SESSION_SETUP, setup(b"one"));
    let mut hash = signing::preauth(&c.preauth, &req);
    let r = s.receive(&req, &mut Realm).unwrap();
    let reply = s.reply(r);
    let h = Header::parse(&reply).unwrap();
    assert_eq!(h.status, status::MORE_PROCESSING_REQUIRED);
    hash = signing::preauth(&hash, &reply);
    c.session = h.session_id;
    let req = c.request(command::SESSION_SETUP, setup(b"two"));
    hash = signing::preauth(&hash, &req);
    let r = s.receive(&req, &mut Realm).unwrap();
    assert_eq!(r.signed_in, ["bob"]);
    let reply = s.reply(r);
    assert_eq!(Header::parse(&reply).unwrap().status, status::SUCCESS);
    let token = message::session_setup_token(&reply[HEADER_LEN..]).unwrap();
    assert_eq!(token, b"ap-rep");
    let key = signing::signing_key(dialect::SMB_3_1_1, &[6; 16], &hash);
    assert!(signing::verifies(dialect::SMB_3_1_1, &key, &reply));

    let mut c = Client::new(0);
    let mut s = server();
    c.negotiate(&mut s, &[dialect::SMB_3_1_1]);
    let req = c.request(command::SESSION_SETUP, setup(b"forged"));
    let r = s.receive(&req, &mut Realm).unwrap();
    let reply = s.reply(r);
    assert_eq!(Header::parse(&reply).unwrap().status, status::LOGON_FAILURE);
    let req = c.request(command::SESSION_SETUP, setup(b"ticket"));
    let r = s.receive(&req, &mut alice()).unwrap();
    let reply = s.reply(r);
    assert_eq!(
        Header::parse(&reply).unwrap().status,
        status::LOGON_FAILURE,
        "no realm: no Kerberos"
    );
}
