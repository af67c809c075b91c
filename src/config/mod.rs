//! Settings of both programs: each is an environment variable (the seed's names and defaults
//! are a contract) with a matching command-line flag, validated once at start into a typed
//! struct. A bad value is one line naming the variable (or flag), the value and what is
//! accepted; the binaries print it and exit with code 2.
//!
//! This module holds what both share: the [`Setting`] table type, [`Values`], the value
//! parsers and the list of known variables; [`service`] and [`forwarder`] each hold one
//! program's settings table and typed configuration (re-exported here).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches};
use tracing::level_filters::LevelFilter;

mod chat;
mod destination;
mod forwarder;
mod service;

pub use destination::*;
pub use forwarder::*;
pub use service::*;

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
            // "-1" reaches our validation, which says what is accepted
            .allow_hyphen_values(true)
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
        let value = self.matches.try_get_one::<String>(id).ok().flatten().cloned().unwrap_or_default();
        match self.source(id) {
            Some(ValueSource::CommandLine) => (value, format!("--{}", s.id)),
            Some(ValueSource::EnvVariable) if !value.is_empty() => (value, s.env.to_string()),
            _ => (s.default.to_string(), s.env.to_string()),
        }
    }

    /// Where a setting's value came from; `None` when it was not given (nor declared: the
    /// empty matches [`crate::config::default_setup`] reads the defaults with).
    fn source(&self, id: &str) -> Option<ValueSource> {
        self.matches.ids().any(|i| i.as_str() == id).then(|| self.matches.value_source(id)).flatten()
    }

    /// Whether the user set it (flag, or a variable that is not empty).
    pub fn given(&self, id: &str) -> bool {
        match self.source(id) {
            Some(ValueSource::CommandLine) => true,
            Some(ValueSource::EnvVariable) => {
                self.matches.try_get_one::<String>(id).ok().flatten().is_some_and(|v| !v.is_empty())
            }
            _ => false,
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

/// A duration with a unit (`90s`, `30m`, `6h`, `1d`; plain seconds too), from 1 minute to 30
/// days; `0` for none.
pub fn parse_check_interval(s: &str) -> Result<Option<Duration>, String> {
    parse_interval(s, 60.0, "0 (off), or a duration from 1m to 30d such as 30m, 6h, 1d (plain seconds too)")
}

/// How often drives are read (`SYSTEM_STATS_SMART_INTERVAL`): as [`parse_check_interval`],
/// from 5 s (smartctl_exporter reads every minute by default; a drive is never woken), `0`
/// for once.
pub fn parse_smart_interval(s: &str) -> Result<Option<Duration>, String> {
    parse_interval(s, 5.0, "0 (once, at the start), or a duration from 5s to 30d such as 10m, 1h (plain seconds too)")
}

fn parse_interval(s: &str, min: f64, expected: &str) -> Result<Option<Duration>, String> {
    let expected = || expected.to_string();
    let t = s.trim();
    if t == "0" {
        return Ok(None);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| expected())?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(expected()),
    };
    let secs = n * scale;
    if !secs.is_finite() || !(min..=30.0 * 86_400.0).contains(&secs) {
        return Err(expected());
    }
    Ok(Some(Duration::from_secs_f64(secs)))
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

/// A procfs: a directory whose `stat` begins with the `cpu` line (Linux; elsewhere any
/// directory, which is not read).
pub fn parse_procfs(s: &str) -> Result<PathBuf, String> {
    let p = parse_dir(s)?;
    if !cfg!(target_os = "linux") {
        return Ok(p);
    }
    let stat = p.join("stat");
    let mut head = [0u8; 4];
    let read = std::fs::File::open(&stat).and_then(|f| {
        use std::io::Read;
        f.take(4).read_exact(&mut head)
    });
    match read {
        Ok(()) if &head[..3] == b"cpu" => Ok(p),
        Ok(()) => Err("a procfs (its stat file does not begin with the cpu line)".into()),
        Err(e) => Err(format!("a procfs (its stat file: {e})")),
    }
}

/// A sysfs: a directory with a `class` directory (Linux; elsewhere any directory).
pub fn parse_sysfs(s: &str) -> Result<PathBuf, String> {
    let p = parse_dir(s)?;
    if cfg!(target_os = "linux") && !p.join("class").is_dir() {
        return Err("a sysfs (it has no class directory)".into());
    }
    Ok(p)
}

/// A secret (a token): shown as `***` in debug output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What a token is made of: printable ASCII without spaces (RFC 6750's token68 and more),
/// so it fits an `Authorization` header as it is.
pub fn parse_token(s: &str) -> Result<Secret, String> {
    let t = s.trim_end_matches(['\n', '\r']).trim();
    if t.is_empty() {
        return Err("a token: printable ASCII characters without spaces (it is empty)".into());
    }
    if let Some(c) = t.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "a token: printable ASCII characters without spaces (it holds {})",
            if c.is_whitespace() { "a space".to_string() } else { format!("{:?}", c.escape_default().to_string()) }
        ));
    }
    Ok(Secret::new(t))
}

/// A file holding a token (one line; a trailing newline is dropped). A file other users may
/// read is accepted with a warning from the caller (see [`token_file_is_shared`]).
pub fn read_token_file(s: &str) -> Result<Secret, String> {
    const MAX: u64 = 4096;
    let expected = "a readable file holding the token";
    let meta = std::fs::metadata(s).map_err(|e| format!("{expected} ({e})"))?;
    if !meta.is_file() {
        return Err(format!("{expected} (this is not a regular file)"));
    }
    if meta.len() > MAX {
        return Err(format!("{expected} (it is {} bytes; a token file holds one line of at most {MAX})", meta.len()));
    }
    let text = std::fs::read_to_string(s).map_err(|e| format!("{expected} ({e})"))?;
    parse_token(&text).map_err(|e| format!("{expected}: {e}"))
}

/// Whether a token file may be read by every user of the machine.
pub fn token_file_is_shared(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

/// The token of `SYSTEM_STATS_AUTH_TOKEN_FILE` or `SYSTEM_STATS_AUTH_TOKEN` (one of them).
fn token_settings(v: &Values) -> Result<Option<Secret>, ConfigError> {
    let (file, file_from) = v.raw("auth-token-file");
    let (inline, inline_from) = v.raw("auth-token");
    match (file.is_empty(), inline.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Err(ConfigError {
            setting: inline_from,
            value: "***".into(),
            expected: format!("nothing when {file_from} is set (set one of the two; the file is the safer)"),
        }),
        (false, true) => {
            let token = v.parse("auth-token-file", read_token_file)?;
            if token_file_is_shared(&file) {
                eprintln!("warning: {file_from}={file:?} can be read by every user of this machine (chmod 600 it)");
            }
            Ok(Some(token))
        }
        (true, false) => parse_token(&inline).map(Some).map_err(|expected| ConfigError {
            setting: inline_from,
            value: "***".into(),
            expected,
        }),
    }
}

const TOKEN_FILE_SETTING: Setting = Setting {
    id: "auth-token-file",
    env: "SYSTEM_STATS_AUTH_TOKEN_FILE",
    default: "",
    help: "A file holding the token: every endpoint but /health then needs Authorization: Bearer <token> \
           (under systemd, LoadCredential= and %d/… keep it out of the unit)",
};

const TOKEN_SETTING: Setting = Setting {
    id: "auth-token",
    env: "SYSTEM_STATS_AUTH_TOKEN",
    default: "",
    help: "The token itself (weaker than the file: the environment of a process can be read by root and shows \
           in unit files)",
};

/// A comma list of host names or IP addresses for `Host` checks (`*` for any).
pub fn parse_allowed_hosts(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let name = entry.trim_end_matches('.');
        let valid = entry == "*"
            || name.parse::<std::net::IpAddr>().is_ok()
            || (!name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }));
        if !valid {
            return Err(format!(
                "a comma list of host names (stats.example.org) or IP addresses, or * for any; {entry:?} is none"
            ));
        }
        out.push(entry.to_string());
    }
    Ok(out)
}

/// A comma list of web origins (`https://dash.example.org`, `http://localhost:3000`), or `*`.
pub fn parse_origins(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let expected = || {
            format!(
                "a comma list of origins such as https://dash.example.org (scheme, host, port; no path), or *; {entry:?} is not one"
            )
        };
        if entry != "*" {
            let uri: http::Uri = entry.parse().map_err(|_| expected())?;
            let path_ok = matches!(uri.path_and_query().map(|p| p.as_str()), None | Some("/") | Some(""));
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() || !path_ok {
                return Err(expected());
            }
        }
        out.push(entry.to_string());
    }
    Ok(out)
}

/// A whole number within `[min, max]`.
pub fn parse_count(s: &str, min: u64, max: u64) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("a whole number from {min} to {max}")),
    }
}

/// Whether either program reads this variable: the settings tables, the one place each
/// setting is named (they used to be listed a second time here, and the two drifted apart).
pub fn is_known_variable(name: &str) -> bool {
    SERVICE_SETTINGS.iter().chain(FORWARDER_SETTINGS).any(|s| s.env == name)
}

/// `SYSTEM_STATS_*` variables in the environment that no program of ours reads (typos).
pub fn unknown_variables() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("SYSTEM_STATS_") && !is_known_variable(k))
        .collect()
}

/// The certificate and key: both or neither, loaded now so that a bad file stops the start.
#[cfg(feature = "tls")]
pub(crate) fn tls_settings(v: &Values) -> Result<Option<std::sync::Arc<crate::web::tls::Tls>>, ConfigError> {
    let (cert, cert_from) = v.raw("tls-cert");
    let (key, key_from) = v.raw("tls-key");
    match (cert.is_empty(), key.is_empty()) {
        (true, true) => Ok(None),
        (false, true) => Err(ConfigError {
            setting: key_from,
            value: key,
            expected: format!("the private key of {cert_from}'s certificate (both or neither)"),
        }),
        (true, false) => Err(ConfigError {
            setting: cert_from,
            value: cert,
            expected: format!("the certificate of {key_from}'s key (both or neither)"),
        }),
        (false, false) => crate::web::tls::Tls::new(cert.as_ref(), key.as_ref())
            .map(|t| Some(std::sync::Arc::new(t)))
            .map_err(|e| ConfigError {
                setting: cert_from,
                value: cert,
                expected: format!("a usable PEM certificate and key ({e})"),
            }),
    }
}

/// Without TLS in the build, a certificate is an error rather than plain HTTP.
#[cfg(not(feature = "tls"))]
pub(crate) fn refuse_tls(v: &Values) -> Result<(), ConfigError> {
    for id in ["tls-cert", "tls-key"] {
        let (value, setting) = v.raw(id);
        if !value.is_empty() {
            return Err(ConfigError {
                setting,
                value,
                expected: "nothing: this build has no TLS (rebuild with the `tls` feature)".into(),
            });
        }
    }
    Ok(())
}
