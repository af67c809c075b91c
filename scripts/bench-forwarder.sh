#!/usr/bin/env bash
# Forwarder benchmark, against a local validating receiver (examples/receiver.rs):
#   - RSS in steady state (1 s ticks, receiver up) after STEADY_SECONDS;
#   - CPU between ticks at the default 30 s interval, over IDLE_SECONDS (schedstat, ns);
#   - a 10,000-sample backlog (examples/fill-spool.rs): RSS with it while the receiver is
#     down, then the drain rate to the receiver with no rate cap, and the peak RSS.
#
#   scripts/bench-forwarder.sh                  # about 3 minutes
#   BACKLOG=2000 IDLE_SECONDS=35 STEADY_SECONDS=10 scripts/bench-forwarder.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

BACKLOG=${BACKLOG:-10000}
IDLE_SECONDS=${IDLE_SECONDS:-95}
STEADY_SECONDS=${STEADY_SECONDS:-30}
SVC_PORT=${SVC_PORT:-5091}
RCV_PORT=${RCV_PORT:-5092}

cargo build --release --quiet --bins --example receiver --example fill-spool
work=$(mktemp -d)
trap 'cleanup; rm -rf "$work"' EXIT
count() { curl -sf "http://127.0.0.1:$RCV_PORT/count"; }

SYSTEM_STATS_HOST=127.0.0.1 SYSTEM_STATS_PORT=$SVC_PORT SYSTEM_STATS_LOG_LEVEL=warning \
  target/release/system-stats-service & pids+=($!)
wait_http "http://127.0.0.1:$SVC_PORT/health"
target/release/examples/receiver "127.0.0.1:$RCV_PORT" & pids+=($!)
wait_http "http://127.0.0.1:$RCV_PORT/count"
dest="http://127.0.0.1:$RCV_PORT/metrics"
export SYSTEM_STATS_URL="http://127.0.0.1:$SVC_PORT/system" MONITORING_SERVER_METRICS_URL=$dest \
  SYSTEM_STATS_FORWARD_LOG_LEVEL=warning

# steady state: 1 s ticks
SYSTEM_STATS_SPOOL_DIR=$work/steady SYSTEM_STATS_FORWARD_INTERVAL=1 target/release/system-stats-forwarder & fwd=$!; pids+=($fwd)
sleep "$STEADY_SECONDS"
steady_rss=$(rss_mib $fwd); steady_n=$(count)
kill $fwd; wait $fwd 2>/dev/null || true

# idle between 30 s ticks
SYSTEM_STATS_SPOOL_DIR=$work/idle target/release/system-stats-forwarder & fwd=$!; pids+=($fwd)
sleep 2
t0=$(oncpu $fwd); sleep "$IDLE_SECONDS"; t1=$(oncpu $fwd)
idle_pct=$(cpu_percent "$t0" "$t1" "$IDLE_SECONDS")
idle_per_tick=$(awk -v a="$t0" -v b="$t1" -v s="$IDLE_SECONDS" 'BEGIN {printf "%.2f", (b-a)/1e6/(s/30)}')
kill $fwd; wait $fwd 2>/dev/null || true

# a backlog: the receiver's address answers nothing until the forwarder runs with it
curl -s "http://127.0.0.1:$SVC_PORT/system" > "$work/sample.json"
fill_t0=$(date +%s.%N)
target/release/examples/fill-spool "$work/backlog" "http://127.0.0.1:1/metrics" "$BACKLOG" < "$work/sample.json"
fill_s=$(awk -v a="$fill_t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b-a}')
# RSS with the backlog, destination down (port 1: connection refused)
SYSTEM_STATS_SPOOL_DIR=$work/backlog MONITORING_SERVER_METRICS_URL=http://127.0.0.1:1/metrics \
  SYSTEM_STATS_FORWARD_INTERVAL=3600 target/release/system-stats-forwarder & fwd=$!; pids+=($fwd)
sleep 5
backlog_rss=$(rss_mib $fwd)
kill $fwd; wait $fwd 2>/dev/null || true
# drain: a spool of the same size for the receiver's address
rm -rf "$work/backlog"
target/release/examples/fill-spool "$work/drain" "$dest" "$BACKLOG" < "$work/sample.json"
before=$(count)
start=$(date +%s.%N)
SYSTEM_STATS_SPOOL_DIR=$work/drain SYSTEM_STATS_FORWARD_INTERVAL=3600 SYSTEM_STATS_FORWARD_MAX_RATE=0 \
  target/release/system-stats-forwarder & fwd=$!; pids+=($fwd)
want=$((before + BACKLOG))
while [ "$(count)" -lt "$want" ]; do sleep 0.05; done
drain_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b-a}')
drain_hwm=$(hwm_mib $fwd); drain_rss=$(rss_mib $fwd)
kill $fwd; wait $fwd 2>/dev/null || true
rate=$(awk -v n="$BACKLOG" -v s="$drain_s" 'BEGIN {printf "%.0f", n/s}')

cat <<EOF

system-stats-forwarder benchmark ($(date -u +%F), $(nproc) cores, sample $(wc -c < "$work/sample.json") bytes)

| measure | value | target |
|---|---|---|
| RSS, steady state (1 s ticks, ${STEADY_SECONDS} s, $steady_n delivered) | $steady_rss MiB | ≤ 8 MiB |
| RSS with a $BACKLOG-sample backlog, destination down | $backlog_rss MiB | ≤ 8 MiB |
| drain of $BACKLOG samples, rate uncapped | $drain_s s = **$rate samples/s** (peak RSS $drain_hwm MiB, after $drain_rss MiB) | ≥ 500 /s |
| CPU between 30 s ticks, over ${IDLE_SECONDS} s | $idle_pct % of a core ($idle_per_tick ms per tick) | ≤ 0.02 % |
| filling the spool with $BACKLOG samples (one fsynced commit each) | $fill_s s | |
EOF
