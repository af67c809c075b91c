//! One sample (collect + compute + serialise) against the raw cost of the same kernel reads.
//!
//! `raw_reads` makes the system calls a steady-state sample makes and does nothing with the
//! bytes: `pread(2)` from offset 0 of every file the sampler reads (held open, as the sampler
//! holds them), `statvfs(2)` of the disk path and of every filesystem, and the primary
//! interface's address `ioctl(2)`s. That is the floor any collector of the same numbers pays. `sample` is the real thing: read, parse,
//! compute against the previous reading, serialise to JSON. Target: sample ≤ 2 × raw_reads.
//!
//!     cargo bench --bench sample

use std::fs::File;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use system_stats::collect::ifaddrs::Ipv4Ioctl;
use system_stats::collect::linux::LinuxCollector;
use system_stats::collect::linux::files::read_from_start;
use system_stats::collect::{Collect, Roots};
use system_stats::sampler::finish;

struct Raw {
    files: Vec<File>,
    /// Mount points and the disk path: stat'ed.
    filesystems: Vec<PathBuf>,
    iface: Option<String>,
    ioctl: Ipv4Ioctl,
    buf: Vec<u8>,
}

impl Raw {
    fn new(paths: &[PathBuf], iface: Option<String>) -> Raw {
        let (dirs, files): (Vec<&PathBuf>, Vec<&PathBuf>) = paths.iter().partition(|p| p.is_dir());
        Raw {
            files: files.into_iter().filter_map(|p| File::open(p).ok()).collect(),
            filesystems: dirs.into_iter().cloned().collect(),
            iface,
            ioctl: Ipv4Ioctl::new().unwrap(),
            buf: vec![0; 16 * 1024],
        }
    }

    fn read(&mut self) {
        for f in &self.files {
            black_box(read_from_start(f, &mut self.buf).ok());
        }
        for fs in &self.filesystems {
            black_box(nix::sys::statvfs::statvfs(fs).ok());
        }
        if let Some(name) = &self.iface {
            black_box(self.ioctl.query(name).ok());
        }
    }
}

fn bench(c: &mut Criterion) {
    let disk_path = Path::new("/");
    let mut collector = LinuxCollector::new(Roots::default(), disk_path);
    let mut prev = collector.read();
    // record a steady-state sample (the first one also lists /sys/block)
    collector.record_reads();
    let probe = collector.read();
    let paths = collector.recorded_reads();
    let iface = probe.snapshot.network.primary_interface.as_ref().map(|i| i.name.clone());
    eprintln!("a sample reads {} paths: {paths:?}; interface {iface:?}", paths.len());
    let mut raw = Raw::new(&paths, iface);

    c.bench_function("raw_reads", |b| b.iter(|| raw.read()));
    c.bench_function("sample", |b| {
        b.iter(|| {
            let cur = collector.read();
            let snapshot = finish(&prev, &cur);
            black_box(serde_json::to_vec(&snapshot).unwrap());
            prev = cur;
        })
    });

    // the ratio in one line, measured back to back, interleaved, over the same rounds
    let (mut raw_total, mut sample_total) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let rounds = 2000;
    for _ in 0..rounds {
        let t = Instant::now();
        raw.read();
        raw_total += t.elapsed();
        let t = Instant::now();
        let cur = collector.read();
        black_box(serde_json::to_vec(&finish(&prev, &cur)).unwrap());
        prev = cur;
        sample_total += t.elapsed();
    }
    let (raw, sample) = (raw_total / rounds, sample_total / rounds);
    eprintln!(
        "RATIO raw_reads {raw:?}  sample {sample:?}  sample/raw {:.2} (target <= 2.0){}",
        sample.as_secs_f64() / raw.as_secs_f64(),
        if cfg!(debug_assertions) { "  [debug build: run cargo bench for real figures]" } else { "" }
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
