//! `bench` runs end to end (tiny durations; timings are for BENCHMARKS.md,
//! never asserted here).

#[test]
fn the_bench_measures_every_section() {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_adcs-harness"));
    let opts = adcs_harness::bench::BenchOptions {
        seconds: 0.2,
        clients: vec![2],
        runs: 1,
    };
    let mut steps = Vec::new();
    let report = adcs_harness::bench::run(&opts, exe, &mut |p| steps.push(p.to_string())).unwrap();
    for section in ["## Issuance throughput", "## Start-up", "## Client flow"] {
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
}
