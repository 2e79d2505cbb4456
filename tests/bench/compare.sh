#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ringlbd against HAProxy (mode tcp) and nginx (stream), on loopback, in one command:
#
#   tests/bench/compare.sh            # R=3 rounds of 10 s runs, 1 worker per proxy (~10-15 min)
#   tests/bench/compare.sh --quick    # 1 round of 5 s runs (smoke run)
#   tests/bench/compare.sh --workers 2
#
# It installs what is missing (haproxy, nginx + libnginx-mod-stream, wrk, iperf3) with apt-get,
# builds ringlbd if build/daemon/ringlbd is missing, starts an nginx HTTP backend (/small: 64
# bytes, /big: 1 MiB), an iperf3 server and the proxies, each on its own loopback ports with its
# own temporary config, pid file and logs, and measures, interleaved round by round:
#   a. small requests over 50 keep-alive connections (wrk): requests/s, p50/p99, proxy CPU/request
#   b. new connections (wrk, Connection: close): connections/s, proxy CPU/connection
#   c. bulk (iperf3 -t D): Gbit/s, proxy CPU s/GB (HAProxy also with `option splice-auto`)
#   d. 10,000 idle proxied connections: proxy RSS KiB/connection (first round only: later
#      rounds would reuse the memory the first one freed)
#   e. ringlbd at 1 and 2 workers for (a)
# It prints one table (medians) and writes it, with the machine and the exact commands, to
# tests/bench/results/compare-<date>.md and into docs/performance.md (its "latest run"
# section, replaced on each run; --no-doc to skip). Everything it started is stopped on exit.
#
# Environment: RINGLBD=path benchmarks another binary (e.g. build-release/daemon/ringlbd).
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
HELPERS=$SCRIPT_DIR/compare
INVOCATION="tests/bench/compare.sh $*"

ROUNDS=3
DURATION=10
WORKERS=1
IDLE_N=10000
CONNS=50
KEEP=0
INSTALL=1
WRITE_DOC=1

usage() {
    cat <<EOF
usage: tests/bench/compare.sh [--quick] [--rounds R] [--duration S] [--workers 1|2]
                              [--idle-conns N] [--keep] [--no-install]
  --quick         1 round of 5 s runs (smoke run)
  --rounds R      interleaved rounds; medians are reported (default 3)
  --duration S    seconds per wrk / iperf3 run (default 10)
  --workers W     worker threads/processes of every proxy (default 1)
  --idle-conns N  idle connections opened through each proxy in test d (default 10000)
  --keep          keep the temporary directory (configs, logs, raw outputs)
  --no-install    do not apt-get install missing tools
  --no-doc        do not write the run into docs/performance.md (--quick implies it)
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
        --quick) ROUNDS=1; DURATION=5; WRITE_DOC=0 ;;
        --rounds) ROUNDS=${2:?}; shift ;;
        --duration) DURATION=${2:?}; shift ;;
        --workers) WORKERS=${2:?}; shift ;;
        --idle-conns) IDLE_N=${2:?}; shift ;;
        --keep) KEEP=1 ;;
        --no-install) INSTALL=0 ;;
        --no-doc) WRITE_DOC=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown argument: $1" >&2; usage >&2; exit 64 ;;
    esac
    shift
done
case $WORKERS in 1|2) ;; *) echo "compare.sh: --workers must be 1 or 2" >&2; exit 64 ;; esac
ALT_WORKERS=$((3 - WORKERS))

# Messages go to the script's original stderr (fd 3), even from a trap that runs while a
# measurement's stderr is redirected.
exec 3>&2
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&3; }
die() { log "error: $*"; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

START_EPOCH=$(date +%s)
DATE=$(date +%Y-%m-%d-%H%M%S)

# ---------------------------------------------------------------------------------------------
# 1. Tools and the ringlbd binary
# ---------------------------------------------------------------------------------------------
install_tools() {
    local missing=()
    command -v haproxy >/dev/null || missing+=(haproxy)
    command -v nginx >/dev/null || missing+=(nginx)
    [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v iperf3 >/dev/null || missing+=(iperf3)
    command -v python3 >/dev/null || missing+=(python3)
    command -v pgrep >/dev/null || missing+=(procps)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$INSTALL" -eq 1 ] || die "missing: ${missing[*]} (and --no-install given)"
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
        die "apt-get update failed"
    # iperf3 asks whether to start a daemon: noninteractive takes the default (no).
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

build_ringlbd() {
    if [ -n "${RINGLBD:-}" ]; then
        [ -x "$RINGLBD" ] || die "RINGLBD=$RINGLBD is not an executable"
        return 0
    fi
    RINGLBD=$REPO/build/daemon/ringlbd
    [ -x "$RINGLBD" ] && return 0
    log "building ringlbd (build/daemon/ringlbd is missing)"
    if ! command -v meson >/dev/null || ! command -v ninja >/dev/null; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            g++ meson ninja-build pkg-config liburing-dev libboost-program-options-dev \
            nlohmann-json3-dev prometheus-cpp-dev libsystemd-dev >/dev/null ||
            die "installing the build dependencies failed"
    fi
    if [ ! -f "$REPO/build/build.ninja" ]; then
        # The same build type as ./dev, so that ./dev keeps using this directory.
        (cd "$REPO" && meson setup build --buildtype=debugoptimized) >/dev/null || die "meson setup failed"
    fi
    ninja -C "$REPO/build" daemon/ringlbd >/dev/null || die "building ringlbd failed"
}

install_tools
build_ringlbd
for t in haproxy nginx wrk iperf3 python3 pgrep getconf; do
    command -v $t >/dev/null || die "$t not found"
done

# ---------------------------------------------------------------------------------------------
# 2. Temporary directory, limits, clean-up
# ---------------------------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/ringlb-bench.XXXXXX)
chmod 755 "$TMP"   # nginx workers run as nobody and read $TMP/www
mkdir -p "$TMP/runs" "$TMP/www"
SAMPLES=$TMP/samples.tsv
PROBLEMS=$TMP/problems.txt
COMMANDS=$TMP/commands.txt
META=$TMP/meta.tsv
: >"$SAMPLES"; : >"$PROBLEMS"; : >"$COMMANDS"; : >"$META"

# A private copy: another build replacing build/daemon/ringlbd mid-run must not change the
# binary under test.
cp "$RINGLBD" "$TMP/ringlbd" || die "cannot copy $RINGLBD"
RINGLBD_SRC=$RINGLBD
RINGLBD=$TMP/ringlbd

STARTED_PIDS=()
CLEANED=0
cleanup() {
    [ "$CLEANED" -eq 1 ] && return
    CLEANED=1
    local pid i
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${STARTED_PIDS[i]}
        kill -TERM "$pid" 2>/dev/null
    done
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${STARTED_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${STARTED_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "$KEEP" -eq 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Two descriptors per proxied connection in the proxy, one per connection in each of the idle
# helper's two processes. Without CAP_SYS_RESOURCE the hard limit cannot be raised (some
# containers): then test d opens as many connections as the limit allows, and says so.
ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
MAX_IDLE=$(((NOFILE - 400) / 2))
IDLE_NOTE=""
if [ "$IDLE_N" -gt "$MAX_IDLE" ]; then
    IDLE_NOTE="RLIMIT_NOFILE cannot be raised above $NOFILE here (hard limit, no CAP_SYS_RESOURCE): test d opens $MAX_IDLE idle connections instead of $IDLE_N"
    log "warning: $IDLE_NOTE"
    IDLE_N=$MAX_IDLE
fi
[ "$IDLE_N" -ge 100 ] || die "RLIMIT_NOFILE is $NOFILE: too low for the idle-connection test"
HAPROXY_MAXCONN=$(((NOFILE - 200) / 2))
NGINX_WORKER_CONNECTIONS=$((NOFILE < 65536 ? NOFILE : 65536))

CLK_TCK=$(getconf CLK_TCK)

# N free loopback ports below the ephemeral range (so that no outgoing connection takes them).
# shellcheck disable=SC2207
PORTS=($(python3 - 40 <<'PY'
import random, socket, sys
n = int(sys.argv[1]); socks = []; port = random.randrange(20000, 28000)
while len(socks) < n and port < 32000:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port)); socks.append(s)
    except OSError:
        s.close()
    port += 1
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
))
[ ${#PORTS[@]} -ge 40 ] || die "could not find 40 free loopback ports"
next_port() { NEXT_PORT=${PORTS[0]}; PORTS=("${PORTS[@]:1}"); }
next_port; B_HTTP=$NEXT_PORT      # backend nginx
next_port; B_IPERF=$NEXT_PORT     # iperf3 server
next_port; B_HOLD=$NEXT_PORT      # idle-connection holder (idle_conns.py, only during test d)
next_port; R_HTTP=$NEXT_PORT; next_port; R_BULK=$NEXT_PORT; next_port; R_IDLE=$NEXT_PORT
next_port; R_METRICS=$NEXT_PORT
next_port; ALT_HTTP=$NEXT_PORT; next_port; ALT_METRICS=$NEXT_PORT
next_port; H_HTTP=$NEXT_PORT; next_port; H_BULK=$NEXT_PORT; next_port; H_IDLE=$NEXT_PORT
next_port; HS_BULK=$NEXT_PORT
next_port; RC_BULK=$NEXT_PORT     # ringlbd's bulk listener with "splice": false (the copy path)
next_port; N_HTTP=$NEXT_PORT; next_port; N_BULK=$NEXT_PORT; next_port; N_IDLE=$NEXT_PORT

# start NAME CMD...: runs CMD in the background, output to $TMP/NAME.log; sets LAST_PID.
start() {
    local name=$1
    shift
    echo "$*" >>"$COMMANDS"
    "$@" >"$TMP/$name.log" 2>&1 3>&- &
    LAST_PID=$!
    STARTED_PIDS+=("$LAST_PID")
    echo "$LAST_PID" >"$TMP/$name.pid"
}

# Whether something listens on 127.0.0.1:PORT, from /proc/net/tcp: connecting to find out would
# make the proxies open a backend connection (and iperf3 log a failed test).
port_listening() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p {f = 1} END {exit !f}' /proc/net/tcp
}

wait_port() { # NAME PID PORT
    local i
    for i in $(seq 1 100); do
        port_listening "$3" && return 0
        kill -0 "$2" 2>/dev/null || { sed 's/^/    /' "$TMP/$1.log" >&2; die "$1 exited at start"; }
        sleep 0.1
    done
    sed 's/^/    /' "$TMP/$1.log" >&2
    die "$1 does not listen on 127.0.0.1:$3"
}

# ---------------------------------------------------------------------------------------------
# 3. Backends
# ---------------------------------------------------------------------------------------------
head -c 64 /dev/urandom | base64 -w0 | head -c 63 >"$TMP/www/small"
echo >>"$TMP/www/small"
head -c 1048576 /dev/urandom >"$TMP/www/big"
[ "$(stat -c %s "$TMP/www/small")" -eq 64 ] || die "small file is not 64 bytes"

mkdir -p "$TMP/nginx-backend"
cat >"$TMP/nginx-backend.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $TMP/nginx-backend/nginx.pid;
error_log $TMP/nginx-backend/error.log warn;
daemon off;
events { worker_connections $NGINX_WORKER_CONNECTIONS; }
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 3600s;
    client_body_temp_path $TMP/nginx-backend/client_body;
    proxy_temp_path $TMP/nginx-backend/proxy;
    fastcgi_temp_path $TMP/nginx-backend/fastcgi;
    uwsgi_temp_path $TMP/nginx-backend/uwsgi;
    scgi_temp_path $TMP/nginx-backend/scgi;
    server {
        listen 127.0.0.1:$B_HTTP backlog=4096;
        root $TMP/www;
        location / { }
    }
}
EOF
start nginx-backend nginx -p "$TMP/nginx-backend" -e "$TMP/nginx-backend/error.log" -c "$TMP/nginx-backend.conf"
BACKEND_PID=$LAST_PID
start iperf3-server iperf3 -s -B 127.0.0.1 -p "$B_IPERF"
IPERF_PID=$LAST_PID
wait_port nginx-backend "$BACKEND_PID" "$B_HTTP"
wait_port iperf3-server "$IPERF_PID" "$B_IPERF"

# ---------------------------------------------------------------------------------------------
# 4. Proxies
# ---------------------------------------------------------------------------------------------
ringlbd_listener() { # NAME PORT POOL [EXTRA-JSON]
    printf '    { "name": "%s", "listen": "127.0.0.1:%s", "pool": "%s",%s\n      "timeouts": { "connect_ms": 3000, "idle_ms": 86400000 } }' "$1" "$2" "$3" "${4:-}"
}
ringlbd_config() { # WORKERS METRICS HTTP [BULK IDLE BULK-COPY]
    local listeners
    listeners=$(ringlbd_listener http "$3" http)
    [ -n "${4:-}" ] && listeners+=$',\n'$(ringlbd_listener bulk "$4" iperf)
    [ -n "${5:-}" ] && listeners+=$',\n'$(ringlbd_listener idle "$5" hold)
    [ -n "${6:-}" ] && listeners+=$',\n'$(ringlbd_listener bulk_copy "$6" iperf ' "splice": false,')
    cat <<EOF
{
  "runtime": { "workers": $1, "drain_timeout_ms": 1000 },
  "metrics": { "listen": "127.0.0.1:$2" },
  "admin": { "socket": "$TMP/ringlbd-$1w.sock" },
  "log": { "level": "info" },
  "listeners": [
$listeners
  ],
  "pools": [
    { "name": "http", "balance": "round_robin", "backends": [ { "address": "127.0.0.1:$B_HTTP" } ] },
    { "name": "iperf", "balance": "round_robin", "backends": [ { "address": "127.0.0.1:$B_IPERF" } ] },
    { "name": "hold", "balance": "round_robin", "backends": [ { "address": "127.0.0.1:$B_HOLD" } ] }
  ]
}
EOF
}
ringlbd_config "$WORKERS" "$R_METRICS" "$R_HTTP" "$R_BULK" "$R_IDLE" "$RC_BULK" >"$TMP/ringlbd.json"
ringlbd_config "$ALT_WORKERS" "$ALT_METRICS" "$ALT_HTTP" >"$TMP/ringlbd-alt.json"
"$RINGLBD" --check --config "$TMP/ringlbd.json" >/dev/null || die "ringlbd rejects $TMP/ringlbd.json"

haproxy_config() { # NBTHREAD MAXCONN EXTRA_DEFAULTS then "name port backend_port" triples
    local nbthread=$1 maxconn=$2 extra=$3
    shift 3
    cat <<EOF
global
    nbthread $nbthread
    maxconn $maxconn
defaults
    mode tcp
    maxconn $maxconn
    timeout connect 5s
    timeout client 24h
    timeout server 24h
$extra
EOF
    while [ $# -gt 0 ]; do
        cat <<EOF
frontend fe_$1
    bind 127.0.0.1:$2
    default_backend be_$1
backend be_$1
    server s1 127.0.0.1:$3
EOF
        shift 3
    done
}
haproxy_config "$WORKERS" "$HAPROXY_MAXCONN" "" http "$H_HTTP" "$B_HTTP" bulk "$H_BULK" "$B_IPERF" idle "$H_IDLE" "$B_HOLD" \
    >"$TMP/haproxy.cfg"
# Splicing also reserves maxconn/4 pipes (two descriptors each): a small maxconn is plenty here.
haproxy_config "$WORKERS" 4096 "    option splice-auto" bulk "$HS_BULK" "$B_IPERF" >"$TMP/haproxy-splice.cfg"
haproxy -c -q -f "$TMP/haproxy.cfg" || die "haproxy rejects $TMP/haproxy.cfg"
haproxy -c -q -f "$TMP/haproxy-splice.cfg" || die "haproxy rejects $TMP/haproxy-splice.cfg"

mkdir -p "$TMP/nginx-proxy"
cat >"$TMP/nginx-proxy.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes $WORKERS;
worker_rlimit_nofile $NOFILE;
pid $TMP/nginx-proxy/nginx.pid;
error_log $TMP/nginx-proxy/error.log warn;
daemon off;
events { worker_connections $NGINX_WORKER_CONNECTIONS; }
stream {
    proxy_timeout 24h;
    server { listen 127.0.0.1:$N_HTTP; proxy_pass 127.0.0.1:$B_HTTP; }
    server { listen 127.0.0.1:$N_BULK; proxy_pass 127.0.0.1:$B_IPERF; }
    server { listen 127.0.0.1:$N_IDLE; proxy_pass 127.0.0.1:$B_HOLD; }
}
EOF

start ringlbd "$RINGLBD" --config "$TMP/ringlbd.json" --workers "$WORKERS"
RINGLBD_PID=$LAST_PID
start ringlbd-alt "$RINGLBD" --config "$TMP/ringlbd-alt.json" --workers "$ALT_WORKERS"
RINGLBD_ALT_PID=$LAST_PID
start haproxy haproxy -db -f "$TMP/haproxy.cfg" -p "$TMP/haproxy.pid"
HAPROXY_PID=$LAST_PID
start haproxy-splice haproxy -db -f "$TMP/haproxy-splice.cfg" -p "$TMP/haproxy-splice.pid"
HAPROXY_SPLICE_PID=$LAST_PID
start nginx-proxy nginx -p "$TMP/nginx-proxy" -e "$TMP/nginx-proxy/error.log" -c "$TMP/nginx-proxy.conf"
NGINX_PID=$LAST_PID
wait_port ringlbd "$RINGLBD_PID" "$R_HTTP"
wait_port ringlbd-alt "$RINGLBD_ALT_PID" "$ALT_HTTP"
wait_port haproxy "$HAPROXY_PID" "$H_HTTP"
wait_port haproxy-splice "$HAPROXY_SPLICE_PID" "$HS_BULK"
wait_port nginx-proxy "$NGINX_PID" "$N_HTTP"

# Process ids whose CPU time and memory are the proxy's: nginx is a master and its workers.
target_pids() {
    case $1 in
        direct) ;;
        ringlbd | ringlbd-copy) echo "$RINGLBD_PID" ;;
        ringlbd-alt) echo "$RINGLBD_ALT_PID" ;;
        haproxy) echo "$HAPROXY_PID" ;;
        haproxy-splice) echo "$HAPROXY_SPLICE_PID" ;;
        nginx) echo "$NGINX_PID" $(pgrep -P "$NGINX_PID") ;;
        backend) echo "$BACKEND_PID" $(pgrep -P "$BACKEND_PID") ;;
    esac
}
http_port() {
    case $1 in
        direct) echo "$B_HTTP" ;; ringlbd) echo "$R_HTTP" ;; ringlbd-alt) echo "$ALT_HTTP" ;;
        haproxy) echo "$H_HTTP" ;; nginx) echo "$N_HTTP" ;;
    esac
}
bulk_port() {
    case $1 in
        direct) echo "$B_IPERF" ;; ringlbd) echo "$R_BULK" ;; haproxy) echo "$H_BULK" ;;
        ringlbd-copy) echo "$RC_BULK" ;;
        haproxy-splice) echo "$HS_BULK" ;; nginx) echo "$N_BULK" ;;
    esac
}
idle_port() {
    case $1 in ringlbd) echo "$R_IDLE" ;; haproxy) echo "$H_IDLE" ;; nginx) echo "$N_IDLE" ;; esac
}

# Sum of utime+stime (clock ticks) of the given processes (all their threads).
cpu_ticks() {
    local total=0 pid line f
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        read -r line <"/proc/$pid/stat" || continue
        read -r -a f <<<"${line##*) }"
        total=$((total + f[11] + f[12]))
    done
    echo $total
}

# Busy and total clock ticks of the whole machine (/proc/stat), to tell how much CPU the
# other jobs on a shared machine took during a run.
# TCP segments sent on this machine so far (/proc/net/snmp Tcp OutSegs: every segment on
# loopback is sent once and received once). Divided by requests, it counts each side's packets
# per request, a proxy's included: each one costs a pass through the TCP stack.
tcp_out_segments() {
    awk '/^Tcp:/ && ++n == 2 {print $12}' /proc/net/snmp
}
machine_ticks() {
    local user nice system idle iowait irq softirq steal
    read -r _ user nice system idle iowait irq softirq steal _ </proc/stat
    echo "$((user + nice + system + irq + softirq + steal)) $((user + nice + system + irq + softirq + steal + idle + iowait))"
}

problem() { log "problem: $*"; echo "$*" >>"$PROBLEMS"; }
NOTES=$TMP/notes.txt
: >"$NOTES"
note() { echo "$*" >>"$NOTES"; }

alive_or_note() { # TARGET: 0 when every process of TARGET is alive
    local pid
    [ "$1" = direct ] && return 0
    for pid in $(target_pids "$1"); do
        kill -0 "$pid" 2>/dev/null && continue
        problem "$1 (pid $pid) is not running any more (round $ROUND); its log: $TMP/$1.log"
        return 1
    done
    [ -n "$(target_pids "$1")" ]
}

sample() { printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$1" "$2" "$3" "$4" >>"$SAMPLES"; }

# Checks every path end to end once: the bodies must come back byte for byte.
sanity_check() {
    local t
    for t in direct ringlbd ringlbd-alt haproxy nginx; do
        python3 - "$(http_port $t)" "$TMP/www" "$t" <<'PY' || die "HTTP through $t returns wrong bytes"
import http.client, sys
port, www, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for path in ("small", "big"):
    want = open(f"{www}/{path}", "rb").read()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/" + path)
    r = c.getresponse()
    got = r.read()
    c.close()
    if r.status != 200 or got != want:
        sys.exit(f"{name} /{path}: status {r.status}, {len(got)} bytes, expected {len(want)}")
PY
    done
    log "sanity: /small and /big come back intact through every proxy"
}

# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
# shellcheck disable=SC2016
WRK_US='function us(v){ if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000;
                        if (v ~ /m$/) return (v+0)*60e6; if (v ~ /s$/) return (v+0)*1e6; return v+0 }
/^ +50%/ {p50=us($2)} /^ +99%/ {p99=us($2)} / requests in / {req=$1} /^Requests\/sec:/ {rps=$2}
/Socket errors:/ {gsub(",", ""); err=$4+$6+$8+$10} /Non-2xx/ {non=$5}
END {printf "%s %s %s %s %d %d\n", req+0, rps+0, p50+0, p99+0, err+0, non+0}'

run_wrk() { # TEST TARGET [SAMPLE_TARGET]; TEST is small or close
    local test=$1 target=$2 as=${3:-$2} port pids out c0 c1 b0 b1 m0 m1 t0 t1 s0 s1
    port=$(http_port "$target")
    alive_or_note "$target" || return 0
    pids=$(target_pids "$target")
    local hdr=()
    [ "$test" = close ] && hdr=(-H 'Connection: close')
    out=$TMP/runs/$test-$as-r$ROUND.txt
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
    # shellcheck disable=SC2046
    b0=$(cpu_ticks $(target_pids backend))
    m0=$(machine_ticks)
    s0=$(tcp_out_segments)
    t0=$(date +%s.%N)
    local TIMEFORMAT='%U %S'
    { time timeout $((DURATION + 30)) wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${hdr[@]}" \
        "http://127.0.0.1:$port/small" >"$out" 2>&1; } 2>"$out.time"
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $pids)
    # shellcheck disable=SC2046
    b1=$(cpu_ticks $(target_pids backend))
    m1=$(machine_ticks)
    s1=$(tcp_out_segments)
    t1=$(date +%s.%N)
    local req rps p50 p99 err non wu ws
    read -r req rps p50 p99 err non < <(awk "$WRK_US" "$out")
    read -r wu ws <"$out.time"
    if [ "${req:-0}" -eq 0 ]; then
        problem "$test/$as round $ROUND: wrk made no request: $(tr '\n' ' ' <"$out" | cut -c1-300)"
        return 0
    fi
    python3 - "$test" "$as" "$req" "$rps" "$p50" "$p99" "$err" "$non" "$c0" "$c1" "$b0" "$b1" \
        "$t0" "$t1" "$wu" "$ws" "$CLK_TCK" "$ROUND" "$SAMPLES" "$target" "$m0" "$m1" "$(nproc)" "$s0" "$s1" <<'PY'
import sys
(test, target, req, rps, p50, p99, err, non, c0, c1, b0, b1, t0, t1, wu, ws, hz, rnd, path,
 real_target, m0, m1, ncpu, s0, s1) = sys.argv[1:]
req, rps, hz = float(req), float(rps), float(hz)
wall = float(t1) - float(t0)
cpu = (int(c1) - int(c0)) / hz
bcpu = (int(b1) - int(b0)) / hz
rows = [("rps", rps), ("p50_ms", float(p50) / 1000), ("p99_ms", float(p99) / 1000),
        ("errors", float(err)), ("non2xx", float(non)), ("requests", req),
        ("wrk_cpu_pct", 100 * (float(wu) + float(ws)) / wall), ("backend_cpu_pct", 100 * bcpu / wall),
        ("segments_per_req", (int(s1) - int(s0)) / req)]
if real_target != "direct":
    rows += [("cpu_us_per_req", 1e6 * cpu / req), ("proxy_cpu_pct", 100 * cpu / wall)]
mb0, mt0 = (int(x) for x in m0.split())
mb1, mt1 = (int(x) for x in m1.split())
if mt1 > mt0:
    busy = 100 * int(ncpu) * (mb1 - mb0) / (mt1 - mt0)
    ours = 100 * (float(wu) + float(ws)) / wall + 100 * bcpu / wall + (100 * cpu / wall if real_target != "direct" else 0)
    rows += [("machine_busy_pct", busy), ("others_cpu_pct", max(0.0, busy - ours))]
with open(path, "a") as f:
    for m, v in rows:
        f.write(f"{rnd}\t{test}\t{target}\t{m}\t{v:.6g}\n")
print(f"{test:6s} {target:15s} {rps:>10,.0f} req/s  p50 {float(p50)/1000:.3f} ms  p99 {float(p99)/1000:.3f} ms"
      + (f"  proxy {1e6 * cpu / req:.2f} µs/req" if real_target != "direct" else "")
      + (f"  errors {err}" if int(err) else "") + (f"  non-2xx {non}" if int(non) else ""))
PY
    [ "$err" -gt 0 ] && problem "$test/$as round $ROUND: wrk socket errors: $(grep 'Socket errors' "$out" | sed 's/^ *//')"
    [ "$non" -gt 0 ] && problem "$test/$as round $ROUND: $non non-2xx responses"
    return 0
}

run_iperf() { # TARGET
    local target=$1 port pids out c0 c1
    port=$(bulk_port "$target")
    alive_or_note "$target" || return 0
    pids=$(target_pids "$target")
    out=$TMP/runs/bulk-$target-r$ROUND.json
    for _ in 1 2 3; do
        # shellcheck disable=SC2086
        c0=$(cpu_ticks $pids)
        timeout $((DURATION + 30)) iperf3 -c 127.0.0.1 -p "$port" -t "$DURATION" -J >"$out" 2>&1
        # shellcheck disable=SC2086
        c1=$(cpu_ticks $pids)
        grep -q '"error"' "$out" && grep -q 'busy' "$out" && { sleep 2; continue; }
        break
    done
    python3 - "$target" "$out" "$c0" "$c1" "$CLK_TCK" "$ROUND" "$SAMPLES" "$PROBLEMS" <<'PY'
import json, sys
target, path, c0, c1, hz, rnd, samples, problems = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception as e:
    open(problems, "a").write(f"bulk/{target} round {rnd}: iperf3 output unreadable: {open(path).read()[:300]!r}\n")
    sys.exit(0)
if "error" in d:
    open(problems, "a").write(f"bulk/{target} round {rnd}: iperf3 error: {d['error']}\n")
    sys.exit(0)
recv = d["end"]["sum_received"]
gbps = recv["bits_per_second"] / 1e9
nbytes = recv["bytes"]
cpu = (int(c1) - int(c0)) / float(hz)
rows = [("gbps", gbps), ("bytes", nbytes)]
if target != "direct":
    rows.append(("cpu_s_per_gb", cpu / (nbytes / 1e9)))
with open(samples, "a") as f:
    for m, v in rows:
        f.write(f"{rnd}\tbulk\t{target}\t{m}\t{v:.6g}\n")
print(f"bulk   {target:15s} {gbps:10.2f} Gbit/s" + (f"  proxy {cpu / (nbytes / 1e9):.3f} CPU s/GB" if target != "direct" else ""))
PY
}

run_idle() { # TARGET
    local target=$1 out pids
    alive_or_note "$target" || return 0
    pids=$(target_pids "$target" | tr ' ' ',')
    out=$TMP/runs/idle-$target-r$ROUND.json
    timeout 240 python3 "$HELPERS/idle_conns.py" --hold-port "$B_HOLD" --proxy-port "$(idle_port "$target")" \
        --n "$IDLE_N" --pids "$pids" --timeout 90 >"$out" 2>"$out.err"
    python3 - "$target" "$out" "$ROUND" "$SAMPLES" "$PROBLEMS" "$IDLE_N" <<'PY'
import json, sys
target, path, rnd, samples, problems, n = sys.argv[1:]
n = int(n)
try:
    d = json.loads(open(path).read().strip().splitlines()[-1])
except Exception:
    open(problems, "a").write(f"idle/{target} round {rnd}: idle_conns.py failed: {open(path + '.err').read()[-400:]!r}\n")
    sys.exit(0)
issues = []
if d["connected"] < n or d["held"] < n:
    issues.append(f"only {d['connected']} client connections / {d['held']} backend connections of {n} established")
if d["failures"]:
    issues.append(f"connect failures {d['failures']}")
if d["dead_clients"] or d["backend_closed_before_measure"]:
    issues.append(f"{d['dead_clients']} clients and {d['backend_closed_before_measure']} backend connections closed early")
if d["fds_after_close"] > d["fds_before"] + 8:
    issues.append(f"descriptors not released after close: {d['fds_before']} before, {d['fds_after_close']} "
                  f"{d['close_seconds']} s after the clients closed")
if not d["proxy_alive"]:
    issues.append("the proxy died")
for i in issues:
    open(problems, "a").write(f"idle/{target} round {rnd}: {i}\n")
with open(samples, "a") as f:
    if d["kib_per_conn"] is not None:
        f.write(f"{rnd}\tidle\t{target}\tkib_per_conn\t{d['kib_per_conn']:.6g}\n")
    f.write(f"{rnd}\tidle\t{target}\tfailures\t{n - min(d['connected'], d['held'])}\n")
    f.write(f"{rnd}\tidle\t{target}\topen_seconds\t{d['open_seconds']}\n")
    f.write(f"{rnd}\tidle\t{target}\trss_before_mib\t{d['rss_before_kib'] / 1024:.6g}\n")
print(f"idle   {target:15s} {d['kib_per_conn']} KiB/conn  ({d['connected']}/{d['held']} of {n} up in "
      f"{d['open_seconds']} s; RSS {d['rss_before_kib']} -> {d['rss_after_kib']} KiB; fds {d['fds_before']} -> "
      f"{d['fds_peak']} -> {d['fds_after_close']})")
PY
}

pause() { sleep 1; }

# ---------------------------------------------------------------------------------------------
# Machine description and commands
# ---------------------------------------------------------------------------------------------
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
meta date "$DATE"
meta invocation "$INVOCATION"
meta rounds "$ROUNDS"
meta duration "$DURATION"
meta workers "$WORKERS"
meta idle_n "$IDLE_N"
meta nofile "$NOFILE"
[ -n "$IDLE_NOTE" ] && meta idle_note "$IDLE_NOTE"
meta nproc "$(nproc)"
meta cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
meta mem "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
meta kernel "$(uname -srm)"
meta os "$(sed -n 's/^PRETTY_NAME="*\([^"]*\)"*$/\1/p' /etc/os-release 2>/dev/null)"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
meta haproxy "$(pkgver haproxy) ($(haproxy -v 2>/dev/null | head -1))"
meta nginx "$(pkgver nginx) ($(nginx -v 2>&1 | head -1))"
meta libnginx-mod-stream "$(pkgver libnginx-mod-stream)"
meta wrk "$(pkgver wrk)"
meta iperf3 "$(pkgver iperf3)"
meta python3 "$(python3 --version 2>&1)"
meta ringlbd "$("$RINGLBD" --version 2>&1 | head -1) ($RINGLBD_SRC, modified $(date -r "$RINGLBD_SRC" '+%F %T'))"
BUILDTYPE=$(python3 -c 'import json,sys
try:
    o = {x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}
    print(o["buildtype"], "-O" + str(o["optimization"]), "b_ndebug=" + str(o["b_ndebug"]), "sanitize=" + str(o["b_sanitize"]))
except Exception:
    print("?")' "$(dirname "$(dirname "$RINGLBD_SRC")")/meson-info/intro-buildoptions.json" 2>/dev/null)
meta ringlbd_build "$BUILDTYPE"
meta git "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null) ($(git -C "$REPO" status --porcelain 2>/dev/null | wc -l) changed files in the work tree)"

{
    echo "# ($TMP is this run's temporary directory, removed at exit unless --keep)"
    echo
    echo "# measurements (PORT = the target's listener; direct = the backend itself)"
    echo "wrk -t1 -c$CONNS -d${DURATION}s --latency http://127.0.0.1:PORT/small                          # a"
    echo "wrk -t1 -c$CONNS -d${DURATION}s --latency -H 'Connection: close' http://127.0.0.1:PORT/small  # b"
    echo "iperf3 -c 127.0.0.1 -p PORT -t $DURATION -J                                                  # c"
    echo "python3 tests/bench/compare/idle_conns.py --hold-port $B_HOLD --proxy-port PORT --n $IDLE_N --pids PIDS --timeout 90  # d"
    echo "# CPU: utime+stime of the proxy's processes (/proc/PID/stat, nginx: master + workers) over the run"
    echo "# RSS: VmRSS of the proxy's processes with $IDLE_N idle connections open minus before, / $IDLE_N"
    echo "# order in each of $ROUNDS round(s): a: direct ringlbd haproxy nginx ringlbd(${ALT_WORKERS}w); b: direct ringlbd haproxy nginx;"
    echo "#   c: direct ringlbd ringlbd-copy haproxy haproxy-splice nginx; d: ringlbd haproxy nginx"
} >>"$COMMANDS"

# ---------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------
log "ports: backend $B_HTTP, iperf3 $B_IPERF, holder $B_HOLD; ringlbd $R_HTTP/$R_BULK/$R_IDLE (${ALT_WORKERS}w: $ALT_HTTP);" \
    "haproxy $H_HTTP/$H_BULK/$H_IDLE (splice $HS_BULK); nginx $N_HTTP/$N_BULK/$N_IDLE"
log "temporary directory: $TMP"
ROUND=0
sanity_check
log "warm-up"
for t in direct ringlbd ringlbd-alt haproxy nginx; do
    timeout 20 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$(http_port $t)/small" >/dev/null 2>&1
done

for ROUND in $(seq 1 "$ROUNDS"); do
    log "round $ROUND/$ROUNDS: a. small requests, $CONNS keep-alive connections (and e. ringlbd ${ALT_WORKERS}w)"
    for t in direct ringlbd haproxy nginx; do run_wrk small $t; pause; done
    run_wrk small ringlbd-alt "ringlbd-${ALT_WORKERS}w"
    # e. reuses (a)'s ringlbd run for its worker count.
    awk -F'\t' -v r="$ROUND" -v w="ringlbd-${WORKERS}w" -v a="ringlbd-${ALT_WORKERS}w" \
        '$1 == r && $2 == "small" && ($3 == "ringlbd" || $3 == a) {
             print $1 "\tscale\t" ($3 == "ringlbd" ? w : a) "\t" $4 "\t" $5 }' \
        "$SAMPLES" >"$TMP/scale.tsv"
    cat "$TMP/scale.tsv" >>"$SAMPLES"
    pause
    log "round $ROUND/$ROUNDS: b. new connections (Connection: close)"
    for t in direct ringlbd haproxy nginx; do run_wrk close $t; pause; done
    log "round $ROUND/$ROUNDS: c. bulk (iperf3)"
    for t in direct ringlbd ringlbd-copy haproxy haproxy-splice nginx; do run_iperf $t; pause; done
    # d. runs in the first round only: memory a round's connections freed stays in the
    # proxy's allocator (free lists, caches), so a later round measures ~0 growth.
    if [ "$ROUND" -eq 1 ]; then
        log "round $ROUND/$ROUNDS: d. $IDLE_N idle connections (first round only)"
        for t in ringlbd haproxy nginx; do run_idle $t; pause; done
    fi
done

# ---------------------------------------------------------------------------------------------
# Problems in ringlbd (log, metrics) and the others' logs
# ---------------------------------------------------------------------------------------------
for name in ringlbd ringlbd-alt; do
    pidvar=RINGLBD_PID; [ $name = ringlbd-alt ] && pidvar=RINGLBD_ALT_PID
    kill -0 "${!pidvar}" 2>/dev/null || problem "$name exited during the run: $(tail -3 "$TMP/$name.log" | tr '\n' ' ')"
    bad=$(grep -ciE 'warn|error|fatal|abort|assert' "$TMP/$name.log")
    if [ "$bad" -gt 0 ]; then
        problem "$name log: $bad warning/error lines, e.g.: $(grep -iE 'warn|error|fatal|abort|assert' "$TMP/$name.log" | sort | uniq -c | sort -rn | head -5 | sed 's/^ *//' | tr '\n' ';')"
    fi
done
python3 - "$R_METRICS" "$ALT_METRICS" "$PROBLEMS" <<'PY'
import re, sys, urllib.request
problems = sys.argv[3]
for port in sys.argv[1:3]:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except Exception as e:
        open(problems, "a").write(f"ringlbd metrics on port {port} unreadable: {e}\n")
        continue
    for line in text.splitlines():
        m = re.match(r'(ringlb_listener_rejected_connections_total|ringlb_backend_connect_errors_total)(\{.*\})? ([0-9.e+]+)$', line)
        if m and float(m.group(3)) > 0:
            open(problems, "a").write(f"ringlbd metrics (port {port}): {m.group(1)}{m.group(2) or ''} = {m.group(3)}\n")
PY
# The other programs' complaints are listed for reference (e.g. iperf3 resets its data
# connection at the end of a test, which nginx logs).
for name in haproxy haproxy-splice nginx-backend iperf3-server; do
    if grep -qiE 'alert|emerg|crit|error' "$TMP/$name.log" 2>/dev/null; then
        note "$name log: $(grep -iE 'alert|emerg|crit|error' "$TMP/$name.log" | sort | uniq -c | sort -rn | head -3 | sed 's/^ *//' | tr '\n' ';')"
    fi
done
for f in "$TMP/nginx-proxy/error.log" "$TMP/nginx-backend/error.log"; do
    [ -s "$f" ] && note "$(basename "$(dirname "$f")") error.log: $(cut -d' ' -f3- "$f" | sed 's/[0-9]*#[0-9]*: \*[0-9]* //; s/client: 127.0.0.1:*[0-9]*, //' | sort | uniq -c | sort -rn | head -3 | sed 's/^ *//' | tr '\n' ';')"
done

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
END_EPOCH=$(date +%s)
WALL=$((END_EPOCH - START_EPOCH))
meta wall "$((WALL / 60)) min $((WALL % 60)) s"
mkdir -p "$SCRIPT_DIR/results"
OUT=$SCRIPT_DIR/results/compare-$DATE.md
echo
DOC_ARGS=()
[ "$WRITE_DOC" -eq 1 ] && DOC_ARGS=(--doc "$REPO/docs/performance.md")
python3 "$HELPERS/report.py" --samples "$SAMPLES" --meta "$META" --commands "$COMMANDS" \
    --problems "$PROBLEMS" --notes "$NOTES" --out "$OUT" "${DOC_ARGS[@]}" \
    --configs "$TMP/ringlbd.json" "$TMP/ringlbd-alt.json" "$TMP/haproxy.cfg" "$TMP/haproxy-splice.cfg" \
    "$TMP/nginx-proxy.conf" "$TMP/nginx-backend.conf" || die "report failed"
echo
log "wall time $((WALL / 60)) min $((WALL % 60)) s; written to ${OUT#"$REPO"/}$([ "$WRITE_DOC" -eq 1 ] && echo " and docs/performance.md")"
