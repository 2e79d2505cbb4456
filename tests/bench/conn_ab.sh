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
start_ab_backends
start_ab_ringlbd A "$RINGLBD" "{}" "$A_LISTENER" "$A_LISTENER"
start_ab_ringlbd B "$RINGLBD_B" "{}" "$B_LISTENER" "$B_LISTENER"
wait_ab_listening conn_ab.sh

out_segments() { awk '/^Tcp:/ && ++n == 2 {print $12}' /proc/net/snmp; }

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
        cpu[$name]=$(per_op_cpu "$((c1 - c0))" "$conns")
        segs[$name]=$(awk -v d="$((s1 - s0))" -v n="$conns" 'BEGIN { printf "%.2f", d / n }')
    done
    ab_row "$round" "new conns: connections/s" "${rate[A]}" "${rate[B]}"
    echo "| $round | new conns: p99 | ${p99[A]} | ${p99[B]} | |"
    ab_row "$round" "new conns: CPU µs/connection" "${cpu[A]}" "${cpu[B]}"
    ab_row "$round" "new conns: TCP segments/connection" "${segs[A]}" "${segs[B]}"
    bulk_ab conn_ab.sh "$round" "bulk, splice auto"
done
