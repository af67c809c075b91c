# system-stats-service as a container image: one static binary (musl), nothing else.
# Built by `scripts/package image` (which compiles the binary and passes it as the build
# context); nothing is pulled: the base is `scratch`.
#
# Run it like node_exporter, with the host's /proc, /sys and root mounted read-only and the
# host's network, PID and UTS namespaces, so the numbers are the host's, not the container's:
#   docker run -d --name system-stats --restart unless-stopped \
#     --net=host --pid=host --uts=host \
#     -v /proc:/host/proc:ro -v /sys:/host/sys:ro -v /:/host/root:ro,rslave \
#     system-stats:0.1.0
FROM scratch
COPY system-stats-service /usr/bin/system-stats-service
ENV SYSTEM_STATS_PROCFS=/host/proc \
    SYSTEM_STATS_SYSFS=/host/sys \
    SYSTEM_STATS_DISK_PATH=/host/root
# nobody: reading /proc and /sys needs no privilege
USER 65534:65534
EXPOSE 5001
ENTRYPOINT ["/usr/bin/system-stats-service"]
