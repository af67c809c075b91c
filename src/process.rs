//! What both programs do once per process: read their settings, set up logging, malloc and
//! the one libm function they need, and wait for the signal that stops them.

/// A binary's start: its settings from the command line and the environment, or the one-line
/// error and exit code 2; then logging at the configured level, and a warning for every
/// `SYSTEM_STATS_*` variable no program reads.
pub fn start<C>(
    program: &str,
    command: clap::Command,
    parse: impl FnOnce(&clap::ArgMatches) -> Result<C, crate::config::ConfigError>,
    level: impl FnOnce(&C) -> tracing::level_filters::LevelFilter,
) -> Result<C, std::process::ExitCode> {
    one_malloc_arena();
    let cfg = parse(&command.get_matches()).map_err(|e| {
        eprintln!("{program}: {e}");
        std::process::ExitCode::from(2)
    })?;
    init_logging(level(&cfg));
    for name in crate::config::unknown_variables() {
        tracing::warn!("ignoring {name}: no system-stats program reads it (misspelt?)");
    }
    Ok(cfg)
}

/// One malloc arena for the whole process (glibc), unless `MALLOC_ARENA_MAX` asks for
/// another number: glibc gives each thread that allocates an arena of its own (a 64 MiB
/// reservation, part of it resident), for no gain in requests per second here
/// (`docs/performance.md`, "one malloc arena"). Called before any other thread exists.
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

/// Defines `pow(3)` in the program that invokes it (`system_stats::libm_pow!();` at the top
/// of each binary), never in the library, so that no test, bench or example linking the
/// library gets it. The one caller in the programs (tokio's scheduler weighs its poll-time
/// average with `f64::powf`) gets it from the `libm` crate: linking glibc's libm for that one
/// function mapped its text and tables into every process (touched as the loader resolves
/// its indirect functions: `docs/performance.md`, "Memory"). With this definition the linker
/// needs no libm (`--as-needed`).
#[macro_export]
macro_rules! libm_pow {
    () => {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        #[unsafe(no_mangle)]
        pub extern "C" fn pow(x: f64, y: f64) -> f64 {
            $crate::process::libm::pow(x, y)
        }
    };
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[doc(hidden)]
pub use libm;

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    #![allow(unreachable_pub)]
    crate::libm_pow!();

    /// The `pow` the programs link is the real function, as tokio uses it (`(1 - α)^n`).
    #[test]
    fn pow_is_the_power_function() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(2.0, 0.5), std::f64::consts::SQRT_2);
        assert!((pow(0.9, 3.0) - 0.729).abs() < 1e-15);
        assert!(pow(-1.0, 0.5).is_nan());
    }
}
