//! The history behind `GET /history` with every buffer full (25 hours of a host with 30
//! series, a typical Pi or small server): the cost of recording a sample, of rendering each
//! window as JSON, and the bytes of each window.
//!
//!   cargo bench --bench history

use criterion::{Criterion, criterion_group, criterion_main};
use system_stats::live::history::{BYTES_PER_SERIES, History};

const SERIES: usize = 30;

fn names() -> Vec<String> {
    (0..SERIES).map(|i| format!("series/{i}")).collect()
}

/// 25 hours at one sample per second.
fn full() -> (History, f64) {
    let mut h = History::default();
    let names = names();
    let t0 = 1_800_000_000.0;
    let n = 25 * 3600;
    for s in 0..n {
        let t = t0 + f64::from(s);
        let values: Vec<(String, f64)> =
            names.iter().enumerate().map(|(i, k)| (k.clone(), ((s as usize * (i + 1)) % 1000) as f64 / 7.0)).collect();
        h.record(t, &values);
    }
    (h, t0 + f64::from(n - 1))
}

fn bench(c: &mut Criterion) {
    let (mut h, now) = full();
    for (label, secs) in [("5m", 300), ("1h", 3600), ("24h", 86_400)] {
        let json = h.window(secs, now).to_json();
        println!("history window {label}: {} bytes, {} series", json.len(), SERIES);
        c.bench_function(&format!("history window {label} as JSON"), |b| b.iter(|| h.window(secs, now).to_json()));
    }
    c.bench_function("history window 24h, rendered in the same minute (cached)", |b| {
        b.iter(|| h.window_json(86_400, now))
    });
    println!("history memory: {} bytes for {SERIES} series ({BYTES_PER_SERIES} per series)", h.bytes());
    let values: Vec<(String, f64)> = names().into_iter().map(|k| (k, 1.0)).collect();
    let mut t = now;
    c.bench_function("history record one sample (30 series)", |b| {
        b.iter(|| {
            t += 1.0;
            h.record(t, &values)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
