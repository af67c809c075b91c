//! `filesystems`: every real mounted filesystem and its usage (`filesystems`).
//!
//! Linux: the mount table (`/proc/1/mounts`, the host's as node_exporter reads it, else
//! `/proc/mounts`) with node_exporter's default exclusions, each measured with `statvfs(2)`;
//! network filesystems on a helper thread, bounded in time ([`BoundedStat`]). macOS:
//! `getmntinfo(3)` through `sysinfo`.

use crate::metrics;
use crate::sync::Locked;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::shared::files;
use super::shared::fs::{FsStats, statvfs};
use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::snapshot::{Filesystem, Text};

pub(crate) const ENTRY: Entry = Entry {
    name: "filesystems",
    about: "every real mounted filesystem and its usage (mount table, statvfs)",
    reads: &[],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(Filesystems::new(setup))),
};

/// How long a network filesystem's `statvfs` is waited for.
pub(crate) const NETWORK_STAT_TIMEOUT: Duration = Duration::from_millis(500);

#[cfg(target_os = "linux")]
pub(crate) struct Filesystems {
    table_path: PathBuf,
    table: MountTable,
    network_stat: BoundedStat,
    /// The mounts reported, from the current table (the exclusions applied, the same
    /// filesystem mounted twice at one place once).
    reported: Vec<Mount>,
    exclude: super::shared::exclude::Exclusions,
    /// Each reported mount's last usage, or why it could not be measured; `None` before its
    /// first `statvfs`.
    usage: Vec<Option<Result<FsStats, String>>>,
    rotation: super::shared::rotation::Rotation,
}

#[cfg(target_os = "linux")]
impl Filesystems {
    fn new(setup: &Setup) -> Filesystems {
        Filesystems {
            table_path: mount_table_path(&setup.procfs),
            table: MountTable::default(),
            network_stat: BoundedStat::new(statvfs, NETWORK_STAT_TIMEOUT),
            reported: Vec::new(),
            exclude: setup.exclude.clone(),
            usage: Vec::new(),
            rotation: Default::default(),
        }
    }

    /// The reported mounts of a new table, keeping what is known of those still there.
    fn update(&mut self, mounts: &[Mount]) {
        let mut known: std::collections::HashMap<(Text, Text, Text), Option<Result<FsStats, String>>> = self
            .reported
            .drain(..)
            .zip(self.usage.drain(..))
            .map(|(m, u)| ((m.mountpoint, m.device, m.fstype), u))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for m in mounts.iter().filter(|m| !self.exclude.mount(&m.mountpoint, &m.fstype)) {
            let key = (m.mountpoint.clone(), m.device.clone(), m.fstype.clone());
            if !seen.insert(key.clone()) {
                continue;
            }
            self.usage.push(known.remove(&key).flatten());
            self.reported.push(m.clone());
        }
    }
}

/// The mount table: `/proc/1/mounts` (the host's, as node_exporter reads it), else
/// `/proc/mounts`.
#[cfg(target_os = "linux")]
pub(crate) fn mount_table_path(procfs: &Path) -> PathBuf {
    let host = procfs.join("1/mounts");
    if std::fs::File::open(&host).is_ok() { host } else { procfs.join("mounts") }
}

#[cfg(target_os = "linux")]
impl Collector for Filesystems {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let (mounts, reread) = self.table.read(&self.table_path)?;
        if reread {
            files::note(&self.table_path);
            let mounts = mounts.to_vec();
            self.update(&mounts);
        }
        // more mounts than the budget: measured in turn (see Rotation)
        let window = self.rotation.window(self.reported.len());
        for (i, (m, usage)) in self.reported.iter().zip(self.usage.iter_mut()).enumerate() {
            if usage.is_some() && !window.contains(i) {
                continue;
            }
            let mountpoint = Path::new(&*m.mountpoint);
            files::note(mountpoint);
            let stat = if is_network(&m.fstype) { self.network_stat.stat(mountpoint) } else { statvfs(mountpoint) };
            *usage = Some(stat.map_err(|e| e.to_string()));
        }
        let out = self
            .reported
            .iter()
            .zip(&self.usage)
            .map(|(m, u)| {
                filesystem(m, u.as_ref().map_or(Err("not measured yet"), |u| u.as_ref().map_err(String::as_str)))
            })
            .collect();
        r.snapshot.filesystems = Some(out);
        Ok(())
    }
}

#[cfg(target_os = "macos")]
pub(crate) struct Filesystems {
    disks: Result<sysinfo::Disks, String>,
    exclude: super::shared::exclude::Exclusions,
}

#[cfg(target_os = "macos")]
impl Filesystems {
    fn new(setup: &Setup) -> Filesystems {
        Filesystems { disks: sysinfo::Disks::new().map_err(|e| e.to_string()), exclude: setup.exclude.clone() }
    }
}

#[cfg(target_os = "macos")]
impl Collector for Filesystems {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let disks = self.disks.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        disks.refresh(true);
        let exclude = &self.exclude;
        let out = disks
            .iter()
            .filter(|d| !exclude.mount(&d.mount_point().to_string_lossy(), &d.file_system().to_string_lossy()))
            .map(|d| {
                let m = Mount {
                    device: d.name().to_string_lossy().into(),
                    mountpoint: d.mount_point().to_string_lossy().into(),
                    fstype: d.file_system().to_string_lossy().into(),
                    readonly: d.is_read_only(),
                };
                let usage = statvfs(d.mount_point()).map_err(|e| e.to_string());
                filesystem(&m, usage.as_ref().map_err(String::as_str))
            })
            .collect();
        r.snapshot.filesystems = Some(out);
        Ok(())
    }
}

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub device: Text,
    pub mountpoint: Text,
    pub fstype: Text,
    pub readonly: bool,
}

/// Undoes the mount table's octal escapes (`\040` for a space, `\011` tab, `\012` newline,
/// `\134` backslash).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1] <= b'3'
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a mount table (`device mountpoint fstype options dump pass` per line).
pub(crate) fn parse_mounts(text: &str) -> Result<Vec<Mount>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 4 {
            return Err(format!("line {}: {} fields, expected 6", n + 1, f.len()));
        }
        out.push(Mount {
            device: unescape(f[0]).into(),
            mountpoint: unescape(f[1]).into(),
            fstype: f[2].into(),
            readonly: f[3].split(',').any(|o| o == "ro"),
        });
    }
    Ok(out)
}

/// A reported mount with its usage (or the error that kept it from being measured).
pub(crate) fn filesystem(m: &Mount, usage: Result<&FsStats, &str>) -> Filesystem {
    let mut fs = Filesystem {
        device: m.device.clone(),
        mountpoint: m.mountpoint.clone(),
        fstype: m.fstype.clone(),
        readonly: m.readonly,
        ..Default::default()
    };
    match usage {
        Ok(&st) => {
            let u = crate::collect::shared::fs::usage(st);
            fs.free_root = Some(st.blocks_free.saturating_mul(st.fragment_size));
            fs.total = Some(u.total);
            fs.used = Some(u.used);
            fs.free = Some(u.free);
            fs.percent = Some(u.percent);
            fs.files = Some(st.files);
            fs.files_free = Some(st.files_free);
        }
        Err(e) => fs.error = Some(e.to_string()),
    }
    fs
}

/// Network filesystem types: their `statvfs` waits on a server, forever if it is gone.
const NETWORK_TYPES: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "ceph",
    "glusterfs",
    "lustre",
    "afs",
    "davfs",
    "ncpfs",
    "coda",
    "fuse.sshfs",
    "fuse.glusterfs",
    "fuse.s3fs",
    "fuse.rclone",
    "fuse.davfs2",
    "fuse.cephfs",
];

pub(crate) fn is_network(fstype: &str) -> bool {
    NETWORK_TYPES.contains(&fstype)
}

type StatFn = fn(&Path) -> Result<FsStats, CollectError>;
type Reply = std::sync::mpsc::Sender<Result<FsStats, CollectError>>;
type Stuck = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PathBuf, std::time::Instant>>>;

/// `statvfs` of network filesystems on a helper thread, waited for at most `timeout`: a
/// mount whose server is gone would otherwise hang the sampler (and every later sample).
/// A mount whose stat did not return in time is reported with an error, and not stat'ed
/// again until that stat returns; the stuck helper is left behind and a new one started.
/// (node_exporter does the same with a goroutine per mount.)
pub(crate) struct BoundedStat {
    stat: StatFn,
    timeout: Duration,
    worker: Option<std::sync::mpsc::Sender<(PathBuf, Reply)>>,
    stuck: Stuck,
}

impl BoundedStat {
    pub(crate) fn new(stat: StatFn, timeout: Duration) -> Self {
        BoundedStat { stat, timeout, worker: None, stuck: Default::default() }
    }

    pub(crate) fn stat(&mut self, path: &Path) -> Result<FsStats, CollectError> {
        let stuck = |why: String| CollectError::Stuck { call: "statvfs", target: path.display().to_string(), why };
        if let Some(since) = self.stuck.locked().get(path) {
            return Err(stuck(format!(
                "has not returned for {:.0} s (server unreachable?)",
                since.elapsed().as_secs_f64()
            )));
        }
        let worker = match &self.worker {
            Some(w) => w.clone(),
            None => {
                let (tx, rx) = std::sync::mpsc::channel::<(PathBuf, Reply)>();
                let (stat, stuck) = (self.stat, std::sync::Arc::clone(&self.stuck));
                let spawned = std::thread::Builder::new().name("statvfs".into()).spawn(move || {
                    for (path, reply) in rx {
                        let result = stat(&path);
                        stuck.locked().remove(&path);
                        let _ = reply.send(result);
                    }
                });
                if let Err(e) = spawned {
                    return Err(CollectError::sys("spawn", "statvfs helper", e));
                }
                self.worker = Some(tx.clone());
                tx
            }
        };
        let (reply, answer) = std::sync::mpsc::channel();
        if worker.send((path.to_path_buf(), reply)).is_err() {
            self.worker = None;
            return Err(stuck("the helper thread is gone".into()));
        }
        match answer.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(_) => {
                self.stuck.locked().insert(path.to_path_buf(), std::time::Instant::now());
                // that helper is blocked in the kernel: the next stat gets a fresh one
                self.worker = None;
                Err(stuck(format!("did not return within {:?} (server unreachable?)", self.timeout)))
            }
        }
    }
}

/// The most a mount table may hold: 20 000 mounts of long container paths take about 3 MiB.
pub(crate) const MOUNTS_LIMIT: usize = 32 << 20;

/// The mount table, parsed again only when the kernel says it changed: procfs mount tables
/// signal `POLLPRI` to `poll(2)` after every mount or unmount, so an unchanged table costs one
/// `poll` instead of being regenerated and parsed every sample.
#[derive(Debug, Default)]
pub(crate) struct MountTable {
    file: Option<std::fs::File>,
    mounts: Vec<Mount>,
    buf: Vec<u8>,
}

impl MountTable {
    /// The current mounts of the table at `path`, and whether it was read again this time.
    pub(crate) fn read(&mut self, path: &Path) -> Result<(&[Mount], bool), CollectError> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let changed = match &self.file {
            None => true,
            Some(f) => {
                let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLPRI)];
                match poll(&mut fds, PollTimeout::ZERO) {
                    Ok(_) => fds[0].revents().is_some_and(|r| r.intersects(PollFlags::POLLPRI | PollFlags::POLLERR)),
                    Err(_) => true,
                }
            }
        };
        if changed {
            let file = match self.file.take() {
                Some(f) => f,
                None => files::open(path).map_err(|e| CollectError::io(path, e))?,
            };
            let n =
                files::read_from_start(&file, &mut self.buf, MOUNTS_LIMIT).map_err(|e| CollectError::io(path, e))?;
            let text = files::text(path, &self.buf[..n])?;
            self.mounts = parse_mounts(text).map_err(|e| CollectError::parse(path, e))?;
            self.file = Some(file);
        }
        Ok((&self.mounts, changed))
    }
}

/// The series of the filesystems in a snapshot: node_exporter's `node_filesystem_*`.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    let mut size =
        metrics::Family::new("node_filesystem_size_bytes", metrics::Kind::Gauge, "Filesystem size in bytes.");
    let mut free =
        metrics::Family::new("node_filesystem_free_bytes", metrics::Kind::Gauge, "Filesystem free space in bytes.");
    let mut avail = metrics::Family::new(
        "node_filesystem_avail_bytes",
        metrics::Kind::Gauge,
        "Filesystem space available to non-root users in bytes.",
    );
    let mut files = metrics::Family::new("node_filesystem_files", metrics::Kind::Gauge, "Filesystem total file nodes.");
    let mut files_free =
        metrics::Family::new("node_filesystem_files_free", metrics::Kind::Gauge, "Filesystem total free file nodes.");
    let mut readonly =
        metrics::Family::new("node_filesystem_readonly", metrics::Kind::Gauge, "Filesystem read-only status.");
    let mut device_error = metrics::Family::new(
        "node_filesystem_device_error",
        metrics::Kind::Gauge,
        "Whether an error occurred while getting statistics for the given device.",
    );
    for f in s.filesystems.iter().flatten() {
        let l = metrics::labels(vec![
            metrics::label("device", &f.device),
            metrics::label("fstype", &f.fstype),
            metrics::label("mountpoint", &f.mountpoint),
        ]);
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

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n\
        devtmpfs /dev devtmpfs rw,relatime 0 0\n\
        proc /proc proc rw,relatime 0 0\n\
        tmpfs /run tmpfs rw,nosuid,nodev 0 0\n\
        /dev/mmcblk0p1 /boot/firmware vfat ro,relatime 0 0\n\
        /dev/sdb1 /media/My\\040Disk ext4 rw 0 0\n\
        overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0\n\
        tmpfs /run/credentials/systemd-journald.service tmpfs ro 0 0\n\
        cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n";

    #[test]
    fn node_exporters_filesystem_set() {
        let mounts = parse_mounts(MOUNTS).unwrap();
        let x = crate::collect::shared::exclude::Exclusions::default();
        let kept: Vec<&str> =
            mounts.iter().filter(|m| !x.mount(&m.mountpoint, &m.fstype)).map(|m| &*m.mountpoint).collect();
        assert_eq!(kept, ["/", "/run", "/boot/firmware", "/media/My Disk"]);
        assert!(mounts[4].readonly && !mounts[0].readonly);
    }

    #[test]
    fn malformed_mount_tables() {
        assert!(parse_mounts("only two\n").unwrap_err().starts_with("line 1"));
        assert_eq!(parse_mounts("").unwrap(), vec![]);
        assert_eq!(unescape("a\\134b\\040c"), "a\\b c");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert_eq!(unescape("\\777"), "\\777");
    }

    fn slow_stat(path: &Path) -> Result<FsStats, CollectError> {
        if path.ends_with("hung") {
            std::thread::sleep(Duration::from_millis(400));
        }
        Ok(FsStats { blocks: 1, blocks_free: 1, blocks_available: 1, fragment_size: 1, ..Default::default() })
    }

    /// A stat that does not return in time is an error, the mount is skipped until that stat
    /// returns, and other mounts are stat'ed meanwhile by a fresh helper.
    #[test]
    fn a_hung_network_mount_does_not_hang_the_sample() {
        let mut b = BoundedStat::new(slow_stat, Duration::from_millis(50));
        let hung = Path::new("/mnt/hung");
        assert!(b.stat(Path::new("/mnt/ok")).is_ok());
        let t = std::time::Instant::now();
        assert!(b.stat(hung).unwrap_err().to_string().contains("did not return within"));
        assert!(t.elapsed() < Duration::from_millis(300));
        // still stuck: answered at once, without another stat
        let t = std::time::Instant::now();
        assert!(b.stat(hung).unwrap_err().to_string().contains("has not returned"));
        assert!(t.elapsed() < Duration::from_millis(20));
        // other mounts go on, on a new helper
        assert!(b.stat(Path::new("/mnt/ok")).is_ok());
        // once the stuck stat returns, the mount is tried again
        std::thread::sleep(Duration::from_millis(500));
        assert!(b.stat(hung).unwrap_err().to_string().contains("did not return within"));
        assert!(is_network("nfs4") && is_network("fuse.sshfs") && !is_network("ext4") && !is_network("tmpfs"));
    }

    /// The real /proc/self/mounts is read once, then only after a change.
    #[test]
    fn mount_table_is_reread_only_when_it_changes() {
        let mut t = MountTable::default();
        let path = Path::new("/proc/self/mounts");
        let (first, reread) = t.read(path).unwrap();
        assert!(!first.is_empty() && reread);
        t.mounts.clear();
        // unchanged: the cached (here emptied) list is served, nothing is parsed
        let (second, reread) = t.read(path).unwrap();
        assert!(second.is_empty() && !reread);
    }

    #[test]
    fn usage_or_error() {
        let m = &parse_mounts(MOUNTS).unwrap()[0];
        let st = FsStats {
            blocks: 100,
            blocks_free: 30,
            blocks_available: 20,
            fragment_size: 10,
            files: 64,
            files_free: 60,
        };
        let f = filesystem(m, Ok(&st));
        assert_eq!((f.total, f.used, f.free, f.free_root), (Some(1000), Some(700), Some(200), Some(300)));
        let f = filesystem(m, Err("statvfs /: Permission denied (os error 13)"));
        assert_eq!(f.total, None);
        assert!(f.error.unwrap().contains("Permission"));
    }
}
