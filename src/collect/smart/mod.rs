//! `smart`: each drive's health from its own SMART data, read through smartmontools'
//! `smartctl --json` (7.0 and later; the same program and JSON on macOS), never on the
//! sampler's path.
//!
//! A thread of its own finds the drives (`smartctl --scan-open`) at the start and again every
//! `SYSTEM_STATS_SMART_INTERVAL` (10 min by default); each drive is read on a thread of its own
//! at that interval, the first time at once. Why 10 minutes: SMART attributes move over days
//! (smartd checks every 30 min by default), while a drive's temperature and a new pending
//! sector are worth knowing within minutes; each reading costs a process and a few commands
//! to the drive (a USB bridge may take seconds). A reading that does not end within
//! `SYSTEM_STATS_SMART_TIMEOUT` is stopped. A drive in standby is not woken
//! (`--nocheck=standby`): it is reported `asleep`, with what it said when last awake.
//!
//! `/system`'s `disk_health` lists the drives with a verdict (see [`parse::verdict`]);
//! `/metrics` has smartctl_exporter's series with its names, labels and values, so its
//! dashboards and rules work unchanged. Without smartctl the family says so once and
//! `disk_health` is `null`; a drive smartctl cannot read (a virtual disk, no permission) is
//! listed with its verdict `unknown` and why, said once in the log.

pub(crate) mod parse;
pub(crate) mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::shared::poller::{Change, Poller, change};
use super::shared::program;
use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::metrics::{self, Family, Kind, label};
use crate::snapshot::DiskHealth;
use crate::sync::Locked;
use source::Source;

pub(crate) const ENTRY: Entry = Entry {
    name: "smart",
    about: "drive health from SMART and NVMe logs (smartctl --json), each drive read in the background",
    reads: &[],
    series: None,
    start: |setup| Some(Box::new(Smart::new(setup))),
};

/// What smartctl is asked of a drive: its identity, health, attributes, error and self-test
/// logs (the exporter's reading plus the self-test log), without waking it.
const READ: [&str; 9] = [
    "--json=c",
    "--info",
    "--health",
    "--attributes",
    "--log=error",
    "--log=selftest",
    "--tolerance=verypermissive",
    "--nocheck=standby",
    "--format=brief",
];

/// A drive `smartctl --scan-open` found: its path and device type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Found {
    pub path: String,
    pub kind: String,
}

/// `smartctl --json --scan-open`: the drives it could open (one it could not is listed with
/// an `open_error`, and read anyway: the reading says why it fails).
pub(crate) fn parse_scan(json: &Value) -> Vec<Found> {
    let mut found: Vec<Found> = json["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let path = d["name"].as_str()?.to_string();
            let kind = d["type"].as_str().unwrap_or("auto").to_string();
            Some(Found { path, kind })
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The drives found, and what smartctl says of itself.
#[derive(Debug, Default)]
struct Scan {
    /// Counts the changes of `found`.
    generation: u64,
    found: Vec<Found>,
    /// The scan's JSON `smartctl` object and format version (`smartctl_version`).
    version: Option<Arc<Value>>,
    said: Option<String>,
    /// A directory of readings that holds none yet: `disk_health` is `null`, as without
    /// smartctl.
    absent: bool,
}

/// One drive's latest reading.
#[derive(Debug, Default)]
struct Drive {
    /// Counts the readings.
    version: u64,
    health: Option<DiskHealth>,
    /// What its series come from: smartctl's compact JSON of the last reading of the drive
    /// awake, parsed when `/metrics` is rendered (a parsed tree is ten times its text).
    json: Option<Arc<str>>,
    said: Option<String>,
    verdict_said: Option<String>,
    /// Its files when last read from a directory.
    stamp: Option<source::Stamp>,
}

/// The smartctl the settings name: a path as it is, a name looked up in `PATH`.
fn program_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') { Some(PathBuf::from(name)) } else { program::which(name) }
}

/// A time as `checked_at` says it: RFC 3339, to the second, in UTC.
fn rfc3339(at: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// How often a directory of readings is looked at (or every `SYSTEM_STATS_SMART_INTERVAL` if
/// shorter): a stat of each drive's files, read again only when they changed.
const DIRECTORY_POLL: Duration = Duration::from_secs(30);

/// Reads `found` once: its health, and the JSON to keep for its series. From a directory,
/// only when its files changed (or the reading became too old).
fn read_drive(source: &Source, found: &Found, timeout: Duration, state: &Mutex<Drive>) {
    let stamp = source.stamp(found);
    if let Some(files) = stamp {
        let d = state.locked();
        // unchanged files: nothing new to read. And the reader writes a drive's files before
        // the scan that lists it, and removes them after the scan that no longer does: a
        // listed drive without files is one the next scan drops. What it said last stays
        // until then, and nothing is said of it.
        if Some(files) == d.stamp || (matches!(files, (None, None, _)) && d.health.is_some()) {
            return;
        }
    }
    let outcome = source.read(found, timeout);
    let mut d = state.locked();
    d.stamp = stamp;
    d.version += 1;
    let (health, error) = match outcome {
        Ok(source::Output { json, text, at }) => {
            let h = parse::health(&found.path, &found.kind, &json, rfc3339(at));
            if h.verdict == "asleep" {
                // what it said awake stays; the verdict says it sleeps
                let mut kept =
                    d.health.take().filter(|h| h.verdict != "unknown" && h.verdict != "asleep").unwrap_or_default();
                if kept.device.is_empty() {
                    kept = h.clone();
                } else {
                    kept.reasons.insert(0, h.reasons[0].clone());
                    kept.verdict = h.verdict.clone();
                    kept.smartctl_exit_status = h.smartctl_exit_status;
                    kept.smartctl_exit_bits = h.smartctl_exit_bits.clone();
                    kept.checked_at = h.checked_at.clone();
                }
                (kept, None)
            } else {
                let error = h.error.clone();
                if error.is_none() {
                    d.json = Some(Arc::from(text.trim()));
                }
                (h, error)
            }
        }
        Err(e) => {
            let h = DiskHealth {
                device: parse::device_label(&found.path, &found.kind),
                path: found.path.clone(),
                kind: found.kind.clone(),
                verdict: "unknown".into(),
                checked_at: Some(rfc3339(std::time::SystemTime::now())),
                error: Some(e.clone()),
                ..DiskHealth::default()
            };
            (h, Some(e))
        }
    };
    match change(&mut d.said, error.as_deref()) {
        Some(Change::Failed(e)) => tracing::warn!("drive {} cannot be read: {e}", found.path),
        Some(Change::Recovered(_)) => tracing::info!("drive {} can be read again", found.path),
        None => {}
    }
    // said when it changes; a drive that sleeps between readings says nothing new on waking
    let verdict = format!("{}: {}", health.verdict, health.reasons.join("; "));
    if d.verdict_said.as_deref() != Some(verdict.as_str()) && error.is_none() && health.verdict != "asleep" {
        match health.verdict.as_str() {
            "failing" => tracing::error!("drive {} is failing: {}", found.path, health.reasons.join("; ")),
            "warning" => tracing::warn!("drive {}: {}", found.path, health.reasons.join("; ")),
            "healthy" if d.verdict_said.is_some() => tracing::info!("drive {} is healthy", found.path),
            _ => {}
        }
        d.verdict_said = Some(verdict);
    }
    d.health = Some(health);
}

/// One scan for drives.
fn scan(source: &Source, timeout: Duration, state: &Mutex<Scan>) {
    let outcome = source.scan(timeout);
    let mut s = state.locked();
    match outcome {
        Ok(None) => {
            if !s.absent
                && let Source::Directory { dir, .. } = source
            {
                tracing::info!(
                    "no drive readings in {} yet (`system-stats-service --read-drives {}` writes them, run by \
                     system-stats-smart.timer where smartmontools is installed): drive health is not read",
                    dir.display(),
                    dir.display()
                );
            }
            s.absent = true;
        }
        Ok(Some(source::Output { json, .. })) => {
            if s.absent {
                tracing::info!("drive readings have appeared");
                s.absent = false;
            }
            let found = parse_scan(&json);
            if found != s.found || s.generation == 0 {
                if found.is_empty() {
                    tracing::info!("smartctl --scan-open found no drive it can read (virtual disks have no SMART)");
                } else {
                    let names: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
                    tracing::info!("drives smartctl reads: {}", names.join(", "));
                }
                s.generation += 1;
                s.found = found;
            }
            let mut version = serde_json::Map::new();
            version.insert("smartctl".into(), json["smartctl"].clone());
            version.insert("json_format_version".into(), json["json_format_version"].clone());
            s.version = Some(Arc::new(Value::Object(version)));
            if let Some(Change::Recovered(_)) = change(&mut s.said, None) {
                tracing::info!("smartctl --scan-open works again");
            }
        }
        Err(e) => {
            if let Some(Change::Failed(e)) = change(&mut s.said, Some(&e)) {
                tracing::warn!("looking for drives: {e}");
            }
        }
    }
}

/// A drive being read, and the reading last published.
struct Watched {
    poller: Poller<Drive>,
    seen: u64,
}

pub(crate) struct Smart {
    /// `None` without smartctl (or a directory of its readings).
    source: Option<Source>,
    /// How long until each drive, and the scan, is read again.
    every: Duration,
    timeout: Duration,
    scan: Option<Poller<Scan>>,
    generation: u64,
    drives: BTreeMap<Found, Watched>,
    /// What the last sample published, rebuilt when a reading changes it.
    list: Arc<[DiskHealth]>,
    series: Arc<Series>,
}

impl Smart {
    fn new(setup: &Setup) -> Smart {
        let interval = setup.smart_interval;
        let (source, every) = match &setup.smart_directory {
            // the reader writes every interval; three missed is stale
            Some(dir) => {
                let stale = interval.map(|i| i.saturating_mul(3));
                let poll = interval.map_or(DIRECTORY_POLL, |i| i.min(DIRECTORY_POLL));
                (Some(Source::Directory { dir: dir.clone(), stale }), poll)
            }
            None => {
                let program = program_path(&setup.smartctl);
                if program.is_none() {
                    tracing::info!(
                        "{} is not installed (install smartmontools, or set SYSTEM_STATS_SMARTCTL): drive health is \
                         not read",
                        setup.smartctl
                    );
                }
                (program.map(Source::Program), interval.unwrap_or(Duration::MAX))
            }
        };
        let timeout = setup.smart_timeout;
        let mut smart = Smart {
            source: source.clone(),
            every,
            timeout,
            scan: None,
            generation: 0,
            drives: BTreeMap::new(),
            list: Arc::from(Vec::new()),
            series: Arc::new(Series::default()),
        };
        let Some(source) = source else {
            return smart;
        };
        let make = move || {
            move |state: &Mutex<Scan>| {
                scan(&source, timeout, state);
                every
            }
        };
        smart.scan =
            Some(Poller::start("smart-scan", Scan::default(), (Duration::ZERO, Duration::ZERO), make, |s, e| {
                s.said = Some(format!("no thread to look for drives: {e}"));
            }));
        smart
    }

    /// Starts reading the drives found since the last sample, stops those gone.
    fn follow(&mut self, found: &[Found]) {
        self.drives.retain(|f, _| found.contains(f));
        let Some(source) = &self.source else {
            return;
        };
        for f in found {
            if self.drives.contains_key(f) {
                continue;
            }
            let (source, drive, timeout, every) = (source.clone(), f.clone(), self.timeout, self.every);
            let make = move || {
                move |state: &Mutex<Drive>| {
                    read_drive(&source, &drive, timeout, state);
                    every
                }
            };
            let name = format!("smart-{}", f.path.rsplit('/').next().unwrap_or("drive"));
            let poller = Poller::start(&name, Drive::default(), (Duration::ZERO, Duration::ZERO), make, |d, e| {
                d.said = Some(format!("no thread to read the drive: {e}"));
            });
            self.drives.insert(f.clone(), Watched { poller, seen: 0 });
        }
    }
}

impl Collector for Smart {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let Some(scan) = &self.scan else {
            return Ok(());
        };
        let (generation, found, version, absent) = {
            let s = scan.latest();
            (s.generation, (s.generation != self.generation).then(|| s.found.clone()), s.version.clone(), s.absent)
        };
        if absent {
            return Ok(());
        }
        let mut changed = false;
        if let Some(found) = found {
            self.generation = generation;
            self.follow(&found);
            changed = true;
        }
        for w in self.drives.values_mut() {
            let v = w.poller.latest().version;
            changed |= v != w.seen;
            w.seen = v;
        }
        if changed || version.is_some() != self.series.version.is_some() {
            let mut list = Vec::with_capacity(self.drives.len());
            let mut drives = Vec::with_capacity(self.drives.len());
            for (f, w) in &self.drives {
                let d = w.poller.latest();
                if let Some(h) = &d.health {
                    list.push(h.clone());
                }
                if let Some(json) = &d.json {
                    drives.push((f.clone(), Arc::clone(json)));
                }
            }
            self.list = Arc::from(list);
            self.series = Arc::new(Series { version, devices: self.drives.len(), drives });
        }
        r.snapshot.disk_health = Some(Arc::clone(&self.list));
        r.export(Shared(Arc::clone(&self.series)));
        Ok(())
    }
}

/// The JSON of each drive read awake, and smartctl's own: turned into series when scraped.
#[derive(Debug, Default)]
struct Series {
    version: Option<Arc<Value>>,
    /// How many drives the scan found.
    devices: usize,
    drives: Vec<(Found, Arc<str>)>,
}

#[derive(Debug)]
struct Shared(Arc<Series>);

impl metrics::Export for Shared {
    fn families(&self, out: &mut Vec<Family>) {
        let s = &*self.0;
        if let Some(v) = &s.version {
            let pair = |v: &Value| {
                let n = |i: usize| v[i].as_i64().unwrap_or(0);
                format!("{}.{}", n(0), n(1))
            };
            let text = |v: &Value| v.as_str().unwrap_or("").to_string();
            out.push(Family::new("smartctl_version", Kind::Gauge, "smartctl version").with(
                vec![
                    label("json_format_version", pair(&v["json_format_version"])),
                    label("smartctl_version", pair(&v["smartctl"]["version"])),
                    label("svn_revision", text(&v["smartctl"]["svn_revision"])),
                    label("build_info", text(&v["smartctl"]["build_info"])),
                ],
                1.0,
            ));
            out.push(
                Family::new("smartctl_devices", Kind::Gauge, "Number of devices configured or dynamically discovered")
                    .with(vec![], s.devices as f64),
            );
        }
        let mut f = parse::Families::new();
        for (found, text) in &s.drives {
            if let Ok(json) = serde_json::from_str::<Value>(text) {
                f.drive(&json, &found.path, &found.kind);
            }
        }
        out.extend(f.device.into_iter().filter(|f| !f.samples.is_empty()));
    }
}

#[cfg(test)]
mod tests;
