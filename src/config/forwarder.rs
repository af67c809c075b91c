//! The forwarder's settings: its table ([`FORWARDER_SETTINGS`]) and [`ForwarderConfig`]; its
//! destinations are [`super::destination`]'s.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Command};
use tracing::level_filters::LevelFilter;

use super::*;

/// A byte count: a whole number with an optional unit (`64MiB`, `512KiB`, `1GiB`; `K`/`M`/`G`
/// and `KB`/`MB`/`GB` are taken as powers of 1024 too), at least `min`.
pub fn parse_bytes(s: &str, min: u64) -> Result<u64, String> {
    let expected = || format!("a size in bytes of at least {min}, optionally with a unit (e.g. 64MiB, 512KiB)");
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| expected())?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(expected()),
    };
    let bytes = n.checked_mul(scale).ok_or_else(expected)?;
    if bytes < min {
        return Err(expected());
    }
    Ok(bytes)
}

/// A rate in samples per second from 0.01 to 10000, fractions allowed; 0 means unlimited.
pub fn parse_rate(s: &str) -> Result<Option<f64>, String> {
    let expected = "samples per second: 0 (no limit) or a number from 0.01 to 10000";
    let r: f64 = s.trim().parse().map_err(|_| expected.to_string())?;
    if r == 0.0 {
        return Ok(None);
    }
    if !r.is_finite() || !(0.01..=10_000.0).contains(&r) {
        return Err(expected.into());
    }
    Ok(Some(r))
}

/// A spool directory: a path without control characters, not blank. A relative one is made
/// absolute from the current directory (the caller warns); returns it and whether it was.
pub fn parse_spool_dir(s: &str) -> Result<(PathBuf, bool), String> {
    let expected = "an absolute directory path (without control characters)";
    if s.trim().is_empty() || s.chars().any(char::is_control) {
        return Err(expected.into());
    }
    let p = PathBuf::from(s);
    if p.exists() && !p.is_dir() {
        return Err(format!("{expected} (this is a file)"));
    }
    if p.is_absolute() {
        return Ok((p, false));
    }
    let cwd = std::env::current_dir().map_err(|e| format!("{expected} (the current directory is unknown: {e})"))?;
    Ok((cwd.join(p), true))
}

/// What the forwarder does this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Poll and deliver until stopped.
    Forward,
    /// `--once`: one poll and delivery, then exit.
    Once,
    /// `--dry-run`: print the payload, send nothing.
    DryRun,
    /// `--check-spool`: report the state of every spool, send nothing.
    CheckSpool,
    /// `--salvage-spool FILE`: re-queue what still decodes of a damaged spool file.
    SalvageSpool(PathBuf),
}

/// The forwarder's settings.
#[derive(Debug, Clone)]
pub struct ForwarderConfig {
    pub mode: Mode,
    /// The service's `/system`, polled for the JSON destinations.
    pub source: http::Uri,
    /// Its `/metrics`, polled for the remote-write and InfluxDB destinations
    /// (`SYSTEM_STATS_SCRAPE_URL`, by default `source` with `/metrics` for `/system`).
    pub scrape: http::Uri,
    /// The service's token (`SYSTEM_STATS_AUTH_TOKEN_FILE`) and CA.
    pub source_access: Access,
    pub destinations: Vec<Destination>,
    /// Least time between two firing notices of one alert to a webhook.
    pub alert_cooldown: Duration,
    pub interval: Duration,
    pub log_level: LevelFilter,
    pub timeout: Duration,
    /// Samples per second per destination while a backlog drains; `None`: unlimited.
    pub max_rate: Option<f64>,
    pub spool_dir: PathBuf,
    /// The spool directory as given, when it was relative (the forwarder warns).
    pub spool_dir_given_relative: Option<String>,
    pub spool_max_bytes: u64,
    /// Where the forwarder's own `/metrics` and `/health` listen (`None`: nowhere).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The token scrapers of that listener must send (the service's token, the same one).
    pub listener_token: Option<Secret>,
    #[cfg(feature = "tls")]
    pub listener_tls: Option<std::sync::Arc<crate::web::tls::Tls>>,
    /// `Host` names that listener answers besides IP literals, localhost and this machine's.
    pub listener_allowed_hosts: Vec<String>,
    #[cfg(not(feature = "tls"))]
    pub _no_tls: (),
}

/// `host:port` to listen on, or empty for nowhere.
pub fn parse_listen(s: &str) -> Result<Option<std::net::SocketAddr>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let expected = "host:port to listen on (e.g. 127.0.0.1:5002 or [::1]:5002), or empty for none";
    let (host, port) = s.rsplit_once(':').ok_or(expected)?;
    let port: u16 = port.parse().map_err(|_| expected.to_string())?;
    resolve(host, port).map(Some).map_err(|e| format!("{expected}: {e}"))
}

pub const FORWARDER_SETTINGS: &[Setting] = &[
    Setting {
        id: "url",
        env: "SYSTEM_STATS_URL",
        default: "http://127.0.0.1:5001/system",
        help: "The system-stats service to poll",
    },
    Setting {
        id: "scrape-url",
        env: "SYSTEM_STATS_SCRAPE_URL",
        default: "",
        help: "The service's /metrics, read for the remote-write and InfluxDB destinations [default: \
               SYSTEM_STATS_URL with /metrics for its last /system]; any Prometheus text endpoint works \
               (node_exporter's too)",
    },
    Setting {
        id: "metrics-url",
        env: "MONITORING_SERVER_METRICS_URL",
        default: "http://127.0.0.1:5050/metrics",
        help: "Where to send samples: one URL or a comma-separated list, each with its own spool; \
               http(s)://… gets the JSON payload, remote-write+http(s)://… Prometheus remote-write, \
               influx+http(s)://… InfluxDB line protocol",
    },
    Setting {
        id: "notify-urls",
        env: "SYSTEM_STATS_NOTIFY_URLS",
        default: "",
        help: "Where the service's alerts go, firing and resolved, each through its own spool: a comma list of \
               alertmanager+http(s)://host:9093 (Alertmanager's API v2) and webhook+http(s)://… (statix's alert \
               body; a plain http(s):// URL is one too), and Shoutrrr's ntfy://, gotify://, slack://, mattermost://, \
               discord:// and telegram:// URLs, and e-mail as smtp://user:password@host:port/?from=…&to=…. A forwarder \
               with only these is valid",
    },
    Setting {
        id: "alert-cooldown",
        env: "SYSTEM_STATS_ALERT_COOLDOWN",
        default: "300",
        help: "Seconds before a webhook hears of the same alert firing again (0 to 86400): a flapping alert does \
               not storm. Alertmanager hears of each episode (its own intervals group and repeat)",
    },
    Setting {
        id: "interval",
        env: "SYSTEM_STATS_FORWARD_INTERVAL",
        default: "30",
        help: "Seconds between polls (fractions allowed, 0.1 to 86400)",
    },
    Setting {
        id: "log-level",
        env: "SYSTEM_STATS_FORWARD_LOG_LEVEL",
        default: "info",
        help: "trace, debug, info, warning, error or critical",
    },
    Setting {
        id: "timeout",
        env: "SYSTEM_STATS_FORWARD_TIMEOUT",
        default: "10",
        help: "Seconds a poll or a delivery may take before it counts as failed (0.1 to 300)",
    },
    Setting {
        id: "max-rate",
        env: "SYSTEM_STATS_FORWARD_MAX_RATE",
        default: "50",
        help: "Samples per second per destination while a backlog drains (0.01 to 10000); 0 for no limit",
    },
    Setting {
        id: "spool-dir",
        env: "SYSTEM_STATS_SPOOL_DIR",
        default: "",
        help: "Directory of the durable spools [default: $STATE_DIRECTORY under systemd, else \
               /var/lib/system-stats as root, else $XDG_STATE_HOME/system-stats or \
               ~/.local/state/system-stats; ~/Library/Application Support/system-stats on macOS]",
    },
    Setting {
        id: "spool-max-bytes",
        env: "SYSTEM_STATS_SPOOL_MAX_BYTES",
        default: "64MiB",
        help: "Most sample bytes each destination's spool keeps; when full the oldest go",
    },
    Setting {
        id: "config",
        env: "SYSTEM_STATS_FORWARD_CONFIG",
        default: "",
        help: "A TOML file with a [destination.<name>] table per destination (url, format, token_file, ca_file, \
               headers) and an optional [source] (url, token_file, ca_file), for what a comma list cannot say; its \
               destinations add to --metrics-url's when that is set",
    },
    TOKEN_FILE_SETTING,
    TOKEN_SETTING,
    Setting {
        id: "metrics-listen",
        env: "SYSTEM_STATS_FORWARDER_METRICS",
        default: "",
        help: "host:port where the forwarder serves its own /metrics (backlog, deliveries, drops per destination) and \
               /health, e.g. 127.0.0.1:5002; off when empty. Scrapers send the token above when one is set",
    },
    Setting {
        id: "tls-cert",
        env: "SYSTEM_STATS_TLS_CERT",
        default: "",
        help: "A PEM certificate chain: the metrics listener then speaks HTTPS only (with --tls-key)",
    },
    Setting { id: "tls-key", env: "SYSTEM_STATS_TLS_KEY", default: "", help: "The PEM private key of --tls-cert" },
    Setting {
        id: "allowed-hosts",
        env: "SYSTEM_STATS_ALLOWED_HOSTS",
        default: "",
        help: "Host names the metrics listener answers besides IP addresses, localhost and this machine's names \
               (a comma list; * for any)",
    },
];

impl ForwarderConfig {
    pub fn command() -> Command {
        Command::new("system-stats-forwarder")
            .version(crate::VERSION)
            .about(
                "Polls a system-stats service and delivers each sample to one or more monitoring servers, \
                 through a durable spool per server: nothing is lost while a server is down.",
            )
            .after_help(
                "Every option can also be set by the environment variable shown beside it; a flag wins over its\n\
                 variable, an empty variable means the default.\n\
                 Exit codes: 0 ok; 1 a destination did not accept (--once; the sample stays spooled) or a\n\
                 spool is damaged (--check-spool); 2 a bad setting, or a spool directory that cannot be used\n\
                 (permission, read-only, in use by another forwarder); 3 no sample could be read from the\n\
                 service (--once, --dry-run).",
            )
            .args(FORWARDER_SETTINGS.iter().map(Setting::arg))
            .arg(
                Arg::new("once")
                    .long("once")
                    .action(clap::ArgAction::SetTrue)
                    .help("Poll once, deliver everything spooled, exit (0 when every destination accepted)"),
            )
            .arg(
                Arg::new("dry-run")
                    .long("dry-run")
                    .action(clap::ArgAction::SetTrue)
                    .conflicts_with("once")
                    .help("Poll once and print the payload; send nothing, spool nothing"),
            )
            .arg(
                Arg::new("check-spool")
                    .long("check-spool")
                    .action(clap::ArgAction::SetTrue)
                    .conflicts_with_all(["once", "dry-run"])
                    .help(
                        "Report the state of every destination's spool (samples, oldest and newest, damage) and exit \
                         (1 when one is damaged); sends nothing",
                    ),
            )
            .arg(
                Arg::new("salvage-spool")
                    .long("salvage-spool")
                    .value_name("FILE")
                    .conflicts_with_all(["once", "dry-run", "check-spool"])
                    .help(
                        "Re-queue what still decodes of FILE, a spool set aside as damaged (--check-spool lists them), \
                         into its destination's spool, in order and without samples already there; FILE is then \
                         renamed *.salvaged. The forwarder must not be running; sends nothing",
                    ),
            )
    }

    pub fn from_matches(m: &ArgMatches) -> Result<Self, ConfigError> {
        let v = Values::new(m, FORWARDER_SETTINGS);
        let (spool_dir, spool_dir_given_relative) = match v.raw("spool-dir") {
            (dir, _) if dir.is_empty() => (default_spool_dir(), None),
            (dir, _) => {
                let (p, relative) = v.parse("spool-dir", parse_spool_dir)?;
                (p, relative.then_some(dir))
            }
        };
        let file = if v.given("config") { v.parse("config", parse_forward_file)? } else { ForwardFile::default() };
        let (source, mut source_access) = match file.source {
            Some(_) if v.given("url") => {
                let (value, setting) = v.raw("url");
                return Err(ConfigError {
                    setting,
                    value,
                    expected: "nothing when SYSTEM_STATS_FORWARD_CONFIG has a [source] (set it in one place)".into(),
                });
            }
            Some(from_file) => from_file,
            None => (v.parse("url", parse_url)?, Access::default()),
        };
        let listener_token = token_settings(&v)?;
        if let Some(token) = listener_token.clone() {
            if source_access.authorization.is_some() {
                let (_, setting) = v.raw(if v.given("auth-token") { "auth-token" } else { "auth-token-file" });
                return Err(ConfigError {
                    setting,
                    value: "***".into(),
                    expected:
                        "nothing when SYSTEM_STATS_FORWARD_CONFIG's [source] has a token_file (set it in one place)"
                            .into(),
                });
            }
            source_access.authorization = Some(Credentials::Bearer(token));
        }
        let notify = v.parse("notify-urls", parse_notify_urls)?;
        let mut destinations = if v.given("metrics-url") || (file.destinations.is_empty() && notify.is_empty()) {
            v.parse("metrics-url", parse_destinations)?
        } else {
            Vec::new()
        };
        for d in file.destinations {
            if let Some(twice) = destinations.iter().find(|o| o.same_as(&d)) {
                let (value, setting) = v.raw("config");
                return Err(ConfigError {
                    setting,
                    value,
                    expected: format!(
                        "each destination once; {:?} is also in MONITORING_SERVER_METRICS_URL",
                        twice.label
                    ),
                });
            }
            destinations.push(d);
        }
        for d in notify {
            if let Some(twice) = destinations.iter().find(|o| o.same_as(&d)) {
                let (value, setting) = v.raw("notify-urls");
                return Err(ConfigError {
                    setting,
                    value,
                    expected: format!("each destination once; {:?} is also listed elsewhere", twice.label),
                });
            }
            destinations.push(d);
        }
        let scrape = if v.given("scrape-url") {
            v.parse("scrape-url", parse_url)?
        } else {
            match scrape_url_of(&source) {
                Some(url) => url,
                None if !destinations.iter().any(|d| d.format.scrapes()) => source.clone(),
                None => {
                    let (value, setting) = v.raw("url");
                    return Err(ConfigError {
                        setting,
                        value,
                        expected: "a URL ending in /system when remote-write or influx destinations need its \
                                   /metrics; or set SYSTEM_STATS_SCRAPE_URL to where /metrics is"
                            .into(),
                    });
                }
            }
        };
        let mode = if m.get_flag("once") {
            Mode::Once
        } else if m.get_flag("dry-run") {
            Mode::DryRun
        } else if m.get_flag("check-spool") {
            Mode::CheckSpool
        } else if let Some(file) = m.get_one::<String>("salvage-spool") {
            Mode::SalvageSpool(PathBuf::from(file))
        } else {
            Mode::Forward
        };
        Ok(ForwarderConfig {
            mode,
            source,
            scrape,
            source_access,
            destinations,
            interval: v.parse("interval", |s| parse_seconds(s, 0.1, 86_400.0))?,
            log_level: v.parse("log-level", parse_log_level)?,
            timeout: v.parse("timeout", |s| parse_seconds(s, 0.1, 300.0))?,
            max_rate: v.parse("max-rate", parse_rate)?,
            spool_dir,
            spool_dir_given_relative,
            spool_max_bytes: v.parse("spool-max-bytes", |s| parse_bytes(s, 64 * 1024))?,
            alert_cooldown: v.parse("alert-cooldown", |s| parse_seconds(s, 0.0, 86_400.0))?,
            metrics_listen: v.parse("metrics-listen", parse_listen)?,
            listener_token,
            #[cfg(feature = "tls")]
            listener_tls: tls_settings(&v)?,
            #[cfg(not(feature = "tls"))]
            _no_tls: refuse_tls(&v)?,
            listener_allowed_hosts: v.parse("allowed-hosts", parse_allowed_hosts)?,
        })
    }
}

/// The service's `/metrics` beside its `/system`: the same URL with `/metrics` for its last
/// `/system` (`http://pi:5001/system` → `http://pi:5001/metrics`, a proxy's
/// `https://h/stats/system?x` → `https://h/stats/metrics?x`); `None` when it does not end so.
pub fn scrape_url_of(source: &http::Uri) -> Option<http::Uri> {
    let path = source.path().strip_suffix("/system")?;
    let query = source.query().map(|q| format!("?{q}")).unwrap_or_default();
    let mut parts = source.clone().into_parts();
    parts.path_and_query = Some(format!("{path}/metrics{query}").parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

/// `$STATE_DIRECTORY` (systemd's `StateDirectory=`, first entry), else `/var/lib/system-stats`
/// for root, else `$XDG_STATE_HOME/system-stats` or `~/.local/state/system-stats`; on macOS
/// `~/Library/Application Support/system-stats`.
pub fn default_spool_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = env("STATE_DIRECTORY") {
        let first = dir.to_string_lossy().split(':').next().unwrap_or_default().to_string();
        return PathBuf::from(first);
    }
    let home = env("HOME").unwrap_or_else(|| PathBuf::from("/"));
    if cfg!(target_os = "macos") {
        return home.join("Library/Application Support/system-stats");
    }
    // SAFETY: geteuid(2) cannot fail and has no side effects.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/system-stats");
    }
    env("XDG_STATE_HOME").unwrap_or_else(|| home.join(".local/state")).join("system-stats")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarder(args: &[&str]) -> Result<ForwarderConfig, ConfigError> {
        let m = ForwarderConfig::command()
            .try_get_matches_from(std::iter::once("system-stats-forwarder").chain(args.iter().copied()));
        ForwarderConfig::from_matches(&m.unwrap())
    }

    /// The scrape URL sits beside `/system`, or is given; a source that does not end in
    /// `/system` needs it for metric destinations only.
    #[test]
    fn the_scrape_url_is_the_sources_metrics() {
        let c = forwarder(&["--url", "http://pi:5001/system", "--metrics-url", "remote-write+http://p/api/v1/write"]);
        assert_eq!(c.unwrap().scrape, "http://pi:5001/metrics");
        let c = forwarder(&["--url", "https://h/stats/system?x=1", "--metrics-url", "influx+http://i/write"]);
        assert_eq!(c.unwrap().scrape, "https://h/stats/metrics?x=1");
        let err = forwarder(&["--url", "http://h/snapshot", "--metrics-url", "influx+http://i/write"]).unwrap_err();
        assert!(err.to_string().contains("set SYSTEM_STATS_SCRAPE_URL"), "{err}");
        assert!(forwarder(&["--url", "http://h/snapshot", "--metrics-url", "http://m/json"]).is_ok());
        let c = forwarder(&[
            "--url",
            "http://h/snapshot",
            "--scrape-url",
            "http://h:9100/metrics",
            "--metrics-url",
            "influx+http://i/write",
        ]);
        assert_eq!(c.unwrap().scrape, "http://h:9100/metrics");
        let err = forwarder(&["--scrape-url", "ftp://x"]).unwrap_err().to_string();
        assert!(err.starts_with("invalid --scrape-url=\"ftp://x\""), "{err}");
    }

    #[test]
    fn forwarder_settings() {
        let c = forwarder(&["--metrics-url", "http://a:1/m, https://b/x", "--interval", "0.5"]).unwrap();
        assert_eq!(c.destinations.len(), 2);
        assert_eq!(c.destinations[1].url, "https://b/x");
        assert_eq!(c.interval, Duration::from_millis(500));
        assert_eq!(c.spool_max_bytes, 64 << 20);
        assert_eq!(c.max_rate, Some(50.0));
        let err = forwarder(&["--metrics-url", "http://a:1/m,ftp://x/"]).unwrap_err().to_string();
        assert!(err.starts_with("invalid --metrics-url=\"http://a:1/m,ftp://x/\""), "{err}");
        assert!(err.contains("\"ftp://x/\" is not one"), "{err}");
        assert!(forwarder(&["--metrics-url", "http://a/,http://a/"]).unwrap_err().to_string().contains("twice"));
        let c = forwarder(&[
            "--metrics-url",
            "remote-write+http://p:9090/api/v1/write,influx+https://i/write?db=x,json+http://j/",
        ])
        .unwrap();
        let formats: Vec<Format> = c.destinations.iter().map(|d| d.format).collect();
        assert_eq!(formats, [Format::RemoteWrite, Format::Influx, Format::Json]);
        assert_eq!(c.destinations[0].url, "http://p:9090/api/v1/write");
        assert_eq!(c.destinations[1].url.scheme_str(), Some("https"));
        assert!(forwarder(&["--metrics-url", "graphite+http://g/"]).unwrap_err().to_string().contains("\"graphite\"+"));
        assert!(forwarder(&["--metrics-url", " , "]).is_err());
        assert!(forwarder(&["--url", "localhost:5001"]).is_err());
        assert!(
            forwarder(&["--url", "http://u:p@h/"]).unwrap_err().to_string().contains("only taken in a destination")
        );
        assert!(forwarder(&["--spool-max-bytes", "1k"]).is_err());
        for bad in ["-1", "1e-30", "1e-15", "0.001", "20000", "NaN", "inf"] {
            let err = forwarder(&["--max-rate", bad]).unwrap_err().to_string();
            assert!(err.contains("0.01 to 10000"), "{bad}: {err}");
        }
        assert_eq!(forwarder(&["--max-rate", "0"]).unwrap().max_rate, None);
        assert_eq!(forwarder(&["--max-rate", "0.01"]).unwrap().max_rate, Some(0.01));
        for bad in ["http://h:99999/m", "http://h:0/m", "http://h:65536/"] {
            let err = forwarder(&["--metrics-url", bad]).unwrap_err().to_string();
            assert!(err.contains("is not from 1 to 65535"), "{bad}: {err}");
        }
        for good in ["http://[::1]:8080/m", "http://h/m", "https://h:443/m"] {
            assert!(forwarder(&["--metrics-url", good]).is_ok(), "{good}");
        }
        assert!(forwarder(&["--url", "http://h:70000/system"]).is_err());
        for bad in ["   ", "/var/lib/x\ny", "/tmp/a\u{7}b"] {
            let err = forwarder(&["--spool-dir", bad]).unwrap_err().to_string();
            assert!(err.contains("without control characters"), "{bad:?}: {err}");
        }
        let c = forwarder(&["--spool-dir", "relative/spool"]).unwrap();
        assert!(c.spool_dir.is_absolute() && c.spool_dir.ends_with("relative/spool"));
        assert_eq!(c.spool_dir_given_relative.as_deref(), Some("relative/spool"));
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("64MiB", 1), Ok(64 << 20));
        assert_eq!(parse_bytes("512 KiB", 1), Ok(512 << 10));
        assert_eq!(parse_bytes("1G", 1), Ok(1 << 30));
        assert_eq!(parse_bytes("100000", 1), Ok(100_000));
        assert!(parse_bytes("12XB", 1).is_err());
        assert!(parse_bytes("", 1).is_err());
        assert!(parse_bytes("99999999999999999999", 1).is_err());
        assert!(parse_bytes("100", 1000).is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("1.5", 0.1, 10.0), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("2s", 0.1, 10.0), Ok(Duration::from_secs(2)));
        assert!(parse_seconds("NaN", 0.1, 10.0).is_err());
        assert!(parse_seconds("inf", 0.1, 10.0).is_err());
        assert!(parse_seconds("-1", 0.1, 10.0).is_err());
        assert!(parse_seconds("11", 0.1, 10.0).is_err());
    }

    #[test]
    fn credentials_in_a_url_become_basic_auth_and_are_redacted() {
        let d = parse_destination("remote-write+https://me:p%40ss%3Aword@vm.example:8428/api/v1/write").unwrap();
        assert_eq!(d.url.to_string(), "https://vm.example:8428/api/v1/write");
        assert_eq!(d.label, "remote-write+https://me:***@vm.example:8428/api/v1/write");
        assert_eq!(d.format, Format::RemoteWrite);
        let Some(Credentials::Basic { user, password }) = &d.access.authorization else { panic!("{d:?}") };
        assert_eq!((user.as_str(), password.expose()), ("me", "p@ss:word"));
        // base64("me:p@ss:word")
        assert_eq!(d.access.request_headers()[0].1, "Basic bWU6cEBzczp3b3Jk");
        assert!(d.access.request_headers()[0].1.is_sensitive());
        assert!(!format!("{d:?}").contains("p@ss"), "{d:?}");
        // no password: an empty one
        let d = parse_destination("http://me@127.0.0.1:5050/metrics").unwrap();
        assert_eq!(d.label, "http://me:***@127.0.0.1:5050/metrics");
        assert!(!d.access.sent_in_clear(&d.url));
        let far = parse_destination("http://me:pw@stats.example.org/metrics").unwrap();
        assert!(far.access.sent_in_clear(&far.url));
        assert!(parse_destination("http://:pw@h/").unwrap_err().contains("user name"));
        assert!(parse_destination("http://me:p%zz@h/").unwrap_err().contains("two hex digits"));
        // the source takes none in its URL
        assert!(parse_url("http://me:pw@127.0.0.1:5001/system").unwrap_err().contains("only taken in a destination"));
        // a plain one is untouched
        let plain = parse_destination("http://127.0.0.1:5050/metrics").unwrap();
        assert_eq!(
            (plain.label.as_str(), plain.access.authorization.is_none()),
            ("http://127.0.0.1:5050/metrics", true)
        );
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }

    #[test]
    fn the_forward_file_gives_tokens_headers_and_cas() {
        let dir = tempfile::tempdir().unwrap();
        let token = write(dir.path(), "vm.token", "t0ken\n");
        let ca = write(dir.path(), "ca.pem", "");
        let file = write(
            dir.path(),
            "forward.toml",
            &format!(
                "[source]\nurl = \"https://127.0.0.1:5001/system\"\ntoken_file = \"{token}\"\nca_file = \"{ca}\"\n\
                 [destination.vm]\nurl = \"https://vm.example/api/v1/write\"\nformat = \"remote-write\"\ntoken_file = \"{token}\"\n\
                 headers = {{ \"X-Scope-OrgID\" = \"home\" }}\n\
                 [destination.influx]\nurl = \"influx+http://u:pw@127.0.0.1:8086/write?db=x\"\n"
            ),
        );
        let f = parse_forward_file(&file).unwrap();
        let (url, access) = f.source.unwrap();
        assert_eq!(url.to_string(), "https://127.0.0.1:5001/system");
        assert_eq!(access.request_headers()[0].1, "Bearer t0ken");
        assert_eq!(access.ca_file.as_deref(), Some(std::path::Path::new(&ca)));
        assert_eq!(f.destinations.len(), 2);
        let influx = &f.destinations[0];
        assert_eq!(
            (influx.format, influx.label.as_str()),
            (Format::Influx, "influx+http://u:***@127.0.0.1:8086/write?db=x")
        );
        let vm = &f.destinations[1];
        assert_eq!(vm.format, Format::RemoteWrite);
        let h = vm.access.request_headers();
        assert_eq!(h[0].1, "Bearer t0ken");
        assert_eq!((h[1].0.as_str(), h[1].1.to_str().unwrap()), ("x-scope-orgid", "home"));

        let bad = |name: &str, text: &str| parse_forward_file(&write(dir.path(), name, text)).unwrap_err();
        assert!(bad("a.toml", "[destination.x]\nurl = \"http://h/\"\ntokn_file = \"x\"\n").contains("tokn_file"));
        assert!(bad("b.toml", "[destination.x]\nurl = \"ftp://h/\"\n").contains("destination.x.url"));
        assert!(
            bad("c.toml", "[destination.x]\nurl = \"http://h/\"\nformat = \"csv\"\n").contains("destination.x.format")
        );
        assert!(
            bad("d.toml", "[destination.x]\nurl = \"http://h/\"\ntoken_file = \"/nonexistent\"\n")
                .contains("destination.x.token_file")
        );
        assert!(
            bad("e.toml", "[destination.x]\nurl = \"http://h/\"\nca_file = \"/nonexistent\"\n")
                .contains("destination.x.ca_file")
        );
        assert!(
            bad("f.toml", "[destination.x]\nurl = \"http://h/\"\nheaders = { \"bad name\" = \"v\" }\n")
                .contains("header name")
        );
        assert!(
            bad(
                "g.toml",
                "[destination.x]\nurl = \"http://u:p@h/\"\ntoken_file = \"{token}\"\n"
                    .replace("{token}", &token)
                    .as_str()
            )
            .contains("not both")
        );
        assert!(bad("h.toml", "").contains("it has none"));
        assert!(bad("i.toml", "[destination.x\n").contains("TOML"));
        assert!(
            bad("j.toml", "[destination.x]\nurl = \"remote-write+http://h/\"\nformat = \"influx\"\n")
                .contains("not both")
        );
    }
}
