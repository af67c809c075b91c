//! The forwarder: polls the service on a drift-free schedule (its `/system` for the JSON
//! destinations, its `/metrics` for the remote-write and InfluxDB ones, each at most once a
//! tick) and hands each new sample to the durable spool of every destination of its kind;
//! one sender per destination delivers its spool in order (see [`sender`]). A destination
//! that is down, slow or misconfigured, or whose spool fails, only affects itself.
//!
//! - [`source`]: the polls, and the name a sample is spooled once by.
//! - [`entry`]: what a spool holds for each kind of destination.
//! - [`payload`]: the JSON payload existing monitoring servers validate.
//! - [`spool`]: the on-disk queue per destination (redb), and how it survives faults.
//! - [`spool_dir`]: the directory of the spools, locked by one forwarder at a time.
//! - [`targets`]: the destinations' spools and senders, and a sample pushed into them.
//! - [`sender`]: delivery, retries, backoff, redirects, state logging.
//! - [`pace`]: the pace a throttling server allows, learned.
//! - [`notify`]: the service's alerts as notices for the notification destinations.
//! - [`email`]: those notices by e-mail (SMTP).
//! - [`listener`]: the forwarder's own `/metrics`.
//! - [`offline`]: `--dry-run`, `--check-spool`, `--salvage-spool`.

pub mod entry;

pub(crate) mod email;
pub(crate) mod listener;
pub(crate) mod notify;
pub(crate) mod offline;
pub(crate) mod pace;
pub(crate) mod payload;
pub(crate) mod sender;
pub(crate) mod source;
pub mod spool;
pub(crate) mod spool_dir;
pub(crate) mod targets;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use self::sender::{Sender, with_spool};
use self::source::{Source, SourceHealth};
use self::targets::{SpoolHealth, spool_everywhere};
use crate::config::{ForwarderConfig, Mode};
use crate::web::client::Client;

/// How long in-flight deliveries may go on after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Exit codes (also in `--help`).
pub(crate) mod exit {
    pub(crate) const OK: u8 = 0;
    /// `--once`: a destination did not accept (its samples stay spooled); `--check-spool`: a
    /// spool is damaged.
    pub(crate) const NOT_DELIVERED: u8 = 1;
    /// A setting that cannot work: a spool directory that cannot be used, among others.
    pub(crate) const CONFIG: u8 = 2;
    /// `--once`, `--dry-run`: no sample could be read from the service.
    pub(crate) const NO_SAMPLE: u8 = 3;
}

/// Runs the forwarder in its mode until `shutdown` completes (or once, with `--once` /
/// `--dry-run` / `--check-spool` / `--salvage-spool`); returns the exit code.
pub async fn run(cfg: ForwarderConfig, shutdown: impl Future<Output = ()>) -> u8 {
    let https = [&cfg.source, &cfg.scrape]
        .into_iter()
        .chain(cfg.destinations.iter().map(|d| &d.url))
        .any(|u| u.scheme_str() == Some("https"));
    let client = Client::new(cfg.timeout, https);
    let source = match Source::new(&cfg, &client) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return exit::CONFIG;
        }
    };
    if cfg.source_access.sent_in_clear(&cfg.source) {
        tracing::warn!(
            "the token goes to {} over plain http://: anyone on the path can read it (use https://)",
            cfg.source
        );
    }
    match &cfg.mode {
        Mode::DryRun => offline::dry_run(&cfg, &source).await,
        Mode::CheckSpool => offline::check_spools(&cfg),
        Mode::SalvageSpool(file) => offline::salvage_spool(&cfg, file),
        Mode::Once => match start(&cfg, &client).await {
            Ok((_lock, targets)) => once(&cfg, &source, &targets).await,
            Err(code) => code,
        },
        Mode::Forward => match start(&cfg, &client).await {
            Ok((_lock, targets)) => forward(&cfg, &source, targets, shutdown).await,
            Err(code) => code,
        },
    }
}

/// The spool directory locked and every destination's spool open, said in one line.
async fn start(cfg: &ForwarderConfig, client: &Client) -> Result<(spool_dir::SpoolDir, Vec<Sender>), u8> {
    if let Some(dir) = &cfg.spool_dir_given_relative {
        tracing::warn!(
            "SYSTEM_STATS_SPOOL_DIR {dir:?} is relative: the spools are in {} (give an absolute path so that \
             they do not depend on the directory the forwarder starts in)",
            cfg.spool_dir.display()
        );
    }
    let lock = spool_dir::SpoolDir::lock(&cfg.spool_dir).map_err(|e| {
        tracing::error!("{e}");
        exit::CONFIG
    })?;
    let targets = targets::open_targets(cfg, client).await.map_err(|e| {
        tracing::error!("{e}");
        exit::CONFIG
    })?;
    let backlog: u64 = targets.iter().map(|t| t.stats.backlog.load(Ordering::Relaxed)).sum();
    let labels: Vec<&str> = targets.iter().map(|t| t.dest.label.as_str()).collect();
    let polled: Vec<String> =
        Kind::ALL.iter().filter(|k| targets.iter().any(|t| k.takes(t))).map(|k| k.url(cfg).to_string()).collect();
    tracing::info!(
        "forwarding {} every {} s to {} destination(s) ({}); spools in {} ({backlog} sample(s) waiting)",
        polled.join(" and "),
        cfg.interval.as_secs_f64(),
        targets.len(),
        labels.join(", "),
        cfg.spool_dir.display()
    );
    Ok((lock, targets))
}

/// The two kinds of sample a tick may poll, each for its destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `/system`, for the JSON destinations.
    Snapshot,
    /// `/metrics`, for the remote-write and InfluxDB ones.
    Scrape,
}

impl Kind {
    const ALL: [Kind; 2] = [Kind::Snapshot, Kind::Scrape];

    fn takes(self, t: &Sender) -> bool {
        t.dest.format.scrapes() == (self == Kind::Scrape)
    }

    fn url(self, cfg: &ForwarderConfig) -> &::http::Uri {
        match self {
            Kind::Snapshot => &cfg.source,
            Kind::Scrape => &cfg.scrape,
        }
    }
}

/// One sample polled, ready for its spools: its bytes, its name, its time (for the log) and
/// a line about it.
pub(crate) struct Polled {
    bytes: Vec<u8>,
    name: u64,
    at: String,
    summary: String,
    /// `/system`'s alerts and host name, for the notification destinations.
    alerts: Option<targets::Alerts>,
}

/// Polls one kind of sample.
async fn poll(source: &Source, kind: Kind) -> Result<Polled, String> {
    match kind {
        Kind::Snapshot => {
            let (sample, body, name) = source.snapshot().await?;
            let at = sample.snapshot["collected_at"].as_str().unwrap_or_default().to_string();
            let alerts =
                serde_json::from_value::<Option<Vec<crate::snapshot::Alert>>>(sample.snapshot["alerts"].clone())
                    .ok()
                    .flatten()
                    .map(|list| targets::Alerts {
                        list,
                        hostname: sample.hostname.clone(),
                        page: page_of(&source.system),
                    });
            Ok(Polled { bytes: body.to_vec(), name, at, summary: sample.summary(), alerts })
        }
        Kind::Scrape => {
            let (scrape, name) = source.scrape().await?;
            let bytes = scrape.encode();
            let at = entry::Entry::Scrape(scrape).collected_at().unwrap_or_default();
            let summary = format!("/metrics spooled in {} bytes", bytes.len());
            Ok(Polled { bytes, name, at, summary, alerts: None })
        }
    }
}

/// The service's live page, from its `/system` URL (Alertmanager's `generatorURL`).
fn page_of(source: &::http::Uri) -> String {
    match (source.scheme_str(), source.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}/"),
        _ => source.to_string(),
    }
}

/// The destinations a kind of sample goes to, and their spools' health.
struct Group<'a> {
    kind: Kind,
    targets: Vec<&'a Sender>,
    health: Vec<SpoolHealth>,
    /// The name of the last sample polled, to spool each once.
    last_name: Option<u64>,
}

fn groups(targets: &[Sender]) -> Vec<Group<'_>> {
    Kind::ALL
        .iter()
        .map(|&kind| {
            let targets: Vec<&Sender> = targets.iter().filter(|t| kind.takes(t)).collect();
            let health = targets.iter().map(|_| SpoolHealth::default()).collect();
            Group { kind, targets, health, last_name: None }
        })
        .filter(|g| !g.targets.is_empty())
        .collect()
}

/// `--once`: one poll of each kind needed, then every spool delivered with one attempt per
/// sample.
async fn once(cfg: &ForwarderConfig, source: &Source, targets: &[Sender]) -> u8 {
    let mut code = exit::OK;
    for mut g in groups(targets) {
        match poll(source, g.kind).await {
            Ok(p) => {
                if spool_everywhere(&g.targets, &mut g.health, &cfg.spool_dir, &p, cfg.alert_cooldown).await {
                    tracing::info!("this sample was spooled before: not spooled twice");
                }
                tracing::info!("{}", p.summary);
            }
            Err(e) => {
                tracing::error!("no sample from {}: {e}", g.kind.url(cfg));
                code = exit::NO_SAMPLE;
            }
        }
    }
    let handles: Vec<_> = targets
        .iter()
        .map(|t| {
            let s = t.clone();
            tokio::spawn(async move { s.run_once().await })
        })
        .collect();
    for h in handles {
        if !h.await.unwrap_or(false) && code == exit::OK {
            code = exit::NOT_DELIVERED;
        }
    }
    code
}

/// Polls every interval and delivers until `shutdown`; then lets deliveries in flight finish
/// for at most [`SHUTDOWN_GRACE`] and says what happened to each destination's samples.
async fn forward(
    cfg: &ForwarderConfig,
    source: &Source,
    targets: Vec<Sender>,
    shutdown: impl Future<Output = ()>,
) -> u8 {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for t in &targets {
        tasks.spawn(t.clone().run(stop_rx.clone()));
    }
    let source_stats = Arc::new(listener::SourceStats::default());
    if let Some(addr) = cfg.metrics_listen {
        match targets::start_listener(cfg, addr, &targets, &source_stats, stop_rx.clone()).await {
            Ok(serving) => {
                tasks.spawn(serving);
            }
            Err(e) => {
                tracing::error!("{e}");
                return exit::CONFIG;
            }
        }
    }

    tokio::pin!(shutdown);
    let start = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval_at(start, cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut health = SourceHealth::default();
    let mut repeats = Summarised::default();
    let mut groups = groups(&targets);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = &mut shutdown => break,
        }
        for g in groups.iter_mut() {
            source_stats.polls.fetch_add(1, Ordering::Relaxed);
            let p = match poll(source, g.kind).await {
                Ok(p) => p,
                Err(e) => {
                    source_stats.failures.fetch_add(1, Ordering::Relaxed);
                    health.failed(g.kind.url(cfg), e);
                    continue;
                }
            };
            source_stats.last_success_ms.store(sender::unix_ms(), Ordering::Relaxed);
            health.ok();
            let why = if g.last_name == Some(p.name) {
                Some(
                    "the service answered with the sample of the last poll (it samples less often than \
                     SYSTEM_STATS_FORWARD_INTERVAL)",
                )
            } else {
                g.last_name = Some(p.name);
                tracing::debug!("took the sample collected at {}", p.at);
                spool_everywhere(&g.targets, &mut g.health, &cfg.spool_dir, &p, cfg.alert_cooldown)
                    .await
                    .then_some("the sample polled first after the restart was spooled before it")
            };
            if let Some(why) = why {
                source_stats.repeated.fetch_add(1, Ordering::Relaxed);
                if let Some(n) = repeats.note() {
                    tracing::info!(
                        "{why}: not spooled twice ({n} such poll(s) since the last line; counted in \
                         system_stats_forwarder_poll_repeats_total)"
                    );
                }
                continue;
            }
            let up = targets.iter().filter(|t| t.stats.up.load(Ordering::Relaxed)).count();
            let backlog: u64 = targets.iter().map(|t| t.stats.backlog.load(Ordering::Relaxed)).sum();
            tracing::info!("{} | destinations up {up}/{}, backlog {backlog}", p.summary, targets.len());
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
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let set_aside = with_spool(&t.spool, |s| s.set_aside()).await;
        tracing::info!(
            destination = t.dest.label.as_str(),
            "stopped: {} delivered, {} failed attempts retried ({} throttled), {} refused by the server, {} not a \
             snapshot, {} dropped from a full spool, {} could not be spooled, {set_aside} damaged spool file(s) set \
             aside, {} left spooled",
            n(&st.delivered),
            n(&st.retries),
            n(&st.throttled),
            n(&st.rejected),
            n(&st.undecodable),
            n(&st.evicted),
            n(&st.not_spooled),
            n(&st.backlog)
        );
    }
    exit::OK
}

/// Something that may happen many times in a row (a poll bringing the sample already
/// spooled, a sample the server refuses), for the log: said the first time, then as a count
/// at most every `sender::SUMMARY_EVERY` while it goes on.
#[derive(Debug, Default)]
pub struct Summarised {
    last_said: Option<Instant>,
    unsaid: u64,
}

impl Summarised {
    /// Notes one more; `Some(n)` when it is time to say so, `n` counting this one and those
    /// not said since the last line.
    pub fn note(&mut self) -> Option<u64> {
        self.unsaid += 1;
        if self.last_said.is_some_and(|t| t.elapsed() < sender::SUMMARY_EVERY) {
            return None;
        }
        self.last_said = Some(Instant::now());
        Some(std::mem::take(&mut self.unsaid))
    }
}
