//! The bench's issuance row with programs nobody here wrote: `wrk` posts a
//! request to certfnsh.asp over and over (16 connections, Basic), and
//! `openssl speed -multi <cores> rsa2048` measures the machine's signing
//! rate just before and just after, in the same run, on the same cores.
//! The CA's own signer is measured too, so the row reads against both.

use std::path::Path;
use std::process::Command;

use adcs_proto::protocol::Disposition;
use mock_ca::db::RowQuery;
use mock_ca::web::Server;

/// wrk's connections: the load the 80% issuance target is stated for.
const CONNECTIONS: usize = 16;

/// The section: a row per run where wrk and openssl are installed, else a
/// line saying which is missing.
pub(super) fn section(runs: usize, seconds: f64, cores: usize) -> Result<String, String> {
    let mut out = String::from(
        "\n## Issuance with wrk\n\n`wrk -t<cores> -c16` posts one PKCS#10 to certfnsh.asp (WebServer template, Basic) over and over for the window; each answer is the issued page, and the CA's table is checked to hold at least as many new certificates as wrk counted answers. `openssl speed -multi <cores> rsa2048` runs just before and just after, and the CA's own signer just before; the share is against the mean of the two openssl runs, and (last column) against the CA's signer.\n\n",
    );
    let (Some(wrk), Some(openssl)) = (super::on_path("wrk"), super::on_path("openssl")) else {
        out.push_str("Not measured: no `wrk` or no `openssl` on PATH here.\n");
        return Ok(out);
    };
    let server = super::bench_server(false)?;
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let script = dir.path().join("certfnsh.lua");
    std::fs::write(&script, lua_script()?).map_err(|e| format!("{}: {e}", script.display()))?;
    out.push_str("| run | certificates/s | openssl speed before / after (signatures/s) | of openssl's rate | the CA's signer (signatures/s) | of the CA's signer |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
    let secs = seconds.round().max(1.0) as u64;
    let half = (seconds / 2.0).round().max(1.0) as u64;
    // A first, unmeasured window warms the server and the page cache.
    drive(&wrk, &script, &server, cores, 1)?;
    for i in 1..=runs.max(1) {
        let openssl_before = openssl_speed(&openssl, cores, half)?;
        let signer = super::signing_rate(half as f64)?;
        let issued_per_s = drive(&wrk, &script, &server, cores, secs)?;
        let openssl_after = openssl_speed(&openssl, cores, half)?;
        let openssl_mean = (openssl_before + openssl_after) / 2.0;
        out.push_str(&format!(
            "| {i} | {issued_per_s:.0} | {openssl_before:.0} / {openssl_after:.0} | {:.0}% | {signer:.0} | {:.0}% |\n",
            100.0 * issued_per_s / openssl_mean,
            100.0 * issued_per_s / signer
        ));
    }
    Ok(out)
}

/// wrk's Lua: the POST a browser's certfnsh.asp form sends, with Basic.
fn lua_script() -> Result<String, String> {
    let csr =
        adcs_proto::encoding::pem("CERTIFICATE REQUEST", &super::request("wrk.contoso.test")?);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Mode", "newreq")
        .append_pair("CertRequest", &csr)
        .append_pair("CertAttrib", "CertificateTemplate:WebServer")
        .append_pair("FriendlyType", "Saved-Request Certificate")
        .append_pair("TargetStoredLocation", "")
        .finish();
    let super::Credentials::Basic { user, password } = super::credentials(false) else {
        return Err("the bench's Basic credentials".into());
    };
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}").as_bytes());
    // The body is URL-encoded: no quote or backslash reaches the Lua string.
    Ok(format!(
        "wrk.method = \"POST\"\nwrk.body = \"{body}\"\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\nwrk.headers[\"Authorization\"] = \"Basic {basic}\"\n"
    ))
}

/// Runs wrk for `secs` against certfnsh.asp and returns its answers per
/// second, after checking every answer was a 200 and the CA issued at
/// least that many certificates.
fn drive(
    wrk: &Path,
    script: &Path,
    server: &Server,
    cores: usize,
    secs: u64,
) -> Result<f64, String> {
    let issued = || {
        server
            .ca()
            .count(&RowQuery::disposition(Some(Disposition::Issued)))
    };
    let before = issued();
    let url = format!("{}certfnsh.asp", server.certsrv_url());
    let out = Command::new(wrk)
        .args(["-t", &cores.to_string(), "-c", &CONNECTIONS.to_string()])
        .args(["-d", &format!("{secs}s")])
        // A loaded machine may take seconds to answer; wrk's default of 2 s
        // would count those as errors.
        .args(["--timeout", "60s", "-s"])
        .arg(script)
        .arg(&url)
        .output()
        .map_err(|e| format!("{}: {e}", wrk.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "wrk exited with {}: {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let report = WrkReport::parse(&text).ok_or_else(|| format!("wrk's report: {text}"))?;
    if report.failed > 0 {
        return Err(format!(
            "wrk: {} answers were errors: {text}",
            report.failed
        ));
    }
    let new = issued() - before;
    if (new as u64) < report.requests {
        return Err(format!(
            "wrk counted {} answers but the CA issued {new} certificates",
            report.requests
        ));
    }
    Ok(report.per_second)
}

/// The figures of wrk's report this row reads.
#[derive(Debug, PartialEq)]
struct WrkReport {
    requests: u64,
    per_second: f64,
    /// Non-2xx answers and socket errors.
    failed: u64,
}

impl WrkReport {
    fn parse(text: &str) -> Option<WrkReport> {
        let mut requests = None;
        let mut per_second = None;
        let mut failed = 0;
        for line in text.lines().map(str::trim) {
            if let Some(v) = line.strip_prefix("Requests/sec:") {
                per_second = v.trim().parse().ok();
            } else if line.contains(" requests in ") {
                requests = line.split_whitespace().next()?.parse().ok();
            } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
                failed += v.trim().parse::<u64>().ok()?;
            } else if let Some(v) = line.strip_prefix("Socket errors:") {
                // "connect 0, read 0, write 0, timeout 0"
                failed += v
                    .split(',')
                    .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum::<u64>();
            }
        }
        Some(WrkReport {
            requests: requests?,
            per_second: per_second?,
            failed,
        })
    }
}

/// `openssl speed -multi <cores> -seconds <secs> rsa2048`'s signatures
/// per second.
fn openssl_speed(openssl: &Path, cores: usize, secs: u64) -> Result<f64, String> {
    let out = Command::new(openssl)
        .args(["speed", "-multi", &cores.to_string()])
        .args(["-seconds", &secs.to_string(), "rsa2048"])
        .output()
        .map_err(|e| format!("{}: {e}", openssl.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    sign_rate(&text).ok_or_else(|| format!("openssl speed's report: {text}"))
}

/// The sign/s column of `openssl speed`'s RSA-2048 line: the header names
/// the columns (`sign verify sign/s verify/s`, or with encrypt and decrypt
/// in OpenSSL 3.4+), the line's numbers follow "2048 bits".
fn sign_rate(text: &str) -> Option<f64> {
    let lines: Vec<&str> = text.lines().collect();
    let row = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("rsa") && l.contains("2048 bits"))?;
    let header = lines[..row].iter().rev().find(|l| l.contains("sign/s"))?;
    let column = header.split_whitespace().position(|c| c == "sign/s")?;
    let values = lines[row].split("bits").nth(1)?;
    values.split_whitespace().nth(column)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openssl_3_0_and_3_4_reports() {
        let v30 = "                  sign    verify    sign/s verify/s\nrsa 2048 bits 0.000157s 0.000010s   6358.0 104601.3\n";
        assert_eq!(sign_rate(v30), Some(6358.0));
        let v34 = "                   sign    verify    encrypt   decrypt   sign/s verify/s  encr./s  decr./s\nrsa   2048 bits 0.000628s 0.000019s 0.000020s 0.000622s   1592.1  52966.7  50712.6   1607.3\n";
        assert_eq!(sign_rate(v34), Some(1592.1));
        assert_eq!(sign_rate("rsa 2048 bits 0.1s\n"), None);
    }

    #[test]
    fn reads_wrk_reports_and_counts_failures() {
        let ok = "Running 5s test @ http://127.0.0.1:1/certsrv/certfnsh.asp\n  2 threads and 16 connections\n  19041 requests in 5.02s, 35.08MB read\nRequests/sec:   3790.85\nTransfer/sec:      6.98MB\n";
        assert_eq!(
            WrkReport::parse(ok),
            Some(WrkReport {
                requests: 19041,
                per_second: 3790.85,
                failed: 0
            })
        );
        let bad = "  10 requests in 1.00s, 1MB read\n  Socket errors: connect 0, read 2, write 0, timeout 3\n  Non-2xx or 3xx responses: 4\nRequests/sec:     10.00\n";
        assert_eq!(WrkReport::parse(bad).map(|r| r.failed), Some(9));
        assert_eq!(WrkReport::parse("Requests/sec: 1\n"), None);
    }
}
