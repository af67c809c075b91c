//! The forwarder delivering the service's alerts (`SYSTEM_STATS_NOTIFY_URLS`): statix's
//! webhook body, firing then resolved, each once; nothing lost nor told twice across a
//! receiver outage and `kill -9`; a flapping alert told once per cooldown; and a real
//! Alertmanager (Debian's `prometheus-alertmanager`) holding the alert while it fires and
//! resolving it after.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver};
use common::{Running, Service, available, clean_command, forwarder_bin, free_port, wait_http};
use serde_json::Value;

/// A forwarder with notification destinations only (an empty MONITORING_SERVER_METRICS_URL
/// is no setting: no sample destination).
fn notifier(source: &str, notify: &str, spool: &std::path::Path, extra: &[(&str, &str)]) -> Running {
    let mut env = vec![("SYSTEM_STATS_NOTIFY_URLS", notify)];
    env.extend_from_slice(extra);
    common::start_forwarder(source, "", spool, &env)
}

/// The service on `port`, its RAM threshold at `ram` percent (fires at once: memory is in
/// use) or off.
fn service_on(port: u16, ram: Option<&str>) -> Service {
    let port = port.to_string();
    let mut envs = vec![("SYSTEM_STATS_PORT", port.as_str()), ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")];
    if let Some(t) = ram {
        envs.push(("SYSTEM_STATS_ALERT_RAM_THRESHOLD", t));
    }
    let s = Service::start(&envs);
    wait_http(&s.addr.to_string(), "/health");
    s
}

fn states(r: &Receiver) -> Vec<(String, String)> {
    r.accepted()
        .iter()
        .filter(|p| p["alertname"] == "HostRamThreshold")
        .map(|p| (p["state"].as_str().unwrap_or("").to_string(), p["fired_at"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn wait_states(r: &Receiver, n: usize, limit: Duration) -> Vec<(String, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let got = states(r);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// statix's body: hostname, metric `ram`, value (two decimals), threshold, timestamp; firing
/// once while the alert fires, resolved once when the service no longer reports it.
#[test]
fn a_webhook_hears_firing_then_resolved_once_each() {
    let port = free_port();
    let s = service_on(port, Some("1"));
    let r = Receiver::start(Mode::AnyJson);
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let f = notifier(&source, &format!("webhook+{}", r.url()), spool.path(), &[]);
    let got = wait_states(&r, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "{:?}\n{}", r.accepted(), f.log());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(states(&r).len(), 1, "the firing alert was told again: {:?}", r.accepted());
    let p = &r.accepted()[0];
    assert_eq!(
        (p["metric"].as_str(), p["threshold"].as_f64(), p["state"].as_str()),
        (Some("ram"), Some(1.0), Some("firing"))
    );
    let system = s.json("/system");
    assert_eq!(p["hostname"], system["system"]["hostname"]);
    let value = p["value"].as_f64().unwrap();
    assert!(value >= 1.0 && (value * 100.0).fract().abs() < 1e-9, "{value}");
    let fired = system["alerts"].as_array().unwrap().iter().find(|a| a["name"] == "HostRamThreshold").unwrap().clone();
    assert_eq!(p["fired_at"], fired["fired_at"]);
    let ts = chrono::DateTime::parse_from_rfc3339(fired["fired_at"].as_str().unwrap()).unwrap().timestamp() as f64;
    assert_eq!(p["timestamp"].as_f64(), Some(ts));
    // the service restarted without the threshold: the alert is gone, so resolved
    drop(s);
    let _s = service_on(port, None);
    let got = wait_states(&r, 2, Duration::from_secs(10));
    assert_eq!(got.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["firing", "resolved"], "{:?}", r.accepted());
    let resolved = &r.accepted()[1];
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(states(&r).len(), 2, "told again: {:?}", r.accepted());
}

/// The receiver down while the alert fires: the notice waits in the spool through `kill -9`
/// and a restart of the forwarder, then arrives once.
#[test]
fn a_notice_survives_an_outage_and_kill_9_and_arrives_once() {
    let port = free_port();
    let _s = service_on(port, Some("1"));
    let mut r = Receiver::start(Mode::AnyJson);
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let notify = format!("webhook+{}", r.url());
    let mut f = notifier(&source, &notify, spool.path(), &[]);
    f.wait_for_line("alert notice(s) spooled");
    std::thread::sleep(Duration::from_millis(600));
    f.signal(libc::SIGKILL);
    f.wait_exit(Duration::from_secs(5)).expect("killed");
    // a second forwarder on the same spool, killed too: told already, nothing new
    let mut g = notifier(&source, &notify, spool.path(), &[]);
    std::thread::sleep(Duration::from_millis(800));
    assert!(g.lines_with("alert notice(s) spooled").is_empty(), "spooled again after a restart:\n{}", g.log());
    g.signal(libc::SIGKILL);
    g.wait_exit(Duration::from_secs(5)).expect("killed");
    r.come_back(Mode::AnyJson);
    let _h = notifier(&source, &notify, spool.path(), &[]);
    let got = wait_states(&r, 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(states(&r), got, "told twice");
    assert_eq!(got.len(), 1, "{:?}", r.accepted());
    assert_eq!(got[0].0, "firing");
}

/// An alert that keeps resolving and firing again (the service restarted over and over) is
/// told once per cooldown, and a resolution only for a firing told.
#[test]
fn a_flapping_alert_is_told_once_per_cooldown() {
    let port = free_port();
    let r = Receiver::start(Mode::AnyJson);
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let _f =
        notifier(&source, &format!("webhook+{}", r.url()), spool.path(), &[("SYSTEM_STATS_ALERT_COOLDOWN", "3600")]);
    for _ in 0..3 {
        let on = service_on(port, Some("1"));
        std::thread::sleep(Duration::from_millis(800));
        drop(on);
        let off = service_on(port, None);
        std::thread::sleep(Duration::from_millis(800));
        drop(off);
    }
    let got: Vec<String> = states(&r).into_iter().map(|(s, _)| s).collect();
    assert_eq!(got, ["firing", "resolved"], "{:?}", r.accepted());
}

/// Settings: notification URLs alone make a valid forwarder; a sample format there is refused.
#[test]
fn notification_urls_are_checked() {
    let out = clean_command(forwarder_bin())
        .env("SYSTEM_STATS_NOTIFY_URLS", "remote-write+http://127.0.0.1:9/api/v1/write")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid SYSTEM_STATS_NOTIFY_URLS=") && err.contains("is a remote-write destination"),
        "{err}"
    );
    let spool = tempfile::tempdir().unwrap();
    let f = notifier("http://127.0.0.1:9/system", "http://127.0.0.1:9/hook", spool.path(), &[]);
    let line = f.wait_for_line("forwarding ");
    assert!(line.contains("1 destination(s) (http://127.0.0.1:9/hook)"), "{line}");
}

/// A real Alertmanager: the alert is active there with our labels (instance, severity) while
/// it fires, re-sent so that it stays active past its `endsAt` window, and resolved after.
#[test]
fn alertmanager_holds_the_alert_while_it_fires() {
    if !available("prometheus-alertmanager", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("am.yml");
    // Alertmanager's own webhook receiver: what it notifies after grouping
    let hook = Receiver::start(Mode::AnyJson);
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, instance]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: http://{}/hook\n        send_resolved: true\n",
            hook.addr
        ),
    )
    .unwrap();
    let am_port = free_port();
    let mut am = Command::new("prometheus-alertmanager");
    am.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn");
    let _am = Running::spawn(am);
    let am_addr = format!("127.0.0.1:{am_port}");
    wait_http(&am_addr, "/-/ready");
    let active = || -> Vec<Value> {
        let r = common::request(
            am_addr.parse().unwrap(),
            "GET",
            "/api/v2/alerts?active=true&silenced=false&inhibited=false",
        );
        let all: Vec<Value> = serde_json::from_str(&r.body).unwrap_or_default();
        all.into_iter().filter(|a| a["labels"]["alertname"] == "HostRamThreshold").collect()
    };
    let port = free_port();
    let s = service_on(port, Some("1"));
    let hostname = s.json("/system")["system"]["hostname"].as_str().unwrap().to_string();
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let f = notifier(&source, &format!("alertmanager+http://{am_addr}"), spool.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let alert = loop {
        if let Some(a) = active().into_iter().next() {
            break a;
        }
        assert!(Instant::now() < deadline, "not active in Alertmanager:\n{}", f.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert["labels"]["instance"], hostname);
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["job"], "system-stats");
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(alert["generatorURL"], format!("http://127.0.0.1:{port}/"));
    assert!(alert["annotations"]["summary"].as_str().unwrap().starts_with("RAM at "), "{alert}");
    let ends = chrono::DateTime::parse_from_rfc3339(alert["endsAt"].as_str().unwrap()).unwrap();
    let left = ends.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((200..=245).contains(&left), "endsAt {left} s ahead");
    // Alertmanager grouped it and notified its own receiver
    let notified = |status: &str| {
        hook.accepted().iter().any(|n| {
            n["status"] == status
                && n["alerts"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|a| a["labels"]["alertname"] == "HostRamThreshold" && a["labels"]["instance"] == hostname)
                })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !notified("firing") {
        assert!(Instant::now() < deadline, "Alertmanager notified nothing: {:?}", hook.accepted());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(hook.accepted()[0]["groupLabels"]["alertname"], "HostRamThreshold");
    // resolved: the service no longer reports it
    drop(s);
    let _s = service_on(port, None);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !active().is_empty() {
        assert!(Instant::now() < deadline, "still active:\n{}", f.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !notified("resolved") {
        assert!(Instant::now() < deadline, "no resolved notification: {:?}", hook.accepted());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Each notice's requests at a receiver: (path, body), for the HostRamThreshold alert.
fn requests_of(r: &Receiver) -> Vec<(String, Value)> {
    r.paths().into_iter().zip(r.accepted()).collect()
}

fn wait_requests(r: &Receiver, n: usize) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while r.accepted().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    requests_of(r)
}

/// ntfy, Gotify and Mattermost, whose Shoutrrr URLs name their server: each gets its own
/// body (ntfy's JSON publish with topic, title, priority and tags; Gotify's message with
/// its key in a header; Mattermost's hook with username and channel), firing then resolved.
#[test]
fn chat_services_get_their_own_bodies() {
    let port = free_port();
    let s = service_on(port, Some("1"));
    let (ntfy, gotify, mattermost) =
        (Receiver::start(Mode::AnyJson), Receiver::start(Mode::AnyJson), Receiver::start(Mode::AnyJson));
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let urls = format!(
        "ntfy://alice:pw@{}/ops?scheme=http&tags=pi,{}",
        ntfy.addr,
        // the comma inside a URL's query is not a list separator
        format_args!(
            "gotify://{}/gw/G0tifyKey?disabletls=yes,mattermost://bot@{}/m4tt3rm0st/town-square?disabletls=yes",
            gotify.addr, mattermost.addr
        )
    );
    let f = notifier(&source, &urls, spool.path(), &[]);
    let line = f.wait_for_line("forwarding ");
    assert!(line.contains("to 3 destination(s)"), "{line}");
    assert!(!line.contains("G0tifyKey") && !line.contains("m4tt3rm0st"), "a secret in the log: {line}");
    let hostname = s.json("/system")["system"]["hostname"].as_str().unwrap().to_string();
    let n = wait_requests(&ntfy, 1);
    assert_eq!(n.len(), 1, "{n:?}\n{}", f.log());
    assert_eq!(n[0].0, "/");
    let body = &n[0].1;
    assert_eq!(body["topic"], "ops");
    assert_eq!(body["title"], format!("{hostname}: HostRamThreshold"));
    assert!(
        body["message"].as_str().unwrap().starts_with(&format!("[FIRING] HostRamThreshold on {hostname}: RAM at ")),
        "{body}"
    );
    assert_eq!(body["priority"], 4);
    assert_eq!(body["tags"], serde_json::json!(["warning", "pi"]));
    let auth = ntfy.headers()[0].iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.clone());
    assert_eq!(auth.as_deref(), Some("Basic YWxpY2U6cHc="), "alice:pw");
    let g = wait_requests(&gotify, 1);
    assert_eq!(g[0].0, "/gw/message");
    assert_eq!((g[0].1["priority"].as_u64(), g[0].1["title"].as_str().is_some()), (Some(5), true));
    let key = gotify.headers()[0].iter().find(|(k, _)| k == "x-gotify-key").map(|(_, v)| v.clone());
    assert_eq!(key.as_deref(), Some("G0tifyKey"));
    let m = wait_requests(&mattermost, 1);
    assert_eq!(m[0].0, "/hooks/m4tt3rm0st");
    assert_eq!((m[0].1["username"].as_str(), m[0].1["channel"].as_str()), (Some("bot"), Some("town-square")));
    // resolved: each hears it once
    drop(s);
    let _s = service_on(port, None);
    for r in [&ntfy, &gotify, &mattermost] {
        let got = wait_requests(r, 2);
        assert_eq!(got.len(), 2, "{got:?}");
        let text = got[1].1.to_string();
        assert!(text.contains("[RESOLVED] HostRamThreshold"), "{text}");
    }
    let n = wait_requests(&ntfy, 2);
    assert_eq!((n[1].1["priority"].as_u64(), n[1].1["tags"][0].as_str()), (Some(3), Some("white_check_mark")));
}

/// Slack, Discord and Telegram, whose Shoutrrr URLs name no server (theirs are fixed): the
/// forwarder runs in a mount namespace whose /etc/hosts sends their hosts to a local HTTPS
/// receiver, trusted through the destinations' ca_file in SYSTEM_STATS_FORWARD_CONFIG (where
/// the tokens are kept): each gets its API's path and body, Telegram once per chat.
#[test]
fn slack_discord_and_telegram_reach_their_apis() {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 || !available("unshare", "--version") {
        assert!(std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "needs root and unshare");
        return;
    }
    let names = ["hooks.slack.com", "slack.com", "discord.com", "api.telegram.org"];
    let (r, cert) = Receiver::start_tls_for(Mode::AnyJson, &names, "127.0.0.1:443");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert).unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1 localhost {}\n", names.join(" "))).unwrap();
    let config = dir.path().join("forward.toml");
    let ca = ca.display();
    std::fs::write(
        &config,
        format!(
            "[destination.slack]\nurl = \"slack://hook:T0001-B0002-XXXX@webhook\"\nca_file = \"{ca}\"\n\
             [destination.slackbot]\nurl = \"slack://xoxb:123-456-s3cr3t@C0CHAN\"\nca_file = \"{ca}\"\n\
             [destination.discord]\nurl = \"discord://d1sc0rd@987654\"\nca_file = \"{ca}\"\n\
             [destination.telegram]\nurl = \"telegram://110201543:AAHdq@telegram?chats=@ops,-100123\"\nca_file = \"{ca}\"\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let _s = service_on(port, Some("1"));
    let spool = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", "mount --bind \"$1\" /etc/hosts && exec \"$2\"", "sh"])
        .arg(&hosts)
        .arg(forwarder_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SYSTEM_STATS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("SYSTEM_STATS_URL", format!("http://127.0.0.1:{port}/system"))
        .env("SYSTEM_STATS_FORWARD_CONFIG", &config)
        .env("SYSTEM_STATS_SPOOL_DIR", spool.path())
        .env("SYSTEM_STATS_FORWARD_INTERVAL", "0.2");
    let f = Running::spawn(cmd);
    let line = f.wait_for_line("forwarding ");
    assert!(line.contains("to 5 destination(s)"), "{line}");
    for secret in ["s3cr3t", "d1sc0rd", "AAHdq", "XXXX"] {
        assert!(!f.log().contains(secret), "{secret} in the log:\n{}", f.log());
    }
    let got = wait_requests(&r, 5);
    let mut paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/api/chat.postMessage",
            "/api/webhooks/987654/d1sc0rd",
            "/bot110201543:AAHdq/sendMessage",
            "/bot110201543:AAHdq/sendMessage",
            "/services/T0001/B0002/XXXX"
        ],
        "{}",
        f.log()
    );
    let body = |path: &str| got.iter().filter(|(p, _)| p == path).map(|(_, b)| b.clone()).collect::<Vec<_>>();
    assert!(body("/services/T0001/B0002/XXXX")[0]["text"].as_str().unwrap().starts_with("[FIRING] HostRamThreshold"));
    assert_eq!(body("/api/chat.postMessage")[0]["channel"], "C0CHAN");
    assert!(body("/api/webhooks/987654/d1sc0rd")[0]["content"].as_str().unwrap().contains("RAM at "));
    let mut chats: Vec<String> =
        body("/bot110201543:AAHdq/sendMessage").iter().map(|b| b["chat_id"].as_str().unwrap().to_string()).collect();
    chats.sort();
    assert_eq!(chats, ["-100123", "@ops"]);
    let bearer = r.headers().iter().flatten().any(|(k, v)| k == "authorization" && v == "Bearer xoxb-123-456-s3cr3t");
    assert!(bearer, "the Slack bot token is not sent");
}

/// A real mail server (aiosmtpd) requiring STARTTLS then AUTH, and one speaking TLS from the
/// first byte: each gets the notices as mail from the URL's sender to its recipients, with
/// the password sent only inside TLS; a wrong password is a setting to fix (logged), not a
/// message dropped: the notice waits and goes once the password is right.
#[test]
fn e_mail_over_starttls_and_tls_with_authentication() {
    let smtpd = Command::new("/usr/bin/python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
    if !smtpd {
        assert!(
            std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(),
            "python3-aiosmtpd is required (scripts/test installs it)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, pkey) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&pkey, key.signing_key.serialize_pem()).unwrap();
    let server = |mode: &str, out: &std::path::Path| {
        let port = free_port();
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(common::repo().join("tests/support/smtp_server.py"))
            .arg(port.to_string())
            .arg(mode)
            .arg(&cert)
            .arg(&pkey)
            .args(["alerts@example.org", "s3cret pass"])
            .arg(out);
        let run = Running::spawn(cmd);
        run.wait_for_line("ready");
        (run, port)
    };
    let (starttls_out, tls_out) = (dir.path().join("starttls.jsonl"), dir.path().join("tls.jsonl"));
    let (_a, starttls_port) = server("starttls", &starttls_out);
    let (_b, tls_port) = server("implicit", &tls_out);
    let config = dir.path().join("forward.toml");
    let ca = cert.display();
    std::fs::write(
        &config,
        format!(
            "[destination.starttls]\nurl = \"smtp://alerts%40example.org:WRONG@localhost:{starttls_port}/?from=pi@example.org&to=ops@example.org,me@example.org\"\nca_file = \"{ca}\"\n\
             [destination.tls]\nurl = \"smtp://alerts%40example.org:s3cret%20pass@localhost:{tls_port}/?from=pi@example.org&to=ops@example.org&encryption=implicittls&subject=pi\"\nca_file = \"{ca}\"\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let s = service_on(port, Some("1"));
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let mut cmd = clean_command(forwarder_bin());
    cmd.env("SYSTEM_STATS_URL", &source)
        .env("SYSTEM_STATS_FORWARD_CONFIG", &config)
        .env("SYSTEM_STATS_SPOOL_DIR", spool.path())
        .env("SYSTEM_STATS_FORWARD_INTERVAL", "0.2");
    let f = Running::spawn(cmd);
    f.wait_for_line("forwarding ");
    let read = |path: &std::path::Path| -> Vec<Value> {
        std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let wait = |path: &std::path::Path, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while read(path).len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        read(path)
    };
    let got = wait(&tls_out, 1);
    assert_eq!(got.len(), 1, "{}", f.log());
    assert_eq!(got[0]["tls"], true);
    assert_eq!(got[0]["from"], "pi@example.org");
    assert_eq!(got[0]["to"], serde_json::json!(["ops@example.org"]));
    assert_eq!(got[0]["subject"], "[FIRING] pi");
    let body = got[0]["body"].as_str().unwrap();
    assert!(
        body.starts_with("[FIRING] HostRamThreshold on ") && body.contains("condition: memory.used_percent >= 1"),
        "{body}"
    );
    // the wrong password: said, and the notice kept
    f.wait_for_line("535");
    assert!(read(&starttls_out).is_empty());
    // killed only once the delivered notice is out of its spool (the STARTTLS one stays): a
    // kill between the server's "250" and that removal sends it again, as any at-least-once
    // sender must, and is not what this test is about
    f.wait_for_line("backlog 1");
    drop(f);
    let fixed = std::fs::read_to_string(&config).unwrap().replace("WRONG", "s3cret%20pass");
    std::fs::write(&config, fixed).unwrap();
    let mut cmd = clean_command(forwarder_bin());
    cmd.env("SYSTEM_STATS_URL", &source)
        .env("SYSTEM_STATS_FORWARD_CONFIG", &config)
        .env("SYSTEM_STATS_SPOOL_DIR", spool.path())
        .env("SYSTEM_STATS_FORWARD_INTERVAL", "0.2");
    let g = Running::spawn(cmd);
    let got = wait(&starttls_out, 1);
    assert_eq!(got.len(), 1, "{}", g.log());
    assert_eq!((got[0]["tls"].as_bool(), got[0]["login"].as_str()), (Some(true), Some("alerts@example.org")));
    assert_eq!(got[0]["to"], serde_json::json!(["ops@example.org", "me@example.org"]));
    // resolved, once each
    drop(s);
    let _s = service_on(port, None);
    assert_eq!(wait(&starttls_out, 2).len(), 2);
    assert_eq!(wait(&tls_out, 2).len(), 2, "{}", g.log());
    assert!(read(&tls_out)[1]["subject"].as_str().unwrap().starts_with("[RESOLVED]"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!((read(&starttls_out).len(), read(&tls_out).len()), (2, 2), "told twice");
}
