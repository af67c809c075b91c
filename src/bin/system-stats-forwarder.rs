//! `system-stats-forwarder`: delivers `/system` samples to monitoring servers. See `--help`.

use std::process::ExitCode;

use system_stats::config::{self, ForwarderConfig};

fn main() -> ExitCode {
    let matches = ForwarderConfig::command().get_matches();
    let cfg = match ForwarderConfig::from_matches(&matches) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("system-stats-forwarder: {e}");
            return ExitCode::from(2);
        }
    };
    system_stats::init_logging(cfg.log_level);
    for name in config::unknown_variables() {
        tracing::warn!("ignoring {name}: no system-stats program reads it (misspelt?)");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        // spool commits run on blocking threads: keep them across 30 s ticks instead of
        // starting a new thread every tick
        .thread_keep_alive(std::time::Duration::from_secs(600))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("system-stats-forwarder: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(system_stats::forward::run(cfg, system_stats::shutdown_signal()));
    ExitCode::from(code)
}
