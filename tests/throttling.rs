//! A backlog drained into servers that limit their rate the way the newest monitoring server
//! does (a sliding window: at most `limit` POSTs in any `window`, 429 beyond), with and
//! without `Retry-After`: the real forwarder, a spool filled as by a long outage, receivers on
//! 127.0.0.1 counting what they accepted and refused. The forwarder must use at least 90 % of
//! what the server allows and be refused at most once for every 4 samples delivered; with
//! `Retry-After` it waits exactly as told. A fifth scenario drains a remote-write destination's
//! backlog of scrapes. The five run side by side (about 80 s).

mod common;

use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver};
use common::{Service, start_forwarder};

struct Scenario {
    limit: usize,
    window: u64,
    retry_after: bool,
    backlog: u64,
    /// The span over which the server's allowance is compared with what it got.
    span: u64,
    /// A remote-write destination (its backlog: scrapes of `/metrics`), else JSON.
    remote_write: bool,
}

/// Runs one scenario; returns a line describing it, or why it failed.
fn run(source: &str, sc: &Scenario, snapshot: &[u8], text: &str) -> Result<String, String> {
    let window = Duration::from_secs(sc.window);
    let r = Receiver::start(Mode::Newest { limit: sc.limit, window, retry_after: sc.retry_after });
    let dest = if sc.remote_write { format!("remote-write+{}", r.url()) } else { r.url() };
    let spool = tempfile::tempdir().unwrap();
    {
        let path = spool.path().join(system_stats::forward::spool::file_name(&dest));
        let mut sp = system_stats::forward::spool::Spool::open(&path, 1 << 30).unwrap();
        for i in 0..sc.backlog {
            let scrape = system_stats::forward::entry::Scrape {
                collected_at_ms: 1_765_080_000_000 + i as i64 * 1000,
                instance: "throttled".into(),
                text: text.to_string(),
            };
            let entry = if sc.remote_write { scrape.encode() } else { snapshot.to_vec() };
            sp.push(&entry, 1_000_000 * (i + 1)).unwrap();
        }
    }
    let started = Instant::now();
    // one poll at the start (a new sample after the backlog), none after
    let f = start_forwarder(source, &dest, spool.path(), &[("SYSTEM_STATS_FORWARD_INTERVAL", "3600")]);
    let total = sc.backlog as usize + 1;
    let span = Duration::from_secs(sc.span);
    while r.accepted().len() < total && started.elapsed() < span + Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let requests = r.requests();
    let in_span = requests.iter().filter(|(t, st)| *st == 200 && t.duration_since(started) < span).count();
    let refused = requests.iter().filter(|(_, st)| *st == 429).count();
    let accepted = requests.iter().filter(|(_, st)| *st == 200).count();
    let allowed = (sc.limit * sc.span.div_ceil(sc.window) as usize).min(total);
    let what = format!(
        "{} per {} s{}{}: {in_span} of the {allowed} allowed in {} s, {refused} refusals for {accepted} delivered",
        sc.limit,
        sc.window,
        if sc.retry_after { " with Retry-After" } else { "" },
        if sc.remote_write { ", remote-write" } else { "" },
        sc.span
    );
    drop(f);
    if in_span * 10 < allowed * 9 {
        return Err(format!("{what}: under 90 %"));
    }
    if refused * 4 > accepted {
        return Err(format!("{what}: too many refusals"));
    }
    // told when to come back, it comes back then: one refusal per window at most
    if sc.retry_after && refused > total.div_ceil(sc.limit) {
        return Err(format!("{what}: Retry-After not followed"));
    }
    Ok(what)
}

#[test]
fn a_backlog_drains_at_the_servers_pace() {
    let s = Service::start(&[]);
    let snapshot = common::request(s.addr, "GET", "/system").body.into_bytes();
    let text = common::request(s.addr, "GET", "/metrics").body;
    let scenarios = [
        Scenario { limit: 10, window: 10, retry_after: false, backlog: 70, span: 60, remote_write: false },
        Scenario { limit: 10, window: 10, retry_after: true, backlog: 70, span: 60, remote_write: false },
        Scenario { limit: 60, window: 60, retry_after: false, backlog: 80, span: 82, remote_write: false },
        Scenario { limit: 60, window: 60, retry_after: true, backlog: 80, span: 65, remote_write: false },
        Scenario { limit: 10, window: 10, retry_after: false, backlog: 70, span: 60, remote_write: true },
    ];
    let source = format!("http://{}/system", s.addr);
    let results: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = scenarios.iter().map(|sc| scope.spawn(|| run(&source, sc, &snapshot, &text))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        eprintln!("{}", r.as_ref().unwrap_or_else(|e| e));
    }
    assert!(results.iter().all(Result::is_ok), "{results:#?}");
}
