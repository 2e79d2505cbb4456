#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# New connections and bulk, A/B: two ringlbd builds (or one build with two listener settings)
# side by side, measured in the same rounds, interleaved (A, B, A, B, ...):
#
#   RINGLBD=/tmp/base/ringlbd RINGLBD_B=build-release/daemon/ringlbd tests/bench/conn_ab.sh [--rounds N]
#   RINGLBD_B_LISTENER='"pipe_bytes": 1048576,' tests/bench/conn_ab.sh     # ~1 min a round
#
# For each round and instance: short connections (wrk, 50 connections, `Connection: close`,
# 6 s): connections/s, p99, the daemon's CPU µs per connection and the TCP segments sent per
# connection on the whole machine (/proc/net/snmp OutSegs: client, proxy and backend, each
# segment once); then bulk through a listener with the default splice "auto" (iperf3, 8 s):
# Gbit/s and CPU s per GB. It prints every sample; the machine is noisy, so compare within a
# round. Needs nginx, wrk and iperf3 (compare.sh installs them); installs nothing. Everything
# it starts is stopped on exit.
#
# Environment: RINGLBD=path (default build-release/daemon/ringlbd, else build/daemon/ringlbd);
# RINGLBD_B=path (default: the same binary); RINGLBD_A_LISTENER, RINGLBD_B_LISTENER: JSON
# members added to both of that instance's listeners, each ending in a comma (default none).
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$SCRIPT_DIR/lib.sh"
rounds_option conn_ab.sh "$@"
RINGLBD=$(default_ringlbd "$REPO")
RINGLBD_B=${RINGLBD_B:-$RINGLBD}
A_LISTENER=${RINGLBD_A_LISTENER:-}
B_LISTENER=${RINGLBD_B_LISTENER:-}
require conn_ab.sh nginx wrk iperf3 python3 "$RINGLBD" "$RINGLBD_B"
bench_scratch connab
B=$(free_port) I=$(free_port)

start_nginx_small "$B"
iperf3 -s -p "$I" >/dev/null 2>&1 & PIDS+=($!)

# start NAME LISTENER_JSON BINARY: a ringlbd with an http listener and a bulk one.
declare -A PID HTTP BULK
start() {
    local name=$1 extra=$2 bin=$3
    HTTP[$name]=$(free_port) BULK[$name]=$(free_port)
    cat >"$TMP/$name.json" <<EOF
{ "runtime": { "workers": 1 },
  "metrics": { "listen": "127.0.0.1:$(free_port)" },
  "admin": { "socket": "$TMP/$name.sock" },
  "listeners": [
    { "name": "http", "listen": "127.0.0.1:${HTTP[$name]}", "pool": "http", $extra
      "max_connections": 20000, "timeouts": { "connect_ms": 3000, "idle_ms": 86400000 } },
    { "name": "bulk", "listen": "127.0.0.1:${BULK[$name]}", $extra "pool": "bulk" } ],
  "pools": [ { "name": "http", "backends": [ { "address": "127.0.0.1:$B" } ] },
             { "name": "bulk", "backends": [ { "address": "127.0.0.1:$I" } ] } ] }
EOF
    "$bin" --config "$TMP/$name.json" --workers 1 >"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    PIDS+=("${PID[$name]}")
}
start A "$A_LISTENER" "$RINGLBD"
start B "$B_LISTENER" "$RINGLBD_B"
wait_listening conn_ab.sh "$B" "$I" "${HTTP[A]}" "${HTTP[B]}" "${BULK[A]}" "${BULK[B]}"

out_segments() { awk '/^Tcp:/ && ++n == 2 {print $12}' /proc/net/snmp; }
HZ=$(getconf CLK_TCK)

echo "A: $RINGLBD, listeners +{$A_LISTENER}"
echo "B: $RINGLBD_B, listeners +{$B_LISTENER}"
echo
echo "| round | test | A | B | B/A |"
echo "|---:|---|---:|---:|---:|"

for round in $(seq "$ROUNDS"); do
    declare -A rate p99 cpu segs
    for name in A B; do
        c0=$(proc_ticks "${PID[$name]}")
        s0=$(out_segments)
        out=$(timeout 40 wrk -t1 -c50 -d6s --latency -H 'Connection: close' \
            "http://127.0.0.1:${HTTP[$name]}/small")
        s1=$(out_segments)
        c1=$(proc_ticks "${PID[$name]}")
        conns=$(awk '/requests in/ {print $1}' <<<"$out")
        [ -n "$conns" ] && [ "$conns" -gt 0 ] || { echo "conn_ab.sh: wrk measured nothing" >&2; exit 1; }
        rate[$name]=$(awk -v n="$conns" 'BEGIN { printf "%.0f", n / 6 }')
        p99[$name]=$(awk '$1 == "99%" {print $2}' <<<"$out")
        cpu[$name]=$(awk -v d="$((c1 - c0))" -v hz="$HZ" -v n="$conns" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
        segs[$name]=$(awk -v d="$((s1 - s0))" -v n="$conns" 'BEGIN { printf "%.2f", d / n }')
    done
    ab_row "$round" "new conns: connections/s" "${rate[A]}" "${rate[B]}"
    echo "| $round | new conns: p99 | ${p99[A]} | ${p99[B]} | |"
    ab_row "$round" "new conns: CPU µs/connection" "${cpu[A]}" "${cpu[B]}"
    ab_row "$round" "new conns: TCP segments/connection" "${segs[A]}" "${segs[B]}"
    declare -A gbps spgb
    for name in A B; do
        c0=$(proc_ticks "${PID[$name]}")
        out=$(timeout 40 iperf3 -c 127.0.0.1 -p "${BULK[$name]}" -t 8 -J)
        c1=$(proc_ticks "${PID[$name]}")
        read -r gbps[$name] spgb[$name] < <(iperf3_rate_and_cost "$out" "$((c1 - c0))") \
            || { echo "conn_ab.sh: iperf3 measured nothing" >&2; exit 1; }
    done
    ab_row "$round" "bulk, splice auto: Gbit/s" "${gbps[A]}" "${gbps[B]}"
    ab_row "$round" "bulk, splice auto: CPU s/GB" "${spgb[A]}" "${spgb[B]}"
done
