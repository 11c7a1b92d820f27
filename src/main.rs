//! `adcs-harness`: the one command-line tool. Every verb is a thin call into
//! the libraries (`mock_ca`, `adcs_client`).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cli::{ca_cert, ca_local, ca_remote, req, scom, serve, store};
use mock_ca::RevocationReason;

#[derive(Parser)]
#[command(
    name = "adcs-harness",
    version,
    about = "A test harness that stands in for Microsoft AD CS web enrollment"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the certsrv web-enrollment server (HTTPS on loopback by default).
    Serve(serve::ServeArgs),
    /// Administer a CA: one in a state directory, or a running server.
    Ca {
        #[command(flatten)]
        target: CaTarget,
        #[command(flatten)]
        remote: RemoteAuth,
        #[command(subcommand)]
        action: CaAction,
    },
    /// Whether the `serve` that wrote this ready file answers: exit 0 when
    /// its pages' port accepts a connection (a container's health check;
    /// with --wait, what a script runs after `serve … &`).
    Ready {
        #[arg(value_name = "READY_FILE")]
        file: std::path::PathBuf,
        /// Seconds to wait for the connection.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
        /// Seconds to keep trying while the file is not written yet or the
        /// port does not answer (0: try once).
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        wait: u64,
    },
    /// certreq: make, submit, retrieve and accept certificate requests.
    Req {
        #[command(subcommand)]
        action: req::ReqAction,
    },
    /// certutil -ADCA: the enterprise CAs the directory publishes (name,
    /// DNS name, templates), read over LDAP or LDAPS.
    CaInfo(cli::directory::DirectoryArgs),
    /// Download a CA certificate, chain or CRL from web enrollment.
    CaCert {
        #[command(subcommand)]
        action: ca_cert::CaCertAction,
    },
    /// The local certificate store: list, import, export (PFX), repair.
    Store {
        #[command(subcommand)]
        action: store::StoreAction,
    },
    /// SCOM: import like MOMCertImport, check like the agent, renew, or run
    /// the whole certificate procedure.
    Scom {
        #[command(subcommand)]
        action: scom::ScomAction,
    },
    /// Measure issuance, start-up and the client flow (Markdown for
    /// BENCHMARKS.md). Build with --release for figures that mean something.
    Bench {
        /// Seconds per throughput measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Client counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
        clients: Vec<usize>,
        /// Runs per start-up and client-flow figure.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Requests in the scale database (0 skips it).
        #[arg(long, default_value_t = 100_000)]
        scale: usize,
        /// Submissions in the full-size load (0 skips it).
        #[arg(long, default_value_t = 10_000)]
        load: usize,
        /// Client threads for the protocol rows: RPC, SCEP, Kerberos,
        /// LDAP (0 skips them).
        #[arg(long, default_value_t = 8)]
        protocol_clients: usize,
        /// Also write the report to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write the fuzz targets' starting corpus (fuzz/README.md).
    #[command(hide = true)]
    FuzzSeeds { dir: PathBuf },
    /// Run scenario files (or folders of them): one line per step, then
    /// `scenarios: N passed, M failed`.
    Run {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Replace every scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Print only failed scenarios and the summary.
        #[arg(long)]
        quiet: bool,
    },
}

/// Which CA `ca` works on.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct CaTarget {
    /// A CA kept in a state directory (made by `init`); no server needed.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// A running server, found through its `serve --ready-file`.
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
    /// A running server's control URL (`https://host:port/control/`).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

/// Administrator credentials and trust for `--server`.
#[derive(Args)]
struct RemoteAuth {
    /// Administrator account for `--server`.
    #[arg(long, default_value = "CONTOSO\\Administrator")]
    admin_user: String,
    /// Password of --admin-user.
    #[arg(long, default_value = mock_ca::web::directory::DEFAULT_ADMIN_PASSWORD)]
    admin_password: String,
    /// PEM file of the root that verifies an HTTPS `--server`; without it the
    /// server certificate is not checked.
    #[arg(long, value_name = "FILE")]
    root_cert: Option<PathBuf>,
    /// Seconds to wait for each of connect, TLS handshake and response
    /// (a timeout exits with code 8).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    timeout: f64,
}

#[derive(Subcommand)]
enum CaAction {
    /// Create a new CA in the state directory.
    Init(ca_local::InitCmd),
    /// Submit a request file (PEM or DER) as a user; prints disposition and ID.
    Submit(ca_local::SubmitCmd),
    /// List requests: all, or those the filters select, a page at a time.
    List(ca_local::ListCmd),
    /// List pending requests.
    Pending,
    /// A request as a detection rule reads it (events 4886-4889): the
    /// requester, template and attributes, the subject and SANs as
    /// requested and as issued, as JSON.
    Audit { id: u32 },
    /// Issue a pending request.
    Issue { id: u32 },
    /// Deny a pending request.
    Deny { id: u32 },
    /// Revoke a certificate by serial number.
    Revoke {
        serial: String,
        #[arg(long, default_value = "unspecified")]
        reason: RevocationReason,
    },
    /// Take a certificate off hold.
    Unrevoke { serial: String },
    /// Publish a CRL and write it (PEM) to a file or standard output.
    Crl {
        #[arg(long)]
        delta: bool,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show or move a running server's virtual clock.
    Clock {
        /// Set the clock to this Unix time.
        #[arg(long)]
        set: Option<i64>,
        /// Move the clock by this many seconds (negative goes back).
        #[arg(long, allow_hyphen_values = true)]
        advance: Option<i64>,
        /// Stop the clock (it moves only when set or advanced).
        #[arg(long, conflicts_with = "resume")]
        freeze: bool,
        /// Let the clock follow real time again.
        #[arg(long)]
        resume: bool,
    },
    /// Put a running server's CA back to its initial state.
    Reset,
    /// Print a running server's request journal (JSON).
    Journal {
        #[arg(long, default_value_t = 0)]
        since: u64,
    },
    /// Renew the CA certificate.
    Renew {
        #[arg(long)]
        new_key: bool,
    },
    /// Write the CA certificates and keys (PEM) into a folder.
    Export { out_dir: PathBuf },
}

/// `bench`: the report on standard output (and in `out`).
fn run_bench(
    seconds: f64,
    clients: Vec<usize>,
    runs: usize,
    scale: usize,
    load: usize,
    protocol_clients: usize,
    out: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let opts = adcs_harness::bench::BenchOptions {
        seconds,
        clients,
        runs: runs.max(1),
        scale,
        load,
        protocol_clients,
        ..adcs_harness::bench::BenchOptions::default()
    };
    let report = adcs_harness::bench::run(&opts, &exe, &mut |p| eprintln!("bench: {p}"))
        .map_err(|e| e.to_string())?;
    print!("{report}");
    if let Some(p) = out {
        adcs_client::flow::write_file(&p, report.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `run`: every scenario's transcript, then the summary; exit 1 on any failure.
fn run_scenarios(paths: &[PathBuf], seed: Option<u64>, quiet: bool) -> Result<ExitCode, String> {
    use adcs_harness::scenario;
    let files = scenario::files(paths).map_err(|e| e.to_string())?;
    let opts = scenario::RunOptions { seed };
    let summary = scenario::run_files(&files, &opts, &mut |r| match r {
        Ok(report) if !quiet || report.failed() > 0 => print!("{}", report.transcript()),
        Ok(_) => {}
        Err(e) => println!("parse FAILED: {e}"),
    });
    println!("{}", summary.line());
    Ok(if summary.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Ca {
            target,
            remote,
            action,
        } => match &target.state_dir {
            Some(dir) => ca_local::run(dir, action),
            None => ca_remote::run(&target, &remote, action),
        },
        Command::Ready {
            file,
            timeout,
            wait,
        } => {
            let connect = std::time::Duration::from_secs(timeout.max(1));
            let wait = std::time::Duration::from_secs(wait);
            mock_ca::serve::wait_ready(&file, wait, connect).map(|addr| {
                println!("ready: {addr}");
                ExitCode::SUCCESS
            })
        }
        Command::Req { action } => req::run_req(action),
        Command::CaInfo(args) => cli::directory::ca_info(args),
        Command::CaCert { action } => ca_cert::run_ca_cert(action),
        Command::Store { action } => store::run_store(action),
        Command::Scom { action } => scom::run(action),
        Command::Run { paths, seed, quiet } => run_scenarios(&paths, seed, quiet),
        Command::FuzzSeeds { dir } => adcs_harness::fuzzing::write_seeds(&dir)
            .map(|n| {
                println!("{n} seed files under {}", dir.display());
                ExitCode::SUCCESS
            })
            .map_err(|e| e.to_string()),
        Command::Bench {
            seconds,
            clients,
            runs,
            scale,
            load,
            protocol_clients,
            out,
        } => run_bench(seconds, clients, runs, scale, load, protocol_clients, out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("adcs-harness: {e}");
            ExitCode::FAILURE
        }
    }
}
