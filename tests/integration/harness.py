# SPDX-License-Identifier: MIT
"""The integration tests' harness: runs the real ringlbd binary (path in $RINGLBD) on a
generated config, and plain-socket backends and clients in threads. Everything listens on
127.0.0.1 only, and every wait is bounded."""

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

RINGLBD = os.environ.get("RINGLBD", "build/daemon/ringlbd")


def _sanitized(binary):
    """True for an ASan or TSan build: their shadow memory, redzones and quarantine make RSS
    say nothing about ringlbd's own buffering, so the memory bounds are checked only without."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libasan" in out or "libtsan" in out


SANITIZED = _sanitized(RINGLBD)

# How a sanitizer report starts, and how ringlbd's own log lines start.
_SANITIZER_REPORT = re.compile(r"(ERROR|WARNING): \w*Sanitizer|\w+Sanitizer:DEADLYSIGNAL|: runtime error: ")
_LOG_LINE = re.compile(r"^(<\d>|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")

# Thousands of test sockets (and ringlbd, which inherits this) need more than a default 1024.
try:
    import resource
    _soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(_hard, 65536) if _hard != resource.RLIM_INFINITY else 65536, _hard))
except (ValueError, OSError):
    pass


def sanitizer_report(text):
    """The ASan/UBSan/TSan report lines in ringlbd's output `text`, without the log lines that
    other threads wrote into the middle of it; empty if there is none."""
    lines = [line for line in text.splitlines() if not _LOG_LINE.match(line)]
    for i, line in enumerate(lines):
        if _SANITIZER_REPORT.search(line):
            return "\n".join(lines[i:])
    return ""


def _kernel_at_least(major, minor):
    release = os.uname().release.split(".")
    try:
        return (int(release[0]), int(release[1].split("-")[0])) >= (major, minor)
    except (IndexError, ValueError):
        return False


def free_port():
    """A port nothing listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def can_connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# RINGLB_TEST_IO forces a receive path on every daemon a suite starts (meson runs the data
# path suites once per path): "ring" (the defaults: buffer ring, bundles and incremental
# consumption where the kernel has them, a direction carrying bulk moves to splice),
# "no_splice" (the ring path only), "no_bundles" (the ring path as on Debian 12's 6.1: no
# bundles, whole buffers per recv), "no_ring" (per-connection buffers), "splice" (every
# listener always splices).
IO_MODE = os.environ.get("RINGLB_TEST_IO", "ring")
IO_MODES = {
    "ring": ({}, "multishot recv into a ring"),
    "no_splice": ({}, "multishot recv into a ring"),  # and every listener "splice": false
    "no_bundles": ({"bundles": False, "incremental": False},
                   "no recv bundles, whole buffers per recv"),
    "no_ring": ({"buffer_ring": False}, "recv into per-connection buffers"),
    "splice": ({}, "splice on listeners"),  # and every listener gets "splice": true
}
# The listeners' "splice" in each mode, for listeners whose test does not set it.
SPLICE = {"no_splice": False, "no_bundles": False, "splice": True}


def with_io_mode(config):
    config = dict(config)
    extra, _ = IO_MODES[IO_MODE]
    if extra:
        runtime = dict(config.get("runtime", {}))
        io = dict(runtime.get("io", {}))
        io.update(extra)
        runtime["io"] = io
        config["runtime"] = runtime
    if IO_MODE in SPLICE:
        config["listeners"] = [l if "splice" in l else dict(l, splice=SPLICE[IO_MODE])
                               for l in config.get("listeners", [])]
    return config


class Daemon:
    """ringlbd on a config dict. Use as a context manager; stop() returns the exit status."""

    def __init__(self, config, workers=2, args=(), nofile=None, prefix=()):
        self.dir = tempfile.TemporaryDirectory(prefix="ringlb-it-")
        self.config_path = os.path.join(self.dir.name, "ringlb.json")
        self.admin_socket = os.path.join(self.dir.name, "admin.sock")
        config = with_io_mode(config)
        config.setdefault("admin", {"socket": self.admin_socket})
        config.setdefault("metrics", {"listen": f"127.0.0.1:{free_port()}"})
        self.admin_socket = config["admin"]["socket"]
        self.metrics_port = int(config["metrics"]["listen"].rsplit(":", 1)[1])
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        self.log_path = os.path.join(self.dir.name, "ringlbd.log")
        self.config = config
        self.workers = workers
        self.args = list(args)
        self.nofile = nofile  # RLIMIT_NOFILE for ringlbd (fault tests)
        self.prefix = list(prefix)  # e.g. ["ip", "netns", "exec", NAME] (execs: same pid)
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.prefix + [RINGLBD, "--config", self.config_path, "--workers", str(self.workers)]
            + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=self._limits)
        # Ready once it says so (it binds every listener before): connecting to find out would
        # open sessions the tests' backends would count.
        ok = wait_until(lambda: self.proc.poll() is not None or " started: " in self.log_text())
        if self.proc.poll() is not None or not ok:
            self.kill()
            raise AssertionError("ringlbd did not start:\n" + self.log_text())
        # The forced receive path is the one that runs (a silent fallback would test nothing).
        expected = IO_MODES[IO_MODE][1]
        if IO_MODE == "ring" and _kernel_at_least(6, 12):
            expected = "buffers consumed incrementally"  # where the kernel has it, it is used
        if not wait_until(lambda: "io: " in self.log_text()) or expected not in self.log_text():
            self.kill()
            raise AssertionError(f"ringlbd is not on the {IO_MODE} path:\n" + self.log_text())
        return self

    def _limits(self):
        if self.nofile is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.kill()
        report = self.sanitizer_report()
        self.dir.cleanup()
        if report:
            # A sanitizer finding fails the test even where the test itself passed; the
            # report is printed whole, as the log tails in failure messages may cut it.
            message = "ringlbd's sanitizer report:\n" + report
            if exc_type is None:
                raise AssertionError(message)
            print(message, file=sys.stderr)

    def sanitizer_report(self):
        """The ASan/UBSan/TSan report in the log; empty if there is none."""
        return sanitizer_report(self.log_text() if os.path.exists(self.log_path) else "")

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if hasattr(self, "log"):
            self.log.close()

    def write_config(self, config):
        """Replaces the config file (for reload tests); keeps the admin socket and metrics."""
        config = with_io_mode(config)
        config.setdefault("admin", {"socket": self.admin_socket})
        config.setdefault("metrics", {"listen": f"127.0.0.1:{self.metrics_port}"})
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(config, f)
        os.rename(tmp, self.config_path)  # atomic: a reload never reads half a file

    def rss_bytes(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0


def proxy_config(backends, balance="round_robin", listener=None, port=None):
    """A config with one proxy listener named "it" on `port` to one pool of `backends`
    (ports or (port, weight) pairs)."""
    port = port or free_port()
    entries = []
    for b in backends:
        p, w = (b, 1) if isinstance(b, int) else b
        entries.append({"address": f"127.0.0.1:{p}", "weight": w})
    lst = {"name": "it", "listen": f"127.0.0.1:{port}", "pool": "p"}
    lst.update(listener or {})
    return {
        "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "listeners": [lst],
        "pools": [{"name": "p", "balance": balance, "backends": entries}],
    }, port


class Backend:
    """A threaded TCP server on 127.0.0.1: `handler(conn, backend)` runs per connection."""

    def __init__(self, handler, backlog=128, port=0, name=None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.name = name or str(self.port)
        self.handler = handler
        self.accepted = 0
        self.open = 0
        self.lock = threading.Lock()
        self.results = []
        self.errors = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.open += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            with conn:
                r = self.handler(conn, self)
                if r is not None:
                    with self.lock:
                        self.results.append(r)
        except Exception as e:  # recorded: tests assert on errors
            with self.lock:
                self.errors.append(e)
        finally:
            with self.lock:
                self.open -= 1

    def close(self):
        self.stopping = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def echo_handler(conn, backend):
    while True:
        data = conn.recv(65536)
        if not data:
            return None
        conn.sendall(data)


def name_handler(conn, backend):
    """Says its name, then waits for the client to close."""
    conn.sendall(backend.name.encode() + b"\n")
    while conn.recv(4096):
        pass


def recv_all(sock, timeout=30.0):
    sock.settimeout(timeout)
    chunks = []
    while True:
        data = sock.recv(1 << 16)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def stream_random(sock, total, seed, chunk=1 << 16):
    """Sends `total` pseudo-random bytes; returns their SHA-256."""
    h = hashlib.sha256()
    rnd = random_source(seed)
    sent = 0
    while sent < total:
        block = rnd(min(chunk, total - sent))
        sock.sendall(block)
        h.update(block)
        sent += len(block)
    return h.hexdigest()


def drain_hash(sock, timeout=60.0):
    """Reads to EOF; returns (bytes, SHA-256)."""
    sock.settimeout(timeout)
    h = hashlib.sha256()
    n = 0
    buf = bytearray(1 << 16)
    while True:
        k = sock.recv_into(buf)
        if k == 0:
            return n, h.hexdigest()
        h.update(memoryview(buf)[:k])
        n += k


def random_source(seed):
    """Fast deterministic pseudo-random blocks (os.urandom would make the test CPU bound)."""
    state = hashlib.sha256(str(seed).encode()).digest()
    pool = hashlib.shake_256(state).digest(1 << 20)
    offset = [0]

    def take(n):
        out = bytearray()
        while len(out) < n:
            i = offset[0] % len(pool)
            k = min(n - len(out), len(pool) - i)
            out += pool[i:i + k]
            offset[0] += k + 7  # shift so repeated blocks differ
        return bytes(out)
    return take


RINGLBCTL = os.environ.get("RINGLBCTL", os.path.join(os.path.dirname(RINGLBD), "ringlbctl"))


def ctl(daemon, *args, json_out=False, timeout=30):
    """Runs ringlbctl against `daemon`'s admin socket: (exit status, stdout, stderr)."""
    argv = [RINGLBCTL, "--socket", daemon.admin_socket] + (["--json"] if json_out else []) + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def scrape(daemon):
    """GET /metrics: {(name, frozenset(labels.items())): value} plus the raw text."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        labels = {}
        name = head
        if "{" in head:
            name, rest = head.split("{", 1)
            for part in rest.rstrip("}").split('",'):
                if part:
                    k, v = part.split("=", 1)
                    labels[k] = v.strip('"')
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples, text


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))
