//! `disk_io`: block I/O since boot, summed over whole disks (`disk_io`, psutil's
//! `disk_io_counters(perdisk=False)`), per device (`disks`, node_exporter's device set), and
//! the read and write rates over the sampling interval (`throughput.disk_*`).
//!
//! For `/metrics` beside those, node_exporter's other diskstats series per device: I/Os in
//! progress, weighted I/O time, discards (Linux 4.18+) and flushes (5.5+), and
//! `node_disk_info` with the udev properties node_exporter labels it with (`/run/udev/data`).
//!
//! Linux: `/proc/diskstats`; whole disks are the names under `/sys/block`, listed again only
//! when the set of devices changes (the udev properties are read then too). Counters are made
//! monotonic per device ([`NoWrap`]). macOS: `sysinfo` (bytes only).

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::time::Instant;

#[cfg(target_os = "linux")]
use super::shared::counters::NoWrap;
use super::shared::counters::rate;
use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::metrics::{self, Kind};
use crate::snapshot::{DiskIo, round2};

pub(crate) const ENTRY: Entry = Entry {
    name: "disk_io",
    about: "block I/O since boot, per disk, and read/write rates (/proc/diskstats)",
    reads: &[],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(DiskStats::new(setup))),
};

/// The totals of the previous sample, for the rates.
type Previous = Option<(Instant, DiskCounters)>;

#[cfg(target_os = "linux")]
pub(crate) struct DiskStats {
    diskstats: std::path::PathBuf,
    sys_block: std::path::PathBuf,
    files: super::shared::files::Files,
    counters: NoWrap<COUNTERS>,
    /// The devices of the last diskstats read, in order, and what is known of each: whether
    /// it is a whole disk (an entry of /sys/block, which is listed again only when this
    /// list changes) and whether node_exporter reports it.
    devices: Vec<Device>,
    /// This sample's lines, in the order of `devices`.
    raw: Vec<Line>,
    /// Where udev keeps its device properties (`/run/udev/data`).
    udev: std::path::PathBuf,
    exclude: super::shared::exclude::Exclusions,
    previous: Previous,
}

#[cfg(target_os = "linux")]
struct Device {
    name: crate::snapshot::Text,
    whole: bool,
    reported: bool,
    /// node_exporter's `node_disk_info` labels from udev: path, wwn, model, serial, revision.
    udev: std::sync::Arc<[String; 5]>,
}

#[cfg(target_os = "linux")]
impl DiskStats {
    fn new(setup: &Setup) -> DiskStats {
        DiskStats {
            diskstats: setup.procfs.join("diskstats"),
            sys_block: setup.sysfs.join("block"),
            files: Default::default(),
            counters: NoWrap::default(),
            devices: Vec::new(),
            raw: Vec::new(),
            udev: std::path::PathBuf::from(UDEV_DATA),
            exclude: setup.exclude.clone(),
            previous: None,
        }
    }

    /// Lists /sys/block again for a new set of devices.
    fn relist(&mut self, names: Vec<String>) -> Result<(), CollectError> {
        super::shared::files::note(&self.sys_block);
        let entries = std::fs::read_dir(&self.sys_block).map_err(|e| CollectError::io(&self.sys_block, e))?;
        let block: std::collections::HashSet<String> =
            entries.flatten().filter_map(|e| e.file_name().to_str().map(str::to_string)).collect();
        let (udev, exclude) = (&self.udev, &self.exclude);
        self.devices = names
            .into_iter()
            .zip(&self.raw)
            .map(|(name, line)| Device {
                // a '/' in a diskstats name is a '!' under /sys/block (cciss/c0d0)
                whole: block.contains(&name.replace('/', "!")),
                reported: !exclude.disk(&name),
                udev: udev_properties(&udev.join(format!("b{}:{}", line.major, line.minor))).into(),
                name: name.into(),
            })
            .collect();
        Ok(())
    }
}

#[cfg(target_os = "linux")]
impl Collector for DiskStats {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let path = &self.diskstats;
        let text = self.files.read(path)?;
        // /sys/block only changes when the set of block devices does, and every block device
        // has a diskstats line: list it again only when those names change
        let (raw, devices) = (&mut self.raw, &self.devices);
        raw.clear();
        let mut same = true;
        parse_diskstats(text, |name, line| {
            same &= devices.get(raw.len()).is_some_and(|d| &*d.name == name);
            raw.push(line);
        })
        .map_err(|e| CollectError::parse(path, e))?;
        if !same || raw.len() != devices.len() {
            let mut names = Vec::with_capacity(raw.len());
            parse_diskstats(text, |name, _| names.push(name.to_string())).map_err(|e| CollectError::parse(path, e))?;
            self.relist(names)?;
        }
        let dt = self.previous.map(|(at, _)| r.at.saturating_duration_since(at).as_secs_f64()).unwrap_or(0.0);
        self.counters.begin();
        let mut disks = Vec::new();
        let mut extras = Vec::new();
        for (d, line) in self.devices.iter().zip(&self.raw) {
            let c = self.counters.adjust(&d.name, line.counters, d.whole);
            if d.reported {
                disks.push(device(&d.name, c.now, c.before, dt));
                extras.push(Extra {
                    device: d.name.clone(),
                    line: Line { counters: c.now, ..*line },
                    udev: d.udev.clone(),
                });
            }
        }
        let total = self.counters.finish();
        write(r, total, self.previous.map(|(_, t)| t), dt);
        r.snapshot.disks = Some(disks);
        r.export(Extras(extras));
        self.previous = Some((r.at, total));
        Ok(())
    }
}

/// One device of `disks`, with its rates when it was there in the previous sample.
#[cfg(target_os = "linux")]
fn device(
    name: &crate::snapshot::Text,
    c: DiskCounters,
    before: Option<DiskCounters>,
    dt: f64,
) -> crate::snapshot::DiskDevice {
    crate::snapshot::DiskDevice {
        name: name.clone(),
        read_count: c[0],
        write_count: c[1],
        read_bytes: c[2],
        write_bytes: c[3],
        read_time: c[4],
        write_time: c[5],
        read_merged_count: c[6],
        write_merged_count: c[7],
        busy_time: c[8],
        read_bytes_per_sec: before.and_then(|b| rate(Some(b[2]), Some(c[2]), dt)),
        write_bytes_per_sec: before.and_then(|b| rate(Some(b[3]), Some(c[3]), dt)),
    }
}

/// Writes `disk_io` and the disk rates of `throughput`.
fn write(r: &mut Reading, total: DiskCounters, before: Option<DiskCounters>, dt: f64) {
    r.snapshot.disk_io = disk_io(total);
    let t = &mut r.snapshot.throughput;
    t.disk_read_bytes_per_sec = rate(before.map(|b| b[2]), Some(total[2]), dt);
    t.disk_write_bytes_per_sec = rate(before.map(|b| b[3]), Some(total[3]), dt);
    t.disk_read_mb_per_sec = t.disk_read_bytes_per_sec.map(|r| round2(r / 1_048_576.0));
    t.disk_write_mb_per_sec = t.disk_write_bytes_per_sec.map(|r| round2(r / 1_048_576.0));
}

#[cfg(target_os = "macos")]
pub(crate) struct DiskStats {
    disks: Result<sysinfo::Disks, String>,
    previous: Previous,
}

#[cfg(target_os = "macos")]
impl DiskStats {
    fn new(_: &Setup) -> DiskStats {
        DiskStats { disks: sysinfo::Disks::new_with_refreshed_list().map_err(|e| e.to_string()), previous: None }
    }
}

#[cfg(target_os = "macos")]
impl Collector for DiskStats {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let disks = self.disks.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        disks.refresh(true);
        let (read, written) = disks.iter().map(|d| d.usage()).fold((0u64, 0u64), |(r, w), u| {
            (r.wrapping_add(u.total_read_bytes), w.wrapping_add(u.total_written_bytes))
        });
        let mut total = [0; COUNTERS];
        (total[2], total[3]) = (read, written);
        let dt = self.previous.map(|(at, _)| r.at.saturating_duration_since(at).as_secs_f64()).unwrap_or(0.0);
        write(r, total, self.previous.map(|(_, t)| t), dt);
        r.snapshot.disk_io = DiskIo { read_bytes: Some(read), write_bytes: Some(written), ..Default::default() };
        self.previous = Some((r.at, total));
        Ok(())
    }
}

/// Bytes per sector in `/proc/diskstats`: always 512, whatever the device's real sector size
/// (the kernel's `SECTOR_SHIFT`; psutil's `DISK_SECTOR_SIZE`).
pub(crate) const SECTOR_SIZE: u64 = 512;

/// The counters of one disk: first those of the [`DiskIo`] fields, in their order
/// (read_count, write_count, read_bytes, write_bytes, read_time, write_time,
/// read_merged_count, write_merged_count, busy_time; times in ms), then node_exporter's others:
/// weighted I/O time (ms), discards completed, merged, sectors and time (ms), flushes and their
/// time (ms).
pub(crate) type DiskCounters = [u64; COUNTERS];

/// How many counters a disk has ([`DiskCounters`]).
pub(crate) const COUNTERS: usize = 16;

/// One line of `/proc/diskstats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Line {
    pub major: u32,
    pub minor: u32,
    pub counters: DiskCounters,
    /// I/Os in progress now.
    pub io_now: u64,
    /// Whether the kernel gives discards (18+ fields) and flushes (20+).
    pub discards: bool,
    pub flushes: bool,
}

/// Parses `/proc/diskstats`, calling `each` for every device line (the caller keeps the
/// whole disks: psutil counts the names under `/sys/block`, i.e. whole disks and virtual
/// devices but not partitions). Handles the 14-field (2.6+), 18-field (4.18+, discards) and
/// 20-field (5.5+, flushes) formats, the 7-field partition lines of 2.6.x and the 15-field
/// lines of 2.4.
pub(crate) fn parse_diskstats(text: &str, mut each: impl FnMut(&str, Line)) -> Result<(), String> {
    for (n, line) in super::shared::files::lines(text).enumerate() {
        // the first four fields as text (the name is the third, or the fourth in 2.4's
        // format), the others read as numbers while they are split
        let mut fields = super::shared::files::Fields::new(line);
        let mut head = [""; 4];
        let mut len = 0;
        while len < head.len() {
            let Some(field) = fields.text() else { break };
            head[len] = field;
            len += 1;
        }
        let mut values = [Ok(0); 20];
        while let Some(value) = fields.number() {
            if len < values.len() {
                values[len] = value;
            }
            len += 1;
        }
        if len == 0 {
            continue;
        }
        let num = |i: usize| -> Result<u64, String> {
            let value = match head.get(i) {
                Some(field) => super::shared::files::number(field).ok_or(*field),
                None => values[i],
            };
            value.map_err(|field| format!("line {}: field {} ({field:?}) is not a number", n + 1, i + 1))
        };
        let id = |i: usize| -> Result<u32, String> {
            head[i]
                .parse()
                .map_err(|_| format!("line {}: field {} ({:?}) is not a device number", n + 1, i + 1, head[i]))
        };
        let mut c = [0u64; COUNTERS];
        let mut io_now = 0;
        let name = match len {
            15 => {
                // 2.4's /proc/partitions, read as psutil reads it (its reads from field 3)
                let v = |i: usize| num(i + 4);
                c[..9].copy_from_slice(&[
                    num(2)?,
                    v(3)?,
                    v(1)? * SECTOR_SIZE,
                    v(5)? * SECTOR_SIZE,
                    v(2)?,
                    v(6)?,
                    v(0)?,
                    v(4)?,
                    v(8)?,
                ]);
                io_now = v(7)?;
                c[9] = v(9)?;
                head[3]
            }
            14 | 18.. => {
                let v = |i: usize| num(i + 3);
                c[..9].copy_from_slice(&[
                    v(0)?,
                    v(4)?,
                    v(2)? * SECTOR_SIZE,
                    v(6)? * SECTOR_SIZE,
                    v(3)?,
                    v(7)?,
                    v(1)?,
                    v(5)?,
                    v(9)?,
                ]);
                io_now = v(8)?;
                c[9] = v(10)?;
                if len >= 18 {
                    for (i, slot) in c[10..14].iter_mut().enumerate() {
                        *slot = v(11 + i)?;
                    }
                }
                if len >= 20 {
                    (c[14], c[15]) = (v(15)?, v(16)?);
                }
                head[2]
            }
            7 => {
                let v = |i: usize| num(i + 3);
                c[..4].copy_from_slice(&[v(0)?, v(2)?, v(1)? * SECTOR_SIZE, v(3)? * SECTOR_SIZE]);
                head[2]
            }
            len => return Err(format!("line {}: {len} fields, expected 7, 14, 15 or 18+", n + 1)),
        };
        let (major, minor) = (id(0)?, id(1)?);
        each(name, Line { major, minor, counters: c, io_now, discards: len >= 18, flushes: len >= 20 });
    }
    Ok(())
}

/// Sums per-disk counters into the contract's `disk_io`.
pub(crate) fn disk_io(total: DiskCounters) -> DiskIo {
    DiskIo {
        read_count: Some(total[0]),
        write_count: Some(total[1]),
        read_bytes: Some(total[2]),
        write_bytes: Some(total[3]),
        read_time: Some(total[4]),
        write_time: Some(total[5]),
        read_merged_count: Some(total[6]),
        write_merged_count: Some(total[7]),
        busy_time: Some(total[8]),
    }
}

/// Where udev keeps each device's properties, as node_exporter reads them (its
/// `--path.udev.data` default): `b<major>:<minor>` files of `E:KEY=value` lines.
pub(crate) const UDEV_DATA: &str = "/run/udev/data";

/// The udev properties `node_disk_info` is labelled with, in its label order: path
/// (`ID_PATH`), wwn (`ID_WWN`), model (`ID_MODEL`), serial (`ID_SERIAL_SHORT`), revision
/// (`ID_REVISION`); empty where udev has none (no udev, as in a container).
pub(crate) fn udev_properties(path: &std::path::Path) -> [String; 5] {
    let mut out: [String; 5] = Default::default();
    let Ok(text) = std::fs::read_to_string(path) else { return out };
    for line in text.lines() {
        let Some((key, value)) = line.strip_prefix("E:").and_then(|kv| kv.split_once('=')) else { continue };
        let slot = match key {
            "ID_PATH" => 0,
            "ID_WWN" => 1,
            "ID_MODEL" => 2,
            "ID_SERIAL_SHORT" => 3,
            "ID_REVISION" => 4,
            _ => continue,
        };
        out[slot] = value.to_string();
    }
    out
}

/// A reported device's series beside the snapshot's (Linux: macOS has no diskstats).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug)]
struct Extra {
    device: crate::snapshot::Text,
    line: Line,
    udev: std::sync::Arc<[String; 5]>,
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug)]
struct Extras(Vec<Extra>);

impl metrics::Export for Extras {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        use metrics::{Family, label};
        let mut info = Family::new("node_disk_info", Kind::Gauge, "Info of /sys/block/<block_device>.");
        let mut io_now = Family::new("node_disk_io_now", Kind::Gauge, "The number of I/Os currently in progress.");
        type Counter = (&'static str, &'static str, usize, f64, fn(&Line) -> bool);
        let counters: [Counter; 7] = [
            (
                "node_disk_io_time_weighted_seconds_total",
                "The weighted # of seconds spent doing I/Os.",
                9,
                1e-3,
                |_| true,
            ),
            (
                "node_disk_discards_completed_total",
                "The total number of discards completed successfully.",
                10,
                1.0,
                |l| l.discards,
            ),
            ("node_disk_discards_merged_total", "The total number of discards merged.", 11, 1.0, |l| l.discards),
            (
                "node_disk_discarded_sectors_total",
                "The total number of sectors discarded successfully.",
                12,
                1.0,
                |l| l.discards,
            ),
            (
                "node_disk_discard_time_seconds_total",
                "This is the total number of seconds spent by all discards.",
                13,
                1e-3,
                |l| l.discards,
            ),
            (
                "node_disk_flush_requests_total",
                "The total number of flush requests completed successfully",
                14,
                1.0,
                |l| l.flushes,
            ),
            (
                "node_disk_flush_requests_time_seconds_total",
                "This is the total number of seconds spent by all flush requests.",
                15,
                1e-3,
                |l| l.flushes,
            ),
        ];
        let mut families: Vec<Family> =
            counters.iter().map(|(name, help, ..)| Family::new(*name, Kind::Counter, *help)).collect();
        for e in &self.0 {
            let [path, wwn, model, serial, revision] = &*e.udev;
            info.push(
                vec![
                    label("device", &e.device),
                    label("major", e.line.major),
                    label("minor", e.line.minor),
                    label("model", model),
                    label("path", path),
                    label("revision", revision),
                    label("serial", serial),
                    label("wwn", wwn),
                ],
                1.0,
            );
            let device = metrics::labels(vec![label("device", &e.device)]);
            io_now.push_shared(&device, e.line.io_now as f64);
            for (family, (_, _, index, scale, present)) in families.iter_mut().zip(&counters) {
                if present(&e.line) {
                    family.push_shared(&device, e.line.counters[*index] as f64 * scale);
                }
            }
        }
        out.push(info);
        out.push(io_now);
        out.extend(families);
    }
}

/// The series of the disks in a snapshot: node_exporter's `node_disk_*` of diskstats, and the
/// read and write rates.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
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
    let device_labels: Vec<metrics::Labels> =
        disks.iter().map(|d| metrics::labels(vec![metrics::label("device", &d.name)])).collect();
    for (name, help, get) in defs {
        let mut f = metrics::Family::new(name, metrics::Kind::Counter, help);
        for (d, l) in disks.iter().zip(&device_labels) {
            f.push_shared(l, get(d));
        }
        out.push(f);
    }
    let mut read = metrics::Family::new(
        "system_stats_disk_device_read_bytes_per_second",
        metrics::Kind::Gauge,
        "Read rate over the last sampling interval.",
    );
    let mut written = metrics::Family::new(
        "system_stats_disk_device_written_bytes_per_second",
        metrics::Kind::Gauge,
        "Write rate over the last sampling interval.",
    );
    for (d, l) in disks.iter().zip(&device_labels) {
        if let (Some(r), Some(w)) = (d.read_bytes_per_sec, d.write_bytes_per_sec) {
            read.push_shared(l, r);
            written.push_shared(l, w);
        }
    }
    out.extend([read, written]);
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
    ] {
        out.extend(metrics::Family::single(name, metrics::Kind::Gauge, help, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> Result<Vec<(String, Line)>, String> {
        let mut out = Vec::new();
        let whole_disk = |n: &str| !n.ends_with(char::is_numeric) || n.starts_with("loop");
        parse_diskstats(text, |n, l| {
            if whole_disk(n) {
                out.push((n.to_string(), l))
            }
        })?;
        Ok(out)
    }

    #[test]
    fn diskstats_of_a_modern_kernel() {
        let text = "   7       0 loop0 10 0 20 3 0 0 0 0 0 4 3 0 0 0 0\n\
             254       0 vda 25345 4697 1457714 5631 65684 8651 7879096 30404 2 8728 37181 6499 32 1798848 578 15744 566\n\
             254       1 vda1 100 0 200 1 0 0 0 0 0 1 1 0 0 0 0\n";
        let disks = collect(text).unwrap();
        assert_eq!(disks.len(), 2);
        let (name, l) = &disks[1];
        assert_eq!(name, "vda");
        assert_eq!((l.major, l.minor, l.io_now, l.discards, l.flushes), (254, 0, 2, true, true));
        assert_eq!(
            l.counters,
            [
                25345,
                65684,
                1457714 * 512,
                7879096 * 512,
                5631,
                30404,
                4697,
                8651,
                8728,
                37181,
                6499,
                32,
                1798848,
                578,
                15744,
                566
            ]
        );
        // loop0 has 18 fields: discards, no flushes
        assert_eq!((disks[0].1.discards, disks[0].1.flushes), (true, false));
    }

    #[test]
    fn diskstats_of_old_kernels() {
        let text = "   8    0 sda 3 4 5 6 7 8 9 10 11 12 13\n   8    1 sda1 1 2 3 4\n";
        let disks = collect(text).unwrap();
        assert_eq!(disks[0].1.counters[..10], [3, 7, 5 * 512, 9 * 512, 6, 10, 4, 8, 12, 13]);
        assert_eq!((disks[0].1.io_now, disks[0].1.discards), (11, false));
        let text24 = "   8    0 100 sda 4 5 6 7 8 9 10 11 12 13 14\n";
        let disks = collect(text24).unwrap();
        assert_eq!(disks[0].1.counters[..9], [100, 7, 5 * 512, 9 * 512, 6, 10, 4, 8, 12]);
    }

    #[test]
    fn udev_properties_label_node_disk_info() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b8:0");
        std::fs::write(&p, "S:disk/by-id/ata-X\nE:ID_MODEL=Samsung_SSD\nE:ID_SERIAL_SHORT=S3Z\nE:ID_PATH=pci-0000:00:17.0-ata-1\nE:ID_WWN=0x5002538\nE:ID_REVISION=1B6Q\n").unwrap();
        assert_eq!(
            udev_properties(&p),
            ["pci-0000:00:17.0-ata-1", "0x5002538", "Samsung_SSD", "S3Z", "1B6Q"].map(String::from)
        );
        assert_eq!(udev_properties(&dir.path().join("b8:16")), <[String; 5]>::default());
    }

    #[test]
    fn malformed_diskstats_say_which_line() {
        assert!(collect("   8 0 sda 1 2\n").unwrap_err().starts_with("line 1: 5 fields"));
        let err = collect("   8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n").unwrap_err();
        assert!(err.contains("field 6 (\"x\")"), "{err}");
        assert_eq!(collect("").unwrap(), vec![]);
    }
}
