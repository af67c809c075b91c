//! Probe latency under a flood of hostile connections, against the same probe on an idle
//! service in the same run (the baseline).
//!
//! The release service runs under `prlimit --nofile=1024:1024` (systemd's default). A probe
//! opens a new connection and asks `/health` every 20 ms: first for 3 s on the idle service,
//! then while 1 100 connections that never send and 1 100 that ask for /system 200 times and
//! never read are opened, and for 3 s after. Printed: probe latency percentiles both ways,
//! failures, RSS before / at the peak / after the burst.
//!
//!   cargo bench --bench connections

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(|v| v.trim().trim_end_matches("kB").trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn probe(addr: SocketAddr) -> Result<Duration, String> {
    let start = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if !out.starts_with("HTTP/1.1 200") {
        return Err(format!("answer {:?}", out.lines().next()));
    }
    Ok(start.elapsed())
}

/// Probes every 20 ms until `stop`; returns the latencies and the failures.
fn probing(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(Vec<Duration>, usize)> {
    std::thread::spawn(move || {
        let (mut times, mut failed) = (Vec::new(), 0);
        while !stop.load(Ordering::Relaxed) {
            match probe(addr) {
                Ok(t) => times.push(t),
                Err(_) => failed += 1,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        times.sort();
        (times, failed)
    })
}

fn summary(name: &str, (times, failed): &(Vec<Duration>, usize)) {
    let p = |q: f64| times.get(((times.len().max(1) - 1) as f64 * q) as usize).copied().unwrap_or_default();
    let under_100 = times.iter().filter(|t| t.as_millis() < 100).count();
    println!(
        "{name:<22} {:>5} probes {:>3} failed   p50 {:>9.3} ms   p99 {:>9.3} ms   max {:>9.3} ms   under 100 ms {:.1} %",
        times.len(),
        failed,
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        100.0 * under_100 as f64 / times.len().max(1) as f64
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this too, without it
    if !std::env::args().any(|a| a == "--bench") {
        println!("connections: run with cargo bench --bench connections");
        return;
    }
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid pointers to a rlimit.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new("prlimit")
        .args(["--nofile=1024:1024", "--", env!("CARGO_BIN_EXE_system-stats-service")])
        .env("SYSTEM_STATS_HOST", "127.0.0.1")
        .env("SYSTEM_STATS_PORT", port.to_string())
        .env("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "0")
        .env("SYSTEM_STATS_LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the service");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while probe(addr).is_err() {
        assert!(Instant::now() < deadline, "the service did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id();

    let stop = Arc::new(AtomicBool::new(false));
    let idle = probing(addr, Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let idle = idle.join().unwrap();
    let before = rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let flooded = probing(addr, Arc::clone(&stop));
    let started = Instant::now();
    let mut held = Vec::new();
    let mut peak = 0;
    for _ in 0..11 {
        for _ in 0..100 {
            if let Ok(c) = TcpStream::connect(addr) {
                held.push(c);
            }
        }
        for _ in 0..100 {
            if let Ok(mut c) = TcpStream::connect(addr) {
                let _ = c.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = c.write_all("GET /system HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(200).as_bytes());
                held.push(c);
            }
        }
        peak = peak.max(rss_kib(pid));
    }
    let opened_in = started.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    peak = peak.max(rss_kib(pid));
    stop.store(true, Ordering::Relaxed);
    let flooded = flooded.join().unwrap();
    drop(held);
    std::thread::sleep(Duration::from_secs(4));
    let after = rss_kib(pid);

    println!("connections: release service, cap 256, open-file limit 1024, probe every 20 ms");
    summary("idle (baseline)", &idle);
    summary("2200 hostile clients", &flooded);
    println!(
        "hostile connections opened in {:.1} s; service RSS {before} KiB before, {peak} KiB at the peak, {after} KiB 4 s after",
        opened_in.as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
}
