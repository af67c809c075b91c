//! The forwarder's own metrics (`SYSTEM_STATS_FORWARDER_METRICS`, off by default): `GET
//! /metrics` and `GET /health` on a listener of its own, served by the service's HTTP code
//! ([`crate::web::server::run`]: the same connection limits, TLS, `Host` check and token).
//!
//! Per destination (label `destination`, the URL as the log writes it, password redacted):
//! what its spool holds (the figures `--check-spool` prints, from the same [`Spool::report`]),
//! what was delivered, dropped (by reason), could not be spooled, retried, throttled; its
//! state, backoff, drain pace, last HTTP status and last success. Per source (label
//! `source`): polls, failures, last success. And `system_stats_forwarder_build_info`, the
//! process's own `process_*`.
//!
//! [`Spool::report`]: super::spool::Spool::report

use crate::sync::Locked;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::ACCEPT;
use hyper::{Method, Request, Response, StatusCode};

use super::sender::{SharedSpool, Stats};
use crate::metrics::text::{OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, wants_openmetrics};
use crate::metrics::{Family, Kind, label};
use crate::web::server::{self as api, Access, App, Body};

/// The source's counters.
#[derive(Debug, Default)]
pub(crate) struct SourceStats {
    pub polls: AtomicU64,
    pub failures: AtomicU64,
    /// Polls that brought the sample already spooled: not spooled twice.
    pub repeated: AtomicU64,
    /// When a poll last brought a sample, unix milliseconds (0: not yet).
    pub last_success_ms: AtomicU64,
}

/// One destination as the listener sees it.
#[derive(Clone)]
pub(crate) struct Watched {
    pub label: String,
    pub stats: Arc<Stats>,
    pub spool: SharedSpool,
    /// Its spool's damaged files set aside (a counter: read without the spool's lock).
    pub set_aside: Arc<AtomicU64>,
}

/// What the listener serves.
#[derive(Clone)]
pub(crate) struct Listener {
    access: Arc<Access>,
    source: String,
    source_stats: Arc<SourceStats>,
    destinations: Arc<Vec<Watched>>,
    /// The last spool reports, for a scrape that comes while a spool is busy committing.
    last: Arc<std::sync::Mutex<Vec<Option<super::spool::Report>>>>,
}

impl Listener {
    pub(crate) fn new(
        access: Access,
        source: String,
        source_stats: Arc<SourceStats>,
        destinations: Vec<Watched>,
    ) -> Listener {
        let n = destinations.len();
        Listener {
            access: Arc::new(access),
            source,
            source_stats,
            destinations: Arc::new(destinations),
            last: Arc::new(std::sync::Mutex::new(vec![None; n])),
        }
    }

    /// Every family, now.
    pub(crate) fn families(&self) -> Vec<Family> {
        let now_ms = super::sender::unix_ms();
        let mut last = self.last.locked();
        let f = |name: &str, kind: Kind, help: &str| Family::new(format!("system_stats_forwarder_{name}"), kind, help);
        let mut up = f(
            "up",
            Kind::Gauge,
            "1 while the destination takes samples, 0 while it is down, misconfigured or its spool fails.",
        );
        let mut spooled =
            f("spooled_samples", Kind::Gauge, "Samples in the destination's spool, waiting to be delivered.");
        let mut spool_bytes = f("spool_bytes", Kind::Gauge, "Size of the destination's spool file on disk.");
        let mut oldest = f(
            "oldest_sample_age_seconds",
            Kind::Gauge,
            "Age of the oldest sample waiting in the spool (0 when it is empty).",
        );
        let mut delivered = f("delivered_total", Kind::Counter, "Samples the destination accepted (a 2xx).");
        let mut dropped = f(
            "dropped_total",
            Kind::Counter,
            "Samples dropped: refused by the server (400, 409, 413, 422), pushed out of a full spool \
             (SYSTEM_STATS_SPOOL_MAX_BYTES), or spooled entries that were not a snapshot.",
        );
        let mut not_spooled = f(
            "not_spooled_total",
            Kind::Counter,
            "Samples that could not be spooled for the destination (its disk full or failing): lost.",
        );
        let mut retries = f("retries_total", Kind::Counter, "Failed delivery attempts, retried later.");
        let mut throttled = f("throttled_total", Kind::Counter, "429 answers (the server's rate limit).");
        let mut backoff =
            f("backoff_seconds", Kind::Gauge, "The wait before the next attempt while failing (0 when not).");
        let mut pace = f(
            "drain_rate",
            Kind::Gauge,
            "Samples per second the backlog is delivered at now (SYSTEM_STATS_FORWARD_MAX_RATE, or lower after 429s).",
        );
        let mut status = f("last_http_status", Kind::Gauge, "The HTTP status of the destination's last answer.");
        let mut success = f(
            "last_success_timestamp_seconds",
            Kind::Gauge,
            "When the destination last accepted a sample (unix time).",
        );
        let mut damaged = f(
            "spool_damaged_total",
            Kind::Counter,
            "Damaged spool files set aside (and replaced by an empty one) since the forwarder started.",
        );
        for (i, d) in self.destinations.iter().enumerate() {
            let l = || vec![label("destination", d.label.as_str())];
            let s = &d.stats;
            let n = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
            // a spool busy committing is not waited for: its last report is shown
            let report = match d.spool.try_lock() {
                Ok(mut spool) => spool.report().ok(),
                Err(_) => None,
            };
            damaged.push(l(), n(&d.set_aside));
            if report.is_some() {
                last[i] = report;
            }
            let report = last[i].as_ref();
            up.push(l(), if s.up.load(Ordering::Relaxed) { 1.0 } else { 0.0 });
            spooled.push(l(), report.map_or(n(&s.backlog), |r| r.samples as f64));
            let file = report.and_then(|r| std::fs::metadata(&r.path).ok()).map_or(0, |m| m.len());
            spool_bytes.push(l(), file as f64);
            let oldest_at = report
                .and_then(|r| r.oldest.as_deref())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis() as f64 / 1000.0);
            oldest.push(l(), oldest_at.map_or(0.0, |t| (now_ms as f64 / 1000.0 - t).max(0.0)));
            delivered.push(l(), n(&s.delivered));
            for (reason, c) in
                [("refused", &s.rejected), ("spool_full", &s.evicted), ("not_a_snapshot", &s.undecodable)]
            {
                dropped.push(vec![label("destination", d.label.as_str()), label("reason", reason)], n(c));
            }
            not_spooled.push(l(), n(&s.not_spooled));
            retries.push(l(), n(&s.retries));
            throttled.push(l(), n(&s.throttled));
            backoff.push(l(), n(&s.backoff_ms) / 1000.0);
            let milli = s.pace_milli.load(Ordering::Relaxed);
            if milli > 0 {
                pace.push(l(), milli as f64 / 1000.0);
            }
            let code = s.last_status.load(Ordering::Relaxed);
            if code > 0 {
                status.push(l(), code as f64);
            }
            let ms = s.last_success_ms.load(Ordering::Relaxed);
            if ms > 0 {
                success.push(l(), ms as f64 / 1000.0);
            }
        }
        let src = || vec![label("source", self.source.as_str())];
        let st = &self.source_stats;
        let mut out = vec![
            up,
            spooled,
            spool_bytes,
            oldest,
            delivered,
            dropped,
            not_spooled,
            retries,
            throttled,
            backoff,
            pace,
            status,
            success,
            damaged,
        ];
        out.push(
            f("polls_total", Kind::Counter, "Polls of the service.")
                .with(src(), st.polls.load(Ordering::Relaxed) as f64),
        );
        out.push(
            f(
                "poll_failures_total",
                Kind::Counter,
                "Polls that brought no sample (the service down, or not a snapshot).",
            )
            .with(src(), st.failures.load(Ordering::Relaxed) as f64),
        );
        out.push(
            f(
                "poll_repeats_total",
                Kind::Counter,
                "Polls that brought the sample already spooled (the service had not taken a new one since the last \
                 poll, or it was spooled before a restart): not spooled twice.",
            )
            .with(src(), st.repeated.load(Ordering::Relaxed) as f64),
        );
        let ms = st.last_success_ms.load(Ordering::Relaxed);
        if ms > 0 {
            out.push(
                f("last_poll_success_timestamp_seconds", Kind::Gauge, "When a poll last brought a sample (unix time).")
                    .with(src(), ms as f64 / 1000.0),
            );
        }
        out.push(
            f(
                "build_info",
                Kind::Gauge,
                "A metric with a constant '1' value labeled by the version and git commit of system-stats.",
            )
            .with(
                vec![label("version", env!("CARGO_PKG_VERSION")), label("revision", env!("SYSTEM_STATS_COMMIT"))],
                1.0,
            ),
        );
        crate::collect::own::process_series(&mut out);
        out.retain(|f| !f.samples.is_empty());
        out
    }
}

impl App for Listener {
    fn access(&self) -> &Access {
        &self.access
    }

    fn open_paths(&self) -> &'static [&'static str] {
        &["/health"]
    }

    fn dispatch(&self, req: &Request<Incoming>) -> Response<Body> {
        let path = req.uri().path();
        if !matches!(*req.method(), Method::GET | Method::HEAD) && (path == "/metrics" || path == "/health") {
            return api::not_allowed(req.method(), path);
        }
        match path {
            "/health" => api::json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#)),
            "/metrics" => {
                let families = self.families();
                let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
                if wants_openmetrics(accept) {
                    api::with_type(
                        StatusCode::OK,
                        OPENMETRICS_CONTENT_TYPE,
                        Bytes::from(
                            crate::metrics::text::openmetrics_body(&families) + crate::metrics::text::OPENMETRICS_EOF,
                        ),
                    )
                } else {
                    api::with_type(
                        StatusCode::OK,
                        TEXT_CONTENT_TYPE,
                        Bytes::from(crate::metrics::text::prometheus(&families)),
                    )
                }
            }
            _ => api::error(StatusCode::NOT_FOUND, &format!("no such endpoint: {path} (try /metrics or /health)")),
        }
    }
}
