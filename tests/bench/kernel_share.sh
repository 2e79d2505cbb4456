#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Where a proxy's CPU goes, ringlbd against HAProxy, behind the same nginx backend on loopback:
#
#   tests/bench/kernel_share.sh [--duration S]     # default 8 s per measurement (~1.5 min)
#
# For small requests over 50 keep-alive connections and for new connections (Connection:
# close), each proxy with 1 worker, it prints per request, each from a wrk run of its own: the
# proxy's CPU time (utime+stime from /proc/PID/stat, nothing attached: tracing system calls
# slows each one), its system calls (perf stat, raw_syscalls:sys_enter, io_uring_enter
# included) and the share of its CPU samples in the kernel, in the proxy's own code and in
# libraries (perf record). The machine is noisy: run it more than once. compare.sh says how fast; this says why the CPU ratios stop where
# they do. It needs perf (Debian: linux-perf), haproxy, nginx and wrk; it installs none of
# them (compare.sh does the last three). Everything it starts is stopped on exit.
#
# Environment: RINGLBD=path (default build-release/daemon/ringlbd, else build/daemon/ringlbd);
# RINGLBD_B_IO='{"incremental": false}' runs a second ringlbd ("ringlbd-b") with that
# runtime.io beside the first, measured in the same rounds: an A/B of a receive-path option.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$SCRIPT_DIR/lib.sh"
DURATION=8
while [ $# -gt 0 ]; do
    case $1 in
        --duration) DURATION=${2:?}; shift ;;
        *) echo "usage: tests/bench/kernel_share.sh [--duration S]" >&2; exit 64 ;;
    esac
    shift
done
RINGLBD=$(default_ringlbd "$REPO")
require kernel_share.sh perf haproxy nginx wrk python3 "$RINGLBD"
bench_scratch kshare
B=$(free_port) R=$(free_port) H=$(free_port) M=$(free_port) RB=$(free_port) MB=$(free_port)
RINGLBD_B_IO=${RINGLBD_B_IO:-}

# ringlbd_config PORT METRICS_PORT NAME IO_JSON
ringlbd_config() {
    cat <<EOF
{ "runtime": { "workers": 1, "io": $4 },
  "metrics": { "listen": "127.0.0.1:$2" },
  "admin": { "socket": "$TMP/$3.sock" },
  "listeners": [ { "name": "http", "listen": "127.0.0.1:$1", "pool": "http",
                   "timeouts": { "connect_ms": 3000, "idle_ms": 86400000 } } ],
  "pools": [ { "name": "http", "backends": [ { "address": "127.0.0.1:$B" } ] } ] }
EOF
}
ringlbd_config "$R" "$M" ringlbd "{}" >"$TMP/ringlbd.json"
if [ -n "$RINGLBD_B_IO" ]; then
    ringlbd_config "$RB" "$MB" ringlbd-b "$RINGLBD_B_IO" >"$TMP/ringlbd-b.json"
fi
cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4000
defaults
    mode tcp
    maxconn 4000
    timeout connect 5s
    timeout client 24h
    timeout server 24h
frontend fe
    bind 127.0.0.1:$H
    default_backend be
backend be
    server s1 127.0.0.1:$B
EOF

start_nginx_small "$B"
"$RINGLBD" --config "$TMP/ringlbd.json" --workers 1 >"$TMP/ringlbd.log" 2>&1 & RINGLBD_PID=$!
PIDS+=("$RINGLBD_PID")
haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 & HAPROXY_PID=$!
PIDS+=("$HAPROXY_PID")
PORTS=("$B" "$R" "$H")
if [ -n "$RINGLBD_B_IO" ]; then
    "$RINGLBD" --config "$TMP/ringlbd-b.json" --workers 1 >"$TMP/ringlbd-b.log" 2>&1 &
    RINGLBD_B_PID=$!
    PIDS+=("$RINGLBD_B_PID")
    PORTS+=("$RB")
fi
wait_listening kernel_share.sh "${PORTS[@]}"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure NAME PORT PID MODE [BINARY]: one line of the table.
measure() {
    local name=$1 port=$2 pid=$3 mode=$4 bin=${5:-$1} hdr=()
    [ "$mode" = close ] && hdr=(-H "Connection: close")
    timeout 20 wrk -t1 -c50 -d2s "${hdr[@]}" "http://127.0.0.1:$port/small" >/dev/null  # warm-up
    local c0 c1 out reqs calls calls_reqs
    # CPU time with nothing attached (tracing system calls slows each one down).
    c0=$(cpu_ticks "$pid")
    out=$(timeout $((DURATION + 30)) wrk -t1 -c50 -d"${DURATION}s" "${hdr[@]}" \
        "http://127.0.0.1:$port/small")
    c1=$(cpu_ticks "$pid")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    grep -q "Non-2xx" <<<"$out" && { echo "kernel_share.sh: $name answered errors" >&2; exit 1; }
    # System calls, in a run of their own.
    timeout $((DURATION + 30)) perf stat -e raw_syscalls:sys_enter -p "$pid" -o "$TMP/stat" \
        -- sleep "$DURATION" &
    local perf_pid=$!
    out=$(timeout $((DURATION + 30)) wrk -t1 -c50 -d"${DURATION}s" "${hdr[@]}" \
        "http://127.0.0.1:$port/small")
    wait "$perf_pid"
    calls_reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    calls=$(awk '/raw_syscalls/ {gsub(",", "", $1); print $1}' "$TMP/stat")
    if [ -z "$reqs" ] || [ -z "$calls_reqs" ] || [ -z "$calls" ]; then
        echo "kernel_share.sh: $name $mode: wrk or perf stat measured nothing" >&2
        exit 1
    fi
    timeout $((DURATION + 30)) perf record -q -F 2000 -p "$pid" -o "$TMP/perf.data" \
        -- sleep "$DURATION" >/dev/null 2>&1 &
    perf_pid=$!
    timeout $((DURATION + 30)) wrk -t1 -c50 -d"${DURATION}s" "${hdr[@]}" \
        "http://127.0.0.1:$port/small" >/dev/null
    wait "$perf_pid"
    # Sample shares by object: the kernel, the proxy's own binary, everything else.
    local shares
    shares=$(perf report -i "$TMP/perf.data" --no-children --sort dso -g none 2>/dev/null \
        | awk -v bin="$bin" '/%/ { v = $1; sub("%", "", v);
              if ($2 ~ /kernel/) k += v; else if ($2 == bin) o += v; else l += v }
              END { printf "%.0f | %.0f | %.0f", k, o, l }')
    awk -v n="$name" -v m="$mode" -v r="$reqs" -v dc="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" \
        -v s="$calls" -v sr="$calls_reqs" -v sh="$shares" 'BEGIN {
            printf "| %s | %s | %d | %.2f | %.2f | %s |\n", m, n, r, dc / hz * 1e6 / r, s / sr, sh }'
}

echo "| test | proxy | requests | CPU µs/request | system calls/request | kernel % | own code % | libraries % |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for mode in keepalive close; do
    measure ringlbd "$R" "$RINGLBD_PID" "$mode"
    [ -n "$RINGLBD_B_IO" ] && measure ringlbd-b "$RB" "$RINGLBD_B_PID" "$mode" ringlbd
    measure haproxy "$H" "$HAPROXY_PID" "$mode"
done
if [ -n "$RINGLBD_B_IO" ]; then
    echo
    echo "ringlbd-b: runtime.io $RINGLBD_B_IO"
    grep -h "io: " "$TMP/ringlbd.log" "$TMP/ringlbd-b.log"
fi
