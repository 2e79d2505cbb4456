# SPDX-License-Identifier: MIT
"""Backend selection through the real ringlbd: retries, all backends down, connect timeouts
to a listener that never accepts, and the balancing algorithms' distribution."""

import collections
import socket
import threading
import time
import unittest

from harness import (Backend, Daemon, echo_handler, free_port, name_handler, proxy_config,
                     recv_all, wait_until)


def blackhole():
    """A listener whose accept queue is full: further SYNs are dropped, so a connect to it
    neither succeeds nor is refused: it times out."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", lsock.getsockname()[1]))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.2)
    return lsock, fillers


def ask_name(port, source=None, timeout=10):
    s = socket.socket()
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    with s:
        s.connect(("127.0.0.1", port))
        line = b""
        while not line.endswith(b"\n"):
            part = s.recv(64)
            if not part:
                raise AssertionError("closed before the backend's name")
            line += part
        return line.strip().decode()


def closed_without_data(port, timeout=10):
    """Connects and returns (seconds until the proxy closed us, what we read)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            data = recv_all(s, timeout=timeout)
        except ConnectionResetError:
            data = b""
    return time.monotonic() - start, data


def echo_once(port, payload=b"ping"):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)


class Retries(unittest.TestCase):
    def test_refused_backend_is_retried_on_the_next(self):
        with Backend(echo_handler) as up:
            down = free_port()
            cfg, port = proxy_config([down, up.port], listener={"retries": 2})
            with Daemon(cfg) as d:
                for i in range(20):
                    self.assertEqual(echo_once(port, b"n%d" % i), b"n%d" % i)
                self.assertEqual(up.accepted, 20)
                self.assertIn(f"connect to p/127.0.0.1:{down} failed", d.log_text())

    def test_timed_out_backend_is_retried_on_the_next(self):
        hole, fillers = blackhole()
        with Backend(echo_handler) as up:
            cfg, port = proxy_config([hole.getsockname()[1], up.port],
                                     listener={"timeouts": {"connect_ms": 300}})
            with Daemon(cfg) as d:
                for i in range(4):
                    self.assertEqual(echo_once(port), b"ping")
                self.assertEqual(up.accepted, 4)
                self.assertIn("Connection timed out", d.log_text())
        hole.close()
        for f in fillers:
            f.close()

    def test_all_backends_refusing_closes_the_client(self):
        cfg, port = proxy_config([free_port(), free_port()], listener={"retries": 2})
        with Daemon(cfg) as d:
            elapsed, data = closed_without_data(port)
            self.assertEqual(data, b"")
            self.assertLess(elapsed, 3.0)  # refused at once: no reason to wait
            self.assertIn("no backend reachable", d.log_text())
            self.assertIsNone(d.proc.poll())

    def test_all_backends_blackholed_closes_the_client_within_the_connect_timeouts(self):
        hole, fillers = blackhole()
        cfg, port = proxy_config([hole.getsockname()[1]],
                                 listener={"retries": 1, "timeouts": {"connect_ms": 300}})
        with Daemon(cfg) as d:
            elapsed, data = closed_without_data(port, timeout=20)
            self.assertEqual(data, b"")
            self.assertGreaterEqual(elapsed, 0.55)  # it did wait for two attempts ...
            self.assertLess(elapsed, 5.0)           # ... and did not leave the client hanging
            self.assertEqual(d.log_text().count("Connection timed out"), 2)
        hole.close()
        for f in fillers:
            f.close()


class Balancing(unittest.TestCase):
    def test_round_robin_follows_the_weights(self):
        with Backend(name_handler, name="a") as a, Backend(name_handler, name="b") as b:
            cfg, port = proxy_config([(a.port, 1), (b.port, 2)])
            with Daemon(cfg):
                counts = collections.Counter(ask_name(port) for _ in range(1000))
                self.assertLessEqual(abs(counts["a"] - 333), 1, counts)
                self.assertLessEqual(abs(counts["b"] - 667), 1, counts)

    def test_round_robin_from_concurrent_clients_still_follows_the_weights(self):
        with Backend(name_handler, name="a") as a, Backend(name_handler, name="b") as b, \
                Backend(name_handler, name="c") as c:
            cfg, port = proxy_config([(a.port, 3), (b.port, 1), (c.port, 1)])
            with Daemon(cfg, workers=2):
                names = []
                lock = threading.Lock()

                def client():
                    for _ in range(100):
                        n = ask_name(port)
                        with lock:
                            names.append(n)
                threads = [threading.Thread(target=client) for _ in range(10)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(120)
                counts = collections.Counter(names)
                self.assertEqual(sum(counts.values()), 1000)
                self.assertLessEqual(abs(counts["a"] - 600), 1, counts)
                self.assertLessEqual(abs(counts["b"] - 200), 1, counts)
                self.assertLessEqual(abs(counts["c"] - 200), 1, counts)

    def test_least_conn_prefers_the_idle_backend(self):
        with Backend(name_handler, name="a") as a, Backend(name_handler, name="b") as b:
            cfg, port = proxy_config([a.port, b.port], balance="least_conn")
            with Daemon(cfg):
                held = []
                for _ in range(10):
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                    held.append((s, s.recv(64).strip().decode()))
                counts = collections.Counter(n for _, n in held)
                self.assertEqual(counts, {"a": 5, "b": 5})  # kept level while they stay open
                for s, n in held:
                    if n == "a":
                        s.close()
                self.assertTrue(wait_until(lambda: a.open == 0, 10))
                time.sleep(0.1)  # the proxy's sessions to "a" end right after
                fresh = []
                for _ in range(5):
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                    fresh.append((s, s.recv(64).strip().decode()))
                self.assertEqual([n for _, n in fresh], ["a"] * 5)  # all to the idle one
                for s, _ in held + fresh:
                    s.close()

    def test_maglev_keeps_a_client_on_one_backend_and_spreads_clients(self):
        backends = [Backend(name_handler, name=f"m{i}") for i in range(4)]
        try:
            cfg, port = proxy_config([b.port for b in backends], balance="maglev")
            with Daemon(cfg):
                same = {ask_name(port, source="127.0.0.1") for _ in range(20)}
                self.assertEqual(len(same), 1, same)  # every port of one client: one backend
                by_client = {}
                for i in range(2, 42):
                    src = f"127.0.0.{i}"
                    first = ask_name(port, source=src)
                    self.assertEqual(ask_name(port, source=src), first, src)
                    by_client[src] = first
                self.assertGreaterEqual(len(set(by_client.values())), 3, by_client)
        finally:
            for b in backends:
                b.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
