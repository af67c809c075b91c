//! `swap`: swap space and traffic with psutil's definitions (`swap`).
//!
//! Linux: the `SwapTotal`/`SwapFree` lines `memory` wrote (`memory.meminfo`; read from
//! `/proc/meminfo` here when memory does not run), and `pswpin`/`pswpout` of `/proc/vmstat`
//! (as `vmstat` read them; read here when it does not run) times the real page size (psutil assumes 4096: a 4× under-count on 16 KiB-page kernels).
//! macOS: `sysinfo`; swap traffic unknown.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::snapshot::{Swap, percent};

pub(crate) const ENTRY: Entry = Entry {
    name: "swap",
    about: "swap use and traffic (/proc/meminfo, /proc/vmstat)",
    reads: &["memory", "vmstat"],
    series: None,
    start: |setup| Some(Box::new(SwapFamily::new(setup))),
};

#[cfg(target_os = "linux")]
pub(crate) struct SwapFamily {
    meminfo: std::path::PathBuf,
    vmstat: std::path::PathBuf,
    files: super::shared::files::Files,
    page_size: u64,
    /// The last `pswpin`/`pswpout`: without swap they cannot change, so are not re-read.
    swapped: Option<(u64, u64)>,
}

#[cfg(target_os = "linux")]
impl SwapFamily {
    fn new(setup: &Setup) -> SwapFamily {
        SwapFamily {
            meminfo: setup.procfs.join("meminfo"),
            vmstat: setup.procfs.join("vmstat"),
            files: super::shared::files::Files::with_limit(super::memory::MEMINFO_LIMIT),
            page_size: super::memory::page_size(),
            swapped: None,
        }
    }
}

#[cfg(target_os = "linux")]
impl Collector for SwapFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let (total, free) = match &r.snapshot.memory.meminfo {
            Some(lines) => (lines.get("SwapTotal"), lines.get("SwapFree")),
            None => {
                let path = &self.meminfo;
                let m =
                    super::memory::parse_meminfo(self.files.read(path)?).map_err(|e| CollectError::parse(path, e))?;
                (m.swap_total, m.swap_free)
            }
        };
        // without vmstat the sizes are still worth having: written, and the error reported
        let swapped = match (r.swapped_pages, total, self.swapped) {
            // read by `vmstat` this sample
            (Some(pages), _, _) => Ok(pages),
            (None, Some(0), Some(last)) => Ok(last),
            _ => {
                let path = &self.vmstat;
                self.files.read(path).and_then(|text| parse_vmstat_swap(text).map_err(|e| CollectError::parse(path, e)))
            }
        };
        self.swapped = swapped.as_ref().ok().copied();
        r.snapshot.swap =
            swap(total, free, self.swapped, self.page_size).map_err(|e| CollectError::parse(&self.meminfo, e))?;
        swapped?;
        Ok(())
    }
}

#[cfg(target_os = "macos")]
pub(crate) struct SwapFamily {
    system: Result<sysinfo::System, String>,
}

#[cfg(target_os = "macos")]
impl SwapFamily {
    fn new(_: &Setup) -> SwapFamily {
        SwapFamily { system: sysinfo::System::new().map_err(|e| e.to_string()) }
    }
}

#[cfg(target_os = "macos")]
impl Collector for SwapFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let sys = self.system.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        sys.refresh_memory();
        let total = sys.total_swap();
        let free = sys.free_swap().min(total);
        r.snapshot.swap = Swap {
            total: Some(total),
            used: Some(total - free),
            free: Some(free),
            percent: Some(percent(total - free, total)),
            sin: None,
            sout: None,
        };
        Ok(())
    }
}

/// `pswpin` and `pswpout` from `/proc/vmstat`, in pages.
pub(crate) fn parse_vmstat_swap(text: &str) -> Result<(u64, u64), String> {
    let (mut sin, mut sout) = (None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else { continue };
        let slot = match key {
            "pswpin" => &mut sin,
            "pswpout" => &mut sout,
            _ => continue,
        };
        *slot = Some(value.trim().parse::<u64>().map_err(|_| format!("{key} value {value:?} is not a number"))?);
        if sin.is_some() && sout.is_some() {
            break;
        }
    }
    match (sin, sout) {
        (Some(i), Some(o)) => Ok((i, o)),
        _ => Err("pswpin/pswpout are missing".into()),
    }
}

/// Swap from the `SwapTotal` and `SwapFree` lines of `/proc/meminfo` (bytes), with swap
/// traffic (`pswpin`/`pswpout` pages × page size) when `/proc/vmstat` could be read.
pub(crate) fn swap(
    total: Option<u64>,
    free: Option<u64>,
    swapped_pages: Option<(u64, u64)>,
    page_size: u64,
) -> Result<Swap, String> {
    let total = total.ok_or("SwapTotal is missing")?;
    let free = free.ok_or("SwapFree is missing")?.min(total);
    Ok(Swap {
        total: Some(total),
        used: Some(total - free),
        free: Some(free),
        percent: Some(percent(total - free, total)),
        sin: swapped_pages.map(|(i, _)| i * page_size),
        sout: swapped_pages.map(|(_, o)| o * page_size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_follows_psutil_with_the_real_page_size() {
        let s = swap(Some(2_000_000 * 1024), Some(1_500_000 * 1024), Some((10, 20)), 16_384).unwrap();
        assert_eq!(s.used, Some(500_000 * 1024));
        assert_eq!(s.percent, Some(25.0));
        assert_eq!((s.sin, s.sout), (Some(163_840), Some(327_680)));
        assert_eq!(swap(Some(0), Some(0), None, 4096).unwrap().percent, Some(0.0));
        // more free than total (a racy read) is clamped
        assert_eq!(swap(Some(10), Some(20), None, 4096).unwrap().used, Some(0));
        assert_eq!(swap(None, Some(0), None, 4096).unwrap_err(), "SwapTotal is missing");
    }

    #[test]
    fn vmstat_swap_traffic() {
        assert_eq!(parse_vmstat_swap("nr_free_pages 5\npswpin 7\npswpout 9\n"), Ok((7, 9)));
        assert!(parse_vmstat_swap("pswpin 7\n").is_err());
        assert!(parse_vmstat_swap("pswpin x\npswpout 9\n").unwrap_err().contains("\"x\""));
    }
}
