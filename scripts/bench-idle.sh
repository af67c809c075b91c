#!/usr/bin/env bash
# Idle CPU of the service (1 s sampling, no request, no subscriber) against a baseline build
# of an earlier commit, both running at the same time so the VM's neighbours weigh on both:
# on-CPU nanoseconds of all their threads (schedstat) over ROUNDS windows of IDLE_SECONDS.
# With FORWARDERS=1, the same for a forwarder beside each (polling its own service every
# 30 s, the default, and delivering to a local receiver; with its metrics listener on, the
# baseline's too when it has one): the services are then polled, no longer idle.
#
#   scripts/bench-idle.sh          # against the commit before processes, services and the
#                                  # forwarder's metrics (987fb93)
#   BASE=HEAD~3 ROUNDS=5 IDLE_SECONDS=60 FORWARDERS=1 scripts/bench-idle.sh
#   BASE=self BASE_ENV=SYSTEM_STATS_ALERTS=off scripts/bench-idle.sh
#                                  # this tree against itself with other settings
#                                  # (NEW_ENV and BASE_ENV: VAR=value words for each service)
#
# The baseline is built once in target/bench-idle/ (a git worktree and its own target dir).
# Prints a Markdown table: each round, and the median of the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

BASE=${BASE:-987fb93}
FORWARDERS=${FORWARDERS:-0}
ROUNDS=${ROUNDS:-5}
IDLE_SECONDS=${IDLE_SECONDS:-60}
NEW_PORT=${NEW_PORT:-5093}
BASE_PORT=${BASE_PORT:-5094}

NEW_ENV=${NEW_ENV:-}
BASE_ENV=${BASE_ENV:-}
if [ "$BASE" = self ]; then
  rev="this tree, $BASE_ENV"
  work=target/bench-idle/self
  mkdir -p "$work/target"
  ln -sfn "$PWD/target/release" "$work/target/release"
else
  rev=$(git rev-parse --short "$BASE^{commit}")
  work=target/bench-idle/$rev
fi
if [ "$BASE" != self ] && [ ! -x "$work/target/release/system-stats-forwarder" ]; then
  rm -rf "$work/src"
  mkdir -p "$work"
  git worktree add --force --detach "$work/src" "$rev" >/dev/null
  (cd "$work/src" && CARGO_TARGET_DIR=../target cargo build --release --quiet --bin system-stats-service \
    --bin system-stats-forwarder)
  git worktree remove --force "$work/src"
fi
cargo build --release --quiet --bin system-stats-service --bin system-stats-forwarder --example receiver

start() { # start BINARY PORT [VAR=value...] -> pid
  local bin=$1 port=$2; shift 2
  # shellcheck disable=SC2086
  env SYSTEM_STATS_HOST=127.0.0.1 SYSTEM_STATS_PORT="$port" SYSTEM_STATS_LOG_LEVEL=warning "$@" "$bin" >/dev/null 2>&1 &
  echo $!
}
# half an interval apart: their samples never wake at the same moment and contend
# shellcheck disable=SC2086
base=$(start "$work/target/release/system-stats-service" "$BASE_PORT" $BASE_ENV); pids+=("$base")
sleep 0.5
# shellcheck disable=SC2086
new=$(start target/release/system-stats-service "$NEW_PORT" $NEW_ENV); pids+=("$new")
wait_http "http://127.0.0.1:$NEW_PORT/health"
wait_http "http://127.0.0.1:$BASE_PORT/health"
# what is measured: a label and a pid each
labels=("this tree" "$rev (baseline)"); watched=("$new" "$base")
spools=$(mktemp -d)
if [ "$FORWARDERS" = 1 ]; then
  RCV_PORT=${RCV_PORT:-5095}
  LISTEN_PORT=${LISTEN_PORT:-5096}
  target/release/examples/receiver "127.0.0.1:$RCV_PORT" >/dev/null 2>&1 & pids+=($!)
  forward() { # BINARY SERVICE_PORT SPOOL [VAR=value...] -> pid
    local bin=$1 port=$2 spool=$3; shift 3
    env SYSTEM_STATS_URL="http://127.0.0.1:$port/system" MONITORING_SERVER_METRICS_URL="http://127.0.0.1:$RCV_PORT/metrics" \
      SYSTEM_STATS_SPOOL_DIR="$spool" SYSTEM_STATS_FORWARD_LOG_LEVEL=warning "$@" "$bin" >/dev/null 2>&1 &
    echo $!
  }
  # the baseline's forwarder with its metrics listener too, when it has one (like for like)
  base_listens=()
  if grep -q SYSTEM_STATS_FORWARDER_METRICS "$work/target/release/system-stats-forwarder"; then
    base_listens=(SYSTEM_STATS_FORWARDER_METRICS="127.0.0.1:$((LISTEN_PORT + 1))")
  fi
  fbase=$(forward "$work/target/release/system-stats-forwarder" "$BASE_PORT" "$spools/base" "${base_listens[@]}")
  pids+=("$fbase")
  fnew=$(forward target/release/system-stats-forwarder "$NEW_PORT" "$spools/new" \
    SYSTEM_STATS_FORWARDER_METRICS="127.0.0.1:$LISTEN_PORT"); pids+=("$fnew")
  wait_http "http://127.0.0.1:$LISTEN_PORT/metrics"
  base_label="forwarder, $rev"
  [ ${#base_listens[@]} -gt 0 ] && base_label+=" (listener on)"
  labels+=("forwarder, this tree (listener on)" "$base_label"); watched+=("$fnew" "$fbase")
fi
sleep 3

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo
what="the services idle"
[ "$FORWARDERS" = 1 ] && what="each service polled by its forwarder every 30 s"
echo "idle CPU, 1 s sampling, $what, $ROUNDS rounds of ${IDLE_SECONDS} s, all running at once ($(date -u +%F), $(nproc) cores)"
echo
row() { printf '| %s ' "$@"; echo '|'; }
row round "${labels[@]}"
row --- "${labels[@]/*/---}"
# per-thread on-CPU nanoseconds: "tid name ns" lines
threads() { for t in /proc/"$1"/task/*; do echo "${t##*/} $(tr ' ' _ <"$t/comm") $(awk '{print $1}' "$t/schedstat")"; done | sort; }
threads "$new" >"$work/new.0"; threads "$base" >"$work/base.0"
results=$(mktemp)
for round in $(seq "$ROUNDS"); do
  before=(); for p in "${watched[@]}"; do before+=("$(oncpu "$p")"); done
  sleep "$IDLE_SECONDS"
  cells=()
  for i in "${!watched[@]}"; do
    c=$(cpu_percent "${before[$i]}" "$(oncpu "${watched[$i]}")" "$IDLE_SECONDS")
    echo "$i $c" >>"$results"; cells+=("$c %")
  done
  row "$round" "${cells[@]}"
done
medians=(); for i in "${!watched[@]}"; do medians+=("**$(awk -v i="$i" '$1 == i {print $2}' "$results" | median) %**"); done
row "**median**" "${medians[@]}"
rm -f "$results"
threads "$new" >"$work/new.1"; threads "$base" >"$work/base.1"
per_thread() { # FILE0 FILE1 SECONDS -> "name µs/s" per thread
  join "$1" "$2" | awk -v s="$3" '{printf "%s %.0f µs/s; ", $2, ($5-$3)/1e3/s}'
}
echo
echo "per thread over all rounds: this tree: $(per_thread "$work/new.0" "$work/new.1" $((ROUNDS * IDLE_SECONDS)))"
echo "per thread over all rounds: baseline: $(per_thread "$work/base.0" "$work/base.1" $((ROUNDS * IDLE_SECONDS)))"
echo
rss=(); for i in "${!watched[@]}"; do rss+=("${labels[$i]} $(rss_mib "${watched[$i]}") MiB ($(rss_parts "${watched[$i]}"))"); done
echo "RSS: $(printf '%s; ' "${rss[@]}")"
rm -rf "$spools"
