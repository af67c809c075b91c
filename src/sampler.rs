//! The sampler: a thread of its own that reads the host every interval, computes CPU percent
//! and rates over the interval, and publishes one immutable, already serialised snapshot.
//!
//! Requests never touch the kernel or wait for the sampler: they load the latest
//! [`Published`] (an `ArcSwap`, lock-free) and write its bytes. A sampler stuck in the kernel
//! (a hung mount, a wedged driver) leaves the last snapshot in place and turns `/health` to
//! 503 after three intervals.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use chrono::{DateTime, Local, SecondsFormat, TimeZone, Utc};

use crate::collect::{Collect, Reading};
use crate::snapshot::{Snapshot, Throughput, Uptime, human_duration, round1, round2};

/// How long apart the two start-up readings are, at most: the first snapshot (served as soon
/// as the port opens) already has a CPU percent measured over this span.
pub const FIRST_SPAN: Duration = Duration::from_millis(200);

/// One published sample.
#[derive(Debug)]
pub struct Published {
    pub snapshot: Snapshot,
    /// `snapshot` serialised once, served as is by `GET /system`.
    pub json: Bytes,
    /// When the reading behind it was taken.
    pub taken_at: Instant,
    /// Each collector (metric family of the snapshot) and its error, if it failed in this sample.
    pub collectors: Vec<(&'static str, Option<String>)>,
    /// Samples published since start, this one included.
    pub sequence: u64,
    /// `/metrics` in Prometheus text and in OpenMetrics, rendered by the first request that
    /// wants them (an unscraped service never pays for it) and shared by later ones.
    metrics_text: std::sync::OnceLock<Bytes>,
    metrics_openmetrics: std::sync::OnceLock<Bytes>,
}

impl Published {
    fn families(&self) -> Vec<crate::metrics::Family> {
        crate::metrics::families(&self.snapshot, &self.collectors, Some(self.sequence))
    }

    /// This sample as Prometheus text format 0.0.4.
    pub fn metrics_text(&self) -> Bytes {
        self.metrics_text.get_or_init(|| Bytes::from(crate::metrics::text::prometheus(&self.families()))).clone()
    }

    /// This sample as OpenMetrics 1.0.
    pub fn metrics_openmetrics(&self) -> Bytes {
        self.metrics_openmetrics
            .get_or_init(|| {
                let mut body = crate::metrics::text::openmetrics_body(&self.families());
                body.push_str(crate::metrics::text::OPENMETRICS_EOF);
                Bytes::from(body)
            })
            .clone()
    }
}

/// What the sampler shares with the HTTP side.
#[derive(Debug)]
pub struct Shared {
    current: ArcSwap<Published>,
    interval: Duration,
}

impl Shared {
    /// Something of the latest sample, read without touching its reference count (an atomic
    /// that every request on every core would otherwise write: measurable at c=16).
    pub fn with_latest<T>(&self, f: impl FnOnce(&Published) -> T) -> T {
        f(&self.current.load())
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// `Ok` while samples keep coming; an error saying how stale the last one is once none has
    /// been published for three intervals.
    pub fn health(&self, now: Instant) -> Result<(), String> {
        let age = now.saturating_duration_since(self.current.load().taken_at);
        if age > self.interval * 3 {
            Err(format!(
                "no sample for {:.1} s; the sampler should take one every {} s",
                age.as_secs_f64(),
                self.interval.as_secs_f64()
            ))
        } else {
            Ok(())
        }
    }
}

/// Builds the snapshot of `cur`, with CPU percent, rates and uptime computed against `prev`.
pub fn finish(prev: &Reading, cur: &Reading) -> Snapshot {
    let mut s = cur.snapshot.clone();
    s.cpu.percent = match (&prev.cpu_times, &cur.cpu_times) {
        (Some(a), Some(b)) => Some(b.percent_since(a)),
        _ => cur.cpu_percent,
    };
    for pc in &mut s.cpu.per_cpu {
        let times = |r: &Reading| r.per_cpu_times.iter().find(|(n, _)| *n == pc.cpu).map(|(_, t)| *t);
        if let (Some(a), Some(b)) = (times(prev), times(cur)) {
            pc.percent = Some(b.percent_since(&a));
        }
    }
    let dt = cur.at.saturating_duration_since(prev.at).as_secs_f64();
    s.throughput = throughput(&prev.snapshot, &cur.snapshot, dt);
    device_rates(&prev.snapshot, &mut s, dt);
    s.collected_at = DateTime::<Utc>::from(cur.wall).to_rfc3339_opts(SecondsFormat::Micros, false);
    if let Some(boot) = cur.boot_time {
        s.uptime = uptime(boot, cur.wall);
    }
    s
}

fn throughput(prev: &Snapshot, cur: &Snapshot, dt: f64) -> Throughput {
    if dt <= 0.0 {
        return Throughput::default();
    }
    // counters only go down when a device disappears: count that interval as idle
    let rate = |a: Option<u64>, b: Option<u64>| Some(round1(b?.saturating_sub(a?) as f64 / dt));
    let mib = |r: Option<f64>| r.map(|r| round2(r / 1_048_576.0));
    let read = rate(prev.disk_io.read_bytes, cur.disk_io.read_bytes);
    let write = rate(prev.disk_io.write_bytes, cur.disk_io.write_bytes);
    Throughput {
        disk_read_bytes_per_sec: read,
        disk_write_bytes_per_sec: write,
        disk_read_mb_per_sec: mib(read),
        disk_write_mb_per_sec: mib(write),
        net_recv_bytes_per_sec: rate(prev.network.io_counters.bytes_recv, cur.network.io_counters.bytes_recv),
        net_sent_bytes_per_sec: rate(prev.network.io_counters.bytes_sent, cur.network.io_counters.bytes_sent),
        interval_seconds: Some((dt * 1000.0).round() / 1000.0),
    }
}

/// Per-disk and per-interface byte rates, matched by name with the previous sample.
fn device_rates(prev: &Snapshot, s: &mut Snapshot, dt: f64) {
    if dt <= 0.0 {
        return;
    }
    let rate = |a: u64, b: u64| Some(round1(b.saturating_sub(a) as f64 / dt));
    if let (Some(before), Some(now)) = (&prev.disks, &mut s.disks) {
        for d in now.iter_mut() {
            if let Some(p) = before.iter().find(|p| p.name == d.name) {
                d.read_bytes_per_sec = rate(p.read_bytes, d.read_bytes);
                d.write_bytes_per_sec = rate(p.write_bytes, d.write_bytes);
            }
        }
    }
    if let (Some(before), Some(now)) = (&prev.network.interfaces, &mut s.network.interfaces) {
        for i in now.iter_mut() {
            if let Some(p) = before.iter().find(|p| p.name == i.name) {
                let (a, b) = (&p.counters, &i.counters);
                i.recv_bytes_per_sec = rate(a.bytes_recv.unwrap_or(0), b.bytes_recv.unwrap_or(0));
                i.sent_bytes_per_sec = rate(a.bytes_sent.unwrap_or(0), b.bytes_sent.unwrap_or(0));
            }
        }
    }
}

fn uptime(boot: u64, now: SystemTime) -> Uptime {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let seconds = now.saturating_sub(boot);
    Uptime { seconds: Some(seconds), boot_time: local_time(boot), human: Some(human_duration(seconds)) }
}

thread_local! {
    /// The last boot time formatted: the local-time conversion looks the zone up (a stat of
    /// /etc/localtime) and the boot time rarely changes.
    static BOOT_TIME: std::cell::RefCell<Option<(u64, Option<String>)>> = const { std::cell::RefCell::new(None) };
}

/// Unix seconds as local time with its offset, e.g. `2025-09-20T08:12:01+02:00`.
fn local_time(secs: u64) -> Option<String> {
    BOOT_TIME.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((cached, text)) = &*cache
            && *cached == secs
        {
            return text.clone();
        }
        let text = i64::try_from(secs)
            .ok()
            .and_then(|b| Local.timestamp_opt(b, 0).single())
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, false));
        *cache = Some((secs, text.clone()));
        text
    })
}

fn publish(prev: &Reading, cur: &Reading, collectors: Vec<(&'static str, Option<String>)>, sequence: u64) -> Published {
    let snapshot = finish(prev, cur);
    let json = Bytes::from(serde_json::to_vec(&snapshot).expect("a snapshot always serialises"));
    Published {
        snapshot,
        json,
        taken_at: cur.at,
        collectors,
        sequence,
        metrics_text: Default::default(),
        metrics_openmetrics: Default::default(),
    }
}

/// Stops the sampler thread when dropped (at its next wake-up; a thread stuck in the kernel is
/// left behind, never waited for).
pub struct SamplerHandle {
    _stop: mpsc::Sender<()>,
}

/// Takes the first two readings (`FIRST_SPAN` apart, or `interval` if shorter), publishes the
/// first snapshot, then samples every `interval` on a thread of its own, on a drift-free
/// schedule.
pub fn start(mut collector: Box<dyn Collect>, interval: Duration) -> (Arc<Shared>, SamplerHandle) {
    let first = collector.read();
    std::thread::sleep(FIRST_SPAN.min(interval));
    let second = collector.read();
    let shared = Arc::new(Shared {
        current: ArcSwap::from_pointee(publish(&first, &second, collector.families(), 1)),
        interval,
    });
    let (stop, stopped) = mpsc::channel::<()>();
    let publish_to = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || run(collector, second, interval, &publish_to, &stopped))
        .expect("spawning the sampler thread");
    (shared, SamplerHandle { _stop: stop })
}

fn run(
    mut collector: Box<dyn Collect>,
    mut prev: Reading,
    interval: Duration,
    shared: &Shared,
    stop: &mpsc::Receiver<()>,
) {
    let start = Instant::now();
    let mut ticks: u32 = 1;
    let mut sequence = 1;
    loop {
        let next = start + interval * ticks;
        match stop.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let sampled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let cur = collector.read();
            let published = publish(&prev, &cur, collector.families(), sequence + 1);
            (cur, published)
        }));
        match sampled {
            Ok((cur, published)) => {
                sequence += 1;
                shared.current.store(Arc::new(published));
                prev = cur;
            }
            Err(_) => tracing::error!("a sample panicked; keeping the previous snapshot"),
        }
        // skip the ticks a slow sample overran instead of bursting to catch up
        let elapsed = start.elapsed();
        ticks = (ticks + 1).max((elapsed.as_secs_f64() / interval.as_secs_f64()).floor() as u32 + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::CpuTimes;

    fn reading(at: Instant, read_bytes: u64, recv: u64, user: u64) -> Reading {
        let mut snapshot = Snapshot::default();
        snapshot.cpu.per_cpu = vec![crate::snapshot::PerCpu { cpu: 0, ..Default::default() }];
        snapshot.disks =
            Some(vec![crate::snapshot::DiskDevice { name: "sda".into(), read_bytes, ..Default::default() }]);
        snapshot.disk_io.read_bytes = Some(read_bytes);
        snapshot.disk_io.write_bytes = Some(0);
        snapshot.network.io_counters.bytes_recv = Some(recv);
        Reading {
            at,
            wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            snapshot,
            cpu_times: Some(CpuTimes { user, idle: 100, ..Default::default() }),
            per_cpu_times: vec![(0, CpuTimes { user, idle: 100, ..Default::default() })],
            cpu_percent: None,
            boot_time: Some(1_700_000_000 - 2 * 86_400 - 3 * 3_600 - 5 * 60),
        }
    }

    #[test]
    fn rates_and_cpu_come_from_two_readings() {
        let t0 = Instant::now();
        let a = reading(t0, 0, 1000, 0);
        let b = reading(t0 + Duration::from_secs(2), 4 * 1_048_576, 3000, 100);
        let s = finish(&a, &b);
        assert_eq!(s.throughput.disk_read_bytes_per_sec, Some(2_097_152.0));
        assert_eq!(s.throughput.disk_read_mb_per_sec, Some(2.0));
        assert_eq!(s.throughput.disk_write_bytes_per_sec, Some(0.0));
        assert_eq!(s.throughput.net_recv_bytes_per_sec, Some(1000.0));
        assert_eq!(s.throughput.net_sent_bytes_per_sec, None);
        assert_eq!(s.throughput.interval_seconds, Some(2.0));
        // 100 user ticks, idle unchanged
        assert_eq!(s.cpu.percent, Some(100.0));
        assert_eq!(s.cpu.per_cpu[0].percent, Some(100.0));
        assert_eq!(s.disks.as_ref().unwrap()[0].read_bytes_per_sec, Some(2_097_152.0));
        assert_eq!(s.uptime.seconds, Some(2 * 86_400 + 3 * 3_600 + 5 * 60));
        assert_eq!(s.uptime.human.as_deref(), Some("2d 3h 5m"));
        assert_eq!(s.collected_at, "2023-11-14T22:13:20.000000+00:00");
    }

    #[test]
    fn a_counter_going_down_is_an_idle_interval() {
        let t0 = Instant::now();
        let a = reading(t0, 5000, 0, 0);
        let b = reading(t0 + Duration::from_secs(1), 1000, 0, 0);
        assert_eq!(finish(&a, &b).throughput.disk_read_bytes_per_sec, Some(0.0));
    }
}
