//! `load`: the run-queue averages over 1, 5 and 15 minutes (`load_average`).
//!
//! The smallest family, and the example to copy: an [`ENTRY`] for the registry, a struct
//! holding the family's state (here the file it keeps open), [`Collector::collect`] writing its
//! keys, and a pure parser tested on real and malformed input.
//!
//! Linux: `/proc/loadavg`. macOS: `getloadavg(3)`.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::metrics;
use crate::snapshot::LoadAverage;

pub(crate) const ENTRY: Entry = Entry {
    name: "load",
    about: "load averages over 1, 5 and 15 minutes (/proc/loadavg)",
    reads: &[],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(Load::new(setup))),
};

pub(crate) struct Load {
    #[cfg(target_os = "linux")]
    path: std::path::PathBuf,
    #[cfg(target_os = "linux")]
    files: super::shared::files::Files,
}

impl Load {
    #[cfg(target_os = "linux")]
    fn new(setup: &Setup) -> Load {
        Load { path: setup.procfs.join("loadavg"), files: Default::default() }
    }

    #[cfg(target_os = "linux")]
    fn read(&mut self) -> Result<[f64; 3], CollectError> {
        let text = self.files.read(&self.path)?;
        parse_loadavg(text).map_err(|e| CollectError::parse(&self.path, e))
    }

    #[cfg(target_os = "macos")]
    fn new(_: &Setup) -> Load {
        Load {}
    }

    #[cfg(target_os = "macos")]
    fn read(&mut self) -> Result<[f64; 3], CollectError> {
        let mut loads = [0.0f64; 3];
        // SAFETY: getloadavg(3) writes at most 3 doubles into the array it is given.
        let n = unsafe { libc::getloadavg(loads.as_mut_ptr(), 3) };
        if n != 3 {
            return Err(CollectError::sys("getloadavg", "", std::io::Error::last_os_error()));
        }
        Ok(loads)
    }
}

impl Collector for Load {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let [load1, load5, load15] = self.read()?;
        r.snapshot.load_avg = LoadAverage { load1: Some(load1), load5: Some(load5), load15: Some(load15) };
        Ok(())
    }
}

/// `/proc/loadavg`: the 1, 5 and 15 minute load averages.
pub(crate) fn parse_loadavg(text: &str) -> Result<[f64; 3], String> {
    let mut f = text.split_ascii_whitespace();
    let mut out = [0.0f64; 3];
    for slot in &mut out {
        let v = f.next().ok_or("fewer than 3 fields")?;
        *slot = v.parse().map_err(|_| format!("{v:?} is not a number"))?;
        if !slot.is_finite() || *slot < 0.0 {
            return Err(format!("{v:?} is not a load average"));
        }
    }
    Ok(out)
}

/// `node_load1`, `node_load5`, `node_load15` of a snapshot.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    for (name, v) in
        [("node_load1", s.load_avg.load1), ("node_load5", s.load_avg.load5), ("node_load15", s.load_avg.load15)]
    {
        let help = format!("{}m load average.", &name[9..]);
        out.extend(metrics::Family::single(name, metrics::Kind::Gauge, &help, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_average() {
        assert_eq!(parse_loadavg("0.42 0.31 0.27 1/312 24517\n"), Ok([0.42, 0.31, 0.27]));
        assert!(parse_loadavg("0.42 0.31").is_err());
        assert!(parse_loadavg("").is_err());
        assert!(parse_loadavg("0.42 x 1").unwrap_err().contains("\"x\""));
        assert!(parse_loadavg("NaN 1 1").is_err());
    }

    /// The family on the Pi fixture writes the fixture's numbers.
    #[cfg(target_os = "linux")]
    #[test]
    fn reads_the_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raspberrypi4-aarch64");
        let setup = Setup {
            procfs: root.join("proc"),
            sysfs: root.join("sys"),
            disk_path: root.clone(),
            ..crate::config::default_setup()
        };
        let want = parse_loadavg(&std::fs::read_to_string(root.join("proc/loadavg")).unwrap()).unwrap();
        let mut family = Load::new(&setup);
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        family.collect(&mut r).unwrap();
        assert_eq!([r.snapshot.load_avg.load1, r.snapshot.load_avg.load5, r.snapshot.load_avg.load15], want.map(Some));
    }
}
