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
