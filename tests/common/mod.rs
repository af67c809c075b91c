//! Helpers for end-to-end tests: start the real binaries on 127.0.0.1 and talk HTTP to them
//! over real sockets.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod browser;
pub mod receiver;
pub mod servers;
pub mod smartctl;

/// How long a test waits for anything (start-up, a log line, a response) before failing.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub fn service_bin() -> &'static str {
    env!("CARGO_BIN_EXE_system-stats-service")
}

pub fn forwarder_bin() -> &'static str {
    env!("CARGO_BIN_EXE_system-stats-forwarder")
}

/// The forwarder from `source` to `destinations` (comma-separated), spooling in `spool`,
/// logging at debug level; returns once it has started.
pub fn start_forwarder(source: &str, destinations: &str, spool: &Path, extra: &[(&str, &str)]) -> Running {
    let mut cmd = clean_command(forwarder_bin());
    cmd.env("SYSTEM_STATS_URL", source)
        .env("MONITORING_SERVER_METRICS_URL", destinations)
        .env("SYSTEM_STATS_SPOOL_DIR", spool)
        .env("SYSTEM_STATS_FORWARD_LOG_LEVEL", "debug")
        .env("SYSTEM_STATS_FORWARD_INTERVAL", "0.2")
        .env("SYSTEM_STATS_FORWARD_TIMEOUT", "2")
        .envs(extra.iter().copied());
    let run = Running::spawn(cmd);
    run.wait_for_line("forwarding ");
    run
}

/// Whether `program` runs; under `SYSTEM_STATS_TEST_STRICT` (scripts/test) a missing one is a
/// failure, else the test says it is skipped.
pub fn available(program: &str, arg: &str) -> bool {
    let ok = Command::new(program).arg(arg).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(),
            "{program} is required (scripts/test installs it)"
        );
        eprintln!("SKIPPED: {program} is not installed");
    }
    ok
}

/// A query string's value, percent-encoded.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (30 s at most) until `GET path` on `addr` answers 2xx.
pub fn wait_http(addr: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::net::TcpStream::connect(addr) {
            drop(s);
            if request(addr.parse().unwrap(), "GET", path).status / 100 == 2 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{addr}{path} did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The repository root (fixtures live under it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command for `bin` with no `SYSTEM_STATS_*` variables inherited from the test's
/// environment.
pub fn clean_command(bin: &str) -> Command {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SYSTEM_STATS_") || k == "MONITORING_SERVER_METRICS_URL" {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A running program whose standard error is collected line by line.
pub struct Running {
    pub child: Child,
    log: Arc<Mutex<Vec<String>>>,
    lines: Receiver<String>,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("starting the binary");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = mpsc::channel();
        let keep = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Running { child, log, lines }
    }

    /// Waits for a standard-error line containing `needle` (or finds one already printed);
    /// returns it.
    pub fn wait_for_line(&self, needle: &str) -> String {
        self.wait_for_line_within(needle, PATIENCE)
    }

    /// The same, waiting at most `limit`.
    pub fn wait_for_line_within(&self, needle: &str, limit: Duration) -> String {
        if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no line containing {needle:?} within {limit:?}; log so far:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Lines of the log containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// Waits for the process to exit, killing it after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The service, started on 127.0.0.1 with a port of its choosing.
pub struct Service {
    pub run: Running,
    pub addr: SocketAddr,
}

impl Service {
    /// The service; the OS-update check (a package manager run, seconds of CPU) is off unless
    /// a test sets `SYSTEM_STATS_UPDATE_CHECK_INTERVAL`.
    pub fn start(envs: &[(&str, &str)]) -> Service {
        let mut cmd = clean_command(service_bin());
        cmd.env("SYSTEM_STATS_HOST", "127.0.0.1").env("SYSTEM_STATS_PORT", "0");
        cmd.env("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "0");
        cmd.envs(envs.iter().copied());
        Self::start_command(cmd)
    }

    /// The service on a recorded fixture tree, with UTC as local time.
    pub fn on_fixture(dir: &Path, extra: &[(&str, &str)]) -> Service {
        let procfs = dir.join("proc");
        let sysfs = dir.join("sys");
        let mut envs = vec![
            ("SYSTEM_STATS_PROCFS", procfs.to_str().unwrap()),
            ("SYSTEM_STATS_SYSFS", sysfs.to_str().unwrap()),
            ("SYSTEM_STATS_DISK_PATH", dir.to_str().unwrap()),
            ("TZ", "UTC"),
        ];
        envs.extend_from_slice(extra);
        Service::start(&envs)
    }

    pub fn start_command(cmd: Command) -> Service {
        let run = Running::spawn(cmd);
        let line = run.wait_for_line("listening on ");
        let addr = line.split("://").nth(1).unwrap().split_whitespace().next().unwrap();
        Service { addr: addr.parse().unwrap(), run }
    }

    /// `GET path`; a connection that cannot be made fails the test with the service's state
    /// and log (a crash, or what it said last).
    pub fn get(&self, path: &str) -> Response {
        match try_request(self.addr, "GET", path, "") {
            Ok(r) => r,
            Err(e) => {
                let log = self.run.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "GET {path} on {}: {e}; the service's pid {} {}; its log ends:\n{}",
                    self.addr,
                    self.run.child.id(),
                    match std::fs::read_to_string(format!("/proc/{}/stat", self.run.child.id())) {
                        Ok(stat) => format!("is alive ({})", stat.split(' ').nth(2).unwrap_or("?")),
                        Err(_) => "has exited".to_string(),
                    },
                    tail.join("\n")
                )
            }
        }
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.body))
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Response {
    request_with_body(addr, method, path, "")
}

pub fn request_with_body(addr: SocketAddr, method: &str, path: &str, body: &str) -> Response {
    try_request(addr, method, path, body).unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"))
}

/// One request; an error is the connection's (refused, reset, timed out).
pub fn try_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, PATIENCE)?;
    s.set_read_timeout(Some(PATIENCE))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Ok(parse_response(&String::from_utf8(raw).expect("a UTF-8 response")))
}

/// A GET-like request with extra header lines (each ending in `\r\n`); `Host` is the
/// address unless the extra lines give one.
pub fn request_with_headers(addr: SocketAddr, method: &str, path: &str, headers: &str) -> Response {
    let mut s = TcpStream::connect_timeout(&addr, PATIENCE).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let host = if headers.to_ascii_lowercase().contains("host:") { String::new() } else { format!("Host: {addr}\r\n") };
    write!(s, "{method} {path} HTTP/1.1\r\n{host}{headers}Connection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&String::from_utf8(raw).expect("a UTF-8 response"))
}

pub fn parse_response(raw: &str) -> Response {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Response { status, headers, body }
}

/// Undoes `Transfer-Encoding: chunked`.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}
