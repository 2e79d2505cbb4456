# SPDX-License-Identifier: MIT
"""ringlbd's command line, config errors as the operator sees them, the io_uring-unavailable
exit, and signals (SIGTERM/SIGINT: stop accepting, drain, exit 0)."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (RINGLBD, Backend, Daemon, can_connect, free_port, proxy_config,
                     recv_all, sanitizer_report, stream_random, drain_hash, wait_until)

WITHOUT_IO_URING = os.environ.get("WITHOUT_IO_URING", "build/tests/without_io_uring")

L = {"name": "l", "listen": "127.0.0.1:7000", "pool": "web"}
P = {"name": "web", "backends": [{"address": "127.0.0.1:1"}]}


def doc(listeners=None, pools=None, **top):
    d = dict(top)
    d["listeners"] = listeners if listeners is not None else [L]
    d["pools"] = pools if pools is not None else [P]
    return json.dumps(d)


def with_l(**kv):
    l = dict(L)
    l.update(kv)
    return doc([l])


def with_p(**kv):
    p = dict(P)
    p.update(kv)
    return doc(pools=[p])


# (config text, the exact error lines after "ringlbd: FILE: "), every one a different mistake.
BAD_CONFIGS = [
    ("{\n  \"listeners\": [\n    {\"name\": }\n  ]\n}",
     ["parse error at line 3, column 14: syntax error while parsing value - "
      "unexpected '}'; expected '[', '{', or a literal"]),
    ("[]", ["expected an object, found an array"]),
    (doc(listener=[]), ["listener: unknown key"]),
    (json.dumps({"pools": []}), ["listeners: missing (required)"]),
    (doc([]), ["listeners: at least one listener is required"]),
    (json.dumps({"listeners": {}, "pools": []}), ["listeners: expected an array, found an object"]),
    (doc([42]), ["listeners[0]: expected an object, found an integer"]),
    (with_l(maxconn=1), ["listeners[0].maxconn: unknown key"]),
    (doc([{"listen": "127.0.0.1:7000", "pool": "web"}]), ["listeners[0].name: missing (required)"]),
    (doc([{"name": "l", "pool": "web"}]), ["listeners[0].listen: missing (required)"]),
    (with_l(listen="127.0.0.1"), ['listeners[0].listen: "127.0.0.1": expected "host:port"']),
    (with_l(listen="127.0.0.1:99999"),
     ['listeners[0].listen: "127.0.0.1:99999": invalid port "99999" (expected 0-65535)']),
    (with_l(listen="::1:80"),
     ['listeners[0].listen: "::1:80": an IPv6 address must be written "[address]:port"']),
    (with_l(service="echo"), ['listeners[0]: has both "pool" and "service"; choose one']),
    (doc([{"name": "l", "listen": "127.0.0.1:7000"}]), ['listeners[0]: needs a "pool" or a "service"']),
    (doc([{"name": "l", "listen": "127.0.0.1:7000", "service": "discard"}]),
     ['listeners[0].service: unknown value "discard" (expected one of: echo)']),
    (with_l(pool="api"), ['listeners[0].pool: no pool named "api"']),
    (with_l(pool=7), ["listeners[0].pool: expected a string, found an integer"]),
    (with_l(retries=11), ["listeners[0].retries: out of range: 11 (expected 0 to 10)"]),
    (with_l(max_connections=0),
     ["listeners[0].max_connections: out of range: 0 (expected 1 to 10000000)"]),
    (with_l(buffer_bytes=100),
     ["listeners[0].buffer_bytes: out of range: 100 (expected 1024 to 16777216)"]),
    (with_l(pipe_bytes=1024),
     ["listeners[0].pipe_bytes: out of range: 1024 (expected 4096 to 1048576)"]),
    (with_l(splice="always"),
     ['listeners[0].splice: expected true, false or "auto", found "always"']),
    (with_l(timeouts={"connect_ms": 0}),
     ["listeners[0].timeouts.connect_ms: out of range: 0 (expected 1 to 600000)"]),
    (with_l(timeouts={"idle_ms": 1.5}),
     ["listeners[0].timeouts.idle_ms: expected an integer, found a number"]),
    (doc([L, dict(L, listen="127.0.0.1:7001")]),
     ['listeners[1].name: duplicate listener name "l" (first used by listeners[0])']),
    (doc([L, dict(L, name="m")]),
     ["listeners[1].listen: address 127.0.0.1:7000 is already used by listeners[0]"]),
    (with_p(backends=[]), ["pools[0].backends: a pool needs at least one backend"]),
    (with_p(balance="random"),
     ['pools[0].balance: unknown value "random" (expected one of: round_robin, least_conn, '
      'p2c, maglev)']),
    (with_p(backends=[{"address": "127.0.0.1:1", "weight": 0}]),
     ["pools[0].backends[0].weight: out of range: 0 (expected 1 to 1000)"]),
    (doc(runtime={"workers": "2"}), ["runtime.workers: expected an integer, found a string"]),
    (doc(runtime={"drain_timeout_ms": -1}),
     ["runtime.drain_timeout_ms: out of range: -1 (expected 0 to 3600000)"]),
    (doc(runtime={"io": {"ring_buffers": 1000}}),
     ["runtime.io.ring_buffers: 1000 is not a power of two"]),
    (doc(runtime={"io": {"ring_buffer_bytes": 100, "bundle": True}}),
     ["runtime.io.bundle: unknown key",
      "runtime.io.ring_buffer_bytes: out of range: 100 (expected 1024 to 1048576)"]),
    (doc(runtime={"io": {"buffer_ring": "yes"}}),
     ["runtime.io.buffer_ring: expected true or false, found a string"]),
    (doc(runtime={"io": {"incremental": 1}}),
     ["runtime.io.incremental: expected true or false, found an integer"]),
    (doc(log={"level": "verbose"}),
     ['log.level: unknown value "verbose" (expected one of: debug, info, warn, error)']),
    (with_l(proxy_protocol={"send": "v3"}),
     ['listeners[0].proxy_protocol.send: unknown value "v3" (expected one of: off, v1, v2)']),
    (with_l(proxy_protocol={"accept": True}),
     ['listeners[0].proxy_protocol.trusted: required when "accept" is true: the peers allowed '
      'to send a header']),
    (with_l(proxy_protocol={"accept": "yes", "trusted": ["10.0.0.0/33"]}),
     ["listeners[0].proxy_protocol.accept: expected true or false, found a string",
      'listeners[0].proxy_protocol.trusted[0]: "10.0.0.0/33": invalid prefix length (expected 0-32)']),
    (with_p(health_check={"interval_ms": 100, "timeout_ms": 500}),
     ["pools[0].health_check.timeout_ms: must not exceed interval_ms (100): one check at a time "
      "per backend"]),
    (with_p(health_check={"rise": 0}),
     ["pools[0].health_check.rise: out of range: 0 (expected 1 to 100)"]),
    (with_p(outlier={"max_ejection_percent": 101}),
     ["pools[0].outlier.max_ejection_percent: out of range: 101 (expected 0 to 100)"]),
    (with_p(health_check={"interval": 5}), ["pools[0].health_check.interval: unknown key"]),
    ('{"runtime": {"workers": 1e400}, "listeners": []}', ["number overflow parsing '1e400'"]),
    (with_l(pool=""), ["listeners[0].pool: must not be empty"]),
    (with_p(name=""), ["pools[0].name: must not be empty",
                       'listeners[0].pool: no pool named "web"']),
    # Several mistakes at once: every one is reported, in document order.
    (json.dumps({"bogus": 1, "listeners": [{"name": "a", "listen": "1.2.3.4", "pool": "nope"}],
                 "pools": [{"name": "p", "backends": []}]}),
     ["bogus: unknown key",
      'listeners[0].listen: "1.2.3.4": expected "host:port"',
      "pools[0].backends: a pool needs at least one backend",
      'listeners[0].pool: no pool named "nope"']),
]


def run(args, timeout=30, **kw):
    return subprocess.run([RINGLBD] + args, capture_output=True, text=True, timeout=timeout, **kw)


class CommandLine(unittest.TestCase):
    def test_version_and_help(self):
        r = run(["--version"])
        self.assertEqual((r.returncode, r.stdout), (0, "ringlbd 0.1.0\n"))
        r = run(["--help"])
        self.assertEqual(r.returncode, 0)
        for flag in ("--config", "--check", "--workers", "--log-level", "--version", "--help"):
            self.assertIn(flag, r.stdout)

    def test_usage_errors_exit_64(self):
        for args, message in [(["--bogus"], "unrecognised option '--bogus'"),
                              (["--log-level", "loud"], 'unknown level "loud"'),
                              (["--workers", "x"], "the argument ('x') for option '--workers' is invalid")]:
            r = run(args)
            self.assertEqual(r.returncode, 64, args)
            self.assertIn(message, r.stderr)

    def test_check_accepts_the_default_and_a_valid_file(self):
        r = run(["--check"])
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "ok\n", ""))
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write(doc())
            f.flush()
            r = run(["--check", "--config", f.name])
            self.assertEqual((r.returncode, r.stdout), (0, "ok\n"))

    def test_check_does_not_bind(self):
        port = free_port()
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write(with_l(listen=f"127.0.0.1:{port}"))
            f.flush()
            with socket.socket() as s:  # the port is taken: --check must not care
                s.bind(("127.0.0.1", port))
                s.listen()
                self.assertEqual(run(["--check", "--config", f.name]).returncode, 0)

    def test_missing_file(self):
        r = run(["--check", "--config", "/nonexistent/ringlb.json"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/ringlb.json", r.stderr)
        self.assertIn("No such file or directory", r.stderr)

    def test_bad_configs_give_exact_errors_for_check_and_start(self):
        self.assertGreaterEqual(len(BAD_CONFIGS), 25)
        for text, expected in BAD_CONFIGS:
            with self.subTest(config=text), tempfile.NamedTemporaryFile("w", suffix=".json") as f:
                f.write(text)
                f.flush()
                want = [f"ringlbd: {f.name}: {e}" for e in expected]
                r = run(["--check", "--config", f.name])
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stdout, "")
                self.assertEqual(r.stderr.splitlines(), want)
                # Starting on it: the same messages, and it does not start.
                r = run(["--config", f.name], timeout=10)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stderr.splitlines(),
                                 want + ["ringlbd: not starting: the config has errors"])

    def test_cannot_listen_names_the_listener(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            cfg, _ = proxy_config([1], port=s.getsockname()[1])
            d = Daemon(cfg)
            d.proc = subprocess.Popen([RINGLBD, "--config", d.config_path],
                                      stderr=subprocess.PIPE, text=True)
            _, err = d.proc.communicate(timeout=10)
            self.assertEqual(d.proc.returncode, 1)
            self.assertIn(f"listener it: cannot listen on 127.0.0.1:{s.getsockname()[1]}: "
                          "Address already in use", err)
            self.assertEqual(sanitizer_report(err), "")  # started by hand, not by `with`
            d.dir.cleanup()


class NoIoUring(unittest.TestCase):
    def test_io_uring_denied_exits_78_with_one_clear_line(self):
        for errno_name, cause in [("EPERM", "io_uring_setup failed with EPERM"),
                                  ("ENOSYS", "io_uring_setup failed with ENOSYS")]:
            r = subprocess.run([WITHOUT_IO_URING, errno_name, RINGLBD], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 78, r.stderr)
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("io_uring is unavailable: " + cause, lines[0])
            self.assertIn("error", lines[0])


class Signals(unittest.TestCase):
    def drain_with(self, sig):
        total = 8 << 20

        def slow_source(conn, backend):
            # ~1.5 s of data: still flowing when the signal arrives.
            h = None
            for i in range(16):
                h = stream_random(conn, total // 16, seed=i)
                time.sleep(0.1)
            return h
        with Backend(slow_source) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg) as d:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                    self.assertTrue(s.recv(1))
                    got = 1
                    d.proc.send_signal(sig)
                    # Accepting stops: new connections are refused soon after the signal.
                    self.assertTrue(wait_until(lambda: not can_connect(port), 5))
                    n, _ = drain_hash(s)
                    got += n
                self.assertEqual(got, total)  # the open connection finished, every byte
                self.assertEqual(d.proc.wait(timeout=30), 0)
                log = d.log_text()
                # 1, or 2 when the refusal probe above got in before accepting stopped.
                self.assertRegex(log, r"draining [12] open connections")
                self.assertIn("stopped", log)

    def test_sigterm_drains_then_exits_0(self):
        self.drain_with(signal.SIGTERM)

    def test_sigint_drains_then_exits_0(self):
        self.drain_with(signal.SIGINT)

    def test_drain_timeout_bounds_the_wait(self):
        def hold(conn, backend):
            while conn.recv(1024):
                pass
        with Backend(hold) as be:
            cfg, port = proxy_config([be.port])
            cfg["runtime"] = {"drain_timeout_ms": 300}
            with Daemon(cfg) as d:
                with socket.create_connection(("127.0.0.1", port), timeout=10):
                    self.assertTrue(wait_until(lambda: be.accepted == 1))
                    start = time.monotonic()
                    self.assertEqual(d.stop(), 0)
                    self.assertLess(time.monotonic() - start, 10)
                self.assertIn("drain timeout: closing 1 connections still open", d.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
