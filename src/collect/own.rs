//! The service's own series, beside the families': how each collector fared
//! (`system_stats_collector_success`, node_exporter's `node_scrape_collector_*`), the
//! sampler's (samples, interval, last sample's time), the build's; and this process's own
//! (`process_*`, as every Prometheus client library exports them: CPU time, resident and
//! virtual memory, open and maximum file descriptors, start time), which both programs
//! export. Not a family: these are always there.
//!
//! The `process_*` series are read when `/metrics` is rendered, from this process's own
//! `/proc/self` (never `SYSTEM_STATS_PROCFS`, which may be the host's or a recorded tree).

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use super::Status;
use crate::metrics::{Family, Kind, label, unix_seconds};
use crate::snapshot::Snapshot;

/// The service's own series of a sample: `collectors` and `samples_total` from its sampler.
pub(crate) fn service_series(s: &Snapshot, collectors: &[Status], samples_total: Option<u64>, out: &mut Vec<Family>) {
    let now = unix_seconds(&s.collected_at);
    out.extend(Family::single("node_time_seconds", Kind::Gauge, "System time in seconds since epoch (1970).", now));
    let t = &s.throughput;
    for (name, help, v) in [
        (
            "system_stats_sample_interval_seconds",
            "The interval the last sample's rates were measured over.",
            t.interval_seconds,
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

/// What is known of this process now.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Usage {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub virtual_max_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

/// Appends the `process_*` families (those that could be read).
pub fn process_series(out: &mut Vec<Family>) {
    let u = usage();
    for (name, kind, help, value) in [
        ("process_cpu_seconds_total", Kind::Counter, "Total user and system CPU time spent in seconds.", u.cpu_seconds),
        ("process_resident_memory_bytes", Kind::Gauge, "Resident memory size in bytes.", u.resident_bytes),
        ("process_virtual_memory_bytes", Kind::Gauge, "Virtual memory size in bytes.", u.virtual_bytes),
        (
            "process_virtual_memory_max_bytes",
            Kind::Gauge,
            "Maximum amount of virtual memory available in bytes.",
            u.virtual_max_bytes,
        ),
        ("process_open_fds", Kind::Gauge, "Number of open file descriptors.", u.open_fds),
        ("process_max_fds", Kind::Gauge, "Maximum number of open file descriptors.", u.max_fds),
        (
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since unix epoch in seconds.",
            u.start_time_seconds,
        ),
    ] {
        out.extend(Family::single(name, kind, help, value));
    }
}

/// A resource limit's soft value; "unlimited" as the Go client reports it (2^64).
fn soft_limit(resource: nix::sys::resource::Resource) -> Option<f64> {
    let (soft, _) = nix::sys::resource::getrlimit(resource).ok()?;
    Some(if soft == nix::sys::resource::RLIM_INFINITY { u64::MAX as f64 } else { soft as f64 })
}

/// How many descriptors this process has open: the entries of its descriptor directory.
fn open_fds(dir: &str) -> Option<f64> {
    // the listing's own descriptor is counted by the kernel's listing, as Go's client counts it
    Some(std::fs::read_dir(dir).ok()?.count() as f64)
}

#[cfg(target_os = "linux")]
pub(crate) fn usage() -> Usage {
    use std::sync::OnceLock;
    static TICKS: OnceLock<f64> = OnceLock::new();
    static BOOT: OnceLock<Option<f64>> = OnceLock::new();
    let hz = *TICKS.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map_or(100.0, |v| v as f64)
    });
    let boot = *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        super::cpu::parse_stat(&stat).ok()?.btime.map(|b| b as f64)
    });
    let page = super::memory::page_size() as f64;
    let stat = std::fs::read_to_string("/proc/self/stat").ok().and_then(|t| parse_self_stat(&t));
    Usage {
        cpu_seconds: stat.map(|s| (s.utime + s.stime) as f64 / hz),
        resident_bytes: stat.map(|s| s.rss_pages as f64 * page),
        virtual_bytes: stat.map(|s| s.vsize as f64),
        virtual_max_bytes: soft_limit(nix::sys::resource::Resource::RLIMIT_AS),
        open_fds: open_fds("/proc/self/fd"),
        max_fds: soft_limit(nix::sys::resource::Resource::RLIMIT_NOFILE),
        start_time_seconds: stat.and_then(|s| Some(boot? + s.starttime as f64 / hz)),
    }
}

#[cfg(target_os = "macos")]
pub(crate) fn usage() -> Usage {
    use std::sync::OnceLock;
    // the start as this process saw it: libproc's start time needs an unsafe call and a struct
    // this code could not run to check; the first render is within a second of the start
    static START: OnceLock<f64> = OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    });
    let cpu = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok().map(|u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
        t(u.user_time()) + t(u.system_time())
    });
    let pid = sysinfo::Pid::from_u32(std::process::id());
    let memory = sysinfo::System::new().ok().and_then(|mut system| {
        system.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&[pid]),
            true,
            sysinfo::ProcessRefreshKind::nothing().with_memory(),
        );
        system.process(pid).map(|p| (p.memory() as f64, p.virtual_memory() as f64))
    });
    Usage {
        cpu_seconds: cpu,
        resident_bytes: memory.map(|m| m.0),
        virtual_bytes: memory.map(|m| m.1),
        virtual_max_bytes: soft_limit(nix::sys::resource::Resource::RLIMIT_AS),
        open_fds: open_fds("/dev/fd"),
        max_fds: soft_limit(nix::sys::resource::Resource::RLIMIT_NOFILE),
        start_time_seconds: Some(start),
    }
}

/// The fields of `/proc/<pid>/stat` these series need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SelfStat {
    pub utime: u64,
    pub stime: u64,
    pub starttime: u64,
    pub vsize: u64,
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`; the command name (field 2) may hold spaces and parentheses, so
/// the fields are counted from its last `)`.
pub(crate) fn parse_self_stat(text: &str) -> Option<SelfStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // fields from 3 (state) on: utime is 14, stime 15, starttime 22, vsize 23, rss 24
    let f: Vec<&str> = rest.split_ascii_whitespace().take(22).collect();
    let n = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some(SelfStat { utime: n(14)?, stime: n(15)?, starttime: n(22)?, vsize: n(23)?, rss_pages: n(24)? })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Whether this process's `/proc/<pid>/stat` is not the kernel's: qemu-user (the ARM
    /// checks run the tests under it) writes its own, with a zero virtual size and resident
    /// set, which no process the kernel runs has. The tests of what a process reads of itself
    /// say so and stop there.
    #[cfg(target_os = "linux")]
    pub(crate) fn emulated_proc_self() -> bool {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let emulated = parse_self_stat(&text).is_some_and(|s| s.vsize == 0);
        if emulated {
            eprintln!("/proc/self/stat has a zero virtual size: an emulator's, not the kernel's; not checked");
        }
        emulated
    }

    /// A snapshot with nothing in it has the service's own series only, the collectors'
    /// statuses as they came out.
    #[test]
    fn an_empty_snapshot_has_only_always_present_families() {
        let failed = Status { name: "memory", error: Some("boom".into()), seconds: 0.25 };
        let f = crate::collect::snapshot_families(&Snapshot::default(), &[failed], None);
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

    #[test]
    fn stat_of_a_process_with_a_strange_name() {
        let line = "4242 (sys (stats) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 25 0 0 20 0 9 0 \
                    123456 987654321 1234 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_self_stat(line).unwrap();
        assert_eq!(s, SelfStat { utime: 150, stime: 25, starttime: 123456, vsize: 987654321, rss_pages: 1234 });
        assert_eq!(parse_self_stat("4242 (x) S 1 2 3"), None);
        assert_eq!(parse_self_stat("no parenthesis"), None);
    }

    /// This very process, read as the families are rendered: plausible and consistent.
    #[cfg(target_os = "linux")]
    #[test]
    fn this_process() {
        if emulated_proc_self() {
            return;
        }
        let u = usage();
        let rss = u.resident_bytes.unwrap();
        assert!(rss > 1e5 && rss < u.virtual_bytes.unwrap(), "{u:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let started = u.start_time_seconds.unwrap();
        assert!(started <= now + 1.0 && started > now - 3600.0, "{started} vs {now}");
        assert!(u.open_fds.unwrap() >= 3.0 && u.open_fds.unwrap() <= u.max_fds.unwrap());
        let mut f = Vec::new();
        process_series(&mut f);
        assert_eq!(f.len(), 7, "{f:?}");
        assert!(f.iter().all(|f| f.name.starts_with("process_")));
    }
}
