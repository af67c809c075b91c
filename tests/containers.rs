//! The `containers` collector against a real Docker Engine: containers that burn CPU, hold
//! memory, publish a port, have exited; their list, states and figures checked against
//! `docker inspect` and the control-group files; a local registry for `update_available`;
//! and the engine missing, refusing, stopped or hung.
//!
//! Needs `dockerd` running and the `docker` client, `busybox-static` and `docker-registry`
//! (Debian packages); `scripts/test` installs them and starts `dockerd`. Nothing is pulled:
//! the image is a static busybox imported from a tarball.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Running, Service};
use serde_json::Value;

const SOCKET: &str = "/var/run/docker.sock";

/// The tests of this file share one engine and count its containers: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a Docker Engine can be used (in CI it must).
fn engine() -> bool {
    let ok = Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    assert!(ok || std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "a running dockerd is needed");
    if !ok {
        eprintln!("SKIPPED: no Docker Engine (apt-get install docker.io; dockerd &)");
    }
    ok
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Imports a tree holding a static busybox (and `extra` files) as `tag`.
fn import(tag: &str, extra: &[(&str, &str)]) {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(root.path().join("tmp")).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static (apt-get install busybox-static)");
    for cmd in ["sh", "sleep", "dd", "true", "cat"] {
        std::os::unix::fs::symlink("busybox", bin.join(cmd)).unwrap();
    }
    for (path, content) in extra {
        std::fs::write(root.path().join(path), content).unwrap();
    }
    let tar = Command::new("tar").arg("-C").arg(root.path()).arg("-c").arg(".").output().unwrap();
    let mut child = Command::new("docker")
        .args(["import", "-", tag])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
    assert!(child.wait().unwrap().success(), "docker import {tag}");
}

/// Containers of one test, removed when it ends.
struct Fleet {
    prefix: String,
}

impl Fleet {
    fn new(test: &str) -> Fleet {
        Fleet { prefix: format!("sst-{test}-{}", std::process::id()) }
    }

    fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    /// Starts a container; returns its full ID.
    fn run(&self, what: &str, image: &str, extra: &[&str], script: &str) -> String {
        let name = self.name(what);
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image, "/bin/sh", "-c", script]);
        docker(&args)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let ids = docker(&["ps", "-aq", "--filter", &format!("name={}", self.prefix)]);
        for id in ids.lines() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
    }
}

/// The container named `name` in a `/system` answer.
fn container<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["docker"]["containers"].as_array()?.iter().find(|c| c["name"] == name)
}

/// Polls `/system` until `done` holds.
fn wait_for(s: &Service, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = s.json("/system");
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {}", serde_json::to_string_pretty(&v["docker"]).unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The control-group directory of a container for `controller` (v1), or its v2 directory.
fn cgroup_dir(id: &str, controller: &str) -> PathBuf {
    let root = Path::new("/sys/fs/cgroup");
    let v2 = root.join("cgroup.controllers").exists();
    let base = if v2 { root.to_path_buf() } else { root.join(controller) };
    for candidate in [format!("docker/{id}"), format!("system.slice/docker-{id}.scope")] {
        if base.join(&candidate).is_dir() {
            return base.join(candidate);
        }
    }
    panic!("no control group for {id} under {}", base.display());
}

fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

/// Memory in use as docker stats counts it, from the cgroup files.
fn memory_in_use(id: &str) -> u64 {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = cgroup_dir(id, "memory");
    let (usage, key) = if v2 {
        (read_u64(&dir.join("memory.current")), "inactive_file ")
    } else {
        (read_u64(&dir.join("memory.usage_in_bytes")), "total_inactive_file ")
    };
    let stat = std::fs::read_to_string(dir.join("memory.stat")).unwrap();
    let inactive: u64 = stat.lines().find_map(|l| l.strip_prefix(key)?.trim().parse().ok()).unwrap_or(0);
    usage.saturating_sub(inactive)
}

/// Bytes received and sent by a process's network namespace, loopback left out.
fn net_of(pid: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap();
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let (name, rest) = line.split_once(':').unwrap();
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest.split_whitespace().map(|n| n.parse().unwrap()).collect();
        rx += f[0];
        tx += f[8];
    }
    (rx, tx)
}

/// Containers that burn CPU, hold memory, publish a port and have exited: the list, states,
/// figures and ports are what `docker inspect`, the control-group files and the network
/// namespace say; `/metrics` has them; a container stopped shows as exited, without figures.
#[test]
fn containers_are_listed_with_their_figures() {
    let _one = exclusive();
    if !engine() {
        return;
    }
    import("sst/busybox:1", &[]);
    let fleet = Fleet::new("figures");
    let burn = fleet.run("burn", "sst/busybox:1", &[], "while :; do :; done");
    let hog = fleet.run(
        "hog",
        "sst/busybox:1",
        &["-p", "127.0.0.1:18765:80"],
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=48; sleep 3600",
    );
    let done = fleet.run("done", "sst/busybox:1", &[], "exit 3");
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.5")]);
    let (burn_name, hog_name, done_name) = (fleet.name("burn"), fleet.name("hog"), fleet.name("done"));
    let v = wait_for(&s, "our three containers, burning and filled", |v| {
        container(v, &burn_name).is_some_and(|c| c["cpu_percent"].as_f64().is_some_and(|p| p > 50.0))
            && container(v, &hog_name).is_some_and(|c| c["memory_bytes"].as_u64().is_some_and(|m| m > 48 << 20))
            && container(v, &done_name).is_some_and(|c| c["state"] == "exited")
    });
    let d = &v["docker"];
    assert_eq!(d["available"], true);
    assert!(d["error"].is_null());
    let all = docker(&["ps", "-aq"]).lines().count() as u64;
    let running = docker(&["ps", "-q"]).lines().count() as u64;
    assert_eq!((d["total"].as_u64(), d["running"].as_u64()), (Some(all), Some(running)));
    for (id, name) in [(&burn, &burn_name), (&hog, &hog_name), (&done, &done_name)] {
        let c = container(&v, name).unwrap();
        assert_eq!(c["id"], id[..12], "{name}");
        assert_eq!(c["image"], "sst/busybox:1");
        let state = docker(&["inspect", "--format", "{{.State.Status}}", id]);
        assert_eq!(c["state"], state.as_str(), "{name}");
    }
    let b = container(&v, &burn_name).unwrap();
    assert!(b["status"].as_str().unwrap().starts_with("Up"), "{b}");
    assert!(container(&v, &done_name).unwrap()["status"].as_str().unwrap().starts_with("Exited (3)"));
    assert_eq!(container(&v, &hog_name).unwrap()["ports"], serde_json::json!(["127.0.0.1:18765->80/tcp"]));
    // the figures are the control group's and the network namespace's
    let h = container(&v, &hog_name).unwrap();
    let expected = memory_in_use(&hog);
    let got = h["memory_bytes"].as_u64().unwrap();
    assert!(got.abs_diff(expected) <= expected / 20, "hog: {got} vs cgroup {expected}");
    let host_total = v["memory"]["total"].as_u64().unwrap();
    assert_eq!(h["memory_limit_bytes"].as_u64(), Some(host_total), "no limit: the host's memory");
    let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &burn]);
    let (rx, tx) = net_of(&pid);
    let b = container(&s.json("/system"), &burn_name).unwrap().clone();
    assert!(b["net_rx_bytes"].as_u64().unwrap() <= rx && b["net_tx_bytes"].as_u64().unwrap() <= tx + 1);
    assert!(b["block_read_bytes"].is_u64() && b["block_write_bytes"].is_u64());
    let cpu_now =
        read_u64(&cgroup_dir(&burn, "cpuacct").join(if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "cpu.stat"
        } else {
            "cpuacct.usage"
        }));
    let ours = b["cpu_seconds_total"].as_f64().unwrap();
    assert!(ours > 0.0 && ours <= cpu_now as f64 / 1e9 + 0.5, "{ours} vs {cpu_now}");
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.contains(&format!(
            "container_cpu_usage_seconds_total{{id=\"{}\",image=\"sst/busybox:1\",name=\"{burn_name}\"}}",
            &burn[..12]
        )),
        "{metrics}"
    );
    assert!(metrics.contains("system_stats_docker_up 1"));
    // stopped: exited, no figures
    docker(&["stop", "-t", "0", &hog]);
    let v = wait_for(&s, "hog exited", |v| container(v, &hog_name).is_some_and(|c| c["state"] == "exited"));
    let h = container(&v, &hog_name).unwrap();
    assert!(h["memory_bytes"].is_null() && h["cpu_percent"].is_null() && h["net_rx_bytes"].is_null(), "{h}");
}

/// A local registry: a container's image pushed, then another image pushed under the same
/// tag. `update_available` goes from `false` to `true`; a local image never pushed is `null`.
#[test]
fn an_image_pushed_again_under_its_tag_is_an_update() {
    let _one = exclusive();
    if !engine() {
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("docker-registry");
    cmd.arg("serve").arg(&config);
    let _registry = Running::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let tag = format!("127.0.0.1:{port}/sst-app:latest");
    import(&tag, &[("version", "1")]);
    docker(&["push", &tag]);
    import("sst/busybox:1", &[]);
    let fleet = Fleet::new("update");
    fleet.run("app", &tag, &[], "sleep 3600");
    fleet.run("local", "sst/busybox:1", &[], "sleep 3600");
    let envs = [("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "6h"), ("SYSTEM_STATS_COLLECTORS", "all,-os_update")];
    let (app, local) = (fleet.name("app"), fleet.name("local"));
    {
        let s = Service::start(&envs);
        let v = wait_for(&s, "the image checked", |v| {
            container(v, &app).is_some_and(|c| c["update_available"].is_boolean())
        });
        assert_eq!(container(&v, &app).unwrap()["update_available"], false);
        assert!(container(&v, &local).unwrap()["update_available"].is_null());
    }
    // another image under the same tag in the registry
    import(&tag, &[("version", "2")]);
    docker(&["push", &tag]);
    let s = Service::start(&envs);
    let v = wait_for(&s, "the update seen", |v| container(v, &app).is_some_and(|c| c["update_available"] == true));
    // still the tag it was created from, though the tag now names another image here
    assert_eq!(container(&v, &app).unwrap()["image"], tag.as_str());
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.contains("system_stats_container_update_available{id=")
            && metrics.contains(&format!("name=\"{app}\"}} 1"))
    );
}

/// The engine missing, refusing this user, stopped, or hung: `available` is false and
/// `error` says which, and the rest of the snapshot is served as usual.
#[test]
fn engine_errors_are_named() {
    let _one = exclusive();
    let error = |envs: &[(&str, &str)]| {
        let s = Service::start(envs);
        wait_for(&s, "an engine error", |v| v["docker"]["error"].is_string())["docker"].clone()
    };
    let d = error(&[("SYSTEM_STATS_DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    assert_eq!((d["available"].clone(), d["error"].clone()), (false.into(), "not_installed".into()));
    assert!(d["containers"].is_null());

    // a socket left behind by an engine that stopped
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let host = format!("unix://{}", stale.display());
    assert_eq!(error(&[("SYSTEM_STATS_DOCKER_HOST", &host)])["error"], "daemon_not_running");

    // an engine that accepts and never answers
    let hung = dir.path().join("hung.sock");
    let listener = std::os::unix::net::UnixListener::bind(&hung).unwrap();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(3).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(conns);
    });
    let host = format!("unix://{}", hung.display());
    let s = Service::start(&[("SYSTEM_STATS_DOCKER_HOST", &host)]);
    let v = wait_for(&s, "timeout", |v| v["docker"]["error"] == "timeout");
    assert!(v["memory"]["total"].is_u64() && s.get("/health").status == 200);
    drop(held);

    // the real engine, as a user outside the docker group
    if !engine() || !Path::new(SOCKET).exists() {
        return;
    }
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(common::service_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SYSTEM_STATS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("SYSTEM_STATS_HOST", "127.0.0.1")
        .env("SYSTEM_STATS_PORT", "0")
        .env("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "0");
    let s = Service::start_command(cmd);
    let v = wait_for(&s, "permission denied", |v| v["docker"]["error"].is_string());
    assert_eq!(v["docker"]["error"], "permission_denied");
}
