#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The reference docs name everything an operator can set or scrape: every key the config
# parser accepts (the allowed-key lists of config/json.cpp) is in docs/configuration.md, and
# every metric name and `reason` label the metrics server exports is in docs/metrics.md. Keys
# are checked by name: a name documented under one parent covers it under another.
set -u
root=${1:-.}
cd "$root" || exit 2
exec python3 - <<'PY'
import re, sys

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()

missing = []
parser = read("config/json.cpp")
config_doc = read("docs/configuration.md")
keys = set()
for allowed in re.findall(r"r\.object\([^{;]*\{([^}]*)\}", parser):
    keys.update(re.findall(r'"([a-z][a-z0-9_]*)"', allowed))
if len(keys) < 20:
    sys.exit(f"docs_cover: found only {len(keys)} config keys in config/json.cpp; the pattern is stale")
for key in sorted(keys):
    # As the table writes them: `runtime.workers`, `listeners[].pipe_bytes`, `pools`, or as
    # the parent of such a key (`runtime`, in `runtime.workers`).
    if not re.search(r"[`.]" + key + r"[`.\[]", config_doc):
        missing.append(f"docs/configuration.md: the config key {key}")

metrics_src = read("daemon/metrics/metrics_server.cpp")
metrics_doc = read("docs/metrics.md")
names = set(re.findall(r'"((?:ringlb|process)_[a-z0-9_]+)"', metrics_src))
if len(names) < 10:
    sys.exit(f"docs_cover: found only {len(names)} metric names; the pattern is stale")
for name in sorted(names):
    if f"`{name}`" not in metrics_doc:
        missing.append(f"docs/metrics.md: the metric {name}")
for reason in sorted(set(re.findall(r'\{"reason", "([a-z_]+)"\}', metrics_src))):
    if f'reason="{reason}"' not in metrics_doc and f"`{reason}`" not in metrics_doc:
        missing.append(f'docs/metrics.md: the label reason="{reason}"')

for m in missing:
    print(f"docs_cover: not documented: {m}")
print("docs_cover: ok" if not missing else f"docs_cover: {len(missing)} missing")
sys.exit(1 if missing else 0)
PY
