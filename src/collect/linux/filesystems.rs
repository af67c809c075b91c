//! Mounted filesystems: the mount table (`/proc/1/mounts`, else `/proc/mounts`) with
//! node_exporter's default exclusions, each measured with `statvfs(2)`.

use crate::snapshot::Filesystem;

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    pub readonly: bool,
}

/// node_exporter's default `--collector.filesystem.fs-types-exclude`.
const EXCLUDED_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tracefs",
];

/// node_exporter's default `--collector.filesystem.mount-points-exclude`:
/// `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`.
fn excluded_mountpoint(m: &str) -> bool {
    let under = |prefix: &str| m == prefix || m.starts_with(&format!("{prefix}/"));
    let strictly_under = |prefix: &str| m.len() > prefix.len() + 1 && m.starts_with(&format!("{prefix}/"));
    under("/dev")
        || under("/proc")
        || under("/sys")
        || strictly_under("/run/credentials")
        || strictly_under("/var/lib/docker")
        || strictly_under("/var/lib/containers/storage")
}

/// Whether a mount is a real filesystem worth reporting (node_exporter's default rules).
pub fn reported(m: &Mount) -> bool {
    !EXCLUDED_TYPES.contains(&m.fstype.as_str()) && !excluded_mountpoint(&m.mountpoint)
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
pub fn parse_mounts(text: &str) -> Result<Vec<Mount>, String> {
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
            device: unescape(f[0]),
            mountpoint: unescape(f[1]),
            fstype: f[2].to_string(),
            readonly: f[3].split(',').any(|o| o == "ro"),
        });
    }
    Ok(out)
}

/// A reported mount with its usage (or the error that kept it from being measured).
pub fn filesystem(m: &Mount, usage: Result<crate::collect::fs::FsStats, String>) -> Filesystem {
    let mut fs = Filesystem {
        device: m.device.clone(),
        mountpoint: m.mountpoint.clone(),
        fstype: m.fstype.clone(),
        readonly: m.readonly,
        ..Default::default()
    };
    match usage {
        Ok(st) => {
            let d = crate::collect::fs::disk_usage(st, &m.mountpoint);
            fs.free_root = Some(st.blocks_free.saturating_mul(st.fragment_size));
            fs.total = d.total;
            fs.used = d.used;
            fs.free = d.free;
            fs.percent = d.percent;
        }
        Err(e) => fs.error = Some(e),
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

pub fn is_network(fstype: &str) -> bool {
    NETWORK_TYPES.contains(&fstype)
}

type StatFn = fn(&std::path::Path) -> Result<crate::collect::fs::FsStats, String>;
type Reply = std::sync::mpsc::Sender<Result<crate::collect::fs::FsStats, String>>;

/// `statvfs` of network filesystems on a helper thread, waited for at most `timeout`: a
/// mount whose server is gone would otherwise hang the sampler (and every later sample).
/// A mount whose stat did not return in time is reported with an error, and not stat'ed
/// again until that stat returns; the stuck helper is left behind and a new one started.
/// (node_exporter does the same with a goroutine per mount.)
pub struct BoundedStat {
    stat: StatFn,
    timeout: std::time::Duration,
    worker: Option<std::sync::mpsc::Sender<(std::path::PathBuf, Reply)>>,
    stuck: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, std::time::Instant>>>,
}

impl BoundedStat {
    pub fn new(stat: StatFn, timeout: std::time::Duration) -> Self {
        BoundedStat { stat, timeout, worker: None, stuck: Default::default() }
    }

    pub fn stat(&mut self, path: &std::path::Path) -> Result<crate::collect::fs::FsStats, String> {
        if let Some(since) = self.stuck.lock().unwrap_or_else(|p| p.into_inner()).get(path) {
            return Err(format!(
                "statvfs has not returned for {:.0} s (server unreachable?)",
                since.elapsed().as_secs_f64()
            ));
        }
        let worker = match &self.worker {
            Some(w) => w.clone(),
            None => {
                let (tx, rx) = std::sync::mpsc::channel::<(std::path::PathBuf, Reply)>();
                let (stat, stuck) = (self.stat, std::sync::Arc::clone(&self.stuck));
                let spawned = std::thread::Builder::new().name("statvfs".into()).spawn(move || {
                    for (path, reply) in rx {
                        let result = stat(&path);
                        stuck.lock().unwrap_or_else(|p| p.into_inner()).remove(&path);
                        let _ = reply.send(result);
                    }
                });
                if let Err(e) = spawned {
                    return Err(format!("no thread for statvfs: {e}"));
                }
                self.worker = Some(tx.clone());
                tx
            }
        };
        let (reply, answer) = std::sync::mpsc::channel();
        if worker.send((path.to_path_buf(), reply)).is_err() {
            self.worker = None;
            return Err("the statvfs helper is gone".into());
        }
        match answer.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(_) => {
                self.stuck
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(path.to_path_buf(), std::time::Instant::now());
                // that helper is blocked in the kernel: the next stat gets a fresh one
                self.worker = None;
                Err(format!("statvfs did not return within {:?} (server unreachable?)", self.timeout))
            }
        }
    }
}

/// The mount table, parsed again only when the kernel says it changed: procfs mount tables
/// signal `POLLPRI` to `poll(2)` after every mount or unmount, so an unchanged table costs one
/// `poll` instead of being regenerated and parsed every sample.
#[derive(Debug, Default)]
pub struct MountTable {
    file: Option<std::fs::File>,
    mounts: Vec<Mount>,
    buf: Vec<u8>,
}

impl MountTable {
    /// The mounts as last read (empty before the first [`MountTable::read`]).
    pub fn cached(&self) -> &[Mount] {
        &self.mounts
    }

    /// The current mounts of the table at `path`, and whether it was read again this time.
    pub fn read(&mut self, path: &std::path::Path) -> Result<(&[Mount], bool), crate::collect::CollectError> {
        use crate::collect::CollectError;
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
                None => std::fs::File::open(path).map_err(|e| CollectError::io(path, e))?,
            };
            let n = super::files::read_from_start(&file, &mut self.buf).map_err(|e| CollectError::io(path, e))?;
            let text = super::files::text(path, &self.buf[..n])?;
            self.mounts = parse_mounts(text).map_err(|e| CollectError::parse(path, e))?;
            self.file = Some(file);
        }
        Ok((&self.mounts, changed))
    }
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
        let kept: Vec<&str> = mounts.iter().filter(|m| reported(m)).map(|m| m.mountpoint.as_str()).collect();
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

    fn slow_stat(path: &std::path::Path) -> Result<crate::collect::fs::FsStats, String> {
        if path.ends_with("hung") {
            std::thread::sleep(std::time::Duration::from_millis(400));
        }
        Ok(crate::collect::fs::FsStats { blocks: 1, blocks_free: 1, blocks_available: 1, fragment_size: 1 })
    }

    /// A stat that does not return in time is an error, the mount is skipped until that stat
    /// returns, and other mounts are stat'ed meanwhile by a fresh helper.
    #[test]
    fn a_hung_network_mount_does_not_hang_the_sample() {
        let mut b = BoundedStat::new(slow_stat, std::time::Duration::from_millis(50));
        let hung = std::path::Path::new("/mnt/hung");
        assert!(b.stat(std::path::Path::new("/mnt/ok")).is_ok());
        let t = std::time::Instant::now();
        assert!(b.stat(hung).unwrap_err().contains("did not return within"));
        assert!(t.elapsed() < std::time::Duration::from_millis(300));
        // still stuck: answered at once, without another stat
        let t = std::time::Instant::now();
        assert!(b.stat(hung).unwrap_err().contains("has not returned"));
        assert!(t.elapsed() < std::time::Duration::from_millis(20));
        // other mounts go on, on a new helper
        assert!(b.stat(std::path::Path::new("/mnt/ok")).is_ok());
        // once the stuck stat returns, the mount is tried again
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert!(b.stat(hung).unwrap_err().contains("did not return within"));
        assert!(is_network("nfs4") && is_network("fuse.sshfs") && !is_network("ext4") && !is_network("tmpfs"));
    }

    /// The real /proc/self/mounts is read once, then only after a change.
    #[test]
    fn mount_table_is_reread_only_when_it_changes() {
        let mut t = MountTable::default();
        let path = std::path::Path::new("/proc/self/mounts");
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
        let st = crate::collect::fs::FsStats { blocks: 100, blocks_free: 30, blocks_available: 20, fragment_size: 10 };
        let f = filesystem(m, Ok(st));
        assert_eq!((f.total, f.used, f.free, f.free_root), (Some(1000), Some(700), Some(200), Some(300)));
        let f = filesystem(m, Err("statvfs /: Permission denied".into()));
        assert_eq!(f.total, None);
        assert!(f.error.unwrap().contains("Permission"));
    }
}
