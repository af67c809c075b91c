//! `memory`: virtual memory with psutil's Linux definitions (`memory`), and every line of
//! `/proc/meminfo` (`memory.meminfo`, which `swap` and `/metrics` read too).
//!
//! Linux: `/proc/meminfo`, and `/proc/zoneinfo` for the rare kernel without `MemAvailable`.
//! Formulas are psutil's (`_pslinux.virtual_memory`), with `used = total − available` as in
//! psutil 7.1+ and procps `free`. macOS: `sysinfo` (host_statistics64).

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::metrics;
use crate::snapshot::{FieldMap, Memory, percent};

pub(crate) const ENTRY: Entry = Entry {
    name: "memory",
    about: "memory use with psutil's definitions, and every /proc/meminfo line",
    reads: &[],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(MemoryFamily::new(setup))),
};

#[cfg(target_os = "linux")]
pub(crate) struct MemoryFamily {
    meminfo: std::path::PathBuf,
    zoneinfo: std::path::PathBuf,
    files: super::shared::files::Files,
    page_size: u64,
    /// The last sample's lines, whose keys this sample's share.
    last: FieldMap,
}

#[cfg(target_os = "linux")]
impl MemoryFamily {
    fn new(setup: &Setup) -> MemoryFamily {
        MemoryFamily {
            meminfo: setup.procfs.join("meminfo"),
            zoneinfo: setup.procfs.join("zoneinfo"),
            // /proc/meminfo is about 1.5 KiB, /proc/zoneinfo of a big NUMA host 100 KiB
            files: super::shared::files::Files::with_limit(MEMINFO_LIMIT),
            page_size: page_size(),
            last: FieldMap::default(),
        }
    }
}

#[cfg(target_os = "linux")]
impl Collector for MemoryFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let path = &self.meminfo;
        let info = parse_meminfo_after(self.files.read(path)?, &self.last).map_err(|e| CollectError::parse(path, e))?;
        let low = if needs_zoneinfo(&info) {
            self.files.read_once_opt(&self.zoneinfo).and_then(parse_zoneinfo_low).map(|pages| pages * self.page_size)
        } else {
            None
        };
        r.snapshot.memory = memory(&info, low).map_err(|e| CollectError::parse(path, e))?;
        self.last = info.all;
        Ok(())
    }
}

/// The most `/proc/meminfo` (and `/proc/zoneinfo`, `/proc/vmstat`) may hold.
pub(crate) const MEMINFO_LIMIT: usize = 1 << 20;

/// The kernel's page size (`sysconf(_SC_PAGESIZE)`): 4 KiB, 16 KiB on a Pi 5's default kernel.
pub(crate) fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().map_or(4096, |v| v as u64)
}

#[cfg(target_os = "macos")]
pub(crate) struct MemoryFamily {
    system: Result<sysinfo::System, String>,
}

#[cfg(target_os = "macos")]
impl MemoryFamily {
    fn new(_: &Setup) -> MemoryFamily {
        MemoryFamily { system: sysinfo::System::new().map_err(|e| e.to_string()) }
    }
}

#[cfg(target_os = "macos")]
impl Collector for MemoryFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let sys = self.system.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        sys.refresh_memory();
        let total = sys.total_memory();
        let available = sys.available_memory().min(total);
        let m = &mut r.snapshot.memory;
        m.total = Some(total);
        m.available = Some(available);
        m.used = Some(total - available);
        m.free = Some(sys.free_memory());
        m.percent = Some(percent(total - available, total));
        Ok(())
    }
}

/// The `/proc/meminfo` lines psutil uses, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MemInfo {
    pub mem_total: Option<u64>,
    pub mem_free: Option<u64>,
    pub mem_available: Option<u64>,
    pub buffers: Option<u64>,
    pub cached: Option<u64>,
    pub s_reclaimable: Option<u64>,
    pub shmem: Option<u64>,
    pub mem_shared: Option<u64>,
    pub active: Option<u64>,
    pub inactive: Option<u64>,
    pub inact_dirty: Option<u64>,
    pub inact_clean: Option<u64>,
    pub inact_laundry: Option<u64>,
    pub active_file: Option<u64>,
    pub inactive_file: Option<u64>,
    pub slab: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_free: Option<u64>,
    /// Every line, in order: bytes for kB lines, the plain number for unitless ones.
    pub all: FieldMap,
}

/// Parses `/proc/meminfo` (`Key:   value kB` lines; values in kB unless no unit is given).
/// Unknown lines are ignored; a known line with a bad value is an error.
pub(crate) fn parse_meminfo(text: &str) -> Result<MemInfo, String> {
    parse_meminfo_after(text, &FieldMap::default())
}

/// [`parse_meminfo`], the keys shared with those of `last` (the last sample's `all`) where
/// they are the same, in the same place.
pub(crate) fn parse_meminfo_after(text: &str, last: &FieldMap) -> Result<MemInfo, String> {
    let mut m = MemInfo { all: FieldMap(Vec::with_capacity(last.0.len())), ..MemInfo::default() };
    for line in super::shared::files::lines(text) {
        let Some((key, rest)) = line.split_once(':') else { continue };
        let mut ignored = None;
        let slot = match key {
            "MemTotal" => &mut m.mem_total,
            "MemFree" => &mut m.mem_free,
            "MemAvailable" => &mut m.mem_available,
            "Buffers" => &mut m.buffers,
            "Cached" => &mut m.cached,
            "SReclaimable" => &mut m.s_reclaimable,
            "Shmem" => &mut m.shmem,
            "MemShared" => &mut m.mem_shared,
            "Active" => &mut m.active,
            "Inactive" => &mut m.inactive,
            "Inact_dirty" => &mut m.inact_dirty,
            "Inact_clean" => &mut m.inact_clean,
            "Inact_laundry" => &mut m.inact_laundry,
            "Active(file)" => &mut m.active_file,
            "Inactive(file)" => &mut m.inactive_file,
            "Slab" => &mut m.slab,
            "SwapTotal" => &mut m.swap_total,
            "SwapFree" => &mut m.swap_free,
            _ => &mut ignored,
        };
        let mut parts = rest.split_ascii_whitespace();
        let value = parts.next().ok_or_else(|| format!("{key} has no value"))?;
        let value: u64 = value.parse().map_err(|_| format!("{key} value {value:?} is not a number"))?;
        let scale = match parts.next() {
            Some("kB") => 1024,
            None => 1,
            Some(unit) => return Err(format!("{key} has unknown unit {unit:?}")),
        };
        *slot = Some(value * scale);
        let key = crate::snapshot::reuse(last.0.get(m.all.0.len()).map(|(k, _)| k), key);
        m.all.0.push((key, value * scale));
    }
    Ok(m)
}

/// The sum of the `low` watermarks of all zones in `/proc/zoneinfo`, in pages.
pub(crate) fn parse_zoneinfo_low(text: &str) -> Option<u64> {
    let mut sum = 0;
    let mut found = false;
    for line in super::shared::files::lines(text) {
        let mut fields = line.split_ascii_whitespace();
        if fields.next() == Some("low") {
            sum += fields.next()?.parse::<u64>().ok()?;
            found = true;
        }
    }
    found.then_some(sum)
}

/// psutil's `calculate_avail_vmem`, for kernels before 3.14 or that report `MemAvailable: 0`.
fn estimate_available(m: &MemInfo, free: u64, low_watermark_bytes: Option<u64>) -> u64 {
    let fallback = free + m.cached.unwrap_or(0);
    let (Some(active_file), Some(inactive_file), Some(reclaimable), Some(low)) =
        (m.active_file, m.inactive_file, m.s_reclaimable, low_watermark_bytes)
    else {
        return fallback;
    };
    let mut avail = free as i128 - low as i128;
    let pagecache = (active_file + inactive_file) as i128;
    avail += pagecache - (pagecache / 2).min(low as i128);
    avail += reclaimable as i128 - (reclaimable as i128 / 2).min(low as i128);
    avail.max(0) as u64
}

/// Virtual memory from `/proc/meminfo`. `low_watermark_bytes` (from `/proc/zoneinfo`) is only
/// needed when [`needs_zoneinfo`] says so.
pub(crate) fn memory(m: &MemInfo, low_watermark_bytes: Option<u64>) -> Result<Memory, String> {
    let total = m.mem_total.ok_or("MemTotal is missing")?;
    let free = m.mem_free.ok_or("MemFree is missing")?;
    let mut available = match m.mem_available {
        Some(a) if a > 0 => a,
        _ => estimate_available(m, free, low_watermark_bytes),
    };
    if available > total {
        available = free;
    }
    let inactive = m.inactive.or_else(|| Some(m.inact_dirty? + m.inact_clean? + m.inact_laundry?));
    Ok(Memory {
        total: Some(total),
        available: Some(available),
        percent: Some(percent(total - available, total)),
        used: Some(total - available),
        free: Some(free),
        active: m.active,
        inactive,
        buffers: m.buffers,
        cached: m.cached.map(|c| c + m.s_reclaimable.unwrap_or(0)),
        shared: m.shmem.or(m.mem_shared),
        slab: m.slab,
        meminfo: Some(m.all.clone()),
    })
}

/// Whether [`memory`] needs the zoneinfo watermarks (no usable `MemAvailable`).
pub(crate) fn needs_zoneinfo(m: &MemInfo) -> bool {
    !matches!(m.mem_available, Some(a) if a > 0)
}

/// The series of the memory in a snapshot: a `node_memory_<field>` for every meminfo line, as
/// node_exporter names them, and the share in use.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    let Some(meminfo) = &s.memory.meminfo else { return };
    for (key, v) in &meminfo.0 {
        let name = metric_name(key);
        let field = name.trim_start_matches("node_memory_").to_string();
        out.push(
            metrics::Family::new(name, metrics::Kind::Gauge, format!("Memory information field {field}."))
                .with(vec![], *v as f64),
        );
    }
    out.extend(metrics::Family::single(
        "system_stats_memory_used_ratio",
        metrics::Kind::Gauge,
        "Memory in use (total - available) over total, as /system's memory.percent.",
        s.memory.percent.map(|p| p / 100.0),
    ));
}

/// node_exporter's meminfo names: `Active(anon)` → `node_memory_Active_anon_bytes`; the
/// unitless `HugePages_*` lines keep no unit.
pub(crate) fn metric_name(key: &str) -> String {
    let key = match key.split_once('(') {
        Some((a, b)) => format!("{a}_{}", b.trim_end_matches(')')),
        None => key.to_string(),
    };
    if key.starts_with("HugePages_") { format!("node_memory_{key}") } else { format!("node_memory_{key}_bytes") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_names_follow_node_exporter() {
        assert_eq!(metric_name("MemTotal"), "node_memory_MemTotal_bytes");
        assert_eq!(metric_name("Active(anon)"), "node_memory_Active_anon_bytes");
        assert_eq!(metric_name("HugePages_Total"), "node_memory_HugePages_Total");
        assert_eq!(metric_name("Hugepagesize"), "node_memory_Hugepagesize_bytes");
    }

    const MEMINFO: &str = "MemTotal:        8000000 kB\nMemFree:         1000000 kB\n\
        MemAvailable:    6000000 kB\nBuffers:          100000 kB\nCached:          3000000 kB\n\
        SwapCached:            0 kB\nActive:          2000000 kB\nInactive:        2500000 kB\n\
        Active(file):    1500000 kB\nInactive(file):  2000000 kB\nShmem:             50000 kB\n\
        Slab:             400000 kB\nSReclaimable:     300000 kB\nSwapTotal:       2000000 kB\n\
        SwapFree:        1500000 kB\nHugePages_Total:       0\n";

    #[test]
    fn memory_follows_psutil() {
        let m = parse_meminfo(MEMINFO).unwrap();
        let mem = memory(&m, None).unwrap();
        assert_eq!(mem.total, Some(8_000_000 * 1024));
        assert_eq!(mem.available, Some(6_000_000 * 1024));
        assert_eq!(mem.used, Some(2_000_000 * 1024));
        assert_eq!(mem.percent, Some(25.0));
        assert_eq!(mem.cached, Some(3_300_000 * 1024));
        assert_eq!(mem.shared, Some(50_000 * 1024));
        assert_eq!(mem.slab, Some(400_000 * 1024));
        assert_eq!(mem.buffers, Some(100_000 * 1024));
        assert_eq!(mem.inactive, Some(2_500_000 * 1024));
        let all = mem.meminfo.unwrap();
        assert_eq!(all.0.len(), 16);
        assert_eq!(all.0[0], ("MemTotal".into(), 8_000_000 * 1024));
        // unitless lines keep their number
        assert_eq!(all.get("HugePages_Total"), Some(0));
        assert_eq!(all.get("Active(file)"), Some(1_500_000 * 1024));
        // the next sample shares the keys in place, and only those
        let next = parse_meminfo_after(MEMINFO, &m.all).unwrap();
        assert_eq!(next.all, m.all);
        assert!(next.all.0.iter().zip(&m.all.0).all(|(a, b)| std::sync::Arc::ptr_eq(&a.0, &b.0)));
        let moved = FieldMap(m.all.0.iter().rev().cloned().collect());
        let next = parse_meminfo_after(MEMINFO, &moved).unwrap();
        assert_eq!(next.all, m.all);
    }

    #[test]
    fn missing_available_is_estimated_like_psutil() {
        let text = MEMINFO.replace("MemAvailable:    6000000 kB\n", "");
        let m = parse_meminfo(&text).unwrap();
        assert!(needs_zoneinfo(&m));
        // without zoneinfo: free + cached
        assert_eq!(memory(&m, None).unwrap().available, Some(4_000_000 * 1024));
        // with watermarks: free - low + pagecache - min(pagecache/2, low) + sreclaimable - min(..)
        let low = 10_000 * 1024;
        let want = (1_000_000 - 10_000 + 3_500_000 - 10_000 + 300_000 - 10_000) * 1024;
        assert_eq!(memory(&m, Some(low)).unwrap().available, Some(want));
        let zoneinfo = "Node 0, zone   Normal\n  pages free     1000\n        min      100\n        low      125\n\
            Node 0, zone    DMA32\n        low      25\n";
        assert_eq!(parse_zoneinfo_low(zoneinfo), Some(150));
    }

    #[test]
    fn malformed_and_truncated_meminfo() {
        assert_eq!(memory(&parse_meminfo("").unwrap(), None).unwrap_err(), "MemTotal is missing");
        assert!(parse_meminfo("MemTotal: abc kB\n").unwrap_err().contains("\"abc\""));
        assert!(parse_meminfo("MemTotal:").unwrap_err().contains("no value"));
        assert!(parse_meminfo("MemTotal: 5 MB\n").unwrap_err().contains("unknown unit"));
        // truncated after MemTotal: the rest is unknown, not zero
        let m = parse_meminfo("MemTotal:        8000000 kB\nMemFree:  1000 kB\n").unwrap();
        let mem = memory(&m, None).unwrap();
        assert_eq!(mem.buffers, None);
        assert_eq!(mem.slab, None);
    }
}
