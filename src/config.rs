//! Settings of both programs: each is an environment variable (the seed's names and defaults
//! are a contract) with a matching command-line flag, validated once at start into a typed
//! struct. A bad value is one line naming the variable (or flag), the value and what is
//! accepted; the binaries print it and exit with code 2.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};
use tracing::level_filters::LevelFilter;

/// A setting with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the value came from: `SYSTEM_STATS_PORT` or `--port`.
    pub setting: String,
    pub value: String,
    /// What would be accepted.
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}={:?}: expected {}", self.setting, self.value, self.expected)
    }
}

impl std::error::Error for ConfigError {}

/// One setting: its flag, variable, default and help.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub id: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

impl Setting {
    /// The clap argument: `--<id>` taking a value, read from `env` when the flag is absent.
    pub fn arg(&self) -> Arg {
        Arg::new(self.id)
            .long(self.id)
            .env(self.env)
            .value_name("VALUE")
            .default_value(self.default)
            .hide_default_value(self.default.is_empty())
            .help(self.help)
    }
}

/// Parsed command line and environment, with the origin of every value kept so that errors
/// name what the user actually set.
pub struct Values<'a> {
    matches: &'a ArgMatches,
    settings: &'a [Setting],
}

impl<'a> Values<'a> {
    pub fn new(matches: &'a ArgMatches, settings: &'a [Setting]) -> Self {
        Values { matches, settings }
    }

    fn setting(&self, id: &str) -> &Setting {
        self.settings.iter().find(|s| s.id == id).expect("a declared setting")
    }

    /// The raw value and where it came from. An empty variable means the default, as an empty
    /// `Environment=` line in a unit file usually intends.
    pub fn raw(&self, id: &str) -> (String, String) {
        let s = self.setting(id);
        let value = self.matches.get_one::<String>(id).cloned().unwrap_or_default();
        match self.matches.value_source(id) {
            Some(ValueSource::CommandLine) => (value, format!("--{}", s.id)),
            Some(ValueSource::EnvVariable) if !value.is_empty() => (value, s.env.to_string()),
            _ => (s.default.to_string(), s.env.to_string()),
        }
    }

    /// Parses one setting with `parse`, whose error says what is expected.
    pub fn parse<T>(&self, id: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        let (value, setting) = self.raw(id);
        parse(&value).map_err(|expected| ConfigError { setting, value, expected })
    }
}

/// A TCP port, 0 meaning "any free port" (the one chosen is logged).
pub fn parse_port(s: &str) -> Result<u16, String> {
    s.trim().parse::<u16>().map_err(|_| "an integer port from 0 to 65535".to_string())
}

/// A duration in seconds, fractions allowed, within `[min, max]`.
pub fn parse_seconds(s: &str, min: f64, max: f64) -> Result<Duration, String> {
    let expected = || format!("a number of seconds from {min} to {max} (fractions allowed, e.g. 0.5)");
    let secs: f64 = s.trim().trim_end_matches('s').parse().map_err(|_| expected())?;
    if !secs.is_finite() || secs < min || secs > max {
        return Err(expected());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Log levels, with the names uvicorn and Python's logging accept (`warning`, `critical`).
pub fn parse_log_level(s: &str) -> Result<LevelFilter, String> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" | "warning" => LevelFilter::WARN,
        "error" | "critical" => LevelFilter::ERROR,
        "off" => LevelFilter::OFF,
        _ => return Err("one of trace, debug, info, warning, error, critical, off".into()),
    })
}

/// An existing path (file or directory).
pub fn parse_existing_path(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match std::fs::metadata(&p) {
        Ok(_) => Ok(p),
        Err(e) => Err(format!("an existing path ({e})")),
    }
}

/// An existing directory.
pub fn parse_dir(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => Ok(p),
        Ok(_) => Err("a directory (this is not one)".into()),
        Err(e) => Err(format!("an existing directory ({e})")),
    }
}

/// Every variable either program reads, to warn about misspelt ones.
pub const KNOWN_VARIABLES: &[&str] = &[
    "SYSTEM_STATS_HOST",
    "SYSTEM_STATS_PORT",
    "SYSTEM_STATS_LOG_LEVEL",
    "SYSTEM_STATS_DISK_PATH",
    "SYSTEM_STATS_SAMPLE_INTERVAL",
    "SYSTEM_STATS_PROCFS",
    "SYSTEM_STATS_SYSFS",
    "SYSTEM_STATS_URL",
    "SYSTEM_STATS_FORWARD_INTERVAL",
    "SYSTEM_STATS_FORWARD_LOG_LEVEL",
    "SYSTEM_STATS_FORWARD_TIMEOUT",
    "SYSTEM_STATS_FORWARD_MAX_RATE",
    "SYSTEM_STATS_SPOOL_DIR",
    "SYSTEM_STATS_SPOOL_MAX_BYTES",
    "MONITORING_SERVER_METRICS_URL",
];

/// `SYSTEM_STATS_*` variables in the environment that no program of ours reads (typos).
pub fn unknown_variables() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("SYSTEM_STATS_") && !KNOWN_VARIABLES.contains(&k.as_str()))
        .collect()
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub host: String,
    pub port: u16,
    /// `host:port` resolved.
    pub listen: SocketAddr,
    pub log_level: LevelFilter,
    pub disk_path: PathBuf,
    pub sample_interval: Duration,
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
}

pub const SERVICE_SETTINGS: &[Setting] = &[
    Setting {
        id: "host",
        env: "SYSTEM_STATS_HOST",
        default: "0.0.0.0",
        help: "Address to listen on (IPv4, IPv6 or a host name)",
    },
    Setting {
        id: "port",
        env: "SYSTEM_STATS_PORT",
        default: "5001",
        help: "TCP port to listen on; 0 picks a free one and logs it",
    },
    Setting {
        id: "log-level",
        env: "SYSTEM_STATS_LOG_LEVEL",
        default: "info",
        help: "trace, debug, info, warning, error or critical",
    },
    Setting {
        id: "disk-path",
        env: "SYSTEM_STATS_DISK_PATH",
        default: "/",
        help: "Path whose filesystem `disk` reports",
    },
    Setting {
        id: "sample-interval",
        env: "SYSTEM_STATS_SAMPLE_INTERVAL",
        default: "1",
        help: "Seconds between samples (0.1 to 3600); CPU percent and rates are measured over it",
    },
    Setting { id: "procfs", env: "SYSTEM_STATS_PROCFS", default: "/proc", help: "Where procfs is mounted (Linux)" },
    Setting { id: "sysfs", env: "SYSTEM_STATS_SYSFS", default: "/sys", help: "Where sysfs is mounted (Linux)" },
];

impl ServiceConfig {
    pub fn command() -> Command {
        Command::new("system-stats-service")
            .version(env!("CARGO_PKG_VERSION"))
            .about("Serves a JSON snapshot of this host (CPU, memory, swap, disk, network, uptime) over HTTP.")
            .after_help(
                "Endpoints: GET /system (the snapshot), GET /health.\n\
                 Every flag can also be set by the environment variable shown beside it;\n\
                 a flag wins over its variable. An empty variable means the default.",
            )
            .args(SERVICE_SETTINGS.iter().map(Setting::arg))
    }

    pub fn from_matches(m: &ArgMatches) -> Result<Self, ConfigError> {
        let v = Values::new(m, SERVICE_SETTINGS);
        let port = v.parse("port", parse_port)?;
        let host = v.raw("host").0;
        let listen = v.parse("host", |h| resolve(h, port))?;
        Ok(ServiceConfig {
            host,
            port,
            listen,
            log_level: v.parse("log-level", parse_log_level)?,
            disk_path: v.parse("disk-path", parse_existing_path)?,
            sample_interval: v.parse("sample-interval", |s| parse_seconds(s, 0.1, 3600.0))?,
            procfs: v.parse("procfs", parse_dir)?,
            sysfs: v.parse("sysfs", parse_dir)?,
        })
    }
}

/// `host:port` as a socket address: an IP literal (IPv6 with or without brackets) or a name
/// resolved once at start.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let bare = host.trim().trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    if bare.is_empty() || bare.contains(char::is_whitespace) {
        return Err("an IP address or a host name".into());
    }
    match (bare, port).to_socket_addrs() {
        Ok(mut addrs) => addrs.next().ok_or_else(|| "a host name that resolves to an address".into()),
        Err(e) => Err(format!("an IP address or a resolvable host name ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(args: &[&str]) -> Result<ServiceConfig, ConfigError> {
        let m = ServiceConfig::command()
            .try_get_matches_from(std::iter::once("system-stats-service").chain(args.iter().copied()));
        ServiceConfig::from_matches(&m.unwrap())
    }

    #[test]
    fn flags_are_validated_and_named() {
        let err = service(&["--port", "70000"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid --port=\"70000\": expected an integer port from 0 to 65535");
        let err = service(&["--sample-interval", "0"]).unwrap_err();
        assert!(err.to_string().starts_with("invalid --sample-interval=\"0\": expected a number of seconds from 0.1"));
        assert!(service(&["--log-level", "loud"]).unwrap_err().to_string().contains("one of trace"));
        let err = service(&["--disk-path", "/no/such/dir"]).unwrap_err();
        assert!(err.to_string().contains("an existing path (No such file"), "{err}");
        assert!(service(&["--procfs", "/etc/hostname"]).unwrap_err().to_string().contains("a directory"));
        assert!(service(&["--host", "not a host"]).unwrap_err().to_string().contains("--host"));
    }

    #[test]
    fn good_values() {
        let c =
            service(&["--port", "0", "--host", "::1", "--sample-interval", "0.25", "--log-level", "WARNING"]).unwrap();
        assert_eq!(c.listen, "[::1]:0".parse().unwrap());
        assert_eq!(c.sample_interval, Duration::from_millis(250));
        assert_eq!(c.log_level, LevelFilter::WARN);
        assert_eq!(resolve("localhost", 80).unwrap().port(), 80);
        assert_eq!(resolve("[::]", 5).unwrap(), "[::]:5".parse().unwrap());
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
}
