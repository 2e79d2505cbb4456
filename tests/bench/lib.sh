# SPDX-License-Identifier: MIT
# Shared by the bench scripts (sourced): a scratch directory and the processes started in it,
# both gone on exit; free loopback ports; an nginx backend serving a small file.

# bench_scratch NAME: $TMP (readable by nginx's workers, which run as nobody under root) and
# $PIDS, whose processes get SIGTERM on exit (SIGKILL after 5 s), then $TMP goes.
bench_scratch() {
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    TMP=$(mktemp -d "/tmp/ringlb-$1.XXXXXX")
    chmod 755 "$TMP"
    PIDS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for _ in $(seq 50); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$TMP"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

listening() {
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null
}

# wait_listening SCRIPT PORT...: up to 5 s for each; exits the script if one never listens.
wait_listening() {
    local script=$1 port
    shift
    for port in "$@"; do
        for _ in $(seq 50); do listening "$port" && break; sleep 0.1; done
        listening "$port" || { echo "$script: nothing listens on $port" >&2; exit 1; }
    done
}

# start_nginx_small PORT: nginx (1 worker, keep-alive without limit) serving /small, 64 bytes.
start_nginx_small() {
    mkdir -p "$TMP/www" "$TMP/nginx"
    head -c 63 /dev/urandom | base64 -w0 | head -c 63 >"$TMP/www/small" && echo >>"$TMP/www/small"
    cat >"$TMP/nginx.conf" <<NGINX
worker_processes 1;
worker_rlimit_nofile 65536;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
daemon off;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 3600s;
    client_body_temp_path $TMP/nginx/cb; proxy_temp_path $TMP/nginx/p;
    fastcgi_temp_path $TMP/nginx/f; uwsgi_temp_path $TMP/nginx/u; scgi_temp_path $TMP/nginx/s;
    server { listen 127.0.0.1:$1 backlog=4096; root $TMP/www; location / { } }
}
NGINX
    nginx -p "$TMP/nginx" -c "$TMP/nginx.conf" &
    PIDS+=($!)
}

# default_ringlbd REPO: $RINGLBD if set, else the release build's binary, else the debug one's.
default_ringlbd() {
    if [ -n "${RINGLBD:-}" ]; then
        echo "$RINGLBD"
    elif [ -x "$1/build-release/daemon/ringlbd" ]; then
        echo "$1/build-release/daemon/ringlbd"
    else
        echo "$1/build/daemon/ringlbd"
    fi
}

# require SCRIPT TOOL...: exits the script, naming the first tool (or path) not found.
require() {
    local script=$1 t
    shift
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "$script: $t not found" >&2; exit 1; }
    done
}

# proc_ticks PID: the process's CPU time so far (utime + stime, in clock ticks).
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# ab_row ROUND TEST A B: a row of an A/B table (markdown), with B/A.
ab_row() {
    awk -v r="$1" -v t="$2" -v a="$3" -v b="$4" 'BEGIN {
        printf "| %d | %s | %s | %s | %.2f |\n", r, t, a, b, (a > 0 ? b / a : 0) }'
}

# iperf3_rate_and_cost JSON TICKS: "Gbit/s CPU-s/GB" of an `iperf3 -J` run, from its output
# and the proxy's CPU ticks over it; fails if the run moved nothing.
iperf3_rate_and_cost() {
    python3 -c '
import json, sys
d = json.loads(sys.argv[1])["end"]["sum_received"]
gb = d["bytes"] / 1e9
print("%.2f %.3f" % (gb * 8 / d["seconds"], int(sys.argv[2]) / int(sys.argv[3]) / gb))' \
        "$1" "$2" "$(getconf CLK_TCK)"
}

# rounds_option SCRIPT ARGS...: ROUNDS from `--rounds N` (default 3); exits on anything else.
rounds_option() {
    local script=$1
    shift
    ROUNDS=3
    while [ $# -gt 0 ]; do
        case $1 in
            --rounds) ROUNDS=${2:?}; shift ;;
            *) echo "usage: tests/bench/$script [--rounds N]" >&2; exit 64 ;;
        esac
        shift
    done
}

# The A/B scripts' set-up (conn_ab.sh, io_ab.sh): an nginx backend on $B serving /small and an
# iperf3 server on $I, then two ringlbd instances, A and B, each with an "http" listener to
# nginx and a "bulk" one to iperf3; their PIDs and listener ports in PID, HTTP and BULK.
start_ab_backends() {
    B=$(free_port) I=$(free_port)
    start_nginx_small "$B"
    iperf3 -s -p "$I" >/dev/null 2>&1 &
    PIDS+=($!)
    declare -gA PID HTTP BULK
}

# start_ab_ringlbd NAME BINARY IO_JSON HTTP_EXTRA BULK_EXTRA: one instance, 1 worker, with
# `runtime.io` IO_JSON; the EXTRAs are JSON members added to a listener, each ending in a comma.
start_ab_ringlbd() {
    local name=$1 bin=$2 io=$3 http_extra=$4 bulk_extra=$5
    HTTP[$name]=$(free_port) BULK[$name]=$(free_port)
    cat >"$TMP/$name.json" <<JSON
{ "runtime": { "workers": 1, "io": $io },
  "metrics": { "listen": "127.0.0.1:$(free_port)" },
  "admin": { "socket": "$TMP/$name.sock" },
  "listeners": [
    { "name": "http", "listen": "127.0.0.1:${HTTP[$name]}", $http_extra "pool": "http",
      "max_connections": 20000, "timeouts": { "connect_ms": 3000, "idle_ms": 86400000 } },
    { "name": "bulk", "listen": "127.0.0.1:${BULK[$name]}", $bulk_extra "pool": "bulk" } ],
  "pools": [ { "name": "http", "backends": [ { "address": "127.0.0.1:$B" } ] },
             { "name": "bulk", "backends": [ { "address": "127.0.0.1:$I" } ] } ] }
JSON
    "$bin" --config "$TMP/$name.json" --workers 1 >"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    PIDS+=("${PID[$name]}")
}

# wait_ab_listening SCRIPT: until the backends and both instances listen.
wait_ab_listening() {
    wait_listening "$1" "$B" "$I" "${HTTP[A]}" "${HTTP[B]}" "${BULK[A]}" "${BULK[B]}"
}

# bulk_ab SCRIPT ROUND LABEL: iperf3 (8 s) through A's then B's bulk listener; two rows of the
# A/B table, "LABEL: Gbit/s" and "LABEL: CPU s/GB".
bulk_ab() {
    local script=$1 round=$2 label=$3 name c0 c1 out
    local -A gbps spgb
    for name in A B; do
        c0=$(proc_ticks "${PID[$name]}")
        out=$(timeout 40 iperf3 -c 127.0.0.1 -p "${BULK[$name]}" -t 8 -J)
        c1=$(proc_ticks "${PID[$name]}")
        read -r "gbps[$name]" "spgb[$name]" < <(iperf3_rate_and_cost "$out" "$((c1 - c0))") \
            || { echo "$script: iperf3 measured nothing" >&2; exit 1; }
    done
    ab_row "$round" "$label: Gbit/s" "${gbps[A]}" "${gbps[B]}"
    ab_row "$round" "$label: CPU s/GB" "${spgb[A]}" "${spgb[B]}"
}

# per_op_cpu TICKS N: the CPU µs per operation of TICKS clock ticks over N operations.
per_op_cpu() {
    awk -v d="$1" -v hz="$(getconf CLK_TCK)" -v n="$2" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }'
}
