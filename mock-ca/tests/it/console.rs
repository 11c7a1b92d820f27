//! The Certification Authority console on the control plane, on the server
//! side: each folder and its actions, the Certificate Templates console,
//! clock and fault controls, the anti-forgery token and the same-site check,
//! escaping, and that only administrators get any of it. The browser suite
//! (tests/browser) walks the same pages in Chromium.

use crate::support::{
    attr_values, call, csr_pem, form_body, start_http as start, ADMIN, ALICE, BOB, T0,
};
use adcs_client::http::HttpResponse;
use adcs_proto::protocol::{endpoint, marker};
use mock_ca::web::console::CSRF_FIELD;
use mock_ca::web::Server;
use mock_ca::{CaConfig, Disposition, HResult, KeyAlgorithm};

fn console_get(s: &Server, page: &str) -> HttpResponse {
    call(
        s,
        "GET",
        &format!("/control/console/{page}"),
        Some(ADMIN),
        &[],
        b"",
    )
}

/// The anti-forgery token of a console page.
fn token(page: &str) -> String {
    let key = format!("name={CSRF_FIELD} value=\"");
    let i = page.find(&key).expect("a console form") + key.len();
    page[i..i + page[i..].find('"').unwrap()].to_string()
}

fn console_post(s: &Server, action: &str, pairs: &[(&str, &str)]) -> HttpResponse {
    let t = token(&console_get(s, "").text());
    let mut all = vec![(CSRF_FIELD, t.as_str())];
    all.extend_from_slice(pairs);
    call(
        s,
        "POST",
        &format!("/control/console/{action}"),
        Some(ADMIN),
        &[],
        &form_body(&all),
    )
}

fn submit(s: &Server, who: (&str, &str), cn: &str, attrib: &str) -> String {
    let csr = csr_pem(cn, KeyAlgorithm::Rsa2048);
    call(
        s,
        "POST",
        "/certsrv/certfnsh.asp",
        Some(who),
        &[],
        &form_body(&[
            ("Mode", "newreq"),
            ("CertRequest", &csr),
            ("CertAttrib", attrib),
        ]),
    )
    .text()
}

fn check_pending(s: &Server, id: u32) -> String {
    call(
        s,
        "POST",
        "/certsrv/certfnsh.asp",
        Some(ALICE),
        &[],
        &form_body(&[("Mode", "chkpnd"), ("ReqID", &id.to_string())]),
    )
    .text()
}

fn redirected(r: &HttpResponse, view: &str) -> String {
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.header("Location").unwrap();
    assert!(
        to.starts_with(&format!("/control/console/{view}?done=")),
        "{to}"
    );
    to.to_string()
}

#[test]
fn each_folder_lists_its_requests_and_its_actions_reach_certsrv_and_the_journal() {
    let s = start(CaConfig::standalone());
    for cn in ["a.contoso.test", "b.contoso.test", "c.contoso.test"] {
        assert!(submit(&s, ALICE, cn, "").contains(marker::PENDING_TITLE));
    }
    let pending = console_get(&s, "pending");
    assert_eq!(pending.status, 200);
    assert_eq!(pending.header("X-Frame-Options"), Some("DENY"));
    let text = pending.text();
    for column in [
        "Request ID",
        "Requester Name",
        "Request Disposition Message",
        "Request Submission Date",
    ] {
        assert!(text.contains(&format!("<th>{column}</th>")), "{column}");
    }
    assert!(text.contains("<p id=count>3 request(s)</p>"));
    assert!(text.contains("CN=b.contoso.test") && text.contains("CONTOSO\\alice"));
    assert!(text.contains("Taken Under Submission") && text.contains("1/1/2026 12:00 AM"));

    // Issue 2: certsrv shows it issued, the journal names the officer.
    let r = console_post(
        &s,
        "action",
        &[("action", "issue"), ("id", "2"), ("back", "pending")],
    );
    redirected(&r, "pending");
    assert!(check_pending(&s, 2).contains(marker::ISSUED_TITLE));
    let entry = s
        .journal()
        .into_iter()
        .find(|e| e.path == "/control/console/action")
        .expect("the action is journaled");
    assert_eq!(
        (
            entry.user.as_deref(),
            entry.request_id,
            entry.disposition.as_deref()
        ),
        (Some(ADMIN.0), Some(2), Some("issued"))
    );
    let issued = console_get(&s, "issued").text();
    let serial = s.ca().request(2).unwrap().serial.unwrap();
    assert!(issued.contains(&serial) && issued.contains("id=revoke-2"));

    // Deny 3: Failed Requests lists it.
    redirected(
        &console_post(
            &s,
            "action",
            &[("action", "deny"), ("id", "3"), ("back", "pending")],
        ),
        "pending",
    );
    assert!(check_pending(&s, 3).contains(marker::DENIED_TITLE));
    let failed = console_get(&s, "failed").text();
    assert!(failed.contains("id=row-3 ") && !failed.contains("id=row-4 "));

    // Revoke 2 on hold, then unrevoke; publish a CRL.
    redirected(
        &console_post(
            &s,
            "action",
            &[
                ("action", "revoke"),
                ("serial", &serial),
                ("reason", "certificate_hold"),
                ("back", "issued"),
            ],
        ),
        "issued",
    );
    let revoked = console_get(&s, "revoked").text();
    assert!(revoked.contains("Certificate Hold") && revoked.contains("id=unrevoke-2"));
    assert_eq!(s.ca().request(2).unwrap().disposition, Disposition::Revoked);
    redirected(
        &console_post(&s, "action", &[("action", "crl"), ("back", "revoked")]),
        "revoked",
    );
    redirected(
        &console_post(
            &s,
            "action",
            &[
                ("action", "unrevoke"),
                ("serial", &serial),
                ("back", "revoked"),
            ],
        ),
        "revoked",
    );
    assert_eq!(s.ca().request(2).unwrap().disposition, Disposition::Issued);

    // A refused action says why and changes nothing.
    let r = console_post(
        &s,
        "action",
        &[("action", "issue"), ("id", "3"), ("back", "pending")],
    );
    assert_eq!(r.status, 409);
    assert!(r.text().contains("id=banner"));
    assert_eq!(s.ca().request(3).unwrap().disposition, Disposition::Denied);
    let r = console_post(&s, "action", &[("action", "revoke"), ("back", "issued")]);
    assert_eq!(r.status, 400);
    let r = console_post(
        &s,
        "action",
        &[
            ("action", "revoke"),
            ("serial", &serial),
            ("reason", "bored"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("unknown revocation reason"));
}

#[test]
fn forms_need_the_token_and_a_same_site_origin() {
    let s = start(CaConfig::standalone());
    submit(&s, ALICE, "a.contoso.test", "");
    let page = console_get(&s, "pending").text();
    let good = token(&page);
    let other = token(&console_get(&start(CaConfig::standalone()), "settings").text());
    assert_ne!(good, other, "each server has its own secret");
    let post = |t: &str, headers: &[(&str, String)]| {
        call(
            &s,
            "POST",
            "/control/console/action",
            Some(ADMIN),
            headers,
            &form_body(&[(CSRF_FIELD, t), ("action", "issue"), ("id", "2")]),
        )
    };
    for (t, headers) in [
        ("", vec![]),
        (other.as_str(), vec![]),
        (&good[..good.len() - 1], vec![]),
        (
            good.as_str(),
            vec![("Origin", "http://attacker.example".to_string())],
        ),
        (good.as_str(), vec![("Origin", "null".to_string())]),
        (
            good.as_str(),
            vec![("Sec-Fetch-Site", "cross-site".to_string())],
        ),
    ] {
        let r = post(t, &headers);
        assert_eq!(r.status, 403, "token {t:?} headers {headers:?}");
        assert_eq!(s.ca().request(2).unwrap().disposition, Disposition::Pending);
    }
    // The JSON API refuses a cross-site post too, and serves scripts.
    let r = call(
        &s,
        "POST",
        "/control/requests/2/deny",
        Some(ADMIN),
        &[("Origin", "https://attacker.example".to_string())],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(s.ca().request(2).unwrap().disposition, Disposition::Pending);
    // Same origin, right token: done.
    let host = s.addr().to_string();
    let r = post(
        &good,
        &[
            ("Origin", format!("http://{host}")),
            ("Host", host.clone()),
            ("Sec-Fetch-Site", "same-origin".into()),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(s.ca().request(2).unwrap().disposition, Disposition::Issued);
}

#[test]
fn non_administrators_and_strangers_get_no_console_page_and_no_action() {
    let s = start(CaConfig::standalone());
    submit(&s, ALICE, "a.contoso.test", "");
    let stolen = token(&console_get(&s, "pending").text());
    for who in [ALICE, BOB] {
        for page in ["", "pending", "templates", "settings"] {
            let r = call(
                &s,
                "GET",
                &format!("/control/console/{page}"),
                Some(who),
                &[],
                b"",
            );
            assert_eq!(r.status, 403, "{page}");
            let text = r.text();
            assert!(text.contains("is not a CA administrator"));
            assert!(!text.contains(CSRF_FIELD) && !text.contains("<form"));
        }
        let r = call(
            &s,
            "POST",
            "/control/console/action",
            Some(who),
            &[],
            &form_body(&[(CSRF_FIELD, &stolen), ("action", "issue"), ("id", "2")]),
        );
        assert_eq!(r.status, 403);
    }
    let r = call(&s, "GET", "/control/console/", None, &[], b"");
    assert_eq!(r.status, 401);
    assert!(!r.text().contains("<form"));
    assert_eq!(s.ca().request(2).unwrap().disposition, Disposition::Pending);
}

fn enrollable(s: &Server, who: (&str, &str)) -> Vec<String> {
    let page = call(s, "GET", "/certsrv/certrqxt.asp", Some(who), &[], b"").text();
    attr_values(&page, "Option Value")
        .iter()
        .map(|v| v.split(';').nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn templates_are_duplicated_edited_and_published_from_the_console() {
    let s = start(CaConfig::default());
    let list = console_get(&s, "templates").text();
    assert!(list.contains("data-template=\"WebServer\"") && list.contains("Server Authentication"));
    let form = console_get(&s, "templates/duplicate?name=WebServer").text();
    assert!(form.contains("value=\"Copy of Web Server\""));
    assert!(form.contains("name=op value=duplicate"));

    let fields = |name: &str, validity: &str, min_key: &str| {
        vec![
            ("op", "duplicate".to_string()),
            ("source", "WebServer".into()),
            ("display_name", "SCOM Web Server".into()),
            ("name", name.into()),
            ("validity_days", validity.into()),
            ("compatibility", "2".into()),
            ("purpose", "both".into()),
            ("exportable_key", "on".into()),
            ("min_key_size", min_key.into()),
            ("eku", adcs_proto::protocol::oid::EKU_SERVER_AUTH.into()),
            ("eku", adcs_proto::protocol::oid::EKU_CLIENT_AUTH.into()),
            ("other_ekus", "".into()),
            ("key_usage_critical", "on".into()),
            ("subject", "request".into()),
            ("enroll", "CONTOSO\\bob\r\n".into()),
        ]
    };
    let post = |pairs: &[(&str, String)]| {
        let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        console_post(&s, "templates/save", &p)
    };
    // A bad value comes back with what was typed and changes nothing.
    let r = post(&fields("ScomWeb", "two years", "2048"));
    assert_eq!(r.status, 400);
    let text = r.text();
    assert!(text.contains("Validity period (days): `two years` is not a whole number"));
    assert!(text.contains("value=\"two years\"") && text.contains("value=\"ScomWeb\""));
    assert!(s.ca().template("ScomWeb").is_none());

    redirected(&post(&fields("ScomWeb", "365", "2048")), "templates");
    let t = s.ca().template("ScomWeb").unwrap();
    assert_eq!(
        (t.schema_version, t.major_version, t.minor_version),
        (2, 100, 2)
    );
    assert!(!t.published && t.exportable_key && t.validity_days == 365);
    assert_eq!(t.ekus.len(), 2);
    assert!(!enrollable(&s, BOB).contains(&"ScomWeb".to_string()));
    // A second duplicate of the same name is refused.
    assert_eq!(post(&fields("scomweb", "365", "2048")).status, 400);

    // Publish: certsrv offers it to bob only, and issues it to him.
    redirected(
        &console_post(
            &s,
            "templates/publish",
            &[("name", "ScomWeb"), ("publish", "yes")],
        ),
        "templates",
    );
    assert!(enrollable(&s, BOB).contains(&"ScomWeb".to_string()));
    assert!(!enrollable(&s, ALICE).contains(&"ScomWeb".to_string()));
    assert!(
        submit(&s, BOB, "web.contoso.test", "CertificateTemplate:ScomWeb")
            .contains(marker::ISSUED_TITLE)
    );
    let denied = submit(&s, ALICE, "web.contoso.test", "CertificateTemplate:ScomWeb");
    assert!(denied.contains(marker::DENIED_TITLE), "{denied}");
    assert_eq!(s.ca().request(3).unwrap().status, HResult::TEMPLATE_DENIED);

    // Edit: a larger minimum key size applies to the next request.
    let mut edit = fields("ScomWeb", "365", "4096");
    edit[0].1 = "edit".into();
    edit[1].1 = "ScomWeb".into();
    redirected(&post(&edit), "templates");
    let t = s.ca().template("ScomWeb").unwrap();
    assert_eq!(
        (t.min_key_size, t.minor_version, t.published),
        (4096, 3, true)
    );
    assert!(
        !submit(&s, BOB, "web.contoso.test", "CertificateTemplate:ScomWeb")
            .contains(marker::ISSUED_TITLE)
    );
    assert_eq!(s.ca().request(4).unwrap().status, HResult::KEY_LENGTH);
    let props = console_get(&s, "templates/properties?name=ScomWeb").text();
    assert!(props.contains("name=min_key_size id=min_key_size size=6 value=\"4096\""));

    // Unpublish: gone from certsrv at once.
    redirected(
        &console_post(
            &s,
            "templates/publish",
            &[("name", "ScomWeb"), ("publish", "no")],
        ),
        "templates",
    );
    assert!(!enrollable(&s, BOB).contains(&"ScomWeb".to_string()));
}

#[test]
fn the_clock_and_the_fault_rules_are_set_from_the_console() {
    let s = start(CaConfig::default());
    let settings = console_get(&s, "settings").text();
    assert!(settings.contains("2026-01-01T00:00:00Z") && settings.contains("frozen"));
    redirected(
        &console_post(&s, "clock", &[("advance", "86400")]),
        "settings",
    );
    assert_eq!(s.ca().clock().now(), T0 + 86400);
    redirected(
        &console_post(&s, "clock", &[("set", "2026-06-01T12:00:00Z")]),
        "settings",
    );
    assert_eq!(s.ca().clock().now(), T0 + 151 * 86400 + 12 * 3600);
    let r = console_post(&s, "clock", &[("advance", "soon")]);
    assert_eq!(r.status, 400);
    assert_eq!(s.ca().clock().now(), T0 + 151 * 86400 + 12 * 3600);

    // Renewal: certsrv's CA certificate page lists both at once.
    assert!(settings.contains("<b id=ca-count>1</b>"));
    redirected(
        &console_post(&s, "renew", &[("new_key", "yes")]),
        "settings",
    );
    assert_eq!(s.ca().n_renewals(), 1);
    let carc = call(&s, "GET", "/certsrv/certcarc.asp", Some(ALICE), &[], b"").text();
    assert!(carc.contains("var nRenewals=1;"));
    assert_ne!(s.ca().ca_key_index(1), s.ca().ca_key_index(0));
    assert!(console_get(&s, "settings")
        .text()
        .contains("<b id=ca-count>2</b>"));

    let rule = r#"[{"endpoint": "certnew.cer", "status": 503}]"#;
    redirected(&console_post(&s, "faults", &[("rules", rule)]), "settings");
    let r = call(
        &s,
        "GET",
        "/certsrv/certnew.cer?ReqID=1",
        Some(ALICE),
        &[],
        b"",
    );
    assert_eq!(r.status, 503);
    let r = console_post(&s, "faults", &[("rules", r#"[{"endpoint": 5}]"#)]);
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("{&quot;endpoint&quot;: 5}"),
        "the text is kept"
    );
    redirected(&console_post(&s, "faults", &[("rules", "[]")]), "settings");
    let r = call(
        &s,
        "GET",
        "/certsrv/certnew.cer?ReqID=1",
        Some(ALICE),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn every_value_on_a_console_page_is_escaped() {
    let s = start(CaConfig::standalone());
    let evil = "<script>alert(1)</script>";
    submit(&s, ALICE, "x<b>y</b>.contoso.test", "");
    let text = console_get(&s, "pending").text();
    assert!(!text.contains("<b>y</b>") && text.contains("x&lt;b&gt;y&lt;/b&gt;"));
    let r = call(
        &s,
        "GET",
        &format!(
            "/control/console/issued?done={}",
            form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
        ),
        Some(ADMIN),
        &[],
        b"",
    );
    assert!(!r.text().contains(evil) && r.text().contains("&lt;script&gt;"));
    let s = start(CaConfig::default());
    let t = s.ca().duplicate_template("User", "Evil", evil).unwrap();
    assert_eq!(t.display_name, evil);
    for page in ["templates", "templates/properties?name=Evil"] {
        let text = console_get(&s, page).text();
        assert!(!text.contains(evil), "{page}");
        assert!(
            text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }
    assert!(endpoint::CONTROL.ends_with('/'));
}
