//! What the per-device lists leave out: mounts by mount point and by filesystem type, block
//! devices, network interfaces, each a regular expression as node_exporter's
//! `--collector.filesystem.mount-points-exclude`, `.fs-types-exclude`,
//! `--collector.diskstats.device-exclude` and `--collector.netdev.device-exclude` take them
//! (unanchored: the defaults anchor themselves), with upstream node_exporter's defaults.
//!
//! A left-out mount, disk or interface is in neither `/system`'s lists nor `/metrics`; the
//! host's totals (`network.io_counters`, `disk_io`) still count every device, as psutil's do.

use regex_lite::Regex;

/// node_exporter's default mount points left out: the kernel's and containers' own.
pub(crate) const MOUNT_POINTS: &str = if cfg!(target_os = "macos") {
    "^/(dev)($|/)"
} else {
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
};

/// node_exporter's default filesystem types left out: virtual ones, read-only images, overlays.
pub(crate) const FS_TYPES: &str = if cfg!(target_os = "macos") {
    "^devfs$"
} else {
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
};

/// node_exporter's default block devices left out: RAM disks, loop devices, floppies and the
/// partitions of sd/vd/hd/xvd/nvme disks (not those of mmcblk disks, nor dm or md devices).
pub(crate) const DISKS: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// No interface is left out (node_exporter's default; Debian's package leaves out `lo`).
pub(crate) const NETWORK: &str = "";

/// A compiled pattern and its text as given (compared by the compiled text).
#[derive(Debug, Clone)]
pub struct Pattern(Regex, Box<str>);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

impl Pattern {
    /// An empty text leaves nothing out (`None`); otherwise a regular expression, or what is
    /// wrong with it, on one line.
    pub fn parse(text: &str) -> Result<Option<Pattern>, String> {
        if text.is_empty() {
            return Ok(None);
        }
        Regex::new(text).map(|re| Some(Pattern(re, text.into()))).map_err(|e| {
            let why = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
            format!("a regular expression, or empty for none ({why})")
        })
    }

    /// The same, anchored at both ends as node_exporter anchors its systemd unit patterns
    /// (`^(?:text)$`); [`Pattern::as_str`] is still `text`.
    pub fn parse_anchored(text: &str) -> Result<Option<Pattern>, String> {
        if Pattern::parse(text)?.is_none() {
            return Ok(None);
        }
        Ok(Pattern::parse(&format!("^(?:{text})$"))?.map(|Pattern(re, _)| Pattern(re, text.into())))
    }

    pub fn as_str(&self) -> &str {
        &self.1
    }

    /// Whether the pattern matches somewhere in `text` (the whole of it, when anchored).
    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

/// The four patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusions {
    pub mount_points: Option<Pattern>,
    pub fs_types: Option<Pattern>,
    pub disks: Option<Pattern>,
    pub network: Option<Pattern>,
}

impl Default for Exclusions {
    /// node_exporter's defaults.
    fn default() -> Self {
        let p = |text| Pattern::parse(text).unwrap_or_else(|e| unreachable!("default pattern {text:?}: {e}"));
        Exclusions { mount_points: p(MOUNT_POINTS), fs_types: p(FS_TYPES), disks: p(DISKS), network: p(NETWORK) }
    }
}

fn matches(p: &Option<Pattern>, text: &str) -> bool {
    p.as_ref().is_some_and(|p| p.0.is_match(text))
}

impl Exclusions {
    /// Whether a mount is left out, by its mount point or its type.
    pub fn mount(&self, mountpoint: &str, fstype: &str) -> bool {
        matches(&self.mount_points, mountpoint) || matches(&self.fs_types, fstype)
    }

    /// Whether a block device (its diskstats name) is left out.
    pub fn disk(&self, name: &str) -> bool {
        matches(&self.disks, name)
    }

    /// Whether a network interface is left out.
    pub fn interface(&self, name: &str) -> bool {
        matches(&self.network, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults leave out what node_exporter's do (Linux).
    #[cfg(target_os = "linux")]
    #[test]
    fn defaults() {
        let x = Exclusions::default();
        for (mountpoint, fstype, out) in [
            ("/", "ext4", false),
            ("/boot/firmware", "vfat", false),
            ("/dev", "devtmpfs", true),
            ("/dev/shm", "tmpfs", true),
            ("/device", "ext4", false),
            ("/run", "tmpfs", false),
            ("/run/credentials", "tmpfs", false),
            ("/run/credentials/x.service", "tmpfs", true),
            ("/var/lib/docker", "ext4", false),
            ("/var/lib/docker/overlay2/abc/merged", "ext4", true),
            ("/snap/core/1", "squashfs", true),
            ("/sys/fs/cgroup", "cgroup2", true),
            ("/mnt/x", "cgroup", true),
        ] {
            assert_eq!(x.mount(mountpoint, fstype), out, "{mountpoint} {fstype}");
        }
        for (name, out) in [
            ("sda", false),
            ("sda1", true),
            ("vdb", false),
            ("vdb12", true),
            ("xvda1", true),
            ("nvme0n1", false),
            ("nvme0n1p2", true),
            ("mmcblk0", false),
            ("mmcblk0p1", false),
            ("dm-0", false),
            ("md127", false),
            ("loop7", true),
            ("ram0", true),
            ("fd0", true),
            ("sdaa1", false),
            ("zram0", false),
            ("sr0", false),
            ("hdb3", true),
            ("nvme10n2p15", true),
            ("loop12", true),
        ] {
            assert_eq!(x.disk(name), out, "{name}");
        }
        assert!(!x.interface("lo") && !x.interface("eth0"));
    }

    #[test]
    fn bad_patterns_say_why_on_one_line() {
        let err = Pattern::parse("^(lo").unwrap_err();
        assert!(err.starts_with("a regular expression, or empty for none ("), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert_eq!(Pattern::parse("").unwrap(), None);
        assert!(Pattern::parse("^veth").unwrap().is_some_and(|p| p.as_str() == "^veth"));
    }
}
