//! The forwarder: polls the service's `/system` on a drift-free schedule and hands each sample
//! to every destination's durable spool; one sender per destination delivers its spool in
//! order (see [`sender`]). A destination that is down or slow only grows its own backlog.
//!
//! - [`payload`]: the JSON payload existing monitoring servers validate.
//! - [`spool`]: the on-disk queue per destination (redb).
//! - [`sender`]: delivery, retries, backoff, state logging.
//! - [`http`]: the HTTP(S) client.

pub mod http;
pub mod payload;
pub mod sender;
pub mod spool;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use self::http::Client;
use self::payload::Sample;
use self::sender::{Sender, Stats, with_spool};
use self::spool::Spool;
use crate::config::ForwarderConfig;

/// How long in-flight deliveries may go on after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Exit codes (also in `--help`).
pub mod exit {
    pub const OK: u8 = 0;
    /// `--once`: a destination did not accept (its samples stay spooled); or a spool could not
    /// be opened.
    pub const NOT_DELIVERED: u8 = 1;
    /// `--once`, `--dry-run`: no sample could be read from the service.
    pub const NO_SAMPLE: u8 = 3;
}

/// Runs the forwarder until `shutdown` completes (or once, with `--once` / `--dry-run`);
/// returns the exit code.
pub async fn run(cfg: ForwarderConfig, shutdown: impl Future<Output = ()>) -> u8 {
    let https = std::iter::once(&cfg.source)
        .chain(cfg.destinations.iter().map(|d| &d.url))
        .any(|u| u.scheme_str() == Some("https"));
    let client = Client::new(cfg.timeout, https);
    if cfg.dry_run {
        return match poll(&client, &cfg.source).await {
            Ok((sample, _)) => {
                println!("{}", serde_json::to_string_pretty(&sample.json_payload()).expect("JSON"));
                exit::OK
            }
            Err(e) => {
                tracing::error!("no sample from {}: {e}", cfg.source);
                exit::NO_SAMPLE
            }
        };
    }

    let targets = match open_targets(&cfg, &client).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return exit::NOT_DELIVERED;
        }
    };
    let backlog: u64 = targets.iter().map(|t| t.stats.backlog.load(Ordering::Relaxed)).sum();
    tracing::info!(
        "forwarding {} every {} s to {} destination(s); spools in {} ({backlog} sample(s) waiting)",
        cfg.source,
        cfg.interval.as_secs_f64(),
        targets.len(),
        cfg.spool_dir.display()
    );

    if cfg.once {
        let polled = poll(&client, &cfg.source).await;
        let mut code = exit::OK;
        match polled {
            Ok((sample, body)) => {
                spool_everywhere(&targets, body).await;
                tracing::info!("{}", sample.summary());
            }
            Err(e) => {
                tracing::error!("no sample from {}: {e}", cfg.source);
                code = exit::NO_SAMPLE;
            }
        }
        let results = futures_join(targets.iter().map(|t| {
            let s = t.clone();
            async move { s.run_once().await }
        }))
        .await;
        if code == exit::OK && results.iter().any(|ok| !ok) {
            code = exit::NOT_DELIVERED;
        }
        return code;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for t in &targets {
        tasks.spawn(t.clone().run(stop_rx.clone()));
    }

    tokio::pin!(shutdown);
    let start = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval_at(start, cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut source = SourceHealth::default();
    let mut last_collected = String::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = &mut shutdown => break,
        }
        match poll(&client, &cfg.source).await {
            Ok((sample, body)) => {
                source.ok();
                let collected = sample.snapshot["collected_at"].as_str().unwrap_or_default();
                if collected == last_collected {
                    // polling faster than the service samples: the same sample again
                    tracing::debug!("no new sample since the last tick (collected at {collected})");
                    continue;
                }
                last_collected = collected.to_string();
                tracing::debug!("spooling the sample collected at {collected}");
                spool_everywhere(&targets, body).await;
                let up = targets.iter().filter(|t| t.stats.up.load(Ordering::Relaxed)).count();
                let backlog: u64 = targets.iter().map(|t| t.stats.backlog.load(Ordering::Relaxed)).sum();
                tracing::info!("{} | destinations up {up}/{}, backlog {backlog}", sample.summary(), targets.len());
            }
            Err(e) => source.failed(&cfg.source, e),
        }
    }

    let _ = stop_tx.send(true);
    let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            () = &mut deadline => {
                tracing::warn!("deliveries still in flight after {SHUTDOWN_GRACE:?} were abandoned (their samples stay spooled)");
                break;
            }
        }
    }
    for t in &targets {
        let st = &t.stats;
        tracing::info!(
            destination = t.dest.label.as_str(),
            "stopped: {} delivered, {} failed attempts retried, {} refused by the server, {} dropped from a full spool, {} left spooled",
            st.delivered.load(Ordering::Relaxed),
            st.retries.load(Ordering::Relaxed),
            st.rejected.load(Ordering::Relaxed),
            st.evicted.load(Ordering::Relaxed),
            st.backlog.load(Ordering::Relaxed)
        );
    }
    exit::OK
}

/// Awaits all futures concurrently, keeping their order.
async fn futures_join<F: Future<Output = bool> + Send + 'static>(futs: impl Iterator<Item = F>) -> Vec<bool> {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap_or(false));
    }
    out
}

/// Opens (creating) the spool directory and one spool per destination; warns about spools
/// left by destinations no longer configured.
async fn open_targets(cfg: &ForwarderConfig, client: &Client) -> Result<Vec<Sender>, String> {
    create_private_dir(&cfg.spool_dir).map_err(|e| {
        format!("cannot create the spool directory {} ({e}); set SYSTEM_STATS_SPOOL_DIR", cfg.spool_dir.display())
    })?;
    let mut targets = Vec::new();
    let mut files = Vec::new();
    let min_gap = cfg.max_rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let backoff_cap = (cfg.interval * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
    for dest in &cfg.destinations {
        let file = spool::file_name(&dest.label);
        let path = cfg.spool_dir.join(&file);
        let max = cfg.spool_max_bytes;
        let opened = tokio::task::spawn_blocking(move || Spool::open(&path, max)).await.expect("no panic");
        let spool = opened.map_err(|e| format!("{e} (is another forwarder using {}?)", cfg.spool_dir.display()))?;
        let stats = Arc::new(Stats::default());
        stats.backlog.store(spool.len(), Ordering::Relaxed);
        stats.up.store(true, Ordering::Relaxed);
        let sender = Sender {
            dest: dest.clone(),
            spool: Arc::new(Mutex::new(spool)),
            wake: Arc::new(Notify::new()),
            stats,
            client: client.clone(),
            backoff_cap,
            min_gap,
        };
        files.push(file);
        targets.push(sender);
    }
    if let Ok(entries) = std::fs::read_dir(&cfg.spool_dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".redb") && !files.contains(&name) {
                tracing::warn!(
                    "{} belongs to a destination that is no longer configured; its samples are left in place",
                    e.path().display()
                );
            }
        }
    }
    Ok(targets)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// One poll of the service: the parsed sample and the body as received (what is spooled).
async fn poll(client: &Client, source: &::http::Uri) -> Result<(Sample, Bytes), String> {
    let reply = client.get(source).await?;
    if !reply.status.is_success() {
        let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned();
        return Err(format!("HTTP {}: {}", reply.status, body.trim()));
    }
    let sample = Sample::parse(&reply.body).map_err(|e| format!("not a system-stats snapshot: {e}"))?;
    Ok((sample, reply.body))
}

/// Pushes one sample into every destination's spool and wakes the senders.
async fn spool_everywhere(targets: &[Sender], body: Bytes) {
    for t in targets {
        let body = body.clone();
        let pushed = with_spool(&t.spool, move |s| s.push(&body).map(|p| (p, s.len()))).await;
        let st = &t.stats;
        match pushed {
            Ok((p, len)) => {
                st.backlog.store(len, Ordering::Relaxed);
                if p.evicted > 0 {
                    let total = st.evicted.fetch_add(p.evicted, Ordering::Relaxed) + p.evicted;
                    tracing::warn!(
                        destination = t.dest.label.as_str(),
                        "spool full (SYSTEM_STATS_SPOOL_MAX_BYTES): dropped the {} oldest sample(s), {total} so far",
                        p.evicted
                    );
                }
                t.wake.notify_one();
            }
            Err(e) => tracing::error!(destination = t.dest.label.as_str(), "sample not spooled: {e}"),
        }
    }
}

/// The source's state, logged when it changes and summarised while it stays down.
#[derive(Default)]
struct SourceHealth {
    down: Option<(Instant, u64)>,
    last_summary: Option<Instant>,
}

impl SourceHealth {
    fn ok(&mut self) {
        if let Some((since, misses)) = self.down.take() {
            tracing::info!(
                "service answering again after {:.0} s ({misses} missed poll(s))",
                since.elapsed().as_secs_f64()
            );
        }
    }

    fn failed(&mut self, source: &::http::Uri, e: String) {
        match &mut self.down {
            None => {
                tracing::warn!("no sample this tick: {source}: {e}");
                self.down = Some((Instant::now(), 1));
                self.last_summary = Some(Instant::now());
            }
            Some((since, misses)) => {
                *misses += 1;
                if self.last_summary.is_none_or(|t| t.elapsed() >= sender::SUMMARY_EVERY) {
                    self.last_summary = Some(Instant::now());
                    tracing::warn!(
                        "still no sample from {source} after {:.0} s ({misses} missed poll(s)): {e}",
                        since.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}
