//! What the fuzz targets (fuzz/, cargo-fuzz) feed to each parser that
//! reads untrusted input, one function per target. The regression test
//! (tests/fuzz_regressions.rs) runs the committed corpora and every input a
//! fuzzer once crashed on through these same functions, so a fixed crash
//! stays fixed without cargo-fuzz. Each function must return for any input;
//! a panic is a finding.

use std::path::Path;

/// The fuzz targets, by name (the folder names under fuzz/corpus and
/// fuzz/regressions).
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("form", form),
    ("request", request),
    ("inf", inf),
    ("reg", reg),
    ("scenario", scenario),
    ("ntlm", ntlm),
];

/// A certsrv form post and its CertAttrib, and a Cookie header, as the
/// server reads them.
pub fn form(data: &[u8]) {
    use mock_ca::web::form::{cert_attributes, cookie, Params};
    let params = Params::parse(data);
    for key in ["Mode", "CertRequest", "CertAttrib", "ReqID", "TargetStoreFlags"] {
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
    let Ok(parsed) = mock_ca::request::parse_request(data) else {
        return;
    };
    let _ = parsed.template_ref();
    let _ = parsed.san();
    let _ = parsed.attribute("CertificateTemplate");
    let _ = parsed.key.bits();
    let _ = mock_ca::names::format_dn(&parsed.subject);
    for e in &parsed.extensions {
        if e.extn_id == mock_ca::protocol::oid::KEY_USAGE {
            let _ = mock_ca::x509::key_usage_bits(e.extn_value.as_bytes());
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
    assert_eq!(file.values(key), again.values(key), "values changed on a write");
}

/// A scenario file.
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::scenario::model::parse(Path::new("fuzz.toml"), text);
}

/// NTLM as both ends read it: the first byte picks the message. The server
/// reads NEGOTIATE and AUTHENTICATE (verified against a fixed challenge);
/// the client reads a CHALLENGE from the server.
pub fn ntlm(data: &[u8]) {
    use mock_ca::ntlm::{self, ChannelBindingPolicy, ClientOptions, ServerNames};
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
    match which % 3 {
        0 => {
            let _ = ntlm::challenge(msg, &names, [7; 8], 0);
        }
        1 => {
            let Ok(state) = ntlm::challenge(&negotiate, &names, [7; 8], 0) else {
                return;
            };
            if let Ok(auth) = ntlm::parse_authenticate(msg) {
                for policy in [ChannelBindingPolicy::Off, ChannelBindingPolicy::Require] {
                    let _ = ntlm::verify(&state, msg, &auth, "Alice-Passw0rd", policy, Some([1; 16]));
                }
            }
        }
        _ => {
            let opts = ClientOptions {
                mic: true,
                ..ClientOptions::default()
            };
            let _ = ntlm::client_authenticate(&negotiate, msg, "alice", "CONTOSO", "pw", &opts);
        }
    }
}

/// Runs every file under `dir/<target>/` through its target; the files
/// run, by target.
pub fn replay(dir: &Path) -> Result<Vec<(String, usize)>, String> {
    let mut out = Vec::new();
    for (name, target) in TARGETS {
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
                    return Err(format!("{name}: {} makes the target panic", f.display()));
                }
                n += 1;
            }
        }
        out.push((name.to_string(), n));
    }
    Ok(out)
}
