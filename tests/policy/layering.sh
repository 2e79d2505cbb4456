#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The include rules of STYLE.md §5.1: each third-party header stays behind its one boundary,
# and core/ depends on nothing else in the project.
set -u
root=${1:-.}
cd "$root" || exit 2
fail=0
check() {  # check PATTERN ALLOWED_REGEX DESCRIPTION
    local hits
    hits=$(grep -rlE "#include <$1" core config daemon 2>/dev/null | grep -vE "$2" || true)
    if [ -n "$hits" ]; then
        echo "layering: $3 included outside its boundary:"; echo "$hits" | sed 's/^/  /'
        fail=1
    fi
}
check 'liburing' '^core/(uring/|io/[^/]*\.cpp$|[^/]*\.cpp$)' '<liburing.h>'
check 'nlohmann/' '^(config/json\.cpp|daemon/admin/commands\.cpp|daemon/ctl/[^/]*\.cpp)$' '<nlohmann/...>'
check 'boost/program_options' '^daemon/(cli|ctl/options)\.cpp$' '<boost/program_options...>'
check 'prometheus/' '^daemon/metrics/' '<prometheus/...>'
check 'systemd/' '^daemon/systemd_notify\.cpp$' '<systemd/...>'
hits=$(grep -rlE '#include "(config|daemon)/' core 2>/dev/null || true)
if [ -n "$hits" ]; then
    echo "layering: core/ must not include config/ or daemon/:"; echo "$hits" | sed 's/^/  /'
    fail=1
fi
hits=$(grep -rlE '#include "daemon/' config 2>/dev/null || true)
if [ -n "$hits" ]; then
    echo "layering: config/ must not include daemon/:"; echo "$hits" | sed 's/^/  /'
    fail=1
fi
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
