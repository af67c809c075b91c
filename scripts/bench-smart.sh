#!/usr/bin/env bash
# What drive health costs. Three figures:
#  1. smartctl itself: the collector's reading run N times by hand on this machine's disk with
#     the real smartctl (on a VM's virtio disk it fails at once with "Unable to detect device
#     type": the process and smartctl's start, the lower bound of a reading; a real drive adds
#     its commands' latency, not CPU).
#  2. the service's side of a reading: the release service reading DRIVES recorded drives
#     (tests/fixtures/smartctl) through the stand-in smartctl every 5 s; its smart threads'
#     on-CPU time per reading (spawn, pipes, JSON, verdict), from their schedstat, without the
#     stand-in's own processes.
#  3. at the default interval (no reading in the window): the sampler thread and the whole
#     service beside one without the collector, over the same seconds (schedstat), and RSS.
#  4. the packaged split: `--read-drives` of the DRIVES drives (its CPU and wall time, the
#     stand-in's processes included), then a service reading that directory (a stat of each
#     drive's files every 30 s) beside one without the collector, as in 3.
#
#   scripts/bench-smart.sh                  # 4 drives, 60 s
#   DRIVES=8 SECONDS_RUN=120 scripts/bench-smart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

DRIVES=${DRIVES:-4}
SECONDS_RUN=${SECONDS_RUN:-60}
N=${N:-50}
cargo build --release --quiet --bin system-stats-service

smartctl=$(command -v smartctl || echo /usr/sbin/smartctl)
disk=/dev/$(lsblk -dno NAME | grep -v '^zram\|^loop' | head -n1)
if [ -x "$smartctl" ]; then
  t0=$(date +%s%N)
  ( for _ in $(seq "$N"); do "$smartctl" --json=c --info --health --attributes --log=error --log=selftest \
      --tolerance=verypermissive --nocheck=standby --format=brief "$disk" >/dev/null || true; done
    times ) >"${TMPDIR:-/tmp}/bench-smart.times"
  t1=$(date +%s%N)
  # `times`: the shell's then its children's user and system time
  cpu=$(awk 'NR==2 {gsub(/m/," "); gsub(/s/,""); split($0,a," "); print (a[1]*60+a[2]+a[3]*60+a[4])}' "${TMPDIR:-/tmp}/bench-smart.times")
  echo "smartctl on $disk ($($smartctl --version | head -n1 | cut -d' ' -f1-2)): $(awk -v c="$cpu" -v n="$N" 'BEGIN {printf "%.2f", c/n*1000}') ms of CPU per reading, $(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN {printf "%.2f", (b-a)/1e6/n}') ms wall ($N readings)"
else
  echo "smartctl is not installed: figure 1 skipped (apt-get install smartmontools)"
fi

fixtures=$(mktemp -d)
names=(ata_hdd_wd_red ata_hdd_reallocated ata_ssd_samsung nvme_samsung_970 nvme_failing sas_hitachi)
devices=()
for i in $(seq 0 $((DRIVES - 1))); do
  dev=sd$(printf "\\x$(printf %x $((97 + i)))")
  python3 - "$fixtures" "$dev" "tests/fixtures/smartctl/${names[$((i % ${#names[@]}))]}.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[3])); d["device"]["name"] = "/dev/" + sys.argv[2]
json.dump(d, open(f"{sys.argv[1]}/{sys.argv[2]}.json", "w"))
PY
  devices+=("{\"name\": \"/dev/$dev\", \"type\": \"auto\"}")
done
(IFS=,; echo "{\"json_format_version\": [1, 0], \"smartctl\": {\"version\": [7, 3], \"exit_status\": 0}, \"devices\": [${devices[*]}]}") >"$fixtures/scan.json"

start() { # PORT VAR=value... -> pid
  local port=$1; shift
  env SYSTEM_STATS_HOST=127.0.0.1 SYSTEM_STATS_PORT="$port" SYSTEM_STATS_LOG_LEVEL=error SYSTEM_STATS_UPDATE_CHECK_INTERVAL=0 \
    SMARTCTL_FIXTURES="$fixtures" "$@" target/release/system-stats-service >/dev/null 2>&1 &
  echo $!
}
thread_ns() { # PID NAME-PREFIX -> on-CPU ns of its threads so named
  for t in /proc/"$1"/task/*; do if [[ $(cat "$t/comm") == "$2"* ]]; then awk '{print $1}' "$t/schedstat"; fi; done | awk '{s+=$1} END {print s+0}'
}
readings() { grep -c -- '/dev/sd' "$fixtures/calls.log" 2>/dev/null || true; }
us_per_s() { awk -v d="$1" -v s="$2" 'BEGIN {printf "%.0f", d/1e3/s}'; }

# 2. a reading, every 5 s
on=$(start 5097 SYSTEM_STATS_SMARTCTL="$PWD/tests/support/smartctl" SYSTEM_STATS_SMART_INTERVAL=5s ${EXTRA:-}); pids+=("$on")
wait_http http://127.0.0.1:5097/health
sleep 6 # the first readings
r0=$(readings); s0=$(thread_ns "$on" smart-)
sleep "$SECONDS_RUN"
r1=$(readings); s1=$(thread_ns "$on" smart-)
n=$((r1 - r0))
echo "the service's side of a reading ($DRIVES drives every 5 s, $n readings in $SECONDS_RUN s): $(awk -v s=$((s1 - s0)) -v n="$n" 'BEGIN {printf "%.0f", s/n/1e3}') µs of CPU each"
kill "$on"

# beside LABEL VAR=value...: a service with the collector so set beside one without it, over
# the same SECONDS_RUN (after their first readings): sampler thread, smart threads, the whole
# service, RSS
beside() {
  local label=$1; shift
  local on off a0 b0 p0 q0 d0 a1 b1 p1 q1 d1
  on=$(start 5097 "$@" ${EXTRA:-}); pids+=("$on")
  sleep 0.5
  off=$(start 5098 SYSTEM_STATS_COLLECTORS=all,-smart ${EXTRA:-}); pids+=("$off")
  wait_http http://127.0.0.1:5097/health; wait_http http://127.0.0.1:5098/health
  sleep 6
  a0=$(thread_ns "$on" sampler); b0=$(thread_ns "$off" sampler); p0=$(oncpu "$on"); q0=$(oncpu "$off"); d0=$(thread_ns "$on" smart-)
  sleep "$SECONDS_RUN"
  a1=$(thread_ns "$on" sampler); b1=$(thread_ns "$off" sampler); p1=$(oncpu "$on"); q1=$(oncpu "$off"); d1=$(thread_ns "$on" smart-)
  echo "$label, over $SECONDS_RUN s ($DRIVES drives): the smart threads $(us_per_s $((d1 - d0)) "$SECONDS_RUN") µs/s; sampler thread $(us_per_s $((a1 - a0)) "$SECONDS_RUN") µs/s against $(us_per_s $((b1 - b0)) "$SECONDS_RUN") µs/s without smart; the whole service $(cpu_percent "$p0" "$p1" "$SECONDS_RUN") % against $(cpu_percent "$q0" "$q1" "$SECONDS_RUN") % of a core"
  echo "RSS: $label $(rss_mib "$on") MiB, without smart $(rss_mib "$off") MiB"
  kill "$on" "$off"
}

# 3. at the default interval (10 min: after the first readings, none in the window), beside
#    the same service without the collector
beside "running smartctl, at the default interval" SYSTEM_STATS_SMARTCTL="$PWD/tests/support/smartctl"

# 4. the reader and a service on its directory
readings_dir=$(mktemp -d)
t0=$(date +%s%N)
( SYSTEM_STATS_SMARTCTL="$PWD/tests/support/smartctl" SMARTCTL_FIXTURES="$fixtures" \
    target/release/system-stats-service --read-drives "$readings_dir" >/dev/null; times ) >"${TMPDIR:-/tmp}/bench-smart.times"
t1=$(date +%s%N)
cpu=$(awk 'NR==2 {gsub(/m/," "); gsub(/s/,""); split($0,a," "); print (a[1]*60+a[2]+a[3]*60+a[4])}' "${TMPDIR:-/tmp}/bench-smart.times")
echo "--read-drives of $DRIVES drives: $(awk -v c="$cpu" 'BEGIN {printf "%.1f", c*1000}') ms of CPU (the stand-in's shells included), $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b-a)/1e6}') ms wall"
beside "reading the directory" SYSTEM_STATS_SMART_DIRECTORY="$readings_dir"
rm -rf "$fixtures" "$readings_dir"
