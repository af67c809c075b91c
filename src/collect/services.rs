//! `services`: what the service manager says of its units (`services` in `/system`): how many
//! are active, activating, failed..., the failed ones by name with their result and since
//! when, the manager's version and overall state (`systemctl is-system-running`); in
//! `/metrics` as node_exporter's `systemd` collector has them (`node_systemd_unit_state`,
//! `node_systemd_units`, `node_systemd_system_running`, `node_systemd_version`, the sockets'
//! connection counts and the timers' last trigger).
//!
//! Read on a thread of its own every [`REFRESH`] (or every sample when samples are further
//! apart), never on the sampler's path: a manager that is slow to answer (a machine that is
//! booting) delays nothing; each sample publishes the last reading.
//!
//! Linux: systemd over the system bus (D-Bus): `ListUnits`, then the properties node_exporter
//! reads (a service's `Type`, kept while the unit stays loaded; a socket's `NAccepted`,
//! `NConnections`, `NRefused`; a timer's `LastTriggerUSec`; a failed unit's `Result` and
//! `StateChangeTimestamp`), on one connection kept open. Where no systemd answers (a
//! container, a machine with another init) `services.error` says so, once, and nothing else
//! happens: no error per sample, the family counts as working. macOS: `launchctl list`, the
//! jobs that exited with a non-zero status being the failed ones.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use crate::sync::Locked;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::shared::poller::{Change, change};
use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::metrics::{self, Kind};
use crate::snapshot::{FailedUnit, Services as Shown};

pub(crate) const ENTRY: Entry = Entry {
    name: "services",
    about: "service manager units: counts by state, failed ones (systemd over D-Bus; launchd), in the background",
    reads: &[],
    series: None,
    start: |setup| Some(Box::new(ServicesFamily::new(setup))),
};

/// How often the units are read (at least: samples further apart read them every sample).
pub(crate) const REFRESH: Duration = Duration::from_secs(5);
/// How long one call to the manager may take before the reading is abandoned (and the
/// connection made anew).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long after a failure to reach the manager it is tried again.
const RETRY: Duration = Duration::from_secs(30);

/// node_exporter's `--collector.systemd.unit-exclude` default: the units whose per-unit series
/// are left out (they are still counted in `node_systemd_units`).
pub(crate) const UNITS_EXCLUDE: &str = r".+\.(automount|device|mount|scope|slice)";

/// The unit states node_exporter reports each unit in, in its order.
pub(crate) const STATES: [&str; 5] = ["active", "activating", "deactivating", "inactive", "failed"];

/// One unit as `ListUnits` gives it (the fields used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unit {
    pub name: String,
    pub description: String,
    pub load_state: String,
    pub active_state: String,
}

/// A socket unit's connection counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Socket {
    pub name: String,
    pub accepted: u32,
    pub current: u32,
    /// `NRefused` (systemd 239 and later).
    pub refused: Option<u32>,
}

/// One reading of the manager.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Report {
    /// `systemd`, `launchd`.
    pub source: &'static str,
    /// As the manager gives it (`252.39-1~deb12u2`).
    pub version: String,
    /// `running`, `degraded`, `starting`...; `None` where the manager has no such state.
    pub state: Option<String>,
    /// Every loaded unit by its active state (node_exporter's five always present).
    pub counts: BTreeMap<String, u64>,
    /// The units the per-unit series are about (loaded, not excluded), with the service type
    /// (`""` for other units) and their state.
    pub units: Vec<(String, String, String)>,
    pub sockets: Vec<Socket>,
    /// Timers and their last trigger, Unix seconds (0: never).
    pub timers: Vec<(String, f64)>,
    /// Every failed unit, excluded or not.
    pub failed: Vec<FailedUnit>,
}

/// Counts units by active state, node_exporter's five first (at 0 when none is in them).
pub(crate) fn count_states<'a>(states: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = STATES.iter().map(|s| (s.to_string(), 0)).collect();
    for s in states {
        *counts.entry(s.to_string()).or_default() += 1;
    }
    counts
}

/// The number node_exporter makes of a version: its first run of three or more digits, with
/// the fraction after it (`252.39-1~deb12u2` → 252.39).
pub(crate) fn version_number(version: &str) -> Option<f64> {
    let b = version.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start >= 3 {
                let mut end = i;
                if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                    end = i + 1;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                }
                return version[start..end].parse().ok();
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Microseconds since the epoch (systemd's timestamps; 0 is "never") as RFC 3339, UTC.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn rfc3339_usec(usec: u64) -> Option<String> {
    (usec > 0).then(|| {
        chrono::DateTime::from_timestamp_micros(usec as i64)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

/// `launchctl list`: `PID\tStatus\tLabel` lines; a job with no process (`-`) whose last exit
/// status is not 0 has failed (a negative status is the signal that ended it).
#[cfg(any(target_os = "macos", test))]
pub(crate) fn parse_launchctl(text: &str) -> Report {
    let mut states = Vec::new();
    let mut failed = Vec::new();
    for line in text.lines().skip_while(|l| l.starts_with("PID")) {
        let f: Vec<&str> = line.split('\t').collect();
        let [pid, status, label] = f[..] else { continue };
        let state = match (pid.trim(), status.trim().parse::<i64>()) {
            ("-", Ok(0)) | ("-", Err(_)) => "inactive",
            ("-", Ok(code)) => {
                let result = if code < 0 { format!("signal {}", -code) } else { format!("exit code {code}") };
                failed.push(FailedUnit {
                    name: label.trim().to_string(),
                    description: None,
                    result: Some(result),
                    since: None,
                });
                "failed"
            }
            _ => "active",
        };
        states.push(state);
    }
    Report { source: "launchd", counts: count_states(states), failed, ..Default::default() }
}

/// The family: the last reading (or why there is none), refreshed on a thread of its own.
pub(crate) struct ServicesFamily {
    latest: super::shared::poller::Poller<Shared>,
}

#[derive(Default)]
struct Shared {
    report: Option<Arc<Report>>,
    checked_at: Option<String>,
    error: Option<String>,
}

impl ServicesFamily {
    fn new(setup: &Setup) -> ServicesFamily {
        let every = REFRESH.max(setup.sample_interval);
        let exclude = setup.units_exclude.clone();
        let make = move || {
            let mut reader = Reader::new(exclude);
            move |shared: &Mutex<Shared>| {
                let result = reader.read();
                let mut s = shared.locked();
                match change(&mut s.error, result.as_ref().err().map(String::as_str)) {
                    Some(Change::Failed(e)) => tracing::info!("services are not reported: {e}"),
                    Some(Change::Recovered(_)) => {
                        let source = result.as_ref().map_or("the service manager", |r| r.source);
                        tracing::info!("{source} answers again");
                    }
                    None => {}
                }
                let failed = result.is_err();
                s.report = result.ok().map(Arc::new);
                s.checked_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                if failed { RETRY } else { every }
            }
        };
        let latest = super::shared::poller::Poller::start(
            "services",
            Shared::default(),
            (Duration::ZERO, Duration::ZERO),
            make,
            |s, e| {
                s.error = Some(format!("no thread to read them: {e}"));
            },
        );
        ServicesFamily { latest }
    }
}

impl Collector for ServicesFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let s = self.latest.latest();
        let shown = match &s.report {
            Some(report) => {
                r.export(Exported(Arc::clone(report)));
                Shown {
                    source: Some(report.source.to_string()),
                    version: (!report.version.is_empty()).then(|| report.version.clone()),
                    state: report.state.clone(),
                    units: Some(report.counts.clone()),
                    failed: Some(report.failed.clone()),
                    checked_at: s.checked_at.clone(),
                    error: None,
                }
            }
            None => Shown { checked_at: s.checked_at.clone(), error: s.error.clone(), ..Default::default() },
        };
        r.snapshot.services = Some(shown);
        Ok(())
    }
}

/// Reads the manager: systemd on Linux, launchd on macOS.
struct Reader {
    #[cfg(target_os = "linux")]
    systemd: Option<systemd::Systemd>,
    #[allow(dead_code)]
    exclude: Option<super::shared::exclude::Pattern>,
}

impl Reader {
    fn new(exclude: Option<super::shared::exclude::Pattern>) -> Reader {
        Reader {
            #[cfg(target_os = "linux")]
            systemd: None,
            exclude,
        }
    }

    #[cfg(target_os = "linux")]
    fn read(&mut self) -> Result<Report, String> {
        if self.systemd.is_none() {
            self.systemd = Some(systemd::Systemd::connect(TIMEOUT)?);
        }
        let Some(systemd) = self.systemd.as_mut() else { return Err("not connected".into()) };
        let result = systemd.read(self.exclude.as_ref());
        if result.is_err() {
            // made anew next time: the bus or systemd may have restarted
            self.systemd = None;
        }
        result
    }

    #[cfg(target_os = "macos")]
    fn read(&mut self) -> Result<Report, String> {
        let out = std::process::Command::new("/bin/launchctl")
            .arg("list")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run launchctl: {e}"))?;
        if !out.status.success() {
            return Err(format!("launchctl list exited with {}", out.status));
        }
        Ok(parse_launchctl(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// The systemd reader: D-Bus calls on one connection.
#[cfg(target_os = "linux")]
mod systemd {
    use std::collections::HashMap;
    use std::time::Duration;

    use zbus::OwnedObjectPath;

    use super::{FailedUnit, Report, Socket, Unit};

    const DEST: &str = "org.freedesktop.systemd1";
    const PATH: &str = "/org/freedesktop/systemd1";
    const MANAGER: &str = "org.freedesktop.systemd1.Manager";

    /// `ListUnits`' element: name, description, load, active and sub state, followed unit,
    /// object path, job id, job type, job path.
    type Listed = (String, String, String, String, String, String, OwnedObjectPath, u32, String, OwnedObjectPath);

    pub(super) struct Systemd {
        conn: zbus::Connection,
        version: String,
        /// Each service's `Type`, read once while it stays loaded.
        types: HashMap<String, String>,
    }

    /// Runs `future` on this thread (its calls time out on their own: the connection's
    /// method timeout).
    fn within<T>(future: impl std::future::Future<Output = zbus::Result<T>>) -> Result<T, String> {
        zbus::block_on(future).map_err(describe)
    }

    fn describe(e: zbus::Error) -> String {
        match e {
            zbus::Error::MethodError(name, text, _) => {
                format!("{}{}", name.as_str(), text.map(|t| format!(": {t}")).unwrap_or_default())
            }
            other => other.to_string(),
        }
    }

    impl Systemd {
        pub(super) fn connect(timeout: Duration) -> Result<Systemd, String> {
            let conn = within(async { zbus::connection::Builder::system().method_timeout(timeout).build().await })
                .map_err(|e| format!("no system bus to ask systemd on ({e})"))?;
            let version: String = within(get(&conn, PATH, MANAGER, "Version"))
                .map_err(|e| format!("no systemd on the system bus ({e})"))?;
            Ok(Systemd { conn, version, types: HashMap::new() })
        }

        pub(super) fn read(
            &mut self,
            exclude: Option<&crate::collect::shared::exclude::Pattern>,
        ) -> Result<Report, String> {
            let conn = &self.conn;
            let types = &mut self.types;
            let version = self.version.clone();
            within(async move {
                let listed: Vec<Listed> =
                    conn.call_method(Some(DEST), PATH, Some(MANAGER), "ListUnits", &()).await?.body().deserialize()?;
                let units: Vec<(Unit, OwnedObjectPath)> = listed
                    .into_iter()
                    .map(|l| (Unit { name: l.0, description: l.1, load_state: l.2, active_state: l.3 }, l.6))
                    .collect();
                let state: Option<String> = get(conn, PATH, MANAGER, "SystemState").await.ok();
                types.retain(|name, _| units.iter().any(|(u, _)| &u.name == name));
                let mut report = Report {
                    source: "systemd",
                    version,
                    state,
                    counts: super::count_states(units.iter().map(|(u, _)| u.active_state.as_str())),
                    ..Default::default()
                };
                for (u, path) in &units {
                    if u.active_state == "failed" {
                        let iface = type_interface(&u.name);
                        let result: Option<String> = match iface {
                            Some(iface) => get(conn, path.as_str(), &iface, "Result").await.ok(),
                            None => None,
                        };
                        let since: Option<u64> =
                            get(conn, path.as_str(), "org.freedesktop.systemd1.Unit", "StateChangeTimestamp")
                                .await
                                .ok();
                        report.failed.push(FailedUnit {
                            name: u.name.clone(),
                            description: Some(u.description.clone()).filter(|d| !d.is_empty()),
                            result,
                            since: since.and_then(super::rfc3339_usec),
                        });
                    }
                    if u.load_state != "loaded" || exclude.is_some_and(|x| x.is_match(&u.name)) {
                        continue;
                    }
                    let mut kind = String::new();
                    if u.name.ends_with(".service") || u.name.ends_with(".mount") {
                        if let Some(t) = types.get(&u.name) {
                            kind = t.clone();
                        } else if let Some(iface) = type_interface(&u.name)
                            && let Ok(t) = get::<String>(conn, path.as_str(), &iface, "Type").await
                        {
                            types.insert(u.name.clone(), t.clone());
                            kind = t;
                        }
                    } else if u.name.ends_with(".socket") {
                        const SOCKET: &str = "org.freedesktop.systemd1.Socket";
                        let accepted = get::<u32>(conn, path.as_str(), SOCKET, "NAccepted").await;
                        let current = get::<u32>(conn, path.as_str(), SOCKET, "NConnections").await;
                        if let (Ok(accepted), Ok(current)) = (accepted, current) {
                            let refused = get::<u32>(conn, path.as_str(), SOCKET, "NRefused").await.ok();
                            report.sockets.push(Socket { name: u.name.clone(), accepted, current, refused });
                        }
                    } else if u.name.ends_with(".timer")
                        && let Ok(usec) =
                            get::<u64>(conn, path.as_str(), "org.freedesktop.systemd1.Timer", "LastTriggerUSec").await
                    {
                        report.timers.push((u.name.clone(), usec as f64 / 1e6));
                    }
                    report.units.push((u.name.clone(), kind, u.active_state.clone()));
                }
                Ok(report)
            })
        }
    }

    /// The interface of a unit's type (`org.freedesktop.systemd1.Service` for `x.service`).
    fn type_interface(name: &str) -> Option<String> {
        let suffix = name.rsplit_once('.')?.1;
        let mut chars = suffix.chars();
        let first = chars.next()?.to_ascii_uppercase();
        Some(format!("org.freedesktop.systemd1.{first}{}", chars.as_str()))
    }

    /// One property, as `T`.
    async fn get<T>(conn: &zbus::Connection, path: &str, iface: &str, name: &str) -> zbus::Result<T>
    where
        T: TryFrom<zbus::OwnedVariant, Error = zbus::Error>,
    {
        let reply =
            conn.call_method(Some(DEST), path, Some("org.freedesktop.DBus.Properties"), "Get", &(iface, name)).await?;
        let value: zbus::OwnedVariant = reply.body().deserialize()?;
        T::try_from(value)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn type_interfaces() {
            assert_eq!(super::type_interface("dbus.service").unwrap(), "org.freedesktop.systemd1.Service");
            assert_eq!(super::type_interface("-.mount").unwrap(), "org.freedesktop.systemd1.Mount");
            assert_eq!(super::type_interface("x.automount").unwrap(), "org.freedesktop.systemd1.Automount");
            assert_eq!(super::type_interface("noext"), None);
        }
    }
}

/// The series of a reading, as node_exporter's `systemd` collector names them.
#[derive(Debug)]
struct Exported(Arc<Report>);

impl metrics::Export for Exported {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        use metrics::{Family, label};
        let r = &*self.0;
        if r.source != "systemd" {
            return;
        }
        let mut units = Family::new("node_systemd_units", Kind::Gauge, "Summary of systemd unit states");
        for (state, n) in &r.counts {
            units.push(vec![label("state", state)], *n as f64);
        }
        let mut state = Family::new("node_systemd_unit_state", Kind::Gauge, "Systemd unit");
        for (name, kind, active) in &r.units {
            for s in STATES {
                let on = if s == active { 1.0 } else { 0.0 };
                state.push(vec![label("name", name), label("state", s), label("type", kind)], on);
            }
        }
        let mut accepted = Family::new(
            "node_systemd_socket_accepted_connections_total",
            Kind::Counter,
            "Total number of accepted socket connections",
        );
        let mut current =
            Family::new("node_systemd_socket_current_connections", Kind::Gauge, "Current number of socket connections");
        // a gauge, as node_exporter types it
        let mut refused = Family::new(
            "node_systemd_socket_refused_connections_total",
            Kind::Gauge,
            "Total number of refused socket connections",
        );
        for s in &r.sockets {
            accepted.push(vec![label("name", &s.name)], s.accepted as f64);
            current.push(vec![label("name", &s.name)], s.current as f64);
            if let Some(n) = s.refused {
                refused.push(vec![label("name", &s.name)], n as f64);
            }
        }
        let mut timers =
            Family::new("node_systemd_timer_last_trigger_seconds", Kind::Gauge, "Seconds since epoch of last trigger.");
        for (name, at) in &r.timers {
            timers.push(vec![label("name", name)], *at);
        }
        out.extend([units, state, accepted, current, refused, timers]);
        if let Some(s) = &r.state {
            out.push(
                Family::new(
                    "node_systemd_system_running",
                    Kind::Gauge,
                    "Whether the system is operational (see 'systemctl is-system-running')",
                )
                .with(vec![], if s == "running" { 1.0 } else { 0.0 }),
            );
        }
        if let Some(v) = version_number(&r.version) {
            out.push(
                Family::new("node_systemd_version", Kind::Gauge, "Detected systemd version")
                    .with(vec![label("version", &r.version)], v),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_node_exporter_reads_them() {
        assert_eq!(version_number("252.39-1~deb12u2"), Some(252.39));
        assert_eq!(version_number("257"), Some(257.0));
        assert_eq!(version_number("v12 249.11-0ubuntu3"), Some(249.11));
        assert_eq!(version_number("12"), None);
    }

    #[test]
    fn counts_keep_node_exporters_states() {
        let c = count_states(["active", "active", "failed", "reloading"]);
        assert_eq!(c["active"], 2);
        assert_eq!(c["failed"], 1);
        assert_eq!(c["inactive"], 0);
        assert_eq!(c["reloading"], 1);
        assert_eq!(c.len(), 6);
    }

    /// `launchctl list` as macOS prints it: running jobs, clean exits, failures and a signal.
    #[test]
    fn launchd_jobs() {
        let text = "PID\tStatus\tLabel\n\
            412\t0\tcom.apple.Finder\n\
            -\t0\tcom.apple.mdworker.shared\n\
            -\t78\tcom.example.backup\n\
            -\t-9\tcom.example.killed\n\
            97\t-15\tcom.apple.running.after.signal\n";
        let r = parse_launchctl(text);
        assert_eq!(r.source, "launchd");
        assert_eq!((r.counts["active"], r.counts["inactive"], r.counts["failed"]), (2, 1, 2));
        let failed: Vec<(&str, &str)> =
            r.failed.iter().map(|f| (f.name.as_str(), f.result.as_deref().unwrap_or(""))).collect();
        assert_eq!(failed, [("com.example.backup", "exit code 78"), ("com.example.killed", "signal 9")]);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_usec(0), None);
        assert_eq!(rfc3339_usec(1_733_313_600_000_000).unwrap(), "2024-12-04T12:00:00Z");
    }
}
