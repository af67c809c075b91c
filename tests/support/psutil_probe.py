"""Prints what psutil (7.1+) says about this host, or about a recorded procfs tree, as JSON.

Used by tests/psutil.rs to hold system-stats to psutil's definitions:
    python3 tests/support/psutil_probe.py            # this machine
    python3 tests/support/psutil_probe.py PROCFS     # a fixture's proc/ (procfs-only values)
"""
import json
import platform
import socket
import sys
import time

import psutil

out = {"version": psutil.__version__}
if len(sys.argv) > 1:
    psutil.PROCFS_PATH = sys.argv[1]
out["memory"] = psutil.virtual_memory()._asdict()
out["swap"] = psutil.swap_memory()._asdict()
out["net_io"] = psutil.net_io_counters()._asdict()
out["boot_time"] = psutil.boot_time()
if len(sys.argv) == 1:
    out["disk_io"] = psutil.disk_io_counters()._asdict()
    # every counter above was read before this instant
    out["now"] = time.time()
    out["disk"] = psutil.disk_usage("/")._asdict()
    out["logical_cores"] = psutil.cpu_count()
    out["physical_cores"] = psutil.cpu_count(logical=False)
    freq = psutil.cpu_freq()
    out["freq"] = freq._asdict() if freq else None
    out["addrs"] = {
        name: [
            {"address": a.address, "netmask": a.netmask, "broadcast": a.broadcast}
            for a in addrs
            if a.family == socket.AF_INET
        ]
        for name, addrs in psutil.net_if_addrs().items()
    }
    out["if_stats"] = {
        name: {"speed": s.speed, "mtu": s.mtu, "duplex": int(s.duplex), "isup": s.isup}
        for name, s in psutil.net_if_stats().items()
    }
    out["platform"] = {
        "node": platform.node(),
        "system": platform.system(),
        "release": platform.release(),
        "version": platform.version(),
        "machine": platform.machine(),
        "platform": platform.platform(),
    }
print(json.dumps(out))
