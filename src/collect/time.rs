//! `time`: what node_exporter's `time` collector adds to the clock's reading
//! (`node_time_seconds` comes with every snapshot): the local time zone and its offset from
//! UTC (`node_time_zone_offset_seconds{time_zone}`), and on Linux the kernel's clock sources,
//! the one in use and the others it could switch to
//! (`node_time_clocksource_{current,available}_info{device,clocksource}`: a VM that fell
//! back from `tsc` to `hpet` keeps time slowly and expensively).
//!
//! The zone: `localtime_r(3)`, the zone the C library loaded at start (`TZ`,
//! `/etc/localtime`). Linux: `/sys/devices/system/clocksource/clocksource<N>/` (under
//! `SYSTEM_STATS_SYSFS`), its `available_clocksource` and `current_clocksource`, read every
//! sample (an administrator can switch the source at run time).

use std::path::PathBuf;

use super::{CollectError, Collector, Entry, Reading};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "time",
    about: "time zone and offset; clock sources, current and available (/sys/devices/system/clocksource)",
    reads: &[],
    series: None,
    start: |setup| {
        let devices = if cfg!(target_os = "linux") {
            super::shared::files::numbered(&setup.sysfs.join("devices/system/clocksource"), "clocksource")
        } else {
            vec![]
        };
        Some(Box::new(Time { devices, files: super::shared::files::Files::with_limit(4096) }))
    },
};

pub(crate) struct Time {
    /// The clock source devices: their number and directory.
    devices: Vec<(u32, PathBuf)>,
    files: super::shared::files::Files,
}

impl Collector for Time {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let mut sources = Vec::with_capacity(self.devices.len());
        for (n, dir) in &self.devices {
            let available = parse_sources(self.files.read(&dir.join("available_clocksource"))?);
            let current = self.files.read(&dir.join("current_clocksource"))?.trim().to_string();
            sources.push(Sources { device: *n, available, current });
        }
        r.export(Clock { zone: local_zone(r.wall)?, sources });
        Ok(())
    }
}

/// The names in `available_clocksource` ("tsc kvm-clock acpi_pm \n").
fn parse_sources(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// The local time zone's abbreviation and offset from UTC in seconds at `at`.
fn local_zone(at: std::time::SystemTime) -> Result<(String, i64), CollectError> {
    let secs = at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: an all-zero `tm` is valid (its `tm_zone` a null pointer); `localtime_r` fills
    // it, and its `tm_zone` then points at the C library's static zone names.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return Err(CollectError::sys("localtime_r", "", std::io::Error::last_os_error()));
    }
    let name = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: non-null: a NUL-terminated string that lives as long as the process.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }.to_string_lossy().into_owned()
    };
    #[allow(clippy::useless_conversion)]
    Ok((name, i64::from(tm.tm_gmtoff)))
}

#[derive(Debug)]
struct Sources {
    device: u32,
    available: Vec<String>,
    current: String,
}

#[derive(Debug)]
struct Clock {
    zone: (String, i64),
    sources: Vec<Sources>,
}

impl metrics::Export for Clock {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        const FROM: &str = "read from '/sys/devices/system/clocksource'.";
        if !self.sources.is_empty() {
            let mut available = metrics::Family::new(
                "node_time_clocksource_available_info",
                Kind::Gauge,
                format!("Available clocksources {FROM}"),
            );
            let mut current = metrics::Family::new(
                "node_time_clocksource_current_info",
                Kind::Gauge,
                format!("Current clocksource {FROM}"),
            );
            for s in &self.sources {
                for name in &s.available {
                    available.push(vec![metrics::label("clocksource", name), metrics::label("device", s.device)], 1.0);
                }
                current.push(vec![metrics::label("clocksource", &s.current), metrics::label("device", s.device)], 1.0);
            }
            out.push(available);
            out.push(current);
        }
        out.push(
            metrics::Family::new("node_time_zone_offset_seconds", Kind::Gauge, "System time zone offset in seconds.")
                .with(vec![metrics::label("time_zone", &self.zone.0)], self.zone.1 as f64),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(parse_sources("tsc kvm-clock acpi_pm \n"), ["tsc", "kvm-clock", "acpi_pm"]);
        assert!(parse_sources("\n").is_empty());
    }

    /// The zone the C library reports is the one `date` prints, with its offset.
    #[test]
    fn this_machines_zone() {
        let (name, offset) = local_zone(std::time::SystemTime::now()).unwrap();
        let out = std::process::Command::new("date").arg("+%Z %z").output().unwrap();
        let date = String::from_utf8(out.stdout).unwrap();
        let (zone, z) = date.trim().split_once(' ').unwrap();
        assert_eq!(name, zone);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let hhmm: i64 = z[1..].parse().unwrap();
        assert_eq!(offset, sign * (hhmm / 100 * 3600 + hhmm % 100 * 60));
    }
}
