//! `banc serve`: the validation service on the web (`banc::web`).

use super::common::{self, CheckArgs};
use banc::pipeline::CheckOptions;
use banc::transport::config::LIMIT_CONNECTIONS;
use clap::builder::RangedU64ValueParser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: a free port, printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Server certificate chain (PEM): serve HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The address clients use (e.g. https://banc.example.fr behind a proxy): shown in links,
    /// and accepted as the origin of form posts.
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub public_url: Option<String>,
    /// Folder where results are stored (files, reports, a hash of each secret).
    #[arg(long, value_name = "DIR", default_value = "reports/serve")]
    pub data: PathBuf,
    /// How long a result is kept, then deleted: 30d, 12h, 90m, 45s (1s to 3650d).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_duration)]
    pub retention: Duration,
    /// Largest upload, all files together: bytes, or with KiB, MiB, GiB (at most 1GiB).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub max_upload: usize,
    /// Uploads per minute and client address, also the burst allowed (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub uploads_per_minute: u32,
    /// A reverse proxy in front of banc (repeatable): its `X-Forwarded-For` names the client for
    /// the rate limits and the logs.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Validations run at the same time (default: all cores; 1 to 1024); the others wait.
    #[arg(short = 'j', long, value_parser = common::jobs_parser())]
    pub jobs: Option<usize>,
    /// Uploads waiting for a validation slot, at most (0 to 10000); beyond, 503 with
    /// Retry-After.
    #[arg(long, value_name = "N", default_value_t = 64,
        value_parser = RangedU64ValueParser::<usize>::new().range(0..=MAX_QUEUE))]
    pub max_queue: usize,
    /// Connections served at once (1 to 10000); more are closed at once.
    #[arg(long, value_name = "N", default_value_t = 1024,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=LIMIT_CONNECTIONS))]
    pub max_connections: usize,
    /// A projectathon event (banc event init): its pages, API, runner and SMTP server too.
    #[arg(long, value_name = "DIR")]
    pub event: Option<PathBuf>,
    #[command(flatten)]
    pub event_runner: EventRunnerArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// Longest `--max-queue`: each waiting upload may hold `--max-upload` bytes.
const MAX_QUEUE: u64 = 10_000;
/// The event's runner, with --event.
#[derive(clap::Args)]
pub struct EventRunnerArgs {
    /// The event's SMTP server, where participants send (with --event).
    #[arg(
        long,
        value_name = "ADDR:PORT",
        default_value = "127.0.0.1:2525",
        requires = "event"
    )]
    pub smtp_listen: String,
    /// Mail domain of banc's mailboxes (`banc+<scenario>@DOMAIN`).
    #[arg(
        long,
        value_name = "DOMAIN",
        default_value = "banc.test",
        requires = "event"
    )]
    pub domain: String,
    /// Cap every wait of a scenario at this duration (`30s`, `2m`), whatever the suite says.
    #[arg(long, value_name = "DURATION", value_parser = banc::scenario::model::parse_duration, requires = "event")]
    pub max_wait: Option<Duration>,
}

fn parse_url(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or("attendu http://HÔTE[:PORT] ou https://…")?;
    if rest.split('/').next().unwrap_or("").is_empty() {
        return Err("hôte manquant".into());
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// `30d`, `12h`, `90m`, `45s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("« {s} » : attendu un nombre suivi de s, m, h ou d (30d, 12h, 45s)");
    let unit = s.chars().last().ok_or_else(err)?;
    let n: u64 = s
        .strip_suffix(unit)
        .and_then(|n| n.parse().ok())
        .ok_or_else(err)?;
    let secs = match unit {
        's' => n,
        'm' => n.saturating_mul(60),
        'h' => n.saturating_mul(3600),
        'd' => n.saturating_mul(86_400),
        _ => return Err(err()),
    };
    if !(1..=3650 * 86_400).contains(&secs) {
        return Err(format!("« {s} » : entre 1s et 3650d"));
    }
    Ok(Duration::from_secs(secs))
}

/// `65536`, `512KiB`, `64MiB`, `1GiB`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    const MAX: u64 = 1 << 30;
    let (digits, mult) = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        .iter()
        .find_map(|(suffix, m)| s.strip_suffix(suffix).map(|d| (d, *m)))
        .unwrap_or((s, 1));
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("« {s} » : attendu un nombre d'octets, ou avec KiB, MiB, GiB"))?;
    let bytes = n.saturating_mul(mult);
    if !(1..=MAX).contains(&bytes) {
        return Err(format!("« {s} » : entre 1 octet et 1GiB"));
    }
    usize::try_from(bytes).map_err(|e| e.to_string())
}

pub fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    super::common::small_pages();
    let validator = CheckOptions::from(args.check)
        .validator()
        .map_err(|e| e.to_string())?;
    // The address people reach the server at, for the access links it suggests.
    let public = args.public_url.clone();
    let config = banc::web::Config {
        listen: args.listen,
        tls: args.tls_cert.zip(args.tls_key),
        public_url: args.public_url,
        data: args.data,
        retention: args.retention,
        max_upload: args.max_upload,
        uploads_per_minute: args.uploads_per_minute,
        trusted_proxies: args.trusted_proxies,
        jobs: common::jobs(args.jobs),
        max_queue: args.max_queue,
        max_connections: args.max_connections,
        event: args.event.map(|dir| banc::web::EventConfig {
            dir,
            options: banc::scenario::run::RunOptions {
                out: PathBuf::new(),
                submissions: None,
                smtp_listen: args.event_runner.smtp_listen,
                domain: args.event_runner.domain,
                http_listen: None,
                max_wait: args.event_runner.max_wait,
                tls_cert: None,
                tls_key: None,
                client_ca: None,
            },
        }),
    };
    let retention = args.retention;
    banc::web::run(config, validator, |ready| {
        common::emit(&format!(
            "banc serve : écoute sur {}\nbanc serve : résultats dans {}, gardés {}{}\n",
            ready.url,
            ready.data.display(),
            banc::web::retention_text(retention),
            match ready.expired {
                0 => String::new(),
                n => format!(" ({n} expiré(s) effacé(s) au démarrage)"),
            }
        ));
        if let Some(e) = &ready.event {
            common::emit(&format!(
                "banc serve : événement « {} » ({} participant(s), {} instance(s)) dans {}\n\
                 banc serve : SMTP de l'événement sur {} (domaine {})\n\
                 banc serve : liens d'accès : banc event access {} --participant ID | --monitor NOM | --manager [--public-url {}]\n",
                e.title,
                e.participants,
                e.instances,
                e.dir.display(),
                e.smtp,
                e.domain,
                e.dir.display(),
                public.as_deref().unwrap_or(&ready.url),
            ));
        }
    })?;
    common::emit("banc serve : arrêté\n");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_as_written() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("d").is_err());
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("2GiB").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_url("ftp://x").is_err());
        assert_eq!(parse_url("https://b.fr/"), Ok("https://b.fr".into()));
    }
}
