//! The textfile collector, against node_exporter's own on the same directory (Debian's
//! prometheus-node-exporter, `--collector.textfile.directory`), both read by Python's
//! prometheus_client; broken, conflicting, empty and vanishing files; and one of Debian's
//! prometheus-node-exporter-collectors scripts run as its systemd unit runs it, its series
//! served, clean for promtool, and pushed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver};
use common::{Running, Service, available, free_port, start_forwarder, wait_http};
use serde_json::Value;

/// Every family and sample of a text, as Python's prometheus_client reads it:
/// `name → (type, help)` and `(sample name, labels) → value` (as text: NaN compares).
type Read = (BTreeMap<String, (String, String)>, BTreeMap<(String, BTreeMap<String, String>), String>);

fn python_reads(text: &str) -> Read {
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = {"families": {}, "samples": []}
for f in text_string_to_metric_families(sys.stdin.read()):
    out["families"][f.name] = [f.type, f.documentation]
    for s in f.samples:
        out["samples"].append([s.name, s.labels, repr(float(s.value))])
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let families = v["families"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| (k.clone(), (t[0].as_str().unwrap().into(), t[1].as_str().unwrap().into())))
        .collect();
    let samples = v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels =
                s[1].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().into())).collect();
            ((s[0].as_str().unwrap().to_string(), labels), s[2].as_str().unwrap().to_string())
        })
        .collect();
    (families, samples)
}

fn python_available() -> bool {
    let ok =
        Command::new("python3").args(["-c", "import prometheus_client"]).output().is_ok_and(|o| o.status.success());
    assert!(ok || std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "python3 prometheus_client is required");
    if !ok {
        eprintln!("SKIPPED: pip install prometheus-client");
    }
    ok
}

/// node_exporter with only its textfile collector, on `dir`.
fn node_exporter(dir: &Path) -> (Running, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address={addr}"))
        .arg("--collector.disable-defaults")
        .arg("--collector.textfile")
        .arg(format!("--collector.textfile.directory={}", dir.display()));
    let run = Running::spawn(cmd);
    wait_http(&addr, "/metrics");
    (run, addr)
}

fn service(dir: &Path) -> Service {
    Service::start(&[
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2"),
        ("SYSTEM_STATS_TEXTFILE_DIRECTORY", dir.to_str().unwrap()),
    ])
}

/// What node_exporter serves of a directory of text files, we serve: the same families with
/// the same type and help, the same samples and values, the same mtimes and error flag.
/// Files: valid ones (label sets that differ within a family, no HELP, a counter without
/// `_total`, a summary, a histogram, a hidden file), an empty one, broken ones (bad syntax,
/// timestamps, a TYPE after its samples) and a file that is not `*.prom`.
#[test]
fn the_same_files_give_what_node_exporter_gives() {
    if !available("prometheus-node-exporter", "--version") || !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "good.prom",
            "# HELP backup_ok Whether the last backup worked.\n# TYPE backup_ok gauge\nbackup_ok{target=\"nas\"} 1\n\
             backup_ok{disk=\"usb\"} 0\nraid_degraded 0\n# TYPE jobs_run counter\njobs_run 12\n\
             # HELP rpc_seconds RPC latency.\n# TYPE rpc_seconds summary\nrpc_seconds{quantile=\"0.5\",op=\"get\"} 0.2\n\
             rpc_seconds{quantile=\"0.9\"} 0.7\nrpc_seconds_sum 12.5\nrpc_seconds_count 40\n\
             # TYPE size_bytes histogram\nsize_bytes_bucket{le=\"1024\"} 3\nsize_bytes_bucket{le=\"+Inf\"} 5\n\
             size_bytes_sum 9000\nsize_bytes_count 5\nsize_bytes_bucket{le=\"10\",zone=\"b\"} 1\nsize_bytes_count{zone=\"b\"} 2\nweird{v=\"a \\\"quoted\\\" \\\\ value\\n\"} NaN\n",
        ),
        (".hidden.prom", "hidden_metric 3\n"),
        ("empty.prom", ""),
        ("bad.prom", "ok_before 1\nbroken{ 1\n"),
        ("stamped.prom", "stamped 1 1700000000000\n"),
        ("late.prom", "late 1\n# TYPE late counter\n"),
        ("notes.txt", "not_read 1\n"),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let (_ne, ne) = node_exporter(dir.path());
    let s = service(dir.path());
    let theirs = python_reads(&common::request(ne.parse().unwrap(), "GET", "/metrics").body);
    let ours = python_reads(&s.get("/metrics").body);
    let names: BTreeSet<&str> = [
        "backup_ok",
        "raid_degraded",
        "jobs_run",
        "rpc_seconds",
        "size_bytes",
        "weird",
        "hidden_metric",
        "node_textfile_mtime_seconds",
        "node_textfile_scrape_error",
        "ok_before",
        "stamped",
        "late",
        "not_read",
    ]
    .into();
    let keep_families = |r: &Read| -> BTreeMap<String, (String, String)> {
        r.0.iter().filter(|(n, _)| names.contains(n.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let family = |s: &str| names.iter().find(|n| s.starts_with(**n)).is_some();
    let keep_samples = |r: &Read| -> BTreeMap<(String, BTreeMap<String, String>), String> {
        r.1.iter().filter(|((n, _), _)| family(n)).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    assert_eq!(keep_families(&ours), keep_families(&theirs));
    assert_eq!(keep_samples(&ours), keep_samples(&theirs));
    // and what that means
    let samples = keep_samples(&ours);
    let error = samples.iter().find(|((n, _), _)| n == "node_textfile_scrape_error").unwrap().1;
    assert_eq!(error, "1.0");
    let mtimes = samples.keys().filter(|(n, _)| n == "node_textfile_mtime_seconds").count();
    assert_eq!(mtimes, 3, "good, .hidden and empty: {samples:#?}");
    assert!(!samples.keys().any(|(n, _)| n == "ok_before" || n == "stamped" || n == "late" || n == "not_read"));
    // each broken file named once, with the line
    std::thread::sleep(Duration::from_millis(600));
    let _ = s.get("/metrics");
    let bad = s.run.lines_with("bad.prom");
    assert_eq!(bad.len(), 1, "{}", s.run.log());
    assert!(bad[0].contains("ERROR") && bad[0].contains("line 2"), "{}", bad[0]);
    assert_eq!(s.run.lines_with("stamped.prom").len(), 1);
}

/// A file that redefines one of our series is refused, as node_exporter refuses a series two
/// collectors define (its registry drops one of them; we keep ours), one ERROR naming the
/// file, the rest of the file served; a file that vanishes takes its series with it; one
/// fixed is served again, its error gone.
#[test]
fn conflicts_refused_vanishing_files_gone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clash.prom"), "node_load1 42\nmine 7\n").unwrap();
    std::fs::write(dir.path().join("later.prom"), "broken{\n").unwrap();
    let s = service(dir.path());
    let value = |text: &str, name: &str| -> Option<String> {
        text.lines().find(|l| l.starts_with(&format!("{name} "))).map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    let text = s.get("/metrics").body;
    assert_ne!(value(&text, "node_load1").as_deref(), Some("42"), "our node_load1 is kept");
    assert_eq!(text.lines().filter(|l| l.starts_with("node_load1 ")).count(), 1);
    assert_eq!(value(&text, "mine").as_deref(), Some("7"));
    assert_eq!(value(&text, "node_textfile_scrape_error").as_deref(), Some("1"));
    let said = s.run.wait_for_line("redefines node_load1");
    assert!(said.contains("ERROR") && said.contains("clash.prom"), "{said}");
    // fixed, and removed
    std::fs::write(dir.path().join("later.prom"), "later_fixed 3\n").unwrap();
    std::fs::remove_file(dir.path().join("clash.prom")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = s.get("/metrics").body;
        if value(&text, "later_fixed").is_some() {
            assert_eq!(value(&text, "mine"), None, "a vanished file's series stay");
            assert_eq!(value(&text, "node_textfile_scrape_error").as_deref(), Some("0"));
            assert!(!text.contains("clash.prom"));
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.run.lines_with("redefines node_load1").len(), 1, "said once: {}", s.run.log());
}

/// Debian's prometheus-node-exporter-collectors: its apt script, run as its systemd unit runs
/// it (`apt_info.py | sponge <dir>/apt.prom`), feeds us unchanged: its series are served,
/// promtool finds nothing in them, and a remote-write destination gets them.
#[test]
fn debian_collectors_feed_us_unchanged() {
    let script = Path::new("/usr/share/prometheus-node-exporter-collectors/apt_info.py");
    if !script.exists() {
        assert!(
            std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(),
            "prometheus-node-exporter-collectors (and python3-apt, moreutils) are required"
        );
        eprintln!("SKIPPED: prometheus-node-exporter-collectors is not installed");
        return;
    }
    if !available("promtool", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("/bin/bash")
        .arg("-c")
        .arg(format!("{} | sponge {}/apt.prom", script.display(), dir.path().display()))
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = service(dir.path());
    let text = s.get("/metrics").body;
    for name in ["apt_upgrades_pending", "apt_autoremove_pending", "node_reboot_required"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name}");
    }
    assert!(text.contains("node_textfile_scrape_error 0"));
    // promtool on the file's families, as we serve them
    let theirs: Vec<&str> = text
        .lines()
        .filter(|l| {
            let name = l.trim_start_matches("# HELP ").trim_start_matches("# TYPE ");
            name.starts_with("apt_") || name.starts_with("node_reboot_required")
        })
        .collect();
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), (theirs.join("\n") + "\n").as_bytes()).unwrap();
    let lint = child.wait_with_output().unwrap();
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    // pushed
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let _f =
        start_forwarder(&format!("http://{}/system", s.addr), &format!("remote-write+{}", r.url()), spool.path(), &[]);
    let got = r.wait_accepted(1, Duration::from_secs(15));
    let names: Vec<&str> = got[0]["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(names.contains(&"apt_upgrades_pending") && names.contains(&"node_textfile_mtime_seconds"), "{names:?}");
}
