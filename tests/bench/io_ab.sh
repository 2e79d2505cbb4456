#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# An A/B of a receive-path option (or of two builds): two ringlbd instances side by side, one
# with runtime.io A and one with B, measured in the same rounds, interleaved (A, B, A, B, ...):
#
#   RINGLBD_B_IO='{"incremental": false}' tests/bench/io_ab.sh [--rounds N]   # ~3 min
#
# For each round and instance: small requests over keep-alive connections (wrk, 50, 500 and
# 2,000 connections: requests/s, CPU µs per request, and the daemon's RSS after, which grows
# with the ring buffers it has touched), and bulk through a listener with splice off, so the
# bytes go through the ring (iperf3: Gbit/s and CPU s per GB). It prints every sample; the
# machine is noisy, so compare within a round. Needs nginx, wrk and iperf3 (compare.sh
# installs them); installs nothing. Everything it starts is stopped on exit.
#
# Environment: RINGLBD=path (default build-release/daemon/ringlbd, else build/daemon/ringlbd);
# RINGLBD_A_IO (default {}), RINGLBD_B_IO (default {"incremental": false}); RINGLBD_B=path runs
# B from another build (default: the same binary).
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$SCRIPT_DIR/lib.sh"
rounds_option io_ab.sh "$@"
RINGLBD=$(default_ringlbd "$REPO")
A_IO=${RINGLBD_A_IO:-"{}"}
B_IO=${RINGLBD_B_IO:-'{"incremental": false}'}
RINGLBD_B=${RINGLBD_B:-$RINGLBD}
require io_ab.sh nginx wrk iperf3 python3 "$RINGLBD" "$RINGLBD_B"
bench_scratch ioab
B=$(free_port) I=$(free_port)

start_nginx_small "$B"
iperf3 -s -p "$I" >/dev/null 2>&1 & PIDS+=($!)

# start NAME IO_JSON BINARY: a ringlbd with an http listener (defaults) and a bulk one (splice
# off).
declare -A PID HTTP BULK
start() {
    local name=$1 io=$2 bin=$3
    HTTP[$name]=$(free_port) BULK[$name]=$(free_port)
    cat >"$TMP/$name.json" <<EOF
{ "runtime": { "workers": 1, "io": $io },
  "metrics": { "listen": "127.0.0.1:$(free_port)" },
  "admin": { "socket": "$TMP/$name.sock" },
  "listeners": [
    { "name": "http", "listen": "127.0.0.1:${HTTP[$name]}", "pool": "http",
      "max_connections": 20000, "timeouts": { "connect_ms": 3000, "idle_ms": 86400000 } },
    { "name": "bulk", "listen": "127.0.0.1:${BULK[$name]}", "pool": "bulk", "splice": false } ],
  "pools": [ { "name": "http", "backends": [ { "address": "127.0.0.1:$B" } ] },
             { "name": "bulk", "backends": [ { "address": "127.0.0.1:$I" } ] } ] }
EOF
    "$bin" --config "$TMP/$name.json" --workers 1 >"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    PIDS+=("${PID[$name]}")
}
start A "$A_IO" "$RINGLBD"
start B "$B_IO" "$RINGLBD_B"
wait_listening io_ab.sh "$B" "$I" "${HTTP[A]}" "${HTTP[B]}" "${BULK[A]}" "${BULK[B]}"

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

echo "A: runtime.io $A_IO, $RINGLBD"
echo "B: runtime.io $B_IO, $RINGLBD_B"
grep -h "io: " "$TMP/A.log" "$TMP/B.log"
echo
echo "| round | test | A | B | B/A |"
echo "|---:|---|---:|---:|---:|"

for round in $(seq "$ROUNDS"); do
    for conns in 50 500 2000; do
        declare -A rps cpu rss
        for name in A B; do
            c0=$(proc_ticks "${PID[$name]}")
            out=$(timeout 40 wrk -t1 -c"$conns" -d6s "http://127.0.0.1:${HTTP[$name]}/small")
            c1=$(proc_ticks "${PID[$name]}")
            reqs=$(awk '/requests in/ {print $1}' <<<"$out")
            [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "io_ab.sh: wrk measured nothing" >&2; exit 1; }
            rps[$name]=$(awk -v n="$reqs" 'BEGIN { printf "%.0f", n / 6 }')
            cpu[$name]=$(awk -v d="$((c1 - c0))" -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
            rss[$name]=$(rss_kib "${PID[$name]}")
        done
        ab_row "$round" "$conns keep-alive conns: requests/s" "${rps[A]}" "${rps[B]}"
        ab_row "$round" "$conns keep-alive conns: CPU µs/request" "${cpu[A]}" "${cpu[B]}"
        ab_row "$round" "RSS KiB after $conns conns (grows only)" "${rss[A]}" "${rss[B]}"
    done
    declare -A gbps spgb
    for name in A B; do
        c0=$(proc_ticks "${PID[$name]}")
        out=$(timeout 40 iperf3 -c 127.0.0.1 -p "${BULK[$name]}" -t 8 -J)
        c1=$(proc_ticks "${PID[$name]}")
        read -r gbps[$name] spgb[$name] < <(iperf3_rate_and_cost "$out" "$((c1 - c0))") \
            || { echo "io_ab.sh: iperf3 measured nothing" >&2; exit 1; }
    done
    ab_row "$round" "bulk, splice off: Gbit/s" "${gbps[A]}" "${gbps[B]}"
    ab_row "$round" "bulk, splice off: CPU s/GB" "${spgb[A]}" "${spgb[B]}"
done
