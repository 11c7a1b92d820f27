//! The certsrv pages a person clicks through in a browser, checked on the
//! server side: every link leads somewhere, the forms carry the field names
//! their handlers read, and the pending list, the PFX path and the CA
//! certificate page work as the browser suite (tests/browser) walks them.

use crate::support::{attr_values, call, form_body, start_http as start, ADMIN, ALICE, BOB};
use adcs_proto::protocol::{content_type, endpoint, marker, portal};
use mock_ca::web::Server;
use mock_ca::CaConfig;

const MOZILLA: &str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0";

fn browser() -> Vec<(&'static str, String)> {
    vec![("User-Agent", MOZILLA.to_string())]
}

fn get(s: &Server, page: &str) -> String {
    let r = call(
        s,
        "GET",
        &format!("/certsrv/{page}"),
        Some(ALICE),
        &browser(),
        b"",
    );
    assert_eq!(r.status, 200, "{page}: {}", r.text());
    r.text()
}

#[test]
fn every_link_from_the_welcome_page_leads_to_a_page() {
    for config in [CaConfig::default(), CaConfig::standalone()] {
        let s = start(config);
        let welcome = get(&s, "");
        for task in [
            endpoint::REQUEST_TASKS,
            endpoint::CHECK_PENDING,
            endpoint::CA_CERTS,
        ] {
            assert!(welcome.contains(&format!("Href=\"{task}\"")), "{task}");
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![String::new()];
        while let Some(page) = todo.pop() {
            let text = get(&s, &page);
            assert!(text.contains(marker::PAGE_TITLE), "{page}");
            for link in attr_values(&text, "Href")
                .into_iter()
                .chain(attr_values(&text, "Action"))
            {
                let link = link.trim_start_matches("/certsrv").trim_start_matches('/');
                if link.starts_with('#') || link.ends_with(".gif") {
                    continue;
                }
                if seen.insert(link.to_string()) {
                    todo.push(link.to_string());
                }
            }
        }
        for expected in [
            endpoint::ADVANCED_TASKS,
            endpoint::CREATE_REQUEST,
            endpoint::TEMPLATES,
            endpoint::SUBMIT,
        ] {
            assert!(
                seen.contains(expected),
                "{expected} is not reached: {seen:?}"
            );
        }
    }
}

#[test]
fn the_create_form_offers_what_its_handler_reads() {
    let s = start(CaConfig::default());
    s.ca().publish_template("WebServerApproval", false).unwrap();
    let page = get(&s, endpoint::CREATE_REQUEST);
    let names = attr_values(&page, "Name");
    for field in portal::NAME_FIELDS.iter().map(|(f, _)| f).chain(&[
        portal::TEMPLATE,
        portal::KEY_SIZE,
        portal::KEY_USAGE,
        portal::EXPORTABLE,
        portal::FRIENDLY_NAME,
        portal::PASSWORD,
        portal::ATTRIBUTES,
    ]) {
        assert!(
            page.contains(&format!("Name={field} ")) || names.iter().any(|n| n == field),
            "no field {field}"
        );
    }
    // The template list: published ones only, by name.
    let options: Vec<_> = attr_values(&page, "Option Value");
    assert!(
        options.iter().any(|o| o == "OperationsManager"),
        "{options:?}"
    );
    assert!(!options.iter().any(|o| o == "WebServerApproval"));
    assert!(!page.contains(&format!("Name={} ", portal::EKU)));

    // Fill the form as a person would, by the names it carries.
    let body = form_body(&[
        (portal::TEMPLATE, "OperationsManager"),
        ("CN", "scom01.contoso.test"),
        ("O", "Contoso"),
        (portal::KEY_USAGE, "both"),
        (portal::KEY_SIZE, "2048"),
        (portal::EXPORTABLE, "on"),
        (portal::FRIENDLY_NAME, "SCOM"),
        (portal::PASSWORD, "pfx-pw"),
        (portal::ATTRIBUTES, ""),
    ]);
    let r = call(
        &s,
        "POST",
        "/certsrv/certrqma.asp",
        Some(ALICE),
        &browser(),
        &body,
    );
    assert_eq!(
        r.header("Content-Type"),
        Some(content_type::PKCS12),
        "{}",
        r.text()
    );

    // Stand-alone: no template; the purpose fills the EKU field.
    let s = start(CaConfig::standalone());
    let page = get(&s, endpoint::CREATE_REQUEST);
    assert!(!page.contains(&format!("Name={} ", portal::TEMPLATE)));
    assert!(page.contains(&format!("Name={0} ID={0}", portal::EKU)));
    for (label, oid) in portal::PURPOSES {
        assert!(page.contains(&format!("<Option Value=\"{oid}\">{label}</Option>")));
    }
    assert!(page.contains("Other...") && page.contains("function usageChanged()"));
}

#[test]
fn the_base64_form_puts_the_chosen_template_into_the_attributes() {
    let s = start(CaConfig::default());
    let page = get(&s, endpoint::TEMPLATES);
    assert!(page.contains("OnSubmit=\"return addTemplate();\""));
    assert!(page.contains("value.split(\";\")[1]"));
    // The second field of every option value is the template's name.
    for v in attr_values(&page, "Option Value") {
        let name = v.split(';').nth(1).unwrap();
        assert!(s.ca().templates().iter().any(|t| t.name == name), "{v}");
    }
    let s = start(CaConfig::standalone());
    let page = get(&s, endpoint::TEMPLATES);
    assert!(!page.contains("addTemplate") && !page.contains("<Option"));
}

fn cookie_of(r: &adcs_client::http::HttpResponse) -> String {
    r.header("Set-Cookie")
        .expect("a Requests cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn pending_requests_are_listed_viewed_installed_and_removed_by_cookie() {
    let s = start(CaConfig::standalone());
    let csr = crate::support::csr_pem("web01.contoso.test", mock_ca::KeyAlgorithm::Rsa2048);
    let r = call(
        &s,
        "POST",
        "/certsrv/certfnsh.asp",
        Some(ALICE),
        &browser(),
        &form_body(&[
            ("Mode", "newreq"),
            ("CertRequest", &csr),
            ("FriendlyType", "Saved-Request Certificate"),
        ]),
    );
    assert!(r.text().contains(marker::PENDING_TITLE));
    let first = cookie_of(&r);
    // A second request through the create form, remembered beside it.
    let mut h = browser();
    h.push(("Cookie", first.clone()));
    let r = call(
        &s,
        "POST",
        "/certsrv/certrqma.asp",
        Some(ALICE),
        &h,
        &form_body(&[("CN", "scom01.contoso.test"), (portal::PASSWORD, "pw")]),
    );
    assert!(r.text().contains(marker::PENDING_TITLE), "{}", r.text());
    let both = cookie_of(&r);
    let mut h = browser();
    h.push(("Cookie", both.clone()));
    let list = call(&s, "GET", "/certsrv/certckpn.asp", Some(ALICE), &h, b"").text();
    for id in [2, 3] {
        assert!(list.contains(&format!("ID=btnView{id} ")), "{list}");
        assert!(list.contains(&format!("ID=btnRemove{id} ")));
    }
    // Still pending, then issued by an officer: the create-form request
    // offers its PFX to its requester only.
    let check = |who: (&str, &str), id: u32| {
        let body = form_body(&[("Mode", "chkpnd"), ("ReqID", &id.to_string())]);
        call(&s, "POST", "/certsrv/certfnsh.asp", Some(who), &h, &body).text()
    };
    assert!(check(ALICE, 3).contains(marker::STILL_PENDING));
    s.ca().issue_pending(3, "CONTOSO\\Administrator").unwrap();
    let issued = check(ALICE, 3);
    assert!(issued.contains(marker::ISSUED_TITLE));
    assert!(issued.contains("Href=\"certnew.pfx?ReqID=3\""));
    assert!(!check(BOB, 3).contains("certnew.pfx"));
    assert!(check(ADMIN, 3).contains("certnew.pfx?ReqID=3"));
    let pfx = call(
        &s,
        "GET",
        "/certsrv/certnew.pfx?ReqID=3",
        Some(ALICE),
        &h,
        b"",
    );
    assert_eq!(pfx.header("Content-Type"), Some(content_type::PKCS12));
    // Remove forgets request 2 and keeps 3.
    let r = call(
        &s,
        "POST",
        "/certsrv/certrmpn.asp",
        Some(ALICE),
        &h,
        &form_body(&[("Action", "rmpn"), ("ReqID", "2")]),
    );
    let left = cookie_of(&r);
    let mut h = browser();
    h.push(("Cookie", left));
    let list = call(&s, "GET", "/certsrv/certckpn.asp", Some(ALICE), &h, b"").text();
    assert!(
        !list.contains("btnView2 ") && list.contains("btnView3 "),
        "{list}"
    );
}

#[test]
fn the_ca_certificate_page_names_each_certificate_by_its_renewal_index() {
    let s = start(CaConfig::default());
    s.ca().renew_ca(true).unwrap();
    let page = get(&s, endpoint::CA_CERTS);
    let values = attr_values(&page, "Option Value");
    assert_eq!(values, vec!["1", "0"], "newest first");
    for v in values {
        let k: u16 = v.parse().unwrap();
        let r = call(
            &s,
            "GET",
            &format!("/certsrv/certnew.cer?ReqID=CACert&Renewal={k}&Enc=bin"),
            Some(ALICE),
            &browser(),
            b"",
        );
        assert_eq!(Some(r.body), s.ca().ca_certificate(k), "Renewal={k}");
    }
    assert!(page.contains("var nRenewals=1;"));
    assert!(page.contains("Download CA certificate chain") && page.contains("delta CRL"));
}
