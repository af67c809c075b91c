//! Collectors: the host seen as a registry of *families*, each one module that owns its
//! state, writes its part of the snapshot and defines its series.
//!
//! A family is one kind of fact: `cpu`, `memory`, `filesystems`, `network`... Its module
//! holds everything about it: the pure parsers of its kernel files (unit-tested on real,
//! malformed and truncated input), the files it keeps open, the counters it remembers
//! between samples (rates, wrap offsets), its caches, and, behind `cfg`, its macOS variant;
//! its [`Collector`] reads the host once per sample. [`REGISTRY`] lists the families in the
//! order the [`Runner`] calls them; [`Selection`] (`SYSTEM_STATS_COLLECTORS`) says which run.
//!
//! The layout: this file (the trait, the registry, what families start with); the runner's
//! parts, each in a file of its own ([`Runner`], the [`Reading`] a sample builds, the
//! [`Selection`], the statuses); [`shared`], what families share and is not a family (kernel
//! files held open, bounded `statvfs`, the exclusion lists, interface addresses, monotonic
//! counters, the rotation of slow facts, the thread a family polls on); then one file per
//! family.
//!
//! The runner gives every family the [`Reading`] being built. A family writes its own keys
//! of [`Reading::snapshot`] and nothing else; a family that needs another's result reads it
//! from what that one wrote (swap reads the meminfo lines memory wrote, disk reuses the
//! usage filesystems wrote, interfaces fills in the entries network wrote, uptime reads the
//! boot time cpu wrote), never from its internals, names it in its [`Entry::reads`], and
//! does the work itself when that family does not run. A family that fails (an error or a
//! panic) leaves its keys `null`, and its status ([`FamilyStatus`]) is logged when it
//! changes and exported as `system_stats_collector_success{collector="<name>"}`. A family
//! that is not selected is never constructed: it costs nothing and its keys stay `null`.
//!
//! # Adding a family
//! One new file plus one line in [`REGISTRY`]. The smallest real one, [`load`], shows the
//! shape: a `pub const ENTRY: Entry` (name, one-line description, the families it reads,
//! constructor), a struct holding the family's state, `impl Collector` writing its keys and
//! its series, and the pure parser with its tests. Put the entry after the families whose
//! output it reads, add its keys to [`crate::snapshot`], and list the name in
//! `docs/collectors.md`.

use std::path::PathBuf;

pub mod own;
mod reading;
mod runner;
mod selection;
pub mod shared;
mod status;

pub use reading::Reading;
pub use runner::{FORCED_EVERY, Progress, Runner, Status};
pub use selection::{Families, Selection, family_names};
pub use status::{CollectError, FamilyStatus};

pub(crate) mod arp;
pub(crate) mod conntrack;
pub(crate) mod containers;
pub(crate) mod cpu;
pub(crate) mod cpufreq;
pub(crate) mod disk;
pub(crate) mod disk_io;
pub(crate) mod entropy;
pub(crate) mod filefd;
pub(crate) mod filesystems;
pub(crate) mod forwarder;
pub(crate) mod host;
pub(crate) mod interfaces;
pub(crate) mod load;
pub(crate) mod memory;
pub(crate) mod netstat;
pub(crate) mod network;
pub(crate) mod os_update;
pub(crate) mod pressure;
pub(crate) mod processes;
pub(crate) mod raspberry_pi;
pub(crate) mod schedstat;
pub(crate) mod sensors;
pub(crate) mod services;
pub(crate) mod smart;
pub use smart::source::{ReadDrives, ReadDrivesError, read_drives};
pub(crate) mod sockstat;
pub(crate) mod softnet;
pub(crate) mod stat;
pub(crate) mod swap;
pub(crate) mod textfile;
pub(crate) mod time;
pub(crate) mod timex;
pub(crate) mod udp_queues;
pub(crate) mod uptime;
pub(crate) mod vmstat;

/// Every family, in the order they run. A family comes after those whose output it reads
/// (its [`Entry::reads`]).
pub const REGISTRY: &[Entry] = &[
    cpu::ENTRY,
    stat::ENTRY,
    schedstat::ENTRY,
    cpufreq::ENTRY,
    load::ENTRY,
    memory::ENTRY,
    vmstat::ENTRY,
    swap::ENTRY,
    pressure::ENTRY,
    filesystems::ENTRY,
    disk::ENTRY,
    disk_io::ENTRY,
    network::ENTRY,
    interfaces::ENTRY,
    netstat::ENTRY,
    sockstat::ENTRY,
    softnet::ENTRY,
    udp_queues::ENTRY,
    arp::ENTRY,
    conntrack::ENTRY,
    sensors::ENTRY,
    containers::ENTRY,
    raspberry_pi::ENTRY,
    host::ENTRY,
    os_update::ENTRY,
    services::ENTRY,
    smart::ENTRY,
    processes::ENTRY,
    forwarder::ENTRY,
    uptime::ENTRY,
    time::ENTRY,
    timex::ENTRY,
    entropy::ENTRY,
    filefd::ENTRY,
    // last: its files' families must not redefine any other family's series
    textfile::ENTRY,
];

/// The families' snapshot series, picked out of [`REGISTRY`] at compile time: the forwarder
/// (which encodes snapshots spooled before scrapes were) links these functions and not the
/// collectors' constructors, which would bring every collector into its binary (2.4 MB).
type SeriesFn = fn(&crate::snapshot::Snapshot, &mut Vec<crate::metrics::Family>);
const SNAPSHOT_SERIES: [Option<SeriesFn>; REGISTRY.len()] = {
    let mut out: [Option<SeriesFn>; REGISTRY.len()] = [None; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        out[i] = REGISTRY[i].series;
        i += 1;
    }
    out
};

/// Every series of a snapshot: each family's, in registry order, then the service's own
/// ([`own::service_series`]; `collectors` and `samples_total` come from the service's
/// sampler, a snapshot read back has none).
pub fn snapshot_families(
    s: &crate::snapshot::Snapshot,
    collectors: &[Status],
    samples_total: Option<u64>,
) -> Vec<crate::metrics::Family> {
    let mut out = Vec::new();
    for series in SNAPSHOT_SERIES.iter().flatten() {
        series(s, &mut out);
    }
    own::service_series(s, collectors, samples_total, &mut out);
    out.retain(|f| !f.samples.is_empty());
    out
}

/// A family's registration: its name (as in `SYSTEM_STATS_COLLECTORS` and the
/// `collector` label), what it collects, and how to start it.
pub struct Entry {
    pub name: &'static str,
    /// One line for `--help` and `docs/collectors.md`.
    pub about: &'static str,
    /// The families whose output it reads (what they write into the [`Reading`]): they come
    /// before it in [`REGISTRY`] (a test checks it). When one of them does not run, it
    /// reads that source itself.
    pub reads: &'static [&'static str],
    /// The series of its keys of a snapshot (`/metrics` of the service, and what a snapshot
    /// spooled before scrapes pushes); the series it reads beside the snapshot it exports
    /// when it reads them ([`Reading::export`]). Either way the family defines them.
    pub series: Option<SeriesFn>,
    /// Builds the family; `None` when it does not exist on this platform.
    pub start: fn(&Setup) -> Option<Box<dyn Collector>>,
}

/// What reads one family of facts about the host, once per sample: a family's state (its
/// files, previous counters, caches) and its reading of the host.
pub trait Collector: Send {
    /// Reads the host and writes this family's keys into `reading`. On an error the keys it
    /// could not fill stay `null` (compute first, write last); what it could fill may be
    /// written (swap sizes without the swap traffic of an unreadable `/proc/vmstat`).
    fn collect(&mut self, reading: &mut Reading) -> Result<(), CollectError>;

    /// Who reads what it collects: a family whose output only `/metrics` has, or that
    /// costs a read per process, runs only in the samples someone asks for.
    fn read_by(&self) -> ReadBy {
        ReadBy::EverySample
    }
}

/// When a family runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBy {
    /// Every sample: the live page's history and the next sample's rates need it.
    EverySample,
    /// In the samples `/metrics` asks for: its series are nowhere else (node_exporter reads
    /// them at each scrape; so do we, once per sample however many scrapes come).
    Metrics,
    /// In the samples `/system`, `/metrics` or the live page asks for.
    Readers,
}

/// What the readers of a sample asked of it: the families it runs beside the
/// [`ReadBy::EverySample`] ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    /// `/metrics` was asked for.
    pub metrics: bool,
    /// `/system`, `/events` or `/history` was.
    pub snapshot: bool,
}

impl Asked {
    /// Every family runs.
    pub const ALL: Asked = Asked { metrics: true, snapshot: true };
    pub const METRICS: Asked = Asked { metrics: true, snapshot: false };
    pub const SNAPSHOT: Asked = Asked { metrics: false, snapshot: true };

    pub fn runs(self, by: ReadBy) -> bool {
        match by {
            ReadBy::EverySample => true,
            ReadBy::Metrics => self.metrics,
            ReadBy::Readers => self.metrics || self.snapshot,
        }
    }

    /// What a sample read for both has.
    pub fn and(self, other: Asked) -> Asked {
        Asked { metrics: self.metrics || other.metrics, snapshot: self.snapshot || other.snapshot }
    }

    /// Whether a sample read for `self` has everything a reader who needs `need` wants.
    pub fn covers(self, need: Asked) -> bool {
        (self.metrics || !need.metrics) && (self.snapshot || self.metrics || !need.snapshot)
    }
}

/// `start` of a family that does not exist on this platform (one of node_exporter's Linux
/// collectors on macOS): it is named in `SYSTEM_STATS_COLLECTORS` everywhere, and logged as not
/// available where it does not run.
pub fn absent(_: &Setup) -> Option<Box<dyn Collector>> {
    None
}

/// What families are started with: where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// Where procfs is (`SYSTEM_STATS_PROCFS`, Linux).
    pub procfs: PathBuf,
    /// Where sysfs is (`SYSTEM_STATS_SYSFS`, Linux).
    pub sysfs: PathBuf,
    /// The path whose filesystem `disk` reports (`SYSTEM_STATS_DISK_PATH`).
    pub disk_path: PathBuf,
    /// How often `os_update` checks, and `containers` asks the registry about an image
    /// (`SYSTEM_STATS_UPDATE_CHECK_INTERVAL`); `None`: never.
    pub update_check_interval: Option<std::time::Duration>,
    /// How long one check may take (`SYSTEM_STATS_UPDATE_CHECK_TIMEOUT`).
    pub update_check_timeout: std::time::Duration,
    /// How long after the start the first check waits (`SYSTEM_STATS_UPDATE_CHECK_DELAY`).
    pub update_check_delay: std::time::Duration,
    /// The container engine's socket (`SYSTEM_STATS_DOCKER_HOST`).
    pub docker_host: String,
    /// `SYSTEM_STATS_SAMPLE_INTERVAL`.
    pub sample_interval: std::time::Duration,
    /// The mounts, disks and interfaces the lists leave out (`SYSTEM_STATS_*_EXCLUDE`).
    pub exclude: shared::exclude::Exclusions,
    /// The units without per-unit series (`SYSTEM_STATS_SERVICES_EXCLUDE`, anchored).
    pub units_exclude: Option<shared::exclude::Pattern>,
    /// How many processes the top lists hold (`SYSTEM_STATS_TOP_PROCESSES`; 0: none).
    pub top_processes: usize,
    /// Where the forwarder's own metrics are (`SYSTEM_STATS_FORWARDER_URL`), and the token
    /// to send them (the service's).
    pub forwarder_url: Option<String>,
    pub forwarder_token: Option<String>,
    /// The directory of `*.prom` files `textfile` serves (`SYSTEM_STATS_TEXTFILE_DIRECTORY`).
    pub textfile_directory: Option<PathBuf>,
    /// The smartctl program `smart` runs: a name looked up in `PATH`, or a path
    /// (`SYSTEM_STATS_SMARTCTL`).
    pub smartctl: String,
    /// How often `smart` reads each drive and looks for drives (`SYSTEM_STATS_SMART_INTERVAL`);
    /// `None`: once, at the start.
    pub smart_interval: Option<std::time::Duration>,
    /// How long one smartctl run may take (`SYSTEM_STATS_SMART_TIMEOUT`).
    pub smart_timeout: std::time::Duration,
    /// Where `--read-drives` writes smartctl's outputs, read instead of running smartctl
    /// (`SYSTEM_STATS_SMART_DIRECTORY`).
    pub smart_directory: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A family comes after every family whose output it reads.
    #[test]
    fn a_family_runs_after_those_it_reads() {
        let at = |name: &str| REGISTRY.iter().position(|e| e.name == name);
        for (i, e) in REGISTRY.iter().enumerate() {
            for dep in e.reads {
                let d = at(dep).unwrap_or_else(|| panic!("{} reads {dep}, which is not a family", e.name));
                assert!(d < i, "{} reads {dep}, which runs after it", e.name);
            }
        }
        assert!(REGISTRY.iter().map(|e| e.reads.len()).sum::<usize>() >= 9);
    }

    /// Every family's name is unique and usable as a label value and in a comma list.
    #[test]
    fn registry_names_are_unique_and_plain() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|e| e.name).collect();
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')), "{names:?}");
        names.sort();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
    }

    #[test]
    fn what_a_sample_covers() {
        assert!(Asked::ALL.covers(Asked::METRICS) && Asked::ALL.covers(Asked::SNAPSHOT));
        assert!(Asked::METRICS.covers(Asked::SNAPSHOT));
        assert!(!Asked::SNAPSHOT.covers(Asked::METRICS));
        assert!(!Asked::default().covers(Asked::SNAPSHOT));
        assert!(Asked::default().covers(Asked::default()));
        assert!(Asked::default().runs(ReadBy::EverySample) && !Asked::default().runs(ReadBy::Readers));
        assert!(Asked::SNAPSHOT.runs(ReadBy::Readers) && !Asked::SNAPSHOT.runs(ReadBy::Metrics));
        assert_eq!(Asked::SNAPSHOT.and(Asked::METRICS), Asked::ALL);
    }
}
