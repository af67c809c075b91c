//! A synthetic `/proc` + `/sys` tree of a big host, for the scale benchmark: `scale` 1.0 is
//! 256 CPUs with cpufreq, 200 interfaces, 500 mounts, 100 disks and 64 hwmon sensors; smaller
//! scales shrink every count alike, so that cost per item can be compared.
//!
//! The file formats are those of the recorded trees (`tests/fixtures/`); mount points are
//! real directories, so that `statvfs(2)` works on them.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// How many of each item a tree has.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub cpus: usize,
    pub interfaces: usize,
    pub mounts: usize,
    pub disks: usize,
    pub sensors: usize,
    /// Processes (`/proc/<pid>/stat` and `cmdline`); measured on their own, as their cost
    /// grows with their number alone.
    pub processes: usize,
}

impl Counts {
    pub fn big_host(scale: f64) -> Counts {
        let n = |full: usize| ((full as f64 * scale).round() as usize).max(1);
        Counts { cpus: n(256), interfaces: n(200), mounts: n(500), disks: n(100), sensors: n(64), processes: 0 }
    }

    /// A small host with `n` processes.
    pub fn processes(n: usize) -> Counts {
        Counts { cpus: 4, interfaces: 2, mounts: 1, disks: 1, sensors: 1, processes: n }
    }
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// Writes the tree under `root` (which must exist and be empty), with the mount points as
/// directories under `mounts` (not under `/dev`, which node_exporter's rules leave out).
pub fn generate(root: &Path, mounts_dir: &Path, c: Counts) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian-x86_64-psi-conntrack/proc");
    // the files whose size does not grow with the host, as this VM had them
    for f in [
        "meminfo",
        "vmstat",
        "loadavg",
        "uptime",
        "net/netstat",
        "net/snmp",
        "net/snmp6",
        "net/sockstat",
        "net/sockstat6",
        "net/udp",
        "net/udp6",
        "net/arp",
        "net/stat/nf_conntrack",
        "sys/net/netfilter/nf_conntrack_count",
        "sys/net/netfilter/nf_conntrack_max",
        "sys/kernel/random/entropy_avail",
        "sys/kernel/random/poolsize",
        "sys/kernel/pid_max",
        "sys/kernel/threads-max",
        "sys/fs/file-nr",
        "pressure/cpu",
        "pressure/io",
        "pressure/memory",
    ] {
        write(root, &format!("proc/{f}"), &fs::read_to_string(fixture.join(f)).unwrap());
    }
    let vm = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian-x86_64-vm/proc");
    write(root, "proc/zoneinfo", &fs::read_to_string(vm.join("zoneinfo")).unwrap());
    for (k, v) in [
        ("hostname", "bighost"),
        ("osrelease", "6.1.0-28-amd64"),
        ("version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)"),
        ("arch", "x86_64"),
        ("domainname", "(none)"),
    ] {
        write(root, &format!("proc/sys/kernel/{k}"), &format!("{v}\n"));
    }

    // CPUs: /proc/stat, cpuinfo, topology (2 threads per core), one cpufreq policy each
    let mut cpuinfo = String::new();
    for i in 0..c.cpus {
        writeln!(
            cpuinfo,
            "processor\t: {i}\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9754 128-Core Processor\n\
             cpu MHz\t\t: 2250.000\nphysical id\t: 0\ncpu cores\t: {}\n",
            c.cpus / 2
        )
        .unwrap();
        let dir = format!("sys/devices/system/cpu/cpu{i}");
        let first = i - i % 2;
        write(root, &format!("{dir}/topology/core_cpus_list"), &format!("{first}-{}\n", first + 1));
        let policy = format!("sys/devices/system/cpu/cpufreq/policy{i}");
        write(root, &format!("{policy}/scaling_cur_freq"), &format!("{}\n", 1_500_000 + i * 1000));
        write(root, &format!("{policy}/scaling_min_freq"), "400000\n");
        write(root, &format!("{policy}/scaling_max_freq"), "3100000\n");
    }
    write(root, "proc/cpuinfo", &cpuinfo);
    write_counters(root, c, 0, 0.0);

    // processes: a shell's worth of each kind, every one with its stat and command line
    for p in 0..c.processes {
        let pid = 1000 + p;
        let (name, state, threads) =
            [("postgres", 'S', 1), ("java", 'S', 48), ("nginx", 'S', 1), ("kworker/3:1", 'I', 1), ("stress", 'R', 1)]
                [p % 5];
        write(
            root,
            &format!("proc/{pid}/stat"),
            &format!(
                "{pid} ({name}) {state} 1 {pid} {pid} 0 -1 4194560 1520 0 0 0 {} {} 0 0 20 0 {threads} 0 {} 123456789 {} \
                 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0\n",
                p * 7 % 1000,
                p % 300,
                5000 + p,
                1000 + p * 13 % 9000
            ),
        );
        write(root, &format!("proc/{pid}/cmdline"), &format!("/usr/bin/{name}\0--worker\0{p}\0"));
    }

    // disks: whole disks in /sys/block (two partitions each in diskstats)
    for d in 0..c.disks {
        write(root, &format!("sys/block/nvme{d}n1/dev"), &format!("259:{}\n", d * 4));
    }

    // interfaces: lo, eth0 (the default route), then veths of containers
    let mut inet6 = String::new();
    for i in 0..c.interfaces {
        let name = interface(i);
        let dir = format!("sys/class/net/{name}");
        write(root, &format!("{dir}/flags"), if i == 0 { "0x9\n" } else { "0x1003\n" });
        write(root, &format!("{dir}/operstate"), if i == 0 { "unknown\n" } else { "up\n" });
        write(root, &format!("{dir}/address"), &format!("02:42:ac:11:{:02x}:{:02x}\n", i / 256, i % 256));
        write(root, &format!("{dir}/mtu"), "1500\n");
        write(root, &format!("{dir}/speed"), "10000\n");
        write(root, &format!("{dir}/duplex"), "full\n");
        // the other attributes a real link has, which the netclass series read
        for (attr, value) in [
            ("addr_assign_type", "3".to_string()),
            ("broadcast", "ff:ff:ff:ff:ff:ff".to_string()),
            ("carrier", "1".to_string()),
            ("carrier_changes", "2".to_string()),
            ("carrier_up_count", "1".to_string()),
            ("carrier_down_count", "1".to_string()),
            ("dev_id", "0x0".to_string()),
            ("dormant", "0".to_string()),
            ("ifalias", String::new()),
            ("ifindex", (i + 1).to_string()),
            ("iflink", (i + 1).to_string()),
            ("link_mode", "0".to_string()),
            ("name_assign_type", "3".to_string()),
            ("netdev_group", "0".to_string()),
            ("tx_queue_len", "1000".to_string()),
            ("type", if i == 0 { "772" } else { "1" }.to_string()),
        ] {
            write(root, &format!("{dir}/{attr}"), &format!("{value}\n"));
        }
        writeln!(inet6, "fe80000000000000004200fffeac{i:04x} {:02x} 40 20 80 {name}", i + 1).unwrap();
    }
    write(root, "proc/net/if_inet6", &inet6);
    write(
        root,
        "proc/net/route",
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n",
    );

    // mounts: real directories inside the tree
    let mut mounts = String::from("proc /proc proc rw 0 0\nsysfs /sys sysfs rw 0 0\n");
    for m in 0..c.mounts {
        let dir = mounts_dir.join(format!("vol{m:04}"));
        fs::create_dir_all(&dir).unwrap();
        let fstype = ["ext4", "xfs", "btrfs", "tmpfs"][m % 4];
        writeln!(mounts, "/dev/mapper/vg-vol{m} {} {fstype} rw,relatime 0 0", dir.display()).unwrap();
    }
    write(root, "proc/mounts", &mounts);

    // sensors: chips of 8 temperatures each, and a thermal zone per chip
    for s in 0..c.sensors {
        let (chip, t) = (s / 8, s % 8 + 1);
        let dir = format!("sys/class/hwmon/hwmon{chip}");
        write(root, &format!("{dir}/name"), if chip == 0 { "k10temp\n" } else { "nvme\n" });
        write(root, &format!("{dir}/temp{t}_input"), &format!("{}\n", 40_000 + s * 125));
        write(root, &format!("{dir}/temp{t}_label"), &format!("Sensor {t}\n"));
        write(root, &format!("{dir}/temp{t}_crit"), "95000\n");
        if t == 1 {
            let zone = format!("sys/class/thermal/thermal_zone{chip}");
            write(root, &format!("{zone}/type"), "acpitz\n");
            write(root, &format!("{zone}/temp"), &format!("{}\n", 41_000 + chip * 500));
        }
    }
}

/// The name of interface `i`: lo, eth0 (the default route), then veths of containers.
fn interface(i: usize) -> String {
    match i {
        0 => "lo".to_string(),
        1 => "eth0".to_string(),
        _ => format!("veth{i:05x}"),
    }
}

/// Whether item `i` of a list is one of the `busy` share (0 to 1) whose counters move, spread
/// over the list rather than its first ones.
fn moves(i: usize, busy: f64) -> bool {
    ((i * 37) % 100) as f64 + 0.5 < busy * 100.0
}

/// Writes the files whose counters a real host advances every second, as they are `tick`
/// seconds after [`generate`] wrote them (`tick` 0): every CPU's times, scheduler and softnet
/// counters; the `busy` share (0 to 1) of the disks' and interfaces' counters, the others idle.
/// Benchmarks call it between samples, so that what skips unchanged work (the JSON of an
/// unchanged entry) is measured on a host that changes as a real one does.
pub fn write_counters(root: &Path, c: Counts, tick: u64, busy: f64) {
    let t = tick as usize;
    let mut stat =
        format!("cpu  {} 150 {} {} 5200 0 2500 0 0 0\n", 4_705_000 + t * 40, 1_120_000 + t * 10, 16_250_000 + t * 150);
    let mut schedstat = format!("version 15\ntimestamp {}\n", 4_295_300_000 + t * 250);
    let mut softnet = String::new();
    for i in 0..c.cpus {
        // each CPU a little busy, a different share of each second
        let user = t * (i % 5);
        writeln!(
            stat,
            "cpu{i} {} 1 {} {} 20 0 10 0 0 0",
            18_000 + i + user,
            4_000 + i + t * (i % 2),
            63_000 + i + t * 100 - user
        )
        .unwrap();
        writeln!(
            schedstat,
            "cpu{i} 0 0 0 0 0 0 {} {} {}",
            90_000_000_000 + i + user * 10_000_000,
            1_500_000_000 + i + t * 1000,
            700_000 + i + t * 30
        )
        .unwrap();
        writeln!(schedstat, "domain0 00000003 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0")
            .unwrap();
        writeln!(softnet, "{:08x} 00000000 {:08x} 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 {i:08x} 00000000", 10_000 + i + t * 20, i % 3).unwrap();
    }
    stat.push_str(&format!(
        "intr {} 113199788 3 0\nctxt {}\nbtime 1732000000\nprocesses {}\nprocs_running 2\nprocs_blocked 0\n",
        114_930_548 + t * 5000,
        1_990_473 + t * 8000,
        2915 + t * 3
    ));
    write(root, "proc/stat", &stat);
    write(root, "proc/schedstat", &schedstat);
    write(root, "proc/net/softnet_stat", &softnet);

    let mut diskstats = String::new();
    for d in 0..c.disks {
        let k = if moves(d, busy) { t } else { 0 };
        let name = format!("nvme{d}n1");
        writeln!(
            diskstats,
            " 259 {} {name} {} 4697 {} 5631 {} 8651 {} 30404 0 {} 37181 6499 32 1798848 578 15744 566",
            d * 4,
            25345 + k * 20,
            1_457_714 + k * 640,
            65684 + k * 30,
            7_879_096 + k * 960,
            8728 + k * 3
        )
        .unwrap();
        for p in 1..=2 {
            writeln!(
                diskstats,
                " 259 {} {name}p{p} {} 0 {} 1 0 0 0 0 0 1 1 0 0 0 0 0 0",
                d * 4 + p,
                100 + k,
                200 + k * 8
            )
            .unwrap();
        }
    }
    write(root, "proc/diskstats", &diskstats);

    let mut dev = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    for i in 0..c.interfaces {
        let k = if moves(i, busy) { t } else { 0 };
        writeln!(
            dev,
            "{:>8}: {} {} 0 0 0 0 0 0 {} {} 0 0 0 0 0 0",
            interface(i),
            1_000_000 + i + k * 15_000,
            1000 + i + k * 12,
            2_000_000 + i + k * 9_000,
            2000 + i + k * 10
        )
        .unwrap();
    }
    write(root, "proc/net/dev", &dev);
}
