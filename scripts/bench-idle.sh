#!/usr/bin/env bash
# Idle CPU of the service (1 s sampling, no request, no subscriber) against a baseline build
# of an earlier commit, both running at the same time so the VM's neighbours weigh on both:
# on-CPU nanoseconds of all their threads (schedstat) over ROUNDS windows of IDLE_SECONDS.
#
#   scripts/bench-idle.sh                  # against the commit before the live page (8d50c82)
#   BASE=HEAD~3 ROUNDS=5 IDLE_SECONDS=60 scripts/bench-idle.sh
#
# The baseline is built once in target/bench-idle/ (a git worktree and its own target dir).
# Prints a Markdown table: each round, and the median of the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

BASE=${BASE:-8d50c82}
ROUNDS=${ROUNDS:-5}
IDLE_SECONDS=${IDLE_SECONDS:-60}
NEW_PORT=${NEW_PORT:-5093}
BASE_PORT=${BASE_PORT:-5094}

rev=$(git rev-parse --short "$BASE^{commit}")
work=target/bench-idle/$rev
if [ ! -x "$work/target/release/system-stats-service" ]; then
  rm -rf "$work/src"
  mkdir -p "$work"
  git worktree add --force --detach "$work/src" "$rev" >/dev/null
  (cd "$work/src" && CARGO_TARGET_DIR=../target cargo build --release --quiet --bin system-stats-service)
  git worktree remove --force "$work/src"
fi
cargo build --release --quiet --bin system-stats-service

start() { # start BINARY PORT -> pid
  SYSTEM_STATS_HOST=127.0.0.1 SYSTEM_STATS_PORT=$2 SYSTEM_STATS_LOG_LEVEL=warning "$1" >/dev/null 2>&1 &
  echo $!
}
# half an interval apart: their samples never wake at the same moment and contend
base=$(start "$work/target/release/system-stats-service" "$BASE_PORT"); pids+=("$base")
sleep 0.5
new=$(start target/release/system-stats-service "$NEW_PORT"); pids+=("$new")
wait_http "http://127.0.0.1:$NEW_PORT/health"
wait_http "http://127.0.0.1:$BASE_PORT/health"
sleep 3

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo
echo "idle CPU, 1 s sampling, $ROUNDS rounds of ${IDLE_SECONDS} s, both running at once ($(date -u +%F), $(nproc) cores)"
echo
echo "| round | this tree | $rev (baseline) |"
echo "|---|---|---|"
# per-thread on-CPU nanoseconds: "tid name ns" lines
threads() { for t in /proc/"$1"/task/*; do echo "${t##*/} $(tr ' ' _ <"$t/comm") $(awk '{print $1}' "$t/schedstat")"; done | sort; }
threads "$new" >"$work/new.0"; threads "$base" >"$work/base.0"
news=(); bases=()
for round in $(seq "$ROUNDS"); do
  n0=$(oncpu "$new"); b0=$(oncpu "$base")
  sleep "$IDLE_SECONDS"
  n1=$(oncpu "$new"); b1=$(oncpu "$base")
  n=$(cpu_percent "$n0" "$n1" "$IDLE_SECONDS"); b=$(cpu_percent "$b0" "$b1" "$IDLE_SECONDS")
  news+=("$n"); bases+=("$b")
  echo "| $round | $n % | $b % |"
done
echo "| **median** | **$(printf '%s\n' "${news[@]}" | median) %** | **$(printf '%s\n' "${bases[@]}" | median) %** |"
threads "$new" >"$work/new.1"; threads "$base" >"$work/base.1"
per_thread() { # FILE0 FILE1 SECONDS -> "name µs/s" per thread
  join "$1" "$2" | awk -v s="$3" '{printf "%s %.0f µs/s; ", $2, ($5-$3)/1e3/s}'
}
echo
echo "per thread over all rounds: this tree: $(per_thread "$work/new.0" "$work/new.1" $((ROUNDS * IDLE_SECONDS)))"
echo "per thread over all rounds: baseline: $(per_thread "$work/base.0" "$work/base.1" $((ROUNDS * IDLE_SECONDS)))"
echo
echo "RSS: this tree $(rss_mib "$new") MiB, baseline $(rss_mib "$base") MiB"
