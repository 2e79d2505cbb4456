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
start_ab_backends
# The http listener with the defaults, the bulk one with splice off (the receive path).
start_ab_ringlbd A "$RINGLBD" "$A_IO" "" '"splice": false,'
start_ab_ringlbd B "$RINGLBD_B" "$B_IO" "" '"splice": false,'
wait_ab_listening io_ab.sh

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

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
            cpu[$name]=$(per_op_cpu "$((c1 - c0))" "$reqs")
            rss[$name]=$(rss_kib "${PID[$name]}")
        done
        ab_row "$round" "$conns keep-alive conns: requests/s" "${rps[A]}" "${rps[B]}"
        ab_row "$round" "$conns keep-alive conns: CPU µs/request" "${cpu[A]}" "${cpu[B]}"
        ab_row "$round" "RSS KiB after $conns conns (grows only)" "${rss[A]}" "${rss[B]}"
    done
    bulk_ab io_ab.sh "$round" "bulk, splice off"
done
