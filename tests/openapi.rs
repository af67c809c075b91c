//! `/openapi.json` describes what the service really answers: real responses (this machine,
//! the Pi fixture, a 404, /health) validate against the document's schemas, which require
//! every key and forbid undocumented ones. `/docs` renders it in a real headless browser
//! with no network but the service's own port.

mod common;

use std::process::Command;

use common::{Service, request};
use serde_json::{Value, json};

/// A validator for `#/components/schemas/<name>` of the document.
fn validator(doc: &Value, name: &str) -> jsonschema::Validator {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema {name}: {e}"))
}

fn assert_valid(doc: &Value, name: &str, instance: &Value) {
    let v = validator(doc, name);
    let errors: Vec<String> = v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}");
}

#[test]
fn the_document_lists_every_endpoint() {
    let s = Service::start(&[]);
    let doc = s.json("/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/", "/docs", "/events", "/health", "/history", "/metrics", "/openapi.json", "/system"]);
    assert!(doc["components"]["schemas"]["Snapshot"]["required"].as_array().unwrap().len() >= 14);
}

/// Real responses validate: /system here and on the Pi tree, /health, a 404's body.
#[test]
fn real_responses_validate_against_the_document() {
    let s = Service::start(&[]);
    let doc = s.json("/openapi.json");
    assert_valid(&doc, "Snapshot", &s.json("/system"));
    assert_valid(&doc, "HealthOk", &s.json("/health"));
    let missing: Value = serde_json::from_str(&request(s.addr, "GET", "/nope").body).unwrap();
    assert_valid(&doc, "ErrorBody", &missing);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let history = s.json("/history?window=5m");
    assert!(history["times"].as_array().unwrap().len() >= 2, "{history}");
    assert_valid(&doc, "HistoryDoc", &history);
    let bad: Value = serde_json::from_str(&request(s.addr, "GET", "/history?window=x").body).unwrap();
    assert_valid(&doc, "ErrorBody", &bad);

    let pi = Service::on_fixture(&common::repo().join("tests/fixtures/raspberrypi4-aarch64"), &[]);
    let snapshot = pi.json("/system");
    assert!(snapshot["raspberry_pi"].is_object() && !snapshot["sensors"]["cpu_thermal"].as_array().unwrap().is_empty());
    assert_valid(&doc, "Snapshot", &snapshot);

    // drive health, every kind of drive (tests/fixtures/smartctl through the stand-in smartctl)
    let dir = tempfile::tempdir().unwrap();
    let drives = [
        ("sda", "sat", "ata_hdd_reallocated"),
        ("nvme0", "nvme", "nvme_failing"),
        ("sdb", "scsi", "sas_hitachi"),
        ("sdc", "sat", "ata_standby"),
        ("vda", "auto", "virtio_unreadable"),
    ];
    common::smartctl::drives(dir.path(), &drives);
    let s = common::smartctl::service(dir.path(), &[]);
    common::smartctl::wait_health(&s, "five drives", |l| l.len() == drives.len());
    let with_drives = s.json("/system");
    assert_eq!(with_drives["disk_health"].as_array().unwrap().len(), drives.len());
    assert_valid(&doc, "Snapshot", &with_drives);

    // the validation bites: a missing key, a wrong type and an undocumented key all fail
    let v = validator(&doc, "Snapshot");
    let mut broken = snapshot.clone();
    broken["memory"].as_object_mut().unwrap().remove("slab");
    assert!(!v.is_valid(&broken));
    let mut broken = snapshot.clone();
    broken["cpu"]["percent"] = json!("12%");
    assert!(!v.is_valid(&broken));
    let mut broken = snapshot;
    broken["uptime"]["extra"] = json!(1);
    assert!(!v.is_valid(&broken));
}

/// /docs, opened in headless Chromium with the network limited to the service: it renders
/// every endpoint and schema from /openapi.json, and loads nothing from anywhere else.
#[test]
fn docs_render_offline_in_a_browser() {
    let s = Service::start(&[]);
    let html = s.get("/docs");
    assert_eq!(html.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(
        !html.body.contains("http://") && !html.body.contains("https://") && !html.body.contains("//cdn"),
        "external reference"
    );
    if Command::new("chromium").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(),
            "chromium is required (scripts/test installs it)"
        );
        eprintln!("SKIPPED: chromium is not installed");
        return;
    }
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            // anything but the service itself is unreachable
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://{}/docs", s.addr))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    for path in ["/system", "/health", "/metrics", "/openapi.json", "/docs"] {
        assert!(dom.contains(&format!("<code>{path}</code>")), "{path} not rendered:\n{dom}");
    }
    for schema in ["Snapshot", "Cpu", "NetInterface", "RaspberryPi"] {
        assert!(dom.contains(&format!("id=\"schema-{schema}\"")), "schema {schema} not rendered");
    }
    assert!(!dom.contains("id=\"about\">Could not load"), "{dom}");
    assert!(dom.contains("<a href=\"/\" id=\"live-page\">"), "no link to the live page");
}
