# SPDX-License-Identifier: MIT
"""Operating ringlbd: Prometheus scrapes, the admin socket and ringlbctl, hot reload (also
under load), and the systemd protocol (sd_notify, watchdog, socket activation)."""

import collections
import json
import os
import random
import signal
import socket
import stat
import subprocess
import threading
import time
import unittest

from harness import (RINGLBD, Backend, Daemon, ctl, echo_handler, free_port, metric,
                     name_handler, proxy_config, recv_all, scrape, wait_until)


def echo_once(port, payload=b"ping"):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)


def ask_name(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.recv(64).strip().decode()


class Metrics(unittest.TestCase):
    def test_scrape_reflects_the_traffic(self):
        with Backend(echo_handler) as be:
            down = free_port()
            cfg, port = proxy_config([be.port, down])
            with Daemon(cfg, workers=2) as d:
                sent = 0
                for i in range(10):
                    payload = os.urandom(1000 + i)
                    self.assertEqual(echo_once(port, payload), payload)
                    sent += len(payload)
                self.assertTrue(wait_until(lambda: be.open == 0))
                # The session ends a moment after the backend's side closes.
                self.assertTrue(wait_until(lambda: metric(
                    scrape(d)[0], "ringlb_listener_active_connections", listener="it") == 0))
                s, text = scrape(d)
                self.assertEqual(metric(s, "ringlb_listener_connections_total", listener="it"), 10)
                self.assertEqual(metric(s, "ringlb_bytes_total", listener="it",
                                        direction="client_to_backend"), sent)
                self.assertEqual(metric(s, "ringlb_bytes_total", listener="it",
                                        direction="backend_to_client"), sent)
                up = f"127.0.0.1:{be.port}"
                gone = f"127.0.0.1:{down}"
                self.assertEqual(metric(s, "ringlb_backend_connections_total", pool="p", backend=up), 10)
                # Round robin keeps offering the refusing backend (no health checks here):
                # each refusal is counted, and every client was still served by the retry.
                refused = metric(s, "ringlb_backend_connect_errors_total", pool="p", backend=gone,
                                 reason="refused")
                self.assertGreaterEqual(refused, 5)
                self.assertLessEqual(refused, 10)
                self.assertEqual(d.log_text().count(f"connect to p/{gone} failed"), refused)
                self.assertEqual(metric(s, "ringlb_backend_up", pool="p", backend=up), 1)
                self.assertEqual(metric(s, "ringlb_connect_duration_seconds_count"), 10)
                self.assertTrue(wait_until(
                    lambda: metric(scrape(d)[0], "ringlb_session_duration_seconds_count") == 10))
                for w in ("0", "1"):
                    self.assertGreater(metric(s, "ringlb_worker_completions_total", worker=w), 0)
                    self.assertIsNotNone(metric(s, "ringlb_worker_steals_total", worker=w))
                    # 10 small echoes never run a ring of 1,024 buffers dry.
                    self.assertEqual(metric(s, "ringlb_worker_ring_empty_total", worker=w), 0)
                # Every received chunk went back to its ring with the connections.
                self.assertTrue(wait_until(lambda: all(metric(
                    scrape(d)[0], "ringlb_worker_ring_chunks_held", worker=w) == 0
                    for w in ("0", "1"))))
                self.assertGreater(metric(s, "process_resident_memory_bytes"), 1 << 20)
                # What /proc lists now; the scrape's own connection may come and go.
                open_now = len(os.listdir(f"/proc/{d.proc.pid}/fd"))
                self.assertLessEqual(abs(metric(scrape(d)[0], "process_open_fds") - open_now), 2)
                self.assertGreater(metric(s, "process_start_time_seconds"), time.time() - 600)
                self.assertIsNotNone(metric(s, "process_cpu_seconds_total"))
                self.assertEqual(metric(s, "ringlb_config_reloads_total", result="success"), 0)
                self.assertIn("# TYPE ringlb_connect_duration_seconds histogram", text)
                self.assertIn("# TYPE ringlb_bytes_total counter", text)
                # Every metric docs/metrics.md lists is exposed.
                documented = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "metrics.md")
                with open(documented) as f:
                    names = {w.strip("`") for w in f.read().split() if w.startswith("`ringlb_")
                             or w.startswith("`process_")}
                for name in names:
                    base = name.split("{")[0]
                    self.assertIn(base, text, f"docs/metrics.md lists {base}; /metrics lacks it")


    def test_a_ring_too_small_for_its_load_makes_receives_wait_and_loses_nothing(self):
        # 2 ring buffers of 1 KiB for 8 connections echoing 64 KiB each way at once: most
        # receives find the ring empty and wait for buffers. (Each client reads only after it
        # has sent all: its socket buffers, far larger than 64 KiB on loopback, hold the echo
        # meanwhile, so the held ring buffers always drain.) The bytes all arrive, the scrape
        # counts the waits (the operator's sign to raise runtime.io.ring_buffers), and every
        # chunk goes back once the connections end.
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port], listener={"splice": False})
            cfg["runtime"] = {"io": {"ring_buffers": 2, "ring_buffer_bytes": 1024}}
            with Daemon(cfg, workers=1) as d:
                s, _ = scrape(d)
                self.assertEqual(metric(s, "ringlb_worker_ring_empty_total", worker="0"), 0)
                payloads = [os.urandom(64 * 1024) for _ in range(8)]
                echoed = [None] * len(payloads)

                def client(i):
                    echoed[i] = echo_once(port, payloads[i])

                threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(120)
                for i, p in enumerate(payloads):
                    self.assertTrue(echoed[i] == p, f"connection {i}: bytes lost or reordered")
                s, _ = scrape(d)
                self.assertGreater(metric(s, "ringlb_worker_ring_empty_total", worker="0"), 0)
                self.assertTrue(wait_until(lambda: metric(
                    scrape(d)[0], "ringlb_worker_ring_chunks_held", worker="0") == 0))


class AdminAndCtl(unittest.TestCase):
    def test_status_backends_and_exit_codes(self):
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg) as d:
                mode = stat.S_IMODE(os.stat(d.admin_socket).st_mode)
                self.assertEqual(mode, 0o600)
                rc, out, _ = ctl(d, "status")
                self.assertEqual(rc, 0)
                self.assertIn("ringlbd 0.1.0", out)
                self.assertIn(f"it        127.0.0.1:{port}", out)
                rc, out, _ = ctl(d, "status", json_out=True)
                status = json.loads(out)
                self.assertEqual(status["workers"], 2)
                self.assertEqual(status["config_file"], d.config_path)
                self.assertEqual(len(status["config_hash"]), 16)
                self.assertEqual(status["listeners"][0]["pool"], "p")
                rc, out, _ = ctl(d, "backends", "p", json_out=True)
                self.assertEqual(rc, 0)
                b = json.loads(out)["pools"][0]["backends"][0]
                self.assertEqual((b["address"], b["state"], b["health"], b["weight"]),
                                 (f"127.0.0.1:{be.port}", "enabled", "up", 1))
                rc, _, err = ctl(d, "backends", "nope")
                self.assertEqual((rc, err), (1, 'ringlbctl: no pool named "nope"\n'))
                rc, _, err = ctl(d, "disable", "p/10.9.9.9:1")
                self.assertEqual(rc, 1)
                self.assertIn('has no backend "10.9.9.9:1"', err)
                self.assertEqual(ctl(d, "frobnicate")[0], 2)
                self.assertEqual(ctl(d, "weight", "p/x", "0")[0], 2)
                rc, out, _ = ctl(d, "config", json_out=True)
                self.assertEqual(json.loads(out)["config"]["pools"][0]["name"], "p")
                r = subprocess.run([ctl.__globals__["RINGLBCTL"],
                                    "--socket", "/nonexistent/admin.sock", "status"],
                                   capture_output=True, text=True, timeout=10)
                self.assertEqual(r.returncode, 3)
                self.assertIn("cannot connect to /nonexistent/admin.sock", r.stderr)

    def test_malformed_requests_get_errors_and_the_connection_carries_on(self):
        cfg, _ = proxy_config([1])
        with Daemon(cfg) as d:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(d.admin_socket)
                s.settimeout(10)
                f = s.makefile("rwb")
                for line in [b"not json", b"[1,2]", b'{"cmd":"status"}', b'{"command":"nope"}',
                             b'{"command":"weight","backend":"p/127.0.0.1:1","weight":"x"}',
                             b'{"command":"status"}']:
                    f.write(line + b"\n")
                    f.flush()
                    replies = json.loads(f.readline())
                    if line == b'{"command":"status"}':
                        self.assertTrue(replies["ok"])
                    else:
                        self.assertFalse(replies["ok"], line)
                        self.assertTrue(replies["error"])
            self.assertIsNone(d.proc.poll())

    def test_a_second_instance_with_the_same_config_refuses_to_start(self):
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg) as first:
                r = subprocess.run([RINGLBD, "--config", first.config_path], capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("another ringlbd is listening there", r.stderr)
                self.assertNotIn("listening on", r.stderr)  # it stopped before any listener
                self.assertEqual(echo_once(port), b"ping")  # the first one is untouched
                self.assertEqual(ctl(first, "status")[0], 0)

    def test_other_users_are_refused_by_peer_credentials(self):
        cfg, _ = proxy_config([1])
        with Daemon(cfg) as d:
            os.chmod(d.admin_socket, 0o666)  # let "nobody" reach it; SO_PEERCRED must stop it
            os.chmod(d.dir.name, 0o755)
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                ctl.__globals__["RINGLBCTL"], "--socket", d.admin_socket, "status"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("permission denied", r.stderr)
            self.assertIn("refused a client with uid 65534", d.log_text())

    def test_disable_drain_enable_and_weight(self):
        with Backend(name_handler, name="a") as a, Backend(name_handler, name="b") as b:
            cfg, port = proxy_config([a.port, b.port])
            with Daemon(cfg) as d:
                held = socket.create_connection(("127.0.0.1", port), timeout=10)
                first = held.recv(64).strip().decode()
                other = "b" if first == "a" else "a"
                ports = {"a": a.port, "b": b.port}
                rc, out, _ = ctl(d, "drain", f"p/127.0.0.1:{ports[first]}")
                self.assertEqual(rc, 0)
                self.assertIn("draining until the next reload", out)
                self.assertEqual({ask_name(port) for _ in range(10)}, {other})  # no new ones
                state = lambda: {x["address"]: x["state"] for x in json.loads(
                    ctl(d, "backends", json_out=True)[1])["pools"][0]["backends"]}
                self.assertEqual(state()[f"127.0.0.1:{ports[first]}"], "draining")  # one open
                held.close()
                self.assertTrue(wait_until(lambda: state()[f"127.0.0.1:{ports[first]}"] == "drained"))
                self.assertEqual(ctl(d, "enable", f"p/127.0.0.1:{ports[first]}")[0], 0)
                self.assertEqual({ask_name(port) for _ in range(10)}, {"a", "b"})
                self.assertEqual(ctl(d, "disable", f"p/127.0.0.1:{a.port}")[0], 0)
                self.assertEqual({ask_name(port) for _ in range(10)}, {"b"})
                self.assertEqual(ctl(d, "enable", f"p/127.0.0.1:{a.port}")[0], 0)
                self.assertEqual(ctl(d, "weight", f"p/127.0.0.1:{a.port}", "3")[0], 0)
                counts = collections.Counter(ask_name(port) for _ in range(400))
                self.assertLessEqual(abs(counts["a"] - 300), 1, counts)
                # A reload ends the runtime changes: back to weight 1 each.
                self.assertEqual(ctl(d, "reload")[0], 0)
                counts = collections.Counter(ask_name(port) for _ in range(400))
                self.assertLessEqual(abs(counts["a"] - 200), 1, counts)


class Reload(unittest.TestCase):
    def test_reload_adds_and_removes_listeners_and_keeps_open_connections(self):
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg) as d:
                kept = socket.create_connection(("127.0.0.1", port), timeout=10)
                kept.sendall(b"before")
                self.assertEqual(kept.recv(6), b"before")
                new_port = free_port()
                cfg2 = json.loads(json.dumps(cfg))
                cfg2["listeners"][0]["listen"] = f"127.0.0.1:{new_port}"
                cfg2["listeners"][0]["name"] = "moved"
                d.write_config(cfg2)
                d.proc.send_signal(signal.SIGHUP)
                self.assertTrue(wait_until(lambda: "reloaded" in d.log_text()))
                self.assertEqual(echo_once(new_port), b"ping")  # the new listener serves
                self.assertTrue(wait_until(lambda: not _can_connect(port)))  # the old one stopped
                kept.sendall(b"after")  # its open connection was not cut
                self.assertEqual(kept.recv(5), b"after")
                kept.close()
                s, _ = scrape(d)
                self.assertEqual(metric(s, "ringlb_config_reloads_total", result="success"), 1)

    def test_a_bad_reload_keeps_the_running_config(self):
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg) as d:
                with open(d.config_path, "w") as f:
                    f.write('{"listeners": [{"name": "x", "listen": "127.0.0.1:1", "pool": "nope"}]}')
                rc, _, err = ctl(d, "reload")
                self.assertEqual(rc, 1)
                self.assertIn('listeners[0].pool: no pool named "nope"', err)
                self.assertIn("the running config stays", err)
                self.assertEqual(echo_once(port), b"ping")
                # A listener that cannot bind fails the reload too, all or nothing.
                with socket.socket() as busy:
                    busy.bind(("127.0.0.1", 0))
                    busy.listen()
                    cfg2 = json.loads(json.dumps(cfg))
                    cfg2["listeners"].append({"name": "busy", "pool": "p",
                                              "listen": f"127.0.0.1:{busy.getsockname()[1]}"})
                    d.write_config(cfg2)
                    rc, _, err = ctl(d, "reload")
                    self.assertEqual(rc, 1)
                    self.assertIn("cannot listen on", err)
                self.assertEqual(echo_once(port), b"ping")
                s, _ = scrape(d)
                self.assertEqual(metric(s, "ringlb_config_reloads_total", result="failure"), 2)
                self.assertIn("reload failed; the running config stays", d.log_text())

    def test_fifty_reloads_under_load_lose_nothing(self):
        backends = [Backend(echo_handler) for _ in range(3)]
        try:
            cfg_a, port = proxy_config([backends[0].port, backends[1].port])
            cfg_b, _ = proxy_config([backends[1].port, (backends[2].port, 2)], balance="least_conn",
                                    port=port, listener={"timeouts": {"idle_ms": 60000}})
            extra = free_port()
            cfg_b["listeners"].append({"name": "extra", "listen": f"127.0.0.1:{extra}",
                                       "service": "echo"})
            with Daemon(cfg_a) as d:
                stop = threading.Event()
                failures, done = [], [0]
                lock = threading.Lock()

                def client(seed):
                    rnd = random.Random(seed)
                    while not stop.is_set():
                        payload = rnd.randbytes(rnd.randint(1, 200000))
                        try:
                            got = echo_once(port, payload)
                            if got != payload:
                                raise AssertionError(f"corrupted: {len(got)} of {len(payload)} bytes")
                            with lock:
                                done[0] += 1
                        except Exception as e:
                            with lock:
                                failures.append(repr(e))
                threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
                for t in threads:
                    t.start()
                try:
                    for i in range(50):
                        d.write_config(cfg_b if i % 2 == 0 else cfg_a)
                        rc, _, err = ctl(d, "reload")
                        self.assertEqual(rc, 0, err)
                        time.sleep(0.05)
                finally:
                    stop.set()
                    for t in threads:
                        t.join(60)
                self.assertEqual(failures, [])
                self.assertGreater(done[0], 50)
                s, _ = scrape(d)
                self.assertEqual(metric(s, "ringlb_config_reloads_total", result="success"), 50)
                self.assertEqual(d.stop(), 0)
        finally:
            for b in backends:
                b.close()


def _can_connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Systemd(unittest.TestCase):
    def test_notify_protocol_and_watchdog(self):
        cfg, _ = proxy_config([1])
        d = Daemon(cfg)
        notify_path = os.path.join(d.dir.name, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify_path)
        sock.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="400000")
        log = open(d.log_path, "wb")
        d.proc = subprocess.Popen([RINGLBD, "--config", d.config_path], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        messages = []

        def expect(key, timeout=10):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = sock.recv(4096).decode()
                messages.append(msg)
                if key in msg.split("\n"):
                    return msg
            raise AssertionError(f"no {key} in {messages}")
        try:
            ready = expect("READY=1")
            self.assertIn("STATUS=1 listeners, 0 connections", ready)
            expect("WATCHDOG=1")
            expect("WATCHDOG=1")  # keeps pinging while the workers turn
            d.proc.send_signal(signal.SIGHUP)
            expect("RELOADING=1")
            expect("READY=1")
            d.proc.send_signal(signal.SIGTERM)
            expect("STOPPING=1")
            self.assertEqual(d.proc.wait(timeout=30), 0)
            self.assertEqual(d.sanitizer_report(), "")  # started by hand, not by `with`
        finally:
            d.kill()
            log.close()
            sock.close()
            d.dir.cleanup()

    def test_socket_activation_uses_the_passed_listener(self):
        with Backend(echo_handler) as be:
            cfg, configured_port = proxy_config([be.port])
            d = Daemon(cfg)
            passed = socket.socket()
            passed.bind(("127.0.0.1", 0))
            passed.listen(16)
            passed_port = passed.getsockname()[1]
            log = open(d.log_path, "wb")
            env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="it")

            def as_fd_3():
                os.dup2(passed.fileno(), 3)
            # LISTEN_PID must be ringlbd's own pid: sh sets it to $$, then execs ringlbd.
            d.proc = subprocess.Popen(
                ["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', RINGLBD, "--config", d.config_path],
                env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=as_fd_3,
                close_fds=False)  # close_fds would close fd 3 after preexec_fn made it
            try:
                self.assertTrue(wait_until(lambda: " started: " in d.log_text()), d.log_text())
                self.assertIn("using the socket passed by systemd", d.log_text())
                self.assertEqual(echo_once(passed_port), b"ping")
                self.assertFalse(_can_connect(configured_port))  # it did not bind its own
                self.assertEqual(d.stop(), 0)
                self.assertEqual(d.sanitizer_report(), "")  # started by hand, not by `with`
            finally:
                d.kill()
                log.close()
                passed.close()
                d.dir.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
