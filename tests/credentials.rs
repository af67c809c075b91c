//! Credentials for destinations and for the source: basic auth from a URL's user and
//! password (VictoriaMetrics), a bearer token from the configuration file (InfluxDB with
//! JWT), extra headers, the service's token and its own CA. Real servers on 127.0.0.1.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver};
use common::{Running, Service, available, clean_command, forwarder_bin, free_port, request, url_encode, wait_http};

/// `GET path` with HTTP basic auth on a plain socket.
fn get_basic(addr: &str, path: &str, user: &str, password: &str) -> common::Response {
    use base64::Engine;
    use std::io::{Read, Write};
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(common::PATIENCE)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    common::parse_response(&String::from_utf8_lossy(&raw))
}

fn forwarder(envs: &[(&str, &str)]) -> Running {
    let mut cmd = clean_command(forwarder_bin());
    cmd.env("SYSTEM_STATS_FORWARD_LOG_LEVEL", "debug")
        .env("SYSTEM_STATS_FORWARD_INTERVAL", "0.3")
        .env("SYSTEM_STATS_FORWARD_TIMEOUT", "2")
        .envs(envs.iter().copied());
    Running::spawn(cmd)
}

/// VictoriaMetrics with `-httpAuth.*` receives remote-write through the URL's `user:password@`;
/// the password never appears in the log, which shows the URL redacted; without credentials
/// the samples are kept, not dropped.
#[test]
fn victoria_metrics_receives_remote_write_through_basic_auth() {
    if !available("victoria-metrics", "-version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new("victoria-metrics");
    cmd.arg(format!("-httpListenAddr={addr}"))
        .arg(format!("-storageDataPath={}", dir.path().join("vm").display()))
        .arg("-httpAuth.username=vmuser")
        .arg("-httpAuth.password=s3cr3t-pw");
    let _vm = Running::spawn(cmd);
    wait_http(&addr, "/health");
    assert_eq!(request(addr.parse().unwrap(), "GET", "/api/v1/export?match[]=up").status, 401);

    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.3")]);
    let total = s.json("/system")["memory"]["total"].as_u64().unwrap();
    let source = format!("http://{}/system", s.addr);

    // without credentials: 401, kept
    let spool = dir.path().join("spool-none");
    let none = forwarder(&[
        ("SYSTEM_STATS_URL", &source),
        ("MONITORING_SERVER_METRICS_URL", &format!("remote-write+http://{addr}/api/v1/write")),
        ("SYSTEM_STATS_SPOOL_DIR", spool.to_str().unwrap()),
    ]);
    none.wait_for_line("401");
    drop(none);

    let spool = dir.path().join("spool");
    let f = forwarder(&[
        ("SYSTEM_STATS_URL", &source),
        ("MONITORING_SERVER_METRICS_URL", &format!("remote-write+http://vmuser:s3cr3t-pw@{addr}/api/v1/write")),
        ("SYSTEM_STATS_SPOOL_DIR", spool.to_str().unwrap()),
    ]);
    f.wait_for_line(&format!("remote-write+http://vmuser:***@{addr}/api/v1/write"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get_basic(&addr, "/api/v1/export?match[]=node_memory_MemTotal_bytes", "vmuser", "s3cr3t-pw");
        if r.status == 200 && r.body.contains(&total.to_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "VictoriaMetrics has no MemTotal: {} {}; forwarder:\n{}",
            r.status,
            r.body,
            f.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(!f.log().contains("s3cr3t-pw"), "{}", f.log());
    // the spool file is named from the redacted URL
    let names: Vec<String> =
        std::fs::read_dir(&spool).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n.starts_with("remote-write_http___vmuser_____127.0.0.1")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("s3cr3t")), "{names:?}");
}

/// An HS256 JWT for InfluxDB 1.x (`shared-secret`), made with Python's standard library.
fn influx_jwt(user: &str, secret: &str) -> String {
    let script = format!(
        "import base64,hmac,hashlib,json,time\n\
         b=lambda d: base64.urlsafe_b64encode(d).rstrip(b'=')\n\
         h=b(json.dumps({{'alg':'HS256','typ':'JWT'}}).encode())\n\
         p=b(json.dumps({{'username':'{user}','exp':int(time.time())+3600}}).encode())\n\
         s=b(hmac.new(b'{secret}',h+b'.'+p,hashlib.sha256).digest())\n\
         print((h+b'.'+p+b'.'+s).decode())"
    );
    let out = Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// InfluxDB with authentication on takes the line protocol with a bearer token (a JWT) from
/// the forwarder's configuration file; the same destination without it gets 401.
#[test]
fn influxdb_takes_a_token_from_the_configuration_file() {
    if !available("influxd", "version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (http, meta) = (free_port(), free_port());
    let config = dir.path().join("influxdb.conf");
    let d = dir.path().display();
    std::fs::write(
        &config,
        format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{meta}\"\n[meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n[http]\n  bind-address = \"127.0.0.1:{http}\"\n  \
             log-enabled = false\n  auth-enabled = true\n  shared-secret = \"jwt-secret-0123456789\"\n"
        ),
    )
    .unwrap();
    let mut cmd = clean_command("influxd");
    cmd.arg("-config").arg(&config);
    let _influx = Running::spawn(cmd);
    let addr = format!("127.0.0.1:{http}");
    wait_http(&addr, "/ping");
    // the first user may be created without credentials
    let q = |query: &str| format!("/query?u=admin&p=adminpw&q={}", url_encode(query));
    let created = common::request_with_body(
        addr.parse().unwrap(),
        "POST",
        &format!("/query?q={}", url_encode("CREATE USER admin WITH PASSWORD 'adminpw' WITH ALL PRIVILEGES")),
        "",
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let db = common::request_with_body(addr.parse().unwrap(), "POST", &q("CREATE DATABASE sst"), "");
    assert_eq!(db.status, 200, "{}", db.body);

    let token = dir.path().join("influx.jwt");
    std::fs::write(&token, influx_jwt("admin", "jwt-secret-0123456789")).unwrap();
    let file = dir.path().join("forward.toml");
    std::fs::write(
        &file,
        format!(
            "[destination.influx]\nurl = \"http://{addr}/write?db=sst\"\nformat = \"influx\"\ntoken_file = \"{}\"\n",
            token.display()
        ),
    )
    .unwrap();

    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.3")]);
    let total = s.json("/system")["memory"]["total"].as_u64().unwrap();
    let source = format!("http://{}/system", s.addr);
    let none_spool = dir.path().join("none");
    let none = forwarder(&[
        ("SYSTEM_STATS_URL", &source),
        ("MONITORING_SERVER_METRICS_URL", &format!("influx+http://{addr}/write?db=sst")),
        ("SYSTEM_STATS_SPOOL_DIR", none_spool.to_str().unwrap()),
    ]);
    none.wait_for_line("401");
    drop(none);

    let spool = dir.path().join("spool");
    let f = forwarder(&[
        ("SYSTEM_STATS_URL", &source),
        ("SYSTEM_STATS_FORWARD_CONFIG", file.to_str().unwrap()),
        ("SYSTEM_STATS_SPOOL_DIR", spool.to_str().unwrap()),
    ]);
    let select = url_encode("SELECT last(value) FROM node_memory_MemTotal_bytes");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = request(addr.parse().unwrap(), "GET", &format!("/query?db=sst&u=admin&p=adminpw&q={select}"));
        if r.body.contains(&total.to_string()) {
            break;
        }
        assert!(Instant::now() < deadline, "no point in InfluxDB: {}; forwarder:\n{}", r.body, f.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    let jwt = std::fs::read_to_string(&token).unwrap();
    assert!(!f.log().contains(&jwt), "{}", f.log());
}

fn write_token(dir: &Path, token: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("service.token");
    std::fs::write(&p, token).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// The forwarder polls a service that needs a token over HTTPS with its own certificate
/// (`[source]` with `ca_file`, the token from `SYSTEM_STATS_AUTH_TOKEN_FILE`), and sends a
/// destination's extra headers; without the token, it says 401.
#[test]
fn the_forwarder_reaches_a_service_behind_a_token_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, private) = (dir.path().join("svc.crt"), dir.path().join("svc.key"));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&private, key.signing_key.serialize_pem()).unwrap();
    let token = write_token(dir.path(), "svc-token-8d1e");
    let s = Service::start(&[
        ("SYSTEM_STATS_TLS_CERT", cert.to_str().unwrap()),
        ("SYSTEM_STATS_TLS_KEY", private.to_str().unwrap()),
        ("SYSTEM_STATS_AUTH_TOKEN_FILE", token.to_str().unwrap()),
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.3"),
    ]);
    let receiver = Receiver::start(Mode::Accept);
    let file = dir.path().join("forward.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\nurl = \"https://localhost:{}/system\"\nca_file = \"{}\"\n\n\
             [destination.home]\nurl = \"{}\"\nheaders = {{ \"X-Scope-OrgID\" = \"home\", \"X-Api-Key\" = \"key-77\" }}\n",
            s.addr.port(),
            cert.display(),
            receiver.url()
        ),
    )
    .unwrap();
    let spool = dir.path().join("spool");
    let f = forwarder(&[
        ("SYSTEM_STATS_FORWARD_CONFIG", file.to_str().unwrap()),
        ("SYSTEM_STATS_AUTH_TOKEN_FILE", token.to_str().unwrap()),
        ("SYSTEM_STATS_SPOOL_DIR", spool.to_str().unwrap()),
    ]);
    let got = receiver.wait_accepted(2, Duration::from_secs(20));
    assert!(got[0]["details"]["memory"].is_object(), "{}", got[0]);
    let headers = receiver.headers();
    let value = |name: &str| headers[0].iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(value("x-scope-orgid").as_deref(), Some("home"));
    assert_eq!(value("x-api-key").as_deref(), Some("key-77"));
    assert!(!f.log().contains("svc-token-8d1e") && !f.log().contains("key-77"), "{}", f.log());
    drop(f);

    // the same without the token: the service says 401 and the forwarder says so
    let f = forwarder(&[
        ("SYSTEM_STATS_FORWARD_CONFIG", file.to_str().unwrap()),
        ("SYSTEM_STATS_SPOOL_DIR", dir.path().join("spool2").to_str().unwrap()),
    ]);
    let line = f.wait_for_line("HTTP 401");
    assert!(line.contains("SYSTEM_STATS_AUTH_TOKEN_FILE"), "{line}");
    // and without the CA: the certificate is not trusted
    let f = forwarder(&[
        ("SYSTEM_STATS_URL", &format!("https://localhost:{}/system", s.addr.port())),
        ("MONITORING_SERVER_METRICS_URL", &receiver.url()),
        ("SYSTEM_STATS_AUTH_TOKEN_FILE", token.to_str().unwrap()),
        ("SYSTEM_STATS_SPOOL_DIR", dir.path().join("spool3").to_str().unwrap()),
    ]);
    let line = f.wait_for_line("no sample this tick");
    assert!(line.contains("invalid peer certificate"), "{line}");
}

/// Bad credentials settings stop the forwarder with one line naming the setting.
#[test]
fn bad_forwarder_credentials_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let token = write_token(dir.path(), "t");
    let conf = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![(
                "SYSTEM_STATS_FORWARD_CONFIG",
                conf("a.toml", "[destination.x]\nurl = \"http://h/\"\ntoken = \"t\"\n"),
            )],
            "unknown field `token`",
        ),
        (vec![("SYSTEM_STATS_FORWARD_CONFIG", "/nonexistent.toml".into())], "SYSTEM_STATS_FORWARD_CONFIG"),
        (
            vec![
                ("SYSTEM_STATS_FORWARD_CONFIG", conf("b.toml", "[source]\nurl = \"http://127.0.0.1:5001/system\"\n")),
                ("SYSTEM_STATS_URL", "http://127.0.0.1:5002/system".into()),
            ],
            "set it in one place",
        ),
        (
            vec![
                (
                    "SYSTEM_STATS_FORWARD_CONFIG",
                    conf(
                        "c.toml",
                        &format!(
                            "[source]\nurl = \"http://127.0.0.1:5001/system\"\ntoken_file = \"{}\"\n",
                            token.display()
                        ),
                    ),
                ),
                ("SYSTEM_STATS_AUTH_TOKEN_FILE", token.to_str().unwrap().into()),
            ],
            "set it in one place",
        ),
        (vec![("MONITORING_SERVER_METRICS_URL", "http://:pw@127.0.0.1:5050/metrics".into())], "user name"),
        (vec![("SYSTEM_STATS_URL", "http://u:p@127.0.0.1:5001/system".into())], "only taken in a destination"),
    ];
    for (envs, says) in cases {
        let mut cmd = clean_command(forwarder_bin());
        cmd.arg("--dry-run").envs(envs.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{envs:?}: {err}");
        assert!(err.contains(says), "{envs:?}: {err}");
    }
}
