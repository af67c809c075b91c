//! Disks and filesystems: the disk path's usage, block I/O, every mount and block device.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

/// Usage of the filesystem holding `SYSTEM_STATS_DISK_PATH`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Disk {
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub free: Option<u64>,
    pub percent: Option<f64>,
    pub mount: Option<String>,
}

/// Cumulative block I/O since boot, summed over whole disks (times in milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiskIo {
    pub read_count: Option<u64>,
    pub write_count: Option<u64>,
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    pub read_time: Option<u64>,
    pub write_time: Option<u64>,
    pub read_merged_count: Option<u64>,
    pub write_merged_count: Option<u64>,
    pub busy_time: Option<u64>,
}

/// One mounted filesystem, psutil's `disk_usage` numbers plus what Prometheus calls free
/// (blocks free to root).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Filesystem {
    #[schema(value_type = String)]
    pub device: Text,
    #[schema(value_type = String)]
    pub mountpoint: Text,
    #[schema(value_type = String)]
    pub fstype: Text,
    pub readonly: bool,
    pub total: Option<u64>,
    pub used: Option<u64>,
    /// Free to unprivileged users (psutil's `free`, node_exporter's `avail`).
    pub free: Option<u64>,
    /// Free including the blocks reserved for root (node_exporter's `free`).
    pub free_root: Option<u64>,
    pub percent: Option<f64>,
    /// File nodes (inodes) in all, and free: a filesystem can be full of small files with
    /// space left.
    #[serde(default)]
    pub files: Option<u64>,
    #[serde(default)]
    pub files_free: Option<u64>,
    /// Why the numbers are `null` (the filesystem could not be stat'ed).
    pub error: Option<String>,
}

/// One block device's I/O since boot, and its rates over the last interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiskDevice {
    #[schema(value_type = String)]
    pub name: Text,
    pub read_count: u64,
    pub write_count: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_time: u64,
    pub write_time: u64,
    pub read_merged_count: u64,
    pub write_merged_count: u64,
    pub busy_time: u64,
    pub read_bytes_per_sec: Option<f64>,
    pub write_bytes_per_sec: Option<f64>,
}
