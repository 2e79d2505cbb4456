#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets of tests/fuzz/ with clang under ASan+UBSan into build-fuzz/ and
# runs each for SECONDS (default 60; as many targets at once as there are CPUs) from a scratch
# copy of its seed corpus. Prints one line per target, then `N passed, N failed`; exits 1 if any
# target crashed, leaked, hit undefined behaviour, timed out or broke an invariant. Crashing
# inputs stay in build-fuzz/crashes/, logs in build-fuzz/logs/.
# Usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
seconds=${1:-60}
out=$root/build-fuzz
here=tests/fuzz

# Each target: <name>_fuzz.cpp plus exactly the sources it links. lld's --gc-sections drops
# what the fuzzed function never reaches, so commands.cpp links whole without the daemon
# (ld.bfd reports undefined symbols even in discarded sections).
TARGETS=(config proxy_protocol admin_request)
declare -A SOURCES=(
    [config]="config/cidr.cpp config/config.cpp config/json.cpp config/load.cpp
              config/resolve.cpp config/validate.cpp
              core/net/address.cpp core/unique_fd.cpp core/assert.cpp"
    [proxy_protocol]="daemon/proxy_protocol.cpp
                      core/net/address.cpp core/unique_fd.cpp core/assert.cpp"
    [admin_request]="daemon/admin/commands.cpp core/assert.cpp"
)

if [[ ! $seconds =~ ^[0-9]+$ ]]; then
    echo "usage: tests/fuzz/run.sh [SECONDS]" >&2
    exit 64
fi

missing=()
for p in clang libclang-rt-14-dev lld ninja-build; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "fuzz: installing ${missing[*]}"
    sudo_=()
    [ "$(id -u)" -eq 0 ] || sudo_=(sudo)
    "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$out/crashes" "$out/logs" "$out/include/core"

# A ninja file: each source compiles once (in parallel, rebuilt when it or a header changes).
ninja_file=$out/build.ninja
{
    echo "cxx = clang++"
    echo "flags = -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined" \
        "-fno-sanitize-recover=undefined -ffunction-sections -fdata-sections" \
        "-I$out/include -I$root"
    echo "rule cxx"
    echo "  command = \$cxx \$flags -MD -MF \$out.d -c \$in -o \$out"
    echo "  depfile = \$out.d"
    echo "  deps = gcc"
    echo "  description = CXX \$in"
    echo "rule link"
    echo "  command = \$cxx \$flags -fuse-ld=lld -Wl,--gc-sections \$in -o \$out"
    echo "  description = LINK \$out"
    declare -A seen=()
    for t in "${TARGETS[@]}"; do
        objs=()
        for src in $here/${t}_fuzz.cpp ${SOURCES[$t]}; do
            obj=obj/${src%.cpp}.o
            objs+=("$obj")
            if [ -z "${seen[$obj]:-}" ]; then
                seen[$obj]=1
                echo "build $obj: cxx $root/$src"
            fi
        done
        echo "build ${t}_fuzz: link ${objs[*]}"
    done
} >"$ninja_file.tmp"
mv "$ninja_file.tmp" "$ninja_file"

start=$(date +%s)
if ! ninja -C "$out" >"$out/logs/build.log" 2>&1; then
    cat "$out/logs/build.log" >&2
    echo "fuzz: build failed (log: build-fuzz/logs/build.log)"
    echo "0 passed, ${#TARGETS[@]} failed"
    exit 1
fi
echo "fuzz: built ${#TARGETS[@]} targets in $(($(date +%s) - start))s; running each for ${seconds}s"

# run_target NAME: fuzzes from a fresh copy of the seeds; the log tells how it went.
run_target() {
    local t=$1
    local work=$out/work/$t
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp "$here/corpus/$t"/* "$work/corpus/"
    local args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
        -artifact_prefix="$out/crashes/$t-")
    [ -f "$here/$t.dict" ] && args+=(-dict="$root/$here/$t.dict")
    local rc=0
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$out/${t}_fuzz" "${args[@]}" "$work/corpus" >"$out/logs/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$out/logs/$t.rc"
}

# As many targets at once as there are CPUs: each gets SECONDS of a whole core.
jobs=$(nproc)
running=0
for t in "${TARGETS[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
wait

passed=0
failed=0
for t in "${TARGETS[@]}"; do
    log=$out/logs/$t.log
    rc=$(cat "$out/logs/$t.rc")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz $t: ok, ${runs:-?} runs"
        passed=$((passed + 1))
        continue
    fi
    failed=$((failed + 1))
    what=$(grep -m1 -E 'invariant violated|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|ringlb: fatal|terminate called' "$log" || true)
    input=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} runs: ${what:-see the log}"
    echo "  input: ${input:-none saved}; log: build-fuzz/logs/$t.log;" \
        "reproduce: build-fuzz/${t}_fuzz ${input:-INPUT}"
    # The sanitizer's report or the abort's stack, for CI logs that keep no artifacts.
    awk '/invariant violated|==[0-9]+==ERROR|runtime error:|ringlb: fatal|terminate called/ { on = 1 }
         on && n < 40 { print "  | " $0; n++ }
         /^SUMMARY:/ { exit }' "$log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
