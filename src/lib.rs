//! system-stats: a host-metrics agent that serves a JSON snapshot of the machine it runs on,
//! with the numbers psutil would give, and forwards it to monitoring servers.
//!
//! # Layout
//! Each module imports only from the ones listed before it (`tests/layers.rs` checks):
//! - [`config`]: both programs' settings (environment variable + matching flag), validated once.
//! - [`snapshot`]: the `/system` JSON contract (serde types) and its rounding rules.
//! - [`metrics`]: the model of metric families and their encodings: Prometheus text,
//!   OpenMetrics, remote-write, InfluxDB line protocol, and the text format read back. It
//!   knows no family: each series is defined by the family that reads it.
//! - [`collect`]: the host as a registry of families (`cpu`, `memory`, `filesystems`,
//!   `network`...), one file each owning its state and its series; a runner calls them in a
//!   declared order and keeps each one's status; `collect/shared/` holds what several families
//!   use, `collect/own.rs` the service's own series. Linux readers work under configurable
//!   roots (`/proc`, `/sys`); each family's macOS variant sits beside it behind `cfg`. The
//!   module's docs say how to add a family: one file and one line.
//! - [`json`]: a snapshot as `/system`'s JSON, reusing the bytes of entries unchanged since
//!   the last sample.
//! - [`sampler`]: the thread that runs the families every interval and publishes one
//!   immutable snapshot (serialised once, by the first request that reads it).
//! - [`web`]: HTTP for both programs: the server (connections, limits, TLS, the guard against
//!   unexpected hosts) and the client the forwarder sends with.
//! - [`live`]: the live page's history and its event stream.
//! - [`alerts`]: the rules the service evaluates on every sample (stock, statix's thresholds,
//!   a user's file) over a documented list of quantities, and the state of their alerts.
//! - [`api`]: the service's routes (`/system`, `/metrics`, `/health`, `/`, `/events`,
//!   `/history`, `/openapi.json`), answering from the published snapshot only.
//! - [`forward`]: the forwarder: polls the service, spools each sample durably per
//!   destination (redb) and delivers it in order with retries.
//! - [`process`]: what each program does once: settings, logging, signals.
//! - `src/bin/`: the thin binaries.
//!
//! Data flows one way: kernel → families → sampler → published bytes → HTTP → forwarder →
//! spool → destinations. `docs/architecture.md` tells the same with the reasons.

#![warn(unreachable_pub)]

/// The version `--version` prints: the package's version and the git commit it was built
/// from (see `build.rs`).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SYSTEM_STATS_COMMIT"), ")");

pub mod alerts;
pub mod api;
pub mod collect;
pub mod config;
pub mod forward;
pub mod live;
pub mod metrics;
mod panics;
pub mod process;
pub mod sampler;
pub mod snapshot;
mod sync;
pub mod web;

/// Helpers of the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// A reproducible stream of pseudo-random numbers (xorshift64, the same seed every run).
    pub(crate) fn random() -> impl FnMut() -> u64 {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }
}
