#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The systemd units: `systemd-analyze verify` accepts them (with ExecStart pointed at the
# built binary), the service's offline security exposure stays at most 2.0, and
# `meson install` puts binaries, units, sysusers/tmpfiles entries and the config in place.
set -euo pipefail
root=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#/usr/sbin/ringlbd#$build/daemon/ringlbd#g" "$root/systemd/ringlb.service" > "$work/ringlb.service"
cp "$root/systemd/ringlb.socket" "$work/"
(cd "$work" && systemd-analyze verify ./ringlb.service ./ringlb.socket)
exposure=$(cd "$work" && systemd-analyze security --offline=true ./ringlb.service 2>/dev/null \
    | sed -n 's/.*Overall exposure level for ringlb.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: exposure $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }' || {
    echo "exposure $exposure is above 2.0"; exit 1; }
meson install -C "$build" --destdir "$work/root" --no-rebuild --quiet >/dev/null
# Under the build's prefix (/usr/local by default; packages use --prefix=/usr, which puts the
# config in /etc/ringlb as the unit expects).
for f in sbin/ringlbd bin/ringlbctl etc/ringlb/ringlb.json lib/sysusers.d/ringlb.conf \
         lib/tmpfiles.d/ringlb.conf systemd/system/ringlb.service systemd/system/ringlb.socket; do
    find "$work/root" -path "*/$f" | grep -q . || {
        echo "meson install did not install */$f"; find "$work/root" -type f; exit 1; }
done
"$(find "$work/root" -path '*/sbin/ringlbd')" --check --config "$(find "$work/root" -path '*/etc/ringlb/ringlb.json')"
echo "systemd units: ok"
