# Helpers shared by the benchmark scripts (sourced, not run).

# Processes started by the benchmark, killed on exit.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# wait_http URL: until it answers 2xx (10 s at most)
wait_http() {
  for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; exit 1
}

# oncpu PID: nanoseconds on CPU of all the process's threads (schedstat)
oncpu() { cat /proc/"$1"/task/*/schedstat | awk '{s+=$1} END {print s}'; }

# cpu_percent NS_BEFORE NS_AFTER SECONDS: share of one core, in percent
cpu_percent() { awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN {printf "%.4f", (b-a)/1e9/s*100}'; }

# rss_mib PID / hwm_mib PID: resident and peak resident memory in MiB
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# rss_parts PID: "anonymous A + file F MiB" (heap and stacks; the binary's and libraries' pages)
rss_parts() { awk '/RssAnon/ {a=$2} /RssFile/ {f=$2} END {printf "anonymous %.2f + file %.2f MiB", a/1024, f/1024}' "/proc/$1/status"; }
