//! Filesystem usage through `statvfs(2)` (Linux and macOS alike), with psutil's `disk_usage`
//! definitions.

use std::path::Path;

use crate::collect::CollectError;
use crate::snapshot::{Disk, percent};

/// The `statvfs` numbers psutil's `disk_usage` uses, and the file nodes (inodes)
/// node_exporter reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FsStats {
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub fragment_size: u64,
    /// `f_files`, `f_ffree`.
    pub files: u64,
    pub files_free: u64,
}

/// psutil's `disk_usage`: total = f_blocks × f_frsize; free = f_bavail × f_frsize (what an
/// unprivileged user may still write); used = total − f_bfree × f_frsize; percent = used /
/// (used + free), so that the blocks reserved for root do not count as free.
pub(crate) fn disk_usage(s: FsStats, mount: &str) -> Disk {
    let u = usage(s);
    Disk {
        total: Some(u.total),
        used: Some(u.used),
        free: Some(u.free),
        percent: Some(u.percent),
        mount: Some(mount.to_string()),
    }
}

/// A filesystem's size, use and room, in bytes, as psutil counts them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Usage {
    pub total: u64,
    /// Without the blocks reserved for root.
    pub used: u64,
    /// Free to unprivileged users.
    pub free: u64,
    /// `used` of `used + free`, rounded to 0.1 (the reserved blocks are neither).
    pub percent: f64,
}

/// The numbers of [`disk_usage`], without its mount point.
pub(crate) fn usage(s: FsStats) -> Usage {
    let total = s.blocks.saturating_mul(s.fragment_size);
    let free = s.blocks_available.saturating_mul(s.fragment_size);
    let used = total.saturating_sub(s.blocks_free.saturating_mul(s.fragment_size));
    Usage { total, used, free, percent: percent(used, used + free) }
}

/// `statvfs(2)` of `path`.
pub(crate) fn statvfs(path: &Path) -> Result<FsStats, CollectError> {
    let s = nix::sys::statvfs::statvfs(path)
        .map_err(|e| CollectError::sys("statvfs", path.display(), std::io::Error::from(e)))?;
    Ok(FsStats {
        blocks: s.blocks() as u64,
        blocks_free: s.blocks_free() as u64,
        blocks_available: s.blocks_available() as u64,
        fragment_size: s.fragment_size() as u64,
        files: s.files() as u64,
        files_free: s.files_free() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_follows_psutil() {
        // 1000 blocks of 4 KiB, 300 free of which 250 available to users
        let d = disk_usage(
            FsStats {
                blocks: 1000,
                blocks_free: 300,
                blocks_available: 250,
                fragment_size: 4096,
                ..Default::default()
            },
            "/",
        );
        assert_eq!(d.total, Some(4_096_000));
        assert_eq!(d.used, Some(700 * 4096));
        assert_eq!(d.free, Some(250 * 4096));
        assert_eq!(d.percent, Some(73.7)); // 700 / 950
    }
}
