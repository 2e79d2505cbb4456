#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The tree is clang-format clean (.clang-format at the root). Skips (77) without clang-format.
set -u
root=${1:-.}
cd "$root" || exit 2
command -v clang-format >/dev/null 2>&1 || { echo "format: clang-format not installed"; exit 77; }
files=$(find core config daemon tests -name '*.hpp' -o -name '*.cpp' | sort)
if ! clang-format --dry-run --Werror $files; then
    echo "format: run clang-format -i on the files above"
    exit 1
fi
echo "format: ok"
