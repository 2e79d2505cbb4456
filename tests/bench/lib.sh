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
