//! The destinations: one spool and one sender each ([`open_targets`]), what a polled sample
//! does to every spool of its kind ([`spool_everywhere`]), and the listener of the
//! forwarder's own metrics ([`start_listener`]).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::listener;
use super::sender::{Sender, Stats, with_spool};
use super::source::client_for;
use super::spool::{self, Spool, SpoolError};
use crate::config::ForwarderConfig;
use crate::web::client::Client;

/// Binds the metrics listener and returns the future that serves it until `stop`.
pub(crate) async fn start_listener(
    cfg: &ForwarderConfig,
    addr: std::net::SocketAddr,
    targets: &[Sender],
    source_stats: &Arc<listener::SourceStats>,
    mut stop: watch::Receiver<bool>,
) -> Result<impl Future<Output = ()> + use<>, String> {
    use crate::web::guard::{Auth, Cors, HostCheck};
    let bound = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another program holds this port: stop it or set another SYSTEM_STATS_FORWARDER_METRICS)"
        } else {
            ""
        };
        format!("cannot listen on {addr} for the forwarder's metrics: {e}{hint}")
    })?;
    let local = bound.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
    let access = crate::web::server::Access::new(
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
    let options = crate::web::server::ServeOptions {
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
        crate::web::server::run(bound, app, options, async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await;
    })
}

/// Opens one spool per destination (a damaged one is set aside and replaced; one on a disk
/// that is full or failing starts closed and is retried); warns about spools left by
/// destinations no longer configured. An error is a spool that cannot work at all: another
/// process holds it, or its file cannot be read or written.
pub(crate) async fn open_targets(cfg: &ForwarderConfig, client: &Client) -> Result<Vec<Sender>, String> {
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
        stats.backlog.store(spool.samples(), Ordering::Relaxed);
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
            timeout: cfg.timeout,
            min_gap,
            previous: Default::default(),
            refusals: Default::default(),
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

/// Whether a destination's spool takes samples, for the log: one line when it stops, one when
/// it takes them again.
#[derive(Debug, Default)]
pub(crate) struct SpoolHealth {
    /// Samples not spooled since it stopped taking them, and why.
    failing: Option<(u64, String)>,
    /// After its disk was found full: the free bytes it waits for before trying again, so
    /// that a disk at the edge of full (a failed write frees a little) does not make it
    /// alternate between spooling and not, a pair of log lines every few samples.
    room_needed: Option<u64>,
}

/// Free bytes for unprivileged writers on the filesystem of `dir`, and its size (`u64::MAX`
/// if unknown).
#[allow(clippy::unnecessary_cast)] // the field types differ between Linux and macOS
fn space(dir: &std::path::Path) -> (u64, u64) {
    nix::sys::statvfs::statvfs(dir)
        .map(|s| {
            let unit = s.fragment_size() as u64;
            ((s.blocks_available() as u64).saturating_mul(unit), (s.blocks() as u64).saturating_mul(unit))
        })
        .unwrap_or((u64::MAX, u64::MAX))
}

/// The free bytes a spool waits for after its disk was found full, before it tries a
/// sample of `size` bytes again: room for eight more and a margin, so that a disk at the
/// edge of full does not make it alternate; but never more than a quarter of the
/// filesystem (at least two samples), or a small one (a 320 KiB tmpfs) would never offer it.
pub(crate) fn room_needed(size: u64, filesystem: u64) -> u64 {
    (size.saturating_mul(8) + (256 << 10)).min((filesystem / 4).max(size.saturating_mul(2)))
}

/// A sample's alerts, for the notification destinations.
#[derive(Debug, Clone)]
pub(crate) struct Alerts {
    pub list: Vec<crate::snapshot::Alert>,
    pub hostname: String,
    pub page: String,
}

/// The notices a sample's alerts make for a notification destination's spool, and what it
/// has been told, pushed in one transaction; the number of notices.
fn push_notices(
    s: &mut Spool,
    alerts: &Alerts,
    format: crate::config::Format,
    cooldown: Duration,
    name: u64,
) -> Result<(Option<spool::Pushed>, u64), SpoolError> {
    use super::notify::{Notice, STATE_KEY, Told, notices};
    let mut told = Told::decode(s.state(STATE_KEY)?.as_deref());
    let now = chrono::Utc::now();
    let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let at = now.timestamp_millis() as f64 / 1000.0;
    let backlog = s.samples() > 0;
    let made = notices(&mut told, &alerts.list, format, (at, &now_text), cooldown, backlog);
    let entries: Vec<Vec<u8>> = made
        .into_iter()
        .map(|(alert, event, refresh)| {
            Notice { alert, event, hostname: alerts.hostname.clone(), page: alerts.page.clone(), refresh }.encode()
        })
        .collect();
    let n = entries.len() as u64;
    s.push_with_state(&entries, name, STATE_KEY, &told.encode()).map(|p| (p, n))
}

/// Pushes one sample (`p`: its bytes, name and time) into the spool of every one of
/// `targets` (for a notification destination, the notices its alerts make) and wakes their
/// senders; `true` when a spool had taken this very sample already (before a restart).
pub(crate) async fn spool_everywhere(
    targets: &[&Sender],
    health: &mut [SpoolHealth],
    spool_dir: &std::path::Path,
    p: &super::Polled,
    cooldown: Duration,
) -> bool {
    let (at, name) = (p.at.as_str(), p.name);
    let mut spooled = 0;
    let mut repeat = false;
    let bytes: Arc<[u8]> = p.bytes.as_slice().into();
    for (t, h) in targets.iter().zip(health.iter_mut()) {
        if let (Some(need), Some((lost, _))) = (h.room_needed, h.failing.as_mut())
            && space(spool_dir).0 < need
        {
            *lost += 1;
            t.stats.not_spooled.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        h.room_needed = None;
        let size = bytes.len() as u64;
        let pushed = if t.dest.format.notifies() {
            // a service that reports no alerts (turned off, or older) tells nothing
            let Some(alerts) = p.alerts.clone() else { continue };
            let format = t.dest.format;
            let made = with_spool(&t.spool, move |s| {
                push_notices(s, &alerts, format, cooldown, name).map(|(p, n)| (p, n, s.samples()))
            })
            .await;
            made.map(|(p, n, len)| {
                if n > 0 && p.is_some() {
                    tracing::info!(destination = t.dest.label.as_str(), "{n} alert notice(s) spooled");
                }
                (p, len)
            })
        } else {
            let sample = Arc::clone(&bytes);
            with_spool(&t.spool, move |s| s.push(&sample, name).map(|p| (p, s.samples()))).await
        };
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
                    h.room_needed = Some(room_needed(size, space(spool_dir).1));
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
        tracing::debug!("spooled the sample collected at {at}");
    }
    repeat
}

#[cfg(test)]
mod tests {
    /// After a full disk, a spool waits for room for eight samples and a margin, but never
    /// for more than a quarter of its filesystem (at least two samples).
    #[test]
    fn the_wait_for_room_fits_the_filesystem() {
        let kib = 1024;
        assert_eq!(super::room_needed(12 * kib, 64 << 30), 8 * 12 * kib + 256 * kib);
        assert_eq!(super::room_needed(12 * kib, 320 * kib), 80 * kib, "a 320 KiB tmpfs");
        assert_eq!(super::room_needed(100 * kib, 320 * kib), 200 * kib, "two samples at least");
    }
}
