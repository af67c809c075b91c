//! The runner: the selected families, called in registry order once per sample, each
//! isolated from the others' failures and panics.

use chrono::{DateTime, SecondsFormat, Utc};
use std::time::{Instant, SystemTime};

use super::{Asked, CollectError, Collector, FamilyStatus, REGISTRY, Reading, Selection, Setup, cpu};
use crate::snapshot::Snapshot;
use crate::sync::Locked;

struct Slot {
    family: Box<dyn Collector>,
    /// Its place in the registry.
    index: usize,
    status: FamilyStatus,
    /// How long its last sample took.
    took: std::time::Duration,
    /// Runs at least every [`FORCED_EVERY`] whoever reads (the alert rules read it).
    forced: bool,
    /// When it last ran, if forced.
    last_forced: Option<Instant>,
    /// Whether it ran in the last sample taken on schedule (a top-up does not run it again).
    in_last: bool,
}

/// How often the families the alert rules read run when no reader asks for them: their rules
/// hold for minutes (the clock, file descriptors, conntrack), and running them every sample
/// was most of what alerts cost an idle service. A rule is not evaluated on a sample its
/// families are not in (its alerts keep their state).
pub const FORCED_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Which families a pass runs.
#[derive(Clone, Copy)]
enum Pass {
    /// A sample on schedule, for these readers (and the forced families when due).
    Scheduled(Asked),
    /// The families `asked` runs and the sample (read for `had`) did not have.
    TopUp { had: Asked, asked: Asked },
}

/// How one family came out of the last sample: its error, if it failed, and how long it
/// took (node_exporter's `node_scrape_collector_success` and `_duration_seconds`).
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub name: &'static str,
    pub error: Option<String>,
    pub seconds: f64,
}

/// The family running now and since when (`None` between samples): what `/health` names
/// when the sampler is stuck.
pub type Progress = std::sync::Arc<std::sync::Mutex<Option<(&'static str, Instant)>>>;

/// Runs the selected families in registry order, one sample at a time, each isolated from
/// the others' failures and panics.
pub struct Runner {
    slots: Vec<Slot>,
    previous: Option<Instant>,
    progress: Progress,
    /// What the last sample's families left for others beside the snapshot, for a
    /// [`Runner::top_up`] of it.
    left: Left,
}

/// A sample's results that families read from each other and that are not in its snapshot.
#[derive(Debug, Clone, Copy, Default)]
struct Left {
    boot_time: Option<u64>,
    proc_stat: Option<cpu::Counters>,
    swapped_pages: Option<(u64, u64)>,
}

impl Runner {
    /// Starts every selected family that exists on this platform.
    pub fn new(setup: &Setup, selection: &Selection) -> Runner {
        let mut slots = Vec::new();
        for (index, entry) in REGISTRY.iter().enumerate().filter(|(_, e)| selection.contains(e.name)) {
            match (entry.start)(setup) {
                Some(family) => slots.push(Slot {
                    family,
                    index,
                    status: FamilyStatus::new(entry.name),
                    took: Default::default(),
                    forced: false,
                    last_forced: None,
                    in_last: false,
                }),
                None => tracing::info!(collector = entry.name, "not available on this platform"),
            }
        }
        Runner { slots, previous: None, progress: Progress::default(), left: Left::default() }
    }

    /// Has the families named run at least every [`FORCED_EVERY`], whoever reads (the alert
    /// rules read them); those not selected stay off.
    pub fn force(&mut self, names: &[&str]) {
        for slot in &mut self.slots {
            slot.forced |= names.contains(&slot.status.name());
        }
    }

    /// Which family runs now, for whoever watches the sampler.
    pub fn progress(&self) -> Progress {
        std::sync::Arc::clone(&self.progress)
    }

    /// One sample: every family in order, then the sample's time and interval.
    pub fn read(&mut self) -> Reading {
        self.read_for(Asked::ALL)
    }

    /// One sample with the families `asked` wants (the others are left out of it, their
    /// keys `null` and their series absent), in order.
    pub fn read_for(&mut self, asked: Asked) -> Reading {
        let mut reading = Reading::new(Instant::now(), SystemTime::now());
        self.run(&mut reading, Pass::Scheduled(asked));
        let s = &mut reading.snapshot;
        s.collected_at = DateTime::<Utc>::from(reading.wall).to_rfc3339_opts(SecondsFormat::Micros, false);
        if let Some(previous) = self.previous {
            let dt = reading.at.saturating_duration_since(previous).as_secs_f64();
            s.throughput.interval_seconds = Some((dt * 1000.0).round() / 1000.0);
        }
        self.previous = Some(reading.at);
        self.left =
            Left { boot_time: reading.boot_time, proc_stat: reading.proc_stat, swapped_pages: reading.swapped_pages };
        reading
    }

    /// The last sample (`snapshot` and `exported`, read for `had`) completed with the
    /// families `asked` runs and `had` did not: the others' figures and rates stay those of
    /// that sample (its time, its interval), which a reader waking the sampler a few
    /// milliseconds after it would otherwise get over those few milliseconds.
    pub fn top_up(
        &mut self,
        snapshot: &Snapshot,
        (exported, origins): (&[std::sync::Arc<dyn crate::metrics::Export>], &[&'static str]),
        had: Asked,
        asked: Asked,
    ) -> Reading {
        let mut reading = Reading::new(Instant::now(), SystemTime::now());
        reading.snapshot = snapshot.clone();
        reading.exported = exported.to_vec();
        reading.origins = origins.to_vec();
        let Left { boot_time, proc_stat, swapped_pages } = self.left;
        (reading.boot_time, reading.proc_stat, reading.swapped_pages) = (boot_time, proc_stat, swapped_pages);
        self.run(&mut reading, Pass::TopUp { had, asked });
        reading
    }

    /// Runs the families `pass` selects, in order, into `reading`.
    fn run(&mut self, reading: &mut Reading, pass: Pass) {
        let now = Instant::now();
        for slot in &mut self.slots {
            let by = slot.family.read_by();
            let go = match pass {
                Pass::Scheduled(asked) => {
                    let due = slot.forced
                        && slot.last_forced.is_none_or(|t| now.saturating_duration_since(t) >= FORCED_EVERY);
                    slot.in_last = asked.runs(by) || due;
                    slot.in_last
                }
                Pass::TopUp { had, asked } => {
                    let go = asked.runs(by) && !had.runs(by) && !slot.in_last;
                    slot.in_last |= go;
                    go
                }
            };
            if !go {
                continue;
            }
            if slot.forced {
                slot.last_forced = Some(now);
            }
            let started = Instant::now();
            *self.progress.locked() = Some((slot.status.name(), started));
            let family = &mut slot.family;
            let result = crate::panics::catch(|| family.collect(reading))
                .unwrap_or_else(|panic| Err(CollectError::Panicked(panic)));
            slot.status.record(result);
            slot.took = started.elapsed();
            let name = slot.status.name();
            reading.origins.resize(reading.exported.len(), name);
            reading.ran.insert(slot.index);
        }
        *self.progress.locked() = None;
    }

    /// Each running family: its error, if its last sample failed, and how long it took.
    pub fn statuses(&self) -> Vec<Status> {
        self.slots
            .iter()
            .map(|s| Status {
                name: s.status.name(),
                error: s.status.error().map(str::to_string),
                seconds: s.took.as_secs_f64(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Boom;
    impl Collector for Boom {
        fn collect(&mut self, _: &mut Reading) -> Result<(), CollectError> {
            panic!("index out of bounds")
        }
    }

    struct Fine;
    impl Collector for Fine {
        fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
            r.snapshot.load_avg.load1 = Some(1.5);
            Ok(())
        }
    }

    /// On this machine's /proc (Linux): a sample for `/system` readers leaves out the
    /// families only `/metrics` has, and every family that costs a read per process when
    /// nobody reads; one for `/metrics` has them all.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_sample_runs_what_its_readers_read() {
        let mut runner =
            Runner::new(&crate::config::default_setup(), &Selection::parse("cpu,stat,netstat,processes").unwrap());
        let names = |r: &Reading| {
            let mut families = Vec::new();
            for e in &r.exported {
                e.families(&mut families);
            }
            let mut names: Vec<String> = families.iter().map(|f| f.name.to_string()).collect();
            names.sort();
            names.dedup();
            names
        };
        let nobody = runner.read_for(Asked::default());
        assert!(nobody.proc_stat.is_some(), "cpu runs in every sample");
        assert!(nobody.snapshot.processes.is_none());
        assert!(names(&nobody).is_empty(), "{:?}", names(&nobody));
        let system = runner.read_for(Asked::SNAPSHOT);
        assert!(system.snapshot.processes.is_some());
        assert!(
            names(&system).iter().all(|n| n.starts_with("node_processes") || n.starts_with("system_stats_top")),
            "{:?}",
            names(&system)
        );
        let metrics = runner.read_for(Asked::METRICS);
        let exported = names(&metrics);
        for family in ["node_context_switches_total", "node_netstat_Tcp_ActiveOpens", "node_processes_pids"] {
            assert!(exported.iter().any(|n| n == family), "{family} missing from {exported:?}");
        }
        assert!(metrics.snapshot.processes.is_some());
    }

    /// A forced family runs in the first sample, then every FORCED_EVERY when nobody reads
    /// it; a top-up for `/metrics` runs it when the sample lacks it, not again when it has it.
    #[cfg(target_os = "linux")]
    #[test]
    fn forced_families_run_every_ten_seconds_and_in_top_ups() {
        let mut runner = Runner::new(&crate::config::default_setup(), &Selection::parse("cpu,filefd").unwrap());
        runner.force(&["filefd"]);
        let first = runner.read_for(Asked::default());
        assert!(first.ran.names().contains(&"filefd"), "{:?}", first.ran);
        let second = runner.read_for(Asked::default());
        assert_eq!(second.ran.names(), ["cpu"], "ran again within FORCED_EVERY");
        let topped =
            runner.top_up(&second.snapshot, (&second.exported, &second.origins), Asked::default(), Asked::METRICS);
        assert_eq!(topped.ran.names(), ["filefd"], "a scrape of that sample lacks it");
        let third = runner.read_for(Asked::default());
        assert_eq!(third.ran.names(), ["cpu"]);
        let again = runner.top_up(&third.snapshot, (&third.exported, &third.origins), Asked::default(), Asked::METRICS);
        assert_eq!(again.ran.names(), ["filefd"], "each sample a scrape completes has it");
        for slot in &mut runner.slots {
            slot.last_forced = slot.last_forced.map(|t| t - FORCED_EVERY);
        }
        let due = runner.read_for(Asked::default());
        assert!(due.ran.names().contains(&"filefd"), "{:?}", due.ran);
        let topped = runner.top_up(&due.snapshot, (&due.exported, &due.origins), Asked::default(), Asked::METRICS);
        assert_eq!(topped.ran.names(), Vec::<&str>::new(), "run twice for one sample");
    }

    /// A top-up runs what the sample it completes did not, beside it: its time, its rates
    /// and its every-sample figures stay; `stat` still finds the CPU's counters of `/proc/stat`.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_top_up_completes_a_sample_without_taking_another() {
        let mut runner = Runner::new(&crate::config::default_setup(), &Selection::parse("cpu,stat,processes").unwrap());
        runner.read_for(Asked::default());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let base = runner.read_for(Asked::default());
        assert!(base.exported.is_empty() && base.snapshot.processes.is_none());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let topped = runner.top_up(&base.snapshot, (&base.exported, &base.origins), Asked::default(), Asked::METRICS);
        assert_eq!(topped.snapshot.collected_at, base.snapshot.collected_at);
        assert_eq!(topped.snapshot.throughput.interval_seconds, base.snapshot.throughput.interval_seconds);
        assert_eq!(topped.snapshot.cpu, base.snapshot.cpu);
        assert!(topped.snapshot.processes.is_some());
        let mut families = Vec::new();
        for e in &topped.exported {
            e.families(&mut families);
        }
        assert!(families.iter().any(|f| f.name == "node_context_switches_total"), "stat ran without cpu's counters");
        assert!(families.iter().any(|f| f.name == "node_processes_pids"));
        // a second top-up for what the first had runs nothing more
        let again =
            runner.top_up(&topped.snapshot, (&topped.exported, &topped.origins), Asked::METRICS, Asked::METRICS);
        assert_eq!(again.exported.len(), topped.exported.len());
        // and the next sample's interval is measured from the last real one
        std::thread::sleep(std::time::Duration::from_millis(20));
        let next = runner.read_for(Asked::default());
        assert!(next.snapshot.throughput.interval_seconds.unwrap() >= 0.04, "{:?}", next.snapshot.throughput);
    }

    /// A family that panics fails alone: the families after it still run, its status says
    /// why, and the next sample tries it again.
    #[test]
    fn a_panicking_family_fails_alone() {
        let mut runner = Runner {
            slots: vec![
                Slot {
                    family: Box::new(Boom),
                    index: 0,
                    status: FamilyStatus::new("boom"),
                    took: Default::default(),
                    forced: false,
                    last_forced: None,
                    in_last: false,
                },
                Slot {
                    family: Box::new(Fine),
                    index: 1,
                    status: FamilyStatus::new("fine"),
                    took: Default::default(),
                    forced: false,
                    last_forced: None,
                    in_last: false,
                },
            ],
            previous: None,
            progress: Progress::default(),
            left: Left::default(),
        };
        for _ in 0..2 {
            let r = runner.read();
            assert_eq!(r.snapshot.load_avg.load1, Some(1.5));
            let statuses = runner.statuses();
            assert_eq!(
                (statuses[0].name, statuses[0].error.as_deref()),
                ("boom", Some("panicked: index out of bounds"))
            );
            assert_eq!((statuses[1].name, statuses[1].error.as_deref()), ("fine", None));
        }
    }
}
