//! Everything a rule can compare ([`QUANTITIES`]): each quantity reads one sample (and, for
//! rates and trends, what it kept of the earlier ones) into values, one per series (a mount
//! point, a device, a unit...), labelled with what tells them apart.

pub(crate) use crate::collect::shared::counters::FastMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// The families that ran in it (`None`: all of them).
    ran: Option<&'a [&'static str]>,
}

impl<'a> Input<'a> {
    pub fn new(
        snapshot: &'a Snapshot,
        exported: &'a [Arc<dyn Export>],
        origins: &'a [&'static str],
        at: Instant,
    ) -> Input<'a> {
        Input { snapshot, exported, origins, at, ran: None }
    }

    /// The same, saying which families ran: a rule whose families did not is not evaluated
    /// on this sample (the families only alert rules read run every
    /// [`crate::collect::FORCED_EVERY`]).
    pub fn ran(self, ran: &'a [&'static str]) -> Input<'a> {
        Input { ran: Some(ran), ..self }
    }

    /// Whether every family of `q` ran in this sample.
    pub(crate) fn has(&self, q: &Quantity) -> bool {
        self.ran.is_none_or(|ran| q.families.iter().all(|f| ran.contains(f)))
    }

    /// The value of `family`'s series `name` (without labels) in this sample, if it has it.
    fn exported(&self, family: &'static str, name: &str) -> Option<f64> {
        self.exported.iter().zip(self.origins).filter(|(_, o)| **o == family).find_map(|(e, _)| e.value(name))
    }
}

/// A series' labels: the quantity's label names with this series' values (shared text: the
/// snapshot's mount points and devices are not copied).
pub type Labels = Vec<(&'static str, Text)>;

/// One series of a quantity in one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub labels: Labels,
    pub value: f64,
}

/// A trend's points: when, and the value.
type Points = Vec<(Instant, f64)>;

/// What the quantities keep between samples: counters for rates, points for trends.
#[derive(Debug, Default)]
pub struct Memory {
    /// By quantity, by series: looked up without allocating.
    counters: FastMap<&'static str, FastMap<String, (f64, Instant)>>,
    trends: FastMap<&'static str, FastMap<String, Points>>,
    /// When series not seen for long were last forgotten.
    swept: Option<Instant>,
}

impl Memory {
    /// The change of `counter` per second since the last sample that had it (`None` the
    /// first time, or when the counter went back: a reset).
    fn rate(&mut self, quantity: &'static str, key: &str, counter: f64, at: Instant) -> Option<f64> {
        let series = self.counters.entry(quantity).or_default();
        let previous = match series.get_mut(key) {
            Some(slot) => Some(std::mem::replace(slot, (counter, at))),
            None => series.insert(key.to_string(), (counter, at)),
        };
        let (before, then) = previous?;
        let dt = at.saturating_duration_since(then).as_secs_f64();
        (dt > 0.0 && counter >= before).then(|| (counter - before) / dt)
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
            series.retain(|_, points| points.last().is_some_and(|(t, _)| at.saturating_duration_since(*t) <= age));
        }
    }

    /// How far `value` is above the lowest it has been within `span` (one point a minute
    /// kept, and always the lowest: a day of points is 1 440 at most).
    fn growth(&mut self, (quantity, key): (&'static str, &str), value: f64, at: Instant, span: Duration) -> f64 {
        let series = self.trends.entry(quantity).or_default();
        if !series.contains_key(key) {
            series.insert(key.to_string(), Vec::new());
        }
        let Some(points) = series.get_mut(key) else { return 0.0 };
        if points.last().is_none_or(|(t, v)| at.saturating_duration_since(*t) >= Duration::from_secs(60) || *v != value)
        {
            points.push((at, value));
        }
        points.retain(|(t, _)| at.saturating_duration_since(*t) <= span);
        let lowest = points.iter().map(|(_, v)| *v).fold(value, f64::min);
        value - lowest
    }

    /// Adds a point to a trend (at most one per step, kept over the span) and returns the
    /// least-squares slope per second over what it holds, once it spans `min_span`.
    fn trend(
        &mut self,
        (quantity, key): (&'static str, &str),
        value: f64,
        at: Instant,
        (step, span, min_span): Spans,
    ) -> Option<f64> {
        let series = self.trends.entry(quantity).or_default();
        if !series.contains_key(key) {
            series.insert(key.to_string(), Vec::new());
        }
        let points = series.get_mut(key)?;
        if points.last().is_none_or(|(t, _)| at.saturating_duration_since(*t) >= step) {
            points.push((at, value));
        }
        points.retain(|(t, _)| at.saturating_duration_since(*t) <= span);
        let (first, _) = *points.first()?;
        if at.saturating_duration_since(first) < min_span || points.len() < 3 {
            return None;
        }
        let xs: Vec<f64> = points.iter().map(|(t, _)| t.saturating_duration_since(first).as_secs_f64()).collect();
        let n = xs.len() as f64;
        let mx = xs.iter().sum::<f64>() / n;
        let my = points.iter().map(|(_, v)| v).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (x, (_, y)) in xs.iter().zip(points.iter()) {
            sxy += (x - mx) * (y - my);
            sxx += (x - mx) * (x - mx);
        }
        (sxx > 0.0).then(|| sxy / sxx)
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
    /// The labels of its series (what a rule's `labels` can match).
    pub labels: &'static [&'static str],
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

    pub fn find(name: &str) -> Option<&'static Quantity> {
        QUANTITIES.iter().find(|q| q.name == name)
    }
}

fn one(out: &mut Vec<Value>, value: Option<f64>) {
    if let Some(value) = value.filter(|v| v.is_finite()) {
        out.push(Value { labels: Vec::new(), value });
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn label(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, Text::from(*v))).collect()
}

/// Labels of shared text (no copy).
fn shared(pairs: &[(&'static str, &Text)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, Text::clone(v))).collect()
}

fn percent(part: Option<u64>, whole: Option<u64>) -> Option<f64> {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0 => Some(p as f64 / w as f64 * 100.0),
        _ => None,
    }
}

/// One value per writable filesystem that has it.
fn per_filesystem(i: &Input<'_>, out: &mut Vec<Value>, value: fn(&crate::snapshot::Filesystem) -> Option<f64>) {
    for (labels, f) in filesystems(i.snapshot) {
        if let Some(value) = value(f) {
            out.push(Value { labels, value });
        }
    }
}

/// The writable filesystems with their labels (read-only ones cannot fill: the node-mixin
/// leaves them out too).
fn filesystems(s: &Snapshot) -> impl Iterator<Item = (Labels, &crate::snapshot::Filesystem)> {
    s.filesystems
        .iter()
        .flatten()
        .filter(|f| !f.readonly)
        .map(|f| (label(&[("mountpoint", &f.mountpoint), ("device", &f.device), ("fstype", &f.fstype)]), f))
}

fn label_of<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels.iter().find(|(k, _)| *k == name).map(|(_, v)| &**v)
}

/// Every quantity, in the order `docs/alerts.md` lists them.
pub static QUANTITIES: &[Quantity] = &[
    Quantity {
        name: "cpu.percent",
        unit: "%",
        labels: &[],
        about: "CPU busy over the last interval, all cores (`cpu.percent` of /system)",
        families: &["cpu"],
        chart: Some(|_, _, t| Some(("cpu".into(), t))),
        read: |i, _, out| one(out, i.snapshot.cpu.percent),
    },
    Quantity {
        name: "memory.used_percent",
        unit: "%",
        labels: &[],
        about: "memory in use, as psutil's `percent` (total - available) / total",
        families: &["memory"],
        chart: Some(|_, _, t| Some(("memory".into(), t))),
        read: |i, _, out| one(out, i.snapshot.memory.percent),
    },
    Quantity {
        name: "swap.used_percent",
        unit: "%",
        labels: &[],
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
        labels: &[],
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
        labels: &["mountpoint", "device", "fstype"],
        about: "a writable filesystem's space in use, as `df` counts it (`filesystems[].percent`)",
        families: &["filesystems"],
        chart: Some(|l, _, t| Some((format!("fs/{}", label_of(l, "mountpoint")?), t))),
        read: |i, _, out| per_filesystem(i, out, |f| f.percent),
    },
    Quantity {
        name: "filesystem.available_percent",
        unit: "%",
        labels: &["mountpoint", "device", "fstype"],
        about: "a writable filesystem's space available to users (what the node-mixin's \
                NodeFilesystemAlmostOutOfSpace compares: node_filesystem_avail_bytes / size)",
        families: &["filesystems"],
        chart: Some(|l, _, t| Some((format!("fs/{}", label_of(l, "mountpoint")?), 100.0 - t))),
        read: |i, _, out| per_filesystem(i, out, |f| percent(f.free, f.total)),
    },
    Quantity {
        name: "filesystem.inodes_free_percent",
        unit: "%",
        labels: &["mountpoint", "device", "fstype"],
        about: "a writable filesystem's free inodes; absent where the filesystem has none (btrfs, vfat)",
        families: &["filesystems"],
        chart: None,
        read: |i, _, out| per_filesystem(i, out, |f| percent(f.files_free, f.files)),
    },
    Quantity {
        name: "filesystem.hours_until_full",
        unit: "h",
        labels: &["mountpoint", "device", "fstype"],
        about: "when a writable filesystem fills at the pace of the last 6 hours (a least-squares \
                line through a point a minute, as the node-mixin's predict_linear); absent until \
                an hour is known, and while the free space does not fall",
        families: &["filesystems"],
        chart: None,
        read: |i, memory, out| {
            for (labels, f) in filesystems(i.snapshot) {
                let (Some(free), Some(_)) = (f.free, f.total) else { continue };
                let key = ("filesystem", &*f.mountpoint);
                if let Some(slope) = memory.trend(key, free as f64, i.at, FILL_TREND).filter(|s| *s < 0.0) {
                    out.push(Value { labels, value: free as f64 / -slope / 3600.0 });
                }
            }
        },
    },
    Quantity {
        name: "disk.busy_percent",
        unit: "%",
        labels: &["device"],
        about: "the time a block device was busy over the last interval (node_disk_io_time_seconds_total's rate)",
        families: &["disk_io"],
        chart: None,
        read: |i, memory, out| {
            for d in i.snapshot.disks.iter().flatten() {
                // busy_time is in milliseconds: ms per s / 10 = percent
                if let Some(rate) = memory.rate("disk.busy_percent", &d.name, d.busy_time as f64, i.at) {
                    out.push(Value { labels: shared(&[("device", &d.name)]), value: (rate / 10.0).min(100.0) });
                }
            }
        },
    },
    Quantity {
        name: "network.receive_error_ratio",
        unit: "",
        labels: &["device"],
        about: "received packets in error per packet received, over the last interval (0 when none came)",
        families: &["network"],
        chart: None,
        read: |i, memory, out| errors(i, memory, out, true),
    },
    Quantity {
        name: "network.transmit_error_ratio",
        unit: "",
        labels: &["device"],
        about: "transmit errors per packet sent, over the last interval",
        families: &["network"],
        chart: None,
        read: |i, memory, out| errors(i, memory, out, false),
    },
    Quantity {
        name: "clock.unsynchronised",
        unit: "",
        labels: &[],
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
        labels: &[],
        about: "how far the clock is from its reference, either way (|node_timex_offset_seconds|)",
        families: &["timex"],
        chart: None,
        read: |i, _, out| one(out, i.exported("timex", "node_timex_offset_seconds").map(f64::abs)),
    },
    Quantity {
        name: "filefd.used_percent",
        unit: "%",
        labels: &[],
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
        labels: &[],
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
        labels: &["unit"],
        about: "1 for each systemd unit in the failed state (`services.failed`)",
        families: &["services"],
        chart: None,
        read: |i, _, out| {
            let failed = i.snapshot.services.as_ref().and_then(|s| s.failed.as_ref());
            for u in failed.into_iter().flatten() {
                out.push(Value { labels: label(&[("unit", &u.name)]), value: 1.0 });
            }
        },
    },
    Quantity {
        name: "sensor.temperature_c",
        unit: "°C",
        labels: &["chip", "sensor"],
        about: "a temperature sensor's reading (`sensors`)",
        families: &["sensors"],
        chart: None,
        read: |i, _, out| sensors(i, out, |_| Some(0.0)),
    },
    Quantity {
        name: "sensor.above_high_c",
        unit: "°C",
        labels: &["chip", "sensor"],
        about: "how far a sensor is above its own high limit (negative below it); absent without a limit",
        families: &["sensors"],
        chart: None,
        read: |i, _, out| sensors(i, out, |s| s.high_c.filter(|h| *h > 0.0)),
    },
    Quantity {
        name: "sensor.above_critical_c",
        unit: "°C",
        labels: &["chip", "sensor"],
        about: "how far a sensor is above its own critical limit (negative below it); absent without one",
        families: &["sensors"],
        chart: None,
        read: |i, _, out| sensors(i, out, |s| s.critical_c.filter(|c| *c > 0.0)),
    },
    Quantity {
        name: "raspberry_pi.throttled",
        unit: "",
        labels: &[],
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
        labels: &[],
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
        labels: &["device", "model"],
        about: "1 for each drive whose verdict is `failing` (its SMART self-assessment, a pre-failure attribute at \
                its threshold, an NVMe critical warning, spare below its threshold), 0 for the others read awake",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for d in drives(i.snapshot) {
                out.push(Value { labels: drive_labels(d), value: flag(d.verdict == "failing") });
            }
        },
    },
    Quantity {
        name: "disk_health.critical_warning",
        unit: "",
        labels: &["device", "model"],
        about: "an NVMe drive's critical warning bits (0: none; 1 spare, 2 temperature, 4 reliability, 8 read-only, \
                16 volatile memory backup)",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for d in drives(i.snapshot) {
                if let Some(cw) = d.nvme.as_ref().and_then(|n| n.critical_warning) {
                    out.push(Value { labels: drive_labels(d), value: cw as f64 });
                }
            }
        },
    },
    Quantity {
        name: "disk_health.spare_below_threshold",
        unit: "",
        labels: &["device", "model"],
        about: "1 when an NVMe drive's available spare is below the threshold it sets itself, else 0",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for d in drives(i.snapshot) {
                let nvme = d.nvme.as_ref();
                if let Some((s, t)) = nvme.and_then(|n| n.available_spare.zip(n.available_spare_threshold)) {
                    out.push(Value { labels: drive_labels(d), value: flag(s < t) });
                }
            }
        },
    },
    Quantity {
        name: "disk_health.percentage_used",
        unit: "%",
        labels: &["device", "model"],
        about: "how much of an NVMe drive's rated endurance is used (its own estimate; may pass 100)",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for d in drives(i.snapshot) {
                if let Some(u) = d.nvme.as_ref().and_then(|n| n.percentage_used) {
                    out.push(Value { labels: drive_labels(d), value: u as f64 });
                }
            }
        },
    },
    Quantity {
        name: "disk_health.above_limit_c",
        unit: "°C",
        labels: &["device", "model"],
        about: "how far a drive's temperature is above its own limit (ATA SCT's operating limit, SCSI's trip \
                temperature; negative below it); absent without a limit",
        families: &["smart"],
        chart: None,
        read: |i, _, out| {
            for d in drives(i.snapshot) {
                if let (Some(t), Some(l)) = (d.temperature_celsius, d.temperature_limit_celsius.filter(|l| *l > 0.0)) {
                    out.push(Value { labels: drive_labels(d), value: t - l });
                }
            }
        },
    },
    Quantity {
        name: "disk_health.bad_sectors_growth",
        unit: "",
        labels: &["device", "model"],
        about: "how many bad sectors and errors a drive gained in the last 24 hours: the raw values of ATA \
                attributes 5, 187, 188, 197 and 198 (Backblaze's five), NVMe media errors and SCSI grown \
                defects and uncorrected errors, summed, against their lowest in that time",
        families: &["smart"],
        chart: None,
        read: |i, memory, out| {
            for d in drives(i.snapshot) {
                let Some(n) = bad_sectors(d) else { continue };
                let grown = memory.growth(("bad_sectors", &d.device), n, i.at, GROWTH_SPAN);
                out.push(Value { labels: drive_labels(d), value: grown });
            }
        },
    },
    Quantity {
        name: "updates.pending",
        unit: "",
        labels: &[],
        about: "packages with an update (`system.os_update.count`), once checked",
        families: &["os_update"],
        chart: None,
        read: |i, _, out| one(out, i.snapshot.system.os_update.as_ref().and_then(|u| u.count).map(|c| c as f64)),
    },
    Quantity {
        name: "updates.security",
        unit: "",
        labels: &[],
        about: "security updates pending (`system.os_update.security`), once checked",
        families: &["os_update"],
        chart: None,
        read: |i, _, out| one(out, i.snapshot.system.os_update.as_ref().and_then(|u| u.security).map(|c| c as f64)),
    },
    Quantity {
        name: "reboot.required",
        unit: "",
        labels: &[],
        about: "1 when the system asks for a reboot (an updated kernel or library), else 0",
        families: &["os_update"],
        chart: None,
        read: |i, _, out| one(out, i.snapshot.system.os_update.as_ref().and_then(|u| u.reboot_required).map(flag)),
    },
    Quantity {
        name: "container.restarting",
        unit: "",
        labels: &["container", "image"],
        about: "1 for each container Docker is restarting (a crash loop), 0 for the others",
        families: &["containers"],
        chart: None,
        read: |i, _, out| {
            for c in containers(i.snapshot) {
                let labels = label(&[("container", &c.name), ("image", &c.image)]);
                out.push(Value { labels, value: flag(c.state == "restarting") });
            }
        },
    },
    Quantity {
        name: "container.exit_code",
        unit: "",
        labels: &["container", "image"],
        about: "the exit code of each exited container (from Docker's `Exited (N)`); absent for the others",
        families: &["containers"],
        chart: None,
        read: |i, _, out| {
            for c in containers(i.snapshot).filter(|c| c.state == "exited") {
                let code = c.status.strip_prefix("Exited (").and_then(|r| r.split(')').next());
                if let Some(code) = code.and_then(|c| c.parse::<f64>().ok()) {
                    out.push(Value { labels: label(&[("container", &c.name), ("image", &c.image)]), value: code });
                }
            }
        },
    },
    Quantity {
        name: "forwarder.destination_down",
        unit: "",
        labels: &["destination"],
        about: "1 while the forwarder on this host fails to deliver to a destination, else 0 \
                (needs SYSTEM_STATS_FORWARDER_URL)",
        families: &["forwarder"],
        chart: None,
        read: |i, _, out| {
            for d in destinations(i.snapshot) {
                if let Some(up) = d.up {
                    out.push(Value { labels: label(&[("destination", &d.destination)]), value: flag(!up) });
                }
            }
        },
    },
    Quantity {
        name: "forwarder.backlog_samples",
        unit: "",
        labels: &["destination"],
        about: "samples spooled for a destination, not yet delivered",
        families: &["forwarder"],
        chart: None,
        read: |i, _, out| {
            for d in destinations(i.snapshot) {
                if let Some(n) = d.spooled {
                    out.push(Value { labels: label(&[("destination", &d.destination)]), value: n as f64 });
                }
            }
        },
    },
    Quantity {
        name: "forwarder.backlog_growth_per_minute",
        unit: "/min",
        labels: &["destination"],
        about: "how fast a destination's backlog grows (samples per minute, a least-squares line over the last 10 minutes, known after 5; negative while it drains)",
        families: &["forwarder"],
        chart: None,
        read: |i, memory, out| {
            for d in destinations(i.snapshot) {
                let Some(n) = d.spooled else { continue };
                if let Some(slope) = memory.trend(("backlog", &d.destination), n as f64, i.at, BACKLOG_TREND) {
                    out.push(Value { labels: label(&[("destination", &d.destination)]), value: slope * 60.0 });
                }
            }
        },
    },
    Quantity {
        name: "forwarder.oldest_sample_age_seconds",
        unit: "s",
        labels: &["destination"],
        about: "the age of the oldest sample waiting for a destination",
        families: &["forwarder"],
        chart: None,
        read: |i, _, out| {
            for d in destinations(i.snapshot) {
                if let Some(age) = d.oldest_age_seconds {
                    out.push(Value { labels: label(&[("destination", &d.destination)]), value: age });
                }
            }
        },
    },
];

fn errors(i: &Input<'_>, memory: &mut Memory, out: &mut Vec<Value>, receive: bool) {
    let (ekey, pkey) = if receive { ("rx errors", "rx packets") } else { ("tx errors", "tx packets") };
    for n in i.snapshot.network.all_interfaces.iter().flatten() {
        let c = &n.counters;
        let (errors, packets) = if receive { (c.errin, c.packets_recv) } else { (c.errout, c.packets_sent) };
        let (Some(errors), Some(packets)) = (errors, packets) else { continue };
        let e = memory.rate(ekey, &n.name, errors as f64, i.at);
        let p = memory.rate(pkey, &n.name, packets as f64, i.at);
        if let (Some(e), Some(p)) = (e, p) {
            let value = if p > 0.0 { e / p } else { 0.0 };
            out.push(Value { labels: shared(&[("device", &n.name)]), value });
        }
    }
}

fn sensors(i: &Input<'_>, out: &mut Vec<Value>, limit: fn(&crate::snapshot::Sensor) -> Option<f64>) {
    for (chip, sensors) in i.snapshot.sensors.iter().flat_map(|s| s.0.iter()) {
        for s in sensors {
            if let Some(limit) = limit(s) {
                out.push(Value { labels: shared(&[("chip", chip), ("sensor", &s.label)]), value: s.current_c - limit });
            }
        }
    }
}

/// The drives read awake (not those asleep or unreadable: their last facts are old).
fn drives(s: &Snapshot) -> impl Iterator<Item = &crate::snapshot::DiskHealth> {
    s.disk_health
        .iter()
        .flat_map(|d| d.iter())
        .filter(|d| matches!(d.verdict.as_str(), "healthy" | "warning" | "failing"))
}

fn drive_labels(d: &crate::snapshot::DiskHealth) -> Labels {
    label(&[("device", &d.device), ("model", d.model.as_deref().unwrap_or(""))])
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

    /// A trend needs an hour; a line falling 1 GB an hour from 10 GB is 10 h from full.
    #[test]
    fn a_trend_is_a_least_squares_line_after_an_hour() {
        let mut m = Memory::default();
        let t0 = Instant::now();
        let gb = 1e9;
        let mut slope = None;
        for minute in 0..=60u64 {
            let at = t0 + Duration::from_secs(minute * 60);
            slope = m.trend(("fs", "/"), 11.0 * gb - gb * minute as f64 / 60.0, at, FILL_TREND);
            if minute < 60 {
                assert_eq!(slope, None, "trusted after {minute} min");
            }
        }
        let slope = slope.expect("a slope after an hour");
        let hours = 10.0 * gb / -slope / 3600.0;
        assert!((hours - 10.0).abs() < 1e-6, "{hours}");
    }

    /// A counter's rate; none across a reset.
    #[test]
    fn rates_skip_resets() {
        let mut m = Memory::default();
        let t0 = Instant::now();
        assert_eq!(m.rate("q", "a", 100.0, t0), None);
        assert_eq!(m.rate("q", "a", 300.0, t0 + Duration::from_secs(2)), Some(100.0));
        assert_eq!(m.rate("q", "a", 5.0, t0 + Duration::from_secs(4)), None);
        assert_eq!(m.rate("q", "a", 15.0, t0 + Duration::from_secs(5)), Some(10.0));
    }
}
