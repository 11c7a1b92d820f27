//! SESSION_SETUP's legs: NTLM inside SPNEGO (or bare), Kerberos through
//! the authenticator, each session's 3.1.1 hash and signing key.

use super::{
    dialect, message, signing, spnego, status, Answer, Auth, Authenticator, Connection, Header,
    KerberosStep, Outcome, Received, Session,
};

impl Connection {
    /// SESSION_SETUP: NTLM's NEGOTIATE leg opens a session and answers
    /// the CHALLENGE, its AUTHENTICATE leg signs it in; any other token is
    /// Kerberos inside SPNEGO, for the authenticator's realm.
    pub(super) fn session_setup(
        &mut self,
        header: &mut Header,
        body: &[u8],
        raw: &[u8],
        acceptor: &mut dyn Authenticator,
        out: &mut Received,
    ) -> Result<Answer, (u32, String)> {
        if self.dialect.is_none() {
            let why = "SESSION_SETUP before NEGOTIATE".to_string();
            return Err((status::INVALID_PARAMETER, why));
        }
        let setup = message::SessionSetup::parse(body)
            .map_err(|e| (status::INVALID_PARAMETER, e.to_string()))?;
        let token = &setup.token;
        if let Some((types, negotiate)) = spnego::ntlm_in_init(token) {
            return self.ntlm_negotiate(header, raw, acceptor, Some(types), &negotiate);
        }
        if token.starts_with(b"NTLMSSP\0\x01") {
            return self.ntlm_negotiate(header, raw, acceptor, None, token);
        }
        let answer = spnego::ntlm_in_resp(token).or_else(|| {
            token
                .starts_with(b"NTLMSSP\0\x03")
                .then(|| (token.clone(), None))
        });
        match answer {
            Some((authenticate, mic)) => {
                self.ntlm_authenticate(header, raw, acceptor, &authenticate, mic, out)
            }
            None => self.kerberos(header, raw, acceptor, token, out),
        }
        .map(Answer::Done)
    }

    /// A new session in sign-in, its pre-authentication hash begun.
    fn open_session(&mut self, header: &mut Header, raw: &[u8], auth: Auth) {
        let id = self.fresh_id();
        let preauth = if self.dialect == Some(dialect::SMB_3_1_1) {
            signing::preauth(&self.preauth, raw)
        } else {
            [0; 64]
        };
        let old = header.session_id;
        self.sessions.retain(|s| old == 0 || s.id != old);
        self.sessions.push(Session {
            id,
            auth,
            preauth,
            trees: Vec::new(),
        });
        header.session_id = id;
    }

    /// Takes session `id` out for its next leg, its hash folded over `raw`.
    fn take_session(&mut self, id: u64, raw: &[u8]) -> Option<Session> {
        let index = self.sessions.iter().position(|s| s.id == id)?;
        let mut session = self.sessions.remove(index);
        if self.dialect == Some(dialect::SMB_3_1_1) {
            session.preauth = signing::preauth(&session.preauth, raw);
        }
        Some(session)
    }

    /// Signs `session` in as `account` under `session_key` (SMB takes its
    /// first 16 bytes).
    fn sign_in(
        &mut self,
        mut session: Session,
        account: String,
        session_key: &[u8],
        out: &mut Received,
    ) {
        let dialect = self.dialect.unwrap_or(dialect::SMB_2_0_2);
        let key = &session_key[..session_key.len().min(16)];
        session.auth = Auth::Done {
            account: account.clone(),
            key: signing::signing_key(dialect, key, &session.preauth),
        };
        out.signed_in.push(account);
        self.sessions.push(session);
    }

    fn ntlm_negotiate(
        &mut self,
        header: &mut Header,
        raw: &[u8],
        acceptor: &mut dyn Authenticator,
        types: Option<Vec<u8>>,
        negotiate: &[u8],
    ) -> Result<Answer, (u32, String)> {
        let state = acceptor
            .ntlm()
            .challenge(negotiate)
            .map_err(|e| (status::LOGON_FAILURE, e))?;
        let token = if types.is_some() {
            spnego::ntlm_challenge(&state.challenge)
        } else {
            state.challenge.clone()
        };
        let auth = Auth::Challenged {
            state: Box::new(state),
            types,
        };
        self.open_session(header, raw, auth);
        Ok(Answer::Done(Outcome {
            status: status::MORE_PROCESSING_REQUIRED,
            body: message::session_setup_response(0, &token),
        }))
    }

    fn ntlm_authenticate(
        &mut self,
        header: &Header,
        raw: &[u8],
        acceptor: &mut dyn Authenticator,
        authenticate: &[u8],
        mic: Option<Vec<u8>>,
        out: &mut Received,
    ) -> Result<Outcome, (u32, String)> {
        let challenged = self
            .sessions
            .iter()
            .any(|s| s.id == header.session_id && matches!(s.auth, Auth::Challenged { .. }));
        let session = challenged
            .then(|| self.take_session(header.session_id, raw))
            .flatten();
        let Some(mut session) = session else {
            return Err((
                status::USER_SESSION_DELETED,
                "an AUTHENTICATE without a CHALLENGE".into(),
            ));
        };
        let Auth::Challenged { state, types } =
            std::mem::replace(&mut session.auth, Auth::Kerberos)
        else {
            unreachable!("found as challenged")
        };
        let proved = acceptor.ntlm().authenticate(&state, authenticate).and_then(
            |(account, verified, flags)| {
                crate::ntlm::mech_list_mic(
                    &verified.exported_session_key,
                    flags & state.flags,
                    types,
                    mic,
                )
                .map(|m| (account, verified, m))
            },
        );
        let (account, verified, server_mic) = proved.map_err(|e| (status::LOGON_FAILURE, e))?;
        self.sign_in(session, account, &verified.exported_session_key, out);
        let token = spnego::completed(server_mic.as_ref().map(|m| &m[..]));
        Ok(Outcome::ok(message::session_setup_response(0, &token)))
    }

    /// One Kerberos leg: a new session on the first, the same after.
    fn kerberos(
        &mut self,
        header: &mut Header,
        raw: &[u8],
        acceptor: &mut dyn Authenticator,
        token: &[u8],
        out: &mut Received,
    ) -> Result<Outcome, (u32, String)> {
        let continuing = self
            .sessions
            .iter()
            .any(|s| s.id == header.session_id && matches!(s.auth, Auth::Kerberos));
        if !continuing {
            self.open_session(header, raw, Auth::Kerberos);
        }
        let session = if continuing {
            self.take_session(header.session_id, raw)
        } else {
            let id = header.session_id;
            let index = self.sessions.iter().position(|s| s.id == id);
            index.map(|i| self.sessions.remove(i))
        };
        let Some(session) = session else {
            return Err((status::USER_SESSION_DELETED, "no such session".into()));
        };
        let step = acceptor
            .kerberos(session.id, token)
            .unwrap_or_else(|| {
                Err("neither NTLM nor Kerberos: this server has no Kerberos realm".into())
            })
            .map_err(|e| (status::LOGON_FAILURE, e))?;
        match step {
            KerberosStep::Continue(reply) => {
                self.sessions.push(session);
                Ok(Outcome {
                    status: status::MORE_PROCESSING_REQUIRED,
                    body: message::session_setup_response(0, &reply),
                })
            }
            KerberosStep::Done {
                account,
                session_key,
                reply,
            } => {
                self.sign_in(session, account, &session_key, out);
                Ok(Outcome::ok(message::session_setup_response(0, &reply)))
            }
        }
    }
}
