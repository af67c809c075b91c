#!/usr/bin/env bash
# The forwarder with a remote-write destination, this build against a baseline build in the
# same run (the same service, the same receiver: examples/receiver.rs decodes what it gets):
#   - what one push costs: the forwarder's CPU per tick at 1 s ticks (poll, spool, encode,
#     send), over PUSH_SECONDS;
#   - CPU between ticks at the default 30 s interval, over IDLE_SECONDS;
#   - RSS in steady state (1 s ticks) and after the idle run;
#   - the bytes a sample takes in the spool (destination down, --check-spool's count);
#   - the service's /metrics as scraped (wrk, c=4) with each build's service, to show the
#     scrape did not get dearer.
# The builds alternate ROUNDS times; medians are printed. The baseline is BASELINE_REF
# (default: the commit before the fleet work), built once into target/baseline-<ref>.
#
#   scripts/bench-push.sh                                   # about 8 minutes
#   ROUNDS=1 PUSH_SECONDS=20 IDLE_SECONDS=35 scripts/bench-push.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

BASELINE_REF=${BASELINE_REF:-501a863}
ROUNDS=${ROUNDS:-3}
PUSH_SECONDS=${PUSH_SECONDS:-30}
IDLE_SECONDS=${IDLE_SECONDS:-95}
SVC_PORT=${SVC_PORT:-5081}
RCV_PORT=${RCV_PORT:-5082}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cargo build --release --quiet --bins --example receiver
base=target/baseline-$BASELINE_REF
if [ ! -x "$base/system-stats-forwarder" ]; then
  tree=$(mktemp -d)
  git worktree add -q --detach "$tree" "$BASELINE_REF"
  (cd "$tree" && CARGO_TARGET_DIR="$PWD/../baseline-target-$BASELINE_REF" cargo build --release --quiet --bins)
  mkdir -p "$base"
  cp "$tree/../baseline-target-$BASELINE_REF/release/system-stats-"{service,forwarder} "$base/"
  git worktree remove --force "$tree"
fi
work=$(mktemp -d)
trap 'cleanup; rm -rf "$work"' EXIT

target/release/examples/receiver "127.0.0.1:$RCV_PORT" & pids+=($!)
wait_http "http://127.0.0.1:$RCV_PORT/count"
export SYSTEM_STATS_FORWARD_LOG_LEVEL=warning

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# measure BINDIR NAME: one round of every figure for the build in BINDIR, appended to
# $work/NAME.<figure>
measure() {
  local dir=$1 name=$2 svc fwd t0 t1
  SYSTEM_STATS_HOST=127.0.0.1 SYSTEM_STATS_PORT=$SVC_PORT SYSTEM_STATS_LOG_LEVEL=warning \
    SYSTEM_STATS_UPDATE_CHECK_INTERVAL=0 "$dir/system-stats-service" & svc=$!; pids+=($svc)
  wait_http "http://127.0.0.1:$SVC_PORT/health"
  export SYSTEM_STATS_URL="http://127.0.0.1:$SVC_PORT/system"
  # one push a second
  rm -rf "$work/spool"
  SYSTEM_STATS_SPOOL_DIR=$work/spool SYSTEM_STATS_FORWARD_INTERVAL=1 \
    MONITORING_SERVER_METRICS_URL="remote-write+http://127.0.0.1:$RCV_PORT/api/v1/write" \
    "$dir/system-stats-forwarder" & fwd=$!; pids+=($fwd)
  sleep 3
  t0=$(oncpu $fwd); sleep "$PUSH_SECONDS"; t1=$(oncpu $fwd)
  awk -v a="$t0" -v b="$t1" -v n="$PUSH_SECONDS" 'BEGIN {printf "%.3f\n", (b-a)/1e6/n}' >>"$work/$name.push_ms"
  { rss_mib $fwd; echo; } >>"$work/$name.rss_steady"
  kill $fwd; wait $fwd 2>/dev/null || true
  # idle between 30 s ticks
  rm -rf "$work/spool"
  SYSTEM_STATS_SPOOL_DIR=$work/spool \
    MONITORING_SERVER_METRICS_URL="remote-write+http://127.0.0.1:$RCV_PORT/api/v1/write" \
    "$dir/system-stats-forwarder" & fwd=$!; pids+=($fwd)
  sleep 2
  t0=$(oncpu $fwd); sleep "$IDLE_SECONDS"; t1=$(oncpu $fwd)
  { cpu_percent "$t0" "$t1" "$IDLE_SECONDS"; echo; } >>"$work/$name.idle_pct"
  { rss_mib $fwd; echo; } >>"$work/$name.rss_idle"
  kill $fwd; wait $fwd 2>/dev/null || true
  # bytes per sample: 10 samples spooled for a destination that is down
  rm -rf "$work/spool"
  SYSTEM_STATS_SPOOL_DIR=$work/spool SYSTEM_STATS_FORWARD_INTERVAL=1 \
    MONITORING_SERVER_METRICS_URL="remote-write+http://127.0.0.1:1/api/v1/write" \
    "$dir/system-stats-forwarder" & fwd=$!; pids+=($fwd)
  sleep 10.5
  kill $fwd; wait $fwd 2>/dev/null || true
  SYSTEM_STATS_SPOOL_DIR=$work/spool MONITORING_SERVER_METRICS_URL="remote-write+http://127.0.0.1:1/api/v1/write" \
    "$dir/system-stats-forwarder" --check-spool |
    sed -n 's/.*: \([0-9]*\) sample(s), \([0-9]*\) bytes.*/\1 \2/p' | awk '{printf "%.0f\n", $2/$1}' >>"$work/$name.bytes"
  # the scrape, with this build's service
  wrk -t2 -c4 -d5s "http://127.0.0.1:$SVC_PORT/metrics" | awk '/Requests\/sec/ {print $2}' >>"$work/$name.scrapes"
  kill $svc; wait $svc 2>/dev/null || true
}

for _ in $(seq "$ROUNDS"); do
  measure "$base" baseline
  measure target/release today
done

row() { # row LABEL FIGURE UNIT
  printf '| %s | %s %s | %s %s |\n' "$1" "$(median <"$work/baseline.$2")" "$3" "$(median <"$work/today.$2")" "$3"
}
cat <<EOF

Forwarder with a remote-write destination ($(date -u +%F), $(nproc) cores, medians of $ROUNDS alternated rounds;
baseline $BASELINE_REF: the push derived from /system)

| measure | baseline | today |
|---|---|---|
EOF
row "CPU per push, 1 s ticks (poll, spool, encode, send)" push_ms ms
row "CPU between 30 s ticks" idle_pct "% of a core"
row "RSS, 1 s ticks" rss_steady MiB
row "RSS, 30 s ticks" rss_idle MiB
row "bytes a sample takes in the spool" bytes B
row "the service's /metrics, scrapes per second (c=4)" scrapes /s
