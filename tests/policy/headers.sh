#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every header compiles on its own (Seastar's checkheaders; STYLE.md §5.3).
set -u
root=${1:-.}
cxx=${CXX:-c++}
cd "$root" || exit 2
fail=0
for h in $(find core config daemon tests/support -name '*.hpp' 2>/dev/null | sort); do
    if ! echo "#include \"$h\"" | "$cxx" -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I. -x c++ - 2>/tmp/ringlb-headers.$$; then
        echo "headers: $h does not compile alone:"
        head -5 /tmp/ringlb-headers.$$
        fail=1
    fi
done
rm -f /tmp/ringlb-headers.$$
[ $fail -eq 0 ] && echo "headers: ok"
exit $fail
