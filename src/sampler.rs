//! The sampler: a thread of its own that runs the families ([`crate::collect::Runner`]) every
//! interval (they measure CPU percent and rates over it) and publishes one immutable snapshot.
//!
//! Requests never touch the kernel: they load the latest [`Published`] (an `ArcSwap`,
//! lock-free) and write its bytes, serialised by the first request that wants them (JSON for
//! `/system`, text for `/metrics`) and shared by the later ones: a sample nobody reads through
//! `/system` is never serialised (a big host's JSON costs as much as a good part of its
//! families: `docs/performance.md`). A sampler stuck in the kernel (a hung mount, a wedged
//! driver) leaves the last snapshot in place and turns `/health` to 503 after three intervals.
//!
//! The families nobody reads do not run ([`crate::collect::ReadBy`]): the processes while no
//! one asks for `/system`, `/metrics` or the page, the `/metrics`-only ones while nobody
//! scrapes. Each request says what it reads ([`Shared::fresh`]); when the latest sample does
//! not have it (nobody asked during the last interval and a half), the request wakes the
//! sampler, which completes the latest sample with those families at once (a *top-up*: the
//! other figures and their rates stay that sample's), and waits for it (a millisecond or two;
//! at most an interval). An idle service costs what its every-sample families cost; one
//! polled by a forwarder every 30 s or scraped every 15 s, two or three full samples per poll.

use crate::sync::Locked;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;

use crate::collect::{Asked, Reading, Runner};
use crate::snapshot::Snapshot;

/// How long apart the two start-up readings are, at most: the first snapshot (served as soon
/// as the port opens) already has a CPU percent measured over this span.
pub const FIRST_SPAN: Duration = Duration::from_millis(200);

/// One published sample.
#[derive(Debug)]
pub struct Published {
    pub snapshot: Snapshot,
    /// `snapshot` as JSON, served as is by `GET /system`: serialised by the first request
    /// that wants it ([`Published::json`]).
    json: std::sync::OnceLock<Bytes>,
    /// The size the JSON is expected to have (the last serialised one's), to size its buffer.
    json_hint: usize,
    /// Serialises the samples in turn, reusing what did not change since the last one.
    serialiser: SharedSerialiser,
    /// When the reading behind it was taken.
    pub taken_at: Instant,
    /// Each collector, its error if it failed in this sample, and how long it took.
    pub collectors: Vec<crate::collect::Status>,
    /// The collectors' `/metrics`-only series of this sample.
    pub exported: Vec<Arc<dyn crate::metrics::Export>>,
    /// The family that exported each of `exported`.
    pub origins: Vec<&'static str>,
    /// Samples published since start, this one included.
    pub sequence: u64,
    /// Which sample it is: readings of the host on schedule since start. A top-up keeps the
    /// number of the sample it completes: it is the same sample, with more families.
    pub number: u64,
    /// Which readers' families it has.
    pub asked: Asked,
    /// `/metrics` in Prometheus text and in OpenMetrics, rendered by the first request that
    /// wants them (an unscraped service never pays for it) and shared by later ones.
    metrics_text: std::sync::OnceLock<Bytes>,
    /// Its name and time as response headers ([`Shared::sample_id`]), made by the first
    /// request and cloned (a reference count) by the later ones.
    named: std::sync::OnceLock<(http::HeaderValue, http::HeaderValue)>,
    metrics_openmetrics: std::sync::OnceLock<Bytes>,
}

impl Published {
    /// The snapshot as `GET /system` serves it, serialised once.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                let mut serialiser = self.serialiser.locked();
                Bytes::from(serialiser.serialise(&self.snapshot, self.json_hint))
            })
            .clone()
    }

    /// The size of its JSON if serialised, else the one expected.
    fn json_len(&self) -> usize {
        self.json.get().map_or(self.json_hint, Bytes::len)
    }

    /// Every family of this sample: the snapshot's, the collectors' own series, and this
    /// process's (`process_*`, read now), sorted by name as node_exporter sorts them.
    pub fn families(&self) -> Vec<crate::metrics::Family> {
        let mut families = crate::collect::snapshot_families(&self.snapshot, &self.collectors, Some(self.sequence));
        crate::collect::own::process_series(&mut families);
        // in registry order: `textfile`'s last, refusing the names the others have
        for e in &self.exported {
            e.families(&mut families);
        }
        if let Some(alerts) = &self.snapshot.alerts {
            crate::alerts::families(alerts, &mut families);
        }
        families.retain(|f| !f.samples.is_empty());
        families.sort_by(|a, b| a.name.cmp(&b.name));
        families
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

/// When each kind of reader last asked, milliseconds after `origin` (0: never).
#[derive(Debug)]
struct Demand {
    origin: Instant,
    metrics: AtomicU64,
    snapshot: AtomicU64,
}

impl Demand {
    fn new() -> Demand {
        Demand { origin: Instant::now(), metrics: AtomicU64::new(0), snapshot: AtomicU64::new(0) }
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64 + 1
    }

    /// Whether noting that `need` was asked for at `at` would change anything: it is
    /// written at most every `step` ms (a store per request from every core into one cache
    /// line is measurable at high request rates).
    fn stale(&self, need: Asked, at: u64, step: u64) -> bool {
        [(need.metrics, &self.metrics), (need.snapshot, &self.snapshot)]
            .iter()
            .any(|(wanted, slot)| *wanted && slot.load(Ordering::Relaxed) + step <= at)
    }

    /// Notes that `need` was asked for at `at`.
    fn mark(&self, need: Asked, at: u64) {
        for (wanted, slot) in [(need.metrics, &self.metrics), (need.snapshot, &self.snapshot)] {
            if wanted {
                slot.store(at, Ordering::Relaxed);
            }
        }
    }

    /// What was asked for during the `window` before `now`.
    fn asked(&self, now: Instant, window: Duration) -> Asked {
        let at = self.millis(now);
        let recent = |slot: &AtomicU64| {
            let t = slot.load(Ordering::Relaxed);
            t != 0 && at.saturating_sub(t) <= window.as_millis() as u64
        };
        Asked { metrics: recent(&self.metrics), snapshot: recent(&self.snapshot) }
    }
}

/// What the sampler thread is told.
#[derive(Debug)]
enum Wake {
    /// A reader needs families the latest sample has not: sample now.
    Sample,
    Stop,
}

/// What the sampler shares with the HTTP side.
#[derive(Debug)]
pub struct Shared {
    current: ArcSwap<Published>,
    /// The samples' summaries for `/events`, and their history for `/history`.
    pub live: crate::live::Live,
    interval: Duration,
    /// The family the sampler is in, to name it when it is stuck.
    progress: crate::collect::Progress,
    demand: Demand,
    wake: std::sync::Mutex<mpsc::Sender<Wake>>,
    /// Woken at each publication, for the requests waiting for a sample.
    published: tokio::sync::Notify,
    /// A random number drawn at start: with a sample's number, names the sample across
    /// restarts ([`Shared::sample_id`]).
    instance: u64,
}

impl Shared {
    /// How long a reader's request keeps its families running: a reader asking every
    /// interval (the page's stream, a tight poll) keeps them in every sample.
    fn window(&self) -> Duration {
        self.interval + self.interval / 2
    }

    /// Notes that a reader (a subscriber of `/events`, at each sample) still reads `need`.
    pub fn note(&self, need: Asked) {
        self.demand.mark(need, self.demand.millis(Instant::now()));
    }

    /// Notes that a reader needs `need`; `None` when the latest sample has it, else what to
    /// await before answering: the sample it wakes the sampler for (at most an interval,
    /// then the latest, whatever it has). `allowed` (the request's token and host) is asked
    /// only when there is something to note or wake: a refused request does neither.
    pub fn fresh(
        self: &Arc<Self>,
        need: Asked,
        allowed: impl FnOnce() -> bool,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let at = self.demand.millis(Instant::now());
        let stale = self.demand.stale(need, at, (self.interval.as_millis() as u64 / 8).max(1));
        let covered = {
            let current = self.current.load();
            current.sequence == 0 || current.asked.covers(need)
        };
        if (!stale && covered) || !allowed() {
            return None;
        }
        self.demand.mark(need, at);
        if covered {
            return None;
        }
        let shared = Arc::clone(self);
        Some(async move {
            let deadline = tokio::time::Instant::now() + shared.interval;
            let mut woken = false;
            loop {
                let published = shared.published.notified();
                tokio::pin!(published);
                published.as_mut().enable();
                if shared.current.load().asked.covers(need) {
                    return;
                }
                if !woken {
                    let _ = shared.wake.locked().send(Wake::Sample);
                    woken = true;
                }
                if tokio::time::timeout_at(deadline, published).await.is_err() {
                    return;
                }
            }
        })
    }

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
        let current = self.current.load();
        let age = now.saturating_duration_since(current.taken_at);
        if current.sequence > 0 && age <= self.interval * 3 {
            return Ok(());
        }
        let stuck = self.stuck_in(now);
        if current.sequence == 0 {
            return Err(format!("no sample yet{stuck}"));
        }
        Err(format!(
            "no sample for {:.1} s; the sampler should take one every {} s{stuck}",
            age.as_secs_f64(),
            self.interval.as_secs_f64()
        ))
    }

    /// `; stuck in <family> for N s` when a family has run for longer than an interval.
    fn stuck_in(&self, now: Instant) -> String {
        match *self.progress.locked() {
            Some((family, since)) if now.saturating_duration_since(since) > self.interval => format!(
                "; the {family} collector has been running for {:.1} s (a file or mount that does not answer?)",
                now.saturating_duration_since(since).as_secs_f64()
            ),
            _ => String::new(),
        }
    }

    /// The name of a published sample, unique across restarts: `<this start's random number,
    /// 16 hex digits>-<the sample's number>`, and when it was taken (its `collected_at`). Two answers with the same name carry the same
    /// sample (a client polling faster than the service samples), whatever its clock said:
    /// the forwarder spools a sample once by it, where a time would fail when the clock
    /// steps.
    pub fn sample_id(&self, published: &Published) -> (http::HeaderValue, http::HeaderValue) {
        published
            .named
            .get_or_init(|| {
                let id = format!("{:016x}-{}", self.instance, published.number);
                let at = &published.snapshot.collected_at;
                let value = |s: &str| http::HeaderValue::from_str(s).unwrap_or(http::HeaderValue::from_static(""));
                (value(&id), value(at))
            })
            .clone()
    }

    /// Whether a sample has been published yet (the first may be stuck in the kernel).
    pub fn has_sample(&self) -> bool {
        self.current.load().sequence > 0
    }
}

/// A random number: the standard library's hash keys come from the operating system's
/// random source, once per process.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// The serialiser of a sampler's samples, shared by them.
type SharedSerialiser = Arc<std::sync::Mutex<crate::snapshot::json::Serialiser>>;

fn publish(
    reading: Reading,
    asked: Asked,
    collectors: Vec<crate::collect::Status>,
    (sequence, number): (u64, u64),
    size_hint: usize,
    serialiser: &SharedSerialiser,
) -> Published {
    Published {
        snapshot: reading.snapshot,
        json: Default::default(),
        json_hint: size_hint,
        serialiser: Arc::clone(serialiser),
        taken_at: reading.at,
        collectors,
        exported: reading.exported,
        origins: reading.origins,
        sequence,
        number,
        asked,
        metrics_text: Default::default(),
        metrics_openmetrics: Default::default(),
        named: Default::default(),
    }
}

/// Stops the sampler thread when dropped (at its next wake-up; a thread stuck in the kernel is
/// left behind, never waited for).
pub struct SamplerHandle {
    stop: mpsc::Sender<Wake>,
}

impl Drop for SamplerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(Wake::Stop);
    }
}

/// Takes two samples (`FIRST_SPAN` apart, or `interval` if shorter: the first one has no
/// rates yet), publishes the second, then samples every `interval` on a thread of its own, on
/// a drift-free schedule.
/// How long the start waits for the first sample before it opens the port anyway: a file
/// that never answers (a hung mount) must not keep the service closed for ever.
pub const STARTUP_WAIT: Duration = Duration::from_secs(5);

/// With `alerts`, its rules are evaluated on every sample taken on schedule (a top-up keeps
/// the alerts of the sample it completes), and the families they read run in every sample.
pub fn start(
    mut runner: Runner,
    interval: Duration,
    alerts: Option<crate::alerts::Engine>,
) -> std::io::Result<(Arc<Shared>, SamplerHandle)> {
    if let Some(engine) = &alerts {
        runner.force(&engine.families());
    }
    let waiting = Published {
        snapshot: Snapshot::default(),
        json: Default::default(),
        json_hint: 0,
        serialiser: Default::default(),
        taken_at: Instant::now(),
        collectors: Vec::new(),
        exported: Vec::new(),
        origins: Vec::new(),
        sequence: 0,
        number: 0,
        asked: Asked::default(),
        metrics_text: Default::default(),
        metrics_openmetrics: Default::default(),
        named: Default::default(),
    };
    let (stop, stopped) = mpsc::channel::<Wake>();
    let shared = Arc::new(Shared {
        current: ArcSwap::from_pointee(waiting),
        live: Default::default(),
        interval,
        progress: runner.progress(),
        demand: Demand::new(),
        wake: std::sync::Mutex::new(stop.clone()),
        published: tokio::sync::Notify::new(),
        instance: random_u64(),
    });
    let (first, first_published) = mpsc::channel::<()>();
    let publish_to = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || run(runner, alerts, interval, &publish_to, &stopped, first))?;
    if first_published.recv_timeout(STARTUP_WAIT).is_err() {
        tracing::error!(
            "the first sample has not finished after {} s{}: serving without it; /system answers 503 until it does",
            STARTUP_WAIT.as_secs(),
            shared.stuck_in(Instant::now() + interval)
        );
    }
    Ok((shared, SamplerHandle { stop }))
}

/// Evaluates the alert rules on a sample taken on schedule, into its snapshot.
fn evaluate(engine: &mut Option<crate::alerts::Engine>, reading: &mut Reading) {
    if let Some(engine) = engine {
        let input = crate::alerts::Input::new(&reading.snapshot, &reading.exported, &reading.origins, reading.at)
            .ran(reading.ran);
        let alerts = engine.evaluate(&input, reading.wall);
        reading.snapshot.alerts = Some(alerts);
    }
}

fn run(
    mut runner: Runner,
    mut alerts: Option<crate::alerts::Engine>,
    interval: Duration,
    shared: &Shared,
    wake: &mpsc::Receiver<Wake>,
    first: mpsc::Sender<()>,
) {
    // two readings FIRST_SPAN apart, of every family: the first published sample has rates
    // already, and whatever a reader asks for first
    let mut first_reading = runner.read();
    evaluate(&mut alerts, &mut first_reading);
    std::thread::sleep(FIRST_SPAN.min(interval));
    let mut second = runner.read();
    evaluate(&mut alerts, &mut second);
    let serialiser = SharedSerialiser::default();
    let published = Arc::new(publish(second, Asked::ALL, runner.statuses(), (1, 1), 0, &serialiser));
    shared.current.store(Arc::clone(&published));
    shared.published.notify_waiters();
    let _ = first.send(());
    shared.live.record(&published.snapshot);
    let start = Instant::now();
    let mut ticks: u32 = 1;
    let mut sequence = 1;
    loop {
        let next = start + interval * ticks;
        let (asked, on_schedule) = match wake.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => (shared.demand.asked(Instant::now(), shared.window()), true),
            Ok(Wake::Sample) => {
                let asked = shared.demand.asked(Instant::now(), shared.window());
                if shared.with_latest(|p| p.asked.covers(asked)) {
                    continue; // an earlier wake-up has served it
                }
                (asked, false)
            }
            Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        };
        // each family's panics are caught by the runner; this is for the rest
        let sampled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let latest = shared.current.load_full();
            let hint = latest.json_len();
            if on_schedule {
                let numbers = (sequence + 1, latest.number + 1);
                let mut reading = runner.read_for(asked);
                evaluate(&mut alerts, &mut reading);
                publish(reading, asked, runner.statuses(), numbers, hint, &serialiser)
            } else {
                // a reader woke it: the latest sample completed with what it lacks, not a
                // new one whose rates would span the few milliseconds since the latest
                let had = latest.asked;
                let reading = runner.top_up(&latest.snapshot, (&latest.exported, &latest.origins), had, asked);
                let numbers = (sequence + 1, latest.number);
                publish(reading, had.and(asked), runner.statuses(), numbers, hint, &serialiser)
            }
        }));
        match sampled {
            Ok(published) => {
                sequence += 1;
                let published = Arc::new(published);
                shared.current.store(Arc::clone(&published));
                shared.published.notify_waiters();
                // after the store: /system is never later for it. A top-up is the same
                // sample as far as the history goes: recorded once.
                if on_schedule {
                    let recorded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        shared.live.record(&published.snapshot);
                    }));
                    if recorded.is_err() {
                        tracing::error!("recording a sample for /events and /history panicked");
                    }
                }
            }
            Err(_) => tracing::error!("a sample panicked; keeping the previous snapshot"),
        }
        // skip the ticks a slow sample overran instead of bursting to catch up
        let elapsed = start.elapsed();
        let behind = (elapsed.as_secs_f64() / interval.as_secs_f64()).floor() as u32 + 1;
        ticks = if on_schedule { (ticks + 1).max(behind) } else { ticks.max(behind) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample is serialised by its first reader, once: until then it holds no JSON; the
    /// JSON is the snapshot's, and later readers get the same bytes.
    #[test]
    fn a_sample_is_serialised_once_by_its_first_reader() {
        let mut reading = Reading::new(Instant::now(), std::time::SystemTime::now());
        reading.snapshot.collected_at = "2026-12-06T05:00:00+00:00".into();
        reading.snapshot.cpu.logical_cores = Some(4);
        let published = publish(reading, Asked::ALL, Vec::new(), (7, 5), 100, &Default::default());
        assert!(published.json.get().is_none(), "serialised before anyone asked");
        assert_eq!(published.json_len(), 100, "the expected size until serialised");
        let first = published.json();
        let value: serde_json::Value = serde_json::from_slice(&first).expect("JSON");
        assert_eq!(value["collected_at"], "2026-12-06T05:00:00+00:00");
        assert_eq!(value["cpu"]["logical_cores"], 4);
        assert_eq!(first, Bytes::from(serde_json::to_vec(&published.snapshot).unwrap()));
        let second = published.json();
        assert_eq!(first.as_ptr(), second.as_ptr(), "serialised again for the second reader");
        assert_eq!(published.json_len(), first.len());
    }
}
