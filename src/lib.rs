//! system-stats: a host-metrics agent that serves a JSON snapshot of the machine it runs on,
//! with the numbers psutil would give, and forwards it to monitoring servers.
//!
//! # Layout
//! - [`config`]: both programs' settings (environment variable + matching flag), validated once.
//! - [`snapshot`]: the `/system` JSON contract (serde types) and its rounding rules.
//! - [`collect`]: the host as a registry of families (`cpu`, `memory`, `filesystems`,
//!   `network`...), one module each owning its state; a runner calls them in a documented order
//!   and keeps each one's status. Linux readers work under configurable roots (`/proc`, `/sys`);
//!   each family's macOS variant sits beside it behind `cfg`. The module's docs say how to add
//!   a family: one file and one line.
//! - [`metrics`]: the snapshot as metric families (node_exporter's names for the core ones) and
//!   their encodings: Prometheus text, OpenMetrics, remote-write, InfluxDB line protocol.
//! - [`json`]: a snapshot as `/system`'s JSON, reusing the bytes of entries unchanged since
//!   the last sample.
//! - [`sampler`]: the thread that runs the families every interval and publishes one
//!   immutable snapshot (serialised once, by the first request that reads it).
//! - [`api`]: the HTTP server (`GET /system`, `GET /health`), answering from the published
//!   snapshot only.
//! - [`forward`]: the forwarder: polls `/system`, spools each sample durably per destination
//!   (redb) and delivers it in order with retries.
//! - `src/bin/`: the thin binaries.
//!
//! Data flows one way: kernel → families → sampler → published bytes → HTTP.

/// The version `--version` prints: the package's version and the git commit it was built
/// from (see `build.rs`).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SYSTEM_STATS_COMMIT"), ")");

pub mod api;
pub mod collect;
pub mod config;
pub mod forward;
pub mod json;
pub mod live;
pub mod metrics;
mod panics;
pub mod sampler;
pub mod snapshot;
mod sync;
pub mod web;

/// Helpers of the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// A reproducible stream of pseudo-random numbers (xorshift64, the same seed every run).
    pub fn random() -> impl FnMut() -> u64 {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }
}

/// A binary's start: its settings from the command line and the environment, or the one-line
/// error and exit code 2; then logging at the configured level, and a warning for every
/// `SYSTEM_STATS_*` variable no program reads.
pub fn start<C>(
    program: &str,
    command: clap::Command,
    parse: impl FnOnce(&clap::ArgMatches) -> Result<C, config::ConfigError>,
    level: impl FnOnce(&C) -> tracing::level_filters::LevelFilter,
) -> Result<C, std::process::ExitCode> {
    one_malloc_arena();
    let cfg = parse(&command.get_matches()).map_err(|e| {
        eprintln!("{program}: {e}");
        std::process::ExitCode::from(2)
    })?;
    init_logging(level(&cfg));
    for name in config::unknown_variables() {
        tracing::warn!("ignoring {name}: no system-stats program reads it (misspelt?)");
    }
    Ok(cfg)
}

/// One malloc arena for the whole process (glibc), unless `MALLOC_ARENA_MAX` asks for
/// another number: glibc gives each thread that allocates an arena of its own (a 64 MiB
/// reservation, part of it resident). The service's sampler, HTTP workers and background
/// threads kept 0.2–0.3 MiB more resident that way, with no difference in requests per second
/// (`docs/performance.md`, 2026-12-07). Called before any other thread exists.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt has no preconditions; an unknown parameter is refused with 0.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Logs to standard error (journald and launchd keep it), without colours unless it is a
/// terminal.
pub fn init_logging(level: tracing::level_filters::LevelFilter) {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name} received: shutting down");
}

/// `pow(3)` for the one caller in the programs (tokio's scheduler weighs its poll-time
/// average with `f64::powf`), from the `libm` crate: linking glibc's libm for that one
/// function mapped 0.5 MiB of it into every process (its text and tables, touched as the
/// loader resolves its indirect functions), a sixteenth of the service's resident memory.
/// With this definition the linker needs no libm (`--as-needed`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// The `pow` the programs link is the real function, as tokio uses it (`(1 - α)^n`).
    #[test]
    fn pow_is_the_power_function() {
        assert_eq!(super::pow(2.0, 10.0), 1024.0);
        assert_eq!(super::pow(2.0, 0.5), std::f64::consts::SQRT_2);
        assert!((super::pow(0.9, 3.0) - 0.729).abs() < 1e-15);
        assert!(super::pow(-1.0, 0.5).is_nan());
    }
}
