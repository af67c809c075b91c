//! `system-stats-forwarder`: delivers the service's samples to monitoring servers, through a
//! durable spool per destination. See `--help`.

use std::process::ExitCode;

use system_stats::config::ForwarderConfig;

system_stats::libm_pow!();

fn main() -> ExitCode {
    let cfg = match system_stats::process::start(
        "system-stats-forwarder",
        ForwarderConfig::command(),
        ForwarderConfig::from_matches,
        |c| c.log_level,
    ) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
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
    runtime.spawn(system_stats::process::after_startup());
    let code = runtime.block_on(system_stats::forward::run(cfg, system_stats::process::shutdown_signal()));
    ExitCode::from(code)
}
