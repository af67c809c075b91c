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

/// One drive's health as its own SMART data tells it (`smartctl --json`), read in the
/// background every `SYSTEM_STATS_SMART_INTERVAL`: the verdict first, then the facts behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiskHealth {
    /// smartctl_exporter's `device` label: the path without `/dev/` (`sda`, `nvme0`), with the
    /// device type appended when it names a port (`bus_0_megaraid_1`).
    pub device: String,
    /// What smartctl was given: `/dev/sda`.
    pub path: String,
    /// smartctl's device type (`sat`, `nvme`, `scsi`, `usbjmicron`...).
    #[serde(rename = "type")]
    pub kind: String,
    /// `ATA`, `NVMe` or `SCSI`.
    pub protocol: Option<String>,
    /// `healthy`, `warning` (something to watch: `reasons` says what), `failing` (the drive
    /// says it is failing, or a threshold is crossed), `asleep` (in standby: not woken to be
    /// read; the last facts read awake stay), or `unknown` (it could not be read: `error`).
    pub verdict: String,
    /// Why the verdict is not `healthy`, one line each, most serious first.
    pub reasons: Vec<String>,
    pub model_family: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub firmware_version: Option<String>,
    pub capacity_bytes: Option<u64>,
    /// Revolutions per minute; 0 for solid state.
    pub rotation_rate: Option<u64>,
    /// The overall SMART health self-assessment: `true` passed, `false` failing.
    pub smart_passed: Option<bool>,
    /// smartctl's exit status, and the names of its bits (smartctl(8), "EXIT STATUS").
    pub smartctl_exit_status: Option<u8>,
    pub smartctl_exit_bits: Vec<String>,
    pub temperature_celsius: Option<f64>,
    /// The drive's own limit when it reports one (ATA SCT's operating limit, NVMe's warning
    /// composite temperature threshold).
    pub temperature_limit_celsius: Option<f64>,
    pub power_on_hours: Option<u64>,
    pub power_cycles: Option<u64>,
    /// ATA SMART attributes.
    pub attributes: Vec<SmartAttribute>,
    /// NVMe's SMART / Health Information log.
    pub nvme: Option<NvmeHealth>,
    /// SCSI / SAS error counters.
    pub scsi: Option<ScsiHealth>,
    /// The newest self-test in the drive's log.
    pub last_self_test: Option<SelfTest>,
    /// When the drive was last read (RFC 3339), awake or not.
    pub checked_at: Option<String>,
    /// Why it could not be read (permission, no SMART, smartctl's error message).
    pub error: Option<String>,
}

/// One ATA SMART attribute as smartctl reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SmartAttribute {
    pub id: u64,
    pub name: String,
    /// Normalised value, the worst it has been, and the vendor's failure threshold.
    pub value: Option<u64>,
    pub worst: Option<u64>,
    pub threshold: Option<u64>,
    pub raw: Option<u64>,
    /// The raw value as smartctl shows it (vendors pack several numbers in some).
    pub raw_string: Option<String>,
    /// A pre-failure attribute: at or below its threshold, the drive is failing.
    pub prefailure: bool,
    /// `now`, `past` or `null` (smartctl's `when_failed`).
    pub when_failed: Option<String>,
}

/// NVMe's SMART / Health Information log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NvmeHealth {
    /// Bits: 0 spare below threshold, 1 temperature, 2 reliability degraded, 3 read-only,
    /// 4 volatile memory backup failed, 5 persistent memory region read-only.
    pub critical_warning: Option<u64>,
    pub available_spare: Option<u64>,
    pub available_spare_threshold: Option<u64>,
    pub percentage_used: Option<u64>,
    pub media_errors: Option<u64>,
    pub error_log_entries: Option<u64>,
    pub data_read_bytes: Option<u64>,
    pub data_written_bytes: Option<u64>,
    pub unsafe_shutdowns: Option<u64>,
}

/// SCSI / SAS error counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScsiHealth {
    pub grown_defects: Option<u64>,
    pub read_uncorrected_errors: Option<u64>,
    pub write_uncorrected_errors: Option<u64>,
    pub verify_uncorrected_errors: Option<u64>,
}

/// A self-test from the drive's log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SelfTest {
    /// `Short offline`, `Extended offline`...
    pub kind: Option<String>,
    /// smartctl's words: `Completed without error`...
    pub status: Option<String>,
    pub passed: Option<bool>,
    /// The drive's power-on hours when it ran.
    pub power_on_hours: Option<u64>,
}
