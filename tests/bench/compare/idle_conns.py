#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Idle-connection memory probe for tests/bench/compare.sh.

A child process listens on --hold-port as the backend that accepts and holds connections (and
closes one when the proxy forwards EOF, as a server would). This process opens --n client
connections to --proxy-port, which the proxy forwards to the holder, waits until every client
is connected and the holder holds --n connections, lets things settle, and reads VmRSS and the
descriptor count of the proxy's processes (--pids). Then it closes the clients and waits for the
holder to see every connection closed and for the proxy's descriptors to come back. Two
processes, so that each needs only --n descriptors. Prints one JSON object; every wait is
bounded by --timeout.
"""
import argparse
import errno
import json
import multiprocessing as mp
import os
import resource
import selectors
import socket
import sys
import time


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def fd_count(pids):
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except FileNotFoundError:
            pass
    return total


def alive(pids):
    return all(os.path.exists(f"/proc/{pid}") for pid in pids)


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(need, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def holder(ls, held_now, accepted, closed, errors, stop):
    """The backend: accepts, holds, closes on EOF; counters in shared memory."""
    sel = selectors.DefaultSelector()
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ, None)
    held = set()
    while not stop.is_set():
        for key, _ in sel.select(timeout=0.05):
            if key.data is None:
                while True:
                    try:
                        s, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        errors.value += 1
                        break
                    s.setblocking(False)
                    held.add(s)
                    sel.register(s, selectors.EVENT_READ, "held")
                    accepted.value += 1
            else:
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    held.discard(s)
                    s.close()
                    closed.value += 1
        held_now.value = len(held)
    for s in held:
        s.close()
    ls.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hold-port", type=int, required=True)
    ap.add_argument("--proxy-port", type=int, required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--pids", required=True, help="comma-separated pids of the proxy")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--in-flight", type=int, default=256, help="connects in flight at once")
    a = ap.parse_args()
    pids = [int(p) for p in a.pids.split(",") if p]
    raise_nofile(a.n + 256)

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.hold_port))
    ls.listen(4096)
    ctx = mp.get_context("fork")
    held_now, accepted, closed, errors = (ctx.Value("i", 0, lock=False) for _ in range(4))
    stop = ctx.Event()
    child = ctx.Process(target=holder, args=(ls, held_now, accepted, closed, errors, stop), daemon=True)
    child.start()
    ls.close()

    time.sleep(0.3)
    rss_before = rss_kib(pids)
    fds_before = fd_count(pids)

    sel = selectors.DefaultSelector()
    connected = []
    pending = 0
    started = 0
    failures = {}
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    while time.monotonic() < deadline:
        while started < a.n and pending < a.in_flight:
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            rc = c.connect_ex(("127.0.0.1", a.proxy_port))
            started += 1
            if rc == 0:
                connected.append(c)
            elif rc in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                sel.register(c, selectors.EVENT_WRITE)
                pending += 1
            else:
                name = errno.errorcode.get(rc, str(rc))
                failures[name] = failures.get(name, 0) + 1
                c.close()
        for key, _ in sel.select(timeout=0.05):
            c = key.fileobj
            sel.unregister(c)
            pending -= 1
            err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                connected.append(c)
            else:
                name = errno.errorcode.get(err, str(err))
                failures[name] = failures.get(name, 0) + 1
                c.close()
        if started >= a.n and pending == 0 and accepted.value >= len(connected):
            break
    open_seconds = time.monotonic() - t0

    time.sleep(a.settle)
    # A proxy that closed a client (or its backend side) shows as EOF on the client.
    dead_clients = 0
    for c in connected:
        try:
            if c.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                dead_clients += 1
        except BlockingIOError:
            pass
        except OSError:
            dead_clients += 1
    rss_after = rss_kib(pids)
    fds_peak = fd_count(pids)
    proxy_alive = alive(pids)
    held_at_peak = held_now.value
    closed_early = closed.value

    # Close the clients, as clients would; the proxy forwards EOF, the holder closes too.
    for c in connected:
        c.close()
    t_close = time.monotonic()
    close_deadline = t_close + min(a.timeout, 30.0)
    while time.monotonic() < close_deadline:
        if held_now.value == 0 and fd_count(pids) <= fds_before + 8:
            break
        time.sleep(0.05)
    fds_after_close = fd_count(pids)
    held_left = held_now.value
    close_seconds = time.monotonic() - t_close
    stop.set()
    child.join(10)
    if child.is_alive():
        child.kill()
    time.sleep(0.3)

    n_ok = min(len(connected), held_at_peak)
    out = {
        "requested": a.n,
        "connected": len(connected),
        "held": held_at_peak,
        "backend_closed_before_measure": closed_early,
        "held_left_after_close": held_left,
        "dead_clients": dead_clients,
        "failures": failures,
        "accept_errors": errors.value,
        "open_seconds": round(open_seconds, 2),
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "kib_per_conn": round((rss_after - rss_before) / n_ok, 3) if n_ok else None,
        "fds_before": fds_before,
        "fds_peak": fds_peak,
        "fds_after_close": fds_after_close,
        "close_seconds": round(close_seconds, 2),
        "proxy_alive": proxy_alive,
    }
    print(json.dumps(out))
    return 0 if n_ok == a.n and proxy_alive else 1


if __name__ == "__main__":
    sys.exit(main())
