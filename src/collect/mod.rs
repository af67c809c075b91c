//! Collectors: the host seen as a registry of *families*, each one module that owns its
//! state and writes its part of the snapshot.
//!
//! A family ([`Family`]) is one kind of fact: `cpu`, `memory`, `filesystems`, `network`...
//! Its module holds everything about it: the pure parsers of its kernel files (unit-tested
//! on real, malformed and truncated input), the files it keeps open, the counters it
//! remembers between samples (rates, wrap offsets), its caches, and, behind `cfg`, its
//! macOS variant. [`REGISTRY`] lists the families in the order the [`Runner`] calls them;
//! [`Selection`] (`SYSTEM_STATS_COLLECTORS`) says which run.
//!
//! The runner gives every family the [`Reading`] being built. A family writes its own keys
//! of [`Reading::snapshot`] and nothing else; a family that needs another's result reads it
//! from what that one wrote (swap reads the meminfo lines memory wrote, disk reuses the
//! usage filesystems wrote, interfaces fills in the entries network wrote, uptime reads the
//! boot time cpu wrote), never from its internals, and does the work itself when that
//! family does not run. A family that fails (an error or a panic) leaves its keys `null`,
//! and its status ([`FamilyStatus`]) is logged when it changes and exported as
//! `system_stats_collector_success{collector="<name>"}`. A family that is not selected is
//! never constructed: it costs nothing and its keys stay `null`.
//!
//! # Adding a family
//! One new file plus one line in [`REGISTRY`]. The smallest real one, [`load`], shows the
//! shape: a `pub const ENTRY: Entry` (name, one-line description, constructor), a struct
//! holding the family's state, `impl Family` writing its keys, and the pure parser with its
//! tests. Put the entry after the families whose output it reads, add its keys to
//! [`crate::snapshot`], and list the name in `docs/collectors.md`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::snapshot::Snapshot;

pub mod exclude;
pub mod files;
pub mod fs;
pub mod ifaddrs;

pub mod arp;
pub mod conntrack;
pub mod containers;
pub mod cpu;
pub mod cpufreq;
pub mod disk;
pub mod disk_io;
pub mod entropy;
pub mod filefd;
pub mod filesystems;
pub mod forwarder;
pub mod host;
pub mod interfaces;
pub mod load;
pub mod memory;
pub mod netstat;
pub mod network;
pub mod os_update;
pub mod pressure;
pub mod processes;
pub mod raspberry_pi;
pub mod schedstat;
pub mod sensors;
pub mod services;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod swap;
pub mod textfile;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uptime;
pub mod vmstat;

/// Every family, in the order they run. A family comes after those whose output it reads.
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

/// A family's registration: its name (as in `SYSTEM_STATS_COLLECTORS` and the
/// `collector` label), what it collects, and how to start it.
pub struct Entry {
    pub name: &'static str,
    /// One line for `--help` and `docs/collectors.md`.
    pub about: &'static str,
    /// Builds the family; `None` when it does not exist on this platform.
    pub start: fn(&Setup) -> Option<Box<dyn Family>>,
}

/// One kind of fact about the host, collected once per sample.
pub trait Family: Send {
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
pub fn absent(_: &Setup) -> Option<Box<dyn Family>> {
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
    pub exclude: exclude::Exclusions,
    /// The units without per-unit series (`SYSTEM_STATS_SERVICES_EXCLUDE`, anchored).
    pub units_exclude: Option<exclude::Pattern>,
    /// How many processes the top lists hold (`SYSTEM_STATS_TOP_PROCESSES`; 0: none).
    pub top_processes: usize,
    /// Where the forwarder's own metrics are (`SYSTEM_STATS_FORWARDER_URL`), and the token
    /// to send them (the service's).
    pub forwarder_url: Option<String>,
    pub forwarder_token: Option<String>,
    /// The directory of `*.prom` files `textfile` serves (`SYSTEM_STATS_TEXTFILE_DIRECTORY`).
    pub textfile_directory: Option<PathBuf>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            disk_path: "/".into(),
            update_check_interval: Some(std::time::Duration::from_secs(6 * 3600)),
            update_check_timeout: std::time::Duration::from_secs(120),
            update_check_delay: std::time::Duration::from_secs(60),
            docker_host: "unix:///var/run/docker.sock".into(),
            sample_interval: std::time::Duration::from_secs(1),
            exclude: Default::default(),
            units_exclude: exclude::Pattern::parse_anchored(services::UNITS_EXCLUDE).ok().flatten(),
            top_processes: 10,
            forwarder_url: None,
            forwarder_token: None,
            textfile_directory: None,
        }
    }
}

/// One sample being built: the snapshot the families fill in, and the facts they pass on.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Monotonic time of the sample: families measure their rates between two of these.
    pub at: Instant,
    /// Wall-clock time of the sample (`collected_at`, uptime).
    pub wall: SystemTime,
    pub snapshot: Snapshot,
    /// Boot time, Unix seconds: written by `cpu` (`btime`), read by `uptime`.
    pub boot_time: Option<u64>,
    /// The counters of `/proc/stat` beside the CPU times, written by `cpu`, read by `stat`.
    pub proc_stat: Option<cpu::Counters>,
    /// `pswpin` and `pswpout` of `/proc/vmstat` (pages), written by `vmstat`, read by `swap`.
    pub swapped_pages: Option<(u64, u64)>,
    /// Series for `/metrics` only, pushed by the families that have them ([`Reading::export`]).
    pub exported: Vec<std::sync::Arc<dyn crate::metrics::Export>>,
}

impl Reading {
    pub fn new(at: Instant, wall: SystemTime) -> Reading {
        Reading {
            at,
            wall,
            snapshot: Snapshot::default(),
            boot_time: None,
            proc_stat: None,
            swapped_pages: None,
            exported: Vec::new(),
        }
    }

    /// Adds a family's `/metrics`-only series to this sample (rendered when scraped).
    pub fn export(&mut self, series: impl crate::metrics::Export + 'static) {
        self.exported.push(std::sync::Arc::new(series));
    }
}

/// What went wrong in one family.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A file was read but does not have the expected format.
    #[error("{}: {msg}", path.display())]
    Parse { path: PathBuf, msg: String },
    /// A system call about `target` failed (`statvfs /`, `ioctl eth0`, `getifaddrs`).
    #[error("{call}{}{target}: {source}", if target.is_empty() { "" } else { " " })]
    Sys { call: &'static str, target: String, source: std::io::Error },
    /// A call that waits on something else (a network filesystem's server) did not return.
    #[error("{call} {target}: {why}")]
    Stuck { call: &'static str, target: String, why: String },
    /// What the family needs is not there (no cpufreq policy reports a frequency; the
    /// platform library could not be initialised).
    #[error("{0}")]
    Missing(String),
    /// The family panicked: a bug. The message is the panic's.
    #[error("panicked: {0}")]
    Panicked(String),
}

impl CollectError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        CollectError::Io { path: path.to_path_buf(), source }
    }
    pub fn parse(path: &Path, msg: impl Into<String>) -> Self {
        CollectError::Parse { path: path.to_path_buf(), msg: msg.into() }
    }
    pub fn sys(call: &'static str, target: impl std::fmt::Display, source: std::io::Error) -> Self {
        CollectError::Sys { call, target: target.to_string(), source }
    }
    /// Whether this is a file (or path) that does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            CollectError::Io { source, .. } | CollectError::Sys { source, .. } => {
                source.kind() == std::io::ErrorKind::NotFound
            }
            _ => false,
        }
    }
}

/// The health of one family across samples: logs when it starts failing (or fails
/// differently) and when it recovers, never once per sample.
#[derive(Debug)]
pub struct FamilyStatus {
    name: &'static str,
    failing: Option<String>,
}

impl FamilyStatus {
    pub fn new(name: &'static str) -> Self {
        FamilyStatus { name, failing: None }
    }

    /// The family's name, e.g. `memory`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The current error, if the last sample of this family failed.
    pub fn error(&self) -> Option<&str> {
        self.failing.as_deref()
    }

    /// Records how this sample went.
    pub fn record(&mut self, result: Result<(), CollectError>) {
        match result {
            Ok(()) => {
                if let Some(previous) = self.failing.take() {
                    tracing::info!(collector = self.name, was = %previous, "collector recovered");
                }
            }
            Err(err) => {
                let msg = err.to_string();
                if self.failing.as_deref() != Some(msg.as_str()) {
                    tracing::error!(
                        collector = self.name,
                        error = %msg,
                        "collector failed; its fields are null until it recovers"
                    );
                    self.failing = Some(msg);
                }
            }
        }
    }
}

/// Which families run: `SYSTEM_STATS_COLLECTORS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    names: Vec<&'static str>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { names: REGISTRY.iter().map(|e| e.name).collect() }
    }
}

/// Every family name, comma-separated, in registry order.
pub fn family_names() -> String {
    REGISTRY.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

impl Selection {
    /// Parses `all` (every family), a comma list of names (`cpu,memory`), or `all` followed
    /// by `-name` entries (`all,-filesystems,-sensors`; a list of only `-name` entries means
    /// the same). The error says what is accepted and which name is wrong.
    pub fn parse(text: &str) -> Result<Selection, String> {
        let expected = || {
            format!(
                "a comma list of collectors ({}), or all followed by -name entries to leave some out \
                 (e.g. all,-filesystems,-sensors)",
                family_names()
            )
        };
        let lookup = |name: &str| {
            REGISTRY
                .iter()
                .map(|e| e.name)
                .find(|n| *n == name)
                .ok_or_else(|| format!("{}; {name:?} is not one", expected()))
        };
        let entries: Vec<&str> = text.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
        if entries.is_empty() {
            return Err(expected());
        }
        let (start_all, rest) = match entries.split_first() {
            Some((&"all", rest)) => (true, rest),
            _ => (entries.iter().all(|e| e.starts_with('-')), &entries[..]),
        };
        let mut chosen: Vec<&'static str> = if start_all { REGISTRY.iter().map(|e| e.name).collect() } else { vec![] };
        for e in rest {
            match (start_all, e.strip_prefix('-')) {
                (true, Some(name)) => {
                    let name = lookup(name)?;
                    chosen.retain(|n| *n != name);
                }
                (false, None) => {
                    let name = lookup(e)?;
                    if !chosen.contains(&name) {
                        chosen.push(name);
                    }
                }
                (true, None) if *e == "all" => {}
                (true, None) => {
                    return Err(format!("{}; after all, only -name entries make sense, not {e:?}", expected()));
                }
                (false, Some(_)) => {
                    return Err(format!("{}; {e:?} needs all first (all,{e})", expected()));
                }
            }
        }
        Ok(Selection { names: chosen })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(&name)
    }

    /// Leaves a collector out.
    pub fn remove(&mut self, name: &str) {
        self.names.retain(|n| *n != name);
    }

    /// The selected names, in registry order.
    pub fn names(&self) -> Vec<&'static str> {
        REGISTRY.iter().map(|e| e.name).filter(|n| self.contains(n)).collect()
    }
}

struct Slot {
    family: Box<dyn Family>,
    status: FamilyStatus,
    /// How long its last sample took.
    took: std::time::Duration,
}

/// How one family came out of the last sample: its error, if it failed, and how long it
/// took (node_exporter's `node_scrape_collector_success` and `_duration_seconds`).
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub name: &'static str,
    pub error: Option<String>,
    pub seconds: f64,
}

/// The family running now and since when (`None` between samples): what `/health` names
/// when the sampler is stuck.
pub type Progress = std::sync::Arc<std::sync::Mutex<Option<(&'static str, Instant)>>>;

/// Runs the selected families in registry order, one sample at a time, each isolated from
/// the others' failures and panics.
pub struct Runner {
    slots: Vec<Slot>,
    previous: Option<Instant>,
    progress: Progress,
    /// What the last sample's families left for others beside the snapshot, for a
    /// [`Runner::top_up`] of it.
    left: Left,
}

/// A sample's results that families read from each other and that are not in its snapshot.
#[derive(Debug, Clone, Copy, Default)]
struct Left {
    boot_time: Option<u64>,
    proc_stat: Option<cpu::Counters>,
    swapped_pages: Option<(u64, u64)>,
}

impl Runner {
    /// Starts every selected family that exists on this platform.
    pub fn new(setup: &Setup, selection: &Selection) -> Runner {
        install_panic_hook();
        let mut slots = Vec::new();
        for entry in REGISTRY.iter().filter(|e| selection.contains(e.name)) {
            match (entry.start)(setup) {
                Some(family) => {
                    slots.push(Slot { family, status: FamilyStatus::new(entry.name), took: Default::default() })
                }
                None => tracing::info!(collector = entry.name, "not available on this platform"),
            }
        }
        Runner { slots, previous: None, progress: Progress::default(), left: Left::default() }
    }

    /// Which family runs now, for whoever watches the sampler.
    pub fn progress(&self) -> Progress {
        std::sync::Arc::clone(&self.progress)
    }

    /// One sample: every family in order, then the sample's time and interval.
    pub fn read(&mut self) -> Reading {
        self.read_for(Asked::ALL)
    }

    /// One sample with the families `asked` wants (the others are left out of it, their
    /// keys `null` and their series absent), in order.
    pub fn read_for(&mut self, asked: Asked) -> Reading {
        let mut reading = Reading::new(Instant::now(), SystemTime::now());
        self.run(&mut reading, |by| asked.runs(by));
        let s = &mut reading.snapshot;
        s.collected_at = DateTime::<Utc>::from(reading.wall).to_rfc3339_opts(SecondsFormat::Micros, false);
        if let Some(previous) = self.previous {
            let dt = reading.at.saturating_duration_since(previous).as_secs_f64();
            s.throughput.interval_seconds = Some((dt * 1000.0).round() / 1000.0);
        }
        self.previous = Some(reading.at);
        self.left =
            Left { boot_time: reading.boot_time, proc_stat: reading.proc_stat, swapped_pages: reading.swapped_pages };
        reading
    }

    /// The last sample (`snapshot` and `exported`, read for `had`) completed with the
    /// families `asked` runs and `had` did not: the others' figures and rates stay those of
    /// that sample (its time, its interval), which a reader waking the sampler a few
    /// milliseconds after it would otherwise get over those few milliseconds.
    pub fn top_up(
        &mut self,
        snapshot: &Snapshot,
        exported: &[std::sync::Arc<dyn crate::metrics::Export>],
        had: Asked,
        asked: Asked,
    ) -> Reading {
        let mut reading = Reading::new(Instant::now(), SystemTime::now());
        reading.snapshot = snapshot.clone();
        reading.exported = exported.to_vec();
        let Left { boot_time, proc_stat, swapped_pages } = self.left;
        (reading.boot_time, reading.proc_stat, reading.swapped_pages) = (boot_time, proc_stat, swapped_pages);
        self.run(&mut reading, |by| asked.runs(by) && !had.runs(by));
        reading
    }

    /// Runs the families `runs` selects by what reads them, in order, into `reading`.
    fn run(&mut self, reading: &mut Reading, runs: impl Fn(ReadBy) -> bool) {
        for slot in &mut self.slots {
            if !runs(slot.family.read_by()) {
                continue;
            }
            let started = Instant::now();
            *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = Some((slot.status.name(), started));
            let family = &mut slot.family;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                IN_FAMILY.with(|f| f.set(true));
                let r = family.collect(reading);
                IN_FAMILY.with(|f| f.set(false));
                r
            }))
            .unwrap_or_else(|payload| {
                IN_FAMILY.with(|f| f.set(false));
                Err(CollectError::Panicked(panic_message(payload.as_ref())))
            });
            slot.status.record(result);
            slot.took = started.elapsed();
        }
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Each running family: its error, if its last sample failed, and how long it took.
    pub fn statuses(&self) -> Vec<Status> {
        self.slots
            .iter()
            .map(|s| Status {
                name: s.status.name(),
                error: s.status.error().map(str::to_string),
                seconds: s.took.as_secs_f64(),
            })
            .collect()
    }
}

thread_local! {
    /// Set while a family runs: its panics are reported through its status, not printed.
    static IN_FAMILY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A panic inside a family is a bug worth one log line through its status (which says it
/// once, not every sample); the default hook would print it to standard error every sample.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_FAMILY.with(std::cell::Cell::get) {
                default(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// A map looked up hundreds of times a sample (files, devices, links by name): foldhash
/// (already in the tree through serde_json's index map) instead of SipHash, seeded per
/// process. The keys are kernel paths and device names, which only root can choose.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Per-device cumulative counters made monotonic, psutil's `wrap_numbers` plus what psutil
/// lacks for totals: when a counter goes down (a 32-bit `unsigned long` of an armv7 kernel
/// wrapping at 4 GiB, a device removed and created again), the value it had is added to an
/// offset kept for that device and field, so its counter keeps growing. A device that
/// disappears keeps its last value in the totals (psutil's total would drop by it, and every
/// container whose veth goes away would make the network total fall); if it comes back its
/// counters continue from there. To bound memory, the [`MAX_DEPARTED`] most recently seen
/// departed devices are remembered; older ones are folded into a constant part of the totals.
#[derive(Debug)]
pub struct NoWrap<const N: usize> {
    devices: FastMap<Box<str>, Device<N>>,
    /// The last values of departed devices that are no longer remembered one by one.
    retired: [u64; N],
    generation: u64,
}

impl<const N: usize> Default for NoWrap<N> {
    fn default() -> Self {
        NoWrap { devices: FastMap::default(), retired: [0; N], generation: 0 }
    }
}

/// Departed devices remembered one by one (containers' veth interfaces come and go by the
/// thousand on a busy host).
pub const MAX_DEPARTED: usize = 256;

#[derive(Debug)]
struct Device<const N: usize> {
    last: [u64; N],
    offset: [u64; N],
    /// Generation this device was last seen in.
    seen: u64,
    /// Part of the totals (disk I/O counts whole disks only).
    counted: bool,
}

impl<const N: usize> Device<N> {
    fn value(&self) -> [u64; N] {
        std::array::from_fn(|i| self.last[i].wrapping_add(self.offset[i]))
    }
}

/// A device's counters this sample and, if it was there in the previous one, then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjusted<const N: usize> {
    pub now: [u64; N],
    pub before: Option<[u64; N]>,
}

impl<const N: usize> NoWrap<N> {
    /// Starts a new sample.
    pub fn begin(&mut self) {
        self.generation += 1;
    }

    /// The device's counters with its offsets added; `counted` says whether it is part of
    /// the totals.
    pub fn adjust(&mut self, device: &str, raw: [u64; N], counted: bool) -> Adjusted<N> {
        let generation = self.generation;
        let Some(d) = self.devices.get_mut(device) else {
            self.devices.insert(device.into(), Device { last: raw, offset: [0; N], seen: generation, counted });
            return Adjusted { now: raw, before: None };
        };
        let before = (d.seen + 1 == generation).then(|| d.value());
        for (i, &value) in raw.iter().enumerate() {
            if value < d.last[i] {
                d.offset[i] = d.offset[i].wrapping_add(d.last[i]);
            }
            d.last[i] = value;
        }
        d.seen = generation;
        d.counted = counted;
        Adjusted { now: d.value(), before }
    }

    /// Ends the sample: the totals over counted devices, departed ones included.
    pub fn finish(&mut self) -> [u64; N] {
        let generation = self.generation;
        let departed = self.devices.values().filter(|d| d.seen != generation).count();
        if departed > MAX_DEPARTED {
            let mut by_age: Vec<(u64, Box<str>)> =
                self.devices.iter().filter(|(_, d)| d.seen != generation).map(|(k, d)| (d.seen, k.clone())).collect();
            by_age.sort();
            for (_, name) in by_age.into_iter().take(departed - MAX_DEPARTED) {
                if let Some(d) = self.devices.remove(&name)
                    && d.counted
                {
                    for (r, v) in self.retired.iter_mut().zip(d.value()) {
                        *r = r.wrapping_add(v);
                    }
                }
            }
        }
        let mut total = self.retired;
        for d in self.devices.values().filter(|d| d.counted) {
            for (t, v) in total.iter_mut().zip(d.value()) {
                *t = t.wrapping_add(v);
            }
        }
        total
    }
}

/// Values the kernel names (a `/proc/vmstat` field, `TcpExt_ListenDrops`), in the order read,
/// their names kept from one sample to the next instead of allocated anew: a sample puts
/// each value, then takes them all ([`Named::take`]).
#[derive(Debug, Default)]
pub struct Named<V> {
    items: Vec<(std::sync::Arc<str>, V)>,
    len: usize,
}

impl<V: Clone> Named<V> {
    /// Puts the value named `prefix_name` (or `name` when `prefix` is empty).
    pub fn put(&mut self, prefix: &str, name: &str, value: V) {
        let same = self.items.get(self.len).is_some_and(|(n, _)| match prefix {
            "" => &**n == name,
            _ => {
                n.len() == prefix.len() + 1 + name.len()
                    && n.starts_with(prefix)
                    && n.ends_with(name)
                    && n.as_bytes()[prefix.len()] == b'_'
            }
        });
        let full = || -> std::sync::Arc<str> {
            if prefix.is_empty() { name.into() } else { format!("{prefix}_{name}").into() }
        };
        match self.items.get_mut(self.len) {
            Some(item) if same => item.1 = value,
            Some(item) => *item = (full(), value),
            None => self.items.push((full(), value)),
        }
        self.len += 1;
    }

    /// The values put since the last take (names shared, not copied).
    pub fn take(&mut self) -> Vec<(std::sync::Arc<str>, V)> {
        self.items.truncate(self.len);
        self.len = 0;
        self.items.clone()
    }
}

/// Items whose slowly changing facts (a filesystem's usage, a link's state, a CPU's
/// frequency, a sensor) one family refreshes per sample at most. A host with more items
/// refreshes them in turn, [`REFRESH_BUDGET`] per sample, each at most ⌈n / budget⌉ samples
/// old: a 500-mount host would otherwise spend a millisecond a second in `statvfs` alone.
/// What moves every second (CPU times, every counter, memory) is read whole every sample.
pub const REFRESH_BUDGET: usize = 32;

/// Which items to refresh this sample: all of them up to [`REFRESH_BUDGET`], else the next
/// [`REFRESH_BUDGET`] in turn.
#[derive(Debug, Default)]
pub struct Rotation {
    next: usize,
}

impl Rotation {
    /// The window of this sample over `n` items.
    pub fn window(&mut self, n: usize) -> Window {
        if n <= REFRESH_BUDGET {
            return Window { start: 0, len: n, n };
        }
        let start = self.next % n;
        self.next = (start + REFRESH_BUDGET) % n;
        Window { start, len: REFRESH_BUDGET, n }
    }
}

/// This sample's share of the items (see [`Rotation`]).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    start: usize,
    len: usize,
    n: usize,
}

impl Window {
    /// Whether item `i` (of the `n` the window was made for) is refreshed this sample.
    pub fn contains(&self, i: usize) -> bool {
        i < self.n && (i + self.n - self.start) % self.n < self.len
    }
}

/// A rate per second between two counter values, rounded to one decimal; `None` without a
/// previous value or elapsed time. Counters from [`NoWrap`] never go down; if one does, the
/// interval counts as idle.
pub fn rate(before: Option<u64>, now: Option<u64>, seconds: f64) -> Option<f64> {
    if seconds <= 0.0 {
        return None;
    }
    Some(crate::snapshot::round1(now?.saturating_sub(before?) as f64 / seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nowrap_keeps_counters_and_totals_monotonic() {
        let mut w = NoWrap::<2>::default();
        w.begin();
        assert_eq!(w.adjust("sda", [10, 4_294_967_000], true).now, [10, 4_294_967_000]);
        assert_eq!(w.adjust("sda1", [5, 5], false).now, [5, 5]);
        assert_eq!(w.finish(), [10, 4_294_967_000]);
        w.begin();
        // the second counter wrapped at 2^32 (armv7)
        let a = w.adjust("sda", [12, 100], true);
        assert_eq!(a, Adjusted { now: [12, 4_294_967_100], before: Some([10, 4_294_967_000]) });
        w.adjust("sda1", [6, 6], false);
        assert_eq!(w.finish(), [12, 4_294_967_100]);
        // sda goes away: the total keeps its last value
        w.begin();
        assert_eq!(w.finish(), [12, 4_294_967_100]);
        // and comes back with counters started afresh: they continue from where they were
        w.begin();
        let back = w.adjust("sda", [1, 1], true);
        assert_eq!(back, Adjusted { now: [13, 4_294_967_101], before: None });
        assert_eq!(w.finish(), [13, 4_294_967_101]);
    }

    #[test]
    fn nowrap_forgets_old_departed_devices_but_not_their_counts() {
        let mut w = NoWrap::<1>::default();
        for i in 0..(MAX_DEPARTED as u64 + 10) {
            w.begin();
            w.adjust(&format!("veth{i}"), [100], true);
            assert_eq!(w.finish(), [100 * (i + 1)]);
        }
        assert!(w.devices.len() <= MAX_DEPARTED + 1, "{}", w.devices.len());
        w.begin();
        assert_eq!(w.finish(), [100 * (MAX_DEPARTED as u64 + 10)]);
    }

    /// Every item is refreshed once per ⌈n / budget⌉ samples, none twice in a turn.
    #[test]
    fn rotation_covers_every_item_in_turn() {
        let mut r = Rotation::default();
        let w = r.window(10);
        assert!((0..10).all(|i| w.contains(i)));
        let n = REFRESH_BUDGET * 3 + 5;
        let mut seen = vec![0; n];
        for _ in 0..n.div_ceil(REFRESH_BUDGET) {
            let w = r.window(n);
            (0..n).filter(|&i| w.contains(i)).for_each(|i| seen[i] += 1);
        }
        assert!(seen.iter().all(|&c| (1..=2).contains(&c)), "{seen:?}");
        assert_eq!(seen.iter().filter(|&&c| c == 2).count(), REFRESH_BUDGET - 5 % REFRESH_BUDGET);
        assert!(!r.window(n).contains(n));
    }

    /// Names are shared between samples while the kernel gives the same ones in the same
    /// order, and replaced where it does not.
    #[test]
    fn named_values_keep_their_names() {
        let mut n = Named::default();
        n.put("Tcp", "InSegs", 1);
        n.put("", "pgfault", 2);
        let first = n.take();
        assert_eq!(first.iter().map(|(k, v)| (&**k, *v)).collect::<Vec<_>>(), [("Tcp_InSegs", 1), ("pgfault", 2)]);
        n.put("Tcp", "InSegs", 3);
        n.put("", "pgmajfault", 4);
        let second = n.take();
        assert!(std::sync::Arc::ptr_eq(&first[0].0, &second[0].0));
        assert_eq!(second.iter().map(|(k, v)| (&**k, *v)).collect::<Vec<_>>(), [("Tcp_InSegs", 3), ("pgmajfault", 4)]);
        n.put("Tcp", "InSeg", 5);
        assert_eq!(&*n.take()[0].0, "Tcp_InSeg");
        assert!(n.take().is_empty());
    }

    #[test]
    fn rates_need_two_values_and_time() {
        assert_eq!(rate(Some(100), Some(300), 2.0), Some(100.0));
        assert_eq!(rate(None, Some(300), 2.0), None);
        assert_eq!(rate(Some(100), Some(300), 0.0), None);
        assert_eq!(rate(Some(300), Some(100), 1.0), Some(0.0));
    }

    #[test]
    fn selections() {
        let all = Selection::parse("all").unwrap();
        assert_eq!(all.names().len(), REGISTRY.len());
        let some = Selection::parse("memory, cpu").unwrap();
        assert_eq!(some.names(), ["cpu", "memory"]);
        let most = Selection::parse("all,-filesystems,-sensors").unwrap();
        assert!(!most.contains("filesystems") && !most.contains("sensors") && most.contains("cpu"));
        assert_eq!(Selection::parse("-sensors").unwrap().names().len(), REGISTRY.len() - 1);
        let err = Selection::parse("all,-bogus").unwrap_err();
        assert!(err.contains("\"bogus\" is not one") && err.contains("cpu, stat, schedstat, cpufreq, load"), "{err}");
        assert!(Selection::parse("cpu,-memory").unwrap_err().contains("needs all first"));
        assert!(Selection::parse("all,cpu").unwrap_err().contains("only -name"));
        assert!(Selection::parse(" , ").is_err());
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

    struct Boom;
    impl Family for Boom {
        fn collect(&mut self, _: &mut Reading) -> Result<(), CollectError> {
            panic!("index out of bounds")
        }
    }

    struct Fine;
    impl Family for Fine {
        fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
            r.snapshot.load_avg.load1 = Some(1.5);
            Ok(())
        }
    }

    /// On this machine's /proc (Linux): a sample for `/system` readers leaves out the
    /// families only `/metrics` has, and every family that costs a read per process when
    /// nobody reads; one for `/metrics` has them all.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_sample_runs_what_its_readers_read() {
        let mut runner = Runner::new(&Setup::default(), &Selection::parse("cpu,stat,netstat,processes").unwrap());
        let names = |r: &Reading| {
            let mut families = Vec::new();
            for e in &r.exported {
                e.families(&mut families);
            }
            let mut names: Vec<String> = families.iter().map(|f| f.name.to_string()).collect();
            names.sort();
            names.dedup();
            names
        };
        let nobody = runner.read_for(Asked::default());
        assert!(nobody.proc_stat.is_some(), "cpu runs in every sample");
        assert!(nobody.snapshot.processes.is_none());
        assert!(names(&nobody).is_empty(), "{:?}", names(&nobody));
        let system = runner.read_for(Asked::SNAPSHOT);
        assert!(system.snapshot.processes.is_some());
        assert!(
            names(&system).iter().all(|n| n.starts_with("node_processes") || n.starts_with("system_stats_top")),
            "{:?}",
            names(&system)
        );
        let metrics = runner.read_for(Asked::METRICS);
        let exported = names(&metrics);
        for family in ["node_context_switches_total", "node_netstat_Tcp_ActiveOpens", "node_processes_pids"] {
            assert!(exported.iter().any(|n| n == family), "{family} missing from {exported:?}");
        }
        assert!(metrics.snapshot.processes.is_some());
    }

    /// A top-up runs what the sample it completes did not, beside it: its time, its rates
    /// and its every-sample figures stay; `stat` still finds the CPU's counters of `/proc/stat`.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_top_up_completes_a_sample_without_taking_another() {
        let mut runner = Runner::new(&Setup::default(), &Selection::parse("cpu,stat,processes").unwrap());
        runner.read_for(Asked::default());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let base = runner.read_for(Asked::default());
        assert!(base.exported.is_empty() && base.snapshot.processes.is_none());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let topped = runner.top_up(&base.snapshot, &base.exported, Asked::default(), Asked::METRICS);
        assert_eq!(topped.snapshot.collected_at, base.snapshot.collected_at);
        assert_eq!(topped.snapshot.throughput.interval_seconds, base.snapshot.throughput.interval_seconds);
        assert_eq!(topped.snapshot.cpu, base.snapshot.cpu);
        assert!(topped.snapshot.processes.is_some());
        let mut families = Vec::new();
        for e in &topped.exported {
            e.families(&mut families);
        }
        assert!(families.iter().any(|f| f.name == "node_context_switches_total"), "stat ran without cpu's counters");
        assert!(families.iter().any(|f| f.name == "node_processes_pids"));
        // a second top-up for what the first had runs nothing more
        let again = runner.top_up(&topped.snapshot, &topped.exported, Asked::METRICS, Asked::METRICS);
        assert_eq!(again.exported.len(), topped.exported.len());
        // and the next sample's interval is measured from the last real one
        std::thread::sleep(std::time::Duration::from_millis(20));
        let next = runner.read_for(Asked::default());
        assert!(next.snapshot.throughput.interval_seconds.unwrap() >= 0.04, "{:?}", next.snapshot.throughput);
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

    /// A family that panics fails alone: the families after it still run, its status says
    /// why, and the next sample tries it again.
    #[test]
    fn a_panicking_family_fails_alone() {
        let mut runner = Runner {
            slots: vec![
                Slot { family: Box::new(Boom), status: FamilyStatus::new("boom"), took: Default::default() },
                Slot { family: Box::new(Fine), status: FamilyStatus::new("fine"), took: Default::default() },
            ],
            previous: None,
            progress: Progress::default(),
            left: Left::default(),
        };
        install_panic_hook();
        for _ in 0..2 {
            let r = runner.read();
            assert_eq!(r.snapshot.load_avg.load1, Some(1.5));
            let statuses = runner.statuses();
            assert_eq!(
                (statuses[0].name, statuses[0].error.as_deref()),
                ("boom", Some("panicked: index out of bounds"))
            );
            assert_eq!((statuses[1].name, statuses[1].error.as_deref()), ("fine", None));
        }
    }
}
