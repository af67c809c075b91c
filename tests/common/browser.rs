//! Headless Chromium driven over the DevTools protocol (a WebSocket), for the page's tests:
//! navigate, evaluate, emulate a phone or dark mode, take screenshots, and collect every
//! console error, uncaught exception and failed request. Every host but 127.0.0.1 is
//! unresolvable, so the page cannot load anything from elsewhere.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
    /// Console errors, exceptions and failed requests, as text.
    problems: Vec<String>,
    /// Every request's URL and headers.
    pub requests: Vec<(String, Value)>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Chromium, or `None` (a skip; a failure under `SYSTEM_STATS_TEST_STRICT`) when it is not
    /// installed.
    pub fn launch() -> Option<Browser> {
        if Command::new("chromium").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(),
                "chromium is required (scripts/test installs it)"
            );
            eprintln!("SKIPPED: chromium is not installed");
            return None;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting chromium");
        // killed if anything below fails before the Browser owns it
        struct Guard(Option<Child>);
        impl Drop for Guard {
            fn drop(&mut self) {
                if let Some(c) = &mut self.0 {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        let stderr = child.stderr.take().unwrap();
        let mut guard = Guard(Some(child));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let browser_url = rx.recv_timeout(Duration::from_secs(30)).expect("chromium's DevTools address");
        let port = browser_url.split(':').nth(2).unwrap().split('/').next().unwrap().to_string();
        // the page target chromium opened
        let targets: Value = serde_json::from_str(&get_json(&format!("127.0.0.1:{port}"), "/json/list")).unwrap();
        let page = targets.as_array().unwrap().iter().find(|t| t["type"] == "page").expect("a page target");
        let (ws, _) = tungstenite::connect(page["webSocketDebuggerUrl"].as_str().unwrap()).expect("DevTools WebSocket");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        }
        let child = guard.0.take().unwrap();
        let mut b = Browser { child, ws, next: 0, problems: Vec::new(), requests: Vec::new(), _profile: profile };
        for domain in ["Runtime.enable", "Log.enable", "Network.enable", "Page.enable"] {
            b.call(domain, json!({}));
        }
        Some(b)
    }

    fn note(&mut self, msg: &Value) {
        let p = &msg["params"];
        match msg["method"].as_str().unwrap_or("") {
            "Runtime.exceptionThrown" => self.problems.push(format!("exception: {}", p["exceptionDetails"])),
            "Runtime.consoleAPICalled" if p["type"] == "error" || p["type"] == "assert" => {
                self.problems.push(format!("console.{}: {}", p["type"], p["args"]))
            }
            "Log.entryAdded" if p["entry"]["level"] == "error" => self.problems.push(format!("log: {}", p["entry"])),
            "Network.loadingFailed" if p["canceled"] != true => self.problems.push(format!("request failed: {p}")),
            "Network.requestWillBeSent" => self
                .requests
                .push((p["request"]["url"].as_str().unwrap_or("").to_string(), p["request"]["headers"].clone())),
            "Network.responseReceived" => {
                let status = p["response"]["status"].as_u64().unwrap_or(0);
                if status >= 400 {
                    self.problems.push(format!("HTTP {status}: {}", p["response"]["url"]));
                }
            }
            _ => {}
        }
    }

    /// Reads what the browser sent for up to `wait`, noting events; returns a reply to `id`.
    fn pump(&mut self, id: Option<u64>, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let msg: Value = serde_json::from_str(&t).unwrap();
                    if id.is_some() && msg["id"].as_u64() == id {
                        return Some(msg);
                    }
                    self.note(&msg);
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("DevTools connection: {e}"),
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// A DevTools command; its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.ws.send(Message::text(json!({"id": id, "method": method, "params": params}).to_string())).unwrap();
        let reply = self.pump(Some(id), Duration::from_secs(30)).unwrap_or_else(|| panic!("no reply to {method}"));
        assert!(reply.get("error").is_none(), "{method}: {}", reply["error"]);
        reply["result"].clone()
    }

    /// Lets the page run for `d`, noting what happens.
    pub fn idle(&mut self, d: Duration) {
        self.pump(None, d);
    }

    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// The value of a JavaScript expression (promises awaited).
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({"expression": expr, "returnByValue": true, "awaitPromise": true}));
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {}", r["exceptionDetails"]);
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is truthy; its value.
    pub fn wait_for(&mut self, expr: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        // the page may still be loading: an expression that throws is not true yet
        let guarded = format!("(() => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }})()");
        loop {
            let v = self.eval(&guarded);
            if !(v.is_null() || v == false || v == 0 || v == "") {
                return v;
            }
            assert!(Instant::now() < deadline, "{expr} not true within {limit:?}; problems: {:?}", self.problems);
            self.idle(Duration::from_millis(100));
        }
    }

    /// A viewport of `width` CSS pixels (a phone's with `mobile`).
    pub fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": if mobile { 2 } else { 1 }, "mobile": mobile}),
        );
    }

    /// `prefers-color-scheme: dark` or light.
    pub fn dark(&mut self, dark: bool) {
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": if dark { "dark" } else { "light" }}]}),
        );
    }

    /// A PNG of the whole page.
    pub fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let r = self.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        let png = base64::engine::general_purpose::STANDARD.decode(r["data"].as_str().unwrap()).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Console errors, exceptions and failed requests so far.
    pub fn problems(&mut self) -> Vec<String> {
        self.idle(Duration::from_millis(50));
        self.problems.clone()
    }
}

/// A GET to DevTools' HTTP side, which keeps the connection open: the body by its length.
fn get_json(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "DevTools closed the connection");
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return body.to_string();
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
