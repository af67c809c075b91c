//! Everything a rule can compare ([`QUANTITIES`]): each quantity reads one sample (and, for
//! rates and trends, what it kept of the earlier ones) into values, one per series (a mount
//! point, a device, a unit...), labelled with what tells them apart.

pub(crate) use crate::collect::shared::counters::FastMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::collect::Families;
use crate::metrics::Export;
use crate::snapshot::{Snapshot, Text};

/// One sample as the quantities read it.
pub struct Input<'a> {
    pub snapshot: &'a Snapshot,
    /// The sample's `/metrics`-only series, and the family that exported each (same order).
    pub exported: &'a [Arc<dyn Export>],
    pub origins: &'a [&'static str],
    /// When the sample was taken (monotonic: rates and trends survive a clock step).
    pub at: Instant,
    /// The families that ran in it.
    ran: Families,
}

impl<'a> Input<'a> {
    pub fn new(
        snapshot: &'a Snapshot,
        exported: &'a [Arc<dyn Export>],
        origins: &'a [&'static str],
        at: Instant,
    ) -> Input<'a> {
        Input { snapshot, exported, origins, at, ran: Families::ALL }
    }

    /// The same, saying which families ran: a rule whose families did not is not evaluated
    /// on this sample (the families only alert rules read run every
    /// [`crate::collect::FORCED_EVERY`]).
    pub fn ran(self, ran: Families) -> Input<'a> {
        Input { ran, ..self }
    }

    /// Whether all of `families` ran in this sample.
    pub(crate) fn has(&self, families: Families) -> bool {
        self.ran.contains(families)
    }

    /// The value of `family`'s series `name` (without labels) in this sample, if it has it.
    fn exported(&self, family: &'static str, name: &str) -> Option<f64> {
        self.exported.iter().zip(self.origins).filter(|(_, o)| **o == family).find_map(|(e, _)| e.value(name))
    }
}

/// A series' labels: the quantity's label names with this series' values.
pub type Labels = Vec<(&'static str, Text)>;

/// One series of a quantity in one sample: which of the things its quantity is [`Over`] (a
/// place in the snapshot's list of them), and its value. Its labels are made only when
/// needed (a rule with matchers, an alert): most samples need none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value {
    pub item: u32,
    pub value: f64,
}

/// What a quantity's values are of: the host (one value), or each of a list in the snapshot,
/// which gives their labels. Two quantities over the same list join by place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    Host,
    /// `filesystems` (the writable ones).
    Filesystems,
    /// `disks` (block devices' I/O).
    Disks,
    /// `network.all_interfaces`.
    Interfaces,
    /// `services.failed`.
    FailedUnits,
    /// `sensors`, chip by chip.
    Sensors,
    /// `disk_health` (the drives read awake).
    Drives,
    /// `docker.containers`.
    Containers,
    /// `forwarder.destinations`.
    Destinations,
}

impl Over {
    /// The names of its labels.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Over::Host => &[],
            Over::Filesystems => &["mountpoint", "device", "fstype"],
            Over::Disks | Over::Interfaces => &["device"],
            Over::FailedUnits => &["unit"],
            Over::Sensors => &["chip", "sensor"],
            Over::Drives => &["device", "model"],
            Over::Containers => &["container", "image"],
            Over::Destinations => &["destination"],
        }
    }

    /// The labels of `item` in `s` (none when `s` has no such item): [`Over::names`] with
    /// the item's values.
    pub fn labels(self, s: &Snapshot, item: u32) -> Labels {
        let i = item as usize;
        let text = |t: &str| Text::from(t);
        let values: Option<Vec<Text>> = match self {
            Over::Host => Some(Vec::new()),
            Over::Filesystems => s
                .filesystems
                .as_ref()
                .and_then(|f| f.get(i))
                .map(|f| vec![text(&f.mountpoint), text(&f.device), text(&f.fstype)]),
            Over::Disks => s.disks.as_ref().and_then(|d| d.get(i)).map(|d| vec![d.name.clone()]),
            Over::Interfaces => s.network.all_interfaces.as_ref().and_then(|n| n.get(i)).map(|n| vec![n.name.clone()]),
            Over::FailedUnits => {
                s.services.as_ref().and_then(|u| u.failed.as_ref()).and_then(|f| f.get(i)).map(|u| vec![text(&u.name)])
            }
            Over::Sensors => all_sensors(s).nth(i).map(|(chip, s)| vec![chip.clone(), s.label.clone()]),
            Over::Drives => s
                .disk_health
                .as_ref()
                .and_then(|d| d.get(i))
                .map(|d| vec![text(&d.device), text(d.model.as_deref().unwrap_or(""))]),
            Over::Containers => containers(s).nth(i).map(|c| vec![text(&c.name), text(&c.image)]),
            Over::Destinations => destinations(s).nth(i).map(|d| vec![text(&d.destination)]),
        };
        let values = values.unwrap_or_default();
        debug_assert!(values.is_empty() || values.len() == self.names().len(), "{self:?}: {values:?}");
        self.names().iter().copied().zip(values).collect()
    }
}

/// What the quantities keep between samples: counters for rates, points for trends.
#[derive(Debug, Default)]
pub struct Memory {
    /// By quantity, by series: looked up without allocating.
    counters: FastMap<&'static str, FastMap<String, ([f64; 2], Instant)>>,
    trends: FastMap<&'static str, FastMap<String, Trend>>,
    /// When series not seen for long were last forgotten.
    swept: Option<Instant>,
}

/// A trend's points (when, and the value), oldest first, and what they give (a slope, the
/// lowest), worked out again only when a point comes or goes: a point a minute over hours
/// is hundreds of them, read once a minute rather than every sample.
#[derive(Debug, Default)]
struct Trend {
    points: std::collections::VecDeque<(Instant, f64)>,
    given: Option<f64>,
}

impl Trend {
    /// Adds `value` at `at` when `add` says so, drops the points older than `span`, and works
    /// out again what they give if that changed them.
    fn update(&mut self, (at, value): (Instant, f64), add: bool, span: Duration, give: fn(&Self) -> Option<f64>) {
        let mut changed = add;
        if add {
            self.points.push_back((at, value));
        }
        while self.points.front().is_some_and(|(t, _)| at.saturating_duration_since(*t) > span) {
            self.points.pop_front();
            changed = true;
        }
        if changed {
            self.given = give(self);
        }
    }

    /// The least-squares slope per second through the points (`None` below 3 points).
    fn slope(&self) -> Option<f64> {
        let (first, _) = *self.points.front()?;
        if self.points.len() < 3 {
            return None;
        }
        let x = |t: &Instant| t.saturating_duration_since(first).as_secs_f64();
        let n = self.points.len() as f64;
        let mx = self.points.iter().map(|(t, _)| x(t)).sum::<f64>() / n;
        let my = self.points.iter().map(|(_, v)| v).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (t, y) in &self.points {
            sxy += (x(t) - mx) * (y - my);
            sxx += (x(t) - mx) * (x(t) - mx);
        }
        (sxx > 0.0).then(|| sxy / sxx)
    }

    fn lowest(&self) -> Option<f64> {
        self.points.iter().map(|(_, v)| *v).reduce(f64::min)
    }
}

impl Memory {
    /// The counters of one quantity's series: looked up once per sample, not once per series.
    fn counters(&mut self, quantity: &'static str) -> Counters<'_> {
        Counters(self.counters.entry(quantity).or_default())
    }

    /// The trends of one quantity's series.
    fn trends(&mut self, quantity: &'static str) -> Trends<'_> {
        Trends(self.trends.entry(quantity).or_default())
    }

    /// Forgets the counters and trends of series not seen for `age` (a sweep a minute).
    pub(crate) fn forget_older_than(&mut self, at: Instant, age: Duration) {
        if self.swept.is_some_and(|t| at.saturating_duration_since(t) < Duration::from_secs(60)) {
            return;
        }
        self.swept = Some(at);
        for series in self.counters.values_mut() {
            series.retain(|_, (_, then)| at.saturating_duration_since(*then) <= age);
        }
        for series in self.trends.values_mut() {
            series.retain(|_, t| t.points.back().is_some_and(|(t, _)| at.saturating_duration_since(*t) <= age));
        }
    }
}

/// One quantity's counters, by series.
struct Counters<'m>(&'m mut FastMap<String, ([f64; 2], Instant)>);

impl Counters<'_> {
    /// The change of two counters of one series per second since the last sample that had
    /// them (`None` the first time, or when either went back: a reset). Two at once: a
    /// ratio's parts (errors and packets) are one lookup.
    fn rates(&mut self, key: &str, counters: [f64; 2], at: Instant) -> Option<[f64; 2]> {
        let previous = match self.0.get_mut(key) {
            Some(slot) => Some(std::mem::replace(slot, (counters, at))),
            None => self.0.insert(key.to_string(), (counters, at)),
        };
        let (before, then) = previous?;
        let dt = at.saturating_duration_since(then).as_secs_f64();
        let went_back = counters.iter().zip(before).any(|(now, before)| *now < before);
        (dt > 0.0 && !went_back).then(|| [(counters[0] - before[0]) / dt, (counters[1] - before[1]) / dt])
    }

    /// The change of `counter` per second (as [`Counters::rates`]).
    fn rate(&mut self, key: &str, counter: f64, at: Instant) -> Option<f64> {
        self.rates(key, [counter, 0.0], at).map(|[r, _]| r)
    }
}

/// One quantity's trends, by series.
struct Trends<'m>(&'m mut FastMap<String, Trend>);

impl Trends<'_> {
    fn with<R>(&mut self, key: &str, f: impl FnOnce(&mut Trend) -> R) -> R {
        if let Some(t) = self.0.get_mut(key) {
            return f(t);
        }
        let mut t = Trend::default();
        let r = f(&mut t);
        self.0.insert(key.to_string(), t);
        r
    }

    /// How far `value` is above the lowest it has been within `span` (one point a minute
    /// kept, and always the lowest: a day of points is 1 440 at most).
    fn growth(&mut self, key: &str, value: f64, at: Instant, span: Duration) -> f64 {
        self.with(key, |t| {
            let add = t
                .points
                .back()
                .is_none_or(|(t, v)| at.saturating_duration_since(*t) >= Duration::from_secs(60) || *v != value);
            t.update((at, value), add, span, Trend::lowest);
            value - t.given.map_or(value, |l| l.min(value))
        })
    }

    /// Adds a point to a trend (at most one per step, kept over the span) and returns the
    /// least-squares slope per second over what it holds, once it spans `min_span`.
    fn slope(&mut self, key: &str, value: f64, at: Instant, (step, span, min_span): Spans) -> Option<f64> {
        self.with(key, |t| {
            let add = t.points.back().is_none_or(|(t, _)| at.saturating_duration_since(*t) >= step);
            t.update((at, value), add, span, Trend::slope);
            let (first, _) = *t.points.front()?;
            if at.saturating_duration_since(first) < min_span {
                return None;
            }
            t.given
        })
    }
}

/// A drive's bad sectors: their lowest over a day, a point a minute kept.
const GROWTH_SPAN: Duration = Duration::from_secs(24 * 3600);

/// A trend's step (one point per), span (kept) and the span it needs to be trusted.
type Spans = (Duration, Duration, Duration);

/// A filesystem's free space: a point a minute over 6 hours (the node-mixin's
/// `predict_linear(...[6h])`), trusted after an hour: a filesystem written in a burst (a
/// download, a build) would otherwise be predicted full at once.
const FILL_TREND: Spans = (Duration::from_secs(60), Duration::from_secs(6 * 3600), Duration::from_secs(3600));
/// A forwarder's backlog: a point every 30 s over 10 minutes, trusted after 5 (the forwarder's
/// state is polled: between two polls the backlog looks flat).
const BACKLOG_TREND: Spans = (Duration::from_secs(30), Duration::from_secs(600), Duration::from_secs(300));

/// Where a threshold lies on the live page: the `/history` series of a value's labels, and the
/// threshold in that chart's unit.
pub type Chart = fn(&Labels, &Snapshot, f64) -> Option<(String, f64)>;

/// Something a rule can compare.
pub struct Quantity {
    pub name: &'static str,
    pub unit: &'static str,
    /// What its values are of (which gives their labels).
    pub over: Over,
    pub about: &'static str,
    /// The families it reads: they run in every sample while a rule uses it (those only
    /// `/metrics` reads would otherwise run only when scraped).
    pub families: &'static [&'static str],
    /// The live page's chart it concerns: the `/history` series for a value's labels, and
    /// where a threshold lies on it (in the chart's unit).
    pub chart: Option<Chart>,
    read: fn(&Input<'_>, &mut Memory, &mut Vec<Value>),
}

impl std::fmt::Debug for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Quantity {
    /// This sample's values.
    pub fn read(&self, input: &Input<'_>, memory: &mut Memory, out: &mut Vec<Value>) {
        (self.read)(input, memory, out)
    }

    /// The labels of its series (what a rule's `labels` can match).
    pub fn labels(&self) -> &'static [&'static str] {
        self.over.names()
    }

    pub fn find(name: &str) -> Option<&'static Quantity> {
        QUANTITIES.iter().find(|q| q.name == name)
    }
}

fn one(out: &mut Vec<Value>, value: Option<f64>) {
    if let Some(value) = value.filter(|v| v.is_finite()) {
        out.push(Value { item: 0, value });
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn percent(part: Option<u64>, whole: Option<u64>) -> Option<f64> {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0 => Some(p as f64 / w as f64 * 100.0),
        _ => None,
    }
}

/// One value per writable filesystem that has it.
fn per_filesystem(i: &Input<'_>, out: &mut Vec<Value>, value: fn(&crate::snapshot::Filesystem) -> Option<f64>) {
    for (item, f) in filesystems(i.snapshot) {
        if let Some(value) = value(f) {
            out.push(Value { item, value });
        }
    }
}

/// The writable filesystems and their places (read-only ones cannot fill: the node-mixin
/// leaves them out too).
fn filesystems(s: &Snapshot) -> impl Iterator<Item = (u32, &crate::snapshot::Filesystem)> {
    items(s.filesystems.iter().flatten()).filter(|(_, f)| !f.readonly)
}

/// A list's items with their places.
fn items<T>(list: impl Iterator<Item = T>) -> impl Iterator<Item = (u32, T)> {
    (0..=u32::MAX).zip(list)
}

fn label_of<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels.iter().find(|(k, _)| *k == name).map(|(_, v)| &**v)
}

/// Every quantity, in the order `docs/alerts.md` lists them.
pub static QUANTITIES: &[Quantity] = &[
    Quantity {
        name: "cpu.percent",
        unit: "%",
        over: Over::Host,
        about: "CPU busy over the last interval, all cores (`cpu.percent` of /system)",
        families: &["cpu"],
        chart: Some(|_, _, t| Some(("cpu".into(), t))),
        read: |i, _, out| one(out, i.snapshot.cpu.percent),
    },
    Quantity {
        name: "memory.used_percent",
        unit: "%",
        over: Over::Host,
        about: "memory in use, as psutil's `percent` (total - available) / total",
        families: &["memory"],
        chart: Some(|_, _, t| Some(("memory".into(), t))),
        read: |i, _, out| one(out, i.snapshot.memory.percent),
    },
    Quantity {
        name: "swap.used_percent",
        unit: "%",
        over: Over::Host,
        about: "swap in use; absent on a host without swap",
        families: &["swap"],
        chart: Some(|_, _, t| Some(("swap".into(), t))),
        read: |i, _, out| {
            if i.snapshot.swap.total.is_some_and(|t| t > 0) {
                one(out, i.snapshot.swap.percent)
            }
        },
    },
    Quantity {
        name: "load.per_core",
        unit: "",
        over: Over::Host,
        about: "the 1-minute load average divided by the logical cores (the node-mixin's saturation)",
        families: &["load", "cpu"],
        chart: Some(|_, s, t| Some(("load1".into(), t * f64::from(s.cpu.logical_cores?)))),
        read: |i, _, out| {
            let s = i.snapshot;
            one(out, s.load_avg.load1.zip(s.cpu.logical_cores).filter(|(_, c)| *c > 0).map(|(l, c)| l / f64::from(c)))
        },
    },
    Quantity {
        name: "filesystem.used_percent",
        unit: "%",
        over: Over::Filesystems,
        about: "a writable filesystem's space in use, as `df` counts it (`filesystems[].percent`)",
        families: &["filesystems"],
        chart: Some(|l, _, t| Some((format!("fs/{}", label_of(l, "mountpoint")?), t))),
        read: |i, _, out| per_filesystem(i, out, |f| f.percent),
    },
    Quantity {
        name: "filesystem.available_percent",
        unit: "%",
        over: Over::Filesystems,
        about: "a writable filesystem's space available to users (what the node-mixin's \
                NodeFilesystemAlmostOutOfSpace compares: node_filesystem_avail_bytes / size)",
        families: &["filesystems"],
        chart: Some(|l, _, t| Some((format!("fs/{}", label_of(l, "mountpoint")?), 100.0 - t))),
        read: |i, _, out| per_filesystem(i, out, |f| percent(f.free, f.total)),
    },
    Quantity {
        name: "filesystem.inodes_free_percent",
        unit: "%",
        over: Over::Filesystems,
        about: "a writable filesystem's free inodes; absent where the filesystem has none (btrfs, vfat)",
        families: &["filesystems"],
        chart: None,
        read: |i, _, out| per_filesystem(i, out, |f| percent(f.files_free, f.files)),
    },
    Quantity {
        name: "filesystem.hours_until_full",
        unit: "h",
        over: Over::Filesystems,
        about: "when a writable filesystem fills at the pace of the last 6 hours (a least-squares \
                line through a point a minute, as the node-mixin's predict_linear); absent until \
                an hour is known, and while the free space does not fall",
        families: &["filesystems"],
        chart: None,
        read: |i, memory, out| {
            let mut trends = memory.trends("filesystem");
            for (item, f) in filesystems(i.snapshot) {
                let (Some(free), Some(_)) = (f.free, f.total) else { continue };
                if let Some(slope) = trends.slope(&f.mountpoint, free as f64, i.at, FILL_TREND).filter(|s| *s < 0.0) {
                    out.push(Value { item, value: free as f64 / -slope / 3600.0 });
                }
            }
        },
    },
    Quantity {
        name: "disk.busy_percent",
        unit: "%",
        over: Over::Disks,
        about: "the time a block device was busy over the last interval (node_disk_io_time_seconds_total's rate)",
        families: &["disk_io"],
        chart: None,
        read: |i, memory, out| {
            let mut counters = memory.counters("disk.busy_percent");
            for (item, d) in items(i.snapshot.disks.iter().flatten()) {
                // busy_time is in milliseconds: ms per s / 10 = percent
                if let Some(rate) = counters.rate(&d.name, d.busy_time as f64, i.at) {
                    out.push(Value { item, value: (rate / 10.0).min(100.0) });
                }
            }
        },
    },
    Quantity {
        name: "network.receive_error_ratio",
        unit: "",
        over: Over::Interfaces,
        about: "received packets in error per packet received, over the last interval (0 when none came)",
        families: &["network"],
        chart: None,
        read: |i, memory, out| errors(i, memory, out, true),
    },
    Quantity {
        name: "network.transmit_error_ratio",
        unit: "",
        over: Over::Interfaces,
        about: "transmit errors per packet sent, over the last interval",
        families: &["network"],
        chart: None,
        read: |i, memory, out| errors(i, memory, out, false),
    },
    Quantity {
        name: "clock.unsynchronised",
        unit: "",
        over: Over::Host,
        about: "1 when the kernel says its clock is not synchronised and its maximum error has reached \
                16 s (the node-mixin's NodeClockNotSynchronising), else 0",
        families: &["timex"],
        chart: None,
        read: |i, _, out| {
            if let (Some(sync), Some(maxerror)) =
                (i.exported("timex", "node_timex_sync_status"), i.exported("timex", "node_timex_maxerror_seconds"))
            {
                one(out, Some(flag(sync == 0.0 && maxerror >= 16.0)));
            }
        },
    },
    Quantity {
        name: "clock.offset_seconds",
        unit: "s",
        over: Over::Host,
        about: "how far the clock is from its reference, either way (|node_timex_offset_seconds|)",
        families: &["timex"],
        chart: None,
        read: |i, _, out| one(out, i.exported("timex", "node_timex_offset_seconds").map(f64::abs)),
    },
    Quantity {
        name: "filefd.used_percent",
        unit: "%",
        over: Over::Host,
        about: "open files against the kernel's limit (node_filefd_allocated / node_filefd_maximum)",
        families: &["filefd"],
        chart: None,
        read: |i, _, out| {
            let (used, max) =
                (i.exported("filefd", "node_filefd_allocated"), i.exported("filefd", "node_filefd_maximum"));
            one(out, used.zip(max).filter(|(_, m)| *m > 0.0).map(|(u, m)| u / m * 100.0));
        },
    },
    Quantity {
        name: "conntrack.used_percent",
        unit: "%",
        over: Over::Host,
        about: "connection-tracking entries against their limit (absent without netfilter's conntrack)",
        families: &["conntrack"],
        chart: None,
        read: |i, _, out| {
            let (used, max) = (
                i.exported("conntrack", "node_nf_conntrack_entries"),
                i.exported("conntrack", "node_nf_conntrack_entries_limit"),
            );
            one(out, used.zip(max).filter(|(_, m)| *m > 0.0).map(|(u, m)| u / m * 100.0));
        },
    },
    Quantity {
        name: "service.failed",
        unit: "",
        over: Over::FailedUnits,
        about: "1 for each systemd unit in the failed state (`services.failed`)",
        families: &["services"],
        chart: None,
        read: |i, _, out| {
            let failed = i.snapshot.services.as_ref().and_then(|s| s.failed.as_ref());
            for (item, _) in items(failed.into_iter().flatten()) {
                out.push(Value { item, value: 1.0 });
            }
        },
    },
    Quantity {
        name: "sensor.temperature_c",
        unit: "°C",
        over: Over::Sensors,
        about: "a temperature sensor's reading (`sensors`)",
        families: &["sensors"],
        chart: None,
        read: |i, _, out| sensors(i, out, |_| Some(0.0)),
    },
    Quantity {
        name: "sensor.above_high_c",
        unit: "°C",
        over: Over::Sensors,
        about: "how far a sensor is above its own high limit (negative below it); absent without a limit",
        families: &["sensors"],
        chart: None,
        read: |i, _, out| sensors(i, out, |s| s.high_c.filter(|h| *h > 0.0)),
    },
    Quantity {
        name: "sensor.above_critical_c",
        unit: "°C",
        over: Over::Sensors,
        about: "how far a sensor is above its own critical limit (negative below it); absent without one",
        families: &["sensors"],
        chart: None,
        read: |i, _, out| sensors(i, out, |s| s.critical_c.filter(|c| *c > 0.0)),
    },
    Quantity {
        name: "raspberry_pi.throttled",
        unit: "",
        over: Over::Host,
        about: "1 while a Raspberry Pi's firmware throttles or caps the CPU (`raspberry_pi.throttled`, \
                `frequency_capped` or `soft_temperature_limit` now), else 0",
        families: &["raspberry_pi"],
        chart: None,
        read: |i, _, out| {
            if let Some(p) = &i.snapshot.raspberry_pi {
                one(out, Some(flag(p.throttled || p.frequency_capped || p.soft_temperature_limit)));
            }
        },
    },
    Quantity {
        name: "raspberry_pi.under_voltage",
        unit: "",
        over: Over::Host,
        about: "1 while a Raspberry Pi's supply is below 4.63 V (a weak power supply or cable), else 0",
        families: &["raspberry_pi"],
        chart: None,
        read: |i, _, out| {
            if let Some(p) = &i.snapshot.raspberry_pi {
                one(out, Some(flag(p.under_voltage)));
            }
        },
    },
    Quantity {
        name: "disk_health.failing",
        unit: "",
        over: Over::Drives,
        about: "1 for each drive whose verdict is `failing` (its SMART self-assessment, a pre-failure attribute at \
                its threshold, an NVMe critical warning, spare below its threshold), 0 for the others read awake",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for (item, d) in drives(i.snapshot) {
                out.push(Value { item, value: flag(d.verdict == "failing") });
            }
        },
    },
    Quantity {
        name: "disk_health.critical_warning",
        unit: "",
        over: Over::Drives,
        about: "an NVMe drive's critical warning bits (0: none; 1 spare, 2 temperature, 4 reliability, 8 read-only, \
                16 volatile memory backup)",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for (item, d) in drives(i.snapshot) {
                if let Some(cw) = d.nvme.as_ref().and_then(|n| n.critical_warning) {
                    out.push(Value { item, value: cw as f64 });
                }
            }
        },
    },
    Quantity {
        name: "disk_health.spare_below_threshold",
        unit: "",
        over: Over::Drives,
        about: "1 when an NVMe drive's available spare is below the threshold it sets itself, else 0",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for (item, d) in drives(i.snapshot) {
                let nvme = d.nvme.as_ref();
                if let Some((s, t)) = nvme.and_then(|n| n.available_spare.zip(n.available_spare_threshold)) {
                    out.push(Value { item, value: flag(s < t) });
                }
            }
        },
    },
    Quantity {
        name: "disk_health.percentage_used",
        unit: "%",
        over: Over::Drives,
        about: "how much of an NVMe drive's rated endurance is used (its own estimate; may pass 100)",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for (item, d) in drives(i.snapshot) {
                if let Some(u) = d.nvme.as_ref().and_then(|n| n.percentage_used) {
                    out.push(Value { item, value: u as f64 });
                }
            }
        },
    },
    Quantity {
        name: "disk_health.above_limit_c",
        unit: "°C",
        over: Over::Drives,
        about: "how far a drive's temperature is above its own limit (ATA SCT's operating limit, SCSI's trip \
                temperature; negative below it); absent without a limit",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for (item, d) in drives(i.snapshot) {
                if let (Some(t), Some(l)) = (d.temperature_celsius, d.temperature_limit_celsius.filter(|l| *l > 0.0)) {
                    out.push(Value { item, value: t - l });
                }
            }
        },
    },
    Quantity {
        name: "disk_health.bad_sectors_growth",
        unit: "",
        over: Over::Drives,
        about: "how many bad sectors and errors a drive gained in the last 24 hours: the raw values of ATA \
                attributes 5, 187, 188, 197 and 198 (Backblaze's five), NVMe media errors and SCSI grown \
                defects and uncorrected errors, summed, against their lowest in that time",
        families: &["smart"],
        chart: None,
        read: |i, memory, out| {
            let mut trends = memory.trends("bad_sectors");
            for (item, d) in drives(i.snapshot) {
                let Some(n) = bad_sectors(d) else { continue };
                let grown = trends.growth(&d.device, n, i.at, GROWTH_SPAN);
                out.push(Value { item, value: grown });
            }
        },
    },
    Quantity {
        name: "updates.pending",
        unit: "",
        over: Over::Host,
        about: "packages with an update (`system.os_update.count`), once checked",
        families: &["os_update"],
        chart: None,
        read: |i, _, out| one(out, i.snapshot.system.os_update.as_ref().and_then(|u| u.count).map(|c| c as f64)),
    },
    Quantity {
        name: "updates.security",
        unit: "",
        over: Over::Host,
        about: "security updates pending (`system.os_update.security`), once checked",
        families: &["os_update"],
        chart: None,
        read: |i, _, out| one(out, i.snapshot.system.os_update.as_ref().and_then(|u| u.security).map(|c| c as f64)),
    },
    Quantity {
        name: "reboot.required",
        unit: "",
        over: Over::Host,
        about: "1 when the system asks for a reboot (an updated kernel or library), else 0",
        families: &["os_update"],
        chart: None,
        read: |i, _, out| one(out, i.snapshot.system.os_update.as_ref().and_then(|u| u.reboot_required).map(flag)),
    },
    Quantity {
        name: "container.restarting",
        unit: "",
        over: Over::Containers,
        about: "1 for each container Docker is restarting (a crash loop), 0 for the others",
        families: &["containers"],
        chart: None,
        read: |i, _, out| {
            for (item, c) in items(containers(i.snapshot)) {
                out.push(Value { item, value: flag(c.state == "restarting") });
            }
        },
    },
    Quantity {
        name: "container.exit_code",
        unit: "",
        over: Over::Containers,
        about: "the exit code of each exited container (from Docker's `Exited (N)`); absent for the others",
        families: &["containers"],
        chart: None,
        read: |i, _, out| {
            for (item, c) in items(containers(i.snapshot)).filter(|(_, c)| c.state == "exited") {
                let code = c.status.strip_prefix("Exited (").and_then(|r| r.split(')').next());
                if let Some(code) = code.and_then(|c| c.parse::<f64>().ok()) {
                    out.push(Value { item, value: code });
                }
            }
        },
    },
    Quantity {
        name: "forwarder.destination_down",
        unit: "",
        over: Over::Destinations,
        about: "1 while the forwarder on this host fails to deliver to a destination, else 0 \
                (needs SYSTEM_STATS_FORWARDER_URL)",
        families: &["forwarder"],
        chart: None,
        read: |i, _, out| {
            for (item, d) in items(destinations(i.snapshot)) {
                if let Some(up) = d.up {
                    out.push(Value { item, value: flag(!up) });
                }
            }
        },
    },
    Quantity {
        name: "forwarder.backlog_samples",
        unit: "",
        over: Over::Destinations,
        about: "samples spooled for a destination, not yet delivered",
        families: &["forwarder"],
        chart: None,
        read: |i, _, out| {
            for (item, d) in items(destinations(i.snapshot)) {
                if let Some(n) = d.spooled {
                    out.push(Value { item, value: n as f64 });
                }
            }
        },
    },
    Quantity {
        name: "forwarder.backlog_growth_per_minute",
        unit: "/min",
        over: Over::Destinations,
        about: "how fast a destination's backlog grows (samples per minute, a least-squares line over the last 10 minutes, known after 5; negative while it drains)",
        families: &["forwarder"],
        chart: None,
        read: |i, memory, out| {
            let mut trends = memory.trends("backlog");
            for (item, d) in items(destinations(i.snapshot)) {
                let Some(n) = d.spooled else { continue };
                if let Some(slope) = trends.slope(&d.destination, n as f64, i.at, BACKLOG_TREND) {
                    out.push(Value { item, value: slope * 60.0 });
                }
            }
        },
    },
    Quantity {
        name: "forwarder.oldest_sample_age_seconds",
        unit: "s",
        over: Over::Destinations,
        about: "the age of the oldest sample waiting for a destination",
        families: &["forwarder"],
        chart: None,
        read: |i, _, out| {
            for (item, d) in items(destinations(i.snapshot)) {
                if let Some(age) = d.oldest_age_seconds {
                    out.push(Value { item, value: age });
                }
            }
        },
    },
];

fn errors(i: &Input<'_>, memory: &mut Memory, out: &mut Vec<Value>, receive: bool) {
    let mut counters = memory.counters(if receive { "rx errors" } else { "tx errors" });
    for (item, n) in items(i.snapshot.network.all_interfaces.iter().flatten()) {
        let c = &n.counters;
        let (errors, packets) = if receive { (c.errin, c.packets_recv) } else { (c.errout, c.packets_sent) };
        let (Some(errors), Some(packets)) = (errors, packets) else { continue };
        if let Some([e, p]) = counters.rates(&n.name, [errors as f64, packets as f64], i.at) {
            out.push(Value { item, value: if p > 0.0 { e / p } else { 0.0 } });
        }
    }
}

/// Every sensor with its chip, chip by chip.
fn all_sensors(s: &Snapshot) -> impl Iterator<Item = (&Text, &crate::snapshot::Sensor)> {
    s.sensors.iter().flat_map(|s| s.0.iter()).flat_map(|(chip, sensors)| sensors.iter().map(move |s| (chip, s)))
}

fn sensors(i: &Input<'_>, out: &mut Vec<Value>, limit: fn(&crate::snapshot::Sensor) -> Option<f64>) {
    for (item, (_, s)) in items(all_sensors(i.snapshot)) {
        if let Some(limit) = limit(s) {
            out.push(Value { item, value: s.current_c - limit });
        }
    }
}

/// The drives read awake (not those asleep or unreadable: their last facts are old), with
/// their places.
fn drives(s: &Snapshot) -> impl Iterator<Item = (u32, &crate::snapshot::DiskHealth)> {
    items(s.disk_health.iter().flat_map(|d| d.iter()))
        .filter(|(_, d)| matches!(d.verdict.as_str(), "healthy" | "warning" | "failing"))
}

/// A drive's bad sectors and errors, summed: what [`crate::collect::smart::parse::BACKBLAZE`]'s
/// attributes, NVMe's media errors and SCSI's defect and error counters say.
fn bad_sectors(d: &crate::snapshot::DiskHealth) -> Option<f64> {
    let ata = d.attributes.iter().filter(|a| crate::collect::smart::parse::BACKBLAZE.contains(&a.id));
    let mut n: Option<f64> = None;
    let mut add = |v: Option<u64>| {
        if let Some(v) = v {
            *n.get_or_insert(0.0) += v as f64;
        }
    };
    for a in ata {
        add(a.raw);
    }
    if let Some(nv) = &d.nvme {
        add(nv.media_errors);
    }
    if let Some(sc) = &d.scsi {
        for v in
            [sc.grown_defects, sc.read_uncorrected_errors, sc.write_uncorrected_errors, sc.verify_uncorrected_errors]
        {
            add(v);
        }
    }
    n
}

fn containers(s: &Snapshot) -> impl Iterator<Item = &crate::snapshot::Container> {
    s.docker.as_ref().and_then(|d| d.containers.as_ref()).into_iter().flatten()
}

fn destinations(s: &Snapshot) -> impl Iterator<Item = &crate::snapshot::ForwarderDestination> {
    s.forwarder.as_ref().and_then(|f| f.destinations.as_ref()).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are unique, each quantity's families exist in the registry.
    #[test]
    fn quantities_are_named_once_and_read_known_families() {
        let mut names: Vec<&str> = QUANTITIES.iter().map(|q| q.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a quantity named twice");
        for q in QUANTITIES {
            for f in q.families {
                assert!(crate::collect::REGISTRY.iter().any(|e| e.name == *f), "{}: no family {f}", q.name);
            }
        }
    }

    /// Each value names its series: the labels of the item at its place, in lists where
    /// some items give no value (a sensor without a limit, a drive asleep, a container
    /// running) and in the sensors' chip-by-chip list.
    #[test]
    fn values_name_their_series() {
        use crate::snapshot::*;
        let sensor = |label: &str, high: Option<f64>| Sensor {
            label: label.into(),
            current_c: 50.0,
            high_c: high,
            ..Default::default()
        };
        let drive = |device: &str, verdict: &str| DiskHealth {
            device: device.into(),
            model: Some(format!("model of {device}")),
            verdict: verdict.into(),
            ..Default::default()
        };
        let container = |name: &str, state: &str, status: &str| Container {
            name: name.into(),
            image: format!("{name}:1"),
            state: state.into(),
            status: status.into(),
            ..Default::default()
        };
        let destination = |d: &str, spooled: Option<u64>| ForwarderDestination {
            destination: d.into(),
            spooled,
            ..Default::default()
        };
        let s = Snapshot {
            sensors: Some(Sensors(vec![
                ("acpitz".into(), vec![sensor("temp1", None)]),
                ("coretemp".into(), vec![sensor("Core 0", Some(80.0)), sensor("Core 1", Some(80.0))]),
            ])),
            disk_health: Some(vec![drive("sda", "asleep"), drive("nvme0", "healthy")].into()),
            docker: Some(Docker {
                containers: Some(vec![
                    container("web", "running", "Up 2 hours"),
                    container("job", "exited", "Exited (3) 1 hour ago"),
                ]),
                ..Default::default()
            }),
            forwarder: Some(ForwarderState {
                destinations: Some(vec![destination("a", None), destination("b", Some(7))]),
                ..Default::default()
            }),
            services: Some(Services {
                failed: Some(vec![FailedUnit { name: "backup.service".into(), ..Default::default() }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let input = Input::new(&s, &[], &[], Instant::now());
        let named = |name: &str| {
            let q = Quantity::find(name).unwrap();
            let mut out = Vec::new();
            q.read(&input, &mut super::Memory::default(), &mut out);
            out.iter()
                .map(|v| {
                    let labels = q.over.labels(&s, v.item);
                    assert_eq!(labels.iter().map(|(k, _)| *k).collect::<Vec<_>>(), q.labels(), "{name}");
                    (labels.iter().map(|(_, v)| v.to_string()).collect::<Vec<_>>().join(" "), v.value)
                })
                .collect::<Vec<_>>()
        };
        let pairs = |p: &[(&str, f64)]| p.iter().map(|(l, v)| (l.to_string(), *v)).collect::<Vec<_>>();
        assert_eq!(named("sensor.above_high_c"), pairs(&[("coretemp Core 0", -30.0), ("coretemp Core 1", -30.0)]));
        assert_eq!(named("sensor.temperature_c")[0], ("acpitz temp1".to_string(), 50.0));
        assert_eq!(named("disk_health.failing"), pairs(&[("nvme0 model of nvme0", 0.0)]));
        assert_eq!(named("container.exit_code"), pairs(&[("job job:1", 3.0)]));
        assert_eq!(named("container.restarting"), pairs(&[("web web:1", 0.0), ("job job:1", 0.0)]));
        assert_eq!(named("forwarder.backlog_samples"), pairs(&[("b", 7.0)]));
        assert_eq!(named("service.failed"), pairs(&[("backup.service", 1.0)]));
    }

    /// A trend needs an hour; a line falling 1 GB an hour from 10 GB is 10 h from full.
    #[test]
    fn a_trend_is_a_least_squares_line_after_an_hour() {
        let mut m = Memory::default();
        let t0 = Instant::now();
        let gb = 1e9;
        let mut slope = None;
        for minute in 0..=60u64 {
            let at = t0 + Duration::from_secs(minute * 60);
            slope = m.trends("fs").slope("/", 11.0 * gb - gb * minute as f64 / 60.0, at, FILL_TREND);
            if minute < 60 {
                assert_eq!(slope, None, "trusted after {minute} min");
            }
        }
        let slope = slope.expect("a slope after an hour");
        let hours = 10.0 * gb / -slope / 3600.0;
        assert!((hours - 10.0).abs() < 1e-6, "{hours}");
    }

    /// Past its span a trend drops its oldest points, and its slope is the line through
    /// those it keeps (worked out when they change, not every sample): a filesystem that
    /// filled for 6 hours then stayed flat for 6 more has no slope left.
    #[test]
    fn a_trend_forgets_what_is_older_than_its_span() {
        let mut m = Memory::default();
        let t0 = Instant::now();
        let mut trends = m.trends("fs");
        let at = |s: u64| t0 + Duration::from_secs(s);
        for second in (0..=6 * 3600).step_by(10) {
            trends.slope("/", 1e9 - second as f64 * 1000.0, at(second), FILL_TREND);
        }
        let slope = trends.slope("/", 1e9 - 6.0 * 3600.0 * 1000.0, at(6 * 3600 + 5), FILL_TREND).unwrap();
        assert!((slope + 1000.0).abs() < 1e-6, "{slope}");
        let flat = 1e9 - 6.0 * 3600.0 * 1000.0;
        let mut last = None;
        for second in (6 * 3600 + 10..=12 * 3600 + 60).step_by(10) {
            last = trends.slope("/", flat, at(second), FILL_TREND);
        }
        assert_eq!(last, Some(0.0), "the fall of the first 6 hours is forgotten");
        assert!(trends.0["/"].points.len() <= 361, "{}", trends.0["/"].points.len());
    }

    /// Growth is against the lowest within the span: a count that rose stays grown for a
    /// day, then is the new normal.
    #[test]
    fn growth_is_against_the_lowest_of_a_day() {
        let mut m = Memory::default();
        let t0 = Instant::now();
        let mut trends = m.trends("bad");
        let at = |minutes: u64| t0 + Duration::from_secs(minutes * 60);
        assert_eq!(trends.growth("sda", 8.0, at(0), GROWTH_SPAN), 0.0);
        assert_eq!(trends.growth("sda", 8.0, at(10), GROWTH_SPAN), 0.0);
        assert_eq!(trends.growth("sda", 12.0, at(11), GROWTH_SPAN), 4.0);
        for minute in 12..24 * 60 {
            assert_eq!(trends.growth("sda", 12.0, at(minute), GROWTH_SPAN), 4.0, "at {minute} min");
        }
        assert_eq!(trends.growth("sda", 12.0, at(24 * 60 + 12), GROWTH_SPAN), 0.0, "a day later");
    }

    /// A counter's rate; none across a reset.
    #[test]
    fn rates_skip_resets() {
        let mut m = Memory::default();
        let t0 = Instant::now();
        let mut c = m.counters("q");
        assert_eq!(c.rate("a", 100.0, t0), None);
        assert_eq!(c.rate("a", 300.0, t0 + Duration::from_secs(2)), Some(100.0));
        assert_eq!(c.rate("a", 5.0, t0 + Duration::from_secs(4)), None);
        assert_eq!(c.rate("a", 15.0, t0 + Duration::from_secs(5)), Some(10.0));
        assert_eq!(c.rates("b", [10.0, 100.0], t0), None);
        assert_eq!(c.rates("b", [12.0, 200.0], t0 + Duration::from_secs(2)), Some([1.0, 50.0]));
        assert_eq!(c.rates("b", [13.0, 150.0], t0 + Duration::from_secs(3)), None, "one of two went back");
    }
}
