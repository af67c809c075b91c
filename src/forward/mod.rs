//! The forwarder: polls the service's `/system` on a drift-free schedule and hands each sample
//! to every destination's durable spool; one sender per destination delivers its spool in
//! order (see [`sender`]). A destination that is down, slow or misconfigured, or whose spool
//! fails, only affects itself.
//!
//! - [`payload`]: the JSON payload existing monitoring servers validate.
//! - [`spool`]: the on-disk queue per destination (redb), and how it survives faults.
//! - [`spool_dir`]: the directory of the spools, locked by one forwarder at a time.
//! - [`sender`]: delivery, retries, backoff, redirects, state logging.
//! - [`http`]: the HTTP(S) client.

pub mod http;
pub mod listener;
pub mod pace;
pub mod payload;
pub mod sender;
pub mod spool;
pub mod spool_dir;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use self::http::Client;
use self::payload::Sample;
use self::sender::{Sender, Stats, with_spool};
use self::spool::{Spool, SpoolError};
use crate::config::ForwarderConfig;

/// How long in-flight deliveries may go on after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Exit codes (also in `--help`).
pub mod exit {
    pub const OK: u8 = 0;
    /// `--once`: a destination did not accept (its samples stay spooled); `--check-spool`: a
    /// spool is damaged.
    pub const NOT_DELIVERED: u8 = 1;
    /// A setting that cannot work: a spool directory that cannot be used, among others.
    pub const CONFIG: u8 = 2;
    /// `--once`, `--dry-run`: no sample could be read from the service.
    pub const NO_SAMPLE: u8 = 3;
}

/// Runs the forwarder until `shutdown` completes (or once, with `--once` / `--dry-run` /
/// `--check-spool`); returns the exit code.
pub async fn run(cfg: ForwarderConfig, shutdown: impl Future<Output = ()>) -> u8 {
    let https = std::iter::once(&cfg.source)
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
    if cfg.dry_run {
        return match poll(&source).await {
            Ok((sample, _, _)) => {
                println!("{}", serde_json::to_string_pretty(&sample.json_payload()).unwrap_or_default());
                exit::OK
            }
            Err(e) => {
                tracing::error!("no sample from {}: {e}", cfg.source);
                exit::NO_SAMPLE
            }
        };
    }
    if cfg.check_spool {
        return check_spools(&cfg);
    }
    if let Some(file) = &cfg.salvage_spool {
        return salvage_spool(&cfg, file);
    }
    if let Some(dir) = &cfg.spool_dir_given_relative {
        tracing::warn!(
            "SYSTEM_STATS_SPOOL_DIR {dir:?} is relative: the spools are in {} (give an absolute path so that \
             they do not depend on the directory the forwarder starts in)",
            cfg.spool_dir.display()
        );
    }
    let _lock = match spool_dir::SpoolDir::lock(&cfg.spool_dir) {
        Ok(lock) => lock,
        Err(e) => {
            tracing::error!("{e}");
            return exit::CONFIG;
        }
    };
    let targets = match open_targets(&cfg, &client).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return exit::CONFIG;
        }
    };
    let backlog: u64 = targets.iter().map(|t| t.stats.backlog.load(Ordering::Relaxed)).sum();
    let labels: Vec<&str> = targets.iter().map(|t| t.dest.label.as_str()).collect();
    tracing::info!(
        "forwarding {} every {} s to {} destination(s) ({}); spools in {} ({backlog} sample(s) waiting)",
        cfg.source,
        cfg.interval.as_secs_f64(),
        targets.len(),
        labels.join(", "),
        cfg.spool_dir.display()
    );
    let mut spooling: Vec<SpoolHealth> = targets.iter().map(|_| SpoolHealth::default()).collect();

    if cfg.once {
        let polled = poll(&source).await;
        let mut code = exit::OK;
        match polled {
            Ok((sample, body, name)) => {
                let repeat = spool_everywhere(&targets, &mut spooling, &cfg.spool_dir, &sample, body, name).await;
                if repeat {
                    tracing::info!("this sample was spooled before: not spooled twice");
                }
                tracing::info!("{}", sample.summary());
            }
            Err(e) => {
                tracing::error!("no sample from {}: {e}", cfg.source);
                code = exit::NO_SAMPLE;
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
        return code;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for t in &targets {
        tasks.spawn(t.clone().run(stop_rx.clone()));
    }
    let source_stats = Arc::new(listener::SourceStats::default());
    if let Some(addr) = cfg.metrics_listen {
        match start_listener(&cfg, addr, &targets, &source_stats, stop_rx.clone()).await {
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
    let mut last_name = None;
    let mut repeats = Repeats::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = &mut shutdown => break,
        }
        source_stats.polls.fetch_add(1, Ordering::Relaxed);
        let polled = poll(&source).await;
        if polled.is_ok() {
            source_stats.last_success_ms.store(sender::unix_ms(), Ordering::Relaxed);
        } else {
            source_stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        match polled {
            Ok((sample, body, name)) => {
                health.ok();
                if last_name == Some(name) {
                    source_stats.repeated.fetch_add(1, Ordering::Relaxed);
                    repeats.note(
                        "the service answered with the sample of the last poll (it samples less often than \
                         SYSTEM_STATS_FORWARD_INTERVAL)",
                    );
                    continue;
                }
                last_name = Some(name);
                let at = sample.snapshot["collected_at"].as_str().unwrap_or_default();
                tracing::debug!("took the sample collected at {at}");
                if spool_everywhere(&targets, &mut spooling, &cfg.spool_dir, &sample, body, name).await {
                    source_stats.repeated.fetch_add(1, Ordering::Relaxed);
                    repeats.note("the sample polled first after the restart was spooled before it");
                }
                let up = targets.iter().filter(|t| t.stats.up.load(Ordering::Relaxed)).count();
                let backlog: u64 = targets.iter().map(|t| t.stats.backlog.load(Ordering::Relaxed)).sum();
                tracing::info!("{} | destinations up {up}/{}, backlog {backlog}", sample.summary(), targets.len());
            }
            Err(e) => health.failed(&cfg.source, e),
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

/// Binds the metrics listener and returns the future that serves it until `stop`.
async fn start_listener(
    cfg: &ForwarderConfig,
    addr: std::net::SocketAddr,
    targets: &[Sender],
    source_stats: &Arc<listener::SourceStats>,
    mut stop: watch::Receiver<bool>,
) -> Result<impl Future<Output = ()> + use<>, String> {
    use crate::api::guard::{Auth, Cors, HostCheck};
    let bound = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another program holds this port: stop it or set another SYSTEM_STATS_FORWARDER_METRICS)"
        } else {
            ""
        };
        format!("cannot listen on {addr} for the forwarder's metrics: {e}{hint}")
    })?;
    let local = bound.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
    let access = crate::api::Access::new(
        HostCheck::new(&cfg.listener_allowed_hosts),
        cfg.listener_token.as_ref().map(|t| Auth::new(t.expose())),
        Cors::default(),
    );
    let watched = targets
        .iter()
        .map(|t| listener::Watched {
            label: t.dest.label.clone(),
            stats: Arc::clone(&t.stats),
            spool: Arc::clone(&t.spool),
            set_aside: Arc::clone(&t.set_aside),
        })
        .collect();
    let app = listener::Listener::new(access, cfg.source.to_string(), Arc::clone(source_stats), watched);
    let options = crate::api::ServeOptions {
        max_connections: 16,
        #[cfg(feature = "tls")]
        tls: cfg.listener_tls.clone(),
    };
    #[cfg(feature = "tls")]
    let scheme = if cfg.listener_tls.is_some() { "https" } else { "http" };
    #[cfg(not(feature = "tls"))]
    let scheme = "http";
    tracing::info!(
        "metrics of the forwarder on {scheme}://{local}/metrics ({})",
        if cfg.listener_token.is_some() { "token required" } else { "no token" }
    );
    Ok(async move {
        crate::api::run(bound, app, options, async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await;
    })
}

/// Opens one spool per destination (a damaged one is set aside and replaced; one on a disk
/// that is full or failing starts closed and is retried); warns about spools left by
/// destinations no longer configured. An error is a spool that cannot work at all: another
/// process holds it, or its file cannot be read or written.
async fn open_targets(cfg: &ForwarderConfig, client: &Client) -> Result<Vec<Sender>, String> {
    let mut targets = Vec::new();
    let mut files = Vec::new();
    let min_gap = cfg.max_rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let backoff_cap = (cfg.interval * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
    for dest in &cfg.destinations {
        let file = spool::file_name(&dest.label);
        let path = cfg.spool_dir.join(&file);
        let max = cfg.spool_max_bytes;
        let opened = tokio::task::spawn_blocking(move || Spool::open(&path, max)).await;
        let spool = match opened {
            Ok(Ok(spool)) => spool,
            Ok(Err(e @ SpoolError::Locked { .. })) => {
                return Err(format!("{e}: each forwarder needs its own SYSTEM_STATS_SPOOL_DIR"));
            }
            Ok(Err(e)) => return Err(format!("{e} (check the permissions of SYSTEM_STATS_SPOOL_DIR)")),
            Err(e) => return Err(format!("opening the spool of {}: {e}", dest.label)),
        };
        if let Some(why) = spool.closed_because() {
            tracing::error!(
                destination = dest.label.as_str(),
                "spool {} cannot be opened yet ({why}); samples are not kept until it can",
                spool.path().display()
            );
        }
        let stats = Arc::new(Stats::default());
        stats.backlog.store(spool.len(), Ordering::Relaxed);
        stats.up.store(true, Ordering::Relaxed);
        let client =
            client_for(&dest.access, client, cfg.timeout).map_err(|e| format!("{}: the CA file: {e}", dest.label))?;
        if dest.access.sent_in_clear(&dest.url) {
            tracing::warn!(
                destination = dest.label.as_str(),
                "credentials go over plain http:// to another machine: anyone on the path can read them (use https://)"
            );
        }
        targets.push(Sender {
            headers: dest.access.request_headers(),
            dest: dest.clone(),
            set_aside: spool.set_aside_counter(),
            spool: Arc::new(Mutex::new(spool)),
            wake: Arc::new(Notify::new()),
            stats,
            client,
            backoff_cap,
            min_gap,
        });
        files.push(file);
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

/// The service polled: its URL, the client (its own when it has a CA file), the token.
struct Source {
    url: ::http::Uri,
    client: Client,
    headers: Vec<(::http::HeaderName, ::http::HeaderValue)>,
}

impl Source {
    fn new(cfg: &ForwarderConfig, shared: &Client) -> Result<Source, String> {
        Ok(Source {
            url: cfg.source.clone(),
            client: client_for(&cfg.source_access, shared, cfg.timeout)
                .map_err(|e| format!("the source's CA file: {e}"))?,
            headers: cfg.source_access.request_headers(),
        })
    }
}

/// The shared client, or one that trusts only `access`'s CA file.
fn client_for(access: &crate::config::Access, shared: &Client, timeout: Duration) -> Result<Client, String> {
    match &access.ca_file {
        Some(ca) => Client::with_ca(timeout, ca),
        None => Ok(shared.clone()),
    }
}

/// One poll of the service: the parsed sample, the body as received (what is spooled) and
/// the sample's name ([`sample_name`]).
async fn poll(source: &Source) -> Result<(Sample, Bytes, u64), String> {
    let reply = source.client.get(&source.url, &source.headers).await.map_err(|e| e.to_string())?;
    if !reply.status.is_success() {
        let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned();
        return Err(format!("HTTP {}: {}", reply.status, body.trim()));
    }
    let sample = Sample::parse(&reply.body).map_err(|e| format!("not a system-stats snapshot: {e}"))?;
    let name = sample_name(&reply.headers, &reply.body);
    Ok((sample, reply.body, name))
}

/// The name a polled sample is spooled once by: the service's `System-Stats-Sample` header
/// (unique across its restarts), or, from a source that sends none (the Python original, a
/// proxy that drops it), the body itself: the same sample polled twice is the same bytes.
/// Never its time: a clock that steps back would make new samples look like old ones.
pub fn sample_name(headers: &::http::HeaderMap, body: &[u8]) -> u64 {
    match headers.get(crate::api::SAMPLE_HEADER) {
        Some(id) => spool::stable_hash(&[b"header:", id.as_bytes()]),
        None => spool::stable_hash(&[b"body:", body]),
    }
}

/// Polls that brought the sample already spooled, for the log: the first one of an episode
/// is said (at INFO, with why), then a count at most every [`sender::SUMMARY_EVERY`] while
/// they go on (a forwarder polling faster than the service samples meets one every other
/// poll).
#[derive(Debug, Default)]
struct Repeats {
    last_said: Option<Instant>,
    unsaid: u64,
}

impl Repeats {
    fn note(&mut self, why: &str) {
        self.unsaid += 1;
        if self.last_said.is_none_or(|t| t.elapsed() >= sender::SUMMARY_EVERY) {
            tracing::info!(
                "{why}: not spooled twice ({} such poll(s) since the last line; counted in \
                 system_stats_forwarder_poll_repeats_total)",
                self.unsaid
            );
            self.last_said = Some(Instant::now());
            self.unsaid = 0;
        }
    }
}

/// Whether a destination's spool takes samples, for the log: one line when it stops, one when
/// it takes them again.
#[derive(Debug, Default)]
struct SpoolHealth {
    /// Samples not spooled since it stopped taking them, and why.
    failing: Option<(u64, String)>,
    /// After its disk was found full: the free bytes it waits for before trying again, so
    /// that a disk at the edge of full (a failed write frees a little) does not make it
    /// alternate between spooling and not, a pair of log lines every few samples.
    room_needed: Option<u64>,
}

/// Free bytes for unprivileged writers on the filesystem of `dir` (`u64::MAX` if unknown).
#[allow(clippy::unnecessary_cast)] // the field types differ between Linux and macOS
fn free_bytes(dir: &std::path::Path) -> u64 {
    nix::sys::statvfs::statvfs(dir)
        .map(|s| (s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
        .unwrap_or(u64::MAX)
}

/// Pushes one sample into every destination's spool and wakes the senders; `true` when a
/// spool had taken this very sample already (before a restart).
async fn spool_everywhere(
    targets: &[Sender],
    health: &mut [SpoolHealth],
    spool_dir: &std::path::Path,
    sample: &Sample,
    body: Bytes,
    name: u64,
) -> bool {
    let mut spooled = 0;
    let mut repeat = false;
    for (t, h) in targets.iter().zip(health.iter_mut()) {
        if let (Some(need), Some((lost, _))) = (h.room_needed, h.failing.as_mut())
            && free_bytes(spool_dir) < need
        {
            *lost += 1;
            t.stats.not_spooled.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        h.room_needed = None;
        let size = body.len() as u64;
        let body = body.clone();
        let pushed = with_spool(&t.spool, move |s| s.push(&body, name).map(|p| (p, s.len()))).await;
        let st = &t.stats;
        let label = t.dest.label.as_str();
        match pushed {
            Ok((pushed, len)) => {
                st.backlog.store(len, Ordering::Relaxed);
                if let Some((lost, why)) = h.failing.take() {
                    tracing::info!(
                        destination = label,
                        "spooling again; {lost} sample(s) could not be spooled ({why})"
                    );
                }
                let Some(p) = pushed else {
                    repeat = true;
                    continue;
                };
                spooled += 1;
                if p.evicted > 0 {
                    let total = st.evicted.fetch_add(p.evicted, Ordering::Relaxed) + p.evicted;
                    tracing::warn!(
                        destination = label,
                        "spool full (SYSTEM_STATS_SPOOL_MAX_BYTES): dropped the {} oldest sample(s), {total} so far",
                        p.evicted
                    );
                }
                t.wake.notify_one();
            }
            Err(e) => {
                st.not_spooled.fetch_add(1, Ordering::Relaxed);
                if e.is_out_of_space() {
                    h.room_needed = Some(size.saturating_mul(8) + (256 << 10));
                }
                match &mut h.failing {
                    Some((lost, why)) => {
                        *lost += 1;
                        *why = e.to_string();
                    }
                    None => {
                        tracing::error!(
                            destination = label,
                            "sample not spooled: {e}; samples are not kept until the spool takes writes again"
                        );
                        h.failing = Some((1, e.to_string()));
                    }
                }
            }
        }
    }
    if spooled > 0 {
        let at = sample.snapshot["collected_at"].as_str().unwrap_or_default();
        tracing::debug!("spooled the sample collected at {at}");
    }
    repeat
}

/// `--check-spool`: the state of every spool in the directory, without sending anything.
fn check_spools(cfg: &ForwarderConfig) -> u8 {
    let dir = &cfg.spool_dir;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("no spool directory at {} (nothing spooled yet)", dir.display());
            return exit::OK;
        }
        Err(e) => {
            println!("spool directory {}: {e}", dir.display());
            return exit::CONFIG;
        }
    };
    let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let holder = match spool_dir::SpoolDir::lock(dir) {
        Ok(lock) => {
            drop(lock);
            None
        }
        Err(e) => Some(e),
    };
    if let Some(e) = &holder {
        println!("{e}: showing file sizes only");
    }
    let mut damaged = 0;
    let configured: Vec<(String, &str)> =
        cfg.destinations.iter().map(|d| (spool::file_name(&d.label), d.label.as_str())).collect();
    for (file, label) in &configured {
        let path = dir.join(file);
        if !path.exists() {
            println!("EMPTY    {label}: no spool yet ({})", path.display());
            continue;
        }
        if holder.is_some() {
            println!("IN USE   {label}: {} ({} bytes)", path.display(), file_size(&path));
            continue;
        }
        match spool::inspect(&path) {
            Ok(r) => println!("{:<8} {label}: {r}", if r.undecodable > 0 { "BAD" } else { "OK" }),
            Err(e) => {
                damaged += 1;
                println!("DAMAGED  {label}: {e} (the forwarder sets it aside and starts a fresh one)");
            }
        }
    }
    for name in &names {
        let path = dir.join(name);
        if name.contains(".damaged-") {
            println!("ASIDE    {} ({} bytes): a damaged spool kept for inspection", path.display(), file_size(&path));
        } else if name.ends_with(".redb") && !configured.iter().any(|(f, _)| f == name) {
            println!("UNUSED   {} ({} bytes): no configured destination uses it", path.display(), file_size(&path));
        }
    }
    if damaged > 0 { exit::NOT_DELIVERED } else { exit::OK }
}

/// `--salvage-spool FILE`: what still decodes of a damaged spool set aside, re-queued into
/// its destination's spool (found from the file's name), oldest first, without the samples
/// that spool already holds; the file is then renamed `*.salvaged`, so that a second run does
/// not queue them again.
fn salvage_spool(cfg: &ForwarderConfig, file: &std::path::Path) -> u8 {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dest = cfg.destinations.iter().find(|d| name.starts_with(&format!("{}.damaged-", spool::file_name(&d.label))));
    if name.ends_with(".salvaged") {
        println!("{}: already salvaged", file.display());
        return exit::CONFIG;
    }
    let Some(dest) = dest else {
        let known: Vec<String> = cfg.destinations.iter().map(|d| spool::file_name(&d.label)).collect();
        println!(
            "{}: not a spool set aside for a configured destination (their names start with {}.damaged-)",
            file.display(),
            known.join(".damaged-, ")
        );
        return exit::CONFIG;
    };
    let _lock = match spool_dir::SpoolDir::lock(&cfg.spool_dir) {
        Ok(lock) => lock,
        Err(e) => {
            println!("{e}: stop the forwarder first");
            return exit::CONFIG;
        }
    };
    let found = match spool::salvage(file) {
        Ok(found) => found,
        Err(e) => {
            println!("{e}: nothing can be salvaged from it");
            return exit::NOT_DELIVERED;
        }
    };
    let path = cfg.spool_dir.join(spool::file_name(&dest.label));
    let mut target = match Spool::open(&path, cfg.spool_max_bytes) {
        Ok(s) => s,
        Err(e) => {
            println!("{e}");
            return exit::CONFIG;
        }
    };
    // a sample is the same one when its bytes are: times may repeat after a clock step
    let there: std::collections::HashSet<u64> = match target.entries() {
        Ok(entries) => entries.iter().map(|(_, v)| spool::stable_hash(&[v])).collect(),
        Err(e) => {
            println!("{e}");
            return exit::CONFIG;
        }
    };
    let (mut queued, mut duplicates) = (0u64, 0u64);
    for (_, sample) in &found.samples {
        if there.contains(&spool::stable_hash(&[sample])) {
            duplicates += 1;
            continue;
        }
        if let Err(e) = target.push_salvaged(sample) {
            println!("{e}: {queued} sample(s) re-queued before it; {} is left as it is", file.display());
            return exit::NOT_DELIVERED;
        }
        queued += 1;
    }
    drop(target);
    let mut done = file.as_os_str().to_owned();
    done.push(".salvaged");
    if let Err(e) = std::fs::rename(file, &done) {
        println!("{} could not be renamed ({e}): remove it, or a second run queues its samples again", file.display());
    }
    println!(
        "{queued} sample(s) of {} re-queued for {} ({duplicates} already spooled, {} not a snapshot{}); delivered \
         after the spool's current backlog",
        file.display(),
        dest.label,
        found.undecodable,
        found.stopped.as_ref().map(|why| format!("; the file breaks off after them: {why}")).unwrap_or_default()
    );
    exit::OK
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
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
