//! The service's settings: its table ([`SERVICE_SETTINGS`]) and [`ServiceConfig`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::{ArgMatches, Command};
use tracing::level_filters::LevelFilter;

use super::*;

/// The service's settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub host: String,
    pub port: u16,
    /// `host:port` resolved.
    pub listen: SocketAddr,
    pub log_level: LevelFilter,
    /// The families that run.
    pub collectors: crate::collect::Selection,
    /// What they start with (where to look, what to leave out, how often to poll).
    pub setup: crate::collect::Setup,
    /// Requests but `/health` need `Authorization: Bearer` with it.
    pub auth_token: Option<Secret>,
    /// HTTPS with this certificate (reloaded when its files change).
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<crate::web::tls::Tls>>,
    /// `Host` names accepted besides IP literals, localhost and this machine's names.
    pub allowed_hosts: Vec<String>,
    /// Origins that get CORS headers.
    pub cors_origins: Vec<String>,
    pub max_connections: usize,
    /// Subscribers of `/events` at a time.
    pub max_event_clients: usize,
    /// The alert rules the sampler evaluates; `None` with `SYSTEM_STATS_ALERTS=off`.
    pub alerts: Option<crate::alerts::Rules>,
    /// `--check-alerts FILE`: validate a rules file, print what it holds, exit.
    pub check_alerts: Option<PathBuf>,
    /// `--read-drives DIR`: read the drives once into a directory of readings, exit.
    pub read_drives: Option<PathBuf>,
    #[cfg(not(feature = "tls"))]
    pub _no_tls: (),
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
    Setting {
        id: "collectors",
        env: "SYSTEM_STATS_COLLECTORS",
        default: "all",
        help: "Collectors to run: all, a comma list (cpu,memory), or all,-name,... to leave some out. \
               Names: cpu, stat, schedstat, cpufreq, load, memory, vmstat, swap, pressure, filesystems, disk, disk_io, \
               network, interfaces, netstat, sockstat, softnet, udp_queues, arp, conntrack, sensors, containers, \
               raspberry_pi, host, os_update, services, smart, processes, forwarder, uptime, time, timex, entropy, filefd, textfile. One that does not run costs nothing; \
               its keys are null and its series absent",
    },
    Setting {
        id: "filesystems-exclude",
        env: "SYSTEM_STATS_FILESYSTEMS_EXCLUDE",
        default: crate::collect::shared::exclude::MOUNT_POINTS,
        help: "Mount points left out of the filesystem lists of /system and /metrics: a regular expression \
               (node_exporter's --collector.filesystem.mount-points-exclude, with its default); ^$ leaves none out",
    },
    Setting {
        id: "filesystem-types-exclude",
        env: "SYSTEM_STATS_FILESYSTEM_TYPES_EXCLUDE",
        default: crate::collect::shared::exclude::FS_TYPES,
        help: "Filesystem types left out of the same lists: a regular expression (node_exporter's \
               --collector.filesystem.fs-types-exclude, with its default); ^$ leaves none out",
    },
    Setting {
        id: "disks-exclude",
        env: "SYSTEM_STATS_DISKS_EXCLUDE",
        default: crate::collect::shared::exclude::DISKS,
        help: "Block devices left out of the per-disk lists (the default: partitions, loop and RAM disks, as \
               node_exporter's --collector.diskstats.device-exclude); the host's disk_io totals still count \
               every whole disk; ^$ leaves none out",
    },
    Setting {
        id: "network-exclude",
        env: "SYSTEM_STATS_NETWORK_EXCLUDE",
        default: crate::collect::shared::exclude::NETWORK,
        help: "Network interfaces left out of the per-interface lists, e.g. ^(lo|veth.*)$ (node_exporter's \
               --collector.netdev.device-exclude); the host's totals still count them; none by default",
    },
    Setting {
        id: "top-processes",
        env: "SYSTEM_STATS_TOP_PROCESSES",
        default: "10",
        help: "How many processes the top lists (by CPU, by memory) of /system, /metrics and the page hold \
               (0 to 1000; 0 leaves the lists out, the counts by state stay)",
    },
    Setting {
        id: "forwarder-url",
        env: "SYSTEM_STATS_FORWARDER_URL",
        default: "",
        help: "Where the forwarder on this host serves its own metrics (its SYSTEM_STATS_FORWARDER_METRICS, e.g. \
               http://127.0.0.1:5002): its backlog per destination is then in /system and on the page",
    },
    Setting {
        id: "textfile-directory",
        env: "SYSTEM_STATS_TEXTFILE_DIRECTORY",
        default: "",
        help: "A directory of *.prom files in Prometheus text format whose series /metrics serves, read at each \
               scrape by node_exporter's textfile rules (its --collector.textfile.directory); none when empty",
    },
    Setting {
        id: "services-exclude",
        env: "SYSTEM_STATS_SERVICES_EXCLUDE",
        default: crate::collect::services::UNITS_EXCLUDE,
        help: "systemd units without per-unit series in /metrics (node_exporter's \
               --collector.systemd.unit-exclude: a regular expression matched against the whole name); they are \
               still counted, and listed when they fail; ^$ leaves none out",
    },
    Setting {
        id: "update-check-interval",
        env: "SYSTEM_STATS_UPDATE_CHECK_INTERVAL",
        default: "6h",
        help: "How often pending OS updates are checked, in the background (e.g. 30m, 6h, 1d; at least 1m); 0 \
               turns the check off",
    },
    Setting {
        id: "update-check-timeout",
        env: "SYSTEM_STATS_UPDATE_CHECK_TIMEOUT",
        default: "120",
        help: "Seconds one OS update check may take before it is stopped (1 to 3600)",
    },
    Setting {
        id: "update-check-delay",
        env: "SYSTEM_STATS_UPDATE_CHECK_DELAY",
        default: "60",
        help: "Seconds after the start before the first OS update check (0 to 86400): the package manager \
               does not compete with a machine's boot",
    },
    Setting {
        id: "smartctl",
        env: "SYSTEM_STATS_SMARTCTL",
        default: "smartctl",
        help: "The smartctl program (smartmontools 7.0 or later) the smart collector reads drives with: a name \
               looked up in PATH (then /usr/sbin), or a path; without it drive health is not read",
    },
    Setting {
        id: "smart-interval",
        env: "SYSTEM_STATS_SMART_INTERVAL",
        default: "10m",
        help: "How often each drive's SMART data is read, and drives looked for, in the background (e.g. 10m, 1h; \
               at least 5s); 0 reads them once, at the start. A drive in standby is never woken",
    },
    Setting {
        id: "smart-timeout",
        env: "SYSTEM_STATS_SMART_TIMEOUT",
        default: "30",
        help: "Seconds one smartctl run may take before it is stopped (1 to 600)",
    },
    Setting {
        id: "smart-directory",
        env: "SYSTEM_STATS_SMART_DIRECTORY",
        default: "",
        help: "A directory of smartctl's outputs that `system-stats-service --read-drives DIR` writes (run by a \
               privileged unit of its own, system-stats-smart.service): drive health is read from there instead \
               of running smartctl, so this service needs no privilege; a reading older than three \
               --smart-interval is said to be stale",
    },
    Setting {
        id: "docker-host",
        env: "SYSTEM_STATS_DOCKER_HOST",
        default: "unix:///var/run/docker.sock",
        help: "The Docker Engine's socket (Podman's compatible one works too, e.g. \
               unix:///run/podman/podman.sock)",
    },
    TOKEN_FILE_SETTING,
    TOKEN_SETTING,
    Setting {
        id: "tls-cert",
        env: "SYSTEM_STATS_TLS_CERT",
        default: "",
        help: "A PEM certificate chain: the service then speaks HTTPS only (with --tls-key); a renewed file is \
               picked up within seconds, without a restart",
    },
    Setting { id: "tls-key", env: "SYSTEM_STATS_TLS_KEY", default: "", help: "The PEM private key of --tls-cert" },
    Setting {
        id: "allowed-hosts",
        env: "SYSTEM_STATS_ALLOWED_HOSTS",
        default: "",
        help: "Host names requests may be addressed to, besides IP addresses, localhost and this machine's names \
               (a comma list; * for any). Others get 421: a defence against DNS rebinding",
    },
    Setting {
        id: "cors-origins",
        env: "SYSTEM_STATS_CORS_ORIGINS",
        default: "",
        help: "Web origins whose pages may read the answers (a comma list such as https://dash.example.org; * \
               for any); none by default",
    },
    Setting {
        id: "max-connections",
        env: "SYSTEM_STATS_MAX_CONNECTIONS",
        default: "256",
        help: "Connections served at a time (1 to 65536); past it the connection waiting the longest on a client \
               that sends or reads nothing is closed for a new one",
    },
    Setting {
        id: "max-event-clients",
        env: "SYSTEM_STATS_MAX_EVENT_CLIENTS",
        default: "32",
        help: "Subscribers of /events (the live page's stream) at a time (0 to 65536; 0 turns the stream off); \
               beyond, 503",
    },
    Setting {
        id: "alerts",
        env: "SYSTEM_STATS_ALERTS",
        default: "on",
        help: "Evaluate alert rules on every sample (on/off): the stock rules, the thresholds below and \
               --alert-rules; /system's alerts and /metrics' ALERTS",
    },
    Setting {
        id: "alert-rules",
        env: "SYSTEM_STATS_ALERT_RULES",
        default: "",
        help: "A TOML file of alert rules: rules of your own, stock rules redefined or disabled \
               (docs/alerts.md; check one with --check-alerts FILE)",
    },
    Setting {
        id: "alert-cpu-threshold",
        env: "SYSTEM_STATS_ALERT_CPU_THRESHOLD",
        default: "0",
        help: "statix's CPU alert: fires when the CPU percent reaches it (0 to 100; 0 = off)",
    },
    Setting {
        id: "alert-ram-threshold",
        env: "SYSTEM_STATS_ALERT_RAM_THRESHOLD",
        default: "0",
        help: "statix's RAM alert: fires when the memory percent reaches it (0 to 100; 0 = off)",
    },
];

/// A threshold in percent, `0` for none.
fn parse_threshold(s: &str) -> Result<Option<f64>, String> {
    let expected = || "a percent from 0 to 100 (0 = off)".to_string();
    let v: f64 = s.trim().trim_end_matches('%').parse().map_err(|_| expected())?;
    if !(0.0..=100.0).contains(&v) {
        return Err(expected());
    }
    Ok((v > 0.0).then_some(v))
}

/// The alert rules of the settings: `None` when off.
fn alert_settings(v: &Values, check_only: bool) -> Result<Option<crate::alerts::Rules>, ConfigError> {
    if !v.parse("alerts", parse_bool)? {
        return Ok(None);
    }
    let thresholds = crate::alerts::Thresholds {
        cpu: v.parse("alert-cpu-threshold", parse_threshold)?,
        ram: v.parse("alert-ram-threshold", parse_threshold)?,
    };
    // `--check-alerts` checks its own file, whatever the settings name
    let file = if check_only { None } else { v.parse("alert-rules", parse_optional_path)? };
    v.parse("alert-rules", |_| {
        crate::alerts::Rules::load(file.as_deref(), thresholds).map_err(|e| format!("a usable rules file: {e}"))
    })
    .map(Some)
}

/// `on` or `off` (`true`/`false`, `yes`/`no`, `1`/`0` too).
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err("on or off".into()),
    }
}

/// A path, or empty for none.
fn parse_optional_path(s: &str) -> Result<Option<PathBuf>, String> {
    Ok((!s.trim().is_empty()).then(|| PathBuf::from(s.trim())))
}

impl ServiceConfig {
    pub fn command() -> Command {
        Command::new("system-stats-service")
            .version(crate::VERSION)
            .about("Serves a JSON snapshot of this host (CPU, memory, swap, disk, network, uptime) over HTTP.")
            .after_help(
                "Endpoints: GET / (the live page), /system (the snapshot), /metrics (Prometheus), /health,\n\
                 /events and /history (the page's stream and history), /openapi.json and /docs.\n\
                 Every flag can also be set by the environment variable shown beside it;\n\
                 a flag wins over its variable. An empty variable means the default.",
            )
            .args(SERVICE_SETTINGS.iter().map(Setting::arg))
            .arg(
                clap::Arg::new("check-alerts")
                    .long("check-alerts")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help(
                        "Check a rules file as --alert-rules would load it, print its rules and exit \
                         (0 usable, 2 not), as `promtool check rules` does",
                    ),
            )
            .arg(
                clap::Arg::new("read-drives")
                    .long("read-drives")
                    .value_name("DIR")
                    .value_parser(clap::value_parser!(PathBuf))
                    .conflicts_with("check-alerts")
                    .help(
                        "Read every drive's SMART data once with --smartctl and write smartctl's outputs into DIR \
                         (an existing directory) for a service started with --smart-directory DIR, then exit \
                         (0 written, 1 not): run it with the drives' privileges, by system-stats-smart.service",
                    ),
            )
    }

    pub fn from_matches(m: &ArgMatches) -> Result<Self, ConfigError> {
        let v = Values::new(m, SERVICE_SETTINGS);
        let port = v.parse("port", parse_port)?;
        let host = v.raw("host").0;
        let listen = v.parse("host", |h| resolve(h, port))?;
        let auth_token = token_settings(&v)?;
        let mut setup = collectors_setup(&v, Paths::Checked)?;
        setup.forwarder_token = auth_token.as_ref().map(|t| t.expose().to_string());
        Ok(ServiceConfig {
            host,
            port,
            listen,
            log_level: v.parse("log-level", parse_log_level)?,
            collectors: {
                let mut c = v.parse("collectors", crate::collect::Selection::parse)?;
                if setup.update_check_interval.is_none() {
                    c.remove("os_update");
                }
                c
            },
            setup,
            auth_token,
            #[cfg(not(feature = "tls"))]
            _no_tls: refuse_tls(&v)?,
            #[cfg(feature = "tls")]
            tls: tls_settings(&v)?,
            allowed_hosts: v.parse("allowed-hosts", parse_allowed_hosts)?,
            cors_origins: v.parse("cors-origins", parse_origins)?,
            max_connections: v.parse("max-connections", |s| parse_count(s, 1, 65_536))? as usize,
            max_event_clients: v.parse("max-event-clients", |s| parse_count(s, 0, 65_536))? as usize,
            alerts: alert_settings(&v, m.get_one::<PathBuf>("check-alerts").is_some())?,
            check_alerts: m.get_one::<PathBuf>("check-alerts").cloned(),
            read_drives: m.get_one::<PathBuf>("read-drives").cloned(),
        })
    }
}

/// Whether the paths of the collectors' settings are checked (the settings a program starts
/// with), or taken as written (the table's defaults, for tests and benchmarks on any host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paths {
    Checked,
    AsWritten,
}

/// The collectors' part of the settings: each field parsed from its setting, the one place
/// its default is written.
fn collectors_setup(v: &Values, paths: Paths) -> Result<crate::collect::Setup, ConfigError> {
    use crate::collect::shared::exclude::{Exclusions, Pattern};
    let path = |id: &str, check: fn(&str) -> Result<PathBuf, String>| match paths {
        Paths::Checked => v.parse(id, check),
        Paths::AsWritten => Ok(PathBuf::from(v.raw(id).0)),
    };
    Ok(crate::collect::Setup {
        procfs: path("procfs", parse_procfs)?,
        sysfs: path("sysfs", parse_sysfs)?,
        disk_path: path("disk-path", parse_existing_path)?,
        update_check_interval: v.parse("update-check-interval", parse_check_interval)?,
        update_check_timeout: v.parse("update-check-timeout", |s| parse_seconds(s, 1.0, 3600.0))?,
        update_check_delay: v.parse("update-check-delay", |s| parse_seconds(s, 0.0, 86_400.0))?,
        docker_host: {
            v.parse("docker-host", crate::collect::containers::engine::socket_path)?;
            v.raw("docker-host").0
        },
        sample_interval: v.parse("sample-interval", |s| parse_seconds(s, 0.1, 3600.0))?,
        exclude: Exclusions {
            mount_points: v.parse("filesystems-exclude", Pattern::parse)?,
            fs_types: v.parse("filesystem-types-exclude", Pattern::parse)?,
            disks: v.parse("disks-exclude", Pattern::parse)?,
            network: v.parse("network-exclude", Pattern::parse)?,
        },
        units_exclude: v.parse("services-exclude", Pattern::parse_anchored)?,
        top_processes: v.parse("top-processes", |s| parse_count(s, 0, 1000))? as usize,
        forwarder_url: v.parse("forwarder-url", parse_forwarder_url)?,
        forwarder_token: None,
        textfile_directory: v.parse("textfile-directory", parse_optional_directory)?,
        smartctl: v.parse("smartctl", parse_program)?,
        smart_interval: v.parse("smart-interval", parse_smart_interval)?,
        smart_timeout: v.parse("smart-timeout", |s| parse_seconds(s, 1.0, 600.0))?,
        smart_directory: v.parse("smart-directory", parse_optional_directory)?,
    })
}

/// The collectors' setup when nothing is set: [`SERVICE_SETTINGS`]'s defaults, the paths as
/// written (`/proc`, `/sys`, `/`) whatever this host has.
pub fn default_setup() -> crate::collect::Setup {
    let none = ArgMatches::default();
    // the defaults of a constant table: a unit test parses them
    collectors_setup(&Values::new(&none, SERVICE_SETTINGS), Paths::AsWritten)
        .unwrap_or_else(|e| panic!("a default of SERVICE_SETTINGS does not parse: {e}"))
}

/// A directory the service reads (text files, drive readings), or empty for none. One that
/// does not exist yet is taken (a package or a timer may create it later; until then
/// `node_textfile_scrape_error` is 1, as with node_exporter, and `disk_health` is `null`);
/// anything else that is not a directory is refused.
pub fn parse_optional_directory(s: &str) -> Result<Option<PathBuf>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(s);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => Ok(Some(path)),
        Ok(_) => Err("a directory of *.prom files (this is not a directory)".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(
                "SYSTEM_STATS_TEXTFILE_DIRECTORY {s:?} does not exist (yet): node_textfile_scrape_error is 1 until it does"
            );
            Ok(Some(path))
        }
        Err(e) => Err(format!("a directory of *.prom files ({e})")),
    }
}

/// A program: a name (looked up in `PATH` when it runs) or the path of an executable file.
pub fn parse_program(s: &str) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let s = s.trim();
    if s.is_empty() {
        return Err("a program's name (looked up in PATH) or its path".into());
    }
    if !s.contains('/') {
        return Ok(s.to_string());
    }
    match std::fs::metadata(s) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(s.to_string()),
        Ok(_) => Err("an executable file (this one is not)".into()),
        Err(e) => Err(format!("an executable file ({e})")),
    }
}

/// An http(s) URL of the forwarder's listener, or empty for none.
pub fn parse_forwarder_url(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let expected = "an http:// or https:// URL of the forwarder's metrics listener (e.g. http://127.0.0.1:5002)";
    let uri: http::Uri = s.parse().map_err(|_| expected.to_string())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(Some(s.trim_end_matches('/').to_string())),
        _ => Err(expected.to_string()),
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

    /// The service's settings from `args`, with procfs and sysfs from a recorded tree unless
    /// `args` name them: the checks of those two must not depend on the machine (a build
    /// chroot has no /sys).
    fn service(args: &[&str]) -> Result<ServiceConfig, ConfigError> {
        let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/debian-x86_64-vm");
        let (procfs, sysfs) = (format!("{tree}/proc"), format!("{tree}/sys"));
        let mut all = vec!["system-stats-service"];
        for (flag, value) in [("--procfs", procfs.as_str()), ("--sysfs", sysfs.as_str())] {
            if !args.contains(&flag) {
                all.extend([flag, value]);
            }
        }
        all.extend(args);
        let m = ServiceConfig::command().try_get_matches_from(all);
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
        let empty = tempfile::tempdir().unwrap();
        let err = service(&["--procfs", empty.path().to_str().unwrap()]).unwrap_err().to_string();
        assert!(err.contains("expected a procfs (its stat file: No such file"), "{err}");
        let err = service(&["--sysfs", empty.path().to_str().unwrap()]).unwrap_err().to_string();
        assert!(err.contains("expected a sysfs (it has no class directory)"), "{err}");
        assert!(service(&["--host", "not a host"]).unwrap_err().to_string().contains("--host"));
    }

    /// The collectors' setup when nothing is set: every default of the table parses, and is
    /// what the table says.
    #[test]
    fn the_default_setup_is_the_tables() {
        let setup = crate::config::default_setup();
        let default = |id: &str| SERVICE_SETTINGS.iter().find(|s| s.id == id).unwrap().default;
        assert_eq!(setup.procfs, std::path::Path::new(default("procfs")));
        assert_eq!(setup.sample_interval.as_secs_f64().to_string(), default("sample-interval"));
        assert_eq!(setup.top_processes.to_string(), default("top-processes"));
        assert_eq!(setup.update_check_interval, Some(std::time::Duration::from_secs(6 * 3600)));
        assert_eq!(default("update-check-interval"), "6h");
        assert_eq!(setup.docker_host, default("docker-host"));
    }

    /// docs/configuration.md has a row for every setting of both programs.
    #[test]
    fn the_configuration_page_lists_every_setting() {
        let page = include_str!("../../docs/configuration.md");
        for s in SERVICE_SETTINGS.iter().chain(super::super::FORWARDER_SETTINGS) {
            assert!(
                page.contains(&format!("`{}`", s.env)) && page.contains(&format!("`--{}", s.id)),
                "{} ({})",
                s.env,
                s.id
            );
        }
    }

    /// `--help` names every collector of the registry.
    #[test]
    fn help_names_every_collector() {
        let help = SERVICE_SETTINGS.iter().find(|s| s.id == "collectors").unwrap().help;
        for e in crate::collect::REGISTRY {
            assert!(help.contains(&format!(" {},", e.name)) || help.contains(&format!(" {}.", e.name)), "{}", e.name);
        }
        let err = service(&["--collectors", "all,-bogus"]).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid --collectors=\"all,-bogus\": expected a comma list of collectors (cpu,"),
            "{err}"
        );
        assert!(err.ends_with("\"bogus\" is not one"), "{err}");
        assert!(!service(&["--collectors", "cpu"]).unwrap().collectors.contains("memory"));
    }

    #[test]
    fn update_check_intervals() {
        assert_eq!(parse_check_interval("6h"), Ok(Some(Duration::from_secs(21_600))));
        assert_eq!(parse_check_interval("30m"), Ok(Some(Duration::from_secs(1_800))));
        assert_eq!(parse_check_interval("3600"), Ok(Some(Duration::from_secs(3_600))));
        assert_eq!(parse_check_interval("0"), Ok(None));
        for bad in ["10s", "-1h", "6 hours", "", "31d", "NaNh"] {
            assert!(parse_check_interval(bad).is_err(), "{bad}");
        }
        let c = service(&["--update-check-interval", "0"]).unwrap();
        assert!(!c.collectors.contains("os_update") && c.collectors.contains("cpu"));
    }

    #[test]
    fn good_values() {
        let c =
            service(&["--port", "0", "--host", "::1", "--sample-interval", "0.25", "--log-level", "WARNING"]).unwrap();
        assert_eq!(c.listen, "[::1]:0".parse().unwrap());
        assert_eq!(c.setup.sample_interval, Duration::from_millis(250));
        assert_eq!(c.log_level, LevelFilter::WARN);
        assert_eq!(resolve("127.0.0.1", 80).unwrap(), "127.0.0.1:80".parse().unwrap());
        assert_eq!(resolve("[::]", 5).unwrap(), "[::]:5".parse().unwrap());
    }
}
