//! The snapshot as metric families: node_exporter's names, labels, types and units for the
//! families dashboards and alert rules are written against, and `system_stats_*` for what
//! node_exporter does not have. One model, several encodings: Prometheus text and OpenMetrics
//! ([`text`], served at `/metrics`), remote-write protobuf ([`remote_write`]) and InfluxDB line
//! protocol ([`influx`]) for the forwarder's push destinations.

pub mod influx;
pub mod parse;
pub mod process;
pub mod remote_write;
pub mod text;

use crate::snapshot::{CpuSeconds, Snapshot, Text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    /// What node_exporter leaves untyped (its vmstat and netstat fields): `untyped` in the
    /// text format, `unknown` in OpenMetrics.
    Untyped,
    /// Only from text files (`textfile`): their samples are `<name>{quantile}`, `<name>_sum`
    /// and `<name>_count` ([`Sample::suffix`]).
    Summary,
    /// Only from text files: `<name>_bucket{le}`, `<name>_sum`, `<name>_count`.
    Histogram,
}

impl Kind {
    /// The word the text format's `# TYPE` line uses.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Untyped => "untyped",
            Kind::Summary => "summary",
            Kind::Histogram => "histogram",
        }
    }
}

/// A label's name: ours are written in the code; those of a parsed text (a text file, the
/// service's `/metrics` read by the forwarder) are shared text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelName {
    Static(&'static str),
    Shared(Text),
}

impl std::ops::Deref for LabelName {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            LabelName::Static(s) => s,
            LabelName::Shared(s) => s,
        }
    }
}

impl From<&'static str> for LabelName {
    fn from(s: &'static str) -> Self {
        LabelName::Static(s)
    }
}

/// A series' labels, in the order they are written. Shared: a mount's or an interface's
/// labels are built once and used by all its families (20 000 mounts made 140 000 label
/// vectors of copied strings per render before).
pub type Labels = std::sync::Arc<[(LabelName, Text)]>;

/// One labelled value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
    /// What follows the family's name in this sample's name: `""`, or, in a summary or a
    /// histogram, `_sum`, `_count`, `_bucket`.
    pub suffix: &'static str,
}

impl Sample {
    pub fn new(labels: Labels, value: f64) -> Sample {
        Sample { labels, value, suffix: "" }
    }
}

/// What a label's value can be made from: shared text is cloned, not copied.
pub trait LabelValue {
    fn text(self) -> Text;
}

impl LabelValue for &Text {
    fn text(self) -> Text {
        self.clone()
    }
}

impl LabelValue for &str {
    fn text(self) -> Text {
        self.into()
    }
}

impl LabelValue for &String {
    fn text(self) -> Text {
        self.as_str().into()
    }
}

impl LabelValue for String {
    fn text(self) -> Text {
        self.into()
    }
}

macro_rules! number_label {
    ($($t:ty),*) => {$(
        impl LabelValue for $t {
            fn text(self) -> Text {
                self.to_string().into()
            }
        }
        impl LabelValue for &$t {
            fn text(self) -> Text {
                self.to_string().into()
            }
        }
    )*};
}
number_label!(u32, u64, usize, i64);

/// A metric family: its samples share name, help and type.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The full sample name (counters end in `_total`).
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

impl Family {
    pub fn new(name: impl Into<String>, kind: Kind, help: impl Into<String>) -> Family {
        Family { name: name.into(), help: help.into(), kind, samples: Vec::new() }
    }

    pub fn with(mut self, labels: Vec<(&'static str, Text)>, value: f64) -> Family {
        self.push(labels, value);
        self
    }

    pub fn push(&mut self, labels: Vec<(&'static str, Text)>, value: f64) {
        self.samples.push(Sample::new(self::labels(labels), value));
    }

    /// Adds a series whose labels other families share.
    pub fn push_shared(&mut self, labels: &Labels, value: f64) {
        self.samples.push(Sample::new(labels.clone(), value));
    }

    /// The names of its samples: its own, and for a summary or a histogram the suffixed
    /// ones too (what a scrape's series are named).
    pub fn sample_names(&self) -> Vec<String> {
        match self.kind {
            Kind::Summary => ["", "_sum", "_count"].iter().map(|s| format!("{}{s}", self.name)).collect(),
            Kind::Histogram => ["_bucket", "_sum", "_count"].iter().map(|s| format!("{}{s}", self.name)).collect(),
            _ => vec![self.name.clone()],
        }
    }

    pub fn single(name: &str, kind: Kind, help: &str, value: Option<f64>) -> Option<Family> {
        value.map(|v| Family::new(name, kind, help).with(vec![], v))
    }
}

/// A collector's series that have no place in `/system` (node_exporter's vmstat, netstat,
/// pressure...): kept as the collector read them, in its own compact types, and turned into
/// families only when `/metrics` is rendered (an unscraped service never builds them).
pub trait Export: std::fmt::Debug + Send + Sync {
    /// Appends this reading's families.
    fn families(&self, out: &mut Vec<Family>);
}

/// How each collector came out of the last sample (for `system_stats_collector_success`
/// and node_exporter's `node_scrape_collector_*`).
pub type CollectorStatus<'a> = &'a [crate::collect::Status];

/// Every family of a snapshot. `collectors` and `samples_total` come from the service's
/// sampler; the forwarder, which has only the JSON, passes none.
pub fn families(s: &Snapshot, collectors: CollectorStatus, samples_total: Option<u64>) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    cpu(s, &mut out);
    memory(s, &mut out);
    for (name, v) in
        [("node_load1", s.load_avg.load1), ("node_load5", s.load_avg.load5), ("node_load15", s.load_avg.load15)]
    {
        let help = format!("{}m load average.", &name[9..]);
        out.extend(Family::single(name, Kind::Gauge, &help, v));
    }
    filesystems(s, &mut out);
    disks(s, &mut out);
    network(s, &mut out);
    let boot = s.uptime.boot_time.as_deref().and_then(unix_seconds);
    out.extend(Family::single("node_boot_time_seconds", Kind::Gauge, "Node boot time, in unixtime.", boot));
    let now = unix_seconds(&s.collected_at);
    out.extend(Family::single("node_time_seconds", Kind::Gauge, "System time in seconds since epoch (1970).", now));
    uname(s, &mut out);
    temperatures(s, &mut out);
    containers(s, &mut out);
    own(s, collectors, samples_total, &mut out);
    out.retain(|f| !f.samples.is_empty());
    out
}

/// RFC 3339 → Unix seconds (with the fraction).
pub fn unix_seconds(t: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6)
}

pub fn label(k: &'static str, v: impl LabelValue) -> (&'static str, Text) {
    (k, v.text())
}

/// A label set to share between families ([`Family::push_shared`]).
pub fn labels(pairs: Vec<(&'static str, Text)>) -> Labels {
    pairs.into_iter().map(|(k, v)| (LabelName::Static(k), v)).collect()
}

fn cpu(s: &Snapshot, out: &mut Vec<Family>) {
    let mut seconds = Family::new("node_cpu_seconds_total", Kind::Counter, "Seconds the CPUs spent in each mode.");
    let mut guest = Family::new(
        "node_cpu_guest_seconds_total",
        Kind::Counter,
        "Seconds the CPUs spent in guests (VMs) for each mode.",
    );
    let mut busy = Family::new(
        "system_stats_cpu_core_utilisation_ratio",
        Kind::Gauge,
        "Busy share of each CPU over the last sampling interval (0 to 1).",
    );
    for pc in &s.cpu.per_cpu {
        let c = pc.cpu.to_string();
        let t: &CpuSeconds = &pc.times;
        for (mode, v) in [
            ("idle", t.idle),
            ("iowait", t.iowait),
            ("irq", t.irq),
            ("nice", t.nice),
            ("softirq", t.softirq),
            ("steal", t.steal),
            ("system", t.system),
            ("user", t.user),
        ] {
            seconds.push(vec![label("cpu", &c), label("mode", mode)], v);
        }
        guest.push(vec![label("cpu", &c), label("mode", "nice")], t.guest_nice);
        guest.push(vec![label("cpu", &c), label("mode", "user")], t.guest);
        if let Some(p) = pc.percent {
            busy.push(vec![label("cpu", &c)], p / 100.0);
        }
    }
    out.extend([seconds, guest, busy]);
    out.extend(Family::single(
        "system_stats_cpu_utilisation_ratio",
        Kind::Gauge,
        "Busy share of all CPUs over the last sampling interval (0 to 1), as /system's cpu.percent.",
        s.cpu.percent.map(|p| p / 100.0),
    ));
}

/// node_exporter's meminfo names: `Active(anon)` → `node_memory_Active_anon_bytes`; the
/// unitless `HugePages_*` lines keep no unit.
pub fn meminfo_metric_name(key: &str) -> String {
    let key = match key.split_once('(') {
        Some((a, b)) => format!("{a}_{}", b.trim_end_matches(')')),
        None => key.to_string(),
    };
    if key.starts_with("HugePages_") { format!("node_memory_{key}") } else { format!("node_memory_{key}_bytes") }
}

fn memory(s: &Snapshot, out: &mut Vec<Family>) {
    let Some(meminfo) = &s.memory.meminfo else { return };
    for (key, v) in &meminfo.0 {
        let name = meminfo_metric_name(key);
        let field = name.trim_start_matches("node_memory_").to_string();
        out.push(Family::new(name, Kind::Gauge, format!("Memory information field {field}.")).with(vec![], *v as f64));
    }
}

fn filesystems(s: &Snapshot, out: &mut Vec<Family>) {
    let mut size = Family::new("node_filesystem_size_bytes", Kind::Gauge, "Filesystem size in bytes.");
    let mut free = Family::new("node_filesystem_free_bytes", Kind::Gauge, "Filesystem free space in bytes.");
    let mut avail = Family::new(
        "node_filesystem_avail_bytes",
        Kind::Gauge,
        "Filesystem space available to non-root users in bytes.",
    );
    let mut files = Family::new("node_filesystem_files", Kind::Gauge, "Filesystem total file nodes.");
    let mut files_free = Family::new("node_filesystem_files_free", Kind::Gauge, "Filesystem total free file nodes.");
    let mut readonly = Family::new("node_filesystem_readonly", Kind::Gauge, "Filesystem read-only status.");
    let mut device_error = Family::new(
        "node_filesystem_device_error",
        Kind::Gauge,
        "Whether an error occurred while getting statistics for the given device.",
    );
    for f in s.filesystems.iter().flatten() {
        let l =
            labels(vec![label("device", &f.device), label("fstype", &f.fstype), label("mountpoint", &f.mountpoint)]);
        // as node_exporter: a filesystem that could not be stat'ed has only its error
        device_error.push_shared(&l, if f.error.is_some() { 1.0 } else { 0.0 });
        if let (Some(t), Some(fr), Some(av)) = (f.total, f.free_root, f.free) {
            size.push_shared(&l, t as f64);
            free.push_shared(&l, fr as f64);
            avail.push_shared(&l, av as f64);
            readonly.push_shared(&l, if f.readonly { 1.0 } else { 0.0 });
        }
        if let (Some(n), Some(nf)) = (f.files, f.files_free) {
            files.push_shared(&l, n as f64);
            files_free.push_shared(&l, nf as f64);
        }
    }
    out.extend([size, free, avail, files, files_free, readonly, device_error]);
}

fn disks(s: &Snapshot, out: &mut Vec<Family>) {
    let Some(disks) = &s.disks else { return };
    type Get = fn(&crate::snapshot::DiskDevice) -> f64;
    let defs: [(&str, &str, Get); 9] = [
        ("node_disk_reads_completed_total", "The total number of reads completed successfully.", |d| {
            d.read_count as f64
        }),
        ("node_disk_writes_completed_total", "The total number of writes completed successfully.", |d| {
            d.write_count as f64
        }),
        ("node_disk_read_bytes_total", "The total number of bytes read successfully.", |d| d.read_bytes as f64),
        ("node_disk_written_bytes_total", "The total number of bytes written successfully.", |d| d.write_bytes as f64),
        ("node_disk_reads_merged_total", "The total number of reads merged.", |d| d.read_merged_count as f64),
        ("node_disk_writes_merged_total", "The number of writes merged.", |d| d.write_merged_count as f64),
        ("node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.", |d| {
            d.read_time as f64 / 1000.0
        }),
        ("node_disk_write_time_seconds_total", "This is the total number of seconds spent by all writes.", |d| {
            d.write_time as f64 / 1000.0
        }),
        ("node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", |d| d.busy_time as f64 / 1000.0),
    ];
    let device_labels: Vec<Labels> = disks.iter().map(|d| labels(vec![label("device", &d.name)])).collect();
    for (name, help, get) in defs {
        let mut f = Family::new(name, Kind::Counter, help);
        for (d, l) in disks.iter().zip(&device_labels) {
            f.push_shared(l, get(d));
        }
        out.push(f);
    }
    let mut read = Family::new(
        "system_stats_disk_device_read_bytes_per_second",
        Kind::Gauge,
        "Read rate over the last sampling interval.",
    );
    let mut written = Family::new(
        "system_stats_disk_device_written_bytes_per_second",
        Kind::Gauge,
        "Write rate over the last sampling interval.",
    );
    for (d, l) in disks.iter().zip(&device_labels) {
        if let (Some(r), Some(w)) = (d.read_bytes_per_sec, d.write_bytes_per_sec) {
            read.push_shared(l, r);
            written.push_shared(l, w);
        }
    }
    out.extend([read, written]);
}

fn network(s: &Snapshot, out: &mut Vec<Family>) {
    let Some(ifs) = &s.network.all_interfaces else { return };
    type Get = fn(&crate::snapshot::NetIoCounters) -> Option<u64>;
    let defs: [(&str, Get); 8] = [
        ("receive_bytes", |c| c.bytes_recv),
        ("receive_drop", |c| c.dropin),
        ("receive_errs", |c| c.errin),
        ("receive_packets", |c| c.packets_recv),
        ("transmit_bytes", |c| c.bytes_sent),
        ("transmit_drop", |c| c.dropout),
        ("transmit_errs", |c| c.errout),
        ("transmit_packets", |c| c.packets_sent),
    ];
    let device_labels: Vec<Labels> = ifs.iter().map(|i| labels(vec![label("device", &i.name)])).collect();
    for (stat, get) in defs {
        let mut f = Family::new(
            format!("node_network_{stat}_total"),
            Kind::Counter,
            format!("Network device statistic {stat}."),
        );
        for (i, l) in ifs.iter().zip(&device_labels) {
            if let Some(v) = get(&i.counters) {
                f.push_shared(l, v as f64);
            }
        }
        out.push(f);
    }
    // node_network_up, _mtu_bytes, _speed_bytes... are netclass series: `interfaces` exports them
    let mut rx = Family::new(
        "system_stats_network_device_receive_bytes_per_second",
        Kind::Gauge,
        "Receive rate over the last sampling interval.",
    );
    let mut tx = Family::new(
        "system_stats_network_device_transmit_bytes_per_second",
        Kind::Gauge,
        "Transmit rate over the last sampling interval.",
    );
    for (i, l) in ifs.iter().zip(&device_labels) {
        if let (Some(r), Some(t)) = (i.recv_bytes_per_sec, i.sent_bytes_per_sec) {
            rx.push_shared(l, r);
            tx.push_shared(l, t);
        }
    }
    out.extend([rx, tx]);
}

fn uname(s: &Snapshot, out: &mut Vec<Family>) {
    let y = &s.system;
    let Some(nodename) = &y.hostname else { return };
    out.push(
        Family::new("node_uname_info", Kind::Gauge, "Labeled system information as provided by the uname system call.")
            .with(
                vec![
                    label("domainname", y.domainname.as_deref().unwrap_or("(none)")),
                    label("machine", y.architecture.as_deref().unwrap_or("")),
                    label("nodename", nodename),
                    label("release", y.os_release.as_deref().unwrap_or("")),
                    label("sysname", y.os.as_deref().unwrap_or("")),
                    label("version", y.os_version.as_deref().unwrap_or("")),
                ],
                1.0,
            ),
    );
}

fn temperatures(s: &Snapshot, out: &mut Vec<Family>) {
    let mut zones = Family::new("node_thermal_zone_temp", Kind::Gauge, "Zone temperature in Celsius");
    for z in s.thermal_zones.iter().flatten() {
        zones.push(vec![label("type", &z.kind), label("zone", z.zone)], z.celsius);
    }
    // node_hwmon_* are exported by `sensors` itself (every attribute, not only temperatures)
    out.push(zones);
    out.extend(Family::single(
        "system_stats_cpu_temperature_celsius",
        Kind::Gauge,
        "The CPU's temperature, as /system's cpu.temperature_c.",
        s.cpu.temperature_c,
    ));
    if let Some(pi) = &s.raspberry_pi {
        let mut f = Family::new(
            "system_stats_raspberry_pi_throttled",
            Kind::Gauge,
            "Raspberry Pi firmware throttling flags (get_throttled): 1 when set, now or since boot.",
        );
        for (flag, now, since) in [
            ("under_voltage", pi.under_voltage, pi.under_voltage_occurred),
            ("frequency_capped", pi.frequency_capped, pi.frequency_capped_occurred),
            ("throttled", pi.throttled, pi.throttled_occurred),
            ("soft_temperature_limit", pi.soft_temperature_limit, pi.soft_temperature_limit_occurred),
        ] {
            f.push(vec![label("flag", flag), label("when", "now")], f64::from(u8::from(now)));
            f.push(vec![label("flag", flag), label("when", "since_boot")], f64::from(u8::from(since)));
        }
        out.push(f);
    }
}

/// Containers, with cAdvisor's names where one fits (`container_*`, labels `id`, `name`,
/// `image`), summed over a container's interfaces and devices.
fn containers(s: &Snapshot, out: &mut Vec<Family>) {
    let Some(d) = &s.docker else { return };
    out.push(
        Family::new("system_stats_docker_up", Kind::Gauge, "1 if the container engine answered, 0 if not.")
            .with(vec![], if d.available { 1.0 } else { 0.0 }),
    );
    let Some(list) = &d.containers else { return };
    type Get = fn(&crate::snapshot::Container) -> Option<f64>;
    let defs: [(&str, Kind, &str, Get); 9] = [
        ("container_cpu_usage_seconds_total", Kind::Counter, "Cumulative cpu time consumed in seconds.", |c| {
            c.cpu_seconds_total
        }),
        (
            "container_memory_working_set_bytes",
            Kind::Gauge,
            "Current working set in bytes (usage less inactive file cache, as docker stats).",
            |c| c.memory_bytes.map(|v| v as f64),
        ),
        ("container_spec_memory_limit_bytes", Kind::Gauge, "Memory limit for the container.", |c| {
            c.memory_limit_bytes.map(|v| v as f64)
        }),
        ("container_network_receive_bytes_total", Kind::Counter, "Cumulative count of bytes received.", |c| {
            c.net_rx_bytes.map(|v| v as f64)
        }),
        ("container_network_transmit_bytes_total", Kind::Counter, "Cumulative count of bytes transmitted.", |c| {
            c.net_tx_bytes.map(|v| v as f64)
        }),
        ("container_fs_reads_bytes_total", Kind::Counter, "Cumulative count of bytes read.", |c| {
            c.block_read_bytes.map(|v| v as f64)
        }),
        ("container_fs_writes_bytes_total", Kind::Counter, "Cumulative count of bytes written.", |c| {
            c.block_write_bytes.map(|v| v as f64)
        }),
        (
            "system_stats_container_running",
            Kind::Gauge,
            "1 if the container is running, 0 if it exists in another state.",
            |c| Some(if c.state == "running" { 1.0 } else { 0.0 }),
        ),
        (
            "system_stats_container_update_available",
            Kind::Gauge,
            "1 if the registry has another image under the container's tag, 0 if not (absent when unknown).",
            |c| c.update_available.map(|u| if u { 1.0 } else { 0.0 }),
        ),
    ];
    for (name, kind, help, get) in defs {
        let mut f = Family::new(name, kind, help);
        for c in list {
            if let Some(v) = get(c) {
                f.push(vec![label("id", &c.id), label("image", &c.image), label("name", &c.name)], v);
            }
        }
        out.push(f);
    }
}

fn own(s: &Snapshot, collectors: CollectorStatus, samples_total: Option<u64>, out: &mut Vec<Family>) {
    let t = &s.throughput;
    for (name, help, v) in [
        (
            "system_stats_disk_read_bytes_per_second",
            "Read rate of all whole disks over the last sampling interval.",
            t.disk_read_bytes_per_sec,
        ),
        (
            "system_stats_disk_written_bytes_per_second",
            "Write rate of all whole disks over the last sampling interval.",
            t.disk_write_bytes_per_sec,
        ),
        (
            "system_stats_network_receive_bytes_per_second",
            "Receive rate of all interfaces over the last sampling interval.",
            t.net_recv_bytes_per_sec,
        ),
        (
            "system_stats_network_transmit_bytes_per_second",
            "Transmit rate of all interfaces over the last sampling interval.",
            t.net_sent_bytes_per_sec,
        ),
        (
            "system_stats_sample_interval_seconds",
            "The interval the last sample's rates were measured over.",
            t.interval_seconds,
        ),
        (
            "system_stats_memory_used_ratio",
            "Memory in use (total - available) over total, as /system's memory.percent.",
            s.memory.percent.map(|p| p / 100.0),
        ),
        (
            "system_stats_last_sample_timestamp_seconds",
            "When the sample served was taken, Unix time.",
            unix_seconds(&s.collected_at),
        ),
    ] {
        out.extend(Family::single(name, Kind::Gauge, help, v));
    }
    if let Some(n) = samples_total {
        out.push(
            Family::new("system_stats_samples_total", Kind::Counter, "Samples taken since the service started.")
                .with(vec![], n as f64),
        );
    }
    let mut ok = Family::new(
        "system_stats_collector_success",
        Kind::Gauge,
        "1 if the collector's last reading succeeded, 0 if it failed.",
    );
    // node_exporter's own pair, which its dashboards chart ("Node Exporter" row)
    let mut scrape_ok =
        Family::new("node_scrape_collector_success", Kind::Gauge, "node_exporter: Whether a collector succeeded.");
    let mut scrape_time = Family::new(
        "node_scrape_collector_duration_seconds",
        Kind::Gauge,
        "node_exporter: Duration of a collector scrape.",
    );
    for c in collectors {
        let success = if c.error.is_none() { 1.0 } else { 0.0 };
        ok.push(vec![label("collector", c.name)], success);
        scrape_ok.push(vec![label("collector", c.name)], success);
        scrape_time.push(vec![label("collector", c.name)], c.seconds);
    }
    out.extend([ok, scrape_ok, scrape_time]);
    out.push(
        Family::new(
            "system_stats_build_info",
            Kind::Gauge,
            "A metric with a constant '1' value labeled by the version and git commit of system-stats.",
        )
        .with(vec![label("version", env!("CARGO_PKG_VERSION")), label("revision", env!("SYSTEM_STATS_COMMIT"))], 1.0),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_names_follow_node_exporter() {
        assert_eq!(meminfo_metric_name("MemTotal"), "node_memory_MemTotal_bytes");
        assert_eq!(meminfo_metric_name("Active(anon)"), "node_memory_Active_anon_bytes");
        assert_eq!(meminfo_metric_name("HugePages_Total"), "node_memory_HugePages_Total");
        assert_eq!(meminfo_metric_name("Hugepagesize"), "node_memory_Hugepagesize_bytes");
    }

    #[test]
    fn an_empty_snapshot_has_only_always_present_families() {
        let failed = crate::collect::Status { name: "memory", error: Some("boom".into()), seconds: 0.25 };
        let f = families(&Snapshot::default(), &[failed], None);
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "system_stats_collector_success",
                "node_scrape_collector_success",
                "node_scrape_collector_duration_seconds",
                "system_stats_build_info"
            ]
        );
        assert_eq!(f[0].samples[0].value, 0.0);
        assert_eq!(f[1].samples[0].value, 0.0);
        assert_eq!(f[2].samples[0].value, 0.25);
    }
}
