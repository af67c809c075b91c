//! `forwarder`: how the forwarder on this host is doing, when the service is told where its
//! metrics are (`SYSTEM_STATS_FORWARDER_URL`, e.g. `http://127.0.0.1:5002`, the forwarder's
//! `SYSTEM_STATS_FORWARDER_METRICS`): per destination, its backlog, the age of its oldest
//! sample, whether it takes samples, its last HTTP status (`forwarder` in `/system`, a card on
//! the page). Not set: the family does not run and `forwarder` is `null`.
//!
//! Read on a thread of its own every [`REFRESH`]: `GET <url>/metrics` with the service's token
//! (the forwarder's listener takes the same one), the `system_stats_forwarder_*` series
//! picked out of the text. A forwarder that does not answer is `forwarder.error`, said once in
//! the log.

use crate::sync::Locked;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::shared::poller::{Change, change};
use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::snapshot::{ForwarderDestination, ForwarderState};

pub(crate) const ENTRY: Entry = Entry {
    name: "forwarder",
    about: "the forwarder's backlog per destination, from its own /metrics (SYSTEM_STATS_FORWARDER_URL)",
    reads: &[],
    series: None,
    start: |setup| setup.forwarder_url.clone().map(|url| Box::new(Forwarder::new(url, setup)) as Box<dyn Collector>),
};

/// How often the forwarder's metrics are read.
pub(crate) const REFRESH: Duration = Duration::from_secs(5);

pub(crate) struct Forwarder {
    latest: super::shared::poller::Poller<ForwarderState>,
}

/// The destinations of a forwarder's `/metrics` text, by their `destination` label.
pub(crate) fn parse(text: &str) -> Vec<ForwarderDestination> {
    let mut by: BTreeMap<String, ForwarderDestination> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("system_stats_forwarder_")) {
        let Some((key, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let Some((name, labels)) = key.split_once('{') else { continue };
        let Some(dest) = labels.split("destination=\"").nth(1).and_then(|r| r.split('"').next()) else { continue };
        let d = by
            .entry(dest.to_string())
            .or_insert_with(|| ForwarderDestination { destination: dest.to_string(), ..Default::default() });
        let count = || value.max(0.0) as u64;
        match name.trim_start_matches("system_stats_forwarder_") {
            "up" => d.up = Some(value == 1.0),
            "spooled_samples" => d.spooled = Some(count()),
            "oldest_sample_age_seconds" => d.oldest_age_seconds = Some(value),
            "delivered_total" => d.delivered = Some(count()),
            "not_spooled_total" => d.not_spooled = Some(count()),
            "last_http_status" => d.last_http_status = Some(count() as u16),
            "last_success_timestamp_seconds" => {
                d.last_success = chrono::DateTime::from_timestamp_millis((value * 1000.0) as i64)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            }
            _ => {}
        }
    }
    by.into_values().collect()
}

impl Forwarder {
    fn new(url: String, setup: &Setup) -> Forwarder {
        let token = setup.forwarder_token.clone();
        let timeout = setup.sample_interval.clamp(Duration::from_secs(1), Duration::from_secs(5));
        let initial = ForwarderState { url: url.clone(), ..Default::default() };
        let make = move || {
            let metrics: Result<http::Uri, String> =
                format!("{}/metrics", url.trim_end_matches('/')).parse().map_err(|e| format!("{url}: {e}"));
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let client = crate::web::client::Client::new(timeout, url.starts_with("https://"));
            let headers: Vec<(http::HeaderName, http::HeaderValue)> = token
                .as_deref()
                .and_then(|t| http::HeaderValue::from_str(&format!("Bearer {t}")).ok())
                .map(|v| vec![(http::header::AUTHORIZATION, v)])
                .unwrap_or_default();
            move |shared: &Mutex<ForwarderState>| {
                let read = match (&metrics, &runtime) {
                    (Err(e), _) => Err(e.clone()),
                    (_, Err(e)) => Err(format!("no runtime to ask it: {e}")),
                    (Ok(uri), Ok(rt)) => {
                        rt.block_on(client.get(uri, &headers)).map_err(|e| e.to_string()).and_then(|r| {
                            if r.status.is_success() {
                                Ok(parse(&String::from_utf8_lossy(&r.body)))
                            } else {
                                Err(format!("HTTP {}", r.status))
                            }
                        })
                    }
                };
                let mut s = shared.locked();
                match change(&mut s.error, read.as_ref().err().map(String::as_str)) {
                    Some(Change::Failed(e)) => tracing::warn!("the forwarder's metrics at {}: {e}", s.url),
                    Some(Change::Recovered(_)) => tracing::info!("the forwarder's metrics answer again"),
                    None => {}
                }
                s.destinations = read.ok();
                s.checked_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                REFRESH
            }
        };
        let latest = super::shared::poller::Poller::start(
            "forwarder",
            initial,
            (Duration::ZERO, Duration::ZERO),
            make,
            |s, e| {
                s.error = Some(format!("no thread to read it: {e}"));
            },
        );
        Forwarder { latest }
    }
}

impl Collector for Forwarder {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        r.snapshot.forwarder = Some(self.latest.latest().clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_from_the_text() {
        let text = "# HELP x\nsystem_stats_forwarder_up{destination=\"http://a/m\"} 1\n\
            system_stats_forwarder_up{destination=\"http://b/m\"} 0\n\
            system_stats_forwarder_spooled_samples{destination=\"http://b/m\"} 42\n\
            system_stats_forwarder_oldest_sample_age_seconds{destination=\"http://b/m\"} 61.5\n\
            system_stats_forwarder_dropped_total{destination=\"http://b/m\",reason=\"refused\"} 3\n\
            system_stats_forwarder_last_http_status{destination=\"http://b/m\"} 503\n\
            system_stats_forwarder_polls_total{source=\"http://s/system\"} 9\n\
            process_open_fds 10\n";
        let d = parse(text);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].destination, "http://a/m");
        assert_eq!(d[0].up, Some(true));
        assert_eq!((d[1].up, d[1].spooled, d[1].oldest_age_seconds), (Some(false), Some(42), Some(61.5)));
        assert_eq!(d[1].last_http_status, Some(503));
    }
}
