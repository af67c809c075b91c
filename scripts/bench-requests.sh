#!/usr/bin/env bash
# Instructions per request of the release service, counted by callgrind (exact, unlike
# wall-clock figures on a shared VM), for /system and /metrics; optionally against another
# build of the service in the same run:
#
#   scripts/bench-requests.sh                        # this tree
#   BASELINE=/path/to/old/system-stats-service scripts/bench-requests.sh
#
# The sampler is kept idle (one sample an hour) so that only the requests are counted:
# instrumentation is switched on for a 5 s `wrk -c 1` and off again. Needs valgrind and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
for tool in valgrind callgrind_control wrk; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install valgrind wrk" >&2; exit 2; }
done
cargo build --release --quiet --bin system-stats-service
builds=("this tree=target/release/system-stats-service")
[ -n "${BASELINE:-}" ] && builds+=("baseline=$BASELINE")
port=${PORT:-5310}
out=$(mktemp -d)
echo "| build | path | requests | instructions per request |"
echo "|---|---|---|---|"
for build in "${builds[@]}"; do
  name=${build%%=*}; bin=${build#*=}
  SYSTEM_STATS_SAMPLE_INTERVAL=3600 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out/cg.out" "$bin" --port "$port" >/dev/null 2>&1 &
  pid=$!; pids+=("$pid")
  wait_http "http://127.0.0.1:$port/health"
  for path in system metrics; do
    curl -sf -o /dev/null "http://127.0.0.1:$port/$path"; curl -sf -o /dev/null "http://127.0.0.1:$port/$path"
    callgrind_control -z "$pid" >/dev/null 2>&1; callgrind_control -i on "$pid" >/dev/null
    n=$(wrk -c 1 -t 1 -d 5 "http://127.0.0.1:$port/$path" | awk '/requests in/ {print $1}')
    callgrind_control -i off "$pid" >/dev/null; callgrind_control -d "$pid" >/dev/null 2>&1
    sleep 1
    dump=$(ls -t "$out"/cg.out.* | head -n1)
    ir=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "| $name | /$path | $n | $((ir / n)) |"
    rm -f "$out"/cg.out.*
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
rm -rf "$out"
