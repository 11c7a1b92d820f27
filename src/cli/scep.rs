//! `req scep`: a device's SCEP enrollment (NDES or any RFC 8894 server):
//! a new RSA key and its certificate, written as PEM files.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use adcs_client::http::{Credentials, Trust};
use adcs_client::scep::{enroll_device, ChallengeSource, DeviceError, DeviceRequest, Polling};
use adcs_proto::scep::{Cipher, FailInfo};
use clap::{Args, ValueEnum};

use super::common::{timeout_arg, AuthKind, EXIT_DENIED, EXIT_PENDING};

/// The content cipher of `--cipher`.
#[derive(Clone, Copy, ValueEnum)]
pub enum CipherArg {
    Des,
    Des3,
    Aes128,
    Aes256,
}

/// `req scep`'s arguments.
#[derive(Args)]
pub struct ScepCmd {
    /// The SCEP URL, e.g. `http://ndes.contoso.com/certsrv/mscep/mscep.dll`.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The subject to request, e.g. `CN=router01.contoso.com, O=Contoso`.
    #[arg(long)]
    pub subject: String,
    /// The one-time challenge password.
    #[arg(long, conflicts_with = "admin_url")]
    pub challenge: Option<String>,
    /// Fetch the challenge password from NDES's `mscep_admin` page,
    /// signed in as `--user`.
    #[arg(long, value_name = "URL", requires = "user")]
    pub admin_url: Option<String>,
    /// Account for `--admin-url` (`DOMAIN\user`).
    #[arg(long)]
    pub user: Option<String>,
    /// Its password; better given in ADCS_HARNESS_PASSWORD.
    #[arg(long, env = "ADCS_HARNESS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    #[arg(long, value_enum, default_value = "ntlm")]
    pub auth: AuthKind,
    /// RSA key size.
    #[arg(long, default_value_t = 2048)]
    pub key_size: u32,
    /// Content cipher (default: AES-128 if the server lists AES, else 3DES).
    #[arg(long, value_enum)]
    pub cipher: Option<CipherArg>,
    /// Seconds between polls of a pending request.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub poll_interval: f64,
    /// Give up polling after this many seconds (exit code 3).
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    pub max_wait: f64,
    /// Seconds to wait for each network answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub timeout: f64,
    /// Seed for the key, for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where to write the private key (PKCS#8 PEM).
    #[arg(long, value_name = "FILE")]
    pub key_out: PathBuf,
    /// Where to write the issued certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

fn seconds(flag: &str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("{flag} {s}: give a number of seconds"))
}

fn request(a: &ScepCmd) -> Result<DeviceRequest, String> {
    let challenge = match (&a.challenge, &a.admin_url) {
        (Some(p), _) => ChallengeSource::Given(p.clone()),
        (None, Some(url)) => {
            let (Some(user), Some(password)) = (&a.user, &a.password) else {
                return Err(
                    "--admin-url needs --user and a password (--password or ADCS_HARNESS_PASSWORD)"
                        .into(),
                );
            };
            let credentials = match a.auth {
                AuthKind::Basic => Credentials::Basic {
                    user: user.clone(),
                    password: password.clone(),
                },
                AuthKind::Ntlm | AuthKind::Negotiate => Credentials::Ntlm {
                    user: user.clone(),
                    password: password.clone(),
                    negotiate_label: matches!(a.auth, AuthKind::Negotiate),
                },
            };
            ChallengeSource::Admin {
                url: url.clone(),
                credentials,
            }
        }
        (None, None) => ChallengeSource::None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Ok(DeviceRequest {
        url: a.url.clone(),
        trust: Trust::AnyCertificate,
        timeout: timeout_arg(a.timeout)?,
        subject: a.subject.clone(),
        challenge,
        key_bits: a.key_size,
        cipher: a.cipher.map(|c| match c {
            CipherArg::Des => Cipher::Des,
            CipherArg::Des3 => Cipher::TripleDes,
            CipherArg::Aes128 => Cipher::Aes128,
            CipherArg::Aes256 => Cipher::Aes256,
        }),
        polling: Polling {
            interval: seconds("--poll-interval", a.poll_interval)?,
            max_wait: seconds("--max-wait", a.max_wait)?,
        },
        seed: a.seed.map(adcs_proto::seed::Seed),
        now,
    })
}

/// Runs `req scep`: 0 issued, 3 still pending, 4 refused (failInfo), 1 otherwise.
pub fn run(a: ScepCmd) -> Result<ExitCode, String> {
    use adcs_client::scep::ScepClientError;
    let req = request(&a)?;
    match enroll_device(&req) {
        Ok(done) => {
            let pem = adcs_proto::encoding::pem;
            adcs_client::flow::write_file(
                &a.key_out,
                pem("PRIVATE KEY", done.key.pkcs8_der()).as_bytes(),
            )
            .map_err(|e| e.to_string())?;
            adcs_client::flow::write_file(&a.out, pem("CERTIFICATE", &done.certificate).as_bytes())
                .map_err(|e| e.to_string())?;
            println!("Issued (transaction {})", done.transaction_id);
            println!("Certificate written to {}", a.out.display());
            println!("Key written to {}", a.key_out.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ DeviceError::Refused(FailInfo::BadRequest)) => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(EXIT_DENIED))
        }
        Err(e @ DeviceError::Scep(ScepClientError::StillPending(..))) => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(EXIT_PENDING))
        }
        Err(e) => Err(e.to_string()),
    }
}
