//! What runs on the host: processes, services, containers, the forwarder.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How the forwarder is doing, per destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForwarderState {
    /// Where its metrics were read (`SYSTEM_STATS_FORWARDER_URL`).
    pub url: String,
    /// Its destinations; `null` when it did not answer.
    pub destinations: Option<Vec<ForwarderDestination>>,
    /// When it was last asked (UTC).
    pub checked_at: Option<String>,
    /// Why it did not answer, if it did not.
    pub error: Option<String>,
}

/// One destination of the forwarder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForwarderDestination {
    /// Its URL, password redacted.
    pub destination: String,
    /// Takes samples now.
    pub up: Option<bool>,
    /// Samples waiting in its spool.
    pub spooled: Option<u64>,
    /// Age of the oldest of them, seconds (0 when none waits).
    pub oldest_age_seconds: Option<f64>,
    pub delivered: Option<u64>,
    /// Samples that could not be spooled (lost).
    pub not_spooled: Option<u64>,
    pub last_http_status: Option<u16>,
    /// When it last accepted a sample (UTC).
    pub last_success: Option<String>,
}

/// Every process counted by state, and the top ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Processes {
    /// Processes (not threads).
    pub total: u64,
    /// Threads, summed over every process.
    pub threads: u64,
    /// Processes by state, psutil's names: `running`, `sleeping`, `disk-sleep`, `zombie`,
    /// `stopped` (always present), `idle`, `tracing-stop`, `dead`, `parked`... when some are.
    pub states: std::collections::BTreeMap<String, u64>,
    /// The `SYSTEM_STATS_TOP_PROCESSES` using the most CPU over the last sampling interval,
    /// most first; `null` when that setting is 0.
    pub top_cpu: Option<Vec<ProcessInfo>>,
    /// The same by resident memory.
    pub top_memory: Option<Vec<ProcessInfo>>,
    /// The span the CPU percents are measured over, seconds: since the previous reading of
    /// the processes, which runs in the samples someone reads (`null` on the first).
    pub interval_seconds: Option<f64>,
}

/// One process of a top list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessInfo {
    pub pid: u32,
    /// The kernel's name for it (at most 15 characters on Linux).
    pub name: String,
    /// Its arguments joined by spaces, at most 256 characters (never its environment);
    /// `null` for kernel threads and zombies.
    pub cmdline: Option<String>,
    /// Its owner's name (the uid when it has none).
    pub user: Option<String>,
    /// psutil's name of its state: `running`, `sleeping`, `disk-sleep`, `zombie`...
    pub state: String,
    /// CPU over the last sampling interval, psutil's way: 100 is one core busy, so it may
    /// exceed 100 on a machine with several; `null` on the first sample.
    pub cpu_percent: Option<f64>,
    /// Resident memory, bytes.
    pub rss: u64,
    /// `rss` of the total memory.
    pub memory_percent: Option<f64>,
    pub threads: u64,
    /// When it started (UTC).
    pub started_at: Option<String>,
}

/// What the service manager says of its units, read in the background every few seconds.
/// Where none answers (a container, a machine without systemd) every field is `null` but
/// `error`, which says why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Services {
    /// `systemd` or `launchd`; `null` when no manager answers.
    pub source: Option<String>,
    /// The manager's version (`252.39-1~deb12u2`); `null` for launchd.
    pub version: Option<String>,
    /// The overall state, as `systemctl is-system-running` says it: `running`, `degraded`
    /// (a unit failed), `starting`, `stopping`, `maintenance`...; `null` for launchd.
    pub state: Option<String>,
    /// Units by their active state: `active`, `activating`, `deactivating`, `inactive`,
    /// `failed` (always present) and any other the manager uses (`reloading`...).
    pub units: Option<std::collections::BTreeMap<String, u64>>,
    /// The failed units, by name.
    pub failed: Option<Vec<FailedUnit>>,
    /// When the units were last read (UTC).
    pub checked_at: Option<String>,
    /// Why no manager could be asked, if none could.
    pub error: Option<String>,
}

/// A unit that failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FailedUnit {
    /// `nginx.service`; a launchd job's label.
    pub name: String,
    pub description: Option<String>,
    /// How it failed: systemd's `Result` (`exit-code`, `signal`, `timeout`, `core-dump`,
    /// `start-limit-hit`...), launchd's `exit code 78` or `signal 9`.
    pub result: Option<String>,
    /// Since when (UTC; systemd only).
    pub since: Option<String>,
}

/// The Docker Engine's containers. When the engine cannot be asked, `available` is `false`
/// and `error` says why: `not_installed` (no socket), `permission_denied` (not in the
/// `docker` group), `daemon_not_running`, `timeout`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Docker {
    pub available: bool,
    pub error: Option<String>,
    /// Containers running.
    pub running: Option<u64>,
    /// Containers, in any state.
    pub total: Option<u64>,
    pub containers: Option<Vec<Container>>,
}

/// One container: the engine's view, and its resources from its cgroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Container {
    /// The first 12 characters of its ID, as `docker ps` shows it.
    pub id: String,
    pub name: String,
    pub image: String,
    /// `running`, `exited`, `paused`, `restarting`, `created`, `dead`.
    pub state: String,
    /// e.g. `Up 2 hours`, `Exited (0) 3 minutes ago`.
    pub status: String,
    /// Published ports, e.g. `0.0.0.0:8080->80/tcp`.
    pub ports: Vec<String>,
    /// Whether the registry has another image under the same tag; `null` when unknown (not
    /// checked yet, a local image, an unreachable registry).
    pub update_available: Option<bool>,
    /// CPU time over the sampling interval, percent of one CPU (as `docker stats`).
    pub cpu_percent: Option<f64>,
    /// CPU time since it started, seconds.
    #[serde(default)]
    pub cpu_seconds_total: Option<f64>,
    /// Memory in use, the page cache that could be dropped left out (as `docker stats`).
    pub memory_bytes: Option<u64>,
    /// Its memory limit, or the host's memory when it has none.
    pub memory_limit_bytes: Option<u64>,
    pub net_rx_bytes: Option<u64>,
    pub net_tx_bytes: Option<u64>,
    pub block_read_bytes: Option<u64>,
    pub block_write_bytes: Option<u64>,
}
