#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the raw samples of tests/bench/compare.sh into the comparison tables.

samples.tsv: one line per measurement: round, test, target, metric, value.
Medians over rounds are reported. Prints the tables (Markdown) on stdout and, with --out,
writes them with the machine description, the commands, the configs and the raw samples;
with --doc, also puts the tables, the machine and the commands in that file (docs/performance.md)
between the DOC_BEGIN and DOC_END markers, replacing the previous run's.
"""
import argparse
import collections
import os
import statistics
import sys

PROXIES = ["ringlbd", "haproxy", "haproxy-splice", "nginx"]
EXTRA = ["ringlbd-copy"]  # shown in the ringlbd column of their own rows
HEAD = ["direct", "ringlbd", "HAProxy", "HAProxy splice", "nginx", "ringlbd/HAProxy", "ringlbd/nginx"]

DOC_BEGIN = "<!-- tests/bench/compare.sh writes this section: the latest run (begin) -->"
DOC_END = "<!-- tests/bench/compare.sh writes this section: the latest run (end) -->"


def update_doc(path, section):
    """Replaces the text between the markers in `path` with `section` (lines); without the
    markers, puts the section before the file's first second-level heading (or at its end)."""
    text = open(path).read() if os.path.exists(path) else "# Performance\n"
    block = "\n".join([DOC_BEGIN, ""] + section + ["", DOC_END])
    if DOC_BEGIN in text and DOC_END in text:
        start = text.index(DOC_BEGIN)
        end = text.index(DOC_END) + len(DOC_END)
        text = text[:start] + block + text[end:]
    elif "\n## " in text:
        at = text.index("\n## ") + 1
        text = text[:at] + block + "\n\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


# (test, metric, label, format)
ROWS = [
    ("small", "rps", "a. small, 50 keep-alive conns: requests/s", "{:,.0f}"),
    ("small", "p50_ms", "a. small: p50 latency (ms)", "{:.3f}"),
    ("small", "p99_ms", "a. small: p99 latency (ms)", "{:.3f}"),
    ("small", "cpu_us_per_req", "a. small: proxy CPU µs/request", "{:.2f}"),
    ("small", "segments_per_req", "a. small: TCP segments/request (all sides)", "{:.2f}"),
    ("small", "others_cpu_pct", "a. small: CPU % taken by other jobs (noise)", "{:.0f}"),
    ("close", "rps", "b. new conns (Connection: close): conns/s", "{:,.0f}"),
    ("close", "p99_ms", "b. new conns: p99 latency (ms)", "{:.3f}"),
    ("close", "cpu_us_per_req", "b. new conns: proxy CPU µs/connection", "{:.2f}"),
    ("close", "segments_per_req", "b. new conns: TCP segments/connection (all sides)", "{:.2f}"),
    ("close", "others_cpu_pct", "b. new conns: CPU % taken by other jobs (noise)", "{:.0f}"),
    ("bulk", "gbps", "c. bulk iperf3: Gbit/s", "{:.2f}"),
    ("bulk", "cpu_s_per_gb", "c. bulk: proxy CPU s/GB", "{:.3f}"),
    ("bulk", "gbps", "c'. bulk, ringlbd with splice off (copying): Gbit/s", "{:.2f}", "ringlbd-copy"),
    ("bulk", "cpu_s_per_gb", "c'. bulk, ringlbd copying: proxy CPU s/GB", "{:.3f}", "ringlbd-copy"),
    ("idle", "kib_per_conn", "d. idle conns: proxy RSS KiB/connection", "{:.2f}"),
]


def load(path):
    data = collections.defaultdict(list)
    raw = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            rnd, test, target, metric, value = parts
            try:
                v = float(value)
            except ValueError:
                continue
            data[(test, target, metric)].append(v)
            raw.append((int(rnd), test, target, metric, v))
    return data, raw


def med(data, test, target, metric):
    vals = data.get((test, target, metric))
    return statistics.median(vals) if vals else None


def fmt(v, f):
    return "—" if v is None else f.format(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main_table(data, meta):
    out = []
    out.append("| test | " + " | ".join(HEAD) + " |")
    out.append("|---|" + "---:|" * len(HEAD))
    for test, metric, label, f, *mine in ROWS:
        vals = {t: med(data, test, t, metric) for t in ["direct"] + PROXIES}
        if mine:
            if (test, mine[0], metric) not in data:
                continue
            vals["ringlbd"] = med(data, test, mine[0], metric)
        r_h = ratio(vals["ringlbd"], vals["haproxy"])
        r_n = ratio(vals["ringlbd"], vals["nginx"])
        rh = fmt(r_h, "{:.2f}")
        if vals["haproxy-splice"] is not None and vals["ringlbd"] is not None:
            rh += " (vs splice {:.2f})".format(ratio(vals["ringlbd"], vals["haproxy-splice"]) or 0)
        rn = fmt(r_n, "{:.2f}")
        if metric == "others_cpu_pct":  # context, not a comparison
            rh = rn = ""
        cells = [fmt(vals[t], f) for t in ["direct"] + PROXIES] + [rh, rn]
        label = label.replace("idle conns", f"{int(meta.get('idle_n', 10000)):,} idle conns")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def scale_table(data, meta):
    rows = []
    rows.append("| ringlbd workers | requests/s | p99 (ms) | proxy CPU µs/req | proxy CPU % | wrk CPU % "
                "| backend CPU % | other jobs CPU % | machine busy % |")
    rows.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    nproc = int(meta.get("nproc", "2") or 2)
    found = []
    for w in ("1", "2"):
        target = f"ringlbd-{w}w"
        if ("scale", target, "rps") not in data:
            continue
        g = lambda m: med(data, "scale", target, m)
        rows.append(f"| {w} | {fmt(g('rps'), '{:,.0f}')} | {fmt(g('p99_ms'), '{:.3f}')} | "
                    f"{fmt(g('cpu_us_per_req'), '{:.2f}')} | {fmt(g('proxy_cpu_pct'), '{:.0f}')} | "
                    f"{fmt(g('wrk_cpu_pct'), '{:.0f}')} | {fmt(g('backend_cpu_pct'), '{:.0f}')} | "
                    f"{fmt(g('others_cpu_pct'), '{:.0f}')} | {fmt(g('machine_busy_pct'), '{:.0f}')} |")
        found.append((w, g("rps"), g("wrk_cpu_pct"), g("machine_busy_pct"), g("others_cpu_pct")))
    d = lambda m: med(data, "small", "direct", m)
    if d("rps") is not None:
        rows.append(f"| direct (no proxy) | {fmt(d('rps'), '{:,.0f}')} | {fmt(d('p99_ms'), '{:.3f}')} | — | — | "
                    f"{fmt(d('wrk_cpu_pct'), '{:.0f}')} | {fmt(d('backend_cpu_pct'), '{:.0f}')} | "
                    f"{fmt(d('others_cpu_pct'), '{:.0f}')} | {fmt(d('machine_busy_pct'), '{:.0f}')} |")
    notes = []
    if len(found) == 2 and found[0][1] and found[1][1]:
        notes.append(f"2 workers / 1 worker: {found[1][1] / found[0][1]:.2f}× requests/s.")
    for w, rps, wrk_cpu, busy, others in found:
        if wrk_cpu is not None and wrk_cpu >= 85:
            notes.append(f"{w} worker(s): wrk used {wrk_cpu:.0f}% of a core: the load generator is (close to) "
                         "the bottleneck.")
        if busy is not None and busy >= 0.9 * 100 * nproc:
            notes.append(f"{w} worker(s): the machine was {busy:.0f}% busy of {100 * nproc}% "
                         f"(other jobs {others or 0:.0f}%): all {nproc} cores saturated, so wrk, the backend and "
                         "the proxy competed for CPU and a second worker has no idle core to scale onto.")
    if nproc <= 2:
        notes.append(f"With {nproc} cores, wrk (one thread), the nginx backend (one worker) and the proxy share "
                     "them: a second proxy worker can only help while a core is idle (see machine busy %).")
    return "\n".join(rows), notes


def errors_table(data):
    rows = []
    for (test, target, metric), vals in sorted(data.items()):
        if metric in ("errors", "non2xx", "failures") and any(v > 0 for v in vals):
            rows.append(f"- {test} / {target}: {metric} per round = {', '.join(f'{v:.0f}' for v in vals)}")
    return rows


def read_kv(path):
    meta = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "\t" in line:
                    k, v = line.rstrip("\n").split("\t", 1)
                    meta[k] = v
    return meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True)
    ap.add_argument("--meta")
    ap.add_argument("--commands")
    ap.add_argument("--problems")
    ap.add_argument("--notes")
    ap.add_argument("--configs", nargs="*", default=[])
    ap.add_argument("--out")
    ap.add_argument("--doc")
    a = ap.parse_args()

    data, raw = load(a.samples)
    meta = read_kv(a.meta)
    rounds = meta.get("rounds", "?")
    table = main_table(data, meta)
    scale, scale_notes = scale_table(data, meta)
    errs = errors_table(data)
    problems = []
    if a.problems and os.path.exists(a.problems):
        problems = [l.rstrip("\n") for l in open(a.problems) if l.strip()]

    head = (f"Medians of {rounds} round(s), {meta.get('duration', '?')} s per run, "
            f"{meta.get('workers', '?')} worker(s) per proxy; ratios are ringlbd's figure divided by the other's "
            "(above 1 = ringlbd higher: better for requests/s and Gbit/s, worse for latency, CPU and memory).")
    console = [head, "", table, "", "e. ringlbd scaling, test (a) at 1 and 2 workers:", "", scale]
    console += [""] + [f"- {n}" for n in scale_notes] if scale_notes else []
    if errs:
        console += ["", "Client-side errors:"] + errs
    notes = []
    if a.notes and os.path.exists(a.notes):
        notes = [l.rstrip("\n") for l in open(a.notes) if l.strip()]
    if meta.get("idle_note"):
        console += ["", "Note: " + meta["idle_note"] + "."]
    if problems:
        console += ["", "Problems seen:"] + [f"- {p}" for p in problems]
    if notes:
        console += ["", "Other programs' logs (for reference):"] + [f"- {n}" for n in notes]
    print("\n".join(console))

    if not a.out:
        return 0
    md = [f"# ringlbd vs HAProxy vs nginx (stream): {meta.get('date', '')}", ""]
    md += [f"Run: `{meta.get('invocation', '')}` (wall time {meta.get('wall', '?')})", ""]
    md += ["## Machine", ""]
    for k in ("nproc", "cpu", "mem", "kernel", "os", "load_before", "haproxy", "nginx", "libnginx-mod-stream", "wrk",
              "iperf3", "python3", "ringlbd", "ringlbd_build", "git", "nofile", "idle_note"):
        if k in meta:
            md.append(f"- {k}: {meta[k]}")
    md += ["", "The machine is shared: other jobs ran during the measurements, so figures are noisy; "
           "runs are interleaved (each round runs every target once per test) and medians are reported.", ""]
    md += ["## Results", "", head, "", table, ""]
    md += ["### e. ringlbd scaling (test a at 1 and 2 workers)", "", scale, ""]
    md += [f"- {n}" for n in scale_notes]
    md += ["", "CPU % figures are CPU time over the run's wall time (100% = one core). wrk is the load "
           "generator; backend is the nginx instance serving /small.", ""]
    md += ["## Errors and problems", ""]
    md += (errs or ["- no client-side errors (wrk socket errors, non-2xx responses, idle-connection failures)"])
    md += [f"- {p}" for p in problems] if problems else ["- nothing abnormal in the proxies' logs or ringlbd's metrics"]
    if notes:
        md += ["", "Other programs' logs (for reference):", ""] + [f"- {n}" for n in notes]
    md += [""]
    if a.commands and os.path.exists(a.commands):
        md += ["## Commands", "", "```", open(a.commands).read().rstrip(), "```", ""]
    if a.configs:
        md += ["## Configs", ""]
        for c in a.configs:
            if os.path.exists(c):
                md += [f"`{os.path.basename(c)}`:", "", "```", open(c).read().rstrip(), "```", ""]
    md += ["## Raw samples", "", "| round | test | target | metric | value |", "|---:|---|---|---|---:|"]
    for rnd, test, target, metric, v in sorted(raw, key=lambda r: (r[1], r[3], r[2], r[0])):
        md.append(f"| {rnd} | {test} | {target} | {metric} | {v:.4g} |")
    md.append("")
    with open(a.out, "w") as f:
        f.write("\n".join(md))
    if a.doc:
        machine = ", ".join(f"{k} {meta[k]}" for k in ("nproc", "cpu", "mem", "kernel", "haproxy", "nginx", "ringlbd_build", "git")
                            if k in meta)
        section = [f"## The latest `tests/bench/compare.sh` run ({meta.get('date', '')})", "",
                   f"Written by the script itself (`{meta.get('invocation', '')}`, wall time {meta.get('wall', '?')}); "
                   f"the full report, with the configs and every raw sample, is "
                   f"`tests/bench/results/{os.path.basename(a.out)}`. Machine: {machine}. "
                   "The machine is shared and noisy: compare ratios within one run, not figures across runs.", "",
                   head, "", table, "", "e. ringlbd scaling, test (a) at 1 and 2 workers:", "", scale, ""]
        section += [f"- {n}" for n in scale_notes]
        if problems:
            section += ["", "Problems seen:"] + [f"- {p}" for p in problems]
        if a.commands and os.path.exists(a.commands):
            section += ["", "Commands:", "", "```", open(a.commands).read().rstrip(), "```"]
        update_doc(a.doc, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
