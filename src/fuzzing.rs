//! What the fuzz targets (fuzz/, cargo-fuzz) feed to each parser that
//! reads untrusted input, one function per target. The regression test
//! (tests/fuzz_regressions.rs) runs the committed corpora and every input a
//! fuzzer once crashed on through these same functions, so a fixed crash
//! stays fixed without cargo-fuzz. Each function must return for any input;
//! a panic is a finding.

use std::path::Path;

mod smb;
pub use smb::smb;

/// A fuzz target: its name and the function it feeds.
pub type Target = (&'static str, fn(&[u8]));

/// The fuzz targets, by name (the folder names under fuzz/corpus and
/// fuzz/regressions).
pub const TARGETS: &[Target] = &[
    ("form", form),
    ("request", request),
    ("inf", inf),
    ("reg", reg),
    ("scenario", scenario),
    ("ntlm", ntlm),
    ("scep", scep),
    ("rpc", rpc),
    ("ldap", ldap),
    ("smb", smb),
];

/// A certsrv form post and its CertAttrib, and a Cookie header, as the
/// server reads them.
pub fn form(data: &[u8]) {
    use mock_ca::web::form::{cert_attributes, cookie, Params};
    let params = Params::parse(data);
    for key in [
        "Mode",
        "CertRequest",
        "CertAttrib",
        "ReqID",
        "TargetStoreFlags",
    ] {
        let _ = params.get(key);
    }
    if let Some(attrib) = params.get("CertAttrib") {
        let _ = cert_attributes(attrib);
    }
    let text = String::from_utf8_lossy(data);
    let _ = cookie(&text, "Requests");
    let _ = cert_attributes(&text);
}

/// A submitted request in any encoding (PEM, bare base64, DER, PKCS#7,
/// CMC), then everything the policy module reads from it.
pub fn request(data: &[u8]) {
    let Ok(parsed) = adcs_proto::request::parse_request(data) else {
        return;
    };
    let _ = parsed.template_ref();
    let _ = parsed.san();
    let _ = parsed.attribute("CertificateTemplate");
    let _ = parsed.key.bits();
    let _ = adcs_proto::names::format_dn(&parsed.subject);
    for e in &parsed.extensions {
        if e.extn_id == adcs_proto::protocol::oid::KEY_USAGE {
            let _ = adcs_proto::x509::key_usage_bits(e.extn_value.as_bytes());
        }
    }
}

/// A certreq INF file, then the request it describes.
pub fn inf(data: &[u8]) {
    let Ok(inf) = adcs_client::inf::Inf::parse("fuzz.inf", data) else {
        return;
    };
    let _ = adcs_client::inf::RequestSpec::from_inf(&inf);
}

/// A regedit `.reg` file; one that parses must write back and parse again
/// to the same values.
pub fn reg(data: &[u8]) {
    use adcs_client::registry::RegFile;
    let path = Path::new("fuzz.reg");
    let Ok(file) = RegFile::parse(path, data) else {
        return;
    };
    let again = RegFile::parse(path, &file.to_bytes())
        .unwrap_or_else(|e| panic!("a parsed .reg file does not read back: {e}"));
    let key = adcs_client::scom::facts::MACHINE_SETTINGS_KEY;
    assert_eq!(
        file.values(key),
        again.values(key),
        "values changed on a write"
    );
}

/// A scenario file.
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::scenario::parse(Path::new("fuzz.toml"), text);
}

/// NTLM as both ends read it: the first byte picks the message. The server
/// reads NEGOTIATE and AUTHENTICATE (verified against a fixed challenge);
/// the client reads a CHALLENGE from the server; the SPNEGO wrappers
/// around them (and around Kerberos) are read as the server and the
/// client read them.
pub fn ntlm(data: &[u8]) {
    use adcs_proto::ntlm::{self, ChannelBindingPolicy, ClientOptions, ServerNames};
    let Some((&which, msg)) = data.split_first() else {
        return;
    };
    let names = ServerNames {
        nb_domain: "CONTOSO".into(),
        nb_computer: "CA01".into(),
        dns_domain: "contoso.test".into(),
        dns_computer: "ca01.contoso.test".into(),
    };
    let negotiate = ntlm::client_negotiate();
    match which % 4 {
        0 => {
            let _ = ntlm::challenge(msg, &names, [7; 8], 0);
        }
        1 => {
            let Ok(state) = ntlm::challenge(&negotiate, &names, [7; 8], 0) else {
                return;
            };
            if let Ok(auth) = ntlm::parse_authenticate(msg) {
                for policy in [ChannelBindingPolicy::Off, ChannelBindingPolicy::Require] {
                    let _ =
                        ntlm::verify(&state, msg, &auth, "Alice-Passw0rd", policy, Some([1; 16]));
                }
            }
        }
        2 => {
            let opts = ClientOptions {
                mic: true,
                ..ClientOptions::default()
            };
            let _ = ntlm::client_authenticate(&negotiate, msg, "alice", "CONTOSO", "pw", &opts);
        }
        _ => {
            use adcs_proto::gss::spnego;
            let _ = spnego::ntlm_in_init(msg);
            let _ = spnego::ntlm_in_resp(msg);
            let _ = spnego::frame_bare_ap_req(msg);
            let _ = spnego::read_resp(msg);
        }
    }
}

/// The NDES every `scep` input goes to: a CA (seed 1, frozen clock)
/// with NDES running and no challenge required, made once.
fn fuzz_ndes() -> &'static (mock_ca::Ca, mock_ca::ndes::Ndes) {
    static NDES: std::sync::OnceLock<(mock_ca::Ca, mock_ca::ndes::Ndes)> =
        std::sync::OnceLock::new();
    NDES.get_or_init(|| {
        let ca = mock_ca::Ca::new(
            mock_ca::CaConfig::default(),
            mock_ca::Seed(1),
            mock_ca::Clock::frozen_at(1_767_225_600),
        )
        .expect("the fuzz CA");
        let config = mock_ca::ndes::NdesConfig {
            enforce_password: false,
            ..Default::default()
        };
        let ndes = mock_ca::ndes::Ndes::start(&ca, config).expect("the fuzz NDES");
        (ca, ndes)
    })
}

/// A SCEP PKIOperation as NDES reads it: the PKIMessage (signature
/// checked), its envelope opened with the RA key, the request inside
/// submitted; and the same bytes as a bare envelope.
pub fn scep(data: &[u8]) {
    let (ca, ndes) = fuzz_ndes();
    let _ = ndes.pki_operation(ca, data, None);
    if let Ok(m) = adcs_proto::scep::PkiMessage::parse(data) {
        let _ = (m.status, m.fail_info, m.recipient_nonce);
    }
}

/// A SCEP request to the fuzz NDES: a device key, its self-signed
/// certificate, a PKCS#10 with a challenge, sealed to the RA encryption
/// certificate with `cipher` and signed: (PKCSReq, its envelope).
fn scep_request(cipher: adcs_proto::scep::Cipher) -> Result<(Vec<u8>, Vec<u8>), String> {
    use adcs_proto::scep::{envelope, MessageType, Outgoing};
    use adcs_proto::x509;
    let (_, ndes) = fuzz_ndes();
    let key = mock_ca::keys::SigningKey::generate(
        mock_ca::KeyAlgorithm::Rsa2048,
        &mock_ca::Seed(1),
        "fuzz/scep-device",
    )
    .map_err(|e| e.to_string())?;
    let dn = adcs_proto::names::parse_dn("CN=router01").map_err(|e| e.to_string())?;
    let spec = x509::CertificateSpec {
        serial: &[0x11],
        issuer: &dn,
        subject: &dn,
        not_before: 1_767_225_600,
        not_after: 1_767_225_600 + 86_400,
        spki_der: key.spki_der(),
        extensions: Vec::new(),
    };
    let cert = x509::build_certificate(&spec, &key).map_err(|e| e.to_string())?;
    let csr = x509::build_request_with_challenge(&dn, &key, vec![], Some("0123456789ABCDEF"))
        .map_err(|e| e.to_string())?;
    let mut rng = mock_ca::Seed(1).rng("fuzz/scep");
    let ra = &ndes.ra_certificates().encryption;
    let env = envelope::seal(&csr, &[ra], cipher, &mut rng).map_err(|e| e.to_string())?;
    let msg = Outgoing {
        message_type: MessageType::PkcsReq,
        transaction_id: "FUZZ-1".into(),
        sender_nonce: vec![5; 16],
        recipient_nonce: None,
        status: None,
        fail_info: None,
        envelope: Some(env.clone()),
    }
    .sign(&cert, &key, &[])
    .map_err(|e| e.to_string())?;
    Ok((msg, env))
}

/// What replaying or writing a corpus found: a file that makes a target
/// panic (named), or a seed or corpus file that could not be made, read or
/// written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FuzzError(pub String);

impl From<String> for FuzzError {
    fn from(s: String) -> Self {
        FuzzError(s)
    }
}

/// Runs every file under `dir/<target>/` through its target; the files
/// run, by target.
pub fn replay(dir: &Path) -> Result<Vec<(String, usize)>, FuzzError> {
    replay_with(dir, TARGETS)
}

/// [`replay`] with the given targets; an input that panics is an error
/// naming its file.
pub fn replay_with(dir: &Path, targets: &[Target]) -> Result<Vec<(String, usize)>, FuzzError> {
    let mut out = Vec::new();
    for (name, target) in targets {
        let sub = dir.join(name);
        let mut n = 0;
        if sub.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&sub)
                .map_err(|e| format!("{}: {e}", sub.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for f in files {
                let data = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
                let run = std::panic::catch_unwind(|| target(&data));
                if run.is_err() {
                    return Err(format!("{name}: {} makes the target panic", f.display()).into());
                }
                n += 1;
            }
        }
        out.push((name.to_string(), n));
    }
    Ok(out)
}

/// A seed input: target, file name, bytes.
pub type Seed = (&'static str, String, Vec<u8>);

/// Starting inputs for each target, made here so that they follow the
/// formats as this build writes them: (target, file name, bytes).
/// `adcs-harness fuzz-seeds DIR` writes them as DIR/<target>/<name>.
pub fn seeds() -> Result<Vec<Seed>, FuzzError> {
    use adcs_proto::protocol::oid;
    use adcs_proto::x509::{self, SanEntry};
    use base64::Engine;
    use mock_ca::keys::SigningKey;
    let mut out: Vec<Seed> = Vec::new();
    let mut add = |target, name: &str, bytes: Vec<u8>| out.push((target, name.to_string(), bytes));

    // Requests: DER, PEM under both labels, bare base64; one with the
    // template and SAN extensions clients send.
    let key = SigningKey::generate(
        mock_ca::KeyAlgorithm::Rsa2048,
        &mock_ca::Seed(1),
        "fuzz/seed",
    )
    .map_err(|e| e.to_string())?;
    let name = adcs_proto::names::parse_dn("CN=web01.contoso.test, O=Contoso, C=US")
        .map_err(|e| e.to_string())?;
    let plain = x509::build_request(&name, &key, vec![]).map_err(|e| e.to_string())?;
    let san = x509::san_value(&[
        SanEntry::Dns("web01.contoso.test".into()),
        SanEntry::Upn("alice@contoso.test".into()),
    ])
    .map_err(|e| e.to_string())?;
    let extended = x509::build_request(
        &name,
        &key,
        vec![
            x509::extension(
                oid::TEMPLATE_NAME,
                false,
                x509::template_name_value("WebServer"),
            ),
            x509::extension(oid::SUBJECT_ALT_NAME, false, san),
            x509::extension(oid::KEY_USAGE, true, x509::key_usage_value(0xa0)),
        ],
    )
    .map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    add("request", "plain.der", plain.clone());
    add("request", "extended.der", extended.clone());
    add(
        "request",
        "plain.pem",
        adcs_proto::encoding::pem("CERTIFICATE REQUEST", &plain).into_bytes(),
    );
    add(
        "request",
        "extended-new.pem",
        adcs_proto::encoding::pem("NEW CERTIFICATE REQUEST", &extended).into_bytes(),
    );
    add("request", "bare.b64", b64.encode(&extended).into_bytes());
    add(
        "request",
        "certs-only.p7b",
        adcs_proto::encoding::pkcs7_certs_only(&[], Some(&plain)),
    );

    // Forms and cookies as certsrv clients send them.
    let pem = adcs_proto::encoding::pem("CERTIFICATE REQUEST", &plain);
    let mut submit = form_urlencoded::Serializer::new(String::new());
    submit
        .append_pair("Mode", "newreq")
        .append_pair("CertRequest", &pem)
        .append_pair(
            "CertAttrib",
            "CertificateTemplate:WebServer\r\nFriendlyName:web01",
        )
        .append_pair("TargetStoreFlags", "0")
        .append_pair("SaveCert", "yes");
    add("form", "submit.txt", submit.finish().into_bytes());
    add("form", "chkpnd.txt", b"Mode=chkpnd&ReqID=5".to_vec());
    add(
        "form",
        "jpw.txt",
        b"Mode=newreq&CertAttrib=%!s(int=0)&ReqID=%zz".to_vec(),
    );
    add(
        "form",
        "cookie.txt",
        b"ASPSESSIONIDQQ=AB; Requests=5=5%2C0%2Cyes%2C&7=7%2C0%2Cyes%2Cweb".to_vec(),
    );

    // INF files: the SCOM guide's, a small one, and one in UTF-16.
    let scom =
        adcs_client::scom::facts::scom_inf("scom01.contoso.test", Some("OperationsManager"), true);
    add("inf", "scom.inf", scom.clone().into_bytes());
    add(
        "inf",
        "small.inf",
        b"[Version]\r\nSignature=\"$Windows NT$\"\r\n[NewRequest]\r\nSubject = \"CN=a.contoso.test\"\r\nKeyLength = 2048\r\n[Extensions]\r\n2.5.29.17 = \"{text}\"\r\n_continue_ = \"dns=a.contoso.test&\"\r\n[RequestAttributes]\r\nCertificateTemplate = WebServer\r\n".to_vec(),
    );
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(scom.encode_utf16().flat_map(u16::to_le_bytes));
    add("inf", "scom-utf16.inf", utf16);

    // .reg files: UTF-8 and regedit's own UTF-16 with a wrapped hex value.
    let reg = format!(
        "Windows Registry Editor Version 5.00\r\n\r\n; SCOM\r\n[{}]\r\n\"{}\"=hex:01,02,03,04,05,06,07,08,09,0a,0b,0c,0d,0e,0f,10,11,12,13,14,15,16,\\\r\n  17,18,19\r\n\"{}\"=\"ABCDEF\"\r\n\"Other\"=dword:00000001\r\n@=\"default\"\r\n",
        adcs_client::scom::facts::MACHINE_SETTINGS_KEY,
        adcs_client::scom::facts::SERIAL_VALUE,
        adcs_client::scom::facts::HASH_VALUE,
    );
    add("reg", "machine-settings.reg", reg.clone().into_bytes());
    let mut reg16 = vec![0xff, 0xfe];
    reg16.extend(reg.encode_utf16().flat_map(u16::to_le_bytes));
    add("reg", "machine-settings-utf16.reg", reg16);
    add(
        "reg",
        "regedit4.reg",
        b"REGEDIT4\n\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\X]\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Y]\n\"a\"=-\n\"b\"=hex(2):25,00,00,00\n".to_vec(),
    );

    // A scenario (the scenarios/ folder is the rest of this corpus).
    add(
        "scenario",
        "small.toml",
        b"name = \"small\"\n[world]\nseed = 3\n[[step]]\ndo = \"req.enroll\"\ninf = \"[NewRequest]\\nSubject = \\\"CN=a.contoso.test\\\"\\n\"\ntemplate = \"WebServer\"\n[step.expect]\ndisposition = \"issued\"\n".to_vec(),
    );

    for (target, name, bytes) in ntlm_seeds()? {
        add(target, &name, bytes);
    }

    add("rpc", "bind-then-request.bin", rpc_seed());

    // SCEP: PKCSReqs to the fuzz NDES with 3DES and AES, and a bare envelope.
    use adcs_proto::scep::Cipher;
    let (des3, envelope) = scep_request(Cipher::TripleDes)?;
    add("scep", "pkcsreq-3des.der", des3);
    add("scep", "pkcsreq-aes.der", scep_request(Cipher::Aes128)?.0);
    add("scep", "envelope.der", envelope);
    Ok(out)
}

/// A stream of DCE/RPC fragments as a server reads them off a connection:
/// each fragment's length from its header, then the PDU; whatever parses
/// is written back and must read the same.
pub fn rpc(data: &[u8]) {
    use adcs_proto::ntlm::session::{Role, Session};
    use adcs_proto::rpc::{pdu, secure};
    let mut session = Session::new(&[7; 16], 0xe008_0030, Role::Server).expect("ESS is set");
    let mut rest = data;
    while let Ok(Some(n)) = pdu::fragment_len(rest) {
        if n > rest.len() {
            return;
        }
        let (frag, tail) = rest.split_at(n);
        let mut sealed = frag.to_vec();
        let _ = secure::unprotect(&mut sealed, &mut session);
        if let Ok(p) = pdu::parse(frag) {
            if let pdu::Body::Request(r) = &p.body {
                rpc_stubs(&r.stub);
            }
            let again = pdu::encode(
                p.header.ptype,
                p.header.flags,
                p.header.call_id,
                &p.body,
                p.auth.as_ref(),
            );
            let back = pdu::parse(&again).expect("a PDU written back reads");
            assert_eq!(back.body, p.body);
        }
        rest = tail;
    }
}

/// A request's stub read as each call this side serves; what reads is
/// written back and must read the same.
fn rpc_stubs(stub: &[u8]) {
    use adcs_proto::rpc::{epm::EptMap, icpr::CertServerRequest};
    if let Ok(c) = CertServerRequest::parse(stub) {
        assert_eq!(CertServerRequest::parse(&c.encode()).as_ref(), Ok(&c));
    }
    if let Ok(m) = EptMap::parse(stub) {
        assert_eq!(EptMap::parse(&m.encode()).as_ref(), Ok(&m));
    }
}

/// DCE/RPC's seed: a bind for ICertPassage, then a request with an NTLM
/// trailer, on one stream.
fn rpc_seed() -> Vec<u8> {
    use adcs_proto::rpc::{self, pdu};
    let bind = pdu::Body::Bind(pdu::Bind {
        max_xmit_frag: 4280,
        max_recv_frag: 4280,
        assoc_group: 0,
        contexts: vec![pdu::ContextElem {
            id: 0,
            abstract_syntax: rpc::ICERT_PASSAGE,
            transfer_syntaxes: vec![rpc::NDR, rpc::NDR64],
        }],
    });
    let request = pdu::Body::Request(pdu::Request {
        alloc_hint: 8,
        context_id: 0,
        opnum: 0,
        object: None,
        stub: adcs_proto::rpc::icpr::CertServerRequest {
            flags: 0,
            authority: Some("contoso-TEST-CA".into()),
            request_id: 0,
            attributes: "CertificateTemplate:User".into(),
            request: vec![0x30, 0],
        }
        .encode(),
    });
    let auth = pdu::Auth {
        auth_type: 10,
        auth_level: 6,
        pad_length: 0,
        context_id: 0,
        value: vec![1; 16],
    };
    let flags = pdu::pfc::FIRST_FRAG | pdu::pfc::LAST_FRAG;
    let mut stream = pdu::encode(pdu::ptype::BIND, flags, 1, &bind, None);
    stream.extend(pdu::encode(
        pdu::ptype::REQUEST,
        flags,
        2,
        &request,
        Some(&auth),
    ));
    stream
}

/// NTLM's seeds: the selector byte, then the message (or SPNEGO token).
fn ntlm_seeds() -> Result<Vec<Seed>, FuzzError> {
    let mut out: Vec<Seed> = Vec::new();
    let mut add = |target, name: &str, bytes: Vec<u8>| out.push((target, name.to_string(), bytes));
    use adcs_proto::ntlm::{self, ClientOptions, ServerNames};
    let names = ServerNames {
        nb_domain: "CONTOSO".into(),
        nb_computer: "CA01".into(),
        dns_domain: "contoso.test".into(),
        dns_computer: "ca01.contoso.test".into(),
    };
    let neg = ntlm::client_negotiate();
    let state = ntlm::challenge(&neg, &names, [7; 8], 0).map_err(|e| e.to_string())?;
    let tagged = |tag: u8, m: &[u8]| [&[tag][..], m].concat();
    add("ntlm", "negotiate.bin", tagged(0, &neg));
    for mic in [false, true] {
        let opts = ClientOptions {
            mic,
            ..ClientOptions::default()
        };
        let auth = ntlm::client_authenticate(
            &neg,
            &state.challenge,
            "alice",
            "CONTOSO",
            "Alice-Passw0rd",
            &opts,
        )
        .map_err(|e| e.to_string())?;
        add(
            "ntlm",
            &format!("authenticate-mic-{mic}.bin"),
            tagged(1, &auth),
        );
    }
    add("ntlm", "challenge.bin", tagged(2, &state.challenge));
    // SPNEGO around NTLM: the client's NegTokenInit and NegTokenResp, the
    // server's answers.
    use adcs_proto::gss::spnego;
    let (init, _) = spnego::client_ntlm_init(&neg);
    add("ntlm", "spnego-init.bin", tagged(3, &init));
    let answer = spnego::client_ntlm_answer(b"NTLMSSP\0\x03\0\0\0", Some(&[1; 16]));
    add("ntlm", "spnego-answer.bin", tagged(3, &answer));
    add(
        "ntlm",
        "spnego-challenge.bin",
        tagged(3, &spnego::ntlm_challenge(&state.challenge)),
    );
    ldap_seeds(&mut add);
    smb::seeds(&mut add);

    Ok(out)
}

/// A forest to search, made once (the default enterprise CA and accounts).
fn forest() -> &'static (
    mock_ca::Ca,
    mock_ca::accounts::Directory,
    mock_ca::forest::Naming,
) {
    static FOREST: std::sync::OnceLock<(
        mock_ca::Ca,
        mock_ca::accounts::Directory,
        mock_ca::forest::Naming,
    )> = std::sync::OnceLock::new();
    FOREST.get_or_init(|| {
        let ca = mock_ca::Ca::new(
            mock_ca::CaConfig::default(),
            mock_ca::Seed(1),
            mock_ca::Clock::frozen_at(0),
        )
        .expect("a CA for fuzzing");
        let c = ca.config();
        let dir = mock_ca::accounts::Directory::new(
            mock_ca::web::default_users(),
            &c.netbios_domain,
            &c.dns_domain,
        );
        let naming = mock_ca::forest::Naming::new(&c, &ca.seed(), None);
        (ca, dir, naming)
    })
}

/// A stream of LDAP messages as the directory reads them: each frame cut
/// by its BER length, decoded, a search's filter evaluated over the
/// forest and a modify's changes checked as the administrator (never
/// applied); the same bytes also read as responses, as a filter's text
/// and as a security descriptor.
pub fn ldap(data: &[u8]) {
    use adcs_proto::ldap::{frame_len, Op, Request, Response, MAX_MESSAGE};
    use mock_ca::forest::{search, write};
    let _ = adcs_proto::ldap::parse_filter(&String::from_utf8_lossy(data));
    let _ = adcs_proto::sd::SecurityDescriptor::parse(data);
    let (ca, dir, naming) = forest();
    let mut rest = data;
    while let Ok(Some(n)) = frame_len(rest, MAX_MESSAGE) {
        let (frame, tail) = rest.split_at(n);
        let _ = Response::decode(frame);
        match Request::decode(frame).map(|r| r.op) {
            Ok(Op::Search(s)) => {
                let objects = mock_ca::forest::objects(ca, dir, naming);
                let index = search::Index::new(&objects);
                if let Ok(reached) = search::scope(&objects, naming, &s.base_object, s.scope) {
                    for e in reached {
                        let _ = search::matches(e, &s.filter, &index);
                    }
                }
                let _ = adcs_proto::ldap::filter_text(&s.filter);
            }
            Ok(Op::Modify(m)) => {
                let admin = dir.identity(dir.find("", "Administrator").expect("the default admin"));
                let changes = write::Change::all_of(&m);
                let _ = write::modify(ca, dir, naming, &admin, &m.object, &changes, 7);
            }
            _ => {}
        }
        rest = tail;
    }
}

/// LDAP seeds: the binds, searches and a template write clients send.
fn ldap_seeds(add: &mut impl FnMut(&'static str, &str, Vec<u8>)) {
    use adcs_proto::ldap::{self, control, request, BindAuth, SearchRequestScope};
    let search = |base: &str, filter: &str| {
        let f = ldap::parse_filter(filter).expect("a seed filter");
        ldap::search_request(
            base,
            SearchRequestScope::WholeSubtree,
            f,
            &["cn", "nTSecurityDescriptor"],
        )
    };
    let paged = control::Paged {
        size: 200,
        cookie: Vec::new(),
    }
    .control(true);
    let mut stream = request::bind(1, "", &BindAuth::SicilyDiscovery);
    stream.extend(request::bind(
        2,
        "NTLM",
        &BindAuth::SicilyNegotiate(adcs_proto::ntlm::client_negotiate()),
    ));
    add("ldap", "sicily.ber", stream);
    add(
        "ldap",
        "simple.ber",
        request::bind(1, "alice@contoso.test", &BindAuth::Simple(b"pw".to_vec())),
    );
    let pks = "CN=Public Key Services,CN=Services,CN=Configuration,DC=contoso,DC=test";
    let templates = search(pks, "(&(objectclass=pKICertificateTemplate)(msPKI-Certificate-Name-Flag:1.2.840.113556.1.4.803:=1))");
    add(
        "ldap",
        "templates.ber",
        request::search(3, &templates, &[paged, control::sd_flags_control(5, false)]),
    );
    let chain = search("DC=contoso,DC=test", "(|(member:1.2.840.113556.1.4.1941:=CN=alice,CN=Users,DC=contoso,DC=test)(objectSid=\\01\\05)(cn=a*b*c))");
    add("ldap", "in-chain.ber", request::search(4, &chain, &[]));
    let change = ldap::modify_request(
        &format!("CN=User,CN=Certificate Templates,{pks}"),
        vec![ldap::replace("msPKI-Certificate-Name-Flag", &[b"1"])],
    );
    add(
        "ldap",
        "modify.ber",
        request::modify(5, &change, &[control::sd_flags_control(4, true)]),
    );
}

/// Writes [`seeds`] as `dir/<target>/<name>`.
pub fn write_seeds(dir: &Path) -> Result<usize, FuzzError> {
    let seeds = seeds()?;
    for (target, name, bytes) in &seeds {
        let sub = dir.join(target);
        std::fs::create_dir_all(&sub).map_err(|e| FuzzError(format!("{}: {e}", sub.display())))?;
        let path = sub.join(name);
        adcs_proto::atomic_file::write_atomic(&path, bytes)
            .map_err(|e| FuzzError(e.to_string()))?;
    }
    Ok(seeds.len())
}
