#!/usr/bin/env bash
# Records the /proc and /sys files system-stats reads into tests/fixtures/<name>/{proc,sys},
# so that the collectors can be tested against this machine's real formats:
#
#   scripts/record-fixture.sh my-host            # records this machine
#   scripts/record-fixture.sh my-host /host/proc /host/sys
#
# Then add a golden file with:  UPDATE_GOLDEN=1 cargo test --test golden
# Only regular file contents are copied (sysfs symlinks become plain directories); a file the
# kernel refuses to read (e.g. the speed of a Wi-Fi link) is left out, as the collectors
# treat unreadable and missing alike. Review the result before committing: it contains the
# host name, interface MAC addresses and the kernel version.
set -euo pipefail

name=${1:?usage: record-fixture.sh NAME [PROCFS] [SYSFS]}
procfs=${2:-/proc}
sysfs=${3:-/sys}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/tests/fixtures/$name
rm -rf "$out"
mkdir -p "$out/proc" "$out/sys"

copy() { # copy ROOT REL...: cat each existing, readable file into the fixture tree
  local root=$1 dest=$2; shift 2
  local rel
  for rel in "$@"; do
    [ -f "$root/$rel" ] || continue
    mkdir -p "$(dirname "$dest/$rel")"
    if ! cat "$root/$rel" >"$dest/$rel" 2>/dev/null; then rm -f "$dest/$rel"; fi
  done
}

rels() { # rels ROOT GLOB...: relative paths matching the globs under ROOT
  local root=$1; shift
  (cd "$root" && for g in "$@"; do compgen -G "$g" || true; done)
}

# procfs: the files read per sample and at start (a file this kernel does not have, such as
# pressure/irq or conntrack's without the module, is simply left out)
copy "$procfs" "$out/proc" stat meminfo vmstat zoneinfo diskstats cpuinfo loadavg uptime mounts 1/mounts \
  net/dev net/route net/if_inet6 \
  net/netstat net/snmp net/snmp6 net/sockstat net/sockstat6 net/softnet_stat net/udp net/udp6 net/arp \
  net/stat/nf_conntrack sys/net/netfilter/nf_conntrack_count sys/net/netfilter/nf_conntrack_max \
  sys/kernel/random/entropy_avail sys/kernel/random/poolsize sys/fs/file-nr \
  sys/kernel/pid_max sys/kernel/threads-max \
  pressure/cpu pressure/io pressure/memory pressure/irq \
  sys/kernel/hostname sys/kernel/osrelease sys/kernel/version sys/kernel/arch sys/kernel/domainname
# every process's stat (`processes`): what ran at the time (command lines are not recorded)
mapfile -t stats < <(rels "$procfs" '[0-9]*/stat')
copy "$procfs" "$out/proc" "${stats[@]}"

# sysfs: block devices (their names are what matters), CPU topology and frequency, network
# links, firmware model, DMI, temperatures
for dev in $(ls "$sysfs/block"); do copy "$sysfs" "$out/sys" "block/$dev/dev" "block/$dev/size"; done
mapfile -t cpu_files < <(rels "$sysfs" \
  'devices/system/cpu/online' 'devices/system/cpu/possible' \
  'devices/system/cpu/cpu[0-9]*/topology/core_cpus_list' \
  'devices/system/cpu/cpu[0-9]*/topology/thread_siblings_list' \
  'devices/system/cpu/cpufreq/policy[0-9]*/*' \
  'devices/system/cpu/cpu[0-9]*/cpufreq/*' \
  'devices/system/clocksource/clocksource[0-9]*/available_clocksource' \
  'devices/system/clocksource/clocksource[0-9]*/current_clocksource')
copy "$sysfs" "$out/sys" "${cpu_files[@]}"
for dev in $(ls "$sysfs/class/net"); do
  copy "$sysfs" "$out/sys" $(for f in addr_assign_type address broadcast carrier carrier_changes \
    carrier_down_count carrier_up_count dev_id dormant duplex flags ifalias ifindex iflink link_mode mtu \
    name_assign_type netdev_group operstate speed tx_queue_len type; do
    echo "class/net/$dev/$f"; done)
done
mapfile -t other < <(rels "$sysfs" \
  'firmware/devicetree/base/model' 'class/dmi/id/product_name' 'class/dmi/id/sys_vendor' \
  'class/thermal/thermal_zone[0-9]*/type' 'class/thermal/thermal_zone[0-9]*/temp' \
  'class/thermal/thermal_zone[0-9]*/policy' 'class/thermal/thermal_zone[0-9]*/mode' \
  'class/hwmon/hwmon[0-9]*/*' 'class/hwmon/hwmon[0-9]*/device/*_input' \
  'devices/platform/soc/soc:firmware/get_throttled')
copy "$sysfs" "$out/sys" "${other[@]}"
# hwmon chips are named after the device their `device` link points to (node_exporter's
# rule): keep the link, relative, and a file in its target so that git keeps the directory
for link in "$sysfs"/class/hwmon/hwmon*/device; do
  [ -e "$link" ] || continue
  target=$(realpath "$link"); rel=${target#"$(realpath "$sysfs")"/}
  chip=$(basename "$(dirname "$link")")
  mkdir -p "$out/sys/$rel" "$out/sys/class/hwmon/$chip"
  cat "$target/uevent" >"$out/sys/$rel/uevent" 2>/dev/null || : >"$out/sys/$rel/uevent"
  ln -sfn "../../../$rel" "$out/sys/class/hwmon/$chip/device"
done

echo "recorded $(find "$out" -type f | wc -l) files into $out"
