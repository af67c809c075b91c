//! `system-stats-service`: samples the host and serves it over HTTP (`/system`, `/metrics`,
//! `/health`, the live page). See `--help`.

use std::process::ExitCode;

use system_stats::api::AppState;
use system_stats::collect::Runner;
use system_stats::config::ServiceConfig;
use system_stats::sampler;
use system_stats::web::guard::{Auth, Cors, HostCheck};
use system_stats::web::server::{self, Access, ServeOptions};

system_stats::libm_pow!();

fn main() -> ExitCode {
    let cfg = match system_stats::process::start(
        "system-stats-service",
        ServiceConfig::command(),
        ServiceConfig::from_matches,
        |c| c.log_level,
    ) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };

    if let Some(file) = &cfg.check_alerts {
        return check_alerts(file);
    }
    if let Some(dir) = &cfg.read_drives {
        return read_drives(&cfg.setup, dir);
    }
    let runner = Runner::new(&cfg.setup, &cfg.collectors);
    let engine = cfg.alerts.clone().map(system_stats::alerts::Engine::new);
    if let Some(e) = &engine {
        tracing::info!("evaluating {} alert rules on every sample", e.rules().rules.len());
    }
    let (shared, _sampler) = match sampler::start(runner, cfg.setup.sample_interval, engine) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("system-stats-service: cannot start the sampler thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("system-stats-service: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(cfg.listen).await {
            Ok(l) => l,
            Err(e) => {
                let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                    " (another program holds this port: stop it or set SYSTEM_STATS_PORT)"
                } else {
                    ""
                };
                eprintln!("system-stats-service: cannot listen on {}: {e}{hint}", cfg.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().map_or_else(|_| cfg.listen.to_string(), |a| a.to_string());
        let options = ServeOptions {
            max_connections: system_stats::web::conn::fit_connections(cfg.max_connections),
            #[cfg(feature = "tls")]
            tls: cfg.tls.clone(),
        };
        #[cfg(feature = "tls")]
        let scheme = if cfg.tls.is_some() { "https" } else { "http" };
        #[cfg(not(feature = "tls"))]
        let scheme = "http";
        tracing::info!(
            "listening on {scheme}://{addr} (sampling every {} s, disk {}; {}, at most {} connections)",
            cfg.setup.sample_interval.as_secs_f64(),
            cfg.setup.disk_path.display(),
            if cfg.auth_token.is_some() { "token required" } else { "no token" },
            options.max_connections,
        );
        let access = Access::new(
            HostCheck::new(&cfg.allowed_hosts),
            cfg.auth_token.as_ref().map(|t| Auth::new(t.expose())),
            Cors::new(&cfg.cors_origins),
        );
        let state = AppState::new(shared, access, cfg.max_event_clients);
        tokio::spawn(system_stats::process::after_startup());
        server::run(listener, state, options, system_stats::process::shutdown_signal()).await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

/// `--check-alerts FILE`: the rules the service would evaluate with it, one line each, or the
/// problem and exit code 2.
/// `--read-drives DIR`: each drive's reading written, one line each; 1 when nothing could be.
fn read_drives(setup: &system_stats::collect::Setup, dir: &std::path::Path) -> ExitCode {
    match system_stats::collect::read_drives(setup, dir) {
        Ok(done) => {
            for (path, outcome) in &done.drives {
                match outcome {
                    Ok(()) => println!("{path}: read"),
                    Err(e) => println!("{path}: not read: {e}"),
                }
            }
            println!("{}: {} drives", dir.display(), done.drives.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("system-stats-service: --read-drives: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_alerts(file: &std::path::Path) -> ExitCode {
    match system_stats::alerts::Rules::load(Some(file), Default::default()) {
        Ok(rules) => {
            for r in rules.rules.iter().filter(|r| r.origin != "the stock rules") {
                println!(
                    "{}: {} {} {} {} for {} s ({})",
                    r.name,
                    r.quantity.name,
                    r.comparison.as_str(),
                    r.threshold,
                    r.severity.as_str(),
                    r.hold.as_secs(),
                    r.origin
                );
            }
            let stock = rules.rules.iter().filter(|r| r.origin == "the stock rules").count();
            println!("{}: usable: {} rules in all, {stock} of them stock", file.display(), rules.rules.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("system-stats-service: {e}");
            ExitCode::from(2)
        }
    }
}
