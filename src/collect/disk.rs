//! `disk`: usage of the filesystem holding `SYSTEM_STATS_DISK_PATH` (`disk`), with psutil's
//! `disk_usage` definitions.
//!
//! When the path is a mount point that `filesystems` has just measured, its numbers are
//! reused (one `statvfs` fewer per sample); otherwise `statvfs(2)` of the path, bounded in
//! time when the path lies on a network filesystem (by the longest mount point above it, from
//! what `filesystems` wrote, or from the mount table when that family does not run).

use std::path::PathBuf;

use super::filesystems::{BoundedStat, MountTable, NETWORK_STAT_TIMEOUT, is_network};
use super::shared::files;
use super::shared::fs::{self, FsStats};
use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::snapshot::Disk;

pub(crate) const ENTRY: Entry = Entry {
    name: "disk",
    about: "usage of the filesystem holding SYSTEM_STATS_DISK_PATH (statvfs)",
    reads: &["filesystems"],
    series: None,
    start: |setup| Some(Box::new(DiskUsage::new(setup))),
};

pub(crate) struct DiskUsage {
    path: PathBuf,
    /// The path as the user gave it, reported as `disk.mount`.
    label: String,
    /// The path's components joined again (no trailing or doubled `/`, no `.`), to find its
    /// mount point among the filesystems by comparing bytes: `Path`'s own comparison parses
    /// both sides into components, 500 times a sample on a host with 500 mounts.
    normal: PathBuf,
    /// The mount table, read only when `filesystems` does not run (Linux).
    table_path: Option<PathBuf>,
    table: MountTable,
    network_stat: BoundedStat,
}

impl DiskUsage {
    fn new(setup: &Setup) -> DiskUsage {
        #[cfg(target_os = "linux")]
        let table_path = Some(super::filesystems::mount_table_path(&setup.procfs));
        #[cfg(not(target_os = "linux"))]
        let table_path = None;
        DiskUsage {
            path: setup.disk_path.clone(),
            label: setup.disk_path.to_string_lossy().into_owned(),
            normal: setup.disk_path.components().collect(),
            table_path,
            table: MountTable::default(),
            network_stat: BoundedStat::new(fs::statvfs, NETWORK_STAT_TIMEOUT),
        }
    }

    /// Where the path lies: on a network filesystem or not (by the longest mount point above
    /// it), and, when `filesystems` could not measure that network filesystem, why.
    fn placement(&mut self, reading: &Reading) -> Placement {
        let path = self.label.as_str();
        let under = |mountpoint: &str| {
            path.starts_with(mountpoint)
                && (path.len() == mountpoint.len()
                    || mountpoint.ends_with('/')
                    || path.as_bytes()[mountpoint.len()] == b'/')
        };
        if let Some(list) = &reading.snapshot.filesystems {
            let holder = list.iter().filter(|f| under(&f.mountpoint)).max_by_key(|f| f.mountpoint.len());
            return match holder {
                Some(f) if is_network(&f.fstype) => match &f.error {
                    Some(e) => Placement::Unanswered(f.mountpoint.to_string(), e.clone()),
                    None => Placement::Network,
                },
                _ => Placement::Local,
            };
        }
        let Some(table_path) = &self.table_path else { return Placement::Local };
        match self.table.read(table_path) {
            Ok((mounts, _)) => {
                let holder = mounts.iter().filter(|m| under(&m.mountpoint)).max_by_key(|m| m.mountpoint.len());
                if holder.is_some_and(|m| is_network(&m.fstype)) { Placement::Network } else { Placement::Local }
            }
            Err(_) => Placement::Local,
        }
    }

    fn usage(&mut self, reading: &Reading) -> Result<FsStats, CollectError> {
        files::note(&self.path);
        match self.placement(reading) {
            Placement::Local => fs::statvfs(&self.path),
            Placement::Network => {
                let path = self.path.clone();
                self.network_stat.stat(&path)
            }
            // not waited for a second time in the same sample
            Placement::Unanswered(mountpoint, why) => Err(CollectError::Stuck {
                call: "statvfs",
                target: self.label.clone(),
                why: format!("its filesystem {mountpoint} could not be measured: {why}"),
            }),
        }
    }
}

/// Where the disk path lies.
enum Placement {
    Local,
    Network,
    /// On a network filesystem `filesystems` could not measure this sample (mount point, why).
    Unanswered(String, String),
}

impl Collector for DiskUsage {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        r.snapshot.disk.mount = Some(self.label.clone());
        // the disk path is usually a mount point just stat'ed by `filesystems`: not twice
        let measured = r
            .snapshot
            .filesystems
            .iter()
            .flatten()
            .find(|f| f.total.is_some() && f.mountpoint.as_bytes() == self.normal.as_os_str().as_encoded_bytes())
            .map(|f| Disk { total: f.total, used: f.used, free: f.free, percent: f.percent, mount: None });
        let disk = match measured {
            Some(d) => d,
            None => fs::disk_usage(self.usage(r)?, &self.label),
        };
        r.snapshot.disk = Disk { mount: Some(self.label.clone()), ..disk };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Filesystem;
    use std::path::Path;

    fn reading() -> Reading {
        Reading::new(std::time::Instant::now(), std::time::SystemTime::now())
    }

    fn family(path: &Path) -> DiskUsage {
        DiskUsage::new(&Setup { disk_path: path.to_path_buf(), ..crate::config::default_setup() })
    }

    /// What `filesystems` reports of the mount point `path` (not its real numbers).
    fn measured(path: &Path) -> Filesystem {
        Filesystem {
            mountpoint: path.to_string_lossy().into(),
            fstype: "ext4".into(),
            total: Some(1000),
            used: Some(250),
            free: Some(700),
            percent: Some(26.3),
            ..Default::default()
        }
    }

    /// The disk path written with a trailing or doubled `/` or a `.` still finds its mount
    /// point among the filesystems: the same directory, not a second statvfs.
    #[test]
    fn finds_its_mount_point_however_written() {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("data");
        std::fs::create_dir(&mount).unwrap();
        let root = dir.path().to_str().unwrap();
        for written in [format!("{root}/data/"), format!("{root}//data"), format!("{root}/./data")] {
            let mut d = family(Path::new(&written));
            let mut r = reading();
            r.snapshot.filesystems = Some(vec![measured(&mount)]);
            d.collect(&mut r).unwrap();
            assert_eq!(r.snapshot.disk.total, Some(1000), "{written}");
            assert_eq!(r.snapshot.disk.mount.as_deref(), Some(written.as_str()));
        }
    }

    /// A mount point `filesystems` measured is reused as is (no second statvfs: the numbers
    /// here are not the real filesystem's), and an earlier failure does not stick.
    #[test]
    fn reuses_what_filesystems_measured_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::create_dir(&path).unwrap();
        let mut d = family(&path);
        let mut status = super::super::FamilyStatus::new("disk");
        // first the path is gone
        std::fs::remove_dir(&path).unwrap();
        let mut r = reading();
        let result = d.collect(&mut r);
        assert!(result.as_ref().unwrap_err().is_not_found(), "{result:?}");
        status.record(result);
        assert_eq!((r.snapshot.disk.total, r.snapshot.disk.mount.as_deref()), (None, path.to_str()));
        assert!(status.error().is_some());
        // then filesystems reports it: reused, and the status clears
        let mut r = reading();
        r.snapshot.filesystems = Some(vec![measured(&path)]);
        status.record(d.collect(&mut r));
        assert_eq!(status.error(), None);
        let disk = &r.snapshot.disk;
        assert_eq!((disk.total, disk.used, disk.free, disk.percent), (Some(1000), Some(250), Some(700), Some(26.3)));
        assert_eq!(disk.mount.as_deref(), path.to_str());
        // back, and not a mount point: its own statvfs
        std::fs::create_dir(&path).unwrap();
        let mut r = reading();
        d.collect(&mut r).unwrap();
        assert!(r.snapshot.disk.total.unwrap() > 1000);
    }
}
