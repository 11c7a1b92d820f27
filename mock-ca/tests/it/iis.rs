//! The pages on IIS's own ports: plain HTTP and HTTPS beside the listen
//! address, each answering certsrv as the main one does; a port that cannot
//! be had is an error naming the setting, or (serve's default) a reason to
//! go on without.

use adcs_client::http::{Credentials, Session, Trust};
use mock_ca::web::iis::IisConfig;
use mock_ca::web::WebOptions;
use mock_ca::CaConfig;

use crate::support::ALICE;

fn on_free_ports(optional: bool) -> IisConfig {
    IisConfig {
        optional,
        http_port: 0,
        https_port: 0,
        ..IisConfig::default()
    }
}

/// `GET /certsrv/` at `base`: the status without and with alice's password.
fn statuses(base: &str) -> (u16, u16) {
    let get = |credentials| {
        let mut s = Session::new(
            &format!("{base}/certsrv/"),
            Trust::AnyCertificate,
            credentials,
        )
        .unwrap();
        s.request("GET", "", None, b"").unwrap().status
    };
    let alice = Credentials::Basic {
        user: ALICE.0.into(),
        password: ALICE.1.into(),
    };
    (get(Credentials::None), get(alice))
}

#[test]
fn the_pages_answer_on_both_ports_as_on_the_main_one() {
    let s = mock_ca::testing::start_with(
        CaConfig::default(),
        WebOptions {
            tls: false,
            iis: Some(on_free_ports(false)),
            ..WebOptions::default()
        },
    );
    let (http, https) = s.iis_addrs().expect("served");
    assert_ne!(http, s.addr());
    assert_eq!(statuses(&format!("http://{http}")), (401, 200));
    // HTTPS although the main listener is plain HTTP, with the same names.
    assert_eq!(statuses(&format!("https://{https}")), (401, 200));
    assert_eq!(statuses(&s.base_url()), (401, 200));
    assert!(s.iis_unavailable().is_none());
}

#[test]
fn a_port_in_use_is_an_error_or_a_reason_to_go_without() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let insisted = IisConfig {
        http_port: port,
        ..on_free_ports(false)
    };
    let opts = |iis| WebOptions {
        iis: Some(iis),
        ..WebOptions::default()
    };
    let e = mock_ca::web::Server::start(
        std::sync::Arc::new(
            mock_ca::Ca::new(
                CaConfig::default(),
                mock_ca::Seed(1),
                crate::support::clock(),
            )
            .unwrap(),
        ),
        opts(insisted.clone()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("[iis] http_port"), "{e}");
    let s = mock_ca::testing::start_with(
        CaConfig::default(),
        opts(IisConfig {
            optional: true,
            ..insisted
        }),
    );
    assert!(s.iis_addrs().is_none());
    let why = s.iis_unavailable().unwrap();
    assert!(why.contains(&format!("HTTP on 127.0.0.1:{port}")), "{why}");
    // The main listener serves on.
    assert_eq!(statuses(&s.base_url()), (401, 200));
}
