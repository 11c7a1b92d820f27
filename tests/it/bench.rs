//! `bench` runs end to end (tiny durations; timings are for BENCHMARKS.md,
//! never asserted here).

#[test]
fn the_bench_measures_every_section() {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_adcs-harness"));
    let opts = adcs_harness::bench::BenchOptions {
        seconds: 0.2,
        clients: vec![2],
        runs: 1,
        scale: 300,
        scale_revoked: Some(40),
        load: 60,
        load_clients: 4,
        protocol_clients: 2,
    };
    let mut steps = Vec::new();
    let report = adcs_harness::bench::run(&opts, exe, &mut |p| steps.push(p.to_string())).unwrap();
    for section in [
        "## Issuance throughput",
        "## Start-up",
        "## Client flow",
        "## Issuance with wrk",
        "## Every protocol",
        "## Load",
        "## Scale",
    ] {
        assert!(report.contains(section), "{report}");
    }
    // Four throughput rows (HTTP/HTTPS × Basic/NTLM), each with a rate.
    let rows: Vec<&str> = report.lines().filter(|l| l.starts_with("| HTTP")).collect();
    assert_eq!(rows.len(), 4, "{report}");
    for r in rows {
        let rate: f64 = r.split('|').nth(4).unwrap().trim().parse().unwrap();
        assert!(rate > 0.0, "{r}");
    }
    assert!(steps.iter().any(|s| s == "start-up"), "{steps:?}");
    // A rate in every protocol row (Kerberos where the MIT KDC is here).
    for name in [
        "ICPR over RPC",
        "SCEP PKCSReq, AES-128",
        "SCEP PKCSReq, 3DES",
        "Kerberos sign-in and submit",
        "Kerberos submit with a kept ticket",
        "LDAP bind and template search",
    ] {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row {name}: {report}"));
        let cell = row.split('|').nth(3).unwrap().trim();
        let measured = cell.parse::<f64>().is_ok_and(|r| r > 0.0);
        assert!(
            measured || cell.starts_with("not measured: no krb5-kdc"),
            "{row}"
        );
    }
    // wrk's row where wrk and openssl are installed, else said so.
    let on_path = |name: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .any(|d| d.join(name).is_file())
    };
    assert!(report.contains("## Issuance with wrk"), "{report}");
    if on_path("wrk") && on_path("openssl") {
        let row = report
            .lines()
            .find(|l| l.starts_with("| 1 | "))
            .unwrap_or_else(|| panic!("no wrk row: {report}"));
        let rate: f64 = row.split('|').nth(2).unwrap().trim().parse().unwrap();
        assert!(rate > 0.0, "{row}");
    } else {
        assert!(report.contains("Not measured: no `wrk`"), "{report}");
    }
    // With a realm when this machine has the MIT KDC, else said so.
    assert!(report.contains("| known, `--kerberos`"), "{report}");
    // The scale section filled and reopened the database it reports on.
    assert!(report.contains("with 301 requests"), "{report}");
    assert!(report.contains("base CRL (40 entries"), "{report}");
    assert!(
        report.contains("| list pending, newest 100 / count them all |"),
        "{report}"
    );
    assert!(report.contains("| errors | 0 |"), "{report}");
    assert!(report.contains("no gap, no duplicate"), "{report}");
}
