//! `uptime`: time since boot (`uptime`): seconds, the boot time with the local UTC offset, and
//! a human form (`2d 3h 5m`).
//!
//! The boot time is the one `cpu` wrote (`btime` of `/proc/stat`, what psutil's `boot_time`
//! reads); when `cpu` does not run, it is read here. macOS: `sysinfo` (`kern.boottime`).

use crate::metrics;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{Local, SecondsFormat, TimeZone};

use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::snapshot::{Uptime, human_duration};

pub(crate) const ENTRY: Entry = Entry {
    name: "uptime",
    about: "time since boot and the boot time",
    reads: &["cpu"],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(UptimeFamily::new(setup))),
};

pub(crate) struct UptimeFamily {
    #[cfg(target_os = "linux")]
    stat: std::path::PathBuf,
    #[cfg(target_os = "linux")]
    files: super::shared::files::Files,
    /// The last boot time formatted: the local-time conversion looks the zone up (a stat of
    /// /etc/localtime) and the boot time rarely changes.
    formatted: Option<(u64, Option<String>)>,
}

impl UptimeFamily {
    fn new(_setup: &Setup) -> UptimeFamily {
        UptimeFamily {
            #[cfg(target_os = "linux")]
            stat: _setup.procfs.join("stat"),
            #[cfg(target_os = "linux")]
            files: Default::default(),
            formatted: None,
        }
    }

    /// The boot time when `cpu` did not write it.
    #[cfg(target_os = "linux")]
    fn boot_time(&mut self) -> Result<u64, CollectError> {
        let path = &self.stat;
        let stat = super::cpu::parse_stat(self.files.read(path)?).map_err(|e| CollectError::parse(path, e))?;
        stat.btime.ok_or_else(|| CollectError::parse(path, "no btime line"))
    }

    #[cfg(target_os = "macos")]
    fn boot_time(&mut self) -> Result<u64, CollectError> {
        sysinfo::System::boot_time().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))
    }

    /// Unix seconds as local time with its offset, e.g. `2025-09-20T08:12:01+02:00`.
    fn local_time(&mut self, secs: u64) -> Option<String> {
        if let Some((cached, text)) = &self.formatted
            && *cached == secs
        {
            return text.clone();
        }
        let text = i64::try_from(secs)
            .ok()
            .and_then(|b| Local.timestamp_opt(b, 0).single())
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, false));
        self.formatted = Some((secs, text.clone()));
        text
    }
}

impl Collector for UptimeFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let boot = match r.boot_time {
            Some(b) => b,
            None => self.boot_time()?,
        };
        r.snapshot.uptime = uptime(boot, r.wall, self.local_time(boot));
        Ok(())
    }
}

/// Uptime at `now` for a boot at `boot` (Unix seconds).
pub(crate) fn uptime(boot: u64, now: SystemTime, boot_time: Option<String>) -> Uptime {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let seconds = now.saturating_sub(boot);
    Uptime { seconds: Some(seconds), boot_time, human: Some(human_duration(seconds)) }
}

/// `node_boot_time_seconds` of a snapshot.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    let boot = s.uptime.boot_time.as_deref().and_then(metrics::unix_seconds);
    out.extend(metrics::Family::single(
        "node_boot_time_seconds",
        metrics::Kind::Gauge,
        "Node boot time, in unixtime.",
        boot,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn uptime_from_boot_time() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let u = uptime(1_700_000_000 - 2 * 86_400 - 3 * 3_600 - 5 * 60, now, None);
        assert_eq!(u.seconds, Some(2 * 86_400 + 3 * 3_600 + 5 * 60));
        assert_eq!(u.human.as_deref(), Some("2d 3h 5m"));
        // a boot time in the future (a clock set back) is zero, not a wrap
        assert_eq!(uptime(1_800_000_000, now, None).seconds, Some(0));
    }

    /// Without `cpu`, the family reads the boot time itself.
    #[cfg(target_os = "linux")]
    #[test]
    fn reads_btime_when_cpu_does_not_run() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raspberrypi4-aarch64");
        let setup = Setup {
            procfs: root.join("proc"),
            sysfs: root.join("sys"),
            disk_path: root.clone(),
            ..crate::config::default_setup()
        };
        let btime = super::super::cpu::parse_stat(&std::fs::read_to_string(root.join("proc/stat")).unwrap())
            .unwrap()
            .btime
            .unwrap();
        let mut family = UptimeFamily::new(&setup);
        let mut r = Reading::new(std::time::Instant::now(), UNIX_EPOCH + Duration::from_secs(btime + 3_600));
        family.collect(&mut r).unwrap();
        assert_eq!(r.snapshot.uptime.seconds, Some(3_600));
        assert_eq!(r.snapshot.uptime.human.as_deref(), Some("1h"));
    }
}
