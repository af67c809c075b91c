//! The live page's costs, against the same service with no subscriber in the same run:
//!
//! - CPU (share of one core, from every thread's /proc/<pid>/task/*/schedstat) and RSS of the release service at 1 s
//!   sampling, 30 s with no subscriber, then 30 s with 100 subscribers of `/events` reading
//!   every frame;
//! - `GET /history?window=5m|1h|24h`: latency and bytes over HTTP (the service's history is
//!   as long as it has run: see `cargo bench --bench sample` for the full 24 h window).
//!
//!   cargo bench --bench events            # SECONDS=10 for a quick look

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Nanoseconds on a CPU, all the process's threads together (schedstat: clock ticks are too
/// coarse for a process that works 0.05 % of the time).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(|v| v.trim().trim_end_matches("kB").trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU share of one core over `secs`, and the RSS at the end.
fn measure(pid: u32, secs: u64) -> (f64, u64) {
    let (t0, c0) = (Instant::now(), cpu_ns(pid));
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, dt) = (cpu_ns(pid), t0.elapsed().as_secs_f64());
    (100.0 * c1.saturating_sub(c0) as f64 / 1e9 / dt, rss_kib(pid))
}

fn get(addr: SocketAddr, path: &str) -> (Duration, usize) {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let body = out.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |i| out.len() - i - 4);
    (start.elapsed(), body)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("events: run with cargo bench --bench events");
        return;
    }
    let secs: u64 = std::env::var("SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_system-stats-service"))
        .env("SYSTEM_STATS_HOST", "127.0.0.1")
        .env("SYSTEM_STATS_PORT", port.to_string())
        .env("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "0")
        .env("SYSTEM_STATS_MAX_EVENT_CLIENTS", "200")
        .env("SYSTEM_STATS_LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the service");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the service did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(3));
    let (idle_cpu, idle_rss) = measure(pid, secs);

    let stop = Arc::new(AtomicBool::new(false));
    let frames = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..100 {
        let (stop, frames) = (Arc::clone(&stop), Arc::clone(&frames));
        readers.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            s.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            while !stop.load(Ordering::Relaxed) {
                line.clear();
                match r.read_line(&mut line) {
                    Ok(0) => break,
                    Ok(_) if line.starts_with("event: sample") => {
                        frames.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(2));
    let before = frames.load(Ordering::Relaxed);
    let (busy_cpu, busy_rss) = measure(pid, secs);
    let delivered = frames.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.join();
    }

    println!("events: release service, sampling every 1 s, {secs} s each");
    println!("{:<28} {:>8.3} % of a core   RSS {:>6} KiB", "no subscriber (baseline)", idle_cpu, idle_rss);
    println!(
        "{:<28} {:>8.3} % of a core   RSS {:>6} KiB   {delivered} frames delivered ({:.1}/s)",
        "100 subscribers",
        busy_cpu,
        busy_rss,
        delivered as f64 / secs as f64
    );
    for window in ["5m", "1h", "24h"] {
        let mut times: Vec<Duration> = Vec::new();
        let mut bytes = 0;
        for _ in 0..200 {
            let (t, b) = get(addr, &format!("/history?window={window}"));
            times.push(t);
            bytes = b;
        }
        times.sort();
        println!(
            "/history?window={window:<4} p50 {:>8.3} ms  p99 {:>8.3} ms  {bytes} bytes (after {} s of history)",
            times[100].as_secs_f64() * 1e3,
            times[198].as_secs_f64() * 1e3,
            secs * 2 + 5
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
