//! One sample (run every family + serialise) against the raw cost of the same kernel reads,
//! and how a sample's cost grows with the size of the host.
//!
//! `raw_reads` makes the system calls a steady-state sample makes on this machine and does
//! nothing with the bytes: `pread(2)` from offset 0 of every file the families read (held
//! open, as they hold them), `statvfs(2)` of the disk path and of every filesystem, and the
//! primary interface's address `ioctl(2)`s. That is the floor any collector of the same
//! numbers pays. `sample` is the real thing: read, parse, compute rates against the previous
//! sample, serialise to JSON. Target: sample ≤ 2 × raw_reads.
//!
//! Then the scale table: the recorded fixture trees and a synthetic big host
//! (`support/synthetic.rs`: 256 CPUs with cpufreq, 200 interfaces, 500 mounts, 100 disks,
//! 64 hwmon sensors) at ¼, ½ and full size: one sample's time (the families; then with the
//! JSON the first `/system` reader of the sample serialises) and allocations, and the sizes
//! of `/system` and `/metrics`. Targets: cost linear in the number of items, the full big host
//! under 1 ms.
//!
//!     cargo bench --bench sample

#[path = "support/synthetic.rs"]
mod synthetic;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use system_stats::collect::shared::files::{self, read_from_start};
use system_stats::collect::shared::ifaddrs::Ipv4Ioctl;
use system_stats::collect::{Runner, Selection, Setup};
use system_stats::snapshot::json::Serialiser;

/// Counts allocations, to report them per sample.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed through to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Raw {
    files: Vec<File>,
    /// The procfs root when `processes` reads it: listed, and every `<pid>/stat` read (held
    /// open, as the family holds them).
    proc_dir: Option<PathBuf>,
    proc_stats: Vec<File>,
    /// Mount points and the disk path: stat'ed.
    filesystems: Vec<PathBuf>,
    iface: Option<String>,
    ioctl: Ipv4Ioctl,
    buf: Vec<u8>,
}

impl Raw {
    fn new(paths: &[PathBuf], iface: Option<String>) -> Raw {
        let proc_dir = paths.iter().find(|p| p.as_path() == Path::new("/proc")).cloned();
        let (dirs, files): (Vec<&PathBuf>, Vec<&PathBuf>) =
            paths.iter().filter(|p| Some(*p) != proc_dir.as_ref()).partition(|p| p.is_dir());
        let proc_stats = proc_dir
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
            .filter_map(|e| File::open(e.path().join("stat")).ok())
            .collect();
        Raw {
            files: files.into_iter().filter_map(|p| File::open(p).ok()).collect(),
            proc_dir,
            proc_stats,
            filesystems: dirs.into_iter().cloned().collect(),
            iface,
            ioctl: Ipv4Ioctl::new().unwrap(),
            buf: vec![0; 16 * 1024],
        }
    }

    fn read(&mut self) {
        for f in &self.files {
            black_box(read_from_start(f, &mut self.buf, usize::MAX).ok());
        }
        for fs in &self.filesystems {
            black_box(nix::sys::statvfs::statvfs(fs).ok());
        }
        if let Some(dir) = &self.proc_dir {
            // the listing, and one pread of each process's stat, held open
            black_box(std::fs::read_dir(dir).into_iter().flatten().flatten().count());
            for f in &self.proc_stats {
                black_box(std::os::unix::fs::FileExt::read_at(f, &mut self.buf, 0).ok());
            }
        }
        if let Some(name) = &self.iface {
            black_box(self.ioctl.query(name).ok());
        }
    }
}

/// Every collector but the OS-update check, which runs a package manager on a thread of its
/// own every few hours and would only disturb the measurement.
fn sampled() -> Selection {
    let mut s = Selection::default();
    s.remove("os_update");
    s
}

/// One sample as the service takes it: every family, then the JSON (sized from the last one,
/// reusing what did not change since, as the service's serialiser does).
fn sample(runner: &mut Runner, serialiser: &mut Serialiser) -> Vec<u8> {
    thread_local! {
        static LAST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }
    let reading = runner.read();
    let json = serialiser.serialise(&reading.snapshot, LAST.get());
    LAST.set(json.len());
    json
}

fn bench(c: &mut Criterion) {
    if let Ok(scale) = std::env::var("SAMPLE_PROFILE") {
        return profile(&scale);
    }
    let mut runner = Runner::new(&system_stats::config::default_setup(), &sampled());
    let mut serialiser = Serialiser::default();
    runner.read();
    // record a steady-state sample (the first one also lists /sys/block)
    files::record();
    let probe = runner.read();
    let paths = files::recorded();
    let iface = probe.snapshot.network.primary_interface.as_ref().map(|i| i.name.clone());
    eprintln!("a sample reads {} paths: {paths:?}; interface {iface:?}", paths.len());
    let mut raw = Raw::new(&paths, iface);

    // what the live page adds to each sample: its summary, the event frame, the history
    let live = system_stats::live::Live::default();
    let mut snap = probe.snapshot.clone();
    let mut t = chrono::Utc::now();
    c.bench_function("live record (summary, event frame, history)", |b| {
        b.iter(|| {
            t += chrono::Duration::seconds(1);
            snap.collected_at = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
            live.record(black_box(&snap));
        })
    });
    c.bench_function("raw_reads", |b| b.iter(|| raw.read()));
    c.bench_function("sample", |b| b.iter(|| black_box(sample(&mut runner, &mut serialiser))));

    // the stock alert rules (and statix's two thresholds) evaluated on a sample, as the sampler
    // does after each one; against the sample itself, interleaved, in the same rounds
    let rules =
        system_stats::alerts::Rules::load(None, system_stats::alerts::Thresholds { cpu: Some(95.0), ram: Some(95.0) })
            .expect("the stock rules");
    let mut alerts_runner = Runner::new(&system_stats::config::default_setup(), &sampled());
    let mut engine = system_stats::alerts::Engine::new(rules);
    alerts_runner.force(&engine.families());
    let mut reading = alerts_runner.read();
    let evaluate = |engine: &mut system_stats::alerts::Engine, reading: &system_stats::collect::Reading| {
        let input =
            system_stats::alerts::Input::new(&reading.snapshot, &reading.exported, &reading.origins, Instant::now())
                .ran(reading.ran);
        black_box(engine.evaluate(&input, std::time::SystemTime::now()))
    };
    c.bench_function("alerts (stock rules on one sample)", |b| b.iter(|| evaluate(&mut engine, &reading)));
    let (mut sampled_total, mut alerts_total) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..500 {
        let t = Instant::now();
        reading = alerts_runner.read();
        sampled_total += t.elapsed();
        let t = Instant::now();
        evaluate(&mut engine, &reading);
        alerts_total += t.elapsed();
    }
    eprintln!(
        "alerts: {} rules evaluated in {:.1} µs per sample, {:.2} % of the sample they run on ({:.1} µs, with the \
         families they force)",
        engine.rules().rules.len(),
        alerts_total.as_secs_f64() / 500.0 * 1e6,
        alerts_total.as_secs_f64() / sampled_total.as_secs_f64() * 100.0,
        sampled_total.as_secs_f64() / 500.0 * 1e6
    );

    // the ratio in one line, measured back to back, interleaved, over the same rounds
    let (mut raw_total, mut sample_total) = (Duration::ZERO, Duration::ZERO);
    let rounds = 2000;
    let mut family_seconds: std::collections::BTreeMap<&'static str, f64> = Default::default();
    for _ in 0..rounds {
        let t = Instant::now();
        raw.read();
        raw_total += t.elapsed();
        let t = Instant::now();
        black_box(sample(&mut runner, &mut serialiser));
        sample_total += t.elapsed();
        for st in runner.statuses() {
            *family_seconds.entry(st.name).or_default() += st.seconds;
        }
    }
    // what each family costs on this machine, for docs/collectors.md
    let mut costs: Vec<(f64, &str)> = family_seconds.iter().map(|(n, s)| (s * 1e6 / rounds as f64, *n)).collect();
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("FAMILIES (this machine, µs per sample)");
    for (us, name) in &costs {
        eprintln!("| `{name}` | {us:.1} µs |");
    }
    let (raw, sample_time) = (raw_total / rounds, sample_total / rounds);
    eprintln!(
        "RATIO raw_reads {raw:?}  sample {sample_time:?}  sample/raw {:.2} (target <= 2.0){}",
        sample_time.as_secs_f64() / raw.as_secs_f64(),
        if cfg!(debug_assertions) { "  [debug build: run cargo bench for real figures]" } else { "" }
    );
    scale_table();
}

/// Where the time goes: the costliest families, on average over `rounds` samples.
fn costs(family_seconds: &std::collections::BTreeMap<&'static str, f64>, rounds: u32) -> String {
    let mut costs: Vec<(f64, &str)> =
        family_seconds.iter().map(|(n, s)| (s * 1e6 / f64::from(rounds.max(1)), *n)).collect();
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let costs: Vec<String> = costs.iter().take(12).map(|(us, n)| format!("{n} {us:.0} µs")).collect();
    costs.join(", ")
}

/// One row of the scale table.
fn measure(name: &str, root: &Path, selection: &Selection) {
    let setup = Setup {
        procfs: root.join("proc"),
        sysfs: root.join("sys"),
        disk_path: root.to_path_buf(),
        ..system_stats::config::default_setup()
    };
    let mut runner = Runner::new(&setup, selection);
    let mut serialiser = Serialiser::default();
    for _ in 0..20 {
        black_box(sample(&mut runner, &mut serialiser));
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    black_box(sample(&mut runner, &mut serialiser));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let rounds: u32 = if cfg!(debug_assertions) { 20 } else { 300 };
    let mut family_seconds: std::collections::BTreeMap<&'static str, f64> = Default::default();
    let (mut read, mut json, mut last) = (Duration::ZERO, Duration::ZERO, 0);
    for _ in 0..rounds {
        let t = Instant::now();
        let reading = runner.read();
        read += t.elapsed();
        let t = Instant::now();
        last = black_box(serialiser.serialise(&reading.snapshot, last)).len();
        json += t.elapsed();
        for st in runner.statuses() {
            *family_seconds.entry(st.name).or_default() += st.seconds;
        }
    }
    // the tree's raw floor: the reads and statvfs calls of one steady-state sample, made and
    // thrown away, as many rounds, after the sample's (apart, so that neither warms the
    // caches for the other)
    files::record();
    black_box(runner.read());
    let mut raw = Raw::new(&files::recorded(), None);
    let t = Instant::now();
    for _ in 0..rounds {
        raw.read();
    }
    let floor = t.elapsed() / rounds;
    let (read, json) = (read / rounds, json / rounds);
    let per_sample = read + json;
    let reading = runner.read();
    let s = &reading.snapshot;
    let system = serde_json::to_vec(s).unwrap().len();
    let mut families = system_stats::collect::snapshot_families(s, &runner.statuses(), Some(1));
    for e in &reading.exported {
        e.families(&mut families);
    }
    let metrics = system_stats::metrics::text::prometheus(&families).len();
    let failed: Vec<String> =
        runner.statuses().into_iter().filter_map(|c| c.error.map(|e| format!("{}: {e}", c.name))).collect();
    eprintln!("COSTS {name}: {}", costs(&family_seconds, rounds));
    let temps = s.sensors.as_ref().map_or(0, |m| m.0.iter().map(|(_, l)| l.len()).sum());
    let items = s.cpu.per_cpu.len()
        + s.network.all_interfaces.as_ref().map_or(0, Vec::len)
        + s.filesystems.as_ref().map_or(0, Vec::len)
        + s.disks.as_ref().map_or(0, Vec::len)
        + temps;
    eprintln!(
        "| {name} | {} / {} / {} / {} / {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.2} / {:.2} | {:.2} µs | {allocations} | {system} | {metrics} |{}",
        s.cpu.per_cpu.len(),
        s.network.all_interfaces.as_ref().map_or(0, Vec::len),
        s.filesystems.as_ref().map_or(0, Vec::len),
        s.disks.as_ref().map_or(0, Vec::len),
        temps,
        floor.as_secs_f64() * 1e6,
        read.as_secs_f64() * 1e6,
        per_sample.as_secs_f64() * 1e6,
        read.as_secs_f64() / floor.as_secs_f64(),
        per_sample.as_secs_f64() / floor.as_secs_f64(),
        per_sample.as_secs_f64() * 1e6 / items.max(1) as f64,
        if failed.is_empty() { String::new() } else { format!(" failed: {failed:?}") }
    );
}

fn scale_table() {
    eprintln!("SCALE");
    eprintln!(
        "| tree | CPUs / interfaces / filesystems / disks / sensors | raw floor | sample | sample + its JSON | ×floor: sample / with JSON | per item | allocations | /system bytes | /metrics bytes |"
    );
    eprintln!("|---|---|---|---|---|---|---|---|---|---|");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for name in ["raspberrypi4-aarch64", "debian-x86_64-vm"] {
        measure(&format!("{name} (recorded)"), &fixtures.join(name), &sampled());
    }
    // in memory, as procfs and sysfs are (tmpfs where there is one); the processes are
    // measured below, on their own
    let shm = Path::new("/dev/shm");
    let mut without_processes = sampled();
    without_processes.remove("processes");
    for scale in [0.25, 0.5, 1.0] {
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
        let mounts = tempfile::tempdir().unwrap();
        synthetic::generate(dir.path(), mounts.path(), synthetic::Counts::big_host(scale));
        measure(&format!("big host ×{scale}"), dir.path(), &without_processes);
    }
    // the processes family alone, on trees of 500 and 5 000 processes (stat and cmdline
    // files on tmpfs: a real /proc generates them, which costs more, see docs/performance.md)
    eprintln!("PROCESSES");
    eprintln!("| processes | sample (processes family) | per process |");
    eprintln!("|---|---|---|");
    let only: Selection = Selection::parse("processes").unwrap();
    for n in [500, 5000] {
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
        let mounts = tempfile::tempdir().unwrap();
        synthetic::generate(dir.path(), mounts.path(), synthetic::Counts::processes(n));
        let setup = Setup {
            procfs: dir.path().join("proc"),
            sysfs: dir.path().join("sys"),
            ..system_stats::config::default_setup()
        };
        let mut runner = Runner::new(&setup, &only);
        for _ in 0..5 {
            black_box(runner.read());
        }
        let rounds: u32 = if cfg!(debug_assertions) { 5 } else { 50 };
        let t = Instant::now();
        for _ in 0..rounds {
            black_box(runner.read());
        }
        let per = t.elapsed() / rounds;
        let total = runner.read().snapshot.processes.map_or(0, |p| p.total);
        assert_eq!(total, n as u64);
        eprintln!("| {n} | {:.0} µs | {:.2} µs |", per.as_secs_f64() * 1e6, per.as_secs_f64() * 1e6 / n as f64);
    }
    // and this machine's real /proc, every process's stat generated by the kernel
    let live = Selection::parse("processes").unwrap();
    let mut runner = Runner::new(&system_stats::config::default_setup(), &live);
    runner.read();
    let t = Instant::now();
    for _ in 0..20 {
        black_box(runner.read());
    }
    let per = t.elapsed() / 20;
    let n = runner.read().snapshot.processes.map_or(0, |p| p.total);
    eprintln!(
        "| {n} (this machine's /proc) | {:.0} µs | {:.2} µs |",
        per.as_secs_f64() * 1e6,
        per.as_secs_f64() * 1e6 / n.max(1) as f64
    );
}

/// `SAMPLE_PROFILE=<scale> cargo bench --bench sample`: samples the synthetic big host at
/// that scale for `SAMPLE_PROFILE_SECONDS` (10), or `SAMPLE_PROFILE_COUNT` samples, and nothing else, for `perf record` or
/// `strace -c` to see where a sample's time goes; `SAMPLE_PROFILE=host`: this machine's own
/// `/proc` and `/sys` the same way (the processes left out in both). `SAMPLE_PROFILE_BUSY=0.25`:
/// the synthetic host's counters move between samples as a real host's do (every CPU, and that
/// share of its disks and interfaces).
fn profile(scale: &str) {
    let seconds: u64 =
        std::env::var("SAMPLE_PROFILE_SECONDS").map_or(10, |s| s.parse().expect("SAMPLE_PROFILE_SECONDS: seconds"));
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
    let mounts = tempfile::tempdir().unwrap();
    // the share of the disks and interfaces whose counters move between samples (the CPUs'
    // always do); without it, the synthetic host's files never change
    let busy: Option<f64> = std::env::var("SAMPLE_PROFILE_BUSY")
        .ok()
        .map(|s| s.parse().ok().filter(|b| (0.0..=1.0).contains(b)).expect("SAMPLE_PROFILE_BUSY: a share from 0 to 1"));
    let (setup, what, moving) = if scale == "host" {
        (system_stats::config::default_setup(), "this host".to_string(), None)
    } else {
        let scale: f64 = scale.parse().expect("SAMPLE_PROFILE: `host` or a scale such as 1 or 0.25");
        let counts = synthetic::Counts::big_host(scale);
        synthetic::generate(dir.path(), mounts.path(), counts);
        let setup = Setup {
            procfs: dir.path().join("proc"),
            sysfs: dir.path().join("sys"),
            disk_path: dir.path().to_path_buf(),
            ..system_stats::config::default_setup()
        };
        let what = match busy {
            Some(busy) => format!("big host ×{scale}, {:.0} % busy", busy * 100.0),
            None => format!("big host ×{scale}"),
        };
        (setup, what, busy.map(|busy| (counts, busy)))
    };
    let selection = match std::env::var("SAMPLE_PROFILE_ONLY") {
        Ok(only) => Selection::parse(&only).expect("SAMPLE_PROFILE_ONLY: a list of families"),
        Err(_) => {
            let mut s = sampled();
            s.remove("processes");
            s
        }
    };
    let mut runner = Runner::new(&setup, &selection);
    let mut serialiser = Serialiser::default();
    let mut family_seconds: std::collections::BTreeMap<&'static str, f64> = Default::default();
    let (t, mut n, mut json, mut sampled) = (Instant::now(), 0u32, Duration::ZERO, Duration::ZERO);
    let mut last = 0;
    // a fixed number of samples instead, for instruction counts that compare two builds
    // exactly (`valgrind --tool=callgrind --toggle-collect='*Runner::read*'`)
    let count: u32 =
        std::env::var("SAMPLE_PROFILE_COUNT").map_or(u32::MAX, |s| s.parse().expect("SAMPLE_PROFILE_COUNT: samples"));
    while t.elapsed() < Duration::from_secs(seconds) && n < count {
        if let Some((counts, busy)) = moving {
            // the next second's counters, written outside the time measured
            synthetic::write_counters(dir.path(), counts, u64::from(n) + 1, busy);
        }
        let started = Instant::now();
        let reading = runner.read();
        let read = Instant::now();
        last = black_box(serialiser.serialise(&reading.snapshot, last)).len();
        json += read.elapsed();
        sampled += started.elapsed();
        for st in runner.statuses() {
            *family_seconds.entry(st.name).or_default() += st.seconds;
        }
        n += 1;
    }
    if let Ok(path) = std::env::var("SAMPLE_PROFILE_JSON") {
        if let Some((counts, busy)) = moving {
            synthetic::write_counters(dir.path(), counts, u64::from(n) + 1, busy);
        }
        std::fs::write(&path, serialiser.serialise(&runner.read().snapshot, last)).expect("SAMPLE_PROFILE_JSON");
    }
    let per_sample = sampled / n.max(1);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    black_box(runner.read());
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    // the same tree's raw floor (its reads and statvfs calls, thrown away), right after
    files::record();
    black_box(runner.read());
    let mut raw = Raw::new(&files::recorded(), None);
    let (t, mut rounds) = (Instant::now(), 0u32);
    while t.elapsed() < Duration::from_secs(1) {
        raw.read();
        rounds += 1;
    }
    let floor = t.elapsed() / rounds.max(1);
    eprintln!(
        "PROFILE {what}: {n} samples, {per_sample:?} each, of which the JSON ({last} bytes) {:?}; raw floor {floor:?}: sample {:.2}× / with its JSON {:.2}×; {allocations} allocations a sample (without its JSON)",
        json / n.max(1),
        (per_sample - json / n.max(1)).as_secs_f64() / floor.as_secs_f64(),
        per_sample.as_secs_f64() / floor.as_secs_f64(),
    );
    eprintln!("COSTS {what}: {}", costs(&family_seconds, n));
}

criterion_group!(benches, bench);
criterion_main!(benches);
