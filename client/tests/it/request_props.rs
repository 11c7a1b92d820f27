//! Property: any valid INF (subject, key type and size, key usage bits,
//! EKUs, SANs) becomes a request that a stand-alone CA issues as a
//! certificate carrying exactly what the INF asked for.

use std::net::IpAddr;

use adcs_client::inf::{Inf, RequestSpec};
use adcs_client::keys::key_rng;
use adcs_client::request::{new_request, Requester};
use mock_ca::{Ca, CaConfig, CaMode, Clock, Disposition, Requester as CaRequester, Seed};
use proptest::prelude::*;
use x509_parser::extensions::GeneralName;

const EKUS: [&str; 5] = [
    "1.3.6.1.5.5.7.3.1",
    "1.3.6.1.5.5.7.3.2",
    "1.3.6.1.5.5.7.3.4",
    "1.3.6.1.4.1.311.10.3.4",
    "1.3.6.1.5.5.8.2.2",
];

#[derive(Debug, Clone)]
struct Case {
    cn: String,
    org: Option<String>,
    key: (&'static str, u32),
    key_usage: u8,
    ekus: Vec<&'static str>,
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    hash: &'static str,
}

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}[a-z0-9]"
}

fn case() -> impl Strategy<Value = Case> {
    (
        label(),
        proptest::option::of("[A-Za-z][A-Za-z0-9 ]{0,12}[A-Za-z0-9]"),
        prop_oneof![
            3 => Just(("ECDSA_P256", 256u32)),
            2 => Just(("ECDSA_P384", 384)),
            1 => Just(("ECDSA_P521", 521)),
            2 => Just(("RSA", 1024)),
            1 => Just(("RSA", 2048)),
        ],
        // At least one bit among digitalSignature..keyCertSign/cRLSign.
        1u8..=255,
        proptest::sample::subsequence(EKUS.to_vec(), 0..=3),
        proptest::collection::vec(label(), 0..3),
        proptest::collection::vec(any::<[u8; 4]>().prop_map(IpAddr::from), 0..2),
        prop_oneof![Just("sha256"), Just("sha384"), Just("sha512"), Just("sha1")],
    )
        .prop_map(|(cn, org, key, key_usage, ekus, dns, ips, hash)| Case {
            cn: format!("{cn}.contoso.test"),
            org,
            key,
            key_usage,
            ekus,
            dns: dns
                .into_iter()
                .map(|d| format!("{d}.contoso.test"))
                .collect(),
            ips,
            hash,
        })
}

fn inf_text(c: &Case) -> String {
    let subject = match &c.org {
        Some(o) => format!("CN={},O={o}", c.cn),
        None => format!("CN={}", c.cn),
    };
    let mut s = format!(
        "[Version]\r\nSignature=\"$Windows NT$\"\r\n[NewRequest]\r\nSubject = \"{subject}\"\r\nKeyAlgorithm = {}\r\nKeyLength = {}\r\nKeyUsage = 0x{:02x}\r\nHashAlgorithm = {}\r\n",
        c.key.0, c.key.1, c.key_usage, c.hash
    );
    if !c.ekus.is_empty() {
        s.push_str("[EnhancedKeyUsageExtension]\r\n");
        for e in &c.ekus {
            s.push_str(&format!("OID={e}\r\n"));
        }
    }
    if !c.dns.is_empty() || !c.ips.is_empty() {
        s.push_str("[Extensions]\r\n2.5.29.17 = \"{text}\"\r\n");
        for d in &c.dns {
            s.push_str(&format!("_continue_ = \"dns={d}&\"\r\n"));
        }
        for ip in &c.ips {
            s.push_str(&format!("_continue_ = \"ipaddress={ip}&\"\r\n"));
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn inf_to_issued_certificate(c in case()) {
        let text = inf_text(&c);
        let inf = Inf::parse("prop.inf", text.as_bytes()).unwrap();
        let spec = RequestSpec::from_inf(&inf).unwrap();
        let who = Requester { machine: "m".into(), user: "CONTOSO\\alice".into(), os_version: "10.0.20348.2".into() };
        let made = new_request(&spec, &mut key_rng(Some(&Seed(5)), &c.cn), &who, 0).unwrap();

        let config = CaConfig { mode: CaMode::Standalone, ..CaConfig::default() };
        let ca = Ca::new(config, Seed(3), Clock::frozen_at(1_767_225_600)).unwrap();
        let sub = ca.submit(&made.der, &CaRequester::new("CONTOSO\\alice"), &[]).unwrap();
        prop_assert_eq!(sub.disposition, Disposition::Pending);
        let issued = ca.issue_pending(sub.id, "CONTOSO\\Administrator").unwrap();
        let der = issued.certificate.expect("issued");
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();

        let cn: Vec<_> = cert.subject().iter_common_name().map(|a| a.as_str().unwrap().to_string()).collect();
        prop_assert_eq!(cn, vec![c.cn.clone()]);
        let org: Vec<_> = cert.subject().iter_organization().map(|a| a.as_str().unwrap().to_string()).collect();
        prop_assert_eq!(org, c.org.clone().into_iter().collect::<Vec<_>>());
        prop_assert_eq!(cert.public_key().raw, made.key.spki_der());
        let bits = adcs_proto::public_key::PublicKeyKind::of_spki(cert.public_key().raw).unwrap().bits();
        prop_assert_eq!(bits, c.key.1);

        let ku = cert.key_usage().unwrap().unwrap();
        prop_assert!(ku.critical);
        // x509-parser numbers digitalSignature as bit 0 (the lowest); the INF byte has it as 0x80.
        prop_assert_eq!(ku.value.flags & 0xff, u16::from(c.key_usage.reverse_bits()));

        let mut got_ekus: Vec<String> = match cert.extended_key_usage().unwrap() {
            None => vec![],
            Some(e) => {
                let v = &e.value;
                let mut out: Vec<String> = v.other.iter().map(|o| o.to_id_string()).collect();
                if v.server_auth { out.push(EKUS[0].into()) }
                if v.client_auth { out.push(EKUS[1].into()) }
                if v.email_protection { out.push(EKUS[2].into()) }
                out
            }
        };
        got_ekus.sort();
        let mut want_ekus: Vec<String> = c.ekus.iter().map(|s| s.to_string()).collect();
        want_ekus.sort();
        prop_assert_eq!(got_ekus, want_ekus);

        let (mut dns, mut ips) = (Vec::new(), Vec::new());
        if let Some(san) = cert.subject_alternative_name().unwrap() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => dns.push(d.to_string()),
                    GeneralName::IPAddress(b) if b.len() == 4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
                    other => prop_assert!(false, "unexpected SAN {:?}", other),
                }
            }
        }
        prop_assert_eq!(dns, c.dns.clone());
        prop_assert_eq!(ips, c.ips.clone());
    }
}
