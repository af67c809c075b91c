//! Safe to expose: the token, the `Host` check, CORS, HTTPS with a certificate renewed while
//! running, and a real Prometheus scraping over TLS with credentials. Clients are curl and
//! Prometheus, as users run them, against the real binary on 127.0.0.1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{PATIENCE, Service, available, clean_command, free_port, request_with_headers, service_bin};

const TOKEN: &str = "tok-3f9a1c7e5b2d4068";

/// What curl got: status (0 when no HTTP answer), headers, body, and its exit code.
#[derive(Debug)]
struct Got {
    status: u16,
    headers: String,
    body: String,
    exit: i32,
}

impl Got {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// `curl` with `args`, then `url`.
fn curl(url: &str, args: &[&str]) -> Got {
    let dir = tempfile::tempdir().unwrap();
    let (body, headers) = (dir.path().join("body"), dir.path().join("headers"));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("running curl");
    Got {
        status: String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        body: std::fs::read_to_string(&body).unwrap_or_default(),
        exit: out.status.code().unwrap_or(-1),
    }
}

fn have_curl() -> bool {
    available("curl", "--version")
}

fn token_file(dir: &Path) -> PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

/// A self-signed certificate for localhost and 127.0.0.1, written as PEM files.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (cert, private) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&private, key.signing_key.serialize_pem()).unwrap();
    (cert, private)
}

/// With a token file, every endpoint but /health needs `Authorization: Bearer`; a missing or
/// wrong one is 401 with `WWW-Authenticate`, logged without the token; ten failures from one
/// address make it wait (429, `Retry-After`), even with the right token.
#[test]
fn a_token_guards_every_endpoint_but_health() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = token_file(dir.path());
    let s = Service::start(&[("SYSTEM_STATS_AUTH_TOKEN_FILE", file.to_str().unwrap())]);
    s.run.wait_for_line("token required");
    let base = format!("http://{}", s.addr);

    let health = curl(&format!("{base}/health"), &[]);
    assert_eq!(health.status, 200, "{health:?}");
    for path in ["/system", "/metrics", "/openapi.json", "/docs", "/nope"] {
        let got = curl(&format!("{base}{path}"), &[]);
        assert_eq!(got.status, 401, "{path}: {got:?}");
        assert_eq!(got.header("www-authenticate").as_deref(), Some("Bearer realm=\"system-stats\""), "{path}");
        assert!(got.body.contains("SYSTEM_STATS_AUTH_TOKEN_FILE"), "{path}: {}", got.body);
    }
    s.run.wait_for_line("refused (401): no token");
    let ok = curl(&format!("{base}/system"), &["-H", &bearer(TOKEN)]);
    assert_eq!(ok.status, 200, "{ok:?}");
    let v: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert!(v["cpu"].is_object());
    assert_eq!(curl(&format!("{base}/metrics"), &["-H", &bearer(TOKEN)]).status, 200);
    // the scheme is case-insensitive (RFC 7235)
    assert_eq!(curl(&format!("{base}/system"), &["-H", &format!("authorization: bearer {TOKEN}")]).status, 200);

    // 5 failures so far; 5 more wrong ones are 401, the next is 429 even with the token
    for _ in 0..5 {
        let wrong = curl(&format!("{base}/system"), &["-H", &bearer("tok-guess")]);
        assert_eq!(wrong.status, 401, "{wrong:?}");
    }
    s.run.wait_for_line("failed attempts within 60 s");
    let limited = curl(&format!("{base}/system"), &["-H", &bearer(TOKEN)]);
    assert_eq!(limited.status, 429, "{limited:?}");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // /health stays open to probes
    assert_eq!(curl(&format!("{base}/health"), &[]).status, 200);
    assert!(!s.run.log().contains(TOKEN) && !s.run.log().contains("tok-guess"), "{}", s.run.log());
}

/// `SYSTEM_STATS_AUTH_TOKEN` (the token itself) works the same.
#[test]
fn the_token_can_be_given_directly() {
    if !have_curl() {
        return;
    }
    let s = Service::start(&[("SYSTEM_STATS_AUTH_TOKEN", TOKEN)]);
    let base = format!("http://{}", s.addr);
    assert_eq!(curl(&format!("{base}/system"), &[]).status, 401);
    assert_eq!(curl(&format!("{base}/system"), &["-H", &bearer(TOKEN)]).status, 200);
}

/// A `Host` that is not a name of this machine is 421, naming the setting that allows it
/// (DNS rebinding: a web page's script asking for evil.example reaches us).
#[test]
fn foreign_host_names_get_421() {
    if !have_curl() {
        return;
    }
    let s = Service::start(&[]);
    let url = format!("http://{}/system", s.addr);
    let evil = curl(&url, &["-H", "Host: evil.example"]);
    assert_eq!(evil.status, 421, "{evil:?}");
    let v: serde_json::Value = serde_json::from_str(&evil.body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("SYSTEM_STATS_ALLOWED_HOSTS"), "{}", evil.body);
    s.run.wait_for_line("refused (421) a request for Host \"evil.example\"");
    assert_eq!(curl(&url, &["-H", "Host: evil.example:5001"]).status, 421);
    // IP literals, localhost and this machine's own name are answered
    let hostname = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let port = s.addr.port();
    for host in [format!("localhost:{port}"), format!("{hostname}:{port}"), format!("127.0.0.1:{port}"), "[::1]".into()]
    {
        let got = curl(&url, &["-H", &format!("Host: {host}")]);
        assert_eq!(got.status, 200, "{host}: {got:?}");
    }
    drop(s);

    let s = Service::start(&[("SYSTEM_STATS_ALLOWED_HOSTS", "stats.example.org")]);
    let url = format!("http://{}/system", s.addr);
    assert_eq!(curl(&url, &["-H", "Host: stats.example.org"]).status, 200);
    assert_eq!(curl(&url, &["-H", "Host: evil.example"]).status, 421);
    drop(s);
    let s = Service::start(&[("SYSTEM_STATS_ALLOWED_HOSTS", "*")]);
    assert_eq!(curl(&format!("http://{}/system", s.addr), &["-H", "Host: evil.example"]).status, 200);
}

/// Two `Host` headers are refused with 400 (RFC 9112, section 3.2), whichever comes first: a
/// proxy in front and the service could each read another one. The service's own address
/// first and a foreign name second, and the other way round; `/health` (no token, no
/// sample) included.
#[test]
fn two_host_headers_get_400() {
    let s = Service::start(&[]);
    let own = format!("Host: {}\r\n", s.addr);
    for path in ["/system", "/metrics", "/health"] {
        for headers in [format!("{own}Host: evil.example\r\n"), format!("Host: evil.example\r\n{own}"), own.repeat(2)] {
            let got = request_with_headers(s.addr, "GET", path, &headers);
            assert_eq!(got.status, 400, "{path} with {headers:?}: {}", &got.body[..got.body.len().min(200)]);
            assert!(got.body.contains("one Host header, not several"), "{}", got.body);
        }
    }
    assert_eq!(request_with_headers(s.addr, "GET", "/system", &own).status, 200);
}

/// No CORS header unless the origin is listed; a listed origin gets its preflight answered
/// (without a token: browsers send none on it) and its answers readable.
#[test]
fn cors_only_for_listed_origins() {
    if !have_curl() {
        return;
    }
    let s = Service::start(&[]);
    let got = curl(&format!("http://{}/system", s.addr), &["-H", "Origin: https://dash.example.org"]);
    assert_eq!(got.status, 200);
    assert_eq!(got.header("access-control-allow-origin"), None);
    drop(s);

    let s = Service::start(&[
        ("SYSTEM_STATS_CORS_ORIGINS", "https://dash.example.org"),
        ("SYSTEM_STATS_AUTH_TOKEN", TOKEN),
    ]);
    let url = format!("http://{}/system", s.addr);
    let listed = curl(&url, &["-H", "Origin: https://dash.example.org", "-H", &bearer(TOKEN)]);
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("access-control-allow-origin").as_deref(), Some("https://dash.example.org"));
    assert_eq!(listed.header("vary").as_deref(), Some("Origin"));
    let other = curl(&url, &["-H", "Origin: https://evil.example", "-H", &bearer(TOKEN)]);
    assert_eq!(other.header("access-control-allow-origin"), None);
    let preflight = curl(
        &url,
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://dash.example.org",
            "-H",
            "Access-Control-Request-Method: GET",
            "-H",
            "Access-Control-Request-Headers: authorization",
        ],
    );
    assert_eq!(preflight.status, 204, "{preflight:?}");
    assert_eq!(preflight.header("access-control-allow-headers").as_deref(), Some("Authorization, Accept"));
    // an unlisted origin's preflight is not answered as one
    let refused = curl(&url, &["-X", "OPTIONS", "-H", "Origin: https://evil.example"]);
    assert_eq!(refused.status, 401, "{refused:?}");
}

/// HTTPS: plain HTTP to the port is refused with a clear answer; a renewed certificate is
/// served within seconds without a restart; a broken renewal keeps the previous one.
#[test]
fn https_picks_up_a_renewed_certificate() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = certificate(dir.path(), "a");
    let (cert_b, key_b) = certificate(dir.path(), "b");
    let (cert, key) = (dir.path().join("live.crt"), dir.path().join("live.key"));
    std::fs::copy(&cert_a, &cert).unwrap();
    std::fs::copy(&key_a, &key).unwrap();
    let s = Service::start(&[
        ("SYSTEM_STATS_TLS_CERT", cert.to_str().unwrap()),
        ("SYSTEM_STATS_TLS_KEY", key.to_str().unwrap()),
    ]);
    s.run.wait_for_line("listening on https://");
    let url = format!("https://localhost:{}/system", s.addr.port());
    let a = |u: &str| curl(u, &["--cacert", cert_a.to_str().unwrap()]);
    let b = |u: &str| curl(u, &["--cacert", cert_b.to_str().unwrap()]);
    let got = a(&url);
    assert_eq!(got.status, 200, "{got:?}");
    assert!(serde_json::from_str::<serde_json::Value>(&got.body).unwrap()["memory"].is_object());
    assert_eq!(b(&url).exit, 60, "a certificate curl does not trust must fail verification");

    // plain HTTP on the HTTPS port
    let plain = curl(&format!("http://{}/system", s.addr), &[]);
    assert_eq!(plain.status, 400, "{plain:?}");
    assert!(plain.body.contains("this port speaks HTTPS"), "{}", plain.body);

    // the renewal: written beside, renamed over (as certbot's symlinks and ACME clients do)
    let replace = |from: &Path, to: &Path| {
        let tmp = to.with_extension("new");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    };
    replace(&key_b, &key);
    replace(&cert_b, &cert);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let _ = b(&url); // a new connection makes the service look at the files
        if s.run.log().contains("TLS certificate reloaded") {
            break;
        }
        assert!(Instant::now() < deadline, "not reloaded: {}", s.run.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(b(&url).status, 200);
    assert_eq!(a(&url).exit, 60);

    // a renewal half-written: the previous certificate stays
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !s.run.log().contains("cannot be loaded") {
        assert!(Instant::now() < deadline, "no warning: {}", s.run.log());
        let _ = b(&url);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(b(&url).status, 200);
}

/// Bad security settings stop the start with one line naming the setting.
#[test]
fn bad_security_settings_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "ok");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "hello\n").unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let spaced = dir.path().join("spaced");
    std::fs::write(&spaced, "two words\n").unwrap();
    let missing = dir.path().join("missing");
    let token = token_file(dir.path());
    let p = |p: &Path| p.to_str().unwrap().to_string();
    type Case<'a> = (Vec<(&'a str, String)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("SYSTEM_STATS_TLS_CERT", p(&cert))], "SYSTEM_STATS_TLS_KEY", "both or neither"),
        (vec![("SYSTEM_STATS_TLS_KEY", p(&key))], "SYSTEM_STATS_TLS_CERT", "both or neither"),
        (
            vec![("SYSTEM_STATS_TLS_CERT", p(&garbage)), ("SYSTEM_STATS_TLS_KEY", p(&key))],
            "SYSTEM_STATS_TLS_CERT",
            "no certificate",
        ),
        (
            vec![("SYSTEM_STATS_TLS_CERT", p(&missing)), ("SYSTEM_STATS_TLS_KEY", p(&key))],
            "SYSTEM_STATS_TLS_CERT",
            "No such file",
        ),
        (
            vec![("SYSTEM_STATS_TLS_CERT", p(&cert)), ("SYSTEM_STATS_TLS_KEY", p(&garbage))],
            "SYSTEM_STATS_TLS_CERT",
            "garbage.pem",
        ),
        (vec![("SYSTEM_STATS_AUTH_TOKEN_FILE", p(&missing))], "SYSTEM_STATS_AUTH_TOKEN_FILE", "No such file"),
        (vec![("SYSTEM_STATS_AUTH_TOKEN_FILE", p(&empty))], "SYSTEM_STATS_AUTH_TOKEN_FILE", "it is empty"),
        (vec![("SYSTEM_STATS_AUTH_TOKEN_FILE", p(&spaced))], "SYSTEM_STATS_AUTH_TOKEN_FILE", "a space"),
        (vec![("SYSTEM_STATS_AUTH_TOKEN_FILE", p(dir.path()))], "SYSTEM_STATS_AUTH_TOKEN_FILE", "not a regular file"),
        (
            vec![("SYSTEM_STATS_AUTH_TOKEN_FILE", p(&token)), ("SYSTEM_STATS_AUTH_TOKEN", "x".into())],
            "SYSTEM_STATS_AUTH_TOKEN=",
            "set one of the two",
        ),
        (
            vec![("SYSTEM_STATS_ALLOWED_HOSTS", "ok.example, bad host".into())],
            "SYSTEM_STATS_ALLOWED_HOSTS",
            "\"bad host\"",
        ),
        (vec![("SYSTEM_STATS_CORS_ORIGINS", "dash.example.org".into())], "SYSTEM_STATS_CORS_ORIGINS", "no path"),
        (
            vec![("SYSTEM_STATS_CORS_ORIGINS", "https://dash.example.org/app".into())],
            "SYSTEM_STATS_CORS_ORIGINS",
            "no path",
        ),
        (vec![("SYSTEM_STATS_MAX_CONNECTIONS", "0".into())], "SYSTEM_STATS_MAX_CONNECTIONS", "from 1 to 65536"),
    ];
    for (envs, names, says) in cases {
        let mut cmd = clean_command(service_bin());
        cmd.env("SYSTEM_STATS_PORT", "0").envs(envs.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{envs:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{envs:?}: {err}");
        assert!(err.contains(names) && err.contains(says), "{envs:?}: {err}");
        assert!(!err.contains(TOKEN), "{err}");
    }
}

/// A token file every user may read is used, with a warning.
#[test]
fn a_token_file_others_can_read_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let file = token_file(dir.path());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = Service::start(&[("SYSTEM_STATS_AUTH_TOKEN_FILE", file.to_str().unwrap())]);
    s.run.wait_for_line("can be read by every user of this machine (chmod 600 it)");
}

/// A real Prometheus scrapes over HTTPS with `authorization.credentials_file` and
/// `tls_config.ca_file` (`up == 1`); the same target without them is down.
#[test]
fn prometheus_scrapes_over_tls_with_a_token() {
    if !available("prometheus", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "svc");
    let token = token_file(dir.path());
    let s = Service::start(&[
        ("SYSTEM_STATS_TLS_CERT", cert.to_str().unwrap()),
        ("SYSTEM_STATS_TLS_KEY", key.to_str().unwrap()),
        ("SYSTEM_STATS_AUTH_TOKEN_FILE", token.to_str().unwrap()),
    ]);
    let target = format!("localhost:{}", s.addr.port());
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n\
             - job_name: with\n  scheme: https\n  tls_config:\n    ca_file: {ca}\n  authorization:\n    credentials_file: {tok}\n  static_configs:\n    - targets: ['{target}']\n\
             - job_name: no-token\n  scheme: https\n  tls_config:\n    ca_file: {ca}\n  static_configs:\n    - targets: ['{target}']\n\
             - job_name: no-ca\n  scheme: https\n  authorization:\n    credentials_file: {tok}\n  static_configs:\n    - targets: ['{target}']\n",
            ca = cert.display(),
            tok = token.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _prom = common::Running::spawn(cmd);
    let addr = format!("127.0.0.1:{port}");
    common::wait_http(&addr, "/-/ready");
    let query = |q: &str| -> Vec<serde_json::Value> {
        let r = common::request(addr.parse().unwrap(), "GET", &format!("/api/v1/query?query={}", encode(q)));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = query("up");
        if up.len() == 3 {
            let value = |job: &str| {
                up.iter().find(|r| r["metric"]["job"] == job).map(|r| r["value"][1].as_str().unwrap().to_string())
            };
            assert_eq!(value("with").as_deref(), Some("1"), "{up:?}");
            assert_eq!(value("no-token").as_deref(), Some("0"), "{up:?}");
            assert_eq!(value("no-ca").as_deref(), Some("0"), "{up:?}");
            break;
        }
        assert!(Instant::now() < deadline, "Prometheus has not scraped all three jobs: {up:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let total = query("node_memory_MemTotal_bytes{job=\"with\"}");
    assert_eq!(total.len(), 1, "{total:?}");
    s.run.wait_for_line("refused (401): no token");
}

fn encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
