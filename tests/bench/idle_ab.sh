#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Idle memory, A/B: proxy RSS per idle proxied connection of two ringlbd builds (or the same
# one twice), N connections held through each in turn, ROUNDS rounds interleaved (A B A B ...),
# each round on freshly started daemons. The quick check for a change to what an idle
# connection keeps; compare.sh's test d is the same measurement against HAProxy and nginx.
#
#   RINGLBD=build-release/daemon/ringlbd RINGLBD_B=/tmp/other/ringlbd tests/bench/idle_ab.sh [N] [ROUNDS]
#
# Defaults: N 5000, ROUNDS 3, RINGLBD_B = RINGLBD. The listener has an idle timeout (1 day),
# as in compare.sh, so each connection keeps its idle timer.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
N=${1:-5000}
ROUNDS=${2:-3}
RINGLBD=${RINGLBD:-$SCRIPT_DIR/../../build-release/daemon/ringlbd}
RINGLBD_B=${RINGLBD_B:-$RINGLBD}
# shellcheck source=tests/bench/lib.sh
source "$SCRIPT_DIR/lib.sh"
bench_scratch idleab
HOLD=$(free_port)

# one NAME BINARY: starts a ringlbd, holds N idle connections through it, prints KiB/conn.
one() {
    local name=$1 bin=$2 port pid out
    port=$(free_port)
    cat >"$TMP/$name.json" <<JSON
{ "runtime": { "workers": 1 },
  "metrics": { "listen": "127.0.0.1:$(free_port)" },
  "admin": { "socket": "$TMP/$name.sock" },
  "listeners": [ { "name": "idle", "listen": "127.0.0.1:$port", "pool": "hold",
      "max_connections": $((N + 100)), "timeouts": { "connect_ms": 3000, "idle_ms": 86400000 } } ],
  "pools": [ { "name": "hold", "backends": [ { "address": "127.0.0.1:$HOLD" } ] } ] }
JSON
    "$bin" --config "$TMP/$name.json" --workers 1 >"$TMP/$name.log" 2>&1 &
    pid=$!
    wait_listening idle_ab.sh "$port"
    out=$(timeout 200 python3 "$SCRIPT_DIR/compare/idle_conns.py" --hold-port "$HOLD" \
        --proxy-port "$port" --n "$N" --pids "$pid" --timeout 90 | tail -1)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    python3 - "$out" "$N" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
ok = d["kib_per_conn"] is not None and min(d["connected"], d["held"]) >= int(sys.argv[2])
print("%.3f" % d["kib_per_conn"] if ok else "failed")
PY
}

echo "A: $RINGLBD"
echo "B: $RINGLBD_B"
echo "$N idle connections, KiB of RSS per connection"
for r in $(seq "$ROUNDS"); do
    a=$(one A "$RINGLBD")
    b=$(one B "$RINGLBD_B")
    echo "round $r: A $a  B $b"
done
