//! Grafana's "Node Exporter Full" (grafana.com dashboard 1860, rfmoz/grafana-dashboards
//! `prometheus/node-exporter-full.json`), panel by panel, as a user who swaps node_exporter
//! for us sees it: a real Prometheus scrapes node_exporter and the service side by side,
//! on this machine and on the recorded Raspberry Pi tree, and every panel's queries (its
//! visible targets, written below as the dashboard has them) are run against each. A panel
//! is lit when one of its queries returns a series. The test fails on any panel that
//! node_exporter lights and we do not, and prints both counts.
//!
//! In the queries `@` stands for the dashboard's `instance="$node",job="$job"` selector.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Running, Service, available, free_port, request, url_encode, wait_http};
use serde_json::Value;

/// The dashboard's template variable `$diskdevices`.
const DISK_DEVICES: &str = "[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+";

/// A busy share of the CPUs in one mode, as the "CPU Basic" and "CPU" panels write it.
fn cpu_mode(selector: &str) -> String {
    format!(
        "sum by(instance) (irate(node_cpu_seconds_total{{@, {selector}}}[$__rate_interval])) / on(instance) group_left \
         sum by (instance)((irate(node_cpu_seconds_total{{@}}[$__rate_interval])))"
    )
}

fn irate(metric: &str) -> String {
    format!("irate({metric}{{@}}[$__rate_interval])")
}

fn disk_irate(metric: &str) -> String {
    format!("irate({metric}{{@,device=~\"$diskdevices\"}}[$__rate_interval])")
}

fn plain(metric: &str) -> String {
    format!("{metric}{{@}}")
}

/// Every panel: row, title, visible queries.
fn panels() -> Vec<(&'static str, &'static str, Vec<String>)> {
    let s = |q: &str| q.to_string();
    let p = |names: &[&str]| names.iter().map(|n| plain(n)).collect::<Vec<_>>();
    let r = |names: &[&str]| names.iter().map(|n| irate(n)).collect::<Vec<_>>();
    let avg = |m: &str| format!("avg_over_time({m}{{@}}[$__rate_interval])");
    vec![
        (
            "Quick CPU / Mem / Disk",
            "CPU Busy",
            vec![s(
                "100 * (1 - avg(rate(node_cpu_seconds_total{mode=\"idle\", instance=\"$node\"}[$__rate_interval])))",
            )],
        ),
        (
            "Quick CPU / Mem / Disk",
            "Sys Load (5m avg)",
            vec![s(
                "scalar(avg_over_time(node_load5{@}[$__rate_interval])) * 100 / count(node_cpu_seconds_total{@,mode=\"system\"})",
            )],
        ),
        (
            "Quick CPU / Mem / Disk",
            "Sys Load (15m avg)",
            vec![s(
                "scalar(avg_over_time(node_load15{@}[$__rate_interval])) * 100 / count(node_cpu_seconds_total{@,mode=\"system\"})",
            )],
        ),
        (
            "Quick CPU / Mem / Disk",
            "RAM Used",
            vec![format!(
                "100 - (({} * 100) / {})",
                avg("node_memory_MemAvailable_bytes"),
                avg("node_memory_MemTotal_bytes")
            )],
        ),
        (
            "Quick CPU / Mem / Disk",
            "SWAP Used",
            vec![format!(
                "(({} - {}) / ({} )) * 100",
                avg("node_memory_SwapTotal_bytes"),
                avg("node_memory_SwapFree_bytes"),
                avg("node_memory_SwapTotal_bytes")
            )],
        ),
        (
            "Quick CPU / Mem / Disk",
            "Root FS Used",
            vec![s(
                "100 - ((avg_over_time(node_filesystem_avail_bytes{@,mountpoint=\"/\",fstype!=\"rootfs\"}[$__rate_interval]) * 100) / \
             avg_over_time(node_filesystem_size_bytes{@,mountpoint=\"/\",fstype!=\"rootfs\"}[$__rate_interval]))",
            )],
        ),
        ("Quick CPU / Mem / Disk", "CPU Cores", vec![s("count(count(node_cpu_seconds_total{@}) by (cpu))")]),
        ("Quick CPU / Mem / Disk", "Uptime", vec![s("node_time_seconds{@} - node_boot_time_seconds{@}")]),
        (
            "Quick CPU / Mem / Disk",
            "RootFS Total",
            vec![s("node_filesystem_size_bytes{@,mountpoint=\"/\",fstype!=\"rootfs\"}")],
        ),
        ("Quick CPU / Mem / Disk", "RAM Total", p(&["node_memory_MemTotal_bytes"])),
        ("Quick CPU / Mem / Disk", "SWAP Total", p(&["node_memory_SwapTotal_bytes"])),
        (
            "Basic CPU / Mem / Net / Disk",
            "CPU Basic",
            vec![
                cpu_mode("mode=\"system\""),
                cpu_mode("mode=\"user\""),
                cpu_mode("mode=\"iowait\""),
                cpu_mode("mode=~\".*irq\""),
                cpu_mode("mode!='idle',mode!='user',mode!='system',mode!='iowait',mode!='irq',mode!='softirq'"),
                cpu_mode("mode=\"idle\""),
            ],
        ),
        (
            "Basic CPU / Mem / Net / Disk",
            "Memory Basic",
            vec![
                plain("node_memory_MemTotal_bytes"),
                s("node_memory_MemTotal_bytes{@} - node_memory_MemFree_bytes{@} - (node_memory_Cached_bytes{@} + \
               node_memory_Buffers_bytes{@} + node_memory_SReclaimable_bytes{@})"),
                s("node_memory_Cached_bytes{@} + node_memory_Buffers_bytes{@} + node_memory_SReclaimable_bytes{@}"),
                plain("node_memory_MemFree_bytes"),
                s("(node_memory_SwapTotal_bytes{@} - node_memory_SwapFree_bytes{@})"),
            ],
        ),
        (
            "Basic CPU / Mem / Net / Disk",
            "Network Traffic Basic",
            vec![
                s("irate(node_network_receive_bytes_total{@}[$__rate_interval])*8"),
                s("irate(node_network_transmit_bytes_total{@}[$__rate_interval])*8"),
            ],
        ),
        (
            "Basic CPU / Mem / Net / Disk",
            "Disk Space Used Basic",
            vec![s(
                "100 - ((node_filesystem_avail_bytes{@,device!~'rootfs'} * 100) / node_filesystem_size_bytes{@,device!~'rootfs'})",
            )],
        ),
        (
            "CPU / Memory / Net / Disk",
            "CPU",
            ["system", "user", "nice", "iowait", "irq", "softirq", "steal", "idle"]
                .iter()
                .map(|m| cpu_mode(&format!("mode=\"{m}\"")))
                .collect(),
        ),
        ("CPU / Memory / Net / Disk", "Memory Stack", {
            let mut q = vec![s(
                "node_memory_MemTotal_bytes{@} - node_memory_MemFree_bytes{@} - node_memory_Buffers_bytes{@} - \
                 node_memory_Cached_bytes{@} - node_memory_Slab_bytes{@} - node_memory_PageTables_bytes{@} - \
                 node_memory_SwapCached_bytes{@}",
            )];
            q.extend(p(&[
                "node_memory_PageTables_bytes",
                "node_memory_SwapCached_bytes",
                "node_memory_Slab_bytes",
                "node_memory_Cached_bytes",
                "node_memory_Buffers_bytes",
                "node_memory_MemFree_bytes",
            ]));
            q.push(s("(node_memory_SwapTotal_bytes{@} - node_memory_SwapFree_bytes{@})"));
            q.push(plain("node_memory_HardwareCorrupted_bytes"));
            q
        }),
        (
            "CPU / Memory / Net / Disk",
            "Network Traffic",
            vec![
                s("irate(node_network_receive_bytes_total{@}[$__rate_interval])*8"),
                s("irate(node_network_transmit_bytes_total{@}[$__rate_interval])*8"),
            ],
        ),
        (
            "CPU / Memory / Net / Disk",
            "Disk Space Used",
            vec![s("node_filesystem_size_bytes{@,device!~'rootfs'} - node_filesystem_avail_bytes{@,device!~'rootfs'}")],
        ),
        (
            "CPU / Memory / Net / Disk",
            "Disk IOps",
            vec![disk_irate("node_disk_reads_completed_total"), disk_irate("node_disk_writes_completed_total")],
        ),
        (
            "CPU / Memory / Net / Disk",
            "I/O Usage Read / Write",
            vec![disk_irate("node_disk_read_bytes_total"), disk_irate("node_disk_written_bytes_total")],
        ),
        ("CPU / Memory / Net / Disk", "I/O Utilization", vec![disk_irate("node_disk_io_time_seconds_total")]),
        (
            "CPU / Memory / Net / Disk",
            "CPU spent seconds in guests (VMs)",
            ["user", "nice"]
                .iter()
                .map(|m| {
                    format!(
                        "sum by(instance) (irate(node_cpu_guest_seconds_total{{@, mode=\"{m}\"}}[1m])) / on(instance) \
                     group_left sum by (instance)((irate(node_cpu_seconds_total{{@}}[1m])))"
                    )
                })
                .collect(),
        ),
        ("Memory Meminfo", "Memory Active / Inactive", p(&["node_memory_Inactive_bytes", "node_memory_Active_bytes"])),
        ("Memory Meminfo", "Memory Committed", p(&["node_memory_Committed_AS_bytes", "node_memory_CommitLimit_bytes"])),
        (
            "Memory Meminfo",
            "Memory Active / Inactive Detail",
            p(&[
                "node_memory_Inactive_file_bytes",
                "node_memory_Inactive_anon_bytes",
                "node_memory_Active_file_bytes",
                "node_memory_Active_anon_bytes",
            ]),
        ),
        (
            "Memory Meminfo",
            "Memory Writeback and Dirty",
            p(&["node_memory_Writeback_bytes", "node_memory_WritebackTmp_bytes", "node_memory_Dirty_bytes"]),
        ),
        (
            "Memory Meminfo",
            "Memory Shared and Mapped",
            p(&[
                "node_memory_Mapped_bytes",
                "node_memory_Shmem_bytes",
                "node_memory_ShmemHugePages_bytes",
                "node_memory_ShmemPmdMapped_bytes",
            ]),
        ),
        ("Memory Meminfo", "Memory Slab", p(&["node_memory_SUnreclaim_bytes", "node_memory_SReclaimable_bytes"])),
        (
            "Memory Meminfo",
            "Memory Vmalloc",
            p(&["node_memory_VmallocChunk_bytes", "node_memory_VmallocTotal_bytes", "node_memory_VmallocUsed_bytes"]),
        ),
        ("Memory Meminfo", "Memory Bounce", p(&["node_memory_Bounce_bytes"])),
        ("Memory Meminfo", "Memory Anonymous", p(&["node_memory_AnonHugePages_bytes", "node_memory_AnonPages_bytes"])),
        ("Memory Meminfo", "Memory Kernel / CPU", p(&["node_memory_KernelStack_bytes", "node_memory_Percpu_bytes"])),
        (
            "Memory Meminfo",
            "Memory HugePages Counter",
            p(&["node_memory_HugePages_Free", "node_memory_HugePages_Rsvd", "node_memory_HugePages_Surp"]),
        ),
        (
            "Memory Meminfo",
            "Memory HugePages Size",
            p(&["node_memory_HugePages_Total", "node_memory_Hugepagesize_bytes"]),
        ),
        (
            "Memory Meminfo",
            "Memory DirectMap",
            p(&["node_memory_DirectMap1G_bytes", "node_memory_DirectMap2M_bytes", "node_memory_DirectMap4k_bytes"]),
        ),
        (
            "Memory Meminfo",
            "Memory Unevictable and MLocked",
            p(&["node_memory_Unevictable_bytes", "node_memory_Mlocked_bytes"]),
        ),
        ("Memory Meminfo", "Memory NFS", p(&["node_memory_NFS_Unstable_bytes"])),
        ("Memory Vmstat", "Memory Pages In / Out", r(&["node_vmstat_pgpgin", "node_vmstat_pgpgout"])),
        ("Memory Vmstat", "Memory Pages Swap In / Out", r(&["node_vmstat_pswpin", "node_vmstat_pswpout"])),
        ("Memory Vmstat", "Memory Page Faults", {
            let mut q = r(&["node_vmstat_pgfault", "node_vmstat_pgmajfault"]);
            q.push(format!("{}  - {}", irate("node_vmstat_pgfault"), irate("node_vmstat_pgmajfault")));
            q
        }),
        ("Memory Vmstat", "OOM Killer", r(&["node_vmstat_oom_kill"])),
        (
            "System Timesync",
            "Time Synchronized Drift",
            p(&["node_timex_estimated_error_seconds", "node_timex_offset_seconds", "node_timex_maxerror_seconds"]),
        ),
        ("System Timesync", "Time PLL Adjust", p(&["node_timex_loop_time_constant"])),
        (
            "System Timesync",
            "Time Synchronized Status",
            p(&["node_timex_sync_status", "node_timex_frequency_adjustment_ratio"]),
        ),
        ("System Timesync", "Time Misc", p(&["node_timex_tick_seconds", "node_timex_tai_offset_seconds"])),
        ("System Processes", "Processes Status", p(&["node_procs_blocked", "node_procs_running"])),
        ("System Processes", "Processes State", p(&["node_processes_state"])),
        ("System Processes", "Processes Forks", r(&["node_forks_total"])),
        (
            "System Processes",
            "Processes Memory",
            vec![
                irate("process_virtual_memory_bytes"),
                plain("process_resident_memory_max_bytes"),
                irate("process_virtual_memory_bytes"),
                irate("process_virtual_memory_max_bytes"),
            ],
        ),
        ("System Processes", "PIDs Number and Limit", p(&["node_processes_pids", "node_processes_max_processes"])),
        (
            "System Processes",
            "Process schedule stats Running / Waiting",
            r(&["node_schedstat_running_seconds_total", "node_schedstat_waiting_seconds_total"]),
        ),
        ("System Processes", "Threads Number and Limit", p(&["node_processes_threads", "node_processes_max_threads"])),
        ("System Misc", "Context Switches / Interrupts", r(&["node_context_switches_total", "node_intr_total"])),
        ("System Misc", "System Load", p(&["node_load1", "node_load5", "node_load15"])),
        (
            "System Misc",
            "CPU Frequency Scaling",
            vec![
                plain("node_cpu_scaling_frequency_hertz"),
                s("avg(node_cpu_scaling_frequency_max_hertz{@})"),
                s("avg(node_cpu_scaling_frequency_min_hertz{@})"),
            ],
        ),
        (
            "System Misc",
            "Pressure Stall Information",
            [
                "node_pressure_cpu_waiting_seconds_total",
                "node_pressure_memory_waiting_seconds_total",
                "node_pressure_memory_stalled_seconds_total",
                "node_pressure_io_waiting_seconds_total",
                "node_pressure_io_stalled_seconds_total",
            ]
            .iter()
            .map(|m| format!("rate({m}{{@}}[$__rate_interval])"))
            .collect(),
        ),
        ("System Misc", "Interrupts Detail", r(&["node_interrupts_total"])),
        ("System Misc", "Schedule timeslices executed by each cpu", r(&["node_schedstat_timeslices_total"])),
        ("System Misc", "Entropy", p(&["node_entropy_available_bits"])),
        ("System Misc", "CPU time spent in user and system contexts", r(&["process_cpu_seconds_total"])),
        ("System Misc", "File Descriptors", p(&["process_max_fds", "process_open_fds"])),
        (
            "Hardware Misc",
            "Hardware temperature monitor",
            vec![
                s("node_hwmon_temp_celsius{@} * on(chip) group_left(chip_name) node_hwmon_chip_names{@}"),
                s("node_hwmon_temp_crit_celsius{@} * on(chip) group_left(chip_name) node_hwmon_chip_names{@}"),
            ],
        ),
        (
            "Hardware Misc",
            "Throttle cooling device",
            p(&["node_cooling_device_cur_state", "node_cooling_device_max_state"]),
        ),
        ("Hardware Misc", "Power supply", p(&["node_power_supply_online"])),
        ("Systemd", "Systemd Sockets", r(&["node_systemd_socket_accepted_connections_total"])),
        (
            "Systemd",
            "Systemd Units State",
            ["activating", "active", "deactivating", "failed", "inactive"]
                .iter()
                .map(|st| format!("node_systemd_units{{@,state=\"{st}\"}}"))
                .collect(),
        ),
        (
            "Storage Disk",
            "Disk IOps Completed",
            r(&["node_disk_reads_completed_total", "node_disk_writes_completed_total"]),
        ),
        ("Storage Disk", "Disk R/W Data", r(&["node_disk_read_bytes_total", "node_disk_written_bytes_total"])),
        (
            "Storage Disk",
            "Disk Average Wait Time",
            vec![
                format!(
                    "{} / {}",
                    irate("node_disk_read_time_seconds_total"),
                    irate("node_disk_reads_completed_total")
                ),
                format!(
                    "{} / {}",
                    irate("node_disk_write_time_seconds_total"),
                    irate("node_disk_writes_completed_total")
                ),
            ],
        ),
        ("Storage Disk", "Average Queue Size", r(&["node_disk_io_time_weighted_seconds_total"])),
        ("Storage Disk", "Disk R/W Merged", r(&["node_disk_reads_merged_total", "node_disk_writes_merged_total"])),
        (
            "Storage Disk",
            "Time Spent Doing I/Os",
            r(&["node_disk_io_time_seconds_total", "node_disk_discard_time_seconds_total"]),
        ),
        ("Storage Disk", "Instantaneous Queue Size", p(&["node_disk_io_now"])),
        (
            "Storage Disk",
            "Disk IOps Discards completed / merged",
            r(&["node_disk_discards_completed_total", "node_disk_discards_merged_total"]),
        ),
        (
            "Storage Filesystem",
            "Filesystem space available",
            vec![s("node_filesystem_avail_bytes{@,device!~'rootfs'}")],
        ),
        ("Storage Filesystem", "File Nodes Free", vec![s("node_filesystem_files_free{@,device!~'rootfs'}")]),
        ("Storage Filesystem", "File Descriptor", p(&["node_filefd_maximum", "node_filefd_allocated"])),
        ("Storage Filesystem", "File Nodes Size", vec![s("node_filesystem_files{@,device!~'rootfs'}")]),
        (
            "Storage Filesystem",
            "Filesystem in ReadOnly / Error",
            vec![
                s("node_filesystem_readonly{@,device!~'rootfs'}"),
                s("node_filesystem_device_error{@,device!~'rootfs',fstype!~'tmpfs'}"),
            ],
        ),
        (
            "Network Traffic",
            "Network Traffic by Packets",
            r(&["node_network_receive_packets_total", "node_network_transmit_packets_total"]),
        ),
        (
            "Network Traffic",
            "Network Traffic Errors",
            r(&["node_network_receive_errs_total", "node_network_transmit_errs_total"]),
        ),
        (
            "Network Traffic",
            "Network Traffic Drop",
            r(&["node_network_receive_drop_total", "node_network_transmit_drop_total"]),
        ),
        (
            "Network Traffic",
            "Network Traffic Compressed",
            r(&["node_network_receive_compressed_total", "node_network_transmit_compressed_total"]),
        ),
        ("Network Traffic", "Network Traffic Multicast", r(&["node_network_receive_multicast_total"])),
        (
            "Network Traffic",
            "Network Traffic Fifo",
            r(&["node_network_receive_fifo_total", "node_network_transmit_fifo_total"]),
        ),
        ("Network Traffic", "Network Traffic Frame", r(&["node_network_receive_frame_total"])),
        ("Network Traffic", "Network Traffic Carrier", r(&["node_network_transmit_carrier_total"])),
        ("Network Traffic", "Network Traffic Colls", r(&["node_network_transmit_colls_total"])),
        ("Network Traffic", "NF Conntrack", p(&["node_nf_conntrack_entries", "node_nf_conntrack_entries_limit"])),
        ("Network Traffic", "ARP Entries", p(&["node_arp_entries"])),
        ("Network Traffic", "MTU", p(&["node_network_mtu_bytes"])),
        ("Network Traffic", "Speed", p(&["node_network_speed_bytes"])),
        ("Network Traffic", "Queue Length", p(&["node_network_transmit_queue_length"])),
        ("Network Traffic", "Softnet Packets", r(&["node_softnet_processed_total", "node_softnet_dropped_total"])),
        ("Network Traffic", "Softnet Out of Quota", r(&["node_softnet_times_squeezed_total"])),
        (
            "Network Traffic",
            "Network Operational Status",
            vec![s("node_network_up{operstate=\"up\",instance=\"$node\",job=\"$job\"}"), plain("node_network_carrier")],
        ),
        (
            "Network Sockstat",
            "Sockstat TCP",
            p(&[
                "node_sockstat_TCP_alloc",
                "node_sockstat_TCP_inuse",
                "node_sockstat_TCP_orphan",
                "node_sockstat_TCP_tw",
            ]),
        ),
        (
            "Network Sockstat",
            "Sockstat UDP",
            p(&["node_sockstat_UDPLITE_inuse", "node_sockstat_UDP_inuse", "node_sockstat_UDP_mem"]),
        ),
        ("Network Sockstat", "Sockstat FRAG / RAW", p(&["node_sockstat_FRAG_inuse", "node_sockstat_RAW_inuse"])),
        (
            "Network Sockstat",
            "Sockstat Memory Size",
            p(&["node_sockstat_TCP_mem_bytes", "node_sockstat_UDP_mem_bytes", "node_sockstat_FRAG_memory"]),
        ),
        ("Network Sockstat", "Sockstat Used", p(&["node_sockstat_sockets_used"])),
        (
            "Network Netstat",
            "Netstat IP In / Out Octets",
            r(&["node_netstat_IpExt_InOctets", "node_netstat_IpExt_OutOctets"]),
        ),
        ("Network Netstat", "Netstat IP Forwarding", r(&["node_netstat_Ip_Forwarding"])),
        ("Network Netstat", "ICMP In / Out", r(&["node_netstat_Icmp_InMsgs", "node_netstat_Icmp_OutMsgs"])),
        ("Network Netstat", "ICMP Errors", r(&["node_netstat_Icmp_InErrors"])),
        ("Network Netstat", "UDP In / Out", r(&["node_netstat_Udp_InDatagrams", "node_netstat_Udp_OutDatagrams"])),
        (
            "Network Netstat",
            "UDP Errors",
            r(&[
                "node_netstat_Udp_InErrors",
                "node_netstat_Udp_NoPorts",
                "node_netstat_UdpLite_InErrors",
                "node_netstat_Udp_RcvbufErrors",
                "node_netstat_Udp_SndbufErrors",
            ]),
        ),
        ("Network Netstat", "TCP In / Out", r(&["node_netstat_Tcp_InSegs", "node_netstat_Tcp_OutSegs"])),
        (
            "Network Netstat",
            "TCP Errors",
            r(&[
                "node_netstat_TcpExt_ListenOverflows",
                "node_netstat_TcpExt_ListenDrops",
                "node_netstat_TcpExt_TCPSynRetrans",
                "node_netstat_Tcp_RetransSegs",
                "node_netstat_Tcp_InErrs",
                "node_netstat_Tcp_OutRsts",
            ]),
        ),
        ("Network Netstat", "TCP Connections", p(&["node_netstat_Tcp_CurrEstab", "node_netstat_Tcp_MaxConn"])),
        (
            "Network Netstat",
            "TCP SynCookie",
            r(&[
                "node_netstat_TcpExt_SyncookiesFailed",
                "node_netstat_TcpExt_SyncookiesRecv",
                "node_netstat_TcpExt_SyncookiesSent",
            ]),
        ),
        (
            "Network Netstat",
            "TCP Direct Transition",
            r(&["node_netstat_Tcp_ActiveOpens", "node_netstat_Tcp_PassiveOpens"]),
        ),
        (
            "Network Netstat",
            "TCP Stat",
            ["established", "fin_wait2", "listen", "time_wait"]
                .iter()
                .map(|st| format!("node_tcp_connection_states{{state=\"{st}\",instance=\"$node\",job=\"$job\"}}"))
                .collect(),
        ),
        ("Node Exporter", "Node Exporter Scrape Time", p(&["node_scrape_collector_duration_seconds"])),
        ("Node Exporter", "Node Exporter Scrape", p(&["node_scrape_collector_success", "node_textfile_scrape_error"])),
    ]
}

/// The series a PromQL query returns now (an error is a failed test: the query is wrong).
fn query(prom: &str, q: &str) -> usize {
    let r = request(prom.parse().unwrap(), "GET", &format!("/api/v1/query?query={}", url_encode(q)));
    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    assert_eq!(v["status"], "success", "{q}: {}", r.body);
    match &v["data"]["result"] {
        Value::Array(a) => a.len(),
        // a scalar result
        _ => 1,
    }
}

/// The queries of a panel for one target: `$node`, `$job`, the intervals and disks filled in.
fn for_target(q: &str, instance: &str, job: &str) -> String {
    q.replace('@', "instance=\"$node\",job=\"$job\"")
        .replace("$node", instance)
        .replace("$job", job)
        .replace("$__rate_interval", "15s")
        .replace("$diskdevices", DISK_DEVICES)
}

/// Which panels a target lights.
fn lit(prom: &str, instance: &str, job: &str) -> BTreeMap<String, bool> {
    panels()
        .into_iter()
        .map(|(row, title, queries)| {
            let on = queries.iter().any(|q| query(prom, &for_target(q, instance, job)) > 0);
            (format!("{row} / {title}"), on)
        })
        .collect()
}

fn node_exporter(fixture: Option<&std::path::Path>) -> (Running, String) {
    let port = free_port();
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // upstream's defaults (Debian's package leaves out more mounts and the loopback)
        .arg(
            "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
        )
        .arg("--collector.netdev.device-exclude=");
    if let Some(dir) = fixture {
        cmd.arg(format!("--path.procfs={}", dir.join("proc").display()))
            .arg(format!("--path.sysfs={}", dir.join("sys").display()))
            .arg("--no-collector.netdev.netlink");
    }
    let run = Running::spawn(cmd);
    let addr = format!("127.0.0.1:{port}");
    wait_http(&addr, "/metrics");
    (run, addr)
}

/// Every panel node_exporter lights, we light too, scraped and pushed: on this machine and on
/// the recorded Raspberry Pi tree (hwmon, cpufreq, cooling device, scheduler statistics),
/// each service both scraped by Prometheus and pushed into it by a forwarder's remote-write
/// (job `system-stats`, instance its host name), as a host behind NAT feeds a central one.
#[test]
fn every_panel_node_exporter_lights_we_light() {
    if !available("prometheus", "--version") || !available("prometheus-node-exporter", "--version") {
        return;
    }
    let pi = common::repo().join("tests/fixtures/raspberrypi4-aarch64");
    let ours = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.5")]);
    let ours_pi = Service::on_fixture(&pi, &[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.5")]);
    let (_ne, ne) = node_exporter(None);
    let (_ne_pi, ne_pi) = node_exporter(Some(&pi));
    let targets = [
        ("node", ne.clone()),
        ("system-stats", ours.addr.to_string()),
        ("node-pi", ne_pi.clone()),
        ("system-stats-pi", ours_pi.addr.to_string()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n");
    for (job, addr) in &targets {
        config.push_str(&format!("  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n"));
    }
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let port = free_port();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver");
    let _prom = Running::spawn(cmd);
    let prom = format!("127.0.0.1:{port}");
    wait_http(&prom, "/-/ready");
    let spools = tempfile::tempdir().unwrap();
    let push = |s: &Service, spool: &str| {
        common::start_forwarder(
            &format!("http://{}/system", s.addr),
            &format!("remote-write+http://{prom}/api/v1/write"),
            &spools.path().join(spool),
            &[("SYSTEM_STATS_FORWARD_INTERVAL", "0.5")],
        )
    };
    let (_push, _push_pi) = (push(&ours, "vm"), push(&ours_pi, "pi"));
    let hostname = |s: &Service| s.json("/system")["system"]["hostname"].as_str().unwrap().to_string();
    let (host, host_pi) = (hostname(&ours), hostname(&ours_pi));
    assert_ne!(host, host_pi, "the two services must push as two instances");
    // every target up, then enough scrapes for rates over the 15 s window
    let deadline = Instant::now() + Duration::from_secs(60);
    let pushed = format!("node_load1{{job=\"system-stats\",instance=~\"{host}|{host_pi}\"}}");
    while query(&prom, "up == 1") < targets.len() || query(&prom, &pushed) < 2 {
        assert!(
            Instant::now() < deadline,
            "targets not up: {}",
            request(prom.parse().unwrap(), "GET", "/api/v1/targets").body
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs(8));

    let total = panels().len();
    let mut failures = Vec::new();
    for (theirs_job, theirs_addr, ours_job, ours_addr, pushed_as) in [
        ("node", &ne, "system-stats", ours.addr.to_string(), &host),
        ("node-pi", &ne_pi, "system-stats-pi", ours_pi.addr.to_string(), &host_pi),
    ] {
        let theirs = lit(&prom, theirs_addr, theirs_job);
        let mine = lit(&prom, &ours_addr, ours_job);
        let pushed = lit(&prom, pushed_as, "system-stats");
        let count = |m: &BTreeMap<String, bool>| m.values().filter(|&&on| on).count();
        eprintln!(
            "{ours_job}: node_exporter lights {} of {total} panels, we light {} scraped and {} through remote-write",
            count(&theirs),
            count(&mine),
            count(&pushed)
        );
        for (panel, on) in &theirs {
            if *on && !mine[panel] {
                failures.push(format!("{ours_job}: {panel}"));
            }
            if *on && !pushed[panel] {
                failures.push(format!("{ours_job} through remote-write: {panel}"));
            }
        }
        let only_ours: Vec<&String> = mine.iter().filter(|(p, on)| **on && !theirs[*p]).map(|(p, _)| p).collect();
        eprintln!("{ours_job}: lit by us only: {only_ours:?}");
        let dark: Vec<&String> = mine.iter().filter(|(p, on)| !**on && !theirs[*p]).map(|(p, _)| p).collect();
        eprintln!("{ours_job}: lit by neither (nothing on this host feeds them): {dark:?}");
    }
    assert!(failures.is_empty(), "panels node_exporter lights and we do not:\n{}", failures.join("\n"));
}
